/*
 * test_payload_cmd: the MQTT command parser (payload_parse_cmd): every
 * valid form of P/cmd/ack, write and read, and a table of bad payloads
 * each with the exact error it must give.
 */
#include "../../daemon/payload.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

static int parse_cmd(enum pl_cmd_kind kind, const char *text, struct pl_cmd *c, char *err,
		     size_t errlen)
{
	return payload_parse_cmd(kind, text, strlen(text), c, err, errlen);
}

static void test_cmd_valid(void)
{
	struct pl_cmd c;
	char err[256];
	const char *w = "{\"id\":\"req-2\",\"point\":\"b3-stairs.relay1\",\"value\":1}trailing";

	check_case = "cmd: ack";
	strcpy(err, "x");
	CHECK(parse_cmd(PL_CMD_ACK, "{\"id\": \"req-1\", \"alarm\": \"b3-fire-pressure-low\","
			" \"by\": \"operator\"}", &c, err, sizeof err) == 0);
	CHECK(err[0] == '\0');
	CHECK(c.kind == PL_CMD_ACK && !c.id_null && strcmp(c.id, "req-1") == 0);
	CHECK(strcmp(c.alarm, "b3-fire-pressure-low") == 0 && strcmp(c.by, "operator") == 0);

	check_case = "cmd: ack of an offline alarm, no by";
	CHECK(parse_cmd(PL_CMD_ACK, "{\"alarm\":\"b3-meter.offline\",\"id\":\"7\"}", &c, err,
			sizeof err) == 0);
	CHECK(strcmp(c.alarm, "b3-meter.offline") == 0 && c.by[0] == '\0');
	CHECK(strcmp(c.id, "7") == 0 && !c.id_null);

	check_case = "cmd: write (length excludes trailing bytes)";
	CHECK(payload_parse_cmd(PL_CMD_WRITE, w, strlen(w) - 8, &c, err, sizeof err) == 0);
	CHECK(c.kind == PL_CMD_WRITE && strcmp(c.id, "req-2") == 0);
	CHECK(strcmp(c.point, "b3-stairs.relay1") == 0);
	CHECK(c.value.present && !c.value.is_bool && c.value.v == 1);

	check_case = "cmd: write real and bool";
	CHECK(parse_cmd(PL_CMD_WRITE, "{\"id\":\"a\",\"point\":\"d.p\",\"value\":-2.5e1}", &c, err,
			sizeof err) == 0);
	CHECK(c.value.present && !c.value.is_bool && c.value.v == -25);
	CHECK(parse_cmd(PL_CMD_WRITE, "{\"id\":\"a\",\"point\":\"d.p\",\"value\":true}", &c, err,
			sizeof err) == 0);
	CHECK(c.value.present && c.value.is_bool && c.value.v == 1);
	CHECK(parse_cmd(PL_CMD_WRITE, "{\"id\":\"a\",\"point\":\"d.p\",\"value\":false}", &c, err,
			sizeof err) == 0);
	CHECK(c.value.present && c.value.is_bool && c.value.v == 0);

	check_case = "cmd: read";
	CHECK(parse_cmd(PL_CMD_READ, " {\"id\":\"req-3\",\"point\":\"b3-pressure.pressure\"}\n",
			&c, err, sizeof err) == 0);
	CHECK(c.kind == PL_CMD_READ && strcmp(c.id, "req-3") == 0 && !c.id_null);
	CHECK(strcmp(c.point, "b3-pressure.pressure") == 0 && !c.value.present);

	check_case = "cmd: small error buffer";
	CHECK(parse_cmd(PL_CMD_READ, "{\"id\":\"x\"}", &c, err, 8) == -1);
	CHECK(strcmp(err, "missing") == 0);
	CHECK(parse_cmd(PL_CMD_READ, "{\"id\":\"x\"}", &c, NULL, 0) == -1);
}

struct bad_cmd {
	enum pl_cmd_kind kind;
	const char *json;
	const char *err;
	bool id_null;
	const char *id;         /* expected when !id_null */
};

#define LONG64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG256 LONG64 LONG64 LONG64 LONG64

