/*
 * cmd_scan: `yardwatch scan TARGET [--units A-B] [--timeout-ms N]
 * [--profiles-dir DIR] [--json | --config-snippet]`: which units answer on
 * a line, the tables that returned data, and the profile whose identify
 * rule each matches.
 *
 * How a unit is probed (decisions where the SPEC is silent):
 *  - Four short reads, one register or bit at address 0 of each table, in
 *    the order holding, input, coil, discrete (registers first: most field
 *    devices have them). A table "returned data" when its read was answered
 *    with data.
 *  - A unit is present when some probe got a valid answer: data or an
 *    exception other than 10/11 (the device is there, the address is not).
 *    Exceptions 10/11 (a gateway whose device behind it does not answer)
 *    and no answer to the first probe mean absent: the other probes are not
 *    sent, so a range of empty addresses costs one timeout each. A garbled
 *    answer (bad CRC, another unit, a malformed frame) is not an answer;
 *    a unit that gave only garbled ones is named in a warning (two devices
 *    on one address, or the wrong line settings). A failed link (nothing
 *    listening, the tty cannot be opened) ends the scan: exit 1; the line
 *    is connected to before the first unit, so a line nobody is on (a
 *    connect refused or timed out) ends it at once.
 *  - Then, for a present unit, every profile's identify rule in name order
 *    (one read each; rules that read the same registers share it); the
 *    first whose value matches names the profile.
 *  - Profiles: every NAME.json of --profiles-dir DIR, else of the config's
 *    profiles_dir, else of the installed profiles. A profile with errors is
 *    reported (warning) and left out; a directory that cannot be read is an
 *    error with --profiles-dir (exit 66), else a warning.
 *  - Units: default 1-247; A-B or one unit N; 1..247 on a serial line,
 *    0..247 on tcp.
 *  - Progress on stderr when it is a terminal, redrawn in place after each
 *    unit (units done / total, found so far), erased at the end.
 *  - --config-snippet prints `"devices": [...]`, one device a line, to paste
 *    into a config: id PROFILE-UNIT (unit-N when no profile matched), bus
 *    the --bus ID, or the bus of the config on the same line, else "BUS"
 *    (to be replaced: a note on stderr says so), the unit, and the profile;
 *    a unit without profile gets one point on the first table that returned
 *    data (holding, input, coil, discrete; holding when none did).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../bus.h"
#include "../jsonnum.h"
#include "../util.h"
#include "../../drivers/codec.h"
#include "version.h"
#include "cli.h"
#include "link.h"
#include "output.h"

static const enum yw_table scan_probes[POINT_NTABLES] = {
	TABLE_HOLDING, TABLE_INPUT, TABLE_COIL, TABLE_DISCRETE
};

struct scan_hit {
	int unit;
	unsigned tables;           /* 1 << enum yw_table of each table that returned data */
	int profile;               /* index in scan.profiles; -1: none matched */
};

/* The identify read of one profile for the unit in progress. */
struct scan_ident {
	bool done;
	enum drv_status st;
	uint16_t regs[4];
};

struct scan {
	struct cli *c;
	struct cli_target t;
	struct cli_link *l;
	struct profile_cfg *profiles;  /* owned */
	size_t nprofiles;
	struct scan_ident *ident;      /* owned, one per profile */
	struct scan_hit *hits;         /* owned */
	size_t nhits;
	bool progress;
};

/* "A-B" or "N" into *LO, *HI. 0, or -1. */
static int scan_units(const char *v, int *lo, int *hi)
{
	const char *dash = strchr(v, '-');
	size_t n = dash ? (size_t)(dash - v) : strlen(v);
	char a[16];

	if (n == 0 || n >= sizeof a)
		return -1;
	memcpy(a, v, n);
	a[n] = '\0';
	if (cli_parse_int(a, 0, 255, lo) != 0)
		return -1;
	if (!dash) {
		*hi = *lo;
		return 0;
	}
	return cli_parse_int(dash + 1, 0, 255, hi);
}

int cli_scan_opt(struct cli *c, int argc, char **argv, int *i, bool *used)
{
	struct cli_line_args *a = &c->line;
	const char *v;
	bool missing;
	int lo, hi;

	*used = true;
	if (strcmp(argv[*i], "--config-snippet") == 0) {
		a->snippet = true;
		return CLI_EX_OK;
	}
	if ((v = cli_opt_value(argc, argv, i, "--profiles-dir", &missing)) || missing) {
		if (missing || !*v)
			return cli_usage_error("--profiles-dir needs a directory");
		a->profiles_dir = v;
		return CLI_EX_OK;
	}
	if (!(v = cli_opt_value(argc, argv, i, "--units", &missing)) && !missing) {
		*used = false;
		return CLI_EX_OK;
	}
	if (!v || scan_units(v, &lo, &hi) != 0)
		return cli_usage_error("--units needs A-B or N, unit ids in 0..247 (e.g. 1-247, 5)");
	if (lo > hi)
		return cli_usage_error("--units %s: the first unit is above the last", v);
	a->unit_lo = lo;
	a->unit_hi = hi;
	a->has_units = true;
	return CLI_EX_OK;
}

