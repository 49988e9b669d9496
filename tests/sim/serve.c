/*
 * serve: one request, as a transport has cut it out of its stream, to the
 * bytes that go back on the wire: the PDU handler's answer (pdu.c), framed
 * for the link and then changed as the device's current fault says
 * (frame.c). The one place that logs, at debug, what became of a request.
 */
#include "../../daemon/log.h"
#include "../../daemon/util.h"
#include "pdu.h"
#include "sim.h"

size_t serve_request(struct sim *s, enum sim_link link, unsigned unit, unsigned tid,
		     const uint8_t *req, size_t len, uint8_t *adu, int *delay_ms)
{
	const char *lname = link == LINK_TCP ? "tcp" : link == LINK_RTU ? "rtu" : "rtu-tcp";
	uint8_t *pdu = adu + (link == LINK_TCP ? 7 : 1);
	struct pdu_result r = pdu_handle(&s->model, link, unit, req, len, pdu);
	const struct sim_fault *f;
	struct sim_dev *d;
	size_t n;

	*delay_ms = 0;
	if (r.dev < 0) {
		log_debug("sim", "%s: unit %u not configured; no answer", lname, unit);
		return 0;
	}
	d = &s->model.devs[r.dev];
	if (r.len == 0) {
		log_debug("sim", "%s: fc %u ignored (offline)", d->cfg->id, req[0]);
		return 0;
	}
	if (pdu[0] & 0x80)
		log_debug("sim", "%s: fc %u start %u qty %u -> exception %u", d->cfg->id, req[0],
			  len >= 3 ? pdu_get16(req + 1) : 0, len >= 5 ? pdu_get16(req + 3) : 0,
			  pdu[1]);
	if (link == LINK_TCP)
		n = frame_tcp(adu, tid, unit, pdu, r.len);
	else
		n = frame_rtu(adu, unit, pdu, r.len);
	f = model_fault(d, util_mono_ms());
	if (!f)
		return n;
	d->count.faulted++;
	log_debug("sim", "%s: fc %u answer under fault %s", d->cfg->id, req[0],
		  frame_fault_name(f->kind));
	return frame_fault(f, link, adu, n, &s->model.fault_rng, delay_ms);
}
