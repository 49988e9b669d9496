/*
 * config: the typed view of the gateway configuration (daemon/config/ loads
 * it; daemon/config/cfg_int.h maps the loader). It loads and validates the gateway configuration (JSON) and the device
 * profiles it names, into typed structs. This is the only module that sees
 * JSON; everything else reads `struct config`.
 *
 * Ownership: config_load() returns a heap `struct config` owned by the caller,
 * released with config_free(). Strings are fixed-size arrays inside the structs
 * (ids are at most 63 characters), so there is one allocation per array.
 */
#ifndef YW_CONFIG_H
#define YW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../drivers/point.h"
#include "log.h"

#define YW_FULLID_MAX 128     /* DEVICE.POINT */
#define YW_TEXT_MAX 256       /* names, locations, messages, hosts */
#define YW_PATH_MAX 1024

enum yw_severity { SEV_CRITICAL, SEV_MAJOR, SEV_MINOR, SEV_WARNING };
#define CONFIG_NSEVERITIES 4

enum yw_category {
	CAT_FIRE, CAT_POWER, CAT_WATER, CAT_LIGHTING, CAT_SECURITY, CAT_GAS,
	CAT_ELEVATOR, CAT_STRUCTURE, CAT_ENVIRONMENT, CAT_SYSTEM
};
#define CONFIG_NCATEGORIES 10

enum yw_when { WHEN_ABOVE, WHEN_BELOW, WHEN_EQUALS, WHEN_NOT_EQUALS };
#define CONFIG_NWHENS 4

#define CONFIG_CONTROL_SOCKET "/run/yardwatch/control.sock"
#define YW_CTL_PATH_MAX 108         /* a unix socket's sun_path */

/* BUS_RTU_TCP: Modbus RTU frames over TCP (a serial device server in
 * transparent mode): host and port as tcp, one RS-485 line behind it. */
enum yw_bus_type { BUS_RTU, BUS_TCP, BUS_RTU_TCP };
#define CONFIG_NBUS_TYPES 3

struct bus_cfg {
	char id[YW_ID_MAX];
	enum yw_bus_type type;
	/* rtu */
	char device[YW_PATH_MAX];
	int baud;                /* default 9600 */
	char parity;             /* 'N' | 'E' | 'O', default 'N' */
	int data_bits;           /* 7 | 8, default 8 */
	int stop_bits;           /* 1 | 2, default 1 */
	bool rs485;              /* default false: ask the driver for RS-485 mode */
	int inter_frame_delay_ms;/* default 0: extra silence between requests (rtu, rtu-tcp) */
	/* tcp, rtu-tcp */
	char host[YW_TEXT_MAX];
	int port;                /* default 502 */
	/* all */
	int timeout_ms;          /* default 1000 (tcp, rtu-tcp) / 300 (rtu) */
	int retries;             /* default 1 (a failed request is tried again once) */
};

struct device_cfg {
	char id[YW_ID_MAX];
	int bus;                 /* index into config.buses */
	int unit;                /* Modbus unit id 1..247 on rtu and rtu-tcp (0 =
	                            broadcast, never answered), 0..247 or 255 on tcp */
	char profile[YW_ID_MAX]; /* "" when none */
	int poll_ms;             /* default 1000 */
	char location[YW_TEXT_MAX];  /* "" when none */
	enum yw_category category;   /* default CAT_SYSTEM */
	bool enabled;            /* default true */
	int offline_after;       /* default 3 */
	enum yw_severity offline_severity; /* default SEV_MAJOR */
	int max_read_regs;       /* default 125 */
	int max_gap;             /* default 0 */
	struct point_cfg *points;/* owned; profile points first, then inline ones */
	size_t npoints;
};

