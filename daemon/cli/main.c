/*
 * yardwatch: the operator's command line (SPEC "yardwatch (command line)").
 * main() wires it: the arguments (args.c), the daemon's config (-c FILE or
 * the default one: storage.path, buses, profiles_dir), the store's path
 * (--db, or storage.path), the store opened read-only through the query
 * module, one command (cmd_*.c) run inside one read transaction (a
 * consistent snapshot) while the daemon may be writing, the exit code.
 * Commands that read no store (read, scan: OPT_NOSTORE) get no store; for
 * them the config is optional: --tcp and the like work without one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util.h"
#include "cli.h"

/* The config FILE into C->cfg. HINT ends the messages of a config that is
 * missing or invalid. Warnings (e.g. a serial port not plugged in) are for
 * the daemon. */
static int cli_config_load(struct cli *c, const char *file, const char *hint)
{
	char *errs = NULL;
	size_t errlen = 0;
	FILE *ef;

	c->cfg_file = file;
	if (access(file, F_OK) != 0) {
		fprintf(stderr, "yardwatch: %s: %s%s\n", file, strerror(errno), hint);
		return CLI_EX_NOINPUT;
	}
	ef = open_memstream(&errs, &errlen);
	if (!ef) {
		fputs("yardwatch: out of memory\n", stderr);
		return CLI_EX_FAIL;
	}
	c->cfg = config_load(file, NULL, ef);
	fclose(ef);
	if (!c->cfg) {
		fputs(errs ? errs : "", stderr);
		fprintf(stderr, "yardwatch: %s: invalid config%s\n", file, hint);
		free(errs);
		return CLI_EX_FAIL;
	}
	free(errs);
	util_strlcpy(c->ctl_path, c->cfg->control_socket, sizeof c->ctl_path);
	c->ctl_known = true;
	return CLI_EX_OK;
}

/* read, scan: the config when named, or the default one when it is there
 * (not valid: a warning, and the command goes on without it, as during
 * commissioning the config may be half written). */
static int cli_config_optional(struct cli *c, const char *file)
{
	int r;

	if (file)
		return cli_config_load(c, file, "");
	if (access(CLI_DEFAULT_CONFIG, F_OK) != 0)
		return CLI_EX_OK;
	r = cli_config_load(c, CLI_DEFAULT_CONFIG, " (not used; name one with -c FILE)");
	return r == CLI_EX_FAIL ? CLI_EX_OK : r;
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

	c.cmd = cmd;
	if (cmd->opts & OPT_NOSTORE) {
		if (db)
			return cli_usage_error("%s reads no store: --db is not for it", cmd->name);
		r = cli_config_optional(&c, cfg_file);
		if (r == CLI_EX_OK)
			r = cmd->run(&c);
		goto out;
	}
	if (db)
		util_strlcpy(c.path, db, sizeof c.path);
	else if ((r = cli_config_load(&c, cfg_file ? cfg_file : CLI_DEFAULT_CONFIG,
				      " (name the store with --db PATH)")) != CLI_EX_OK)
		goto out;
	else
		util_strlcpy(c.path, c.cfg->storage_path, sizeof c.path);
	r = cli_open(&c);
	if (r == CLI_EX_OK)
		r = cmd->run(&c);
	if (c.q)
		query_end(c.q);
	query_close(c.q);
out:
	cli_daemon_free(&c);
	config_free(c.cfg);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "yardwatch: write error: %s\n", strerror(errno));
		return CLI_EX_FAIL;
	}
	return r;
}
