/*
 * test_sim_pdu: the simulator's PDU handler on its own (no sockets, no
 * clock): a hand-built device with a hole in its holding registers, one
 * table of request -> answer cases run in order (writes are read back by
 * the cases after them): every function code 1-6, 15, 16, exceptions 1, 2
 * and 3, an offline device, a unit nobody plays, forced exceptions
 * (including the gateway codes 10 and 11) and an illegal range; then the
 * request counters, the framing of answers and each fault's exact bytes.
 */
#include <stdio.h>
#include <string.h>

#include "../sim/frame.h"
#include "../sim/model.h"
#include "../sim/pdu.h"
#include "check.h"

static struct point_cfg mkpt(const char *name, enum yw_table t, uint16_t addr)
{
	struct point_cfg p;

	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.table = t;
	p.address = addr;
	p.type = (t == TABLE_COIL || t == TABLE_DISCRETE) ? TYPE_BOOL : TYPE_UINT16;
	p.order = ORDER_ABCD;
	p.bit = -1;
	p.scale = 1.0;
	p.decimals_from = -1;
	return p;
}

/* Unit 1: holding 0, 1, (hole at 2), 3; input 0; coils 0-3; discrete 0-1.
 * Unit 2: the same map, switched offline by a case. */
static struct point_cfg points[11];

