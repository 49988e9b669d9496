/*
 * mqtt_conn: one connection attempt at a time: a fresh instance set up for
 * the broker, the non-blocking connect, TLS and CONNACK driven by poll(),
 * the backoff between rounds. See mqtt_int.h.
 */
#include "mqtt_int.h"

/* ---------- connecting ---------- */

/* PATH when it is set and cannot be read (errno tells why), else NULL. */
static const char *mqtt_unreadable(const char *path)
{
	return path[0] && access(path, R_OK) != 0 ? path : NULL;
}

/* Set up a fresh instance for brokers[cur]. 0, or -1 with REASON filled. */
static int mqtt_setup_instance(struct mqtt_link *m, char *reason, size_t len)
{
	const struct broker_cfg *b = &m->cfg.brokers[m->cur];
	const struct mqtt_cfg *c = &m->cfg;
	int rc;

	/* The callbacks are set when the link takes the instance back from
	 * the job (mqtt_adopt). */
	m->mosq = mosquitto_new(c->client_id[0] ? c->client_id : NULL, true, NULL);
	if (!m->mosq) {
		snprintf(reason, len, "cannot create the client: %s", strerror(errno));
		return -1;
	}
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);

	if (c->username[0]) {
		rc = mosquitto_username_pw_set(m->mosq, c->username,
					       c->password[0] ? c->password : NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(reason, len, "user name: %s", mosquitto_strerror(rc));
			return -1;
		}
	}
	if (m->will_topic) {
		rc = mosquitto_will_set(m->mosq, m->will_topic, (int)strlen(m->will_payload),
					m->will_payload, 1, true);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(reason, len, "Last Will on %s: %s", m->will_topic,
				 mosquitto_strerror(rc));
			return -1;
		}
	}
	if (b->tls) {
		rc = mosquitto_tls_set(m->mosq, c->ca_file[0] ? c->ca_file : NULL,
				       c->ca_file[0] ? NULL : MQTT_SYSTEM_CAPATH,
				       c->cert_file[0] ? c->cert_file : NULL,
				       c->key_file[0] ? c->key_file : NULL, mqtt_no_key_password);
		if (rc != MOSQ_ERR_SUCCESS) {
			const char *bad = mqtt_unreadable(c->ca_file);
			if (!bad)
				bad = mqtt_unreadable(c->cert_file);
			if (!bad)
				bad = mqtt_unreadable(c->key_file);
			if (bad)
				snprintf(reason, len, "TLS setup failed: cannot read %s: %s", bad,
					 strerror(errno));
			else
				snprintf(reason, len, "TLS setup failed: %s", mosquitto_strerror(rc));
			return -1;
		}
		/* Verification is always on: peer certificate and host name. */
		rc = mosquitto_tls_opts_set(m->mosq, MQTT_TLS_VERIFY_PEER, NULL, NULL);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_insecure_set(m->mosq, false);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(reason, len, "TLS setup failed: %s", mosquitto_strerror(rc));
			return -1;
		}
	}
	return 0;
}

/* Reset what one attempt on brokers[cur] records. */
static void mqtt_attempt_begin(struct mqtt_link *m, int64_t now)
{
	mqtt_fmt_url(m);
	m->lost = false;
	m->lost_rc = 0;
	m->lost_errno = 0;
	m->connack_rc = -1;
	m->lib_err[0] = '\0';
	m->tcp_up = false;
	m->attempt_start_ms = now;
	m->deadline_ms = now + MQTT_CONNECT_TIMEOUT_MS;
}

/* Take the instance back from the finished job of brokers[cur] and go on
 * with connect_async()'s result. */
