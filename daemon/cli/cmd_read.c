/*
 * cmd_read: `yardwatch read TARGET --unit N --table T --address A [--count N]
 * [--type T] [--order O] [--scale X]`: one Modbus read through the link,
 * printed register by register (or bit by bit) with the address in decimal
 * and hex and, with --type, the value decoded by the codec as the daemon
 * decodes a point (numfmt's text: float32 shortest, scaled digits).
 *
 * Decisions where the SPEC is silent:
 *  - unit 1..247 on rtu and rtu-tcp (0 is the broadcast address: nobody
 *    answers a read), 0..247 or 255 on tcp (what libmodbus sends).
 *  - --count defaults to what --type occupies (1 without --type); a count
 *    larger than the type's width reads more registers, and the value is
 *    decoded from the first ones. --order and --scale need --type; on coil
 *    and discrete the type is bool (the default there) and takes neither.
 *  - --type bool on a register is 1 when the register is not 0.
 *  - A value that does not decode (a float register holding NaN or an
 *    infinity) prints as such (null in JSON); the read itself worked: exit 0.
 *  - An exception, no answer (timeout), a garbled answer or a failed link
 *    print one line on stderr and exit 1; nothing goes to stdout.
 *  - --json: {"unit", "table", "address", "count", "raw", "value"}: raw
 *    holds the registers as integers (bits as 0 / 1), value the decoded
 *    value (true / false for bool), null without --type.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../jsonnum.h"
#include "../../drivers/codec.h"
#include "../../drivers/numfmt.h"
#include "cli.h"
#include "link.h"
#include "output.h"

#define READ_MAX 2000

/* A name of NAMES[0..N) at OPT; *USED when ARGV[*I] is OPT. */
static int cli_name_opt(int argc, char **argv, int *i, const char *opt,
			const char *const *names, size_t n, int *out, bool *has, bool *used)
{
	bool missing;
	const char *v = cli_opt_value(argc, argv, i, opt, &missing);
	char list[128] = "";
	int k = v ? point_name_index(names, n, v) : -1;

	if (!v && !missing)
		return CLI_EX_OK;
	*used = true;
	if (k >= 0) {
		*out = k;
		*has = true;
		return CLI_EX_OK;
	}
	for (size_t j = 0; j < n; j++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "",
			 names[j]);
	return cli_usage_error("%s needs one of %s%s%s%s", opt, list, v ? " (not '" : "",
			       v ? v : "", v ? "')" : "");
}

int cli_read_opt(struct cli *c, int argc, char **argv, int *i, bool *used)
{
	struct cli_line_args *a = &c->line;
	const char *v;
	bool missing;
	char *end = NULL;
	double x = 0;
	int r;

	r = cli_int_opt(argc, argv, i, "--unit", 0, 255, &a->unit, used);
	a->has_unit |= *used && r == CLI_EX_OK;
	if (!*used) {
		r = cli_int_opt(argc, argv, i, "--address", 0, 65535, &a->address, used);
		a->has_address |= *used && r == CLI_EX_OK;
	}
	if (!*used)
		r = cli_int_opt(argc, argv, i, "--count", 1, READ_MAX, &a->count, used);
	if (!*used)
		r = cli_name_opt(argc, argv, i, "--table", point_table_names, POINT_NTABLES,
				 &a->table, &a->has_table, used);
	if (!*used)
		r = cli_name_opt(argc, argv, i, "--type", point_type_names, POINT_NTYPES, &a->type,
				 &a->has_type, used);
	if (!*used)
		r = cli_name_opt(argc, argv, i, "--order", point_order_names, POINT_NORDERS,
				 &a->order, &a->has_order, used);
	if (*used)
		return r;
	v = cli_opt_value(argc, argv, i, "--scale", &missing);
	if (!v && !missing)
		return CLI_EX_OK;
	*used = true;
	if (v && *v)
		x = strtod(v, &end);
	if (!v || !*v || *end || !isfinite(x) || x == 0)
		return cli_usage_error("--scale needs a number other than 0%s%s%s", v ? " (not '" : "",
				       v ? v : "", v ? "')" : "");
	a->scale = x;
	a->has_scale = true;
	return CLI_EX_OK;
}