static void build_config(struct config *cfg, struct device_cfg *devs, struct bus_cfg *bus)
{
	static const struct { const char *name; enum yw_table t; uint16_t addr; } map[] = {
		{ "h0", TABLE_HOLDING, 0 }, { "h1", TABLE_HOLDING, 1 }, { "h3", TABLE_HOLDING, 3 },
		{ "i0", TABLE_INPUT, 0 }, { "c0", TABLE_COIL, 0 }, { "c1", TABLE_COIL, 1 },
		{ "c2", TABLE_COIL, 2 }, { "c3", TABLE_COIL, 3 }, { "d0", TABLE_DISCRETE, 0 },
		{ "d1", TABLE_DISCRETE, 1 }, { "h4", TABLE_HOLDING, 4 },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		points[i] = mkpt(map[i].name, map[i].t, map[i].addr);
	memset(cfg, 0, sizeof(*cfg));
	memset(bus, 0, sizeof(*bus));
	snprintf(bus->id, sizeof(bus->id), "lan");
	bus->type = BUS_TCP;
	for (int k = 0; k < 2; k++) {
		memset(&devs[k], 0, sizeof(devs[k]));
		snprintf(devs[k].id, sizeof(devs[k].id), "dev%d", k + 1);
		devs[k].unit = k + 1;
		devs[k].points = points;
		devs[k].npoints = sizeof(points) / sizeof(points[0]);
	}
	cfg->buses = bus;
	cfg->nbuses = 1;
	cfg->devices = devs;
	cfg->ndevices = 2;
}

struct pdu_case {
	const char *name;
	unsigned unit;
	int offline;             /* device 0 offline during the case */
	int exception;           /* forced on device 0 during the case */
	int illegal;             /* holding 0 illegal on device 0 during the case */
	uint8_t req[16];
	size_t reqlen;
	uint8_t rsp[16];
	size_t rsplen;           /* 0: no answer */
	int dev;                 /* device expected to play the unit */
};

static const struct pdu_case cases[] = {
	{ "fc3 read", 1, 0, 0, 0, { 3, 0, 0, 0, 2 }, 5, { 3, 4, 0x12, 0x34, 0, 7 }, 6, 0 },
	{ "fc3 across the hole", 1, 0, 0, 0, { 3, 0, 0, 0, 4 }, 5, { 0x83, 2 }, 2, 0 },
	{ "fc3 unmapped", 1, 0, 0, 0, { 3, 0, 9, 0, 1 }, 5, { 0x83, 2 }, 2, 0 },
	{ "fc3 quantity 0", 1, 0, 0, 0, { 3, 0, 0, 0, 0 }, 5, { 0x83, 3 }, 2, 0 },
	{ "fc3 quantity 126", 1, 0, 0, 0, { 3, 0, 0, 0, 126 }, 5, { 0x83, 3 }, 2, 0 },
	{ "fc3 short pdu", 1, 0, 0, 0, { 3, 0, 0 }, 3, { 0x83, 3 }, 2, 0 },
	{ "fc4 read", 1, 0, 0, 0, { 4, 0, 0, 0, 1 }, 5, { 4, 2, 0, 42 }, 4, 0 },
	{ "fc1 read", 1, 0, 0, 0, { 1, 0, 0, 0, 4 }, 5, { 1, 1, 0x02 }, 3, 0 },
	{ "fc2 read", 1, 0, 0, 0, { 2, 0, 0, 0, 2 }, 5, { 2, 1, 0x01 }, 3, 0 },
	{ "fc2 unmapped", 1, 0, 0, 0, { 2, 0, 0, 0, 3 }, 5, { 0x82, 2 }, 2, 0 },
	{ "fc5 write", 1, 0, 0, 0, { 5, 0, 2, 0xff, 0 }, 5, { 5, 0, 2, 0xff, 0 }, 5, 0 },
	{ "fc5 read back", 1, 0, 0, 0, { 1, 0, 0, 0, 4 }, 5, { 1, 1, 0x06 }, 3, 0 },
	{ "fc5 bad value", 1, 0, 0, 0, { 5, 0, 2, 0x12, 0x34 }, 5, { 0x85, 3 }, 2, 0 },
	{ "fc6 write", 1, 0, 0, 0, { 6, 0, 1, 0, 0x55 }, 5, { 6, 0, 1, 0, 0x55 }, 5, 0 },
	{ "fc6 read back", 1, 0, 0, 0, { 3, 0, 1, 0, 1 }, 5, { 3, 2, 0, 0x55 }, 4, 0 },
	{ "fc6 unmapped", 1, 0, 0, 0, { 6, 0, 2, 0, 1 }, 5, { 0x86, 2 }, 2, 0 },
	{ "fc15 write", 1, 0, 0, 0, { 15, 0, 0, 0, 4, 1, 0x09 }, 7, { 15, 0, 0, 0, 4 }, 5, 0 },
	{ "fc15 read back", 1, 0, 0, 0, { 1, 0, 0, 0, 4 }, 5, { 1, 1, 0x09 }, 3, 0 },
	{ "fc15 bad byte count", 1, 0, 0, 0, { 15, 0, 0, 0, 4, 2, 0x09, 0 }, 8,
	  { 0x8f, 3 }, 2, 0 },
	{ "fc16 write", 1, 0, 0, 0, { 16, 0, 0, 0, 2, 4, 0xab, 0xcd, 0, 1 }, 10,
	  { 16, 0, 0, 0, 2 }, 5, 0 },
	{ "fc16 read back", 1, 0, 0, 0, { 3, 0, 0, 0, 2 }, 5, { 3, 4, 0xab, 0xcd, 0, 1 }, 6, 0 },
	{ "fc16 across the hole", 1, 0, 0, 0, { 16, 0, 1, 0, 2, 4, 0, 1, 0, 2 }, 10,
	  { 0x90, 2 }, 2, 0 },
	{ "fc16 quantity 0", 1, 0, 0, 0, { 16, 0, 0, 0, 0, 0 }, 6, { 0x90, 3 }, 2, 0 },
	{ "fc7 unsupported", 1, 0, 0, 0, { 7 }, 1, { 0x87, 1 }, 2, 0 },
	{ "fc43 unsupported", 1, 0, 0, 0, { 43, 14, 1, 0 }, 4, { 0xab, 1 }, 2, 0 },
	{ "unit nobody plays", 9, 0, 0, 0, { 3, 0, 0, 0, 1 }, 5, { 0 }, 0, -1 },
	{ "second device", 2, 0, 0, 0, { 3, 0, 3, 0, 1 }, 5, { 3, 2, 0, 9 }, 4, 1 },
	{ "offline: no answer", 1, 1, 0, 0, { 3, 0, 0, 0, 1 }, 5, { 0 }, 0, 0 },
	{ "offline: neighbour answers", 2, 1, 0, 0, { 3, 0, 3, 0, 1 }, 5, { 3, 2, 0, 9 }, 4, 1 },
	{ "forced exception 4", 1, 0, 4, 0, { 3, 0, 0, 0, 1 }, 5, { 0x83, 4 }, 2, 0 },
	{ "forced exception on a write", 1, 0, 6, 0, { 6, 0, 1, 0, 0x77 }, 5, { 0x86, 6 }, 2, 0 },
	{ "gateway path unavailable", 1, 0, 10, 0, { 3, 0, 0, 0, 1 }, 5, { 0x83, 10 }, 2, 0 },
	{ "gateway target failed", 1, 0, 11, 0, { 4, 0, 0, 0, 1 }, 5, { 0x84, 11 }, 2, 0 },
	{ "offline wins over exception", 1, 1, 4, 0, { 3, 0, 0, 0, 1 }, 5, { 0 }, 0, 0 },
	{ "illegal range", 1, 0, 0, 1, { 3, 0, 0, 0, 1 }, 5, { 0x83, 2 }, 2, 0 },
	{ "outside the illegal range", 1, 0, 0, 1, { 3, 0, 1, 0, 1 }, 5, { 3, 2, 0, 0x01 }, 4, 0 },
	{ "the write was not done", 1, 0, 0, 0, { 3, 0, 1, 0, 1 }, 5, { 3, 2, 0, 1 }, 4, 0 },
};

static void run_cases(struct sim_model *m)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pdu_case *c = &cases[i];
		struct sim_dev *d = &m->devs[0];
		uint8_t rsp[PDU_MAX];
		struct pdu_result r;

		check_case = c->name;
		d->offline = c->offline;
		d->exception = c->exception;
		if (c->illegal)
			CHECK(model_illegal(d, TABLE_HOLDING, 0, 1) == 0);
		memset(rsp, 0xee, sizeof(rsp));
		r = pdu_handle(m, LINK_TCP, c->unit, c->req, c->reqlen, rsp);
		CHECK(r.dev == c->dev);
		CHECK(r.len == c->rsplen);
		CHECK(r.len == c->rsplen && memcmp(rsp, c->rsp, c->rsplen) == 0);
		d->offline = false;
		d->exception = 0;
		CHECK(model_illegal(d, TABLE_HOLDING, 0, 0) == 0);
	}
	check_case = "";
}

