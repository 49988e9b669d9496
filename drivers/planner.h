/*
 * planner: turns the points of one device into the fewest Modbus read
 * requests allowed by max_read_regs and max_gap, one table at a time.
 * Pure: no I/O. The plan remembers splits: when a merged read is answered
 * with "illegal data address", planner_split() breaks it in two at a point
 * boundary so that one unmapped register cannot blind the whole device; a
 * request of one point that is refused stays on its own, and only that point
 * is bad.
 *
 * Ownership: struct plan owns its arrays; planner_free() releases them.
 */
#ifndef YW_PLANNER_H
#define YW_PLANNER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "../daemon/config.h"

#define PLANNER_MAX_BITS 2000   /* coils/discretes per request (Modbus limit) */
#define PLANNER_MAX_REGS 125    /* registers per request (Modbus limit) */

struct read_req {
	enum yw_table table;
	uint16_t start;
	uint16_t count;          /* registers or bits */
	size_t first;            /* index into plan.order of the first point covered */
	size_t npts;             /* points covered: plan.order[first .. first+npts) */
};

struct plan {
	struct read_req *reqs;   /* owned */
	size_t nreqs;
	size_t *order;           /* owned: point indices sorted by (table, address) */
	size_t norder;
	bool *brk;               /* owned: brk[k]: never merge order[k-1] with order[k] */
};

/* Build the plan for DEV's points. 0 on success, -1 on allocation failure. */
int planner_build(const struct device_cfg *dev, struct plan *plan);

/* Split request R (after an "illegal data address" answer) into two at the
 * middle point boundary and rebuild the request list, keeping all earlier
 * splits. Returns 1 when split, 0 when R covers one point only (nothing to
 * split: that point is refused), -1 on allocation failure. */
int planner_split(const struct device_cfg *dev, struct plan *plan, size_t r);

void planner_free(struct plan *plan);

#endif
