/*
 * daemon: what the command line knows of the running daemon. The store
 * says where the daemon that writes it listens (meta control_socket, or the
 * config's when the store does not say); a status request there tells
 * whether it runs, its pid and its MQTT links. Nobody answering means it
 * does not run: `status`, `devices` and `points` then say so rather than
 * show what was true when it stopped.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ctl_client.h"

#define CLI_STATUS_TIMEOUT_MS 3000

void cli_daemon_ask(struct cli *c)
{
	struct cli_daemon *d = &c->daemon;
	struct cli_ctl *k = NULL;
	json_t *reply = NULL;
	char err[256];

	if (d->asked)
		return;
	d->asked = true;
	d->known = c->ctl_known && c->ctl_path[0];
	if (!d->known) {
		snprintf(d->error, sizeof d->error, "%s",
			 c->ctl_known ? "the daemon has no control socket (control_socket: null)" :
					"the store does not name the daemon's control socket");
		return;
	}
	enum cli_ctl_rc rc = cli_ctl_open(c->ctl_path, &k, err, sizeof err);
	if (rc == CLI_CTL_OK)   /* the request is the call's to free */
		rc = cli_ctl_call(k, json_pack("{s:s}", "cmd", "status"), CLI_STATUS_TIMEOUT_MS,
				  &reply, err, sizeof err);
	cli_ctl_close(k);
	if (rc == CLI_CTL_OK && json_is_true(json_object_get(reply, "ok"))) {
		d->running = true;
		d->pid = (int)json_integer_value(json_object_get(reply, "pid"));
		d->status = reply;
		return;
	}
	json_decref(reply);
	if (rc == CLI_CTL_DOWN)
		snprintf(d->error, sizeof d->error, "not running (nothing listens on %s)",
			 c->ctl_path);
	else if (rc == CLI_CTL_DENIED)
		snprintf(d->error, sizeof d->error,
			 "cannot be asked: %s (is this user in the daemon's group?)", err);
	else
		snprintf(d->error, sizeof d->error, "does not answer: %s", err);
}

void cli_daemon_free(struct cli *c)
{
	json_decref(c->daemon.status);
	c->daemon.status = NULL;
}
