/*
 * http_metrics: /metrics in the Prometheus text format 0.0.4, named as
 * Prometheus asks (the yardwatch_ prefix, base units, _total on counters,
 * a build_info gauge of 1): the gateway (start, clock, build), each device
 * (up, last good poll), each good point's value, each alarm (active or
 * not), the Modbus work of each bus, each MQTT link (connected, queue), the
 * store's size, and the standard process_* set read from /proc/self. Label
 * values are escaped (hb_label). docs/status-page.md lists every family.
 *
 * All of it comes from the live snapshot and its view of the config (and
 * /proc/self): no store query, so a scrape every second costs little.
 */
#include "http_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../drivers/numfmt.h"
#include "version.h"

static void family(struct hbuf *b, const char *name, const char *type, const char *help)
{
	hb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* NAME{K1="V1",K2="V2",...} with N label pairs (NULL values skipped). */
static void sample(struct hbuf *b, const char *name, int n, const char *const *kv)
{
	hb_puts(b, name);
	for (int i = 0; i < n; i++) {
		hb_printf(b, "%s%s=\"", i ? "," : "{", kv[2 * i]);
		hb_label(b, kv[2 * i + 1]);
		hb_puts(b, "\"");
	}
	hb_puts(b, n ? "} " : " ");
}

static void sample_int(struct hbuf *b, const char *name, int n, const char *const *kv, long long v)
{
	sample(b, name, n, kv);
	hb_printf(b, "%lld\n", v);
}

static void sample_real(struct hbuf *b, const char *name, int n, const char *const *kv, double v)
{
	char num[NUMFMT_LEN];

	sample(b, name, n, kv);
	hb_printf(b, "%s\n", numfmt_double(v, num, sizeof num));
}

/* ---- process_* ---------------------------------------------------------- */

static long long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long long n = 0;
	struct dirent *e;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;   /* not the directory's own */
}

/* The standard set of Prometheus's client libraries, from /proc/self/stat
 * (the start time without /proc/stat, which the unit's ProcSubset=pid
 * hides: the boot-relative start against CLOCK_BOOTTIME). */
