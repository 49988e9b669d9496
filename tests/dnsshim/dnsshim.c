/*
 * dnsshim: an LD_PRELOAD library for the tests that plays a slow resolver
 * for one host name. getaddrinfo() of the name in YW_DNS_NAME sleeps
 * YW_DNS_DELAY_MS milliseconds (every time, as a resolver whose first
 * server does not answer), then answers with YW_DNS_ADDR (default
 * 127.0.0.1); every other name goes to the real getaddrinfo() at once.
 *
 *   YW_DNS_NAME=broker.yw.test YW_DNS_DELAY_MS=20000 \
 *   LD_PRELOAD=build/tests/libywdnsshim.so yardwatchd ...
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
			      struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
	const char *name = getenv("YW_DNS_NAME");

	if (!real)
		return EAI_SYSTEM;
	if (node && name && strcasecmp(node, name) == 0) {
		const char *d = getenv("YW_DNS_DELAY_MS");
		const char *addr = getenv("YW_DNS_ADDR");
		long ms = d ? strtol(d, NULL, 10) : 0;
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

		while (ms > 0 && nanosleep(&ts, &ts) != 0)
			;
		node = addr && *addr ? addr : "127.0.0.1";
	}
	return real(node, service, hints, res);
}
