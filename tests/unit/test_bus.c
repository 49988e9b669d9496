/*
 * test_bus: the bus worker over real Modbus TCP: values of every kind of
 * point, read and write commands, the split of a merged read that meets an
 * unmapped register, and the result queue. The simulator plays the devices
 * (see rig.c); the link failures are in test_bus_link.
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
	struct rig g;
	struct bus_result *r;

	if (rig_up(&g, "values", values_cfg) != 0) {
		CHECK(!"rig_up");
		rig_down(&g);
		return;
	}
	CHECK(sim_ctl(&g.s, "{\"set\": {\"meter.u16\": 1234, \"meter.i16\": -5, \"meter.f32\": 21.5,"
		      " \"meter.u32\": 65538, \"meter.b3\": true, \"meter.b5\": false,"
		      " \"meter.temp\": 25.0, \"meter.relay\": true, \"meter.lamp\": true,"
		      " \"meter.setpoint\": 0, \"meter.raw\": 0, \"meter.ro\": 7,"
		      " \"meter.dec\": 2, \"meter.level\": 4.56,"
		      " \"pt.decimals\": 3, \"pt.pressure\": 0.352}}", NULL, 0) == 0);

	if (rig_start(&g) != 0) {
		CHECK(!"rig_start");
		goto out;
	}

	r = wait_result(g.q, BUS_RES_POLL, 0, 3000, NULL);
	CHECK(r != NULL);
	if (r) {
		static const double want[P_COUNT] = { 1234, -5, 21.5, 65538, 1, 0, 25.0, 1, 1, 0, 0,
						      7, 4.56, 2 };
		const struct device_cfg *d = &g.cfg->devices[0];
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
	r = wait_result(g.q, BUS_RES_POLL, 1, 3000, NULL);
	int ip = config_find_point(&g.cfg->devices[1], "pressure");
	CHECK(r && r->ok && ip >= 0 && r->quality[ip] == Q_GOOD && near(r->values[ip], 0.352));
	bus_result_free(r);

	/* read commands */
	r = command(g.w, g.q, 1, ip, false, 0);
	CHECK(r && r->cmd_ok && r->cmd_has_value && near(r->cmd_value, 0.352));
	CHECK(r && strcmp(r->cmd.req_id, "req-1-4") == 0);
	bus_result_free(r);
	r = command(g.w, g.q, 0, P_F32, false, 0);
	CHECK(r && r->cmd_ok && near(r->cmd_value, 21.5));
	bus_result_free(r);

	/* a coil: write, read back */
	r = command(g.w, g.q, 0, P_RELAY, true, 0);
	CHECK(r && r->cmd_ok && r->cmd_has_value && r->cmd_value == 0);
	bus_result_free(r);
	CHECK(sim_get_is(&g.s, "meter.relay", "false"));
	r = command(g.w, g.q, 0, P_RELAY, true, 1);
	CHECK(r && r->cmd_ok && r->cmd_value == 1);
	bus_result_free(r);
	CHECK(sim_get_is(&g.s, "meter.relay", "true"));

	/* a scaled holding register */
	r = command(g.w, g.q, 0, P_SETPOINT, true, 12.3);
	CHECK(r && r->cmd_ok && near(r->cmd_value, 12.3));
	if (r && !r->cmd_ok)
		fprintf(stderr, "write setpoint: %s\n", r->error);
	bus_result_free(r);
	CHECK(sim_get_is(&g.s, "meter.setpoint", "12.3"));

	/* scaled by the device's decimals register, read first */
	r = command(g.w, g.q, 0, P_LEVEL, true, 1.23);
	CHECK(r && r->cmd_ok && near(r->cmd_value, 1.23));
	bus_result_free(r);
	CHECK(sim_get_is(&g.s, "meter.level", "1.23"));

	/* one bit of a register: the bit next to it stays */
	r = command(g.w, g.q, 0, P_B5, true, 1);
	CHECK(r && r->cmd_ok && r->cmd_value == 1);
	bus_result_free(r);
	CHECK(sim_get_is(&g.s, "meter.b5", "true"));
	CHECK(sim_get_is(&g.s, "meter.b3", "true"));

	/* refused before anything is sent */
	long writes = sim_requests_settled(&g.s, "meter", "writes");
	r = command(g.w, g.q, 0, P_RAW, true, 70000);
	CHECK(r && !r->cmd_ok && strcmp(r->error, "value out of range for uint16") == 0);
	bus_result_free(r);
	r = command(g.w, g.q, 0, P_RAW, true, -1);
	CHECK(r && !r->cmd_ok && strcmp(r->error, "value out of range for uint16") == 0);
	bus_result_free(r);
	r = command(g.w, g.q, 0, P_SETPOINT, true, 60);
	CHECK(r && !r->cmd_ok && strstr(r->error, "out of range") != NULL);
	bus_result_free(r);
	r = command(g.w, g.q, 0, P_RELAY, true, 2);
	CHECK(r && !r->cmd_ok && strcmp(r->error, "value out of range for bool") == 0);
	bus_result_free(r);
	r = command(g.w, g.q, 0, P_RO, true, 1);
	CHECK(r && !r->cmd_ok && strstr(r->error, "not writable") != NULL);
	bus_result_free(r);
	CHECK(sim_requests_settled(&g.s, "meter", "writes") == writes);
	CHECK(sim_get_is(&g.s, "meter.raw", "0"));

	/* the device refuses the write */
	CHECK(sim_ctl(&g.s, "{\"exception\": {\"device\": \"meter\", \"code\": 4}}", NULL, 0) == 0);
	r = command(g.w, g.q, 0, P_RAW, true, 7);
	CHECK(r && !r->cmd_ok && strstr(r->error, "exception 4") != NULL);
	bus_result_free(r);
	CHECK(sim_ctl(&g.s, "{\"exception\": {\"device\": \"meter\", \"code\": 0}}", NULL, 0) == 0);

	/* the device does not answer */
	CHECK(sim_ctl(&g.s, "{\"offline\": \"meter\"}", NULL, 0) == 0);
	r = command(g.w, g.q, 0, P_U16, false, 0);
	CHECK(r && !r->cmd_ok && strcmp(r->error, "device did not answer (timeout)") == 0);
	CHECK(r && !r->cmd_has_value);
	bus_result_free(r);

	CHECK(bus_submit(g.w, &(struct bus_cmd){ .dev_id = "meter", .pt = 99 }) == -1);
	CHECK(bus_submit(g.w, &(struct bus_cmd){ .dev_id = "nope", .pt = 0 }) == -1);