static void metrics_process(struct hbuf *b, int64_t now)
{
	char buf[1024], *p;
	unsigned long long f[24] = { 0 };
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct timespec boot;
	struct rlimit rl;
	FILE *fp = fopen("/proc/self/stat", "r");
	size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;

	if (fp)
		fclose(fp);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || tck <= 0 || page <= 0)
		return;
	/* f[k] is field k + 3 of proc(5): after ") " comes the state, a letter */
	p += 2;
	while (*p && *p != ' ')
		p++;
	for (int i = 1; i < 22 && *p; i++)
		f[i] = strtoull(p, &p, 10);
	family(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
	sample_real(b, "process_cpu_seconds_total", 0, NULL, (double)(f[11] + f[12]) / (double)tck);
	family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	sample_int(b, "process_resident_memory_bytes", 0, NULL, (long long)f[21] * page);
	family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
	sample_int(b, "process_virtual_memory_bytes", 0, NULL, (long long)f[20]);
	family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
	sample_int(b, "process_open_fds", 0, NULL, open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
		sample_int(b, "process_max_fds", 0, NULL,
			   rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
	}
	if (clock_gettime(CLOCK_BOOTTIME, &boot) == 0) {
		double up = (double)boot.tv_sec + boot.tv_nsec / 1e9 - (double)f[19] / (double)tck;
		family(b, "process_start_time_seconds", "gauge",
		       "Start time of the process since unix epoch in seconds.");
		sample_real(b, "process_start_time_seconds", 0, NULL,
			    (double)(int64_t)((double)now / 1e3 - up));
	}
}

/* ---- the gateway ---------------------------------------------------------- */

static void metrics_live(const struct http_ctx *c, struct hbuf *b)
{
	const struct http_live *l = c->live;
	const struct http_view *v = c->view;
	static const char *const kinds[] = { "timeout", "exception", "crc", "gateway", "other" };

	family(b, "yardwatch_start_time_seconds", "gauge", "When yardwatchd started, in seconds since the epoch.");
	sample_real(b, "yardwatch_start_time_seconds", 0, NULL, (double)l->started_ms / 1e3);
	family(b, "yardwatch_clock_set", "gauge",
	       "1 when the gateway's wall clock is set, 0 while its times are estimates.");
	sample_int(b, "yardwatch_clock_set", 0, NULL, l->clock_set);
	family(b, "yardwatch_modbus_requests_total", "counter",
	       "Modbus requests that failed since the daemon started, by bus and kind.");
	for (size_t i = 0; i < v->nbuses; i++) {
		const struct http_modbus *m = &l->bus_n[i];
		const int64_t n[] = { m->timeout, m->exception, m->crc, m->gateway, m->other };
		for (int k = 0; k < 5; k++) {
			const char *kv[] = { "bus", v->buses[i], "result", kinds[k] };
			sample_int(b, "yardwatch_modbus_requests_total", 2, kv, (long long)n[k]);
		}
	}
	family(b, "yardwatch_modbus_polls_total", "counter",
	       "Device polls since the daemon started, by bus and result (ok: the device answered).");
	for (size_t i = 0; i < v->nbuses; i++) {
		const char *ok[] = { "bus", v->buses[i], "result", "ok" };
		const char *bad[] = { "bus", v->buses[i], "result", "failed" };
		sample_int(b, "yardwatch_modbus_polls_total", 2, ok, (long long)l->bus_n[i].polls_ok);
		sample_int(b, "yardwatch_modbus_polls_total", 2, bad, (long long)l->bus_n[i].polls_failed);
	}
	family(b, "yardwatch_uplink_connected", "gauge", "1 when the MQTT link is connected.");
	for (size_t i = 0; i < l->nuplinks; i++) {
		const char *kv[] = { "uplink", l->uplinks[i].id };
		sample_int(b, "yardwatch_uplink_connected", 1, kv, l->uplinks[i].connected);
	}
	family(b, "yardwatch_outbox_depth", "gauge",
	       "Messages of the MQTT link waiting for the broker's acknowledgement.");
	for (size_t i = 0; i < l->nuplinks; i++) {
		const char *kv[] = { "uplink", l->uplinks[i].id };
		sample_int(b, "yardwatch_outbox_depth", 1, kv, (long long)l->uplinks[i].outbox_depth);
	}
}

static void metrics_devices(const struct http_ctx *c, struct hbuf *b)
{
	const struct http_live *l = c->live;
	const struct http_view *v = c->view;

	family(b, "yardwatch_device_up", "gauge",
	       "1 when the device answers its polls, 0 when it does not (disabled devices are not listed).");
	for (size_t d = 0; d < v->ndevs; d++) {
		const char *kv[] = { "device", v->devs[d].id, "bus", v->devs[d].bus };
		if (v->devs[d].enabled)
			sample_int(b, "yardwatch_device_up", 2, kv, l->devs[d].state == 1);
	}
	family(b, "yardwatch_device_last_ok_timestamp_seconds", "gauge",
	       "The device's last good poll since the daemon started, in seconds since the epoch.");
	for (size_t d = 0; d < v->ndevs; d++) {
		const char *kv[] = { "device", v->devs[d].id };
		if (l->devs[d].last_ok_ms > 0)
			sample_real(b, "yardwatch_device_last_ok_timestamp_seconds", 1, kv,
				    (double)l->devs[d].last_ok_ms / 1e3);
	}
	family(b, "yardwatch_point_value", "gauge",
	       "The latest value of each point whose latest read was good, in its unit (bool: 0 or 1).");
	for (size_t d = 0; d < v->ndevs; d++) {
		for (size_t i = v->devs[d].first; i < v->devs[d].first + v->devs[d].npoints; i++) {
			const struct http_view_point *p = &v->points[i];
			const char *kv[] = { "device", v->devs[d].id, "point", p->name, "unit", p->unit };
			if (l->quality[i] == Q_GOOD)
				sample_real(b, "yardwatch_point_value", 3, kv,
					    p->type == TYPE_BOOL ? (l->values[i] != 0) : l->values[i]);
		}
	}
}

/* Every alarm of the config and every device's offline alarm, 0 or 1. */
static void metrics_alarms(const struct http_ctx *c, struct hbuf *b)
{
	const struct http_live *l = c->live;
	const struct http_view *v = c->view;
	char id[YW_FULLID_MAX];

	family(b, "yardwatch_alarm_active", "gauge", "1 while the alarm is active, else 0.");
	for (size_t i = 0; i < v->nalarms; i++) {
		const struct http_view_alarm *a = &v->alarms[i];
		const char *kv[] = { "alarm", a->id, "severity", config_severity_name(a->severity),
				     "category", config_category_name(a->category) };
		sample_int(b, "yardwatch_alarm_active", 3, kv, l->alarm_active[i]);
	}
	for (size_t d = 0; d < v->ndevs; d++) {
		const struct http_view_dev *vd = &v->devs[d];
		snprintf(id, sizeof id, "%s.offline", vd->id);
		const char *kv[] = { "alarm", id, "severity", config_severity_name(vd->offline_severity),
				     "category", config_category_name(vd->category) };
		sample_int(b, "yardwatch_alarm_active", 3, kv, l->devs[d].offline_active);
	}
}

int http_metrics(struct http_ctx *c, struct hbuf *b)
{
	const char *kv[] = { "version", YW_VERSION };

	family(b, "yardwatch_build_info", "gauge", "The version of yardwatchd, as a label; always 1.");
	sample_int(b, "yardwatch_build_info", 1, kv, 1);
	metrics_live(c, b);
	metrics_devices(c, b);
	metrics_alarms(c, b);
	family(b, "yardwatch_store_bytes", "gauge", "What the store takes on disk: the file and its WAL.");
	sample_int(b, "yardwatch_store_bytes", 0, NULL, (long long)c->store_bytes);
	metrics_process(b, c->now);
	return 200;
}
