/*
 * http_fixture: a fixed store for the status page's unit tests
 * (test_http.c, test_http_server.c): the store fixture's config
 * (b3-pressure, b3-meter, b9-spare disabled) with text that must be escaped
 * (a location with markup, a unit with a quote, a backslash and a newline),
 * the alarm b3-fire-pressure-low (below 0.10, clear 0.12, critical, fire)
 * and 24 h of readings up to HFX_NOW: the pressure drifts around 0.35, is
 * stale for an hour at HFX_NOW - 12 h, and is 0.08 for the last 10 minutes,
 * with the alarm active (raised at HFX_NOW - 10 min, not acknowledged);
 * b3-meter is offline since HFX_NOW - 5 min.
 */
#ifndef YW_TEST_HTTP_FIXTURE_H
#define YW_TEST_HTTP_FIXTURE_H

#include "../../daemon/http.h"
#include "../../daemon/http_live.h"
#include "store_fixture.h"

#define HFX_NOW 1795666200000LL         /* 2026-11-26T04:10:00Z */
#define HFX_LOCATION "Pump <script>alert(1)</script> room & \"east\""
#define HFX_UNIT "k\"W\\h\nx"

/* The config (hfx_config_free frees it). */
struct config *hfx_config(void);
void hfx_config_free(struct config *c);
/* Fill a new store at PATH as said above and close it. */
void hfx_store(const struct config *c, const char *path);
/* A live snapshot of the same: started at HFX_NOW - 1 day, clock set, link
 * mqtt connected with 2 queued, bus lan polled (1 good poll with 2
 * exceptions, 1 failed with 3 timeouts); b3-pressure online (pressure
 * 0.08, dp 23, b3-fire-pressure-low active), b3-meter offline since
 * HFX_NOW - 5 min (its offline alarm active), b9-spare disabled. Against
 * the view of C, or with H, against the server's (http_snapshot). */
struct http_live *hfx_live(const struct config *c, struct http *h);

#endif
