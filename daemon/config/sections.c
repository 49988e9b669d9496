/*
 * sections: the site, storage and mqtt sections of the config (brokers,
 * TLS files, the password file, topic prefix, command QoS, telemetry), and
 * the http section (the status page's address and password file).
 */
#include "cfg_int.h"
#include "../http_req.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

/* ---- sections ---------------------------------------------------------- */

void cfg_parse_site(struct ctx *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {"id", "name", "gateway", NULL};
	json_t *o;

	if (!cfg_need(c, root, "", "site"))
		return;
	o = cfg_get_obj(c, root, "", "site");
	if (!o)
		return;
	cfg_check_keys(c, o, "site", keys);
	if (cfg_need(c, o, "site", "id"))
		cfg_get_id(c, o, "site", "id", cfg->site_id);
	cfg_get_str(c, o, "site", "name", cfg->site_name, sizeof(cfg->site_name), false);
	if (cfg_need(c, o, "site", "gateway"))
		cfg_get_id(c, o, "site", "gateway", cfg->gateway);
}

void cfg_parse_storage(struct ctx *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {"path", "retention_days", "max_mb", NULL};
	json_t *o = cfg_get_obj(c, root, "", "storage");

	cfg_strfmt(cfg->storage_path, sizeof(cfg->storage_path), "/var/lib/yardwatch/yardwatch.db");
	cfg->retention_days = 90;
	cfg->max_mb = 256;
	if (!o)
		return;
	cfg_check_keys(c, o, "storage", keys);
	cfg_get_path(c, o, "storage", "path", cfg->storage_path);
	cfg_get_int(c, o, "storage", "retention_days", 1, 3650, &cfg->retention_days);
	cfg_get_int(c, o, "storage", "max_mb", CONFIG_MAX_MB_MIN, 1048576, &cfg->max_mb);
}

/* control_socket: a path (relative to the config's directory), or null for
 * none; it must fit a unix socket's address. */
void cfg_parse_control(struct ctx *c, json_t *root, struct config *cfg)
{
	char path[YW_PATH_MAX];
	json_t *v = json_object_get(root, "control_socket");

	cfg_strfmt(cfg->control_socket, sizeof(cfg->control_socket), "%s", CONFIG_CONTROL_SOCKET);
	if (!v)
		return;
	if (json_is_null(v)) {
		cfg->control_socket[0] = '\0';
		return;
	}
	if (cfg_get_path(c, root, "", "control_socket", path) != 1)
		return;
	if (strlen(path) >= sizeof(cfg->control_socket)) {
		cfg_err(c, "control_socket", "%s: too long for a unix socket (at most %d bytes)",
			path, YW_CTL_PATH_MAX - 1);
		return;
	}
	cfg_strfmt(cfg->control_socket, sizeof(cfg->control_socket), "%s", path);
}

/* "mqtt[s]://host[:port]" into B; false when it is not one. */
static bool parse_broker(const char *url, struct broker_cfg *b)
{
	const char *h, *end;
	size_t hlen;
	char *ep;
	long port;

	if (strncmp(url, "mqtt://", 7) == 0) {
		b->tls = false;
		h = url + 7;
	} else if (strncmp(url, "mqtts://", 8) == 0) {
		b->tls = true;
		h = url + 8;
	} else {
		return false;
	}
	b->port = b->tls ? 8883 : 1883;
	if (*h == '[') {            /* [v6 address] */
		end = strchr(h, ']');
		if (!end)
			return false;
		hlen = (size_t)(end - h - 1);
		h++;
		end++;
	} else {
		end = h + strcspn(h, ":");
		hlen = (size_t)(end - h);
	}
	if (hlen == 0 || hlen >= sizeof(b->host))
		return false;
	memcpy(b->host, h, hlen);
	b->host[hlen] = '\0';
	if (strpbrk(b->host, "/?#@ \t"))
		return false;
	if (*end == '\0')
		return true;
	if (*end != ':' || !end[1] || end[1] < '0' || end[1] > '9')
		return false;
	errno = 0;
	port = strtol(end + 1, &ep, 10);
	if (errno || *ep || port < 1 || port > 65535)
		return false;
	b->port = (int)port;
	return true;
}

static bool topic_prefix_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || s[0] == '$' || s[0] == '/' || s[n - 1] == '/')
		return false;
	return !strpbrk(s, "+#") && !strstr(s, "//");
}

/* Read the password of FILE into OUT (YW_TEXT_MAX); one trailing newline
 * (LF or CRLF) is not part of it. */
