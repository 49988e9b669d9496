/*
 * devices: the buses, devices and alarms sections: bus settings that can
 * work, devices with their profile and inline points merged, unit ids, and
 * alarms resolved to DEVICE.POINT.
 */
#include "cfg_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static const int std_bauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400};

static const char *const bus_keys[] = {
	"id", "type", "device", "baud", "parity", "data_bits", "stop_bits", "rs485",
	"inter_frame_delay_ms", "host", "port", "timeout_ms", "retries", NULL
};
/* Keys of a serial line: refused on tcp and rtu-tcp buses (the serial
 * device server holds the line's settings); inter_frame_delay_ms is taken
 * on rtu and rtu-tcp. */
static const char *const serial_only[] = {
	"device", "baud", "parity", "data_bits", "stop_bits", "rs485", NULL
};
static const char *const tcp_only[] = {"host", "port", NULL};

static void parse_bus(struct ctx *c, json_t *o, const char *base, struct config *cfg,
		      size_t idx)
{
	static const int bits[] = {7, 8}, stops[] = {1, 2};
	struct bus_cfg *b = &cfg->buses[idx];
	char kp[PATHSZ], par[4];
	const char *const *k;
	struct stat st;
	int type = -1;
	size_t i;

	b->baud = 9600;
	b->parity = 'N';
	b->data_bits = 8;
	b->stop_bits = 1;
	b->port = 502;
	b->retries = 1;
	b->timeout_ms = 1000;
	if (!json_is_object(o)) {
		cfg_err(c, base, "must be an object");
		c->bad_bus_id = true;
		return;
	}
	cfg_check_keys(c, o, base, bus_keys);
	if (!cfg_need(c, o, base, "id") || cfg_get_id(c, o, base, "id", b->id) != 1) {
		c->bad_bus_id = true;
	} else {
		for (i = 0; i < idx; i++)
			if (strcmp(cfg->buses[i].id, b->id) == 0)
				cfg_err(c, cfg_kpath(kp, base, "id"), "duplicate bus id \"%s\"", b->id);
	}
	if (cfg_need(c, o, base, "type"))
		cfg_get_enum(c, o, base, "type", config_bus_type_names, NELEM(config_bus_type_names), &type);
	b->type = type == BUS_RTU || type == BUS_RTU_TCP ? (enum yw_bus_type)type : BUS_TCP;
	if (type == BUS_RTU)
		b->timeout_ms = 300;
	cfg_get_int(c, o, base, "timeout_ms", 10, 10000, &b->timeout_ms);
	cfg_get_int(c, o, base, "retries", 0, 5, &b->retries);
	if (type == BUS_TCP || type == BUS_RTU_TCP) {
		const char *a_bus = type == BUS_TCP ? "a tcp bus" : "an rtu-tcp bus";

		for (k = serial_only; *k; k++)
			if (json_object_get(o, *k))
				cfg_err(c, cfg_kpath(kp, base, *k), "not allowed on %s", a_bus);
		if (type == BUS_TCP && json_object_get(o, "inter_frame_delay_ms"))
			cfg_err(c, cfg_kpath(kp, base, "inter_frame_delay_ms"), "not allowed on %s",
				a_bus);
		if (json_object_get(o, "host")) {
			if (cfg_get_str(c, o, base, "host", b->host, sizeof(b->host), true) == 1 &&
			    strpbrk(b->host, " \t/"))
				cfg_err(c, cfg_kpath(kp, base, "host"), "\"%s\" is not a host name or address",
					b->host);
		} else {
			cfg_err(c, cfg_kpath(kp, base, "host"), "is required for %s", a_bus);
		}
		cfg_get_int(c, o, base, "port", 1, 65535, &b->port);
		if (type == BUS_RTU_TCP)
			cfg_get_int(c, o, base, "inter_frame_delay_ms", 0, 1000,
				    &b->inter_frame_delay_ms);
		return;
	}
	if (type != BUS_RTU)
		return;
	for (k = tcp_only; *k; k++)
		if (json_object_get(o, *k))
			cfg_err(c, cfg_kpath(kp, base, *k), "not allowed on an rtu bus");
	if (!json_object_get(o, "device"))
		cfg_err(c, cfg_kpath(kp, base, "device"), "is required for an rtu bus");
	else if (cfg_get_str(c, o, base, "device", b->device, sizeof(b->device), true) == 1 &&
		 stat(b->device, &st) != 0)
		cfg_warn(c, cfg_kpath(kp, base, "device"), "%s does not exist (yet)", b->device);
	cfg_get_int_of(c, o, base, "baud", std_bauds, NELEM(std_bauds), &b->baud);
	if (json_object_get(o, "parity")) {
		json_t *v = json_object_get(o, "parity");

		if (!json_is_string(v) || json_string_length(v) != 1 ||
		    !strchr("NEO", json_string_value(v)[0])) {
			cfg_err(c, cfg_kpath(kp, base, "parity"), "must be one of N, E, O");
		} else {
			cfg_strfmt(par, sizeof(par), "%s", json_string_value(v));
			b->parity = par[0];
		}
	}
	cfg_get_int_of(c, o, base, "data_bits", bits, NELEM(bits), &b->data_bits);
	cfg_get_int_of(c, o, base, "stop_bits", stops, NELEM(stops), &b->stop_bits);
	cfg_get_bool(c, o, base, "rs485", &b->rs485);
	cfg_get_int(c, o, base, "inter_frame_delay_ms", 0, 1000, &b->inter_frame_delay_ms);
}

