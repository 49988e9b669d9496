/*
 * scenario: steps, as a scenario file or a --control line gives them.
 * Parses and validates them against the config and the model (every error
 * with its JSON path); apply.c carries them out.
 */
#ifndef YW_SIM_SCENARIO_H
#define YW_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "model.h"

struct sim;

enum step_kind {
	STEP_SET, STEP_OFFLINE, STEP_ONLINE, STEP_EXCEPTION, STEP_ILLEGAL, STEP_DRIFT,
	STEP_FAULT, STEP_GET
};

struct step_value {
	int dev, pt;
	double value;
};

struct sim_step {
	double at_s;
	size_t index;            /* position in the scenario file */
	enum step_kind kind;
	int dev, pt;             /* offline/online/exception/illegal/fault; get */
	int code;                /* exception */
	enum yw_table table;     /* illegal */
	uint32_t start, count;
	bool drift;
	enum fault_kind fault;   /* fault; FAULT_NONE clears */
	double for_s;            /* fault: 0 = for ever */
	int delay_ms;            /* fault late */
	bool have_key;           /* while parsing: the action's required key was given */
	struct step_value *values; /* set: owned */
	size_t nvalues;
};

/* Errors: a scenario's go to stderr as "FILE: PATH: message"; the first is kept. */
struct sim_err {
	const char *file;        /* NULL: control (nothing printed) */
	int n;
	char first[512];
};

/* Parses step object O at PATH into ST; SCENARIO: at_s required, no "get".
 * -1 after errors (in E). ST's values are owned by the caller. */
int scenario_parse_step(struct sim *s, json_t *o, const char *path, bool scenario,
			struct sim_step *st, struct sim_err *e);
/* Loads and validates FILE into s->steps (sorted); -1 after printing every error. */
int scenario_load(struct sim *s, const char *file);
/* Releases N steps. */
void scenario_free(struct sim_step *steps, size_t n);

#endif
