/*
 * planner: points -> read requests. See planner.h for the merging rules.
 *
 * The request list is rebuilt greedily from the sorted points and brk[]:
 * a request can never hold more points than the device has, so reqs is
 * allocated once with room for one request per point and a rebuild (after a
 * split) needs no allocation.
 */
#include "planner.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"

struct planner_key {
	enum yw_table table;
	unsigned address;
	int bit;
	size_t idx;
};

static int planner_cmp(const void *a, const void *b)
{
	const struct planner_key *x = a, *y = b;

	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	if (x->address != y->address)
		return x->address < y->address ? -1 : 1;
	if (x->bit != y->bit)
		return x->bit < y->bit ? -1 : 1;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return 0;
}

static unsigned long planner_limit(const struct plan_device *dev, enum yw_table t)
{
	if (t == TABLE_COIL || t == TABLE_DISCRETE)
		return PLANNER_MAX_BITS;
	if (dev->max_read_regs < 1)
		return 1;
	if (dev->max_read_regs > PLANNER_MAX_REGS)
		return PLANNER_MAX_REGS;
	return (unsigned long)dev->max_read_regs;
}

static unsigned long planner_end(const struct point_cfg *p)
{
	return (unsigned long)p->address + (unsigned long)codec_width(p);
}

static void planner_rebuild(const struct plan_device *dev, struct plan *plan)
{
	unsigned long gap_max = dev->max_gap > 0 ? (unsigned long)dev->max_gap : 0;
	unsigned long end = 0;   /* end (exclusive) of the current request */
	struct read_req *cur = NULL;

	plan->nreqs = 0;
	for (size_t k = 0; k < plan->norder; k++) {
		const struct point_cfg *p = &dev->points[plan->order[k]];
		unsigned long s = p->address, e = planner_end(p);

		if (cur != NULL && !plan->brk[k] && p->table == cur->table &&
		    (s <= end || s - end <= gap_max) &&
		    (e > end ? e : end) - cur->start <= planner_limit(dev, p->table)) {
			if (e > end)
				end = e;
			cur->count = (uint16_t)(end - cur->start);
			cur->npts++;
			continue;
		}
		cur = &plan->reqs[plan->nreqs++];
		cur->table = p->table;
		cur->start = p->address;
		cur->count = (uint16_t)(e - s);
		cur->first = k;
		cur->npts = 1;
		end = e;
	}
}

int planner_build(const struct plan_device *dev, struct plan *plan)
{
	struct planner_key *keys = NULL;
	size_t n = dev->npoints;

	memset(plan, 0, sizeof(*plan));
	if (n == 0)
		return 0;
	keys = malloc(n * sizeof(*keys));
	plan->order = malloc(n * sizeof(*plan->order));
	plan->brk = calloc(n, sizeof(*plan->brk));
	plan->reqs = malloc(n * sizeof(*plan->reqs));
	if (keys == NULL || plan->order == NULL || plan->brk == NULL || plan->reqs == NULL)
		goto out_fail;
	for (size_t i = 0; i < n; i++) {
		keys[i].table = dev->points[i].table;
		keys[i].address = dev->points[i].address;
		keys[i].bit = dev->points[i].bit;
		keys[i].idx = i;
	}
	qsort(keys, n, sizeof(*keys), planner_cmp);
	for (size_t i = 0; i < n; i++)
		plan->order[i] = keys[i].idx;
	plan->norder = n;
	planner_rebuild(dev, plan);
	free(keys);
	return 0;

out_fail:
	free(keys);
	planner_free(plan);
	return -1;
}

int planner_split(const struct plan_device *dev, struct plan *plan, size_t r)
{
	const struct read_req *req;
	size_t mid, best = 0, last;
	unsigned long maxend;

	if (r >= plan->nreqs)
		return -1;
	req = &plan->reqs[r];
	if (req->npts < 2)
		return 0;
	mid = req->first + req->npts / 2;
	last = req->first + req->npts;
	maxend = planner_end(&dev->points[plan->order[req->first]]);
	for (size_t k = req->first + 1; k < last; k++) {
		const struct point_cfg *p = &dev->points[plan->order[k]];
		size_t dist = k > mid ? k - mid : mid - k;

		/* k qualifies when order[k] starts after every earlier point
		 * of the request ends: the two halves share no register. */
		if (p->address >= maxend &&
		    (best == 0 || dist < (best > mid ? best - mid : mid - best)))
			best = k;
		if (planner_end(p) > maxend)
			maxend = planner_end(p);
	}
	if (best == 0)
		return 0;
	plan->brk[best] = true;
	/* Keep the second half from growing into the next request: the rest
	 * of the plan stays exactly as it was. */
	if (last < plan->norder)
		plan->brk[last] = true;
	planner_rebuild(dev, plan);
	return 1;
}

void planner_free(struct plan *plan)
{
	free(plan->reqs);
	free(plan->order);
	free(plan->brk);
	memset(plan, 0, sizeof(*plan));
}
