/*
 * drverr: the driver's log lines (through the callback of driver_set_log())
 * and the names and classes of what can go wrong (drv_int.h).
 */
#include "drv_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DRV_COMP "modbus"

/* ---- logging through the daemon's callback ---- */

static drv_log_fn drv_log_cb;
static int drv_log_max = 2;

void driver_set_log(drv_log_fn fn, int max_level)
{
	drv_log_cb = fn;
	drv_log_max = max_level;
}

void drv_log(int level, const char *fmt, ...)
{
	static const char *const names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	char msg[512];
	va_list ap;

	if (!drv_log_cb && level > drv_log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (drv_log_cb)
		drv_log_cb(level, DRV_COMP, msg);
	else
		fprintf(stderr, "%s %s: %s\n", names[level & 3], DRV_COMP, msg);
}

const char *driver_exception_name(int code)
{
	switch (code) {
	case 1: return "illegal function";
	case 2: return "illegal data address";
	case 3: return "illegal data value";
	case 4: return "server device failure";
	case 5: return "acknowledge";
	case 6: return "server device busy";
	case 7: return "negative acknowledge";
	case 8: return "memory parity error";
	case 10: return "gateway path unavailable";
	case 11: return "gateway target device failed to respond";
	}
	return "unknown exception";
}

const char *driver_status_name(enum drv_status s)
{
	switch (s) {
	case DRV_OK: return "ok";
	case DRV_EXCEPTION: return "exception";
	case DRV_TIMEOUT: return "timeout";
	case DRV_CRC: return "crc";
	case DRV_GATEWAY: return "gateway";
	case DRV_LINK: return "link";
	}
	return "link";
}

/* Text for an errno value set by libmodbus or the system; thread-safe. */
const char *drv_errstr(int err)
{
	switch (err) {
	case EMBBADCRC: return "invalid CRC";
	case EMBBADDATA: return "invalid data in the answer";
	case EMBBADEXC: return "invalid exception code";
	case EMBMDATA: return "too many data";
	case EMBBADSLAVE: return "answer from another unit";
	case DRV_EMISMATCH: return "answer from another unit or to another request";
	case DRV_EMALFORMED: return "malformed answer (length, byte count or echo)";
	case DRV_EGARBLED: return "no answer in the bytes received (garbled, cut short, bad CRC "
				  "or another unit's)";
	case DRV_ERESOLVE: return "cannot resolve the host name";
	case DRV_ENOQUIET: return "the line does not go quiet";
	default: break;
	}
	if (err > MODBUS_ENOBASE && err < MODBUS_ENOBASE + MODBUS_EXCEPTION_MAX)
		return "exception";
	const char *s = strerrordesc_np(err);
	return s ? s : "unknown error";
}

enum drv_status drv_classify(int err, int *exc)
{
	if (err > MODBUS_ENOBASE && err < MODBUS_ENOBASE + MODBUS_EXCEPTION_MAX) {
		if (exc)
			*exc = err - MODBUS_ENOBASE;
		return DRV_EXCEPTION;
	}
	switch (err) {
	case ETIMEDOUT:
		return DRV_TIMEOUT;
	case DRV_EMISMATCH:
	case DRV_EMALFORMED:
	case DRV_EGARBLED:
	case EMBBADCRC:
	case EMBBADDATA:
	case EMBBADEXC:
	case EMBUNKEXC:
	case EMBBADSLAVE:
		return DRV_CRC;
	default:
		return DRV_LINK;
	}
}
