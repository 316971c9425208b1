/*
 * pool.c — pooled database connections and the waiting queue.
 *
 * Each connection is a pgc (pgconn.c) in pipeline mode.  States: DOWN (connecting or waiting
 * to reconnect), IDLE (on the idle stack; LIFO keeps the warmest backend busy), BUSY (one
 * request's pipeline in flight).  Results are read on EV_READ with PQconsumeInput / PQisBusy /
 * PQgetResult until PGRES_PIPELINE_SYNC; PQflush runs on EV_WRITE only when libpq could not
 * send everything at once.  A request whose owner disappeared stays on its connection until
 * the Sync, its results dropped, so the connection is never left mid-pipeline.
 */
#include "pool.h"
#include "frontd.h"
#include "log.h"
#include "pgconn.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum pc_state { PC_DOWN, PC_IDLE, PC_BUSY };

struct pool_conn {
    struct pgc pgc;
    enum pc_state state;
    struct pool_req *req;
    bool detached; /* a request is in flight but its owner is gone */
    uint64_t busy_since;
    struct pool_conn *next_idle;
    uint8_t *prepared;
    int nprepared;
};

static struct pool_conn *conns;
static int nconns;
static struct pool_conn *idle_top;
static int nidle, nup, nbusy;
static struct pool_req *q_head, *q_tail;
static int nwaiting;

static void pc_start(struct pool_conn *pc, struct pool_req *r);

static void idle_push(struct pool_conn *pc)
{
    pc->state = PC_IDLE;
    pc->next_idle = idle_top;
    idle_top = pc;
    nidle++;
}

static void idle_remove(struct pool_conn *pc)
{
    struct pool_conn **pp = &idle_top;
    while (*pp && *pp != pc)
        pp = &(*pp)->next_idle;
    if (*pp) {
        *pp = pc->next_idle;
        nidle--;
    }
    pc->next_idle = NULL;
}

static void q_push(struct pool_req *r)
{
    r->qnext = NULL;
    r->qprev = q_tail;
    if (q_tail)
        q_tail->qnext = r;
    else
        q_head = r;
    q_tail = r;
    r->queued = true;
    nwaiting++;
}

static void q_remove(struct pool_req *r)
{
    if (!r->queued)
        return;
    if (r->qprev)
        r->qprev->qnext = r->qnext;
    else
        q_head = r->qnext;
    if (r->qnext)
        r->qnext->qprev = r->qprev;
    else
        q_tail = r->qprev;
    r->qnext = r->qprev = NULL;
    r->queued = false;
    nwaiting--;
}

/* A connection became free: give it to the oldest waiter, else park it. */
static void pc_free_up(struct pool_conn *pc)
{
    if (pc->pgc.state != PGC_UP)
        return;
    if (q_head) {
        struct pool_req *r = q_head;
        q_remove(r);
        pc_start(pc, r);
    } else {
        idle_push(pc);
    }
}

/* The request on pc ended (Sync or failure): detach it, then tell its owner. */
static void pc_finish(struct pool_conn *pc, int err)
{
    struct pool_req *r = pc->req;
    pc->req = NULL;
    pc->detached = false;
    if (pc->state == PC_BUSY)
        nbusy--;
    pc->state = PC_DOWN;
    if (r)
        r->pc = NULL;
    /* free the connection before calling done(): done() may submit the owner's next request,
     * which then queues fairly behind earlier waiters */
    if (err == POOL_OK)
        pc_free_up(pc);
    if (r)
        r->ops->done(r, err);
}

static void fail_all_waiting(int err)
{
    while (q_head) {
        struct pool_req *r = q_head;
        q_remove(r);
        r->ops->done(r, err);
    }
}

static void pc_start(struct pool_conn *pc, struct pool_req *r)
{
    pc->req = r;
    pc->detached = false;
    r->pc = pc;
    pc->state = PC_BUSY;
    nbusy++;
    pc->busy_since = now_ms();
    PGconn *pg = pc->pgc.pg;
    if (!r->ops->send(r, pc, pg)) {
        pgc_fail(&pc->pgc, PQerrorMessage(pg));
        return;
    }
    int f = PQflush(pg);
    if (f < 0)
        pgc_fail(&pc->pgc, PQerrorMessage(pg));
    else if (f == 1)
        pgc_want_write(&pc->pgc, true);
}

static void pc_up(struct pgc *p)
{
    struct pool_conn *pc = p->owner;
    if (pc->prepared)
        memset(pc->prepared, 0, (size_t)pc->nprepared);
    nup++;
    pc_free_up(pc);
}

static void pc_down(struct pgc *p, const char *why)
{
    struct pool_conn *pc = p->owner;
    (void)why;
    bool was_up = pc->state != PC_DOWN;
    if (pc->state == PC_IDLE)
        idle_remove(pc);
    if (was_up)
        nup--;
    if (pc->req) {
        pc_finish(pc, POOL_LOST); /* req implies BUSY; pc_finish fixes the counters */
    } else {
        if (pc->state == PC_BUSY)
            nbusy--; /* detached or timed-out request */
        pc->state = PC_DOWN;
    }
    if (nup == 0)
        fail_all_waiting(POOL_DOWN);
}

/* Read every result that has fully arrived; stop at the pipeline's Sync. */
static void pc_drain(struct pool_conn *pc)
{
    PGconn *pg = pc->pgc.pg;
    int nulls = 0;
    while (pc->state == PC_BUSY) {
        if (PQisBusy(pg))
            break;
        PGresult *res = PQgetResult(pg);
        if (!res) {
            if (++nulls > 1)
                break; /* nothing more has arrived */
            continue;  /* end of one command's results */
        }
        nulls = 0;
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            pc_finish(pc, POOL_OK);
            return;
        }
        bool keep = pc->req && pc->req->ops->result(pc->req, res);
        if (!keep)
            PQclear(res);
    }
}

