/*
 * test_http: the status page without its server: escaping (HTML and
 * Prometheus labels), the text buffer's limit, local times, the parsing of
 * paths, arguments, `listen` and basic auth, and every handler's answer
 * for the fixed store of http_fixture.c (the page, a point's page with its
 * chart, each /api/... document, /metrics line by line).
 * YW_HTTP_SAVE=DIR keeps the pages made (index.html, point.html) there.
 */
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "../../daemon/http_int.h"
#include "check.h"
#include "http_fixture.h"

/* ---- text --------------------------------------------------------------- */

static void test_text(void)
{
	struct hbuf b;
	char t[HTTP_TIME_LEN];

	hb_init(&b, 1024);
	hb_html(&b, "<script>alert('x')</script> & \"q\"");
	CHECK(strcmp(b.p, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;") == 0);
	hb_free(&b);
	hb_init(&b, 1024);
	hb_label(&b, "a\\b\"c\nd");
	CHECK(strcmp(b.p, "a\\\\b\\\"c\\nd") == 0);
	hb_free(&b);

	hb_init(&b, 10);                 /* the limit: once failed, always failed */
	hb_puts(&b, "12345");
	CHECK(!b.failed && b.len == 5);
	hb_printf(&b, "%s", "678901");
	CHECK(b.failed);
	hb_puts(&b, "x");
	CHECK(b.failed && b.len == 5);
	hb_free(&b);

	CHECK(strcmp(http_local_time(HFX_NOW + 3004, t, sizeof t), "2026-11-26 12:10:03+08:00") == 0);
	CHECK(strcmp(http_local_time(INT64_MIN, t, sizeof t), "-") == 0);
	CHECK(strcmp(http_duration(45000, t, sizeof t), "45 s") == 0);
	CHECK(strcmp(http_duration(12 * 60000 + 5000, t, sizeof t), "12 min") == 0);
	CHECK(strcmp(http_duration(3 * 3600000 + 5 * 60000, t, sizeof t), "3 h 5 min") == 0);
	CHECK(strcmp(http_duration(4 * DAY + 3 * HOUR, t, sizeof t), "4 d 3 h") == 0);
	CHECK(strcmp(http_duration(-5, t, sizeof t), "0 s") == 0);
}

/* ---- requests ----------------------------------------------------------- */

static void test_routes(void)
{
	static const struct {
		const char *path, *args;    /* args: "k=v&k2=v2" ("k" alone: no value) */
		int rc;
		enum http_route route;
		const char *arg;
	} cases[] = {
		{ "/", "", 0, HTTP_R_PAGE, "" },
		{ "/metrics", "", 0, HTTP_R_METRICS, "" },
		{ "/api/status", "", 0, HTTP_R_STATUS, "" },
		{ "/api/devices", "", 0, HTTP_R_DEVICES, "" },
		{ "/api/points", "", 0, HTTP_R_POINTS, "" },
		{ "/api/points/b3-meter", "", 0, HTTP_R_POINTS, "b3-meter" },
		{ "/api/alarms", "active=1&since=2h", 0, HTTP_R_ALARMS, "" },
		{ "/api/alarms", "active", 0, HTTP_R_ALARMS, "" },
		{ "/api/history/b3-pressure.pressure", "since=2026-11-25T00:00:00Z&until=1h", 0,
		  HTTP_R_HISTORY, "b3-pressure.pressure" },
		{ "/point/b3_x.y-1", "", 0, HTTP_R_POINT, "b3_x.y-1" },
		{ "/point/B3.x", "", HTTP_PARSE_NOT_FOUND, 0, "" },
		{ "/point/b3", "", HTTP_PARSE_NOT_FOUND, 0, "" },
		{ "/point/b3.x.y", "", HTTP_PARSE_NOT_FOUND, 0, "" },
		{ "/point/.x", "", HTTP_PARSE_NOT_FOUND, 0, "" },
		{ "/point/b3.", "", HTTP_PARSE_NOT_FOUND, 0, "" },
		{ "/api/status/", "", HTTP_PARSE_NOT_FOUND, 0, "" },
		{ "/api/points/", "", HTTP_PARSE_NOT_FOUND, 0, "" },
		{ "/index.html", "", HTTP_PARSE_NOT_FOUND, 0, "" },
		{ "//", "", HTTP_PARSE_NOT_FOUND, 0, "" },
		{ "/point/../etc/passwd", "", HTTP_PARSE_NOT_FOUND, 0, "" },
		{ "/metrics", "x=1", HTTP_PARSE_BAD, 0, "" },
		{ "/api/alarms", "active=2", HTTP_PARSE_BAD, 0, "" },
		{ "/api/alarms", "until=1h", HTTP_PARSE_BAD, 0, "" },
		{ "/api/history/a.b", "since=yesterday", HTTP_PARSE_BAD, 0, "" },
		{ "/api/history/a.b", "since", HTTP_PARSE_BAD, 0, "" },
		{ "/api/history/a.b", "since=1h&since=2h", HTTP_PARSE_BAD, 0, "" },
		{ "/api/history/a.b", "since=1h&until=2h", HTTP_PARSE_BAD, 0, "" },
		{ "/", "a&b&c&d&e&f&g&h&i", HTTP_PARSE_BAD, 0, "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *keys[16], *vals[16];
		char buf[256], err[128];
		size_t n = 0;
		struct http_req r;

		check_case = cases[i].path;
		snprintf(buf, sizeof buf, "%s", cases[i].args);
		for (char *save = NULL, *kv = strtok_r(buf, "&", &save); kv && n < 16;
		     kv = strtok_r(NULL, "&", &save)) {
			char *eq = strchr(kv, '=');
			if (eq)
				*eq = '\0';
			keys[n] = kv;
			vals[n++] = eq ? eq + 1 : NULL;
		}
		int rc = http_req_parse(cases[i].path, keys, vals, n, HFX_NOW, &r, err, sizeof err);
		CHECK(rc == cases[i].rc);
		if (rc == HTTP_PARSE_BAD)
			CHECK(err[0] != '\0');
		if (rc == 0) {
			CHECK(r.route == cases[i].route);
			CHECK(strcmp(r.arg, cases[i].arg) == 0);
		}
	}
	check_case = "";

	const char *k[] = { "active", "since" }, *v[] = { "1", "2h" };
	struct http_req r;
	char err[64];
	CHECK(http_req_parse("/api/alarms", k, v, 2, HFX_NOW, &r, err, sizeof err) == 0);
	CHECK(r.active && r.has_since && r.since == HFX_NOW - 2 * HOUR && !r.has_until);
	const char *k2[] = { "since", "until" }, *v2[] = { "2026-11-25T00:00:00Z", "1h" };
	CHECK(http_req_parse("/api/history/a.b", k2, v2, 2, HFX_NOW, &r, err, sizeof err) == 0);
	CHECK(r.since == 1795564800000LL && r.until == HFX_NOW - HOUR);
}

static void test_listen(void)
{
	static const struct {
		const char *s;
		int rc, family, port;
		const char *host;
	} cases[] = {
		{ "0.0.0.0:8080", 0, AF_INET, 8080, "0.0.0.0" },
		{ "192.168.10.5:80", 0, AF_INET, 80, "192.168.10.5" },
		{ "127.0.0.1:65535", 0, AF_INET, 65535, "127.0.0.1" },
		{ "[::1]:8080", 0, AF_INET6, 8080, "::1" },
		{ "[::]:1", 0, AF_INET6, 1, "::" },
		{ "[fe80::1:2]:9000", 0, AF_INET6, 9000, "fe80::1:2" },
		{ "127.0.0.1:0", -1, 0, 0, "" },
		{ "127.0.0.1:65536", -1, 0, 0, "" },
		{ "127.0.0.1:+80", -1, 0, 0, "" },
		{ "127.0.0.1: 80", -1, 0, 0, "" },
		{ "127.0.0.1:80x", -1, 0, 0, "" },
		{ "127.0.0.1:000000080", -1, 0, 0, "" },
		{ "127.0.0.1", -1, 0, 0, "" },
		{ ":8080", -1, 0, 0, "" },
		{ "gateway.local:8080", -1, 0, 0, "" },
		{ "::1:8080", -1, 0, 0, "" },
		{ "[::1]8080", -1, 0, 0, "" },
		{ "[::1]:", -1, 0, 0, "" },
		{ "[1.2.3.4]:80", -1, 0, 0, "" },
		{ "1.2.3:80", -1, 0, 0, "" },
		{ "", -1, 0, 0, "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char host[HTTP_HOST_MAX];
		int family = 0, port = 0, rc;

		check_case = cases[i].s;
		rc = http_parse_listen(cases[i].s, host, sizeof host, &family, &port);
		CHECK(rc == cases[i].rc);
		if (rc == 0)
			CHECK(family == cases[i].family && port == cases[i].port &&
			      strcmp(host, cases[i].host) == 0);
	}
	check_case = "";
}

static void test_auth(void)
{
	/* base64 of yardwatch:s3cret, yardwatch:wrong, admin:s3cret, yardwatch:a:b, yardwatch: */
	CHECK(http_auth_ok("Basic eWFyZHdhdGNoOnMzY3JldA==", "s3cret"));
	CHECK(http_auth_ok("basic  eWFyZHdhdGNoOnMzY3JldA== ", "s3cret"));
	CHECK(!http_auth_ok("Basic eWFyZHdhdGNoOndyb25n", "s3cret"));
	CHECK(!http_auth_ok("Basic YWRtaW46czNjcmV0", "s3cret"));
	CHECK(http_auth_ok("Basic eWFyZHdhdGNoOmE6Yg==", "a:b"));
	CHECK(!http_auth_ok("Basic eWFyZHdhdGNoOg==", "s3cret"));
	CHECK(!http_auth_ok("Basic eWFyZHdhdGNoOnMzY3JldA=", "s3cret"));    /* bad padding */
	CHECK(!http_auth_ok("Basic eWFyZHdhdGNo!nMzY3JldA==", "s3cret"));   /* not base64 */
	CHECK(!http_auth_ok("Basic eWFyZHdhdGNo", "s3cret"));               /* no colon */
	CHECK(!http_auth_ok("Bearer eWFyZHdhdGNoOnMzY3JldA==", "s3cret"));
	CHECK(!http_auth_ok("Basic", "s3cret"));
	CHECK(!http_auth_ok(NULL, "s3cret"));
	CHECK(http_const_eq("abc", 3, "abc", 3));
	CHECK(!http_const_eq("abd", 3, "abc", 3));
	CHECK(!http_const_eq("ab", 2, "abc", 3));
	CHECK(!http_const_eq("abcd", 4, "abc", 3));
	CHECK(http_const_eq("", 0, "", 0));
}

/* ---- the config's http section ------------------------------------------ */

/* Load a config whose "http" is HTTP (JSON text; NULL: absent) into *OUT
 * (NULL on failure), the loader's messages into ERRS. */
static struct config *load_http(const char *http, char *errs, size_t errlen)
{
	char path[512], *buf = NULL;
	size_t len = 0;
	FILE *f, *ef = open_memstream(&buf, &len);
	struct config *c;

	path_of(path, sizeof path, "http.json");
	f = fopen(path, "w");
	if (!f || !ef)
		abort();
	fprintf(f, "{\"site\": {\"id\": \"s\", \"gateway\": \"gw1\"},%s%s%s\n"
		   " \"buses\": [{\"id\": \"lan\", \"type\": \"tcp\", \"host\": \"127.0.0.1\"}],\n"
		   " \"devices\": [{\"id\": \"d1\", \"bus\": \"lan\", \"unit\": 1, \"points\": [\n"
		   "   {\"name\": \"c\", \"table\": \"coil\", \"address\": 0}]}]}\n",
		http ? " \"http\": " : "", http ? http : "", http ? "," : "");
	fclose(f);
	c = config_load(path, NULL, ef);
	fclose(ef);
	snprintf(errs, errlen, "%s", buf ? buf : "");
	free(buf);
	return c;
}

static void write_file(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	path_of(p, sizeof p, name);
	f = fopen(p, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

static void test_config(void)
{
	static const struct {
		const char *http, *want;   /* want: the error, or "" for a valid config */
	} cases[] = {
		{ "{\"listen\": \"0.0.0.0:8080\"}", "" },
		{ "{\"listen\": \"[::1]:80\", \"password_file\": null}", "" },
		{ "{\"listen\": \"127.0.0.1:8080\", \"password_file\": \"pw\"}", "" },
		{ "null", "" },
		{ "{}", "http.json: http.listen: is required\n" },
		{ "\"0.0.0.0:80\"", "http.json: http: must be an object\n" },
		{ "{\"listen\": 8080}", "http.json: http.listen: must be a string\n" },
		{ "{\"listen\": \"gw.local:8080\"}",
		  "http.json: http.listen: \"gw.local:8080\" is not ADDRESS:PORT (an IPv4 address or an "
		  "IPv6 address in brackets, a port 1..65535)\n" },
		{ "{\"listen\": \"0.0.0.0:0\"}", "http.json: http.listen: \"0.0.0.0:0\" is not" },
		{ "{\"listen\": \"0.0.0.0:80\", \"port\": 80}", "http.json: http.port: unknown key\n" },
		{ "{\"listen\": \"0.0.0.0:80\", \"password_file\": \"nope\"}",
		  "http.json: http.password_file: cannot read /" },
		{ "{\"listen\": \"0.0.0.0:80\", \"password_file\": \"empty\"}",
		  "empty: the password is empty\n" },
		{ "{\"listen\": \"0.0.0.0:80\", \"password_file\": \"\"}",
		  "http.json: http.password_file: must not be empty\n" },
	};
	char errs[1024];

	write_file("pw", "s3cret\n");
	write_file("empty", "\n");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config *c;

		check_case = cases[i].http;
		c = load_http(cases[i].http, errs, sizeof errs);
		if (!cases[i].want[0]) {
			CHECK(c != NULL);
			if (!c)
				fprintf(stderr, "%s", errs);
		} else {
			CHECK(c == NULL);
			CHECK(strstr(errs, cases[i].want) != NULL);
			if (!strstr(errs, cases[i].want))
				fprintf(stderr, "got: %s", errs);
		}
		if (c && i == 0)
			CHECK(c->http.enabled && c->http.port == 8080 && c->http.family == AF_INET &&
			      strcmp(c->http.host, "0.0.0.0") == 0 && !c->http.password[0]);
		if (c && i == 1)
			CHECK(c->http.family == AF_INET6 && strcmp(c->http.host, "::1") == 0);
		if (c && i == 2)
			CHECK(strcmp(c->http.password, "s3cret") == 0);   /* one newline dropped */
		if (c && i == 3)
			CHECK(!c->http.enabled);
		config_free(c);
	}
	check_case = "";
	struct config *c = load_http(NULL, errs, sizeof errs);
	CHECK(c && !c->http.enabled);
	config_free(c);
	write_file("pw", "two\n\n");
	c = load_http("{\"listen\": \"127.0.0.1:1\", \"password_file\": \"pw\"}", errs, sizeof errs);
	CHECK(c && strcmp(c->http.password, "two\n") == 0);   /* only one newline is not part */
	config_free(c);
}

/* ---- handlers ----------------------------------------------------------- */

static struct config *cfg;
static struct http_live *live;
static struct query *q;

/* The answer of PATH (with query arguments K=V) into *BODY (malloc'd). */
static int get(const char *path, const char *k, const char *v, char **body)
{
	const char *keys[1] = { k }, *vals[1] = { v };
	struct http_ctx c = { .q = q, .view = live->view, .live = live, .now = HFX_NOW, .pid = 4242,
			      .store_bytes = 2306867 };
	struct http_req r;
	struct hbuf b;
	char err[128];
	int status;

	if (http_req_parse(path, keys, vals, k ? 1 : 0, HFX_NOW, &r, err, sizeof err) != 0)
		return 400;
	c.req = &r;
	hb_init(&b, HTTP_ANSWER_MAX);
	switch (r.route) {
	case HTTP_R_PAGE: status = http_page_index(&c, &b); break;
	case HTTP_R_POINT: status = http_page_point(&c, &b); break;
	case HTTP_R_METRICS: status = http_metrics(&c, &b); break;
	default: status = http_api(&c, &b); break;
	}
	CHECK(!b.failed);
	if (status != 200)
		CHECK(c.err[0] != '\0');
	*body = b.p ? b.p : strdup("");
	return status;
}

static void save(const char *name, const char *body)
{
	const char *dir = getenv("YW_HTTP_SAVE");
	char p[1024];
	FILE *f;

	if (!dir)
		return;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	if ((f = fopen(p, "w"))) {
		fputs(body, f);
		fclose(f);
	}
}

/* Self-contained and escaped: nothing fetched, no script, no raw markup
 * from the config. */
static void check_html(const char *s)
{
	CHECK(strncmp(s, "<!DOCTYPE html>", 15) == 0);
	CHECK(strstr(s, "<meta http-equiv=\"refresh\""));
	CHECK(strstr(s, "name=\"viewport\""));
	CHECK(!strstr(s, "<script"));
	CHECK(!strstr(s, "src="));
	CHECK(!strstr(s, "<link"));
	CHECK(!strstr(s, "href=\"http"));
	CHECK(!strstr(s, "url("));
	CHECK(strstr(s, "+08:00"));
	CHECK(strstr(s, "</html>\n"));
}

static void test_page(void)
{
	char *s;

	CHECK(get("/", NULL, NULL, &s) == 200);
	save("index.html", s);
	check_html(s);
	CHECK(strstr(s, "Huashan Road compound 7"));
	CHECK(strstr(s, "gateway <b>gw1</b>"));
	for (size_t i = 0; i < cfg->ndevices; i++) {
		char id[96];
		snprintf(id, sizeof id, "id=\"dev-%s\"", cfg->devices[i].id);
		CHECK(strstr(s, id));
	}
	CHECK(strstr(s, "Pump &lt;script&gt;alert(1)&lt;/script&gt; room &amp; &quot;east&quot;"));
	CHECK(strstr(s, "2 active alarms<"));
	CHECK(strstr(s, "1 of 2 devices offline"));
	CHECK(strstr(s, "Store: 2.2 MB"));
	CHECK(strstr(s, "Device b3-meter is not answering"));
	CHECK(strstr(s, "0 errors in 0 polls") == NULL);
	CHECK(strstr(s, "2 errors in 1 poll<"));       /* b3-pressure's */
	CHECK(strstr(s, "3 errors in 1 poll<"));       /* b3-meter's */
	CHECK(strstr(s, "badge disabled\">disabled<"));
	CHECK(strstr(s, "Fire water pressure low, building 3"));
	CHECK(strstr(s, "not acknowledged"));
	CHECK(strstr(s, "Since 2026-11-26 12:00:00+08:00 (10 min)"));
	CHECK(strstr(s, "0.08 MPa"));
	CHECK(strstr(s, "connected</span>, 2 messages queued"));
	CHECK(strstr(s, "Running 1 d 0 h"));
	/* the worst first: the alarm before the devices, the offline device first */
	CHECK(strstr(s, "id=\"alarms\"") < strstr(s, "id=\"devices\""));
	CHECK(strstr(s, "dev-b3-meter") < strstr(s, "dev-b3-pressure"));
	/* the most severe alarm first */
	CHECK(strstr(s, "Fire water pressure low") < strstr(s, "Device b3-meter is not answering"));
	CHECK(strstr(s, "dev-b3-pressure") < strstr(s, "dev-b9-spare"));
	CHECK(strstr(s, "href=\"/point/b3-pressure.pressure\""));
	free(s);
}

static void test_point_page(void)
{
	char *s;

	CHECK(get("/point/b3-pressure.pressure", NULL, NULL, &s) == 200);
	save("point.html", s);
	check_html(s);
	CHECK(strstr(s, "<svg"));
	CHECK(strstr(s, "class=\"data\""));
	CHECK(strstr(s, "class=\"threshold\""));
	CHECK(strstr(s, "alarm below 0.1<"));
	CHECK(strstr(s, "stroke-dasharray"));            /* the clear level */
	CHECK(strstr(s, "Fire water pressure low"));     /* its active alarm */
	CHECK(strstr(s, "Recent readings"));
	CHECK(strstr(s, ">12:00:00<"));                  /* the reading of the raise */
	/* the stale hour is a gap: the line is in several pieces */
	const char *d = strstr(s, "class=\"data\"");
	d = d ? strstr(d, " d=\"") : NULL;
	int moves = 0;
	for (const char *p = d ? d + 4 : ""; *p && *p != '"'; p++)
		moves += *p == 'M';
	CHECK(moves == 2);
	free(s);

	CHECK(get("/point/b3-meter.relay", NULL, NULL, &s) == 200);
	CHECK(strstr(s, ">true<") && strstr(s, ">false<"));   /* a bool's axis */
	free(s);
	CHECK(get("/point/b3-meter.energy", NULL, NULL, &s) == 200);
	CHECK(strstr(s, "k&quot;W\\h\nx"));
	free(s);
	CHECK(get("/point/b3-pressure.nope", NULL, NULL, &s) == 404);
	free(s);
	CHECK(get("/point/b7.x", NULL, NULL, &s) == 404);
	free(s);
}

static json_t *get_json(const char *path, const char *k, const char *v)
{
	char *s;
	json_error_t err;
	json_t *j = NULL;

	if (get(path, k, v, &s) == 200) {
		CHECK(s[strlen(s) - 1] == '\n');
		j = json_loads(s, 0, &err);
	}
	CHECK(j != NULL);
	free(s);
	return j;
}

static void test_api(void)
{
	json_t *j = get_json("/api/status", NULL, NULL);
	char *s;

	CHECK(json_object_size(j) == 13);
	CHECK(strcmp(json_string_value(json_object_get(j, "site")), "mangshi-hs07") == 0);
	CHECK(json_integer_value(json_object_get(j, "devices_online")) == 1);
	CHECK(json_integer_value(json_object_get(j, "devices_total")) == 3);
	CHECK(json_integer_value(json_object_get(j, "alarms_active")) == 1);
	CHECK(json_is_true(json_object_get(json_object_get(j, "daemon"), "running")));
	CHECK(json_integer_value(json_object_get(json_object_get(j, "daemon"), "pid")) == 4242);
	json_t *u = json_array_get(json_object_get(j, "uplinks"), 0);
	CHECK(strcmp(json_string_value(json_object_get(u, "id")), "mqtt") == 0);
	CHECK(json_is_true(json_object_get(u, "connected")));
	CHECK(json_integer_value(json_object_get(u, "outbox_depth")) == 2);
	json_decref(j);

	j = get_json("/api/devices", NULL, NULL);
	CHECK(json_array_size(j) == 3);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(j, 1), "state")), "offline") == 0);
	json_decref(j);
	j = get_json("/api/points/b3-pressure", NULL, NULL);
	CHECK(json_array_size(j) == 2);
	CHECK(json_real_value(json_object_get(json_array_get(j, 0), "value")) == 0.08);
	json_decref(j);
	CHECK(get("/api/points/b7", NULL, NULL, &s) == 404);
	free(s);
	j = get_json("/api/alarms", "active", "1");
	CHECK(json_array_size(j) == 1);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(j, 0), "alarm")),
		     "b3-fire-pressure-low") == 0);
	json_decref(j);
	j = get_json("/api/history/b3-pressure.pressure", "since", "2026-11-26T04:02:00Z");
	CHECK(json_array_size(j) >= 1);   /* the value in force, then the rest */
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(j, 0), "ts")),
		     "2026-11-26T04:00:00.000Z") == 0);
	json_decref(j);
	CHECK(get("/api/history/b3-pressure.nope", NULL, NULL, &s) == 404);
	free(s);
}

