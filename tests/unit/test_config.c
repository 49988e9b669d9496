/*
 * test_config: the config loader against a table of bad configs, each with
 * the exact lines it must print, and against the shipped configs.
 *
 * Cases are written into a temp dir as site.json (single quotes in the table
 * stand for double quotes), optional profiles into DIR/profiles/NAME.json;
 * the test runs inside DIR, loads "site.json" with profiles_dir_override
 * "profiles", and compares everything written to ERRS. "@D" in an expected
 * text stands for the temp dir's absolute path.
 */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../daemon/config.h"
#include "version.h"
#include "check.h"



static char tmpdir[PATH_MAX];

/* ---- helpers ------------------------------------------------------------ */

/* Copy S with ' -> " and "@D" -> the temp dir. Caller frees. */
static char *expand(const char *s, bool quotes)
{
	size_t n = strlen(s), dl = strlen(tmpdir), i, k = 0;
	char *out = malloc(n * (dl + 1) + 1);

	if (!out)
		abort();
	for (i = 0; i < n; i++) {
		if (s[i] == '@' && s[i + 1] == 'D') {
			memcpy(out + k, tmpdir, dl);
			k += dl;
			i++;
		} else if (quotes && s[i] == '\'') {
			out[k++] = '"';
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = '\0';
	return out;
}

static void write_file(const char *path, const char *text, bool quotes)
{
	char *t = expand(text, quotes);
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		abort();
	}
	fputs(t, f);
	fclose(f);
	free(t);
}

/* Load FILE; *OUT gets everything written to errs (caller frees). */
static struct config *load(const char *file, const char *pdir, char **out)
{
	size_t len = 0;
	FILE *ms = open_memstream(out, &len);
	struct config *cfg;

	if (!ms)
		abort();
	cfg = config_load(file, pdir, ms);
	fclose(ms);
	return cfg;
}

/* Is GOT the temp dir's file REL? */
static bool in_tmp(const char *got, const char *rel)
{
	size_t n = strlen(tmpdir);

	return strncmp(got, tmpdir, n) == 0 && got[n] == '/' && strcmp(got + n + 1, rel) == 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

/* ---- the table of bad configs ------------------------------------------ */

#define SITE "'site': {'id': 's1', 'gateway': 'gw1'}"
#define TCP "'buses': [{'id': 'lan', 'type': 'tcp', 'host': '127.0.0.1'}]"
#define PT "{'name': 'p', 'table': 'holding', 'address': 0, 'type': 'int16'}"
#define DEV "{'id': 'd1', 'bus': 'lan', 'unit': 1, 'points': [" PT "]}"
#define DEVS "'devices': [" DEV "]"
#define BASE SITE ", " TCP ", " DEVS
/* A config whose one device has the points P. */
#define WITH_POINTS(P) "{" SITE ", " TCP ", 'devices': [{'id': 'd1', 'bus': 'lan', " \
	"'unit': 1, 'points': [" P "]}]}"
/* The base config plus alarm A. */
#define WITH_ALARM(A) "{" BASE ", 'alarms': [" A "]}"

struct bad {
	const char *what;
	const char *json;
	const char *pname, *pjson;   /* optional profile file */
	const char *expect;          /* exact errs output */
	bool loads;                  /* warnings only: the load succeeds */
};

static const struct bad bad[] = {
	{"syntax error: line and column", "{\n  'site': {'id': 's1' 'gateway': 'gw1'}\n}\n", NULL, NULL,
	 "site.json:2:31: '}' expected near '\"gateway\"'\n", false},
	{"duplicate key", "{\n  " SITE ",\n  " TCP ",\n  " DEVS ",\n  'site': {}\n}\n", NULL, NULL,
	 "site.json:5:8: duplicate object key near '\"site\"'\n", false},
	{"not an object", "[1, 2]", NULL, NULL, "site.json: must be a JSON object\n", false},
	{"unknown top-level key", "{" BASE ", 'sites': 1}", NULL, NULL,
	 "site.json: sites: unknown key\n", false},
	{"required sections", "{'storage': {}}", NULL, NULL,
	 "site.json: site: is required\nsite.json: buses: is required\n"
	 "site.json: devices: is required\n", false},
	{"unknown device key", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', 'bus': 'lan', "
	 "'unit': 1, 'pol_ms': 100, 'points': [" PT "]}]}", NULL, NULL,
	 "site.json: devices[0].pol_ms: unknown key\n", false},
	{"unknown point key", WITH_POINTS("{'name': 'p', 'table': 'holding', 'address': 0, "
	 "'type': 'int16', 'scael': 2}"), NULL, NULL,
	 "site.json: devices[0].points[0].scael: unknown key\n", false},
	{"unknown bus key", "{" SITE ", 'buses': [{'id': 'lan', 'type': 'tcp', 'host': 'h', "
	 "'hots': 'x'}], " DEVS "}", NULL, NULL, "site.json: buses[0].hots: unknown key\n", false},
	{"unknown alarm key", WITH_ALARM("{'id': 'a1', 'point': 'd1.p', 'when': 'above', "
	 "'threshold': 5, 'latched': true}"), NULL, NULL,
	 "site.json: alarms[0].latched: unknown key\n", false},
	{"unknown mqtt key", "{" BASE ", 'mqtt': {'brokers': ['mqtt://127.0.0.1'], "
	 "'keepalive': 30, 'telemetry': {'intervall_s': 5}}}", NULL, NULL,
	 "site.json: mqtt.keepalive: unknown key\nsite.json: mqtt.telemetry.intervall_s: unknown key\n",
	 false},
	{"wrong types", "{'site': {'id': 5, 'gateway': 'gw1', 'name': true}, " TCP ", "
	 "'devices': [{'id': 'd1', 'bus': 'lan', 'unit': 1, 'poll_ms': '1000', 'enabled': 1, "
	 "'points': [" PT "]}], 'storage': []}", NULL, NULL,
	 "site.json: site.id: must be a string\nsite.json: site.name: must be a string\n"
	 "site.json: storage: must be an object\n"
	 "site.json: devices[0].poll_ms: must be an integer in 50..3600000\n"
	 "site.json: devices[0].enabled: must be true or false\n", false},
	{"out of range", "{" SITE ", 'buses': [{'id': 'lan', 'type': 'tcp', 'host': 'h', "
	 "'timeout_ms': 5, 'retries': 6, 'port': 70000}], 'devices': [{'id': 'd1', 'bus': 'lan', "
	 "'unit': 1, 'poll_ms': 10, 'max_read_regs': 126, 'points': [" PT "]}], "
	 "'storage': {'retention_days': 0, 'max_mb': 1}}", NULL, NULL,
	 "site.json: storage.retention_days: must be an integer in 1..3650\n"
	 "site.json: storage.max_mb: must be an integer in 2..1048576\n"
	 "site.json: buses[0].timeout_ms: must be an integer in 10..10000\n"
	 "site.json: buses[0].retries: must be an integer in 0..5\n"
	 "site.json: buses[0].port: must be an integer in 1..65535\n"
	 "site.json: devices[0].poll_ms: must be an integer in 50..3600000\n"
	 "site.json: devices[0].max_read_regs: must be an integer in 1..125\n", false},
	{"integer given as real", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', 'bus': 'lan', "
	 "'unit': 1.0, 'points': [" PT "]}]}", NULL, NULL,
	 "site.json: devices[0].unit: must be an integer in 0..255\n", false},
	{"reserved tcp unit id", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', 'bus': 'lan', "
	 "'unit': 250, 'points': [" PT "]}]}", NULL, NULL,
	 "site.json: devices[0].unit: must be 0..247 or 255 on a tcp bus\n", false},
	{"bad ids", "{'site': {'id': 'S1', 'gateway': '-gw'}, " TCP ", 'devices': [{'id': 'd.1', "
	 "'bus': 'lan', 'unit': 1, 'points': [" PT "]}]}", NULL, NULL,
	 "site.json: site.id: \"S1\" is not a valid id ([a-z0-9][a-z0-9_-]{0,62})\n"
	 "site.json: site.gateway: \"-gw\" is not a valid id ([a-z0-9][a-z0-9_-]{0,62})\n"
	 "site.json: devices[0].id: \"d.1\" is not a valid id ([a-z0-9][a-z0-9_-]{0,62})\n", false},
	{"duplicate ids", "{" SITE ", 'buses': [{'id': 'lan', 'type': 'tcp', 'host': 'a'}, "
	 "{'id': 'lan', 'type': 'tcp', 'host': 'b'}], 'devices': [" DEV ", {'id': 'd1', "
	 "'bus': 'lan', 'unit': 2, 'points': [" PT "]}], 'alarms': [{'id': 'a', 'point': 'd1.p', "
	 "'when': 'above', 'threshold': 1}, {'id': 'a', 'point': 'd1.p', 'when': 'above', "
	 "'threshold': 2}]}", NULL, NULL,
	 "site.json: buses[1].id: duplicate bus id \"lan\"\n"
	 "site.json: devices[1].id: duplicate device id \"d1\"\n"
	 "site.json: alarms[1].id: duplicate alarm id \"a\"\n", false},
	{"device on an unknown bus", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', 'bus': 'rs485', "
	 "'unit': 1, 'points': [" PT "]}]}", NULL, NULL,
	 "site.json: devices[0].bus: no bus \"rs485\"\n", false},
	{"alarm on unknown point and device", "{" BASE ", 'alarms': [{'id': 'a1', 'point': 'd1.q', "
	 "'when': 'above', 'threshold': 1}, {'id': 'a2', 'point': 'd9.p', 'when': 'above', "
	 "'threshold': 1}, {'id': 'a3', 'point': 'd1p', 'when': 'above', 'threshold': 1}]}",
	 NULL, NULL,
	 "site.json: alarms[0].point: device \"d1\" has no point \"q\"\n"
	 "site.json: alarms[1].point: no device \"d9\"\n"
	 "site.json: alarms[2].point: \"d1p\" is not DEVICE.POINT\n", false},
	{"unknown profile", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', 'bus': 'lan', 'unit': 1, "
	 "'profile': 'nosuch'}, {'id': 'd2', 'bus': 'lan', 'unit': 2, 'profile': 'nosuch'}]}",
	 NULL, NULL,
	 "site.json: devices[0].profile: cannot read profile profiles/nosuch.json: No such file or directory\n"
	 "site.json: devices[1].profile: cannot read profile profiles/nosuch.json: No such file or directory\n",
	 false},
	{"decimals_from dangling and invalid", WITH_POINTS(
	 "{'name': 'v', 'table': 'holding', 'address': 4, 'type': 'int16', 'decimals_from': 'dp'}, "
	 "{'name': 'f', 'table': 'holding', 'address': 0, 'type': 'float32'}, "
	 "{'name': 'w', 'table': 'holding', 'address': 5, 'type': 'int16', 'decimals_from': 'f'}"),
	 NULL, NULL,
	 "site.json: devices[0].points[0].decimals_from: no point \"dp\" in device \"d1\"\n"
	 "site.json: devices[0].points[2].decimals_from: \"f\" must name an integer register point "
	 "without decimals_from of its own\n", false},
	{"overlapping points", WITH_POINTS(
	 "{'name': 'a', 'table': 'holding', 'address': 0, 'type': 'float32'}, "
	 "{'name': 'b', 'table': 'holding', 'address': 1, 'type': 'int16'}, "
	 "{'name': 'c', 'table': 'input', 'address': 1, 'type': 'int16'}, "
	 "{'name': 'd', 'table': 'coil', 'address': 3}, {'name': 'e', 'table': 'coil', 'address': 3}"),
	 NULL, NULL,
	 "site.json: devices[0].points[1].address: overlaps point \"a\" (holding 0..1)\n"
	 "site.json: devices[0].points[4].address: overlaps point \"d\" (coil 3)\n", false},
	{"bit points share a register, a non-bit point does not", WITH_POINTS(
	 "{'name': 'b0', 'table': 'input', 'address': 7, 'type': 'bool', 'bit': 0}, "
	 "{'name': 'b1', 'table': 'input', 'address': 7, 'type': 'bool', 'bit': 1}, "
	 "{'name': 'b1again', 'table': 'input', 'address': 7, 'type': 'bool', 'bit': 1}, "
	 "{'name': 'word', 'table': 'input', 'address': 7, 'type': 'uint16'}"), NULL, NULL,
	 "site.json: devices[0].points[2].address: overlaps point \"b1\" (input 7)\n"
	 "site.json: devices[0].points[3].address: overlaps point \"b0\" (input 7)\n"
	 "site.json: devices[0].points[3].address: overlaps point \"b1\" (input 7)\n"
	 "site.json: devices[0].points[3].address: overlaps point \"b1again\" (input 7)\n", false},
	{"bit on coil, bool without bit, float on coil", WITH_POINTS(
	 "{'name': 'c', 'table': 'coil', 'address': 0, 'bit': 3}, "
	 "{'name': 'h', 'table': 'holding', 'address': 0, 'type': 'bool'}, "
	 "{'name': 'f', 'table': 'discrete', 'address': 1, 'type': 'float32'}, "
	 "{'name': 'x', 'table': 'holding', 'address': 9, 'type': 'int16', 'bit': 2}"), NULL, NULL,
	 "site.json: devices[0].points[0].bit: only allowed with type bool on an input or holding register\n"
	 "site.json: devices[0].points[1].bit: is required for type bool on an input or holding register\n"
	 "site.json: devices[0].points[2].type: must be bool for a discrete point\n"
	 "site.json: devices[0].points[3].bit: only allowed with type bool on an input or holding register\n",
	 false},
	{"RTU keys on a TCP bus", "{" SITE ", 'buses': [{'id': 'lan', 'type': 'tcp', "
	 "'host': '10.0.0.1', 'baud': 9600, 'parity': 'E'}], " DEVS "}", NULL, NULL,
	 "site.json: buses[0].baud: not allowed on a tcp bus\n"
	 "site.json: buses[0].parity: not allowed on a tcp bus\n", false},
	{"TCP keys on an RTU bus, missing device", "{" SITE ", 'buses': [{'id': 'rs', 'type': 'rtu', "
	 "'host': '10.0.0.1', 'port': 502}], 'devices': [{'id': 'd1', 'bus': 'rs', 'unit': 1, "
	 "'points': [" PT "]}]}", NULL, NULL,
	 "site.json: buses[0].host: not allowed on an rtu bus\n"
	 "site.json: buses[0].port: not allowed on an rtu bus\n"
	 "site.json: buses[0].device: is required for an rtu bus\n", false},
	{"missing host, bad bus type", "{" SITE ", 'buses': [{'id': 'lan', 'type': 'tcp'}, "
	 "{'id': 'x', 'type': 'udp'}], " DEVS "}", NULL, NULL,
	 "site.json: buses[0].host: is required for a tcp bus\n"
	 "site.json: buses[1].type: must be one of rtu, tcp, rtu-tcp\n", false},
	{"serial keys on an rtu-tcp bus, missing host, units", "{" SITE ", 'buses': [{'id': 'yard', "
	 "'type': 'rtu-tcp', 'device': '/dev/null', 'baud': 9600, 'rs485': true, 'port': 0, "
	 "'inter_frame_delay_ms': 2000}], 'devices': [{'id': 'd1', 'bus': 'yard', 'unit': 0, "
	 "'points': [" PT "]}, {'id': 'd2', 'bus': 'yard', 'unit': 248, 'points': [" PT "]}]}",
	 NULL, NULL,
	 "site.json: buses[0].device: not allowed on an rtu-tcp bus\n"
	 "site.json: buses[0].baud: not allowed on an rtu-tcp bus\n"
	 "site.json: buses[0].rs485: not allowed on an rtu-tcp bus\n"
	 "site.json: buses[0].host: is required for an rtu-tcp bus\n"
	 "site.json: buses[0].port: must be an integer in 1..65535\n"
	 "site.json: buses[0].inter_frame_delay_ms: must be an integer in 0..1000\n"
	 "site.json: devices[0].unit: must be an integer in 1..247\n"
	 "site.json: devices[1].unit: must be an integer in 1..247\n", false},
	{"inter_frame_delay_ms on a tcp bus, an rtu-tcp bus on a tcp bus's endpoint",
	 "{" SITE ", 'buses': [{'id': 'lan', 'type': 'tcp', 'host': 'gw.local', "
	 "'inter_frame_delay_ms': 10}, {'id': 'yard', 'type': 'rtu-tcp', 'host': 'GW.local', "
	 "'parity': 'E', 'stop_bits': 2, 'data_bits': 8}], " DEVS "}", NULL, NULL,
	 "site.json: buses[0].inter_frame_delay_ms: not allowed on a tcp bus\n"
	 "site.json: buses[1].parity: not allowed on an rtu-tcp bus\n"
	 "site.json: buses[1].data_bits: not allowed on an rtu-tcp bus\n"
	 "site.json: buses[1].stop_bits: not allowed on an rtu-tcp bus\n"
	 "site.json: buses[1].host: GW.local:502 is already bus \"lan\"\n", false},
	{"serial settings", "{" SITE ", 'buses': [{'id': 'rs', 'type': 'rtu', 'device': '/dev/null', "
	 "'baud': 9601, 'parity': 'X', 'data_bits': 9, 'stop_bits': 0, 'inter_frame_delay_ms': 2000}], "
	 "'devices': [{'id': 'd1', 'bus': 'rs', 'unit': 0, 'points': [" PT "]}]}", NULL, NULL,
	 "site.json: buses[0].baud: must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400\n"
	 "site.json: buses[0].parity: must be one of N, E, O\n"
	 "site.json: buses[0].data_bits: must be one of 7, 8\n"
	 "site.json: buses[0].stop_bits: must be one of 1, 2\n"
	 "site.json: buses[0].inter_frame_delay_ms: must be an integer in 0..1000\n"
	 "site.json: devices[0].unit: must be an integer in 1..247\n", false},
	{"same endpoint twice", "{" SITE ", 'buses': [{'id': 'a', 'type': 'tcp', 'host': 'plc.local'}, "
	 "{'id': 'b', 'type': 'tcp', 'host': 'PLC.local', 'port': 502}, {'id': 'c', 'type': 'rtu', "
	 "'device': '/dev/null'}, {'id': 'd', 'type': 'rtu', 'device': '/dev/null'}], "
	 "'devices': [{'id': 'd1', 'bus': 'a', 'unit': 1, 'points': [" PT "]}]}", NULL, NULL,
	 "site.json: buses[1].host: PLC.local:502 is already bus \"a\"\n"
	 "site.json: buses[3].device: /dev/null is already bus \"c\"\n", false},
	{"same unit twice on one bus", "{" SITE ", " TCP ", 'devices': [" DEV ", {'id': 'd2', "
	 "'bus': 'lan', 'unit': 1, 'points': [" PT "]}]}", NULL, NULL,
	 "site.json: devices[1].unit: unit 1 on bus \"lan\" is already device \"d1\"\n", false},
	{"bad broker URLs", "{" BASE ", 'mqtt': {'brokers': ['tcp://h:1883', 'mqtt://h:0', "
	 "'mqtts://', 'mqtt://h:1883/x', 5]}}", NULL, NULL,
	 "site.json: mqtt.brokers[0]: \"tcp://h:1883\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]\n"
	 "site.json: mqtt.brokers[1]: \"mqtt://h:0\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]\n"
	 "site.json: mqtt.brokers[2]: \"mqtts://\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]\n"
	 "site.json: mqtt.brokers[3]: \"mqtt://h:1883/x\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]\n"
	 "site.json: mqtt.brokers[4]: must be a string\n", false},
	{"no brokers", "{" BASE ", 'mqtt': {'brokers': []}}", NULL, NULL,
	 "site.json: mqtt.brokers: must be a non-empty array of broker URLs\n", false},
	{"unreadable password_file, password without username", "{" BASE ", 'mqtt': {"
	 "'brokers': ['mqtt://127.0.0.1'], 'password_file': 'nope.secret'}}", NULL, NULL,
	 "site.json: mqtt.password_file: needs mqtt.username\n"
	 "site.json: mqtt.password_file: cannot read @D/nope.secret: No such file or directory\n", false},
	{"tls files", "{" BASE ", 'mqtt': {'brokers': ['mqtt://127.0.0.1'], 'tls': {"
	 "'ca_file': '/nonexistent/ca.pem', 'cert_file': 'site.json', 'key_file': null}}}", NULL, NULL,
	 "site.json: mqtt.tls.ca_file: cannot read /nonexistent/ca.pem: No such file or directory\n"
	 "site.json: mqtt.tls.key_file: is required with cert_file\n"
	 "site.json: mqtt.tls: no mqtts:// broker to use it\n", false},
	{"topic prefix and telemetry", "{" BASE ", 'mqtt': {'brokers': ['mqtts://h'], "
	 "'topic_prefix': 'a//b', 'keepalive_s': 1, 'command_qos': 2, 'telemetry': {'qos': 2}}}",
	 NULL, NULL,
	 "site.json: mqtt.topic_prefix: must not contain + or #, empty levels, or start with $\n"
	 "site.json: mqtt.keepalive_s: must be an integer in 5..3600\n"
	 "site.json: mqtt.command_qos: must be an integer in 0..1\n"
	 "site.json: mqtt.telemetry.qos: must be an integer in 0..1\n", false},
	{"clear on the wrong side", "{" BASE ", 'alarms': [{'id': 'lo', 'point': 'd1.p', "
	 "'when': 'below', 'threshold': 0.1, 'clear': 0.05}, {'id': 'hi', 'point': 'd1.p', "
	 "'when': 'above', 'threshold': 10, 'clear': 12}]}", NULL, NULL,
	 "site.json: alarms[0].clear: must be >= threshold for when \"below\"\n"
	 "site.json: alarms[1].clear: must be <= threshold for when \"above\"\n", false},
	{"equals without value, with threshold", WITH_ALARM("{'id': 'a', 'point': 'd1.p', "
	 "'when': 'equals', 'threshold': 1}"), NULL, NULL,
	 "site.json: alarms[0].value: is required for when \"equals\"\n"
	 "site.json: alarms[0].threshold: not used with when \"equals\" (use value)\n", false},
	{"below without threshold, with value", WITH_ALARM("{'id': 'a', 'point': 'd1.p', "
	 "'when': 'below', 'value': 1}"), NULL, NULL,
	 "site.json: alarms[0].threshold: is required for when \"below\"\n"
	 "site.json: alarms[0].value: not used with when \"below\" (use threshold)\n", false},
	{"alarm enums and delays", WITH_ALARM("{'id': 'a', 'point': 'd1.p', 'when': 'over', "
	 "'severity': 'high', 'category': 'Fire', 'delay_s': -1, 'latch': 'yes'}"), NULL, NULL,
	 "site.json: alarms[0].when: must be one of above, below, equals, not_equals\n"
	 "site.json: alarms[0].delay_s: must be a number in 0..86400\n"
	 "site.json: alarms[0].severity: must be one of critical, major, minor, warning\n"
	 "site.json: alarms[0].category: must be one of fire, power, water, lighting, security, "
	 "gas, elevator, structure, environment, system\n"
	 "site.json: alarms[0].latch: must be true or false\n", false},
	{"write bounds", WITH_POINTS(
	 "{'name': 'a', 'table': 'input', 'address': 0, 'type': 'int16', 'writable': true}, "
	 "{'name': 'b', 'table': 'holding', 'address': 1, 'type': 'int16', 'min': 0}, "
	 "{'name': 'c', 'table': 'holding', 'address': 2, 'type': 'int16', 'writable': true, "
	 "'min': 5, 'max': 1}"), NULL, NULL,
	 "site.json: devices[0].points[0].writable: only coil and holding points can be written\n"
	 "site.json: devices[0].points[1].min: only allowed with writable: true\n"
	 "site.json: devices[0].points[2].min: must not be greater than max\n", false},
	{"point values", WITH_POINTS(
	 "{'name': 'a', 'table': 'holding', 'address': 65535, 'type': 'float32', 'scale': 0}, "
	 "{'name': 'b', 'table': 'holding', 'address': 70000, 'type': 'int8'}, "
	 "{'name': 'c', 'table': 'input', 'address': 3}, "
	 "{'name': 'd', 'table': 'input', 'address': 4, 'type': 'int16', 'deadband': -1, "
	 "'store_max_interval_s': 0, 'order': 'abcd'}, "
	 "{'name': 'e', 'table': 'coil', 'address': 0, 'scale': 2, 'order': 'CDAB'}"), NULL, NULL,
	 "site.json: devices[0].points[0].scale: must be a number other than 0\n"
	 "site.json: devices[0].points[0].address: must be at most 65534 for type float32 (2 registers)\n"
	 "site.json: devices[0].points[1].address: must be an integer in 0..65535\n"
	 "site.json: devices[0].points[1].type: must be one of bool, int16, uint16, int32, uint32, "
	 "int64, uint64, float32, float64\n"
	 "site.json: devices[0].points[2].type: is required for an input or holding point\n"
	 "site.json: devices[0].points[3].order: must be one of ABCD, CDAB, BADC, DCBA\n"
	 "site.json: devices[0].points[3].deadband: must be a number >= 0\n"
	 "site.json: devices[0].points[3].store_max_interval_s: must be an integer in 1..86400\n"
	 "site.json: devices[0].points[4].scale: not used by type bool\n"
	 "site.json: devices[0].points[4].order: not used by type bool\n", false},
	{"duplicate point names", WITH_POINTS(PT ", " PT), NULL, NULL,
	 "site.json: devices[0].points[1].name: duplicate point \"p\"\n", false},
	{"device without points", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', 'bus': 'lan', "
	 "'unit': 1}, {'id': 'd2', 'bus': 'lan', 'unit': 2, 'points': []}]}", NULL, NULL,
	 "site.json: devices[0]: needs a profile or points\n"
	 "site.json: devices[1].points: the device has no points\n", false},
	{"log level", "{" BASE ", 'log_level': 'verbose'}", NULL, NULL,
	 "site.json: log_level: must be one of error, warn, info, debug\n", false},
	{"many errors at once", "{'site': {'id': 's1'}, 'buses': [{'id': 'lan', 'type': 'tcp', "
	 "'host': 'h', 'baud': 9600}], 'devices': [{'id': 'd1', 'bus': 'lan', 'unit': 300, "
	 "'poll_ms': 0, 'points': [{'name': 'p', 'table': 'register', 'address': 0}]}], "
	 "'alarms': [{'id': 'a', 'point': 'd1.p', 'when': 'below', 'threshold': 1, 'clear': 0}], "
	 "'extra': null}", NULL, NULL,
	 "site.json: extra: unknown key\n"
	 "site.json: site.gateway: is required\n"
	 "site.json: buses[0].baud: not allowed on a tcp bus\n"
	 "site.json: devices[0].unit: must be an integer in 0..255\n"
	 "site.json: devices[0].poll_ms: must be an integer in 50..3600000\n"
	 "site.json: devices[0].points[0].table: must be one of coil, discrete, input, holding\n"
	 "site.json: alarms[0].clear: must be >= threshold for when \"below\"\n", false},
	{"errors inside a profile", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', 'bus': 'lan', "
	 "'unit': 1, 'profile': 'meter'}, {'id': 'd2', 'bus': 'lan', 'unit': 2, 'profile': 'meter'}], "
	 "'alarms': [{'id': 'a', 'point': 'd1.v', 'when': 'above', 'threshold': 1}]}",
	 "meter", "{'profile': 'meter', 'vendor': 'v', 'model': 'm', 'class': 'meter', 'colour': 1, "
	 "'points': [{'name': 'v', 'table': 'holding', 'address': 0, 'type': 'real'}, "
	 "{'name': 'i', 'table': 'holding', 'address': 2, 'type': 'int16', 'decimals_from': 'dp'}, "
	 "{'name': 'j', 'table': 'holding', 'address': 2, 'type': 'int16'}]}",
	 "profiles/meter.json: colour: unknown key\n"
	 "profiles/meter.json: points[0].type: must be one of bool, int16, uint16, int32, uint32, "
	 "int64, uint64, float32, float64\n", false},
	{"profile consistency", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', 'bus': 'lan', "
	 "'unit': 1, 'profile': 'meter'}]}",
	 "meter", "{'profile': 'metre', 'vendor': 'v', 'model': 'm', 'class': 'meter', "
	 "'points': [{'name': 'i', 'table': 'holding', 'address': 2, 'type': 'int16', "
	 "'decimals_from': 'dp'}, {'name': 'j', 'table': 'holding', 'address': 2, 'type': 'int16'}, "
	 "{'name': 'j', 'table': 'holding', 'address': 3, 'type': 'int16'}]}",
	 "profiles/meter.json: profile: must be \"meter\" (the file's name)\n"
	 "profiles/meter.json: points[1].address: overlaps point \"i\" (holding 2)\n"
	 "profiles/meter.json: points[2].name: duplicate point \"j\"\n"
	 "profiles/meter.json: points[0].decimals_from: no point \"dp\" in this profile\n", false},
	{"profile syntax error", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', 'bus': 'lan', "
	 "'unit': 1, 'profile': 'meter'}]}",
	 "meter", "{\n  'profile': 'meter',\n  'points': [,]\n}\n",
	 "profiles/meter.json:3:14: unexpected token near ','\n", false},
	{"inline point overlapping a profile point", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', "
	 "'bus': 'lan', 'unit': 1, 'profile': 'pt', 'points': [{'name': 'extra', 'table': 'holding', "
	 "'address': 4, 'type': 'int32'}, {'name': 'dp', 'table': 'holding', 'address': 9, "
	 "'type': 'float32'}]}]}",
	 "pt", "{'profile': 'pt', 'vendor': 'v', 'model': 'm', 'class': 'pressure', 'source': 'x', "
	 "'points': [{'name': 'dp', 'table': 'holding', 'address': 3, 'type': 'uint16'}, "
	 "{'name': 'v', 'table': 'holding', 'address': 4, 'type': 'int16', 'decimals_from': 'dp'}]}",
	 "site.json: devices[0].points[0].address: overlaps point \"v\" (holding 4)\n"
	 "site.json: devices[0].points[1].name: point \"v\" of the profile takes its decimals from "
	 "this point: it must be an integer register point without decimals_from\n", false},
	{"missing serial device is a warning", "{" SITE ", 'buses': [{'id': 'rs', 'type': 'rtu', "
	 "'device': '/dev/yw-test-no-such-tty'}], 'devices': [{'id': 'd1', 'bus': 'rs', 'unit': 1, "
	 "'points': [" PT "]}]}", NULL, NULL,
	 "warning: site.json: buses[0].device: /dev/yw-test-no-such-tty does not exist (yet)\n", true},
	{"alarm on a disabled device is a warning", "{" SITE ", " TCP ", 'devices': [{'id': 'd1', "
	 "'bus': 'lan', 'unit': 1, 'enabled': false, 'points': [" PT "]}], 'alarms': [{'id': 'a', "
	 "'point': 'd1.p', 'when': 'not_equals', 'value': 0}]}", NULL, NULL,
	 "warning: site.json: alarms[0].point: device \"d1\" is disabled: this alarm can never be raised\n",
	 true},
};

static void test_bad_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad *b = &bad[i];
		char pfile[PATH_MAX], *out = NULL, *want = expand(b->expect, false);
		struct config *cfg;

		write_file("site.json", b->json, true);
		if (b->pname) {
			snprintf(pfile, sizeof(pfile), "profiles/%s.json", b->pname);
			write_file(pfile, b->pjson, true);
		}
		cfg = load("site.json", "profiles", &out);
		CHECK((cfg != NULL) == b->loads);
		CHECK(strcmp(out, want) == 0);
		if ((cfg != NULL) != b->loads || strcmp(out, want) != 0)
			fprintf(stderr, "case %zu (%s):\n--- expected\n%s--- got\n%s---\n", i, b->what,
				want, out);
		config_free(cfg);
		free(out);
		free(want);
		if (b->pname)
			remove(pfile);
	}
	CHECK(i >= 30);
}