static bool same_tty(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (strcmp(a, b) == 0)
		return true;
	return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

void cfg_parse_buses(struct ctx *c, json_t *root, struct config *cfg)
{
	json_t *arr;
	char ip[PATHSZ], kp[PATHSZ];
	size_t i, j, n;

	c->bad_bus_id = true;   /* until the array is there */
	if (!cfg_need(c, root, "", "buses"))
		return;
	arr = json_object_get(root, "buses");
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		cfg_err(c, "buses", "must be a non-empty array of bus objects");
		return;
	}
	n = json_array_size(arr);
	cfg->buses = calloc(n, sizeof(*cfg->buses));
	if (!cfg->buses) {
		cfg_err(c, "buses", "out of memory");
		return;
	}
	cfg->nbuses = n;
	c->bad_bus_id = false;
	for (i = 0; i < n; i++)
		parse_bus(c, json_array_get(arr, i), cfg_ipath(ip, "buses", i), cfg, i);
	for (i = 0; i < n; i++) {
		const struct bus_cfg *b = &cfg->buses[i];

		for (j = 0; j < i; j++) {
			const struct bus_cfg *a = &cfg->buses[j];

			if (!a->id[0] || !b->id[0])
				continue;
			if (b->host[0] && a->host[0] && strcasecmp(a->host, b->host) == 0 &&
			    a->port == b->port)
				cfg_err(c, cfg_kpath(kp, cfg_ipath(ip, "buses", i), "host"),
					"%s:%d is already bus \"%s\"", b->host, b->port, a->id);
			if (b->device[0] && a->device[0] && same_tty(a->device, b->device))
				cfg_err(c, cfg_kpath(kp, cfg_ipath(ip, "buses", i), "device"),
					"%s is already bus \"%s\"", b->device, a->id);
		}
	}
}

static const char *const device_keys[] = {
	"id", "bus", "unit", "profile", "points", "poll_ms", "location", "category",
	"enabled", "offline_after", "offline_severity", "max_read_regs", "max_gap", NULL
};

/* Profile points, then inline ones replacing them by name; checked; into D. */
static int merge_points(struct ctx *c, const char *base, struct device_cfg *d,
			const struct profile *pr, struct pt_tmp *inl, size_t ninl)
{
	size_t n = 0, i, cap = (pr ? pr->npts : 0) + ninl;
	struct pt_tmp *all;
	char prefix[PATHSZ];
	int e0 = c->nerr;

	if (cap == 0)
		return 0;
	all = calloc(cap, sizeof(*all));
	if (!all) {
		cfg_err(c, base, "out of memory");
		return -1;
	}
	if (pr) {
		memcpy(all, pr->pts, pr->npts * sizeof(*all));
		n = pr->npts;
	}
	for (i = 0; i < ninl; i++) {
		int at = cfg_pt_find(all, n, inl[i].p.name);

		if (at >= 0 && !all[at].inl)
			all[at] = inl[i];
		else
			all[n++] = inl[i];
	}
	cfg_strfmt(prefix, sizeof(prefix), "%s.", base);
	cfg_check_point_set(c, all, n, false, prefix, d->id);
	if (c->nerr == e0) {
		d->points = calloc(n, sizeof(*d->points));
		if (!d->points) {
			cfg_err(c, base, "out of memory");
		} else {
			for (i = 0; i < n; i++)
				d->points[i] = all[i].p;
			d->npoints = n;
		}
	}
	free(all);
	return c->nerr == e0 ? 0 : -1;
}