/* The options checked together, once the line is known; P the point to
 * decode (when --type), *COUNT what to read. */
static int cli_read_check(const struct cli *c, const struct cli_target *t, struct point_cfg *p,
			  int *count)
{
	const struct cli_line_args *a = &c->line;
	bool bits = a->table == TABLE_COIL || a->table == TABLE_DISCRETE;
	int width, max = bits ? 2000 : 125;

	if (!a->has_unit || !a->has_table || !a->has_address)
		return cli_usage_error("read needs --unit N, --table T and --address A");
	if (t->s.type != DRV_BUS_TCP && (a->unit < 1 || a->unit > 247))
		return cli_usage_error("--unit: %d is not a unit on a serial line (1..247; 0 is the "
				       "broadcast address, which nobody answers)", a->unit);
	if (t->s.type == DRV_BUS_TCP && a->unit > 247 && a->unit != 255)
		return cli_usage_error("--unit: %d is not a Modbus TCP unit id (0..247 or 255)",
				       a->unit);
	if ((a->has_order || a->has_scale) && !a->has_type)
		return cli_usage_error("--order and --scale go with --type");
	if (bits && a->has_type && a->type != TYPE_BOOL)
		return cli_usage_error("--type: a %s is a bit: its type is bool", point_table_names[a->table]);
	if (a->has_type && a->type == TYPE_BOOL && (a->has_order || a->has_scale))
		return cli_usage_error("--order and --scale are not for type bool");
	memset(p, 0, sizeof *p);
	p->table = (enum yw_table)a->table;
	p->address = (uint16_t)a->address;
	p->type = a->has_type ? (enum yw_type)a->type : bits ? TYPE_BOOL : TYPE_UINT16;
	p->order = a->has_order ? (enum yw_order)a->order : ORDER_ABCD;
	p->bit = -1;
	p->scale = a->has_scale ? a->scale : 1;
	p->decimals_from = -1;
	width = codec_width(p);
	*count = a->count ? a->count : width;
	if (*count > max)
		return cli_usage_error("--count: at most %d %s in one read", max,
				       bits ? "bits" : "registers");
	if (a->has_type && *count < width)
		return cli_usage_error("--count: %s takes %d registers", point_type_names[p->type],
				       width);
	if (a->address + *count - 1 > 65535)
		return cli_usage_error("--address %d with --count %d runs past 65535", a->address,
				       *count);
	return CLI_EX_OK;
}

/* The value of P from RAW into *V; false when it does not decode. */
static bool cli_read_decode(const struct point_cfg *p, const uint16_t *raw, double *v)
{
	if (p->table == TABLE_COIL || p->table == TABLE_DISCRETE) {
		*v = codec_decode_bit((uint8_t)raw[0]);
		return true;
	}
	return codec_decode(p, raw, 0, v) == CODEC_OK;
}

static int cli_read_table(const struct cli *c, const struct point_cfg *p, const uint16_t *raw,
			  int count)
{
	bool bits = p->table == TABLE_COIL || p->table == TABLE_DISCRETE;
	struct cli_table t = { .ncols = bits ? 3 : 4, .align = "rrrr" };
	char num[40], a1[NUMFMT_LEN], a2[16], v1[16], v2[16];
	double v;
	int r;

	if (bits)
		cli_table_row(&t, "ADDRESS", "HEX", "BIT");
	else
		cli_table_row(&t, "ADDRESS", "HEX", "VALUE", "HEX");
	for (int k = 0; k < count; k++) {
		snprintf(a1, sizeof a1, "%d", p->address + k);
		snprintf(a2, sizeof a2, "0x%04X", (unsigned)(p->address + k));
		snprintf(v1, sizeof v1, "%u", (unsigned)raw[k]);
		snprintf(v2, sizeof v2, "0x%04X", (unsigned)raw[k]);
		cli_table_row(&t, a1, a2, v1, v2);
	}
	if ((r = cli_table_print(&t)) != CLI_EX_OK || !c->line.has_type)
		return r;
	if (!cli_read_decode(p, raw, &v))
		snprintf(num, sizeof num, "does not decode (NaN or infinite)");
	else if (p->type == TYPE_BOOL)
		snprintf(num, sizeof num, "%s", v != 0 ? "true" : "false");
	else
		numfmt_double(v, num, sizeof num);
	if (p->type == TYPE_BOOL)
		printf("%s = %s\n", point_type_name(p->type), num);
	else
		printf("%s %s%s%s = %s\n", point_type_name(p->type), point_order_name(p->order),
		       c->line.has_scale ? " x " : "",
		       c->line.has_scale ? numfmt_double(p->scale, a1, sizeof a1) : "", num);
	return CLI_EX_OK;
}