static void mqtt_adopt(struct mqtt_link *m, int64_t now)
{
	const struct broker_cfg *b = &m->cfg.brokers[m->cur];
	struct mqtt_job *j = m->jobs[m->cur];
	int rc, err;

	m->mosq = mqtt_job_take(j, &rc, &err, m->lib_err, sizeof m->lib_err);
	mqtt_job_release(j);
	m->jobs[m->cur] = NULL;
	m->state = MQ_CONNECTING;
	m->deadline_ms = now + MQTT_CONNECT_TIMEOUT_MS;   /* the lookup had its own */
	mosquitto_user_data_set(m->mosq, m);
	mosquitto_connect_callback_set(m->mosq, mqtt_lib_on_connect);
	mosquitto_disconnect_callback_set(m->mosq, mqtt_lib_on_disconnect);
	mosquitto_publish_callback_set(m->mosq, mqtt_lib_on_publish);
	mosquitto_message_callback_set(m->mosq, mqtt_lib_on_message);
	mosquitto_subscribe_callback_set(m->mosq, mqtt_lib_on_subscribe);
	mosquitto_log_callback_set(m->mosq, mqtt_lib_on_log);
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		return;
	case MOSQ_ERR_ERRNO:
		mqtt_attempt_failed(m, now, "connect failed: %s", err ? strerror(err) : "socket error");
		return;
	case MOSQ_ERR_EAI:
		mqtt_attempt_failed(m, now, "cannot resolve host name %s", b->host);
		return;
	case MOSQ_ERR_TLS:
		/* On a fast link the handshake may already have failed inside
		 * connect_async; OpenSSL's own errors tell it from a setup
		 * error (libmosquitto's "Error: Unable to load ..."). */
		mqtt_attempt_failed(m, now, "TLS %s failed: %s",
				    strncmp(m->lib_err, "OpenSSL Error", 13) == 0 ? "handshake" : "setup",
				    m->lib_err[0] ? mqtt_lib_reason(m->lib_err) : "unknown error");
		return;
	default:
		mqtt_attempt_failed(m, now, "connect failed: %s", mosquitto_strerror(rc));
		return;
	}
}

void mqtt_start_attempt(struct mqtt_link *m, int64_t now)
{
	const struct broker_cfg *b = &m->cfg.brokers[m->cur];
	char reason[YW_PATH_MAX + 128];
	int keepalive = m->cfg.keepalive_s;

	mqtt_attempt_begin(m, now);
	m->state = MQ_STARTING;
	if (m->jobs[m->cur]) {
		/* The lookup of an earlier attempt still runs: wait for it
		 * rather than ask the resolver again. */
		log_debug("mqtt", "%s: still resolving %s", m->url, b->host);
		if (mqtt_job_done(m->jobs[m->cur], NULL))
			mqtt_adopt(m, now);
		return;
	}
	if (mqtt_setup_instance(m, reason, sizeof reason) < 0) {
		mqtt_attempt_failed(m, now, "%s", reason);
		return;
	}
	if (keepalive < 5)
		keepalive = 5;          /* libmosquitto's minimum */
	if (keepalive > 65535)
		keepalive = 65535;
	log_debug("mqtt", "%s: connecting", m->url);
	m->jobs[m->cur] = mqtt_job_start(m->mosq, b->host, b->port, b->tls, keepalive,
					 m->wake_fd, reason, sizeof reason);
	m->mosq = NULL;          /* the job's until it is done */
	if (!m->jobs[m->cur])
		mqtt_attempt_failed(m, now, "%s", reason);
}

/* Jobs that finished: the current attempt's goes on; one that answers
 * while the link waits is connected to at once (a lookup slower than an
 * attempt); the others are let go. */
