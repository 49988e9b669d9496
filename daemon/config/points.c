/*
 * points: the points of a device (inline or from a profile) and the profile
 * files: parsing one point with its type/table/bit/scale rules, the checks of
 * a point set (overlaps, decimals_from targets), a profile's identify rule
 * and source, and loading each profile once however many devices name it.
 */
#include "cfg_int.h"
#include "../../drivers/codec.h"
#include "../../drivers/numfmt.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The type of a point or an identify rule (WHAT, for messages) at BASE on
 * TABLE, given what cfg_get_enum said of its "type" (R_TYPE, TYPE): bool
 * when absent on coil/discrete, required on input/holding; a coil or
 * discrete input holds only bool. The type, or -1 when unknown (reported). */
static int table_type(struct ctx *c, const char *base, int table, int r_type, int type,
		      const char *what)
{
	char kp[PATHSZ];

	if (table < 0)
		return type;
	if (r_type == 0) {
		if (table_is_bits((enum yw_table)table))
			return TYPE_BOOL;
		cfg_err(c, cfg_kpath(kp, base, "type"), "is required for an input or holding %s", what);
		return -1;
	}
	if (type >= 0 && table_is_bits((enum yw_table)table) && type != TYPE_BOOL)
		cfg_err(c, cfg_kpath(kp, base, "type"), "must be bool for a %s %s",
			point_table_names[table], what);
	return type;
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
	cfg_check_keys(c, o, base, point_keys);
	if (cfg_need(c, o, base, "name"))
		cfg_get_id(c, o, base, "name", p->name);
	if (cfg_need(c, o, base, "table"))
		cfg_get_enum(c, o, base, "table", point_table_names, NELEM(point_table_names), &table);
	if (cfg_need(c, o, base, "address"))
		cfg_get_int(c, o, base, "address", 0, 65535, &addr);
	r_type = cfg_get_enum(c, o, base, "type", point_type_names, NELEM(point_type_names), &type);
	r_order = cfg_get_enum(c, o, base, "order", point_order_names, NELEM(point_order_names), &order);
	r_bit = cfg_get_int(c, o, base, "bit", 0, 15, &p->bit);
	r_scale = cfg_get_num(c, o, base, "scale", &p->scale);
	if (r_scale == 1 && p->scale == 0) {
		cfg_err(c, cfg_kpath(kp, base, "scale"), "must be a number other than 0");
		r_scale = -1;
	}
	r_offset = cfg_get_num(c, o, base, "offset", &p->offset);
	r_dfrom = cfg_get_id(c, o, base, "decimals_from", t->dfrom);
	cfg_get_str(c, o, base, "unit", p->unit, sizeof(p->unit), false);
	r_wr = cfg_get_bool(c, o, base, "writable", &p->writable);
	r_min = cfg_get_num(c, o, base, "min", &p->min);
	r_max = cfg_get_num(c, o, base, "max", &p->max);
	p->has_min = r_min == 1;
	p->has_max = r_max == 1;
	if (cfg_get_num(c, o, base, "deadband", &p->deadband) == 1 && p->deadband < 0)
		cfg_err(c, cfg_kpath(kp, base, "deadband"), "must be a number >= 0");
	cfg_get_int(c, o, base, "store_max_interval_s", 1, 86400, &p->store_max_interval_s);

	type = table_type(c, base, table, r_type, type, "point");
	if (table >= 0 && type >= 0) {
		bool bits = table_is_bits((enum yw_table)table);

		if (r_bit == 1 && (bits || type != TYPE_BOOL))
			cfg_err(c, cfg_kpath(kp, base, "bit"),
				"only allowed with type bool on an input or holding register");
		if (r_bit == 0 && !bits && type == TYPE_BOOL)
			cfg_err(c, cfg_kpath(kp, base, "bit"),
				"is required for type bool on an input or holding register");
		if (r_wr == 1 && p->writable && (table == TABLE_DISCRETE || table == TABLE_INPUT))
			cfg_err(c, cfg_kpath(kp, base, "writable"),
				"only coil and holding points can be written");
		if (addr >= 0 && addr + type_width((enum yw_type)type) - 1 > 65535)
			cfg_err(c, cfg_kpath(kp, base, "address"),
				"must be at most %d for type %s (%d registers)",
				65536 - type_width((enum yw_type)type), point_type_names[type],
				type_width((enum yw_type)type));
	}
	if (type == TYPE_BOOL) {
		if (r_scale == 1)
			cfg_err(c, cfg_kpath(kp, base, "scale"), "not used by type bool");
		if (r_offset == 1)
			cfg_err(c, cfg_kpath(kp, base, "offset"), "not used by type bool");
		if (r_order == 1)
			cfg_err(c, cfg_kpath(kp, base, "order"), "not used by type bool");
		if (r_dfrom == 1)
			cfg_err(c, cfg_kpath(kp, base, "decimals_from"), "not used by type bool");
	}
	if (!(r_wr == 1 && p->writable)) {
		if (r_min == 1)
			cfg_err(c, cfg_kpath(kp, base, "min"), "only allowed with writable: true");
		if (r_max == 1)
			cfg_err(c, cfg_kpath(kp, base, "max"), "only allowed with writable: true");
	} else if (r_min == 1 && r_max == 1 && p->min > p->max) {
		cfg_err(c, cfg_kpath(kp, base, "min"), "must not be greater than max");
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

	cfg_strfmt(b, sizeof(b), "%spoints[%d]", prefix, t->src);
	return cfg_kpath(buf, b, key);
}

static void pt_range(const struct pt_tmp *t, char *buf, size_t size)
{
	int w = table_is_bits(t->p.table) ? 1 : type_width(t->p.type);

	if (w == 1)
		cfg_strfmt(buf, size, "%s %u", point_table_names[t->p.table], t->p.address);
	else
		cfg_strfmt(buf, size, "%s %u..%u", point_table_names[t->p.table], t->p.address,
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

int cfg_pt_find(const struct pt_tmp *pts, size_t n, const char *name)
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
void cfg_check_point_set(struct ctx *c, struct pt_tmp *pts, size_t n, bool profile,
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
		t = cfg_pt_find(pts, n, pts[i].dfrom);
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
int cfg_parse_points(struct ctx *c, json_t *arr, const char *base, bool inl,
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
		if (parse_point(c, json_array_get(arr, i), cfg_ipath(ip, base, i), &(*out)[k]) < 0) {
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
	"profile", "vendor", "model", "class", "source", "description", "points", "identify",
	NULL
};

static const char *const identify_keys[] = {
	"table", "address", "type", "order", "equals", NULL
};

/* Can a value of the identify rule's type be exactly V? */
static bool identify_holds(const struct identify_cfg *id, double v)
{
	struct point_cfg p;
	double lo, hi;

	if (!isfinite(v))
		return false;
	switch (id->type) {
	case TYPE_BOOL:
		return v == 0 || v == 1;
	case TYPE_FLOAT32:
		return fabs(v) <= FLT_MAX && numfmt_float_value((float)v) == v;
	case TYPE_FLOAT64:
		return true;
	default:
		config_identify_point(id, &p);
		codec_range(&p, 0, &lo, &hi);
		return v == floor(v) && v >= lo && v <= hi;
	}
}

/*
 * "identify": {"table", "address", "type", "order", "equals"}: table and
 * address as a point's; type defaults to bool on coil/discrete and is
 * required on registers (a bool there would need a bit: refused, a model
 * code is a whole register); equals a number the type can hold exactly
 * (else the rule could never match).
 */
static void profile_identify(struct ctx *c, json_t *root, struct profile *pr)
{
	static const char *const B = "identify";
	struct identify_cfg *id = &pr->info.identify;
	json_t *o = json_object_get(root, B);
	int e0 = c->nerr, table = -1, type = -1, order = 0, addr = -1, r_type, r_order, r_eq = 0;
	char kp[PATHSZ];

	if (!o)
		return;
	if (!json_is_object(o)) {
		cfg_err(c, B, "must be an object {\"table\", \"address\", \"type\", \"equals\"}");
		return;
	}
	cfg_check_keys(c, o, B, identify_keys);
	if (cfg_need(c, o, B, "table"))
		cfg_get_enum(c, o, B, "table", point_table_names, NELEM(point_table_names), &table);
	if (cfg_need(c, o, B, "address"))
		cfg_get_int(c, o, B, "address", 0, 65535, &addr);
	r_type = cfg_get_enum(c, o, B, "type", point_type_names, NELEM(point_type_names), &type);
	r_order = cfg_get_enum(c, o, B, "order", point_order_names, NELEM(point_order_names), &order);
	if (cfg_need(c, o, B, "equals"))
		r_eq = cfg_get_num(c, o, B, "equals", &id->equals);
	type = table_type(c, B, table, r_type, type, "rule");
	if (table >= 0 && type >= 0 && !table_is_bits((enum yw_table)table)) {
		if (type == TYPE_BOOL)
			cfg_err(c, cfg_kpath(kp, B, "type"),
				"must be a number type on %s registers (a model code is a whole register)",
				point_table_names[table]);
		else if (addr >= 0 && addr + type_width((enum yw_type)type) - 1 > 65535)
			cfg_err(c, cfg_kpath(kp, B, "address"),
				"must be at most %d for type %s (%d registers)",
				65536 - type_width((enum yw_type)type), point_type_names[type],
				type_width((enum yw_type)type));
	}
	if (r_order == 1 && type == TYPE_BOOL)
		cfg_err(c, cfg_kpath(kp, B, "order"), "not used by type bool");
	if (c->nerr != e0)
		return;
	id->table = (enum yw_table)table;
	id->address = (uint16_t)addr;
	id->type = (enum yw_type)type;
	id->order = (enum yw_order)order;
	if (r_eq == 1 && !identify_holds(id, id->equals)) {
		char num[NUMFMT_LEN];

		cfg_err(c, cfg_kpath(kp, B, "equals"), "type %s cannot hold %s: the rule could never match",
			point_type_names[type], numfmt_double(id->equals, num, sizeof(num)));
		return;
	}
	pr->info.has_identify = true;
}

/*
 * "source": where the register map comes from (the vendor's manual, its
 * title and version or date, the table used). Optional for a site's own
 * profiles; every shipped profile has one (tests/unit/test_profiles.c).
 * A string with some text in it: a map of unknown origin says nothing.
 */
static void profile_source(struct ctx *c, json_t *root, struct profile *pr)
{
	json_t *v = json_object_get(root, "source");
	const char *s;

	if (!v)
		return;
	if (!json_is_string(v)) {
		cfg_err(c, "source", "must be a string naming the register map's origin");
		return;
	}
	for (s = json_string_value(v); *s == ' ' || *s == '\t' || *s == '\n'; s++)
		;
	if (*s == '\0') {
		cfg_err(c, "source", "must not be empty: name the manual, its version and the table");
		return;
	}
	pr->info.has_source = true;
}

static void profile_parse(struct ctx *c, struct profile *pr)
{
	const char *saved = c->file;
	char text[YW_TEXT_MAX], name[YW_ID_MAX];
	json_t *root, *arr;
	int e0 = c->nerr;

	c->file = pr->path;
	cfg_strfmt(pr->info.name, sizeof(pr->info.name), "%s", pr->name);
	root = cfg_load_json(c, pr->path);
	if (!root)
		goto out;
	cfg_check_keys(c, root, "", profile_keys);
	if (cfg_need(c, root, "", "profile") &&
	    cfg_get_str(c, root, "", "profile", name, sizeof(name), true) == 1 &&
	    strcmp(name, pr->name) != 0)
		cfg_err(c, "profile", "must be \"%s\" (the file's name)", pr->name);
	if (cfg_need(c, root, "", "vendor"))
		cfg_get_str(c, root, "", "vendor", pr->info.vendor, sizeof(pr->info.vendor), true);
	if (cfg_need(c, root, "", "model"))
		cfg_get_str(c, root, "", "model", pr->info.model, sizeof(pr->info.model), true);
	if (cfg_need(c, root, "", "class"))
		cfg_get_str(c, root, "", "class", text, sizeof(text), true);
	profile_source(c, root, pr);
	if (json_object_get(root, "description") &&
	    !json_is_string(json_object_get(root, "description")))
		cfg_err(c, "description", "must be a string");
	arr = json_object_get(root, "points");
	if (!arr) {
		cfg_err(c, "points", "is required");
	} else if (json_is_array(arr) && json_array_size(arr) == 0) {
		cfg_err(c, "points", "must have at least one point");
	} else if (cfg_parse_points(c, arr, "points", false, &pr->pts, &pr->npts) == 0) {
		cfg_check_point_set(c, pr->pts, pr->npts, true, "", NULL);
	}
	profile_identify(c, root, pr);
	json_decref(root);
out:
	pr->ok = c->nerr == e0;
	c->file = saved;
}

/* The profile NAME (loaded and checked on first use), or NULL when it cannot
 * be used (reported: at PATH when missing, in the profile when invalid). */
struct profile *cfg_profile_get(struct ctx *c, const char *name, const char *path)
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
		cfg_strfmt(pr->name, sizeof(pr->name), "%s", name);
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

int cfg_profiles_keep(struct ctx *c, struct profile_cfg **out, size_t *n)
{
	size_t i, k = 0;

	*out = NULL;
	*n = 0;
	for (i = 0; i < c->nprofiles; i++)
		k += c->profiles[i].ok;
	if (k == 0)
		return 0;
	*out = calloc(k, sizeof(**out));
	if (!*out) {
		cfg_err(c, "", "out of memory");
		return -1;
	}
	for (i = 0; i < c->nprofiles; i++)
		if (c->profiles[i].ok)
			(*out)[(*n)++] = c->profiles[i].info;
	return 0;
}
