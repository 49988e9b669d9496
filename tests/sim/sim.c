/*
 * yardwatch-sim: plays the Modbus devices of a yardwatch config, for the demo
 * and the integration tests. See docs/simulator.md.
 *
 * One process, one thread, one poll() loop: a Modbus TCP listener (several
 * clients at once; the MBAP unit id picks the device) and/or one RTU line (a
 * tty; a request for a unit that is not configured gets no answer, as on a
 * shared RS-485 line). The PDU handling (FC 1-6, 15, 16) is our own rather
 * than libmodbus' server: we must stay silent for an offline device, answer
 * chosen exceptions, refuse reads across holes of the register map and count
 * every request per device and function code.
 *
 * Every point holds an engineering value: plausible for its unit at start,
 * drifting slowly, or pinned by a scenario `set` or a Modbus write. The
 * registers are always the codec's encoding of those values, so a gateway
 * decodes back what the simulator holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "../../daemon/config.h"
#include "../../daemon/log.h"
#include "../../daemon/util.h"
#include "../../drivers/codec.h"

#define SIM_EX_USAGE 64
#define SIM_EX_DATAERR 65
#define SIM_EX_CONFIG 78

#define SIM_MAX_CLIENTS 64
#define SIM_ADU_MAX 260          /* largest Modbus TCP ADU (MBAP 7 + PDU 253) */
#define SIM_OUT_CAP 4096         /* per client; reading pauses when nearly full */
#define SIM_TICK_MS 1000         /* drift period */
#define SIM_STATS_MIN_MS 200     /* the stats file is rewritten at most this often */
#define SIM_RTU_SILENCE_MS 50    /* end of an RTU frame whose length is unknown */
#define SIM_RTU_REOPEN_MS 1000
#define SIM_NFC 128              /* function codes counted */
#define SIM_LINE_MAX 4096        /* one control line */

#define SIM_WALK_STEP 0.002      /* random walk: at most +-0.2 % of base per tick */
#define SIM_WALK_SPAN 0.01       /* ... staying within +-1 % of base */
#define SIM_COUNTER_RATE 2e-7    /* counters grow by about base * rate per tick */

/* Modbus exception codes. */
#define MB_EX_FUNCTION 1
#define MB_EX_ADDRESS 2
#define MB_EX_VALUE 3

enum sim_kind { KIND_FIXED, KIND_WALK, KIND_COUNTER };

struct sim_point {
	double base;             /* the value it drifts around */
	double value;            /* engineering value (NaN: a write left no number) */
	enum sim_kind kind;
	bool pinned;             /* set by a scenario or a write: no drift */
	bool is_decimals;        /* another point's decimals_from names it */
	bool mapped;             /* its registers fit in the address space */
	bool warned;             /* encode failure already logged */
};

/* One Modbus table of a device: addresses lo .. lo+n-1. Coils and discrete
 * inputs keep one bit per element, as 0/1. */
struct sim_table {
	uint32_t lo, n;
	uint16_t *regs;
	uint8_t *mapped;
};

struct sim_range {
	enum yw_table table;
	uint32_t start, count;
};

struct sim_count {
	uint64_t requests;       /* every request addressed to the device */
	uint64_t reads, writes;  /* answered normally */
	uint64_t exceptions;     /* answered with an exception */
	uint64_t ignored;        /* not answered (offline) */
	uint64_t fc[SIM_NFC];
};

struct sim_dev {
	const struct device_cfg *cfg;
	struct sim_point *pts;   /* owned, cfg->npoints */
	struct sim_table tab[4]; /* indexed by enum yw_table */
	bool offline;
	int exception;           /* 0: none; else answer every request with it */
	struct sim_range *illegal; /* owned */
	size_t nillegal;
	struct sim_count count;
};

enum step_kind {
	STEP_SET, STEP_OFFLINE, STEP_ONLINE, STEP_EXCEPTION, STEP_ILLEGAL, STEP_DRIFT, STEP_GET
};

struct step_value {
	int dev, pt;
	double value;
};

struct sim_step {
	double at_s;
	size_t index;            /* position in the scenario file */
	enum step_kind kind;
	int dev, pt;             /* offline/online/exception/illegal; get */
	int code;                /* exception */
	enum yw_table table;     /* illegal */
	uint32_t start, count;
	bool drift;
	struct step_value *values; /* set: owned */
	size_t nvalues;
};

struct sim_client {
	int fd;                  /* -1: free slot */
	uint8_t in[SIM_ADU_MAX * 2];
	size_t inlen;
	uint8_t out[SIM_OUT_CAP];
	size_t outlen;
};

struct sim_rtu {
	char path[YW_PATH_MAX];
	int fd;                  /* -1 while closed */
	int baud, data_bits, stop_bits;
	char parity;
	uint8_t buf[512];
	size_t len;
	int64_t last_rx_ms;
	bool discard;            /* after a bad frame: drop bytes until silence */
	int64_t reopen_ms;       /* when closed: next attempt */
};

struct sim {
	struct config *cfg;
	struct sim_dev *devs;    /* owned, cfg->ndevices */
	int bus_filter;          /* --bus: only this bus's devices; -1: all */
	int route_tcp[256], route_rtu[256];
	struct sim_step *steps;  /* owned; sorted by at_s */
	size_t nsteps, next_step;
	bool drift;
	uint64_t rng;
	int64_t start_ms, next_tick_ms, end_ms;

	int lfd;                 /* TCP listener, -1: none */
	struct sim_client *clients; /* owned, SIM_MAX_CLIENTS */
	bool have_rtu;
	struct sim_rtu rtu;

	bool control;
	bool ctl_open;
	char ctl[SIM_LINE_MAX];
	size_t ctl_len;
	bool ctl_skip;           /* the current line is too long: drop it */

	const char *stats_path;
	bool stats_dirty, stats_warned;
	int64_t stats_last_ms;
	uint64_t unknown_unit, bad_frames;

	int sfd;                 /* signalfd */
	bool stop;
};

/* ---- small helpers ---- */

static uint16_t sim_get16(const uint8_t *b)
{
	return (uint16_t)((unsigned)b[0] << 8 | b[1]);
}

