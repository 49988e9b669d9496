/*
 * test_driver: the Modbus driver on its own (it links drivers/ only): error
 * classes against a port nobody listens on, abort, and a TCP connect that
 * gets no answer (a listener whose backlog is full) bounded by the bus's
 * timeout, on tcp and rtu-tcp. The tcp and rtu drivers against the
 * simulator are in test_bus.
 *
 * rtu-tcp: the driver against the real simulator (yardwatch-sim --rtu-tcp,
 * steered through --control): values read and written, exceptions, each
 * fault on the wire (garbage, truncate, bad_crc, wrong_unit, silent, late),
 * a late answer that never passes for the next request's, the simulator
 * restarted (the connection drops, the driver reconnects), abort; and
 * against a scripted peer playing exact bytes the simulator does not send:
 * an answer split over several segments, garbage before it, the same
 * answer twice.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../drivers/driver.h"
#include "../../drivers/rtuframe.h"
#include "check.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void settings_tcp(struct drv_settings *b, int port, int timeout_ms, int retries)
{
	memset(b, 0, sizeof *b);
	strcpy(b->id, "lan");
	b->type = DRV_BUS_TCP;
	strcpy(b->host, "127.0.0.1");
	b->port = port;
	b->timeout_ms = timeout_ms;
	b->retries = retries;
}

static int lines;   /* log lines the driver reported */

static void count_log(int level, const char *comp, const char *msg)
{
	(void)level;
	CHECK(strcmp(comp, "modbus") == 0 && msg[0] != '\0');
	lines++;
}

/* Driver error classes against a port nobody listens on; abort. On TYPE
 * (tcp, rtu-tcp). */
static void test_refused(enum drv_bus_type type)
{
	struct drv_settings bc;
	uint16_t regs[1];
	int exc = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t alen = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &alen) == 0);
	close(fd);   /* nothing listens there now */
	settings_tcp(&bc, ntohs(sa.sin_port), 200, 2);
	bc.type = type;
	struct driver *drv = driver_new(&bc);
	CHECK(drv != NULL);
	lines = 0;
	CHECK(driver_connect(drv) == DRV_LINK);
	CHECK(lines == 1);           /* "cannot connect", through the callback */
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 1, regs, &exc) == DRV_LINK);
	CHECK(driver_reconnected(drv) == 0);
	driver_abort(drv);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 1, regs, &exc) == DRV_LINK);
	driver_free(drv);
	CHECK(strcmp(driver_status_name(DRV_TIMEOUT), "timeout") == 0);
	CHECK(strcmp(driver_exception_name(11), "gateway target device failed to respond") == 0);
	CHECK(strcmp(driver_exception_name(99), "unknown exception") == 0);
}

/* A TCP connect (tcp, rtu-tcp: TYPE) that gets no answer is bounded by
 * the bus's timeout. */
static void test_connect_bounded(enum drv_bus_type type)
{
	struct drv_settings bc;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t alen = sizeof sa;
	uint16_t regs[1];
	int exc = 0;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(l, 0) == 0);
	CHECK(getsockname(l, (struct sockaddr *)&sa, &alen) == 0);
	/* fill the backlog: further SYNs are dropped, connects hang */
	CHECK(connect(filler, (struct sockaddr *)&sa, sizeof sa) == 0);

	settings_tcp(&bc, ntohs(sa.sin_port), 200, 1);
	bc.type = type;
	struct driver *drv = driver_new(&bc);
	int64_t t0 = now_ms();
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 1, regs, &exc) == DRV_TIMEOUT);
	int64_t el = now_ms() - t0;
	CHECK(el >= 350 && el < 1000);           /* two tries of 200 ms */
	driver_free(drv);
	close(filler);
	close(l);
}

/* ------------------------------------------------------------- rtu-tcp */

static char tmpdir[64];

static void settings_rtutcp(struct drv_settings *b, int port, int timeout_ms, int retries)
{
	settings_tcp(b, port, timeout_ms, retries);
	strcpy(b->id, "yard");
	b->type = DRV_BUS_RTU_TCP;
}

