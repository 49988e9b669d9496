/*
 * model: the register model of the simulated devices (see model.h).
 *
 * Every point holds an engineering value: plausible for its unit at start,
 * drifting slowly, or pinned by a scenario `set` or a Modbus write. The
 * registers are always the codec's encoding of those values, so a gateway
 * decodes back what the simulator holds.
 *
 * The identify rule of a device's profile (config.h, struct identify_cfg)
 * is served too: its registers (or bit) are mapped and always hold the
 * rule's `equals`, encoded after the points (a write to them is undone, as
 * by a read-only model-code register); a point that shares them is fixed at
 * the value it decodes from there.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../daemon/log.h"
#include "../../drivers/codec.h"
#include "model.h"

#define SIM_WALK_STEP 0.002      /* random walk: at most +-0.2 % of base per tick */
#define SIM_WALK_SPAN 0.01       /* ... staying within +-1 % of base */
#define SIM_COUNTER_RATE 2e-7    /* counters grow by about base * rate per tick */

/* splitmix64: small, seedable, good enough for a random walk. */
uint64_t model_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double model_uniform(struct sim_model *m)
{
	return (double)(model_rand(&m->rng) >> 11) * 0x1.0p-53;
}

static bool model_name_has(const char *name, const char *const *words)
{
	for (; *words; words++)
		if (strstr(name, *words))
			return true;
	return false;
}

/* ---- plausible values ---- */

struct sim_unit_base {
	const char *unit;
	double base;
	enum sim_kind kind;
};

static const struct sim_unit_base sim_units[] = {
	{ "MPa", 0.35, KIND_WALK }, { "kPa", 350, KIND_WALK }, { "bar", 3.5, KIND_WALK },
	{ "psi", 50, KIND_WALK }, { "V", 230, KIND_WALK }, { "kV", 10, KIND_WALK },
	{ "A", 5, KIND_WALK }, { "mA", 12, KIND_WALK }, { "W", 1500, KIND_WALK },
	{ "kW", 1.5, KIND_WALK }, { "var", 200, KIND_WALK }, { "kvar", 0.2, KIND_WALK },
	{ "VA", 1600, KIND_WALK }, { "kVA", 1.6, KIND_WALK }, { "Hz", 50, KIND_WALK },
	{ "deg", 18, KIND_WALK }, { "°C", 22, KIND_WALK }, { "C", 22, KIND_WALK },
	{ "degC", 22, KIND_WALK }, { "%", 45, KIND_WALK }, { "%RH", 45, KIND_WALK },
	{ "m", 2.5, KIND_WALK }, { "m3/h", 12, KIND_WALK },
	{ "Wh", 12345600, KIND_COUNTER }, { "kWh", 12345.6, KIND_COUNTER },
	{ "MWh", 12.3456, KIND_COUNTER }, { "varh", 2345600, KIND_COUNTER },
	{ "kvarh", 2345.6, KIND_COUNTER }, { "kVAh", 13000.5, KIND_COUNTER },
	{ "m3", 1234.5, KIND_COUNTER }, { "m³", 1234.5, KIND_COUNTER },
};

static const struct sim_unit_base *model_unit_lookup(const char *unit)
{
	size_t n = sizeof(sim_units) / sizeof(sim_units[0]);

	for (size_t i = 0; i < n; i++)
		if (strcmp(sim_units[i].unit, unit) == 0)
			return &sim_units[i];
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(sim_units[i].unit, unit) == 0)
			return &sim_units[i];
	return NULL;
}

int model_decimals(const struct sim_dev *d, const struct point_cfg *p)
{
	double v;

	if (p->decimals_from < 0 || (size_t)p->decimals_from >= d->cfg->npoints)
		return 0;
	v = d->pts[p->decimals_from].value;
	if (!isfinite(v) || v < 0 || v > 9)
		return -1;
	return (int)lround(v);
}

