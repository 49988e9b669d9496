/*
 * cmd_ctl: the commands that act through the daemon's control socket: ack
 * (an active alarm) and write (a writable point). The daemon runs the same
 * checks as for P/cmd/ack and P/cmd/write and answers as P/cmd/result
 * would; the value a write read back is printed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../drivers/numfmt.h"
#include "cli.h"
#include "ctl_client.h"
#include "output.h"

#define CLI_ACK_TIMEOUT_MS 10000
/* A write waits behind at most 16 queued commands of its bus, each bounded
 * by the bus's timeout and retries, then a read back. */
#define CLI_WRITE_TIMEOUT_MS 60000

/* Send REQ (stolen) to the daemon; *REPLY on success. An exit code. */
static int cli_ctl_request(struct cli *c, const char *what, json_t *req, int timeout_ms,
			   json_t **reply)
{
	struct cli_ctl *k = NULL;
	char err[320];
	enum cli_ctl_rc rc;

	*reply = NULL;
	if (!c->ctl_path[0]) {
		json_decref(req);   /* not sent */
		fprintf(stderr, "yardwatch: %s: %s\n", what,
			c->ctl_known ? "the daemon has no control socket (control_socket: null)" :
				       "the store does not name the daemon's control socket");
		return CLI_EX_FAIL;
	}
	rc = cli_ctl_open(c->ctl_path, &k, err, sizeof err);
	if (rc == CLI_CTL_OK)
		rc = cli_ctl_call(k, req, timeout_ms, reply, err, sizeof err);
	else
		json_decref(req);
	cli_ctl_close(k);
	if (rc == CLI_CTL_OK)
		return CLI_EX_OK;
	if (rc == CLI_CTL_DOWN)
		fprintf(stderr, "yardwatch: %s: the daemon does not run (nothing listens on %s)\n",
			what, c->ctl_path);
	else if (rc == CLI_CTL_DENIED)
		fprintf(stderr, "yardwatch: %s: %s (is this user in the daemon's group?)\n", what,
			err);
	else
		fprintf(stderr, "yardwatch: %s: %s\n", what, err);
	return CLI_EX_FAIL;
}

/* The daemon's verdict: 0 ok; else the error printed and its exit code
 * (66 for an unknown alarm or point). */
static int cli_ctl_verdict(struct cli *c, const char *what, json_t *reply)
{
	const char *e = json_string_value(json_object_get(reply, "error"));

	if (c->json) {
		int r = cli_print_json(json_incref(reply));
		if (r != CLI_EX_OK)
			return r;
	}
	if (json_is_true(json_object_get(reply, "ok")))
		return CLI_EX_OK;
	fprintf(stderr, "yardwatch: %s refused: %s\n", what, e ? e : "(no reason given)");
	if (e && (strncmp(e, "unknown alarm", 13) == 0 || strncmp(e, "unknown point", 13) == 0))
		return CLI_EX_NOINPUT;
	return CLI_EX_FAIL;
}

static void cli_req_id(char *buf, size_t len)
{
	snprintf(buf, len, "cli-%ld", (long)getpid());
}

int cli_ack(struct cli *c)
{
	char id[32];
	json_t *reply, *args;
	int r;

	cli_req_id(id, sizeof id);
	args = json_pack("{s:s, s:s}", "id", id, "alarm", c->arg);
	if (args && c->by)
		json_object_set_new(args, "by", json_string(c->by));
	r = cli_ctl_request(c, "ack", json_pack("{s:s, s:o}", "cmd", "ack", "args", args),
			    CLI_ACK_TIMEOUT_MS, &reply);
	if (r != CLI_EX_OK)
		return r;
	r = cli_ctl_verdict(c, "ack", reply);
	if (r == CLI_EX_OK && !c->json)
		printf("%s acknowledged%s%s\n", c->arg, c->by ? " by " : "", c->by ? c->by : "");
	json_decref(reply);
	return r;
}

/* VALUE of the command line as JSON: true/false, or a number. */
static json_t *cli_value_arg(const char *s)
{
	char *end;
	double v;

	if (strcmp(s, "true") == 0 || strcmp(s, "on") == 0)
		return json_true();
	if (strcmp(s, "false") == 0 || strcmp(s, "off") == 0)
		return json_false();
	v = strtod(s, &end);
	if (end == s || *end || !isfinite(v))
		return NULL;
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		return json_integer((json_int_t)v);
	return json_real(v);
}

int cli_write(struct cli *c)
{
	char id[32], text[64];
	json_t *reply, *val = cli_value_arg(c->arg2), *back;
	int r;

	if (!val)
		return cli_usage_error("write: VALUE must be a number, true or false (got '%s')",
				       c->arg2);
	cli_req_id(id, sizeof id);
	r = cli_ctl_request(c, "write",
			    json_pack("{s:s, s:{s:s, s:s, s:o}}", "cmd", "write", "args", "id", id,
				      "point", c->arg, "value", val),
			    CLI_WRITE_TIMEOUT_MS, &reply);
	if (r != CLI_EX_OK)
		return r;
	r = cli_ctl_verdict(c, "write", reply);
	back = json_object_get(reply, "value");
	if (r == CLI_EX_OK && !c->json) {
		if (json_is_boolean(back))
			snprintf(text, sizeof text, "%s", json_is_true(back) ? "true" : "false");
		else if (json_is_integer(back))
			snprintf(text, sizeof text, "%lld", (long long)json_integer_value(back));
		else if (json_is_real(back))
			numfmt_double(json_real_value(back), text, sizeof text);
		else
			snprintf(text, sizeof text, "-");
		printf("%s = %s (read back)\n", c->arg, text);
	}
	json_decref(reply);
	return r;
}