static const struct bad_cmd bad_cmds[] = {
	{ PL_CMD_ACK, "", "malformed JSON: unexpected token near end of file at line 1 column 0",
	  true, NULL },
	{ PL_CMD_ACK, "{\"id\":\"r\",", "malformed JSON: string or '}' expected near end of file "
	  "at line 1 column 10", true, NULL },
	{ PL_CMD_WRITE, "{\"id\":\"r\",\"point\":\"d.p\",\"value\":1,}",
	  "malformed JSON: string or '}' expected near '}' at line 1 column 35", true, NULL },
	{ PL_CMD_READ, "{\"id\":\"r\",\"id\":\"s\",\"point\":\"d.p\"}",
	  "malformed JSON: duplicate object key near '\"id\"' at line 1 column 14", true, NULL },
	{ PL_CMD_READ, "{\"id\":\"r\",\"point\":\"d.p\"}\n{}",
	  "malformed JSON: end of file expected near '{' at line 2 column 1", true, NULL },
	{ PL_CMD_READ, "\xff", "malformed JSON: unable to decode byte 0xff at line 1 column 0",
	  true, NULL },
	{ PL_CMD_READ, "[{\"id\":\"r\"}]", "payload must be a JSON object", true, NULL },
	{ PL_CMD_READ, "\"req-1\"", "payload must be a JSON object", true, NULL },
	{ PL_CMD_READ, "null", "payload must be a JSON object", true, NULL },
	{ PL_CMD_ACK, "{\"alarm\":\"a\"}", "missing \"id\"", true, NULL },
	{ PL_CMD_ACK, "{}", "missing \"id\"", true, NULL },
	{ PL_CMD_READ, "{\"id\":17,\"point\":\"d.p\"}", "\"id\" must be a non-empty string",
	  true, NULL },
	{ PL_CMD_READ, "{\"id\":null,\"point\":\"d.p\"}", "\"id\" must be a non-empty string",
	  true, NULL },
	{ PL_CMD_READ, "{\"id\":\"\",\"point\":\"d.p\"}", "\"id\" must be a non-empty string",
	  true, NULL },
	{ PL_CMD_READ, "{\"id\":\"" LONG256 "\",\"point\":\"d.p\"}",
	  "\"id\" is too long (max 255 bytes)", true, NULL },
	/* the id comes first even when something else is wrong too */
	{ PL_CMD_READ, "{\"pont\":\"d.p\"}", "missing \"id\"", true, NULL },
	{ PL_CMD_READ, "{\"id\":\"r\",\"pont\":\"d.p\"}", "unknown key \"pont\"", false, "r" },
	{ PL_CMD_READ, "{\"id\":\"r\",\"point\":\"d.p\",\"value\":1}", "unknown key \"value\"",
	  false, "r" },
	{ PL_CMD_WRITE, "{\"id\":\"r\",\"point\":\"d.p\",\"value\":1,\"by\":\"x\",\"zz\":1}",
	  "unknown key \"by\"", false, "r" },
	{ PL_CMD_ACK, "{\"id\":\"r\",\"alarm\":\"a\",\"point\":\"d.p\"}", "unknown key \"point\"",
	  false, "r" },
	{ PL_CMD_ACK, "{\"id\":\"r\"}", "missing \"alarm\"", false, "r" },
	{ PL_CMD_ACK, "{\"id\":\"r\",\"by\":\"op\"}", "missing \"alarm\"", false, "r" },
	{ PL_CMD_ACK, "{\"id\":\"r\",\"alarm\":3}", "\"alarm\" must be a non-empty string", false,
	  "r" },
	{ PL_CMD_ACK, "{\"id\":\"r\",\"alarm\":\"\"}", "\"alarm\" must be a non-empty string",
	  false, "r" },
	{ PL_CMD_ACK, "{\"id\":\"r\",\"alarm\":\"" LONG64 LONG64 "\"}",
	  "\"alarm\" is too long (max 127 bytes)", false, "r" },
	{ PL_CMD_ACK, "{\"id\":\"r\",\"alarm\":\"a\",\"by\":false}", "\"by\" must be a string",
	  false, "r" },
	{ PL_CMD_READ, "{\"id\":\"r\"}", "missing \"point\"", false, "r" },
	{ PL_CMD_READ, "{\"id\":\"r\",\"point\":5}", "\"point\" must be a string DEVICE.POINT",
	  false, "r" },
	{ PL_CMD_READ, "{\"id\":\"r\",\"point\":\"b3-stairs\"}",
	  "\"point\" must be a string DEVICE.POINT", false, "r" },
	{ PL_CMD_READ, "{\"id\":\"r\",\"point\":\"a.b.c\"}",
	  "\"point\" must be a string DEVICE.POINT", false, "r" },
	{ PL_CMD_READ, "{\"id\":\"r\",\"point\":\".p\"}",
	  "\"point\" must be a string DEVICE.POINT", false, "r" },
	{ PL_CMD_READ, "{\"id\":\"r\",\"point\":\"D.p\"}",
	  "\"point\" must be a string DEVICE.POINT", false, "r" },
	{ PL_CMD_READ, "{\"id\":\"r\",\"point\":\"d.\"}",
	  "\"point\" must be a string DEVICE.POINT", false, "r" },
	{ PL_CMD_READ, "{\"id\":\"r\",\"point\":\"d._p\"}",
	  "\"point\" must be a string DEVICE.POINT", false, "r" },
	{ PL_CMD_READ, "{\"id\":\"r\",\"point\":\"d." LONG64 "\"}",
	  "\"point\" must be a string DEVICE.POINT", false, "r" },
	{ PL_CMD_WRITE, "{\"id\":\"r\",\"value\":1}", "missing \"point\"", false, "r" },
	{ PL_CMD_WRITE, "{\"id\":\"r\",\"point\":\"d.p\"}", "missing \"value\"", false, "r" },
	{ PL_CMD_WRITE, "{\"id\":\"r\",\"point\":\"d.p\",\"value\":\"1\"}",
	  "\"value\" must be a number or a boolean", false, "r" },
	{ PL_CMD_WRITE, "{\"id\":\"r\",\"point\":\"d.p\",\"value\":null}",
	  "\"value\" must be a number or a boolean", false, "r" },
	{ PL_CMD_WRITE, "{\"id\":\"r\",\"point\":\"d.p\",\"value\":[1]}",
	  "\"value\" must be a number or a boolean", false, "r" },
};

