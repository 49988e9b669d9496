/*
 * Unit tests of the MQTT payloads: every builder's output is parsed back
 * with jansson and checked key by key (type and value, no key missing, no
 * key extra). The command parser is test_payload_cmd.c's.
 */
#include "../../daemon/payload.h"
#include "../../daemon/jsonnum.h"
#include "../../daemon/log.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"



static int64_t T0;   /* 2026-11-26T04:10:03.123Z */
#define T0_TEXT "2026-11-26T04:10:03.123Z"

/* Parse TEXT (owned, freed here) as a JSON object; NULL on failure. */
static json_t *parse(char *text)
{
	json_error_t err;
	json_t *j;

	CHECK(text != NULL);
	if (!text)
		return NULL;
	j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		fprintf(stderr, "%s: not JSON (%s): %s\n", check_case, err.text, text);
	CHECK(j && json_is_object(j));
	free(text);
	return j;
}

static bool has_str(json_t *o, const char *k, const char *want)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0) {
		fprintf(stderr, "%s: key %s: want \"%s\"\n", check_case, k, want);
		return false;
	}
	return true;
}

static bool has_null(json_t *o, const char *k)
{
	return json_is_null(json_object_get(o, k));
}

static bool has_bool(json_t *o, const char *k, bool want)
{
	json_t *v = json_object_get(o, k);
	return json_is_boolean(v) && json_is_true(v) == want;
}

static bool has_int(json_t *o, const char *k, long long want)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) && json_integer_value(v) == want;
}

/* A JSON number equal to WANT (integral values are JSON integers now). */
static bool has_num(json_t *o, const char *k, double want)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) && json_number_value(v) == want;
}

/* O has exactly the keys of the NULL-terminated list KEYS. */
static bool has_keys(json_t *o, const char *const *keys)
{
	size_t n = 0;

	for (; keys[n]; n++) {
		if (!json_object_get(o, keys[n])) {
			fprintf(stderr, "%s: key %s missing\n", check_case, keys[n]);
			return false;
		}
	}
	if (json_object_size(o) != n)
		fprintf(stderr, "%s: %zu keys, want %zu\n", check_case, json_object_size(o), n);
	return json_object_size(o) == n;
}

static const char *const event_keys[] = {
	"event_id", "seq", "alarm", "state", "severity", "category", "point", "device",
	"location", "value", "unit", "threshold", "message", "ts", "raised_ts", "acked", NULL
};

static const char *const event_keys_clear[] = {
	"event_id", "seq", "alarm", "state", "severity", "category", "point", "device",
	"location", "value", "unit", "threshold", "clear", "message", "ts", "raised_ts",
	"acked", NULL
};

static struct pl_event spec_event(void)
{
	struct pl_event e = {
		.gateway = "gw1", .seq = 1042, .alarm = "b3-fire-pressure-low",
		.state = ALARM_EV_RAISED, .severity = SEV_CRITICAL, .category = CAT_FIRE,
		.point = "b3-pressure.pressure", .device = "b3-pressure",
		.location = "Building 3 pump room", .value = { true, false, 0.08 },
		.unit = "MPa", .threshold = { true, false, 0.10 },
		.message = "Fire water pressure low, building 3", .ts_ms = T0,
		.raised_ts_ms = T0, .acked = false,
	};
	return e;
}

