/*
 * yardwatch-sim: plays the Modbus devices of a yardwatch config, for the demo
 * and the integration tests. See docs/simulator.md; sim.h lists the rooms.
 *
 * main owns the process: options, setup and teardown (in reverse order),
 * the signalfd (SIGTERM, SIGINT stop; SIGUSR1 prints the stats), the timers
 * on the monotonic clock (drift, scenario steps and fault ends, late
 * answers, the stats file, --duration, the RTU silence (on the tty and on
 * each rtu-tcp client) and reopen) and the one poll() loop that sleeps
 * until the next event.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "../../daemon/log.h"
#include "../../daemon/util.h"
#include "scenario.h"
#include "sim.h"

long long sim_elapsed_s(const struct sim *s)
{
	return (long long)((util_mono_ms() - s->start_ms) / 1000);
}

static void sim_signal(struct sim *s)
{
	struct signalfd_siginfo si;

	while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			stats_print(s, stdout);
			fflush(stdout);
		} else {
			log_info("sim", "signal %u: stopping", si.ssi_signo);
			s->stop = true;
		}
	}
}

static int64_t sim_min(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Runs every timer that is due. Returns the next deadline (monotonic ms). */
static int64_t sim_timers(struct sim *s, int64_t now)
{
	int64_t next = now + 60000;

	next = sim_min(next, apply_due(s, now));
	if (now >= s->next_tick_ms) {
		model_tick(&s->model);
		s->next_tick_ms += SIM_TICK_MS;
		if (s->next_tick_ms <= now)
			s->next_tick_ms = now + SIM_TICK_MS;
	}
	next = sim_min(next, s->next_tick_ms);
	if (s->end_ms > 0) {
		if (now >= s->end_ms) {
			log_info("sim", "duration reached: stopping");
			s->stop = true;
		}
		next = sim_min(next, s->end_ms);
	}
	next = sim_min(next, late_run(s, now));
	next = sim_min(next, rtu_timers(s, now));
	next = sim_min(next, rtutcp_timers(s, now));
	if (s->model.dirty) {
		if (now - s->stats_last_ms >= SIM_STATS_MIN_MS)
			stats_write(s);
		else
			next = sim_min(next, s->stats_last_ms + SIM_STATS_MIN_MS);
	}
	return next;
}

/* The clients' part of one poll() round (TCP and rtu-tcp): events in, then
 * service. */
static int sim_client_events(const struct sim_client *c)
{
	int ev = 0;

	if (c->outlen + FRAME_MAX <= SIM_OUT_CAP)
		ev |= POLLIN;
	if (c->outlen > 0)
		ev |= POLLOUT;
	return ev;
}

