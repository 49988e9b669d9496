/*
 * config: loads and validates the gateway configuration and the device
 * profiles it names into the typed structs of config.h. The only module that
 * sees JSON (with payload.c, which builds MQTT payloads).
 *
 * How it reports: every problem found is written to ERRS, one line each, and
 * loading goes on so that one run shows all of them:
 *   FILE: JSON.PATH: message       a value (FILE = the config as given, or the
 *                                  profile's path for an error inside a profile)
 *   FILE:LINE:COLUMN: message      a syntax error (from jansson)
 *   warning: FILE: JSON.PATH: msg  does not make the load fail
 * Checks whose input is already wrong are skipped (an alarm naming a point of
 * a device whose points did not validate reports nothing more), so that one
 * mistake gives one line.
 *
 * Decisions where the SPEC is silent (the README's config reference repeats
 * them):
 *  - Relative paths (storage.path, profiles_dir, mqtt.password_file,
 *    mqtt.tls.*) are relative to the directory of the config file, and are
 *    stored absolute. profiles_dir_override is used as given.
 *  - Ranges: poll_ms 50..3600000, timeout_ms 10..10000, retries 0..5, baud one
 *    of 1200..230400 (standard rates), unit 1..247 on an rtu or rtu-tcp bus
 *    (0 is the broadcast address: nobody answers a read) and 0..247 or 255
 *    on a tcp bus, port
 *    1..65535, max_read_regs 1..125, max_gap 0..125, offline_after 1..100,
 *    retention_days 1..3650, max_mb 2..1048576, keepalive_s 5..3600,
 *    telemetry.interval_s 0..86400 (0 = off), telemetry.qos 0..1,
 *    inter_frame_delay_ms 0..1000, deadband >= 0, store_max_interval_s
 *    1..86400, delay_s and clear_delay_s 0..86400, scale a number other than 0.
 *  - At least one bus and one device. Two devices on one bus may not share a
 *    unit id; two tcp or rtu-tcp buses may not share host:port; two rtu
 *    buses may not share a serial device. An rtu-tcp bus takes the keys of
 *    a tcp bus and inter_frame_delay_ms; serial keys are refused on it.
 *  - Points: `type` defaults to bool on coil/discrete tables and is required
 *    on input/holding. A bool on an input/holding register needs `bit`.
 *    scale, offset, order and decimals_from are refused on bool points.
 *    `min`/`max` need `writable: true`; writable needs a coil or holding table.
 *    Several bit points may share a register; the same bit twice is an overlap.
 *  - decimals_from (profile or inline point): "POINTNAME" of an integer
 *    register point of the same device (not itself, without decimals_from of
 *    its own); the value becomes raw * scale / 10^(that point's value) + offset.
 *  - A device names a profile, lists points, or both; inline points replace
 *    the profile's point of the same name (the whole point); the device must
 *    end up with at least one point.
 *  - mqtt.password_file needs mqtt.username. mqtt.tls files are only allowed
 *    when some broker is mqtts://; cert_file and key_file go together.
 *    topic_prefix may not contain + or #, empty levels, or start with $.
 *  - http.listen is an IPv4 address or a bracketed IPv6 address and a port
 *    (no host names: nothing to resolve at start); http.password_file may
 *    not be empty.
 *  - An alarm on a disabled device is a warning (it can never fire).
 *  - A serial device that does not exist is a warning (plugged in later).
 */
#include "cfg_int.h"
#include "version.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const config_severity_names[CONFIG_NSEVERITIES] = {"critical", "major", "minor", "warning"};
const char *const config_category_names[CONFIG_NCATEGORIES] = {
	"fire", "power", "water", "lighting", "security", "gas", "elevator", "structure",
	"environment", "system"};
const char *const config_when_names[CONFIG_NWHENS] = {"above", "below", "equals", "not_equals"};
const char *const config_bus_type_names[CONFIG_NBUS_TYPES] = {"rtu", "tcp", "rtu-tcp"};

