/*
 * config: loads and validates the gateway configuration and the device
 * profiles it names into the typed structs of config.h. The only module that
 * sees JSON (with payload.c, which builds MQTT payloads).
 *
 * How it reports: every problem found is written to ERRS, one line each, and
 * loading goes on so that one run shows all of them:
 *   FILE: JSON.PATH: message       a value (FILE = the config as given, or the
 *                                  profile's path for an error inside a profile)
 *   FILE:LINE:COLUMN: message      a syntax error (from jansson)
 *   warning: FILE: JSON.PATH: msg  does not make the load fail
 * Checks whose input is already wrong are skipped (an alarm naming a point of
 * a device whose points did not validate reports nothing more), so that one
 * mistake gives one line.
 *
 * Decisions where the SPEC is silent (the README's config reference repeats
 * them):
 *  - Relative paths (storage.path, profiles_dir, mqtt.password_file,
 *    mqtt.tls.*) are relative to the directory of the config file, and are
 *    stored absolute. profiles_dir_override is used as given.
 *  - Ranges: poll_ms 50..3600000, timeout_ms 10..10000, retries 0..5, baud one
 *    of 1200..230400 (standard rates), unit 1..247 on an rtu bus (0 is the
 *    broadcast address: nobody answers a read) and 0..255 on a tcp bus, port
 *    1..65535, max_read_regs 1..125, max_gap 0..125, offline_after 1..100,
 *    retention_days 1..3650, max_mb 1..1048576, keepalive_s 5..3600,
 *    telemetry.interval_s 0..86400 (0 = off), telemetry.qos 0..1,
 *    inter_frame_delay_ms 0..1000, deadband >= 0, store_max_interval_s
 *    1..86400, delay_s and clear_delay_s 0..86400, scale a number other than 0.
 *  - At least one bus and one device. Two devices on one bus may not share a
 *    unit id; two tcp buses may not share host:port; two rtu buses may not
 *    share a serial device.
 *  - Points: `type` defaults to bool on coil/discrete tables and is required
 *    on input/holding. A bool on an input/holding register needs `bit`.
 *    scale, offset, order and decimals_from are refused on bool points.
 *    `min`/`max` need `writable: true`; writable needs a coil or holding table.
 *    Several bit points may share a register; the same bit twice is an overlap.
 *  - decimals_from (profile or inline point): "POINTNAME" of an integer
 *    register point of the same device (not itself, without decimals_from of
 *    its own); the value becomes raw * scale / 10^(that point's value) + offset.
 *  - A device names a profile, lists points, or both; inline points replace
 *    the profile's point of the same name (the whole point); the device must
 *    end up with at least one point.
 *  - mqtt.password_file needs mqtt.username. mqtt.tls files are only allowed
 *    when some broker is mqtts://; cert_file and key_file go together.
 *    topic_prefix may not contain + or #, empty levels, or start with $.
 *  - An alarm on a disabled device is a warning (it can never fire).
 *  - A serial device that does not exist is a warning (plugged in later).
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "version.h"

#define PATHSZ 256            /* a JSON path in a message */

static const char *const severity_names[] = {"critical", "major", "minor", "warning"};
static const char *const category_names[] = {"fire", "power", "water", "lighting",
					     "security", "gas", "elevator", "structure",
					     "environment", "system"};
static const char *const when_names[] = {"above", "below", "equals", "not_equals"};
static const char *const bus_type_names[] = {"rtu", "tcp"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const int std_bauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400};

/* A point while the device is being put together. */
struct pt_tmp {
	struct point_cfg p;
	char dfrom[YW_ID_MAX];   /* decimals_from name, "" when none */
	bool inl;                /* from the device's inline "points" */
	int src;                 /* index in the JSON "points" array it came from */
};

/* A profile file, loaded once however many devices name it. */
struct profile {
	char name[YW_ID_MAX];
	char path[YW_PATH_MAX];
	int open_errno;          /* != 0: the file could not be opened */
	bool ok;                 /* parsed and valid */
	struct pt_tmp *pts;      /* owned */
	size_t npts;
};

struct ctx {
	FILE *errs;
	const char *file;        /* the file named in messages right now */
	int nerr;
	char dir[YW_PATH_MAX];   /* the config file's directory, absolute */
	const char *profiles_dir;
	struct profile *profiles;/* owned */
	size_t nprofiles;
	bool bad_bus_id;         /* some bus id did not validate */
	bool bad_device_id;      /* some device id did not validate */
	bool *dev_ok;            /* owned: per device, everything validated */
	bool *dev_id_ok;         /* owned: per device, its id validated */
};

/* ---- messages ---------------------------------------------------------- */

/* snprintf that truncates silently (messages and fixed-size fields). */
__attribute__((format(printf, 3, 4)))
static void strfmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static void cfg_vline(struct ctx *c, const char *prefix, const char *path,
		      const char *fmt, va_list ap)
{
	fprintf(c->errs, "%s%s: ", prefix, c->file);
	if (path && *path)
		fprintf(c->errs, "%s: ", path);
	vfprintf(c->errs, fmt, ap);
	fputc('\n', c->errs);
}

__attribute__((format(printf, 3, 4)))
static void cfg_err(struct ctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vline(c, "", path, fmt, ap);
	va_end(ap);
	c->nerr++;
}

__attribute__((format(printf, 3, 4)))
static void cfg_warn(struct ctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vline(c, "warning: ", path, fmt, ap);
	va_end(ap);
}

static const char *kpath(char *buf, const char *base, const char *key)
{
	if (*base)
		strfmt(buf, PATHSZ, "%s.%s", base, key);
	else
		strfmt(buf, PATHSZ, "%s", key);
	return buf;
}

static const char *ipath(char *buf, const char *base, size_t i)
{
	strfmt(buf, PATHSZ, "%s[%zu]", base, i);
	return buf;
}

/* ---- typed getters ------------------------------------------------------
 * Each returns 0 when KEY is absent (OUT untouched: the caller set the
 * default), 1 when present and valid, -1 when present and wrong (reported).
 */

static bool list_has(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* Report every key of O not in ALLOWED (NULL-terminated). */
static void check_keys(struct ctx *c, json_t *o, const char *base,
		       const char *const *allowed)
{
	const char *key;
	json_t *v;
	char p[PATHSZ];

	json_object_foreach(o, key, v)
		if (!list_has(allowed, key))
			cfg_err(c, kpath(p, base, key), "unknown key");
}

static bool need(struct ctx *c, json_t *o, const char *base, const char *key)
{
	char p[PATHSZ];

	if (json_object_get(o, key))
		return true;
	cfg_err(c, kpath(p, base, key), "is required");
	return false;
}

static int get_int(struct ctx *c, json_t *o, const char *base, const char *key,
		   long long lo, long long hi, int *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		cfg_err(c, kpath(p, base, key), "must be an integer in %lld..%lld", lo, hi);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 1;
}

static int get_int_of(struct ctx *c, json_t *o, const char *base, const char *key,
		      const int *vals, size_t n, int *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ], list[256];
	size_t i, len = 0;

	if (!v)
		return 0;
	if (json_is_integer(v))
		for (i = 0; i < n; i++)
			if (json_integer_value(v) == vals[i]) {
				*out = vals[i];
				return 1;
			}
	list[0] = '\0';
	for (i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d",
					i ? ", " : "", vals[i]);
	cfg_err(c, kpath(p, base, key), "must be one of %s", list);
	return -1;
}