/* ---- probing ---- */

static void scan_progress(const struct scan *s, int done, int total)
{
	int w = 30, fill = total ? done * w / total : w;

	if (!s->progress)
		return;
	fprintf(stderr, "\rscanning [%.*s%*s] %d/%d units, %zu found", fill,
		"##############################", w - fill, "", done, total, s->nhits);
	fflush(stderr);
}

static void scan_link_failed(const struct scan *s, const char *err)
{
	char where[1200];

	cli_target_name(&s->t, where, sizeof where);
	fprintf(stderr, "%syardwatch: link failed on %s: %s\n", s->progress ? "\r\033[K" : "",
		where, err);
}

/* 1: UNIT is present (*TABLES: those that returned data), 0: absent, -1:
 * the link failed (reported). */
static int scan_probe(struct scan *s, int unit, unsigned *tables)
{
	bool answered = false, garbled = false;
	uint16_t reg;
	char err[600];
	int exc;

	*tables = 0;
	for (size_t k = 0; k < POINT_NTABLES; k++) {
		switch (cli_link_read(s->l, unit, scan_probes[k], 0, 1, &reg, &exc, err, sizeof err)) {
		case DRV_OK:
			*tables |= 1u << scan_probes[k];
			answered = true;
			break;
		case DRV_EXCEPTION:
			answered = true;
			break;
		case DRV_GATEWAY:
			return answered;
		case DRV_TIMEOUT:
			if (!answered && !garbled)
				return 0;
			break;
		case DRV_CRC:
			garbled = true;
			break;
		case DRV_LINK:
			scan_link_failed(s, err);
			return -1;
		}
	}
	if (!answered && garbled)
		fprintf(stderr, "%syardwatch: warning: unit %d: only garbled answers (%s): two "
			"devices on one address, or other line settings?\n",
			s->progress ? "\r\033[K" : "", unit, err);
	return answered;
}

static int scan_ident_width(const struct identify_cfg *id)
{
	struct point_cfg p;

	config_identify_point(id, &p);
	return codec_width(&p);
}

/* The profile whose identify rule UNIT matches into *MATCH (-1: none). 0,
 * or -1 when the link failed (reported). */
static int scan_identify(struct scan *s, int unit, int *match)
{
	char err[600];

	*match = -1;
	for (size_t i = 0; i < s->nprofiles; i++)
		s->ident[i].done = false;
	for (size_t i = 0; i < s->nprofiles; i++) {
		const struct identify_cfg *id = &s->profiles[i].identify;
		struct scan_ident *r = &s->ident[i];
		struct point_cfg p;
		double v;
		int exc;

		if (!s->profiles[i].has_identify)
			continue;
		config_identify_point(id, &p);
		for (size_t j = 0; j < i && !r->done; j++) {
			const struct identify_cfg *o = &s->profiles[j].identify;

			if (s->ident[j].done && o->table == id->table && o->address == id->address &&
			    scan_ident_width(o) == codec_width(&p))
				*r = s->ident[j];
		}
		if (!r->done) {
			r->st = cli_link_read(s->l, unit, p.table, p.address, (uint16_t)codec_width(&p),
					      r->regs, &exc, err, sizeof err);
			r->done = true;
		}
		if (r->st == DRV_LINK) {
			scan_link_failed(s, err);
			return -1;
		}
		if (r->st != DRV_OK)
			continue;
		if (p.table == TABLE_COIL || p.table == TABLE_DISCRETE)
			v = codec_decode_bit((uint8_t)r->regs[0]);
		else if (codec_decode(&p, r->regs, 0, &v) != CODEC_OK)
			continue;
		if (v == id->equals) {
			*match = (int)i;
			return 0;
		}
	}
	return 0;
}

