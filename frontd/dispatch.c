/*
 * dispatch.c — request → pipeline → response.
 *
 * Pipeline per request (CONTRACT.md), one Sync, so one implicit transaction and, once the
 * statements are prepared on that connection, one network round trip:
 *   [Parse s0]            first use on this connection only
 *   [Parse f<fn_id>]      first use of this function on this connection only
 *   Bind/Execute s0       set_config(role, claims, headers, method, path, ip, id, api_key)
 *   Bind/Execute f<id>    SELECT r::text, current_setting('response.status'|'.wait'|'.headers')
 *                         FROM fn(args)
 *   Sync
 * JSON for the parameters is written straight into the exchange's reusable buffers with the
 * escaper of util.c (no allocation per request once the buffers have grown).
 */
#include "dispatch.h"
#include "auth.h"
#include "conn.h"
#include "cors.h"
#include "errmap.h"
#include "errors.h"
#include "frontd.h"
#include "limiter.h"
#include "listen.h"
#include "log.h"
#include "pool.h"
#include "resphdr.h"
#include "routes.h"
#include "stream.h"
#include "wsproto.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char SQL_SET[] =
    "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true), "
    "set_config('request.headers', $3, true), set_config('request.method', $4, true), "
    "set_config('request.path', $5, true), set_config('request.ip', $6, true), "
    "set_config('request.id', $7, true), set_config('request.api_key', $8, true)";

static const char SQL_CALL_FMT[] = "SELECT r::text, current_setting('response.status', true), "
                                   "current_setting('response.wait', true), "
                                   "current_setting('response.headers', true) "
                                   "FROM %s(flov7.args($1::jsonb, $2::jsonb, $3::text)) r";

static struct conn *conn_of(struct pool_req *r)
{
    return (struct conn *)((char *)r - offsetof(struct conn, ex.preq));
}

/* ---- errors from the database ---- */

/* Where the request carried the argument a database error names: a path parameter of its
 * route, a query parameter, else the body (flov7.args merges the three). */
static const char *field_source(struct conn *c, const char *field)
{
    const struct route *r = c->ex.route;
    size_t n = strcspn(field, ".");
    for (int i = 0; r && i < r->nsegs; i++)
        if (r->segs[i].param && r->segs[i].len == n && memcmp(r->segs[i].text, field, n) == 0)
            return "path";
    const char *where = "body";
    struct json_object *q = c->ex.qjson.len ? json_tokener_parse(c->ex.qjson.data) : NULL;
    char key[128];
    snprintf(key, sizeof(key), "%.*s", (int)(n < sizeof(key) ? n : sizeof(key) - 1), field);
    if (q && json_object_object_get_ex(q, key, NULL)) {
        /* the body wins over the query (flov7.args): "query" unless the body has it too */
        struct json_object *body = NULL;
        if (c->req.has_body && c->req.body.data)
            body = json_tokener_parse(c->req.body.data);
        if (!(body && json_object_object_get_ex(body, key, NULL)))
            where = "query";
        json_object_put(body);
    }
    json_object_put(q);
    return where;
}
void dispatch_pg_error(struct conn *c, const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    int flags = 0;
    int status = errmap_status(state, c->ex.auth.has_credentials, &flags);
    if (status >= 500)
        log_error(c->subject, "request %s: database error %s: %s", c->ex.request_id,
                  state ? state : "?", msg ? msg : "?");
    /* no SQLSTATE (libpq's own failure), or one that would pass for frontd's: the code is
     * frontd's, and what the database said goes to details */
    if (!state) {
        conn_fail(c, FDE_DB_ERROR, &(struct fd_error_args){.details = msg});
        return;
    }
    if (flags & EM_RESERVED) {
        char d[600];
        snprintf(d, sizeof(d), "%s: %s", state, msg ? msg : "");
        conn_fail(c, FDE_RESERVED_SQLSTATE, &(struct fd_error_args){.details = d});
        return;
    }
    struct sbuf extra;
    sbuf_init(&extra);
    if (conn_original_errors(c)) {
        const char *field = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
        if (flags & EM_RETRY_AFTER)
            sbuf_addlit(&extra, "Retry-After: 1\r\n");
        conn_respond_original(c, status, state, msg ? msg : "database error", field,
                              field ? field_source(c, field) : NULL, extra.len ? extra.data : NULL);
        sbuf_free(&extra);
        return;
    }
    if (flags & EM_WWW_AUTHENTICATE)
        bearer_challenge(&extra, c->ex.auth.token_given ? "invalid_token" : NULL,
                         msg ? msg : "invalid credentials");
    if (flags & EM_RETRY_AFTER)
        sbuf_addlit(&extra, "Retry-After: 1\r\n");
    conn_respond_error(c, status, state, msg ? msg : "database error", detail, hint,
                       extra.len ? extra.data : NULL);
    sbuf_free(&extra);
}

