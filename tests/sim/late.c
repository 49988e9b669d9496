/*
 * late: answers that a `late` fault holds back. Each waits in a small array
 * (arrival order) until its time; the poll loop's timer hands it to its
 * transport then, so a late device never delays other clients or devices.
 * An answer whose TCP client has gone is dropped with it.
 */
#include <stdint.h>
#include <string.h>

#include "../../daemon/log.h"
#include "sim.h"

void late_push(struct sim *s, int chan, int64_t due_ms, const uint8_t *b, size_t n)
{
	struct late_answer *a;

	if (s->nlate == SIM_LATE_MAX) {
		log_warn("sim", "more than %d late answers waiting; one dropped", SIM_LATE_MAX);
		return;
	}
	a = &s->late[s->nlate++];
	a->due_ms = due_ms;
	a->chan = chan;
	a->len = n;
	memcpy(a->buf, b, n);
}

static void late_remove(struct sim *s, size_t i)
{
	memmove(&s->late[i], &s->late[i + 1], (s->nlate - i - 1) * sizeof(*s->late));
	s->nlate--;
}

void late_drop(struct sim *s, int chan)
{
	size_t i = 0;

	while (i < s->nlate) {
		if (s->late[i].chan == chan)
			late_remove(s, i);
		else
			i++;
	}
}

int64_t late_run(struct sim *s, int64_t now)
{
	int64_t next = INT64_MAX;
	size_t i = 0;

	while (i < s->nlate) {
		struct late_answer *a = &s->late[i];

		if (a->due_ms > now) {
			if (a->due_ms < next)
				next = a->due_ms;
			i++;
			continue;
		}
		if (a->chan == LATE_RTU)
			rtu_send(&s->rtu, a->buf, a->len);
		else
			tcp_deliver(s, a->chan, a->buf, a->len);
		late_remove(s, i);
	}
	return next;
}
