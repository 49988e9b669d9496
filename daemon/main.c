/*
 * yardwatchd: argv, start-up order, the poll() loop, signals, reload and the
 * reverse teardown. The only file that wires the modules together.
 */
#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#ifdef YW_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "bus.h"
#include "config.h"
#include "ctl.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "mqtt.h"
#include "store.h"
#include "util.h"
#include "version.h"

#include "main_int.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: yardwatchd [-c FILE] [--check-config] "
		   "[--log-level error|warn|info|debug] [--version]\n");
}

/* --help: the usage line and every option of yardwatchd(8). */
static void help(FILE *f)
{
	usage(f);
	fputs("\n"
	      "Poll the Modbus devices of the config, store their readings, evaluate the\n"
	      "alarms and publish them over MQTT; runs in the foreground.\n"
	      "\n"
	      "  -c, --config FILE  the configuration (default /etc/yardwatch/yardwatch.json);\n"
	      "                     relative paths in it are relative to its directory\n"
	      "  --check-config     load and check the configuration, every profile it names\n"
	      "                     and the files it names; print \"ok: N buses, N devices,\n"
	      "                     N points, N alarms\" and exit 0, or every error (FILE:\n"
	      "                     JSON.PATH: message) and exit 78\n"
	      "  --log-level LEVEL  error, warn, info or debug; overrides the config's log_level\n"
	      "  --version          print \"yardwatchd VERSION\" and exit\n"
	      "  -h, --help         print this help and exit\n"
	      "\n"
	      "Exit status: 0 clean stop, 64 bad usage, 78 bad config, 1 other fatal errors.\n"
	      "SIGHUP reloads the configuration; SIGTERM stops. See yardwatchd(8).\n", f);
}

