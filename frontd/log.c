/*
 * log.c — stderr writer.  Access lines accumulate in one sbuf; the first line of a loop
 * iteration activates a flush event, which runs after the iteration's other callbacks, so all
 * lines produced by one epoll_wait batch leave in one write(2).  Error lines flush at once,
 * after any pending access lines, so the order on stderr is the order of events.
 */
#include "log.h"
#include "util.h"

#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int g_log_level = LOG_INFO;
static bool access_on = true;
static struct sbuf pending;
static struct event *flush_ev;
static bool flush_armed;

static void write_all(void)
{
    size_t off = 0;
    while (off < pending.len) {
        ssize_t n = write(STDERR_FILENO, pending.data + off, pending.len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break; /* stderr gone or non-blocking and full: drop rather than stall the loop */
        }
        off += (size_t)n;
    }
    sbuf_reset(&pending);
    if (pending.cap > (1 << 20))
        sbuf_free(&pending);
}

void log_flush(void)
{
    if (pending.len)
        write_all();
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    flush_armed = false;
    log_flush();
}

void log_init(struct event_base *base)
{
    flush_ev = event_new(base, -1, 0, flush_cb, NULL);
}

void log_configure(int level, bool access)
{
    g_log_level = level;
    access_on = access;
}

void log_shutdown(void)
{
    log_flush();
    if (flush_ev)
        event_free(flush_ev);
    flush_ev = NULL;
    sbuf_free(&pending);
}

/* ISO 8601 UTC with milliseconds; the date part is recomputed once per second. */
static void add_time(struct sbuf *b)
{
    static time_t cached_sec = -1;
    static char cached[24];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    char ms[24];
    snprintf(ms, sizeof(ms), ".%03ldZ", ts.tv_nsec / 1000000);
    sbuf_adds(b, cached);
    sbuf_adds(b, ms);
}

static const char *level_tag[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_msg(int level, const char *subject, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    add_time(&pending);
    sbuf_printf(&pending, " %s ", level_tag[level]);
    if (subject && *subject)
        sbuf_printf(&pending, "%s: ", subject);
    va_list ap;
    char line[2048];
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* keep one event per line even if a message (e.g. a libpq error) has newlines */
    size_t l = strlen(line);
    while (l && (line[l - 1] == '\n' || line[l - 1] == ' '))
        line[--l] = 0;
    for (char *p = line; *p; p++) {
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    }
    sbuf_add(&pending, line, l);
    sbuf_addc(&pending, '\n');
    log_flush();
}

void log_access(const struct access_rec *r)
{
    if (!access_on)
        return;
    struct sbuf *b = &pending;
    sbuf_adds(b, "{\"time\":\"");
    add_time(b);
    sbuf_adds(b, "\",\"request_id\":");
    json_add_string(b, r->request_id, strlen(r->request_id), JSON_REPLACE);
    sbuf_adds(b, ",\"method\":");
    json_add_string(b, r->method, strlen(r->method), JSON_REPLACE);
    sbuf_adds(b, ",\"path\":");
    json_add_string(b, r->path, r->path_len, JSON_REPLACE);
    sbuf_adds(b, ",\"route\":");
    if (r->route)
        json_add_string(b, r->route, strlen(r->route), JSON_REPLACE);
    else
        sbuf_adds(b, "null");
    sbuf_adds(b, ",\"status\":");
    sbuf_add_u64(b, (uint64_t)r->status);
    sbuf_printf(b, ",\"duration_ms\":%.3f,\"bytes\":", (double)r->duration_us / 1000.0);
    sbuf_add_u64(b, r->bytes);
    sbuf_adds(b, ",\"peer\":");
    json_add_string(b, r->peer, strlen(r->peer), JSON_REPLACE);
    sbuf_adds(b, ",\"user_agent\":");
    if (r->user_agent)
        json_add_string(b, r->user_agent, r->ua_len, JSON_REPLACE);
    else
        sbuf_adds(b, "null");
    sbuf_adds(b, "}\n");
    if (!flush_ev) {
        log_flush();
    } else if (!flush_armed) {
        flush_armed = true;
        event_active(flush_ev, 0, 0);
    } else if (pending.len > 65536) {
        log_flush();
    }
}