static void pc_readable(struct pgc *p)
{
    struct pool_conn *pc = p->owner;
    if (!PQconsumeInput(p->pg)) {
        pgc_fail(p, PQerrorMessage(p->pg));
        return;
    }
    pc_drain(pc);
    if (p->state == PGC_UP && PQstatus(p->pg) == CONNECTION_BAD)
        pgc_fail(p, PQerrorMessage(p->pg));
}

static void pc_writable(struct pgc *p)
{
    int f = PQflush(p->pg);
    if (f < 0)
        pgc_fail(p, PQerrorMessage(p->pg));
    else if (f == 0)
        pgc_want_write(p, false);
}

static const struct pgc_ops pool_pgc_ops = {pc_up, pc_readable, pc_writable, pc_down};

void pool_init(int size)
{
    nconns = size;
    conns = xcalloc((size_t)size, sizeof(*conns));
    for (int i = 0; i < size; i++) {
        char name[32];
        snprintf(name, sizeof(name), "pool-%d", i);
        pgc_init(&conns[i].pgc, name, &pool_pgc_ops, &conns[i], true);
        conns[i].state = PC_DOWN;
    }
    for (int i = 0; i < size; i++)
        pgc_connect(&conns[i].pgc);
}

int pool_submit(struct pool_req *r, const struct pool_req_ops *ops)
{
    r->ops = ops;
    r->pc = NULL;
    r->queued = false;
    r->since_ms = now_ms();
    if (nup == 0)
        return POOL_DOWN;
    if (!q_head && idle_top) {
        struct pool_conn *pc = idle_top;
        idle_top = pc->next_idle;
        pc->next_idle = NULL;
        nidle--;
        pc_start(pc, r);
        return POOL_OK;
    }
    q_push(r);
    return POOL_OK;
}

void pool_cancel(struct pool_req *r)
{
    if (r->queued) {
        q_remove(r);
        return;
    }
    if (r->pc) {
        r->pc->req = NULL;
        r->pc->detached = true;
        r->pc = NULL;
    }
}

bool pool_prepared(struct pool_conn *pc, int slot)
{
    return slot < pc->nprepared && pc->prepared[slot];
}

void pool_set_prepared(struct pool_conn *pc, int slot, bool on)
{
    if (slot >= pc->nprepared) {
        int n = pc->nprepared ? pc->nprepared : 64;
        while (n <= slot)
            n *= 2;
        pc->prepared = xrealloc(pc->prepared, (size_t)n);
        memset(pc->prepared + pc->nprepared, 0, (size_t)(n - pc->nprepared));
        pc->nprepared = n;
    }
    pc->prepared[slot] = on;
}

bool pool_ready(void)
{
    return nup > 0;
}

void pool_stats(int *size, int *up, int *busy, int *waiting)
{
    *size = nconns;
    *up = nup;
    *busy = nbusy;
    *waiting = nwaiting;
}

void pool_janitor(uint64_t now)
{
    uint64_t limit = (uint64_t)g_cfg->request_timeout_ms;
    /* statement_timeout should fire first; this catches a silent network or a stuck server */
    for (int i = 0; i < nconns; i++) {
        struct pool_conn *pc = &conns[i];
        if (pc->state == PC_BUSY && now - pc->busy_since > limit + 2000) {
            log_warn(pc->pgc.name, "no answer in %llu ms: dropping the connection",
                     (unsigned long long)(now - pc->busy_since));
            struct pool_req *r = pc->req;
            pc->req = NULL; /* answer 504, not the 503 of a lost connection */
            if (r)
                r->pc = NULL;
            pgc_fail(&pc->pgc, "request timed out");
            if (r)
                r->ops->done(r, POOL_TIMEOUT);
        }
    }
    while (q_head && now - q_head->since_ms > limit) {
        struct pool_req *r = q_head;
        q_remove(r);
        r->ops->done(r, POOL_QUEUE_TIMEOUT);
    }
}

void pool_shutdown(void)
{
    for (int i = 0; i < nconns; i++) {
        struct pool_conn *pc = &conns[i];
        pgc_close(&pc->pgc);
        free(pc->prepared);
    }
    free(conns);
    conns = NULL;
    nconns = nup = nidle = nbusy = 0;
    idle_top = NULL;
}

int pool_check_role(PGconn *pg, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT r.rolname, r.rolsuper, r.rolbypassrls, "
        "  (SELECT string_agg(n.nspname || '.' || c.relname, ', ' ORDER BY 1) "
        "     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "    WHERE n.nspname IN ('flov7', 'flov7_api') AND c.relowner = r.oid "
        "      AND c.relkind IN ('r', 'p', 'v', 'm', 'f')) "
        "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user";
    PGresult *res = PQexec(pg, sql); /* startup only: the event loop is not running yet */
    int rc = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        snprintf(err, errlen, "cannot inspect the connected role: %s", PQerrorMessage(pg));
    } else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
        snprintf(err, errlen,
                 "refusing to run as role \"%s\": it is a superuser, so Row Level Security would "
                 "not apply; connect as flov7_authenticator",
                 PQgetvalue(res, 0, 0));
    } else if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
        snprintf(err, errlen,
                 "refusing to run as role \"%s\": it has BYPASSRLS; connect as flov7_authenticator",
                 PQgetvalue(res, 0, 0));
    } else if (!PQgetisnull(res, 0, 3)) {
        snprintf(err, errlen,
                 "refusing to run as role \"%s\": it owns %s, and table owners bypass Row Level "
                 "Security; connect as flov7_authenticator",
                 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 3));
    } else {
        rc = 0;
    }
    PQclear(res);
    return rc;
}