static int get_num(struct ctx *c, json_t *o, const char *base, const char *key,
		   double *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (!v)
		return 0;
	if (!json_is_number(v)) {
		cfg_err(c, kpath(p, base, key), "must be a number");
		return -1;
	}
	*out = json_number_value(v);
	return 1;
}

static int get_num_range(struct ctx *c, json_t *o, const char *base, const char *key,
			 double lo, double hi, double *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (!v)
		return 0;
	if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
		cfg_err(c, kpath(p, base, key), "must be a number in %g..%g", lo, hi);
		return -1;
	}
	*out = json_number_value(v);
	return 1;
}

static int get_bool(struct ctx *c, json_t *o, const char *base, const char *key,
		    bool *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		cfg_err(c, kpath(p, base, key), "must be true or false");
		return -1;
	}
	*out = json_is_true(v);
	return 1;
}

/* A string of at most SIZE-1 bytes; NONEMPTY refuses "". */
static int get_str(struct ctx *c, json_t *o, const char *base, const char *key,
		   char *out, size_t size, bool nonempty)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (!v)
		return 0;
	if (!json_is_string(v)) {
		cfg_err(c, kpath(p, base, key), "must be a string");
		return -1;
	}
	if (json_string_length(v) >= size) {
		cfg_err(c, kpath(p, base, key), "must be at most %zu characters", size - 1);
		return -1;
	}
	if (nonempty && json_string_length(v) == 0) {
		cfg_err(c, kpath(p, base, key), "must not be empty");
		return -1;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

static bool id_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > 63)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');

		if (i > 0 && (ch == '_' || ch == '-'))
			ok = true;
		if (!ok)
			return false;
	}
	return true;
}

static int get_id(struct ctx *c, json_t *o, const char *base, const char *key,
		  char out[YW_ID_MAX])
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (!v)
		return 0;
	if (!json_is_string(v)) {
		cfg_err(c, kpath(p, base, key), "must be a string");
		return -1;
	}
	if (json_string_length(v) != strlen(json_string_value(v)) ||
	    !id_valid(json_string_value(v))) {
		cfg_err(c, kpath(p, base, key), "\"%s\" is not a valid id ([a-z0-9][a-z0-9_-]{0,62})",
			json_string_value(v));
		return -1;
	}
	strfmt(out, YW_ID_MAX, "%s", json_string_value(v));
	return 1;
}

static int get_enum(struct ctx *c, json_t *o, const char *base, const char *key,
		    const char *const *names, size_t n, int *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ], list[256];
	size_t i, len = 0;

	if (!v)
		return 0;
	if (json_is_string(v))
		for (i = 0; i < n; i++)
			if (strcmp(json_string_value(v), names[i]) == 0) {
				*out = (int)i;
				return 1;
			}
	list[0] = '\0';
	for (i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					i ? ", " : "", names[i]);
	cfg_err(c, kpath(p, base, key), "must be one of %s", list);
	return -1;
}

/* Object-valued KEY: NULL when absent or (reported) not an object. */
static json_t *get_obj(struct ctx *c, json_t *o, const char *base, const char *key)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (v && !json_is_object(v)) {
		cfg_err(c, kpath(p, base, key), "must be an object");
		return NULL;
	}
	return v;
}

/* ---- paths ------------------------------------------------------------- */

