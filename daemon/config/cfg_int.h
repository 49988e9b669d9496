/*
 * cfg_int: what the rooms of the config loader share (private to
 * daemon/config/). The loader is:
 *   json.c      messages ("FILE: JSON.PATH: message"), typed getters of JSON
 *               values with their range checks, paths, loading a JSON file
 *   points.c    points and profiles, and the checks of a point set
 *   sections.c  site, storage, mqtt and http
 *   devices.c   buses, devices and alarms
 *   config.c    config_load() (the order of the sections), config_free(),
 *               look-ups and the names of the config's enums
 * Only json.c and its callers see jansson; the rest of the program reads
 * struct config (config.h).
 */
#ifndef YW_CFG_INT_H
#define YW_CFG_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../config.h"

#define PATHSZ 256            /* a JSON path in a message */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A point while the device is being put together. */
struct pt_tmp {
	struct point_cfg p;
	char dfrom[YW_ID_MAX];   /* decimals_from name, "" when none */
	bool inl;                /* from the device's inline "points" */
	int src;                 /* index in the JSON "points" array it came from */
};

/* A profile file, loaded once however many devices name it. */
struct profile {
	char name[YW_ID_MAX];
	char path[YW_PATH_MAX];
	int open_errno;          /* != 0: the file could not be opened */
	bool ok;                 /* parsed and valid */
	struct pt_tmp *pts;      /* owned */
	size_t npts;
	struct profile_cfg info; /* vendor, model, identify: what the config keeps */
};

struct ctx {
	FILE *errs;
	const char *file;        /* the file named in messages right now */
	int nerr;
	char dir[YW_PATH_MAX];   /* the config file's directory, absolute */
	const char *profiles_dir;
	struct profile *profiles;/* owned */
	size_t nprofiles;
	bool bad_bus_id;         /* some bus id did not validate */
	bool bad_device_id;      /* some device id did not validate */
	bool *dev_ok;            /* owned: per device, everything validated */
	bool *dev_id_ok;         /* owned: per device, its id validated */
};

/* json.c: messages, typed getters, paths */
__attribute__((format(printf, 3, 4)))
void cfg_strfmt(char *buf, size_t size, const char *fmt, ...);
__attribute__((format(printf, 3, 4)))
void cfg_err(struct ctx *c, const char *path, const char *fmt, ...);
__attribute__((format(printf, 3, 4)))
void cfg_warn(struct ctx *c, const char *path, const char *fmt, ...);
const char *cfg_kpath(char *buf, const char *base, const char *key);
const char *cfg_ipath(char *buf, const char *base, size_t i);
void cfg_check_keys(struct ctx *c, json_t *o, const char *base, const char *const *allowed);
bool cfg_need(struct ctx *c, json_t *o, const char *base, const char *key);
int cfg_get_int(struct ctx *c, json_t *o, const char *base, const char *key, long long lo, long long hi, int *out);
int cfg_get_int_of(struct ctx *c, json_t *o, const char *base, const char *key, const int *vals, size_t n, int *out);
int cfg_get_num(struct ctx *c, json_t *o, const char *base, const char *key, double *out);
int cfg_get_num_range(struct ctx *c, json_t *o, const char *base, const char *key, double lo, double hi, double *out);
int cfg_get_bool(struct ctx *c, json_t *o, const char *base, const char *key, bool *out);
int cfg_get_str(struct ctx *c, json_t *o, const char *base, const char *key, char *out, size_t size, bool nonempty);
int cfg_get_id(struct ctx *c, json_t *o, const char *base, const char *key, char out[YW_ID_MAX]);
int cfg_get_enum(struct ctx *c, json_t *o, const char *base, const char *key, const char *const *names, size_t n, int *out);
json_t *cfg_get_obj(struct ctx *c, json_t *o, const char *base, const char *key);
int cfg_get_path(struct ctx *c, json_t *o, const char *base, const char *key, char out[YW_PATH_MAX]);
int cfg_check_readable(struct ctx *c, const char *path, const char *file);
void cfg_dir_of(const char *path, char out[YW_PATH_MAX]);
json_t *cfg_load_json(struct ctx *c, const char *file);

/* points.c: points and profiles */
int cfg_pt_find(const struct pt_tmp *pts, size_t n, const char *name);
void cfg_check_point_set(struct ctx *c, struct pt_tmp *pts, size_t n, bool profile, const char *prefix, const char *devid);
int cfg_parse_points(struct ctx *c, json_t *arr, const char *base, bool inl, struct pt_tmp **out, size_t *n);
struct profile *cfg_profile_get(struct ctx *c, const char *name, const char *path);
/* Every profile of C->profiles that loaded, as config.h keeps them (*OUT
 * owned by the caller). -1 on out of memory (reported). */
int cfg_profiles_keep(struct ctx *c, struct profile_cfg **out, size_t *n);

/* sections.c: site, storage, mqtt, http */
void cfg_parse_site(struct ctx *c, json_t *root, struct config *cfg);
void cfg_parse_storage(struct ctx *c, json_t *root, struct config *cfg);
void cfg_parse_control(struct ctx *c, json_t *root, struct config *cfg);
/* after the devices: select names them */
void cfg_parse_uplinks(struct ctx *c, json_t *root, struct config *cfg);
void cfg_parse_mqtt(struct ctx *c, json_t *root, struct config *cfg);
void cfg_parse_http(struct ctx *c, json_t *root, struct config *cfg);

/* devices.c: buses, devices, alarms */
void cfg_parse_buses(struct ctx *c, json_t *root, struct config *cfg);
void cfg_parse_devices(struct ctx *c, json_t *root, struct config *cfg);
void cfg_parse_alarms(struct ctx *c, json_t *root, struct config *cfg);

#endif