static int info_lines;   /* lines at info or above */

static void level_log(int level, const char *comp, const char *msg)
{
	(void)comp;
	if (level <= 2) {
		info_lines++;
		fprintf(stderr, "  driver: %s\n", msg);
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The simulator, steered through --control. */
struct simproc {
	pid_t pid;
	int ctl, out;
	int port;
	char rbuf[1024];
	size_t rlen;
};

static const char sim_cfg[] =
	"{\"site\": {\"id\": \"s1\", \"gateway\": \"gw1\"},\n"
	" \"buses\": [{\"id\": \"yard\", \"type\": \"rtu-tcp\", \"host\": \"127.0.0.1\"}],\n"
	" \"devices\": [{\"id\": \"p1\", \"bus\": \"yard\", \"unit\": 1, \"points\": [\n"
	"   {\"name\": \"h0\", \"table\": \"holding\", \"address\": 0, \"type\": \"uint16\"},\n"
	"   {\"name\": \"h1\", \"table\": \"holding\", \"address\": 1, \"type\": \"uint16\"},\n"
	"   {\"name\": \"h2\", \"table\": \"holding\", \"address\": 2, \"type\": \"uint16\"},\n"
	"   {\"name\": \"h3\", \"table\": \"holding\", \"address\": 3, \"type\": \"uint16\"},\n"
	"   {\"name\": \"c0\", \"table\": \"coil\", \"address\": 0},\n"
	"   {\"name\": \"c1\", \"table\": \"coil\", \"address\": 1},\n"
	"   {\"name\": \"c2\", \"table\": \"coil\", \"address\": 2}]},\n"
	"  {\"id\": \"p2\", \"bus\": \"yard\", \"unit\": 2, \"points\": [\n"
	"   {\"name\": \"i0\", \"table\": \"input\", \"address\": 0, \"type\": \"int16\"}]}]}\n";

/* One control step; 0 when the simulator answered "ok". */
static int sim_ctl(struct simproc *p, const char *step)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "%s\n", step);
	int64_t end = now_ms() + 3000;

	if (write(p->ctl, buf, (size_t)n) != n)
		return -1;
	for (;;) {
		char *nl = memchr(p->rbuf, '\n', p->rlen);
		if (nl) {
			int ok = strncmp(p->rbuf, "ok", 2) == 0;
			size_t used = (size_t)(nl - p->rbuf) + 1;
			if (!ok)
				fprintf(stderr, "sim: %s -> %.*s\n", step, (int)used, p->rbuf);
			p->rlen -= used;
			memmove(p->rbuf, nl + 1, p->rlen);
			return ok ? 0 : -1;
		}
		struct pollfd pfd = { .fd = p->out, .events = POLLIN };
		int64_t left = end - now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		ssize_t r = read(p->out, p->rbuf + p->rlen, sizeof p->rbuf - p->rlen);
		if (r <= 0)
			return -1;
		p->rlen += (size_t)r;
	}
}

static void sim_kill(struct simproc *p)
{
	int64_t end = now_ms() + 3000;

	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		while (waitpid(p->pid, NULL, WNOHANG) != p->pid) {
			if (now_ms() > end) {
				kill(p->pid, SIGKILL);
				waitpid(p->pid, NULL, 0);
				break;
			}
			sleep_ms(10);
		}
	}
	close(p->ctl);
	close(p->out);
	p->pid = -1;
}

/* yardwatch-sim --rtu-tcp 127.0.0.1:PORT (0: any) on the config above; the
 * port it took from its log. 0 / -1. */
