/*
 * ops.c — operational endpoints outside /api/v1, answered before routing and without auth:
 *   /health        200 {"status":"healthy","ready":bool} while the process runs (no database
 *                  query: "ready" is the pool's own state; answers even at max-connections)
 *   /ready         200 if a pooled database connection is up, else 503
 *   /metrics       Prometheus text; with metrics-listen only on that address (404 on the main
 *                  one), with metrics-token only for `Authorization: Bearer <token>` (else 401)
 *   /openapi.json  SELECT flov7.openapi($1) with server-url, or "/": never the Host header, which
 *                  a client chooses (a forged one would name another host to every reader of a
 *                  cached document)
 * A connection accepted on metrics-listen serves /metrics and /health and nothing else.
 * /metrics and /openapi.json count against rate-limit-ip; /health and /ready never do.
 */
#include "auth.h"
#include "conn.h"
#include "dispatch.h"
#include "frontd.h"
#include "limiter.h"
#include "metrics.h"
#include "pool.h"
#include "routes.h"
#include "listen.h"
#include "stream.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static struct conn *conn_of(struct pool_req *r)
{
    return (struct conn *)((char *)r - offsetof(struct conn, ex.preq));
}

static bool openapi_send(struct pool_req *r, struct pool_conn *pc, PGconn *pg)
{
    struct conn *c = conn_of(r);
    const char *v[1] = {c->ex.pvals.data};
    (void)pc;
    dispatch_attempt_begin(&c->ex);
    if (!PQsendQueryParams(pg, "SELECT flov7.openapi($1)::text", 1, NULL, v, NULL, NULL, 0))
        return false;
    c->ex.sent[c->ex.nsent++] = CMD_OPENAPI;
    return PQpipelineSync(pg) == 1;
}

static bool openapi_result(struct pool_req *r, PGresult *res)
{
    struct exchange *x = &conn_of(r)->ex;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_FATAL_ERROR && !x->err) {
        x->err = res;
        return true;
    }
    if (st == PGRES_TUPLES_OK && !x->res) {
        x->res = res;
        return true;
    }
    return false;
}

static void openapi_done(struct pool_req *r, int err)
{
    struct conn *c = conn_of(r);
    struct exchange *x = &c->ex;
    if (err != POOL_OK) {
        dispatch_pool_error(c, err);
    } else if (x->err) {
        dispatch_pg_error(c, x->err);
    } else if (!x->res || PQntuples(x->res) < 1 || PQgetisnull(x->res, 0, 0)) {
        conn_fail(c, FDE_OPENAPI_EMPTY, NULL);
    } else {
        conn_respond(c, 200, NULL, PQgetvalue(x->res, 0, 0), (size_t)PQgetlength(x->res, 0, 0));
    }
}

static const struct pool_req_ops openapi_ops = {openapi_send, openapi_result, openapi_done};

static void openapi(struct conn *c)
{
    struct exchange *x = &c->ex;
    sbuf_reset(&x->pvals);
    /* OpenAPI 3.0: a relative server URL is resolved against the document's own address */
    sbuf_adds(&x->pvals, g_cfg->server_url[0] ? g_cfg->server_url : "/");
    int rc = pool_submit(&x->preq, &openapi_ops, true); /* flov7.openapi() is STABLE */
    if (rc != POOL_OK)
        dispatch_pool_error(c, rc);
}

/* metrics-token: Authorization: Bearer <token>, compared in constant time. */
static bool metrics_authorized(struct conn *c, bool *given)
{
    const char *want = g_cfg->metrics_token;
    *given = false;
    if (!want[0])
        return true;
    const struct http_hdr *az = http_known(&c->req, H_AUTHORIZATION);
    if (!az || c->req.nknown[H_AUTHORIZATION] != 1 || az->vlen < 7 ||
        !str_ieq(az->value, 6, "bearer") || az->value[6] != ' ')
        return false;
    const char *tok = az->value + 7;
    size_t tl = az->vlen - 7;
    while (tl && *tok == ' ') {
        tok++;
        tl--;
    }
    *given = tl > 0;
    return auth_secret_eq(tok, tl, want, strlen(want));
}