out:
	rig_down(&g);
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
	struct rig g;

	if (rig_up(&g, "split", json) != 0) {
		CHECK(!"rig_up");
		rig_down(&g);
		return;
	}
	CHECK(sim_ctl(&g.s, "{\"set\": {\"pump.r0\": 100, \"pump.r1\": 101, \"pump.r2\": 102,"
		      " \"pump.r3\": 103}}", NULL, 0) == 0);
	CHECK(sim_ctl(&g.s, "{\"illegal\": {\"device\": \"pump\", \"table\": \"holding\","
		      " \"start\": 2, \"count\": 1}}", NULL, 0) == 0);

	CHECK(rig_start(&g) == 0);
	for (int poll = 0; g.w && poll < 2; poll++) {
		struct bus_result *r = wait_result(g.q, BUS_RES_POLL, 0, 3000, NULL);
		long n = sim_requests_reach(&g.s, "pump", "requests", poll == 0 ? 5 : 8);
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
	rig_down(&g);
}

static const char cmds_cfg[] =
	"{\"site\": {\"id\": \"t\", \"name\": \"t\", \"gateway\": \"gw\"},\n"
	" \"buses\": [{\"id\": \"lan\", \"type\": \"tcp\", \"host\": \"127.0.0.1\", \"port\": 502,"
	"  \"timeout_ms\": 100, \"retries\": 0}],\n"
	" \"devices\": [\n"
	"  {\"id\": \"pt\", \"bus\": \"lan\", \"unit\": 2, \"profile\": \"pressure-transmitter\","
	"   \"poll_ms\": 200},\n"
	"  {\"id\": \"dead\", \"bus\": \"lan\", \"unit\": 3, \"poll_ms\": %d, \"offline_after\": %d,"
	"   \"points\": [{\"name\": \"v\", \"table\": \"holding\", \"address\": 0,"
	"   \"type\": \"uint16\"}]}]}\n";

static enum bus_submit_rc submit_read(struct bus_worker *w, const char *dev, int i)
{
	struct bus_cmd c;

	memset(&c, 0, sizeof c);
	snprintf(c.req_id, sizeof c.req_id, "burst-%d", i);
	snprintf(c.dev_id, sizeof c.dev_id, "%s", dev);
	return bus_submit(w, &c);
}

/*
 * A burst of reads for a device that does not answer (100 ms each): at most
 * BUS_CMD_QUEUE_MAX wait, the rest are refused at once (busy); every accepted
 * one is answered; meanwhile the pressure transmitter keeps its poll rate
 * (commands run between polls, one at most while a poll is due). Then the
 * device is offline: commands for it are refused without a request.
 */