static void sim_put16(uint8_t *b, unsigned v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static uint16_t sim_crc16(const uint8_t *b, size_t n)
{
	uint16_t crc = 0xffff;

	for (size_t i = 0; i < n; i++) {
		crc ^= b[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xa001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

/* splitmix64: small, seedable, good enough for a random walk. */
static uint64_t sim_rand(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double sim_uniform(struct sim *s)
{
	return (double)(sim_rand(s) >> 11) * 0x1.0p-53;
}

static long long sim_elapsed_s(const struct sim *s)
{
	return (long long)((util_mono_ms() - s->start_ms) / 1000);
}

/* PATH.KEY into DST (truncated when too long: it is only an error label). */
static void sim_join(char *dst, size_t n, const char *path, const char *key)
{
	if (snprintf(dst, n, "%s%s%s", path, path[0] ? "." : "", key) < 0)
		dst[0] = '\0';
}

static bool sim_name_has(const char *name, const char *const *words)
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

static const struct sim_unit_base *sim_unit_lookup(const char *unit)
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

/* Decimal places that apply to point P (the value of its decimals_from
 * point), 0 when none; -1 when that value is not a usable number. */
static int sim_decimals(const struct sim_dev *d, const struct point_cfg *p)
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
static void sim_plausible(struct sim_dev *d, size_t i)
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
		sp->base = !sim_name_has(p->name, off_words) && sim_name_has(p->name, on_words);
	} else if ((u = sim_unit_lookup(p->unit)) != NULL) {
		sp->base = u->base;
		sp->kind = u->kind;
		if (strcmp(u->unit, "V") == 0 && sim_name_has(p->name, ll_words))
			sp->base = 400;
	} else if (sim_name_has(p->name, pf_words)) {
		sp->base = 0.95;
		sp->kind = KIND_WALK;
	} else if (strstr(p->name, "freq")) {
		sp->base = 50;
		sp->kind = KIND_WALK;
	} else if (sim_name_has(p->name, addr_words)) {
		sp->base = d->cfg->unit;
	} else if (strstr(p->name, "baud")) {
		sp->base = 3;    /* the common code for 9600 baud */
	}
	if (p->writable)
		sp->kind = KIND_FIXED;   /* setpoints and outputs stay where they are put */
	dec = sim_decimals(d, p);
	codec_range(p, dec < 0 ? 0 : dec, &lo, &hi);
	if (lo <= hi)
		sp->base = fmin(fmax(sp->base, lo), hi);
	sp->value = sp->base;
}

/* ---- registers ---- */

static uint16_t *sim_regs(struct sim_dev *d, const struct point_cfg *p)
{
	struct sim_table *t = &d->tab[p->table];

	return &t->regs[p->address - t->lo];
}

/* Writes point I's value into its registers. -1 when it cannot be encoded
 * (the registers keep their old contents). */
static int sim_encode_point(struct sim_dev *d, size_t i)
{
	const struct point_cfg *p = &d->cfg->points[i];
	struct sim_point *sp = &d->pts[i];
	uint16_t tmp[4], *regs;
	int w = codec_width(p);
	int dec;
	double lo, hi, v = sp->value;

	if (!sp->mapped || !isfinite(v))
		return 0;   /* a NaN left by a write: the registers hold what was written */
	regs = sim_regs(d, p);
	dec = sim_decimals(d, p);
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

/* Re-encodes every point of D (a decimals change rescales its dependents).
 * -1 when some point could not be encoded; logged once per point. */
static int sim_encode_dev(struct sim_dev *d)
{
	int rc = 0;

	for (size_t i = 0; i < d->cfg->npoints; i++) {
		if (sim_encode_point(d, i) == 0) {
			d->pts[i].warned = false;
			continue;
		}
		rc = -1;
		if (!d->pts[i].warned)
			log_warn("sim", "%s.%s: value %g cannot be encoded; registers unchanged",
				 d->cfg->id, d->cfg->points[i].name, d->pts[i].value);
		d->pts[i].warned = true;
	}
	return rc;
}

/* The value a client reading point I would decode. -1 when undecodable. */
static int sim_read_point(struct sim_dev *d, size_t i, double *v)
{
	const struct point_cfg *p = &d->cfg->points[i];
	int dec;

	if (!d->pts[i].mapped)
		return -1;
	dec = sim_decimals(d, p);
	if (dec < 0)
		return -1;
	return codec_decode(p, sim_regs(d, p), dec, v) == CODEC_OK ? 0 : -1;
}

static int sim_table_alloc(struct sim_dev *d)
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
	return 0;
}

static int sim_dev_init(struct sim *s, size_t k)
{
	struct sim_dev *d = &s->devs[k];
	const struct device_cfg *dc = &s->cfg->devices[k];

	d->cfg = dc;
	d->pts = calloc(dc->npoints ? dc->npoints : 1, sizeof(*d->pts));
	if (!d->pts) {
		log_error("sim", "out of memory");
		return -1;
	}
	if (sim_table_alloc(d) != 0)
		return -1;
	for (size_t i = 0; i < dc->npoints; i++) {
		int df = dc->points[i].decimals_from;

		if (df >= 0 && (size_t)df < dc->npoints)
			d->pts[df].is_decimals = true;
	}
	/* Decimals first: the others' ranges depend on them. */
	for (size_t i = 0; i < dc->npoints; i++)
		if (d->pts[i].is_decimals)
			sim_plausible(d, i);
	for (size_t i = 0; i < dc->npoints; i++)
		if (!d->pts[i].is_decimals)
			sim_plausible(d, i);
	sim_encode_dev(d);
	return 0;
}

static void sim_dev_free(struct sim_dev *d)
{
	for (int t = 0; t < 4; t++) {
		free(d->tab[t].regs);
		free(d->tab[t].mapped);
	}
	free(d->pts);
	free(d->illegal);
}

/* One drift period: random walks and counters of unpinned points. */
static void sim_tick(struct sim *s)
{
	if (!s->drift)
		return;
	for (size_t k = 0; k < s->cfg->ndevices; k++) {
		struct sim_dev *d = &s->devs[k];
		bool changed = false;

		for (size_t i = 0; i < d->cfg->npoints; i++) {
			struct sim_point *sp = &d->pts[i];
			double span = fabs(sp->base) * SIM_WALK_SPAN;

			if (sp->pinned || sp->kind == KIND_FIXED || !isfinite(sp->value))
				continue;
			if (sp->kind == KIND_WALK) {
				sp->value += fabs(sp->base) * SIM_WALK_STEP * (2 * sim_uniform(s) - 1);
				sp->value = fmin(fmax(sp->value, sp->base - span), sp->base + span);
			} else {
				sp->value += fabs(sp->base) * SIM_COUNTER_RATE * (0.5 + sim_uniform(s));
			}
			changed = true;
		}
		if (changed)
			sim_encode_dev(d);
	}
}

/* ---- Modbus PDU handling ---- */

static bool sim_range_ok(const struct sim_dev *d, enum yw_table t, uint32_t start,
			 uint32_t qty)
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

/* After a write to T[start, start+qty): the points it touched take the
 * values a reader would decode (decimals first), and are pinned; then the
 * device is re-encoded, so a new decimals value rescales the others. */
static void sim_after_write(struct sim_dev *d, enum yw_table t, uint32_t start, uint32_t qty)
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
			d->pts[i].value = sim_read_point(d, i, &v) == 0 ? v : NAN;
			d->pts[i].pinned = true;
		}
	}
	sim_encode_dev(d);
}

static size_t sim_exception(uint8_t *rsp, uint8_t fc, int code)
{
	rsp[0] = (uint8_t)(fc | 0x80);
	rsp[1] = (uint8_t)code;
	return 2;
}

static enum yw_table sim_fc_table(uint8_t fc)
{
	switch (fc) {
	case 1: case 5: case 15: return TABLE_COIL;
	case 2: return TABLE_DISCRETE;
	case 4: return TABLE_INPUT;
	default: return TABLE_HOLDING;
	}
}

static size_t sim_pdu_read(struct sim_dev *d, const uint8_t *req, size_t len, uint8_t *rsp)
{
	uint8_t fc = req[0];
	enum yw_table t = sim_fc_table(fc);
	bool bits = fc <= 2;
	uint32_t start, qty;
	const struct sim_table *tb = &d->tab[t];

	if (len != 5)
		return sim_exception(rsp, fc, MB_EX_VALUE);
	start = sim_get16(req + 1);
	qty = sim_get16(req + 3);
	if (qty < 1 || qty > (bits ? 2000u : 125u))
		return sim_exception(rsp, fc, MB_EX_VALUE);
	if (start + qty > 65536 || !sim_range_ok(d, t, start, qty))
		return sim_exception(rsp, fc, MB_EX_ADDRESS);
	rsp[0] = fc;
	if (bits) {
		size_t nb = (qty + 7) / 8;

		rsp[1] = (uint8_t)nb;
		memset(rsp + 2, 0, nb);
		for (uint32_t i = 0; i < qty; i++)
			if (tb->regs[start - tb->lo + i])
				rsp[2 + i / 8] |= (uint8_t)(1u << (i % 8));
		return 2 + nb;
	}
	rsp[1] = (uint8_t)(qty * 2);
	for (uint32_t i = 0; i < qty; i++)
		sim_put16(rsp + 2 + 2 * i, tb->regs[start - tb->lo + i]);
	return 2 + 2 * (size_t)qty;
}

