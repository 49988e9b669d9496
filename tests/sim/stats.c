/*
 * stats: the request counts as one JSON object, written to the --stats file
 * (a temp file renamed over it, so a reader never sees half a file) or, on
 * SIGUSR1, to stdout. The counts themselves live in the model.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/log.h"
#include "../../daemon/util.h"
#include "sim.h"

void stats_print(const struct sim *s, FILE *f)
{
	static const int shown[] = { 1, 2, 3, 4, 5, 6, 15, 16 };
	const struct sim_model *m = &s->model;
	uint64_t total = 0, ignored = 0;

	for (size_t k = 0; k < s->cfg->ndevices; k++) {
		total += m->devs[k].count.requests;
		ignored += m->devs[k].count.ignored;
	}
	fprintf(f, "{\"requests_total\": %llu, \"ignored_total\": %llu, \"unknown_unit\": %llu, "
		"\"bad_frames\": %llu, \"devices\": {", (unsigned long long)total,
		(unsigned long long)ignored, (unsigned long long)m->unknown_unit,
		(unsigned long long)m->bad_frames);
	for (size_t k = 0; k < s->cfg->ndevices; k++) {
		const struct sim_count *c = &m->devs[k].count;

		fprintf(f, "%s\"%s\": {\"requests\": %llu, \"reads\": %llu, \"writes\": %llu, "
			"\"exceptions\": %llu, \"ignored\": %llu, \"faulted\": %llu", k ? ", " : "",
			s->cfg->devices[k].id, (unsigned long long)c->requests,
			(unsigned long long)c->reads, (unsigned long long)c->writes,
			(unsigned long long)c->exceptions, (unsigned long long)c->ignored,
			(unsigned long long)c->faulted);
		for (int fc = 1; fc < SIM_NFC; fc++) {
			bool always = false;

			for (size_t j = 0; j < sizeof(shown) / sizeof(shown[0]); j++)
				always |= shown[j] == fc;
			if (always || c->fc[fc])
				fprintf(f, ", \"fc%d\": %llu", fc, (unsigned long long)c->fc[fc]);
		}
		fputc('}', f);
	}
	fputs("}}\n", f);
}

void stats_write(struct sim *s)
{
	char tmp[YW_PATH_MAX + 16];
	FILE *f;
	bool ok;

	s->model.dirty = false;
	s->stats_last_ms = util_mono_ms();
	if (!s->stats_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->stats_path);
	f = fopen(tmp, "w");
	if (!f)
		goto out_fail;
	stats_print(s, f);
	ok = !ferror(f);
	if (fclose(f) != 0 || !ok || rename(tmp, s->stats_path) != 0) {
		unlink(tmp);
		goto out_fail;
	}
	s->stats_warned = false;
	return;

out_fail:
	if (!s->stats_warned)
		log_warn("sim", "stats %s: %s", s->stats_path, strerror(errno));
	s->stats_warned = true;
}
