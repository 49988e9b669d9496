/*
 * mqtt: the link's state, the library's callbacks and the API of mqtt.h.
 * See mqtt_int.h.
 */
#include "mqtt_int.h"

#include <sys/eventfd.h>

/* ---------- helpers ---------- */

static char *mqtt_strdup_or_null(const char *s, bool *ok)
{
	char *d;

	if (!s || !*s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ok = false;
	return d;
}

void mqtt_fmt_url(struct mqtt_link *m)
{
	const struct broker_cfg *b = &m->cfg.brokers[m->cur];
	bool v6 = strchr(b->host, ':') != NULL;

	snprintf(m->url, sizeof m->url, "%s://%s%s%s:%d", b->tls ? "mqtts" : "mqtt",
		 v6 ? "[" : "", b->host, v6 ? "]" : "", b->port);
}

const char *mqtt_connack_reason(int rc)
{
	switch (rc) {
	case 1: return "unacceptable protocol version";
	case 2: return "client identifier rejected";
	case 3: return "server unavailable";
	case 4: return "bad user name or password";
	case 5: return "not authorised";
	default: return mosquitto_connack_string(rc);
	}
}

/* The tail of an OpenSSL error line as libmosquitto logs it,
 * "OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed"
 * -> "certificate verify failed"; other lines as they are. */
const char *mqtt_lib_reason(const char *s)
{
	const char *p;

	if (strncmp(s, "OpenSSL Error", 13) == 0 && (p = strrchr(s, ':')) != NULL) {
		p++;
		while (*p == ' ')
			p++;
		if (*p)
			return p;
	}
	if (strncmp(s, "Error: ", 7) == 0)
		return s + 7;
	return s;
}

/* Why the library dropped the connection, for the log. */
void mqtt_drop_reason(const struct mqtt_link *m, char *buf, size_t len)
{
	switch (m->lost_rc) {
	case MOSQ_ERR_CONN_LOST:
		snprintf(buf, len, "connection closed by the broker");
		break;
	case MOSQ_ERR_KEEPALIVE:
		snprintf(buf, len, "keepalive timeout (no answer from the broker)");
		break;
	case MOSQ_ERR_ERRNO:
		snprintf(buf, len, "%s", m->lost_errno ? strerror(m->lost_errno) : "socket error");
		break;
	case MOSQ_ERR_TLS:
		snprintf(buf, len, "TLS error: %s",
			 m->lib_err[0] ? mqtt_lib_reason(m->lib_err) : "unknown");
		break;
	case MOSQ_ERR_SUCCESS:
		snprintf(buf, len, "connection closed");
		break;
	default:
		snprintf(buf, len, "%s", mosquitto_strerror(m->lost_rc));
		break;
	}
}

static void mqtt_drop_instance(struct mqtt_link *m)
{
	if (m->mosq) {
		mosquitto_destroy(m->mosq);
		m->mosq = NULL;
	}
	m->tcp_up = false;
}

/* MS +-MQTT_JITTER_PCT %, so that gateways that lost the same broker do
 * not all come back in the same second. */
static int64_t mqtt_jitter(struct mqtt_link *m, int ms)
{
	uint32_t x = m->rng;

	x ^= x << 13;           /* xorshift32 */
	x ^= x >> 17;
	x ^= x << 5;
	m->rng = x;
	return (int64_t)ms * (100 - MQTT_JITTER_PCT + (int)(x % (2 * MQTT_JITTER_PCT + 1))) / 100;
}

/* Wait the backoff (jittered) counted from FROM (the start of the failed
 * attempt, so that a slow failure, e.g. a connect timeout, does not
 * stretch the time between attempts beyond the 30 s cap), but never before
 * NOW; the next wait is twice as long. */
static int64_t mqtt_backoff_step(struct mqtt_link *m, int64_t from, int64_t now)
{
	int64_t wait = mqtt_jitter(m, m->backoff_ms);

	m->next_attempt_ms = from + wait;
	if (m->next_attempt_ms < now)
		m->next_attempt_ms = now;
	m->backoff_ms *= 2;
	if (m->backoff_ms > MQTT_BACKOFF_MAX_MS)
		m->backoff_ms = MQTT_BACKOFF_MAX_MS;
	if (m->lost_ms && m->quick_drops == 0 && now - m->lost_ms < MQTT_RETURN_WINDOW_MS &&
	    m->backoff_ms > MQTT_RETURN_MAX_MS)
		m->backoff_ms = MQTT_RETURN_MAX_MS;
	return wait;
}

static void mqtt_next_broker(struct mqtt_link *m)
{
	m->cur = (m->cur + 1) % m->cfg.nbrokers;
}

/* One attempt failed: log it once, move on to the next broker at once, or
 * after a full round wait the backoff. */
void mqtt_attempt_failed(struct mqtt_link *m, int64_t now, const char *fmt, ...)
{
	char reason[YW_PATH_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	log_warn("mqtt", "%s: %s", m->url, reason);

	mqtt_drop_instance(m);
	m->state = MQ_WAIT;
	mqtt_next_broker(m);
	if (m->round_left > 1) {
		m->round_left--;
		m->next_attempt_ms = now;
	} else {
		m->round_left = m->cfg.nbrokers;
		mqtt_backoff_step(m, m->attempt_start_ms, now);
	}
}

/* The session ended. One that held MQTT_HELD_MS: the broker was working,
 * so come back to it soon (~1 s, then 2, 4 ... if it stays away). One the
 * broker dropped sooner, for the second time in a row: someone else has
 * our client id, or the broker cannot keep the session: wait longer each
 * time, try the next broker, and say so. */
void mqtt_session_lost(struct mqtt_link *m, int64_t now)
{
	char reason[300];
	int64_t held = now - m->up_since_ms;

	mqtt_drop_reason(m, reason, sizeof reason);
	log_warn("mqtt", "%s: connection lost after %lld.%llds: %s", m->url,
		 (long long)(held / 1000), (long long)(held % 1000 / 100), reason);
	mqtt_drop_instance(m);
	m->state = MQ_WAIT;
	m->round_left = m->cfg.nbrokers;
	if (held >= MQTT_HELD_MS) {
		m->quick_drops = 0;
		m->lost_ms = now;
	} else {
		m->quick_drops++;
	}
	if (m->quick_drops >= 2) {
		char url[sizeof m->url];
		int64_t wait;

		util_strlcpy(url, m->url, sizeof url);
		wait = mqtt_backoff_step(m, now, now);
		mqtt_next_broker(m);
		log_warn("mqtt", "%s: the broker dropped the session right after accepting it, "
			 "%d times in a row: another client may be connected with client id \"%s\" "
			 "(a takeover), or the broker cannot keep the session; next attempt in %lld s",
			 url, m->quick_drops, m->cfg.client_id, (long long)((wait + 500) / 1000));
	} else {
		m->backoff_ms = MQTT_BACKOFF_MIN_MS;
		mqtt_backoff_step(m, now, now);
	}
	if (m->cb.on_disconnect)
		m->cb.on_disconnect(m->ctx);
}

/* ---------- library callbacks (run inside loop_read/write/misc) ---------- */

void mqtt_lib_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqtt_link *m = obj;

	if (rc != 0) {
		m->connack_rc = rc;
		return;
	}
	m->state = MQ_UP;
	m->up_since_ms = util_mono_ms();
	log_info("mqtt", "%s: connected", m->url);
	for (size_t i = 0; i < m->nsubs; i++) {
		int src = mosquitto_subscribe(mosq, NULL, m->subs[i], m->cfg.command_qos);
		if (src != MOSQ_ERR_SUCCESS)
			log_warn("mqtt", "%s: subscribe to %s failed: %s", m->url, m->subs[i],
				 mosquitto_strerror(src));
	}
	if (m->cb.on_connect)
		m->cb.on_connect(m->ctx);
}

void mqtt_lib_on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqtt_link *m = obj;

	(void)mosq;
	m->lost_errno = errno;
	m->lost = true;
	m->lost_rc = rc;
}

