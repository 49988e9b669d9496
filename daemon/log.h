/*
 * log: one line per event on stderr, "LEVEL component: message".
 * Under journald (JOURNAL_STREAM set and matching stderr) each line is
 * prefixed with the syslog priority "<N>" so the journal keeps the level.
 * The level threshold is process-wide and set once at start (and on reload).
 */
#ifndef YW_LOG_H
#define YW_LOG_H

#include "config.h"

void log_init(enum yw_log_level level);   /* detects journald on stderr */
void log_set_level(enum yw_log_level level);
enum yw_log_level log_get_level(void);
/* Parse "error|warn|info|debug"; -1 when unknown. */
int log_parse_level(const char *s);

void log_error(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_info(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
