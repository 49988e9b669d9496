/*
 * mqtt_fixture: brokers, the subscriber, stderr capture and the links under
 * test for the MQTT unit tests (see mqtt_fixture.h). Asserts nothing itself.
 */
#include "../../daemon/log.h"
#include "../../daemon/mqtt.h"
#include "../../daemon/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mqtt_fixture.h"



char tmpdir[64];

/* ---------- stderr capture ---------- */

static char log_path[128];
static FILE *tee_pipe;
static int saved_stderr = -1;
static int mark_seq;

int capture_start(void)
{
	char cmd[256];

	snprintf(log_path, sizeof log_path, "%s/stderr.log", tmpdir);
	snprintf(cmd, sizeof cmd, "exec tee '%s' >&2", log_path);
	tee_pipe = popen(cmd, "w");
	if (!tee_pipe)
		return -1;
	saved_stderr = dup(STDERR_FILENO);
	if (saved_stderr < 0 || dup2(fileno(tee_pipe), STDERR_FILENO) < 0)
		return -1;
	return 0;
}

void capture_stop(void)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
	if (tee_pipe) {
		pclose(tee_pipe);
		tee_pipe = NULL;
	}
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	FILE *mem = open_memstream(&buf, &len);
	if (mem) {
		char chunk[4096];
		size_t n;
		while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
			fwrite(chunk, 1, n, mem);
		fclose(mem);
	}
	fclose(f);
	return buf;
}

/* Log a marker line and wait until tee has written it: everything logged
 * before is in the file then. Returns the marker's number. */
int log_mark(void)
{
	char needle[64];
	int id = ++mark_seq;

	log_info("test", "mark %d", id);
	snprintf(needle, sizeof needle, "INFO test: mark %d\n", id);
	for (int64_t end = util_mono_ms() + 2000; util_mono_ms() < end;) {
		char *s = slurp(log_path);
		bool found = s && strstr(s, needle);
		free(s);
		if (found)
			break;
		usleep(5000);
	}
	return id;
}

/* Lines containing NEEDLE logged after marker SINCE (0: from the start). */
int log_count(int since, const char *needle)
{
	char mark[64];
	char *s, *p;
	int n = 0;

	log_mark();
	s = slurp(log_path);
	if (!s)
		return -1;
	p = s;
	if (since > 0) {
		snprintf(mark, sizeof mark, "INFO test: mark %d\n", since);
		p = strstr(s, mark);
		if (!p)
			p = s + strlen(s);
	}
	for (char *line = p; *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strstr(line, needle))
			n++;
		if (!nl)
			break;
		line = nl + 1;
	}
	free(s);
	return n;
}

/* ---------- brokers ---------- */


int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static bool port_accepts(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

/* Write the broker's config (NAME.conf) for B->port; TLS adds the
 * certificates and the password file, and refuses anonymous clients. */
int broker_config(struct broker *b, const char *name, bool tls)
{
	struct passwd *pw = getpwuid(getuid());
	FILE *f;

	snprintf(b->conf, sizeof b->conf, "%s/%s.conf", tmpdir, name);
	snprintf(b->log, sizeof b->log, "%s/%s.log", tmpdir, name);
	f = fopen(b->conf, "w");
	if (!f)
		return -1;
	fprintf(f, "per_listener_settings false\npersistence false\nlog_dest stderr\n");
	if (pw)
		fprintf(f, "user %s\n", pw->pw_name);   /* no privilege drop as root */
	fprintf(f, "listener %d 127.0.0.1\n", b->port);
	if (tls)
		fprintf(f, "cafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key\n"
			   "allow_anonymous false\npassword_file %s/passwd\n",
			tmpdir, tmpdir, tmpdir, tmpdir);
	else
		fprintf(f, "allow_anonymous true\n");
	return fclose(f) == 0 ? 0 : -1;
}

int broker_start(struct broker *b)
{
	b->pid = fork();
	if (b->pid < 0)
		return -1;
	if (b->pid == 0) {
		FILE *lf = fopen(b->log, "a");
		if (lf) {
			dup2(fileno(lf), STDOUT_FILENO);
			dup2(fileno(lf), STDERR_FILENO);
		}
		execl("/usr/sbin/mosquitto", "mosquitto", "-c", b->conf, (char *)NULL);
		_exit(127);
	}
	for (int64_t end = util_mono_ms() + 5000; util_mono_ms() < end;) {
		int st;
		if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
			b->pid = 0;
			return -1;
		}
		if (port_accepts(b->port))
			return 0;
		usleep(10000);
	}
	return -1;
}