void mqtt_lib_on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct mqtt_link *m = obj;

	(void)mosq;
	if (m->stopping && mid == m->shutdown_mid) {
		m->shutdown_acked = true;
		return;
	}
	if (m->cb.on_publish)
		m->cb.on_publish(m->ctx, mid);
}

void mqtt_lib_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *granted)
{
	struct mqtt_link *m = obj;

	(void)mosq;
	(void)mid;
	if (n >= 1 && granted[0] > 2)
		log_warn("mqtt", "%s: the broker refused a command subscription", m->url);
	else if (n >= 1)
		log_debug("mqtt", "%s: subscribed (%zu command topic%s) with QoS %d", m->url,
			  m->nsubs, m->nsubs == 1 ? "" : "s", granted[0]);
}

void mqtt_lib_on_message(struct mosquitto *mosq, void *obj,
				const struct mosquitto_message *msg)
{
	struct mqtt_link *m = obj;

	(void)mosq;
	if (m->stopping) {
		log_debug("mqtt", "stopping: ignored a message on %s", msg->topic);
		return;
	}
	if (m->cb.on_message)
		m->cb.on_message(m->ctx, msg->topic, msg->payload ? (const char *)msg->payload : "",
				 (size_t)msg->payloadlen);
}

void mqtt_lib_on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	struct mqtt_link *m = obj;

	(void)mosq;
	/* The first error of an attempt says what went wrong; what follows
	 * (OpenSSL's queue, a second print of it) is detail. */
	if ((level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) && !m->lib_err[0])
		util_strlcpy(m->lib_err, str, sizeof m->lib_err);
	log_debug("mqtt", "libmosquitto: %s", str);
}

