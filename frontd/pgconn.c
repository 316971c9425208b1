/*
 * pgconn.c — the connect/reconnect state machine of one libpq connection.  Nothing here
 * blocks once the loop runs (pgc_connect_blocking is for startup only): the socket may change
 * during PQconnectPoll (several hosts, SSL fallback), so events are re-assigned whenever
 * PQsocket() differs from the one they watch.
 */
#include "pgconn.h"
#include "frontd.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Capped low: requests wait for a connection (pool-acquire-timeout, 10 s by default) and
 * should get one soon after PostgreSQL is back, not a backoff step later. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000

static char *g_conninfo;
static char *g_options;

void pgc_global_init(const char *conninfo, int statement_timeout_ms)
{
    pgc_global_free();
    g_conninfo = xstrdup(conninfo ? conninfo : "");
    /* keep the user's own options= and add ours after them */
    const char *user_opts = "";
    PQconninfoOption *opts = PQconninfoParse(g_conninfo, NULL);
    struct sbuf b;
    sbuf_init(&b);
    if (opts) {
        for (PQconninfoOption *o = opts; o->keyword; o++) {
            if (strcmp(o->keyword, "options") == 0 && o->val)
                user_opts = o->val;
        }
    }
    sbuf_printf(&b, "%s%s-c statement_timeout=%d", user_opts, *user_opts ? " " : "",
                statement_timeout_ms);
    g_options = xstrdup(sbuf_cstr(&b));
    sbuf_free(&b);
    if (opts)
        PQconninfoFree(opts);
}

void pgc_global_free(void)
{
    free(g_conninfo);
    free(g_options);
    g_conninfo = g_options = NULL;
}

static PGconn *start_conn(bool blocking)
{
    const char *kw[] = {"dbname", "options", "fallback_application_name", NULL};
    const char *val[] = {g_conninfo, g_options, "frontd", NULL};
    if (blocking)
        return PQconnectdbParams(kw, val, 1);
    return PQconnectStartParams(kw, val, 1);
}

PGconn *pgc_connect_blocking(char *err, size_t errlen)
{
    PGconn *pg = start_conn(true);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", pg ? PQerrorMessage(pg) : "out of memory");
        size_t l = strlen(err);
        while (l && err[l - 1] == '\n')
            err[--l] = 0;
        if (pg)
            PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* libpq would print NOTICEs to stderr; route them through the log at debug level. */
static void notice_cb(void *arg, const char *msg)
{
    struct pgc *p = arg;
    log_debug(p->name, "notice: %s", msg);
}

static void pgc_event_cb(evutil_socket_t fd, short what, void *arg);

static void set_events(struct pgc *p, bool r, bool w)
{
    if (r != p->rev_on) {
        if (r)
            event_add(&p->rev, NULL);
        else
            event_del(&p->rev);
        p->rev_on = r;
    }
    if (w != p->wev_on) {
        if (w)
            event_add(&p->wev, NULL);
        else
            event_del(&p->wev);
        p->wev_on = w;
    }
}

static void clear_events(struct pgc *p)
{
    if (p->events_set) {
        set_events(p, false, false);
        p->events_set = false;
    }
    p->sock = -1;
}

/* (Re)bind the events to the connection's current socket. */
static void sync_socket(struct pgc *p)
{
    int s = PQsocket(p->pg);
    if (p->events_set && s == p->sock)
        return;
    clear_events(p);
    if (s < 0)
        return;
    event_assign(&p->rev, g_base, s, EV_READ | EV_PERSIST, pgc_event_cb, p);
    event_assign(&p->wev, g_base, s, EV_WRITE | EV_PERSIST, pgc_event_cb, p);
    p->sock = s;
    p->events_set = true;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pgc_connect(arg);
}

void pgc_init(struct pgc *p, const char *name, const struct pgc_ops *ops, void *owner,
              bool pipeline)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->state = PGC_DOWN;
    p->sock = -1;
    p->ops = ops;
    p->owner = owner;
    p->pipeline = pipeline;
    p->backoff_ms = BACKOFF_MIN_MS;
    evtimer_assign(&p->retry, g_base, retry_cb, p);
    p->retry_set = true;
}