static void test_metrics(void)
{
	regex_t re;
	char *s, *save = NULL;
	int bad = 0, samples = 0;

	/* name, optional labels (each value a quoted string with \\, \" or \n
	 * escapes), a value */
	CHECK(regcomp(&re, "^[a-zA-Z_:][a-zA-Z0-9_:]*"
			   "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
			   "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\")*\\})?"
			   " (-?[0-9.e+-]+|NaN|[+-]Inf)$", REG_EXTENDED | REG_NOSUB) == 0);
	CHECK(get("/metrics", NULL, NULL, &s) == 200);
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0)
			continue;
		if (regexec(&re, line, 0, NULL, 0) != 0) {
			fprintf(stderr, "not a sample: %s\n", line);
			bad++;
		}
		samples++;
	}
	regfree(&re);
	CHECK(bad == 0 && samples > 20);
	free(s);

	CHECK(get("/metrics", NULL, NULL, &s) == 200);
	static const char *const want[] = {
		"# TYPE yardwatch_build_info gauge\nyardwatch_build_info{version=\"",
		"\nyardwatch_device_up{device=\"b3-pressure\",bus=\"lan\"} 1\n",
		"\nyardwatch_device_up{device=\"b3-meter\",bus=\"lan\"} 0\n",
		"\nyardwatch_point_value{device=\"b3-pressure\",point=\"pressure\",unit=\"MPa\"} 0.08\n",
		"\nyardwatch_point_value{device=\"b3-pressure\",point=\"dp\",unit=\"\"} 23\n",
		"\nyardwatch_alarm_active{alarm=\"b3-fire-pressure-low\",severity=\"critical\","
		"category=\"fire\"} 1\n",
		"\nyardwatch_alarm_active{alarm=\"b3-pressure.offline\",severity=\"critical\","
		"category=\"fire\"} 0\n",
		"\nyardwatch_alarm_active{alarm=\"b3-meter.offline\",severity=\"major\","
		"category=\"power\"} 1\n",
		"\nyardwatch_store_bytes 2306867\n",
		"\nyardwatch_device_last_ok_timestamp_seconds{device=\"b3-pressure\"} 1795666199\n",
		"\nyardwatch_modbus_requests_total{bus=\"lan\",result=\"exception\"} 2\n",
		"\nyardwatch_modbus_requests_total{bus=\"lan\",result=\"timeout\"} 3\n",
		"\nyardwatch_modbus_polls_total{bus=\"lan\",result=\"ok\"} 1\n",
		"\nyardwatch_modbus_polls_total{bus=\"lan\",result=\"failed\"} 1\n",
		"\nyardwatch_outbox_depth{uplink=\"mqtt\"} 2\n",
		"\nyardwatch_uplink_connected{uplink=\"mqtt\"} 1\n",
		"\n# TYPE yardwatch_store_bytes gauge\nyardwatch_store_bytes ",
		"\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ",
		"\nprocess_resident_memory_bytes ", "\nprocess_virtual_memory_bytes ",
		"\nprocess_open_fds ", "\nprocess_max_fds ", "\nprocess_start_time_seconds ",
		"\nyardwatch_start_time_seconds 1795579800\n", "\nyardwatch_clock_set 1\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		check_case = want[i];
		CHECK(strstr(s, want[i]));
	}
	check_case = "";
	/* the meter is offline: its points are not good, not listed */
	CHECK(!strstr(s, "point=\"energy\""));
	CHECK(!strstr(s, "b9-spare\",bus"));   /* disabled: not listed as up or down */
	free(s);
}

int main(void)
{
	char path[512], err[256];

	setenv("TZ", "CST-8", 1);
	tzset();
	test_text();
	test_routes();
	test_listen();
	test_auth();

	fx_init("http");
	test_config();
	path_of(path, sizeof path, "yw.db");
	cfg = hfx_config();
	hfx_store(cfg, path);
	live = hfx_live(cfg, NULL);
	CHECK(query_open(path, &q, err, sizeof err) == QUERY_OK);
	if (q) {
		test_page();
		test_point_page();
		test_api();
		test_metrics();
	}
	query_close(q);
	http_live_unref(live);
	hfx_config_free(cfg);
	fx_done();
	return check_report();
}