/* Starting value and behaviour of point I, from its unit and name. */
static void model_plausible(struct sim_dev *d, size_t i)
{
	static const char *const off_words[] = { "fail", "fault", "alarm", "error", "trip",
						 "low", "high", NULL };
	static const char *const on_words[] = { "online", "power", "ok", "healthy", "present",
						NULL };
	static const char *const ll_words[] = { "uab", "ubc", "uca", "vab", "vbc", "vca", "_ab",
						"_bc", "_ca", "line", "_ll", NULL };
	static const char *const pf_words[] = { "pf", "factor", "cos", NULL };
	static const char *const addr_words[] = { "modbus_address", "slave_address",
						  "slave_id", "unit_id", NULL };
	const struct point_cfg *p = &d->cfg->points[i];
	struct sim_point *sp = &d->pts[i];
	const struct sim_unit_base *u;
	double lo, hi;
	int dec;

	sp->kind = KIND_FIXED;
	sp->base = 0;
	if (sp->is_decimals) {
		sp->base = 3;
	} else if (p->table == TABLE_COIL || p->table == TABLE_DISCRETE ||
		   p->type == TYPE_BOOL) {
		sp->base = !model_name_has(p->name, off_words) &&
			   model_name_has(p->name, on_words);
	} else if ((u = model_unit_lookup(p->unit)) != NULL) {
		sp->base = u->base;
		sp->kind = u->kind;
		if (strcmp(u->unit, "V") == 0 && model_name_has(p->name, ll_words))
			sp->base = 400;
	} else if (model_name_has(p->name, pf_words)) {
		sp->base = 0.95;
		sp->kind = KIND_WALK;
	} else if (strstr(p->name, "freq")) {
		sp->base = 50;
		sp->kind = KIND_WALK;
	} else if (model_name_has(p->name, addr_words)) {
		sp->base = d->cfg->unit;
	} else if (strstr(p->name, "baud")) {
		sp->base = 3;    /* the common code for 9600 baud */
	}
	if (p->writable)
		sp->kind = KIND_FIXED;   /* setpoints and outputs stay where they are put */
	dec = model_decimals(d, p);
	codec_range(p, dec < 0 ? 0 : dec, &lo, &hi);
	if (lo <= hi)
		sp->base = fmin(fmax(sp->base, lo), hi);
	sp->value = sp->base;
}

/* ---- registers ---- */

/* Writes point I's value into its registers. -1 when it cannot be encoded
 * (the registers keep their old contents). */
static int model_encode_point(struct sim_dev *d, size_t i)
{
	const struct point_cfg *p = &d->cfg->points[i];
	struct sim_point *sp = &d->pts[i];
	struct sim_table *t = &d->tab[p->table];
	uint16_t tmp[4], *regs;
	int w = codec_width(p);
	int dec;
	double lo, hi, v = sp->value;

	if (!sp->mapped || !isfinite(v))
		return 0;   /* a NaN left by a write: the registers hold what was written */
	regs = &t->regs[p->address - t->lo];
	dec = model_decimals(d, p);
	if (dec < 0)
		return -1;
	/* A real device saturates rather than wrapping around. */
	codec_range(p, dec, &lo, &hi);
	if (lo <= hi)
		v = fmin(fmax(v, lo), hi);
	memcpy(tmp, regs, (size_t)w * sizeof(*tmp));
	if (codec_encode(p, v, dec, tmp) != CODEC_OK)
		return -1;
	memcpy(regs, tmp, (size_t)w * sizeof(*tmp));
	return 0;
}

/* The identify register of D's profile, over whatever the points wrote. */
static void model_encode_ident(struct sim_dev *d)
{
	struct point_cfg p;
	struct sim_table *t;
	uint16_t regs[4] = { 0 };

	if (!d->ident)
		return;
	config_identify_point(d->ident, &p);
	t = &d->tab[p.table];
	if (p.table == TABLE_COIL || p.table == TABLE_DISCRETE)
		regs[0] = d->ident->equals != 0;
	else if (codec_encode(&p, d->ident->equals, 0, regs) != CODEC_OK)
		return;   /* the loader checked that the type holds it */
	memcpy(&t->regs[p.address - t->lo], regs, (size_t)codec_width(&p) * sizeof(*regs));
}

