/*
 * log: one line per event on stderr, "LEVEL component: message".
 * Under journald (JOURNAL_STREAM set and matching stderr) each line is
 * prefixed with the syslog priority "<N>" so the journal keeps the level.
 * The level threshold is process-wide and set once at start (and on reload).
 */
#ifndef YW_LOG_H
#define YW_LOG_H

enum yw_log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
#define LOG_NLEVELS 4
/* "error", "warn", "info", "debug", indexed by the level. */
extern const char *const log_level_names[LOG_NLEVELS];

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
