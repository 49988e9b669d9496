/*
 * mqtt: the link to the property-management centre's broker, libmosquitto
 * driven from the main loop (no library thread). It connects to the first
 * reachable of cfg->brokers (mqtt:// and mqtts://, TLS verified against the
 * system CAs or ca_file, optional client certificate), with capped
 * exponential backoff between attempts (1 s doubling up to 30 s, reset once
 * connected), sets the Last Will, keeps the session clean, subscribes to the
 * command topics and reports connects, PUBACKs and messages to the owner
 * through callbacks. It holds no queue of its own: the outbox does.
 */
#ifndef YW_MQTT_H
#define YW_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"

/* The callbacks run inside mqtt_service() (and mqtt_shutdown(), which only
 * reports PUBACKs). They may call mqtt_publish(), never mqtt_free() or
 * mqtt_shutdown(). A message id is valid within one session: after
 * on_disconnect no on_publish arrives for ids handed out before it, and the
 * next session numbers its messages afresh. on_disconnect is reported only
 * for a session that was up (on_connect was called). */
struct mqtt_callbacks {
	void (*on_connect)(void *ctx);                    /* session up, subscribed */
	void (*on_disconnect)(void *ctx);                 /* session lost */
	void (*on_publish)(void *ctx, int mid);           /* PUBACK (QoS 1) / sent (QoS 0) */
	void (*on_message)(void *ctx, const char *topic, const char *payload, size_t len);
};

struct mqtt_link;

#define MQTT_SUBS_MAX 4

/* Create the link (does not connect yet). WILL_TOPIC/WILL_PAYLOAD: the Last
 * Will (QoS 1, retained). SUBS: NULL-terminated topics (at most
 * MQTT_SUBS_MAX) subscribed on every connect with command_qos, e.g.
 * "P/cmd/+"; NULL: none. NULL on error (logged). */
struct mqtt_link *mqtt_new(const struct mqtt_cfg *cfg, const char *will_topic,
			   const char *will_payload, const char *const *subs,
			   const struct mqtt_callbacks *cb, void *ctx);
/* Disconnect (if connected) and free. NULL is a no-op. */
void mqtt_free(struct mqtt_link *m);

/* For the poll() loop: the socket (-1 when none) and the events to wait for. */
int mqtt_fd(struct mqtt_link *m);
short mqtt_events(struct mqtt_link *m);
/* Milliseconds until mqtt_service() must run again even without I/O. */
int mqtt_timeout_ms(struct mqtt_link *m, int64_t now_mono_ms);
/* Do the I/O poll() reported (REVENTS, 0 on a timeout), keepalive, and
 * (re)connect attempts when due. Never blocks for long. */
void mqtt_service(struct mqtt_link *m, short revents, int64_t now_mono_ms);

bool mqtt_connected(struct mqtt_link *m);
/* Publish; *MID (when not NULL) identifies the message in on_publish.
 * 0 / -1 (not connected or the library refused). */
int mqtt_publish(struct mqtt_link *m, const char *topic, const char *payload,
		 int qos, bool retain, int *mid);
/* Publish the clean-stop status (retained) and disconnect, waiting at most
 * TIMEOUT_MS for it to be sent. A clean DISCONNECT: the broker drops the Last
 * Will. The link then stays down until mqtt_free(). */
void mqtt_shutdown(struct mqtt_link *m, const char *topic, const char *payload,
		   int timeout_ms);

#endif