/* IN relative to the config's directory, or absolute; -1 (reported) when too long. */
static int resolve(struct ctx *c, const char *path, const char *in, char out[YW_PATH_MAX])
{
	int n;

	if (in[0] == '/')
		n = snprintf(out, YW_PATH_MAX, "%s", in);
	else
		n = snprintf(out, YW_PATH_MAX, "%s/%s", c->dir, in);
	if (n < 0 || n >= YW_PATH_MAX) {
		cfg_err(c, path, "path too long");
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* A relative path string KEY, resolved; 1 when set. */
static int get_path(struct ctx *c, json_t *o, const char *base, const char *key,
		    char out[YW_PATH_MAX])
{
	char raw[YW_PATH_MAX], p[PATHSZ];
	int r = get_str(c, o, base, key, raw, sizeof(raw), true);

	if (r <= 0)
		return r;
	return resolve(c, kpath(p, base, key), raw, out) == 0 ? 1 : -1;
}

/* Fails (reported) when the file cannot be opened for reading. */
static int check_readable(struct ctx *c, const char *path, const char *file)
{
	FILE *f = fopen(file, "r");

	if (!f) {
		cfg_err(c, path, "cannot read %s: %s", file, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

static void dir_of(const char *path, char out[YW_PATH_MAX])
{
	char tmp[YW_PATH_MAX], *slash;

	strfmt(tmp, sizeof(tmp), "%s", path);
	slash = strrchr(tmp, '/');
	if (!slash)
		strfmt(tmp, sizeof(tmp), ".");
	else if (slash == tmp)
		tmp[1] = '\0';
	else
		*slash = '\0';
	if (!realpath(tmp, out))
		strfmt(out, YW_PATH_MAX, "%s", tmp);
}

/* Parse FILE (c->file is its name in messages); NULL after reporting. */
static json_t *load_json(struct ctx *c, const char *file)
{
	json_error_t jerr;
	json_t *root;
	FILE *f = fopen(file, "r");

	if (!f) {
		fprintf(c->errs, "%s: cannot read: %s\n", c->file, strerror(errno));
		c->nerr++;
		return NULL;
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!root) {
		fprintf(c->errs, "%s:%d:%d: %s\n", c->file, jerr.line, jerr.column, jerr.text);
		c->nerr++;
		return NULL;
	}
	if (!json_is_object(root)) {
		fprintf(c->errs, "%s: must be a JSON object\n", c->file);
		c->nerr++;
		json_decref(root);
		return NULL;
	}
	return root;
}

/* ---- points ------------------------------------------------------------ */

static int type_width(enum yw_type t)
{
	switch (t) {
	case TYPE_INT32: case TYPE_UINT32: case TYPE_FLOAT32:
		return 2;
	case TYPE_INT64: case TYPE_UINT64: case TYPE_FLOAT64:
		return 4;
	default:
		return 1;
	}
}

static bool type_is_int(enum yw_type t)
{
	return t != TYPE_BOOL && t != TYPE_FLOAT32 && t != TYPE_FLOAT64;
}

static bool table_is_bits(enum yw_table t)
{
	return t == TABLE_COIL || t == TABLE_DISCRETE;
}

static const char *const point_keys[] = {
	"name", "table", "address", "type", "order", "bit", "scale", "offset",
	"decimals_from", "unit", "writable", "min", "max", "deadband",
	"store_max_interval_s", NULL
};

/* One point object at BASE into T. 0 when valid, -1 otherwise (reported). */
static int parse_point(struct ctx *c, json_t *o, const char *base, struct pt_tmp *t)
{
	struct point_cfg *p = &t->p;
	int e0 = c->nerr, table = -1, type = -1, order = 0, addr = -1, r_type;
	int r_order, r_bit, r_scale, r_offset, r_dfrom, r_min, r_max, r_wr;
	char kp[PATHSZ];

	memset(t, 0, sizeof(*t));
	p->bit = -1;
	p->scale = 1;
	p->decimals_from = -1;
	p->store_max_interval_s = 300;
	if (!json_is_object(o)) {
		cfg_err(c, base, "must be an object");
		return -1;
	}
	check_keys(c, o, base, point_keys);
	if (need(c, o, base, "name"))
		get_id(c, o, base, "name", p->name);
	if (need(c, o, base, "table"))
		get_enum(c, o, base, "table", point_table_names, NELEM(point_table_names), &table);
	if (need(c, o, base, "address"))
		get_int(c, o, base, "address", 0, 65535, &addr);
	r_type = get_enum(c, o, base, "type", point_type_names, NELEM(point_type_names), &type);
	r_order = get_enum(c, o, base, "order", point_order_names, NELEM(point_order_names), &order);
	r_bit = get_int(c, o, base, "bit", 0, 15, &p->bit);
	r_scale = get_num(c, o, base, "scale", &p->scale);
	if (r_scale == 1 && p->scale == 0) {
		cfg_err(c, kpath(kp, base, "scale"), "must be a number other than 0");
		r_scale = -1;
	}
	r_offset = get_num(c, o, base, "offset", &p->offset);
	r_dfrom = get_id(c, o, base, "decimals_from", t->dfrom);
	get_str(c, o, base, "unit", p->unit, sizeof(p->unit), false);
	r_wr = get_bool(c, o, base, "writable", &p->writable);
	r_min = get_num(c, o, base, "min", &p->min);
	r_max = get_num(c, o, base, "max", &p->max);
	p->has_min = r_min == 1;
	p->has_max = r_max == 1;
	if (get_num(c, o, base, "deadband", &p->deadband) == 1 && p->deadband < 0)
		cfg_err(c, kpath(kp, base, "deadband"), "must be a number >= 0");
	get_int(c, o, base, "store_max_interval_s", 1, 86400, &p->store_max_interval_s);

	if (table >= 0 && r_type == 0) {
		if (table_is_bits((enum yw_table)table))
			type = TYPE_BOOL;
		else
			cfg_err(c, kpath(kp, base, "type"), "is required for an input or holding point");
	}
	if (table >= 0 && type >= 0) {
		bool bits = table_is_bits((enum yw_table)table);

		if (bits && type != TYPE_BOOL)
			cfg_err(c, kpath(kp, base, "type"), "must be bool for a %s point",
				point_table_names[table]);
		if (r_bit == 1 && (bits || type != TYPE_BOOL))
			cfg_err(c, kpath(kp, base, "bit"),
				"only allowed with type bool on an input or holding register");
		if (r_bit == 0 && !bits && type == TYPE_BOOL)
			cfg_err(c, kpath(kp, base, "bit"),
				"is required for type bool on an input or holding register");
		if (r_wr == 1 && p->writable && (table == TABLE_DISCRETE || table == TABLE_INPUT))
			cfg_err(c, kpath(kp, base, "writable"),
				"only coil and holding points can be written");
		if (addr >= 0 && addr + type_width((enum yw_type)type) - 1 > 65535)
			cfg_err(c, kpath(kp, base, "address"),
				"must be at most %d for type %s (%d registers)",
				65536 - type_width((enum yw_type)type), point_type_names[type],
				type_width((enum yw_type)type));
	}
	if (type == TYPE_BOOL) {
		if (r_scale == 1)
			cfg_err(c, kpath(kp, base, "scale"), "not used by type bool");
		if (r_offset == 1)
			cfg_err(c, kpath(kp, base, "offset"), "not used by type bool");
		if (r_order == 1)
			cfg_err(c, kpath(kp, base, "order"), "not used by type bool");
		if (r_dfrom == 1)
			cfg_err(c, kpath(kp, base, "decimals_from"), "not used by type bool");
	}
	if (!(r_wr == 1 && p->writable)) {
		if (r_min == 1)
			cfg_err(c, kpath(kp, base, "min"), "only allowed with writable: true");
		if (r_max == 1)
			cfg_err(c, kpath(kp, base, "max"), "only allowed with writable: true");
	} else if (r_min == 1 && r_max == 1 && p->min > p->max) {
		cfg_err(c, kpath(kp, base, "min"), "must not be greater than max");
	}
	if (c->nerr != e0)
		return -1;
	p->table = (enum yw_table)table;
	p->type = (enum yw_type)type;
	p->order = (enum yw_order)order;
	p->address = (uint16_t)addr;
	return 0;
}

/* Where point T lives, for a message (the caller knows which file). */
static const char *pt_path(char *buf, const char *prefix, const struct pt_tmp *t,
			   const char *key)
{
	char b[PATHSZ];

	strfmt(b, sizeof(b), "%spoints[%d]", prefix, t->src);
	return kpath(buf, b, key);
}

static void pt_range(const struct pt_tmp *t, char *buf, size_t size)
{
	int w = table_is_bits(t->p.table) ? 1 : type_width(t->p.type);

	if (w == 1)
		strfmt(buf, size, "%s %u", point_table_names[t->p.table], t->p.address);
	else
		strfmt(buf, size, "%s %u..%u", point_table_names[t->p.table], t->p.address,
			 t->p.address + (unsigned)w - 1);
}

static bool pt_overlap(const struct pt_tmp *a, const struct pt_tmp *b)
{
	int wa, wb;

	if (a->p.table != b->p.table)
		return false;
	wa = table_is_bits(a->p.table) ? 1 : type_width(a->p.type);
	wb = table_is_bits(b->p.table) ? 1 : type_width(b->p.type);
	if (a->p.address + wa <= b->p.address || b->p.address + wb <= a->p.address)
		return false;
	if (a->p.bit >= 0 && b->p.bit >= 0)
		return a->p.bit == b->p.bit;
	return true;
}

static int pt_find(const struct pt_tmp *pts, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(pts[i].p.name, name) == 0)
			return (int)i;
	return -1;
}

/* Can PTS[T] give decimals to PTS[I]? */
static bool dfrom_target_ok(const struct pt_tmp *pts, int i, int t)
{
	return t != i && pts[t].dfrom[0] == '\0' && !table_is_bits(pts[t].p.table) &&
	       type_is_int(pts[t].p.type) && pts[t].p.bit < 0;
}

#define DFROM_BAD "must name an integer register point without decimals_from of its own"

/*
 * Consistency of a set of points: duplicate names, overlaps, decimals_from.
 * For a profile (PROFILE true) every point is checked, messages in the
 * profile's file. For a device, a pair is checked only when an inline point
 * takes part (profile-only problems were reported with the profile), and the
 * message goes to the inline point. PREFIX is "devices[N]." or "".
 * Resolves decimals_from to indices when all is well.
 */
static void check_point_set(struct ctx *c, struct pt_tmp *pts, size_t n, bool profile,
			    const char *prefix, const char *devid)
{
	char kp[PATHSZ], rng[64];
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++) {
			bool report = profile || pts[i].inl || pts[j].inl;
			const struct pt_tmp *at = pts[i].inl || profile ? &pts[i] : &pts[j];
			const struct pt_tmp *other = at == &pts[i] ? &pts[j] : &pts[i];

			if (!report)
				continue;
			if (pts[i].inl && pts[j].inl && pts[i].src < pts[j].src) {
				at = &pts[j];
				other = &pts[i];
			}
			if (strcmp(pts[i].p.name, pts[j].p.name) == 0) {
				cfg_err(c, pt_path(kp, prefix, at, "name"), "duplicate point \"%s\"",
					at->p.name);
				continue;
			}
			if (pt_overlap(&pts[i], &pts[j])) {
				pt_range(other, rng, sizeof(rng));
				cfg_err(c, pt_path(kp, prefix, at, "address"),
					"overlaps point \"%s\" (%s)", other->p.name, rng);
			}
		}
	}
	for (i = 0; i < n; i++) {
		int t;

		if (!pts[i].dfrom[0])
			continue;
		t = pt_find(pts, n, pts[i].dfrom);
		if (t >= 0 && dfrom_target_ok(pts, (int)i, t)) {
			pts[i].p.decimals_from = t;
			continue;
		}
		/* a device reports only what an inline point takes part in */
		if (!profile && !pts[i].inl && (t < 0 || !pts[t].inl))
			continue;
		if (t < 0 && profile)
			cfg_err(c, pt_path(kp, prefix, &pts[i], "decimals_from"),
				"no point \"%s\" in this profile", pts[i].dfrom);
		else if (t < 0)
			cfg_err(c, pt_path(kp, prefix, &pts[i], "decimals_from"),
				"no point \"%s\" in device \"%s\"", pts[i].dfrom, devid);
		else if (profile || pts[i].inl)
			cfg_err(c, pt_path(kp, prefix, &pts[i], "decimals_from"),
				"\"%s\" " DFROM_BAD, pts[i].dfrom);
		else
			cfg_err(c, pt_path(kp, prefix, &pts[t], "name"),
				"point \"%s\" of the profile takes its decimals from this "
				"point: it must be an integer register point without "
				"decimals_from", pts[i].p.name);
	}
}

/* Parse a JSON array of points at BASE into a new array (*OUT, *N: only the
 * valid ones). -1 when any is invalid or on OOM (reported). */
static int parse_points(struct ctx *c, json_t *arr, const char *base, bool inl,
			struct pt_tmp **out, size_t *n)
{
	size_t i, k = 0, cnt;
	char ip[PATHSZ];
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!json_is_array(arr)) {
		cfg_err(c, base, "must be an array of point objects");
		return -1;
	}
	cnt = json_array_size(arr);
	if (cnt == 0)
		return 0;
	*out = calloc(cnt, sizeof(**out));
	if (!*out) {
		cfg_err(c, base, "out of memory");
		return -1;
	}
	for (i = 0; i < cnt; i++) {
		if (parse_point(c, json_array_get(arr, i), ipath(ip, base, i), &(*out)[k]) < 0) {
			rc = -1;
			continue;
		}
		(*out)[k].inl = inl;
		(*out)[k].src = (int)i;
		k++;
	}
	*n = k;
	return rc;
}

/* ---- profiles ---------------------------------------------------------- */

static const char *const profile_keys[] = {
	"profile", "vendor", "model", "class", "source", "description", "points", NULL
};

static void profile_parse(struct ctx *c, struct profile *pr)
{
	const char *saved = c->file;
	char text[YW_TEXT_MAX], name[YW_ID_MAX];
	json_t *root, *arr;
	int e0 = c->nerr;

	c->file = pr->path;
	root = load_json(c, pr->path);
	if (!root)
		goto out;
	check_keys(c, root, "", profile_keys);
	if (need(c, root, "", "profile") &&
	    get_str(c, root, "", "profile", name, sizeof(name), true) == 1 &&
	    strcmp(name, pr->name) != 0)
		cfg_err(c, "profile", "must be \"%s\" (the file's name)", pr->name);
	if (need(c, root, "", "vendor"))
		get_str(c, root, "", "vendor", text, sizeof(text), true);
	if (need(c, root, "", "model"))
		get_str(c, root, "", "model", text, sizeof(text), true);
	if (need(c, root, "", "class"))
		get_str(c, root, "", "class", text, sizeof(text), true);
	if (json_object_get(root, "source") && !json_is_string(json_object_get(root, "source")))
		cfg_err(c, "source", "must be a string");
	if (json_object_get(root, "description") &&
	    !json_is_string(json_object_get(root, "description")))
		cfg_err(c, "description", "must be a string");
	arr = json_object_get(root, "points");
	if (!arr) {
		cfg_err(c, "points", "is required");
	} else if (json_is_array(arr) && json_array_size(arr) == 0) {
		cfg_err(c, "points", "must have at least one point");
	} else if (parse_points(c, arr, "points", false, &pr->pts, &pr->npts) == 0) {
		check_point_set(c, pr->pts, pr->npts, true, "", NULL);
	}
	json_decref(root);
out:
	pr->ok = c->nerr == e0;
	c->file = saved;
}

/* The profile NAME (loaded and checked on first use), or NULL when it cannot
 * be used (reported: at PATH when missing, in the profile when invalid). */
static struct profile *profile_get(struct ctx *c, const char *name, const char *path)
{
	struct profile *pr = NULL, *grown;
	size_t i;
	int n;

	for (i = 0; i < c->nprofiles; i++)
		if (strcmp(c->profiles[i].name, name) == 0)
			pr = &c->profiles[i];
	if (!pr) {
		grown = realloc(c->profiles, (c->nprofiles + 1) * sizeof(*grown));
		if (!grown) {
			cfg_err(c, path, "out of memory");
			return NULL;
		}
		c->profiles = grown;
		pr = &c->profiles[c->nprofiles++];
		memset(pr, 0, sizeof(*pr));
		strfmt(pr->name, sizeof(pr->name), "%s", name);
		n = snprintf(pr->path, sizeof(pr->path), "%s/%s.json", c->profiles_dir, name);
		if (n < 0 || n >= (int)sizeof(pr->path))
			pr->open_errno = ENAMETOOLONG;
		else if (access(pr->path, R_OK) != 0)
			pr->open_errno = errno;
		else
			profile_parse(c, pr);
	}
	if (pr->open_errno) {
		cfg_err(c, path, "cannot read profile %s: %s", pr->path, strerror(pr->open_errno));
		return NULL;
	}
	return pr->ok ? pr : NULL;
}

/* ---- sections ---------------------------------------------------------- */

static void parse_site(struct ctx *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {"id", "name", "gateway", NULL};
	json_t *o;

	if (!need(c, root, "", "site"))
		return;
	o = get_obj(c, root, "", "site");
	if (!o)
		return;
	check_keys(c, o, "site", keys);
	if (need(c, o, "site", "id"))
		get_id(c, o, "site", "id", cfg->site_id);
	get_str(c, o, "site", "name", cfg->site_name, sizeof(cfg->site_name), false);
	if (need(c, o, "site", "gateway"))
		get_id(c, o, "site", "gateway", cfg->gateway);
}

static void parse_storage(struct ctx *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {"path", "retention_days", "max_mb", NULL};
	json_t *o = get_obj(c, root, "", "storage");

	strfmt(cfg->storage_path, sizeof(cfg->storage_path), "/var/lib/yardwatch/yardwatch.db");
	cfg->retention_days = 90;
	cfg->max_mb = 256;
	if (!o)
		return;
	check_keys(c, o, "storage", keys);
	get_path(c, o, "storage", "path", cfg->storage_path);
	get_int(c, o, "storage", "retention_days", 1, 3650, &cfg->retention_days);
	get_int(c, o, "storage", "max_mb", 1, 1048576, &cfg->max_mb);
}

/* "mqtt[s]://host[:port]" into B; false when it is not one. */
static bool parse_broker(const char *url, struct broker_cfg *b)
{
	const char *h, *end;
	size_t hlen;
	char *ep;
	long port;

	if (strncmp(url, "mqtt://", 7) == 0) {
		b->tls = false;
		h = url + 7;
	} else if (strncmp(url, "mqtts://", 8) == 0) {
		b->tls = true;
		h = url + 8;
	} else {
		return false;
	}
	b->port = b->tls ? 8883 : 1883;
	if (*h == '[') {            /* [v6 address] */
		end = strchr(h, ']');
		if (!end)
			return false;
		hlen = (size_t)(end - h - 1);
		h++;
		end++;
	} else {
		end = h + strcspn(h, ":");
		hlen = (size_t)(end - h);
	}
	if (hlen == 0 || hlen >= sizeof(b->host))
		return false;
	memcpy(b->host, h, hlen);
	b->host[hlen] = '\0';
	if (strpbrk(b->host, "/?#@ \t"))
		return false;
	if (*end == '\0')
		return true;
	if (*end != ':' || !end[1] || end[1] < '0' || end[1] > '9')
		return false;
	errno = 0;
	port = strtol(end + 1, &ep, 10);
	if (errno || *ep || port < 1 || port > 65535)
		return false;
	b->port = (int)port;
	return true;
}

static bool topic_prefix_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || s[0] == '$' || s[0] == '/' || s[n - 1] == '/')
		return false;
	return !strpbrk(s, "+#") && !strstr(s, "//");
}