/* ---- good configs --------------------------------------------------------- */

static void test_shipped(void)
{
	const char *src = getenv("YW_SRC");
	char path[PATH_MAX], pdir[PATH_MAX], *out = NULL, *line;
	struct config *cfg;
	const struct device_cfg *d;
	int di, pi;

	CHECK(src != NULL);
	if (!src)
		return;
	snprintf(pdir, sizeof(pdir), "%s/config/profiles", src);

	snprintf(path, sizeof(path), "%s/config/demo.json", src);
	cfg = load(path, pdir, &out);
	CHECK(cfg != NULL);
	CHECK(out && out[0] == '\0');
	if (out && out[0])
		fprintf(stderr, "demo.json:\n%s", out);
	free(out);
	if (cfg) {
		CHECK(cfg->nbuses == 1 && cfg->ndevices == 24 && cfg->nalarms == 6);
		CHECK(cfg->buses[0].type == BUS_TCP && cfg->buses[0].port == 15020);
		CHECK(cfg->mqtt.enabled && cfg->mqtt.nbrokers == 1 && cfg->mqtt.brokers[0].port == 18830);
		CHECK(cfg->mqtt.telemetry_interval_s == 10);
		snprintf(path, sizeof(path), "%s/config/demo.db", src);
		/* relative storage path: next to the config (compare the file name part) */
		CHECK(strstr(cfg->storage_path, "/config/demo.db") != NULL);
		di = config_find_device(cfg, "b3-pressure");
		CHECK(di >= 0);
		if (di >= 0) {
			d = &cfg->devices[di];
			CHECK(d->unit == 9 && d->category == CAT_FIRE && d->poll_ms == 1000);
			pi = config_find_point(d, "pressure");
			CHECK(pi >= 0);
			if (pi >= 0) {
				CHECK(d->points[pi].decimals_from == config_find_point(d, "decimals"));
				CHECK(d->points[pi].type == TYPE_INT16 && d->points[pi].address == 4);
				CHECK(strcmp(d->points[pi].unit, "MPa") == 0);
			}
		}
		di = config_find_alarm(cfg, "b3-fire-pressure-low");
		CHECK(di >= 0);
		if (di >= 0) {
			const struct alarm_cfg *a = &cfg->alarms[di];

			CHECK(a->when == WHEN_BELOW && a->threshold == 0.10 && a->clear == 0.12);
			CHECK(a->has_clear && a->delay_s == 3 && a->severity == SEV_CRITICAL);
			CHECK(a->device == config_find_device(cfg, "b3-pressure"));
		}
		config_free(cfg);
	}

	/* the example names a serial port that may be missing here: warnings only */
	snprintf(path, sizeof(path), "%s/config/yardwatch.json", src);
	cfg = load(path, pdir, &out);
	CHECK(cfg != NULL);
	for (line = out; line && *line; line = strchr(line, '\n') + 1) {
		CHECK(strncmp(line, "warning: ", 9) == 0);
		if (!strchr(line, '\n'))
			break;
	}
	free(out);
	if (cfg) {
		CHECK(cfg->nbuses == 2 && cfg->nalarms >= 1);
		CHECK(strcmp(cfg->storage_path, "/var/lib/yardwatch/yardwatch.db") == 0);
		CHECK(cfg->mqtt.password_file[0] == '\0' && cfg->mqtt.ca_file[0] == '\0');
		config_free(cfg);
	}
}

