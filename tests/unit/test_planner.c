/*
 * test_planner: merging by table, gap and size limits; splits after
 * "illegal data address"; plan invariants checked after every build/split.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../drivers/codec.h"
#include "../../drivers/planner.h"
#include "check.h"



#define MAXPTS 4100

struct pt { enum yw_table t; unsigned addr; enum yw_type type; int bit; };

static struct point_cfg points[MAXPTS];

static void mkdev(struct plan_device *dev, const struct pt *pts, size_t n,
		  int max_read_regs, int max_gap)
{
	if (n > MAXPTS) {
		fprintf(stderr, "%s:%d: test needs more than %d points\n", __FILE__, __LINE__, MAXPTS);
		exit(1);
	}
	memset(dev, 0, sizeof(*dev));
	dev->max_read_regs = max_read_regs;
	dev->max_gap = max_gap;
	dev->points = n ? points : NULL;
	dev->npoints = n;
	for (size_t i = 0; i < n; i++) {
		struct point_cfg *p = &points[i];

		memset(p, 0, sizeof(*p));
		snprintf(p->name, sizeof(p->name), "p%zu", i);
		p->table = pts[i].t;
		p->address = (uint16_t)pts[i].addr;
		p->type = pts[i].type;
		p->order = ORDER_ABCD;
		p->bit = pts[i].bit;
		p->scale = 1;
		p->decimals_from = -1;
	}
}

/* N points of one table and type, back to back from START. */
static void mkrun(struct plan_device *dev, enum yw_table t, enum yw_type type,
		  unsigned start, size_t n, int max_read_regs, int max_gap)
{
	static struct pt pts[MAXPTS];
	unsigned a = start;

	for (size_t i = 0; i < n; i++) {
		pts[i] = (struct pt){ t, a, type, -1 };
		a += (t == TABLE_COIL || t == TABLE_DISCRETE) ? 1u :
		     (type == TYPE_FLOAT32 || type == TYPE_INT32 || type == TYPE_UINT32) ? 2u :
		     (type == TYPE_FLOAT64 || type == TYPE_INT64 || type == TYPE_UINT64) ? 4u : 1u;
	}
	mkdev(dev, pts, n, max_read_regs, max_gap);
}

static unsigned long limit_of(const struct plan_device *dev, enum yw_table t)
{
	if (t == TABLE_COIL || t == TABLE_DISCRETE)
		return PLANNER_MAX_BITS;
	if (dev->max_read_regs < 1)
		return 1;
	return dev->max_read_regs > PLANNER_MAX_REGS ? PLANNER_MAX_REGS :
	       (unsigned long)dev->max_read_regs;
}

/* Every invariant a plan must hold; returns the number of violations. */
static int check_plan(const struct plan_device *dev, const struct plan *pl)
{
	int bad = 0;
	size_t next = 0;
	static unsigned char used[65536 + 8];

	if (pl->norder != dev->npoints)
		bad++;
	for (size_t k = 1; k < pl->norder; k++) {
		const struct point_cfg *a = &dev->points[pl->order[k - 1]];
		const struct point_cfg *b = &dev->points[pl->order[k]];

		if (a->table > b->table || (a->table == b->table && a->address > b->address))
			bad++;
	}
	for (size_t r = 0; r < pl->nreqs; r++) {
		const struct read_req *q = &pl->reqs[r];
		unsigned long lo = 0xFFFFFFFFul, hi = 0, gap_max;
		unsigned long run = 0;

		if (q->first != next || q->npts == 0)
			bad++;
		next = q->first + q->npts;
		memset(used + q->start, 0, q->count);
		for (size_t k = q->first; k < q->first + q->npts && k < pl->norder; k++) {
			const struct point_cfg *p = &dev->points[pl->order[k]];
			unsigned long e = (unsigned long)p->address + (unsigned long)codec_width(p);

			if (p->table != q->table)
				bad++;
			if (p->address < q->start || e > (unsigned long)q->start + q->count)
				bad++;
			if (p->address < lo)
				lo = p->address;
			if (e > hi)
				hi = e;
			for (unsigned long a = p->address; a < e; a++)
				if (a >= q->start && a < (unsigned long)q->start + q->count)
					used[a] = 1;
		}
		if (lo != q->start || hi != (unsigned long)q->start + q->count)
			bad++;
		if (q->npts > 1 && q->count > limit_of(dev, q->table))
			bad++;
		/* registers nobody asked for: only in gaps of at most max_gap */
		gap_max = dev->max_gap > 0 ? (unsigned long)dev->max_gap : 0;
		for (unsigned long a = q->start; a < (unsigned long)q->start + q->count; a++) {
			run = used[a] ? 0 : run + 1;
			if (run > gap_max)
				bad++;
		}
	}
	if (next != pl->norder)
		bad++;
	if (bad)
		fprintf(stderr, "  plan check: %d violations\n", bad);
	return bad;
}