static void sim_client_service(struct sim *s, int i, short revents)
{
	if (s->clients[i].fd < 0 || !revents)
		return;
	if (s->clients[i].link == LINK_RTU_TCP) {
		if ((revents & POLLOUT) && tcp_flush(s, i) != 0)
			return;
		if (revents & (POLLIN | POLLHUP | POLLERR))
			rtutcp_read(s, i);
		return;
	}
	if (revents & POLLOUT) {
		if (tcp_flush(s, i) != 0)
			return;
		if (tcp_process(s, i) != 0)
			return;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
		tcp_read(s, i);
}

static int sim_run(struct sim *s)
{
	struct pollfd pfd[5 + SIM_MAX_CLIENTS];
	int cidx[SIM_MAX_CLIENTS];

	while (!s->stop) {
		int64_t now = util_mono_ms(), next = sim_timers(s, now);
		int n = 0, nc = 0, timeout, rc, isig, ilis = -1, irlis = -1, irtu = -1, ictl = -1;

		if (s->stop)
			break;
		timeout = next > now ? (int)(next - now) : 0;
		pfd[n] = (struct pollfd){ .fd = s->sfd, .events = POLLIN };
		isig = n++;
		if (s->lfd >= 0) {
			pfd[n] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
			ilis = n++;
		}
		if (s->rlfd >= 0) {
			pfd[n] = (struct pollfd){ .fd = s->rlfd, .events = POLLIN };
			irlis = n++;
		}
		if (s->have_rtu && s->rtu.fd >= 0) {
			pfd[n] = (struct pollfd){ .fd = s->rtu.fd, .events = POLLIN };
			irtu = n++;
		}
		if (s->control && s->ctl_open) {
			pfd[n] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
			ictl = n++;
		}
		for (int i = 0; i < SIM_MAX_CLIENTS; i++) {
			if (s->clients[i].fd < 0)
				continue;
			cidx[nc++] = i;
			pfd[n++] = (struct pollfd){ .fd = s->clients[i].fd,
						    .events = (short)sim_client_events(&s->clients[i]) };
		}
		rc = poll(pfd, (nfds_t)n, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_error("sim", "poll: %s", strerror(errno));
			return -1;
		}
		if (rc == 0)
			continue;
		if (pfd[isig].revents)
			sim_signal(s);
		if (ilis >= 0 && pfd[ilis].revents)
			tcp_accept(s, LINK_TCP);
		if (irlis >= 0 && pfd[irlis].revents)
			tcp_accept(s, LINK_RTU_TCP);
		if (irtu >= 0 && pfd[irtu].revents) {
			if (pfd[irtu].revents & POLLIN)
				rtu_read(s);
			else
				rtu_lost(&s->rtu, "hang-up");
		}
		if (ictl >= 0 && pfd[ictl].revents)
			control_read(s);
		for (int j = 0; j < nc; j++)
			sim_client_service(s, cidx[j], pfd[n - nc + j].revents);
	}
	return 0;
}

static void sim_usage(FILE *f)
{
	fprintf(f,
		"usage: yardwatch-sim -c CONFIG [--scenario FILE] [--tcp HOST:PORT]\n"
		"                     [--rtu-tcp HOST:PORT] [--rtu TTY]\n"
		"                     [--profiles DIR] [--bus ID] [--stats FILE] [--seed N]\n"
		"                     [--duration S] [--control] [--log-level LEVEL]\n"
		"Serves every device of CONFIG over Modbus TCP, RTU over TCP and/or RTU\n"
		"(at least one).\n"
		"  --tcp HOST:PORT   listen there for Modbus TCP (port 0: any free port; logged)\n"
		"  --rtu-tcp HOST:PORT  listen there for RTU frames over TCP, as a serial\n"
		"                    device server in transparent mode (port 0: as --tcp)\n"
		"  --rtu TTY         serve on a serial line (e.g. one end of a socat pty pair)\n"
		"  --bus ID          serve only the devices of this bus\n"
		"  --stats FILE      keep request counts in FILE (JSON); SIGUSR1 prints them\n"
		"  --control         read steps (scenario objects without at_s) from stdin\n"
		"  --duration S      stop after S seconds\n"
		"See docs/simulator.md.\n");
}

static void sim_free(struct sim *s)
{
	if (s->cfg)
		model_free(&s->model);
	scenario_free(s->steps, s->nsteps);
	if (s->clients)
		for (int i = 0; i < SIM_MAX_CLIENTS; i++)
			if (s->clients[i].fd >= 0)
				close(s->clients[i].fd);
	free(s->clients);
	free(s->late);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->rlfd >= 0)
		close(s->rlfd);
	if (s->have_rtu && s->rtu.fd >= 0)
		close(s->rtu.fd);
	if (s->sfd >= 0)
		close(s->sfd);
	config_free(s->cfg);
}

/* Command-line options that are not part of struct sim. */
struct sim_opts {
	const char *config, *scenario, *tcp, *rtu_tcp, *rtu, *profiles, *bus;
	double duration;
	uint64_t seed;
};

/* Parses argv. Returns -1 to go on, else the exit status. */
static int sim_options(int argc, char **argv, struct sim *s, struct sim_opts *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "scenario", required_argument, NULL, 's' },
		{ "tcp", required_argument, NULL, 't' },
		{ "rtu-tcp", required_argument, NULL, 'T' },
		{ "rtu", required_argument, NULL, 'r' },
		{ "profiles", required_argument, NULL, 'p' },
		{ "bus", required_argument, NULL, 'b' },
		{ "stats", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 'e' },
		{ "duration", required_argument, NULL, 'd' },
		{ "control", no_argument, NULL, 'C' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c, level;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 's': o->scenario = optarg; break;
		case 't': o->tcp = optarg; break;
		case 'T': o->rtu_tcp = optarg; break;
		case 'r': o->rtu = optarg; break;
		case 'p': o->profiles = optarg; break;
		case 'b': o->bus = optarg; break;
		case 'S': s->stats_path = optarg; break;
		case 'C': s->control = true; break;
		case 'e':
			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (errno || *end || !*optarg) {
				fprintf(stderr, "yardwatch-sim: --seed: not a number: %s\n", optarg);
				return SIM_EX_USAGE;
			}
			break;
		case 'd':
			o->duration = strtod(optarg, &end);
			if (*end || !*optarg || !(o->duration > 0) || !isfinite(o->duration)) {
				fprintf(stderr, "yardwatch-sim: --duration: not a number of seconds > 0: %s\n",
					optarg);
				return SIM_EX_USAGE;
			}
			break;
		case 'l':
			level = log_parse_level(optarg);
			if (level < 0) {
				fprintf(stderr, "yardwatch-sim: --log-level: error|warn|info|debug\n");
				return SIM_EX_USAGE;
			}
			log_set_level((enum yw_log_level)level);
			break;
		case 'h':
			sim_usage(stdout);
			return 0;
		default:
			sim_usage(stderr);
			return SIM_EX_USAGE;
		}
	}
	if (optind < argc || !o->config || (!o->tcp && !o->rtu_tcp && !o->rtu)) {
		if (optind < argc)
			fprintf(stderr, "yardwatch-sim: unexpected argument: %s\n", argv[optind]);
		else if (!o->config)
			fprintf(stderr, "yardwatch-sim: -c CONFIG is required\n");
		else
			fprintf(stderr, "yardwatch-sim: give --tcp HOST:PORT, --rtu-tcp HOST:PORT "
				"and/or --rtu TTY\n");
		sim_usage(stderr);
		return SIM_EX_USAGE;
	}
	return -1;
}

