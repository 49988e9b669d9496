/*
 * test_http_server: the status page's server on 127.0.0.1, over real
 * sockets, on the fixed store of http_fixture.c: methods (405), a body
 * (413), a header over 8 KB (431), a malformed request (400), unknown paths
 * and arguments (404, 400), HEAD, the content types, basic auth (401 and
 * its challenge; the right password; a reload that sets, changes or drops
 * it), a reload that moves or stops the server, a busy port, a store that
 * cannot be read (503), and the live snapshots handed over.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../daemon/http.h"
#include "check.h"
#include "http_fixture.h"

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		abort();
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send REQ (LEN bytes) to PORT and read the answer until the server closes
 * or 3 s pass; the status code (-1: no connection), the answer in OUT. */
static int ask(int port, const char *req, size_t len, char *out, size_t outlen)
{
	int fd = dial(port);
	size_t n = 0;
	int code = -1;

	out[0] = '\0';
	if (fd < 0)
		return -1;
	for (size_t off = 0; off < len;) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 3000) <= 0 || n + 1 >= outlen)
			break;
		ssize_t r = recv(fd, out + n, outlen - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	close(fd);
	if (sscanf(out, "HTTP/1.%*d %d", &code) != 1)
		code = 0;
	return code;
}

static char ans[1 << 20];

static int get(int port, const char *path, const char *extra)
{
	char req[512];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n%s\r\n",
			 path, extra ? extra : "");
	return ask(port, req, (size_t)n, ans, sizeof ans);
}

static const char *body(void)
{
	const char *b = strstr(ans, "\r\n\r\n");
	return b ? b + 4 : "";
}

/* What the main loop does after a start or a reload: a snapshot. */
static void publish(struct http *h, const struct config *c)
{
	http_publish(h, hfx_live(c, h));
}

static void set_http(struct config *c, int port, const char *password)
{
	memset(&c->http, 0, sizeof c->http);
	c->http.enabled = port > 0;
	snprintf(c->http.listen, sizeof c->http.listen, "127.0.0.1:%d", port);
	snprintf(c->http.host, sizeof c->http.host, "127.0.0.1");
	c->http.family = AF_INET;
	c->http.port = port;
	snprintf(c->http.password, sizeof c->http.password, "%s", password ? password : "");
}

static void test_limits(int port)
{
	static char big[24 * 1024];
	char req[sizeof big + 256];
	int n;

	CHECK(get(port, "/", NULL) == 200);
	CHECK(strstr(ans, "Content-Type: text/html; charset=utf-8\r\n"));
	CHECK(strstr(ans, "Content-Security-Policy: default-src 'none'"));
	CHECK(strstr(ans, "Cache-Control: no-store\r\n"));
	CHECK(strncmp(body(), "<!DOCTYPE html>", 15) == 0);
	CHECK(get(port, "/metrics", NULL) == 200);
	CHECK(strstr(ans, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	CHECK(get(port, "/api/devices", NULL) == 200);
	CHECK(strstr(ans, "Content-Type: application/json\r\n"));
	CHECK(body()[0] == '[');
	CHECK(get(port, "/point/b3-pressure.pressure", NULL) == 200 && strstr(body(), "<svg"));

	n = snprintf(req, sizeof req, "HEAD / HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 200);
	CHECK(body()[0] == '\0');

	n = snprintf(req, sizeof req, "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\nab");
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 405);
	CHECK(strstr(ans, "Allow: GET, HEAD\r\n"));
	n = snprintf(req, sizeof req, "DELETE /api/alarms HTTP/1.1\r\nHost: gw\r\n\r\n");
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 405);
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhello");
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 413);
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "5\r\nhello\r\n0\r\n\r\n");
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 413);
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n"
			   "Connection: close\r\n\r\n");
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 200);

	/* a header over 8 KB: ours (431) up to libmicrohttpd's buffer, its own beyond */
	memset(big, 'a', sizeof big);
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: gw\r\nX-Pad: %.*s\r\n\r\n", 8300, big);
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 431);
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: gw\r\nX-Pad: %.*s\r\n\r\n", 20000, big);
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 431);
	n = snprintf(req, sizeof req, "GET /?a=%.*s HTTP/1.1\r\nHost: gw\r\n\r\n", 20000, big);
	int code = ask(port, req, (size_t)n, ans, sizeof ans);
	CHECK(code == 431 || code == 414);
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: gw\r\nX-Pad: %.*s\r\n"
			   "Connection: close\r\n\r\n", 7000, big);
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 200);

	/* malformed: 400; a first line that is not HTTP at all is closed unanswered */
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nNo colon here\r\n\r\n");
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 400);
	n = snprintf(req, sizeof req, "GET / FOO\r\nHost: gw\r\n\r\n");
	CHECK(ask(port, req, (size_t)n, ans, sizeof ans) == 400);
	n = snprintf(req, sizeof req, "GARBAGE\r\n\r\n");
	code = ask(port, req, (size_t)n, ans, sizeof ans);
	CHECK(code == 400 || (code == 0 && ans[0] == '\0'));
	CHECK(get(port, "/nope", NULL) == 404);
	CHECK(get(port, "/point/b3-pressure.nope", NULL) == 404);
	CHECK(get(port, "/point/%3Cscript%3E.x", NULL) == 404);
	CHECK(!strstr(ans, "<script>"));
	CHECK(get(port, "/api/alarms?activ=1", NULL) == 400);
	CHECK(strstr(body(), "unknown argument \"activ\""));
	CHECK(get(port, "/api/alarms?active=1", NULL) == 200);
	CHECK(strstr(body(), "b3-fire-pressure-low"));
	CHECK(get(port, "/api/history/b3-pressure.pressure?since=2026-11-26T04:02:00Z", NULL) == 200);
	CHECK(strncmp(body(), "[{\"ts\":\"2026-11-26T04:00:00.000Z\",\"value\":0.08,", 46) == 0);
}