/* ---- the API pipeline ---- */

/* A new attempt: a retry forgets what its lost connection had already answered. */
void dispatch_attempt_begin(struct exchange *x)
{
    x->nsent = x->nres = 0;
    if (x->res)
        PQclear(x->res);
    if (x->err)
        PQclear(x->err);
    x->res = x->err = NULL;
}

static bool api_send(struct pool_req *r, struct pool_conn *pc, PGconn *pg)
{
    struct conn *c = conn_of(r);
    struct exchange *x = &c->ex;
    int fn = x->route->fn_id;
    char name[16];
    int k = 0;
    char digits[12];
    unsigned v = (unsigned)fn;
    do {
        digits[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    name[0] = 'f';
    for (int i = 0; i < k; i++)
        name[1 + i] = digits[k - 1 - i];
    name[1 + k] = 0;
    dispatch_attempt_begin(x);
    if (!pool_prepared(pc, 0)) {
        if (!PQsendPrepare(pg, "s0", SQL_SET, 8, NULL))
            return false;
        pool_set_prepared(pc, 0, true);
        x->sent[x->nsent++] = CMD_PREP_SET;
    }
    if (!pool_prepared(pc, 1 + fn)) {
        char sql[512];
        snprintf(sql, sizeof(sql), SQL_CALL_FMT, x->route->function);
        if (!PQsendPrepare(pg, name, sql, 3, NULL))
            return false;
        pool_set_prepared(pc, 1 + fn, true);
        x->sent[x->nsent++] = CMD_PREP_CALL;
    }
    const char *v1[8] = {
        x->auth.role,      x->claims.len ? x->claims.data : "", x->hjson.data,
        c->req.method_str, x->pvals.data + x->voff[0],          x->client_ip,
        x->request_id,     x->pvals.data + x->voff[1],
    };
    if (!PQsendQueryPrepared(pg, "s0", 8, v1, NULL, NULL, 0))
        return false;
    x->sent[x->nsent++] = CMD_SET;
    const char *v2[3] = {
        x->pjson.data, x->qjson.data,
        c->req.has_body && !x->wait_call ? (c->req.body.data ? c->req.body.data : "") : NULL};
    /* the body goes in binary (raw bytes of text): no strlen, and a NUL byte inside it reaches
     * the server, which rejects it, instead of silently cutting the body short */
    int len2[3] = {0, 0, (int)c->req.body.len};
    int fmt2[3] = {0, 0, 1};
    if (!PQsendQueryPrepared(pg, name, 3, v2, len2, fmt2, 0))
        return false;
    x->sent[x->nsent++] = CMD_CALL;
    return PQpipelineSync(pg) == 1;
}

static bool api_result(struct pool_req *r, PGresult *res)
{
    struct conn *c = conn_of(r);
    struct exchange *x = &c->ex;
    int i = x->nres++;
    int cmd = i < x->nsent ? x->sent[i] : 0;
    ExecStatusType st = PQresultStatus(res);
    if ((cmd == CMD_PREP_SET || cmd == CMD_PREP_CALL) && st != PGRES_COMMAND_OK && r->pc)
        pool_set_prepared(r->pc, cmd == CMD_PREP_SET ? 0 : 1 + x->route->fn_id, false);
    if (st == PGRES_FATAL_ERROR) {
        if (x->err)
            return false;
        x->err = res;
        return true;
    }
    if (cmd == CMD_CALL && st == PGRES_TUPLES_OK && !x->res) {
        x->res = res;
        return true;
    }
    return false;
}

static int parse_status(const char *s)
{
    if (!s || !*s)
        return 0;
    int v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > 999)
            return 0;
        v = v * 10 + (*p - '0');
    }
    return v >= 100 && v <= 599 ? v : 0;
}

