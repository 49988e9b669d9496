/*
 * main_links: what the daemon starts and stops besides the gateway: the
 * bus workers (a worker per bus with enabled devices; a replaced one
 * retires until it has closed its line) and the MQTT links (one per link of
 * the config, kept over a reload while nothing they were made from
 * changed). See main_int.h.
 */
#include "main_int.h"


static bool bus_has_devices(const struct config *cfg, size_t b)
{
	for (size_t d = 0; d < cfg->ndevices; d++)
		if (cfg->devices[d].bus == (int)b && cfg->devices[d].enabled)
			return true;
	return false;
}

/* Start the worker of bus B, unless a retiring worker still holds its line:
 * then it waits (run() starts it once that worker has finished). */
void start_bus(struct daemon *dm, size_t b)
{
	const struct bus_cfg *bc = &dm->cfg->buses[b];

	for (size_t i = 0; i < dm->nretiring; i++) {
		if (bus_same_line(dm->retiring[i], dm->cfg, (int)b)) {
			if (!dm->waiting[b])
				log_info("bus", "%s: waits until the old worker has closed %s", bc->id,
					 bc->type == BUS_RTU ? bc->device : bc->host);
			dm->waiting[b] = true;
			return;
		}
	}
	dm->waiting[b] = false;
	dm->workers[b] = bus_start(dm->cfg, (int)b, dm->q);
	if (!dm->workers[b])
		log_error("bus", "%s: worker could not start", bc->id);
}

/* Workers for every bus of dm->cfg with enabled devices: one of KEPT when
 * it runs exactly that bus (it goes on polling, its connection open), else
 * a new one. KEPT entries taken are set to NULL. */
int start_workers(struct daemon *dm, struct bus_worker **kept, size_t nkept)
{
	size_t n = dm->cfg->nbuses ? dm->cfg->nbuses : 1;

	dm->workers = calloc(n, sizeof *dm->workers);
	dm->waiting = calloc(n, sizeof *dm->waiting);
	if (!dm->workers || !dm->waiting)
		return -1;
	dm->nworkers = dm->cfg->nbuses;
	for (size_t b = 0; b < dm->cfg->nbuses; b++) {
		if (!bus_has_devices(dm->cfg, b))
			continue;
		for (size_t k = 0; k < nkept && !dm->workers[b]; k++) {
			if (kept[k] && bus_runs(kept[k], dm->cfg, (int)b)) {
				dm->workers[b] = kept[k];
				kept[k] = NULL;
			}
		}
		if (!dm->workers[b])
			start_bus(dm, b);
	}
	return 0;
}

/* Ask W to stop; it retires until it has finished. */
void retire(struct daemon *dm, struct bus_worker *w)
{
	struct bus_worker **r = realloc(dm->retiring, (dm->nretiring + 1) * sizeof *r);

	bus_stop_ask(w);
	if (!r) {
		/* cannot track it: wait for it here (it frees its line) */
		log_error("bus", "out of memory: waiting for the worker of %s", bus_id(w));
		while (!bus_stop_wait(w, 1000))
			;
		return;
	}
	dm->retiring = r;
	dm->retiring[dm->nretiring++] = w;
}

/* Wait for the retiring workers, all of them within BUDGET_MS (each gets
 * what is left; 0: just look); those finished are freed. Then start the
 * buses that waited for a line now free. */
void reap_retiring(struct daemon *dm, int budget_ms)
{
	int64_t deadline = util_mono_ms() + budget_ms;
	size_t k = 0;

	for (size_t i = 0; i < dm->nretiring; i++) {
		int64_t left = deadline - util_mono_ms();
		if (!bus_stop_wait(dm->retiring[i], left > 0 ? (int)left : 0))
			dm->retiring[k++] = dm->retiring[i];
	}
	dm->nretiring = k;
	for (size_t b = 0; b < dm->nworkers; b++)
		if (dm->waiting[b])
			start_bus(dm, b);
}

/* Stop every worker, in parallel, within BUDGET_MS in all: all are asked at
 * once, then each is joined with the time left. One still running then is
 * left behind (only at exit: it frees itself). */
void stop_workers(struct daemon *dm, int budget_ms)
{
	for (size_t b = 0; b < dm->nworkers; b++) {
		if (dm->workers[b])
			retire(dm, dm->workers[b]);
		dm->workers[b] = NULL;
		dm->waiting[b] = false;
	}
	reap_retiring(dm, budget_ms);
	for (size_t i = 0; i < dm->nretiring; i++)
		bus_detach(dm->retiring[i]);
	free(dm->retiring);
	dm->retiring = NULL;
	dm->nretiring = 0;
	free(dm->workers);
	free(dm->waiting);
	dm->workers = NULL;
	dm->waiting = NULL;
	dm->nworkers = 0;
}