static void read_password(struct ctx *c, const char *path, const char *file, char *out)
{
	char buf[YW_TEXT_MAX + 2];
	FILE *f = fopen(file, "r");
	size_t n;

	if (!f) {
		cfg_err(c, path, "cannot read %s: %s", file, strerror(errno));
		return;
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f)) {
		cfg_err(c, path, "cannot read %s: %s", file, strerror(errno));
		goto out_close;
	}
	if (n && buf[n - 1] == '\n') {
		n--;
		if (n && buf[n - 1] == '\r')
			n--;
	}
	if (n >= YW_TEXT_MAX) {
		cfg_err(c, path, "%s: the password is longer than %d bytes", file, YW_TEXT_MAX - 1);
		goto out_close;
	}
	if (memchr(buf, '\0', n)) {
		cfg_err(c, path, "%s: the password contains a NUL byte", file);
		goto out_close;
	}
	memcpy(out, buf, n);
	out[n] = '\0';
out_close:
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
}

static void parse_tls(struct ctx *c, json_t *mq, const char *base, struct mqtt_cfg *m)
{
	static const char *const keys[] = {"ca_file", "cert_file", "key_file", NULL};
	static const char *const names[] = {"ca_file", "cert_file", "key_file"};
	char *outs[] = {m->ca_file, m->cert_file, m->key_file};
	char kp[PATHSZ], tp[PATHSZ];
	bool any = false, tls_broker = false;
	json_t *o = cfg_get_obj(c, mq, base, "tls");
	size_t i;

	if (!o)
		return;
	cfg_kpath(tp, base, "tls");
	cfg_check_keys(c, o, tp, keys);
	for (i = 0; i < NELEM(names); i++) {
		json_t *v = json_object_get(o, names[i]);

		if (!v || json_is_null(v))
			continue;
		any = true;
		if (cfg_get_path(c, o, tp, names[i], outs[i]) == 1)
			cfg_check_readable(c, cfg_kpath(kp, tp, names[i]), outs[i]);
	}
	if (m->cert_file[0] && !json_is_string(json_object_get(o, "key_file")))
		cfg_err(c, cfg_kpath(kp, tp, "key_file"), "is required with cert_file");
	if (m->key_file[0] && !json_is_string(json_object_get(o, "cert_file")))
		cfg_err(c, cfg_kpath(kp, tp, "cert_file"), "is required with key_file");
	for (i = 0; i < m->nbrokers; i++)
		tls_broker |= m->brokers[i].tls;
	if (any && m->nbrokers && !tls_broker)
		cfg_err(c, tp, "no mqtts:// broker to use it");
}

/* The keys of a link (the mqtt section, or an uplink) into M. BASE is its
 * JSON path ("mqtt", "uplinks[2]"). */
static void parse_link(struct ctx *c, json_t *o, const char *base, struct config *cfg,
		       struct mqtt_cfg *m)
{
	static const char *const tkeys[] = {"interval_s", "qos", NULL};
	char ip[PATHSZ], kp[PATHSZ], bp[PATHSZ];
	json_t *arr, *t;
	size_t i, n;
	int r;

	cfg_strfmt(m->topic_prefix, sizeof(m->topic_prefix), "yardwatch");
	m->keepalive_s = 30;
	m->command_qos = 1;
	m->telemetry_interval_s = 60;
	m->telemetry_qos = 0;
	m->enabled = true;
	arr = json_object_get(o, "brokers");
	cfg_kpath(bp, base, "brokers");
	if (!arr) {
		cfg_err(c, bp, "is required");
	} else if (!json_is_array(arr) || json_array_size(arr) == 0) {
		cfg_err(c, bp, "must be a non-empty array of broker URLs");
	} else {
		n = json_array_size(arr);
		m->brokers = calloc(n, sizeof(*m->brokers));
		if (!m->brokers) {
			cfg_err(c, bp, "out of memory");
			return;
		}
		for (i = 0; i < n; i++) {
			json_t *v = json_array_get(arr, i);

			cfg_ipath(ip, bp, i);
			if (!json_is_string(v))
				cfg_err(c, ip, "must be a string");
			else if (!parse_broker(json_string_value(v), &m->brokers[m->nbrokers]))
				cfg_err(c, ip, "\"%s\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]",
					json_string_value(v));
			else
				m->nbrokers++;
		}
	}
	cfg_get_str(c, o, base, "client_id", m->client_id, sizeof(m->client_id), true);
	cfg_get_str(c, o, base, "username", m->username, sizeof(m->username), true);
	if (cfg_get_path(c, o, base, "password_file", m->password_file) == 1) {
		if (!m->username[0] && !json_object_get(o, "username"))
			cfg_err(c, cfg_kpath(kp, base, "password_file"), "needs %s.username", base);
		read_password(c, cfg_kpath(kp, base, "password_file"), m->password_file, m->password);
	}
	parse_tls(c, o, base, m);
	r = cfg_get_str(c, o, base, "topic_prefix", m->topic_prefix, sizeof(m->topic_prefix), true);
	if (r == 1 && !topic_prefix_ok(m->topic_prefix))
		cfg_err(c, cfg_kpath(kp, base, "topic_prefix"),
			"must not contain + or #, empty levels, or start with $");
	cfg_get_int(c, o, base, "keepalive_s", 5, 3600, &m->keepalive_s);
	cfg_get_int(c, o, base, "command_qos", 0, 1, &m->command_qos);
	t = cfg_get_obj(c, o, base, "telemetry");
	if (t) {
		cfg_kpath(kp, base, "telemetry");
		cfg_check_keys(c, t, kp, tkeys);
		cfg_get_int(c, t, kp, "interval_s", 0, 86400, &m->telemetry_interval_s);
		cfg_get_int(c, t, kp, "qos", 0, 1, &m->telemetry_qos);
	}
	(void)cfg;
}