void dispatch_pool_error(struct conn *c, int err)
{
    switch (err) {
    case POOL_LOST: conn_fail(c, FDE_DB_LOST, NULL); break;
    case POOL_TIMEOUT: conn_fail(c, FDE_DB_TIMEOUT, NULL); break;
    case POOL_QUEUE_TIMEOUT:
        conn_fail(c, pool_ready() ? FDE_POOL_BUSY : FDE_DB_UNREACHABLE, NULL);
        break;
    default: conn_fail(c, FDE_STOPPING, NULL); break;
    }
}

/* A member of a JSON object if it has type t, else NULL (also for a non-object o). */
static struct json_object *member(struct json_object *o, const char *key, json_type t)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, t) ? v : NULL;
}

static const char *member_str(struct json_object *o, const char *key)
{
    struct json_object *v = member(o, key, json_type_string);
    return v ? json_object_get_string(v) : NULL;
}

static int64_t member_int(struct json_object *o, const char *key, int64_t absent)
{
    struct json_object *v = member(o, key, json_type_int);
    return v ? json_object_get_int64(v) : absent;
}

/* The subscription function said yes ({"user_id","topic","channel","last_event_id"}): hand the
 * connection to a stream. */
static void open_stream(struct conn *c, const char *json, size_t len)
{
    struct exchange *x = &c->ex;
    struct json_object *o = json_tokener_parse(json);
    (void)len;
    const char *user = member_str(o, "user_id"), *topic = member_str(o, "topic");
    const char *channel = member_str(o, "channel");
    int64_t from = member_int(o, "last_event_id", -1);
    if (!user || !topic || !channel || from < 0 || strlen(user) >= 40 || strlen(topic) >= 16 ||
        strlen(channel) >= 64) {
        json_object_put(o);
        conn_fail(c, FDE_STREAM_SHAPE, NULL);
        return;
    }
    int refuse = stream_admit(user);
    if (refuse) {
        json_object_put(o);
        conn_fail(c, refuse, NULL);
        return;
    }
    const struct http_hdr *key = http_find(&c->req, "sec-websocket-key");
    struct stream_params p = {
        .kind = x->route->stream,
        .user = user,
        .topic = topic,
        .channel = channel,
        .from = from,
        .exp = x->auth.exp,
        .ws_key = key ? key->value : NULL,
        .ws_key_len = key ? key->vlen : 0,
        .ws_bearer = x->ws_bearer,
        .claims = x->claims.len ? x->claims.data : NULL,
        .claims_len = x->claims.len,
        .api_key = x->auth.apikey_len ? x->auth.apikey : NULL,
        .api_key_len = x->auth.apikey_len,
        .peer = x->client_ip,
    };
    c->st = stream_open(c, &p);
    json_object_put(o);
    if (!c->st)
        conn_fail(c, FDE_STREAM_START, NULL);
}

static const struct pool_req_ops api_ops;

/* response.wait: {"user_id","execution_id","after","timeout_ms","function","args"}.  Park the
 * request until the execution's terminal event; false (answer now) if the spec is unusable. */
