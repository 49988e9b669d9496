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

static void parse_tls(struct ctx *c, json_t *mq, struct mqtt_cfg *m)
{
	static const char *const keys[] = {"ca_file", "cert_file", "key_file", NULL};
	static const char *const names[] = {"ca_file", "cert_file", "key_file"};
	char *outs[] = {m->ca_file, m->cert_file, m->key_file};
	char kp[PATHSZ];
	bool any = false, tls_broker = false;
	json_t *o = cfg_get_obj(c, mq, "mqtt", "tls");
	size_t i;

	if (!o)
		return;
	cfg_check_keys(c, o, "mqtt.tls", keys);
	for (i = 0; i < NELEM(names); i++) {
		json_t *v = json_object_get(o, names[i]);

		if (!v || json_is_null(v))
			continue;
		any = true;
		if (cfg_get_path(c, o, "mqtt.tls", names[i], outs[i]) == 1)
			cfg_check_readable(c, cfg_kpath(kp, "mqtt.tls", names[i]), outs[i]);
	}
	if (m->cert_file[0] && !json_is_string(json_object_get(o, "key_file")))
		cfg_err(c, "mqtt.tls.key_file", "is required with cert_file");
	if (m->key_file[0] && !json_is_string(json_object_get(o, "cert_file")))
		cfg_err(c, "mqtt.tls.cert_file", "is required with key_file");
	for (i = 0; i < m->nbrokers; i++)
		tls_broker |= m->brokers[i].tls;
	if (any && m->nbrokers && !tls_broker)
		cfg_err(c, "mqtt.tls", "no mqtts:// broker to use it");
}

void cfg_parse_mqtt(struct ctx *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {
		"brokers", "client_id", "username", "password_file", "tls", "topic_prefix",
		"keepalive_s", "command_qos", "telemetry", NULL
	};
	static const char *const tkeys[] = {"interval_s", "qos", NULL};
	struct mqtt_cfg *m = &cfg->mqtt;
	json_t *o = cfg_get_obj(c, root, "", "mqtt"), *arr, *t;
	char ip[PATHSZ];
	size_t i, n;
	int r;

	cfg_strfmt(m->topic_prefix, sizeof(m->topic_prefix), "yardwatch");
	m->keepalive_s = 30;
	m->command_qos = 1;
	m->telemetry_interval_s = 60;
	m->telemetry_qos = 0;
	cfg_strfmt(m->client_id, sizeof(m->client_id), "%s-%s", cfg->site_id, cfg->gateway);
	if (!o)
		return;
	m->enabled = true;
	cfg_check_keys(c, o, "mqtt", keys);
	arr = json_object_get(o, "brokers");
	if (!arr) {
		cfg_err(c, "mqtt.brokers", "is required");
	} else if (!json_is_array(arr) || json_array_size(arr) == 0) {
		cfg_err(c, "mqtt.brokers", "must be a non-empty array of broker URLs");
	} else {
		n = json_array_size(arr);
		m->brokers = calloc(n, sizeof(*m->brokers));
		if (!m->brokers) {
			cfg_err(c, "mqtt.brokers", "out of memory");
			return;
		}
		for (i = 0; i < n; i++) {
			json_t *v = json_array_get(arr, i);

			cfg_ipath(ip, "mqtt.brokers", i);
			if (!json_is_string(v))
				cfg_err(c, ip, "must be a string");
			else if (!parse_broker(json_string_value(v), &m->brokers[m->nbrokers]))
				cfg_err(c, ip, "\"%s\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]",
					json_string_value(v));
			else
				m->nbrokers++;
		}
	}
	cfg_get_str(c, o, "mqtt", "client_id", m->client_id, sizeof(m->client_id), true);
	cfg_get_str(c, o, "mqtt", "username", m->username, sizeof(m->username), true);
	if (cfg_get_path(c, o, "mqtt", "password_file", m->password_file) == 1) {
		if (!m->username[0] && !json_object_get(o, "username"))
			cfg_err(c, "mqtt.password_file", "needs mqtt.username");
		read_password(c, "mqtt.password_file", m->password_file, m->password);
	}
	parse_tls(c, o, m);
	r = cfg_get_str(c, o, "mqtt", "topic_prefix", m->topic_prefix, sizeof(m->topic_prefix), true);
	if (r == 1 && !topic_prefix_ok(m->topic_prefix))
		cfg_err(c, "mqtt.topic_prefix",
			"must not contain + or #, empty levels, or start with $");
	cfg_get_int(c, o, "mqtt", "keepalive_s", 5, 3600, &m->keepalive_s);
	cfg_get_int(c, o, "mqtt", "command_qos", 0, 1, &m->command_qos);
	t = cfg_get_obj(c, o, "mqtt", "telemetry");
	if (t) {
		cfg_check_keys(c, t, "mqtt.telemetry", tkeys);
		cfg_get_int(c, t, "mqtt.telemetry", "interval_s", 0, 86400, &m->telemetry_interval_s);
		cfg_get_int(c, t, "mqtt.telemetry", "qos", 0, 1, &m->telemetry_qos);
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
