/*
 * test_bus: the bus worker and the libmodbus driver, over real Modbus.
 *
 * The devices are played by the real simulator, YW_BIN/yardwatch-sim, on
 * 127.0.0.1 (TCP) or on one end of a socat pty pair (RTU), steered through
 * its --control stdin ({"set"}, {"offline"}, {"illegal"}, {"exception"},
 * {"get"}) and watched through its --stats file (requests per device). The
 * configs are JSON files loaded with config_load(), profiles from
 * YW_SRC/config/profiles.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../daemon/bus.h"
#include "../../daemon/config.h"
#include "../../daemon/log.h"
#include "../../drivers/driver.h"
#include "check.h"

static char tmpdir[64];
static char sim_bin[1024];
static char profiles_dir[1024];

static int64_t now_ms(void)
{
	return util_mono_ms();
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Reap PID, waiting at most MS; SIGKILL after that. */
static void reap(pid_t pid, int ms)
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

struct sim {
	pid_t pid;
	int ctl;                  /* its stdin: control steps */
	int out;                  /* its stdout: one reply per step */
	int port;                 /* TCP port it listens on */
	char name[32];
	char log[128], stats[128];
	char rbuf[4096];
	size_t rlen;
};

/* One line from the simulator's stdout into LINE, within MS. 0 / -1. */
static int sim_line(struct sim *s, char *line, size_t len, int ms)
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
static int sim_ctl(struct sim *s, const char *step, char *reply, size_t rlen)
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
static int sim_start(struct sim *s, const char *name, const char *cfg, int port, const char *tty)
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
static void sim_stop(struct sim *s, int sig)
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
static long sim_requests(struct sim *s, const char *dev, const char *field)
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

static long sim_requests_settled(struct sim *s, const char *dev, const char *field)
{
	sleep_ms(300);
	return sim_requests(s, dev, field);
}

/* The count once it reached AT_LEAST (or after 1 s): the stats file lags. */
static long sim_requests_reach(struct sim *s, const char *dev, const char *field, long at_least)
{
	int64_t end = now_ms() + 1000;
	long n;

	while ((n = sim_requests(s, dev, field)) < at_least && now_ms() < end)
		sleep_ms(20);
	return n;
}