static int sim_spawn(struct simproc *p, int port)
{
	const char *bin = getenv("YW_BIN");
	char simbin[1024], cfg[128], log[128], listen[64], line[512];
	int in[2], out[2];

	snprintf(simbin, sizeof simbin, "%s/yardwatch-sim", bin ? bin : ".");
	snprintf(cfg, sizeof cfg, "%s/sim.json", tmpdir);
	snprintf(log, sizeof log, "%s/sim.log", tmpdir);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	memset(p, 0, sizeof *p);
	FILE *f = fopen(cfg, "w");
	if (!f)
		return -1;
	fputs(sim_cfg, f);
	fclose(f);
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
		return -1;
	truncate(log, 0);
	p->pid = fork();
	if (p->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (fd >= 0)
			dup2(fd, 2);
		execl(simbin, simbin, "-c", cfg, "--rtu-tcp", listen, "--control", "--log-level",
		      "debug", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->ctl = in[1];
	p->out = out[0];
	if (p->pid < 0 || sim_ctl(p, "{\"drift\": false}") != 0)
		return -1;
	f = fopen(log, "r");
	while (f && fgets(line, sizeof line, f)) {
		char *at = strstr(line, "listening on rtu-tcp ");
		char *colon = at ? strrchr(at, ':') : NULL;
		if (colon)
			p->port = atoi(colon + 1);
	}
	if (f)
		fclose(f);
	return p->port > 0 ? 0 : -1;
}

static bool regs_are(const uint16_t *r, uint16_t a, uint16_t b)
{
	return r[0] == a && r[1] == b;
}

/* Reads, writes, exceptions and the line's faults against the simulator. */
static void test_rtutcp_sim(struct simproc *sp)
{
	static const char *const kinds[] = { "garbage", "truncate", "bad_crc", "wrong_unit" };
	struct drv_settings bc;
	uint16_t regs[8], one = 1, v = 222, two[2] = { 333, 444 }, bits[3] = { 1, 0, 1 };
	char step[256];
	int exc = 0;
	int64_t t0, el;

	CHECK(sim_ctl(sp, "{\"set\": {\"p1.h0\": 11, \"p1.h1\": 22, \"p1.h2\": 33, "
		      "\"p1.h3\": 44, \"p2.i0\": -5}}") == 0);
	settings_rtutcp(&bc, sp->port, 200, 0);
	struct driver *drv = driver_new(&bc);
	CHECK(drv != NULL);
	info_lines = 0;
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 4, regs, &exc) == DRV_OK);
	CHECK(regs_are(regs, 11, 22) && regs_are(regs + 2, 33, 44));
	CHECK(info_lines == 1);                  /* "connected" */
	CHECK(driver_reconnected(drv) == 0);
	CHECK(driver_read(drv, 2, TABLE_INPUT, 0, 1, regs, &exc) == DRV_OK);
	CHECK((int16_t)regs[0] == -5);

	/* writes: FC 6, 16, 15, 5; read back */
	CHECK(driver_write(drv, 1, TABLE_HOLDING, 1, 1, &v, &exc) == DRV_OK);
	CHECK(driver_write(drv, 1, TABLE_HOLDING, 2, 2, two, &exc) == DRV_OK);
	CHECK(driver_write(drv, 1, TABLE_COIL, 0, 3, bits, &exc) == DRV_OK);
	CHECK(driver_write(drv, 1, TABLE_COIL, 1, 1, &one, &exc) == DRV_OK);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 4, regs, &exc) == DRV_OK);
	CHECK(regs_are(regs, 11, 222) && regs_are(regs + 2, 333, 444));
	CHECK(driver_read(drv, 1, TABLE_COIL, 0, 3, regs, &exc) == DRV_OK);
	CHECK(regs[0] == 1 && regs[1] == 1 && regs[2] == 1);

	/* exceptions are answers */
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 10, 1, regs, &exc) == DRV_EXCEPTION && exc == 2);
	CHECK(sim_ctl(sp, "{\"exception\": {\"device\": \"p1\", \"code\": 11}}") == 0);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 1, regs, &exc) == DRV_GATEWAY && exc == 11);
	CHECK(sim_ctl(sp, "{\"exception\": {\"device\": \"p1\", \"code\": 0}}") == 0);

	/* nobody plays unit 9: the timeout, then the drain's quiet time */
	t0 = now_ms();
	CHECK(driver_read(drv, 9, TABLE_HOLDING, 0, 1, regs, &exc) == DRV_TIMEOUT);
	el = now_ms() - t0;
	CHECK(el >= 290 && el < 1000);

	/* Faults on the wire: a bad answer, then the next request (of the
	 * same length) gets its own answer, never the rest of the bad one. */
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		check_case = kinds[k];
		snprintf(step, sizeof step, "{\"fault\": {\"device\": \"p1\", \"kind\": \"%s\"}}",
			 kinds[k]);
		CHECK(sim_ctl(sp, step) == 0);
		CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_CRC);
		CHECK(sim_ctl(sp, "{\"fault\": {\"device\": \"p1\", \"kind\": \"none\"}}") == 0);
		CHECK(driver_read(drv, 1, TABLE_HOLDING, 2, 2, regs, &exc) == DRV_OK);
		CHECK(regs_are(regs, 333, 444));
	}
	check_case = "silent";
	CHECK(sim_ctl(sp, "{\"fault\": {\"device\": \"p1\", \"kind\": \"silent\"}}") == 0);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_TIMEOUT);
	CHECK(sim_ctl(sp, "{\"fault\": {\"device\": \"p1\", \"kind\": \"none\"}}") == 0);
	check_case = "";
	CHECK(info_lines == 1);                  /* failed requests log at debug only */
	CHECK(driver_reconnected(drv) == 0);     /* one connection all along */
	driver_free(drv);

	/* late: each answer comes 100 ms after the timeout (400 ms), while
	 * the driver drains (quiet for 200 ms); the next request, of the same
	 * length, must not take it */
	check_case = "late";
	settings_rtutcp(&bc, sp->port, 400, 0);
	drv = driver_new(&bc);
	CHECK(sim_ctl(sp, "{\"fault\": {\"device\": \"p1\", \"kind\": \"late\", "
		      "\"delay_ms\": 500}}") == 0);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_TIMEOUT);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 2, 2, regs, &exc) == DRV_TIMEOUT);
	CHECK(sim_ctl(sp, "{\"fault\": {\"device\": \"p1\", \"kind\": \"none\"}}") == 0);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 2, 2, regs, &exc) == DRV_OK);
	CHECK(regs_are(regs, 333, 444));
	check_case = "";
	driver_free(drv);
}

