/*
 * http_api: /api/status, /api/devices, /api/points[/DEV], /api/alarms and
 * /api/history/DEV.PT: the documents `yardwatch status|devices|points|
 * alarms|history --json` print, made by the same code (the query module and
 * query_json.c) and printed the same way (jsonnum_dumps with
 * QUERY_JSON_FLAGS, one document and a newline). The command line's status
 * adds what the daemon says over its control socket ("daemon", "uplinks");
 * here the daemon says it itself, from the live snapshot.
 */
#include "http_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonnum.h"
#include "store/query_json.h"

int http_store_fail(struct http_ctx *c)
{
	snprintf(c->err, sizeof c->err, "the store cannot be read: %s", query_error(c->q));
	return 503;
}

/* Append DOC (taken) to B as the command line prints it. */
static int api_doc(struct http_ctx *c, struct hbuf *b, json_t *doc)
{
	char *s = doc ? jsonnum_dumps(doc, QUERY_JSON_FLAGS) : NULL;

	json_decref(doc);
	if (!s) {
		snprintf(c->err, sizeof c->err, "out of memory");
		return 500;
	}
	hb_puts(b, s);
	hb_puts(b, "\n");
	free(s);
	return 200;
}

/* status --json: the summary, the daemon (this one) and its links. */
static json_t *api_status_doc(struct http_ctx *c, const struct query_status *st)
{
	json_t *o = query_json_status(st), *ups = json_array();

	for (size_t i = 0; ups && i < c->live->nuplinks; i++) {
		const struct http_uplink *u = &c->live->uplinks[i];
		char t[40];
		json_array_append_new(ups, json_pack("{s:s, s:b, s:I, s:o}", "id", u->id, "connected",
						     u->connected, "outbox_depth",
						     (json_int_t)u->outbox_depth, "oldest",
						     u->oldest_ms > 0 ?
						     json_string(util_fmt_time(u->oldest_ms, t, sizeof t)) :
						     json_null()));
	}
	if (!o || !ups) {
		json_decref(o);
		json_decref(ups);
		return NULL;
	}
	json_object_set_new(o, "daemon", json_pack("{s:b, s:i}", "running", 1, "pid", c->pid));
	json_object_set_new(o, "uplinks", ups);
	return o;
}

/* alarms --json [--active] [--since T]: the stored event documents. */
static json_t *api_alarms_doc(const struct query_event *rows, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		json_error_t err;
		json_t *ev = query_json_event(&rows[i], &err);
		if (ev)   /* an unreadable one is skipped, as the command line does */
			json_array_append_new(arr, ev);
	}
	return arr;
}

/* history POINT --json [--since T] [--until T]: streamed row by row into
 * B; an answer past HTTP_ANSWER_MAX is refused (ask for a shorter period). */
static int api_history(struct http_ctx *c, struct hbuf *b)
{
	const struct http_req *r = c->req;
	struct query_history *h;
	struct query_reading row;
	bool first = true;
	int rc = query_history_open(c->q, r->arg, r->has_since ? r->since : INT64_MIN,
				    r->has_until ? r->until : INT64_MAX,
				    r->has_since ? QUERY_HISTORY_IN_FORCE : 0, &h);

	if (rc == QUERY_NOT_FOUND) {
		snprintf(c->err, sizeof c->err, "%s", query_error(c->q));
		return 404;
	}
	if (rc != QUERY_OK)
		return http_store_fail(c);
	hb_puts(b, "[");
	while (!b->failed && (rc = query_history_next(h, &row)) == 1) {
		json_t *o = query_json_reading(&row, query_history_type(h));
		char *s = o ? jsonnum_dumps(o, QUERY_JSON_FLAGS) : NULL;
		json_decref(o);
		if (!s) {
			b->failed = true;
			break;
		}
		if (!first)
			hb_puts(b, ",");
		hb_puts(b, s);
		free(s);
		first = false;
	}
	query_history_close(h);
	if (rc < 0)
		return http_store_fail(c);
	hb_puts(b, "]\n");
	if (b->failed) {
		snprintf(c->err, sizeof c->err, "the answer would pass %u MB: ask for a shorter "
			 "period (since, until)", HTTP_ANSWER_MAX >> 20);
		return 400;
	}
	return 200;
}

int http_api(struct http_ctx *c, struct hbuf *b)
{
	const struct http_req *r = c->req;
	json_t *doc = NULL;
	int rc, status;

	if (query_begin(c->q) != QUERY_OK)
		return http_store_fail(c);
	switch (r->route) {
	case HTTP_R_STATUS: {
		struct query_status st;
		rc = query_status(c->q, &st);
		if (rc == QUERY_OK) {
			doc = api_status_doc(c, &st);
			query_status_free(&st);
		}
		break;
	}
	case HTTP_R_DEVICES: {
		struct query_device *rows;
		size_t n;
		rc = query_devices(c->q, &rows, &n);
		if (rc == QUERY_OK) {
			doc = query_json_devices(rows, n);
			free(rows);
		}
		break;
	}
	case HTTP_R_POINTS: {
		struct query_point *rows;
		size_t n;
		rc = query_points(c->q, r->arg[0] ? r->arg : NULL, &rows, &n);
		if (rc == QUERY_OK) {
			doc = query_json_points(rows, n);
			free(rows);
		}
		break;
	}
	case HTTP_R_ALARMS: {
		struct query_event *rows;
		size_t n;
		rc = query_alarms(c->q, r->active, r->has_since ? r->since : INT64_MIN, &rows, &n);
		if (rc == QUERY_OK) {
			doc = api_alarms_doc(rows, n);
			query_events_free(rows, n);
		}
		break;
	}
	case HTTP_R_HISTORY:
		status = api_history(c, b);
		query_end(c->q);
		return status;
	default:
		query_end(c->q);
		snprintf(c->err, sizeof c->err, "not an API path");
		return 404;
	}
	query_end(c->q);
	if (rc == QUERY_NOT_FOUND) {
		snprintf(c->err, sizeof c->err, "%s", query_error(c->q));
		return 404;
	}
	if (rc != QUERY_OK)
		return http_store_fail(c);
	return api_doc(c, b, doc);
}
