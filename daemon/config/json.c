/*
 * json: the config loader's messages and typed getters. Every problem is
 * written to the error stream as "FILE: JSON.PATH: message" (or
 * "FILE:LINE:COLUMN: message" for a syntax error) and counted; the getters
 * check type and range of one key and say whether it was present, absent or
 * wrong, so the sections can go on and report every mistake of a file.
 */
#include "cfg_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- messages ---------------------------------------------------------- */

/* snprintf that truncates silently (messages and fixed-size fields). */
__attribute__((format(printf, 3, 4)))
void cfg_strfmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static void cfg_vline(struct ctx *c, const char *prefix, const char *path,
		      const char *fmt, va_list ap)
{
	fprintf(c->errs, "%s%s: ", prefix, c->file);
	if (path && *path)
		fprintf(c->errs, "%s: ", path);
	vfprintf(c->errs, fmt, ap);
	fputc('\n', c->errs);
}

__attribute__((format(printf, 3, 4)))
void cfg_err(struct ctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vline(c, "", path, fmt, ap);
	va_end(ap);
	c->nerr++;
}

__attribute__((format(printf, 3, 4)))
void cfg_warn(struct ctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vline(c, "warning: ", path, fmt, ap);
	va_end(ap);
}

const char *cfg_kpath(char *buf, const char *base, const char *key)
{
	if (*base)
		cfg_strfmt(buf, PATHSZ, "%s.%s", base, key);
	else
		cfg_strfmt(buf, PATHSZ, "%s", key);
	return buf;
}

const char *cfg_ipath(char *buf, const char *base, size_t i)
{
	cfg_strfmt(buf, PATHSZ, "%s[%zu]", base, i);
	return buf;
}

/* ---- typed getters ------------------------------------------------------
 * Each returns 0 when KEY is absent (OUT untouched: the caller set the
 * default), 1 when present and valid, -1 when present and wrong (reported).
 */

static bool list_has(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* Report every key of O not in ALLOWED (NULL-terminated). */
void cfg_check_keys(struct ctx *c, json_t *o, const char *base,
		       const char *const *allowed)
{
	const char *key;
	json_t *v;
	char p[PATHSZ];

	json_object_foreach(o, key, v)
		if (!list_has(allowed, key))
			cfg_err(c, cfg_kpath(p, base, key), "unknown key");
}

bool cfg_need(struct ctx *c, json_t *o, const char *base, const char *key)
{
	char p[PATHSZ];

	if (json_object_get(o, key))
		return true;
	cfg_err(c, cfg_kpath(p, base, key), "is required");
	return false;
}

int cfg_get_int(struct ctx *c, json_t *o, const char *base, const char *key,
		   long long lo, long long hi, int *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		cfg_err(c, cfg_kpath(p, base, key), "must be an integer in %lld..%lld", lo, hi);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 1;
}

int cfg_get_int_of(struct ctx *c, json_t *o, const char *base, const char *key,
		      const int *vals, size_t n, int *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ], list[256];
	size_t i, len = 0;

	if (!v)
		return 0;
	if (json_is_integer(v))
		for (i = 0; i < n; i++)
			if (json_integer_value(v) == vals[i]) {
				*out = vals[i];
				return 1;
			}
	list[0] = '\0';
	for (i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d",
					i ? ", " : "", vals[i]);
	cfg_err(c, cfg_kpath(p, base, key), "must be one of %s", list);
	return -1;
}

/* The number at KEY of O: 1, 0 when absent, -1 when it is not a number
 * (not reported: the callers word the message). */
static int num_at(json_t *o, const char *key, double *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_number(v))
		return -1;
	*out = json_number_value(v);
	return 1;
}

int cfg_get_num(struct ctx *c, json_t *o, const char *base, const char *key,
		   double *out)
{
	char p[PATHSZ];
	int r = num_at(o, key, out);

	if (r < 0)
		cfg_err(c, cfg_kpath(p, base, key), "must be a number");
	return r;
}

int cfg_get_num_range(struct ctx *c, json_t *o, const char *base, const char *key,
			 double lo, double hi, double *out)
{
	char p[PATHSZ];
	double v = 0;
	int r = num_at(o, key, &v);

	if (r == 0)
		return 0;
	if (r < 0 || v < lo || v > hi) {
		cfg_err(c, cfg_kpath(p, base, key), "must be a number in %g..%g", lo, hi);
		return -1;
	}
	*out = v;
	return 1;
}

int cfg_get_bool(struct ctx *c, json_t *o, const char *base, const char *key,
		    bool *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		cfg_err(c, cfg_kpath(p, base, key), "must be true or false");
		return -1;
	}
	*out = json_is_true(v);
	return 1;
}