static void went_up(struct pgc *p)
{
    if (PQsetnonblocking(p->pg, 1) != 0) {
        pgc_fail(p, "cannot set the connection non-blocking");
        return;
    }
    if (p->pipeline && PQenterPipelineMode(p->pg) != 1) {
        pgc_fail(p, "cannot enter pipeline mode");
        return;
    }
    PQsetNoticeProcessor(p->pg, notice_cb, p);
    p->state = PGC_UP;
    p->backoff_ms = BACKOFF_MIN_MS;
    if (p->ever_up) {
        g_stats.db_reconnects++;
        log_info(p->name, "reconnected to the database");
    } else {
        log_debug(p->name, "connected to the database");
    }
    p->ever_up = true;
    set_events(p, true, false);
    p->ops->up(p);
}

static void poll_connect(struct pgc *p)
{
    PostgresPollingStatusType st = PQconnectPoll(p->pg);
    sync_socket(p);
    switch (st) {
    case PGRES_POLLING_READING: set_events(p, true, false); break;
    case PGRES_POLLING_WRITING: set_events(p, false, true); break;
    case PGRES_POLLING_OK: went_up(p); break;
    default: pgc_fail(p, PQerrorMessage(p->pg)); break;
    }
}

static void pgc_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pgc *p = arg;
    (void)fd;
    if (p->state == PGC_CONNECTING) {
        poll_connect(p);
        return;
    }
    if (p->state != PGC_UP)
        return;
    if (what & EV_READ)
        p->ops->readable(p);
    if (p->state == PGC_UP && (what & EV_WRITE))
        p->ops->writable(p);
}

void pgc_connect(struct pgc *p)
{
    if (p->state == PGC_CLOSED || g_shutting_down)
        return;
    p->pg = start_conn(false);
    if (!p->pg) {
        p->state = PGC_CONNECTING;
        pgc_fail(p, "out of memory");
        return;
    }
    p->state = PGC_CONNECTING;
    if (PQstatus(p->pg) == CONNECTION_BAD) {
        pgc_fail(p, PQerrorMessage(p->pg));
        return;
    }
    sync_socket(p);
    /* libpq: after PQconnectStart, behave as if the last poll said WRITING */
    set_events(p, false, true);
}

void pgc_fail(struct pgc *p, const char *why)
{
    if (p->state == PGC_DOWN || p->state == PGC_CLOSED)
        return;
    bool was_up = p->state == PGC_UP;
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", why && *why ? why : "connection lost");
    clear_events(p);
    if (p->pg)
        PQfinish(p->pg);
    p->pg = NULL;
    p->state = PGC_DOWN;
    if (was_up || log_enabled(LOG_DEBUG) || !p->ever_up)
        log_msg(was_up ? LOG_WARN : LOG_INFO, p->name,
                "database connection %s: %s (retry in %d ms)", was_up ? "lost" : "failed", msg,
                p->backoff_ms);
    p->ops->down(p, msg);
    if (p->state != PGC_DOWN || g_shutting_down)
        return;
    struct timeval tv = {p->backoff_ms / 1000, (p->backoff_ms % 1000) * 1000};
    evtimer_add(&p->retry, &tv);
    p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
}

void pgc_want_write(struct pgc *p, bool on)
{
    if (p->state == PGC_UP)
        set_events(p, true, on);
}

void pgc_close(struct pgc *p)
{
    clear_events(p);
    if (p->retry_set)
        evtimer_del(&p->retry);
    if (p->pg)
        PQfinish(p->pg);
    p->pg = NULL;
    p->state = PGC_CLOSED;
}
