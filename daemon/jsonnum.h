/*
 * jsonnum: values in JSON printed as numfmt prints them (SPEC "MQTT": the
 * fewest digits that identify a value), shared by every JSON document that
 * carries a point's value: the MQTT payloads (payload.c) and `yardwatch
 * --json` (store/query_json.c).
 *
 * jansson 2.14 prints a real with "%.17g" or a fixed precision and an
 * integer only up to 2^63; it has no shortest mode. So a value goes into
 * the document as a marker (a string "\0#" + numfmt's text, which no text
 * of the config, the store or a command can hold: jansson refuses NUL in
 * strings it parses, and C strings end there), and jsonnum_dumps replaces
 * each marker's JSON string by the number. Everything else in the document
 * is jansson's as before.
 *
 * Owns: the marker's spelling; nothing else (no state).
 */
#ifndef YW_JSONNUM_H
#define YW_JSONNUM_H

#include <jansson.h>
#include <stddef.h>

/* V as a value of a document, printed by jsonnum_dumps as numfmt_double(V)
 * (5 -> 5, 0.35 -> 0.35, -1234567890123456 exactly); null when V is NaN or
 * infinite. NULL when out of memory. */
json_t *jsonnum_real(double v);

/* json_dumps(ROOT, FLAGS) with every jsonnum_real as its number. malloc'd;
 * NULL when out of memory. */
char *jsonnum_dumps(const json_t *root, size_t flags);

/* Parse TEXT, a document yardwatch wrote (a stored alarm event), so that
 * jsonnum_dumps prints each of its numbers as it was written: integral
 * numbers within +-2^53 become jansson integers (seq stays an integer),
 * every other number a jsonnum_real (so 0.30000000000000004 and an integer
 * beyond 2^63, which jansson alone cannot read, survive). FLAGS as for
 * json_loads. NULL (ERR says why) when TEXT is not JSON. */
json_t *jsonnum_loads(const char *text, size_t flags, json_error_t *err);

/* The number J holds, a JSON number or a jsonnum_real, into V. 0, or -1
 * when J is neither. */
int jsonnum_value(const json_t *j, double *v);

#endif