int model_encode_dev(struct sim_dev *d)
{
	int rc = 0;

	for (size_t i = 0; i < d->cfg->npoints; i++) {
		if (model_encode_point(d, i) == 0) {
			d->pts[i].warned = false;
			continue;
		}
		rc = -1;
		if (!d->pts[i].warned)
			log_warn("sim", "%s.%s: value %g cannot be encoded; registers unchanged",
				 d->cfg->id, d->cfg->points[i].name, d->pts[i].value);
		d->pts[i].warned = true;
	}
	model_encode_ident(d);
	return rc;
}

int model_read_point(const struct sim_dev *d, size_t i, double *v)
{
	const struct point_cfg *p = &d->cfg->points[i];
	const struct sim_table *t = &d->tab[p->table];
	int dec;

	if (!d->pts[i].mapped)
		return -1;
	dec = model_decimals(d, p);
	if (dec < 0)
		return -1;
	return codec_decode(p, &t->regs[p->address - t->lo], dec, v) == CODEC_OK ? 0 : -1;
}

int model_set_point(struct sim_dev *d, size_t i, double v)
{
	struct sim_point *sp = &d->pts[i];
	double old = sp->value;
	bool was_pinned = sp->pinned;

	sp->value = v;
	sp->pinned = true;
	if (model_encode_dev(d) == 0)
		return 0;
	sp->value = old;
	sp->pinned = was_pinned;
	model_encode_dev(d);
	return -1;
}

static int model_table_alloc(struct sim_dev *d)
{
	const struct device_cfg *dc = d->cfg;
	uint32_t lo[4], hi[4];

	for (int t = 0; t < 4; t++) {
		lo[t] = UINT32_MAX;
		hi[t] = 0;
	}
	for (size_t i = 0; i < dc->npoints; i++) {
		const struct point_cfg *p = &dc->points[i];
		uint32_t end = (uint32_t)p->address + (uint32_t)codec_width(p);

		if (end > 65536) {
			log_warn("sim", "%s.%s: registers %u..%u run past 65535; not served",
				 dc->id, p->name, p->address, end - 1);
			continue;
		}
		d->pts[i].mapped = true;
		if (p->address < lo[p->table])
			lo[p->table] = p->address;
		if (end > hi[p->table])
			hi[p->table] = end;
	}
	if (d->ident) {
		struct point_cfg ip;

		config_identify_point(d->ident, &ip);
		if (ip.address < lo[ip.table])
			lo[ip.table] = ip.address;
		if ((uint32_t)ip.address + (uint32_t)codec_width(&ip) > hi[ip.table])
			hi[ip.table] = (uint32_t)ip.address + (uint32_t)codec_width(&ip);
	}
	for (int t = 0; t < 4; t++) {
		struct sim_table *tb = &d->tab[t];

		if (lo[t] == UINT32_MAX)
			continue;
		tb->lo = lo[t];
		tb->n = hi[t] - lo[t];
		tb->regs = calloc(tb->n, sizeof(*tb->regs));
		tb->mapped = calloc(tb->n, 1);
		if (!tb->regs || !tb->mapped) {
			log_error("sim", "out of memory");
			return -1;
		}
	}
	for (size_t i = 0; i < dc->npoints; i++) {
		const struct point_cfg *p = &dc->points[i];
		struct sim_table *tb = &d->tab[p->table];

		if (!d->pts[i].mapped)
			continue;
		memset(tb->mapped + (p->address - tb->lo), 1, (size_t)codec_width(p));
	}
	if (d->ident) {
		struct point_cfg ip;
		struct sim_table *tb;

		config_identify_point(d->ident, &ip);
		tb = &d->tab[ip.table];
		memset(tb->mapped + (ip.address - tb->lo), 1, (size_t)codec_width(&ip));
	}
	return 0;
}

/* Points that share the identify registers: fixed at what they decode
 * from there (after the first encoding). */
static void model_fix_ident_points(struct sim_dev *d)
{
	struct point_cfg ip;
	uint32_t a, e;
	double v;

	if (!d->ident)
		return;
	config_identify_point(d->ident, &ip);
	a = ip.address;
	e = a + (uint32_t)codec_width(&ip);
	for (size_t i = 0; i < d->cfg->npoints; i++) {
		const struct point_cfg *p = &d->cfg->points[i];
		uint32_t pa = p->address, pe = pa + (uint32_t)codec_width(p);

		if (p->table != ip.table || !d->pts[i].mapped || pe <= a || pa >= e)
			continue;
		d->pts[i].kind = KIND_FIXED;
		d->pts[i].pinned = true;
		d->pts[i].value = model_read_point(d, i, &v) == 0 ? v : NAN;
	}
	model_encode_dev(d);
}