/* Never let OpenSSL prompt on the terminal for an encrypted key. */
int mqtt_no_key_password(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)userdata;
	return 0;
}

/* ---------- API ---------- */

struct mqtt_link *mqtt_new(const struct mqtt_cfg *cfg, const char *will_topic,
			   const char *will_payload, const char *const *subs,
			   const struct mqtt_callbacks *cb, void *ctx)
{
	struct mqtt_link *m;
	bool ok = true;

	if (!cfg || cfg->nbrokers == 0 || !cfg->brokers) {
		log_error("mqtt", "no broker configured");
		return NULL;
	}
	m = calloc(1, sizeof *m);
	if (!m)
		goto out_nomem;
	m->wake_fd = -1;
	m->cfg = *cfg;
	m->cfg.brokers = calloc(cfg->nbrokers, sizeof *m->cfg.brokers);
	if (!m->cfg.brokers)
		goto out_free;
	memcpy(m->cfg.brokers, cfg->brokers, cfg->nbrokers * sizeof *cfg->brokers);
	m->will_topic = mqtt_strdup_or_null(will_topic, &ok);
	m->will_payload = strdup(will_payload ? will_payload : "");
	m->cfg.select_devices = NULL;   /* the config's, not the link's */
	for (size_t i = 0; subs && subs[i] && i < MQTT_SUBS_MAX; i++)
		m->subs[m->nsubs++] = mqtt_strdup_or_null(subs[i], &ok);
	if (!ok || !m->will_payload)
		goto out_free;
	if (cb)
		m->cb = *cb;
	m->ctx = ctx;
	m->state = MQ_WAIT;
	m->backoff_ms = MQTT_BACKOFF_MIN_MS;
	m->round_left = cfg->nbrokers;
	m->next_attempt_ms = 0;          /* first attempt on the first service */
	m->rng = (uint32_t)util_mono_ms() ^ ((uint32_t)getpid() << 16) ^ (uint32_t)(uintptr_t)m;
	if (!m->rng)
		m->rng = 1;
	mqtt_fmt_url(m);
	m->jobs = calloc(cfg->nbrokers, sizeof *m->jobs);
	m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!m->jobs || m->wake_fd < 0)
		goto out_free;
	mqtt_lib_ref();
	return m;

out_free:
	if (m->wake_fd >= 0)
		close(m->wake_fd);
	free(m->jobs);
	for (size_t i = 0; i < m->nsubs; i++)
		free(m->subs[i]);
	free(m->will_payload);
	free(m->will_topic);
	free(m->cfg.brokers);
	explicit_bzero(m->cfg.password, sizeof m->cfg.password);
	free(m);
out_nomem:
	log_error("mqtt", "out of memory");
	return NULL;
}

