/*
 * mqtt_job: the start of a connection attempt off the main loop. One
 * detached thread per job runs mosquitto_connect_async() (name lookup,
 * non-blocking TCP connect, first TLS step) on an instance that nobody
 * else touches until the job is done; then the link takes the instance
 * back and drives it from the main loop. See mqtt_int.h for why.
 *
 * Ownership: the job is shared by the link and its thread (REFS). Whoever
 * lets go last frees it, and destroys the instance if the link never took
 * it. A lookup can outlive the link (getaddrinfo cannot be cancelled): the
 * thread then finishes on its own and the process may exit meanwhile.
 */
#include "mqtt_int.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

struct mqtt_job {
	pthread_mutex_t mu;
	int refs;                    /* the link and the thread */
	bool done;
	struct mosquitto *mosq;      /* NULL once taken */
	char host[YW_TEXT_MAX];
	int port, keepalive;
	bool tls;
	int rc, err;                 /* connect_async()'s result and errno */
	char lib_err[256];           /* the first error the library logged */
	int wake_fd;                 /* our duplicate of the link's eventfd */
};

/* ---------- libmosquitto's init and cleanup ---------- */

static pthread_mutex_t lib_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned lib_refs;

void mqtt_lib_ref(void)
{
	pthread_mutex_lock(&lib_mu);
	if (lib_refs++ == 0)
		mosquitto_lib_init();
	pthread_mutex_unlock(&lib_mu);
}

void mqtt_lib_unref(void)
{
	pthread_mutex_lock(&lib_mu);
	if (lib_refs > 0 && --lib_refs == 0)
		mosquitto_lib_cleanup();
	pthread_mutex_unlock(&lib_mu);
}

/* ---------- the job ---------- */

static void job_unref(struct mqtt_job *j)
{
	bool last;

	pthread_mutex_lock(&j->mu);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->mu);
	if (!last)
		return;
	if (j->mosq)
		mosquitto_destroy(j->mosq);
	close(j->wake_fd);
	pthread_mutex_destroy(&j->mu);
	free(j);
	mqtt_lib_unref();
}

/* The library's log lines while the job runs: the first error is kept
 * (the link reports it), all go to the debug log. */
static void job_on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	struct mqtt_job *j = obj;

	(void)mosq;
	if ((level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) && !j->lib_err[0])
		util_strlcpy(j->lib_err, str, sizeof j->lib_err);
	log_debug("mqtt", "libmosquitto: %s", str);
}

/* libmosquitto 2.0 sets up OpenSSL and its own TLS globals lazily, in the
 * first TLS connect, and not thread-safely: two first TLS attempts at once
 * race on them (and leak one set). So TLS attempts run one at a time until
 * one of them has connected (from then on the globals exist); plain
 * attempts never wait. */
static pthread_mutex_t tls_first_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool tls_ready;

static int job_connect(struct mqtt_job *j)
{
	int rc;

	if (!j->tls || atomic_load(&tls_ready))
		return mosquitto_connect_async(j->mosq, j->host, j->port, j->keepalive);
	pthread_mutex_lock(&tls_first_mu);
	rc = mosquitto_connect_async(j->mosq, j->host, j->port, j->keepalive);
	if (rc == MOSQ_ERR_SUCCESS)
		atomic_store(&tls_ready, true);
	pthread_mutex_unlock(&tls_first_mu);
	return rc;
}

static void *job_run(void *arg)
{
	struct mqtt_job *j = arg;
	uint64_t one = 1;
	int rc, err;

	errno = 0;
	rc = job_connect(j);
	err = errno;
	if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket(j->mosq) < 0)
		rc = MOSQ_ERR_NO_CONN;
	pthread_mutex_lock(&j->mu);
	j->rc = rc;
	j->err = err;
	j->done = true;
	pthread_mutex_unlock(&j->mu);
	if (write(j->wake_fd, &one, sizeof one) < 0)
		log_debug("mqtt", "job wake-up: %s", strerror(errno));
	job_unref(j);
	return NULL;
}

struct mqtt_job *mqtt_job_start(struct mosquitto *mosq, const char *host, int port, bool tls,
				int keepalive, int wake_fd, char *reason, size_t len)
{
	struct mqtt_job *j = calloc(1, sizeof *j);
	pthread_attr_t attr;
	pthread_t tid;
	int e;

	if (!j) {
		snprintf(reason, len, "out of memory");
		goto out_destroy;
	}
	j->wake_fd = fcntl(wake_fd, F_DUPFD_CLOEXEC, 0);
	if (j->wake_fd < 0) {
		snprintf(reason, len, "cannot start the name lookup: %s", strerror(errno));
		goto out_free;
	}
	pthread_mutex_init(&j->mu, NULL);
	j->refs = 2;
	j->mosq = mosq;
	util_strlcpy(j->host, host, sizeof j->host);
	j->port = port;
	j->tls = tls;
	j->keepalive = keepalive;
	mosquitto_user_data_set(mosq, j);
	mosquitto_log_callback_set(mosq, job_on_log);
	mqtt_lib_ref();

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	e = pthread_create(&tid, &attr, job_run, j);
	pthread_attr_destroy(&attr);
	if (e == 0)
		return j;
	snprintf(reason, len, "cannot start the name lookup: %s", strerror(e));
	j->refs = 1;
	job_unref(j);            /* destroys MOSQ */
	return NULL;

out_free:
	free(j);
out_destroy:
	mosquitto_destroy(mosq);
	return NULL;
}

bool mqtt_job_done(struct mqtt_job *j, int *rc)
{
	bool done;

	pthread_mutex_lock(&j->mu);
	done = j->done;
	if (rc)
		*rc = j->rc;
	pthread_mutex_unlock(&j->mu);
	return done;
}

struct mosquitto *mqtt_job_take(struct mqtt_job *j, int *rc, int *err, char *lib_err,
				size_t len)
{
	struct mosquitto *mosq;

	pthread_mutex_lock(&j->mu);
	mosq = j->mosq;
	j->mosq = NULL;
	*rc = j->rc;
	*err = j->err;
	util_strlcpy(lib_err, j->lib_err, len);
	pthread_mutex_unlock(&j->mu);
	return mosq;
}

void mqtt_job_release(struct mqtt_job *j)
{
	if (j)
		job_unref(j);
}