static void metrics(struct conn *c)
{
    bool given;
    if (!metrics_authorized(c, &given)) {
        conn_fail(c, FDE_METRICS_TOKEN, &(struct fd_error_args){.token_given = given});
        return;
    }
    struct metrics_gauges g;
    memset(&g, 0, sizeof(g));
    pool_stats(&g.pool_size, &g.pool_connected, &g.pool_busy, &g.pool_waiting, &g.pool_in_flight);
    g.connections_open = conn_count();
    g.routes = g_routes ? g_routes->nroutes : 0;
    stream_stats(&g.streams_open, &g.events_sent, &g.streams_closed_slow);
    g.feed_position = listen_feed_pos();
    g.connections_accepted = g_stats.accepted;
    g.connections_rejected = g_stats.rejected;
    g.connections_evicted = g_stats.evicted;
    g.db_reconnects = g_stats.db_reconnects;
    g.db_retries = pool_retries();
    g.routes_reloads = g_stats.routes_reloads;
    auth_cache_stats(&g.jwt_cache_hits, &g.jwt_cache_misses, &g.jwt_cache_entries);
    limiter_stats(&g.rate_limited_ip, &g.rate_limited_credential, &g.rate_limit_buckets,
                  &g.rate_limit_evictions);
    struct sbuf b;
    sbuf_init(&b);
    metrics_render(&b, &g);
    c->ex.ctype = "text/plain; version=0.0.4; charset=utf-8";
    conn_respond(c, 200, NULL, b.data, b.len);
    sbuf_free(&b);
}

enum { OP_HEALTH, OP_READY, OP_METRICS, OP_OPENAPI };

static const char *const op_paths[] = {"/health", "/ready", "/metrics", "/openapi.json"};

int ops_handle(struct conn *c, const char *path, size_t plen)
{
    int op = -1;
    for (int i = 0; i < 4; i++) {
        if (strlen(op_paths[i]) == plen && memcmp(op_paths[i], path, plen) == 0)
            op = i;
    }
    /* metrics-listen: its connections see /metrics and /health only; the main one no /metrics */
    bool metrics_elsewhere = g_cfg->metrics_listen[0] && !c->metrics_port;
    if (c->metrics_port ? op != OP_METRICS && op != OP_HEALTH
                        : op == OP_METRICS && metrics_elsewhere) {
        conn_fail(c, FDE_NO_ROUTE, NULL);
        return 1;
    }
    if (op < 0)
        return 0;
    c->ex.route_label = op_paths[op];
    int m = c->req.method;
    if (m == M_OPTIONS) {
        conn_respond(c, 204, "Allow: GET, HEAD, OPTIONS\r\n", NULL, 0);
        return 1;
    }
    if (m != M_GET && m != M_HEAD) {
        conn_fail(c, FDE_METHOD, &(struct fd_error_args){.allow = "GET, HEAD, OPTIONS"});
        return 1;
    }
    if (c->over_limit && op != OP_HEALTH && op != OP_READY) {
        conn_fail(c, FDE_TOO_MANY_CONNECTIONS, NULL);
        return 1;
    }
    if (op != OP_HEALTH && op != OP_READY && !limiter_admit_ip(c))
        return 1;
    /* "healthy", as the original platform's clients expect */
    static const char ok[] = "{\"status\":\"healthy\",\"ready\":true}";
    static const char ok_unready[] = "{\"status\":\"healthy\",\"ready\":false}";
    static const char ready[] = "{\"status\":\"ready\"}";
    switch (op) {
    case OP_HEALTH:
        if (pool_ready())
            conn_respond(c, 200, NULL, ok, sizeof(ok) - 1);
        else
            conn_respond(c, 200, NULL, ok_unready, sizeof(ok_unready) - 1);
        break;
    case OP_READY:
        if (pool_ready())
            conn_respond(c, 200, NULL, ready, sizeof(ready) - 1);
        else
            conn_fail(c, FDE_NOT_READY, NULL);
        break;
    case OP_METRICS: metrics(c); break;
    case OP_OPENAPI: openapi(c); break;
    }
    return 1;
}
