/*
 * gw_events: the durability path of an alarm event, from the state machine's
 * decision to the store (events.c in the store commits it with its outbox
 * row and the alarm's new state in one synchronous transaction).
 *
 * The rule: an alarm's state changes only together with its event. An event
 * is either committed to the store, or, when the store cannot commit it
 * (disk full, I/O error, locked), held here in memory with its seq: it is
 * published from here like an outbox row, and written to the store, in seq
 * order, as soon as the store takes writes again (every flush tick). While
 * events are held, later events are held behind them, so the store and the
 * centre see them in seq order. Sequence numbers are given here (from the
 * store's last seq at start), so a failing store never stops them.
 *
 * What may be held: an event the gateway itself decided (a threshold or a
 * device going offline); it must not be lost. An operator's acknowledgement
 * is different: it is refused (the command answers ok: false) when it cannot
 * be committed, and the alarm stays as it was.
 *
 * A held event is published before it is in the store; if the process dies
 * then, it is lost with it, and its seq must never be given again (the
 * centre drops duplicates by event_id, so a reused seq would drop another
 * event). Before an event is held, its seq is written in place (no new disk
 * space needed) to a small file pre-allocated at start next to the store,
 * STORE-seq; the next start continues after the highest of the store's and
 * that file's seqs, and logs the gap.
 *
 * Bounds: at most HELD_MAX events are held; past that an event is refused
 * and its state change waits for the next reading (the alarm is evaluated
 * again then). The store's failure is logged once when it starts and once
 * when it ends; P/status says "store": "failing" meanwhile.
 */
#include "gw_int.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define SEQ_FILE_LEN 32         /* "%31lld\n": written in place, never grows */

/* Open (create and pre-allocate) the seq watermark file; the highest seq
 * it holds in *SEQ (0 when none). -1 when it cannot be opened: logged,
 * the gateway runs without it. */
static int seq_file_open(struct gateway *gw, int64_t *seq)
{
	char path[YW_PATH_MAX + 8], buf[SEQ_FILE_LEN + 1];
	ssize_t n;

	*seq = 0;
	snprintf(path, sizeof path, "%s-seq", gw->cfg->storage_path);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_warn("alarm", "%s: %s; a held event lost in a crash could see its seq again",
			 path, strerror(errno));
		return -1;
	}
	n = pread(fd, buf, SEQ_FILE_LEN, 0);
	if (n > 0) {
		buf[n] = '\0';
		*seq = strtoll(buf, NULL, 10);
	}
	if (n < SEQ_FILE_LEN) {
		snprintf(buf, sizeof buf, "%*lld\n", SEQ_FILE_LEN - 1, (long long)*seq);
		if (pwrite(fd, buf, SEQ_FILE_LEN, 0) != SEQ_FILE_LEN || fdatasync(fd) != 0)
			log_warn("alarm", "%s: cannot write: %s", path, strerror(errno));
	}
	return fd;
}

/* The seq of an event about to be held, on disk before it is published. */
static void seq_file_mark(struct gateway *gw, int64_t seq)
{
	char buf[SEQ_FILE_LEN + 1];

	if (gw->seq_fd < 0)
		return;
	snprintf(buf, sizeof buf, "%*lld\n", SEQ_FILE_LEN - 1, (long long)seq);
	if (pwrite(gw->seq_fd, buf, SEQ_FILE_LEN, 0) != SEQ_FILE_LEN || fdatasync(gw->seq_fd) != 0)
		log_error("alarm", "cannot write the seq watermark (%s): if the process dies now, "
			  "seq %lld may be given again", strerror(errno), (long long)seq);
}

int gw_events_init(struct gateway *gw)
{
	int64_t seq = store_next_seq(gw->st), mark = 0;
	if (seq <= 0) {
		log_error("alarm", "cannot read the last event sequence number from the store");
		return -1;
	}
	gw->seq_fd = seq_file_open(gw, &mark);
	if (mark >= seq) {
		log_warn("alarm", "events %lld..%lld were published while the store could not write "
			 "them and were lost with the previous process; numbering goes on at %lld",
			 (long long)seq, (long long)mark, (long long)mark + 1);
		seq = mark + 1;
	}
	gw->next_seq = seq;
	return 0;
}

static void held_free(struct held_event *h)
{
	free(h->json);
	free(h->topic);
}

void gw_events_free(struct gateway *gw)
{
	if (gw->nheld)
		log_error("alarm", "%zu alarm event%s could not be written to the store and are "
			  "lost with this process (seq %lld..%lld)", gw->nheld,
			  gw->nheld == 1 ? "" : "s", (long long)gw->held[0].seq,
			  (long long)gw->held[gw->nheld - 1].seq);
	for (size_t i = 0; i < gw->nheld; i++)
		held_free(&gw->held[i]);
	if (gw->seq_fd >= 0)
		close(gw->seq_fd);
	gw->seq_fd = -1;
	free(gw->held);
	gw->held = NULL;
	gw->nheld = gw->capheld = 0;
}

struct held_event *gw_held_find(struct gateway *gw, int64_t seq)
{
	for (size_t i = 0; i < gw->nheld; i++)
		if (gw->held[i].seq == seq)
			return &gw->held[i];
	return NULL;
}

size_t gw_held_unsent(const struct gateway *gw)
{
	size_t n = 0;
	for (size_t i = 0; i < gw->nheld; i++)
		if (!gw->held[i].sent && !gw->held[i].acked && gw->held[i].topic)
			n++;
	return n;
}