static void check_counts(const struct sim_model *m)
{
	const struct sim_count *c = &m->devs[0].count;
	size_t n = 0, reads = 0, writes = 0, exc = 0, ignored = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].dev != 0)
			continue;
		n++;
		if (cases[i].rsplen == 0)
			ignored++;
		else if (cases[i].rsp[0] & 0x80)
			exc++;
		else if (cases[i].req[0] <= 4)
			reads++;
		else
			writes++;
	}
	CHECK(c->requests == n);
	CHECK(c->reads == reads);
	CHECK(c->writes == writes);
	CHECK(c->exceptions == exc);
	CHECK(c->ignored == ignored);
	CHECK(c->fc[7] == 1 && c->fc[43] == 1);
	CHECK(m->unknown_unit == 1);
	CHECK(m->devs[1].count.requests == 2 && m->devs[1].count.reads == 2);
}

/* The answer of case 0 framed for each link. */
static void check_framing(void)
{
	static const uint8_t pdu[] = { 3, 2, 0, 7 };
	uint8_t adu[FRAME_MAX];
	size_t n;

	n = frame_tcp(adu, 0x1234, 5, pdu, sizeof(pdu));
	CHECK(n == 11);
	CHECK(memcmp(adu, "\x12\x34\x00\x00\x00\x05\x05\x03\x02\x00\x07", 11) == 0);
	n = frame_rtu(adu, 5, pdu, sizeof(pdu));
	CHECK(n == 7);
	CHECK(frame_crc_ok(adu, n));
	CHECK(frame_crc16((const uint8_t *)"\x01\x03\x00\x00\x00\x01", 6) == 0x0a84);
	adu[3] ^= 1;
	CHECK(!frame_crc_ok(adu, n));
}

struct fault_case {
	const char *name;
	enum fault_kind kind;
	enum sim_link link;
	size_t len;              /* bytes sent */
	int delay_ms;
	const char *want;        /* exact bytes; NULL: random (checked below) */
};