static void test_event(void)
{
	struct pl_event e = spec_event();
	char *text;
	json_t *j;

	check_case = "event: SPEC example";
	text = payload_event(&e);
	CHECK(text && strcmp(text,
		"{\"event_id\":\"gw1-1042\",\"seq\":1042,\"alarm\":\"b3-fire-pressure-low\","
		"\"state\":\"raised\",\"severity\":\"critical\",\"category\":\"fire\","
		"\"point\":\"b3-pressure.pressure\",\"device\":\"b3-pressure\","
		"\"location\":\"Building 3 pump room\",\"value\":0.08,\"unit\":\"MPa\","
		"\"threshold\":0.1,\"message\":\"Fire water pressure low, building 3\","
		"\"ts\":\"" T0_TEXT "\",\"raised_ts\":\"" T0_TEXT "\",\"acked\":false}") == 0);
	j = parse(text);
	CHECK(has_keys(j, event_keys));
	CHECK(has_str(j, "event_id", "gw1-1042"));
	CHECK(has_int(j, "seq", 1042));
	CHECK(has_str(j, "alarm", "b3-fire-pressure-low"));
	CHECK(has_str(j, "state", "raised"));
	CHECK(has_str(j, "severity", "critical"));
	CHECK(has_str(j, "category", "fire"));
	CHECK(has_str(j, "point", "b3-pressure.pressure"));
	CHECK(has_str(j, "device", "b3-pressure"));
	CHECK(has_str(j, "location", "Building 3 pump room"));
	CHECK(has_num(j, "value", 0.08));
	CHECK(has_str(j, "unit", "MPa"));
	CHECK(has_num(j, "threshold", 0.10));
	CHECK(has_str(j, "message", "Fire water pressure low, building 3"));
	CHECK(has_str(j, "ts", T0_TEXT));
	CHECK(has_str(j, "raised_ts", T0_TEXT));
	CHECK(has_bool(j, "acked", false));
	json_decref(j);

	check_case = "event: cleared with clear, integral and decoded values";
	e = spec_event();
	e.state = ALARM_EV_CLEARED;
	e.seq = 9007199254740993LL;
	e.severity = SEV_WARNING;
	e.category = CAT_ENVIRONMENT;
	e.value.v = 12.34;             /* as the codec decodes raw 1234 x 0.01 */
	e.threshold.v = 5;
	e.clear = (struct pl_value){ true, false, 0.12 };
	e.ts_ms = T0 + 60000;
	e.acked = true;
	text = payload_event(&e);
	CHECK(text && strstr(text, "\"value\":12.34,") &&
	      strstr(text, "\"threshold\":5,\"clear\":0.12,\"message\""));
	j = parse(text);
	CHECK(has_keys(j, event_keys_clear));
	CHECK(has_str(j, "event_id", "gw1-9007199254740993"));
	CHECK(has_int(j, "seq", 9007199254740993LL));
	CHECK(has_str(j, "state", "cleared"));
	CHECK(has_str(j, "severity", "warning"));
	CHECK(has_str(j, "category", "environment"));
	CHECK(has_num(j, "threshold", 5));
	CHECK(has_num(j, "clear", 0.12));
	CHECK(has_str(j, "ts", "2026-11-26T04:11:03.123Z"));
	CHECK(has_str(j, "raised_ts", T0_TEXT));
	CHECK(has_bool(j, "acked", true));
	json_decref(j);

	check_case = "event: offline alarm";
	e = spec_event();
	e.alarm = "b3-meter.offline";
	e.state = ALARM_EV_ACKED;
	e.severity = SEV_MAJOR;
	e.category = CAT_SYSTEM;
	e.point = NULL;
	e.device = "b3-meter";
	e.location = NULL;
	e.message = "";
	e.unit = "kWh";                      /* ignored for an offline alarm */
	e.clear = (struct pl_value){ true, false, 1 };
	e.acked = true;
	j = parse(payload_event(&e));
	CHECK(has_keys(j, event_keys));
	CHECK(has_str(j, "alarm", "b3-meter.offline"));
	CHECK(has_str(j, "state", "acked"));
	CHECK(has_str(j, "severity", "major"));
	CHECK(has_str(j, "category", "system"));
	CHECK(has_null(j, "point"));
	CHECK(has_str(j, "device", "b3-meter"));
	CHECK(has_null(j, "location"));
	CHECK(has_null(j, "value"));
	CHECK(has_null(j, "unit"));
	CHECK(has_null(j, "threshold"));
	CHECK(has_null(j, "message"));
	CHECK(has_bool(j, "acked", true));
	json_decref(j);

	check_case = "event: bool point, unset fields";
	e = spec_event();
	e.alarm = "stairs-lamp";
	e.point = "b3-stairs.lamp1_ok";
	e.value = (struct pl_value){ true, true, 0 };
	e.threshold = (struct pl_value){ true, true, 1 };
	e.unit = "";
	e.location = "";
	e.message = NULL;
	e.severity = SEV_MINOR;
	e.category = CAT_LIGHTING;
	j = parse(payload_event(&e));
	CHECK(has_keys(j, event_keys));
	CHECK(has_bool(j, "value", false));
	CHECK(has_bool(j, "threshold", true));
	CHECK(has_null(j, "unit"));
	CHECK(has_null(j, "location"));
	CHECK(has_null(j, "message"));
	CHECK(has_str(j, "severity", "minor"));
	CHECK(has_str(j, "category", "lighting"));
	json_decref(j);

	check_case = "event: value absent or not finite, bad UTF-8 in a message";
	e = spec_event();
	e.value = (struct pl_value){ true, false, NAN };
	e.threshold = (struct pl_value){ false, false, 3 };
	e.message = "pression \xc3";         /* cut inside a character */
	e.location = "B\xc3\xa2timent 3";
	j = parse(payload_event(&e));
	CHECK(has_keys(j, event_keys));
	CHECK(has_null(j, "value"));
	CHECK(has_null(j, "threshold"));
	CHECK(has_str(j, "message", "pression ?"));
	CHECK(has_str(j, "location", "B\xc3\xa2timent 3"));
	json_decref(j);

	check_case = "event: state none is refused";
	e = spec_event();
	e.state = ALARM_EV_NONE;
	CHECK(payload_event(&e) == NULL);
}

