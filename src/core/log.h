/* Logging to stderr with a level; thread-safe (one fprintf per line). */
#ifndef HEARTH_CORE_LOG_H
#define HEARTH_CORE_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warning"/"warn", "error"; returns -1 if unknown. */
int log_parse_level(const char *name, enum log_level *out);
/* The request this thread is handling now (borrowed until cleared with NULL): its ID starts
 * every line logged meanwhile, so one request's lines can be found together. */
void log_set_request(const char *id);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
