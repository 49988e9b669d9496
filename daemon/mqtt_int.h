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
 * A connection attempt goes through three steps, none of which blocks the
 * main loop: mosquitto_connect_async() resolves the name (getaddrinfo
 * blocks until the resolver answers, 10-30 s when it does not), starts a
 * non-blocking TCP connect and queues CONNECT; it runs in a short-lived
 * thread (mqtt_job.c) on an instance nobody else touches meanwhile, and the
 * link waits for it on an eventfd. Then we wait for the socket to become
 * writable and read SO_ERROR ourselves (libmosquitto 2.0 does not check
 * it); then the TLS handshake (mqtts) and CONNECT/CONNACK run on the socket
 * as poll() reports it. The lookup has MQTT_CONNECT_TIMEOUT_MS, and so
 * has the rest (connect, TLS, CONNACK) once it answered; past either the
 * attempt fails.
 *
 * Why the whole connect_async() runs in the thread rather than only the
 * lookup: libmosquitto 2.0.11 takes the host it connects to as the name it
 * sends in SNI and verifies the broker's certificate against (its verify
 * callback compares mosq->host), and has no option to set them apart short
 * of handing it a whole OpenSSL SSL_CTX of our own. Connecting to a
 * resolved numeric address would therefore verify the certificate against
 * the address, and resolving twice (once in a thread, once by name on the
 * loop) could block the loop again on a resolver that is slow every time.
 * So libmosquitto resolves, connects and verifies exactly as before, with
 * the broker's name, only on another thread. A lookup that outlives its
 * attempt is kept (at most one per broker): the next attempt on that broker
 * waits for it instead of asking again, and when it answers while the link
 * is waiting, the link connects at once.
 *
 * libmosquitto 2.0 quirk handled here: during the TLS handshake the
 * library's want_write flag stays set after the first SSL_connect() from
 * connect_async() (it is only cleared by the next SSL_write, i.e. when
 * CONNECT goes out), so asking poll() for POLLOUT then would spin. While a
 * TLS attempt is in progress we therefore ask only for POLLIN and run both
 * loop_read (which drives the handshake) and loop_write on every wakeup.
 *
 * Backoff (mqtt.c): a failed attempt moves on to the next broker of the
 * list at once; after a full round without success we wait 1 s, doubling
 * up to 30 s, each wait +-20 % (jitter, so that gateways that lost the same
 * broker do not come back in step). A session lost after it held
 * MQTT_HELD_MS is retried on the same broker after ~1 s and the waits start
 * again at 1 s, so a broker that returns is reached within seconds. A
 * session the broker drops within MQTT_HELD_MS of CONNACK is a quick drop;
 * from the second in a row on (a client-id takeover, or a cluster node that
 * accepts and then drops the session) the waits keep doubling, the next
 * broker is tried, and each drop is logged with its likely cause.
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
#define MQTT_HELD_MS 5000             /* a session shorter than this is a quick drop */
#define MQTT_JITTER_PCT 20
/* After a session that held is lost, the broker is most likely back soon
 * (a restart, a failover): for MQTT_RETURN_WINDOW_MS the waits stop growing
 * at MQTT_RETURN_MAX_MS, so the link is back within a few seconds of the
 * broker; then they grow to MQTT_BACKOFF_MAX_MS. */
#define MQTT_RETURN_WINDOW_MS (2 * 60 * 1000)
#define MQTT_RETURN_MAX_MS 4000
#define MQTT_TICK_MS 1000
#define MQTT_SYSTEM_CAPATH "/etc/ssl/certs"
#define MQTT_TLS_VERIFY_PEER 1        /* OpenSSL's SSL_VERIFY_PEER */

enum mqtt_state {
	MQ_WAIT,        /* no socket: waiting for the next attempt */
	MQ_STARTING,    /* name lookup and connect start in the job's thread */
	MQ_CONNECTING,  /* TCP connect, TLS handshake, CONNECT/CONNACK */
	MQ_UP,          /* CONNACK accepted */
	MQ_STOPPED,     /* after mqtt_shutdown(): stays down */
};

struct mqtt_link {
	struct mqtt_cfg cfg;         /* copy; cfg.brokers is our own array */
	char *will_topic;            /* NULL: no Last Will */
	char *will_payload;
	char *subs[MQTT_SUBS_MAX];   /* subscribed on every connect */
	size_t nsubs;
	struct mqtt_callbacks cb;
	void *ctx;

	struct mosquitto *mosq;      /* the current attempt or session */
	enum mqtt_state state;
	size_t cur;                  /* index of the broker tried / in use */
	struct mqtt_job **jobs;      /* per broker: its lookup still running, or NULL */
	int wake_fd;                 /* eventfd: a job finished */
	char url[YW_TEXT_MAX + 32];  /* of brokers[cur], for the log */
	bool tcp_up;                 /* the non-blocking connect completed */
	int64_t next_attempt_ms;
	int64_t attempt_start_ms;
	int64_t deadline_ms;         /* of the current attempt */
	int backoff_ms;              /* the wait after the next failed round */
	size_t round_left;           /* attempts left before the round's wait */
	int64_t up_since_ms;         /* CONNACK of the session */
	int quick_drops;             /* sessions dropped within MQTT_HELD_MS, in a row */
	int64_t lost_ms;             /* when a session that held was lost; 0 none */
	uint32_t rng;                /* jitter */

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
void mqtt_lib_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *granted);
void mqtt_lib_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg);
void mqtt_lib_on_log(struct mosquitto *mosq, void *obj, int level, const char *str);
int mqtt_no_key_password(char *buf, int size, int rwflag, void *userdata);

/* mqtt_job.c: a thread running connect_async() on its own instance */
struct mqtt_job;
/* Start the job on MOSQ (taken over: the job owns it now) for HOST:PORT;
 * WAKE_FD (an eventfd, duplicated) is written when it is done. NULL with
 * REASON filled when no thread could be started (MOSQ is then destroyed). */
struct mqtt_job *mqtt_job_start(struct mosquitto *mosq, const char *host, int port, bool tls,
				int keepalive, int wake_fd, char *reason, size_t len);
/* Whether it is done; *RC (when not NULL) then holds connect_async()'s. */
bool mqtt_job_done(struct mqtt_job *j, int *rc);
/* After mqtt_job_done(): the instance and connect_async()'s result (RC,
 * ERRNO, the first error the library logged). The job keeps nothing. */
struct mosquitto *mqtt_job_take(struct mqtt_job *j, int *rc, int *err, char *lib_err,
				size_t len);
/* The link lets go; a running job finishes and frees itself. NULL: no-op. */
void mqtt_job_release(struct mqtt_job *j);
/* libmosquitto's init/cleanup, counted over links and running jobs. */
void mqtt_lib_ref(void);
void mqtt_lib_unref(void);

/* mqtt_conn.c */
void mqtt_start_attempt(struct mqtt_link *m, int64_t now);
void mqtt_io_connecting(struct mqtt_link *m, short revents, int64_t now);
void mqtt_io_up(struct mqtt_link *m, short revents);
void mqtt_settle(struct mqtt_link *m, int64_t now);
void mqtt_check_jobs(struct mqtt_link *m, int64_t now);
void mqtt_release_jobs(struct mqtt_link *m);

#endif
