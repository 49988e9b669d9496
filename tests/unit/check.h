/*
 * check: the unit tests' one assertion macro. CHECK counts passes and
 * failures, printing file:line (and the current case, when set) of each
 * failure; check_report() prints the closing "N passed, N failed" line and
 * returns the exit status.
 */
#ifndef YW_TEST_CHECK_H
#define YW_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;
static const char *check_case = "";   /* set by table-driven tests */

#define CHECK(expr)                                                                    \
	do {                                                                           \
		if (expr) {                                                            \
			passed++;                                                      \
		} else {                                                               \
			failed++;                                                      \
			fprintf(stderr, "%s:%d: %s%scheck failed: %s\n", __FILE__,     \
				__LINE__, check_case, *check_case ? ": " : "", #expr); \
		}                                                                      \
	} while (0)

static inline int check_report(void)
{
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif
