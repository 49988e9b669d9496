/*
 * rig: the fixtures of the unit tests that need the real simulator
 * (YW_BIN/yardwatch-sim) or a socat pty pair: a scratch directory, the
 * simulator started on 127.0.0.1 (TCP) or a tty and steered through its
 * --control stdin and --stats file, configs written and loaded, the results
 * of a bus worker collected, and a "rig" (config + simulator + queue +
 * worker) set up and taken down in one call. Every process started here is
 * reaped by PID.
 */
#include "rig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../daemon/util.h"

char tmpdir[64];
char sim_bin[1024];
char profiles_dir[1024];

int64_t now_ms(void)
{
	return util_mono_ms();
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Reap PID, waiting at most MS; SIGKILL after that. */
void reap(pid_t pid, int ms)
{
	int64_t end = now_ms() + ms;
	while (now_ms() < end) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ------------------------------------------------------------- simulator */


/* One line from the simulator's stdout into LINE, within MS. 0 / -1. */
int sim_line(struct sim *s, char *line, size_t len, int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		char *nl = memchr(s->rbuf, '\n', s->rlen);
		if (nl) {
			size_t n = (size_t)(nl - s->rbuf);
			snprintf(line, len, "%.*s", (int)n, s->rbuf);
			s->rlen -= n + 1;
			memmove(s->rbuf, nl + 1, s->rlen);
			return 0;
		}
		int64_t left = end - now_ms();
		struct pollfd pfd = { .fd = s->out, .events = POLLIN };
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		ssize_t r = read(s->out, s->rbuf + s->rlen, sizeof s->rbuf - 1 - s->rlen);
		if (r <= 0)
			return -1;
		s->rlen += (size_t)r;
	}
}

/* Send one control step; 0 when the simulator answered "ok" (REPLY: the rest). */
int sim_ctl(struct sim *s, const char *step, char *reply, size_t rlen)
{
	char line[1024], buf[1100];
	int n = snprintf(buf, sizeof buf, "%s\n", step);

	if (write(s->ctl, buf, (size_t)n) != n || sim_line(s, line, sizeof line, 3000) != 0) {
		fprintf(stderr, "sim: no reply to %s\n", step);
		return -1;
	}
	if (strncmp(line, "ok", 2) != 0) {
		fprintf(stderr, "sim: %s -> %s\n", step, line);
		return -1;
	}
	if (reply)
		util_strlcpy(reply, line[2] == ' ' ? line + 3 : "", rlen);
	return 0;
}

/* The port from the "listening on tcp 127.0.0.1:PORT" line of its log. */
static int sim_port_from_log(struct sim *s)
{
	char line[512];
	FILE *f = fopen(s->log, "r");
	int port = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		char *p = strstr(line, "listening on tcp ");
		char *colon = p ? strrchr(p, ':') : NULL;
		if (colon)
			port = atoi(colon + 1);
	}
	fclose(f);
	return port;
}

/*
 * Start the simulator for config CFG on TCP 127.0.0.1:PORT (0: any free port)
 * or, when TTY is set, on that serial line. Waits until it answers a control
 * step. 0 / -1.
 */
int sim_start(struct sim *s, const char *name, const char *cfg, int port, const char *tty)
{
	int in[2], out[2];
	char listen[64];

	memset(s, 0, sizeof *s);
	s->pid = -1;
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->log, sizeof s->log, "%s/%s.log", tmpdir, name);
	snprintf(s->stats, sizeof s->stats, "%s/%s.stats", tmpdir, name);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	if (pipe2(in, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	s->pid = fork();
	if (s->pid == 0) {
		int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (fd >= 0)
			dup2(fd, 2);
		if (tty)
			execl(sim_bin, sim_bin, "-c", cfg, "--profiles", profiles_dir, "--rtu", tty,
			      "--control", "--stats", s->stats, "--seed", "1", (char *)NULL);
		else
			execl(sim_bin, sim_bin, "-c", cfg, "--profiles", profiles_dir, "--tcp", listen,
			      "--control", "--stats", s->stats, "--seed", "1", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->ctl = in[1];
	s->out = out[0];
	if (s->pid < 0)
		return -1;
	/* the first step also tells that its loop runs */
	if (sim_ctl(s, "{\"drift\": false}", NULL, 0) != 0)
		return -1;
	s->port = tty ? 0 : sim_port_from_log(s);
	return tty || s->port > 0 ? 0 : -1;
}

/* SIGTERM (or SIGKILL: a crash) and reap. */
void sim_stop(struct sim *s, int sig)
{
	if (s->pid > 0) {
		kill(s->pid, sig);
		reap(s->pid, 3000);
		s->pid = -1;
	}
	if (s->ctl > 0)
		close(s->ctl);
	if (s->out > 0)
		close(s->out);
	s->ctl = s->out = -1;
}

/* Requests the simulator counted for DEV (its stats file lags <= 200 ms). */
long sim_requests(struct sim *s, const char *dev, const char *field)
{
	char buf[8192], key[128];
	FILE *f = fopen(s->stats, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	snprintf(key, sizeof key, "\"%s\": {", dev);
	char *p = strstr(buf, key);
	if (!p)
		return -1;
	snprintf(key, sizeof key, "\"%s\": ", field);
	p = strstr(p, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

long sim_requests_settled(struct sim *s, const char *dev, const char *field)
{
	sleep_ms(300);
	return sim_requests(s, dev, field);
}

/* The count once it reached AT_LEAST (or after 1 s): the stats file lags. */
long sim_requests_reach(struct sim *s, const char *dev, const char *field, long at_least)
{
	int64_t end = now_ms() + 1000;
	long n;

	while ((n = sim_requests(s, dev, field)) < at_least && now_ms() < end)
		sleep_ms(20);
	return n;
}

bool sim_get_is(struct sim *s, const char *point, const char *want)
{
	char step[256], reply[256];

	snprintf(step, sizeof step, "{\"get\": \"%s\"}", point);
	if (sim_ctl(s, step, reply, sizeof reply) != 0)
		return false;
	if (strcmp(reply, want) != 0)
		fprintf(stderr, "sim: %s is %s, want %s\n", point, reply, want);
	return strcmp(reply, want) == 0;
}

/* ---------------------------------------------------------------- config */

/* Write JSON as NAME.json and load it; the bus's port is set to PORT. */
struct config *load_cfg(const char *name, const char *json, int port, char *path,
			       size_t plen)
{
	snprintf(path, plen, "%s/%s.json", tmpdir, name);
	if (write_file(path, json) != 0)
		return NULL;
	struct config *cfg = config_load(path, profiles_dir, stderr);
	if (cfg && port > 0)
		for (size_t i = 0; i < cfg->nbuses; i++)
			cfg->buses[i].port = port;
	return cfg;
}

/* ----------------------------------------------------------- the results */


void tally_add(struct tally *t, const struct bus_result *r)
{
	if (!t || r->kind != BUS_RES_POLL || r->dev < 0 || r->dev >= 8)
		return;
	t->polls[r->dev]++;
	if (r->ok)
		t->ok[r->dev]++;
	else
		t->failed[r->dev]++;
	t->timeouts[r->dev] += r->timeouts;
	t->other[r->dev] += r->other;
	if (r->consecutive_failures > t->max_consec[r->dev])
		t->max_consec[r->dev] = r->consecutive_failures;
}

static struct bus_result *pending;   /* results taken from the queue, not yet looked at */

void pending_free(void)
{
	while (pending) {
		struct bus_result *r = pending;
		pending = r->next;
		bus_result_free(r);
	}
}

/*
 * The first result of KIND (for device DEV, -1: any) within TIMEOUT_MS, or
 * NULL. Other results are counted into T and freed.
 */
struct bus_result *wait_result(struct bus_queue *q, enum bus_result_kind kind, int dev,
				      int timeout_ms, struct tally *t)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		while (pending) {
			struct bus_result *r = pending;
			pending = r->next;
			r->next = NULL;
			if (r->kind == kind && (dev < 0 || r->dev == dev))
				return r;
			tally_add(t, r);
			bus_result_free(r);
		}
		int64_t left = end - now_ms();
		if (left <= 0)
			return NULL;
		struct pollfd pfd = { .fd = bus_queue_fd(q), .events = POLLIN };
		if (poll(&pfd, 1, (int)left) > 0)
			pending = bus_queue_take(q);
	}
}

/* Count every result for MS milliseconds. */
void drain(struct bus_queue *q, int ms, struct tally *t)
{
	bus_result_free(wait_result(q, BUS_RES_CMD, 99, ms, t));
}

static const struct config *rig_cfg;   /* the config of the rig that is up */

struct bus_result *command(struct bus_worker *w, struct bus_queue *q, int dev, int pt,
				  bool write, double value)
{
	struct bus_cmd c;

	memset(&c, 0, sizeof c);
	snprintf(c.req_id, sizeof c.req_id, "req-%d-%d", dev, pt);
	if (!rig_cfg || dev < 0 || (size_t)dev >= rig_cfg->ndevices)
		return NULL;
	snprintf(c.dev_id, sizeof c.dev_id, "%s", rig_cfg->devices[dev].id);
	c.pt = pt;
	c.write = write;
	c.value = value;
	if (bus_submit(w, &c) != 0)
		return NULL;
	return wait_result(q, BUS_RES_CMD, dev, 5000, NULL);
}

bool near(double a, double b)
{
	return fabs(a - b) < 1e-6 * (1 + fabs(b));
}

/* --------------------------------------------------------------------- RTU */

static pid_t socat_pid = -1;

int start_socat(const char *a, const char *b)
{
	char pa[300], pb[300];

	snprintf(pa, sizeof pa, "pty,raw,echo=0,link=%s", a);
	snprintf(pb, sizeof pb, "pty,raw,echo=0,link=%s", b);
	socat_pid = fork();
	if (socat_pid < 0)
		return -1;
	if (socat_pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		execlp("socat", "socat", pa, pb, (char *)NULL);
		_exit(127);
	}
	struct stat st;
	int64_t end = now_ms() + 3000;
	while (now_ms() < end) {
		if (stat(a, &st) == 0 && stat(b, &st) == 0)
			return 0;
		if (waitpid(socat_pid, NULL, WNOHANG) == socat_pid) {
			socat_pid = -1;
			return -1;
		}
		sleep_ms(20);
	}
	return -1;
}

void stop_socat(void)
{
	if (socat_pid > 0) {
		kill(socat_pid, SIGTERM);
		reap(socat_pid, 3000);
		socat_pid = -1;
	}
}

int *rig_failed;

/* ------------------------------------------------------------------- rig */

int rig_up(struct rig *g, const char *name, const char *json)
{
	char path[256];

	memset(g, 0, sizeof *g);
	g->s.pid = -1;
	g->cfg = load_cfg(name, json, 0, path, sizeof path);
	if (!g->cfg)
		return -1;
	if (sim_start(&g->s, name, path, 0, NULL) != 0)
		return -1;
	g->cfg->buses[0].port = g->s.port;
	rig_cfg = g->cfg;
	g->q = bus_queue_new();
	return g->q ? 0 : -1;
}

int rig_start(struct rig *g)
{
	g->w = bus_start(g->cfg, 0, g->q);
	return g->w ? 0 : -1;
}

void rig_down(struct rig *g)
{
	if (g->w)
		bus_stop(g->w, 2000);
	g->w = NULL;
	pending_free();
	bus_queue_free(g->q);
	g->q = NULL;
	sim_stop(&g->s, SIGTERM);
	config_free(g->cfg);
	g->cfg = NULL;
	rig_cfg = NULL;
}

/* ------------------------------------------------------------ scratch dir */

static void find_paths(void)
{
	const char *bin = getenv("YW_BIN"), *src = getenv("YW_SRC");
	char self[1024];

	if (bin) {
		snprintf(sim_bin, sizeof sim_bin, "%s/yardwatch-sim", bin);
	} else {
		/* run by hand from BUILD/tests: the simulator is BUILD/yardwatch-sim */
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		self[n > 0 ? n : 0] = '\0';
		snprintf(sim_bin, sizeof sim_bin, "%s/../yardwatch-sim", dirname(self));
	}
	if (src) {
		snprintf(profiles_dir, sizeof profiles_dir, "%s/config/profiles", src);
	} else {
		snprintf(self, sizeof self, "%s", __FILE__);
		snprintf(profiles_dir, sizeof profiles_dir, "%s/../../config/profiles",
			 dirname(self));
	}
}

int rig_setup(const char *name)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/yw-test-%.20s-XXXXXX", name);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return -1;
	}
	find_paths();
	if (access(sim_bin, X_OK) != 0) {
		fprintf(stderr, "%s: not found (build the yardwatch-sim target)\n", sim_bin);
		return -1;
	}
	return 0;
}

void rig_teardown(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[512];

	while (d && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(tmpdir);
}

void rig_run(const char *name, void (*fn)(void))
{
	int64_t t0 = now_ms();
	int f0 = *rig_failed;

	fn();
	fprintf(stderr, "%-20s %5lld ms%s\n", name, (long long)(now_ms() - t0),
		*rig_failed > f0 ? "  FAILED" : "");
}