static int model_dev_init(struct sim_dev *d, const struct config *cfg,
			  const struct device_cfg *dc)
{
	const struct profile_cfg *pr = dc->profile[0] ? config_find_profile(cfg, dc->profile) : NULL;

	d->cfg = dc;
	d->ident = pr && pr->has_identify ? &pr->identify : NULL;
	d->pts = calloc(dc->npoints ? dc->npoints : 1, sizeof(*d->pts));
	if (!d->pts) {
		log_error("sim", "out of memory");
		return -1;
	}
	if (model_table_alloc(d) != 0)
		return -1;
	for (size_t i = 0; i < dc->npoints; i++) {
		int df = dc->points[i].decimals_from;

		if (df >= 0 && (size_t)df < dc->npoints)
			d->pts[df].is_decimals = true;
	}
	/* Decimals first: the others' ranges depend on them. */
	for (size_t i = 0; i < dc->npoints; i++)
		if (d->pts[i].is_decimals)
			model_plausible(d, i);
	for (size_t i = 0; i < dc->npoints; i++)
		if (!d->pts[i].is_decimals)
			model_plausible(d, i);
	model_encode_dev(d);
	model_fix_ident_points(d);
	return 0;
}

static void model_dev_free(struct sim_dev *d)
{
	for (int t = 0; t < 4; t++) {
		free(d->tab[t].regs);
		free(d->tab[t].mapped);
	}
	free(d->pts);
	free(d->illegal);
}

int model_init(struct sim_model *m, const struct config *cfg, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->cfg = cfg;
	m->drift = true;
	m->rng = seed;
	m->fault_rng = seed ^ 0x5eed5eed5eed5eedull;
	for (int l = 0; l < SIM_NLINKS; l++)
		for (int u = 0; u < 256; u++)
			m->route[l][u] = -1;
	m->devs = calloc(cfg->ndevices ? cfg->ndevices : 1, sizeof(*m->devs));
	if (!m->devs) {
		log_error("sim", "out of memory");
		return -1;
	}
	for (size_t k = 0; k < cfg->ndevices; k++)
		if (model_dev_init(&m->devs[k], cfg, &cfg->devices[k]) != 0)
			return -1;
	return 0;
}

void model_free(struct sim_model *m)
{
	if (m->devs)
		for (size_t k = 0; k < m->cfg->ndevices; k++)
			model_dev_free(&m->devs[k]);
	free(m->devs);
	m->devs = NULL;
}

void model_tick(struct sim_model *m)
{
	if (!m->drift)
		return;
	for (size_t k = 0; k < m->cfg->ndevices; k++) {
		struct sim_dev *d = &m->devs[k];
		bool changed = false;

		for (size_t i = 0; i < d->cfg->npoints; i++) {
			struct sim_point *sp = &d->pts[i];
			double span = fabs(sp->base) * SIM_WALK_SPAN;

			if (sp->pinned || sp->kind == KIND_FIXED || !isfinite(sp->value))
				continue;
			if (sp->kind == KIND_WALK) {
				sp->value += fabs(sp->base) * SIM_WALK_STEP *
					     (2 * model_uniform(m) - 1);
				sp->value = fmin(fmax(sp->value, sp->base - span), sp->base + span);
			} else {
				sp->value += fabs(sp->base) * SIM_COUNTER_RATE *
					     (0.5 + model_uniform(m));
			}
			changed = true;
		}
		if (changed)
			model_encode_dev(d);
	}
}

bool model_range_ok(const struct sim_dev *d, enum yw_table t, uint32_t start, uint32_t qty)
{
	const struct sim_table *tb = &d->tab[t];

	if (start < tb->lo || start + qty > tb->lo + tb->n)
		return false;
	for (uint32_t i = 0; i < qty; i++)
		if (!tb->mapped[start - tb->lo + i])
			return false;
	for (size_t i = 0; i < d->nillegal; i++) {
		const struct sim_range *r = &d->illegal[i];

		if (r->table == t && start < r->start + r->count && r->start < start + qty)
			return false;
	}
	return true;
}

