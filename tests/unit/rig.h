/*
 * rig: fixtures of the unit tests that drive the real simulator (see
 * rig.c). Not thread-safe; one rig at a time.
 */
#ifndef YW_TEST_RIG_H
#define YW_TEST_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../daemon/bus.h"
#include "../../daemon/config.h"

extern char tmpdir[64];          /* the scratch directory of this test program */
extern char sim_bin[1024];       /* YW_BIN/yardwatch-sim */
extern char profiles_dir[1024];  /* YW_SRC/config/profiles */

struct sim {
	pid_t pid;
	int ctl;                  /* its stdin: control steps */
	int out;                  /* its stdout: one reply per step */
	int port;                 /* TCP port it listens on */
	char name[32];
	char log[128], stats[128];
	char rbuf[4096];
	size_t rlen;
};

struct tally {
	int polls[8], ok[8], failed[8];
	int timeouts[8], other[8];
	int max_consec[8];
};

/* A bus worker over the simulator: config NAME.json, the simulator serving
 * it on a free TCP port (the config's first bus points there), a queue and,
 * after rig_start(), the worker of bus 0. */
struct rig {
	struct sim s;
	struct config *cfg;
	struct bus_queue *q;
	struct bus_worker *w;
};

int64_t now_ms(void);
void sleep_ms(int ms);
int write_file(const char *path, const char *text);
void reap(pid_t pid, int ms);
int sim_line(struct sim *s, char *line, size_t len, int ms);
int sim_ctl(struct sim *s, const char *step, char *reply, size_t rlen);
int sim_start(struct sim *s, const char *name, const char *cfg, int port, const char *tty);
void sim_stop(struct sim *s, int sig);
long sim_requests(struct sim *s, const char *dev, const char *field);
long sim_requests_settled(struct sim *s, const char *dev, const char *field);
long sim_requests_reach(struct sim *s, const char *dev, const char *field, long at_least);
bool sim_get_is(struct sim *s, const char *point, const char *want);
struct config *load_cfg(const char *name, const char *json, int port, char *path, size_t plen);
void tally_add(struct tally *t, const struct bus_result *r);
void pending_free(void);
struct bus_result *wait_result(struct bus_queue *q, enum bus_result_kind kind, int dev, int timeout_ms, struct tally *t);
void drain(struct bus_queue *q, int ms, struct tally *t);
struct bus_result *command(struct bus_worker *w, struct bus_queue *q, int dev, int pt, bool write, double value);
bool near(double a, double b);
int start_socat(const char *a, const char *b);
void stop_socat(void);

/* Write JSON as NAME.json, load it, start the simulator on it, make the
 * queue. 0 / -1 (rig_down() cleans up either way). */
int rig_up(struct rig *g, const char *name, const char *json);
/* Start the worker of bus 0. 0 / -1. */
int rig_start(struct rig *g);
/* Stop the worker, free the results, stop the simulator, free the config. */
void rig_down(struct rig *g);

/* Make the scratch directory /tmp/yw-test-NAME-XXXXXX and find the
 * simulator and the profiles. 0 / -1. */
int rig_setup(const char *name);
/* Remove the scratch directory and what is in it. */
void rig_teardown(void);
/* Run one test case FN, printing its name, time and whether it failed
 * (RIG_FAILED: the test program's failure counter). */
extern int *rig_failed;
void rig_run(const char *name, void (*fn)(void));

#endif