/* The identity of the TLS files of link L (zeroed when absent or
 * unreadable): a reload that brings a new certificate under the same name
 * restarts the link. */
static void link_files(const struct mqtt_cfg *l, struct stat st[3])
{
	const char *f[3] = { l->ca_file, l->cert_file, l->key_file };
	for (int i = 0; i < 3; i++)
		if (!*f[i] || stat(f[i], &st[i]) != 0)
			memset(&st[i], 0, sizeof st[i]);
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Whether running link I can go on as link B of config N: nothing it was
 * made from changed (its keys but telemetry, select and the commands' use,
 * which the gateway reads; its command subscriptions; the TLS files'
 * contents; the site and gateway ids in its topics). */
bool link_same(const struct daemon *dm, size_t i, const struct config *n,
		      const struct mqtt_cfg *b)
{
	const struct mqtt_cfg *a = config_link(dm->cfg, i);
	struct stat st[3];

	if (!dm->links[i] || !a || a->nbrokers != b->nbrokers || strcmp(a->id, b->id) != 0)
		return false;
	for (size_t k = 0; k < a->nbrokers; k++)
		if (a->brokers[k].tls != b->brokers[k].tls || a->brokers[k].port != b->brokers[k].port ||
		    strcmp(a->brokers[k].host, b->brokers[k].host) != 0)
			return false;
	if (strcmp(a->client_id, b->client_id) || strcmp(a->username, b->username) ||
	    strcmp(a->password, b->password) || strcmp(a->ca_file, b->ca_file) ||
	    strcmp(a->cert_file, b->cert_file) || strcmp(a->key_file, b->key_file) ||
	    strcmp(a->topic_prefix, b->topic_prefix) || a->keepalive_s != b->keepalive_s ||
	    a->command_qos != b->command_qos || a->commands != b->commands ||
	    strcmp(dm->cfg->site_id, n->site_id) || strcmp(dm->cfg->gateway, n->gateway))
		return false;
	link_files(b, st);
	for (int k = 0; k < 3; k++)
		if (!same_stat(&st[k], &dm->link_files[i][k]))
			return false;
	return true;
}

/* Make link I of the config (its callbacks' context is the gateway's state
 * of that link). */
int start_link(struct daemon *dm, size_t i)
{
	const struct mqtt_cfg *l = config_link(dm->cfg, i);
	static const char *const verbs[] = { "ack", "write", "read" };
	char subs[MQTT_SUBS_MAX][YW_TEXT_MAX * 3];
	const char *sp[MQTT_SUBS_MAX + 1] = { 0 };
	size_t ns = 0;
	char *will;

	if (!l || dm->links[i])
		return 0;
	will = gateway_will_payload();
	if (!will)
		return -1;
	/* only the command topics the link may use */
	if (l->commands == (LINK_CMD_ACK | LINK_CMD_WRITE | LINK_CMD_READ)) {
		snprintf(subs[ns], sizeof subs[ns], "%s/%s/%s/cmd/+", l->topic_prefix,
			 dm->cfg->site_id, dm->cfg->gateway);
		sp[ns] = subs[ns];
		ns++;
	} else {
		for (int k = 0; k < 3; k++)
			if (l->commands & (1u << k)) {
				snprintf(subs[ns], sizeof subs[ns], "%s/%s/%s/cmd/%s", l->topic_prefix,
					 dm->cfg->site_id, dm->cfg->gateway, verbs[k]);
				sp[ns] = subs[ns];
				ns++;
			}
	}
	link_files(l, dm->link_files[i]);
	dm->links[i] = mqtt_new(l, gateway_link_status_topic(dm->gw, i), will, ns ? sp : NULL,
				&gateway_mqtt_callbacks, gateway_link_ctx(dm->gw, i));
	free(will);
	return dm->links[i] ? 0 : -1;
}

int start_links(struct daemon *dm)
{
	int rc = 0;

	dm->nlinks = config_nlinks(dm->cfg);
	for (size_t i = 0; i < dm->nlinks; i++)
		if (start_link(dm, i) < 0)
			rc = -1;
	return rc;
}

/* Stop link I; CLEAN: publish the offline status and disconnect cleanly. */
void stop_link(struct daemon *dm, size_t i, bool clean)
{
	if (!dm->links[i])
		return;
	if (clean && mqtt_connected(dm->links[i])) {
		char *p = gateway_shutdown_payload();
		if (p)
			mqtt_shutdown(dm->links[i], gateway_link_status_topic(dm->gw, i), p, 1000);
		free(p);
	}
	mqtt_free(dm->links[i]);
	dm->links[i] = NULL;
}

void stop_links(struct daemon *dm, bool clean)
{
	for (size_t i = 0; i < CONFIG_LINKS_MAX; i++)
		stop_link(dm, i, clean);
}

