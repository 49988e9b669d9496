/*
 * test_profiles: a profile's identify rule (the key `yardwatch scan` reads)
 * against a table of bad rules, each with the exact lines it must print;
 * a good rule kept in the loaded config; a profile's source (optional,
 * a non-empty string when given); every profile of a directory loaded on
 * its own (config_load_profiles); every shipped profile loads and names
 * its source.
 *
 * Files are written into a temp dir (single quotes in the texts stand for
 * double quotes): site.json names the profile "meter", written to
 * profiles/meter.json with the rule of the case.
 */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../daemon/config.h"
#include "check.h"

#define SITE "{'site': {'id': 's1', 'gateway': 'gw1'}, " \
	"'buses': [{'id': 'lan', 'type': 'tcp', 'host': '127.0.0.1'}], " \
	"'devices': [{'id': 'd1', 'bus': 'lan', 'unit': 1, 'profile': 'meter'}]}"
#define PT "{'name': 'p', 'table': 'holding', 'address': 0, 'type': 'int16'}"
/* Profile NAME (its "profile" key) with identify rule I. */
#define PROFILE(NAME, I) "{'profile': '" NAME "', 'vendor': 'v', 'model': 'm', " \
	"'class': 'meter', 'points': [" PT "], 'identify': " I "}"
#define MSG "profiles/meter.json: identify"

/* TEXT with ' as " into PATH. */
static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		abort();
	}
	for (; *text; text++)
		fputc(*text == '\'' ? '"' : *text, f);
	fclose(f);
}

struct bad_rule {
	const char *what, *rule, *expect;
};

static const struct bad_rule bad[] = {
	{"keys, names, required", "{'table': 'holdings', 'adress': 3, 'order': 'ABDC'}",
	 MSG ".adress: unknown key\n"
	 MSG ".table: must be one of coil, discrete, input, holding\n"
	 MSG ".address: is required\n"
	 MSG ".order: must be one of ABCD, CDAB, BADC, DCBA\n"
	 MSG ".equals: is required\n"},
	{"type required on a register", "{'table': 'input', 'address': 65535, 'equals': '1'}",
	 MSG ".equals: must be a number\n"
	 MSG ".type: is required for an input or holding rule\n"},
	{"a register is not a bit", "{'table': 'holding', 'address': 1, 'type': 'bool', 'equals': 1}",
	 MSG ".type: must be a number type on holding registers (a model code is a whole register)\n"},
	{"a coil is a bit", "{'table': 'coil', 'address': 1, 'type': 'uint16', 'equals': 1}",
	 MSG ".type: must be bool for a coil rule\n"},
	{"a bit has no order", "{'table': 'coil', 'address': 1, 'order': 'CDAB', 'equals': 1}",
	 MSG ".order: not used by type bool\n"},
	{"past the last register", "{'table': 'input', 'address': 65535, 'type': 'float32', "
	 "'equals': 1}",
	 MSG ".address: must be at most 65534 for type float32 (2 registers)\n"},
	{"address range", "{'table': 'input', 'address': -1, 'type': 'uint16', 'equals': 1}",
	 MSG ".address: must be an integer in 0..65535\n"},
	{"out of the type's range", "{'table': 'holding', 'address': 7, 'type': 'uint16', "
	 "'equals': 70000}",
	 MSG ".equals: type uint16 cannot hold 70000: the rule could never match\n"},
	{"negative unsigned", "{'table': 'holding', 'address': 7, 'type': 'uint32', 'equals': -1}",
	 MSG ".equals: type uint32 cannot hold -1: the rule could never match\n"},
	{"a fraction in an integer", "{'table': 'holding', 'address': 7, 'type': 'int32', "
	 "'equals': -1.5}",
	 MSG ".equals: type int32 cannot hold -1.5: the rule could never match\n"},
	{"no such float32", "{'table': 'holding', 'address': 7, 'type': 'float32', "
	 "'equals': 0.1000000001}",
	 MSG ".equals: type float32 cannot hold 0.1000000001: the rule could never match\n"},
	{"beyond float32", "{'table': 'holding', 'address': 7, 'type': 'float32', 'equals': 1e39}",
	 MSG ".equals: type float32 cannot hold 1e+39: the rule could never match\n"},
	{"a bit is 0 or 1", "{'table': 'discrete', 'address': 0, 'equals': 2}",
	 MSG ".equals: type bool cannot hold 2: the rule could never match\n"},
	{"not an object", "[1]",
	 MSG ": must be an object {\"table\", \"address\", \"type\", \"equals\"}\n"},
};

/* Load site.json with profiles from PDIR; *OUT gets the error lines. */
static struct config *load_site(const char *pdir, char **out)
{
	size_t len = 0;
	FILE *ms = open_memstream(out, &len);
	struct config *cfg;

	if (!ms)
		abort();
	cfg = config_load("site.json", pdir, ms);
	fclose(ms);
	return cfg;
}

