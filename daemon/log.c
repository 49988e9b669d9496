#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum yw_log_level log_level = LOG_LVL_INFO;
static int log_journal;   /* stderr is the journal: prefix "<prio>" */

const char *const log_level_names[LOG_NLEVELS] = { "error", "warn", "info", "debug" };
static const char *const level_tags[] = { "ERROR", "WARN", "INFO", "DEBUG" };
static const int level_prio[] = { 3, 4, 6, 7 };

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected; only trust
 * it when it is still our stderr (a child of ours may have redirected it). */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(enum yw_log_level level)
{
	log_level = level;
	log_journal = stderr_is_journal();
}

void log_set_level(enum yw_log_level level)
{
	log_level = level;
}

enum yw_log_level log_get_level(void)
{
	return log_level;
}

int log_parse_level(const char *s)
{
	for (int i = 0; i < LOG_NLEVELS; i++)
		if (strcmp(s, log_level_names[i]) == 0)
			return i;
	return -1;
}

static void log_vemit(enum yw_log_level lvl, const char *comp, const char *fmt, va_list ap)
{
	char msg[1024];
	int n;

	if (lvl > log_level)
		return;
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < 0)
		return;
	/* One write per line so lines from several threads never interleave. */
	char line[1200];
	if (log_journal)
		n = snprintf(line, sizeof line, "<%d>%s %s: %s\n", level_prio[lvl],
			     level_tags[lvl], comp, msg);
	else
		n = snprintf(line, sizeof line, "%s %s: %s\n", level_tags[lvl], comp, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

#define LOG_FN(name, lvl)                                        \
	void name(const char *comp, const char *fmt, ...)        \
	{                                                        \
		va_list ap;                                      \
		va_start(ap, fmt);                               \
		log_vemit(lvl, comp, fmt, ap);                   \
		va_end(ap);                                      \
	}

LOG_FN(log_error, LOG_LVL_ERROR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)
