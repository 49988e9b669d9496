/*
 * yardwatch: the operator's command line (SPEC "yardwatch (command line)").
 * main() wires it: the arguments (args.c), the store's path (--db, or
 * storage.path of the daemon's config), the store opened read-only through
 * the query module, one command (cmd_*.c) run inside one read transaction
 * (a consistent snapshot) while the daemon may be writing, the exit code.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util.h"
#include "cli.h"

int cli_query_fail(struct cli *c, int rc)
{
	fprintf(stderr, "yardwatch: %s\n", query_error(c->q));
	return rc == QUERY_NOT_FOUND ? CLI_EX_NOINPUT : CLI_EX_FAIL;
}

/* storage.path (and control_socket, into C) from the config FILE. */
static int cli_config_path(struct cli *c, const char *file, char *out, size_t len)
{
	char *errs = NULL;
	size_t errlen = 0;
	FILE *ef;
	struct config *cfg;

	if (access(file, F_OK) != 0) {
		fprintf(stderr, "yardwatch: %s: %s (name the store with --db PATH)\n", file,
			strerror(errno));
		return CLI_EX_NOINPUT;
	}
	/* Warnings (e.g. a serial port not plugged in) are for the daemon. */
	ef = open_memstream(&errs, &errlen);
	if (!ef) {
		fputs("yardwatch: out of memory\n", stderr);
		return CLI_EX_FAIL;
	}
	cfg = config_load(file, NULL, ef);
	fclose(ef);
	if (!cfg) {
		fputs(errs ? errs : "", stderr);
		fprintf(stderr, "yardwatch: %s: invalid config (name the store with --db PATH)\n", file);
		free(errs);
		return CLI_EX_FAIL;
	}
	free(errs);
	util_strlcpy(out, cfg->storage_path, len);
	util_strlcpy(c->ctl_path, cfg->control_socket, sizeof c->ctl_path);
	c->ctl_known = true;
	config_free(cfg);
	return CLI_EX_OK;
}

/* Where the daemon listens: what the store says (the daemon that writes it
 * records its control_socket), else the config's. */
static int cli_find_ctl(struct cli *c)
{
	char path[sizeof c->ctl_path];
	bool known;
	int rc = query_control_socket(c->q, path, sizeof path, &known);

	if (rc != QUERY_OK)
		return cli_query_fail(c, rc);
	if (known) {
		util_strlcpy(c->ctl_path, path, sizeof c->ctl_path);
		c->ctl_known = true;
	}
	return CLI_EX_OK;
}

/* Open the store at C->path for one command: one snapshot. The daemon is
 * asked first (status, devices, points): a snapshot held open while it
 * answers would keep its checkpoint from finishing. */
static int cli_open(struct cli *c)
{
	char err[YW_PATH_MAX + 512];
	int rc = query_open(c->path, &c->q, err, sizeof err);

	if (rc != QUERY_OK) {
		fprintf(stderr, "yardwatch: %s\n", err);
		return rc == QUERY_NOT_FOUND ? CLI_EX_NOINPUT : CLI_EX_FAIL;
	}
	if ((rc = cli_find_ctl(c)) != CLI_EX_OK)
		return rc;
	if (c->cmd->run == cli_status || c->cmd->run == cli_devices || c->cmd->run == cli_points)
		cli_daemon_ask(c);
	rc = query_begin(c->q);
	return rc == QUERY_OK ? CLI_EX_OK : cli_query_fail(c, rc);
}

int main(int argc, char **argv)
{
	struct cli c;
	const char *cfg_file = NULL, *db = NULL;
	const struct cli_cmd *cmd = NULL;
	int next = 0, r;

	memset(&c, 0, sizeof c);
	c.now = util_wall_ms();
	r = cli_parse_global(argc, argv, &cfg_file, &db, &cmd, &next);
	if (r != CLI_EX_OK || !cmd)
		return r;
	if ((r = cli_parse_cmd(&c, cmd, argc, argv, next)) != CLI_EX_OK)
		return r;
	if (cmd->run == cli_report) {
		c.until = c.now;
		if (!c.has_since)
			c.since = c.now - 7 * CLI_DAY_MS;
	}

	if (db)
		util_strlcpy(c.path, db, sizeof c.path);
	else if ((r = cli_config_path(&c, cfg_file ? cfg_file : CLI_DEFAULT_CONFIG, c.path,
				      sizeof c.path)) != CLI_EX_OK)
		return r;
	c.cmd = cmd;
	r = cli_open(&c);
	if (r == CLI_EX_OK)
		r = cmd->run(&c);
	if (c.q)
		query_end(c.q);
	query_close(c.q);
	cli_daemon_free(&c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "yardwatch: write error: %s\n", strerror(errno));
		return CLI_EX_FAIL;
	}
	return r;
}