void cfg_parse_mqtt(struct ctx *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {
		"brokers", "client_id", "username", "password_file", "tls", "topic_prefix",
		"keepalive_s", "command_qos", "telemetry", NULL
	};
	struct mqtt_cfg *m = &cfg->mqtt;
	json_t *o = cfg_get_obj(c, root, "", "mqtt");

	cfg_strfmt(m->id, sizeof(m->id), "mqtt");
	m->select_all = true;
	m->commands = LINK_CMD_ACK | LINK_CMD_WRITE | LINK_CMD_READ;
	cfg_strfmt(m->topic_prefix, sizeof(m->topic_prefix), "yardwatch");
	m->keepalive_s = 30;
	m->command_qos = 1;
	m->telemetry_interval_s = 60;
	m->telemetry_qos = 0;
	cfg_strfmt(m->client_id, sizeof(m->client_id), "%s-%s", cfg->site_id, cfg->gateway);
	if (!o)
		return;
	cfg_check_keys(c, o, "mqtt", keys);
	parse_link(c, o, "mqtt", cfg, m);
}

/* An uplink's "select": categories and devices (something is selected when
 * it matches either list); absent: everything. */
static void parse_select(struct ctx *c, json_t *o, const char *base, struct config *cfg,
			 struct mqtt_cfg *m)
{
	static const char *const keys[] = {"categories", "devices", NULL};
	char sp[PATHSZ], kp[PATHSZ], ip[PATHSZ];
	json_t *sel = cfg_get_obj(c, o, base, "select"), *arr, *v;
	size_t i;

	m->select_all = sel == NULL;
	if (!sel)
		return;
	cfg_kpath(sp, base, "select");
	cfg_check_keys(c, sel, sp, keys);
	arr = json_object_get(sel, "categories");
	cfg_kpath(kp, sp, "categories");
	if (arr && !json_is_array(arr))
		cfg_err(c, kp, "must be an array of categories");
	json_array_foreach(json_is_array(arr) ? arr : NULL, i, v) {
		int k = -1;
		cfg_ipath(ip, kp, i);
		for (int j = 0; json_is_string(v) && j < CONFIG_NCATEGORIES; j++)
			if (strcmp(config_category_names[j], json_string_value(v)) == 0)
				k = j;
		if (k < 0)
			cfg_err(c, ip, "must be one of the categories (fire, power, water, ...)");
		else
			m->select_categories |= 1u << k;
	}
	arr = json_object_get(sel, "devices");
	cfg_kpath(kp, sp, "devices");
	if (arr && !json_is_array(arr)) {
		cfg_err(c, kp, "must be an array of device ids");
		return;
	}
	if (json_array_size(arr) && cfg->ndevices) {
		m->select_devices = calloc(cfg->ndevices, sizeof(*m->select_devices));
		if (!m->select_devices) {
			cfg_err(c, kp, "out of memory");
			return;
		}
	}
	json_array_foreach(json_is_array(arr) ? arr : NULL, i, v) {
		int d = json_is_string(v) ? config_find_device(cfg, json_string_value(v)) : -1;
		cfg_ipath(ip, kp, i);
		if (d < 0)
			cfg_err(c, ip, "no device \"%s\"", json_is_string(v) ? json_string_value(v) : "?");
		else if (m->select_devices)
			m->select_devices[d] = true;
	}
}

/* Two links that share a broker (host and port) must not share a client id:
 * each would take the other's session over. */
static bool links_share_broker(const struct mqtt_cfg *a, const struct mqtt_cfg *b)
{
	for (size_t i = 0; i < a->nbrokers; i++)
		for (size_t j = 0; j < b->nbrokers; j++)
			if (strcmp(a->brokers[i].host, b->brokers[j].host) == 0 &&
			    a->brokers[i].port == b->brokers[j].port)
				return true;
	return false;
}