struct rq { enum yw_table t; unsigned start, count; size_t npts; };

struct build_case {
	const char *name;
	struct pt pts[12];
	size_t npts;
	int max_read_regs, max_gap;
	struct rq want[8];
	size_t nwant;
};

#define H TABLE_HOLDING
#define I TABLE_INPUT
#define C TABLE_COIL
#define D TABLE_DISCRETE

static const struct build_case build_cases[] = {
	{ "contiguous", { { H, 0, TYPE_UINT16, -1 }, { H, 1, TYPE_UINT16, -1 },
	  { H, 2, TYPE_UINT16, -1 }, { H, 3, TYPE_UINT16, -1 }, { H, 4, TYPE_UINT16, -1 } }, 5,
	  125, 0, { { H, 0, 5, 5 } }, 1 },
	{ "unsorted", { { H, 4, TYPE_UINT16, -1 }, { H, 0, TYPE_UINT16, -1 },
	  { H, 2, TYPE_UINT16, -1 }, { H, 1, TYPE_UINT16, -1 }, { H, 3, TYPE_UINT16, -1 } }, 5,
	  125, 0, { { H, 0, 5, 5 } }, 1 },
	{ "gap 1, max_gap 0", { { H, 0, TYPE_UINT16, -1 }, { H, 1, TYPE_UINT16, -1 },
	  { H, 3, TYPE_UINT16, -1 } }, 3, 125, 0, { { H, 0, 2, 2 }, { H, 3, 1, 1 } }, 2 },
	{ "gap 1, max_gap 1", { { H, 0, TYPE_UINT16, -1 }, { H, 1, TYPE_UINT16, -1 },
	  { H, 3, TYPE_UINT16, -1 } }, 3, 125, 1, { { H, 0, 4, 3 } }, 1 },
	{ "gap 3, max_gap 2", { { I, 10, TYPE_FLOAT32, -1 }, { I, 15, TYPE_FLOAT32, -1 } }, 2,
	  125, 2, { { I, 10, 2, 1 }, { I, 15, 2, 1 } }, 2 },
	{ "gap 3, max_gap 3", { { I, 10, TYPE_FLOAT32, -1 }, { I, 15, TYPE_FLOAT32, -1 } }, 2,
	  125, 3, { { I, 10, 7, 2 } }, 1 },
	{ "negative max_gap = 0", { { H, 0, TYPE_UINT16, -1 }, { H, 2, TYPE_UINT16, -1 } }, 2,
	  125, -5, { { H, 0, 1, 1 }, { H, 2, 1, 1 } }, 2 },
	{ "gap within limit only", { { H, 0, TYPE_UINT16, -1 }, { H, 5, TYPE_UINT16, -1 } }, 2,
	  5, 10, { { H, 0, 1, 1 }, { H, 5, 1, 1 } }, 2 },
	{ "gap fills limit", { { H, 0, TYPE_UINT16, -1 }, { H, 5, TYPE_UINT16, -1 } }, 2,
	  6, 10, { { H, 0, 6, 2 } }, 1 },
	{ "float then uint16", { { H, 0, TYPE_FLOAT32, -1 }, { H, 2, TYPE_UINT16, -1 } }, 2,
	  125, 0, { { H, 0, 3, 2 } }, 1 },
	{ "multi-register not split", { { H, 0, TYPE_FLOAT32, -1 }, { H, 2, TYPE_FLOAT32, -1 },
	  { H, 4, TYPE_FLOAT32, -1 } }, 3, 5, 0, { { H, 0, 4, 2 }, { H, 4, 2, 1 } }, 2 },
	{ "point wider than limit", { { H, 0, TYPE_UINT64, -1 }, { H, 4, TYPE_UINT16, -1 } }, 2,
	  2, 0, { { H, 0, 4, 1 }, { H, 4, 1, 1 } }, 2 },
	{ "max_read_regs 0 = 1", { { H, 0, TYPE_UINT16, -1 }, { H, 1, TYPE_UINT16, -1 } }, 2,
	  0, 0, { { H, 0, 1, 1 }, { H, 1, 1, 1 } }, 2 },
	{ "tables apart", { { H, 0, TYPE_UINT16, -1 }, { I, 0, TYPE_UINT16, -1 },
	  { C, 0, TYPE_BOOL, -1 }, { D, 0, TYPE_BOOL, -1 }, { I, 1, TYPE_UINT16, -1 },
	  { C, 1, TYPE_BOOL, -1 } }, 6, 125, 0,
	  { { C, 0, 2, 2 }, { D, 0, 1, 1 }, { I, 0, 2, 2 }, { H, 0, 1, 1 } }, 4 },
	{ "coil gap max_gap 4", { { C, 0, TYPE_BOOL, -1 }, { C, 5, TYPE_BOOL, -1 } }, 2,
	  1, 4, { { C, 0, 6, 2 } }, 1 },
	{ "coil gap max_gap 3", { { C, 0, TYPE_BOOL, -1 }, { C, 5, TYPE_BOOL, -1 } }, 2,
	  1, 3, { { C, 0, 1, 1 }, { C, 5, 1, 1 } }, 2 },
	{ "bit points share a register", { { H, 7, TYPE_BOOL, 15 }, { H, 7, TYPE_BOOL, 0 },
	  { H, 7, TYPE_BOOL, 3 }, { H, 8, TYPE_UINT16, -1 }, { H, 7, TYPE_BOOL, 3 } }, 5,
	  125, 0, { { H, 7, 2, 5 } }, 1 },
	{ "bit points then gap", { { H, 7, TYPE_BOOL, 1 }, { H, 7, TYPE_BOOL, 2 },
	  { H, 9, TYPE_UINT16, -1 } }, 3, 125, 0, { { H, 7, 1, 2 }, { H, 9, 1, 1 } }, 2 },
	{ "overlapping points", { { H, 10, TYPE_UINT32, -1 }, { H, 11, TYPE_UINT16, -1 },
	  { H, 10, TYPE_INT16, -1 } }, 3, 125, 0, { { H, 10, 2, 3 } }, 1 },
	{ "wide point covers next", { { H, 10, TYPE_UINT64, -1 }, { H, 11, TYPE_UINT16, -1 },
	  { H, 14, TYPE_UINT16, -1 } }, 3, 125, 0, { { H, 10, 5, 3 } }, 1 },
	{ "top of the address space", { { H, 65534, TYPE_UINT16, -1 },
	  { H, 65535, TYPE_UINT16, -1 } }, 2, 125, 0, { { H, 65534, 2, 2 } }, 1 },
};