void broker_kill(struct broker *b, int sig)
{
	if (b->pid > 0) {
		kill(b->pid, sig);
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
	}
}

/* ---------- the subscriber ("the centre") ---------- */



struct sub_state sub = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void sub_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	(void)obj;
	if (rc == 0)
		mosquitto_subscribe(mosq, NULL, "yw/#", 1);
}

static void sub_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count,
			     const int *granted)
{
	(void)mosq;
	(void)obj;
	(void)mid;
	(void)qos_count;
	(void)granted;
	pthread_mutex_lock(&sub.mu);
	sub.subscribed++;
	pthread_mutex_unlock(&sub.mu);
}

static void sub_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
	(void)mosq;
	(void)obj;
	pthread_mutex_lock(&sub.mu);
	if (sub.n < SUB_MAX) {
		struct sub_msg *s = &sub.msgs[sub.n++];
		util_strlcpy(s->topic, msg->topic, sizeof s->topic);
		snprintf(s->payload, sizeof s->payload, "%.*s", msg->payloadlen,
			 msg->payload ? (const char *)msg->payload : "");
	}
	pthread_mutex_unlock(&sub.mu);
}

int sub_subscribed(void)
{
	pthread_mutex_lock(&sub.mu);
	int n = sub.subscribed;
	pthread_mutex_unlock(&sub.mu);
	return n;
}

bool sub_has(const char *topic, const char *payload)
{
	bool found = false;

	pthread_mutex_lock(&sub.mu);
	for (int i = 0; i < sub.n && !found; i++)
		found = strcmp(sub.msgs[i].topic, topic) == 0 &&
			strcmp(sub.msgs[i].payload, payload) == 0;
	pthread_mutex_unlock(&sub.mu);
	return found;
}

int sub_start(int port)
{
	sub.mosq = mosquitto_new("yw-test-sub", true, NULL);
	if (!sub.mosq)
		return -1;
	mosquitto_connect_callback_set(sub.mosq, sub_on_connect);
	mosquitto_subscribe_callback_set(sub.mosq, sub_on_subscribe);
	mosquitto_message_callback_set(sub.mosq, sub_on_message);
	mosquitto_reconnect_delay_set(sub.mosq, 1, 1, false);
	if (mosquitto_connect(sub.mosq, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS)
		return -1;
	if (mosquitto_loop_start(sub.mosq) != MOSQ_ERR_SUCCESS)
		return -1;
	for (int64_t end = util_mono_ms() + 3000; util_mono_ms() < end && !sub_subscribed();)
		usleep(5000);
	return sub_subscribed() ? 0 : -1;
}

void sub_stop(void)
{
	if (!sub.mosq)
		return;
	mosquitto_disconnect(sub.mosq);
	mosquitto_loop_stop(sub.mosq, false);
	mosquitto_destroy(sub.mosq);
	sub.mosq = NULL;
}

/* The retained message on TOPIC as a fresh subscriber sees it (flag set),
 * waiting at most MS. 0 / -1 when there is none. */
static void ret_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
	char *out = obj;

	(void)mosq;
	if (msg->retain)
		snprintf(out, 256, "%.*s", msg->payloadlen,
			 msg->payload ? (const char *)msg->payload : "");
}

int fetch_retained(int port, const char *topic, char out[256], int ms)
{
	struct mosquitto *m = mosquitto_new(NULL, true, out);
	int rc = -1;

	out[0] = '\0';
	if (!m)
		return -1;
	mosquitto_message_callback_set(m, ret_on_message);
	if (mosquitto_connect(m, "127.0.0.1", port, 30) == MOSQ_ERR_SUCCESS &&
	    mosquitto_subscribe(m, NULL, topic, 1) == MOSQ_ERR_SUCCESS) {
		for (int64_t end = util_mono_ms() + ms; util_mono_ms() < end && !out[0];)
			mosquitto_loop(m, 50, 1);
		rc = out[0] ? 0 : -1;
		mosquitto_disconnect(m);
	}
	mosquitto_destroy(m);
	return rc;
}

/* ---------- links under test, and the poll loop that drives them ---------- */


struct tl *active[8];
int nactive;

static void tl_on_connect(void *ctx)
{
	((struct tl *)ctx)->connects++;
}

static void tl_on_disconnect(void *ctx)
{
	((struct tl *)ctx)->disconnects++;
}

static void tl_on_publish(void *ctx, int mid)
{
	struct tl *t = ctx;
	t->pubacks++;
	t->last_puback = mid;
}