void mqtt_check_jobs(struct mqtt_link *m, int64_t now)
{
	uint64_t n;
	int rc;

	if (read(m->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_debug("mqtt", "wake-up: %s", strerror(errno));
	for (size_t i = 0; i < m->cfg.nbrokers; i++) {
		struct mqtt_job *j = m->jobs[i];
		if (!j || !mqtt_job_done(j, &rc))
			continue;
		if (m->state == MQ_STARTING && i == m->cur) {
			mqtt_adopt(m, now);
		} else if (m->state == MQ_WAIT && rc == MOSQ_ERR_SUCCESS) {
			m->cur = i;
			mqtt_attempt_begin(m, now);
			log_info("mqtt", "%s: the name lookup has answered: connecting", m->url);
			mqtt_adopt(m, now);
		} else {
			mqtt_job_release(j);     /* destroys its instance */
			m->jobs[i] = NULL;
		}
	}
}

void mqtt_release_jobs(struct mqtt_link *m)
{
	for (size_t i = 0; m->jobs && i < m->cfg.nbrokers; i++) {
		mqtt_job_release(m->jobs[i]);
		m->jobs[i] = NULL;
	}
}

/* I/O of an attempt in progress. */
void mqtt_io_connecting(struct mqtt_link *m, short revents, int64_t now)
{
	const bool tls = m->cfg.brokers[m->cur].tls;
	int rc;

	if (!m->tcp_up) {
		int err = 0;
		socklen_t elen = sizeof err;

		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (getsockopt(mosquitto_socket(m->mosq), SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err) {
			mqtt_attempt_failed(m, now, "connect failed: %s", strerror(err));
			return;
		}
		m->tcp_up = true;
	}

	rc = mosquitto_loop_read(m->mosq, 1);
	if (rc == MOSQ_ERR_TLS && !m->lost) {
		/* The handshake failed; the library closed the socket without
		 * a disconnect callback. */
		mqtt_attempt_failed(m, now, "TLS handshake failed: %s",
				    m->lib_err[0] ? mqtt_lib_reason(m->lib_err) : "unknown error");
		return;
	}
	if (rc != MOSQ_ERR_SUCCESS && !m->lost) {
		m->lost = true;
		m->lost_rc = rc;
		m->lost_errno = errno;
	}
	if (!m->lost && mosquitto_socket(m->mosq) >= 0 && (tls || mosquitto_want_write(m->mosq))) {
		rc = mosquitto_loop_write(m->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS && !m->lost) {
			m->lost = true;
			m->lost_rc = rc;
			m->lost_errno = errno;
		}
	}
	/* Backstop: the broker hung up while we were still connecting and the
	 * library did not notice (it takes SSL_ERROR_SYSCALL during the
	 * handshake for "try again"). */
	if (m->state == MQ_CONNECTING && !m->lost && (revents & (POLLERR | POLLHUP | POLLRDHUP))) {
		m->lost = true;
		m->lost_rc = MOSQ_ERR_CONN_LOST;
	}
}

/* I/O of an established session. */
void mqtt_io_up(struct mqtt_link *m, short revents)
{
	int rc;

	if (revents & (POLLIN | POLLERR | POLLHUP)) {
		rc = mosquitto_loop_read(m->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS && !m->lost) {
			m->lost = true;
			m->lost_rc = rc;
			m->lost_errno = errno;
		}
	}
	/* Also flushes what callbacks published during loop_read. */
	if (!m->lost && mosquitto_socket(m->mosq) >= 0 && mosquitto_want_write(m->mosq)) {
		rc = mosquitto_loop_write(m->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS && !m->lost) {
			m->lost = true;
			m->lost_rc = rc;
			m->lost_errno = errno;
		}
	}
}

/* After I/O: turn what the library reported into our state. */
void mqtt_settle(struct mqtt_link *m, int64_t now)
{
	char reason[300];

	if (m->state == MQ_STARTING) {
		if (now >= m->deadline_ms)
			mqtt_attempt_failed(m, now, "cannot resolve host name %s: no answer within %d s "
					    "(the lookup goes on)", m->cfg.brokers[m->cur].host,
					    MQTT_CONNECT_TIMEOUT_MS / 1000);
		return;
	}
	if (m->state != MQ_CONNECTING && m->state != MQ_UP)
		return;
	if (!m->lost && m->mosq && mosquitto_socket(m->mosq) < 0) {
		m->lost = true;
		if (!m->lost_rc)
			m->lost_rc = MOSQ_ERR_CONN_LOST;
	}
	if (m->lost) {
		if (m->state == MQ_UP) {
			mqtt_session_lost(m, now);
		} else if (m->connack_rc > 0) {
			mqtt_attempt_failed(m, now, "broker refused the connection: %s",
					    mqtt_connack_reason(m->connack_rc));
		} else {
			mqtt_drop_reason(m, reason, sizeof reason);
			mqtt_attempt_failed(m, now, "connect failed: %s", reason);
		}
		return;
	}
	if (m->state == MQ_CONNECTING && now >= m->deadline_ms)
		mqtt_attempt_failed(m, now, "connect failed: no answer within %d s",
				    MQTT_CONNECT_TIMEOUT_MS / 1000);
}
