/*
 * point: what a point of a device's register map is, and the names of its
 * enums. The driver layer (codec, planner, the Modbus backends) and
 * everything above it share these definitions; this header depends on
 * nothing but the C library.
 *
 * Owns: enum yw_table, yw_type, yw_order, yw_quality and their one name
 * table each; struct point_cfg (a point as a profile or the config describes
 * it: the register fields the codec reads, and the unit, write bounds and
 * storage settings that travel with it).
 */
#ifndef YW_POINT_H
#define YW_POINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YW_ID_MAX 64          /* ids: [a-z0-9][a-z0-9_-]{0,62} + NUL */

enum yw_table { TABLE_COIL, TABLE_DISCRETE, TABLE_INPUT, TABLE_HOLDING };
#define POINT_NTABLES 4

enum yw_type {
	TYPE_BOOL, TYPE_INT16, TYPE_UINT16, TYPE_INT32, TYPE_UINT32,
	TYPE_INT64, TYPE_UINT64, TYPE_FLOAT32, TYPE_FLOAT64
};
#define POINT_NTYPES 9

/* Word/byte order of multi-register values; see the SPEC's "Word order". */
enum yw_order { ORDER_ABCD, ORDER_CDAB, ORDER_BADC, ORDER_DCBA };
#define POINT_NORDERS 4

/* Quality of a reading: good; bad (the device refused it, or it did not
 * decode, e.g. NaN); stale (the device is offline). Stored as these
 * integers. */
enum yw_quality { Q_GOOD = 0, Q_BAD = 1, Q_STALE = 2 };
#define POINT_NQUALITIES 3

/* The names as written in configs, payloads and the store, indexed by the
 * enum value. */
extern const char *const point_table_names[POINT_NTABLES];
extern const char *const point_type_names[POINT_NTYPES];
extern const char *const point_order_names[POINT_NORDERS];
extern const char *const point_quality_names[POINT_NQUALITIES];

/* The name of a value; "?" for a value outside the enum ("bad" for quality). */
const char *point_table_name(enum yw_table t);
const char *point_type_name(enum yw_type t);
const char *point_order_name(enum yw_order o);
const char *point_quality_name(enum yw_quality q);

/* The value of NAME in NAMES[0..N); -1 when it is none of them. */
int point_name_index(const char *const *names, size_t n, const char *name);

struct point_cfg {
	char name[YW_ID_MAX];
	enum yw_table table;
	uint16_t address;
	enum yw_type type;
	enum yw_order order;
	int bit;                 /* -1: none; 0..15 with TYPE_BOOL on input/holding */
	double scale;            /* default 1 */
	double offset;           /* default 0 */
	int decimals_from;       /* -1: none; else index of a point of the same device
	                            whose value d divides this one by 10^d (profile key
	                            "decimals_from": "POINTNAME") */
	char unit[32];
	bool writable;
	bool has_min, has_max;   /* write bounds in engineering units */
	double min, max;
	double deadband;         /* default 0: any change is stored */
	int store_max_interval_s;/* default 300 */
};

#endif
