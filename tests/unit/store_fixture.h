/*
 * store_fixture: the shared fixtures of the store's unit tests
 * (test_store.c, test_store_events.c, test_store_retention.c,
 * test_store_journal.c, test_store_cli.c); store_fixture.c has the details.
 */
#ifndef YW_TEST_STORE_FIXTURE_H
#define YW_TEST_STORE_FIXTURE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../daemon/store.h"

#define HOUR 3600000LL
#define DAY 86400000LL

extern char tmpdir[256];     /* the test's temporary directory */
extern char cli_bin[1024];   /* $YW_BIN/yardwatch, set by cli_init() */
extern sqlite3 *jdb;         /* in-memory, for json_extract; NULL until cli_init() */

/* A temporary directory /tmp/yw-test-NAME-XXXXXX (exits when it cannot);
 * fx_done() removes it and closes jdb. */
void fx_init(const char *name);
void fx_done(void);
void path_of(char *buf, size_t len, const char *name);   /* tmpdir/NAME */

/* A second connection for checking what the store wrote (aborts when it
 * cannot open PATH); one integer (-999999 on error or no row), real (NAN)
 * or text ("(null)" for NULL) from SQL given printf-style; SQL that must
 * work (aborts otherwise). */
sqlite3 *peek_open(const char *path);
int64_t q_int(sqlite3 *db, const char *fmt, ...);
double q_real(sqlite3 *db, const char *fmt, ...);
char *q_text(sqlite3 *db, char *buf, size_t len, const char *fmt, ...);
void exec_sql(sqlite3 *db, const char *sql);

/* Devices: 0 b3-pressure (pressure: float32 MPa deadband 0.01; dp: int16),
 * 1 b3-meter (energy: float32 kWh, max interval 60 s; relay: bool) when
 * WITH_METER, then b9-spare (disabled; x: int16). Site mangshi-hs07,
 * gateway gw1, bus lan, retention 90 days, max_mb 256. */
struct config *cfg_new(bool with_meter);
void cfg_free(struct config *c);
/* NDEV enabled devices d000.. with NPTS float32 points p0.. each (deadband
 * 0), the rest as cfg_new. */
struct config *cfg_many(int ndev, int npts);
/* What the store at PATH takes on disk: the file plus its -wal (*WAL: the
 * -wal alone, when not NULL). */
int64_t footprint(const char *path, int64_t *wal);
/* store_open + store_configure, aborting on failure. */
struct store *open_cfg(const char *path, const struct config *cfg);

/* An event JSON as the gateway publishes it (malloc'd), and its commit
 * through store_commit_event with the topic of the alarm's category. */
char *event_json(int64_t seq, const char *alarm, const char *state, const char *sev,
		 const char *cat, int64_t ts, int64_t raised, double value);
int commit_ev(struct store *st, int64_t seq, const char *alarm, enum alarm_event ev,
	      enum yw_category cat, enum yw_severity sev, int64_t ts, bool active);

/* Count of POINT's ('device.point') readings in VIEW; the value stored at
 * TS for POINT is exactly V (NAN: NULL), bit for bit. */
int64_t n_in(sqlite3 *db, const char *view, const char *point);
bool value_is(sqlite3 *db, const char *pt, int64_t ts, double v);

/* The command line: cli_init() finds the binary ($YW_BIN) and opens jdb
 * (false, said on stderr, when the binary is missing); run_cli runs it with
 * ARGS (a shell fragment, printf-style), stdout into *OUT (malloc'd), and
 * returns the exit status (-1 when it could not run). */
bool cli_init(void);
int run_cli(char **out, const char *fmt, ...);
/* json_extract(DOC, PATH) as text ("(null)" for null / missing); equal to
 * WANT (a mismatch said on stderr); as a number; json_type is WANT; array
 * length; number of keys of the object. */
char *jtext(const char *doc, const char *path, char *buf, size_t len);
bool jis(const char *doc, const char *path, const char *want);
double jnum(const char *doc, const char *path);
bool jtype(const char *doc, const char *path, const char *want);
int64_t jlen(const char *doc, const char *path);
int64_t jkeys(const char *doc, const char *path);

#endif
