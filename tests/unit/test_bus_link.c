/*
 * test_bus_link: the bus worker when the link fails: a silent device backs
 * off while its neighbour keeps its rate, a simulator that dies and comes
 * back on the same port, a stop while a request is blocked, RTU over a socat
 * pty pair (inter-frame delay, silence, RS-485 mode refused on a pty), and a
 * stop while the worker hangs in a TCP connect.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "rig.h"

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
	struct rig g;
	struct tally tl;

	if (rig_up(&g, "backoff", json) != 0) {
		CHECK(!"rig_up");
		rig_down(&g);
		return;
	}
	CHECK(sim_ctl(&g.s, "{\"offline\": \"dead\"}", NULL, 0) == 0);

	memset(&tl, 0, sizeof tl);
	CHECK(rig_start(&g) == 0);
	int64_t t0 = now_ms();
	drain(g.q, 3000, &tl);
	int64_t el = now_ms() - t0;
	bus_stop(g.w, 2000);
	g.w = NULL;
	drain(g.q, 0, &tl);
	long dead_requests = sim_requests_settled(&g.s, "dead", "requests");

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
	rig_down(&g);
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
	struct rig g;
	struct tally tl;

	if (rig_up(&g, "reconnect", json) != 0) {
		CHECK(!"rig_up");
		rig_down(&g);
		return;
	}
	int port = g.s.port;
	CHECK(sim_ctl(&g.s, "{\"set\": {\"gw.v\": 42}}", NULL, 0) == 0);

	memset(&tl, 0, sizeof tl);
	CHECK(rig_start(&g) == 0);
	struct bus_result *r = wait_result(g.q, BUS_RES_POLL, 0, 3000, NULL);
	CHECK(r && r->ok && r->values[0] == 42);
	bus_result_free(r);

	/* killed: polls fail (reset, then refused), counted as "other" */
	sim_stop(&g.s, SIGKILL);
	drain(g.q, 600, &tl);
	CHECK(tl.failed[0] >= 1);
	CHECK(tl.other[0] >= 1);
	CHECK(tl.timeouts[0] == 0);

	/* back on the same port: good again, from a new connection */
	char path[256];
	snprintf(path, sizeof path, "%s/reconnect.json", tmpdir);
	CHECK(sim_start(&g.s, "reconnect2", path, port, NULL) == 0);
	CHECK(g.s.port == port);
	CHECK(sim_ctl(&g.s, "{\"set\": {\"gw.v\": 43}}", NULL, 0) == 0);
	bool back = false;
	int64_t end = now_ms() + 4000;
	while (!back && now_ms() < end) {
		r = wait_result(g.q, BUS_RES_POLL, 0, 1000, NULL);
		if (r && r->ok) {
			back = true;
			CHECK(r->values[0] == 43 && r->consecutive_failures == 0);
		}
		bus_result_free(r);
	}
	CHECK(back);
	rig_down(&g);
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
	struct rig g;

	if (rig_up(&g, "stop", json) != 0) {
		CHECK(!"rig_up");
		rig_down(&g);
		return;
	}
	CHECK(sim_ctl(&g.s, "{\"offline\": \"mute\"}", NULL, 0) == 0);

	CHECK(rig_start(&g) == 0);
	CHECK(sim_requests_reach(&g.s, "mute", "requests", 1) == 1);   /* now blocked */
	int64_t t0 = now_ms();
	bus_stop(g.w, 1000);
	int64_t el = now_ms() - t0;
	CHECK(el < 500);
	CHECK(bus_queue_take(g.q) == NULL);       /* nothing after a stop */
	g.w = NULL;
	rig_down(&g);
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

int main(void)
{
	int64_t t0 = now_ms();

	signal(SIGPIPE, SIG_IGN);
	log_init(getenv("YW_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	rig_failed = &failed;
	if (rig_setup("buslink") != 0)
		failed++;
	else {
		rig_run("backoff", test_backoff);
		rig_run("reconnect", test_reconnect);
		rig_run("stop_blocked", test_stop_blocked);
		rig_run("rtu", test_rtu);
	}
	rig_run("connect_bounded", test_connect_bounded);
	rig_teardown();
	fprintf(stderr, "took %lld ms\n", (long long)(now_ms() - t0));
	return check_report();
}