/* Read the password; one trailing newline (LF or CRLF) is not part of it. */
static void read_password(struct ctx *c, const char *path, struct config *cfg)
{
	char buf[YW_TEXT_MAX + 2];
	FILE *f = fopen(cfg->mqtt.password_file, "r");
	size_t n;

	if (!f) {
		cfg_err(c, path, "cannot read %s: %s", cfg->mqtt.password_file, strerror(errno));
		return;
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f)) {
		cfg_err(c, path, "cannot read %s: %s", cfg->mqtt.password_file, strerror(errno));
		goto out_close;
	}
	if (n && buf[n - 1] == '\n') {
		n--;
		if (n && buf[n - 1] == '\r')
			n--;
	}
	if (n >= sizeof(cfg->mqtt.password)) {
		cfg_err(c, path, "%s: the password is longer than %zu bytes",
			cfg->mqtt.password_file, sizeof(cfg->mqtt.password) - 1);
		goto out_close;
	}
	if (memchr(buf, '\0', n)) {
		cfg_err(c, path, "%s: the password contains a NUL byte", cfg->mqtt.password_file);
		goto out_close;
	}
	memcpy(cfg->mqtt.password, buf, n);
	cfg->mqtt.password[n] = '\0';
out_close:
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
}

static void parse_tls(struct ctx *c, json_t *mq, struct mqtt_cfg *m)
{
	static const char *const keys[] = {"ca_file", "cert_file", "key_file", NULL};
	static const char *const names[] = {"ca_file", "cert_file", "key_file"};
	char *outs[] = {m->ca_file, m->cert_file, m->key_file};
	char kp[PATHSZ];
	bool any = false, tls_broker = false;
	json_t *o = get_obj(c, mq, "mqtt", "tls");
	size_t i;

	if (!o)
		return;
	check_keys(c, o, "mqtt.tls", keys);
	for (i = 0; i < NELEM(names); i++) {
		json_t *v = json_object_get(o, names[i]);

		if (!v || json_is_null(v))
			continue;
		any = true;
		if (get_path(c, o, "mqtt.tls", names[i], outs[i]) == 1)
			check_readable(c, kpath(kp, "mqtt.tls", names[i]), outs[i]);
	}
	if (m->cert_file[0] && !json_is_string(json_object_get(o, "key_file")))
		cfg_err(c, "mqtt.tls.key_file", "is required with cert_file");
	if (m->key_file[0] && !json_is_string(json_object_get(o, "cert_file")))
		cfg_err(c, "mqtt.tls.cert_file", "is required with key_file");
	for (i = 0; i < m->nbrokers; i++)
		tls_broker |= m->brokers[i].tls;
	if (any && m->nbrokers && !tls_broker)
		cfg_err(c, "mqtt.tls", "no mqtts:// broker to use it");
}