static bool begin_wait(struct conn *c, int status, const char *body, size_t blen, const char *spec)
{
    struct exchange *x = &c->ex;
    struct json_object *o = json_tokener_parse(spec);
    const char *user = member_str(o, "user_id"), *exec = member_str(o, "execution_id");
    const char *fn = member_str(o, "function");
    int64_t after = member_int(o, "after", -1), timeout = member_int(o, "timeout_ms", 0);
    struct json_object *args = member(o, "args", json_type_object);
    /* the function to answer with must be a route's, run like one (its prepared statement) */
    const struct route *then = NULL;
    for (int i = 0; fn && x->routes && i < x->routes->nroutes; i++)
        if (strcmp(x->routes->routes[i].function, fn) == 0 &&
            x->routes->routes[i].stream == STREAM_NONE)
            then = &x->routes->routes[i];
    bool ok = user && exec && then && args && after >= 0 && timeout > 0 && timeout <= 600000 &&
              strlen(user) < 40 && strlen(exec) < 40 && listen_feed_pos() >= 0;
    if (ok) {
        sbuf_reset(&x->wbody);
        sbuf_add(&x->wbody, body, blen);
        x->wstatus = status;
        sbuf_reset(&x->pjson);
        sbuf_adds(&x->pjson, json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN));
        sbuf_reset(&x->qjson);
        sbuf_addlit(&x->qjson, "{}");
        x->route = then;
        x->waiter = stream_wait_open(c, user, exec, after, now_ms() + (uint64_t)timeout);
    } else {
        log_warn(c->subject, "request %s: ignoring an unusable response.wait", x->request_id);
    }
    json_object_put(o);
    return ok;
}

void dispatch_wait_done(struct conn *c, bool ended)
{
    struct exchange *x = &c->ex;
    if (!ended) {
        conn_respond(c, x->wstatus, NULL, x->wbody.data, x->wbody.len);
        return;
    }
    x->wait_call = true;
    int prc = pool_submit(&x->preq, &api_ops, x->route->read_only);
    if (prc != POOL_OK)
        dispatch_pool_error(c, prc);
}

static void api_done(struct pool_req *r, int err)
{
    struct conn *c = conn_of(r);
    struct exchange *x = &c->ex;
    if (err != POOL_OK) {
        dispatch_pool_error(c, err);
        return;
    }
    if (x->err) {
        dispatch_pg_error(c, x->err);
        return;
    }
    PGresult *res = x->res;
    if (!res) {
        conn_fail(c, FDE_NO_RESULT, NULL);
        return;
    }
    if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0)) {
        conn_respond(c, 204, NULL, NULL, 0);
        return;
    }
    int status = x->route->status;
    if (PQnfields(res) > 1 && !PQgetisnull(res, 0, 1)) {
        int s = parse_status(PQgetvalue(res, 0, 1));
        if (s)
            status = s;
    }
    if (!x->wait_call && PQnfields(res) > 2 && !PQgetisnull(res, 0, 2) &&
        PQgetlength(res, 0, 2) > 0 && status < 300 &&
        begin_wait(c, status, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0),
                   PQgetvalue(res, 0, 2)))
        return;
    if (x->route->stream != STREAM_NONE && status < 300) {
        open_stream(c, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
        return;
    }
    /* response.headers: the function's own headers (e.g. Retry-After), checked first */
    struct sbuf hdrs;
    sbuf_init(&hdrs);
    if (PQnfields(res) > 3 && !PQgetisnull(res, 0, 3)) {
        const char *why =
            resphdr_render(PQgetvalue(res, 0, 3), (size_t)PQgetlength(res, 0, 3), &hdrs);
        if (why)
            log_warn(c->subject, "request %s: %s: ignoring response.headers: %s", x->request_id,
                     x->route->function, why);
    }
    conn_respond(c, status, hdrs.len ? sbuf_cstr(&hdrs) : NULL, PQgetvalue(res, 0, 0),
                 (size_t)PQgetlength(res, 0, 0));
    sbuf_free(&hdrs);
}