static const char *const root_keys[] = {
	"site", "log_level", "storage", "profiles_dir", "control_socket", "mqtt", "uplinks", "http",
	"buses", "devices", "alarms", NULL
};

struct config *config_load(const char *path, const char *profiles_dir_override,
			   FILE *errs)
{
	struct ctx c;
	struct config *cfg;
	json_t *root;
	size_t i;
	int lvl = LOG_LVL_INFO;

	memset(&c, 0, sizeof(c));
	c.errs = errs;
	c.file = path;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		fprintf(errs, "%s: out of memory\n", path);
		return NULL;
	}
	cfg->log_level = LOG_LVL_INFO;
	if (snprintf(cfg->path, sizeof(cfg->path), "%s", path) >= (int)sizeof(cfg->path)) {
		fprintf(errs, "%s: path too long\n", path);
		free(cfg);
		return NULL;
	}
	root = cfg_load_json(&c, path);
	if (!root)
		goto out_fail;
	cfg_dir_of(path, c.dir);

	cfg_check_keys(&c, root, "", root_keys);
	cfg_parse_site(&c, root, cfg);
	if (cfg_get_enum(&c, root, "", "log_level", log_level_names, NELEM(log_level_names),
		     &lvl) == 1)
		cfg->log_level = (enum yw_log_level)lvl;
	cfg_parse_storage(&c, root, cfg);
	cfg_strfmt(cfg->profiles_dir, sizeof(cfg->profiles_dir), "%s", YW_PROFILES_DIR);
	cfg_get_path(&c, root, "", "profiles_dir", cfg->profiles_dir);
	if (profiles_dir_override)
		cfg_strfmt(cfg->profiles_dir, sizeof(cfg->profiles_dir), "%s", profiles_dir_override);
	c.profiles_dir = cfg->profiles_dir;
	cfg_parse_control(&c, root, cfg);
	cfg_parse_mqtt(&c, root, cfg);
	cfg_parse_http(&c, root, cfg);
	cfg_parse_buses(&c, root, cfg);
	cfg_parse_devices(&c, root, cfg);
	cfg_parse_alarms(&c, root, cfg);
	cfg_parse_uplinks(&c, root, cfg);
	json_decref(root);
	if (c.nerr == 0)
		cfg_profiles_keep(&c, &cfg->profiles, &cfg->nprofiles);

out_fail:
	for (i = 0; i < c.nprofiles; i++)
		free(c.profiles[i].pts);
	free(c.profiles);
	free(c.dev_ok);
	free(c.dev_id_ok);
	if (c.nerr) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void config_free(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->ndevices; i++)
		free(cfg->devices[i].points);
	free(cfg->devices);
	free(cfg->buses);
	free(cfg->alarms);
	free(cfg->profiles);
	free(cfg->mqtt.brokers);
	free(cfg->mqtt.select_devices);
	/* the password is a secret: do not leave it in freed memory */
	explicit_bzero(cfg->mqtt.password, sizeof(cfg->mqtt.password));
	for (i = 0; i < cfg->nuplinks; i++) {
		free(cfg->uplinks[i].brokers);
		free(cfg->uplinks[i].select_devices);
		explicit_bzero(cfg->uplinks[i].password, sizeof(cfg->uplinks[i].password));
	}
	free(cfg->uplinks);
	explicit_bzero(cfg->http.password, sizeof(cfg->http.password));
	free(cfg);
}

size_t config_npoints(const struct config *cfg)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->ndevices; i++)
		n += cfg->devices[i].npoints;
	return n;
}

int config_find_device(const struct config *cfg, const char *id)
{
	size_t i;

	for (i = 0; i < cfg->ndevices; i++)
		if (strcmp(cfg->devices[i].id, id) == 0)
			return (int)i;
	return -1;
}