static void test_bad_rules(void)
{
	char text[1024];

	put("site.json", SITE);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config *cfg;
		char *out = NULL;

		check_case = bad[i].what;
		snprintf(text, sizeof(text), PROFILE("meter", "%s"), bad[i].rule);
		put("profiles/meter.json", text);
		cfg = load_site("profiles", &out);
		CHECK(cfg == NULL);
		CHECK(strcmp(out, bad[i].expect) == 0);
		if (strcmp(out, bad[i].expect) != 0)
			fprintf(stderr, "--- expected\n%s--- got\n%s---\n", bad[i].expect, out);
		config_free(cfg);
		free(out);
	}
	check_case = "";
}

/* Good rules, each type, kept with the profile the device names. */
static void test_good_rules(void)
{
	static const struct {
		const char *rule;
		enum yw_table table;
		enum yw_type type;
		double equals;
	} good[] = {
		{"{'table': 'holding', 'address': 64514, 'type': 'uint16', 'equals': 32}",
		 TABLE_HOLDING, TYPE_UINT16, 32},
		{"{'table': 'input', 'address': 1, 'type': 'int16', 'equals': -32768}",
		 TABLE_INPUT, TYPE_INT16, -32768},
		{"{'table': 'input', 'address': 65534, 'type': 'float32', 'equals': 229.1136}",
		 TABLE_INPUT, TYPE_FLOAT32, 229.1136},
		{"{'table': 'holding', 'address': 0, 'type': 'uint64', 'equals': 9007199254740992}",
		 TABLE_HOLDING, TYPE_UINT64, 9007199254740992.0},
		{"{'table': 'holding', 'address': 0, 'type': 'float64', 'equals': 0.1}",
		 TABLE_HOLDING, TYPE_FLOAT64, 0.1},
		{"{'table': 'discrete', 'address': 9, 'equals': 1}", TABLE_DISCRETE, TYPE_BOOL, 1},
	};
	char text[1024];

	put("site.json", SITE);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct profile_cfg *pr = NULL;
		struct config *cfg;
		char *out = NULL;

		check_case = good[i].rule;
		snprintf(text, sizeof(text), PROFILE("meter", "%s"), good[i].rule);
		put("profiles/meter.json", text);
		cfg = load_site("profiles", &out);
		CHECK(cfg && out[0] == '\0');
		CHECK(cfg && cfg->nprofiles == 1 && (pr = config_find_profile(cfg, "meter")) != NULL);
		CHECK(pr && pr->has_identify && pr->identify.table == good[i].table &&
		      pr->identify.type == good[i].type && pr->identify.equals == good[i].equals &&
		      pr->identify.order == ORDER_ABCD);
		CHECK(pr && strcmp(pr->vendor, "v") == 0 && strcmp(pr->model, "m") == 0);
		CHECK(cfg && config_find_profile(cfg, "other") == NULL);
		config_free(cfg);
		free(out);
	}
	check_case = "";
}

/* A profile's source: absent is fine (a site's own profile), given it
 * must be a string with some text; the loaded profile says whether it has
 * one. */
static void test_source(void)
{
	static const struct {
		const char *source, *expect;   /* expect NULL: loads */
		bool has;
	} cases[] = {
		{NULL, NULL, false},
		{"'CHINT DTSU666 user manual ZTW0.464.0104, address table'", NULL, true},
		{"1", "profiles/meter.json: source: must be a string naming the register map's "
		 "origin\n", false},
		{"['manual']", "profiles/meter.json: source: must be a string naming the register "
		 "map's origin\n", false},
		{"''", "profiles/meter.json: source: must not be empty: name the manual, its version "
		 "and the table\n", false},
		{"' \\n '", "profiles/meter.json: source: must not be empty: name the manual, its "
		 "version and the table\n", false},
	};
	char text[1024];

	put("site.json", SITE);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct profile_cfg *pr = NULL;
		struct config *cfg;
		char *out = NULL;

		check_case = cases[i].source ? cases[i].source : "(none)";
		if (cases[i].source)
			snprintf(text, sizeof(text), "{'profile': 'meter', 'vendor': 'v', 'model': 'm', "
				 "'class': 'meter', 'source': %s, 'points': [" PT "]}", cases[i].source);
		else
			snprintf(text, sizeof(text), "{'profile': 'meter', 'vendor': 'v', 'model': 'm', "
				 "'class': 'meter', 'points': [" PT "]}");
		put("profiles/meter.json", text);
		cfg = load_site("profiles", &out);
		if (cases[i].expect) {
			CHECK(cfg == NULL && strcmp(out, cases[i].expect) == 0);
			if (strcmp(out, cases[i].expect) != 0)
				fprintf(stderr, "--- expected\n%s--- got\n%s---\n", cases[i].expect, out);
		} else {
			CHECK(cfg && out[0] == '\0');
			CHECK(cfg && (pr = config_find_profile(cfg, "meter")) != NULL);
			CHECK(pr && pr->has_source == cases[i].has);
		}
		config_free(cfg);
		free(out);
	}
	check_case = "";
}

/* Every profile of a directory, in name order; the bad one reported and
 * left out; a file whose name is no profile name is not read. */
