/*
 * apply: carries out parsed steps (scenario.h) on the model: the scenario's
 * when they are due (and the end of a fault's for_s), a --control line at
 * once (read from stdin, one JSON object per line, answered on stdout with
 * "ok", "ok VALUE" or "error: MESSAGE"). Every step applied is logged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/log.h"
#include "../../daemon/util.h"
#include "../../drivers/numfmt.h"
#include "scenario.h"
#include "sim.h"

static void apply_set(struct sim *s, const struct sim_step *st, char *reply, size_t rlen)
{
	long long t = sim_elapsed_s(s);

	for (size_t i = 0; i < st->nvalues; i++) {
		const struct step_value *sv = &st->values[i];
		struct sim_dev *sd = &s->model.devs[sv->dev];
		const char *name = sd->cfg->points[sv->pt].name;

		if (model_set_point(sd, (size_t)sv->pt, sv->value) != 0) {
			snprintf(reply, rlen, "error: %s.%s=%g cannot be encoded", sd->cfg->id, name,
				 sv->value);
			log_warn("sim", "t=%llds set %s.%s=%g refused: cannot be encoded", t,
				 sd->cfg->id, name, sv->value);
			continue;
		}
		log_info("sim", "t=%llds set %s.%s=%g", t, sd->cfg->id, name, sv->value);
	}
}

static void apply_illegal(struct sim *s, const struct sim_step *st, char *reply, size_t rlen)
{
	struct sim_dev *d = &s->model.devs[st->dev];
	const char *table = point_table_name(st->table);
	long long t = sim_elapsed_s(s);

	if (model_illegal(d, st->table, st->start, st->count) != 0)
		snprintf(reply, rlen, "error: out of memory");
	else if (st->count == 0)
		log_info("sim", "t=%llds illegal %s %s cleared", t, d->cfg->id, table);
	else
		log_info("sim", "t=%llds illegal %s %s %u..%u", t, d->cfg->id, table, st->start,
			 st->start + st->count - 1);
}

static void apply_fault(struct sim *s, const struct sim_step *st)
{
	struct sim_dev *d = &s->model.devs[st->dev];
	long long t = sim_elapsed_s(s);
	char extra[64] = "";

	d->fault.kind = st->fault;
	d->fault.delay_ms = st->delay_ms;
	d->fault.until_ms = st->for_s > 0 ? util_mono_ms() + (int64_t)(st->for_s * 1000.0) : 0;
	if (st->fault == FAULT_NONE) {
		log_info("sim", "t=%llds fault %s cleared", t, d->cfg->id);
		return;
	}
	if (st->fault == FAULT_LATE)
		snprintf(extra, sizeof(extra), " delay %d ms", st->delay_ms);
	if (st->for_s > 0)
		log_info("sim", "t=%llds fault %s %s%s for %gs", t, d->cfg->id,
			 frame_fault_name(st->fault), extra, st->for_s);
	else
		log_info("sim", "t=%llds fault %s %s%s", t, d->cfg->id, frame_fault_name(st->fault),
			 extra);
}

static void apply_get(struct sim *s, const struct sim_step *st, char *reply, size_t rlen)
{
	const struct sim_dev *d = &s->model.devs[st->dev];
	const struct point_cfg *p = &d->cfg->points[st->pt];
	char text[NUMFMT_LEN];
	double v;

	if (model_read_point(d, (size_t)st->pt, &v) != 0)
		snprintf(reply, rlen, "error: %s.%s cannot be decoded", d->cfg->id, p->name);
	else if (p->table <= TABLE_DISCRETE || p->type == TYPE_BOOL)
		snprintf(reply, rlen, "ok %s", v != 0 ? "true" : "false");
	else
		snprintf(reply, rlen, "ok %s", numfmt_double(v, text, sizeof text));
}

void apply_step(struct sim *s, const struct sim_step *st, char *reply, size_t rlen)
{
	long long t = sim_elapsed_s(s);
	struct sim_dev *d = st->dev >= 0 ? &s->model.devs[st->dev] : NULL;

	snprintf(reply, rlen, "ok");
	switch (st->kind) {
	case STEP_SET:
		apply_set(s, st, reply, rlen);
		break;
	case STEP_OFFLINE:
	case STEP_ONLINE:
		d->offline = st->kind == STEP_OFFLINE;
		log_info("sim", "t=%llds %s %s", t, d->offline ? "offline" : "online", d->cfg->id);
		break;
	case STEP_EXCEPTION:
		d->exception = st->code;
		if (st->code)
			log_info("sim", "t=%llds exception %s code %d", t, d->cfg->id, st->code);
		else
			log_info("sim", "t=%llds exception %s cleared", t, d->cfg->id);
		break;
	case STEP_ILLEGAL:
		apply_illegal(s, st, reply, rlen);
		break;
	case STEP_DRIFT:
		s->model.drift = st->drift;
		log_info("sim", "t=%llds drift %s", t, st->drift ? "on" : "off");
		break;
	case STEP_FAULT:
		apply_fault(s, st);
		break;
	case STEP_GET:
		apply_get(s, st, reply, rlen);
		break;
	}
}

/* Ends the faults whose for_s has passed; the next end, or INT64_MAX. */
static int64_t apply_fault_ends(struct sim *s, int64_t now)
{
	int64_t next = INT64_MAX;

	for (size_t k = 0; k < s->cfg->ndevices; k++) {
		struct sim_fault *f = &s->model.devs[k].fault;

		if (f->kind == FAULT_NONE || f->until_ms == 0)
			continue;
		if (now < f->until_ms) {
			next = f->until_ms < next ? f->until_ms : next;
			continue;
		}
		log_info("sim", "t=%llds fault %s %s ended", sim_elapsed_s(s),
			 s->cfg->devices[k].id, frame_fault_name(f->kind));
		f->kind = FAULT_NONE;
	}
	return next;
}

