/*
 * Garbage in, no crash out: deterministic random inputs (a fixed-seed
 * xorshift generator, so a failure reproduces) through the three places where
 * bytes from outside enter the daemon:
 *  - MQTT command payloads (payload_parse_cmd): mutated valid commands and
 *    random bytes; each is either accepted or refused with an error text, and
 *    never both;
 *  - register contents (codec_decode) for every type and word order: a value
 *    is either finite or CODEC_BAD, never NaN/Inf as "good";
 *  - config files (config_load): mutations of the demo config; each load
 *    either succeeds or reports at least one error line, and frees all.
 * Run under ASan/UBSan and valgrind by tools/test.sh.
 */
#include "../../daemon/config.h"
#include "../../daemon/payload.h"
#include "../../drivers/codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static const char *const cmd_samples[] = {
	"{\"id\": \"req-1\", \"alarm\": \"b3-fire-pressure-low\", \"by\": \"operator\"}",
	"{\"id\": \"req-2\", \"point\": \"b3-stairs.relay1\", \"value\": 1}",
	"{\"id\": \"req-3\", \"point\": \"b3-pressure.pressure\"}",
	"{\"id\": \"req-4\", \"point\": \"b3-stairs.relay1\", \"value\": true}",
};

/* Mutate BUF (LEN bytes, capacity CAP) in place a few times; new length. */
static size_t mutate(char *buf, size_t len, size_t cap)
{
	int n = 1 + (int)(rnd() % 4);
	for (int i = 0; i < n; i++) {
		size_t pos = len ? rnd() % len : 0;
		switch (rnd() % 5) {
		case 0: /* flip a byte */
			if (len)
				buf[pos] = (char)(rnd() & 0xff);
			break;
		case 1: /* delete a run */
			if (len) {
				size_t k = 1 + rnd() % 8;
				if (pos + k > len)
					k = len - pos;
				memmove(buf + pos, buf + pos + k, len - pos - k);
				len -= k;
			}
			break;
		case 2: /* insert a structural character */
			if (len + 1 < cap) {
				static const char s[] = "{}[]\",:0-.e\\ntfu";
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = s[rnd() % (sizeof s - 1)];
				len++;
			}
			break;
		case 3: /* duplicate a run */
			if (len && len * 2 < cap) {
				size_t k = 1 + rnd() % 16;
				if (pos + k > len)
					k = len - pos;
				memmove(buf + pos + k, buf + pos, len - pos);
				len += k;
			}
			break;
		default: /* truncate */
			len = pos;
			break;
		}
	}
	return len;
}

static void test_commands(void)
{
	static const enum pl_cmd_kind kinds[] = { PL_CMD_ACK, PL_CMD_WRITE, PL_CMD_READ, PL_CMD_WRITE };
	char buf[1024], err[256];
	int accepted = 0, refused = 0;

	check_case = "commands";
	for (int iter = 0; iter < 20000; iter++) {
		int s = (int)(rnd() % 4);
		size_t len = strlen(cmd_samples[s]);
		memcpy(buf, cmd_samples[s], len);
		if (iter % 10 == 9) {   /* pure noise now and then */
			len = rnd() % 64;
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)(rnd() & 0xff);
		} else {
			len = mutate(buf, len, sizeof buf);
		}
		struct pl_cmd c;
		memset(&c, 0, sizeof c);
		err[0] = '\0';
		int rc = payload_parse_cmd(kinds[s], buf, len, &c, err, sizeof err);
		if (rc == 0) {
			accepted++;
			CHECK(c.id_null || c.id[0] != '\0');
		} else {
			refused++;
			CHECK(rc == -1);
			CHECK(err[0] != '\0');
			CHECK(memchr(err, '\0', sizeof err) != NULL);
		}
		/* The result text must be valid for whatever was read. */
		char *res = payload_cmd_result(c.id_null ? NULL : c.id, rc == 0, rc ? err : NULL, NULL);
		CHECK(res != NULL);
		free(res);
	}
	CHECK(accepted > 0 && refused > 0);
	printf("commands: %d accepted, %d refused\n", accepted, refused);
}

static void test_registers(void)
{
	static const enum yw_type types[] = { TYPE_INT16, TYPE_UINT16, TYPE_INT32, TYPE_UINT32,
					      TYPE_INT64, TYPE_UINT64, TYPE_FLOAT32, TYPE_FLOAT64 };
	int bad = 0, good = 0;

	check_case = "registers";
	for (int iter = 0; iter < 200000; iter++) {
		struct point_cfg p;
		uint16_t regs[4];
		double v;

		memset(&p, 0, sizeof p);
		p.table = TABLE_HOLDING;
		p.type = types[rnd() % 8];
		p.order = (enum yw_order)(rnd() % 4);
		p.bit = -1;
		p.decimals_from = -1;
		p.scale = (rnd() % 3 == 0) ? 1e300 : 0.1;   /* some overflow after scaling */
		p.offset = 0;
		for (int i = 0; i < 4; i++)
			regs[i] = (uint16_t)rnd();
		int dec = (int)(rnd() % 12) - 1;            /* -1..10: some out of range */
		if (codec_decode(&p, regs, dec, &v) == CODEC_OK) {
			good++;
			CHECK(isfinite(v));
			CHECK(dec >= 0 && dec <= 9);
		} else {
			bad++;
		}
	}
	CHECK(good > 0 && bad > 0);
	printf("registers: %d decoded, %d bad\n", good, bad);
}

static void test_configs(void)
{
	const char *src = getenv("YW_SRC");
	char path[4096], profiles[4096], tmp[] = "/tmp/yw-test-garbage.XXXXXX";
	static char orig[1 << 16], buf[1 << 17];
	size_t olen;
	int ok = 0, refused = 0;
	FILE *f;

	check_case = "configs";
	snprintf(path, sizeof path, "%s/config/demo.json", src ? src : ".");
	snprintf(profiles, sizeof profiles, "%s/config/profiles", src ? src : ".");
	f = fopen(path, "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	olen = fread(orig, 1, sizeof orig, f);
	fclose(f);
	CHECK(mkdtemp(tmp) != NULL);
	snprintf(path, sizeof path, "%s/site.json", tmp);
	for (int iter = 0; iter < 400; iter++) {
		memcpy(buf, orig, olen);
		size_t len = mutate(buf, olen, sizeof buf);
		f = fopen(path, "wb");
		if (!f)
			break;
		fwrite(buf, 1, len, f);
		fclose(f);
		char *errs = NULL;
		size_t elen = 0;
		FILE *ef = open_memstream(&errs, &elen);
		struct config *cfg = config_load(path, profiles, ef);
		fclose(ef);
		if (cfg) {
			ok++;
			CHECK(cfg->ndevices > 0 && cfg->nbuses > 0);
			config_free(cfg);
		} else {
			refused++;
			CHECK(elen > 0);   /* every refusal says why */
		}
		free(errs);
	}
	unlink(path);
	rmdir(tmp);
	CHECK(refused > 0);
	printf("configs: %d loaded, %d refused\n", ok, refused);
}

int main(void)
{
	test_commands();
	test_registers();
	test_configs();
	return check_report();
}
