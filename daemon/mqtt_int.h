/*
 * mqtt_int: what the files of the MQTT link share (private). The link is
 *   mqtt.c       the state, the library's callbacks, the API (mqtt.h)
 *   mqtt_conn.c  connection attempts: set-up, connect, TLS, CONNACK, backoff
 *
 * libmosquitto driven from the daemon's poll() loop.
 *
 * Every connection attempt gets a fresh `struct mosquitto`, set up for the
 * broker being tried (TLS only for mqtts://), and the instance is destroyed
 * when the attempt fails or the session ends. That keeps TLS settings from
 * leaking between mqtt:// and mqtts:// brokers, guarantees that nothing of a
 * dead session is retransmitted by the library (the session is clean and the
 * store's outbox re-sends what was not acknowledged), and leaves no
 * half-open socket behind. Message ids therefore restart with each session.
 *
 * A connection attempt goes through three steps, none of which blocks for
 * long: mosquitto_connect_async() resolves the name (getaddrinfo blocks
 * until the resolver answers: with an IP address or a working local
 * resolver that is immediate; a broken DNS can hold the loop for the
 * resolver's timeout, accepted and documented), starts a non-blocking TCP
 * connect and queues CONNECT; we wait for the socket to become writable and
 * read SO_ERROR ourselves (libmosquitto 2.0 does not check it); then the TLS
 * handshake (mqtts) and CONNECT/CONNACK run on the socket as poll() reports
 * it. An attempt that has no CONNACK after MQTT_CONNECT_TIMEOUT_MS fails.
 *
 * libmosquitto 2.0 quirk handled here: during the TLS handshake the
 * library's want_write flag stays set after the first SSL_connect() from
 * connect_async() (it is only cleared by the next SSL_write, i.e. when
 * CONNECT goes out), so asking poll() for POLLOUT then would spin. While a
 * TLS attempt is in progress we therefore ask only for POLLIN and run both
 * loop_read (which drives the handshake) and loop_write on every wakeup.
 *
 * Brokers are tried in order; a failure moves on to the next one at once,
 * and after a full round we wait 1 s, doubling up to 30 s, reset by a
 * successful CONNACK. After a lost session the next attempt starts from the
 * first broker, one backoff step later, so two gateways fighting over a
 * client id cannot reconnect in a tight loop.
 */
#ifndef YW_MQTT_INT_H
#define YW_MQTT_INT_H

#include "mqtt.h"

#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "log.h"
#include "util.h"

#define MQTT_BACKOFF_MIN_MS 1000
#define MQTT_BACKOFF_MAX_MS 30000
#define MQTT_CONNECT_TIMEOUT_MS 10000
#define MQTT_TICK_MS 1000
#define MQTT_SYSTEM_CAPATH "/etc/ssl/certs"
#define MQTT_TLS_VERIFY_PEER 1        /* OpenSSL's SSL_VERIFY_PEER */

enum mqtt_state {
	MQ_WAIT,        /* no socket: waiting for the next attempt */
	MQ_CONNECTING,  /* TCP connect, TLS handshake, CONNECT/CONNACK */
	MQ_UP,          /* CONNACK accepted */
	MQ_STOPPED,     /* after mqtt_shutdown(): stays down */
};

struct mqtt_link {
	struct mqtt_cfg cfg;         /* copy; cfg.brokers is our own array */
	char *will_topic;            /* NULL: no Last Will */
	char *will_payload;
	char *sub_topic;             /* NULL: no subscription */
	struct mqtt_callbacks cb;
	void *ctx;

	struct mosquitto *mosq;      /* the current attempt or session */
	enum mqtt_state state;
	size_t cur;                  /* index of the broker tried / in use */
	char url[YW_TEXT_MAX + 32];  /* of brokers[cur], for the log */
	bool tcp_up;                 /* the non-blocking connect completed */
	int64_t next_attempt_ms;
	int64_t attempt_start_ms;
	int64_t deadline_ms;         /* of the current attempt */
	int backoff_ms;

	/* Set by the library's callbacks during one service step. */
	bool lost;                   /* the library dropped the socket */
	int lost_rc;
	int lost_errno;
	int connack_rc;              /* -1: no refusal */
	char lib_err[256];           /* last error the library logged */

	bool stopping;               /* inside mqtt_shutdown() */
	int shutdown_mid;
	bool shutdown_acked;
};


/* mqtt.c */
void mqtt_fmt_url(struct mqtt_link *m);
const char *mqtt_connack_reason(int rc);
const char *mqtt_lib_reason(const char *s);
void mqtt_drop_reason(const struct mqtt_link *m, char *buf, size_t len);
__attribute__((format(printf, 3, 4)))
void mqtt_attempt_failed(struct mqtt_link *m, int64_t now, const char *fmt, ...);
void mqtt_session_lost(struct mqtt_link *m, int64_t now);
void mqtt_lib_on_connect(struct mosquitto *mosq, void *obj, int rc);
void mqtt_lib_on_disconnect(struct mosquitto *mosq, void *obj, int rc);
void mqtt_lib_on_publish(struct mosquitto *mosq, void *obj, int mid);
void mqtt_lib_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg);
void mqtt_lib_on_log(struct mosquitto *mosq, void *obj, int level, const char *str);
int mqtt_no_key_password(char *buf, int size, int rwflag, void *userdata);

/* mqtt_conn.c */
void mqtt_start_attempt(struct mqtt_link *m, int64_t now);
void mqtt_io_connecting(struct mqtt_link *m, short revents, int64_t now);
void mqtt_io_up(struct mqtt_link *m, short revents);
void mqtt_settle(struct mqtt_link *m, int64_t now);

#endif
