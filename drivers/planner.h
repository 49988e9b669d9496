/*
 * planner: turns the points of one device into the fewest Modbus read
 * requests allowed by max_read_regs and max_gap, one table at a time.
 * Pure: no I/O. The plan remembers splits: when a merged read is answered
 * with "illegal data address", planner_split() breaks it in two at a point
 * boundary so that one unmapped register cannot blind the whole device; a
 * request of one point that is refused stays on its own, and only that point
 * is bad.
 *
 * Merging rules (points sorted by table, address, bit, index):
 * - Points of different tables never share a request.
 * - The next point joins the current request when the registers (bits) it
 *   skips after the end of the request so far are <= max_gap (points that
 *   overlap or share a register, e.g. several `bit` points of one register,
 *   skip nothing) and the merged span stays within the limit. No register
 *   outside the points and such gaps is ever read.
 * - Limit: input/holding: max_read_regs, clamped into 1..PLANNER_MAX_REGS;
 *   coil/discrete: PLANNER_MAX_BITS bits, whatever max_read_regs says
 *   (max_read_regs is about registers). A single point wider than the limit
 *   still gets its own request: a point is never split across requests.
 * - max_gap < 0 counts as 0 (only contiguous points merge).
 *
 * Splits (brk[]) live in the plan only: planner_build() always starts
 * without any. The bus worker builds the plan once per device and keeps it
 * for the device's lifetime (until a config reload), so that what was learned
 * from exceptions is not forgotten.
 *
 * Ownership: struct plan owns its arrays; planner_free() releases them.
 */
#ifndef YW_PLANNER_H
#define YW_PLANNER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "point.h"

#define PLANNER_MAX_BITS 2000   /* coils/discretes per request (Modbus limit) */
#define PLANNER_MAX_REGS 125    /* registers per request (Modbus limit) */

/* The part of a device the planner reads: its points and read limits. */
struct plan_device {
	const struct point_cfg *points;
	size_t npoints;
	int max_read_regs;       /* registers per request */
	int max_gap;             /* registers a merged read may skip over */
};

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

/* Build the plan for DEV's points. 0 on success, -1 on allocation failure
 * (PLAN is then empty). A device without points gives an empty plan
 * (nreqs = 0, NULL arrays). */
int planner_build(const struct plan_device *dev, struct plan *plan);

/* Split request R (after an "illegal data address" answer) into two at the
 * middle point boundary and rebuild the request list, keeping all earlier
 * splits. Only boundaries where the points before and after share no
 * register qualify (bit points of one register stay together); of those the
 * one nearest the middle point is taken. R becomes requests R and R+1; all
 * other requests stay as they were (shifted by one after R). Returns 1 when
 * split, 0 when R covers one point only or all its points overlap (nothing
 * to split: those points are refused), -1 on allocation failure or when R is
 * not a request of the plan. */
int planner_split(const struct plan_device *dev, struct plan *plan, size_t r);

void planner_free(struct plan *plan);

#endif