static void parse_mqtt(struct ctx *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {
		"brokers", "client_id", "username", "password_file", "tls", "topic_prefix",
		"keepalive_s", "telemetry", NULL
	};
	static const char *const tkeys[] = {"interval_s", "qos", NULL};
	struct mqtt_cfg *m = &cfg->mqtt;
	json_t *o = get_obj(c, root, "", "mqtt"), *arr, *t;
	char ip[PATHSZ];
	size_t i, n;
	int r;

	strfmt(m->topic_prefix, sizeof(m->topic_prefix), "yardwatch");
	m->keepalive_s = 30;
	m->telemetry_interval_s = 60;
	m->telemetry_qos = 0;
	strfmt(m->client_id, sizeof(m->client_id), "%s-%s", cfg->site_id, cfg->gateway);
	if (!o)
		return;
	m->enabled = true;
	check_keys(c, o, "mqtt", keys);
	arr = json_object_get(o, "brokers");
	if (!arr) {
		cfg_err(c, "mqtt.brokers", "is required");
	} else if (!json_is_array(arr) || json_array_size(arr) == 0) {
		cfg_err(c, "mqtt.brokers", "must be a non-empty array of broker URLs");
	} else {
		n = json_array_size(arr);
		m->brokers = calloc(n, sizeof(*m->brokers));
		if (!m->brokers) {
			cfg_err(c, "mqtt.brokers", "out of memory");
			return;
		}
		for (i = 0; i < n; i++) {
			json_t *v = json_array_get(arr, i);

			ipath(ip, "mqtt.brokers", i);
			if (!json_is_string(v))
				cfg_err(c, ip, "must be a string");
			else if (!parse_broker(json_string_value(v), &m->brokers[m->nbrokers]))
				cfg_err(c, ip, "\"%s\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]",
					json_string_value(v));
			else
				m->nbrokers++;
		}
	}
	get_str(c, o, "mqtt", "client_id", m->client_id, sizeof(m->client_id), true);
	get_str(c, o, "mqtt", "username", m->username, sizeof(m->username), true);
	if (get_path(c, o, "mqtt", "password_file", m->password_file) == 1) {
		if (!m->username[0] && !json_object_get(o, "username"))
			cfg_err(c, "mqtt.password_file", "needs mqtt.username");
		read_password(c, "mqtt.password_file", cfg);
	}
	parse_tls(c, o, m);
	r = get_str(c, o, "mqtt", "topic_prefix", m->topic_prefix, sizeof(m->topic_prefix), true);
	if (r == 1 && !topic_prefix_ok(m->topic_prefix))
		cfg_err(c, "mqtt.topic_prefix",
			"must not contain + or #, empty levels, or start with $");
	get_int(c, o, "mqtt", "keepalive_s", 5, 3600, &m->keepalive_s);
	t = get_obj(c, o, "mqtt", "telemetry");
	if (t) {
		check_keys(c, t, "mqtt.telemetry", tkeys);
		get_int(c, t, "mqtt.telemetry", "interval_s", 0, 86400, &m->telemetry_interval_s);
		get_int(c, t, "mqtt.telemetry", "qos", 0, 1, &m->telemetry_qos);
	}
}

static const char *const bus_keys[] = {
	"id", "type", "device", "baud", "parity", "data_bits", "stop_bits", "rs485",
	"inter_frame_delay_ms", "host", "port", "timeout_ms", "retries", NULL
};
static const char *const rtu_only[] = {
	"device", "baud", "parity", "data_bits", "stop_bits", "rs485", "inter_frame_delay_ms", NULL
};
static const char *const tcp_only[] = {"host", "port", NULL};

