/*
 * dispatch.h — a complete request becomes a response: ops endpoints, CORS preflight, route
 * match, auth, then the two-statement pipeline of CONTRACT.md on a pooled connection, and the
 * result (or SQLSTATE) turned into the HTTP answer.  No business logic: the route row says
 * which function and which success status; the function says everything else.
 */
#ifndef FRONTD_DISPATCH_H
#define FRONTD_DISPATCH_H

#include <libpq-fe.h>
#include <stdbool.h>

struct conn;
struct exchange;

void dispatch_request(struct conn *c);
/* Start of each run of a request on a connection (pool_req_ops.send): reset the results. */
void dispatch_attempt_begin(struct exchange *x);
/* Answer with a database error result (errmap decides the status). */
void dispatch_pg_error(struct conn *c, const PGresult *res);
/* Answer for a request the pool could not run (enum pool_err): 503 or 504. */
void dispatch_pool_error(struct conn *c, int err);

/* A waiting request (response.wait, e.g. execute ?wait=) is over: the awaited event came
 * (ended: run the function the wait names, as the same caller, and answer with it) or the
 * deadline passed (answer what the first function said). */
void dispatch_wait_done(struct conn *c, bool ended);

/* ops.c: /health, /ready, /metrics, /openapi.json.  Returns 1 if it took the request. */
int ops_handle(struct conn *c, const char *path, size_t plen);

#endif