static const struct pool_req_ops api_ops = {api_send, api_result, api_done};

static bool same_name(const struct http_hdr *a, const struct http_hdr *b)
{
    return a->nlen == b->nlen && strncasecmp(a->name, b->name, a->nlen) == 0;
}

/* request.headers: names lower-cased, credentials left out, repeated fields joined by ", " */
static void build_headers_json(struct conn *c)
{
    struct sbuf *o = &c->ex.hjson;
    const struct http_request *r = &c->req;
    sbuf_reset(o);
    sbuf_addc(o, '{');
    bool first = true;
    for (int i = 0; i < r->nhdr; i++) {
        const struct http_hdr *h = &r->hdrs[i];
        int k = http_known_name(h->name, h->nlen);
        if (k == H_AUTHORIZATION || k == H_X_API_KEY || k == H_COOKIE)
            continue;
        bool seen = false, repeated = false;
        for (int j = 0; j < i && !seen; j++)
            seen = same_name(&r->hdrs[j], h);
        if (seen)
            continue; /* already written, joined with this one */
        for (int j = i + 1; j < r->nhdr && !repeated; j++)
            repeated = same_name(&r->hdrs[j], h);
        if (!first)
            sbuf_addc(o, ',');
        first = false;
        json_add_string(o, h->name, h->nlen, JSON_LOWER);
        sbuf_addc(o, ':');
        if (!repeated) {
            /* RFC 9110 allows obs-text in values: keep the JSON valid UTF-8 regardless */
            json_add_string(o, h->value, h->vlen, JSON_REPLACE);
            continue;
        }
        struct sbuf joined;
        sbuf_init(&joined);
        sbuf_add(&joined, h->value, h->vlen);
        for (int j = i + 1; j < r->nhdr; j++) {
            if (same_name(&r->hdrs[j], h)) {
                sbuf_adds(&joined, ", ");
                sbuf_add(&joined, r->hdrs[j].value, r->hdrs[j].vlen);
            }
        }
        json_add_string(o, joined.data, joined.len, JSON_REPLACE);
        sbuf_free(&joined);
    }
    sbuf_addc(o, '}');
}

static void answer_options(struct conn *c, const char *allow)
{
    char extra[512];
    const struct http_hdr *acrm = http_find(&c->req, "access-control-request-method");
    if (c->ex.origin && acrm) {
        snprintf(extra, sizeof(extra),
                 "Allow: %s\r\nAccess-Control-Allow-Methods: %s\r\n"
                 "Access-Control-Allow-Headers: " CORS_ALLOW_HEADERS "\r\n"
                 "Access-Control-Max-Age: " CORS_MAX_AGE "\r\n",
                 allow, allow);
    } else {
        snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
    }
    conn_respond(c, 204, extra, NULL, 0);
}

/* RFC 6455 §4.2.1, before anything else: a WebSocket route answers nothing but a valid
 * upgrade, from an allowed Origin. */
static bool websocket_handshake_ok(struct conn *c)
{
    struct http_request *req = &c->req;
    const struct http_hdr *up = http_find(req, "upgrade");
    const struct http_hdr *co = http_find(req, "connection");
    if (!up || !header_has_token(up->value, up->vlen, "websocket") || !co ||
        !header_has_token(co->value, co->vlen, "upgrade")) {
        conn_fail(c, FDE_WS_NOT_UPGRADE, NULL);
        return false;
    }
    const struct http_hdr *ver = http_find(req, "sec-websocket-version");
    if (!ver || !str_ieq(ver->value, ver->vlen, "13")) {
        conn_fail(c, FDE_WS_VERSION, NULL);
        return false;
    }
    const struct http_hdr *key = http_find(req, "sec-websocket-key");
    if (!key || !ws_key_valid(key->value, key->vlen)) {
        conn_fail(c, FDE_WS_KEY, NULL);
        return false;
    }
    /* a browser page of another site must not ride on its user's credentials (CSWSH) */
    const struct http_hdr *origin = http_known(req, H_ORIGIN);
    if (origin && !c->ex.origin) {
        conn_fail(c, FDE_WS_ORIGIN, NULL);
        return false;
    }
    return true;
}

