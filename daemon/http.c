/*
 * http: libmicrohttpd in its own thread (see http.h). A request is decided
 * in the first call of the access handler, when its headers are in: size
 * (431), method (405), body (413), auth (401), path and arguments (404,
 * 400), then the handler of its path builds the whole answer in memory
 * (from the latest snapshot, or in one read transaction of the store,
 * closed before anything is sent) and it is queued. Nothing of a request
 * waits for the network while it holds the store, and nothing the main
 * loop does waits for a request: it hands over snapshots by swapping a
 * pointer under a mutex.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http_int.h"
#include "log.h"
#include "util.h"

#define HTTP_CONNECTIONS 32          /* at once, in all */
#define HTTP_PER_ADDRESS 16          /* at once, from one address */
#define HTTP_IDLE_S 10               /* a connection quiet this long is closed */
#define HTTP_HEADER_MAX 8192         /* request line and headers; more: 431 */
#define HTTP_CONN_MEMORY (16 * 1024) /* libmicrohttpd's buffer per connection */
#define HTTP_HELD_MAX (16u << 20)    /* answers built, not yet sent; more: 503 */
#define HTTP_STACK (1024 * 1024)

struct http {
	struct MHD_Daemon *mhd;
	char listen[YW_TEXT_MAX];
	char store_path[YW_PATH_MAX];
	int pid;
	struct http_view *view;      /* the config's view (main thread only) */
	pthread_mutex_t mu;          /* guards LIVE, the pointer */
	struct http_live *live;      /* the latest snapshot, with its view */
	struct query *q;             /* the server thread's, opened on first use */
	size_t held;                 /* bytes of answers queued (server thread) */
};

/* One request (libmicrohttpd's con_cls): the bytes its answer holds. */
struct http_conn {
	size_t bytes;
};