static void parse_device(struct ctx *c, json_t *o, const char *base, struct config *cfg,
			 size_t idx)
{
	struct device_cfg *d = &cfg->devices[idx];
	const struct profile *pr = NULL;
	struct pt_tmp *inl = NULL;
	size_t i, ninl = 0;
	char kp[PATHSZ], busid[YW_ID_MAX];
	int e0 = c->nerr, cat = CAT_SYSTEM, sev = SEV_MAJOR, r_unit = 0;
	bool broken = false;
	json_t *pts;

	d->bus = -1;
	d->unit = -1;
	d->poll_ms = 1000;
	d->category = CAT_SYSTEM;
	d->enabled = true;
	d->offline_after = 3;
	d->offline_severity = SEV_MAJOR;
	d->max_read_regs = 125;
	if (!json_is_object(o)) {
		cfg_err(c, base, "must be an object");
		c->bad_device_id = true;
		return;
	}
	cfg_check_keys(c, o, base, device_keys);
	if (!cfg_need(c, o, base, "id") || cfg_get_id(c, o, base, "id", d->id) != 1) {
		c->bad_device_id = true;
	} else {
		c->dev_id_ok[idx] = true;
		for (i = 0; i < idx; i++)
			if (c->dev_id_ok[i] && strcmp(cfg->devices[i].id, d->id) == 0)
				cfg_err(c, cfg_kpath(kp, base, "id"), "duplicate device id \"%s\"", d->id);
	}
	if (cfg_need(c, o, base, "bus") && cfg_get_id(c, o, base, "bus", busid) == 1) {
		for (i = 0; i < cfg->nbuses; i++)
			if (strcmp(cfg->buses[i].id, busid) == 0)
				d->bus = (int)i;
		if (d->bus < 0 && !c->bad_bus_id)
			cfg_err(c, cfg_kpath(kp, base, "bus"), "no bus \"%s\"", busid);
	}
	if (cfg_need(c, o, base, "unit")) {
		if (d->bus >= 0 && cfg->buses[d->bus].type != BUS_TCP)
			r_unit = cfg_get_int(c, o, base, "unit", 1, 247, &d->unit);
		else
			r_unit = cfg_get_int(c, o, base, "unit", 0, 255, &d->unit);
		/* 248..254 are reserved: libmodbus refuses them as unit ids. */
		if (r_unit == 1 && d->unit > 247 && d->unit < 255) {
			cfg_err(c, cfg_kpath(kp, base, "unit"), "must be 0..247 or 255 on a tcp bus");
			r_unit = 0;
		}
	}
	if (r_unit == 1 && d->bus >= 0)
		for (i = 0; i < idx; i++)
			if (cfg->devices[i].bus == d->bus && cfg->devices[i].unit == d->unit)
				cfg_err(c, cfg_kpath(kp, base, "unit"),
					"unit %d on bus \"%s\" is already device \"%s\"", d->unit,
					cfg->buses[d->bus].id, cfg->devices[i].id);
	cfg_get_int(c, o, base, "poll_ms", 50, 3600000, &d->poll_ms);
	cfg_get_str(c, o, base, "location", d->location, sizeof(d->location), false);
	if (cfg_get_enum(c, o, base, "category", config_category_names, NELEM(config_category_names), &cat) == 1)
		d->category = (enum yw_category)cat;
	cfg_get_bool(c, o, base, "enabled", &d->enabled);
	cfg_get_int(c, o, base, "offline_after", 1, 100, &d->offline_after);
	if (cfg_get_enum(c, o, base, "offline_severity", config_severity_names, NELEM(config_severity_names),
		     &sev) == 1)
		d->offline_severity = (enum yw_severity)sev;
	cfg_get_int(c, o, base, "max_read_regs", 1, 125, &d->max_read_regs);
	cfg_get_int(c, o, base, "max_gap", 0, 125, &d->max_gap);

	if (json_object_get(o, "profile")) {
		if (cfg_get_id(c, o, base, "profile", d->profile) == 1)
			pr = cfg_profile_get(c, d->profile, cfg_kpath(kp, base, "profile"));
		if (!pr)
			broken = true;
	}
	pts = json_object_get(o, "points");
	if (pts && cfg_parse_points(c, pts, cfg_kpath(kp, base, "points"), true, &inl, &ninl) < 0)
		broken = true;
	if (!pts && !json_object_get(o, "profile"))
		cfg_err(c, base, "needs a profile or points");
	else if (!broken && merge_points(c, base, d, pr, inl, ninl) == 0 && d->npoints == 0)
		cfg_err(c, cfg_kpath(kp, base, "points"), "the device has no points");
	free(inl);
	c->dev_ok[idx] = !broken && c->nerr == e0;
}