/* Credentials a browser can send on a stream: ?token=, or the subprotocol list "bearer,
 * <token>" (WebSocket).  Builds "Bearer <token>" in the exchange's abuf. */
static bool stream_token(struct conn *c, const char *query, size_t qlen)
{
    struct exchange *x = &c->ex;
    sbuf_reset(&x->abuf);
    sbuf_addlit(&x->abuf, "Bearer ");
    size_t i = 0;
    while (i < qlen) {
        size_t s = i;
        while (i < qlen && query[i] != '&')
            i++;
        if (i - s > 6 && memcmp(query + s, "token=", 6) == 0 &&
            pct_decode(&x->abuf, query + s + 6, i - s - 6, true) && x->abuf.len > 7)
            return true;
        x->abuf.len = 7; /* drop a malformed one */
        i++;
    }
    const struct http_hdr *proto = http_find(&c->req, "sec-websocket-protocol");
    const char *tok;
    size_t tl;
    if (x->route->stream == STREAM_WEBSOCKET && proto &&
        ws_protocol_bearer(proto->value, proto->vlen, &tok, &tl)) {
        sbuf_add(&x->abuf, tok, tl);
        x->ws_bearer = true;
        return true;
    }
    return false;
}

/* The client: the socket peer, or the address a trusted proxy names in X-Forwarded-For (the
 * fields joined in order, as one list). */
static void find_client(struct conn *c)
{
    struct exchange *x = &c->ex;
    x->client_key = c->peer_key;
    snprintf(x->client_ip, sizeof(x->client_ip), "%s", c->peer_ip);
    struct sockaddr_storage peer, client;
    if (g_proxies.n == 0 || !http_find(&c->req, "x-forwarded-for") ||
        !proxies_parse_addr(c->peer_ip, strlen(c->peer_ip), &peer) ||
        !proxies_trusted(&g_proxies, (struct sockaddr *)&peer))
        return;
    struct sbuf xff;
    sbuf_init(&xff);
    for (int i = 0; i < c->req.nhdr; i++) {
        const struct http_hdr *h = &c->req.hdrs[i];
        if (str_ieq(h->name, h->nlen, "x-forwarded-for")) {
            if (xff.len)
                sbuf_addc(&xff, ',');
            sbuf_add(&xff, h->value, h->vlen);
        }
    }
    if (proxies_client(&g_proxies, xff.data, xff.len, &client)) {
        admit_key_from((struct sockaddr *)&client, &x->client_key);
        if (client.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&client)->sin_addr, x->client_ip,
                      sizeof(x->client_ip));
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&client)->sin6_addr, x->client_ip,
                      sizeof(x->client_ip));
    }
    sbuf_free(&xff);
}