static void test_auth(struct config *c, struct http **h, int port)
{
	/* yardwatch:s3cret, yardwatch:wrong, yardwatch:n3w */
	const char *good = "Authorization: Basic eWFyZHdhdGNoOnMzY3JldA==\r\n";
	const char *bad = "Authorization: Basic eWFyZHdhdGNoOndyb25n\r\n";
	const char *next = "Authorization: Basic eWFyZHdhdGNoOm4zdw==\r\n";

	set_http(c, port, "s3cret");
	http_reconfigure(h, c);
	CHECK(*h != NULL);
	CHECK(get(port, "/", NULL) == 200);   /* until the next snapshot */
	publish(*h, c);
	static const char *const paths[] = { "/", "/metrics", "/api/status", "/nope",
					     "/point/b3-pressure.pressure" };
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		check_case = paths[i];
		CHECK(get(port, paths[i], NULL) == 401);
		CHECK(strstr(ans, "WWW-Authenticate: Basic realm=\"yardwatch\""));
		CHECK(get(port, paths[i], bad) == 401);
	}
	check_case = "";
	CHECK(get(port, "/", good) == 200);
	CHECK(get(port, "/metrics", good) == 200);
	CHECK(get(port, "/nope", good) == 404);
	/* a reload changes the password without a restart */
	set_http(c, port, "n3w");
	http_reconfigure(h, c);
	publish(*h, c);
	CHECK(get(port, "/", good) == 401);
	CHECK(get(port, "/", next) == 200);
	set_http(c, port, NULL);
	http_reconfigure(h, c);
	publish(*h, c);
	CHECK(get(port, "/", NULL) == 200);
}

static void test_live(struct http *h, int port, const struct config *c)
{
	struct http_live *l = hfx_live(c, h);

	l->uplinks[0].connected = false;
	l->uplinks[0].outbox_depth = 77;
	l->uplinks[0].oldest_ms = 1764130203123;   /* 2025-11-26T04:10:03.123Z */
	http_publish(h, l);
	CHECK(get(port, "/api/status", NULL) == 200);
	CHECK(strstr(body(), "\"uplinks\":[{\"id\":\"mqtt\",\"connected\":false,\"outbox_depth\":77,"
		     "\"oldest\":\"2025-11-26T04:10:03.123Z\"}]"));
	CHECK(get(port, "/", NULL) == 200);
	CHECK(strstr(body(), "NOT connected"));
	CHECK(strstr(body(), "MQTT link down"));
	publish(h, c);
	CHECK(get(port, "/api/status", NULL) == 200);
	CHECK(strstr(body(), "\"connected\":true,\"outbox_depth\":2,\"oldest\":null}"));
}

int main(void)
{
	char path[512];
	struct config *c;
	struct http *h, *h2;
	int port = free_port(), port2;

	setenv("TZ", "CST-8", 1);
	fx_init("http-server");
	path_of(path, sizeof path, "yw.db");
	c = hfx_config();
	hfx_store(c, path);
	snprintf(c->storage_path, sizeof c->storage_path, "%s", path);

	set_http(c, 0, NULL);
	CHECK(http_start(c) == NULL);          /* no http section: no server */
	set_http(c, port, NULL);
	h = http_start(c);
	CHECK(h != NULL);
	if (!h)
		return check_report();
	CHECK(get(port, "/api/status", NULL) == 503);   /* before the first snapshot */
	CHECK(strstr(body(), "starting"));
	publish(h, c);
	test_limits(port);
	test_live(h, port, c);
	test_auth(c, &h, port);

	h2 = http_start(c);                    /* the port is taken: none, logged */
	CHECK(h2 == NULL);

	/* a reload that moves it: the old address is closed */
	port2 = free_port();
	set_http(c, port2, NULL);
	http_reconfigure(&h, c);
	CHECK(h != NULL);
	publish(h, c);
	CHECK(get(port2, "/", NULL) == 200);
	CHECK(get(port, "/", NULL) == -1);
	/* a store that cannot be read: 503 for what reads it, the page and the
	 * metrics come from the snapshot */
	snprintf(c->storage_path, sizeof c->storage_path, "%s.missing", path);
	set_http(c, port, NULL);
	http_reconfigure(&h, c);
	publish(h, c);
	CHECK(get(port, "/api/status", NULL) == 503);
	CHECK(get(port, "/point/b3-pressure.pressure", NULL) == 503);
	CHECK(get(port, "/metrics", NULL) == 200);
	CHECK(get(port, "/", NULL) == 200);
	/* a reload without the section stops it */
	set_http(c, 0, NULL);
	http_reconfigure(&h, c);
	CHECK(h == NULL);
	CHECK(get(port, "/", NULL) == -1);
	http_stop(h);
	hfx_config_free(c);
	fx_done();
	return check_report();
}
