/*
 * model: the simulated devices' register model. Owns, per device of the
 * config, the engineering value of every point (plausible at start, drifting,
 * or pinned), the four Modbus tables holding the codec's encoding of those
 * values (which addresses are mapped; the `illegal` ranges), the device's
 * state as the scenario sets it (offline, forced exception, fault) and its
 * request counters; and, per link, which device answers which unit id.
 *
 * Nothing here does I/O except log lines; nothing reads a clock.
 */
#ifndef YW_SIM_MODEL_H
#define YW_SIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../daemon/config.h"

#define SIM_NFC 128              /* function codes counted */

enum sim_kind { KIND_FIXED, KIND_WALK, KIND_COUNTER };

/* The transports: each has its own unit id -> device routing. LINK_RTU_TCP
 * is RTU framing (frame.c treats it as LINK_RTU) on TCP clients. */
enum sim_link { LINK_TCP, LINK_RTU, LINK_RTU_TCP };
#define SIM_NLINKS 3

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

/* What a device does to its answers on the wire (see frame.h). */
enum fault_kind {
	FAULT_NONE, FAULT_GARBAGE, FAULT_TRUNCATE, FAULT_BAD_CRC, FAULT_WRONG_UNIT,
	FAULT_WRONG_TID, FAULT_LATE, FAULT_SILENT
};

struct sim_fault {
	enum fault_kind kind;
	int64_t until_ms;        /* monotonic end; 0: for ever */
	int delay_ms;            /* FAULT_LATE */
};

struct sim_count {
	uint64_t requests;       /* every request addressed to the device */
	uint64_t reads, writes;  /* answered normally */
	uint64_t exceptions;     /* answered with an exception */
	uint64_t ignored;        /* not answered (offline) */
	uint64_t faulted;        /* answers a fault changed or withheld */
	uint64_t fc[SIM_NFC];
};

struct sim_dev {
	const struct device_cfg *cfg;
	const struct identify_cfg *ident; /* its profile's identify rule, NULL when none */
	struct sim_point *pts;   /* owned, cfg->npoints */
	struct sim_table tab[4]; /* indexed by enum yw_table */
	bool offline;
	int exception;           /* 0: none; else answer every request with it */
	struct sim_range *illegal; /* owned */
	size_t nillegal;
	struct sim_fault fault;
	struct sim_count count;
};

struct sim_model {
	const struct config *cfg;  /* not owned */
	struct sim_dev *devs;      /* owned, cfg->ndevices */
	int route[SIM_NLINKS][256];  /* [enum sim_link][unit] -> device index, -1: nobody */
	bool drift;
	uint64_t rng;              /* drift */
	uint64_t fault_rng;        /* garbage bytes; apart, so faults do not change the drift */
	uint64_t unknown_unit, bad_frames;
	bool dirty;                /* a counter changed since model_clean() */
};

/* Builds every device of CFG (which must outlive the model). -1: out of memory. */
int model_init(struct sim_model *m, const struct config *cfg, uint64_t seed);
/* Releases what model_init allocated; safe on a zeroed model. */
void model_free(struct sim_model *m);
/* Fills the routing of LINK; BUS_FILTER >= 0 serves only that bus's devices. */
void model_route(struct sim_model *m, enum sim_link link, int bus_filter);
/* One drift period: random walks and counters of unpinned points. */
void model_tick(struct sim_model *m);

/* Decimal places of point P (its decimals_from value), 0 when none, -1 when unusable. */
int model_decimals(const struct sim_dev *d, const struct point_cfg *p);
/* Re-encodes every point of D; -1 when one could not be encoded (logged once). */
int model_encode_dev(struct sim_dev *d);
/* The value a client reading point I would decode; -1 when undecodable. */
int model_read_point(const struct sim_dev *d, size_t i, double *v);
/* Pins point I at V; -1 (nothing changed) when V cannot be encoded. */
int model_set_point(struct sim_dev *d, size_t i, double v);
/* True when every address of T[start, start+qty) is mapped and not illegal. */
bool model_range_ok(const struct sim_dev *d, enum yw_table t, uint32_t start, uint32_t qty);
/* After registers of T[start, start+qty) were written: pins and re-encodes. */
void model_after_write(struct sim_dev *d, enum yw_table t, uint32_t start, uint32_t qty);
/* Adds an illegal range (COUNT > 0) or clears all of table T (COUNT 0). -1: out of memory. */
int model_illegal(struct sim_dev *d, enum yw_table t, uint32_t start, uint32_t count);
/* The fault of D that holds at NOW (monotonic ms), NULL when none. */
const struct sim_fault *model_fault(const struct sim_dev *d, int64_t now);
/* Counters: a request for nobody, a bad frame. */
void model_unknown_unit(struct sim_model *m);
void model_bad_frame(struct sim_model *m);
/* splitmix64 step of STATE. */
uint64_t model_rand(uint64_t *state);

#endif
