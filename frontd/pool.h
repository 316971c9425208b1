/*
 * pool.h — the pool of flov7_authenticator connections, all in libpq pipeline mode.  A request
 * (struct pool_req, embedded in its owner) gets an idle connection, or is queued behind the
 * requests already in flight on the least busy connection (up to pool-pipeline-depth), or
 * waits in a FIFO.  The owner's ops send its commands and one Sync, receive each result, and
 * learn the outcome.  Each request is one transaction and one round trip; with depth > 1 a
 * backend finds the next request already in its socket when it finishes one, instead of
 * sleeping until frontd is scheduled again.
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
    POOL_LOST,          /* the connection broke while the request was on it → 503 */
    POOL_TIMEOUT,       /* no answer within request-timeout (+ grace) → 504 */
    POOL_QUEUE_TIMEOUT, /* waited request-timeout for a free connection → 503 */
    POOL_DOWN,          /* no database connection is up → 503 */
};

struct pool_req_ops {
    /* Queue the commands and PQpipelineSync; false if libpq refused (connection unusable). */
    bool (*send)(struct pool_req *r, struct pool_conn *pc, PGconn *pg);
    /* One result of the pipeline, in order; return true to keep it (then the owner PQclears). */
    bool (*result)(struct pool_req *r, PGresult *res);
    /* The pipeline's Sync arrived (POOL_OK) or it failed. */
    void (*done)(struct pool_req *r, int err);
};

struct pool_req {
    struct pool_req *qnext, *qprev; /* waiting queue, or the connection's in-flight list */
    bool queued;
    struct pool_conn *pc;           /* set while in flight */
    const struct pool_req_ops *ops; /* NULL: a placeholder whose owner went away */
    uint64_t since_ms;
};

/* Startup safety check on a blocking connection (before the loop): the pool's role must not
 * be a superuser, must not have BYPASSRLS, and must own no table in flov7/flov7_api —
 * otherwise Row Level Security would not apply to the requests it runs. */
int pool_check_role(PGconn *pg, char *err, size_t errlen);

void pool_init(int size, int depth);
void pool_set_depth(int depth);
/* POOL_OK: running or queued, ops->done will be called.  POOL_DOWN: not accepted. */
int pool_submit(struct pool_req *r, const struct pool_req_ops *ops);
/* The owner goes away: unqueue, or detach so late results are read and dropped. */
void pool_cancel(struct pool_req *r);

/* Prepared statement bookkeeping per connection: slot 0 = the set_config statement, slot
 * 1 + fn_id = the call of function fn_id. */
bool pool_prepared(struct pool_conn *pc, int slot);
void pool_set_prepared(struct pool_conn *pc, int slot, bool on);

bool pool_ready(void);
void pool_stats(int *size, int *up, int *busy, int *waiting, int *in_flight);
void pool_janitor(uint64_t now);
void pool_shutdown(void);

#endif
