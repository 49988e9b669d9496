/*
 * gateway: the state of the running gateway, owned by the main loop. It takes
 * the bus workers' poll results and turns them into stored readings, device
 * states and alarm events; commits every event durably (with its outbox row)
 * before anything is sent; drives the outbox over the MQTT link (PUBACK
 * deletes a row, alarm events first, a bounded number in flight); answers the
 * MQTT commands; publishes status and telemetry.
 *
 * It does not own the config, the store, the workers or the link: main.c
 * creates and frees them, and hands them in here.
 */
#ifndef YW_GATEWAY_H
#define YW_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "store.h"
#include "bus.h"
#include "mqtt.h"

struct gateway;

/* Create the gateway state for CFG over ST (alarm states are loaded from the
 * store). NULL on error (logged). */
struct gateway *gateway_new(const struct config *cfg, struct store *st);
void gateway_free(struct gateway *gw);

/* Attach the workers (array of cfg->nbuses, entries may be NULL for a bus
 * without enabled devices) and the MQTT links LINKS[0..N) in the order of
 * config_link() (entries may be NULL; N 0: store-only). A link that is not
 * the one attached before starts its sending afresh. */
void gateway_attach(struct gateway *gw, struct bus_worker **workers, struct mqtt_link **links,
		    size_t n);

/* The context to give the callbacks (gateway_mqtt_callbacks) of link I of
 * the config (config_link order); stable while the link's id stays in the
 * config. Its P/status topic (for the Last Will and the clean stop). */
void *gateway_link_ctx(struct gateway *gw, size_t i);
const char *gateway_link_status_topic(const struct gateway *gw, size_t i);

/* Switch to a new config after a reload. Device runtime state and alarm state
 * carry over by id. The caller re-attaches workers afterwards. 0 / -1 (the
 * old config stays in use). */
int gateway_reconfigure(struct gateway *gw, const struct config *cfg);

/* The control socket (ctl.h; NULL: none). Its requests go to
 * gateway_ctl_request (pass GW as ctx to ctl_open). */
struct ctl;
void gateway_attach_ctl(struct gateway *gw, struct ctl *ctl);
void gateway_ctl_request(void *ctx, uint32_t token, const char *line, size_t len);

/* A result from a bus worker (ownership stays with the caller). */
void gateway_on_result(struct gateway *gw, const struct bus_result *r);

/* MQTT callbacks (pass GW as ctx to mqtt_new). */
extern const struct mqtt_callbacks gateway_mqtt_callbacks;

/* Timers: run what is due at NOW (monotonic ms); returns ms until the next. */
int gateway_tick(struct gateway *gw, int64_t now_mono_ms);

/* The live state the status page shows (http_live.h), into L, whose
 * buses are GW's config's (gw_live.c). */
struct http_live;
void gateway_live(const struct gateway *gw, struct http_live *l);

/* Commit everything pending to the store (before a stop). */
void gateway_flush(struct gateway *gw);

/* The Last Will and the clean-stop payloads (malloc'd, caller frees). */
char *gateway_will_payload(void);
char *gateway_shutdown_payload(void);

#endif
