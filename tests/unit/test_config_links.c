/*
 * test_config_links: the gateway's links beyond a plain bus and one broker:
 * an rtu-tcp bus (a serial device server) with its keys and defaults, and
 * the uplinks section: a good one parsed into links (ids, select, commands,
 * client ids, defaults), and every refusal with the JSON path of its error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/config.h"
#include "check.h"

static char dir[] = "/tmp/yw-cfg-links-XXXXXX";

/* Load a config whose top level holds BODY (after site, buses, devices);
 * *ERRS gets what was printed (caller frees). */
static struct config *load_with(const char *body, char **errs)
{
	char path[256];
	size_t len = 0;
	FILE *f, *ms;
	struct config *cfg;

	snprintf(path, sizeof path, "%s/site.json", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fprintf(f, "{\"site\": {\"id\": \"s1\", \"gateway\": \"gw1\"},\n"
		   " \"buses\": [{\"id\": \"lan\", \"type\": \"tcp\", \"host\": \"127.0.0.1\"}],\n"
		   " \"devices\": [\n"
		   "  {\"id\": \"p1\", \"bus\": \"lan\", \"unit\": 1, \"category\": \"fire\", \"points\": [\n"
		   "   {\"name\": \"v\", \"table\": \"holding\", \"address\": 0, \"type\": \"uint16\"}]},\n"
		   "  {\"id\": \"m1\", \"bus\": \"lan\", \"unit\": 2, \"category\": \"power\", \"points\": [\n"
		   "   {\"name\": \"v\", \"table\": \"holding\", \"address\": 0, \"type\": \"uint16\"}]}]%s%s}\n",
		body[0] ? ",\n " : "", body);
	fclose(f);
	ms = open_memstream(errs, &len);
	if (!ms)
		abort();
	cfg = config_load(path, NULL, ms);
	fclose(ms);
	return cfg;
}

static void test_good(void)
{
	char *errs = NULL;
	struct config *cfg = load_with(
		"\"mqtt\": {\"brokers\": [\"mqtt://127.0.0.1:1883\"]},\n"
		" \"uplinks\": [\n"
		"  {\"id\": \"water\", \"brokers\": [\"mqtt://127.0.0.1:1884\"], \"topic_prefix\": \"compounds\",\n"
		"   \"select\": {\"categories\": [\"water\"], \"devices\": [\"p1\"]},\n"
		"   \"telemetry\": {\"interval_s\": 300, \"qos\": 1}, \"commands\": []},\n"
		"  {\"id\": \"fire-centre\", \"brokers\": [\"mqtt://127.0.0.1:1883\"],\n"
		"   \"select\": {\"categories\": [\"fire\"]}, \"commands\": [\"ack\", \"read\"]}]", &errs);

	CHECK(cfg != NULL);
	CHECK(strcmp(errs, "") == 0);
	if (!cfg) {
		fprintf(stderr, "%s", errs);
		free(errs);
		return;
	}
	CHECK(config_nlinks(cfg) == 3);
	const struct mqtt_cfg *m = config_link(cfg, 0), *w = config_link(cfg, 1),
			      *f = config_link(cfg, 2);
	CHECK(strcmp(m->id, "mqtt") == 0 && m->select_all);
	CHECK(m->commands == (LINK_CMD_ACK | LINK_CMD_WRITE | LINK_CMD_READ));
	CHECK(strcmp(w->id, "water") == 0 && !w->select_all && w->commands == 0);
	CHECK(strcmp(w->topic_prefix, "compounds") == 0 && w->telemetry_interval_s == 300);
	/* default client ids: distinct per link */
	CHECK(strcmp(m->client_id, "s1-gw1") == 0);
	CHECK(strcmp(w->client_id, "s1-gw1-water") == 0);
	CHECK(f->commands == (LINK_CMD_ACK | LINK_CMD_READ));
	/* selection: water takes p1 (by id) and water things; not m1's power */
	CHECK(config_link_selects(w, 0, CAT_FIRE));
	CHECK(!config_link_selects(w, 1, CAT_POWER));
	CHECK(config_link_selects(w, -1, CAT_WATER));
	CHECK(config_link_selects(f, 0, CAT_FIRE));
	CHECK(!config_link_selects(f, 1, CAT_POWER));
	CHECK(config_link_selects(m, 1, CAT_POWER));
	CHECK(config_link(cfg, 3) == NULL);
	config_free(cfg);
	free(errs);
}

static const struct {
	const char *body;
	const char *error;   /* a line printed (substring) */
} bad[] = {
	{ "\"uplinks\": {}", "site.json: uplinks: must be an array of links" },
	{ "\"uplinks\": [{\"brokers\": [\"mqtt://127.0.0.1\"]}]", "uplinks[0].id: is required" },
	{ "\"uplinks\": [{\"id\": \"mqtt\", \"brokers\": [\"mqtt://127.0.0.1\"]}]",
	  "uplinks[0].id: \"mqtt\" is the mqtt section's link" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://127.0.0.1:1\"]},"
	  " {\"id\": \"a\", \"brokers\": [\"mqtt://127.0.0.1:2\"]}]",
	  "uplinks[1].id: duplicate uplink id \"a\"" },
	{ "\"uplinks\": [{\"id\": \"a\"}]", "uplinks[0].brokers: is required" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"http://x\"]}]",
	  "uplinks[0].brokers[0]: \"http://x\" is not mqtt://HOST[:PORT]" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://h\"], \"nope\": 1}]",
	  "uplinks[0].nope" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://h\"], \"select\": {\"categories\": [\"plumbing\"]}}]",
	  "uplinks[0].select.categories[0]: must be one of the categories" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://h\"], \"select\": {\"devices\": [\"zz\"]}}]",
	  "uplinks[0].select.devices[0]: no device \"zz\"" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://h\"], \"select\": {\"colour\": 1}}]",
	  "uplinks[0].select.colour" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://h\"], \"commands\": [\"reboot\"]}]",
	  "uplinks[0].commands[0]: must be one of ack, write, read" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://h\"], \"commands\": \"ack\"}]",
	  "uplinks[0].commands: must be an array of ack, write, read" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://h\"], \"password_file\": \"/nonexistent/pw\", \"username\": \"u\"}]",
	  "uplinks[0].password_file: cannot read /nonexistent/pw" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtts://h\"], \"tls\": {\"ca_file\": \"/nonexistent/ca\"}}]",
	  "uplinks[0].tls.ca_file: cannot read /nonexistent/ca" },
	{ "\"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://h\"], \"topic_prefix\": \"a/#\"}]",
	  "uplinks[0].topic_prefix: must not contain + or #" },
	{ "\"mqtt\": {\"brokers\": [\"mqtt://h:1883\"], \"client_id\": \"same\"},"
	  " \"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://h\"], \"client_id\": \"same\"}]",
	  "uplinks[0].client_id: \"same\" is also the client id of link \"mqtt\" on the same broker" },
};

/* An rtu-tcp bus: the keys and defaults of a tcp bus, inter_frame_delay_ms,
 * unit ids of an RS-485 line. */
static void test_rtu_tcp(void)
{
	static const char pt[] =
		"{\"name\": \"v\", \"table\": \"holding\", \"address\": 0, \"type\": \"uint16\"}";
	char path[256], *errs = NULL;
	size_t len = 0;
	FILE *f, *ms;
	struct config *cfg;

	snprintf(path, sizeof path, "%s/site.json", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fprintf(f, "{\"site\": {\"id\": \"s1\", \"gateway\": \"gw1\"},\n"
		   " \"buses\": [{\"id\": \"yard\", \"type\": \"rtu-tcp\", \"host\": \"gw.local\"},\n"
		   "  {\"id\": \"y2\", \"type\": \"rtu-tcp\", \"host\": \"10.0.0.9\", \"port\": 4196,\n"
		   "   \"timeout_ms\": 500, \"retries\": 3, \"inter_frame_delay_ms\": 40}],\n"
		   " \"devices\": [{\"id\": \"d1\", \"bus\": \"yard\", \"unit\": 247, \"points\": [%s]},\n"
		   "  {\"id\": \"d2\", \"bus\": \"y2\", \"unit\": 1, \"points\": [%s]}]}\n", pt, pt);
	fclose(f);
	ms = open_memstream(&errs, &len);
	if (!ms)
		abort();
	cfg = config_load(path, NULL, ms);
	fclose(ms);
	CHECK(cfg != NULL);
	CHECK(errs && errs[0] == '\0');
	free(errs);
	if (!cfg)
		return;
	CHECK(cfg->buses[0].type == BUS_RTU_TCP && strcmp(cfg->buses[0].host, "gw.local") == 0);
	CHECK(cfg->buses[0].port == 502 && cfg->buses[0].timeout_ms == 1000);
	CHECK(cfg->buses[0].retries == 1 && cfg->buses[0].inter_frame_delay_ms == 0);
	CHECK(cfg->buses[0].device[0] == '\0' && !cfg->buses[0].rs485);
	CHECK(cfg->buses[1].type == BUS_RTU_TCP && cfg->buses[1].port == 4196);
	CHECK(cfg->buses[1].timeout_ms == 500 && cfg->buses[1].retries == 3);
	CHECK(cfg->buses[1].inter_frame_delay_ms == 40);
	CHECK(cfg->devices[0].unit == 247 && cfg->devices[1].bus == 1);
	config_free(cfg);
	CHECK(strcmp(config_bus_type_name(BUS_RTU_TCP), "rtu-tcp") == 0);
	CHECK(strcmp(config_bus_type_name(BUS_TCP), "tcp") == 0);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_rtu_tcp();
	test_good();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *errs = NULL;
		struct config *cfg = load_with(bad[i].body, &errs);
		CHECK(cfg == NULL);
		if (!strstr(errs, bad[i].error)) {
			fprintf(stderr, "case %zu: want '%s' in:\n%s", i, bad[i].error, errs);
			CHECK(!"error line");
		}
		config_free(cfg);
		free(errs);
	}
	/* the same client id on different brokers is fine (SPEC's example) */
	char *errs = NULL;
	struct config *cfg = load_with(
		"\"mqtt\": {\"brokers\": [\"mqtt://h1\"], \"client_id\": \"same\"},"
		" \"uplinks\": [{\"id\": \"a\", \"brokers\": [\"mqtt://h2\"], \"client_id\": \"same\"}]", &errs);
	CHECK(cfg != NULL);
	config_free(cfg);
	free(errs);
	char path[300];
	snprintf(path, sizeof path, "%s/site.json", dir);
	unlink(path);
	rmdir(dir);
	return check_report();
}