/* The store stopped / started taking writes: say so once each way. */
static void store_state(struct gateway *gw, bool failing)
{
	if (failing == gw->store_failing)
		return;
	gw->store_failing = failing;
	if (failing) {
		gw->store_fail_mono = util_mono_ms();
		log_error("alarm", "the store cannot commit events: alarm events are held in memory "
			  "and published; they are written as soon as the store takes them");
	} else {
		log_info("alarm", "the store takes events again after %lld s; held events written",
			 (long long)((util_mono_ms() - gw->store_fail_mono) / 1000));
	}
	if (gw->link && mqtt_connected(gw->link))
		gw_publish_status(gw);
}

/* The outbox has new alarm rows: they go ahead of what is being sent. */
static void outbox_restart(struct gateway *gw)
{
	gw->active_dirty = true;
	gw->cur_prio = -1;
	gw->cur_id = 0;
	gw->outbox_idle = false;
}

/* Write held events to the store, oldest first, until one fails or one is
 * in flight (its PUBACK decides whether it needs an outbox row). */
void gw_store_held(struct gateway *gw)
{
	size_t done = 0;
	bool queued = false;

	while (done < gw->nheld) {
		struct held_event *h = &gw->held[done];
		if (h->sent && !h->acked)
			break;
		const char *topic = h->acked ? NULL : h->topic;
		struct store_dest dest = { gw->cfg->mqtt.id, topic };
		if (store_commit_event(gw->st, h->seq, h->alarm, h->ev, h->cat, h->sev, h->ts_ms,
				       h->json, &h->state, &dest, topic ? 1 : 0) < 0)
			break;
		queued |= topic != NULL;
		held_free(h);
		done++;
	}
	if (done) {
		memmove(gw->held, gw->held + done, (gw->nheld - done) * sizeof *gw->held);
		gw->nheld -= done;
		if (queued)
			outbox_restart(gw);
	}
	if (done && gw->nheld == 0)
		store_state(gw, false);
}

static int hold(struct gateway *gw, const struct pl_event *e, const struct alarm_state *after,
		const char *json, const char *topic)
{
	if (gw->nheld >= HELD_MAX) {
		log_error("alarm", "%s: %zu events held already; %s waits for the store",
			  e->alarm, gw->nheld, alarm_event_name(e->state));
		return -1;
	}
	if (gw->nheld == gw->capheld) {
		size_t cap = gw->capheld ? gw->capheld * 2 : 16;
		struct held_event *n = realloc(gw->held, cap * sizeof *n);
		if (!n)
			return -1;
		gw->held = n;
		gw->capheld = cap;
	}
	struct held_event *h = &gw->held[gw->nheld];
	memset(h, 0, sizeof *h);
	h->json = strdup(json);
	h->topic = topic ? strdup(topic) : NULL;
	if (!h->json || (topic && !h->topic)) {
		held_free(h);
		return -1;
	}
	h->seq = e->seq;
	seq_file_mark(gw, e->seq);
	util_strlcpy(h->alarm, e->alarm, sizeof h->alarm);
	h->ev = e->state;
	h->cat = e->category;
	h->sev = e->severity;
	h->ts_ms = e->ts_ms;
	h->state = *after;
	gw->nheld++;
	return 0;
}

static void set_event(char **slot, const char *json)
{
	char *copy = strdup(json);
	if (!copy)
		return;   /* keep the older one; only alarms/active is affected */
	free(*slot);
	*slot = copy;
}

/*
 * Commit event E (the alarm's state becomes AFTER with it): to the store, or,
 * when MAY_HOLD and the store cannot take it, held in memory. Returns 0
 * committed, 1 held, -1 refused (nothing recorded: the caller must not change
 * the alarm's state). EVENT_SLOT receives the event's JSON (alarms/active).
 */
int gw_commit_event(struct gateway *gw, struct pl_event *e, const struct alarm_state *after,
		    char **event_slot, bool may_hold)
{
	char topic[YW_TEXT_MAX * 4];
	const char *t = NULL;
	char *json;
	int rc = -1;

	e->gateway = gw->cfg->gateway;
	e->seq = gw->next_seq;
	e->clock_unset = !clock_is_set();
	json = payload_event(e);
	if (!json) {
		log_error("alarm", "%s: out of memory building the event", e->alarm);
		return -1;
	}
	if (gw_mqtt_on(gw)) {
		gw_topic_of(gw, topic, sizeof topic, "alarm/%s/%s",
			    config_category_name(e->category), e->alarm);
		t = topic;
	}
	/* Older held events go first; while any is left, this one waits too. */
	if (gw->nheld)
		gw_store_held(gw);
	struct store_dest dest = { gw->cfg->mqtt.id, t };
	if (gw->nheld == 0 && store_commit_event(gw->st, e->seq, e->alarm, e->state, e->category,
						 e->severity, e->ts_ms, json, after, &dest,
						 t ? 1 : 0) == 0) {
		rc = 0;
		store_state(gw, false);
	} else if (may_hold && hold(gw, e, after, json, t) == 0) {
		store_state(gw, true);
		rc = 1;
	} else {
		log_error("alarm", "%s: event %s could not be recorded", e->alarm,
			  alarm_event_name(e->state));
		if (gw->nheld == 0)
			store_state(gw, true);
		free(json);
		return -1;
	}
	gw->next_seq++;
	log_info("alarm", "%s %s (seq %lld%s%s%s)", e->alarm, alarm_event_name(e->state),
		 (long long)e->seq, rc == 1 ? ", held: the store fails" : "",
		 e->message && *e->message ? ": " : "", e->message ? e->message : "");
	set_event(event_slot, json);
	free(json);
	outbox_restart(gw);
	gw_pump(gw);
	return rc;
}