int config_find_point(const struct device_cfg *dev, const char *name)
{
	size_t i;

	for (i = 0; i < dev->npoints; i++)
		if (strcmp(dev->points[i].name, name) == 0)
			return (int)i;
	return -1;
}

int config_find_alarm(const struct config *cfg, const char *id)
{
	size_t i;

	for (i = 0; i < cfg->nalarms; i++)
		if (strcmp(cfg->alarms[i].id, id) == 0)
			return (int)i;
	return -1;
}

const struct profile_cfg *config_find_profile(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nprofiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}

void config_identify_point(const struct identify_cfg *id, struct point_cfg *p)
{
	memset(p, 0, sizeof(*p));
	cfg_strfmt(p->name, sizeof(p->name), "identify");
	p->table = id->table;
	p->address = id->address;
	p->type = id->type;
	p->order = id->order;
	p->bit = -1;
	p->scale = 1;
	p->decimals_from = -1;
	p->store_max_interval_s = 300;
}

/* NAME.json with NAME an id: a profile's file name. */
static int profile_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	const char *s = e->d_name;

	if (n < 6 || n - 5 >= YW_ID_MAX || strcmp(s + n - 5, ".json") != 0)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (size_t i = 1; i < n - 5; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* Each profile is loaded through the same path as a device's (one context:
 * cfg_profile_get parses and checks it once), so its errors read as in
 * config_load. A file whose name is not an id cannot be named by a device
 * and is not a profile: it is left alone. */
int config_load_profiles(const char *dir, FILE *errs, struct profile_cfg **out, size_t *n)
{
	struct dirent **names = NULL;
	struct ctx c;
	int k, i, rc = 0;

	*out = NULL;
	*n = 0;
	memset(&c, 0, sizeof(c));
	c.errs = errs;
	c.file = dir;
	c.profiles_dir = dir;
	k = scandir(dir, &names, profile_file, alphasort);
	if (k < 0) {
		fprintf(errs, "%s: cannot read the profiles directory: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < k; i++) {
		char name[YW_ID_MAX];

		cfg_strfmt(name, sizeof(name), "%.*s", (int)(strlen(names[i]->d_name) - 5),
			   names[i]->d_name);
		cfg_profile_get(&c, name, "");
		free(names[i]);
	}
	free(names);
	c.nerr = 0;
	if (cfg_profiles_keep(&c, out, n) != 0 || c.nerr)
		rc = -1;
	for (size_t j = 0; j < c.nprofiles; j++)
		free(c.profiles[j].pts);
	free(c.profiles);
	return rc;
}

static const char *enum_name(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : "?";
}

const char *config_severity_name(enum yw_severity s)
{
	return enum_name(config_severity_names, NELEM(config_severity_names), (int)s);
}

const char *config_category_name(enum yw_category c)
{
	return enum_name(config_category_names, NELEM(config_category_names), (int)c);
}

const char *config_when_name(enum yw_when w)
{
	return enum_name(config_when_names, NELEM(config_when_names), (int)w);
}

const char *config_bus_type_name(enum yw_bus_type t)
{
	return enum_name(config_bus_type_names, NELEM(config_bus_type_names), (int)t);
}

size_t config_nlinks(const struct config *cfg)
{
	return (cfg->mqtt.enabled ? 1 : 0) + cfg->nuplinks;
}

const struct mqtt_cfg *config_link(const struct config *cfg, size_t i)
{
	if (cfg->mqtt.enabled) {
		if (i == 0)
			return &cfg->mqtt;
		i--;
	}
	return i < cfg->nuplinks ? &cfg->uplinks[i] : NULL;
}

bool config_link_selects(const struct mqtt_cfg *l, int dev, int category)
{
	if (l->select_all)
		return true;
	if (category >= 0 && category < CONFIG_NCATEGORIES && (l->select_categories >> category & 1u))
		return true;
	return dev >= 0 && l->select_devices && l->select_devices[dev];
}