static void test_status(void)
{
	static const char *const online_keys[] = { "online", "version", "started", "ts",
						    "outbox", "store", NULL };
	static const char *const will_keys[] = { "online", "reason", NULL };
	static const char *const shutdown_keys[] = { "online", "reason", "ts", NULL };
	json_t *j;

	check_case = "status online";
	j = parse(payload_status_online(&(struct pl_status){ "0.1.0", T0, T0 + 1000, 17, false }));
	CHECK(has_keys(j, online_keys));
	CHECK(has_bool(j, "online", true));
	CHECK(has_str(j, "version", "0.1.0"));
	CHECK(has_str(j, "started", T0_TEXT));
	CHECK(has_str(j, "ts", "2026-11-26T04:10:04.123Z"));
	CHECK(has_int(j, "outbox", 17));
	CHECK(has_str(j, "store", "ok"));
	json_decref(j);
	j = parse(payload_status_online(&(struct pl_status){ "0.1.0", T0, T0 + 1000, 0, true }));
	CHECK(has_str(j, "store", "failing"));
	json_decref(j);

	check_case = "status will";
	j = parse(payload_status_will());
	CHECK(has_keys(j, will_keys));
	CHECK(has_bool(j, "online", false));
	CHECK(has_str(j, "reason", "lost"));
	json_decref(j);

	check_case = "status shutdown";
	j = parse(payload_status_shutdown(T0));
	CHECK(has_keys(j, shutdown_keys));
	CHECK(has_bool(j, "online", false));
	CHECK(has_str(j, "reason", "shutdown"));
	CHECK(has_str(j, "ts", T0_TEXT));
	json_decref(j);
}

static void test_alarms_active(void)
{
	static const char *const keys[] = { "ts", "alarms", NULL };
	struct pl_event e1 = spec_event(), e2 = spec_event();
	const char *events[5];
	char *t1, *t2;
	json_t *j, *arr, *want;

	check_case = "alarms active: none";
	j = parse(payload_alarms_active(T0, NULL, 0));
	CHECK(has_keys(j, keys));
	CHECK(has_str(j, "ts", T0_TEXT));
	arr = json_object_get(j, "alarms");
	CHECK(json_is_array(arr) && json_array_size(arr) == 0);
	json_decref(j);

	check_case = "alarms active: two (and one unreadable, one NULL)";
	e2.alarm = "b3-meter.offline";
	e2.point = NULL;
	e2.seq = 1043;
	t1 = payload_event(&e1);
	t2 = payload_event(&e2);
	events[0] = t1;
	events[1] = "{\"broken\":";
	events[2] = NULL;
	events[3] = "[1,2]";
	events[4] = t2;
	j = parse(payload_alarms_active(T0, events, 5));
	CHECK(has_keys(j, keys));
	arr = json_object_get(j, "alarms");
	CHECK(json_is_array(arr) && json_array_size(arr) == 2);
	want = json_loads(t1, 0, NULL);
	CHECK(json_equal(json_array_get(arr, 0), want));
	json_decref(want);
	want = json_loads(t2, 0, NULL);
	CHECK(json_equal(json_array_get(arr, 1), want));
	json_decref(want);
	CHECK(has_int(json_array_get(arr, 1), "seq", 1043));
	json_decref(j);
	free(t1);
	free(t2);

	check_case = "alarms active: stored numbers come out as written";
	e1.value.v = 0x1p64;           /* beyond what jansson reads as an integer */
	e1.threshold.v = 0.1 + 0.2;    /* 17 digits */
	e1.clear = (struct pl_value){ true, false, -1234567890123456.0 };
	t1 = payload_event(&e1);
	events[0] = t1;
	{
		char *text = payload_alarms_active(T0, events, 1);
		char expect[2048];

		snprintf(expect, sizeof expect, "{\"ts\":\"" T0_TEXT "\",\"alarms\":[%s]}",
			 t1 ? t1 : "");
		CHECK(t1 && strstr(t1, "\"value\":18446744073709551616,\"unit\""));
		CHECK(t1 && strstr(t1, "\"threshold\":0.30000000000000004,"
				      "\"clear\":-1234567890123456,"));
		CHECK(text && strcmp(text, expect) == 0);
		free(text);
	}
	free(t1);
}