static void parse_bus(struct ctx *c, json_t *o, const char *base, struct config *cfg,
		      size_t idx)
{
	static const int bits[] = {7, 8}, stops[] = {1, 2};
	struct bus_cfg *b = &cfg->buses[idx];
	char kp[PATHSZ], par[4];
	const char *const *k;
	struct stat st;
	int type = -1;
	size_t i;

	b->baud = 9600;
	b->parity = 'N';
	b->data_bits = 8;
	b->stop_bits = 1;
	b->port = 502;
	b->retries = 1;
	b->timeout_ms = 1000;
	if (!json_is_object(o)) {
		cfg_err(c, base, "must be an object");
		c->bad_bus_id = true;
		return;
	}
	check_keys(c, o, base, bus_keys);
	if (!need(c, o, base, "id") || get_id(c, o, base, "id", b->id) != 1) {
		c->bad_bus_id = true;
	} else {
		for (i = 0; i < idx; i++)
			if (strcmp(cfg->buses[i].id, b->id) == 0)
				cfg_err(c, kpath(kp, base, "id"), "duplicate bus id \"%s\"", b->id);
	}
	if (need(c, o, base, "type"))
		get_enum(c, o, base, "type", bus_type_names, NELEM(bus_type_names), &type);
	b->type = type == BUS_RTU ? BUS_RTU : BUS_TCP;
	if (type == BUS_RTU)
		b->timeout_ms = 300;
	get_int(c, o, base, "timeout_ms", 10, 10000, &b->timeout_ms);
	get_int(c, o, base, "retries", 0, 5, &b->retries);
	if (type == BUS_TCP) {
		for (k = rtu_only; *k; k++)
			if (json_object_get(o, *k))
				cfg_err(c, kpath(kp, base, *k), "not allowed on a tcp bus");
		if (json_object_get(o, "host")) {
			if (get_str(c, o, base, "host", b->host, sizeof(b->host), true) == 1 &&
			    strpbrk(b->host, " \t/"))
				cfg_err(c, kpath(kp, base, "host"), "\"%s\" is not a host name or address",
					b->host);
		} else {
			cfg_err(c, kpath(kp, base, "host"), "is required for a tcp bus");
		}
		get_int(c, o, base, "port", 1, 65535, &b->port);
		return;
	}
	if (type != BUS_RTU)
		return;
	for (k = tcp_only; *k; k++)
		if (json_object_get(o, *k))
			cfg_err(c, kpath(kp, base, *k), "not allowed on an rtu bus");
	if (!json_object_get(o, "device"))
		cfg_err(c, kpath(kp, base, "device"), "is required for an rtu bus");
	else if (get_str(c, o, base, "device", b->device, sizeof(b->device), true) == 1 &&
		 stat(b->device, &st) != 0)
		cfg_warn(c, kpath(kp, base, "device"), "%s does not exist (yet)", b->device);
	get_int_of(c, o, base, "baud", std_bauds, NELEM(std_bauds), &b->baud);
	if (json_object_get(o, "parity")) {
		json_t *v = json_object_get(o, "parity");

		if (!json_is_string(v) || json_string_length(v) != 1 ||
		    !strchr("NEO", json_string_value(v)[0])) {
			cfg_err(c, kpath(kp, base, "parity"), "must be one of N, E, O");
		} else {
			strfmt(par, sizeof(par), "%s", json_string_value(v));
			b->parity = par[0];
		}
	}
	get_int_of(c, o, base, "data_bits", bits, NELEM(bits), &b->data_bits);
	get_int_of(c, o, base, "stop_bits", stops, NELEM(stops), &b->stop_bits);
	get_bool(c, o, base, "rs485", &b->rs485);
	get_int(c, o, base, "inter_frame_delay_ms", 0, 1000, &b->inter_frame_delay_ms);
}

static bool same_tty(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (strcmp(a, b) == 0)
		return true;
	return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

static void parse_buses(struct ctx *c, json_t *root, struct config *cfg)
{
	json_t *arr;
	char ip[PATHSZ], kp[PATHSZ];
	size_t i, j, n;

	c->bad_bus_id = true;   /* until the array is there */
	if (!need(c, root, "", "buses"))
		return;
	arr = json_object_get(root, "buses");
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		cfg_err(c, "buses", "must be a non-empty array of bus objects");
		return;
	}
	n = json_array_size(arr);
	cfg->buses = calloc(n, sizeof(*cfg->buses));
	if (!cfg->buses) {
		cfg_err(c, "buses", "out of memory");
		return;
	}
	cfg->nbuses = n;
	c->bad_bus_id = false;
	for (i = 0; i < n; i++)
		parse_bus(c, json_array_get(arr, i), ipath(ip, "buses", i), cfg, i);
	for (i = 0; i < n; i++) {
		const struct bus_cfg *b = &cfg->buses[i];

		for (j = 0; j < i; j++) {
			const struct bus_cfg *a = &cfg->buses[j];

			if (!a->id[0] || !b->id[0])
				continue;
			if (b->host[0] && a->host[0] && strcasecmp(a->host, b->host) == 0 &&
			    a->port == b->port)
				cfg_err(c, kpath(kp, ipath(ip, "buses", i), "host"),
					"%s:%d is already bus \"%s\"", b->host, b->port, a->id);
			if (b->device[0] && a->device[0] && same_tty(a->device, b->device))
				cfg_err(c, kpath(kp, ipath(ip, "buses", i), "device"),
					"%s is already bus \"%s\"", b->device, a->id);
		}
	}
}

static const char *const device_keys[] = {
	"id", "bus", "unit", "profile", "points", "poll_ms", "location", "category",
	"enabled", "offline_after", "offline_severity", "max_read_regs", "max_gap", NULL
};

/* Profile points, then inline ones replacing them by name; checked; into D. */
static int merge_points(struct ctx *c, const char *base, struct device_cfg *d,
			const struct profile *pr, struct pt_tmp *inl, size_t ninl)
{
	size_t n = 0, i, cap = (pr ? pr->npts : 0) + ninl;
	struct pt_tmp *all;
	char prefix[PATHSZ];
	int e0 = c->nerr;

	if (cap == 0)
		return 0;
	all = calloc(cap, sizeof(*all));
	if (!all) {
		cfg_err(c, base, "out of memory");
		return -1;
	}
	if (pr) {
		memcpy(all, pr->pts, pr->npts * sizeof(*all));
		n = pr->npts;
	}
	for (i = 0; i < ninl; i++) {
		int at = pt_find(all, n, inl[i].p.name);

		if (at >= 0 && !all[at].inl)
			all[at] = inl[i];
		else
			all[n++] = inl[i];
	}
	strfmt(prefix, sizeof(prefix), "%s.", base);
	check_point_set(c, all, n, false, prefix, d->id);
	if (c->nerr == e0) {
		d->points = calloc(n, sizeof(*d->points));
		if (!d->points) {
			cfg_err(c, base, "out of memory");
		} else {
			for (i = 0; i < n; i++)
				d->points[i] = all[i].p;
			d->npoints = n;
		}
	}
	free(all);
	return c->nerr == e0 ? 0 : -1;
}