/* The simulator goes away and comes back on its port: DRV_LINK meanwhile
 * (logged once), then the driver reconnects by itself. */
static void test_rtutcp_restart(struct simproc *sp)
{
	struct drv_settings bc;
	uint16_t regs[2];
	int exc = 0, port = sp->port;

	settings_rtutcp(&bc, port, 200, 0);
	struct driver *drv = driver_new(&bc);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_OK);
	sim_kill(sp);
	info_lines = 0;
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_LINK);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_LINK);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_LINK);
	CHECK(info_lines == 2);                  /* connection lost; cannot connect */
	CHECK(sim_spawn(sp, port) == 0 && sp->port == port);
	CHECK(sim_ctl(sp, "{\"set\": {\"p1.h0\": 7, \"p1.h1\": 8}}") == 0);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_OK);
	CHECK(regs_are(regs, 7, 8));
	CHECK(driver_reconnected(drv) == 1 && driver_reconnected(drv) == 0);
	CHECK(info_lines == 3);                  /* reconnected */
	driver_free(drv);
}

struct aborter {
	struct driver *drv;
	int after_ms;
};

static void *abort_later(void *arg)
{
	struct aborter *a = arg;

	sleep_ms(a->after_ms);
	driver_abort(a->drv);
	return NULL;
}

