/*
 * stats: per-device statistics and the state log (docs/store.md, "Device
 * state and availability"). Owns a poll's journal entry (its counts are
 * summed into devices and device_stats by the fold), devices.state, and the
 * device_log rows: online / offline changes, and -1 for time the gateway
 * did not watch the device (a clean stop, disabled, removed).
 */
#include "store_int.h"

#include <string.h>

static const char sql_device_state[] =
	"UPDATE devices SET state = ?2"
	" WHERE id = ?1 AND state NOT IN ('disabled', 'removed')";

static const char sql_log_add[] = "INSERT INTO device_log (device, ts, online) VALUES (?1, ?2, ?3)";

static const char sql_log_last[] =
	"SELECT online FROM device_log WHERE device = ?1"
	" ORDER BY ts DESC, rowid DESC LIMIT 1";

/* The last device_log state of DEVICE: 1, 0, or -1 (none / not monitored). */
int store_log_last(struct store *st, const char *device, int *out)
{
	sqlite3_stmt *s = store_stmt(st, sql_log_last);
	int r;

	*out = -1;
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
	r = store_row(st, s, "read device log");
	if (r <= 0)
		return r;
	*out = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	return 0;
}

int store_log_add(struct store *st, const char *device, int64_t ts, int online)
{
	sqlite3_stmt *s = store_stmt(st, sql_log_add);

	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, ts);
	sqlite3_bind_int(s, 3, online);
	return store_run(st, s, "write device log");
}

static bool store_dev_ok(struct store *st, int dev)
{
	if (!st->cfg || dev < 0 || (size_t)dev >= st->cfg->ndevices) {
		log_error("store", "statistics for an unknown device %d", dev);
		return false;
	}
	return true;
}

int store_device_state(struct store *st, int dev, int64_t ts_ms, bool online)
{
	const struct device_cfg *dc;
	sqlite3_stmt *s;

	if (!store_dev_ok(st, dev))
		return -1;
	dc = &st->cfg->devices[dev];
	if (!dc->enabled)
		return 0;
	if (store_batch(st) < 0 || !(s = store_stmt(st, sql_device_state)))
		return -1;
	sqlite3_bind_text(s, 1, dc->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, online ? "online" : "offline", -1, SQLITE_STATIC);
	if (store_run(st, s, "write device state") < 0)
		return -1;
	if (st->devs[dev].logged == (online ? 1 : 0))
		return 0;
	if (store_log_add(st, dc->id, ts_ms, online ? 1 : 0) < 0)
		return -1;
	st->devs[dev].logged = online ? 1 : 0;
	return 0;
}

static uint8_t store_count8(int n)
{
	return n < 0 ? 0 : n > 255 ? 255 : (uint8_t)n;
}

int store_device_poll(struct store *st, int dev, const struct store_poll *p)
{
	struct store_ent e;

	if (!store_dev_ok(st, dev))
		return -1;
	memset(&e, 0, sizeof e);
	e.ts = p->ts_ms;
	e.id = (uint32_t)st->devs[dev].num;
	e.q = p->ok;
	e.cnt[0] = store_count8(p->timeouts);
	e.cnt[1] = store_count8(p->exceptions);
	e.cnt[2] = store_count8(p->crc);
	e.cnt[3] = store_count8(p->other);
	e.cnt[4] = store_count8(p->gateway);
	e.kind = p->ok && !(e.cnt[0] | e.cnt[1] | e.cnt[2] | e.cnt[3] | e.cnt[4]) ? SE_OK : SE_ERR;
	if (store_pend(st, &e) < 0)
		return -1;

	/* A poll that worked means the device is online, whatever the caller's
	 * own bookkeeping says (e.g. right after a restart). */
	if (p->ok && st->devs[dev].logged != 1)
		return store_device_state(st, dev, p->ts_ms, true);
	return 0;
}

/* Mark every monitored device "not monitored" in the device log: the time the
 * daemon is stopped counts neither as online nor as offline. */
void store_log_unmonitored(struct store *st, int64_t ts)
{
	if (!st->cfg)
		return;
	for (size_t d = 0; d < st->cfg->ndevices; d++) {
		if (st->devs[d].logged == -1)
			continue;
		if (store_batch(st) < 0 || store_log_add(st, st->cfg->devices[d].id, ts, -1) < 0)
			return;
		st->devs[d].logged = -1;
	}
}