static void notify(const char *state)
{
#ifdef YW_HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

/* ---------- control socket ---------- */

/* Open the control socket the config names (none for null); on failure
 * (logged) the daemon runs without it: polling and alarms come first. */
static void start_ctl(struct daemon *dm)
{
	if (dm->cfg->control_socket[0])
		dm->ctl = ctl_open(dm->cfg->control_socket, gateway_ctl_request, dm->gw);
	gateway_attach_ctl(dm->gw, dm->ctl);
}

static void stop_ctl(struct daemon *dm)
{
	if (dm->gw)
		gateway_attach_ctl(dm->gw, NULL);
	ctl_close(dm->ctl);
	dm->ctl = NULL;
}

/* ---------- bus results, the status page ---------- */

/* The workers' results, oldest first, into the gateway (and the page's counters). */
static void take_results(struct daemon *dm)
{
	for (struct bus_result *r = bus_queue_take(dm->q), *next; r; r = next) {
		next = r->next;
		http_counts_add(&dm->counts, dm->cfg, r);
		gateway_on_result(dm->gw, r);
		bus_result_free(r);
	}
}

/* Hand the status page a snapshot of the gateway, once a second. */
static void publish_live(struct daemon *dm, int64_t now)
{
	struct http_live *l;

	if (!dm->http || now < dm->next_live)
		return;
	dm->next_live = now + LIVE_MS;
	l = http_snapshot(dm->http, &dm->counts);
	if (l) {
		gateway_live(dm->gw, l);
		http_publish(dm->http, l);
	}
}

/* ---------- reload ---------- */

static int find_bus(const struct config *cfg, const char *id)
{
	for (size_t b = 0; b < cfg->nbuses; b++)
		if (strcmp(cfg->buses[b].id, id) == 0)
			return (int)b;
	return -1;
}

static void reload(struct daemon *dm)
{
	char *errs = NULL;
	size_t errlen = 0;
	FILE *ef = open_memstream(&errs, &errlen);
	struct config *ncfg;

	log_info("main", "SIGHUP: reloading %s", dm->config_path);
	ncfg = ef ? config_load(dm->config_path, NULL, ef) : NULL;
	if (ef)
		fclose(ef);
	if (errs && *errs) {
		char *save = NULL;
		for (char *line = strtok_r(errs, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, "warning: ", 9) == 0)
				log_warn("config", "%s", line + 9);
			else
				log_error("config", "%s", line);
		}
	}
	free(errs);
	if (!ncfg) {
		log_error("main", "reload refused: the new config is invalid; the running one stays");
		return;
	}
	if (strcmp(ncfg->storage_path, dm->cfg->storage_path) != 0)
		log_warn("main", "storage.path changed to %s: takes effect at the next restart",
			 ncfg->storage_path);
	util_strlcpy(ncfg->storage_path, dm->cfg->storage_path, sizeof ncfg->storage_path);

	/* A worker that runs exactly what the new config says for its bus goes
	 * on (no gap in polling, its connection stays open); the others are
	 * asked to stop, all at once, and retire until they have finished. */
	size_t nkept = dm->nworkers;
	struct bus_worker **kept = calloc(nkept ? nkept : 1, sizeof *kept);
	for (size_t b = 0; b < dm->nworkers; b++) {
		struct bus_worker *w = dm->workers[b];
		int nb = find_bus(ncfg, dm->cfg->buses[b].id);
		if (!w)
			continue;
		if (kept && nb >= 0 && bus_runs(w, ncfg, nb)) {
			kept[b] = w;
			log_info("bus", "%s: unchanged, keeps polling", bus_id(w));
		} else {
			log_info("bus", "%s: %s, restarting its worker", bus_id(w),
				 nb >= 0 ? "changed" : "removed");
			retire(dm, w);
		}
	}
	free(dm->workers);
	free(dm->waiting);
	dm->workers = NULL;
	dm->waiting = NULL;
	dm->nworkers = 0;
	reap_retiring(dm, RELOAD_JOIN_MS);
	/* Results still queued refer to the old config: apply them first. */
	take_results(dm);
	gateway_flush(dm->gw);
	/* A link keeps its own copy of what it was made from: it goes on when
	 * none of that changed (the session and its subscription stay), else
	 * it is made anew; a link gone from the config says goodbye (its
	 * recipient sees it offline) and its queue is dropped. */
	struct mqtt_link *kept_links[CONFIG_LINKS_MAX] = { 0 };
	struct stat kept_files[CONFIG_LINKS_MAX][3];
	size_t nnew = config_nlinks(ncfg);
	for (size_t i = 0; i < dm->nlinks; i++) {
		const struct mqtt_cfg *a = config_link(dm->cfg, i);
		size_t j;
		for (j = 0; j < nnew && strcmp(config_link(ncfg, j)->id, a->id) != 0; j++)
			;
		if (j < nnew && link_same(dm, i, ncfg, config_link(ncfg, j))) {
			log_info("mqtt", "link %s: unchanged, the session stays", a->id);
			kept_links[j] = dm->links[i];
			memcpy(kept_files[j], dm->link_files[i], sizeof kept_files[j]);
			dm->links[i] = NULL;
		} else {
			if (j == nnew)
				log_info("mqtt", "link %s: removed", a->id);
			stop_link(dm, i, j == nnew);
		}
	}
	if (store_configure(dm->st, ncfg) < 0 || gateway_reconfigure(dm->gw, ncfg) < 0) {
		log_error("main", "reload failed applying the new config; keeping the old one");
		store_configure(dm->st, dm->cfg);
		/* the kept links go back to their places in the old config */
		for (size_t j = 0; j < nnew; j++) {
			if (!kept_links[j])
				continue;
			for (size_t i = 0; i < dm->nlinks; i++)
				if (strcmp(config_link(dm->cfg, i)->id, config_link(ncfg, j)->id) == 0) {
					dm->links[i] = kept_links[j];
					memcpy(dm->link_files[i], kept_files[j], sizeof kept_files[j]);
				}
		}
		config_free(ncfg);
	} else {
		bool ctl_moved = strcmp(dm->cfg->control_socket, ncfg->control_socket) != 0;
		const char *ids[CONFIG_LINKS_MAX];
		memcpy(dm->links, kept_links, sizeof kept_links);
		memcpy(dm->link_files, kept_files, sizeof kept_files);
		dm->nlinks = nnew;
		for (size_t j = 0; j < nnew; j++)
			ids[j] = config_link(ncfg, j)->id;
		int64_t dropped = store_outbox_drop_others(dm->st, ids, nnew);
		if (dropped > 0)
			log_warn("mqtt", "%lld queued message%s of removed links dropped",
				 (long long)dropped, dropped == 1 ? "" : "s");
		config_free(dm->cfg);
		dm->cfg = ncfg;
		if (ctl_moved) {
			stop_ctl(dm);
			start_ctl(dm);
		}
		http_reconfigure(&dm->http, dm->cfg);
		dm->next_live = 0;
	}
	if (dm->cli_log_level < 0)
		log_set_level(dm->cfg->log_level);
	if (start_workers(dm, kept, nkept) < 0)
		log_error("main", "out of memory starting the bus workers");
	for (size_t k = 0; k < nkept; k++)
		if (kept && kept[k])
			retire(dm, kept[k]);   /* only when the new config was refused */
	free(kept);
	start_links(dm);
	gateway_attach(dm->gw, dm->workers, dm->links, dm->nlinks);
	log_info("main", "reloaded: %zu buses, %zu devices, %zu alarms", dm->cfg->nbuses,
		 dm->cfg->ndevices, dm->cfg->nalarms);
}