/* A request waiting on a silent device returns at once on driver_abort(). */
static void test_rtutcp_abort(struct simproc *sp)
{
	struct drv_settings bc;
	uint16_t regs[2];
	int exc = 0;
	pthread_t th;

	CHECK(sim_ctl(sp, "{\"fault\": {\"device\": \"p1\", \"kind\": \"silent\"}}") == 0);
	settings_rtutcp(&bc, sp->port, 5000, 1);
	struct driver *drv = driver_new(&bc);
	CHECK(driver_connect(drv) == DRV_OK);
	struct aborter a = { drv, 150 };
	CHECK(pthread_create(&th, NULL, abort_later, &a) == 0);
	int64_t t0 = now_ms();
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_LINK);
	CHECK(now_ms() - t0 < 1000);
	pthread_join(th, NULL);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_LINK);
	driver_free(drv);
	CHECK(sim_ctl(sp, "{\"fault\": {\"device\": \"p1\", \"kind\": \"none\"}}") == 0);
}

/* A scripted serial server: for each request (FC 3), registers
 * address + 1000 + i, sent as the step says. PEER_CHATTER sends garbage
 * bytes instead, for CHATTER_MS or until the driver hangs up, then closes
 * and takes the next connection. */
enum peer_mode {
	PEER_SPLIT, PEER_GARBAGE_FIRST, PEER_TWICE, PEER_LATE, PEER_BYTEWISE, PEER_CHATTER
};

struct peer {
	int lfd, port;
	const enum peer_mode *script;
	size_t nscript;
	int late_ms, chatter_ms;
};