void mqtt_free(struct mqtt_link *m)
{
	if (!m)
		return;
	if (m->mosq && m->state == MQ_UP) {
		/* A clean DISCONNECT: the broker drops the Last Will. Written
		 * at once when the socket has room (best effort). */
		m->stopping = true;
		if (mosquitto_disconnect(m->mosq) == MOSQ_ERR_SUCCESS &&
		    mosquitto_want_write(m->mosq))
			mosquitto_loop_write(m->mosq, 1);
	}
	mqtt_drop_instance(m);
	mqtt_release_jobs(m);
	close(m->wake_fd);
	free(m->jobs);
	for (size_t i = 0; i < m->nsubs; i++)
		free(m->subs[i]);
	free(m->will_payload);
	free(m->will_topic);
	free(m->cfg.brokers);
	explicit_bzero(m->cfg.password, sizeof m->cfg.password);
	free(m);
	mqtt_lib_unref();
}

/* Whether a lookup outlives its attempt (the link then waits on wake_fd). */
static bool mqtt_any_job(const struct mqtt_link *m)
{
	for (size_t i = 0; i < m->cfg.nbrokers; i++)
		if (m->jobs[i])
			return true;
	return false;
}

int mqtt_fd(struct mqtt_link *m)
{
	if (!m)
		return -1;
	if (m->state == MQ_STARTING || (m->state == MQ_WAIT && mqtt_any_job(m)))
		return m->wake_fd;
	if (!m->mosq || (m->state != MQ_CONNECTING && m->state != MQ_UP))
		return -1;
	return mosquitto_socket(m->mosq);
}

short mqtt_events(struct mqtt_link *m)
{
	if (mqtt_fd(m) < 0)
		return 0;
	if (m->state == MQ_STARTING || m->state == MQ_WAIT)
		return POLLIN;
	if (m->state == MQ_CONNECTING) {
		short ev = POLLIN | POLLRDHUP;
		if (!m->tcp_up)
			ev |= POLLOUT;
		else if (!m->cfg.brokers[m->cur].tls && mosquitto_want_write(m->mosq))
			ev |= POLLOUT;
		return ev;
	}
	return (short)(POLLIN | (mosquitto_want_write(m->mosq) ? POLLOUT : 0));
}

int mqtt_timeout_ms(struct mqtt_link *m, int64_t now_mono_ms)
{
	int64_t t = MQTT_TICK_MS;

	if (!m)
		return MQTT_TICK_MS;
	if (m->state == MQ_WAIT)
		t = m->next_attempt_ms - now_mono_ms;
	else if (m->state == MQ_CONNECTING || m->state == MQ_STARTING)
		t = m->deadline_ms - now_mono_ms;
	if (t > MQTT_TICK_MS)
		t = MQTT_TICK_MS;
	if (t < 0)
		t = 0;
	return (int)t;
}

void mqtt_service(struct mqtt_link *m, short revents, int64_t now_mono_ms)
{
	if (!m)
		return;
	if (m->state != MQ_STOPPED && mqtt_any_job(m))
		mqtt_check_jobs(m, now_mono_ms);
	switch (m->state) {
	case MQ_STOPPED:
		return;
	case MQ_WAIT:
		if (now_mono_ms >= m->next_attempt_ms)
			mqtt_start_attempt(m, now_mono_ms);
		if (m->state != MQ_STARTING)
			return;
		break;
	case MQ_STARTING:
		break;
	case MQ_CONNECTING:
		mqtt_io_connecting(m, revents, now_mono_ms);
		break;
	case MQ_UP:
		mqtt_io_up(m, revents);
		break;
	}
	/* Keepalive, of a session only: an attempt has its own deadline, and
	 * the library counts from connect_async(), which for a lookup that
	 * answered late was long ago. */
	if (m->state == MQ_UP && !m->lost && m->mosq && mosquitto_socket(m->mosq) >= 0) {
		int rc = mosquitto_loop_misc(m->mosq);
		if (rc != MOSQ_ERR_SUCCESS && !m->lost) {
			m->lost = true;
			m->lost_rc = rc;
		}
	}
	mqtt_settle(m, now_mono_ms);
}