/* ---------- the loop ---------- */

static int setup_signals(struct daemon *dm)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before any thread starts, so every thread inherits it and
	 * only the signalfd sees these signals. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	dm->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return dm->sigfd < 0 ? -1 : 0;
}

static void watchdog_setup(struct daemon *dm)
{
#ifdef YW_HAVE_SYSTEMD
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		dm->watchdog_ms = (int64_t)(usec / 1000 / 2);
		if (dm->watchdog_ms < 1)
			dm->watchdog_ms = 1;
		dm->next_watchdog = util_mono_ms();
		log_info("main", "systemd watchdog: ping every %lld ms", (long long)dm->watchdog_ms);
	}
#else
	(void)dm;
#endif
}

/* Returns 0 on a clean stop. */
static int run(struct daemon *dm)
{
	for (;;) {
		struct pollfd pfd[2 + CONFIG_LINKS_MAX + CTL_FDS_MAX];
		struct mqtt_link *polled[CONFIG_LINKS_MAX] = { 0 };
		int imq[CONFIG_LINKS_MAX];
		int nfd = 0, timeout, nctl = 0;
		int64_t now = util_mono_ms();

		if (dm->watchdog_ms > 0 && now >= dm->next_watchdog) {
			notify("WATCHDOG=1");
			dm->next_watchdog = now + dm->watchdog_ms;
		}
		timeout = gateway_tick(dm->gw, now);
		for (size_t i = 0; i < dm->nlinks; i++) {
			if (!dm->links[i])
				continue;
			int t = mqtt_timeout_ms(dm->links[i], now);
			if (t < timeout)
				timeout = t;
		}
		if (dm->watchdog_ms > 0 && dm->next_watchdog - now < timeout)
			timeout = (int)(dm->next_watchdog - now);
		publish_live(dm, now);
		if (dm->http && dm->next_live - now < timeout)
			timeout = (int)(dm->next_live - now);
		/* workers still stopping after a reload: look again soon, and
		 * start the buses that wait for their lines */
		if (dm->nretiring > 0) {
			reap_retiring(dm, 0);
			if (dm->nretiring > 0 && timeout > RETIRE_TICK_MS)
				timeout = RETIRE_TICK_MS;
		}
		if (timeout < 0)
			timeout = 0;

		pfd[nfd++] = (struct pollfd){ .fd = dm->sigfd, .events = POLLIN };
		pfd[nfd++] = (struct pollfd){ .fd = bus_queue_fd(dm->q), .events = POLLIN };
		for (size_t i = 0; i < dm->nlinks; i++) {
			int mfd = dm->links[i] ? mqtt_fd(dm->links[i]) : -1;
			imq[i] = -1;
			polled[i] = dm->links[i];
			if (mfd >= 0) {
				imq[i] = nfd;
				pfd[nfd++] = (struct pollfd){ .fd = mfd,
							      .events = mqtt_events(dm->links[i]) };
			}
		}
		int ictl = nfd;
		if (dm->ctl) {
			nctl = ctl_pollfds(dm->ctl, pfd + nfd);
			nfd += nctl;
		}

		int n = poll(pfd, (nfds_t)nfd, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("main", "poll: %s", strerror(errno));
			return 1;
		}
		now = util_mono_ms();
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(dm->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGHUP) {
					reload(dm);
				} else {
					log_info("main", "%s: stopping",
						 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
					return 0;
				}
			}
		}
		if (n > 0 && (pfd[1].revents & POLLIN))
			take_results(dm);
		/* each link: what poll() said of its socket (a link made by a
		 * reload in this turn was not polled: its turn comes next) */
		for (size_t i = 0; i < dm->nlinks; i++)
			if (dm->links[i])
				mqtt_service(dm->links[i], dm->links[i] == polled[i] && imq[i] >= 0 &&
					     n > 0 ? pfd[imq[i]].revents : 0, now);
		/* after a reload the socket may be another: its fds were not polled */
		if (dm->ctl && nctl > 0 && n > 0)
			ctl_service(dm->ctl, pfd + ictl, nctl);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon dm = { .config_path = "/etc/yardwatch/yardwatch.json", .cli_log_level = -1,
			     .sigfd = -1 };
	bool check = false;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': dm.config_path = optarg; break;
		case 'k': check = true; break;
		case 'l':
			dm.cli_log_level = log_parse_level(optarg);
			if (dm.cli_log_level < 0) {
				fprintf(stderr, "yardwatchd: --log-level: must be one of error, warn, info, debug\n");
				return EXIT_USAGE;
			}
			break;
		case 'V': printf("yardwatchd %s\n", YW_VERSION); return 0;
		case 'h': help(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "yardwatchd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	log_init(dm.cli_log_level >= 0 ? (enum yw_log_level)dm.cli_log_level : LOG_LVL_INFO);
	/* One malloc arena for all threads: the bus workers allocate little, and
	 * per-thread arenas would cost RSS on a 256 MB gateway. */
	mallopt(M_ARENA_MAX, 1);

	dm.cfg = config_load(dm.config_path, NULL, stderr);
	if (!dm.cfg)
		return EXIT_CONFIG;
	if (check) {
		printf("ok: %zu buses, %zu devices, %zu points, %zu alarms\n", dm.cfg->nbuses,
		       dm.cfg->ndevices, config_npoints(dm.cfg), dm.cfg->nalarms);
		config_free(dm.cfg);
		return 0;
	}
	if (dm.cli_log_level < 0)
		log_set_level(dm.cfg->log_level);
	log_info("main", "yardwatchd %s starting: site %s, gateway %s, %zu buses, %zu devices, %zu alarms",
		 YW_VERSION, dm.cfg->site_id, dm.cfg->gateway, dm.cfg->nbuses, dm.cfg->ndevices,
		 dm.cfg->nalarms);

	if (setup_signals(&dm) < 0) {
		log_error("main", "signals: %s", strerror(errno));
		goto out_cfg;
	}
	if (store_open(dm.cfg->storage_path, &dm.st) < 0)
		goto out_sig;
	if (store_configure(dm.st, dm.cfg) < 0)
		goto out_store;
	dm.gw = gateway_new(dm.cfg, dm.st);
	if (!dm.gw)
		goto out_store;
	dm.q = bus_queue_new();
	if (!dm.q)
		goto out_gw;
	if (start_workers(&dm, NULL, 0) < 0)
		goto out_workers;
	if (start_links(&dm) < 0)
		goto out_workers;
	gateway_attach(dm.gw, dm.workers, dm.links, dm.nlinks);
	start_ctl(&dm);
	dm.http = http_start(dm.cfg);
	watchdog_setup(&dm);
	notify("READY=1");
	log_info("main", "polling started");

	rc = run(&dm);

	notify("STOPPING=1");
	stop_workers(&dm, STOP_BUDGET_MS);
	take_results(&dm);
	gateway_flush(dm.gw);
	stop_ctl(&dm);
	gateway_attach(dm.gw, NULL, dm.links, dm.nlinks);
	stop_links(&dm, true);
	log_info("main", "stopped");
out_workers:
	http_stop(dm.http);
	http_counts_free(&dm.counts);
	stop_ctl(&dm);
	stop_workers(&dm, STOP_BUDGET_MS);
	stop_links(&dm, false);
	bus_queue_free(dm.q);
out_gw:
	gateway_free(dm.gw);
out_store:
	store_close(dm.st);
out_sig:
	if (dm.sigfd >= 0)
		close(dm.sigfd);
out_cfg:
	config_free(dm.cfg);
	return rc;
}