static void test_cmd_bad(void)
{
	struct pl_cmd c;
	char err[512];
	size_t i;
	int rc;

	for (i = 0; i < sizeof bad_cmds / sizeof bad_cmds[0]; i++) {
		const struct bad_cmd *b = &bad_cmds[i];

		check_case = b->json;
		rc = parse_cmd(b->kind, b->json, &c, err, sizeof err);
		CHECK(rc == -1);
		if (strcmp(err, b->err) != 0)
			fprintf(stderr, "bad cmd %zu: got  [%s]\n             want [%s]\n", i, err,
				b->err);
		CHECK(strcmp(err, b->err) == 0);
		CHECK(c.id_null == b->id_null);
		if (!b->id_null)
			CHECK(strcmp(c.id, b->id) == 0);
		else
			CHECK(c.id[0] == '\0');
		CHECK(c.kind == b->kind);
	}

	check_case = "bad cmd: what could be read is kept";
	CHECK(parse_cmd(PL_CMD_WRITE, "{\"point\":\"d.p\",\"value\":2}", &c, err, sizeof err) ==
	      -1);
	CHECK(c.id_null && strcmp(c.point, "d.p") == 0 && c.value.present && c.value.v == 2);

	check_case = "bad cmd: NULL payload";
	CHECK(payload_parse_cmd(PL_CMD_READ, NULL, 0, &c, err, sizeof err) == -1);
	CHECK(strncmp(err, "malformed JSON: ", 16) == 0 && c.id_null);

	check_case = "bad cmd: embedded NUL";
	CHECK(payload_parse_cmd(PL_CMD_READ, "{\"id\":\"r\"\0}", 11, &c, err, sizeof err) == -1);
	CHECK(strncmp(err, "malformed JSON: ", 16) == 0 && c.id_null);
}

int main(void)
{
	test_cmd_valid();
	test_cmd_bad();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
