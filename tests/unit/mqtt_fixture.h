/*
 * mqtt_fixture: what the MQTT unit tests start and drive (see
 * mqtt_fixture.c): stderr copied to a file, mosquitto brokers on 127.0.0.1
 * (plain, and TLS with a password file and certificates made with openssl),
 * a threaded libmosquitto subscriber ("the centre"), and links under test
 * driven by a small poll() loop as the daemon drives them.
 */
#ifndef YW_TEST_MQTT_FIXTURE_H
#define YW_TEST_MQTT_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <ftw.h>

#include "../../daemon/config.h"
#include "../../daemon/mqtt.h"

#define SUB_MAX 64

struct broker {
	pid_t pid;
	int port;
	char conf[160];
	char log[160];
};

struct sub_msg {
	char topic[128];
	char payload[256];
};

struct tl {
	struct mqtt_link *m;
	struct broker_cfg brokers[3];
	struct mqtt_cfg cfg;
	int connects, disconnects, pubacks, last_puback, msgs;
	char msg_topic[128], msg_payload[256];
};

struct tl_spec {
	const char *client_id;
	const char *urls[3];         /* "tls:PORT" or "tcp:PORT" */
	const char *ca_file;         /* file name in tmpdir, or NULL */
	const char *username, *password;
	const char *will_topic, *sub_topic;
};

struct sub_state {
	struct mosquitto *mosq;
	pthread_mutex_t mu;
	struct sub_msg msgs[SUB_MAX];
	int n;
	int subscribed;              /* SUBACKs seen */
};

extern char tmpdir[64];
extern struct tl *active[8];
extern int nactive;
extern const struct mqtt_callbacks tl_cb;
extern struct sub_state sub;

int capture_start(void);
void capture_stop(void);
int log_mark(void);
int log_count(int since, const char *needle);
int free_port(void);
int broker_config(struct broker *b, const char *name, bool tls);
int broker_start(struct broker *b);
void broker_kill(struct broker *b, int sig);
int sub_subscribed(void);
bool sub_has(const char *topic, const char *payload);
int sub_start(int port);
void sub_stop(void);
int fetch_retained(int port, const char *topic, char out[256], int ms);
int tl_open(struct tl *t, const struct tl_spec *s);
void tl_close(struct tl *t);
int make_certs(void);
int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw);
double cpu_ms(void);
int attempt_bound(int64_t elapsed_ms);
void pump(int ms);

/* Drive the loop until COND holds, at most MS milliseconds. */
#define WAIT_FOR(cond, ms)                                                      \
	do {                                                                    \
		int64_t wait_end_ = util_mono_ms() + (ms);                      \
		while (!(cond) && util_mono_ms() < wait_end_)                   \
			pump(50);                                               \
	} while (0)

#endif
