/*
 * fuzz_scenario: libFuzzer target of the simulator's step parser
 * (tests/sim/scenario.c, scenario_parse_step) and of carrying a step out on
 * the register model (tests/sim/apply.c, model.c): what a scenario file or a
 * --control line on the simulator's stdin gives it.
 *
 * The simulator parses steps against its config and model, so the target
 * loads one config once (tests/fuzz/sim-config.json: the shipped profiles
 * and a device with a point of every type, order, bit, scale and
 * decimals_from) and builds a fresh model (seed 1) for every input. The
 * input is JSON: an array is a scenario (each element a step with at_s), an
 * object one control step (without at_s; "get" allowed). Every step that
 * parses is applied, then every point is read back from the model.
 *
 * Checked, whatever the bytes (besides ASan/UBSan): a refused step has an
 * error message, an accepted one none; an accepted step's device, point and
 * values are in range (the kinds' own ranges: code 0..255, start + count <=
 * 65536, a known fault with delay_ms exactly when late, at_s >= 0); applying
 * it answers "ok..." or "error: ..."; reading any point back gives a finite
 * value or a refusal.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/log.h"
#include "../../daemon/util.h"
#include "../sim/scenario.h"
#include "../sim/sim.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STEPS 64          /* steps of one input that are looked at */

static struct config *cfg;

/* main.c's, which the target does not link */
long long sim_elapsed_s(const struct sim *s)
{
	return (long long)((util_mono_ms() - s->start_ms) / 1000);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(LOG_LVL_ERROR);
	cfg = config_load(YW_SRC_DIR "/tests/fuzz/sim-config.json", YW_SRC_DIR "/config/profiles",
			  stderr);
	if (!cfg)
		abort();
	return 0;
}

static bool dev_ok(int dev)
{
	return dev >= 0 && (size_t)dev < cfg->ndevices;
}

static bool pt_ok(int dev, int pt)
{
	return dev_ok(dev) && pt >= 0 && (size_t)pt < cfg->devices[dev].npoints;
}

static void check_step(const struct sim_step *st, bool scenario)
{
	if ((unsigned)st->kind > STEP_GET || (scenario && st->kind == STEP_GET))
		abort();
	if (!isfinite(st->at_s) || st->at_s < 0 || (!scenario && st->at_s != 0))
		abort();
	switch (st->kind) {
	case STEP_SET:
		if (st->nvalues < 1 || !st->values)
			abort();
		for (size_t i = 0; i < st->nvalues; i++)
			if (!pt_ok(st->values[i].dev, st->values[i].pt) ||
			    !isfinite(st->values[i].value))
				abort();
		break;
	case STEP_OFFLINE:
	case STEP_ONLINE:
		if (!dev_ok(st->dev))
			abort();
		break;
	case STEP_EXCEPTION:
		if (!dev_ok(st->dev) || st->code < 0 || st->code > 255)
			abort();
		break;
	case STEP_ILLEGAL:
		if (!dev_ok(st->dev) || (unsigned)st->table >= POINT_NTABLES ||
		    (uint64_t)st->start + st->count > 65536)
			abort();
		break;
	case STEP_FAULT:
		if (!dev_ok(st->dev) || (unsigned)st->fault > FAULT_SILENT ||
		    !isfinite(st->for_s) || st->for_s < 0 || st->delay_ms < 0 ||
		    st->delay_ms > 600000 || (st->fault == FAULT_LATE) != (st->delay_ms > 0) ||
		    (st->fault == FAULT_NONE && st->for_s > 0))
			abort();
		break;
	case STEP_GET:
		if (!pt_ok(st->dev, st->pt))
			abort();
		break;
	case STEP_DRIFT:
		break;
	}
}

static void one_step(struct sim *s, json_t *o, const char *path, bool scenario)
{
	struct sim_err e = { 0 };
	struct sim_step st;
	char reply[640];
	int rc = scenario_parse_step(s, o, path, scenario, &st, &e);

	if (!memchr(e.first, '\0', sizeof e.first))
		abort();
	if (rc != 0) {
		if (rc != -1 || e.n < 1 || e.first[0] == '\0')
			abort();
	} else {
		if (e.n != 0)
			abort();
		check_step(&st, scenario);
		apply_step(s, &st, reply, sizeof reply);
		if (!memchr(reply, '\0', sizeof reply) ||
		    (strncmp(reply, "ok", 2) != 0 && strncmp(reply, "error: ", 7) != 0))
			abort();
	}
	free(st.values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sim s;
	json_error_t jerr;
	json_t *root;

	memset(&s, 0, sizeof s);
	s.cfg = cfg;
	s.bus_filter = -1;
	s.lfd = s.sfd = -1;
	if (model_init(&s.model, cfg, 1) != 0)
		return 0;
	s.start_ms = util_mono_ms();
	root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (root && json_is_array(root)) {
		for (size_t i = 0; i < json_array_size(root) && i < MAX_STEPS; i++) {
			char path[32];

			snprintf(path, sizeof path, "[%zu]", i);
			one_step(&s, json_array_get(root, i), path, true);
		}
	} else if (root) {
		one_step(&s, root, "", false);
	}
	json_decref(root);
	for (size_t k = 0; k < cfg->ndevices; k++)
		for (size_t i = 0; i < cfg->devices[k].npoints; i++) {
			double v;

			if (model_read_point(&s.model.devs[k], i, &v) == 0 && !isfinite(v))
				abort();
		}
	model_free(&s.model);
	return 0;
}
