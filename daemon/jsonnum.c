/*
 * jsonnum: numfmt's numbers in jansson's documents. See jsonnum.h.
 */
#include "jsonnum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../drivers/numfmt.h"

/* The marker: a string starting with NUL and '#', then the number's text.
 * JSONNUM_DUMPED is how json_dumps spells its beginning. */
#define JSONNUM_TAG "\0#"
#define JSONNUM_TAG_LEN 2
#define JSONNUM_DUMPED "\"\\u0000#"
#define JSONNUM_DUMPED_LEN (sizeof JSONNUM_DUMPED - 1)

/* The largest integer below which every integer is a double. */
#define JSONNUM_EXACT 0x1p53

json_t *jsonnum_real(double v)
{
	char buf[JSONNUM_TAG_LEN + NUMFMT_LEN];

	if (!isfinite(v))
		return json_null();
	memcpy(buf, JSONNUM_TAG, JSONNUM_TAG_LEN);
	numfmt_double(v, buf + JSONNUM_TAG_LEN, NUMFMT_LEN);
	return json_stringn(buf, JSONNUM_TAG_LEN + strlen(buf + JSONNUM_TAG_LEN));
}

/* The text of marker J, or NULL when J is no marker. */
static const char *jsonnum_marker(const json_t *j)
{
	const char *s = json_string_value(j);

	if (!s || json_string_length(j) <= JSONNUM_TAG_LEN ||
	    memcmp(s, JSONNUM_TAG, JSONNUM_TAG_LEN) != 0)
		return NULL;
	return s + JSONNUM_TAG_LEN;
}

int jsonnum_value(const json_t *j, double *v)
{
	const char *m = jsonnum_marker(j);

	if (json_is_number(j)) {
		*v = json_number_value(j);
		return 0;
	}
	if (!m)
		return -1;
	*v = strtod(m, NULL);
	return 0;
}

/* Digits at S; their count. */
static size_t jsonnum_digits(const char *s)
{
	return strspn(s, "0123456789");
}

/* Length of the JSON number (RFC 8259) at S, 0 when there is none. */
static size_t jsonnum_number_len(const char *s)
{
	const char *p = s;
	size_t n;

	if (*p == '-')
		p++;
	n = jsonnum_digits(p);
	if (n == 0 || (p[0] == '0' && n > 1))
		return 0;
	p += n;
	if (*p == '.') {
		if ((n = jsonnum_digits(p + 1)) == 0)
			return 0;
		p += 1 + n;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if ((n = jsonnum_digits(p)) == 0)
			return 0;
		p += n;
	}
	return (size_t)(p - s);
}

/* Replace each dumped marker "\u0000#TEXT" of S by TEXT, in place (the text
 * only gets shorter); a marker whose TEXT is not a JSON number becomes
 * null. */
static void jsonnum_unmark(char *s)
{
	char *r = s, *w = s, *m;

	while ((m = strstr(r, JSONNUM_DUMPED)) != NULL) {
		char *text = m + JSONNUM_DUMPED_LEN;
		char *q = strchr(text, '"');
		size_t n = jsonnum_number_len(text);

		memmove(w, r, (size_t)(m - r));
		w += m - r;
		if (!q) {   /* cannot happen: jansson closes its strings */
			r = m;
			break;
		}
		if (n == 0 || text + n != q) {
			memcpy(w, "null", 4);
			w += 4;
		} else {
			memmove(w, text, n);
			w += n;
		}
		r = q + 1;
	}
	memmove(w, r, strlen(r) + 1);
}

char *jsonnum_dumps(const json_t *root, size_t flags)
{
	char *s = json_dumps(root, flags);

	if (s)
		jsonnum_unmark(s);
	return s;
}

/* A number of a parsed document as jsonnum_dumps should print it. */
static json_t *jsonnum_adopt(double v)
{
	if (v == trunc(v) && fabs(v) <= JSONNUM_EXACT)
		return json_integer((json_int_t)v);
	return jsonnum_real(v);
}

/* Every real of J (parsed with JSON_DECODE_INT_AS_REAL) adopted. 0 / -1. */
static int jsonnum_adopt_all(json_t *j)
{
	json_t *v;
	void *it;
	size_t i;
	int rc = 0;

	if (json_is_object(j)) {
		for (it = json_object_iter(j); it && rc == 0; it = json_object_iter_next(j, it)) {
			v = json_object_iter_value(it);
			if (json_is_real(v))
				rc = json_object_iter_set_new(j, it, jsonnum_adopt(json_real_value(v)));
			else
				rc = jsonnum_adopt_all(v);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			if (json_is_real(v))
				rc = json_array_set_new(j, i, jsonnum_adopt(json_real_value(v)));
			else
				rc = jsonnum_adopt_all(v);
			if (rc != 0)
				break;
		}
	}
	return rc;
}

json_t *jsonnum_loads(const char *text, size_t flags, json_error_t *err)
{
	json_t *j = json_loads(text, flags | JSON_DECODE_INT_AS_REAL, err);

	if (j && jsonnum_adopt_all(j) != 0) {
		json_decref(j);
		if (err)
			snprintf(err->text, sizeof err->text, "out of memory");
		return NULL;
	}
	return j;
}
