/*
 * Tests of the MQTT link against real mosquitto brokers started here on
 * 127.0.0.1 (a plain one and a TLS one with a password file, certificates
 * made with openssl), a subscriber (a threaded libmosquitto client, the
 * test's own "centre"), and the links driven by our own small poll() loop
 * as the daemon drives them. stderr is copied (tee) to a file so that the
 * log lines can be checked.
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
#include "check.h"
#include "mqtt_fixture.h"

int main(void)
{
	struct broker a = { 0 }, t = { 0 };
	struct tl l1, l2, l3, l4, l5;
	char url[128], buf[256];
	int closed_port, mid = 0, mark;
	int64_t t0, l4_start;
	double cpu0;

	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/yw-test-mqtt-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	if (capture_start() < 0) {
		perror("capture stderr");
		return 1;
	}
	log_init(LOG_LVL_INFO);
	mosquitto_lib_init();

	check_case = "setup";
	a.port = free_port();
	t.port = free_port();
	closed_port = free_port();
	CHECK(make_certs() == 0);
	CHECK(broker_config(&a, "plain", false) == 0 && broker_start(&a) == 0);
	CHECK(broker_config(&t, "tls", true) == 0 && broker_start(&t) == 0);
	CHECK(sub_start(a.port) == 0);
	if (failed)
		goto out;

	/* ---- connect, publish, PUBACK, subscriber, command ---- */
	check_case = "connect";
	char a_url[32], t_url[32], c_url[32];
	snprintf(a_url, sizeof a_url, "tcp:%d", a.port);
	snprintf(t_url, sizeof t_url, "tls:%d", t.port);
	snprintf(c_url, sizeof c_url, "tcp:%d", closed_port);
	CHECK(tl_open(&l1, &(struct tl_spec){ .client_id = "yw-test-l1", .urls = { a_url },
					      .will_topic = "yw/t/status",
					      .sub_topic = "yw/t/cmd/+" }) == 0);
	CHECK(mqtt_fd(l1.m) == -1);
	CHECK(!mqtt_connected(l1.m));
	CHECK(mqtt_publish(l1.m, "yw/t/data", "early", 1, false, &mid) == -1);
	WAIT_FOR(l1.connects == 1, 3000);
	CHECK(l1.connects == 1);
	CHECK(mqtt_connected(l1.m));
	CHECK(mqtt_fd(l1.m) >= 0);
	CHECK(mqtt_timeout_ms(l1.m, util_mono_ms()) <= 1000);

	check_case = "publish qos 1";
	CHECK(mqtt_publish(l1.m, "yw/t/data", "hello-1", 1, false, &mid) == 0);
	CHECK(mid > 0);
	WAIT_FOR(l1.last_puback == mid, 3000);
	CHECK(l1.last_puback == mid);
	WAIT_FOR(sub_has("yw/t/data", "hello-1"), 3000);
	CHECK(sub_has("yw/t/data", "hello-1"));

	check_case = "publish qos 0";
	int mid0 = 0, acks = l1.pubacks;
	CHECK(mqtt_publish(l1.m, "yw/t/tele", "t-0", 0, false, &mid0) == 0);
	WAIT_FOR(l1.pubacks > acks && sub_has("yw/t/tele", "t-0"), 3000);
	CHECK(l1.last_puback == mid0);
	CHECK(sub_has("yw/t/tele", "t-0"));

	check_case = "command";
	/* The SUBSCRIBE went out before the PUBLISH acked above. */
	CHECK(mosquitto_publish(sub.mosq, NULL, "yw/t/cmd/ack", 13, "{\"id\":\"r-1\"}", 1,
				false) == MOSQ_ERR_SUCCESS);
	WAIT_FOR(l1.msgs == 1, 3000);
	CHECK(l1.msgs == 1);
	CHECK(strcmp(l1.msg_topic, "yw/t/cmd/ack") == 0);
	CHECK(strcmp(l1.msg_payload, "{\"id\":\"r-1\"}") == 0);

	/* ---- the first broker is unreachable: the second one is used ---- */
	check_case = "failover";
	t0 = util_mono_ms();
	CHECK(tl_open(&l2, &(struct tl_spec){ .client_id = "yw-test-l2",
					      .urls = { c_url, a_url },
					      .will_topic = "yw/t2/status" }) == 0);
	WAIT_FOR(l2.connects == 1, 3000);
	CHECK(l2.connects == 1);
	CHECK(util_mono_ms() - t0 < 900);        /* no backoff inside a round */
	snprintf(url, sizeof url, "WARN mqtt: mqtt://127.0.0.1:%d: connect failed: Connection refused",
		 closed_port);
	CHECK(log_count(0, url) == 1);
	snprintf(url, sizeof url, "INFO mqtt: mqtt://127.0.0.1:%d: connected", a.port);
	CHECK(log_count(0, url) == 2);
	tl_close(&l2);                           /* clean DISCONNECT: no Last Will */

	/* ---- Last Will: the connection drops without a DISCONNECT ---- */
	check_case = "last will";
	CHECK(shutdown(mqtt_fd(l1.m), SHUT_RDWR) == 0);
	WAIT_FOR(l1.disconnects == 1, 3000);
	CHECK(l1.disconnects == 1);
	CHECK(!mqtt_connected(l1.m));
	CHECK(mqtt_publish(l1.m, "yw/t/data", "while-down", 1, false, NULL) == -1);
	WAIT_FOR(sub_has("yw/t/status", "{\"online\": false, \"reason\": \"lost\"}"), 3000);
	CHECK(sub_has("yw/t/status", "{\"online\": false, \"reason\": \"lost\"}"));
	CHECK(fetch_retained(a.port, "yw/t/status", buf, 2000) == 0);
	CHECK(strcmp(buf, "{\"online\": false, \"reason\": \"lost\"}") == 0);

	/* ---- TLS links, running alongside what follows ---- */
	check_case = "tls";
	l4_start = util_mono_ms();
	CHECK(tl_open(&l3, &(struct tl_spec){ .client_id = "yw-test-l3", .urls = { t_url },
					      .ca_file = "ca.crt", .username = "yw",
					      .password = "s3cret" }) == 0);
	CHECK(tl_open(&l4, &(struct tl_spec){ .client_id = "yw-test-l4", .urls = { t_url },
					      .ca_file = "wrong.crt", .username = "yw",
					      .password = "s3cret" }) == 0);
	CHECK(tl_open(&l5, &(struct tl_spec){ .client_id = "yw-test-l5",
					      .urls = { c_url, t_url },
					      .ca_file = "ca.crt", .username = "yw",
					      .password = "wrong" }) == 0);
	WAIT_FOR(l3.connects == 1 && l1.connects == 2, 4000);
	CHECK(l3.connects == 1);
	CHECK(l1.connects == 2);                 /* back after the drop, ~1 s */
	CHECK(mqtt_publish(l3.m, "yw/tls/data", "over-tls", 1, false, &mid) == 0);
	WAIT_FOR(l3.last_puback == mid, 3000);
	CHECK(l3.last_puback == mid);
	CHECK(l4.connects == 0 && l5.connects == 0);
	snprintf(url, sizeof url,
		 "WARN mqtt: mqtts://127.0.0.1:%d: TLS handshake failed: certificate verify failed",
		 t.port);
	WAIT_FOR(log_count(0, url) >= 1, 4000);
	CHECK(log_count(0, url) >= 1);
	snprintf(url, sizeof url,
		 "WARN mqtt: mqtts://127.0.0.1:%d: broker refused the connection: not authorised",
		 t.port);
	WAIT_FOR(log_count(0, url) >= 1, 4000);
	CHECK(log_count(0, url) >= 1);
	CHECK(log_count(0, "s3cret") == 0 && log_count(0, ": wrong") == 0);

	/* ---- the broker dies: on_disconnect, bounded retries, back when it returns ---- */
	check_case = "broker killed";
	broker_kill(&a, SIGKILL);
	WAIT_FOR(l1.disconnects == 2, 3000);
	CHECK(l1.disconnects == 2);
	mark = log_mark();
	cpu0 = cpu_ms();
	t0 = util_mono_ms();
	WAIT_FOR(false, 2500);
	snprintf(url, sizeof url, "WARN mqtt: mqtt://127.0.0.1:%d: connect failed:", a.port);
	int down_attempts = log_count(mark, url);
	CHECK(down_attempts >= 1 && down_attempts <= 4);
	double cpu_used = cpu_ms() - cpu0;
	CHECK(cpu_used < 0.4 * (double)(util_mono_ms() - t0));
	if (cpu_used >= 0.4 * (double)(util_mono_ms() - t0))
		fprintf(stderr, "cpu %.0f ms in %lld ms\n", cpu_used, (long long)(util_mono_ms() - t0));
	CHECK(broker_start(&a) == 0);
	WAIT_FOR(l1.connects == 3, 6000);
	CHECK(l1.connects == 3);

	check_case = "tls refused, bounded";
	snprintf(url, sizeof url,
		 "WARN mqtt: mqtts://127.0.0.1:%d: TLS handshake failed: certificate verify failed",
		 t.port);
	int tls_attempts = log_count(0, url);
	int bound = attempt_bound(util_mono_ms() - l4_start);
	CHECK(tls_attempts >= 2 && tls_attempts <= bound);
	if (tls_attempts > bound)
		fprintf(stderr, "%d attempts, bound %d\n", tls_attempts, bound);
	CHECK(l4.connects == 0 && l5.connects == 0);
	CHECK(mqtt_fd(l4.m) == -1 || !mqtt_connected(l4.m));

	/* ---- clean stop: offline status acknowledged, no Last Will ---- */
	check_case = "shutdown";
	WAIT_FOR(sub_subscribed() >= 2, 4000);   /* the subscriber is back too */
	CHECK(sub_subscribed() >= 2);
	mqtt_shutdown(l1.m, "yw/t/status", "{\"online\": false, \"reason\": \"shutdown\"}", 2000);
	CHECK(!mqtt_connected(l1.m));
	CHECK(mqtt_fd(l1.m) == -1);
	WAIT_FOR(sub_has("yw/t/status", "{\"online\": false, \"reason\": \"shutdown\"}"), 3000);
	CHECK(sub_has("yw/t/status", "{\"online\": false, \"reason\": \"shutdown\"}"));
	usleep(200000);                          /* a Will would be out by now */
	CHECK(fetch_retained(a.port, "yw/t/status", buf, 2000) == 0);
	CHECK(strcmp(buf, "{\"online\": false, \"reason\": \"shutdown\"}") == 0);
	CHECK(fetch_retained(a.port, "yw/t2/status", buf, 300) == -1);
	int connects = l1.connects;
	WAIT_FOR(false, 300);                    /* a stopped link stays down */
	CHECK(l1.connects == connects && mqtt_fd(l1.m) == -1);
	snprintf(url, sizeof url, "offline status not acknowledged");
	CHECK(log_count(0, url) == 0);

	check_case = "bad arguments";
	struct mqtt_cfg none = { .enabled = true };
	CHECK(mqtt_new(&none, NULL, NULL, NULL, &tl_cb, NULL) == NULL);
	mqtt_free(NULL);

out:
	while (nactive > 0)
		tl_close(active[0]);
	sub_stop();
	broker_kill(&a, SIGTERM);
	broker_kill(&t, SIGTERM);
	mosquitto_lib_cleanup();
	if (failed)
		fprintf(stderr, "logs kept in %s\n", tmpdir);
	capture_stop();
	if (!failed)
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
