/*
 * pool.c — pooled database connections, their in-flight lists and the waiting queues.
 *
 * Each connection is a pgc (pgconn.c) in pipeline mode.  A connection is DOWN (connecting or
 * waiting to reconnect), IDLE (nothing in flight; on the idle stack, LIFO keeps the warmest
 * backend busy) or BUSY (1..depth requests in flight, each ended by its own Sync, answered in
 * order).  Results are read on EV_READ with PQconsumeInput / PQisBusy / PQgetResult and belong
 * to the head of the in-flight list until its PGRES_PIPELINE_SYNC; PQflush runs on EV_WRITE
 * only when libpq could not send everything at once.  A request whose owner went away is
 * replaced by a placeholder that absorbs its results, so the list stays in step with the
 * server.  An error aborts a pipeline only up to its Sync, so requests never affect each other.
 *
 * Requests that find no room wait in a FIFO, also while no connection is up: the first
 * requests after a start or a PostgreSQL restart are served once a connection comes (back)
 * instead of failing.  pool-acquire-timeout bounds every wait, checked by the janitor.
 *
 * When a connection dies, the read-only requests in flight on it go to a second queue to run
 * once more; the others fail (they may have committed).  A wave of terminations (PostgreSQL
 * restarting, pg_terminate_backend on every backend) reaches the backends one by one, so a
 * connection that has not noticed yet may be dying too: a retry only goes to a connection
 * that has answered something sent after the loss (a new connection, or one whose Sync came
 * back).  An idle connection is made to prove it with an empty pipeline (a lone Sync).  The
 * loss epoch counts lost connections; a request carries the epoch it was sent in, a retry the
 * epoch of its loss, and a connection the newest epoch it has answered in.
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

/* A head older than this looks slow: no more requests are pipelined behind it. */
#define PIPELINE_STALL_MS 20

struct pool_conn {
    struct pgc pgc;
    enum pc_state state;
    struct pool_req *head, *tail; /* in flight, oldest first */
    int nflight;
    uint64_t head_since;  /* when the current head became the head */
    uint64_t alive_epoch; /* newest loss epoch this backend has answered in */
    struct pool_conn *next_idle;
    bool up; /* counted in nup */
    uint8_t *prepared;
    int nprepared;
};

struct req_queue {
    struct pool_req *head, *tail;
    int n;
};

static struct pool_conn *conns;
static int nconns, depth = 1;
static struct pool_conn *idle_top;
static int nidle, nup, nbusy, ninflight;
static struct req_queue waitq;  /* new requests, FIFO */
static struct req_queue retryq; /* read-only requests that lost their connection, by loss */
static uint64_t loss_epoch;     /* connections lost since start */
static uint64_t nretries;

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

/* A request is in the retry queue exactly when it is queued and has been retried. */
static struct req_queue *queue_of(struct pool_req *r)
{
    return r->retried ? &retryq : &waitq;
}

static void q_push(struct pool_req *r)
{
    struct req_queue *q = queue_of(r);
    r->qnext = NULL;
    r->qprev = q->tail;
    if (q->tail)
        q->tail->qnext = r;
    else
        q->head = r;
    q->tail = r;
    r->queued = true;
    r->since_ms = now_ms(); /* the acquire timeout runs from here */
    q->n++;
}

static void q_remove(struct pool_req *r)
{
    if (!r->queued)
        return;
    struct req_queue *q = queue_of(r);
    if (r->qprev)
        r->qprev->qnext = r->qnext;
    else
        q->head = r->qnext;
    if (r->qnext)
        r->qnext->qprev = r->qprev;
    else
        q->tail = r->qprev;
    r->qnext = r->qprev = NULL;
    r->queued = false;
    q->n--;
}

/* Append to pc's in-flight list. */
static void flight_push(struct pool_conn *pc, struct pool_req *r)
{
    r->qnext = NULL;
    r->qprev = pc->tail;
    if (pc->tail)
        pc->tail->qnext = r;
    else
        pc->head = r;
    pc->tail = r;
    r->pc = pc;
    if (pc->nflight++ == 0) {
        pc->state = PC_BUSY;
        pc->head_since = r->since_ms;
        nbusy++;
    }
    ninflight++;
}

/* Take the oldest request off pc's in-flight list. */
static struct pool_req *flight_pop(struct pool_conn *pc)
{
    struct pool_req *r = pc->head;
    if (!r)
        return NULL;
    pc->head = r->qnext;
    if (pc->head)
        pc->head->qprev = NULL;
    else
        pc->tail = NULL;
    r->qnext = r->qprev = NULL;
    r->pc = NULL;
    ninflight--;
    pc->head_since = now_ms();
    if (--pc->nflight == 0) {
        nbusy--;
        pc->state = PC_DOWN; /* the caller parks it or fills it again */
    }
    return r;
}