static size_t sim_pdu_write(struct sim_dev *d, const uint8_t *req, size_t len, uint8_t *rsp)
{
	uint8_t fc = req[0];
	enum yw_table t = sim_fc_table(fc);
	struct sim_table *tb = &d->tab[t];
	uint32_t start, qty, bc;

	if (len < 5)
		return sim_exception(rsp, fc, MB_EX_VALUE);
	start = sim_get16(req + 1);
	if (fc == 5 || fc == 6) {
		uint16_t v = sim_get16(req + 3);

		if (len != 5 || (fc == 5 && v != 0xff00 && v != 0))
			return sim_exception(rsp, fc, MB_EX_VALUE);
		if (!sim_range_ok(d, t, start, 1))
			return sim_exception(rsp, fc, MB_EX_ADDRESS);
		tb->regs[start - tb->lo] = fc == 5 ? (v != 0) : v;
		sim_after_write(d, t, start, 1);
		memcpy(rsp, req, 5);
		return 5;
	}
	qty = sim_get16(req + 3);
	bc = len > 5 ? req[5] : 0;
	if (fc == 15 && (qty < 1 || qty > 0x7b0 || bc != (qty + 7) / 8 || len != 6 + bc))
		return sim_exception(rsp, fc, MB_EX_VALUE);
	if (fc == 16 && (qty < 1 || qty > 0x7b || bc != qty * 2 || len != 6 + bc))
		return sim_exception(rsp, fc, MB_EX_VALUE);
	if (start + qty > 65536 || !sim_range_ok(d, t, start, qty))
		return sim_exception(rsp, fc, MB_EX_ADDRESS);
	for (uint32_t i = 0; i < qty; i++) {
		if (fc == 15)
			tb->regs[start - tb->lo + i] = (req[6 + i / 8] >> (i % 8)) & 1u;
		else
			tb->regs[start - tb->lo + i] = sim_get16(req + 6 + 2 * i);
	}
	sim_after_write(d, t, start, qty);
	memcpy(rsp, req, 5);
	return 5;
}

/* Handles one request PDU (REQ, LEN >= 1) addressed to device D. Returns the
 * length of the response PDU in RSP (at least 253 bytes), 0 for no answer. */
static size_t sim_handle(struct sim *s, struct sim_dev *d, const uint8_t *req, size_t len,
			 uint8_t *rsp)
{
	uint8_t fc = req[0];
	size_t n;

	d->count.requests++;
	if (fc < SIM_NFC)
		d->count.fc[fc]++;
	s->stats_dirty = true;
	if (d->offline) {
		d->count.ignored++;
		log_debug("sim", "%s: fc %u ignored (offline)", d->cfg->id, fc);
		return 0;
	}
	if (d->exception)
		n = sim_exception(rsp, fc, d->exception);
	else if (fc >= 1 && fc <= 4)
		n = sim_pdu_read(d, req, len, rsp);
	else if (fc == 5 || fc == 6 || fc == 15 || fc == 16)
		n = sim_pdu_write(d, req, len, rsp);
	else
		n = sim_exception(rsp, fc, MB_EX_FUNCTION);
	if (rsp[0] & 0x80) {
		d->count.exceptions++;
		log_debug("sim", "%s: fc %u start %u qty %u -> exception %u", d->cfg->id, fc,
			  len >= 3 ? sim_get16(req + 1) : 0, len >= 5 ? sim_get16(req + 3) : 0,
			  rsp[1]);
	} else if (fc <= 4) {
		d->count.reads++;
	} else {
		d->count.writes++;
	}
	return n;
}

/* ---- routing: unit id -> device ---- */

/* Fills ROUTE for one transport. Devices of buses of type PREFER come first;
 * a unit id already taken makes the later device unreachable there. */
static void sim_route(struct sim *s, int *route, enum yw_bus_type prefer, const char *name)
{
	for (int u = 0; u < 256; u++)
		route[u] = -1;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < s->cfg->ndevices; k++) {
			const struct device_cfg *dc = &s->cfg->devices[k];
			enum yw_bus_type bt = s->cfg->buses[dc->bus].type;

			if (s->bus_filter >= 0 && dc->bus != s->bus_filter)
				continue;
			if ((pass == 0) != (bt == prefer))
				continue;
			if (dc->unit < 0 || dc->unit > 255) {
				log_warn("sim", "%s: unit %d cannot be served", dc->id, dc->unit);
				continue;
			}
			if (route[dc->unit] >= 0) {
				log_warn("sim", "%s: unit %d is already %s on %s; %s not reachable there",
					 dc->id, dc->unit, s->cfg->devices[route[dc->unit]].id, name,
					 dc->id);
				continue;
			}
			route[dc->unit] = (int)k;
		}
	}
}

/* ---- TCP ---- */

/* Listens on SPEC ("HOST:PORT", "[V6]:PORT", ":PORT" or "PORT"). -2 when
 * SPEC is malformed, -1 when the socket cannot be set up. */
static int sim_tcp_listen(struct sim *s, const char *spec)
{
	char host[YW_TEXT_MAX], port[16], shown[YW_TEXT_MAX + 32];
	const char *colon;
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char nh[NI_MAXHOST], np[NI_MAXSERV];
	int fd = -1, one = 1, rc;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof(host))
			goto out_bad;
		memcpy(host, spec + 1, (size_t)(rb - spec - 1));
		host[rb - spec - 1] = '\0';
		colon = rb + 1;
	} else if ((colon = strrchr(spec, ':')) != NULL) {
		if ((size_t)(colon - spec) >= sizeof(host))
			goto out_bad;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
	} else {
		util_strlcpy(host, "127.0.0.1", sizeof(host));
		colon = spec - 1;
	}
	if (host[0] == '\0')
		util_strlcpy(host, "127.0.0.1", sizeof(host));
	if (util_strlcpy(port, colon + 1, sizeof(port)) >= sizeof(port) || port[0] == '\0' ||
	    strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
		goto out_bad;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		log_error("sim", "tcp %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		log_error("sim", "tcp %s: cannot listen: %s", spec, strerror(errno));
		return -1;
	}
	s->lfd = fd;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, nh, sizeof(nh), np, sizeof(np),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(shown, sizeof(shown), strchr(nh, ':') ? "[%s]:%s" : "%s:%s", nh, np);
	else
		util_strlcpy(shown, spec, sizeof(shown));
	log_info("sim", "listening on tcp %s", shown);
	return 0;

out_bad:
	fprintf(stderr, "yardwatch-sim: --tcp %s: expected HOST:PORT\n", spec);
	return -2;
}

static void sim_client_close(struct sim_client *c)
{
	close(c->fd);
	c->fd = -1;
	c->inlen = 0;
	c->outlen = 0;
}

static void sim_tcp_accept(struct sim *s)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		size_t i;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("sim", "accept: %s", strerror(errno));
			return;
		}
		for (i = 0; i < SIM_MAX_CLIENTS && s->clients[i].fd >= 0; i++)
			;
		if (i == SIM_MAX_CLIENTS) {
			log_warn("sim", "more than %d clients; connection refused", SIM_MAX_CLIENTS);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s->clients[i].fd = fd;
		s->clients[i].inlen = 0;
		s->clients[i].outlen = 0;
		log_debug("sim", "tcp client %zu connected", i);
	}
}

/* Sends what is queued. -1 when the client is gone (closed here). */
static int sim_client_flush(struct sim_client *c)
{
	while (c->outlen > 0) {
		ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			sim_client_close(c);
			return -1;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	return 0;
}

/* Handles every complete request in C's input buffer, as long as there is
 * room for the answer. -1 when the client was dropped. */
static int sim_tcp_process(struct sim *s, struct sim_client *c)
{
	uint8_t rsp[SIM_ADU_MAX];

	while (c->inlen >= 7 && c->outlen + SIM_ADU_MAX <= SIM_OUT_CAP) {
		unsigned tid = sim_get16(c->in), proto = sim_get16(c->in + 2);
		unsigned len = sim_get16(c->in + 4), unit = c->in[6];
		int k;

		if (proto != 0 || len < 2 || len > 254) {
			log_debug("sim", "tcp: bad MBAP header (protocol %u, length %u); closing",
				  proto, len);
			s->bad_frames++;
			s->stats_dirty = true;
			sim_client_close(c);
			return -1;
		}
		if (c->inlen < 6 + (size_t)len)
			break;
		k = s->route_tcp[unit];
		if (k < 0) {
			s->unknown_unit++;
			s->stats_dirty = true;
			log_debug("sim", "tcp: unit %u not configured; no answer", unit);
		} else {
			size_t n = sim_handle(s, &s->devs[k], c->in + 7, len - 1, rsp + 7);

			if (n > 0) {
				sim_put16(rsp, tid);
				sim_put16(rsp + 2, 0);
				sim_put16(rsp + 4, (unsigned)n + 1);
				rsp[6] = (uint8_t)unit;
				memcpy(c->out + c->outlen, rsp, n + 7);
				c->outlen += n + 7;
			}
		}
		memmove(c->in, c->in + 6 + len, c->inlen - 6 - len);
		c->inlen -= 6 + len;
	}
	return sim_client_flush(c);
}

static void sim_tcp_read(struct sim *s, struct sim_client *c)
{
	ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		log_debug("sim", "tcp client disconnected");
		sim_client_close(c);
		return;
	}
	if (n > 0)
		c->inlen += (size_t)n;
	sim_tcp_process(s, c);
}