static void test_build_table(void)
{
	for (size_t i = 0; i < sizeof(build_cases) / sizeof(build_cases[0]); i++) {
		const struct build_case *c = &build_cases[i];
		struct plan_device dev;
		struct plan pl;
		int ok;

		mkdev(&dev, c->pts, c->npts, c->max_read_regs, c->max_gap);
		CHECK(planner_build(&dev, &pl) == 0);
		CHECK(check_plan(&dev, &pl) == 0);
		ok = pl.nreqs == c->nwant;
		for (size_t r = 0; ok && r < c->nwant; r++)
			ok = pl.reqs[r].table == c->want[r].t && pl.reqs[r].start == c->want[r].start &&
			     pl.reqs[r].count == c->want[r].count && pl.reqs[r].npts == c->want[r].npts;
		CHECK(ok);
		if (!ok) {
			fprintf(stderr, "  case \"%s\": got", c->name);
			for (size_t r = 0; r < pl.nreqs; r++)
				fprintf(stderr, " [t%d %u+%u n%zu]", (int)pl.reqs[r].table,
					pl.reqs[r].start, pl.reqs[r].count, pl.reqs[r].npts);
			fprintf(stderr, "\n");
		}
		planner_free(&pl);
	}
}

static void test_limits(void)
{
	static const struct {
		enum yw_table t; enum yw_type type; size_t n; int max_regs, max_gap;
		size_t nreqs; unsigned first_count, last_count;
	} cases[] = {
		{ H, TYPE_UINT16, 10, 4, 0, 3, 4, 2 },
		{ I, TYPE_UINT16, 10, 5, 0, 2, 5, 5 },
		{ H, TYPE_UINT16, 200, 125, 0, 2, 125, 75 },
		{ H, TYPE_UINT16, 200, 500, 0, 2, 125, 75 },     /* Modbus cap */
		{ H, TYPE_FLOAT32, 100, 125, 0, 2, 124, 76 },    /* 62 floats, then 38 */
		{ I, TYPE_FLOAT64, 40, 125, 0, 2, 124, 36 },
		{ C, TYPE_BOOL, 2500, 10, 0, 2, 2000, 500 },     /* bits: 2000 whatever max_read_regs */
		{ D, TYPE_BOOL, 4001, 125, 0, 3, 2000, 1 },
		{ C, TYPE_BOOL, 2000, 1, 0, 1, 2000, 2000 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct plan_device dev;
		struct plan pl;

		mkrun(&dev, cases[i].t, cases[i].type, 0, cases[i].n, cases[i].max_regs,
		      cases[i].max_gap);
		CHECK(planner_build(&dev, &pl) == 0);
		CHECK(check_plan(&dev, &pl) == 0);
		CHECK(pl.nreqs == cases[i].nreqs);
		if (pl.nreqs == cases[i].nreqs) {
			CHECK(pl.reqs[0].count == cases[i].first_count);
			CHECK(pl.reqs[pl.nreqs - 1].count == cases[i].last_count);
		} else {
			fprintf(stderr, "  limit case %zu: %zu requests\n", i, pl.nreqs);
		}
		planner_free(&pl);
	}
}

static void test_empty(void)
{
	struct plan_device dev;
	struct plan pl;

	mkdev(&dev, NULL, 0, 125, 0);
	memset(&pl, 0xAB, sizeof(pl));
	CHECK(planner_build(&dev, &pl) == 0);
	CHECK(pl.nreqs == 0 && pl.norder == 0);
	CHECK(pl.reqs == NULL && pl.order == NULL && pl.brk == NULL);
	CHECK(planner_split(&dev, &pl, 0) == -1);
	planner_free(&pl);
	planner_free(&pl);   /* freeing twice is harmless */
	CHECK(pl.reqs == NULL && pl.nreqs == 0);
}

/* Index of the request reading register ADDR of the table, or nreqs. */
static size_t req_of(const struct plan *pl, enum yw_table t, unsigned addr)
{
	for (size_t r = 0; r < pl->nreqs; r++)
		if (pl->reqs[r].table == t && addr >= pl->reqs[r].start &&
		    addr < (unsigned)pl->reqs[r].start + pl->reqs[r].count)
			return r;
	return pl->nreqs;
}

/* 20 points in one request, one of them refused: the bus worker splits the
 * request that fails until the bad point stands alone. */
static void test_isolate(void)
{
	static const struct { enum yw_type type; int max_gap; } kinds[] = {
		{ TYPE_UINT16, 0 }, { TYPE_FLOAT32, 0 }, { TYPE_UINT16, 3 },
	};

	for (size_t kd = 0; kd < sizeof(kinds) / sizeof(kinds[0]); kd++) {
		for (size_t bad = 0; bad < 20; bad++) {
			struct plan_device dev;
			struct plan pl;
			unsigned badaddr;
			size_t r, splits = 0;
			int rc = 1, others_ok = 1;

			mkrun(&dev, H, kinds[kd].type, 100, 20, 125, kinds[kd].max_gap);
			badaddr = dev.points[bad].address;
			CHECK(planner_build(&dev, &pl) == 0);
			CHECK(pl.nreqs == 1);
			for (;;) {
				r = req_of(&pl, H, badaddr);
				if (r == pl.nreqs || pl.reqs[r].npts == 1)
					break;
				rc = planner_split(&dev, &pl, r);
				if (rc != 1)
					break;
				splits++;
				if (check_plan(&dev, &pl) != 0)
					break;
			}
			CHECK(rc == 1);
			CHECK(splits >= 1 && splits <= 5);   /* ceil(log2(20)) */
			CHECK(pl.nreqs == splits + 1);
			CHECK(check_plan(&dev, &pl) == 0);
			r = req_of(&pl, H, badaddr);
			CHECK(r < pl.nreqs && pl.reqs[r].npts == 1 &&
			      pl.order[pl.reqs[r].first] == bad);
			/* the bad point alone now: refused again, nothing to split */
			CHECK(planner_split(&dev, &pl, r) == 0);
			for (size_t q = 0; q < pl.nreqs; q++) {
				if (q == r)
					continue;
				if (badaddr >= pl.reqs[q].start &&
				    badaddr < (unsigned)pl.reqs[q].start + pl.reqs[q].count)
					others_ok = 0;
				for (size_t k = pl.reqs[q].first; k < pl.reqs[q].first + pl.reqs[q].npts; k++)
					if (pl.order[k] == bad)
						others_ok = 0;
			}
			CHECK(others_ok);
			planner_free(&pl);
		}
	}
}

static void test_split_cases(void)
{
	struct plan_device dev;
	struct plan pl;

	/* a request of one point: nothing to split */
	{
		static const struct pt pts[] = { { H, 5, TYPE_UINT16, -1 } };

		mkdev(&dev, pts, 1, 125, 0);
		CHECK(planner_build(&dev, &pl) == 0);
		CHECK(planner_split(&dev, &pl, 0) == 0);
		CHECK(planner_split(&dev, &pl, 1) == -1);
		CHECK(pl.nreqs == 1);
		planner_free(&pl);
	}
	/* bit points of one register are never split apart */
	{
		static const struct pt pts[] = {
			{ H, 7, TYPE_BOOL, 0 }, { H, 7, TYPE_BOOL, 1 }, { H, 7, TYPE_BOOL, 9 },
		};

		mkdev(&dev, pts, 3, 125, 0);
		CHECK(planner_build(&dev, &pl) == 0);
		CHECK(pl.nreqs == 1 && pl.reqs[0].npts == 3);
		CHECK(planner_split(&dev, &pl, 0) == 0);
		CHECK(pl.nreqs == 1);
		planner_free(&pl);
	}
	/* overlapping points: no boundary without a shared register */
	{
		static const struct pt pts[] = {
			{ H, 10, TYPE_UINT32, -1 }, { H, 11, TYPE_UINT32, -1 }, { H, 12, TYPE_UINT16, -1 },
		};

		mkdev(&dev, pts, 3, 125, 0);
		CHECK(planner_build(&dev, &pl) == 0);
		CHECK(pl.nreqs == 1);
		CHECK(planner_split(&dev, &pl, 0) == 0);
		planner_free(&pl);
	}
	/* four bit points on 7, one on 8: the split falls between 7 and 8
	 * even though the middle point is the third bit of 7 */
	{
		static const struct pt pts[] = {
			{ H, 7, TYPE_BOOL, 0 }, { H, 7, TYPE_BOOL, 1 }, { H, 7, TYPE_BOOL, 2 },
			{ H, 7, TYPE_BOOL, 3 }, { H, 8, TYPE_BOOL, 0 },
		};

		mkdev(&dev, pts, 5, 125, 0);
		CHECK(planner_build(&dev, &pl) == 0);
		CHECK(planner_split(&dev, &pl, 0) == 1);
		CHECK(pl.nreqs == 2);
		CHECK(pl.reqs[0].start == 7 && pl.reqs[0].count == 1 && pl.reqs[0].npts == 4);
		CHECK(pl.reqs[1].start == 8 && pl.reqs[1].count == 1 && pl.reqs[1].npts == 1);
		CHECK(check_plan(&dev, &pl) == 0);
		CHECK(planner_split(&dev, &pl, 0) == 0);
		planner_free(&pl);
	}
	/* the split halves stay halves: the rest of the plan is unchanged */
	{
		mkrun(&dev, H, TYPE_UINT16, 0, 10, 4, 0);
		CHECK(planner_build(&dev, &pl) == 0);
		CHECK(pl.nreqs == 3);
		CHECK(planner_split(&dev, &pl, 0) == 1);
		CHECK(pl.nreqs == 4);
		CHECK(pl.reqs[0].start == 0 && pl.reqs[0].count == 2);
		CHECK(pl.reqs[1].start == 2 && pl.reqs[1].count == 2);
		CHECK(pl.reqs[2].start == 4 && pl.reqs[2].count == 4);
		CHECK(pl.reqs[3].start == 8 && pl.reqs[3].count == 2);
		/* a later split keeps the earlier ones */
		CHECK(planner_split(&dev, &pl, 2) == 1);
		CHECK(pl.nreqs == 5);
		CHECK(pl.reqs[0].count == 2 && pl.reqs[1].start == 2);
		CHECK(pl.reqs[2].start == 4 && pl.reqs[2].count == 2);
		CHECK(pl.reqs[3].start == 6 && pl.reqs[3].count == 2);
		CHECK(pl.reqs[4].start == 8);
		CHECK(check_plan(&dev, &pl) == 0);
		planner_free(&pl);
		/* splits live in the plan: a new build starts without them */
		CHECK(planner_build(&dev, &pl) == 0);
		CHECK(pl.nreqs == 3);
		planner_free(&pl);
	}
	/* split by point count, not by registers: 1 float64 + 3 uint16 */
	{
		static const struct pt pts[] = {
			{ I, 0, TYPE_FLOAT64, -1 }, { I, 4, TYPE_UINT16, -1 },
			{ I, 5, TYPE_UINT16, -1 }, { I, 6, TYPE_UINT16, -1 },
		};

		mkdev(&dev, pts, 4, 125, 0);
		CHECK(planner_build(&dev, &pl) == 0);
		CHECK(planner_split(&dev, &pl, 0) == 1);
		CHECK(pl.nreqs == 2);
		CHECK(pl.reqs[0].start == 0 && pl.reqs[0].count == 5 && pl.reqs[0].npts == 2);
		CHECK(pl.reqs[1].start == 5 && pl.reqs[1].count == 2 && pl.reqs[1].npts == 2);
		planner_free(&pl);
	}
	/* split in a merged gap read: the gap is not read any more */
	{
		static const struct pt pts[] = {
			{ H, 0, TYPE_UINT16, -1 }, { H, 3, TYPE_UINT16, -1 },
		};

		mkdev(&dev, pts, 2, 125, 2);
		CHECK(planner_build(&dev, &pl) == 0);
		CHECK(pl.nreqs == 1 && pl.reqs[0].count == 4);
		CHECK(planner_split(&dev, &pl, 0) == 1);
		CHECK(pl.nreqs == 2 && pl.reqs[0].count == 1 && pl.reqs[1].start == 3);
		planner_free(&pl);
	}
}

int main(void)
{
	test_build_table();
	test_limits();
	test_empty();
	test_isolate();
	test_split_cases();
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