static int scan_run(struct scan *s)
{
	const struct cli_line_args *a = &s->c->line;
	int lo = a->has_units ? a->unit_lo : 1, hi = a->has_units ? a->unit_hi : 247;

	s->hits = calloc((size_t)(hi - lo + 1), sizeof *s->hits);
	s->ident = calloc(s->nprofiles ? s->nprofiles : 1, sizeof *s->ident);
	if (!s->hits || !s->ident) {
		fputs("yardwatch: out of memory\n", stderr);
		return CLI_EX_FAIL;
	}
	scan_progress(s, 0, hi - lo + 1);
	for (int u = lo; u <= hi; u++) {
		struct scan_hit *h = &s->hits[s->nhits];
		int r = scan_probe(s, u, &h->tables);

		if (r > 0 && scan_identify(s, u, &h->profile) != 0)
			r = -1;
		if (r < 0)
			return CLI_EX_FAIL;
		if (r > 0) {
			h->unit = u;
			s->nhits++;
		}
		scan_progress(s, u - lo + 1, hi - lo + 1);
	}
	if (s->progress)
		fputs("\r\033[K", stderr);
	return CLI_EX_OK;
}

/* ---- output ---- */

static void scan_tables(unsigned tables, char *buf, size_t len)
{
	buf[0] = '\0';
	for (int t = 0; t < POINT_NTABLES; t++)
		if (tables & (1u << t))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? "," : "",
				 point_table_name((enum yw_table)t));
}

static int scan_print_table(const struct scan *s)
{
	struct cli_table t = { .ncols = 3, .align = "rll" };
	char unit[16], tables[64], prof[2 * YW_TEXT_MAX + 3 * YW_ID_MAX], where[1200];
	int r;

	cli_table_row(&t, "UNIT", "TABLES", "PROFILE");
	for (size_t i = 0; i < s->nhits; i++) {
		const struct scan_hit *h = &s->hits[i];
		const struct profile_cfg *p = h->profile >= 0 ? &s->profiles[h->profile] : NULL;

		snprintf(unit, sizeof unit, "%d", h->unit);
		scan_tables(h->tables, tables, sizeof tables);
		if (p)
			snprintf(prof, sizeof prof, "%s (%s %s)", p->name, p->vendor, p->model);
		cli_table_row(&t, unit, tables[0] ? tables : NULL, p ? prof : NULL);
	}
	cli_target_name(&s->t, where, sizeof where);
	if (s->nhits == 0) {
		cli_table_free(&t);
		printf("no unit answered on %s\n", where);
		return CLI_EX_OK;
	}
	if ((r = cli_table_print(&t)) == CLI_EX_OK)
		printf("%zu unit%s answered on %s\n", s->nhits, s->nhits == 1 ? "" : "s", where);
	return r;
}

static int scan_print_json(const struct scan *s)
{
	json_t *arr = json_array();
	bool oom = !arr;

	for (size_t i = 0; !oom && i < s->nhits; i++) {
		const struct scan_hit *h = &s->hits[i];
		json_t *o = json_object(), *tabs = json_array();

		oom = !o || !tabs;
		for (int t = 0; !oom && t < POINT_NTABLES; t++)
			if (h->tables & (1u << t))
				oom = json_array_append_new(tabs, json_string(point_table_name(
								(enum yw_table)t))) != 0;
		if (!oom)
			oom = json_object_set_new(o, "unit", json_integer(h->unit)) ||
			      json_object_set(o, "tables", tabs) ||
			      json_object_set_new(o, "profile", h->profile >= 0 ?
						  json_string(s->profiles[h->profile].name) : json_null());
		json_decref(tabs);
		if (!oom)
			oom = json_array_append(arr, o) != 0;
		json_decref(o);
	}
	if (oom) {
		json_decref(arr);
		arr = NULL;
	}
	return cli_print_json(arr);
}

/* The bus id for the snippet: --bus, or the config's bus on the same line. */
static const char *scan_bus_id(const struct scan *s)
{
	const struct config *cfg = s->c->cfg;
	struct drv_settings b;

	if (s->t.bus_id[0])
		return s->t.bus_id;
	for (size_t k = 0; cfg && k < cfg->nbuses; k++) {
		bus_driver_settings(&cfg->buses[k], &b);
		if (b.type != s->t.s.type)
			continue;
		if (b.type == DRV_BUS_RTU ? strcmp(b.device, s->t.s.device) == 0 :
		    strcmp(b.host, s->t.s.host) == 0 && b.port == s->t.s.port)
			return cfg->buses[k].id;
	}
	return NULL;
}

