/*
 * pool.h — the pool of flov7_authenticator connections, all in libpq pipeline mode.  A request
 * (struct pool_req, embedded in its owner) gets an idle connection, or is queued behind the
 * requests already in flight on the least busy connection (up to pool-pipeline-depth), or
 * waits in a FIFO — also while no connection is up (frontd starting, PostgreSQL restarting) —
 * for at most pool-acquire-timeout.  The owner's ops send its commands and one Sync, receive
 * each result, and learn the outcome.  Each request is one transaction and one round trip;
 * with depth > 1 a backend finds the next request already in its socket when it finishes one,
 * instead of sleeping until frontd is scheduled again.  A read-only request whose connection
 * dies before its Sync runs once more on a connection known to be alive.
 */
#ifndef FRONTD_POOL_H
#define FRONTD_POOL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct pool_conn;
struct pool_req;

enum pool_err {
    POOL_OK = 0,
    POOL_LOST,          /* the connection broke before the answer, no retry left → 503 */
    POOL_TIMEOUT,       /* no answer within request-timeout (+ grace) → 504 */
    POOL_QUEUE_TIMEOUT, /* no connection within pool-acquire-timeout → 503 */
    POOL_DOWN,          /* shutting down and no connection is up → 503 */
};

struct pool_req_ops {
    /* Queue the commands and PQpipelineSync; false if libpq refused (connection unusable).
     * Called again for a retry: drop what the lost attempt received. */
    bool (*send)(struct pool_req *r, struct pool_conn *pc, PGconn *pg);
    /* One result of the pipeline, in order; return true to keep it (then the owner PQclears). */
    bool (*result)(struct pool_req *r, PGresult *res);
    /* The pipeline's Sync arrived (POOL_OK) or it failed. */
    void (*done)(struct pool_req *r, int err);
};

struct pool_req {
    struct pool_req *qnext, *qprev; /* a waiting queue, or the connection's in-flight list */
    bool queued;
    bool may_retry; /* read-only: may run once more if its connection dies before the answer */
    bool retried;   /* lost its first connection (and waits in the retry queue if queued) */
    struct pool_conn *pc;           /* set while in flight */
    const struct pool_req_ops *ops; /* NULL: a placeholder (owner gone, or a liveness probe) */
    uint64_t since_ms;              /* sent, or queued */
    uint64_t epoch;                 /* connections lost before it was sent, or when it was lost */
};

/* Startup safety check on a blocking connection (before the loop): the pool's role must not
 * be a superuser, must not have BYPASSRLS, and must own no table in flov7/flov7_api —
 * otherwise Row Level Security would not apply to the requests it runs. */
int pool_check_role(PGconn *pg, char *err, size_t errlen);

void pool_init(int size, int depth);
void pool_set_depth(int depth);
/* POOL_OK: running or queued, ops->done will be called.  POOL_DOWN: not accepted.
 * may_retry: the request changes nothing, so it may run a second time. */
int pool_submit(struct pool_req *r, const struct pool_req_ops *ops, bool may_retry);
/* The owner goes away: unqueue, or detach so late results are read and dropped. */
void pool_cancel(struct pool_req *r);

/* Prepared statement bookkeeping per connection: slot 0 = the set_config statement, slot
 * 1 + fn_id = the call of function fn_id. */
bool pool_prepared(struct pool_conn *pc, int slot);
void pool_set_prepared(struct pool_conn *pc, int slot, bool on);

bool pool_ready(void);
void pool_stats(int *size, int *up, int *busy, int *waiting, int *in_flight);
/* Deadlines: pool-acquire-timeout for waiting requests, request-timeout for answers. */
void pool_janitor(uint64_t now);
/* SIGTERM: with no connection up (none will be made now), waiting requests get 503 at once. */
void pool_drain(void);
void pool_shutdown(void);
uint64_t pool_retries(void);

#endif
