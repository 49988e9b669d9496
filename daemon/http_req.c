/*
 * http_req: the status page's paths and arguments, the `listen` value and
 * the basic-auth check, as functions of their text (see http_req.h).
 */
#include "http_req.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "util.h"

/* ---- paths -------------------------------------------------------------- */

/* An id of the config: [a-z0-9][a-z0-9_-]{0,62}, LEN bytes of S. */
static bool id_ok(const char *s, size_t len)
{
	if (len < 1 || len >= HTTP_ID_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/* DEVICE.POINT, each an id. */
static bool point_ok(const char *s)
{
	const char *dot = strchr(s, '.');

	return dot && id_ok(s, (size_t)(dot - s)) && id_ok(dot + 1, strlen(dot + 1));
}

/* PATH starts with PREFIX; *REST is what follows. */
static bool under(const char *path, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) != 0)
		return false;
	*rest = path + n;
	return true;
}

static int route_of(const char *path, struct http_req *r)
{
	static const struct {
		const char *path;
		enum http_route route;
	} fixed[] = {
		{ "/", HTTP_R_PAGE }, { "/api/status", HTTP_R_STATUS },
		{ "/api/devices", HTTP_R_DEVICES }, { "/api/points", HTTP_R_POINTS },
		{ "/api/alarms", HTTP_R_ALARMS }, { "/metrics", HTTP_R_METRICS },
	};
	const char *rest;

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		if (strcmp(path, fixed[i].path) == 0) {
			r->route = fixed[i].route;
			return HTTP_PARSE_OK;
		}
	}
	if (under(path, "/point/", &rest) && point_ok(rest))
		r->route = HTTP_R_POINT;
	else if (under(path, "/api/history/", &rest) && point_ok(rest))
		r->route = HTTP_R_HISTORY;
	else if (under(path, "/api/points/", &rest) && id_ok(rest, strlen(rest)))
		r->route = HTTP_R_POINTS;
	else
		return HTTP_PARSE_NOT_FOUND;
	util_strlcpy(r->arg, rest, sizeof r->arg);
	return HTTP_PARSE_OK;
}

/* ---- arguments ---------------------------------------------------------- */

static int bad(char *err, size_t errlen, const char *fmt, const char *what)
{
	char safe[48];
	size_t i;

	/* what the client sent, cut and with only printable ASCII */
	for (i = 0; what && what[i] && i < sizeof safe - 1; i++)
		safe[i] = what[i] >= 0x20 && what[i] < 0x7f ? what[i] : '?';
	safe[i] = '\0';
	snprintf(err, errlen, fmt, safe);
	return HTTP_PARSE_BAD;
}

static int arg_time(const char *key, const char *val, int64_t now, bool *has, int64_t *out,
		    char *err, size_t errlen)
{
	if (*has)
		return bad(err, errlen, "%s given twice", key);
	if (!val || util_parse_time(val, now, out) != 0)
		return bad(err, errlen, "%s: want an RFC 3339 time or a duration like 2h, 7d",
			   key);
	*has = true;
	return HTTP_PARSE_OK;
}

static int arg_one(struct http_req *r, const char *key, const char *val, int64_t now, char *err,
		   size_t errlen)
{
	bool hist = r->route == HTTP_R_HISTORY, alarms = r->route == HTTP_R_ALARMS;

	if (alarms && strcmp(key, "active") == 0) {
		if (!val || !*val || strcmp(val, "1") == 0 || strcmp(val, "true") == 0)
			r->active = true;
		else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0)
			r->active = false;
		else
			return bad(err, errlen, "active: want 1 or 0, not \"%s\"", val);
		return HTTP_PARSE_OK;
	}
	if ((hist || alarms) && strcmp(key, "since") == 0)
		return arg_time(key, val, now, &r->has_since, &r->since, err, errlen);
	if (hist && strcmp(key, "until") == 0)
		return arg_time(key, val, now, &r->has_until, &r->until, err, errlen);
	return bad(err, errlen, "unknown argument \"%s\"", key);
}

int http_req_parse(const char *path, const char *const *keys, const char *const *vals, size_t n,
		   int64_t now_ms, struct http_req *r, char *err, size_t errlen)
{
	int rc;

	memset(r, 0, sizeof *r);
	if (errlen)
		err[0] = '\0';
	if (!path || (rc = route_of(path, r)) != HTTP_PARSE_OK)
		return HTTP_PARSE_NOT_FOUND;
	if (n > HTTP_ARGS_MAX)
		return bad(err, errlen, "%s", "too many arguments");
	for (size_t i = 0; i < n; i++)
		if ((rc = arg_one(r, keys[i] ? keys[i] : "", vals[i], now_ms, err, errlen)) != 0)
			return rc;
	if (r->has_since && r->has_until && r->since > r->until)
		return bad(err, errlen, "%s", "since is after until");
	return HTTP_PARSE_OK;
}

/* ---- listen ------------------------------------------------------------- */

int http_parse_listen(const char *s, char *host, size_t hostlen, int *family, int *port)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *h = s, *colon;
	size_t hlen;
	char *end;
	long p;

	if (!s || hostlen < HTTP_HOST_MAX)
		return -1;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
		*family = AF_INET6;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - s);
		*family = AF_INET;
	}
	if (hlen == 0 || hlen >= HTTP_HOST_MAX)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(*family, host, addr) != 1)
		return -1;
	if (colon[1] < '0' || colon[1] > '9' || strlen(colon + 1) > 5)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/* ---- basic auth --------------------------------------------------------- */

bool http_const_eq(const char *a, size_t a_len, const char *b, size_t b_len)
{
	volatile unsigned char diff = 0;

	for (size_t i = 0; i < b_len; i++)
		diff |= (unsigned char)((i < a_len ? (unsigned char)a[i] : 0) ^ (unsigned char)b[i]);
	return (diff | (a_len != b_len)) == 0;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (padded) of IN into OUT (at most OUTLEN bytes): the length,
 * or -1 when IN is not base64 or does not fit. */
static long b64_decode(const char *in, size_t n, unsigned char *out, size_t outlen)
{
	size_t o = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64_value(in[i + k])) < 0) {
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		for (int k = 0; k < 3 - pad; k++) {
			if (o >= outlen)
				return -1;
			out[o++] = (unsigned char)(w >> (16 - 8 * k));
		}
	}
	return (long)o;
}

bool http_auth_ok(const char *hdr, const char *password)
{
	unsigned char dec[512];
	const char *colon;
	size_t n, user_len;
	long len;
	bool ok;

	if (!hdr || strncasecmp(hdr, "Basic ", 6) != 0)
		return false;
	hdr += 6;
	while (*hdr == ' ')
		hdr++;
	n = strlen(hdr);
	while (n && hdr[n - 1] == ' ')
		n--;
	len = b64_decode(hdr, n, dec, sizeof dec);
	if (len < 0)
		return false;
	colon = memchr(dec, ':', (size_t)len);
	if (!colon)
		return false;
	user_len = (size_t)(colon - (const char *)dec);
	ok = http_const_eq((const char *)dec, user_len, HTTP_USER, strlen(HTTP_USER));
	ok &= http_const_eq(colon + 1, (size_t)len - user_len - 1, password, strlen(password));
	explicit_bzero(dec, sizeof dec);
	return ok;
}