static void test_defaults(void)
{
	struct config *cfg;
	char *out = NULL;

	write_file("site.json", "{'site': {'id': 's1', 'gateway': 'gw1'}, "
		   "'buses': [{'id': 'lan', 'type': 'tcp', 'host': 'h'}, "
		   "{'id': 'rs', 'type': 'rtu', 'device': '/dev/null'}], "
		   "'devices': [{'id': 'd1', 'bus': 'lan', 'unit': 0, 'category': 'water', 'points': ["
		   "{'name': 'p', 'table': 'holding', 'address': 0, 'type': 'int16'}, "
		   "{'name': 'c', 'table': 'coil', 'address': 0}]}], "
		   "'alarms': [{'id': 'a', 'point': 'd1.p', 'when': 'above', 'threshold': 3}]}", true);
	cfg = load("site.json", NULL, &out);
	CHECK(cfg != NULL);
	CHECK(out && out[0] == '\0');
	free(out);
	if (!cfg)
		return;
	CHECK(strcmp(cfg->path, "site.json") == 0);
	CHECK(strcmp(cfg->site_name, "") == 0);
	CHECK(strcmp(cfg->storage_path, "/var/lib/yardwatch/yardwatch.db") == 0);
	CHECK(cfg->retention_days == 90 && cfg->max_mb == 256);
	CHECK(strcmp(cfg->profiles_dir, YW_PROFILES_DIR) == 0);
	CHECK(cfg->log_level == LOG_LVL_INFO);
	CHECK(!cfg->mqtt.enabled && cfg->mqtt.nbrokers == 0);
	CHECK(strcmp(cfg->mqtt.client_id, "s1-gw1") == 0);
	CHECK(strcmp(cfg->mqtt.topic_prefix, "yardwatch") == 0);
	CHECK(cfg->mqtt.keepalive_s == 30 && cfg->mqtt.telemetry_interval_s == 60);
	CHECK(cfg->mqtt.telemetry_qos == 0);
	CHECK(cfg->mqtt.command_qos == 1);
	CHECK(cfg->buses[0].type == BUS_TCP && cfg->buses[0].port == 502);
	CHECK(cfg->buses[0].timeout_ms == 1000 && cfg->buses[0].retries == 1);
	CHECK(cfg->buses[1].type == BUS_RTU && cfg->buses[1].timeout_ms == 300);
	CHECK(cfg->buses[1].baud == 9600 && cfg->buses[1].parity == 'N');
	CHECK(cfg->buses[1].data_bits == 8 && cfg->buses[1].stop_bits == 1);
	CHECK(!cfg->buses[1].rs485 && cfg->buses[1].inter_frame_delay_ms == 0);
	CHECK(cfg->ndevices == 1 && cfg->devices[0].npoints == 2);
	{
		const struct device_cfg *d = &cfg->devices[0];
		const struct point_cfg *p = &d->points[0], *c = &d->points[1];

		CHECK(d->bus == 0 && d->unit == 0 && d->profile[0] == '\0');
		CHECK(d->poll_ms == 1000 && d->enabled && d->offline_after == 3);
		CHECK(d->offline_severity == SEV_MAJOR && d->max_read_regs == 125 && d->max_gap == 0);
		CHECK(d->location[0] == '\0' && d->category == CAT_WATER);
		CHECK(p->order == ORDER_ABCD && p->bit == -1 && p->scale == 1 && p->offset == 0);
		CHECK(p->decimals_from == -1 && p->unit[0] == '\0' && !p->writable);
		CHECK(!p->has_min && !p->has_max && p->deadband == 0);
		CHECK(p->store_max_interval_s == 300);
		CHECK(c->table == TABLE_COIL && c->type == TYPE_BOOL);
	}
	CHECK(cfg->alarms[0].clear == 3 && !cfg->alarms[0].has_clear);
	CHECK(cfg->alarms[0].severity == SEV_MAJOR && cfg->alarms[0].category == CAT_WATER);
	CHECK(cfg->alarms[0].delay_s == 0 && !cfg->alarms[0].latch);
	CHECK(cfg->alarms[0].message[0] == '\0');
	CHECK(config_npoints(cfg) == 2);
	CHECK(config_find_device(cfg, "nope") == -1 && config_find_alarm(cfg, "a") == 0);
	CHECK(config_find_point(&cfg->devices[0], "c") == 1);
	config_free(cfg);

	/* mqtt defaults, mqtts port, relative paths, password newline handling */
	write_file("pw1", "s3cret\n", false);
	write_file("pw2", "two\n\n", false);
	write_file("pw3", "crlf\r\n", false);
	write_file("ca.pem", "not really a certificate\n", false);
	write_file("site.json", "{'site': {'id': 's1', 'gateway': 'gw1', 'name': 'Site one'}, "
		   "'storage': {'path': 'data/yw.db'}, 'profiles_dir': 'profiles', "
		   "'mqtt': {'brokers': ['mqtts://centre.example.cn', 'mqtt://[::1]:1884'], "
		   "'username': 'gw1', 'password_file': 'pw1', 'tls': {'ca_file': 'ca.pem', "
		   "'cert_file': null, 'key_file': null}}, "
		   "'buses': [{'id': 'lan', 'type': 'tcp', 'host': 'h'}], "
		   "'devices': [{'id': 'd1', 'bus': 'lan', 'unit': 1, 'profile': 'pt', 'points': ["
		   "{'name': 'v', 'table': 'holding', 'address': 4, 'type': 'int16', "
		   "'decimals_from': 'dp', 'unit': 'bar'}, "
		   "{'name': 'new', 'table': 'coil', 'address': 0, 'writable': true}]}]}", true);
	write_file("profiles/pt.json", "{'profile': 'pt', 'vendor': 'v', 'model': 'm', "
		   "'class': 'pressure', 'source': 's', 'description': 'd', "
		   "'points': [{'name': 'dp', 'table': 'holding', 'address': 3, 'type': 'uint16'}, "
		   "{'name': 'v', 'table': 'holding', 'address': 4, 'type': 'int16', "
		   "'decimals_from': 'dp', 'unit': 'MPa'}, "
		   "{'name': 'w', 'table': 'holding', 'address': 5, 'type': 'int16'}]}", true);
	out = NULL;
	cfg = load("site.json", NULL, &out);
	CHECK(cfg != NULL);
	CHECK(out && out[0] == '\0');
	if (out && out[0])
		fprintf(stderr, "%s", out);
	free(out);
	if (cfg) {
		const struct device_cfg *d = &cfg->devices[0];

		CHECK(strcmp(cfg->site_name, "Site one") == 0);
		CHECK(in_tmp(cfg->storage_path, "data/yw.db"));
		CHECK(in_tmp(cfg->profiles_dir, "profiles"));
		CHECK(in_tmp(cfg->mqtt.password_file, "pw1"));
		CHECK(in_tmp(cfg->mqtt.ca_file, "ca.pem"));
		CHECK(cfg->mqtt.cert_file[0] == '\0' && cfg->mqtt.key_file[0] == '\0');
		CHECK(strcmp(cfg->mqtt.password, "s3cret") == 0);
		CHECK(strcmp(cfg->mqtt.username, "gw1") == 0);
		CHECK(cfg->mqtt.enabled && cfg->mqtt.nbrokers == 2);
		CHECK(cfg->mqtt.brokers[0].tls && cfg->mqtt.brokers[0].port == 8883);
		CHECK(strcmp(cfg->mqtt.brokers[0].host, "centre.example.cn") == 0);
		CHECK(!cfg->mqtt.brokers[1].tls && cfg->mqtt.brokers[1].port == 1884);
		CHECK(strcmp(cfg->mqtt.brokers[1].host, "::1") == 0);
		/* inline "v" replaced the profile's in place; "new" appended */
		CHECK(strcmp(d->profile, "pt") == 0 && d->npoints == 4);
		CHECK(strcmp(d->points[0].name, "dp") == 0 && strcmp(d->points[1].name, "v") == 0);
		CHECK(strcmp(d->points[1].unit, "bar") == 0 && d->points[1].decimals_from == 0);
		CHECK(strcmp(d->points[2].name, "w") == 0 && strcmp(d->points[3].name, "new") == 0);
		CHECK(d->points[3].writable && d->points[3].type == TYPE_BOOL);
		config_free(cfg);
	}

	/* only one trailing newline is stripped; CRLF counts as one */
	write_file("site.json", "{'site': {'id': 's1', 'gateway': 'gw1'}, "
		   "'mqtt': {'brokers': ['mqtt://h'], 'username': 'u', 'password_file': 'pw2'}, "
		   "'buses': [{'id': 'lan', 'type': 'tcp', 'host': 'h'}], "
		   "'devices': [{'id': 'd1', 'bus': 'lan', 'unit': 1, 'profile': 'pt'}]}", true);
	out = NULL;
	cfg = load("site.json", "profiles", &out);
	CHECK(cfg && strcmp(cfg->mqtt.password, "two\n") == 0);
	CHECK(cfg && cfg->mqtt.brokers[0].port == 1883);
	config_free(cfg);
	free(out);
	write_file("site.json", "{'site': {'id': 's1', 'gateway': 'gw1'}, "
		   "'mqtt': {'brokers': ['mqtt://h'], 'username': 'u', 'password_file': '@D/pw3'}, "
		   "'buses': [{'id': 'lan', 'type': 'tcp', 'host': 'h'}], "
		   "'devices': [{'id': 'd1', 'bus': 'lan', 'unit': 1, 'profile': 'pt'}]}", true);
	out = NULL;
	cfg = load("site.json", "profiles", &out);
	CHECK(cfg && strcmp(cfg->mqtt.password, "crlf") == 0);
	config_free(cfg);
	free(out);
	remove("profiles/pt.json");
}