static void test_directory(void)
{
	struct profile_cfg *ps = NULL;
	char *out = NULL;
	size_t n = 0, len = 0;
	FILE *ms;

	CHECK(mkdir("pd", 0755) == 0);
	put("pd/zeta.json", PROFILE("zeta", "{'table': 'input', 'address': 8, 'type': 'float32', "
				    "'order': 'CDAB', 'equals': 1.5}"));
	put("pd/bad.json", PROFILE("meter", "{'table': 'coil', 'address': 1, 'equals': 3}"));
	put("pd/plain.json", "{'profile': 'plain', 'vendor': 'v', 'model': 'Plain 1', "
	    "'class': 'io', 'points': [" PT "]}");
	put("pd/Read Me.json", "not a profile");
	put("pd/notes.txt", "not a profile");
	ms = open_memstream(&out, &len);
	CHECK(config_load_profiles("pd", ms, &ps, &n) == 0);
	fclose(ms);
	CHECK(n == 2);
	CHECK(n == 2 && strcmp(ps[0].name, "plain") == 0 && !ps[0].has_identify &&
	      strcmp(ps[0].model, "Plain 1") == 0);
	CHECK(n == 2 && strcmp(ps[1].name, "zeta") == 0 && ps[1].has_identify &&
	      ps[1].identify.order == ORDER_CDAB && ps[1].identify.equals == 1.5);
	CHECK(strcmp(out, "pd/bad.json: profile: must be \"bad\" (the file's name)\n"
		      "pd/bad.json: identify.equals: type bool cannot hold 3: the rule could never "
		      "match\n") == 0);
	free(ps);
	free(out);

	out = NULL;
	ms = open_memstream(&out, &len);
	CHECK(config_load_profiles("no-such-dir", ms, &ps, &n) == -1 && ps == NULL && n == 0);
	fclose(ms);
	CHECK(strcmp(out, "no-such-dir: cannot read the profiles directory: No such file or "
		      "directory\n") == 0);
	free(out);
}

/* Profiles that must ship (configs, tests and docs name them). */
static const char *const required[] = {
	"pressure-transmitter", "level-transmitter", "chint-dtsu666", "chint-ddsu666",
	"eastron-sdm120", "eastron-sdm630", "acrel-adw300", "delixi-dtsu6606",
	"crowcon-xgard-bright", "relay-8ch", "analog-input-8ch", "camera-io",
};

/* The identify rules of the shipped profiles: the devices whose manuals
 * document a model-code register, and nothing else. */
static const struct {
	const char *name;
	enum yw_table table;
	unsigned address;
	double equals;
} rules[] = {
	{"eastron-sdm120", TABLE_HOLDING, 0xFC02, 0x20},
	{"eastron-sdm630", TABLE_HOLDING, 0xFC02, 0x70},
};

/* Every shipped profile loads without a word, names its source, and
 * carries exactly the identify rules above. */
static void test_shipped(void)
{
	const char *src = getenv("YW_SRC");
	char pdir[PATH_MAX], *out = NULL;
	struct profile_cfg *ps = NULL;
	size_t n = 0, len = 0, i, j;
	FILE *ms;

	CHECK(src != NULL);
	if (!src)
		return;
	snprintf(pdir, sizeof(pdir), "%s/config/profiles", src);
	ms = open_memstream(&out, &len);
	CHECK(config_load_profiles(pdir, ms, &ps, &n) == 0);
	fclose(ms);
	CHECK(out[0] == '\0');
	if (out[0])
		fprintf(stderr, "--- shipped profiles said\n%s---\n", out);
	CHECK(n >= 12);
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		check_case = required[i];
		for (j = 0; j < n && strcmp(ps[j].name, required[i]) != 0; j++)
			;
		CHECK(j < n);
	}
	for (i = 0; i < n; i++) {
		const struct profile_cfg *pr = &ps[i];
		size_t r;

		check_case = pr->name;
		CHECK(pr->has_source);
		CHECK(pr->vendor[0] && pr->model[0]);
		for (r = 0; r < sizeof(rules) / sizeof(rules[0]); r++)
			if (strcmp(rules[r].name, pr->name) == 0)
				break;
		if (r == sizeof(rules) / sizeof(rules[0])) {
			CHECK(!pr->has_identify);
			continue;
		}
		CHECK(pr->has_identify && pr->identify.table == rules[r].table &&
		      pr->identify.address == rules[r].address &&
		      pr->identify.type == TYPE_UINT16 && pr->identify.equals == rules[r].equals);
	}
	check_case = "";
	free(ps);
	free(out);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

int main(void)
{
	char cwd[PATH_MAX], dir[PATH_MAX], tmpl[] = "/tmp/yw-test-profiles.XXXXXX";

	if (!getcwd(cwd, sizeof(cwd)) || !mkdtemp(tmpl) || !realpath(tmpl, dir) ||
	    chdir(dir) != 0 || mkdir("profiles", 0755) != 0) {
		perror("setup");
		return 1;
	}
	test_bad_rules();
	test_good_rules();
	test_source();
	test_directory();
	test_shipped();
	if (chdir(cwd) != 0)
		perror("chdir");
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_report();
}