static json_t *scan_snippet_device(const struct scan *s, const struct scan_hit *h,
				   const char *bus)
{
	char id[YW_ID_MAX], name[32];
	json_t *o = json_object(), *pt;
	enum yw_table t = TABLE_HOLDING;

	if (!o)
		return NULL;
	if (h->profile >= 0)
		snprintf(id, sizeof id, "%.58s-%d", s->profiles[h->profile].name, h->unit);
	else
		snprintf(id, sizeof id, "unit-%d", h->unit);
	if (json_object_set_new(o, "id", json_string(id)) ||
	    json_object_set_new(o, "bus", json_string(bus)) ||
	    json_object_set_new(o, "unit", json_integer(h->unit)))
		goto out_fail;
	if (h->profile >= 0) {
		if (json_object_set_new(o, "profile", json_string(s->profiles[h->profile].name)))
			goto out_fail;
		return o;
	}
	for (size_t k = POINT_NTABLES; k-- > 0;)
		if (h->tables & (1u << scan_probes[k]))
			t = scan_probes[k];
	snprintf(name, sizeof name, "%s_0", point_table_name(t));
	pt = json_pack("[{s:s, s:s, s:i, s:s}]", "name", name, "table", point_table_name(t),
		       "address", 0, "type",
		       t == TABLE_COIL || t == TABLE_DISCRETE ? "bool" : "uint16");
	if (pt && json_object_set_new(o, "points", pt) == 0)
		return o;
out_fail:
	json_decref(o);
	return NULL;
}

static int scan_print_snippet(const struct scan *s)
{
	const char *bus = scan_bus_id(s);

	if (!bus)
		fprintf(stderr, "yardwatch: note: the snippet names bus \"BUS\": replace it with the "
			"id of this line's bus in your config (or scan with --bus ID)\n");
	fputs("\"devices\": [", stdout);
	for (size_t i = 0; i < s->nhits; i++) {
		json_t *o = scan_snippet_device(s, &s->hits[i], bus ? bus : "BUS");
		char *text = o ? json_dumps(o, 0) : NULL;

		json_decref(o);
		if (!text) {
			fputs("\nyardwatch: out of memory\n", stderr);
			return CLI_EX_FAIL;
		}
		printf("%s\n  %s", i ? "," : "", text);
		free(text);
	}
	puts(s->nhits ? "\n]" : "]");
	return CLI_EX_OK;
}

/* ---- the command ---- */

static int scan_load_profiles(struct scan *s)
{
	const char *dir = s->c->line.profiles_dir ? s->c->line.profiles_dir :
			  s->c->cfg ? s->c->cfg->profiles_dir : YW_PROFILES_DIR;
	char *errs = NULL, *line, *nl;
	size_t len = 0;
	FILE *ef = open_memstream(&errs, &len);
	int r;

	if (!ef) {
		fputs("yardwatch: out of memory\n", stderr);
		return CLI_EX_FAIL;
	}
	r = config_load_profiles(dir, ef, &s->profiles, &s->nprofiles);
	fclose(ef);
	for (line = errs; line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line) - 1;
		fprintf(stderr, "yardwatch: %s: %.*s\n", r == 0 ? "warning: profile left out" :
			s->c->line.profiles_dir ? "error" : "warning", (int)(nl - line), line);
	}
	free(errs);
	if (r != 0 && s->c->line.profiles_dir)
		return CLI_EX_NOINPUT;
	if (r != 0)
		fprintf(stderr, "yardwatch: warning: scanning without profiles: no unit will be "
			"named (--profiles-dir DIR)\n");
	return CLI_EX_OK;
}

int cli_scan(struct cli *c)
{
	const struct cli_line_args *a = &c->line;
	struct scan s = { .c = c };
	char err[600];
	int r;

	if ((r = cli_target_resolve(c, true, &s.t)) != CLI_EX_OK)
		return r;
	if (c->json && a->snippet)
		return cli_usage_error("scan: --json and --config-snippet exclude each other");
	if (a->has_units && s.t.s.type != DRV_BUS_TCP && a->unit_lo < 1)
		return cli_usage_error("--units: unit 0 is the broadcast address on a serial line, "
				       "which nobody answers (1..247)");
	if (a->has_units && a->unit_hi > 247)
		return cli_usage_error("--units: unit ids go up to 247");
	if ((r = scan_load_profiles(&s)) != CLI_EX_OK)
		goto out;
	if ((r = cli_link_open(c, &s.t, &s.l)) != CLI_EX_OK)
		goto out;
	s.progress = isatty(STDERR_FILENO) == 1;
	if (cli_link_ready(s.l, err, sizeof err) != 0) {
		scan_link_failed(&s, err);
		r = CLI_EX_FAIL;
	} else {
		r = scan_run(&s);
	}
	cli_link_close(s.l);
	if (r == CLI_EX_OK)
		r = c->json ? scan_print_json(&s) : a->snippet ? scan_print_snippet(&s) :
		    scan_print_table(&s);
out:
	free(s.hits);
	free(s.ident);
	free(s.profiles);
	return r;
}