/* The answer 03 02 00 07 of unit 5 (TCP transaction 0x1234) under each fault. */
static const struct fault_case fault_cases[] = {
	{ "none tcp", FAULT_NONE, LINK_TCP, 11, 0, "\x12\x34\0\0\0\x05\x05\x03\x02\0\x07" },
	{ "truncate tcp", FAULT_TRUNCATE, LINK_TCP, 5, 0, "\x12\x34\0\0\0" },
	{ "wrong_unit tcp", FAULT_WRONG_UNIT, LINK_TCP, 11, 0,
	  "\x12\x34\0\0\0\x05\x06\x03\x02\0\x07" },
	{ "wrong_tid tcp", FAULT_WRONG_TID, LINK_TCP, 11, 0,
	  "\x12\x35\0\0\0\x05\x05\x03\x02\0\x07" },
	{ "late tcp", FAULT_LATE, LINK_TCP, 11, 250, "\x12\x34\0\0\0\x05\x05\x03\x02\0\x07" },
	{ "silent tcp", FAULT_SILENT, LINK_TCP, 0, 0, "" },
	{ "garbage tcp", FAULT_GARBAGE, LINK_TCP, 11, 0, NULL },
	{ "bad_crc tcp is garbage", FAULT_BAD_CRC, LINK_TCP, 11, 0, NULL },
	{ "none rtu", FAULT_NONE, LINK_RTU, 7, 0, "\x05\x03\x02\0\x07\x08\x46" },
	{ "bad_crc rtu", FAULT_BAD_CRC, LINK_RTU, 7, 0, "\x05\x03\x02\0\x07\xf7\xb9" },
	{ "truncate rtu", FAULT_TRUNCATE, LINK_RTU, 3, 0, "\x05\x03\x02" },
	{ "silent rtu", FAULT_SILENT, LINK_RTU, 0, 0, "" },
	{ "garbage rtu", FAULT_GARBAGE, LINK_RTU, 7, 0, NULL },
	{ "wrong_tid rtu is garbage", FAULT_WRONG_TID, LINK_RTU, 7, 0, NULL },
};

static void check_faults(void)
{
	static const uint8_t pdu[] = { 3, 2, 0, 7 };
	uint64_t rng = 7;

	for (size_t i = 0; i < sizeof(fault_cases) / sizeof(fault_cases[0]); i++) {
		const struct fault_case *c = &fault_cases[i];
		struct sim_fault f = { .kind = c->kind, .delay_ms = 250 };
		uint8_t adu[FRAME_MAX], good[FRAME_MAX];
		size_t n = c->link == LINK_TCP ? frame_tcp(adu, 0x1234, 5, pdu, sizeof(pdu)) :
						 frame_rtu(adu, 5, pdu, sizeof(pdu));
		int delay = -1;

		check_case = c->name;
		memcpy(good, adu, n);
		n = frame_fault(&f, c->link, adu, n, &rng, &delay);
		CHECK(n == c->len);
		CHECK(delay == c->delay_ms);
		if (c->want) {
			CHECK(memcmp(adu, c->want, n) == 0);
		} else {
			CHECK(memcmp(adu, good, n) != 0);
			CHECK(c->link == LINK_RTU || adu[2] != 0 || adu[3] != 0);
			CHECK(c->link == LINK_TCP || !frame_crc_ok(adu, n));
		}
	}
	check_case = "wrong_unit rtu";
	{
		uint8_t adu[FRAME_MAX];
		size_t n = frame_rtu(adu, 247, pdu, sizeof(pdu));
		struct sim_fault f = { .kind = FAULT_WRONG_UNIT };
		int delay;

		CHECK(frame_fault(&f, LINK_RTU, adu, n, &rng, &delay) == n);
		CHECK(adu[0] == 1 && frame_crc_ok(adu, n));
	}
	check_case = "expiry";
	{
		struct sim_dev d;

		memset(&d, 0, sizeof(d));
		d.fault.kind = FAULT_SILENT;
		d.fault.until_ms = 1000;
		CHECK(model_fault(&d, 999) == &d.fault);
		CHECK(model_fault(&d, 1000) == NULL);
		d.fault.until_ms = 0;
		CHECK(model_fault(&d, INT64_MAX) == &d.fault);
	}
	check_case = "";
}

int main(void)
{
	struct config cfg;
	struct device_cfg devs[2];
	struct bus_cfg bus;
	struct sim_model m;

	build_config(&cfg, devs, &bus);
	CHECK(model_init(&m, &cfg, 1) == 0);
	model_route(&m, LINK_TCP, -1);
	CHECK(model_set_point(&m.devs[0], 0, 0x1234) == 0);
	CHECK(model_set_point(&m.devs[0], 1, 7) == 0);
	CHECK(model_set_point(&m.devs[0], 2, 9) == 0);
	CHECK(model_set_point(&m.devs[1], 2, 9) == 0);
	CHECK(model_set_point(&m.devs[0], 3, 42) == 0);
	CHECK(model_set_point(&m.devs[0], 5, 1) == 0);
	CHECK(model_set_point(&m.devs[0], 8, 1) == 0);
	run_cases(&m);
	check_counts(&m);
	check_framing();
	check_faults();
	model_free(&m);
	return check_report();
}
