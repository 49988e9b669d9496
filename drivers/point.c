#include "point.h"

#include <string.h>

const char *const point_table_names[POINT_NTABLES] = {
	[TABLE_COIL] = "coil", [TABLE_DISCRETE] = "discrete",
	[TABLE_INPUT] = "input", [TABLE_HOLDING] = "holding",
};

const char *const point_type_names[POINT_NTYPES] = {
	[TYPE_BOOL] = "bool", [TYPE_INT16] = "int16", [TYPE_UINT16] = "uint16",
	[TYPE_INT32] = "int32", [TYPE_UINT32] = "uint32", [TYPE_INT64] = "int64",
	[TYPE_UINT64] = "uint64", [TYPE_FLOAT32] = "float32", [TYPE_FLOAT64] = "float64",
};

const char *const point_order_names[POINT_NORDERS] = {
	[ORDER_ABCD] = "ABCD", [ORDER_CDAB] = "CDAB", [ORDER_BADC] = "BADC", [ORDER_DCBA] = "DCBA",
};

const char *const point_quality_names[POINT_NQUALITIES] = {
	[Q_GOOD] = "good", [Q_BAD] = "bad", [Q_STALE] = "stale",
};

const char *point_table_name(enum yw_table t)
{
	return (unsigned)t < POINT_NTABLES ? point_table_names[t] : "?";
}

const char *point_type_name(enum yw_type t)
{
	return (unsigned)t < POINT_NTYPES ? point_type_names[t] : "?";
}

const char *point_order_name(enum yw_order o)
{
	return (unsigned)o < POINT_NORDERS ? point_order_names[o] : "?";
}

const char *point_quality_name(enum yw_quality q)
{
	return (unsigned)q < POINT_NQUALITIES ? point_quality_names[q] : "bad";
}

int point_name_index(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}
