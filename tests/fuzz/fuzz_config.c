/*
 * fuzz_config: libFuzzer target of the config and profile loader
 * (daemon/config/, config_load), which reads the gateway's config file
 * and every profile it names.
 *
 * The input is a config file, optionally followed by a line "--profile--"
 * and a profile: the config is written to DIR/site.json and the profile to
 * DIR/profiles/fuzz.json (removed when the input has none), in a directory
 * made once per process on /dev/shm (or /tmp) and removed at exit. The
 * profiles directory also holds copies of the shipped profiles
 * (config/profiles), so a config can name "relay-8ch" or "fuzz". Errors go
 * to a memory stream (and to stderr when YW_FUZZ_VERBOSE is set: run the
 * target on one file to see why it is refused).
 *
 * Checked, whatever the bytes (besides ASan/UBSan): a failed load wrote at
 * least one error line; a successful one gives a config whose every index
 * and enum is in range and whose every string ends inside its field: at
 * least one bus and device; a bus's keys for its type (a host on tcp and
 * rtu-tcp, a device on rtu); a device's bus, unit (1..247 on rtu and
 * rtu-tcp) and points (each point's
 * codec_width 1..4 and its registers inside 0..65535, bit, scale, offset,
 * decimals_from naming another integer register point, unique names); an
 * alarm's device and point indexes, and its "point" text naming them;
 * brokers when MQTT is on. Every result is freed.
 */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "../../daemon/config.h"
#include "../../drivers/codec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP "\n--profile--\n"

static char dir[PATH_MAX], site[PATH_MAX + 16], pdir[PATH_MAX + 16], fzprof[PATH_MAX + 32];

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	if (n && fwrite(p, 1, n, f) != n) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

static void copy_profiles(void)
{
	const char *src = YW_SRC_DIR "/config/profiles";
	DIR *d = opendir(src);
	struct dirent *e;

	if (!d) {
		perror(src);
		abort();
	}
	while ((e = readdir(d)) != NULL) {
		char from[PATH_MAX], to[PATH_MAX * 2], buf[65536];
		size_t n = strlen(e->d_name);
		FILE *f;

		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(from, sizeof from, "%s/%s", src, e->d_name);
		snprintf(to, sizeof to, "%s/%s", pdir, e->d_name);
		f = fopen(from, "r");
		if (!f)
			abort();
		n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		if (write_file(to, buf, n) != 0)
			abort();
	}
	closedir(d);
}