static void tl_on_message(void *ctx, const char *topic, const char *payload, size_t len)
{
	struct tl *t = ctx;
	t->msgs++;
	util_strlcpy(t->msg_topic, topic, sizeof t->msg_topic);
	snprintf(t->msg_payload, sizeof t->msg_payload, "%.*s", (int)len, payload);
}

const struct mqtt_callbacks tl_cb = {
	.on_connect = tl_on_connect,
	.on_disconnect = tl_on_disconnect,
	.on_publish = tl_on_publish,
	.on_message = tl_on_message,
};


int tl_open(struct tl *t, const struct tl_spec *s)
{
	memset(t, 0, sizeof *t);
	for (int i = 0; i < 3 && s->urls[i]; i++) {
		struct broker_cfg *b = &t->brokers[t->cfg.nbrokers++];
		b->tls = strncmp(s->urls[i], "tls:", 4) == 0;
		util_strlcpy(b->host, "127.0.0.1", sizeof b->host);
		b->port = atoi(s->urls[i] + 4);
	}
	t->cfg.enabled = true;
	t->cfg.brokers = t->brokers;
	util_strlcpy(t->cfg.client_id, s->client_id, sizeof t->cfg.client_id);
	if (s->username)
		util_strlcpy(t->cfg.username, s->username, sizeof t->cfg.username);
	if (s->password)
		util_strlcpy(t->cfg.password, s->password, sizeof t->cfg.password);
	if (s->ca_file)
		snprintf(t->cfg.ca_file, sizeof t->cfg.ca_file, "%s/%s", tmpdir, s->ca_file);
	util_strlcpy(t->cfg.topic_prefix, "yw", sizeof t->cfg.topic_prefix);
	t->cfg.keepalive_s = 30;
	t->cfg.command_qos = 1;
	const char *subs[] = { s->sub_topic, NULL };
	t->m = mqtt_new(&t->cfg, s->will_topic, "{\"online\": false, \"reason\": \"lost\"}",
			s->sub_topic ? subs : NULL, &tl_cb, t);
	if (!t->m)
		return -1;
	active[nactive++] = t;
	return 0;
}

void tl_close(struct tl *t)
{
	for (int i = 0; i < nactive; i++) {
		if (active[i] == t) {
			active[i] = active[--nactive];
			break;
		}
	}
	mqtt_free(t->m);
	t->m = NULL;
}

/* One turn of the loop: poll every active link's socket, at most MS. */
void pump(int ms)
{
	struct pollfd pfd[8];
	int idx[8];
	int n = 0, timeout = ms;
	int64_t now = util_mono_ms();

	for (int i = 0; i < nactive; i++) {
		int t = mqtt_timeout_ms(active[i]->m, now);
		int fd = mqtt_fd(active[i]->m);
		if (t < timeout)
			timeout = t;
		idx[i] = -1;
		if (fd >= 0) {
			pfd[n] = (struct pollfd){ .fd = fd, .events = mqtt_events(active[i]->m) };
			idx[i] = n++;
		}
	}
	if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
		return;
	now = util_mono_ms();
	for (int i = 0; i < nactive; i++)
		mqtt_service(active[i]->m, idx[i] >= 0 ? pfd[idx[i]].revents : 0, now);
}


/* ---------- setup ---------- */

int make_certs(void)
{
	char cmd[2048];
	FILE *f;

	snprintf(cmd, sizeof cmd, "%s/ext.cnf", tmpdir);
	f = fopen(cmd, "w");
	if (!f)
		return -1;
	fprintf(f, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
		   "extendedKeyUsage=serverAuth\n");
	fclose(f);
	snprintf(cmd, sizeof cmd,
		 "(cd '%s' && K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
		 "openssl req -x509 $K -keyout ca.key -out ca.crt -subj /CN=yw-test-ca -days 2 && "
		 "openssl req -x509 $K -keyout wrong.key -out wrong.crt -subj /CN=yw-wrong-ca -days 2 && "
		 "openssl req $K -keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
		 "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
		 "-out server.crt -days 2 -extfile ext.cnf && "
		 "mosquitto_passwd -b -c passwd yw s3cret) >/dev/null 2>&1",
		 tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

double cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

/* Attempts a link may make in ELAPSED_MS with a backoff of 1 s doubling
 * per round (one broker per round), plus one of slack. */
int attempt_bound(int64_t elapsed_ms)
{
	int n = 1;
	for (int64_t t = 1000; t <= elapsed_ms; t = t * 2 + 1000)
		n++;
	return n + 1;
}