/* ---- RTU ---- */

static speed_t sim_baud(int baud)
{
	switch (baud) {
	case 1200: return B1200;
	case 2400: return B2400;
	case 4800: return B4800;
	case 9600: return B9600;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	default: return B0;
	}
}

static int sim_rtu_open(struct sim_rtu *r, bool quiet)
{
	struct termios tio;
	speed_t sp = sim_baud(r->baud);
	int fd = open(r->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		if (!quiet)
			log_error("sim", "rtu %s: %s", r->path, strerror(errno));
		return -1;
	}
	if (tcgetattr(fd, &tio) != 0) {
		if (!quiet)
			log_error("sim", "rtu %s: not a tty: %s", r->path, strerror(errno));
		close(fd);
		return -1;
	}
	cfmakeraw(&tio);
	cfsetispeed(&tio, sp);
	cfsetospeed(&tio, sp);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
	tio.c_cflag |= r->data_bits == 7 ? CS7 : CS8;
	if (r->parity == 'E')
		tio.c_cflag |= PARENB;
	else if (r->parity == 'O')
		tio.c_cflag |= PARENB | PARODD;
	if (r->stop_bits == 2)
		tio.c_cflag |= CSTOPB;
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &tio) != 0) {
		if (!quiet)
			log_error("sim", "rtu %s: cannot set line: %s", r->path, strerror(errno));
		close(fd);
		return -1;
	}
	tcflush(fd, TCIOFLUSH);
	r->fd = fd;
	r->len = 0;
	r->discard = false;
	return 0;
}

static void sim_rtu_lost(struct sim_rtu *r, const char *why)
{
	log_warn("sim", "rtu %s: %s; reopening every %d ms", r->path, why, SIM_RTU_REOPEN_MS);
	close(r->fd);
	r->fd = -1;
	r->len = 0;
	r->reopen_ms = util_mono_ms() + SIM_RTU_REOPEN_MS;
}

/* Length of the request frame starting in B (unit, fc, ...): 0 when more
 * bytes are needed to tell, SIZE_MAX when only silence can end it. */
static size_t sim_rtu_frame_len(const uint8_t *b, size_t len)
{
	if (len < 2)
		return 0;
	switch (b[1]) {
	case 1: case 2: case 3: case 4: case 5: case 6:
		return 8;
	case 15: case 16:
		return len < 7 ? 0 : 9 + (size_t)b[6];
	default:
		return SIZE_MAX;
	}
}

static void sim_rtu_send(struct sim_rtu *r, const uint8_t *b, size_t n)
{
	int64_t deadline = util_mono_ms() + 1000;

	while (n > 0 && r->fd >= 0) {
		ssize_t w = write(r->fd, b, n);

		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR) && util_mono_ms() < deadline) {
			struct pollfd pfd = { .fd = r->fd, .events = POLLOUT };

			poll(&pfd, 1, 50);
			continue;
		}
		sim_rtu_lost(r, w < 0 ? strerror(errno) : "write failed");
	}
}

/* One complete frame with a good CRC. */
static void sim_rtu_frame(struct sim *s, const uint8_t *b, size_t n)
{
	struct sim_rtu *r = &s->rtu;
	uint8_t rsp[SIM_ADU_MAX];
	unsigned unit = b[0];
	int k = s->route_rtu[unit];
	size_t len;
	uint16_t crc;

	if (unit == 0 || k < 0) {
		/* Broadcast, or another unit on the line: nobody here answers. */
		s->unknown_unit++;
		s->stats_dirty = true;
		log_debug("sim", "rtu: unit %u not configured; no answer", unit);
		return;
	}
	len = sim_handle(s, &s->devs[k], b + 1, n - 3, rsp + 1);
	if (len == 0)
		return;
	rsp[0] = (uint8_t)unit;
	crc = sim_crc16(rsp, len + 1);
	rsp[len + 1] = (uint8_t)(crc & 0xff);
	rsp[len + 2] = (uint8_t)(crc >> 8);
	sim_rtu_send(r, rsp, len + 3);
}

static bool sim_rtu_crc_ok(const uint8_t *b, size_t n)
{
	uint16_t crc;

	if (n < 4)
		return false;
	crc = sim_crc16(b, n - 2);
	return b[n - 2] == (crc & 0xff) && b[n - 1] == (crc >> 8);
}

/* Frames whose length the header tells. */
static void sim_rtu_process(struct sim *s)
{
	struct sim_rtu *r = &s->rtu;

	while (r->fd >= 0 && r->len > 0 && !r->discard) {
		size_t fl = sim_rtu_frame_len(r->buf, r->len);

		if (fl == 0 || fl == SIZE_MAX || r->len < fl)
			return;
		if (!sim_rtu_crc_ok(r->buf, fl)) {
			s->bad_frames++;
			s->stats_dirty = true;
			log_debug("sim", "rtu: bad CRC; dropping input until the line is silent");
			r->discard = true;
			return;
		}
		sim_rtu_frame(s, r->buf, fl);
		memmove(r->buf, r->buf + fl, r->len - fl);
		r->len -= fl;
	}
}

/* The line has been silent: what is left is one frame of unknown length,
 * or the rest of a bad one. */
static void sim_rtu_silence(struct sim *s)
{
	struct sim_rtu *r = &s->rtu;

	if (!r->discard && sim_rtu_frame_len(r->buf, r->len) == SIZE_MAX &&
	    sim_rtu_crc_ok(r->buf, r->len)) {
		sim_rtu_frame(s, r->buf, r->len);
	} else if (!r->discard) {
		s->bad_frames++;
		s->stats_dirty = true;
		log_debug("sim", "rtu: incomplete or corrupt frame of %zu bytes dropped", r->len);
	}
	r->len = 0;
	r->discard = false;
}

static void sim_rtu_read(struct sim *s)
{
	struct sim_rtu *r = &s->rtu;
	ssize_t n;

	if (r->len == sizeof(r->buf)) {
		r->len = 0;
		r->discard = true;
	}
	n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		sim_rtu_lost(r, n < 0 ? strerror(errno) : "end of file");
		return;
	}
	r->last_rx_ms = util_mono_ms();
	if (r->discard)
		r->len = 0;   /* still dropping: keep only the silence timer going */
	else
		r->len += (size_t)n;
	sim_rtu_process(s);
}

/* ---- scenario and control steps ---- */

struct sim_err {
	const char *file;        /* scenario: errors go to stderr with it */
	int n;
	char first[512];         /* control: the first error */
};

static void sim_errf(struct sim_err *e, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sim_errf(struct sim_err *e, const char *path, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e->n == 0)
		snprintf(e->first, sizeof(e->first), "%s%s%s", path, path[0] ? ": " : "", msg);
	if (e->file)
		fprintf(stderr, "%s: %s: %s\n", e->file, path[0] ? path : "(top)", msg);
	e->n++;
}

static int sim_parse_dev(struct sim *s, json_t *v, const char *path, struct sim_err *e)
{
	int k;

	if (!json_is_string(v)) {
		sim_errf(e, path, "must be a device id (string)");
		return -1;
	}
	k = config_find_device(s->cfg, json_string_value(v));
	if (k < 0)
		sim_errf(e, path, "unknown device \"%s\"", json_string_value(v));
	return k;
}

/* "DEVICE.POINT" -> indexes; -1 with an error. */
static int sim_parse_point(struct sim *s, const char *id, const char *path, int *dev, int *pt,
			   struct sim_err *e)
{
	char dname[YW_ID_MAX];
	const char *dot = strchr(id, '.');

	if (!dot || (size_t)(dot - id) >= sizeof(dname)) {
		sim_errf(e, path, "expected \"DEVICE.POINT\", got \"%s\"", id);
		return -1;
	}
	memcpy(dname, id, (size_t)(dot - id));
	dname[dot - id] = '\0';
	*dev = config_find_device(s->cfg, dname);
	if (*dev < 0) {
		sim_errf(e, path, "unknown device \"%s\"", dname);
		return -1;
	}
	*pt = config_find_point(&s->cfg->devices[*dev], dot + 1);
	if (*pt < 0) {
		sim_errf(e, path, "device \"%s\" has no point \"%s\"", dname, dot + 1);
		return -1;
	}
	return 0;
}