static void test_jsonnum(void)
{
	json_error_t err;
	json_t *j, *o;
	double v = 0;
	char *text;

	check_case = "jsonnum: markers, values, parsing";
	o = json_pack("{s:o, s:o, s:o, s:o, s:s}", "a", jsonnum_real(0.35),
		      "b", jsonnum_real(INFINITY), "c", json_stringn("\0#1x", 4),
		      "d", json_real(80.0), "e", "\\u0000#5");
	text = o ? jsonnum_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
	CHECK(text && strcmp(text, "{\"a\":0.35,\"b\":null,\"c\":null,\"d\":80.0,"
			      "\"e\":\"\\\\u0000#5\"}") == 0);
	CHECK(jsonnum_value(json_object_get(o, "a"), &v) == 0 && v == 0.35);
	CHECK(jsonnum_value(json_object_get(o, "d"), &v) == 0 && v == 80.0);
	CHECK(jsonnum_value(json_object_get(o, "e"), &v) == -1);
	CHECK(jsonnum_value(json_object_get(o, "b"), &v) == -1);
	free(text);
	json_decref(o);

	j = jsonnum_loads("{\"seq\":3,\"v\":[18446744073709551616,0.1,-5,1e21]}", 0, &err);
	CHECK(j && json_is_integer(json_object_get(j, "seq")));
	text = j ? jsonnum_dumps(j, JSON_COMPACT) : NULL;
	CHECK(text && strcmp(text, "{\"seq\":3,\"v\":[18446744073709551616,0.1,-5,1e+21]}") == 0);
	free(text);
	json_decref(j);
	CHECK(jsonnum_loads("{\"a\":", 0, &err) == NULL);
}

static void test_device_status(void)
{
	static const char *const keys[] = { "device", "online", "ts", "last_ok", "errors",
					     NULL };
	json_t *j;

	check_case = "device status, never ok";
	j = parse(payload_device_status("b3-meter", false, T0, 0, 3));
	CHECK(has_keys(j, keys));
	CHECK(has_str(j, "device", "b3-meter"));
	CHECK(has_bool(j, "online", false));
	CHECK(has_str(j, "ts", T0_TEXT));
	CHECK(has_null(j, "last_ok"));
	CHECK(has_int(j, "errors", 3));
	json_decref(j);

	check_case = "device status, online";
	j = parse(payload_device_status("b3-meter", true, T0 + 5000, T0, 0));
	CHECK(has_keys(j, keys));
	CHECK(has_bool(j, "online", true));
	CHECK(has_str(j, "ts", "2026-11-26T04:10:08.123Z"));
	CHECK(has_str(j, "last_ok", T0_TEXT));
	CHECK(has_int(j, "errors", 0));
	json_decref(j);
}

