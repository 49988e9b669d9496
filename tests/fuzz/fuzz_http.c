/*
 * fuzz_http: libFuzzer target of the status page's parsers of outside
 * input (daemon/http_req.c) and its escaping (daemon/http_text.c). The
 * first byte picks what the rest is:
 *   0  an `http.listen` value (http_parse_listen)
 *   1  an Authorization header, then after a NUL the password
 *      (http_auth_ok)
 *   2  a request: the path, then one "key=value" (or "key") a line, as
 *      libmicrohttpd hands them over decoded (http_req_parse)
 *   3  text from the config or a device, escaped for HTML and for a
 *      Prometheus label (hb_html, hb_label)
 *
 * Checked, whatever the bytes (besides ASan/UBSan):
 *  - listen: accepted means a port 1..65535, AF_INET or AF_INET6, an
 *    address that inet_pton reads, and ADDRESS:PORT (bracketed for IPv6)
 *    parses back to the same;
 *  - auth: accepted only for "Basic " (any case) and the password given;
 *  - request: OK, NOT_FOUND, or BAD with an error text; accepted: a known
 *    route whose argument is DEVICE.POINT (point, history) or an id
 *    (points) made of [a-z0-9_-], and since <= until when both are given;
 *  - escaping: the HTML has none of < > " ' and only & that starts an
 *    entity; the label has no newline and every " and \ escaped; both
 *    unescape to the input.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "../../daemon/http_req.h"
#include "../../daemon/http_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_listen(const char *s)
{
	char host[HTTP_HOST_MAX], host2[HTTP_HOST_MAX], again[HTTP_HOST_MAX + 16];
	unsigned char addr[16];
	int family = 0, port = 0, family2, port2;

	if (http_parse_listen(s, host, sizeof host, &family, &port) != 0)
		return;
	if (port < 1 || port > 65535 || (family != AF_INET && family != AF_INET6) ||
	    inet_pton(family, host, addr) != 1)
		abort();
	snprintf(again, sizeof again, family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
	if (http_parse_listen(again, host2, sizeof host2, &family2, &port2) != 0 ||
	    family2 != family || port2 != port || strcmp(host, host2) != 0)
		abort();
}

static void fuzz_auth(const char *s, size_t n)
{
	const char *pw = memchr(s, '\0', n) ? s + strlen(s) + 1 : "";

	if (pw > s + n)
		pw = "";
	if (http_auth_ok(s, pw) && strncasecmp(s, "Basic ", 6) != 0)
		abort();
}

static bool id_chars(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(s);
}

static void fuzz_request(char *s)
{
	const char *keys[HTTP_ARGS_MAX + 4], *vals[HTTP_ARGS_MAX + 4];
	char *save = NULL, *path = strtok_r(s, "\n", &save), err[128];
	size_t n = 0;
	struct http_req r;

	if (!path)
		return;
	for (char *kv = strtok_r(NULL, "\n", &save); kv && n < HTTP_ARGS_MAX + 4;
	     kv = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(kv, '=');
		if (eq)
			*eq = '\0';
		keys[n] = kv;
		vals[n++] = eq ? eq + 1 : NULL;
	}
	int rc = http_req_parse(path, keys, vals, n, 1795666200000LL, &r, err, sizeof err);
	if (rc == HTTP_PARSE_BAD && !err[0])
		abort();
	if (rc != HTTP_PARSE_OK) {
		if (rc != HTTP_PARSE_BAD && rc != HTTP_PARSE_NOT_FOUND)
			abort();
		return;
	}
	if ((int)r.route < HTTP_R_PAGE || r.route > HTTP_R_METRICS || !memchr(r.arg, 0, sizeof r.arg))
		abort();
	if (r.route == HTTP_R_POINT || r.route == HTTP_R_HISTORY) {
		char dev[HTTP_FULLID_MAX];
		const char *dot = strchr(r.arg, '.');
		if (!dot)
			abort();
		snprintf(dev, sizeof dev, "%.*s", (int)(dot - r.arg), r.arg);
		if (!id_chars(dev) || !id_chars(dot + 1))
			abort();
	} else if (r.route == HTTP_R_POINTS && r.arg[0] && !id_chars(r.arg)) {
		abort();
	} else if (r.route != HTTP_R_POINTS && r.arg[0]) {
		abort();
	}
	if (r.has_since && r.has_until && r.since > r.until)
		abort();
}

static void fuzz_escape(const char *s)
{
	struct hbuf b;

	hb_init(&b, 1 << 20);
	hb_html(&b, s);
	if (b.failed || strpbrk(b.p ? b.p : "", "<>\"'"))
		abort();
	for (const char *p = b.p ? b.p : ""; (p = strchr(p, '&')); p++)
		if (strncmp(p, "&amp;", 5) && strncmp(p, "&lt;", 4) && strncmp(p, "&gt;", 4) &&
		    strncmp(p, "&quot;", 6) && strncmp(p, "&#39;", 5))
			abort();
	hb_free(&b);
	hb_init(&b, 1 << 20);
	hb_label(&b, s);
	const char *l = b.p ? b.p : "";
	if (b.failed || strchr(l, '\n'))
		abort();
	/* unescape: the input again */
	size_t i = 0;
	for (const char *p = l; *p; p++, i++) {
		char c = *p;
		if (c == '"')
			abort();
		if (c == '\\') {
			p++;
			c = *p == 'n' ? '\n' : *p;
			if (*p != 'n' && *p != '\\' && *p != '"')
				abort();
		}
		if (s[i] != c)
			abort();
	}
	if (s[i])
		abort();
	hb_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 65536)
		return 0;
	s = malloc(size);
	if (!s)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0: fuzz_listen(s); break;
	case 1: fuzz_auth(s, size - 1); break;
	case 2: fuzz_request(s); break;
	default: fuzz_escape(s); break;
	}
	free(s);
	return 0;
}
