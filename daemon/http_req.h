/*
 * http_req: what a request to the status page asks for, read from outside
 * input (pure: no I/O, no state; fuzzed by tests/fuzz/fuzz_http.c). The
 * server (http.c) hands it the path and the query arguments that
 * libmicrohttpd has already split and %-decoded, and the Authorization
 * header; the config loader hands it the `http.listen` value.
 *
 * Owns: the paths the server answers (docs/status-page.md), the query
 * arguments each takes, the `listen` syntax, and the basic-auth check (user
 * `yardwatch`, the password compared in constant time).
 */
#ifndef YW_HTTP_REQ_H
#define YW_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_USER "yardwatch"
#define HTTP_ID_MAX 64           /* an id and its NUL */
#define HTTP_FULLID_MAX 128      /* DEVICE.POINT and its NUL */
#define HTTP_HOST_MAX 64         /* an IPv4 or IPv6 address as text */
#define HTTP_ARGS_MAX 8          /* query arguments looked at; more is a bad request */

enum http_route {
	HTTP_R_PAGE,          /* /                  the status page */
	HTTP_R_POINT,         /* /point/DEV.PT      a point's last 24 h */
	HTTP_R_STATUS,        /* /api/status */
	HTTP_R_DEVICES,       /* /api/devices */
	HTTP_R_POINTS,        /* /api/points, /api/points/DEV */
	HTTP_R_ALARMS,        /* /api/alarms[?active=1][&since=T] */
	HTTP_R_HISTORY,       /* /api/history/DEV.PT[?since=T][&until=T] */
	HTTP_R_METRICS,       /* /metrics */
};

/* The outcome of parsing: a route, or the status to answer with. */
enum http_parse_rc {
	HTTP_PARSE_OK = 0,
	HTTP_PARSE_NOT_FOUND = -1,   /* 404: no such path */
	HTTP_PARSE_BAD = -2,         /* 400: a bad or unknown argument */
};

struct http_req {
	enum http_route route;
	char arg[HTTP_FULLID_MAX];   /* POINT, HISTORY: DEV.PT; POINTS: DEV or "" */
	bool active;                 /* ALARMS: ?active=1 */
	bool has_since, has_until;
	int64_t since, until;        /* wall ms */
};

/* PATH (decoded, without the query) and the N query arguments KEYS[i] =
 * VALS[i] (decoded; a VAL may be NULL for "?key") into *R; times relative
 * to NOW_MS ("2h" back from now). On HTTP_PARSE_BAD, ERR says why. */
int http_req_parse(const char *path, const char *const *keys, const char *const *vals, size_t n,
		   int64_t now_ms, struct http_req *r, char *err, size_t errlen);

/* "A.B.C.D:PORT" or "[IPV6]:PORT", PORT 1..65535: the address without
 * brackets into HOST (HOSTLEN >= HTTP_HOST_MAX), its family (AF_INET,
 * AF_INET6) and the port. 0, or -1 when S is not one. */
int http_parse_listen(const char *s, char *host, size_t hostlen, int *family, int *port);

/* Whether the Authorization header HDR (NULL: none) is "Basic" with user
 * HTTP_USER and PASSWORD. The password is compared in a time that does not
 * depend on how much of it matched. */
bool http_auth_ok(const char *hdr, const char *password);

/* A and B equal, in a time that depends only on B_LEN (the secret's). */
bool http_const_eq(const char *a, size_t a_len, const char *b, size_t b_len);

#endif
