/*
 * listen.c — the one LISTEN connection: route reloads (flov7_routes) and the event feed
 * (flov7_events).  Not in pipeline mode: one plain query at a time, so its work is serialized:
 *
 *   routes    reload the route table (on NOTIFY, and after every reconnect, since
 *             notifications sent while it was down are lost);
 *   head      where the feed starts, the first time (flov7.events_head());
 *   feed      published events after the feed's position, fanned out to live streams;
 *   catch-up  one new subscriber's events from its last_event_id up to the feed's position,
 *             and only then it goes live: as catch-ups and feed reads never overlap, nothing
 *             falls between them and nothing is sent twice.
 * (The streams' periodic checks go through the pool, streamcheck.c: a slow one must not hold
 * the feed up.)
 *
 * After a reconnect the feed reads on from where it was, so streams miss nothing across a
 * PostgreSQL restart.  Notifications arriving while a query runs only set flags.
 */
#include "listen.h"
#include "frontd.h"
#include "log.h"
#include "pgconn.h"
#include "routes.h"
#include "stream.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEED_BATCH   "1000"
#define FEED_BATCH_N 1000

enum op { OP_NONE, OP_ROUTES, OP_HEAD, OP_FEED, OP_CATCHUP };

struct catchup {
    struct catchup *next;
    uint64_t id;
    char user[40], topic[16];
    int64_t from, upto;
};

static struct pgc lc;
static enum op running;
static bool reload_pending, feed_pending, feed_enabled = true;
static int64_t feed_pos = -1; /* last position fanned out; -1 until the head is known */
static struct catchup *cq_head, *cq_tail;
static int64_t op_last; /* the feed/catch-up read: last position and rows seen */
static int op_rows;
static bool op_failed;       /* the running op's query failed: nothing of it applies */
static uint64_t retry_at_ms; /* after a failed read, no feed work before then */

int64_t listen_feed_pos(void)
{
    return feed_enabled ? feed_pos : -1;
}

static bool sent(enum op op, int ok)
{
    if (!ok) {
        pgc_fail(&lc, PQerrorMessage(lc.pg));
        return false;
    }
    running = op;
    op_rows = 0;
    int f = PQflush(lc.pg);
    if (f < 0)
        pgc_fail(&lc, PQerrorMessage(lc.pg));
    else if (f == 1)
        pgc_want_write(&lc, true);
    return true;
}

static void send_params(enum op op, const char *sql, int n, const char *const *v)
{
    sent(op, PQsendQueryParams(lc.pg, sql, n, NULL, v, NULL, NULL, 0));
}

/* Start the next piece of work, if the connection is free. */
static void schedule(void)
{
    if (running != OP_NONE || lc.state != PGC_UP)
        return;
    if (reload_pending) {
        reload_pending = false;
        sent(OP_ROUTES, PQsendQuery(lc.pg, ROUTES_QUERY));
        return;
    }
    if (!feed_enabled || now_ms() < retry_at_ms)
        return;
    if (feed_pos < 0) {
        sent(OP_HEAD, PQsendQuery(lc.pg, "SELECT flov7.events_head()"));
        return;
    }
    if (cq_head) {
        struct catchup *q = cq_head;
        if (q->upto < 0)
            q->upto = feed_pos;
        char from[24], upto[24];
        snprintf(from, sizeof(from), "%lld", (long long)q->from);
        snprintf(upto, sizeof(upto), "%lld", (long long)q->upto);
        const char *v[4] = {from, q->user, q->topic, upto};
        op_last = q->from;
        send_params(OP_CATCHUP,
                    "SELECT pos, message FROM flov7.events_feed($1::bigint, $2::uuid, $3, "
                    "$4::bigint, " FEED_BATCH ")",
                    4, v);
        return;
    }
    if (feed_pending) {
        feed_pending = false;
        char from[24];
        snprintf(from, sizeof(from), "%lld", (long long)feed_pos);
        const char *v[1] = {from};
        op_last = feed_pos;
        send_params(OP_FEED,
                    "SELECT pos, user_id, topic, message FROM flov7.events_feed($1::bigint, "
                    "NULL, NULL, NULL, " FEED_BATCH ")",
                    1, v);
    }
}

void listen_catchup(uint64_t id, const char *user, const char *topic, int64_t from)
{
    struct catchup *q = xcalloc(1, sizeof(*q));
    q->id = id;
    snprintf(q->user, sizeof(q->user), "%s", user);
    snprintf(q->topic, sizeof(q->topic), "%s", topic);
    q->from = from;
    q->upto = -1; /* the feed's position when it runs */
    if (cq_tail)
        cq_tail->next = q;
    else
        cq_head = q;
    cq_tail = q;
    schedule();
}

static void lc_up(struct pgc *p)
{
    (void)p;
    running = OP_NONE;
    reload_pending = false;
    /* notifications sent while we were away are lost: reload, and read the feed on.  LISTEN
     * commits first, then the routes are read: in one implicit transaction, a route change that
     * committed after the read's snapshot and before the LISTEN took effect was neither read
     * nor heard (1 fault-loop run in 10 under ASan) */
    feed_pending = feed_pos >= 0;
    sent(OP_ROUTES,
         PQsendQuery(lc.pg,
                     "BEGIN; LISTEN flov7_routes; LISTEN flov7_events; COMMIT; " ROUTES_QUERY));
}