/* ---- answers ------------------------------------------------------------ */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* Queue BODY (LEN bytes, taken) with STATUS and TYPE. */
static enum MHD_Result answer(struct http *h, struct MHD_Connection *conn, struct http_conn *hc,
			      int status, const char *type, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (strncmp(type, "text/html", 9) == 0)
		MHD_add_response_header(r, "Content-Security-Policy",
					"default-src 'none'; style-src 'unsafe-inline'; "
					"frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
	if (status == 401)
		MHD_add_response_header(r, "WWW-Authenticate",
					"Basic realm=\"yardwatch\", charset=\"UTF-8\"");
	if (status == 405)
		MHD_add_response_header(r, "Allow", "GET, HEAD");
	if (status == 413 || status == 431 || status == 400)
		MHD_add_response_header(r, "Connection", "close");
	ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	if (ret == MHD_YES && hc) {
		hc->bytes = len;
		h->held += len;
	}
	return ret;
}

static enum MHD_Result refuse(struct http *h, struct MHD_Connection *conn, struct http_conn *hc,
			      int status, const char *why)
{
	char *body = NULL;
	int n = asprintf(&body, "%d %s%s%s\n", status, reason(status), why && *why ? ": " : "",
			 why ? why : "");

	if (n < 0)
		return MHD_NO;
	return answer(h, conn, hc, status, "text/plain; charset=utf-8", body, (size_t)n);
}

/* ---- the request -------------------------------------------------------- */

struct args {
	const char *keys[HTTP_ARGS_MAX + 1], *vals[HTTP_ARGS_MAX + 1];
	size_t n;
	size_t header_bytes;
};

static enum MHD_Result take_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct args *a = cls;

	(void)kind;
	if (a->n <= HTTP_ARGS_MAX) {
		a->keys[a->n] = key;
		a->vals[a->n] = value;
	}
	a->n++;
	return MHD_YES;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct args *a = cls;

	(void)kind;
	a->header_bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

/* The store's footprint on disk: the file and its WAL. */
static int64_t store_bytes(const char *path)
{
	char wal[YW_PATH_MAX + 8];
	struct stat a, b;

	snprintf(wal, sizeof wal, "%s-wal", path);
	return (stat(path, &a) == 0 ? (int64_t)a.st_size : 0) +
	       (stat(wal, &b) == 0 ? (int64_t)b.st_size : 0);
}

/* The handler of R's route, with the snapshot LIVE. */
static int dispatch(struct http *h, const struct http_req *r, struct http_live *live,
		    struct hbuf *b, char *err, size_t errlen)
{
	struct http_ctx c;
	char qerr[YW_TEXT_MAX + YW_PATH_MAX];
	int status;

	/* the page and the metrics are made from the snapshot alone */
	bool store = r->route != HTTP_R_PAGE && r->route != HTTP_R_METRICS;

	if (store && !h->q && query_open(h->store_path, &h->q, qerr, sizeof qerr) != QUERY_OK) {
		snprintf(err, errlen, "the store cannot be read: %.200s", qerr);
		h->q = NULL;
		return 503;
	}
	memset(&c, 0, sizeof c);
	c.q = h->q;
	c.req = r;
	c.now = util_wall_ms();
	c.pid = h->pid;
	c.view = live->view;
	c.live = live;
	c.store_bytes = store_bytes(h->store_path);
	switch (r->route) {
	case HTTP_R_PAGE: status = http_page_index(&c, b); break;
	case HTTP_R_POINT: status = http_page_point(&c, b); break;
	case HTTP_R_METRICS: status = http_metrics(&c, b); break;
	default: status = http_api(&c, b); break;
	}
	if (status == 200 && b->failed) {
		snprintf(err, errlen, "the answer would pass %u MB", HTTP_ANSWER_MAX >> 20);
		status = 500;
	}
	if (status != 200)
		snprintf(err, errlen, "%s", c.err);
	if (status == 503) {   /* open the store anew for the next request */
		query_close(h->q);
		h->q = NULL;
	}
	return status;
}

static const char *type_of(enum http_route r)
{
	if (r == HTTP_R_PAGE || r == HTTP_R_POINT)
		return "text/html; charset=utf-8";
	if (r == HTTP_R_METRICS)
		return "text/plain; version=0.0.4; charset=utf-8";
	return "application/json";
}

/* Decide the request from its headers and queue the answer. */
static enum MHD_Result decide(struct http *h, struct MHD_Connection *conn, struct http_conn *hc,
			      const char *url, const char *method)
{
	const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	struct args a = { .header_bytes = strlen(url) + strlen(method) + 12 };
	struct http_live *live;
	struct http_req r;
	struct hbuf b;
	char err[256] = "";
	int status;

	hb_init(&b, HTTP_ANSWER_MAX);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &a);
	if (a.header_bytes > HTTP_HEADER_MAX)
		return refuse(h, conn, hc, 431, "the request's header is over 8 KB");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return refuse(h, conn, hc, 405, "only GET and HEAD: nothing here changes anything");
	if ((len && strcmp(len, "0") != 0) ||
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding"))
		return refuse(h, conn, hc, 413, "a request here has no body");
	pthread_mutex_lock(&h->mu);
	live = http_live_ref(h->live);
	pthread_mutex_unlock(&h->mu);
	if (!live)   /* the first snapshot comes with the main loop's first turn */
		return refuse(h, conn, hc, 503, "starting");
	if (live->view->password[0] && !http_auth_ok(auth, live->view->password)) {
		http_live_unref(live);
		return refuse(h, conn, hc, 401, "user yardwatch and the password of http.password_file");
	}
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, take_arg, &a);
	status = http_req_parse(url, a.keys, a.vals, a.n, util_wall_ms(), &r, err, sizeof err);
	if (status == HTTP_PARSE_OK && h->held > HTTP_HELD_MAX) {
		status = 503;
		snprintf(err, sizeof err, "busy: too many answers not yet read");
	} else if (status == HTTP_PARSE_OK) {
		status = dispatch(h, &r, live, &b, err, sizeof err);
	} else {
		status = status == HTTP_PARSE_NOT_FOUND ? 404 : 400;
		if (status == 404)
			snprintf(err, sizeof err, "see / for the status page, /metrics, /api/...");
	}
	http_live_unref(live);
	if (status != 200) {
		hb_free(&b);
		if (status >= 500)
			log_warn("http", "%s %s: %d: %s", method, url, status, err);
		return refuse(h, conn, hc, status, err);
	}
	log_debug("http", "%s %s: 200, %zu bytes", method, url, b.len);
	char *body = b.p ? b.p : strdup("");
	size_t n = b.len;
	b.p = NULL;
	return body ? answer(h, conn, hc, 200, type_of(r.route), body, n) : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http *h = cls;
	struct http_conn *hc = *con_cls;

	(void)version;
	(void)upload_data;
	if (!hc) {   /* the headers are in: decide now */
		hc = calloc(1, sizeof *hc);
		if (!hc)
			return MHD_NO;
		*con_cls = hc;
		return decide(h, conn, hc, url, method);
	}
	*upload_data_size = 0;   /* a body after the answer: dropped */
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct http_conn *hc = *con_cls;

	(void)conn;
	(void)toe;
	if (!hc)
		return;
	h->held -= hc->bytes < h->held ? hc->bytes : h->held;
	free(hc);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_debug("http", "libmicrohttpd: %s", msg);
}

