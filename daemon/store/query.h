/*
 * query: read-only questions to the store, answered as plain C rows. The
 * command line (yardwatch) and the status page ask the same questions and
 * get the same answers; how they print them (tables, JSON, CSV) is theirs
 * (query_json.h turns these rows into the SPEC's JSON).
 *
 * Owns: a read-only connection to the store file (WAL: it reads while the
 * daemon writes; a WAL file without its -wal in a directory we may not write
 * is read as an immutable file), the schema version check, and every SQL
 * statement that reads the store's tables and views for a reader
 * (docs/store.md "The command line's view" says what each figure means).
 * It never writes the store and never prints.
 *
 * Ownership: every array or struct a function fills is the caller's, freed
 * with the matching free function. Strings inside rows are fixed-size arrays
 * (ids are at most 63 characters), so there is one allocation per array.
 *
 * Errors: functions return QUERY_OK (0), QUERY_ERROR (-1) or, where said,
 * QUERY_NOT_FOUND (-2). After a failure query_error() is the message, ready
 * to print after "yardwatch: " (e.g. "PATH: devices: database is locked",
 * "no such device: b9"). Times are wall-clock ms since the epoch (UTC);
 * QUERY_NO_TIME is a time that is not there (SQL NULL).
 */
#ifndef YW_QUERY_H
#define YW_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config.h"

#define QUERY_NO_TIME INT64_MIN
#define QUERY_NCATEGORIES (CAT_SYSTEM + 1)
#define QUERY_NSEVERITIES (SEV_WARNING + 1)

enum query_rc { QUERY_OK = 0, QUERY_ERROR = -1, QUERY_NOT_FOUND = -2 };

struct query;

/* status: the gateway summary. */
struct query_status {
	char *site, *site_name, *gateway;   /* owned; NULL when not recorded */
	int64_t devices_online;             /* state 'online' */
	int64_t devices_total;              /* every device not removed */
	int64_t alarms_active;
	int64_t outbox_depth;               /* unsent outbox rows */
	int64_t db_bytes;                   /* the footprint: the file plus its -wal */
	int64_t wal_bytes;                  /* the -wal alone */
	int64_t max_bytes;                  /* storage.max_mb as the daemon last applied it;
	                                       -1 when not recorded */
	int64_t first_ts, last_ts;          /* oldest, newest reading */
	int64_t created, opened;            /* the store's creation, the daemon's last open */
};

/* devices: one per device not removed, in config order. */
struct query_device {
	char id[YW_ID_MAX];
	char bus[YW_ID_MAX];
	char state[16];                     /* online | offline | disabled */
	int64_t unit_id;
	int64_t last_ok;                    /* last good poll */
	int64_t polls, errors;              /* since the device was first configured */
};

/* A stored reading. VALUE is meaningful when HAS_VALUE (quality good). */
struct query_reading {
	int64_t ts;
	bool has_value;
	double value;
	enum yw_quality quality;
};

/* points: the latest stored reading of each point, with the time it was
 * last confirmed by a read (docs/store.md, "The command line's view"). */
struct query_point {
	char id[YW_FULLID_MAX];             /* DEVICE.POINT */
	char device[YW_ID_MAX];
	char point[YW_ID_MAX];
	char unit[YW_TEXT_MAX];             /* "" when none */
	enum yw_type type;                  /* a type name this program does not know: float64 */
	struct query_reading latest;        /* ts: when a read last confirmed it (the
	                                       device's last good poll, when that read
	                                       it unchanged), QUERY_NO_TIME: never read;
	                                       quality stale while the device is not
	                                       online */
	int64_t stored_ts;                  /* the stored reading's own time */
};

/* alarms: an alarm event as stored, i.e. the JSON published on MQTT. */
struct query_event {
	char alarm[YW_FULLID_MAX];
	int64_t seq;
	int64_t ts;                         /* the event's time (active alarms: raised_ts) */
	char *json;                         /* owned; the event document, "" when missing */
};

/* report: one device's figures over the period. */
struct query_report_device {
	char id[YW_ID_MAX];
	bool has_availability;              /* false: no part of the period was watched */
	double availability_pct;            /* online / (online + offline), rounded to 0.01 */
	int64_t online_ms, offline_ms;
	int64_t longest_outage_ms;          /* longest run of offline time */
	int64_t polls, timeouts, exceptions, crc, other;
	int64_t gateway;         /* exceptions 10/11: the device behind a gateway */
};

struct query_report {
	int64_t since, until;
	struct query_report_device *devices;  /* owned, config order */
	size_t ndevices;
	int64_t by_category[QUERY_NCATEGORIES];  /* raised events, by enum yw_category */
	int64_t by_severity[QUERY_NSEVERITIES];  /* raised events, by enum yw_severity */
};

/* history: a cursor over the readings of POINT (DEVICE.POINT, removed
 * points included) with SINCE <= ts <= UNTIL (INT64_MIN / INT64_MAX: no
 * bound), oldest first, streamed (a history can be millions of rows). With
 * QUERY_HISTORY_IN_FORCE, when no reading is at SINCE itself, the first row
 * is the last reading before it (with its own ts): the value in force. */
struct query_history;
#define QUERY_HISTORY_IN_FORCE 1u

/* Open PATH read-only: QUERY_NOT_FOUND (no file, not a store), message in ERR. */
int query_open(const char *path, struct query **out, char *err, size_t errlen);
/* Close; NULL is a no-op. */
void query_close(struct query *q);
/* The message of the last failure. */
const char *query_error(const struct query *q);

/* The control socket the daemon that last configured the store listens on
 * (its config's control_socket): *KNOWN false when the store does not say
 * (written by an older version); OUT "" when the daemon has none. */
int query_control_socket(struct query *q, char *out, size_t len, bool *known);
/* Start one read transaction: the queries until query_end see one snapshot. */
int query_begin(struct query *q);
/* End the read transaction (the next query sees the latest writes). */
void query_end(struct query *q);
/* The gateway summary; free its strings with query_status_free. */
int query_status(struct query *q, struct query_status *out);
void query_status_free(struct query_status *s);
/* Devices not removed, in config order; *ROWS is one malloc'd array (free()). */
int query_devices(struct query *q, struct query_device **rows, size_t *n);
/* Points of DEVICE (NULL: all), latest reading each; *ROWS free(); QUERY_NOT_FOUND. */
int query_points(struct query *q, const char *device, struct query_point **rows, size_t *n);
/* Events ts >= SINCE (INT64_MIN: all) newest first; ACTIVE: active alarms raised since. */
int query_alarms(struct query *q, bool active, int64_t since, struct query_event **rows,
		 size_t *n);
void query_events_free(struct query_event *rows, size_t n);
/* A cursor over POINT's readings in [SINCE, UNTIL] (see above); QUERY_NOT_FOUND. */
int query_history_open(struct query *q, const char *point, int64_t since, int64_t until,
		       unsigned flags, struct query_history **out);
/* The point's type (how to print its values). */
enum yw_type query_history_type(const struct query_history *h);
/* The point's unit, "" when none. */
const char *query_history_unit(const struct query_history *h);
/* The next reading into *R: 1, 0 at the end, QUERY_ERROR. */
int query_history_next(struct query_history *h, struct query_reading *r);
/* Close the cursor; NULL is a no-op. */
void query_history_close(struct query_history *h);
/* The maintenance report of [SINCE, UNTIL]; free with query_report_free. */
int query_report(struct query *q, int64_t since, int64_t until, struct query_report *out);
void query_report_free(struct query_report *r);

#endif
