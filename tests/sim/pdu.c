/*
 * pdu: one Modbus request PDU to its response PDU (see pdu.h). Order of the
 * checks, as a device makes them: offline (no answer), forced exception,
 * function code (exception 1), quantity / byte count / value (exception 3),
 * addresses mapped and not illegal (exception 2), then the data.
 */
#include <string.h>

#include "pdu.h"

static size_t pdu_exception(uint8_t *rsp, uint8_t fc, int code)
{
	rsp[0] = (uint8_t)(fc | 0x80);
	rsp[1] = (uint8_t)code;
	return 2;
}

static enum yw_table pdu_fc_table(uint8_t fc)
{
	switch (fc) {
	case 1: case 5: case 15: return TABLE_COIL;
	case 2: return TABLE_DISCRETE;
	case 4: return TABLE_INPUT;
	default: return TABLE_HOLDING;
	}
}

static size_t pdu_read(const struct sim_dev *d, const uint8_t *req, size_t len, uint8_t *rsp)
{
	uint8_t fc = req[0];
	enum yw_table t = pdu_fc_table(fc);
	bool bits = fc <= 2;
	uint32_t start, qty;
	const struct sim_table *tb = &d->tab[t];

	if (len != 5)
		return pdu_exception(rsp, fc, MB_EX_VALUE);
	start = pdu_get16(req + 1);
	qty = pdu_get16(req + 3);
	if (qty < 1 || qty > (bits ? 2000u : 125u))
		return pdu_exception(rsp, fc, MB_EX_VALUE);
	if (start + qty > 65536 || !model_range_ok(d, t, start, qty))
		return pdu_exception(rsp, fc, MB_EX_ADDRESS);
	rsp[0] = fc;
	if (bits) {
		size_t nb = (qty + 7) / 8;

		rsp[1] = (uint8_t)nb;
		memset(rsp + 2, 0, nb);
		for (uint32_t i = 0; i < qty; i++)
			if (tb->regs[start - tb->lo + i])
				rsp[2 + i / 8] |= (uint8_t)(1u << (i % 8));
		return 2 + nb;
	}
	rsp[1] = (uint8_t)(qty * 2);
	for (uint32_t i = 0; i < qty; i++)
		pdu_put16(rsp + 2 + 2 * i, tb->regs[start - tb->lo + i]);
	return 2 + 2 * (size_t)qty;
}

static size_t pdu_write(struct sim_dev *d, const uint8_t *req, size_t len, uint8_t *rsp)
{
	uint8_t fc = req[0];
	enum yw_table t = pdu_fc_table(fc);
	struct sim_table *tb = &d->tab[t];
	uint32_t start, qty, bc;

	if (len < 5)
		return pdu_exception(rsp, fc, MB_EX_VALUE);
	start = pdu_get16(req + 1);
	if (fc == 5 || fc == 6) {
		uint16_t v = pdu_get16(req + 3);

		if (len != 5 || (fc == 5 && v != 0xff00 && v != 0))
			return pdu_exception(rsp, fc, MB_EX_VALUE);
		if (!model_range_ok(d, t, start, 1))
			return pdu_exception(rsp, fc, MB_EX_ADDRESS);
		tb->regs[start - tb->lo] = fc == 5 ? (v != 0) : v;
		model_after_write(d, t, start, 1);
		memcpy(rsp, req, 5);
		return 5;
	}
	qty = pdu_get16(req + 3);
	bc = len > 5 ? req[5] : 0;
	if (fc == 15 && (qty < 1 || qty > 0x7b0 || bc != (qty + 7) / 8 || len != 6 + bc))
		return pdu_exception(rsp, fc, MB_EX_VALUE);
	if (fc == 16 && (qty < 1 || qty > 0x7b || bc != qty * 2 || len != 6 + bc))
		return pdu_exception(rsp, fc, MB_EX_VALUE);
	if (start + qty > 65536 || !model_range_ok(d, t, start, qty))
		return pdu_exception(rsp, fc, MB_EX_ADDRESS);
	for (uint32_t i = 0; i < qty; i++) {
		if (fc == 15)
			tb->regs[start - tb->lo + i] = (req[6 + i / 8] >> (i % 8)) & 1u;
		else
			tb->regs[start - tb->lo + i] = pdu_get16(req + 6 + 2 * i);
	}
	model_after_write(d, t, start, qty);
	memcpy(rsp, req, 5);
	return 5;
}

struct pdu_result pdu_handle(struct sim_model *m, enum sim_link link, unsigned unit,
			     const uint8_t *req, size_t len, uint8_t *rsp)
{
	struct pdu_result r = { .dev = unit < 256 ? m->route[link][unit] : -1, .len = 0 };
	struct sim_dev *d;
	uint8_t fc = req[0];

	if (r.dev < 0) {
		model_unknown_unit(m);
		return r;
	}
	d = &m->devs[r.dev];
	d->count.requests++;
	if (fc < SIM_NFC)
		d->count.fc[fc]++;
	m->dirty = true;
	if (d->offline) {
		d->count.ignored++;
		return r;
	}
	if (d->exception)
		r.len = pdu_exception(rsp, fc, d->exception);
	else if (fc >= 1 && fc <= 4)
		r.len = pdu_read(d, req, len, rsp);
	else if (fc == 5 || fc == 6 || fc == 15 || fc == 16)
		r.len = pdu_write(d, req, len, rsp);
	else
		r.len = pdu_exception(rsp, fc, MB_EX_FUNCTION);
	if (rsp[0] & 0x80)
		d->count.exceptions++;
	else if (fc <= 4)
		d->count.reads++;
	else
		d->count.writes++;
	return r;
}