static void parse_device(struct ctx *c, json_t *o, const char *base, struct config *cfg,
			 size_t idx)
{
	struct device_cfg *d = &cfg->devices[idx];
	const struct profile *pr = NULL;
	struct pt_tmp *inl = NULL;
	size_t i, ninl = 0;
	char kp[PATHSZ], busid[YW_ID_MAX];
	int e0 = c->nerr, cat = CAT_SYSTEM, sev = SEV_MAJOR, r_unit = 0;
	bool broken = false;
	json_t *pts;

	d->bus = -1;
	d->unit = -1;
	d->poll_ms = 1000;
	d->category = CAT_SYSTEM;
	d->enabled = true;
	d->offline_after = 3;
	d->offline_severity = SEV_MAJOR;
	d->max_read_regs = 125;
	if (!json_is_object(o)) {
		cfg_err(c, base, "must be an object");
		c->bad_device_id = true;
		return;
	}
	check_keys(c, o, base, device_keys);
	if (!need(c, o, base, "id") || get_id(c, o, base, "id", d->id) != 1) {
		c->bad_device_id = true;
	} else {
		c->dev_id_ok[idx] = true;
		for (i = 0; i < idx; i++)
			if (c->dev_id_ok[i] && strcmp(cfg->devices[i].id, d->id) == 0)
				cfg_err(c, kpath(kp, base, "id"), "duplicate device id \"%s\"", d->id);
	}
	if (need(c, o, base, "bus") && get_id(c, o, base, "bus", busid) == 1) {
		for (i = 0; i < cfg->nbuses; i++)
			if (strcmp(cfg->buses[i].id, busid) == 0)
				d->bus = (int)i;
		if (d->bus < 0 && !c->bad_bus_id)
			cfg_err(c, kpath(kp, base, "bus"), "no bus \"%s\"", busid);
	}
	if (need(c, o, base, "unit")) {
		if (d->bus >= 0 && cfg->buses[d->bus].type == BUS_RTU)
			r_unit = get_int(c, o, base, "unit", 1, 247, &d->unit);
		else
			r_unit = get_int(c, o, base, "unit", 0, 255, &d->unit);
		/* 248..254 are reserved: libmodbus refuses them as unit ids. */
		if (r_unit == 1 && d->unit > 247 && d->unit < 255) {
			cfg_err(c, kpath(kp, base, "unit"), "must be 0..247 or 255 on a tcp bus");
			r_unit = 0;
		}
	}
	if (r_unit == 1 && d->bus >= 0)
		for (i = 0; i < idx; i++)
			if (cfg->devices[i].bus == d->bus && cfg->devices[i].unit == d->unit)
				cfg_err(c, kpath(kp, base, "unit"),
					"unit %d on bus \"%s\" is already device \"%s\"", d->unit,
					cfg->buses[d->bus].id, cfg->devices[i].id);
	get_int(c, o, base, "poll_ms", 50, 3600000, &d->poll_ms);
	get_str(c, o, base, "location", d->location, sizeof(d->location), false);
	if (get_enum(c, o, base, "category", category_names, NELEM(category_names), &cat) == 1)
		d->category = (enum yw_category)cat;
	get_bool(c, o, base, "enabled", &d->enabled);
	get_int(c, o, base, "offline_after", 1, 100, &d->offline_after);
	if (get_enum(c, o, base, "offline_severity", severity_names, NELEM(severity_names),
		     &sev) == 1)
		d->offline_severity = (enum yw_severity)sev;
	get_int(c, o, base, "max_read_regs", 1, 125, &d->max_read_regs);
	get_int(c, o, base, "max_gap", 0, 125, &d->max_gap);

	if (json_object_get(o, "profile")) {
		if (get_id(c, o, base, "profile", d->profile) == 1)
			pr = profile_get(c, d->profile, kpath(kp, base, "profile"));
		if (!pr)
			broken = true;
	}
	pts = json_object_get(o, "points");
	if (pts && parse_points(c, pts, kpath(kp, base, "points"), true, &inl, &ninl) < 0)
		broken = true;
	if (!pts && !json_object_get(o, "profile"))
		cfg_err(c, base, "needs a profile or points");
	else if (!broken && merge_points(c, base, d, pr, inl, ninl) == 0 && d->npoints == 0)
		cfg_err(c, kpath(kp, base, "points"), "the device has no points");
	free(inl);
	c->dev_ok[idx] = !broken && c->nerr == e0;
}

static void parse_devices(struct ctx *c, json_t *root, struct config *cfg)
{
	json_t *arr;
	char ip[PATHSZ];
	size_t i, n;

	c->bad_device_id = true;   /* until the array is there */
	if (!need(c, root, "", "devices"))
		return;
	arr = json_object_get(root, "devices");
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		cfg_err(c, "devices", "must be a non-empty array of device objects");
		return;
	}
	n = json_array_size(arr);
	cfg->devices = calloc(n, sizeof(*cfg->devices));
	c->dev_ok = calloc(n, sizeof(*c->dev_ok));
	c->dev_id_ok = calloc(n, sizeof(*c->dev_id_ok));
	if (!cfg->devices || !c->dev_ok || !c->dev_id_ok) {
		cfg_err(c, "devices", "out of memory");
		return;
	}
	cfg->ndevices = n;
	c->bad_device_id = false;
	for (i = 0; i < n; i++)
		parse_device(c, json_array_get(arr, i), ipath(ip, "devices", i), cfg, i);
}

static const char *const alarm_keys[] = {
	"id", "point", "when", "threshold", "clear", "value", "delay_s", "clear_delay_s",
	"severity", "category", "latch", "message", NULL
};

/* Resolve "DEVICE.POINT" for alarm A; reported when wrong. */
static void alarm_resolve(struct ctx *c, const char *base, struct config *cfg,
			  struct alarm_cfg *a)
{
	char kp[PATHSZ], dev[YW_FULLID_MAX];
	const char *dot = strchr(a->point, '.');
	size_t i;

	kpath(kp, base, "point");
	if (!dot || dot == a->point || !dot[1] || strchr(dot + 1, '.')) {
		cfg_err(c, kp, "\"%s\" is not DEVICE.POINT", a->point);
		return;
	}
	strfmt(dev, sizeof(dev), "%.*s", (int)(dot - a->point), a->point);
	for (i = 0; i < cfg->ndevices; i++)
		if (c->dev_id_ok[i] && strcmp(cfg->devices[i].id, dev) == 0)
			a->device = (int)i;
	if (a->device < 0) {
		if (!c->bad_device_id)
			cfg_err(c, kp, "no device \"%s\"", dev);
		return;
	}
	if (!c->dev_ok[a->device])
		return;
	a->pt = config_find_point(&cfg->devices[a->device], dot + 1);
	if (a->pt < 0)
		cfg_err(c, kp, "device \"%s\" has no point \"%s\"", dev, dot + 1);
}