void dispatch_request(struct conn *c)
{
    struct exchange *x = &c->ex;
    struct http_request *req = &c->req;
    find_client(c);

    const struct http_hdr *h = http_known(req, H_X_REQUEST_ID);
    if (h && request_id_ok(h->value, h->vlen)) {
        memcpy(x->request_id, h->value, h->vlen);
        x->request_id[h->vlen] = 0;
    }
    conn_ensure_request_id(c); /* needed before the pipeline: it is request.id */
    h = http_known(req, H_USER_AGENT);
    if (h) {
        x->user_agent = h->value;
        x->ua_len = h->vlen;
    }
    const char *path, *query;
    size_t plen, qlen;
    if (!http_split_target(req->url, req->url_len, &path, &plen, &query, &qlen)) {
        conn_fail(c, FDE_TARGET, NULL);
        return;
    }
    x->path = path;
    x->path_len = plen;
    x->head_only = req->method == M_HEAD;
    h = http_known(req, H_ORIGIN);
    if (h && h->vlen < 512 && cors_allowed(&g_cors, h->value, h->vlen)) {
        x->origin = h->value;
        x->origin_len = h->vlen;
    }

    if (ops_handle(c, path, plen))
        return;
    if (c->over_limit) {
        conn_fail(c, FDE_TOO_MANY_CONNECTIONS, NULL);
        return;
    }

    struct route_match m;
    int rc = router_match(g_routes, req->method, path, plen, &m, &x->pbuf);
    if (rc == RM_BAD_PATH) {
        conn_fail(c, FDE_PATH_ENCODING, NULL);
        return;
    }
    if (rc == RM_NOT_FOUND) {
        conn_fail(c, FDE_NO_ROUTE, NULL);
        return;
    }
    x->route_label = m.pattern;
    if (rc == RM_BAD_METHOD) {
        /* keep the label alive: it points into the table */
        x->routes = g_routes;
        router_ref(x->routes);
        if (req->method == M_OPTIONS) {
            answer_options(c, m.allow);
            return;
        }
        conn_fail(c, FDE_METHOD, &(struct fd_error_args){.allow = m.allow});
        return;
    }
    x->routes = g_routes;
    router_ref(x->routes);
    x->route = m.route;
    if (!limiter_admit_ip(c))
        return;
    if (x->route->stream == STREAM_WEBSOCKET && !websocket_handshake_ok(c))
        return;

    /* who is calling */
    const struct http_hdr *az = http_known(req, H_AUTHORIZATION);
    const struct http_hdr *ak = http_known(req, H_X_API_KEY);
    const char *azv = az ? az->value : NULL;
    size_t azl = az ? az->vlen : 0;
    int naz = req->nknown[H_AUTHORIZATION];
    if (x->route->stream != STREAM_NONE && !az && !ak && stream_token(c, query, qlen)) {
        azv = x->abuf.data;
        azl = x->abuf.len;
        naz = 1;
    }
    sbuf_reset(&x->claims);
    auth_request(azv, azl, naz, ak ? ak->value : NULL, ak ? ak->vlen : 0, req->nknown[H_X_API_KEY],
                 (int64_t)time(NULL), &x->auth, &x->claims);
    if (x->auth.err) {
        conn_fail(c, x->auth.err, &(struct fd_error_args){.token_given = x->auth.token_given});
        return;
    }
    if (!limiter_admit_credential(c, x->auth.cred, x->auth.cred_len))
        return;

    /* parameters */
    struct sbuf *pj = &x->pjson;
    sbuf_reset(pj);
    sbuf_addc(pj, '{');
    for (int i = 0; i < m.nparams; i++) {
        if (i)
            sbuf_addc(pj, ',');
        json_add_string(pj, m.params[i].name, strlen(m.params[i].name), 0);
        sbuf_addc(pj, ':');
        if (!json_add_string(pj, x->pbuf.data + m.params[i].off, m.params[i].len, JSON_STRICT)) {
            conn_fail(c, FDE_PATH_PARAM_UTF8, NULL);
            return;
        }
    }
    sbuf_addc(pj, '}');
    sbuf_reset(&x->qjson);
    int qerr = FDE_NONE;
    if (qlen)
        qerr = query_to_json(&x->qjson, query, qlen);
    else
        sbuf_addlit(&x->qjson, "{}");
    if (qerr) {
        conn_fail(c, qerr, NULL);
        return;
    }
    build_headers_json(c);
    sbuf_reset(&x->pvals);
    x->voff[0] = 0;
    sbuf_add(&x->pvals, path, plen);
    sbuf_addc(&x->pvals, 0);
    x->voff[1] = x->pvals.len;
    sbuf_add(&x->pvals, x->auth.apikey, x->auth.apikey_len);

    int prc = pool_submit(&x->preq, &api_ops, x->route->read_only);
    if (prc != POOL_OK)
        dispatch_pool_error(c, prc);
}