/* The owner learns the outcome; placeholders are just freed. */
static void req_done(struct pool_req *r, int err)
{
    if (r->ops)
        r->ops->done(r, err);
    else
        free(r);
}

/* An empty pipeline: its Sync coming back shows the backend is alive now. */
static void pc_probe(struct pool_conn *pc)
{
    pc_start(pc, xcalloc(1, sizeof(struct pool_req)));
}

/* pc has room: first the retries it may take, then waiting requests.  Empty, it parks — or,
 * while retries wait for a backend known to be alive, proves itself with a probe. */
static void pc_fill(struct pool_conn *pc)
{
    while (pc->pgc.state == PGC_UP && pc->nflight < depth) {
        struct pool_req *r = retryq.head;
        if (!r || r->epoch > pc->alive_epoch)
            r = waitq.head;
        if (!r)
            break;
        q_remove(r);
        pc_start(pc, r);
    }
    if (pc->pgc.state != PGC_UP || pc->nflight > 0)
        return;
    if (retryq.head)
        pc_probe(pc);
    else if (pc->state != PC_IDLE)
        idle_push(pc);
}

static void fail_queue(struct req_queue *q, int err)
{
    while (q->head) {
        struct pool_req *r = q->head;
        q_remove(r);
        req_done(r, err);
    }
}