static bool sim_get_is(struct sim *s, const char *point, const char *want)
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
static struct config *load_cfg(const char *name, const char *json, int port, char *path,
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

struct tally {
	int polls[8], ok[8], failed[8];
	int timeouts[8], other[8];
	int max_consec[8];
};

static void tally_add(struct tally *t, const struct bus_result *r)
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

static void pending_free(void)
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
static struct bus_result *wait_result(struct bus_queue *q, enum bus_result_kind kind, int dev,
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
static void drain(struct bus_queue *q, int ms, struct tally *t)
{
	bus_result_free(wait_result(q, BUS_RES_CMD, 99, ms, t));
}

static struct bus_result *command(struct bus_worker *w, struct bus_queue *q, int dev, int pt,
				  bool write, double value)
{
	struct bus_cmd c;

	memset(&c, 0, sizeof c);
	snprintf(c.req_id, sizeof c.req_id, "req-%d-%d", dev, pt);
	c.dev = dev;
	c.pt = pt;
	c.write = write;
	c.value = value;
	if (bus_submit(w, &c) != 0)
		return NULL;
	return wait_result(q, BUS_RES_CMD, dev, 5000, NULL);
}

static bool near(double a, double b)
{
	return fabs(a - b) < 1e-6 * (1 + fabs(b));
}

/* ----------------------------------------------------------------- tests */

static const char values_cfg[] =
	"{\"site\": {\"id\": \"t\", \"name\": \"t\", \"gateway\": \"gw\"},\n"
	" \"buses\": [{\"id\": \"lan\", \"type\": \"tcp\", \"host\": \"127.0.0.1\", \"port\": 502,"
	"  \"timeout_ms\": 300, \"retries\": 1}],\n"
	" \"devices\": [\n"
	"  {\"id\": \"meter\", \"bus\": \"lan\", \"unit\": 1, \"poll_ms\": 200, \"points\": [\n"
	"   {\"name\": \"u16\", \"table\": \"holding\", \"address\": 0, \"type\": \"uint16\"},\n"
	"   {\"name\": \"i16\", \"table\": \"holding\", \"address\": 1, \"type\": \"int16\"},\n"
	"   {\"name\": \"f32\", \"table\": \"holding\", \"address\": 10, \"type\": \"float32\"},\n"
	"   {\"name\": \"u32\", \"table\": \"holding\", \"address\": 12, \"type\": \"uint32\","
	"    \"order\": \"CDAB\"},\n"
	"   {\"name\": \"b3\", \"table\": \"holding\", \"address\": 20, \"type\": \"bool\", \"bit\": 3},\n"
	"   {\"name\": \"b5\", \"table\": \"holding\", \"address\": 20, \"type\": \"bool\", \"bit\": 5,"
	"    \"writable\": true},\n"
	"   {\"name\": \"temp\", \"table\": \"input\", \"address\": 0, \"type\": \"int16\","
	"    \"scale\": 0.1},\n"
	"   {\"name\": \"relay\", \"table\": \"coil\", \"address\": 0, \"type\": \"bool\","
	"    \"writable\": true},\n"
	"   {\"name\": \"lamp\", \"table\": \"discrete\", \"address\": 0, \"type\": \"bool\"},\n"
	"   {\"name\": \"setpoint\", \"table\": \"holding\", \"address\": 40, \"type\": \"uint16\","
	"    \"scale\": 0.1, \"writable\": true, \"min\": 0, \"max\": 50},\n"
	"   {\"name\": \"raw\", \"table\": \"holding\", \"address\": 41, \"type\": \"uint16\","
	"    \"writable\": true},\n"
	"   {\"name\": \"ro\", \"table\": \"holding\", \"address\": 42, \"type\": \"uint16\"},\n"
	"   {\"name\": \"level\", \"table\": \"holding\", \"address\": 50, \"type\": \"uint16\","
	"    \"decimals_from\": \"dec\", \"writable\": true},\n"
	"   {\"name\": \"dec\", \"table\": \"holding\", \"address\": 51, \"type\": \"uint16\"}]},\n"
	"  {\"id\": \"pt\", \"bus\": \"lan\", \"unit\": 2, \"profile\": \"pressure-transmitter\","
	"   \"poll_ms\": 200}]}\n";

enum {
	P_U16, P_I16, P_F32, P_U32, P_B3, P_B5, P_TEMP, P_RELAY, P_LAMP, P_SETPOINT, P_RAW, P_RO,
	P_LEVEL, P_DEC, P_COUNT
};

/* Values of every kind of point, read commands, writes with read back. */
static void test_values_and_commands(void)
{
	struct sim s;
	char path[256];
	struct bus_result *r;

	struct config *cfg = load_cfg("values", values_cfg, 0, path, sizeof path);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(sim_start(&s, "values", path, 0, NULL) == 0);
	cfg->buses[0].port = s.port;
	CHECK(sim_ctl(&s, "{\"set\": {\"meter.u16\": 1234, \"meter.i16\": -5, \"meter.f32\": 21.5,"
		      " \"meter.u32\": 65538, \"meter.b3\": true, \"meter.b5\": false,"
		      " \"meter.temp\": 25.0, \"meter.relay\": true, \"meter.lamp\": true,"
		      " \"meter.setpoint\": 0, \"meter.raw\": 0, \"meter.ro\": 7,"
		      " \"meter.dec\": 2, \"meter.level\": 4.56,"
		      " \"pt.decimals\": 3, \"pt.pressure\": 0.352}}", NULL, 0) == 0);

	struct bus_queue *q = bus_queue_new();
	CHECK(q != NULL);
	struct bus_worker *w = bus_start(cfg, 0, q);
	CHECK(w != NULL);
	if (!w || !q)
		goto out;

	r = wait_result(q, BUS_RES_POLL, 0, 3000, NULL);
	CHECK(r != NULL);
	if (r) {
		static const double want[P_COUNT] = { 1234, -5, 21.5, 65538, 1, 0, 25.0, 1, 1, 0, 0,
						      7, 4.56, 2 };
		const struct device_cfg *d = &cfg->devices[0];
		CHECK(r->ok);
		CHECK(r->npoints == d->npoints && d->npoints == P_COUNT);
		CHECK(r->consecutive_failures == 0);
		CHECK(r->timeouts + r->exceptions + r->crc + r->other == 0);
		CHECK(r->ts_ms > 1700000000000LL);
		for (size_t i = 0; i < r->npoints && i < P_COUNT; i++) {
			if (r->quality[i] != Q_GOOD || !near(r->values[i], want[i]))
				fprintf(stderr, "point %s: %g (quality %d), want %g\n",
					d->points[i].name, r->values[i], r->quality[i], want[i]);
			CHECK(r->quality[i] == Q_GOOD);
			CHECK(near(r->values[i], want[i]));
		}
		bus_result_free(r);
	}
	/* a profile point scaled by the device's own decimals register */
	r = wait_result(q, BUS_RES_POLL, 1, 3000, NULL);
	int ip = config_find_point(&cfg->devices[1], "pressure");
	CHECK(r && r->ok && ip >= 0 && r->quality[ip] == Q_GOOD && near(r->values[ip], 0.352));
	bus_result_free(r);

	/* read commands */
	r = command(w, q, 1, ip, false, 0);
	CHECK(r && r->cmd_ok && r->cmd_has_value && near(r->cmd_value, 0.352));
	CHECK(r && strcmp(r->cmd.req_id, "req-1-4") == 0);
	bus_result_free(r);
	r = command(w, q, 0, P_F32, false, 0);
	CHECK(r && r->cmd_ok && near(r->cmd_value, 21.5));
	bus_result_free(r);

	/* a coil: write, read back */
	r = command(w, q, 0, P_RELAY, true, 0);
	CHECK(r && r->cmd_ok && r->cmd_has_value && r->cmd_value == 0);
	bus_result_free(r);
	CHECK(sim_get_is(&s, "meter.relay", "false"));
	r = command(w, q, 0, P_RELAY, true, 1);
	CHECK(r && r->cmd_ok && r->cmd_value == 1);
	bus_result_free(r);
	CHECK(sim_get_is(&s, "meter.relay", "true"));

	/* a scaled holding register */
	r = command(w, q, 0, P_SETPOINT, true, 12.3);
	CHECK(r && r->cmd_ok && near(r->cmd_value, 12.3));
	if (r && !r->cmd_ok)
		fprintf(stderr, "write setpoint: %s\n", r->error);
	bus_result_free(r);
	CHECK(sim_get_is(&s, "meter.setpoint", "12.3"));

	/* scaled by the device's decimals register, read first */
	r = command(w, q, 0, P_LEVEL, true, 1.23);
	CHECK(r && r->cmd_ok && near(r->cmd_value, 1.23));
	bus_result_free(r);
	CHECK(sim_get_is(&s, "meter.level", "1.23"));

	/* one bit of a register: the bit next to it stays */
	r = command(w, q, 0, P_B5, true, 1);
	CHECK(r && r->cmd_ok && r->cmd_value == 1);
	bus_result_free(r);
	CHECK(sim_get_is(&s, "meter.b5", "true"));
	CHECK(sim_get_is(&s, "meter.b3", "true"));

	/* refused before anything is sent */
	long writes = sim_requests_settled(&s, "meter", "writes");
	r = command(w, q, 0, P_RAW, true, 70000);
	CHECK(r && !r->cmd_ok && strcmp(r->error, "value out of range for uint16") == 0);
	bus_result_free(r);
	r = command(w, q, 0, P_RAW, true, -1);
	CHECK(r && !r->cmd_ok && strcmp(r->error, "value out of range for uint16") == 0);
	bus_result_free(r);
	r = command(w, q, 0, P_SETPOINT, true, 60);
	CHECK(r && !r->cmd_ok && strstr(r->error, "out of range") != NULL);
	bus_result_free(r);
	r = command(w, q, 0, P_RELAY, true, 2);
	CHECK(r && !r->cmd_ok && strcmp(r->error, "value out of range for bool") == 0);
	bus_result_free(r);
	r = command(w, q, 0, P_RO, true, 1);
	CHECK(r && !r->cmd_ok && strstr(r->error, "not writable") != NULL);
	bus_result_free(r);
	CHECK(sim_requests_settled(&s, "meter", "writes") == writes);
	CHECK(sim_get_is(&s, "meter.raw", "0"));

	/* the device refuses the write */
	CHECK(sim_ctl(&s, "{\"exception\": {\"device\": \"meter\", \"code\": 4}}", NULL, 0) == 0);
	r = command(w, q, 0, P_RAW, true, 7);
	CHECK(r && !r->cmd_ok && strstr(r->error, "exception 4") != NULL);
	bus_result_free(r);
	CHECK(sim_ctl(&s, "{\"exception\": {\"device\": \"meter\", \"code\": 0}}", NULL, 0) == 0);

	/* the device does not answer */
	CHECK(sim_ctl(&s, "{\"offline\": \"meter\"}", NULL, 0) == 0);
	r = command(w, q, 0, P_U16, false, 0);
	CHECK(r && !r->cmd_ok && strcmp(r->error, "device did not answer (timeout)") == 0);
	CHECK(r && !r->cmd_has_value);
	bus_result_free(r);

	CHECK(bus_submit(w, &(struct bus_cmd){ .dev = 0, .pt = 99 }) == -1);
out:
	bus_stop(w, 2000);
	pending_free();
	bus_queue_free(q);
	sim_stop(&s, SIGTERM);
	config_free(cfg);
}

/* An unmapped register inside a merged read: split, the rest stays good. */
static void test_split(void)
{
	static const char json[] =
		"{\"site\": {\"id\": \"t\", \"name\": \"t\", \"gateway\": \"gw\"},\n"
		" \"buses\": [{\"id\": \"lan\", \"type\": \"tcp\", \"host\": \"127.0.0.1\","
		"  \"timeout_ms\": 500}],\n"
		" \"devices\": [{\"id\": \"pump\", \"bus\": \"lan\", \"unit\": 3, \"poll_ms\": 600,"
		"  \"points\": [\n"
		"   {\"name\": \"r0\", \"table\": \"holding\", \"address\": 0, \"type\": \"uint16\"},\n"
		"   {\"name\": \"r1\", \"table\": \"holding\", \"address\": 1, \"type\": \"uint16\"},\n"
		"   {\"name\": \"r2\", \"table\": \"holding\", \"address\": 2, \"type\": \"uint16\"},\n"
		"   {\"name\": \"r3\", \"table\": \"holding\", \"address\": 3, \"type\": \"uint16\"}]}]}\n";
	struct sim s;
	char path[256];
	struct config *cfg = load_cfg("split", json, 0, path, sizeof path);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(sim_start(&s, "split", path, 0, NULL) == 0);
	cfg->buses[0].port = s.port;
	CHECK(sim_ctl(&s, "{\"set\": {\"pump.r0\": 100, \"pump.r1\": 101, \"pump.r2\": 102,"
		      " \"pump.r3\": 103}}", NULL, 0) == 0);
	CHECK(sim_ctl(&s, "{\"illegal\": {\"device\": \"pump\", \"table\": \"holding\","
		      " \"start\": 2, \"count\": 1}}", NULL, 0) == 0);

	struct bus_queue *q = bus_queue_new();
	struct bus_worker *w = bus_start(cfg, 0, q);
	CHECK(w != NULL);
	for (int poll = 0; w && poll < 2; poll++) {
		struct bus_result *r = wait_result(q, BUS_RES_POLL, 0, 3000, NULL);
		long n = sim_requests_reach(&s, "pump", "requests", poll == 0 ? 5 : 8);
		CHECK(r != NULL);
		if (!r)
			break;
		CHECK(r->ok);
		CHECK(r->quality[0] == Q_GOOD && r->values[0] == 100);
		CHECK(r->quality[1] == Q_GOOD && r->values[1] == 101);
		CHECK(r->quality[2] == Q_BAD);
		CHECK(r->quality[3] == Q_GOOD && r->values[3] == 103);
		/* first poll: 0..3 refused, 0..1 ok, 2..3 refused, 2 refused, 3 ok;
		 * then the split is remembered: 0..1, 2, 3 */
		if (poll == 0) {
			CHECK(n == 5);
			CHECK(r->exceptions == 3);
		} else {
			CHECK(n == 8);
			CHECK(r->exceptions == 1);
		}
		bus_result_free(r);
	}
	bus_stop(w, 2000);
	pending_free();
	bus_queue_free(q);
	sim_stop(&s, SIGTERM);
	config_free(cfg);
}

/* A silent device backs off; its healthy neighbour keeps its rate. */
static void test_backoff(void)
{
	static const char json[] =
		"{\"site\": {\"id\": \"t\", \"name\": \"t\", \"gateway\": \"gw\"},\n"
		" \"buses\": [{\"id\": \"lan\", \"type\": \"tcp\", \"host\": \"127.0.0.1\","
		"  \"timeout_ms\": 100, \"retries\": 0}],\n"
		" \"devices\": [\n"
		"  {\"id\": \"healthy\", \"bus\": \"lan\", \"unit\": 4, \"poll_ms\": 100, \"points\": [\n"
		"   {\"name\": \"v\", \"table\": \"holding\", \"address\": 0, \"type\": \"uint16\"}]},\n"
		"  {\"id\": \"dead\", \"bus\": \"lan\", \"unit\": 5, \"poll_ms\": 100, \"points\": [\n"
		"   {\"name\": \"v\", \"table\": \"holding\", \"address\": 0, \"type\": \"uint16\"}]}]}\n";
	struct sim s;
	struct tally tl;
	char path[256];
	struct config *cfg = load_cfg("backoff", json, 0, path, sizeof path);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(sim_start(&s, "backoff", path, 0, NULL) == 0);
	cfg->buses[0].port = s.port;
	CHECK(sim_ctl(&s, "{\"offline\": \"dead\"}", NULL, 0) == 0);

	memset(&tl, 0, sizeof tl);
	struct bus_queue *q = bus_queue_new();
	struct bus_worker *w = bus_start(cfg, 0, q);
	CHECK(w != NULL);
	int64_t t0 = now_ms();
	drain(q, 3000, &tl);
	int64_t el = now_ms() - t0;
	bus_stop(w, 2000);
	drain(q, 0, &tl);
	long dead_requests = sim_requests_settled(&s, "dead", "requests");

	/* at the rate: ~30 polls each; backed off: 100, 200, 400, 800, 1600 ms */
	fprintf(stderr, "backoff over %lld ms: healthy %d polls (%d ok), dead %d polls, "
		"%ld requests\n", (long long)el, tl.polls[0], tl.ok[0], tl.polls[1], dead_requests);
	CHECK(tl.polls[0] >= 20);
	CHECK(tl.ok[0] == tl.polls[0]);
	CHECK(tl.polls[1] >= 3 && tl.polls[1] <= 8);
	CHECK(tl.ok[1] == 0);
	CHECK(tl.timeouts[1] == tl.polls[1]);
	CHECK(tl.max_consec[1] == tl.polls[1]);
	CHECK(dead_requests == tl.polls[1]);
	pending_free();
	bus_queue_free(q);
	sim_stop(&s, SIGTERM);
	config_free(cfg);
}

/* The simulator drops the connection (killed), is restarted on the same port. */
static void test_reconnect(void)
{
	static const char json[] =
		"{\"site\": {\"id\": \"t\", \"name\": \"t\", \"gateway\": \"gw\"},\n"
		" \"buses\": [{\"id\": \"lan\", \"type\": \"tcp\", \"host\": \"127.0.0.1\","
		"  \"timeout_ms\": 300, \"retries\": 1}],\n"
		" \"devices\": [{\"id\": \"gw\", \"bus\": \"lan\", \"unit\": 1, \"poll_ms\": 100,"
		"  \"points\": [\n"
		"   {\"name\": \"v\", \"table\": \"holding\", \"address\": 0, \"type\": \"uint16\"}]}]}\n";
	struct sim s;
	struct tally tl;
	char path[256];
	struct config *cfg = load_cfg("reconnect", json, 0, path, sizeof path);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(sim_start(&s, "reconnect", path, 0, NULL) == 0);
	int port = s.port;
	cfg->buses[0].port = port;
	CHECK(sim_ctl(&s, "{\"set\": {\"gw.v\": 42}}", NULL, 0) == 0);

	memset(&tl, 0, sizeof tl);
	struct bus_queue *q = bus_queue_new();
	struct bus_worker *w = bus_start(cfg, 0, q);
	struct bus_result *r = wait_result(q, BUS_RES_POLL, 0, 3000, NULL);
	CHECK(r && r->ok && r->values[0] == 42);
	bus_result_free(r);

	/* killed: polls fail (reset, then refused), counted as "other" */
	sim_stop(&s, SIGKILL);
	drain(q, 600, &tl);
	CHECK(tl.failed[0] >= 1);
	CHECK(tl.other[0] >= 1);
	CHECK(tl.timeouts[0] == 0);

	/* back on the same port: good again, from a new connection */
	CHECK(sim_start(&s, "reconnect2", path, port, NULL) == 0);
	CHECK(s.port == port);
	CHECK(sim_ctl(&s, "{\"set\": {\"gw.v\": 43}}", NULL, 0) == 0);
	bool back = false;
	int64_t end = now_ms() + 4000;
	while (!back && now_ms() < end) {
		r = wait_result(q, BUS_RES_POLL, 0, 1000, NULL);
		if (r && r->ok) {
			back = true;
			CHECK(r->values[0] == 43 && r->consecutive_failures == 0);
		}
		bus_result_free(r);
	}
	CHECK(back);
	bus_stop(w, 2000);
	pending_free();
	bus_queue_free(q);
	sim_stop(&s, SIGTERM);
	config_free(cfg);
}

/* bus_stop() while a request waits for a silent device with a long timeout. */
static void test_stop_blocked(void)
{
	static const char json[] =
		"{\"site\": {\"id\": \"t\", \"name\": \"t\", \"gateway\": \"gw\"},\n"
		" \"buses\": [{\"id\": \"lan\", \"type\": \"tcp\", \"host\": \"127.0.0.1\","
		"  \"timeout_ms\": 5000, \"retries\": 2}],\n"
		" \"devices\": [{\"id\": \"mute\", \"bus\": \"lan\", \"unit\": 1, \"poll_ms\": 100,"
		"  \"points\": [\n"
		"   {\"name\": \"v\", \"table\": \"holding\", \"address\": 0, \"type\": \"uint16\"}]}]}\n";
	struct sim s;
	char path[256];
	struct config *cfg = load_cfg("stop", json, 0, path, sizeof path);

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(sim_start(&s, "stop", path, 0, NULL) == 0);
	cfg->buses[0].port = s.port;
	CHECK(sim_ctl(&s, "{\"offline\": \"mute\"}", NULL, 0) == 0);

	struct bus_queue *q = bus_queue_new();
	struct bus_worker *w = bus_start(cfg, 0, q);
	CHECK(sim_requests_reach(&s, "mute", "requests", 1) == 1);   /* now blocked */
	int64_t t0 = now_ms();
	bus_stop(w, 1000);
	int64_t el = now_ms() - t0;
	CHECK(el < 500);
	CHECK(bus_queue_take(q) == NULL);       /* nothing after a stop */
	bus_queue_free(q);
	sim_stop(&s, SIGTERM);
	config_free(cfg);
}

/* Queue: empty, not readable. */
static void test_queue(void)
{
	struct bus_queue *q = bus_queue_new();
	struct pollfd pfd = { .fd = bus_queue_fd(q), .events = POLLIN };

	CHECK(q != NULL);
	CHECK(poll(&pfd, 1, 0) == 0);
	CHECK(bus_queue_take(q) == NULL);
	bus_queue_free(q);
}

/* --------------------------------------------------------------------- RTU */

static pid_t socat_pid = -1;

static int start_socat(const char *a, const char *b)
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

static void stop_socat(void)
{
	if (socat_pid > 0) {
		kill(socat_pid, SIGTERM);
		reap(socat_pid, 3000);
		socat_pid = -1;
	}
}

/* RTU over a pty pair: reads, silence between frames, a timeout then a clean
 * line, a poll; RS-485 mode refused clearly on a port that cannot do it. */
static void test_rtu(void)
{
	char a[128], b[128], path[256], json[1024];
	struct sim s;

	snprintf(a, sizeof a, "%s/ttyA", tmpdir);
	snprintf(b, sizeof b, "%s/ttyB", tmpdir);
	if (start_socat(a, b) != 0) {
		fprintf(stderr, "socat not available: RTU test skipped\n");
		stop_socat();
		return;
	}
	snprintf(json, sizeof json,
		 "{\"site\": {\"id\": \"t\", \"name\": \"t\", \"gateway\": \"gw\"},\n"
		 " \"buses\": [{\"id\": \"line\", \"type\": \"rtu\", \"device\": \"%s\","
		 "  \"baud\": 19200, \"timeout_ms\": 150, \"retries\": 1,"
		 "  \"inter_frame_delay_ms\": 50}],\n"
		 " \"devices\": [{\"id\": \"rtu\", \"bus\": \"line\", \"unit\": 5, \"poll_ms\": 100,"
		 "  \"points\": [\n"
		 "   {\"name\": \"v\", \"table\": \"holding\", \"address\": 7, \"type\": \"uint16\"},\n"
		 "   {\"name\": \"w\", \"table\": \"holding\", \"address\": 9, \"type\": \"uint16\"}]}]}\n",
		 a);
	struct config *cfg = load_cfg("rtu", json, 0, path, sizeof path);
	CHECK(cfg != NULL);
	if (!cfg) {
		stop_socat();
		return;
	}
	CHECK(sim_start(&s, "rtu", path, 0, b) == 0);
	CHECK(sim_ctl(&s, "{\"set\": {\"rtu.v\": 777, \"rtu.w\": 9}}", NULL, 0) == 0);

	/* the driver on its own: inter_frame_delay_ms of silence between requests */
	struct drv_settings ds;
	bus_driver_settings(&cfg->buses[0], &ds);
	struct driver *drv = driver_new(&ds);
	uint16_t regs[2];
	int exc;
	CHECK(drv != NULL);
	int64_t t0 = now_ms();
	for (int i = 0; i < 5; i++)
		CHECK(driver_read(drv, 5, TABLE_HOLDING, 7, 1, regs, &exc) == DRV_OK &&
		      regs[0] == 777);
	CHECK(now_ms() - t0 >= 4 * 50);
	/* silent: a timeout; the line is flushed and works again */
	CHECK(sim_ctl(&s, "{\"offline\": \"rtu\"}", NULL, 0) == 0);
	CHECK(driver_read(drv, 5, TABLE_HOLDING, 7, 1, regs, &exc) == DRV_TIMEOUT);
	CHECK(sim_ctl(&s, "{\"online\": \"rtu\"}", NULL, 0) == 0);
	CHECK(driver_read(drv, 5, TABLE_HOLDING, 7, 1, regs, &exc) == DRV_OK && regs[0] == 777);
	/* nobody is unit 6 on this line */
	CHECK(driver_read(drv, 6, TABLE_HOLDING, 7, 1, regs, &exc) == DRV_TIMEOUT);
	CHECK(driver_read(drv, 5, TABLE_HOLDING, 9, 1, regs, &exc) == DRV_OK && regs[0] == 9);
	driver_free(drv);

	struct bus_queue *q = bus_queue_new();
	struct bus_worker *w = bus_start(cfg, 0, q);
	struct bus_result *r = wait_result(q, BUS_RES_POLL, 0, 3000, NULL);
	CHECK(r && r->ok && r->values[0] == 777 && r->values[1] == 9);
	bus_result_free(r);
	bus_stop(w, 2000);
	pending_free();
	bus_queue_free(q);

	/* RS-485 mode on a pty: refused, a link failure */
	ds.rs485 = true;
	drv = driver_new(&ds);
	CHECK(drv != NULL);
	CHECK(driver_connect(drv) == DRV_LINK);
	CHECK(driver_read(drv, 5, TABLE_HOLDING, 7, 1, regs, &exc) == DRV_LINK);
	driver_free(drv);

	sim_stop(&s, SIGTERM);
	stop_socat();
	config_free(cfg);
}

/* ------------------------------------------------------- no server needed */

/* bus_stop() while the worker hangs in a TCP connect (a listener whose
 * backlog is full): one timeout at most. The driver's own connect bound is
 * tested in test_driver. */
static void test_connect_bounded(void)
{
	static struct config cfg;      /* static: see the detached worker below */
	static struct bus_cfg bc;
	static struct device_cfg dev;
	static struct point_cfg pt;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t alen = sizeof sa;
	int64_t t0;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(l, 0) == 0);
	CHECK(getsockname(l, (struct sockaddr *)&sa, &alen) == 0);
	/* fill the backlog: further SYNs are dropped, connects hang */
	CHECK(connect(filler, (struct sockaddr *)&sa, sizeof sa) == 0);

	strcpy(bc.id, "lan");
	bc.type = BUS_TCP;
	strcpy(bc.host, "127.0.0.1");
	bc.port = ntohs(sa.sin_port);
	bc.timeout_ms = 200;
	bc.retries = 1;
	strcpy(pt.name, "v");
	pt.table = TABLE_HOLDING;
	pt.type = TYPE_UINT16;
	pt.bit = -1;
	pt.scale = 1;
	pt.decimals_from = -1;
	strcpy(dev.id, "far");
	dev.unit = 1;
	dev.poll_ms = 100;
	dev.enabled = true;
	dev.max_read_regs = 125;
	dev.points = &pt;
	dev.npoints = 1;
	cfg.buses = &bc;
	cfg.nbuses = 1;
	cfg.devices = &dev;
	cfg.ndevices = 1;
	struct bus_queue *q = bus_queue_new();
	struct bus_worker *w = bus_start(&cfg, 0, q);
	sleep_ms(100);
	t0 = now_ms();
	bus_stop(w, 1000);
	CHECK(now_ms() - t0 < 400);

	/* a stop timeout shorter than the connect: the worker is left behind,
	 * bus_stop() returns in time and the worker frees itself later
	 * (valgrind sees no leak). Its config is static and never reused: a
	 * detached thread cannot be joined, so ThreadSanitizer would see no
	 * order between its last reads and a reuse. */
	w = bus_start(&cfg, 0, q);
	sleep_ms(50);
	t0 = now_ms();
	bus_stop(w, 20);
	CHECK(now_ms() - t0 < 100);
	bus_queue_free(q);
	sleep_ms(250);
	close(filler);
	close(l);
}

/* ------------------------------------------------------------------ main */

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

static void rm_tmpdir(void)
{
	static const char *const names[] = {
		"values", "split", "backoff", "reconnect", "reconnect2", "stop", "rtu"
	};
	static const char *const exts[] = { "json", "log", "stats", "stats.tmp" };
	char p[256];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		for (size_t j = 0; j < sizeof exts / sizeof exts[0]; j++) {
			snprintf(p, sizeof p, "%s/%s.%s", tmpdir, names[i], exts[j]);
			unlink(p);
		}
	snprintf(p, sizeof p, "%s/ttyA", tmpdir);
	unlink(p);
	snprintf(p, sizeof p, "%s/ttyB", tmpdir);
	unlink(p);
	rmdir(tmpdir);
}

static void run(const char *name, void (*fn)(void))
{
	int64_t t0 = now_ms();
	int f0 = failed;

	fn();
	fprintf(stderr, "%-20s %5lld ms%s\n", name, (long long)(now_ms() - t0),
		failed > f0 ? "  FAILED" : "");
}

int main(void)
{
	int64_t t0 = now_ms();

	signal(SIGPIPE, SIG_IGN);
	log_init(getenv("YW_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/yw-test-bus-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	find_paths();
	if (access(sim_bin, X_OK) != 0) {
		fprintf(stderr, "%s: not found (build the yardwatch-sim target)\n", sim_bin);
		failed++;
	} else {
		run("values_and_commands", test_values_and_commands);
		run("split", test_split);
		run("backoff", test_backoff);
		run("reconnect", test_reconnect);
		run("stop_blocked", test_stop_blocked);
		run("rtu", test_rtu);
	}
	run("queue", test_queue);
	run("connect_bounded", test_connect_bounded);
	rm_tmpdir();
	fprintf(stderr, "took %lld ms\n", (long long)(now_ms() - t0));
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
