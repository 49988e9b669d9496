/*
 * http_text: the text the status page's answers are made of (pure, no
 * state): a growing buffer with a size limit, HTML and Prometheus-label
 * escaping, local times with their offset and short durations.
 *
 * Owns: the escaping rules. Every string from the config, the store or a
 * device goes into HTML through hb_html (& < > " ' become entities, so a
 * device location "<script>" is shown as text) and into a Prometheus label
 * value through hb_label (\ " and newline escaped, as the text format
 * 0.0.4 says).
 */
#ifndef YW_HTTP_TEXT_H
#define YW_HTTP_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A buffer of at most MAX bytes. Once an append fails (out of memory or
 * past MAX), FAILED is set and every later append is ignored: the caller
 * checks once at the end. */
struct hbuf {
	char *p;                    /* NUL-terminated while not failed */
	size_t len, cap, max;
	bool failed;
};

void hb_init(struct hbuf *b, size_t max);
void hb_free(struct hbuf *b);
void hb_add(struct hbuf *b, const char *s, size_t n);
void hb_puts(struct hbuf *b, const char *s);
void hb_printf(struct hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* S as HTML text or attribute value. NULL appends nothing. */
void hb_html(struct hbuf *b, const char *s);
/* S as the inside of a Prometheus label value ("..." not included). */
void hb_label(struct hbuf *b, const char *s);

/* "2026-11-26 12:10:03+08:00": MS in the gateway's local time with its
 * offset, into BUF (HTTP_TIME_LEN). "-" for INT64_MIN. Returns BUF. */
#define HTTP_TIME_LEN 40
char *http_local_time(int64_t ms, char *buf, size_t len);
/* "45 s", "12 min", "3 h 5 min", "4 d 3 h": a duration for people. */
char *http_duration(int64_t ms, char *buf, size_t len);

#endif