void cfg_parse_uplinks(struct ctx *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {
		"id", "brokers", "client_id", "username", "password_file", "tls", "topic_prefix",
		"keepalive_s", "command_qos", "telemetry", "select", "commands", NULL
	};
	static const char *const cmds[] = {"ack", "write", "read"};
	json_t *arr = json_object_get(root, "uplinks"), *o, *v;
	char base[PATHSZ], kp[PATHSZ], ip[PATHSZ];
	size_t i, j, n;

	if (!arr)
		return;
	if (!json_is_array(arr)) {
		cfg_err(c, "uplinks", "must be an array of links");
		return;
	}
	n = json_array_size(arr);
	if (n == 0)
		return;
	if (n > CONFIG_LINKS_MAX - 1) {
		cfg_err(c, "uplinks", "at most %d links", CONFIG_LINKS_MAX - 1);
		return;
	}
	cfg->uplinks = calloc(n, sizeof(*cfg->uplinks));
	if (!cfg->uplinks) {
		cfg_err(c, "uplinks", "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		struct mqtt_cfg *m = &cfg->uplinks[cfg->nuplinks++];
		cfg_ipath(base, "uplinks", i);
		o = json_array_get(arr, i);
		if (!json_is_object(o)) {
			cfg_err(c, base, "must be an object");
			continue;
		}
		cfg_check_keys(c, o, base, keys);
		if (cfg_need(c, o, base, "id") && cfg_get_id(c, o, base, "id", m->id) == 1) {
			if (strcmp(m->id, "mqtt") == 0)
				cfg_err(c, cfg_kpath(kp, base, "id"), "\"mqtt\" is the mqtt section's link");
			for (j = 0; j + 1 < cfg->nuplinks; j++)
				if (strcmp(cfg->uplinks[j].id, m->id) == 0)
					cfg_err(c, cfg_kpath(kp, base, "id"), "duplicate uplink id \"%s\"",
						m->id);
		}
		cfg_strfmt(m->client_id, sizeof(m->client_id), "%s-%s-%s", cfg->site_id,
			   cfg->gateway, m->id);
		parse_link(c, o, base, cfg, m);
		parse_select(c, o, base, cfg, m);
		v = json_object_get(o, "commands");
		cfg_kpath(kp, base, "commands");
		if (v && !json_is_array(v))
			cfg_err(c, kp, "must be an array of ack, write, read");
		json_t *e;
		json_array_foreach(json_is_array(v) ? v : NULL, j, e) {
			int k = -1;
			cfg_ipath(ip, kp, j);
			for (int q = 0; json_is_string(e) && q < 3; q++)
				if (strcmp(cmds[q], json_string_value(e)) == 0)
					k = q;
			if (k < 0)
				cfg_err(c, ip, "must be one of ack, write, read");
			else
				m->commands |= 1u << k;
		}
	}
	/* client ids: distinct among the links that share a broker */
	for (i = 0; i < cfg->nuplinks; i++) {
		const struct mqtt_cfg *a = &cfg->uplinks[i];
		for (j = 0; j <= i; j++) {
			const struct mqtt_cfg *b = j == i ? &cfg->mqtt : &cfg->uplinks[j];
			if (j == i && !cfg->mqtt.enabled)
				continue;
			if (strcmp(a->client_id, b->client_id) == 0 && links_share_broker(a, b)) {
				cfg_ipath(base, "uplinks", i);
				cfg_err(c, cfg_kpath(kp, base, "client_id"),
					"\"%s\" is also the client id of link \"%s\" on the same broker: "
					"each would take the other's session over", a->client_id, b->id);
			}
		}
	}
}

/* "http": {"listen": "ADDRESS:PORT", "password_file": PATH or null}; null
 * or absent: no status page. */
void cfg_parse_http(struct ctx *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {"listen", "password_file", NULL};
	struct http_cfg *h = &cfg->http;
	json_t *v = json_object_get(root, "http"), *o;

	if (!v || json_is_null(v))
		return;
	o = cfg_get_obj(c, root, "", "http");
	if (!o)
		return;
	h->enabled = true;
	cfg_check_keys(c, o, "http", keys);
	if (cfg_need(c, o, "http", "listen") &&
	    cfg_get_str(c, o, "http", "listen", h->listen, sizeof(h->listen), true) == 1 &&
	    http_parse_listen(h->listen, h->host, sizeof(h->host), &h->family, &h->port) != 0)
		cfg_err(c, "http.listen", "\"%s\" is not ADDRESS:PORT (an IPv4 address or an IPv6 "
			"address in brackets, a port 1..65535)", h->listen);
	v = json_object_get(o, "password_file");
	if (v && !json_is_null(v) &&
	    cfg_get_path(c, o, "http", "password_file", h->password_file) == 1) {
		int nerr = c->nerr;
		read_password(c, "http.password_file", h->password_file, h->password);
		if (c->nerr == nerr && !h->password[0])
			cfg_err(c, "http.password_file", "%s: the password is empty",
				h->password_file);
	}
}