static void test_commands_bounded(void)
{
	char json[2048], path[256];
	struct tally t;
	struct rig g;
	int ok = 0, busy = 0, answered = 0;

	memset(&t, 0, sizeof t);
	snprintf(json, sizeof json, cmds_cfg, 60000, 2);
	if (rig_up(&g, "cmds", json) != 0 || rig_start(&g) != 0) {
		CHECK(!"rig_up");
		rig_down(&g);
		return;
	}
	CHECK(sim_ctl(&g.s, "{\"offline\": \"dead\"}", NULL, 0) == 0);
	/* the first poll of dead fails: one failure of offline_after 2 */
	struct bus_result *r = wait_result(g.q, BUS_RES_POLL, 1, 3000, NULL);
	CHECK(r && !r->ok);
	bus_result_free(r);

	int64_t t0 = now_ms();
	for (int i = 0; i < 40; i++) {
		enum bus_submit_rc rc = submit_read(g.w, "dead", i);
		ok += rc == BUS_SUBMIT_OK;
		busy += rc == BUS_SUBMIT_BUSY;
	}
	CHECK(ok >= BUS_CMD_QUEUE_MAX && ok <= BUS_CMD_QUEUE_MAX + 1);
	CHECK(ok + busy == 40);
	while (answered < ok && (r = wait_result(g.q, BUS_RES_CMD, 1, 3000, &t)) != NULL) {
		CHECK(!r->cmd_ok && strstr(r->error, "timeout") != NULL);
		CHECK(strcmp(r->dev_id, "dead") == 0);
		answered++;
		bus_result_free(r);
	}
	int64_t took = now_ms() - t0;
	CHECK(answered == ok);
	/* ~16 x 100 ms of commands; pt is due every 200 ms and polled between them */
	long want = (long)(took / 200);
	fprintf(stderr, "  %d commands in %lld ms, pt polled %d times (due %ld)\n", answered,
		(long long)took, t.polls[0], want);
	CHECK(t.polls[0] >= want * 3 / 4);
	CHECK(t.ok[0] == t.polls[0]);

	/* offline: refused at once, nothing sent */
	CHECK(sim_ctl(&g.s, "{\"offline\": \"dead\"}", NULL, 0) == 0);
	bus_stop(g.w, 2000);
	pending_free();
	snprintf(json, sizeof json, cmds_cfg, 200, 1);
	struct config *cfg1 = load_cfg("cmds1", json, g.s.port, path, sizeof path);
	CHECK(cfg1 != NULL);
	g.w = cfg1 ? bus_start(cfg1, 0, g.q) : NULL;
	r = g.w ? wait_result(g.q, BUS_RES_POLL, 1, 3000, NULL) : NULL;
	CHECK(r && !r->ok && r->consecutive_failures == 1);
	bus_result_free(r);
	long before = sim_requests_settled(&g.s, "dead", "requests");
	if (g.w) {
		CHECK(submit_read(g.w, "dead", 99) == BUS_SUBMIT_OFFLINE);
		CHECK(submit_read(g.w, "pt", 0) == BUS_SUBMIT_OK);
		r = wait_result(g.q, BUS_RES_CMD, 0, 3000, NULL);
		CHECK(r && r->cmd_ok);
		bus_result_free(r);
	}
	CHECK(sim_requests(&g.s, "dead", "requests") == before);
	rig_down(&g);
	config_free(cfg1);
}

/* bus_runs: a worker goes on under a config that says the same for its bus,
 * not under one that changes the bus or any of its devices. */
static void test_runs(void)
{
	char json[2048], path[256];
	struct rig g;

	snprintf(json, sizeof json, cmds_cfg, 1000, 3);
	if (rig_up(&g, "runs", json) != 0 || rig_start(&g) != 0) {
		CHECK(!"rig_up");
		rig_down(&g);
		return;
	}
	struct config *same = load_cfg("runs-same", json, g.s.port, path, sizeof path);
	snprintf(json, sizeof json, cmds_cfg, 1500, 3);
	struct config *poll = load_cfg("runs-poll", json, g.s.port, path, sizeof path);
	struct config *port = load_cfg("runs-port", json, g.s.port + 1, path, sizeof path);
	CHECK(same && poll && port);
	if (same && poll && port) {
		CHECK(bus_runs(g.w, g.cfg, 0));
		CHECK(bus_runs(g.w, same, 0));
		CHECK(!bus_runs(g.w, poll, 0));
		CHECK(!bus_runs(g.w, port, 0));
		CHECK(bus_same_line(g.w, poll, 0));
		CHECK(!bus_same_line(g.w, port, 0));
		same->devices[0].points[0].scale = 2;   /* a point of a device */
		CHECK(!bus_runs(g.w, same, 0));
		CHECK(strcmp(bus_id(g.w), "lan") == 0);
	}
	config_free(same);
	config_free(poll);
	config_free(port);
	rig_down(&g);
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

int main(void)
{
	int64_t t0 = now_ms();

	signal(SIGPIPE, SIG_IGN);
	log_init(getenv("YW_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	rig_failed = &failed;
	if (rig_setup("bus") != 0)
		failed++;
	else {
		rig_run("values_and_commands", test_values_and_commands);
		rig_run("split", test_split);
		rig_run("commands_bounded", test_commands_bounded);
		rig_run("runs", test_runs);
	}
	rig_run("queue", test_queue);
	rig_teardown();
	fprintf(stderr, "took %lld ms\n", (long long)(now_ms() - t0));
	return check_report();
}