void cfg_parse_devices(struct ctx *c, json_t *root, struct config *cfg)
{
	json_t *arr;
	char ip[PATHSZ];
	size_t i, n;

	c->bad_device_id = true;   /* until the array is there */
	if (!cfg_need(c, root, "", "devices"))
		return;
	arr = json_object_get(root, "devices");
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		cfg_err(c, "devices", "must be a non-empty array of device objects");
		return;
	}
	n = json_array_size(arr);
	cfg->devices = calloc(n, sizeof(*cfg->devices));
	c->dev_ok = calloc(n, sizeof(*c->dev_ok));
	c->dev_id_ok = calloc(n, sizeof(*c->dev_id_ok));
	if (!cfg->devices || !c->dev_ok || !c->dev_id_ok) {
		cfg_err(c, "devices", "out of memory");
		return;
	}
	cfg->ndevices = n;
	c->bad_device_id = false;
	for (i = 0; i < n; i++)
		parse_device(c, json_array_get(arr, i), cfg_ipath(ip, "devices", i), cfg, i);
}

static const char *const alarm_keys[] = {
	"id", "point", "when", "threshold", "clear", "value", "delay_s", "clear_delay_s",
	"severity", "category", "latch", "message", NULL
};

/* Resolve "DEVICE.POINT" for alarm A; reported when wrong. */
static void alarm_resolve(struct ctx *c, const char *base, struct config *cfg,
			  struct alarm_cfg *a)
{
	char kp[PATHSZ], dev[YW_FULLID_MAX];
	const char *dot = strchr(a->point, '.');
	size_t i;

	cfg_kpath(kp, base, "point");
	if (!dot || dot == a->point || !dot[1] || strchr(dot + 1, '.')) {
		cfg_err(c, kp, "\"%s\" is not DEVICE.POINT", a->point);
		return;
	}
	cfg_strfmt(dev, sizeof(dev), "%.*s", (int)(dot - a->point), a->point);
	for (i = 0; i < cfg->ndevices; i++)
		if (c->dev_id_ok[i] && strcmp(cfg->devices[i].id, dev) == 0)
			a->device = (int)i;
	if (a->device < 0) {
		if (!c->bad_device_id)
			cfg_err(c, kp, "no device \"%s\"", dev);
		return;
	}
	if (!c->dev_ok[a->device])
		return;
	a->pt = config_find_point(&cfg->devices[a->device], dot + 1);
	if (a->pt < 0)
		cfg_err(c, kp, "device \"%s\" has no point \"%s\"", dev, dot + 1);
}