static void test_names(void)
{
	CHECK(strcmp(point_table_name(TABLE_HOLDING), "holding") == 0);
	CHECK(strcmp(point_type_name(TYPE_FLOAT32), "float32") == 0);
	CHECK(strcmp(config_severity_name(SEV_WARNING), "warning") == 0);
	CHECK(strcmp(config_category_name(CAT_ENVIRONMENT), "environment") == 0);
	CHECK(strcmp(config_when_name(WHEN_NOT_EQUALS), "not_equals") == 0);
	char *out = NULL;

	CHECK(load("/nonexistent/dir/yw.json", NULL, &out) == NULL);
	CHECK(strcmp(out, "/nonexistent/dir/yw.json: cannot read: No such file or directory\n") == 0);
	free(out);
	config_free(NULL);
}

int main(void)
{
	char cwd[PATH_MAX], tmpl[] = "/tmp/yw-test-config.XXXXXX";

	if (!getcwd(cwd, sizeof(cwd)) || !mkdtemp(tmpl) || !realpath(tmpl, tmpdir) ||
	    chdir(tmpdir) != 0 || mkdir("profiles", 0755) != 0) {
		perror("setup");
		return 1;
	}
	test_bad_table();
	test_shipped();
	test_defaults();
	test_names();
	if (chdir(cwd) != 0)
		perror("chdir");
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
