/*
 * gw_live: the running gateway as the status page shows it (http_live.h):
 * the daemon's start, the clock, each MQTT link with its queue, the buses
 * a worker polls. Filled by the main loop, about once a second; the page's
 * thread reads the copy, never the gateway.
 */
#include "gw_int.h"

#include "http_live.h"

void gateway_live(const struct gateway *gw, struct http_live *l)
{
	l->started_ms = gw->started_ms;
	l->clock_set = clock_is_set();
	/* the one link of today; l->uplinks is a list for the links to come */
	if (gw->link)
		(void)http_live_uplink(l, "mqtt", mqtt_connected(gw->link),
				       store_outbox_depth(gw->st) + (int64_t)gw->nheld);
	for (size_t b = 0; b < l->nbuses && b < gw->cfg->nbuses; b++)
		l->buses[b].polled = gw->workers && gw->workers[b] != NULL;
}