/* A string of at most SIZE-1 bytes; NONEMPTY refuses "". */
int cfg_get_str(struct ctx *c, json_t *o, const char *base, const char *key,
		   char *out, size_t size, bool nonempty)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (!v)
		return 0;
	if (!json_is_string(v)) {
		cfg_err(c, cfg_kpath(p, base, key), "must be a string");
		return -1;
	}
	if (json_string_length(v) >= size) {
		cfg_err(c, cfg_kpath(p, base, key), "must be at most %zu characters", size - 1);
		return -1;
	}
	if (nonempty && json_string_length(v) == 0) {
		cfg_err(c, cfg_kpath(p, base, key), "must not be empty");
		return -1;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 1;
}

static bool id_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > 63)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');

		if (i > 0 && (ch == '_' || ch == '-'))
			ok = true;
		if (!ok)
			return false;
	}
	return true;
}

int cfg_get_id(struct ctx *c, json_t *o, const char *base, const char *key,
		  char out[YW_ID_MAX])
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (!v)
		return 0;
	if (!json_is_string(v)) {
		cfg_err(c, cfg_kpath(p, base, key), "must be a string");
		return -1;
	}
	if (json_string_length(v) != strlen(json_string_value(v)) ||
	    !id_valid(json_string_value(v))) {
		cfg_err(c, cfg_kpath(p, base, key), "\"%s\" is not a valid id ([a-z0-9][a-z0-9_-]{0,62})",
			json_string_value(v));
		return -1;
	}
	cfg_strfmt(out, YW_ID_MAX, "%s", json_string_value(v));
	return 1;
}

int cfg_get_enum(struct ctx *c, json_t *o, const char *base, const char *key,
		    const char *const *names, size_t n, int *out)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ], list[256];
	size_t i, len = 0;

	if (!v)
		return 0;
	if (json_is_string(v))
		for (i = 0; i < n; i++)
			if (strcmp(json_string_value(v), names[i]) == 0) {
				*out = (int)i;
				return 1;
			}
	list[0] = '\0';
	for (i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					i ? ", " : "", names[i]);
	cfg_err(c, cfg_kpath(p, base, key), "must be one of %s", list);
	return -1;
}

/* Object-valued KEY: NULL when absent or (reported) not an object. */
json_t *cfg_get_obj(struct ctx *c, json_t *o, const char *base, const char *key)
{
	json_t *v = json_object_get(o, key);
	char p[PATHSZ];

	if (v && !json_is_object(v)) {
		cfg_err(c, cfg_kpath(p, base, key), "must be an object");
		return NULL;
	}
	return v;
}

/* ---- paths ------------------------------------------------------------- */

/* IN relative to the config's directory, or absolute; -1 (reported) when too long. */
static int resolve(struct ctx *c, const char *path, const char *in, char out[YW_PATH_MAX])
{
	int n;

	if (in[0] == '/')
		n = snprintf(out, YW_PATH_MAX, "%s", in);
	else
		n = snprintf(out, YW_PATH_MAX, "%s/%s", c->dir, in);
	if (n < 0 || n >= YW_PATH_MAX) {
		cfg_err(c, path, "path too long");
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* A relative path string KEY, resolved; 1 when set. */
int cfg_get_path(struct ctx *c, json_t *o, const char *base, const char *key,
		    char out[YW_PATH_MAX])
{
	char raw[YW_PATH_MAX], p[PATHSZ];
	int r = cfg_get_str(c, o, base, key, raw, sizeof(raw), true);

	if (r <= 0)
		return r;
	return resolve(c, cfg_kpath(p, base, key), raw, out) == 0 ? 1 : -1;
}

/* Fails (reported) when the file cannot be opened for reading. */
int cfg_check_readable(struct ctx *c, const char *path, const char *file)
{
	FILE *f = fopen(file, "r");

	if (!f) {
		cfg_err(c, path, "cannot read %s: %s", file, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

void cfg_dir_of(const char *path, char out[YW_PATH_MAX])
{
	char tmp[YW_PATH_MAX], *slash;

	cfg_strfmt(tmp, sizeof(tmp), "%s", path);
	slash = strrchr(tmp, '/');
	if (!slash)
		cfg_strfmt(tmp, sizeof(tmp), ".");
	else if (slash == tmp)
		tmp[1] = '\0';
	else
		*slash = '\0';
	if (!realpath(tmp, out))
		cfg_strfmt(out, YW_PATH_MAX, "%s", tmp);
}

/* Parse FILE (c->file is its name in messages); NULL after reporting. */
json_t *cfg_load_json(struct ctx *c, const char *file)
{
	json_error_t jerr;
	json_t *root;
	FILE *f = fopen(file, "r");

	if (!f) {
		fprintf(c->errs, "%s: cannot read: %s\n", c->file, strerror(errno));
		c->nerr++;
		return NULL;
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!root) {
		fprintf(c->errs, "%s:%d:%d: %s\n", c->file, jerr.line, jerr.column, jerr.text);
		c->nerr++;
		return NULL;
	}
	if (!json_is_object(root)) {
		fprintf(c->errs, "%s: must be a JSON object\n", c->file);
		c->nerr++;
		json_decref(root);
		return NULL;
	}
	return root;
}