static int sim_signals(struct sim *s)
{
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (s->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_error("sim", "signalfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Sets up the RTU line on PATH; -1 after logging. */
static int sim_rtu_setup(struct sim *s, const char *path)
{
	model_route(&s->model, LINK_RTU, s->bus_filter);
	s->have_rtu = true;
	util_strlcpy(s->rtu.path, path, sizeof(s->rtu.path));
	rtu_settings(s);
	if (!rtu_baud_ok(s->rtu.baud)) {
		log_error("sim", "rtu %s: unsupported baud rate %d", path, s->rtu.baud);
		return -1;
	}
	if (rtu_open(&s->rtu, false) != 0)
		return -1;
	log_info("sim", "serving rtu %s at %d %d%c%d", path, s->rtu.baud, s->rtu.data_bits,
		 s->rtu.parity, s->rtu.stop_bits);
	return 0;
}

int main(int argc, char **argv);

int main(int argc, char **argv)
{
	struct sim_opts o = { .seed = 1 };
	struct sim s;
	int rc = 1;
	size_t npoints = 0;
	uint64_t nreq = 0;

	memset(&s, 0, sizeof(s));
	s.lfd = s.rlfd = s.sfd = -1;
	s.rtu.fd = -1;
	s.bus_filter = -1;
	log_init(LOG_LVL_INFO);
	rc = sim_options(argc, argv, &s, &o);
	if (rc >= 0)
		return rc;
	rc = 1;

	s.cfg = config_load(o.config, o.profiles, stderr);
	if (!s.cfg)
		return SIM_EX_CONFIG;
	if (o.bus) {
		for (size_t i = 0; i < s.cfg->nbuses; i++)
			if (strcmp(s.cfg->buses[i].id, o.bus) == 0)
				s.bus_filter = (int)i;
		if (s.bus_filter < 0) {
			fprintf(stderr, "yardwatch-sim: --bus %s: no such bus in %s\n", o.bus, o.config);
			rc = SIM_EX_USAGE;
			goto out;
		}
	}
	s.clients = calloc(SIM_MAX_CLIENTS, sizeof(*s.clients));
	s.late = calloc(SIM_LATE_MAX, sizeof(*s.late));
	if (!s.clients || !s.late) {
		log_error("sim", "out of memory");
		goto out;
	}
	for (int i = 0; i < SIM_MAX_CLIENTS; i++)
		s.clients[i].fd = -1;
	if (model_init(&s.model, s.cfg, o.seed) != 0)
		goto out;
	for (size_t k = 0; k < s.cfg->ndevices; k++)
		npoints += s.cfg->devices[k].npoints;
	if (o.scenario && scenario_load(&s, o.scenario) != 0) {
		rc = SIM_EX_DATAERR;
		goto out;
	}
	if (sim_signals(&s) != 0)
		goto out;
	for (int k = 0; k < 2; k++) {
		const char *spec = k == 0 ? o.tcp : o.rtu_tcp;
		enum sim_link link = k == 0 ? LINK_TCP : LINK_RTU_TCP;
		int r;

		if (!spec)
			continue;
		model_route(&s.model, link, s.bus_filter);
		r = tcp_listen(&s, spec, link);
		if (r != 0) {
			rc = r == -2 ? SIM_EX_USAGE : 1;
			goto out;
		}
	}
	if (o.rtu && sim_rtu_setup(&s, o.rtu) != 0)
		goto out;
	s.ctl_open = s.control;
	s.start_ms = util_mono_ms();
	s.next_tick_ms = s.start_ms + SIM_TICK_MS;
	s.end_ms = o.duration > 0 ? s.start_ms + (int64_t)(o.duration * 1000.0) : 0;
	log_info("sim", "%zu devices, %zu points, seed %llu%s", s.cfg->ndevices, npoints,
		 (unsigned long long)o.seed, s.control ? ", control on stdin" : "");
	stats_write(&s);

	rc = sim_run(&s) == 0 ? 0 : 1;
	stats_write(&s);
	for (size_t k = 0; k < s.cfg->ndevices; k++)
		nreq += s.model.devs[k].count.requests;
	log_info("sim", "stopped after %llds: %llu requests served", sim_elapsed_s(&s),
		 (unsigned long long)nreq);

out:
	sim_free(&s);
	return rc;
}
