/*
 * conn.h — the client connection object (pgbouncer's PgSocket shape): one bufferevent (socket,
 * input and output evbuffers), the http_parser, the request being built, the exchange
 * (everything a request needs until its response is queued), a state enum changed in one
 * function.  Freeing a connection frees everything it owns, the bufferevent (and so the
 * socket) included.  A later WebSocket upgrade adds a state and a session pointer here; the
 * same bufferevent then carries the frames.
 */
#ifndef FRONTD_CONN_H
#define FRONTD_CONN_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "admit.h"
#include "auth.h"
#include "errors.h"
#include "http.h"
#include "httpread.h"
#include "pool.h"
#include "ratelimit.h"
#include "router.h"
#include "util.h"

enum conn_state {
    CONN_IDLE,    /* no request bytes yet (new, or keep-alive between requests); may be
                     evicted at a connection limit */
    CONN_HEAD,    /* receiving the header block; header-timeout running */
    CONN_BODY,    /* receiving the body; request-timeout running */
    CONN_BUSY,    /* request complete, being answered (maybe waiting for the database) */
    CONN_CLOSING, /* last response being written, then lingering close */
    CONN_LINGER,  /* write side shut; reading and dropping input briefly so the peer sees our
                     answer instead of a reset; may be evicted too */
    CONN_STREAM,  /* upgraded to a WebSocket or answering with Server-Sent Events: the stream
                     (stream.c) owns the traffic; never evicted */
    CONN_DEAD,    /* closed; memory released by the reaper after the current callback */
};

/* What is sent in the pipeline, in order, so results can be matched to commands. */
enum { CMD_PREP_SET = 1, CMD_PREP_CALL, CMD_SET, CMD_CALL, CMD_OPENAPI };

/* One request/response exchange.  Reset (buffers kept) after each response. */
struct exchange {
    char request_id[80];
    uint64_t start_us;
    bool active;
    struct route_table *routes; /* reference held while the request is in flight */
    const struct route *route;
    const char *route_label; /* metrics/log label: route pattern, ops path, or NULL */
    const char *path;        /* raw path (in hbuf) */
    size_t path_len;
    const char *origin; /* allowed CORS origin (in hbuf), or NULL */
    size_t origin_len;
    const char *user_agent;
    size_t ua_len;
    const char *ctype; /* response Content-Type; NULL = application/json */
    bool head_only;
    bool close_after;
    struct auth_result auth;
    /* database part */
    struct pool_req preq;
    uint8_t sent[6];
    int nsent, nres;
    PGresult *res;      /* result of the call (kept until the Sync) */
    PGresult *err;      /* first error result */
    struct sbuf claims; /* verified JWT payload */
    struct sbuf hjson;  /* request.headers */
    struct sbuf pjson;  /* path parameters */
    struct sbuf qjson;  /* query parameters */
    struct sbuf pbuf;   /* decoded path segments (router) */
    struct sbuf pvals;  /* NUL-terminated text values of statement 1 */
    struct sbuf abuf;   /* "Bearer <token>" built from ?token= or a subprotocol (streams) */
    bool ws_bearer;     /* the token came as subprotocol "bearer" */
    /* response.wait: the request waits for an event, then runs a second function */
    struct stream *waiter; /* owned while waiting */
    struct sbuf wbody;     /* the first answer, sent if the wait runs out */
    int wstatus;
    bool wait_call; /* the second function is running: no body, no further wait */
    size_t voff[8];
    /* rate limits (limiter.c): the client's address (the peer's, or the one a trusted proxy
     * names), and the verdict whose RateLimit-* fields the answer carries */
    struct admit_key client_key;
    char client_ip[48];
    bool rl_set;
    struct rl_rate rl_rate;
    struct rl_verdict rl;
};

struct conn {
    struct conn *prev, *next; /* all live connections (janitor, shutdown) */
    uint64_t id;
    int fd;                  /* owned by bev (BEV_OPT_CLOSE_ON_FREE); kept for shutdown(2) */
    struct bufferevent *bev; /* owned; NULL once closed */
    enum conn_state state;
    /* the current header block, copied out of the input evbuffer (which is drained as it is
     * parsed) so the request's field pointers stay valid while the body is read */
    char *hbuf;
    size_t hbuf_cap;
    /* scratch for serialising a response's status line and fields (kept between requests) */
    struct sbuf out;
    struct http_reader rd; /* http_parser and its callbacks' state */
    struct head_scan scan;
    struct http_request req;
    uint64_t deadline_ms; /* monotonic; 0 = none */
    uint64_t accept_ms;   /* the first header block's deadline counts from here */
    uint64_t linger_bytes;
    int nrequests;
    bool over_limit, peer_eof, in_process, nodelay_pending;
    char peer_ip[48];
    struct admit_key peer_key; /* the socket peer's address */
    bool metrics_port;         /* accepted on metrics-listen: /metrics and /health only */
    char subject[96];          /* log prefix: "C-12 127.0.0.1:5000" */
    struct admit_node adm;     /* per-address count; on the idle lists while IDLE or LINGER */
    struct exchange ex;
    struct stream *st; /* owned, in CONN_STREAM */
};

/* The client's X-Request-Id if sane (set by dispatch), else a generated one. */
void conn_ensure_request_id(struct conn *c);
/* over_limit: admitted into the reserve above a limit, for /health and /ready only. */
void conn_accept(int fd, const struct sockaddr *sa, const struct admit_key *k, bool over_limit,
                 bool metrics_port);
int conn_count(void);
/* Whether an idle or lingering connection can go now without losing a byte of a request or
 * response. */
bool conn_evictable(const struct admit_node *n, void *arg);
/* Close an idle connection to admit another (see admit.h). */
void conn_evict(struct admit_node *n);

/* Responses.  extra: preformatted header lines ("Allow: GET\r\n"), may be NULL. */
void conn_respond(struct conn *c, int status, const char *extra, const char *body, size_t blen);
/* An error body ({"code","message","details","hint"}) with a code the caller has: a database
 * error's SQLSTATE (dispatch.c). */
void conn_respond_error(struct conn *c, int status, const char *code, const char *message,
                        const char *details, const char *hint, const char *extra);
/* One of frontd's own errors: the catalog entry err (errors.h) with what the request adds;
 * in the original platform's style when the request's route asks for it. */
void conn_fail(struct conn *c, int err, const struct fd_error_args *a);
/* Whether the request's route renders its errors in the original platform's style. */
bool conn_original_errors(const struct conn *c);
/* An error in that style (errstyle.h): field, the bad argument the database named (or NULL),
 * found in where ("path", "query", "body"). */
void conn_respond_original(struct conn *c, int status, const char *sqlstate, const char *message,
                           const char *field, const char *where, const char *extra);

/* Streams (stream.c): answer the handshake with status and extra header lines (no body
 * follows; the connection enters CONN_STREAM); write out what is queued; end the connection,
 * at once (abort) or after the queued output. */
void conn_upgrade(struct conn *c, int status, const char *extra);
void conn_stream_flush(struct conn *c);
void conn_stream_close(struct conn *c, bool abort);
struct bufferevent *conn_bev(struct conn *c);
const char *conn_subject(const struct conn *c);

void conn_janitor(uint64_t now);
/* Graceful stop: close idle connections, let busy ones finish one response. */
void conn_shutdown_begin(void);
void conn_close_all(void);
void conn_reap(void);

#endif
