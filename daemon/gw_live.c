/*
 * gw_live: the running gateway as the status page shows it (http_live.h):
 * the daemon's start, the clock, each MQTT link with its queue, the buses
 * a worker polls, each device's state and last good poll, each point's
 * latest value and quality, each alarm's state and latest event. Filled by
 * the main loop about once a second; the page's thread reads the copy,
 * never the gateway.
 */
#include "gw_int.h"

#include "http_live.h"

/* The gateway's device of the view's device D (the same config but for a
 * reload in between): its index, or -1. */
static int live_device(const struct gateway *gw, const struct http_view *v, size_t d)
{
	const struct config *cfg = gw->cfg;
	int i = d < cfg->ndevices && strcmp(cfg->devices[d].id, v->devs[d].id) == 0 ? (int)d :
		config_find_device(cfg, v->devs[d].id);

	return i >= 0 && cfg->devices[i].npoints == v->devs[d].npoints ? i : -1;
}

void gateway_live(const struct gateway *gw, struct http_live *l)
{
	const struct http_view *v = l->view;

	l->started_ms = gw->started_ms;
	l->clock_set = clock_is_set();
	/* every MQTT link, the mqtt section's first */
	for (size_t i = 0; i < gw->nul; i++) {
		int64_t oldest = 0, depth = gw_link_depth(gw->ul[i], &oldest);
		(void)http_live_uplink(l, gw->ul[i]->id, gw_link_up(gw->ul[i]), depth, oldest);
	}
	for (size_t b = 0; b < v->nbuses && b < gw->cfg->nbuses; b++)
		l->bus_polled[b] = gw->workers && gw->workers[b] != NULL &&
				   strcmp(gw->cfg->buses[b].id, v->buses[b]) == 0;
	for (size_t d = 0; d < v->ndevs; d++) {
		int i = live_device(gw, v, d);
		if (i < 0)
			continue;
		const struct dev_rt *dr = &gw->devs[i];
		l->devs[d].state = dr->state;
		l->devs[d].last_ok_ms = dr->last_ok_ms;
		l->devs[d].offline_active = dr->off.active;
		memcpy(&l->values[v->devs[d].first], dr->values, dr->npoints * sizeof *dr->values);
		memcpy(&l->quality[v->devs[d].first], dr->quality, dr->npoints);
		if (dr->off.active && dr->off_event)
			(void)http_live_event(l, dr->off_event);
	}
	for (size_t a = 0; a < v->nalarms; a++) {
		int i = a < gw->cfg->nalarms && strcmp(gw->cfg->alarms[a].id, v->alarms[a].id) == 0 ?
			(int)a : config_find_alarm(gw->cfg, v->alarms[a].id);
		if (i < 0 || !gw->alarms[i].st.active)
			continue;
		l->alarm_active[a] = true;
		if (gw->alarms[i].event)
			(void)http_live_event(l, gw->alarms[i].event);
	}
}
