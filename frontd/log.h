/*
 * log.h — everything frontd writes to stderr: one JSON access-log line per request (buffered
 * and written once per event-loop iteration, so a busy loop costs one write(2) for many
 * requests) and plain-text error/info lines prefixed by their subject (C-12 127.0.0.1:5000,
 * pool-3, listen), written immediately.
 */
#ifndef FRONTD_LOG_H
#define FRONTD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct event_base;

extern int g_log_level;
#define log_enabled(level) ((level) <= g_log_level)

void log_init(struct event_base *base);
void log_configure(int level, bool access);
void log_shutdown(void);

void log_msg(int level, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_error(subj, ...) log_msg(LOG_ERROR, subj, __VA_ARGS__)
#define log_warn(subj, ...)  log_msg(LOG_WARN, subj, __VA_ARGS__)
#define log_info(subj, ...)                                                                        \
    do {                                                                                           \
        if (log_enabled(LOG_INFO))                                                                 \
            log_msg(LOG_INFO, subj, __VA_ARGS__);                                                  \
    } while (0)
#define log_debug(subj, ...)                                                                       \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_msg(LOG_DEBUG, subj, __VA_ARGS__);                                                 \
    } while (0)

struct access_rec {
    const char *request_id;
    const char *method;
    const char *path;
    size_t path_len;
    const char *route;
    int status;
    uint64_t duration_us;
    uint64_t bytes;
    const char *peer;
    const char *user_agent;
    size_t ua_len;
};

void log_access(const struct access_rec *r);
void log_flush(void);

#endif