static int peer_send(int fd, const uint8_t *b, size_t n)
{
	return send(fd, b, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static int peer_accept(struct peer *p)
{
	struct pollfd pfd = { .fd = p->lfd, .events = POLLIN };
	int fd, one = 1;

	if (poll(&pfd, 1, 5000) != 1 || (fd = accept(p->lfd, NULL, NULL)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
	return fd;
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	int fd = peer_accept(p);

	for (size_t k = 0; fd >= 0 && k < p->nscript; k++) {
		uint8_t req[8], body[RTU_ADU_MAX], ans[RTU_ADU_MAX];
		size_t got = 0, n;

		while (got < sizeof req) {
			struct pollfd q = { .fd = fd, .events = POLLIN };
			ssize_t r;
			if (poll(&q, 1, 5000) != 1 ||
			    (r = recv(fd, req + got, sizeof req - got, 0)) <= 0)
				goto out;
			got += (size_t)r;
		}
		uint16_t addr = (uint16_t)(req[2] << 8 | req[3]);
		uint16_t qty = (uint16_t)(req[4] << 8 | req[5]);
		body[0] = req[0];
		body[1] = 3;
		body[2] = (uint8_t)(2 * qty);
		for (uint16_t i = 0; i < qty; i++) {
			body[3 + 2 * i] = (uint8_t)((addr + 1000 + i) >> 8);
			body[4 + 2 * i] = (uint8_t)(addr + 1000 + i);
		}
		n = rtu_wrap(ans, body[0], body + 1, 2 + 2 * (size_t)qty);
		switch (p->script[k]) {
		case PEER_SPLIT:
			peer_send(fd, ans, 2);
			sleep_ms(30);
			peer_send(fd, ans + 2, 3);
			sleep_ms(30);
			peer_send(fd, ans + 5, n - 5);
			break;
		case PEER_GARBAGE_FIRST:
			peer_send(fd, (const uint8_t *)"\xff\x01\x55\x01\x03", 5);
			peer_send(fd, ans, n);
			break;
		case PEER_TWICE:
			peer_send(fd, ans, n);
			peer_send(fd, ans, n);
			break;
		case PEER_LATE:
			sleep_ms(p->late_ms);
			peer_send(fd, ans, n);
			break;
		case PEER_BYTEWISE:
			for (size_t i = 0; i < n; i++) {
				peer_send(fd, ans + i, 1);
				sleep_ms(5);
			}
			break;
		case PEER_CHATTER:
			/* until CHATTER_MS or the driver hangs up */
			for (int64_t end = now_ms() + p->chatter_ms; now_ms() < end;) {
				if (peer_send(fd, (const uint8_t *)"\xff\xfe", 2) != 0)
					break;
				sleep_ms(10);
			}
			close(fd);
			fd = peer_accept(p);
			break;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_rtutcp_peer(void)
{
	static const enum peer_mode script[] = {
		PEER_SPLIT, PEER_GARBAGE_FIRST, PEER_TWICE, PEER_SPLIT, PEER_LATE, PEER_SPLIT,
		PEER_BYTEWISE, PEER_CHATTER, PEER_SPLIT,
	};
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t alen = sizeof sa;
	struct peer p = { .script = script, .nscript = sizeof script / sizeof script[0],
			  .late_ms = 500, .chatter_ms = 3000 };
	struct drv_settings bc;
	uint16_t regs[4];
	int exc = 0;
	pthread_t th;

	p.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(p.lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(p.lfd, 1) == 0);
	CHECK(getsockname(p.lfd, (struct sockaddr *)&sa, &alen) == 0);
	CHECK(pthread_create(&th, NULL, peer_main, &p) == 0);
	/* late: 100 ms after the timeout, inside the drain's 200 ms */
	settings_rtutcp(&bc, ntohs(sa.sin_port), 400, 0);
	struct driver *drv = driver_new(&bc);

	check_case = "split over three segments";
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 2, regs, &exc) == DRV_OK);
	CHECK(regs_are(regs, 1000, 1001));
	check_case = "garbage before the answer";
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 10, 3, regs, &exc) == DRV_OK);
	CHECK(regs_are(regs, 1010, 1011) && regs[2] == 1012);
	check_case = "the same answer twice";
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 20, 2, regs, &exc) == DRV_OK);
	CHECK(regs_are(regs, 1020, 1021));
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 30, 2, regs, &exc) == DRV_OK);
	CHECK(regs_are(regs, 1030, 1031));
	check_case = "late answer drained";
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 40, 2, regs, &exc) == DRV_TIMEOUT);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 50, 2, regs, &exc) == DRV_OK);
	CHECK(regs_are(regs, 1050, 1051));
	check_case = "one byte a segment";
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 60, 1, regs, &exc) == DRV_OK);
	CHECK(regs[0] == 1060);
	/* garbage that does not stop (for 3 s): the drain gives up after
	 * 4 x 400 ms, and the next request goes on a new connection (a
	 * reconnect of ours: at debug) */
	check_case = "a line that does not go quiet";
	info_lines = 0;
	int64_t t0 = now_ms();
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 70, 1, regs, &exc) == DRV_CRC);
	int64_t el = now_ms() - t0;
	CHECK(el >= 1900 && el < 2600);
	CHECK(driver_reconnected(drv) == 0);
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 80, 2, regs, &exc) == DRV_OK);
	CHECK(regs_are(regs, 1080, 1081));
	CHECK(driver_reconnected(drv) == 1);
	CHECK(info_lines == 0);
	check_case = "the peer closed";
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 1, regs, &exc) == DRV_LINK);
	check_case = "";
	pthread_join(th, NULL);
	driver_free(drv);
	close(p.lfd);
}

static void test_rtutcp(void)
{
	struct simproc sp;

	snprintf(tmpdir, sizeof tmpdir, "/tmp/yw-test-driver.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		CHECK(!"mkdtemp");
		return;
	}
	driver_set_log(level_log, 3);
	test_rtutcp_peer();
	CHECK(sim_spawn(&sp, 0) == 0);
	if (sp.port > 0) {
		test_rtutcp_sim(&sp);
		test_rtutcp_abort(&sp);
		test_rtutcp_restart(&sp);
	}
	sim_kill(&sp);
	char path[128];
	snprintf(path, sizeof path, "%s/sim.json", tmpdir);
	unlink(path);
	snprintf(path, sizeof path, "%s/sim.log", tmpdir);
	if (failed == 0)
		unlink(path);
	else
		fprintf(stderr, "simulator log kept: %s\n", path);
	rmdir(tmpdir);
}

int main(void)
{
	driver_set_log(count_log, 3);
	test_refused(DRV_BUS_TCP);
	test_refused(DRV_BUS_RTU_TCP);
	test_connect_bounded(DRV_BUS_TCP);
	test_connect_bounded(DRV_BUS_RTU_TCP);
	test_rtutcp();
	return check_report();
}