int64_t apply_due(struct sim *s, int64_t now)
{
	int64_t next = apply_fault_ends(s, now);
	char reply[640];

	while (s->next_step < s->nsteps &&
	       s->start_ms + (int64_t)(s->steps[s->next_step].at_s * 1000.0) <= now) {
		apply_step(s, &s->steps[s->next_step], reply, sizeof(reply));
		s->next_step++;
	}
	if (s->next_step < s->nsteps) {
		int64_t due = s->start_ms + (int64_t)(s->steps[s->next_step].at_s * 1000.0);

		next = due < next ? due : next;
	}
	return next;
}

static void control_line(struct sim *s, char *line)
{
	json_error_t jerr;
	json_t *o;
	struct sim_step st;
	struct sim_err e = { 0 };
	char reply[640];

	while (*line == ' ' || *line == '\t' || *line == '\r')
		line++;
	if (*line == '\0')
		return;
	o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		printf("error: invalid JSON at column %d: %s\n", jerr.column, jerr.text);
		goto out;
	}
	if (scenario_parse_step(s, o, "", false, &st, &e) != 0)
		snprintf(reply, sizeof(reply), "error: %s", e.first);
	else
		apply_step(s, &st, reply, sizeof(reply));
	free(st.values);
	json_decref(o);
	printf("%s\n", reply);
out:
	fflush(stdout);
}

void control_read(struct sim *s)
{
	ssize_t n = read(STDIN_FILENO, s->ctl + s->ctl_len, sizeof(s->ctl) - 1 - s->ctl_len);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_info("sim", "control: end of input");
		s->ctl_open = false;
		return;
	}
	s->ctl_len += (size_t)n;
	s->ctl[s->ctl_len] = '\0';
	while ((nl = strchr(s->ctl, '\n')) != NULL) {
		*nl = '\0';
		if (!s->ctl_skip)
			control_line(s, s->ctl);
		s->ctl_skip = false;
		s->ctl_len -= (size_t)(nl + 1 - s->ctl);
		memmove(s->ctl, nl + 1, s->ctl_len + 1);
	}
	if (s->ctl_len == sizeof(s->ctl) - 1) {
		if (!s->ctl_skip) {
			printf("error: line longer than %d bytes\n", SIM_LINE_MAX - 1);
			fflush(stdout);
		}
		s->ctl_skip = true;
		s->ctl_len = 0;
	}
}
