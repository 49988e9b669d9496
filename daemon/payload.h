/*
 * payload: the JSON of everything yardwatch says and hears on MQTT (SPEC
 * "MQTT"), built and parsed in this one module so that the rest of the
 * daemon works with typed values. Every builder returns a malloc'd,
 * NUL-terminated compact JSON string owned by the caller (NULL on allocation
 * failure). Times are RFC 3339 UTC with milliseconds. A value is printed
 * with the fewest digits that identify it (jsonnum, numfmt: 0.08, 229.1136,
 * -1234567890123456; 5, not 5.0), bool values true/false, a value that is
 * absent or not finite null. seq, outbox and errors are integers.
 */
#ifndef YW_PAYLOAD_H
#define YW_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "alarm.h"
#include "util.h"

/* A value as published: number, bool, or null. */
struct pl_value {
	bool present;     /* false: null */
	bool is_bool;
	double v;
};

struct pl_event {
	const char *gateway;
	int64_t seq;
	const char *alarm;        /* alarm id, or "DEVICE.offline" */
	enum alarm_event state;
	enum yw_severity severity;
	enum yw_category category;
	const char *point;        /* DEVICE.POINT, NULL for offline alarms */
	const char *device;
	const char *location;     /* NULL / "" -> null */
	struct pl_value value;
	const char *unit;         /* NULL / "" -> null (offline: null) */
	struct pl_value threshold;
	struct pl_value clear;    /* added as "clear" when present */
	const char *message;      /* NULL / "" -> null */
	int64_t ts_ms;
	int64_t raised_ts_ms;
	bool clock_unset;          /* stamped while the wall clock was not set:
	                              adds "clock_unset": true */
	bool acked;
};

/* Every key of the SPEC's example is always present, in its order, "clear"
 * after "threshold" when present. POINT NULL marks an offline alarm: point,
 * value, unit and threshold are then null and "clear" is left out. NULL also
 * when STATE is ALARM_EV_NONE. */
char *payload_event(const struct pl_event *e);

/* P/status: {"online": true, "version", "started", "ts", "outbox", "store"};
 * "store" is "ok", or "failing" while the store cannot commit (alarm events
 * are then held in memory and still published). */
struct pl_status {
	const char *version;
	int64_t started_ms, ts_ms;
	int64_t outbox;            /* unsent messages, in the store and held */
	bool store_failing;
};
char *payload_status_online(const struct pl_status *s);
char *payload_status_will(void);                      /* {"online":false,"reason":"lost"} */
char *payload_status_shutdown(int64_t ts_ms);

/* P/alarms/active: EVENTS are JSON texts of the latest event of each active
 * alarm (embedded as objects; a NULL entry, or one that is not a JSON object,
 * is left out with a warning). */
char *payload_alarms_active(int64_t ts_ms, const char *const *events, size_t n);

/* P/device/DEVICE/status; LAST_OK_MS 0 -> null. */
char *payload_device_status(const char *device, bool online, int64_t ts_ms,
			    int64_t last_ok_ms, int64_t errors);

/* P/telemetry/DEVICE: NAMES/VALUES of the points whose latest read was good. */
char *payload_telemetry(const char *device, int64_t ts_ms, const char *const *names,
			const struct pl_value *values, size_t n, enum yw_quality quality);

/* Commands. */
enum pl_cmd_kind { PL_CMD_ACK, PL_CMD_WRITE, PL_CMD_READ };

struct pl_cmd {
	enum pl_cmd_kind kind;
	bool id_null;                  /* the id could not be read */
	char id[YW_TEXT_MAX];
	char alarm[YW_FULLID_MAX];     /* ack */
	char by[YW_TEXT_MAX];          /* ack, "" when absent */
	char point[YW_FULLID_MAX];     /* write/read: DEVICE.POINT */
	struct pl_value value;         /* write */
};

/* Parse a command payload of KIND. 0 on success; -1 with a clear message in
 * ERR ("malformed JSON: ...", "missing \"point\"", ...) and as much of OUT
 * as could be read (at least id / id_null). Strict: one JSON object, no
 * duplicate or unknown keys, "id" a non-empty string of at most 255 bytes
 * (a number is refused, not converted), "point" DEVICE.POINT of two ids,
 * "value" a number or a boolean. The message names the first problem in the
 * order: JSON syntax, not an object, id, unknown key, the command's fields. */
int payload_parse_cmd(enum pl_cmd_kind kind, const char *json, size_t len,
		      struct pl_cmd *out, char *err, size_t errlen);

/* P/cmd/result. ID NULL -> "id": null. ERROR NULL when ok. VALUE may be
 * NULL (no "value" key). */
char *payload_cmd_result(const char *id, bool ok, const char *error,
			 const struct pl_value *value);

#endif