static void parse_alarm(struct ctx *c, json_t *o, const char *base, struct config *cfg,
			size_t idx)
{
	struct alarm_cfg *a = &cfg->alarms[idx];
	char kp[PATHSZ];
	int when = -1, sev = SEV_MAJOR, cat = -1, r_thr, r_clear, r_val;
	json_t *v;
	size_t i;

	a->device = -1;
	a->pt = -1;
	a->severity = SEV_MAJOR;
	a->category = CAT_SYSTEM;
	if (!json_is_object(o)) {
		cfg_err(c, base, "must be an object");
		return;
	}
	check_keys(c, o, base, alarm_keys);
	if (need(c, o, base, "id") && get_id(c, o, base, "id", a->id) == 1)
		for (i = 0; i < idx; i++)
			if (strcmp(cfg->alarms[i].id, a->id) == 0)
				cfg_err(c, kpath(kp, base, "id"), "duplicate alarm id \"%s\"", a->id);
	if (need(c, o, base, "point") &&
	    get_str(c, o, base, "point", a->point, sizeof(a->point), true) == 1)
		alarm_resolve(c, base, cfg, a);
	if (need(c, o, base, "when"))
		get_enum(c, o, base, "when", when_names, NELEM(when_names), &when);
	r_thr = get_num(c, o, base, "threshold", &a->threshold);
	r_clear = get_num(c, o, base, "clear", &a->clear);
	a->has_clear = r_clear == 1;
	r_val = 0;
	v = json_object_get(o, "value");
	if (v) {
		r_val = 1;
		if (json_is_boolean(v)) {
			a->threshold = json_is_true(v) ? 1 : 0;
		} else if (json_is_number(v)) {
			a->threshold = json_number_value(v);
		} else {
			cfg_err(c, kpath(kp, base, "value"), "must be a number or true/false");
			r_val = -1;
		}
	}
	if (when == WHEN_ABOVE || when == WHEN_BELOW) {
		if (r_thr == 0)
			cfg_err(c, kpath(kp, base, "threshold"), "is required for when \"%s\"",
				when_names[when]);
		if (r_val != 0)
			cfg_err(c, kpath(kp, base, "value"),
				"not used with when \"%s\" (use threshold)", when_names[when]);
		if (r_thr == 1 && r_clear == 1 && when == WHEN_BELOW && a->clear < a->threshold)
			cfg_err(c, kpath(kp, base, "clear"),
				"must be >= threshold for when \"below\"");
		if (r_thr == 1 && r_clear == 1 && when == WHEN_ABOVE && a->clear > a->threshold)
			cfg_err(c, kpath(kp, base, "clear"),
				"must be <= threshold for when \"above\"");
	} else if (when == WHEN_EQUALS || when == WHEN_NOT_EQUALS) {
		if (r_val == 0)
			cfg_err(c, kpath(kp, base, "value"), "is required for when \"%s\"",
				when_names[when]);
		if (r_thr != 0)
			cfg_err(c, kpath(kp, base, "threshold"),
				"not used with when \"%s\" (use value)", when_names[when]);
		if (r_clear != 0)
			cfg_err(c, kpath(kp, base, "clear"), "not used with when \"%s\"",
				when_names[when]);
	}
	if (!a->has_clear)
		a->clear = a->threshold;
	if (when >= 0)
		a->when = (enum yw_when)when;
	get_num_range(c, o, base, "delay_s", 0, 86400, &a->delay_s);
	get_num_range(c, o, base, "clear_delay_s", 0, 86400, &a->clear_delay_s);
	if (get_enum(c, o, base, "severity", severity_names, NELEM(severity_names), &sev) == 1)
		a->severity = (enum yw_severity)sev;
	if (get_enum(c, o, base, "category", category_names, NELEM(category_names), &cat) == 1)
		a->category = (enum yw_category)cat;
	else if (a->device >= 0)
		a->category = cfg->devices[a->device].category;
	get_bool(c, o, base, "latch", &a->latch);
	get_str(c, o, base, "message", a->message, sizeof(a->message), false);
	if (a->device >= 0 && !cfg->devices[a->device].enabled)
		cfg_warn(c, kpath(kp, base, "point"),
			 "device \"%s\" is disabled: this alarm can never be raised",
			 cfg->devices[a->device].id);
}

static void parse_alarms(struct ctx *c, json_t *root, struct config *cfg)
{
	json_t *arr = json_object_get(root, "alarms");
	char ip[PATHSZ];
	size_t i, n;

	if (!arr)
		return;
	if (!json_is_array(arr)) {
		cfg_err(c, "alarms", "must be an array of alarm objects");
		return;
	}
	n = json_array_size(arr);
	if (n == 0)
		return;
	cfg->alarms = calloc(n, sizeof(*cfg->alarms));
	if (!cfg->alarms) {
		cfg_err(c, "alarms", "out of memory");
		return;
	}
	cfg->nalarms = n;
	for (i = 0; i < n; i++)
		parse_alarm(c, json_array_get(arr, i), ipath(ip, "alarms", i), cfg, i);
}

static const char *const root_keys[] = {
	"site", "log_level", "storage", "profiles_dir", "mqtt", "buses", "devices", "alarms",
	NULL
};

struct config *config_load(const char *path, const char *profiles_dir_override,
			   FILE *errs)
{
	struct ctx c;
	struct config *cfg;
	json_t *root;
	size_t i;
	int lvl = LOG_LVL_INFO;

	memset(&c, 0, sizeof(c));
	c.errs = errs;
	c.file = path;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		fprintf(errs, "%s: out of memory\n", path);
		return NULL;
	}
	cfg->log_level = LOG_LVL_INFO;
	if (snprintf(cfg->path, sizeof(cfg->path), "%s", path) >= (int)sizeof(cfg->path)) {
		fprintf(errs, "%s: path too long\n", path);
		free(cfg);
		return NULL;
	}
	root = load_json(&c, path);
	if (!root)
		goto out_fail;
	dir_of(path, c.dir);

	check_keys(&c, root, "", root_keys);
	parse_site(&c, root, cfg);
	if (get_enum(&c, root, "", "log_level", log_level_names, NELEM(log_level_names),
		     &lvl) == 1)
		cfg->log_level = (enum yw_log_level)lvl;
	parse_storage(&c, root, cfg);
	strfmt(cfg->profiles_dir, sizeof(cfg->profiles_dir), "%s", YW_PROFILES_DIR);
	get_path(&c, root, "", "profiles_dir", cfg->profiles_dir);
	if (profiles_dir_override)
		strfmt(cfg->profiles_dir, sizeof(cfg->profiles_dir), "%s", profiles_dir_override);
	c.profiles_dir = cfg->profiles_dir;
	parse_mqtt(&c, root, cfg);
	parse_buses(&c, root, cfg);
	parse_devices(&c, root, cfg);
	parse_alarms(&c, root, cfg);
	json_decref(root);

out_fail:
	for (i = 0; i < c.nprofiles; i++)
		free(c.profiles[i].pts);
	free(c.profiles);
	free(c.dev_ok);
	free(c.dev_id_ok);
	if (c.nerr) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void config_free(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->ndevices; i++)
		free(cfg->devices[i].points);
	free(cfg->devices);
	free(cfg->buses);
	free(cfg->alarms);
	free(cfg->mqtt.brokers);
	/* the password is a secret: do not leave it in freed memory */
	explicit_bzero(cfg->mqtt.password, sizeof(cfg->mqtt.password));
	free(cfg);
}

size_t config_npoints(const struct config *cfg)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->ndevices; i++)
		n += cfg->devices[i].npoints;
	return n;
}

int config_find_device(const struct config *cfg, const char *id)
{
	size_t i;

	for (i = 0; i < cfg->ndevices; i++)
		if (strcmp(cfg->devices[i].id, id) == 0)
			return (int)i;
	return -1;
}

int config_find_point(const struct device_cfg *dev, const char *name)
{
	size_t i;

	for (i = 0; i < dev->npoints; i++)
		if (strcmp(dev->points[i].name, name) == 0)
			return (int)i;
	return -1;
}

int config_find_alarm(const struct config *cfg, const char *id)
{
	size_t i;

	for (i = 0; i < cfg->nalarms; i++)
		if (strcmp(cfg->alarms[i].id, id) == 0)
			return (int)i;
	return -1;
}

static const char *enum_name(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : "?";
}

const char *config_severity_name(enum yw_severity s)
{
	return enum_name(severity_names, NELEM(severity_names), (int)s);
}

const char *config_category_name(enum yw_category c)
{
	return enum_name(category_names, NELEM(category_names), (int)c);
}

const char *config_when_name(enum yw_when w)
{
	return enum_name(when_names, NELEM(when_names), (int)w);
}

const char *config_bus_type_name(enum yw_bus_type t)
{
	return enum_name(bus_type_names, NELEM(bus_type_names), (int)t);
}