static void cleanup(void)
{
	DIR *d = opendir(pdir);
	struct dirent *e;

	if (d) {
		while ((e = readdir(d)) != NULL) {
			char p[PATH_MAX * 2];

			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof p, "%s/%s", pdir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(pdir);
	unlink(site);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof dir, "%s/yw-fuzz-config-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir)) {
		perror(dir);
		abort();
	}
	snprintf(site, sizeof site, "%s/site.json", dir);
	snprintf(pdir, sizeof pdir, "%s/profiles", dir);
	snprintf(fzprof, sizeof fzprof, "%s/fuzz.json", pdir);
	if (mkdir(pdir, 0700) != 0)
		abort();
	copy_profiles();
	atexit(cleanup);
	return 0;
}

static bool ends_in(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

#define STR_OK(field) ends_in((field), sizeof(field))

static bool is_int_type(enum yw_type t)
{
	return t != TYPE_BOOL && t != TYPE_FLOAT32 && t != TYPE_FLOAT64;
}

static void check_point(const struct device_cfg *d, size_t i)
{
	const struct point_cfg *p = &d->points[i];
	bool bits = p->table == TABLE_COIL || p->table == TABLE_DISCRETE;
	int w;

	if (!STR_OK(p->name) || !p->name[0] || !STR_OK(p->unit))
		abort();
	if ((unsigned)p->table >= POINT_NTABLES || (unsigned)p->type >= POINT_NTYPES ||
	    (unsigned)p->order >= POINT_NORDERS)
		abort();
	w = codec_width(p);
	if (w < 1 || w > 4 || (unsigned)p->address + (unsigned)w - 1 > 65535)
		abort();
	if (bits && p->type != TYPE_BOOL)
		abort();
	if (p->bit != -1 && (p->bit < 0 || p->bit > 15 || bits || p->type != TYPE_BOOL))
		abort();
	if (!bits && p->type == TYPE_BOOL && p->bit < 0)
		abort();
	if (!isfinite(p->scale) || p->scale == 0 || !isfinite(p->offset))
		abort();
	if (p->writable && p->table != TABLE_COIL && p->table != TABLE_HOLDING)
		abort();
	if (p->has_min && p->has_max && !(p->min <= p->max))
		abort();
	if (!(p->deadband >= 0) || p->store_max_interval_s < 1 || p->store_max_interval_s > 86400)
		abort();
	if (p->decimals_from != -1) {
		const struct point_cfg *t;

		if (p->decimals_from < 0 || (size_t)p->decimals_from >= d->npoints ||
		    (size_t)p->decimals_from == i)
			abort();
		t = &d->points[p->decimals_from];
		if (!is_int_type(t->type) || t->table == TABLE_COIL ||
		    t->table == TABLE_DISCRETE || t->bit >= 0 || t->decimals_from != -1)
			abort();
	}
	if (config_find_point(d, p->name) != (int)i)
		abort();   /* names are unique */
}

static void check_config(const struct config *cfg)
{
	char full[YW_FULLID_MAX * 2];
	size_t i, j;

	if (!STR_OK(cfg->path) || !STR_OK(cfg->site_id) || !STR_OK(cfg->site_name) ||
	    !STR_OK(cfg->gateway) || !STR_OK(cfg->storage_path) || !STR_OK(cfg->profiles_dir))
		abort();
	if ((unsigned)cfg->log_level >= LOG_NLEVELS)
		abort();
	if (cfg->nbuses < 1 || !cfg->buses || cfg->ndevices < 1 || !cfg->devices)
		abort();
	for (i = 0; i < cfg->nbuses; i++) {
		const struct bus_cfg *b = &cfg->buses[i];

		if (!STR_OK(b->id) || !b->id[0] || !STR_OK(b->device) || !STR_OK(b->host))
			abort();
		if ((unsigned)b->type >= CONFIG_NBUS_TYPES || b->port < 1 || b->port > 65535 ||
		    b->timeout_ms < 10 || b->timeout_ms > 10000 || b->retries < 0 || b->retries > 5)
			abort();
		/* tcp and rtu-tcp have a host, rtu a device */
		if (b->type == BUS_RTU ? !b->device[0] || b->host[0] : !b->host[0] || b->device[0])
			abort();
		if (b->inter_frame_delay_ms < 0 || b->inter_frame_delay_ms > 1000 ||
		    (b->type == BUS_TCP && b->inter_frame_delay_ms != 0))
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(cfg->buses[j].id, b->id) == 0)
				abort();
	}
	for (i = 0; i < cfg->ndevices; i++) {
		const struct device_cfg *d = &cfg->devices[i];

		if (!STR_OK(d->id) || !d->id[0] || !STR_OK(d->profile) || !STR_OK(d->location))
			abort();
		if (d->bus < 0 || (size_t)d->bus >= cfg->nbuses || d->unit < 0 || d->unit > 255)
			abort();
		/* rtu and rtu-tcp: 1..247 */
		if (cfg->buses[d->bus].type != BUS_TCP && (d->unit < 1 || d->unit > 247))
			abort();
		if ((unsigned)d->category >= CONFIG_NCATEGORIES ||
		    (unsigned)d->offline_severity >= CONFIG_NSEVERITIES)
			abort();
		if (d->npoints < 1 || !d->points || config_find_device(cfg, d->id) != (int)i)
			abort();
		if (d->max_read_regs < 1 || d->max_read_regs > 125 || d->max_gap < 0 ||
		    d->max_gap > 125 || d->poll_ms < 50)
			abort();
		for (j = 0; j < d->npoints; j++)
			check_point(d, j);
	}
	for (i = 0; i < cfg->nalarms; i++) {
		const struct alarm_cfg *a = &cfg->alarms[i];
		const struct device_cfg *d;

		if (!STR_OK(a->id) || !a->id[0] || !STR_OK(a->point) || !STR_OK(a->message))
			abort();
		if (a->device < 0 || (size_t)a->device >= cfg->ndevices)
			abort();
		d = &cfg->devices[a->device];
		if (a->pt < 0 || (size_t)a->pt >= d->npoints)
			abort();
		snprintf(full, sizeof full, "%s.%s", d->id, d->points[a->pt].name);
		if (strcmp(full, a->point) != 0)
			abort();
		if ((unsigned)a->when >= CONFIG_NWHENS || (unsigned)a->severity >= CONFIG_NSEVERITIES ||
		    (unsigned)a->category >= CONFIG_NCATEGORIES)
			abort();
		if (!isfinite(a->threshold) || !isfinite(a->clear) ||
		    !(a->delay_s >= 0 && a->delay_s <= 86400) ||
		    !(a->clear_delay_s >= 0 && a->clear_delay_s <= 86400))
			abort();
		if (config_find_alarm(cfg, a->id) != (int)i)
			abort();
	}
	if (cfg->mqtt.enabled) {
		if (cfg->mqtt.nbrokers < 1 || !cfg->mqtt.brokers)
			abort();
		for (i = 0; i < cfg->mqtt.nbrokers; i++) {
			const struct broker_cfg *b = &cfg->mqtt.brokers[i];

			if (!STR_OK(b->host) || !b->host[0] || b->port < 1 || b->port > 65535)
				abort();
		}
		if (!STR_OK(cfg->mqtt.client_id) || !STR_OK(cfg->mqtt.username) ||
		    !STR_OK(cfg->mqtt.password) || !STR_OK(cfg->mqtt.topic_prefix) ||
		    !STR_OK(cfg->mqtt.password_file) || !STR_OK(cfg->mqtt.ca_file))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memmem(data, size, SEP, sizeof SEP - 1);
	size_t clen = sep ? (size_t)(sep - data) : size;
	char *msgs = NULL;
	size_t msglen = 0;
	struct config *cfg;
	FILE *errs;

	if (write_file(site, data, clen) != 0)
		abort();
	if (sep) {
		const uint8_t *prof = sep + sizeof SEP - 1;

		if (write_file(fzprof, prof, size - (size_t)(prof - data)) != 0)
			abort();
	} else {
		unlink(fzprof);
	}
	errs = open_memstream(&msgs, &msglen);
	if (!errs)
		return 0;
	cfg = config_load(site, pdir, errs);
	fclose(errs);
	if (getenv("YW_FUZZ_VERBOSE"))
		fprintf(stderr, "%s%s", msgs, cfg ? "loaded\n" : "refused\n");
	if (cfg) {
		check_config(cfg);
		config_free(cfg);
	} else {
		/* refused: at least one line that is not a warning */
		bool err = false;

		for (char *l = msgs; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
			if (strncmp(l, "warning: ", 9) != 0)
				err = true;
		if (!err)
			abort();
	}
	free(msgs);
	return 0;
}