bool mqtt_connected(struct mqtt_link *m)
{
	return m && m->state == MQ_UP;
}

int mqtt_publish(struct mqtt_link *m, const char *topic, const char *payload,
		 int qos, bool retain, int *mid)
{
	int rc, id = 0;

	if (!m || m->state != MQ_UP || !m->mosq)
		return -1;
	rc = mosquitto_publish(m->mosq, &id, topic, (int)strlen(payload), payload, qos, retain);
	if (rc != MOSQ_ERR_SUCCESS) {
		if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_PAYLOAD_SIZE ||
		    rc == MOSQ_ERR_MALFORMED_UTF8 || rc == MOSQ_ERR_OVERSIZE_PACKET)
			log_warn("mqtt", "publish to %s refused: %s", topic, mosquitto_strerror(rc));
		else
			log_debug("mqtt", "publish to %s: %s", topic, mosquitto_strerror(rc));
		return -1;
	}
	if (mid)
		*mid = id;
	return 0;
}

/* Run the session's I/O until the offline status is acknowledged, the
 * connection drops or DEADLINE passes. */
static void mqtt_shutdown_wait(struct mqtt_link *m, int64_t deadline)
{
	for (;;) {
		int64_t now = util_mono_ms();
		int fd = mosquitto_socket(m->mosq);
		struct pollfd pfd;
		int n, rc;

		if (m->shutdown_acked || m->lost || fd < 0 || now >= deadline)
			return;
		pfd.fd = fd;
		pfd.events = (short)(POLLIN | (mosquitto_want_write(m->mosq) ? POLLOUT : 0));
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)(deadline - now < 100 ? deadline - now : 100));
		if (n < 0 && errno != EINTR)
			return;
		if (n > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP))) {
			rc = mosquitto_loop_read(m->mosq, 1);
			if (rc != MOSQ_ERR_SUCCESS)
				m->lost = true;
		}
		if (!m->lost && mosquitto_socket(m->mosq) >= 0 && mosquitto_want_write(m->mosq)) {
			rc = mosquitto_loop_write(m->mosq, 1);
			if (rc != MOSQ_ERR_SUCCESS)
				m->lost = true;
		}
		if (!m->lost && mosquitto_socket(m->mosq) >= 0)
			mosquitto_loop_misc(m->mosq);
	}
}

void mqtt_shutdown(struct mqtt_link *m, const char *topic, const char *payload,
		   int timeout_ms)
{
	int64_t deadline;
	int rc;

	if (!m || m->state == MQ_STOPPED)
		return;
	mqtt_release_jobs(m);
	if (m->state != MQ_UP || !m->mosq) {
		mqtt_drop_instance(m);
		m->state = MQ_STOPPED;
		return;
	}
	deadline = util_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	m->stopping = true;
	m->shutdown_acked = false;
	m->shutdown_mid = -1;
	rc = mosquitto_publish(m->mosq, &m->shutdown_mid, topic, (int)strlen(payload), payload,
			       1, true);
	if (rc == MOSQ_ERR_SUCCESS)
		mqtt_shutdown_wait(m, deadline);
	if (!m->shutdown_acked)
		log_warn("mqtt", "%s: offline status not acknowledged within %d ms%s%s", m->url,
			 timeout_ms, rc != MOSQ_ERR_SUCCESS ? ": " : "",
			 rc != MOSQ_ERR_SUCCESS ? mosquitto_strerror(rc) : "");

	/* Clean DISCONNECT (no Last Will), flushed within what is left. */
	if (!m->lost && mosquitto_socket(m->mosq) >= 0 &&
	    mosquitto_disconnect(m->mosq) == MOSQ_ERR_SUCCESS) {
		while (mosquitto_socket(m->mosq) >= 0 && mosquitto_want_write(m->mosq)) {
			int64_t left = deadline - util_mono_ms();
			struct pollfd pfd = { .fd = mosquitto_socket(m->mosq), .events = POLLOUT };

			if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
				break;
			if (mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
				break;
		}
		log_info("mqtt", "%s: disconnected", m->url);
	}
	mqtt_drop_instance(m);
	m->state = MQ_STOPPED;
	m->stopping = false;
}