/* ---- lifecycle ---------------------------------------------------------- */

/* The listening socket of HC, bound; -1 (logged) when it cannot be. */
static int listen_on(const struct http_cfg *hc)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	int one = 1, fd;

	memset(&ss, 0, sizeof ss);
	if (hc->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)hc->port);
		inet_pton(AF_INET6, hc->host, &s6->sin6_addr);
		slen = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)hc->port);
		inet_pton(AF_INET, hc->host, &s4->sin_addr);
		slen = sizeof *s4;
	}
	fd = socket(hc->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("http", "%s: socket: %s", hc->listen, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (hc->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, 64) != 0) {
		log_error("http", "%s: %s; the daemon runs without the status page", hc->listen,
			  strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct http *http_start(const struct config *cfg)
{
	struct http *h;
	int fd;

	if (!cfg->http.enabled)
		return NULL;
	h = calloc(1, sizeof *h);
	if (!h || !(h->view = http_view_new(cfg))) {
		log_error("http", "out of memory");
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	util_strlcpy(h->listen, cfg->http.listen, sizeof h->listen);
	util_strlcpy(h->store_path, cfg->storage_path, sizeof h->store_path);
	h->pid = (int)getpid();
	tzset();   /* the page's local times: once, before the thread starts */
	fd = listen_on(&cfg->http);
	if (fd < 0)
		goto out_fail;
	h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
				  (cfg->http.family == AF_INET6 ? MHD_USE_IPv6 : 0),
				  0, NULL, NULL, on_request, h,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_ADDRESS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
				  MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_STACK,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				  MHD_OPTION_END);
	if (!h->mhd) {
		log_error("http", "%s: the server could not start; the daemon runs without the "
			  "status page", h->listen);
		close(fd);
		goto out_fail;
	}
	log_info("http", "status page on http://%s/%s", h->listen,
		 cfg->http.password[0] ? " (basic auth)" : "");
	return h;
out_fail:
	http_view_unref(h->view);
	pthread_mutex_destroy(&h->mu);
	free(h);
	return NULL;
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);   /* joins the thread; closes the listening socket */
	query_close(h->q);
	http_view_unref(h->view);
	http_live_unref(h->live);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

void http_reconfigure(struct http **hp, const struct config *cfg)
{
	struct http *h = *hp;
	struct http_view *v;

	if (h && (!cfg->http.enabled || strcmp(h->listen, cfg->http.listen) != 0)) {
		log_info("http", "%s: %s", h->listen, cfg->http.enabled ? "moving" : "stopping");
		http_stop(h);
		*hp = h = NULL;
	}
	if (!h) {
		*hp = http_start(cfg);
		return;
	}
	/* the next snapshot brings it to the server's thread */
	v = http_view_new(cfg);
	if (!v) {
		log_error("http", "out of memory: the page keeps the old config");
		return;
	}
	http_view_unref(h->view);
	h->view = v;
}

struct http_live *http_snapshot(struct http *h, const struct http_counts *c)
{
	return h ? http_live_new(h->view, c) : NULL;
}

void http_publish(struct http *h, struct http_live *l)
{
	struct http_live *old;

	if (!h) {
		http_live_unref(l);
		return;
	}
	pthread_mutex_lock(&h->mu);
	old = h->live;
	h->live = l;
	pthread_mutex_unlock(&h->mu);
	http_live_unref(old);
}
