/*
 * sim: what the rooms of yardwatch-sim share (private to the program). The
 * process state (struct sim), owned by main.c, and the functions each room
 * exports to the others:
 *
 *   model.c    register model, values, drift, routing, counters (model.h)
 *   pdu.c      the PDU handler, pure (pdu.h)
 *   frame.c    ADU framing and faults on the wire, pure (frame.h)
 *   serve.c    one request from a transport to the bytes that go back
 *   late.c     answers held back by a `late` fault, on a timer
 *   tcp.c      the listeners and their clients; Modbus TCP: MBAP framing
 *   rtu.c      Modbus RTU: tty open/reopen; frame delimiting and CRC of an
 *              RTU byte stream (the tty's, or an rtu-tcp client's)
 *   rtutcp.c   Modbus RTU over TCP: an rtu-tcp client's bytes to rtu.c,
 *              its answers back
 *   scenario.c parsing and validating steps (scenario.h)
 *   apply.c    applying steps: the scenario's when due, --control lines
 *   stats.c    the statistics file and SIGUSR1
 *   main.c     options, setup, signals, timers, the poll() loop
 */
#ifndef YW_SIM_SIM_H
#define YW_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../daemon/config.h"
#include "frame.h"
#include "model.h"

#define SIM_EX_USAGE 64
#define SIM_EX_DATAERR 65
#define SIM_EX_CONFIG 78

#define SIM_MAX_CLIENTS 64
#define SIM_OUT_CAP 4096         /* per client; reading pauses when nearly full */
#define SIM_TICK_MS 1000         /* drift period */
#define SIM_STATS_MIN_MS 200     /* the stats file is rewritten at most this often */
#define SIM_RTU_SILENCE_MS 50    /* end of an RTU frame whose length is unknown */
#define SIM_RTU_REOPEN_MS 1000
#define SIM_LINE_MAX 4096        /* one control line */
#define SIM_LATE_MAX 256         /* late answers held at once */
#define LATE_RTU (-1)            /* channel of an answer for the RTU line (else a client slot) */

struct sim_step;

/* RTU request frames being cut out of a byte stream (rtu.c). */
struct rtu_in {
	uint8_t buf[512];
	size_t len;
	int64_t last_rx_ms;
	bool discard;            /* after a bad frame: drop bytes until silence */
};

struct sim_client {
	int fd;                  /* -1: free slot */
	enum sim_link link;      /* LINK_TCP or LINK_RTU_TCP: which listener took it */
	uint8_t in[FRAME_MAX * 2];   /* LINK_TCP: MBAP frames */
	size_t inlen;
	struct rtu_in rin;       /* LINK_RTU_TCP: the RTU byte stream */
	uint8_t out[SIM_OUT_CAP];
	size_t outlen;
};

struct sim_rtu {
	char path[YW_PATH_MAX];
	int fd;                  /* -1 while closed */
	int baud, data_bits, stop_bits;
	char parity;
	struct rtu_in in;
	int64_t reopen_ms;       /* when closed: next attempt */
};

/* An answer a `late` fault holds back until DUE_MS. */
struct late_answer {
	int64_t due_ms;
	int chan;                /* TCP client slot, or LATE_RTU */
	size_t len;
	uint8_t buf[FRAME_MAX];
};

struct sim {
	struct config *cfg;      /* owned */
	struct sim_model model;  /* owned */
	int bus_filter;          /* --bus: only this bus's devices; -1: all */
	struct sim_step *steps;  /* owned; sorted by at_s */
	size_t nsteps, next_step;
	int64_t start_ms, next_tick_ms, end_ms;

	int lfd;                 /* TCP listener, -1: none */
	int rlfd;                /* rtu-tcp listener, -1: none */
	struct sim_client *clients; /* owned, SIM_MAX_CLIENTS */
	bool have_rtu;
	struct sim_rtu rtu;
	struct late_answer *late;   /* owned, SIM_LATE_MAX; in arrival order */
	size_t nlate;

	bool control;
	bool ctl_open;
	char ctl[SIM_LINE_MAX];
	size_t ctl_len;
	bool ctl_skip;           /* the current line is too long: drop it */

	const char *stats_path;
	bool stats_warned;
	int64_t stats_last_ms;

	int sfd;                 /* signalfd */
	bool stop;
};

/* serve.c: handles REQ for UNIT on LINK and frames the answer (TID on TCP)
 * into ADU as the device's fault says. Returns its length (0: no answer);
 * *DELAY_MS > 0: send it that much later. */
size_t serve_request(struct sim *s, enum sim_link link, unsigned unit, unsigned tid,
		     const uint8_t *req, size_t len, uint8_t *adu, int *delay_ms);

/* late.c */
void late_push(struct sim *s, int chan, int64_t due_ms, const uint8_t *b, size_t n);
void late_drop(struct sim *s, int chan);          /* the client went away */
int64_t late_run(struct sim *s, int64_t now);     /* delivers what is due; next due or INT64_MAX */

/* tcp.c: LINK is LINK_TCP (--tcp) or LINK_RTU_TCP (--rtu-tcp); tcp_listen
 * returns -2 for a bad SPEC, -1 when it cannot listen */
int tcp_listen(struct sim *s, const char *spec, enum sim_link link);
void tcp_accept(struct sim *s, enum sim_link link);
void tcp_close(struct sim *s, int i);           /* client I goes (its late answers too) */
int tcp_flush(struct sim *s, int i);            /* -1: client gone */
int tcp_process(struct sim *s, int i);          /* -1: client gone */
void tcp_read(struct sim *s, int i);
void tcp_deliver(struct sim *s, int i, const uint8_t *b, size_t n);

/* rtu.c */
void rtu_settings(struct sim *s);
bool rtu_baud_ok(int baud);
int rtu_open(struct sim_rtu *r, bool quiet);
void rtu_lost(struct sim_rtu *r, const char *why);
void rtu_read(struct sim *s);
void rtu_send(struct sim_rtu *r, const uint8_t *b, size_t n);
int64_t rtu_timers(struct sim *s, int64_t now);  /* reopen, silence; next deadline */
/* An RTU byte stream on channel CHAN (LATE_RTU: the tty; else the slot of
 * an rtu-tcp client): where the next bytes go (*ROOM bytes), then that N
 * bytes came there (complete frames are served at once); its silence timer
 * (frames of unknown length end, a discard ends) with its next deadline. */
uint8_t *rtu_in_room(struct rtu_in *in, size_t *room);
void rtu_in_got(struct sim *s, struct rtu_in *in, int chan, size_t n);
int64_t rtu_in_timer(struct sim *s, struct rtu_in *in, int chan, int64_t now);

/* rtutcp.c */
void rtutcp_read(struct sim *s, int i);           /* bytes from rtu-tcp client I */
void rtutcp_queue(struct sim *s, int i, const uint8_t *b, size_t n);  /* an answer to I */
int64_t rtutcp_timers(struct sim *s, int64_t now); /* the clients' silence; next deadline */

/* apply.c */
void apply_step(struct sim *s, const struct sim_step *st, char *reply, size_t rlen);
int64_t apply_due(struct sim *s, int64_t now);   /* scenario steps, fault ends; next deadline */
void control_read(struct sim *s);

/* stats.c */
void stats_print(const struct sim *s, FILE *f);
void stats_write(struct sim *s);

long long sim_elapsed_s(const struct sim *s);

#endif