/* Checks that point (DEV, PT) can take V now; -1 with an error. */
static int sim_check_value(struct sim *s, int dev, int pt, json_t *jv, double *out,
			   const char *path, struct sim_err *e)
{
	struct sim_dev *d = &s->devs[dev];
	const struct point_cfg *p = &d->cfg->points[pt];
	bool is_bool = p->table == TABLE_COIL || p->table == TABLE_DISCRETE || p->type == TYPE_BOOL;
	double v, lo, hi;
	int dec;

	if (is_bool) {
		if (json_is_boolean(jv)) {
			*out = json_is_true(jv) ? 1 : 0;
			return 0;
		}
		if (json_is_integer(jv) && (json_integer_value(jv) == 0 || json_integer_value(jv) == 1)) {
			*out = (double)json_integer_value(jv);
			return 0;
		}
		sim_errf(e, path, "must be true/false or 0/1");
		return -1;
	}
	if (!json_is_number(jv)) {
		sim_errf(e, path, "must be a number");
		return -1;
	}
	v = json_number_value(jv);
	if (!isfinite(v)) {
		sim_errf(e, path, "must be a finite number");
		return -1;
	}
	if (d->pts[pt].is_decimals && (v != floor(v) || v < 0 || v > 9)) {
		sim_errf(e, path, "decimal places must be an integer in 0..9");
		return -1;
	}
	dec = sim_decimals(d, p);
	codec_range(p, dec < 0 ? 0 : dec, &lo, &hi);
	if (!(v >= lo && v <= hi)) {
		sim_errf(e, path, "%g is outside the range %g..%g of the point", v, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int sim_parse_set(struct sim *s, json_t *v, const char *path, struct sim_step *st,
			 struct sim_err *e)
{
	const char *key;
	json_t *jv;
	char sub[YW_TEXT_MAX * 2];
	int rc = 0;

	if (!json_is_object(v) || json_object_size(v) == 0) {
		sim_errf(e, path, "must be an object {\"DEVICE.POINT\": value, ...}");
		return -1;
	}
	st->values = calloc(json_object_size(v), sizeof(*st->values));
	if (!st->values) {
		sim_errf(e, path, "out of memory");
		return -1;
	}
	json_object_foreach(v, key, jv) {
		struct step_value *sv = &st->values[st->nvalues];

		sim_join(sub, sizeof(sub), path, key);
		if (sim_parse_point(s, key, sub, &sv->dev, &sv->pt, e) != 0 ||
		    sim_check_value(s, sv->dev, sv->pt, jv, &sv->value, sub, e) != 0) {
			rc = -1;
			continue;
		}
		st->nvalues++;
	}
	return rc;
}

static int sim_parse_int(json_t *v, long long lo, long long hi, long long *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int sim_parse_exception(struct sim *s, json_t *v, const char *path,
			       struct sim_step *st, struct sim_err *e)
{
	const char *key;
	json_t *jv;
	char sub[YW_TEXT_MAX];
	long long code;
	int rc = 0;
	bool have_dev = false, have_code = false;

	if (!json_is_object(v)) {
		sim_errf(e, path, "must be an object {\"device\": D, \"code\": N}");
		return -1;
	}
	json_object_foreach(v, key, jv) {
		sim_join(sub, sizeof(sub), path, key);
		if (strcmp(key, "device") == 0) {
			have_dev = true;
			if ((st->dev = sim_parse_dev(s, jv, sub, e)) < 0)
				rc = -1;
		} else if (strcmp(key, "code") == 0) {
			have_code = true;
			if (sim_parse_int(jv, 0, 255, &code) != 0) {
				sim_errf(e, sub, "must be an integer in 0..255 (0 clears)");
				rc = -1;
			} else {
				st->code = (int)code;
			}
		} else {
			sim_errf(e, sub, "unknown key");
			rc = -1;
		}
	}
	if (!have_dev || !have_code) {
		sim_errf(e, path, "needs \"device\" and \"code\"");
		rc = -1;
	}
	return rc;
}

static int sim_parse_illegal(struct sim *s, json_t *v, const char *path,
			     struct sim_step *st, struct sim_err *e)
{
	static const char *const tables[] = { "coil", "discrete", "input", "holding" };
	const char *key;
	json_t *jv;
	char sub[YW_TEXT_MAX];
	long long n;
	int rc = 0;
	bool have_dev = false, have_start = false;

	st->table = TABLE_HOLDING;
	st->count = 1;
	if (!json_is_object(v)) {
		sim_errf(e, path, "must be an object {\"device\", \"table\", \"start\", \"count\"}");
		return -1;
	}
	json_object_foreach(v, key, jv) {
		sim_join(sub, sizeof(sub), path, key);
		if (strcmp(key, "device") == 0) {
			have_dev = true;
			if ((st->dev = sim_parse_dev(s, jv, sub, e)) < 0)
				rc = -1;
		} else if (strcmp(key, "table") == 0) {
			int t;

			for (t = 0; t < 4; t++)
				if (json_is_string(jv) && strcmp(json_string_value(jv), tables[t]) == 0)
					break;
			if (t == 4) {
				sim_errf(e, sub, "must be coil, discrete, input or holding");
				rc = -1;
			} else {
				st->table = (enum yw_table)t;
			}
		} else if (strcmp(key, "start") == 0) {
			have_start = true;
			if (sim_parse_int(jv, 0, 65535, &n) != 0) {
				sim_errf(e, sub, "must be an integer in 0..65535");
				rc = -1;
			} else {
				st->start = (uint32_t)n;
			}
		} else if (strcmp(key, "count") == 0) {
			if (sim_parse_int(jv, 0, 65536, &n) != 0) {
				sim_errf(e, sub, "must be an integer in 0..65536 (0 clears the table's ranges)");
				rc = -1;
			} else {
				st->count = (uint32_t)n;
			}
		} else {
			sim_errf(e, sub, "unknown key");
			rc = -1;
		}
	}
	if (!have_dev || (!have_start && st->count > 0)) {
		sim_errf(e, path, "needs \"device\" and \"start\"");
		rc = -1;
	} else if (st->start + st->count > 65536) {
		sim_errf(e, path, "start + count must not exceed 65536");
		rc = -1;
	}
	return rc;
}

/* Parses one step object O at PATH into ST. SCENARIO: at_s is required
 * (control steps have none, but may use "get"). -1 after errors. */
static int sim_parse_step(struct sim *s, json_t *o, const char *path, bool scenario,
			  struct sim_step *st, struct sim_err *e)
{
	const char *key;
	json_t *v;
	char sub[YW_TEXT_MAX];
	int nact = 0, rc = 0;
	bool have_at = false;

	memset(st, 0, sizeof(*st));
	st->dev = st->pt = -1;
	if (!json_is_object(o)) {
		sim_errf(e, path, "a step must be an object");
		return -1;
	}
	json_object_foreach(o, key, v) {
		int r = 0;

		sim_join(sub, sizeof(sub), path, key);
		if (strcmp(key, "at_s") == 0) {
			have_at = true;
			if (!scenario) {
				sim_errf(e, sub, "not allowed in a control step (it applies at once)");
				r = -1;
			} else if (!json_is_number(v) || !(json_number_value(v) >= 0) ||
				   !isfinite(json_number_value(v))) {
				sim_errf(e, sub, "must be a number of seconds >= 0");
				r = -1;
			} else {
				st->at_s = json_number_value(v);
			}
			if (r)
				rc = -1;
			continue;
		}
		nact++;
		if (nact > 1)
			continue;
		if (strcmp(key, "set") == 0) {
			st->kind = STEP_SET;
			r = sim_parse_set(s, v, sub, st, e);
		} else if (strcmp(key, "offline") == 0 || strcmp(key, "online") == 0) {
			st->kind = key[1] == 'f' ? STEP_OFFLINE : STEP_ONLINE;
			st->dev = sim_parse_dev(s, v, sub, e);
			r = st->dev < 0 ? -1 : 0;
		} else if (strcmp(key, "exception") == 0) {
			st->kind = STEP_EXCEPTION;
			r = sim_parse_exception(s, v, sub, st, e);
		} else if (strcmp(key, "illegal") == 0) {
			st->kind = STEP_ILLEGAL;
			r = sim_parse_illegal(s, v, sub, st, e);
		} else if (strcmp(key, "drift") == 0) {
			st->kind = STEP_DRIFT;
			if (!json_is_boolean(v)) {
				sim_errf(e, sub, "must be true or false");
				r = -1;
			}
			st->drift = json_is_true(v);
		} else if (strcmp(key, "get") == 0 && !scenario) {
			st->kind = STEP_GET;
			if (!json_is_string(v)) {
				sim_errf(e, sub, "must be \"DEVICE.POINT\"");
				r = -1;
			} else {
				r = sim_parse_point(s, json_string_value(v), sub, &st->dev, &st->pt, e);
			}
		} else {
			sim_errf(e, sub, "unknown key (actions: set, offline, online, exception, "
				 "illegal, drift%s)", scenario ? "; and at_s" : ", get");
			r = -1;
		}
		if (r)
			rc = -1;
	}
	if (scenario && !have_at) {
		sim_errf(e, path, "missing \"at_s\"");
		rc = -1;
	}
	if (nact != 1) {
		sim_errf(e, path, nact ? "more than one action in one step" :
			 "no action (set, offline, online, exception, illegal, drift)");
		rc = -1;
	}
	return rc;
}

static void sim_steps_free(struct sim_step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(steps[i].values);
	free(steps);
}

static int sim_step_cmp(const void *a, const void *b)
{
	const struct sim_step *x = a, *y = b;

	if (x->at_s != y->at_s)
		return x->at_s < y->at_s ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Loads and validates the scenario FILE; every error goes to stderr. */
static int sim_load_scenario(struct sim *s, const char *file)
{
	json_error_t jerr;
	json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	struct sim_err e = { .file = file };
	size_t n, i;

	if (!root) {
		if (jerr.line > 0)
			fprintf(stderr, "%s:%d:%d: %s\n", file, jerr.line, jerr.column, jerr.text);
		else
			fprintf(stderr, "%s: %s\n", file, jerr.text);
		return -1;
	}
	if (!json_is_array(root)) {
		fprintf(stderr, "%s: (top): must be an array of steps\n", file);
		json_decref(root);
		return -1;
	}
	n = json_array_size(root);
	s->steps = calloc(n ? n : 1, sizeof(*s->steps));
	if (!s->steps) {
		json_decref(root);
		log_error("sim", "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		char path[32];

		snprintf(path, sizeof(path), "[%zu]", i);
		sim_parse_step(s, json_array_get(root, i), path, true, &s->steps[i], &e);
		s->steps[i].index = i;
	}
	s->nsteps = n;
	json_decref(root);
	if (e.n > 0)
		return -1;
	qsort(s->steps, s->nsteps, sizeof(*s->steps), sim_step_cmp);
	log_info("sim", "scenario %s: %zu steps", file, n);
	return 0;
}

/* Applies ST now. REPLY gets "ok" or "error: ...". */
static void sim_apply(struct sim *s, const struct sim_step *st, char *reply, size_t rlen)
{
	long long t = sim_elapsed_s(s);
	struct sim_dev *d = st->dev >= 0 ? &s->devs[st->dev] : NULL;
	size_t i;

	snprintf(reply, rlen, "ok");
	switch (st->kind) {
	case STEP_SET:
		for (i = 0; i < st->nvalues; i++) {
			const struct step_value *sv = &st->values[i];
			struct sim_dev *sd = &s->devs[sv->dev];
			struct sim_point *sp = &sd->pts[sv->pt];
			double old = sp->value;
			bool was_pinned = sp->pinned;

			sp->value = sv->value;
			sp->pinned = true;
			if (sim_encode_dev(sd) != 0) {
				sp->value = old;
				sp->pinned = was_pinned;
				sim_encode_dev(sd);
				snprintf(reply, rlen, "error: %s.%s=%g cannot be encoded",
					 sd->cfg->id, sd->cfg->points[sv->pt].name, sv->value);
				log_warn("sim", "t=%llds set %s.%s=%g refused: cannot be encoded", t,
					 sd->cfg->id, sd->cfg->points[sv->pt].name, sv->value);
				continue;
			}
			log_info("sim", "t=%llds set %s.%s=%g", t, sd->cfg->id,
				 sd->cfg->points[sv->pt].name, sv->value);
		}
		break;
	case STEP_OFFLINE:
	case STEP_ONLINE:
		d->offline = st->kind == STEP_OFFLINE;
		log_info("sim", "t=%llds %s %s", t, d->offline ? "offline" : "online", d->cfg->id);
		break;
	case STEP_EXCEPTION:
		d->exception = st->code;
		if (st->code)
			log_info("sim", "t=%llds exception %s code %d", t, d->cfg->id, st->code);
		else
			log_info("sim", "t=%llds exception %s cleared", t, d->cfg->id);
		break;
	case STEP_ILLEGAL:
		if (st->count == 0) {
			size_t j = 0;

			for (i = 0; i < d->nillegal; i++)
				if (d->illegal[i].table != st->table)
					d->illegal[j++] = d->illegal[i];
			d->nillegal = j;
			log_info("sim", "t=%llds illegal %s %s cleared", t, d->cfg->id,
				 point_table_name(st->table));
		} else {
			struct sim_range *nr = realloc(d->illegal, (d->nillegal + 1) * sizeof(*nr));

			if (!nr) {
				snprintf(reply, rlen, "error: out of memory");
				break;
			}
			d->illegal = nr;
			nr[d->nillegal].table = st->table;
			nr[d->nillegal].start = st->start;
			nr[d->nillegal].count = st->count;
			d->nillegal++;
			log_info("sim", "t=%llds illegal %s %s %u..%u", t, d->cfg->id,
				 point_table_name(st->table), st->start, st->start + st->count - 1);
		}
		break;
	case STEP_DRIFT:
		s->drift = st->drift;
		log_info("sim", "t=%llds drift %s", t, s->drift ? "on" : "off");
		break;
	case STEP_GET: {
		double v;

		if (sim_read_point(d, (size_t)st->pt, &v) != 0) {
			snprintf(reply, rlen, "error: %s.%s cannot be decoded", d->cfg->id,
				 d->cfg->points[st->pt].name);
			break;
		}
		if (d->cfg->points[st->pt].table <= TABLE_DISCRETE ||
		    d->cfg->points[st->pt].type == TYPE_BOOL)
			snprintf(reply, rlen, "ok %s", v != 0 ? "true" : "false");
		else
			snprintf(reply, rlen, "ok %.10g", v);
		break;
	}
	}
}

static void sim_control_line(struct sim *s, char *line)
{
	json_error_t jerr;
	json_t *o;
	struct sim_step st;
	struct sim_err e = { 0 };
	char reply[640];

	while (*line == ' ' || *line == '\t' || *line == '\r')
		line++;
	if (*line == '\0')
		return;
	o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		printf("error: invalid JSON at column %d: %s\n", jerr.column, jerr.text);
		goto out;
	}
	if (sim_parse_step(s, o, "", false, &st, &e) != 0)
		snprintf(reply, sizeof(reply), "error: %s", e.first);
	else
		sim_apply(s, &st, reply, sizeof(reply));
	free(st.values);
	json_decref(o);
	printf("%s\n", reply);
out:
	fflush(stdout);
}

static void sim_control_read(struct sim *s)
{
	ssize_t n = read(STDIN_FILENO, s->ctl + s->ctl_len, sizeof(s->ctl) - 1 - s->ctl_len);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_info("sim", "control: end of input");
		s->ctl_open = false;
		return;
	}
	s->ctl_len += (size_t)n;
	s->ctl[s->ctl_len] = '\0';
	while ((nl = strchr(s->ctl, '\n')) != NULL) {
		*nl = '\0';
		if (!s->ctl_skip)
			sim_control_line(s, s->ctl);
		s->ctl_skip = false;
		s->ctl_len -= (size_t)(nl + 1 - s->ctl);
		memmove(s->ctl, nl + 1, s->ctl_len + 1);
	}
	if (s->ctl_len == sizeof(s->ctl) - 1) {
		if (!s->ctl_skip) {
			printf("error: line longer than %d bytes\n", SIM_LINE_MAX - 1);
			fflush(stdout);
		}
		s->ctl_skip = true;
		s->ctl_len = 0;
	}
}

/* ---- statistics ---- */

static void sim_stats_print(const struct sim *s, FILE *f)
{
	static const int shown[] = { 1, 2, 3, 4, 5, 6, 15, 16 };
	uint64_t total = 0, ignored = 0;

	for (size_t k = 0; k < s->cfg->ndevices; k++) {
		total += s->devs[k].count.requests;
		ignored += s->devs[k].count.ignored;
	}
	fprintf(f, "{\"requests_total\": %llu, \"ignored_total\": %llu, \"unknown_unit\": %llu, "
		"\"bad_frames\": %llu, \"devices\": {", (unsigned long long)total,
		(unsigned long long)ignored, (unsigned long long)s->unknown_unit,
		(unsigned long long)s->bad_frames);
	for (size_t k = 0; k < s->cfg->ndevices; k++) {
		const struct sim_count *c = &s->devs[k].count;

		fprintf(f, "%s\"%s\": {\"requests\": %llu, \"reads\": %llu, \"writes\": %llu, "
			"\"exceptions\": %llu, \"ignored\": %llu", k ? ", " : "", s->cfg->devices[k].id,
			(unsigned long long)c->requests, (unsigned long long)c->reads,
			(unsigned long long)c->writes, (unsigned long long)c->exceptions,
			(unsigned long long)c->ignored);
		for (int fc = 1; fc < SIM_NFC; fc++) {
			bool always = false;

			for (size_t j = 0; j < sizeof(shown) / sizeof(shown[0]); j++)
				always |= shown[j] == fc;
			if (always || c->fc[fc])
				fprintf(f, ", \"fc%d\": %llu", fc, (unsigned long long)c->fc[fc]);
		}
		fputc('}', f);
	}
	fputs("}}\n", f);
}

/* Atomically replaces the stats file: temp file + rename. */
static void sim_stats_write(struct sim *s)
{
	char tmp[YW_PATH_MAX + 16];
	FILE *f;
	bool ok;

	s->stats_dirty = false;
	s->stats_last_ms = util_mono_ms();
	if (!s->stats_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->stats_path);
	f = fopen(tmp, "w");
	if (!f)
		goto out_fail;
	sim_stats_print(s, f);
	ok = !ferror(f);
	if (fclose(f) != 0 || !ok || rename(tmp, s->stats_path) != 0) {
		unlink(tmp);
		goto out_fail;
	}
	s->stats_warned = false;
	return;

out_fail:
	if (!s->stats_warned)
		log_warn("sim", "stats %s: %s", s->stats_path, strerror(errno));
	s->stats_warned = true;
}

/* ---- main loop ---- */

static void sim_signal(struct sim *s)
{
	struct signalfd_siginfo si;

	while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			sim_stats_print(s, stdout);
			fflush(stdout);
		} else {
			log_info("sim", "signal %u: stopping", si.ssi_signo);
			s->stop = true;
		}
	}
}

/* Applies every scenario step that is due and runs the drift. Returns the
 * next deadline (monotonic ms). */
static int64_t sim_timers(struct sim *s, int64_t now)
{
	int64_t next = now + 60000;
	char reply[640];

	while (s->next_step < s->nsteps &&
	       s->start_ms + (int64_t)(s->steps[s->next_step].at_s * 1000.0) <= now) {
		sim_apply(s, &s->steps[s->next_step], reply, sizeof(reply));
		s->next_step++;
	}
	if (s->next_step < s->nsteps) {
		int64_t due = s->start_ms + (int64_t)(s->steps[s->next_step].at_s * 1000.0);

		next = due < next ? due : next;
	}
	if (now >= s->next_tick_ms) {
		sim_tick(s);
		s->next_tick_ms += SIM_TICK_MS;
		if (s->next_tick_ms <= now)
			s->next_tick_ms = now + SIM_TICK_MS;
	}
	if (s->next_tick_ms < next)
		next = s->next_tick_ms;
	if (s->end_ms > 0) {
		if (now >= s->end_ms) {
			log_info("sim", "duration reached: stopping");
			s->stop = true;
		}
		if (s->end_ms < next)
			next = s->end_ms;
	}
	if (s->stats_dirty) {
		if (now - s->stats_last_ms >= SIM_STATS_MIN_MS)
			sim_stats_write(s);
		else if (s->stats_last_ms + SIM_STATS_MIN_MS < next)
			next = s->stats_last_ms + SIM_STATS_MIN_MS;
	}
	if (s->have_rtu) {
		struct sim_rtu *r = &s->rtu;

		if (r->fd < 0 && now >= r->reopen_ms) {
			if (sim_rtu_open(r, true) == 0)
				log_info("sim", "rtu %s: open again", r->path);
			else
				r->reopen_ms = now + SIM_RTU_REOPEN_MS;
		}
		if (r->fd < 0 && r->reopen_ms < next)
			next = r->reopen_ms;
		if (r->fd >= 0 && (r->len > 0 || r->discard)) {
			int64_t quiet = r->last_rx_ms + SIM_RTU_SILENCE_MS;

			if (now >= quiet)
				sim_rtu_silence(s);
			else if (quiet < next)
				next = quiet;
		}
	}
	return next;
}

static int sim_run(struct sim *s)
{
	struct pollfd pfd[4 + SIM_MAX_CLIENTS];
	int cidx[SIM_MAX_CLIENTS];

	while (!s->stop) {
		int64_t now = util_mono_ms(), next = sim_timers(s, now);
		int n = 0, nc = 0, timeout, rc, isig, ilis = -1, irtu = -1, ictl = -1;

		if (s->stop)
			break;
		timeout = next > now ? (int)(next - now) : 0;
		pfd[n] = (struct pollfd){ .fd = s->sfd, .events = POLLIN };
		isig = n++;
		if (s->lfd >= 0) {
			pfd[n] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
			ilis = n++;
		}
		if (s->have_rtu && s->rtu.fd >= 0) {
			pfd[n] = (struct pollfd){ .fd = s->rtu.fd, .events = POLLIN };
			irtu = n++;
		}
		if (s->control && s->ctl_open) {
			pfd[n] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
			ictl = n++;
		}
		for (int i = 0; i < SIM_MAX_CLIENTS; i++) {
			struct sim_client *c = &s->clients[i];
			short ev = 0;

			if (c->fd < 0)
				continue;
			if (c->outlen + SIM_ADU_MAX <= SIM_OUT_CAP)
				ev |= POLLIN;
			if (c->outlen > 0)
				ev |= POLLOUT;
			cidx[nc++] = i;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		rc = poll(pfd, (nfds_t)n, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_error("sim", "poll: %s", strerror(errno));
			return -1;
		}
		if (rc == 0)
			continue;
		if (pfd[isig].revents)
			sim_signal(s);
		if (ilis >= 0 && pfd[ilis].revents)
			sim_tcp_accept(s);
		if (irtu >= 0 && pfd[irtu].revents) {
			if (pfd[irtu].revents & POLLIN)
				sim_rtu_read(s);
			else
				sim_rtu_lost(&s->rtu, "hang-up");
		}
		if (ictl >= 0 && pfd[ictl].revents)
			sim_control_read(s);
		for (int j = 0; j < nc; j++) {
			struct pollfd *p = &pfd[n - nc + j];
			struct sim_client *c = &s->clients[cidx[j]];

			if (c->fd < 0 || !p->revents)
				continue;
			if (p->revents & POLLOUT) {
				if (sim_client_flush(c) != 0)
					continue;
				if (sim_tcp_process(s, c) != 0)
					continue;
			}
			if (p->revents & (POLLIN | POLLHUP | POLLERR))
				sim_tcp_read(s, c);
		}
	}
	return 0;
}

/* ---- setup ---- */

static void sim_usage(FILE *f)
{
	fprintf(f,
		"usage: yardwatch-sim -c CONFIG [--scenario FILE] [--tcp HOST:PORT] [--rtu TTY]\n"
		"                     [--profiles DIR] [--bus ID] [--stats FILE] [--seed N]\n"
		"                     [--duration S] [--control] [--log-level LEVEL]\n"
		"Serves every device of CONFIG over Modbus TCP and/or RTU (at least one).\n"
		"  --tcp HOST:PORT   listen there (port 0: any free port; logged)\n"
		"  --rtu TTY         serve on a serial line (e.g. one end of a socat pty pair)\n"
		"  --bus ID          serve only the devices of this bus\n"
		"  --stats FILE      keep request counts in FILE (JSON); SIGUSR1 prints them\n"
		"  --control         read steps (scenario objects without at_s) from stdin\n"
		"  --duration S      stop after S seconds\n"
		"See docs/simulator.md.\n");
}

static void sim_free(struct sim *s)
{
	if (s->devs)
		for (size_t k = 0; k < s->cfg->ndevices; k++)
			sim_dev_free(&s->devs[k]);
	free(s->devs);
	sim_steps_free(s->steps, s->nsteps);
	if (s->clients)
		for (int i = 0; i < SIM_MAX_CLIENTS; i++)
			if (s->clients[i].fd >= 0)
				close(s->clients[i].fd);
	free(s->clients);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->have_rtu && s->rtu.fd >= 0)
		close(s->rtu.fd);
	if (s->sfd >= 0)
		close(s->sfd);
	config_free(s->cfg);
}

/* Serial settings: the --bus bus if it is RTU, else the config's first RTU
 * bus, else 9600 8N1. */
static void sim_rtu_settings(struct sim *s)
{
	struct sim_rtu *r = &s->rtu;
	const struct bus_cfg *b = NULL;

	r->baud = 9600;
	r->parity = 'N';
	r->data_bits = 8;
	r->stop_bits = 1;
	if (s->bus_filter >= 0 && s->cfg->buses[s->bus_filter].type == BUS_RTU)
		b = &s->cfg->buses[s->bus_filter];
	for (size_t i = 0; !b && i < s->cfg->nbuses; i++)
		if (s->cfg->buses[i].type == BUS_RTU)
			b = &s->cfg->buses[i];
	if (b) {
		r->baud = b->baud;
		r->parity = b->parity;
		r->data_bits = b->data_bits;
		r->stop_bits = b->stop_bits;
	}
}

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "scenario", required_argument, NULL, 's' },
		{ "tcp", required_argument, NULL, 't' },
		{ "rtu", required_argument, NULL, 'r' },
		{ "profiles", required_argument, NULL, 'p' },
		{ "bus", required_argument, NULL, 'b' },
		{ "stats", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 'e' },
		{ "duration", required_argument, NULL, 'd' },
		{ "control", no_argument, NULL, 'C' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *scenario = NULL, *tcp = NULL, *rtu = NULL;
	const char *profiles = NULL, *bus = NULL;
	struct sim s;
	sigset_t mask;
	double duration = 0;
	char *end;
	int c, level, rc = 1;
	size_t npoints = 0;
	uint64_t nreq = 0;

	memset(&s, 0, sizeof(s));
	s.lfd = s.sfd = -1;
	s.rtu.fd = -1;
	s.bus_filter = -1;
	s.drift = true;
	s.rng = 1;
	log_init(LOG_LVL_INFO);
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': scenario = optarg; break;
		case 't': tcp = optarg; break;
		case 'r': rtu = optarg; break;
		case 'p': profiles = optarg; break;
		case 'b': bus = optarg; break;
		case 'S': s.stats_path = optarg; break;
		case 'C': s.control = true; break;
		case 'e':
			errno = 0;
			s.rng = strtoull(optarg, &end, 0);
			if (errno || *end || !*optarg) {
				fprintf(stderr, "yardwatch-sim: --seed: not a number: %s\n", optarg);
				return SIM_EX_USAGE;
			}
			break;
		case 'd':
			duration = strtod(optarg, &end);
			if (*end || !*optarg || !(duration > 0) || !isfinite(duration)) {
				fprintf(stderr, "yardwatch-sim: --duration: not a number of seconds > 0: %s\n",
					optarg);
				return SIM_EX_USAGE;
			}
			break;
		case 'l':
			level = log_parse_level(optarg);
			if (level < 0) {
				fprintf(stderr, "yardwatch-sim: --log-level: error|warn|info|debug\n");
				return SIM_EX_USAGE;
			}
			log_set_level((enum yw_log_level)level);
			break;
		case 'h':
			sim_usage(stdout);
			return 0;
		default:
			sim_usage(stderr);
			return SIM_EX_USAGE;
		}
	}
	if (optind < argc || !config || (!tcp && !rtu)) {
		if (optind < argc)
			fprintf(stderr, "yardwatch-sim: unexpected argument: %s\n", argv[optind]);
		else if (!config)
			fprintf(stderr, "yardwatch-sim: -c CONFIG is required\n");
		else
			fprintf(stderr, "yardwatch-sim: give --tcp HOST:PORT and/or --rtu TTY\n");
		sim_usage(stderr);
		return SIM_EX_USAGE;
	}

	s.cfg = config_load(config, profiles, stderr);
	if (!s.cfg)
		return SIM_EX_CONFIG;
	if (bus) {
		for (size_t i = 0; i < s.cfg->nbuses; i++)
			if (strcmp(s.cfg->buses[i].id, bus) == 0)
				s.bus_filter = (int)i;
		if (s.bus_filter < 0) {
			fprintf(stderr, "yardwatch-sim: --bus %s: no such bus in %s\n", bus, config);
			rc = SIM_EX_USAGE;
			goto out;
		}
	}
	s.devs = calloc(s.cfg->ndevices ? s.cfg->ndevices : 1, sizeof(*s.devs));
	s.clients = calloc(SIM_MAX_CLIENTS, sizeof(*s.clients));
	if (!s.devs || !s.clients) {
		log_error("sim", "out of memory");
		goto out;
	}
	for (int i = 0; i < SIM_MAX_CLIENTS; i++)
		s.clients[i].fd = -1;
	for (size_t k = 0; k < s.cfg->ndevices; k++) {
		if (sim_dev_init(&s, k) != 0)
			goto out;
		npoints += s.cfg->devices[k].npoints;
	}
	if (scenario && sim_load_scenario(&s, scenario) != 0) {
		rc = SIM_EX_DATAERR;
		goto out;
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (s.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_error("sim", "signalfd: %s", strerror(errno));
		goto out;
	}

	if (tcp) {
		int r;

		sim_route(&s, s.route_tcp, BUS_TCP, "tcp");
		r = sim_tcp_listen(&s, tcp);
		if (r != 0) {
			rc = r == -2 ? SIM_EX_USAGE : 1;
			goto out;
		}
	}
	if (rtu) {
		sim_route(&s, s.route_rtu, BUS_RTU, "rtu");
		s.have_rtu = true;
		util_strlcpy(s.rtu.path, rtu, sizeof(s.rtu.path));
		sim_rtu_settings(&s);
		if (sim_baud(s.rtu.baud) == B0) {
			log_error("sim", "rtu %s: unsupported baud rate %d", rtu, s.rtu.baud);
			goto out;
		}
		if (sim_rtu_open(&s.rtu, false) != 0)
			goto out;
		log_info("sim", "serving rtu %s at %d %d%c%d", rtu, s.rtu.baud, s.rtu.data_bits,
			 s.rtu.parity, s.rtu.stop_bits);
	}
	s.ctl_open = s.control;
	s.start_ms = util_mono_ms();
	s.next_tick_ms = s.start_ms + SIM_TICK_MS;
	s.end_ms = duration > 0 ? s.start_ms + (int64_t)(duration * 1000.0) : 0;
	log_info("sim", "%zu devices, %zu points, seed %llu%s", s.cfg->ndevices, npoints,
		 (unsigned long long)s.rng, s.control ? ", control on stdin" : "");
	sim_stats_write(&s);

	rc = sim_run(&s) == 0 ? 0 : 1;
	sim_stats_write(&s);
	for (size_t k = 0; k < s.cfg->ndevices; k++)
		nreq += s.devs[k].count.requests;
	log_info("sim", "stopped after %llds: %llu requests served", sim_elapsed_s(&s),
		 (unsigned long long)nreq);

out:
	sim_free(&s);
	return rc;
}
