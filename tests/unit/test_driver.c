/*
 * test_driver: the Modbus driver on its own (it links drivers/ only): error
 * classes against a port nobody listens on, abort, and a TCP connect that
 * gets no answer (a listener whose backlog is full) bounded by the bus's
 * timeout. The driver against the simulator is in test_bus.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../drivers/driver.h"
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

/* Driver error classes against a port nobody listens on; abort. */
static void test_refused(void)
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

/* A TCP connect that gets no answer is bounded by the bus's timeout. */
static void test_connect_bounded(void)
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
	struct driver *drv = driver_new(&bc);
	int64_t t0 = now_ms();
	CHECK(driver_read(drv, 1, TABLE_HOLDING, 0, 1, regs, &exc) == DRV_TIMEOUT);
	int64_t el = now_ms() - t0;
	CHECK(el >= 350 && el < 1000);           /* two tries of 200 ms */
	driver_free(drv);
	close(filler);
	close(l);
}

int main(void)
{
	driver_set_log(count_log, 3);
	test_refused();
	test_connect_bounded();
	return check_report();
}
