/*
 * http_text: the buffer, the escaping and the times of the status page's
 * answers (see http_text.h).
 */
#include "http_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

void hb_init(struct hbuf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

void hb_free(struct hbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Room for N more bytes and the NUL. */
static bool hb_room(struct hbuf *b, size_t n)
{
	size_t want, cap;
	char *p;

	if (b->failed)
		return false;
	if (n > b->max || b->len + n > b->max) {
		b->failed = true;
		return false;
	}
	want = b->len + n + 1;
	if (want <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < want)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void hb_add(struct hbuf *b, const char *s, size_t n)
{
	if (!hb_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void hb_puts(struct hbuf *b, const char *s)
{
	hb_add(b, s, strlen(s));
}

void hb_printf(struct hbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!hb_room(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static const char *html_entity(char c)
{
	switch (c) {
	case '&': return "&amp;";
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '"': return "&quot;";
	case '\'': return "&#39;";
	default: return NULL;
	}
}

static const char *label_escape(char c)
{
	switch (c) {
	case '\\': return "\\\\";
	case '"': return "\\\"";
	case '\n': return "\\n";
	default: return NULL;
	}
}

/* S with each character ESC names replaced by its text. */
static void hb_escape(struct hbuf *b, const char *s, const char *(*esc)(char))
{
	const char *run = s, *e;

	if (!s)
		return;
	for (; *s; s++) {
		if (!(e = esc(*s)))
			continue;
		hb_add(b, run, (size_t)(s - run));
		hb_puts(b, e);
		run = s + 1;
	}
	hb_add(b, run, (size_t)(s - run));
}

void hb_html(struct hbuf *b, const char *s)
{
	hb_escape(b, s, html_entity);
}

void hb_label(struct hbuf *b, const char *s)
{
	hb_escape(b, s, label_escape);
}

char *http_local_time(int64_t ms, char *buf, size_t len)
{
	time_t secs;
	struct tm tm;
	long off, aoff;

	if (ms == INT64_MIN) {
		snprintf(buf, len, "-");
		return buf;
	}
	secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	if (!localtime_r(&secs, &tm))
		return util_fmt_time(ms, buf, len);
	off = tm.tm_gmtoff;
	aoff = off < 0 ? -off : off;
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d%c%02ld:%02ld", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
		 aoff / 3600, aoff % 3600 / 60);
	return buf;
}

char *http_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms < 0 ? 0 : ms / 1000;

	if (s >= 86400)
		snprintf(buf, len, "%lld d %lld h", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lld h %lld min", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%lld min", (long long)(s / 60));
	else
		snprintf(buf, len, "%lld s", (long long)s);
	return buf;
}