/* A read of the feed failed: nothing of it applies (op_done).  A missing function, table or
 * grant (an older extension, a broken install) stops the feed until a SIGHUP says to try again;
 * anything else (the server shutting down under it, a timeout) is tried again a second later,
 * or after the reconnect when the connection went with it. */
static void feed_error(PGresult *res)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    static const char *const fatal[] = {"42883", "42501", "42P01", "3F000"};
    op_failed = true;
    for (size_t i = 0; st && i < sizeof(fatal) / sizeof(fatal[0]); i++) {
        if (strcmp(st, fatal[i]) == 0) {
            log_error("events",
                      "reading the event feed failed; streams get no events until "
                      "this is fixed (then SIGHUP): %s",
                      PQresultErrorMessage(res));
            feed_enabled = false;
            return;
        }
    }
    log_warn("events", "reading the event feed failed; trying again: %s",
             PQresultErrorMessage(res));
    retry_at_ms = now_ms() + 1000;
}

static void on_head(PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        feed_error(res);
        return;
    }
    feed_pos =
        PQntuples(res) && !PQgetisnull(res, 0, 0) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    log_info("events", "event feed starts after position %lld", (long long)feed_pos);
    stream_feed_reset();
}

static void on_feed(PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        feed_error(res);
        return;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        int64_t pos = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        stream_feed_row(pos, PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1),
                        PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                        (size_t)PQgetlength(res, i, 3));
        op_last = pos;
    }
    op_rows += n;
}

static void on_catchup(PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        feed_error(res);
        return;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        int64_t pos = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        stream_catchup_row(cq_head->id, pos, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
        op_last = pos;
    }
    op_rows += n;
}

/* The query of the running op has ended (all its results read). */
static void op_done(void)
{
    enum op op = running;
    bool failed = op_failed;
    running = OP_NONE;
    op_failed = false;
    if (failed) {
        /* the head is asked again (feed_pos still -1), the feed read again from the same
         * position, the catch-up again from where it was */
        if (op == OP_FEED)
            feed_pending = true;
        return;
    }
    if (op == OP_FEED && feed_enabled) {
        feed_pos = op_last;
        if (op_rows >= FEED_BATCH_N)
            feed_pending = true; /* more than one batch behind */
    } else if (op == OP_CATCHUP && cq_head) {
        struct catchup *q = cq_head;
        if (feed_enabled && op_rows >= FEED_BATCH_N) {
            q->from = op_last; /* the same upto: the next batch */
        } else {
            cq_head = q->next;
            if (!cq_head)
                cq_tail = NULL;
            stream_catchup_end(q->id, q->upto);
            free(q);
        }
    }
}

static void lc_readable(struct pgc *p)
{
    if (!PQconsumeInput(p->pg)) {
        pgc_fail(p, PQerrorMessage(p->pg));
        return;
    }
    while (running != OP_NONE && !PQisBusy(p->pg)) {
        PGresult *res = PQgetResult(p->pg);
        if (!res) {
            op_done();
            break;
        }
        switch (running) {
        case OP_ROUTES: routes_reloaded(res); break;
        case OP_HEAD: on_head(res); break;
        case OP_FEED: on_feed(res); break;
        case OP_CATCHUP: on_catchup(res); break;
        case OP_NONE: break;
        }
        PQclear(res);
    }
    PGnotify *n;
    while ((n = PQnotifies(p->pg)) != NULL) {
        if (strcmp(n->relname, "flov7_routes") == 0)
            reload_pending = true;
        else if (strcmp(n->relname, "flov7_events") == 0 && strtoll(n->extra, NULL, 10) > feed_pos)
            feed_pending = true;
        PQfreemem(n);
    }
    stream_flush_dirty();
    if (p->state == PGC_UP)
        schedule();
}

static void lc_writable(struct pgc *p)
{
    int f = PQflush(p->pg);
    if (f < 0)
        pgc_fail(p, PQerrorMessage(p->pg));
    else if (f == 0)
        pgc_want_write(p, false);
}

static void lc_down(struct pgc *p, const char *why)
{
    (void)p;
    (void)why;
    /* a catch-up in flight runs again from where it got to, after the reconnect */
    if (running == OP_CATCHUP && cq_head)
        cq_head->from = op_last;
    running = OP_NONE;
    op_failed = false; /* what it read is read again after the reconnect */
}

static const struct pgc_ops listen_ops = {lc_up, lc_readable, lc_writable, lc_down};

void listen_init(void)
{
    pgc_init(&lc, "listen", &listen_ops, NULL, false);
    pgc_connect(&lc);
}

void listen_tick(void)
{
    if (retry_at_ms && now_ms() >= retry_at_ms) {
        retry_at_ms = 0;
        schedule();
    }
}

void listen_reenable_feed(void)
{
    if (!feed_enabled) {
        feed_enabled = true;
        feed_pos = -1;
        schedule();
    }
}

void listen_shutdown(void)
{
    pgc_close(&lc);
    while (cq_head) {
        struct catchup *q = cq_head;
        cq_head = q->next;
        free(q);
    }
    cq_tail = NULL;
}