static int cli_read_json(const struct cli *c, const struct point_cfg *p, const uint16_t *raw,
			 int count)
{
	json_t *o = json_object(), *arr = json_array(), *val = json_null();
	double v;
	bool oom = !o || !arr || !val;

	for (int k = 0; !oom && k < count; k++)
		oom = json_array_append_new(arr, json_integer(raw[k])) != 0;
	if (!oom && c->line.has_type && cli_read_decode(p, raw, &v)) {
		json_decref(val);
		val = p->type == TYPE_BOOL ? json_boolean(v != 0) : jsonnum_real(v);
		oom = !val;
	}
	if (!oom)
		oom = json_object_set_new(o, "unit", json_integer(c->line.unit)) ||
		      json_object_set_new(o, "table", json_string(point_table_name(p->table))) ||
		      json_object_set_new(o, "address", json_integer(p->address)) ||
		      json_object_set_new(o, "count", json_integer(count));
	if (!oom) {
		oom = json_object_set_new(o, "raw", arr) || json_object_set_new(o, "value", val);
		arr = val = NULL;
	}
	json_decref(arr);
	json_decref(val);
	if (oom) {
		json_decref(o);
		o = NULL;
	}
	return cli_print_json(o);
}

int cli_read(struct cli *c)
{
	struct cli_target t;
	struct cli_link *l;
	struct point_cfg p;
	uint16_t *raw;
	char err[600], where[1200];
	enum drv_status st;
	int r, count = 0, exc = 0;

	if ((r = cli_target_resolve(c, false, &t)) != CLI_EX_OK ||
	    (r = cli_read_check(c, &t, &p, &count)) != CLI_EX_OK)
		return r;
	raw = calloc((size_t)count, sizeof *raw);
	if (!raw) {
		fputs("yardwatch: out of memory\n", stderr);
		return CLI_EX_FAIL;
	}
	if ((r = cli_link_open(c, &t, &l)) != CLI_EX_OK)
		goto out_raw;
	st = cli_link_read(l, c->line.unit, p.table, p.address, (uint16_t)count, raw, &exc, err,
			   sizeof err);
	cli_link_close(l);
	cli_target_name(&t, where, sizeof where);
	switch (st) {
	case DRV_OK:
		r = c->json ? cli_read_json(c, &p, raw, count) : cli_read_table(c, &p, raw, count);
		break;
	case DRV_EXCEPTION:
	case DRV_GATEWAY:
		fprintf(stderr, "yardwatch: unit %d %s %u: exception %d (%s)\n", c->line.unit,
			point_table_name(p.table), (unsigned)p.address, exc, driver_exception_name(exc));
		r = CLI_EX_FAIL;
		break;
	case DRV_TIMEOUT:
		snprintf(err, sizeof err, ", %d tries", t.s.retries + 1);
		fprintf(stderr, "yardwatch: unit %d %s %u: timeout (no answer within %d ms%s on %s)\n",
			c->line.unit, point_table_name(p.table), (unsigned)p.address, t.s.timeout_ms,
			t.s.retries ? err : "", where);
		r = CLI_EX_FAIL;
		break;
	case DRV_CRC:
		fprintf(stderr, "yardwatch: unit %d %s %u: no valid answer: %s\n", c->line.unit,
			point_table_name(p.table), (unsigned)p.address, err);
		r = CLI_EX_FAIL;
		break;
	case DRV_LINK:
		fprintf(stderr, "yardwatch: link failed on %s: %s\n", where, err);
		r = CLI_EX_FAIL;
		break;
	}
out_raw:
	free(raw);
	return r;
}