struct alarm_cfg {
	char id[YW_ID_MAX];
	char point[YW_FULLID_MAX];   /* DEVICE.POINT as written */
	int device;                  /* index into config.devices */
	int pt;                      /* index into that device's points */
	enum yw_when when;
	double threshold;            /* above/below; for equals/not_equals = value */
	double clear;                /* = threshold when not given */
	bool has_clear;
	double delay_s, clear_delay_s;
	enum yw_severity severity;   /* default SEV_MAJOR */
	enum yw_category category;   /* default: the device's category */
	bool latch;
	char message[YW_TEXT_MAX];   /* "" when none */
};

struct broker_cfg {
	bool tls;                    /* mqtts:// */
	char host[YW_TEXT_MAX];
	int port;                    /* default 1883 / 8883 */
};

/* MQTT links at most: the mqtt section and 15 uplinks. */
#define CONFIG_LINKS_MAX 16

/* Which commands a link takes (struct mqtt_cfg.commands). */
#define LINK_CMD_ACK 1u
#define LINK_CMD_WRITE 2u
#define LINK_CMD_READ 4u

/* One MQTT link: the mqtt section (id "mqtt": everything, every command) or
 * an entry of uplinks (its own select and commands). */
struct mqtt_cfg {
	bool enabled;                /* false when the section is absent */
	char id[YW_ID_MAX];          /* "mqtt", or the uplink's id */
	bool select_all;             /* no select: everything */
	uint32_t select_categories;  /* bit per enum yw_category */
	bool *select_devices;        /* owned: per device of the config; NULL: none */
	unsigned commands;           /* LINK_CMD_*: the P/cmd/ topics subscribed */
	struct broker_cfg *brokers;  /* owned */
	size_t nbrokers;
	char client_id[YW_TEXT_MAX]; /* default SITE-GATEWAY */
	char username[YW_TEXT_MAX];  /* "" when none */
	char password_file[YW_PATH_MAX];
	char password[YW_TEXT_MAX];  /* read from password_file; never logged */
	char ca_file[YW_PATH_MAX];   /* "" = system CAs */
	char cert_file[YW_PATH_MAX];
	char key_file[YW_PATH_MAX];
	char topic_prefix[YW_TEXT_MAX]; /* default "yardwatch" */
	int keepalive_s;             /* default 30 */
	int command_qos;             /* of the P/cmd/+ subscription: 0 | 1, default 1 */
	int telemetry_interval_s;    /* default 60; 0 = off */
	int telemetry_qos;           /* default 0 */
};

/* The status page (the "http" section; off when absent or null). */
struct http_cfg {
	bool enabled;
	char listen[YW_TEXT_MAX];    /* as written: ADDRESS:PORT */
	char host[64];               /* the address, without brackets */
	int family;                  /* AF_INET | AF_INET6 */
	int port;
	char password_file[YW_PATH_MAX];  /* "" when none: no auth */
	char password[YW_TEXT_MAX];  /* read from password_file; never logged */
};

/* A profile's identify rule (its key "identify"): a register (or bit) that
 * holds a model code. `yardwatch scan` reads it from each unit it finds and
 * names the profile when the value, decoded as TYPE in ORDER without scale,
 * equals EQUALS; the simulator serves it with that value. */
struct identify_cfg {
	enum yw_table table;
	uint16_t address;
	enum yw_type type;           /* bool on coil/discrete, required on registers */
	enum yw_order order;         /* default ABCD */
	double equals;               /* a value TYPE can hold exactly */
};

/* What is kept of a profile besides its points (those go to the devices
 * that name it). */
struct profile_cfg {
	char name[YW_ID_MAX];
	char vendor[YW_TEXT_MAX];
	char model[YW_TEXT_MAX];
	bool has_identify;
	struct identify_cfg identify;
	bool has_source;             /* it names where its register map comes from */
};

/* The smallest storage.max_mb: the store's budget (file, WAL, journal ring)
 * needs about 0.6 MB before the first reading (docs/store.md, "The budget"). */
#define CONFIG_MAX_MB_MIN 2