static void parse_alarm(struct ctx *c, json_t *o, const char *base, struct config *cfg,
			size_t idx)
{
	struct alarm_cfg *a = &cfg->alarms[idx];
	char kp[PATHSZ];
	int when = -1, sev = SEV_MAJOR, cat = -1, r_thr, r_clear, r_val;
	json_t *v;
	size_t i;

	a->device = -1;
	a->pt = -1;
	a->severity = SEV_MAJOR;
	a->category = CAT_SYSTEM;
	if (!json_is_object(o)) {
		cfg_err(c, base, "must be an object");
		return;
	}
	cfg_check_keys(c, o, base, alarm_keys);
	if (cfg_need(c, o, base, "id") && cfg_get_id(c, o, base, "id", a->id) == 1)
		for (i = 0; i < idx; i++)
			if (strcmp(cfg->alarms[i].id, a->id) == 0)
				cfg_err(c, cfg_kpath(kp, base, "id"), "duplicate alarm id \"%s\"", a->id);
	if (cfg_need(c, o, base, "point") &&
	    cfg_get_str(c, o, base, "point", a->point, sizeof(a->point), true) == 1)
		alarm_resolve(c, base, cfg, a);
	if (cfg_need(c, o, base, "when"))
		cfg_get_enum(c, o, base, "when", config_when_names, NELEM(config_when_names), &when);
	r_thr = cfg_get_num(c, o, base, "threshold", &a->threshold);
	r_clear = cfg_get_num(c, o, base, "clear", &a->clear);
	a->has_clear = r_clear == 1;
	r_val = 0;
	v = json_object_get(o, "value");
	if (v) {
		r_val = 1;
		if (json_is_boolean(v)) {
			a->threshold = json_is_true(v) ? 1 : 0;
		} else if (json_is_number(v)) {
			a->threshold = json_number_value(v);
		} else {
			cfg_err(c, cfg_kpath(kp, base, "value"), "must be a number or true/false");
			r_val = -1;
		}
	}
	if (when == WHEN_ABOVE || when == WHEN_BELOW) {
		if (r_thr == 0)
			cfg_err(c, cfg_kpath(kp, base, "threshold"), "is required for when \"%s\"",
				config_when_names[when]);
		if (r_val != 0)
			cfg_err(c, cfg_kpath(kp, base, "value"),
				"not used with when \"%s\" (use threshold)", config_when_names[when]);
		if (r_thr == 1 && r_clear == 1 && when == WHEN_BELOW && a->clear < a->threshold)
			cfg_err(c, cfg_kpath(kp, base, "clear"),
				"must be >= threshold for when \"below\"");
		if (r_thr == 1 && r_clear == 1 && when == WHEN_ABOVE && a->clear > a->threshold)
			cfg_err(c, cfg_kpath(kp, base, "clear"),
				"must be <= threshold for when \"above\"");
	} else if (when == WHEN_EQUALS || when == WHEN_NOT_EQUALS) {
		if (r_val == 0)
			cfg_err(c, cfg_kpath(kp, base, "value"), "is required for when \"%s\"",
				config_when_names[when]);
		if (r_thr != 0)
			cfg_err(c, cfg_kpath(kp, base, "threshold"),
				"not used with when \"%s\" (use value)", config_when_names[when]);
		if (r_clear != 0)
			cfg_err(c, cfg_kpath(kp, base, "clear"), "not used with when \"%s\"",
				config_when_names[when]);
	}
	if (!a->has_clear)
		a->clear = a->threshold;
	if (when >= 0)
		a->when = (enum yw_when)when;
	cfg_get_num_range(c, o, base, "delay_s", 0, 86400, &a->delay_s);
	cfg_get_num_range(c, o, base, "clear_delay_s", 0, 86400, &a->clear_delay_s);
	if (cfg_get_enum(c, o, base, "severity", config_severity_names, NELEM(config_severity_names), &sev) == 1)
		a->severity = (enum yw_severity)sev;
	if (cfg_get_enum(c, o, base, "category", config_category_names, NELEM(config_category_names), &cat) == 1)
		a->category = (enum yw_category)cat;
	else if (a->device >= 0)
		a->category = cfg->devices[a->device].category;
	cfg_get_bool(c, o, base, "latch", &a->latch);
	cfg_get_str(c, o, base, "message", a->message, sizeof(a->message), false);
	if (a->device >= 0 && !cfg->devices[a->device].enabled)
		cfg_warn(c, cfg_kpath(kp, base, "point"),
			 "device \"%s\" is disabled: this alarm can never be raised",
			 cfg->devices[a->device].id);
}

void cfg_parse_alarms(struct ctx *c, json_t *root, struct config *cfg)
{
	json_t *arr = json_object_get(root, "alarms");
	char ip[PATHSZ];
	size_t i, n;

	if (!arr)
		return;
	if (!json_is_array(arr)) {
		cfg_err(c, "alarms", "must be an array of alarm objects");
		return;
	}
	n = json_array_size(arr);
	if (n == 0)
		return;
	cfg->alarms = calloc(n, sizeof(*cfg->alarms));
	if (!cfg->alarms) {
		cfg_err(c, "alarms", "out of memory");
		return;
	}
	cfg->nalarms = n;
	for (i = 0; i < n; i++)
		parse_alarm(c, json_array_get(arr, i), cfg_ipath(ip, "alarms", i), cfg, i);
}
