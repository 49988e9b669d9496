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

size_t gw_held_unsent(const struct uplink_rt *u)
{
	uint32_t bit = 1u << u->idx;
	size_t n = 0;
	for (size_t i = 0; i < u->gw->nheld; i++) {
		const struct held_event *h = &u->gw->held[i];
		if ((h->links & bit) && !(h->sent & bit) && !(h->acked & bit))
			n++;
	}
	return n;
}

size_t gw_held_pending(const struct uplink_rt *u)
{
	uint32_t bit = 1u << u->idx;
	size_t n = 0;
	for (size_t i = 0; i < u->gw->nheld; i++)
		if ((u->gw->held[i].links & bit) && !(u->gw->held[i].acked & bit))
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
	gw_publish_status_all(gw);
}

/* The links (bits of MASK) an event goes to, with their topics, into DESTS
 * (TOPICS: GW_LINKS_MAX buffers). Returns how many. */
static size_t event_dests(struct gateway *gw, uint32_t mask, enum yw_category cat,
			  const char *alarm, struct store_dest *dests,
			  char (*topics)[YW_TEXT_MAX * 4])
{
	size_t n = 0;

	for (size_t i = 0; i < gw->nul; i++) {
		if (!(mask & (1u << i)))
			continue;
		gw_topic_of(gw->ul[i], topics[n], sizeof topics[n], "alarm/%s/%s",
			    config_category_name(cat), alarm);
		dests[n].link = gw->ul[i]->id;
		dests[n].topic = topics[n];
		n++;
	}
	return n;
}

/* Write held events to the store, oldest first, until one fails or one is
 * in flight on a link (its PUBACK decides whether that link needs a row):
 * a row for each link that takes it and has not acknowledged it. */
void gw_store_held(struct gateway *gw)
{
	static char topics[GW_LINKS_MAX][YW_TEXT_MAX * 4];
	struct store_dest dests[GW_LINKS_MAX];
	size_t done = 0;
	bool queued = false;

	while (done < gw->nheld) {
		struct held_event *h = &gw->held[done];
		if (h->sent & ~h->acked)
			break;
		size_t n = event_dests(gw, h->links & ~h->acked, h->cat, h->alarm, dests, topics);
		if (store_commit_event(gw->st, h->seq, h->alarm, h->ev, h->cat, h->sev, h->ts_ms,
				       h->json, &h->state, dests, n) < 0)
			break;
		queued |= n > 0;
		held_free(h);
		done++;
	}
	if (done) {
		memmove(gw->held, gw->held + done, (gw->nheld - done) * sizeof *gw->held);
		gw->nheld -= done;
		if (queued)
			gw_outbox_restart(gw);
	}
	if (done && gw->nheld == 0)
		store_state(gw, false);
}

static int hold(struct gateway *gw, const struct pl_event *e, const struct alarm_state *after,
		const char *json, uint32_t links)
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
	if (!h->json)
		return -1;
	h->links = links;
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
	static char topics[GW_LINKS_MAX][YW_TEXT_MAX * 4];
	struct store_dest dests[GW_LINKS_MAX];
	uint32_t links = 0;
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
	/* the links that take it: by the alarm's category and device */
	for (size_t i = 0; i < gw->nul; i++)
		if (gw_selects_alarm(gw->ul[i], e->alarm, (int)e->category))
			links |= 1u << i;
	/* Older held events go first; while any is left, this one waits too. */
	if (gw->nheld)
		gw_store_held(gw);
	size_t n = event_dests(gw, links, e->category, e->alarm, dests, topics);
	if (gw->nheld == 0 && store_commit_event(gw->st, e->seq, e->alarm, e->state, e->category,
						 e->severity, e->ts_ms, json, after, dests,
						 n) == 0) {
		rc = 0;
		store_state(gw, false);
	} else if (may_hold && hold(gw, e, after, json, links) == 0) {
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
	gw_outbox_restart(gw);
	gw_pump_all(gw);
	return rc;
}