static void pc_start(struct pool_conn *pc, struct pool_req *r)
{
    if (pc->state == PC_IDLE)
        idle_remove(pc);
    r->since_ms = now_ms();
    r->epoch = loss_epoch;
    flight_push(pc, r);
    PGconn *pg = pc->pgc.pg;
    bool sent = r->ops ? r->ops->send(r, pc, pg) : PQpipelineSync(pg) == 1;
    if (!sent) {
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
    pc->up = true;
    pc->state = PC_DOWN;
    pc->alive_epoch = loss_epoch; /* a new backend: it outlived every loss seen so far */
    pc_fill(pc);
}

/* The connection is gone: read-only requests in flight on it run again, the others failed. */
static void pc_down(struct pgc *p, const char *why)
{
    struct pool_conn *pc = p->owner;
    (void)why;
    if (pc->state == PC_IDLE)
        idle_remove(pc);
    if (pc->up) {
        nup--;
        loss_epoch++;
    }
    pc->up = false;
    /* detach them all first: done() may submit new requests elsewhere */
    struct pool_req *lost = NULL, **tailp = &lost;
    struct pool_req *r;
    int nretry = 0, nlost = 0;
    while ((r = flight_pop(pc)) != NULL) {
        if (!r->ops) {
            free(r);
        } else if (r->may_retry && !r->retried) {
            r->retried = true;
            r->epoch = loss_epoch;
            q_push(r);
            nretry++;
        } else {
            *tailp = r;
            tailp = &r->qnext;
            nlost++;
        }
    }
    pc->state = PC_DOWN;
    nretries += (uint64_t)nretry;
    if (nretry || nlost)
        log_info(pc->pgc.name,
                 "requests in flight on the lost connection: %d to run again, %d failed", nretry,
                 nlost);
    while (lost) {
        r = lost;
        lost = r->qnext;
        r->qnext = NULL;
        req_done(r, POOL_LOST);
    }
    if (g_shutting_down && nup == 0) {
        pool_drain();
        return;
    }
    /* idle connections prove themselves (or die too) so the retries can go */
    for (int i = 0; retryq.head && i < nconns; i++) {
        if (conns[i].state == PC_IDLE)
            pc_fill(&conns[i]);
    }
}

/* Read every result that has fully arrived; each Sync completes the oldest request. */
static void pc_drain(struct pool_conn *pc)
{
    PGconn *pg = pc->pgc.pg;
    int nulls = 0;
    while (pc->nflight > 0 && pc->pgc.state == PGC_UP) {
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
            struct pool_req *r = flight_pop(pc);
            if (r->epoch > pc->alive_epoch)
                pc->alive_epoch = r->epoch;
            pc_fill(pc); /* room before done(): the owner's next request queues fairly */
            req_done(r, POOL_OK);
            continue;
        }
        struct pool_req *r = pc->head;
        bool keep = r && r->ops && r->ops->result(r, res);
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

void pool_init(int size, int d)
{
    nconns = size;
    depth = d > 0 ? d : 1;
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

void pool_set_depth(int d)
{
    depth = d > 0 ? d : 1;
}

int pool_submit(struct pool_req *r, const struct pool_req_ops *ops, bool may_retry)
{
    r->ops = ops;
    r->pc = NULL;
    r->queued = false;
    r->may_retry = may_retry;
    r->retried = false;
    r->since_ms = now_ms();
    if (nup == 0 && g_shutting_down)
        return POOL_DOWN; /* no connection will be made any more */
    if (waitq.head || nup == 0) {
        q_push(r); /* others are waiting already (no overtaking), or nothing is up yet */
        return POOL_OK;
    }
    if (idle_top) {
        pc_start(idle_top, r);
        return POOL_OK;
    }
    /* queue behind others on the least busy connection, but not behind a request that has
     * been running for a while: it may be a slow one, and we would wait for all of it */
    struct pool_conn *best = NULL;
    for (int i = 0; i < nconns; i++) {
        struct pool_conn *pc = &conns[i];
        if (pc->pgc.state == PGC_UP && pc->nflight < depth &&
            (int64_t)(r->since_ms - pc->head_since) < PIPELINE_STALL_MS &&
            (!best || pc->nflight < best->nflight))
            best = pc;
    }
    if (best)
        pc_start(best, r);
    else
        q_push(r);
    return POOL_OK;
}

void pool_cancel(struct pool_req *r)
{
    if (r->queued) {
        q_remove(r);
        return;
    }
    struct pool_conn *pc = r->pc;
    if (!pc)
        return;
    /* its results are still coming: a placeholder takes its place in the list */
    struct pool_req *g = xcalloc(1, sizeof(*g));
    g->pc = pc;
    g->since_ms = r->since_ms;
    g->epoch = r->epoch;
    g->qprev = r->qprev;
    g->qnext = r->qnext;
    if (g->qprev)
        g->qprev->qnext = g;
    else
        pc->head = g;
    if (g->qnext)
        g->qnext->qprev = g;
    else
        pc->tail = g;
    r->qnext = r->qprev = NULL;
    r->pc = NULL;
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

void pool_stats(int *size, int *up, int *busy, int *waiting, int *in_flight)
{
    *size = nconns;
    *up = nup;
    *busy = nbusy;
    *waiting = waitq.n + retryq.n;
    *in_flight = ninflight;
}

uint64_t pool_retries(void)
{
    return nretries;
}

/* Each queue is in order of arrival, so the expired ones are at its head. */
static void q_expire(struct req_queue *q, uint64_t now, uint64_t limit)
{
    while (q->head && now - q->head->since_ms >= limit) {
        struct pool_req *r = q->head;
        q_remove(r);
        req_done(r, POOL_QUEUE_TIMEOUT);
    }
}

void pool_janitor(uint64_t now)
{
    uint64_t limit = (uint64_t)g_cfg->request_timeout_ms;
    /* statement_timeout should fire first; this catches a silent network or a stuck server */
    for (int i = 0; i < nconns; i++) {
        struct pool_conn *pc = &conns[i];
        if (pc->nflight > 0 && now - pc->head->since_ms > limit + 2000) {
            log_warn(pc->pgc.name, "no answer in %llu ms: dropping the connection",
                     (unsigned long long)(now - pc->head->since_ms));
            /* the stuck request gets 504; the ones behind it are lost (or run again) */
            struct pool_req *r = flight_pop(pc);
            pgc_fail(&pc->pgc, "request timed out");
            req_done(r, POOL_TIMEOUT);
        }
    }
    q_expire(&retryq, now, (uint64_t)g_cfg->pool_acquire_timeout_ms);
    q_expire(&waitq, now, (uint64_t)g_cfg->pool_acquire_timeout_ms);
}

void pool_drain(void)
{
    if (nup > 0)
        return; /* the connections up serve the queues */
    fail_queue(&retryq, POOL_DOWN);
    fail_queue(&waitq, POOL_DOWN);
}

void pool_shutdown(void)
{
    for (int i = 0; i < nconns; i++) {
        struct pool_conn *pc = &conns[i];
        struct pool_req *r;
        while ((r = flight_pop(pc)) != NULL) {
            if (!r->ops)
                free(r); /* placeholders are ours; owners are gone by now */
        }
        pgc_close(&pc->pgc);
        free(pc->prepared);
    }
    free(conns);
    conns = NULL;
    nconns = nup = nidle = nbusy = ninflight = 0;
    idle_top = NULL;
    memset(&waitq, 0, sizeof(waitq)); /* emptied by the owners' pool_cancel before this */
    memset(&retryq, 0, sizeof(retryq));
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