/* The points a write touched take the values a reader would decode
 * (decimals first), and are pinned; then the device is re-encoded, so a new
 * decimals value rescales the others. */
void model_after_write(struct sim_dev *d, enum yw_table t, uint32_t start, uint32_t qty)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < d->cfg->npoints; i++) {
			const struct point_cfg *p = &d->cfg->points[i];
			uint32_t a = p->address, e = a + (uint32_t)codec_width(p);
			double v;

			if (p->table != t || !d->pts[i].mapped || (pass == 0) != d->pts[i].is_decimals)
				continue;
			if (e <= start || a >= start + qty)
				continue;
			d->pts[i].value = model_read_point(d, i, &v) == 0 ? v : NAN;
			d->pts[i].pinned = true;
		}
	}
	model_encode_dev(d);
}

int model_illegal(struct sim_dev *d, enum yw_table t, uint32_t start, uint32_t count)
{
	struct sim_range *nr;

	if (count == 0) {
		size_t j = 0;

		for (size_t i = 0; i < d->nillegal; i++)
			if (d->illegal[i].table != t)
				d->illegal[j++] = d->illegal[i];
		d->nillegal = j;
		return 0;
	}
	nr = realloc(d->illegal, (d->nillegal + 1) * sizeof(*nr));
	if (!nr)
		return -1;
	d->illegal = nr;
	nr[d->nillegal].table = t;
	nr[d->nillegal].start = start;
	nr[d->nillegal].count = count;
	d->nillegal++;
	return 0;
}

const struct sim_fault *model_fault(const struct sim_dev *d, int64_t now)
{
	const struct sim_fault *f = &d->fault;

	if (f->kind == FAULT_NONE || (f->until_ms > 0 && now >= f->until_ms))
		return NULL;
	return f;
}

void model_unknown_unit(struct sim_model *m)
{
	m->unknown_unit++;
	m->dirty = true;
}

void model_bad_frame(struct sim_model *m)
{
	m->bad_frames++;
	m->dirty = true;
}

/* ---- routing: unit id -> device ---- */

/* Devices of buses of the link's own type come first; a unit id already
 * taken makes the later device unreachable there. RTU (on a tty or over
 * TCP) never routes unit 0 (broadcast: executed by nobody here, answered by
 * nobody). */
void model_route(struct sim_model *m, enum sim_link link, int bus_filter)
{
	static const enum yw_bus_type own[SIM_NLINKS] = {
		[LINK_TCP] = BUS_TCP, [LINK_RTU] = BUS_RTU, [LINK_RTU_TCP] = BUS_RTU_TCP,
	};
	static const char *const names[SIM_NLINKS] = {
		[LINK_TCP] = "tcp", [LINK_RTU] = "rtu", [LINK_RTU_TCP] = "rtu-tcp",
	};
	enum yw_bus_type prefer = own[link];
	const char *name = names[link];
	int *route = m->route[link];

	for (int u = 0; u < 256; u++)
		route[u] = -1;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < m->cfg->ndevices; k++) {
			const struct device_cfg *dc = &m->cfg->devices[k];
			enum yw_bus_type bt = m->cfg->buses[dc->bus].type;

			if (bus_filter >= 0 && dc->bus != bus_filter)
				continue;
			if ((pass == 0) != (bt == prefer))
				continue;
			if (dc->unit < 0 || dc->unit > 255) {
				log_warn("sim", "%s: unit %d cannot be served", dc->id, dc->unit);
				continue;
			}
			if (route[dc->unit] >= 0) {
				log_warn("sim", "%s: unit %d is already %s on %s; %s not reachable there",
					 dc->id, dc->unit, m->cfg->devices[route[dc->unit]].id, name,
					 dc->id);
				continue;
			}
			route[dc->unit] = (int)k;
		}
	}
	if (link != LINK_TCP)
		route[0] = -1;
}