struct config {
	char path[YW_PATH_MAX];      /* the file it was loaded from */
	char site_id[YW_ID_MAX];
	char site_name[YW_TEXT_MAX];
	char gateway[YW_ID_MAX];
	char storage_path[YW_PATH_MAX];
	int retention_days;          /* default 90 */
	int max_mb;                  /* default 256, at least CONFIG_MAX_MB_MIN */
	char profiles_dir[YW_PATH_MAX];
	/* the control socket's path (default CONFIG_CONTROL_SOCKET); "" when
	 * the config says null (no control socket) */
	char control_socket[YW_CTL_PATH_MAX];
	enum yw_log_level log_level; /* "log_level" key, default info */
	struct mqtt_cfg mqtt;
	struct mqtt_cfg *uplinks;    /* owned: further links */
	size_t nuplinks;
	struct http_cfg http;
	struct bus_cfg *buses;       /* owned */
	size_t nbuses;
	struct device_cfg *devices;  /* owned */
	size_t ndevices;
	struct alarm_cfg *alarms;    /* owned */
	size_t nalarms;
	struct profile_cfg *profiles;/* owned: the profiles the devices name */
	size_t nprofiles;
};

/*
 * Load and validate PATH. On success returns the config. On failure returns
 * NULL after writing every error found to ERRS, one per line, in the SPEC's
 * forms ("FILE: JSON.PATH: message", "FILE:LINE:COLUMN: message").
 * Warnings (e.g. a serial device that does not exist yet) go to ERRS too,
 * prefixed "warning: ", and do not make the load fail.
 * profiles_dir_override, when not NULL, replaces the config's profiles_dir
 * (used by tests and the simulator to point at the source tree).
 */
struct config *config_load(const char *path, const char *profiles_dir_override,
			   FILE *errs);
void config_free(struct config *cfg);

/* Point count over all devices (for "ok: N buses, N devices, N points, N alarms"). */
size_t config_npoints(const struct config *cfg);

/* The MQTT links: the mqtt section first (when there is one), then the
 * uplinks in config order. */
size_t config_nlinks(const struct config *cfg);
const struct mqtt_cfg *config_link(const struct config *cfg, size_t i);
/* Link L selects what is about device DEV (-1: none) of CATEGORY (enum
 * yw_category, -1: none). */
bool config_link_selects(const struct mqtt_cfg *l, int dev, int category);

/* Find by id; -1 when absent. */
int config_find_device(const struct config *cfg, const char *id);
int config_find_point(const struct device_cfg *dev, const char *name);
int config_find_alarm(const struct config *cfg, const char *id);
/* The profile NAME that a device of CFG names; NULL when none does. */
const struct profile_cfg *config_find_profile(const struct config *cfg, const char *name);

/* Every profile of DIR (each NAME.json, NAME an id), in name order, for
 * `yardwatch scan`: each is loaded and validated as config_load does it;
 * the errors of a profile go to ERRS (in config_load's forms) and leave it
 * out, the others are kept. 0 with *OUT (owned by the caller, free()) and
 * *N; -1 when DIR cannot be read or on out of memory (reported to ERRS). */
int config_load_profiles(const char *dir, FILE *errs, struct profile_cfg **out, size_t *n);
/* The point an identify rule reads (scale 1, no bit), for the codec. */
void config_identify_point(const struct identify_cfg *id, struct point_cfg *p);

/* Names of the config's enum values as written in the config, payloads and
 * the store ("critical", "fire", ...); the point enums are named by point.h,
 * log levels by log.h. */
extern const char *const config_severity_names[CONFIG_NSEVERITIES];
extern const char *const config_category_names[CONFIG_NCATEGORIES];
extern const char *const config_when_names[CONFIG_NWHENS];
extern const char *const config_bus_type_names[CONFIG_NBUS_TYPES];
const char *config_severity_name(enum yw_severity s);
const char *config_category_name(enum yw_category c);
const char *config_when_name(enum yw_when w);
const char *config_bus_type_name(enum yw_bus_type t);

#endif