static void test_telemetry(void)
{
	static const char *const keys[] = { "device", "ts", "values", "quality", NULL };
	const char *names[] = { "pressure", "relay1", "energy", "count" };
	struct pl_value vals[] = {
		{ true, false, 0.08 }, { true, true, 1 }, { true, false, 123456789012.345 },
		{ true, false, 42 },
	};
	json_t *j, *v;

	check_case = "telemetry: bool and numbers";
	j = parse(payload_telemetry("b3-pressure", T0, names, vals, 4, Q_GOOD));
	CHECK(has_keys(j, keys));
	CHECK(has_str(j, "device", "b3-pressure"));
	CHECK(has_str(j, "ts", T0_TEXT));
	CHECK(has_str(j, "quality", "good"));
	v = json_object_get(j, "values");
	CHECK(json_is_object(v) && json_object_size(v) == 4);
	CHECK(has_num(v, "pressure", 0.08));
	CHECK(has_bool(v, "relay1", true));
	CHECK(has_num(v, "energy", 123456789012.345));
	CHECK(has_num(v, "count", 42));
	json_decref(j);

	check_case = "telemetry: the fewest digits that identify each value";
	{
		const char *nn[] = { "i64", "f32", "scaled", "sum", "int", "u64", "big", "tiny",
				     "nan", "neg0" };
		struct pl_value vv[] = {
			{ true, false, -1234567890123456.0 }, { true, false, 229.1136 },
			{ true, false, 0.35 }, { true, false, 0.1 + 0.2 }, { true, false, 5 },
			{ true, false, 0x1p64 }, { true, false, 1e21 }, { true, false, 1e-7 },
			{ true, false, NAN }, { true, false, -0.0 },
		};
		char *text = payload_telemetry("m1", T0, nn, vv, 10, Q_GOOD);

		CHECK(text && strcmp(text, "{\"device\":\"m1\",\"ts\":\"" T0_TEXT "\",\"values\":{"
			"\"i64\":-1234567890123456,\"f32\":229.1136,\"scaled\":0.35,"
			"\"sum\":0.30000000000000004,\"int\":5,\"u64\":18446744073709551616,"
			"\"big\":1e+21,\"tiny\":1e-7,\"nan\":null,\"neg0\":0},"
			"\"quality\":\"good\"}") == 0);
		free(text);
	}

	check_case = "telemetry: stale, no values";
	j = parse(payload_telemetry("b3-meter", T0, NULL, NULL, 0, Q_STALE));
	CHECK(has_keys(j, keys));
	CHECK(has_str(j, "quality", "stale"));
	v = json_object_get(j, "values");
	CHECK(json_is_object(v) && json_object_size(v) == 0);
	json_decref(j);

	check_case = "telemetry: bad";
	j = parse(payload_telemetry("b3-meter", T0, names, vals, 1, Q_BAD));
	CHECK(has_str(j, "quality", "bad"));
	CHECK(json_object_size(json_object_get(j, "values")) == 1);
	json_decref(j);
}

static void test_cmd_result(void)
{
	static const char *const k_err[] = { "id", "ok", "error", NULL };
	static const char *const k_ok[] = { "id", "ok", NULL };
	static const char *const k_val[] = { "id", "ok", "value", NULL };
	struct pl_value num = { true, false, 1.5 }, b = { true, true, 0 }, none = { 0 };
	json_t *j;

	check_case = "cmd result: id null";
	j = parse(payload_cmd_result(NULL, false, "malformed JSON: x", NULL));
	CHECK(has_keys(j, k_err));
	CHECK(has_null(j, "id"));
	CHECK(has_bool(j, "ok", false));
	CHECK(has_str(j, "error", "malformed JSON: x"));
	json_decref(j);

	check_case = "cmd result: ok, no value";
	j = parse(payload_cmd_result("req-1", true, NULL, NULL));
	CHECK(has_keys(j, k_ok));
	CHECK(has_str(j, "id", "req-1"));
	CHECK(has_bool(j, "ok", true));
	json_decref(j);

	check_case = "cmd result: read value";
	j = parse(payload_cmd_result("req-3", true, NULL, &num));
	CHECK(has_keys(j, k_val));
	CHECK(has_num(j, "value", 1.5));
	json_decref(j);

	check_case = "cmd result: write bool value";
	j = parse(payload_cmd_result("req-2", true, NULL, &b));
	CHECK(has_bool(j, "value", false));
	json_decref(j);

	check_case = "cmd result: value unknown";
	j = parse(payload_cmd_result("req-2", true, NULL, &none));
	CHECK(has_keys(j, k_val));
	CHECK(has_null(j, "value"));
	json_decref(j);

	check_case = "cmd result: not ok without a text";
	j = parse(payload_cmd_result("req-4", false, NULL, NULL));
	CHECK(has_keys(j, k_err));
	CHECK(has_str(j, "error", "failed"));
	json_decref(j);
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR);   /* alarms_active warns about the broken events */
	if (util_parse_time(T0_TEXT, 0, &T0) != 0) {
		fprintf(stderr, "cannot parse %s\n", T0_TEXT);
		return 1;
	}
	test_event();
	test_status();
	test_alarms_active();
	test_jsonnum();
	test_device_status();
	test_telemetry();
	test_cmd_result();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
