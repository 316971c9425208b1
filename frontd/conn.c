/*
 * conn.c — client connections on libevent bufferevents: read, frame, answer, close.
 *
 * Reading: the bufferevent fills the input evbuffer, bounded by a read high-watermark of
 * max-header-bytes + 1 KB (libevent stops reading there by itself, so a client that pipelines
 * faster than we answer is held back by TCP).  A header block is scanned raw (http.c) for its
 * end and for forbidden bytes on the contiguous front of the input (only the header block is
 * ever pulled up), copied to hbuf and drained, checked strictly, then parsed by http_parser;
 * the body is fed to http_parser chunk by chunk straight from the evbuffer (chunked decoding),
 * drained as it is consumed and collected in req.body.  The parser is paused at the end of each
 * message, so pipelined requests are taken one at a time and answered in order.
 *
 * Writing: a response's status line and fields are serialised into a scratch buffer and added
 * to the output evbuffer together with the body in one contiguous chain.  At the end of each
 * batch of requests the output is written at once (conn_flush); only what the kernel refuses is
 * left to the bufferevent's EV_WRITE, whose write callback (output drained) hands back.  Output
 * drained resumes reading after back-pressure and starts the lingering close.  While the output
 * holds more than OUT_HIGH_WATER the connection stops reading and taking pipelined requests.
 *
 * Closing: after an error that ends the connection we shut down our side and keep reading
 * (dropping) for a moment, so the client reads our 4xx instead of a TCP reset.  A closed
 * connection frees its bufferevent (which closes the socket) and is unlinked at once; the
 * struct itself is freed by a reaper event, so callers up the stack never touch freed memory.
 */
#include "conn.h"
#include "stream.h"
#include "dispatch.h"
#include "errmap.h"
#include "frontd.h"
#include "httpread.h"
#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define IN_MIN_CAP       16384      /* smallest read high-watermark */
#define OUT_HIGH_WATER   (1u << 20) /* stop taking pipelined requests above this much output */
#define LINGER_MS        2000
#define LINGER_MAX_BYTES (4u << 20)

static struct conn *live_head;
static int nlive;
static struct conn *dead_head;
static struct event *reap_ev;
static uint64_t last_id;

static void conn_process(struct conn *c);
static void conn_close(struct conn *c, const char *why);
static void update_events(struct conn *c);
static void conn_flush(struct conn *c);
static void conn_end(struct conn *c);

int conn_count(void)
{
    return nlive;
}

/* ---- request ids: random per-process prefix + counter (unique, cheap, not secret) ---- */
static void gen_request_id(char *out, size_t n)
{
    static char prefix[17];
    static uint64_t counter;
    if (!prefix[0]) {
        unsigned char rnd[8];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)getpid();
            memcpy(rnd, &t, sizeof(rnd));
        }
        for (int i = 0; i < 8; i++)
            snprintf(prefix + 2 * i, 3, "%02x", rnd[i]);
    }
    /* hand-formatted: this runs for every request */
    static const char hex[] = "0123456789abcdef";
    char tmp[17];
    int k = 0;
    uint64_t v = ++counter;
    do {
        tmp[k++] = hex[v & 15];
        v >>= 4;
    } while (v);
    if (n < 16 + 1 + (size_t)k + 1)
        return;
    memcpy(out, prefix, 16);
    out[16] = '-';
    for (int i = 0; i < k; i++)
        out[17 + i] = tmp[k - 1 - i];
    out[17 + k] = 0;
}

void conn_ensure_request_id(struct conn *c)
{
    if (!c->ex.request_id[0])
        gen_request_id(c->ex.request_id, sizeof(c->ex.request_id));
}

/* ---- the one state-change function: state, deadline, then which events we want ---- */
static void conn_set_state(struct conn *c, enum conn_state s)
{
    uint64_t now = now_ms();
    const struct config *cfg = g_cfg;
    switch (s) {
    case CONN_IDLE:
        /* a new connection must send its first byte soon (a socket that never does only
         * holds a slot); a kept-alive one may idle longer */
        if (c->nrequests == 0) {
            int ms = cfg->first_byte_timeout_ms < cfg->header_timeout_ms
                         ? cfg->first_byte_timeout_ms
                         : cfg->header_timeout_ms;
            c->deadline_ms = c->accept_ms + (uint64_t)ms;
        } else {
            c->deadline_ms = now + (uint64_t)cfg->idle_timeout_ms;
        }
        break;
    case CONN_HEAD:
        /* header-timeout is a total deadline for the block; the first request's clock
         * started at accept */
        c->deadline_ms = (c->nrequests ? now : c->accept_ms) + (uint64_t)cfg->header_timeout_ms;
        break;
    case CONN_BODY: c->deadline_ms = now + (uint64_t)cfg->request_timeout_ms; break;
    case CONN_BUSY: c->deadline_ms = 0; break;
    case CONN_CLOSING: c->deadline_ms = now + (uint64_t)cfg->request_timeout_ms; break;
    case CONN_LINGER: c->deadline_ms = now + LINGER_MS; break;
    case CONN_STREAM:
    case CONN_DEAD: c->deadline_ms = 0; break;
    }
    c->state = s;
    /* a newcomer at a limit may displace a connection with no request in flight: waiting for
     * one, or lingering after its last answer; the longest idle first */
    admit_set_idle(&c->adm, s == CONN_IDLE || s == CONN_LINGER);
    if (s != CONN_DEAD)
        update_events(c);
}

static size_t in_len(const struct conn *c)
{
    return evbuffer_get_length(bufferevent_get_input(c->bev));
}

static size_t out_pending(const struct conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Whether the bufferevent reads.  Writing stays enabled for the connection's whole life: the
 * bufferevent only polls for EV_WRITE while its output holds bytes.  A full input is handled by
 * the read high-watermark (libevent suspends reading on its own). */
static void update_events(struct conn *c)
{
    bool r = false;
    switch (c->state) {
    case CONN_IDLE:
    case CONN_HEAD:
    case CONN_BODY:
    case CONN_BUSY: r = !c->peer_eof && out_pending(c) < OUT_HIGH_WATER; break;
    case CONN_LINGER: r = !c->peer_eof; break;
    case CONN_STREAM: r = !c->peer_eof; break;
    case CONN_CLOSING: break;
    case CONN_DEAD: return;
    }
    bool on = (bufferevent_get_enabled(c->bev) & EV_READ) != 0;
    if (r && !on)
        bufferevent_enable(c->bev, EV_READ);
    else if (!r && on)
        bufferevent_disable(c->bev, EV_READ);
}

/* ---- exchange lifetime ---- */
static void exchange_begin(struct conn *c)
{
    struct exchange *x = &c->ex;
    x->active = true;
    x->start_us = now_us();
}

static void exchange_end(struct conn *c)
{
    struct exchange *x = &c->ex;
    if (x->preq.queued || x->preq.pc)
        pool_cancel(&x->preq);
    if (x->waiter)
        stream_free(x->waiter); /* never inside a fan-out: responses are not sent from there */
    x->waiter = NULL;
    x->wait_call = false;
    sbuf_trim(&x->wbody, 16384);
    if (x->res)
        PQclear(x->res);
    if (x->err)
        PQclear(x->err);
    x->res = x->err = NULL;
    if (x->routes)
        router_unref(x->routes);
    x->routes = NULL;
    x->route = NULL;
    x->route_label = NULL;
    x->ctype = NULL;
    x->path = NULL;
    x->path_len = 0;
    x->origin = NULL;
    x->origin_len = 0;
    x->user_agent = NULL;
    x->ua_len = 0;
    x->head_only = x->close_after = x->active = false;
    x->rl_set = false;
    x->request_id[0] = 0;
    x->nsent = x->nres = 0;
    memset(&x->auth, 0, sizeof(x->auth));
    /* keep the buffers for the next request unless one grew unusually large */
    sbuf_trim(&x->claims, 16384);
    sbuf_trim(&x->hjson, 65536);
    sbuf_trim(&x->pjson, 16384);
    sbuf_trim(&x->qjson, 65536);
    sbuf_trim(&x->pbuf, 16384);
    sbuf_trim(&x->pvals, 16384);
    sbuf_trim(&x->abuf, 16384);
    x->ws_bearer = false;
}

/* ---- responses ---- */
static const char *http_date(void)
{
    static char buf[40];
    static time_t cached = -1;
    time_t now = time(NULL);
    if (now != cached) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached = now;
    }
    return buf;
}

void conn_respond(struct conn *c, int status, const char *extra, const char *body, size_t blen)
{
    if (c->state == CONN_DEAD || c->state == CONN_CLOSING || c->state == CONN_LINGER)
        return;
    struct exchange *x = &c->ex;
    if (!x->active)
        exchange_begin(c);
    conn_ensure_request_id(c);
    bool close = x->close_after || !c->req.keep_alive || g_shutting_down || c->over_limit;
    bool nobody = status == 204 || status == 304 || status < 200;
    struct sbuf *o = &c->out;
    o->len = 0;
    sbuf_addlit(o, "HTTP/1.1 ");
    sbuf_add_u64(o, (uint64_t)status);
    sbuf_addc(o, ' ');
    sbuf_adds(o, http_status_text(status));
    sbuf_addlit(o, "\r\nDate: ");
    sbuf_adds(o, http_date());
    if (!nobody) {
        sbuf_addlit(o, "\r\nContent-Type: ");
        sbuf_adds(o, x->ctype ? x->ctype : "application/json; charset=utf-8");
        sbuf_addlit(o, "\r\nContent-Length: ");
        sbuf_add_u64(o, blen);
    }
    sbuf_addlit(o, "\r\nX-Request-Id: ");
    sbuf_adds(o, x->request_id);
    sbuf_addlit(o, "\r\n");
    if (x->origin) {
        sbuf_addlit(o, "Access-Control-Allow-Origin: ");
        sbuf_add(o, x->origin, x->origin_len);
        sbuf_addlit(o, "\r\nAccess-Control-Expose-Headers: " CORS_EXPOSE_HEADERS "\r\n");
    }
    if (g_cors.n > 0 || g_cors.any)
        sbuf_addlit(o, "Vary: Origin\r\n");
    if (extra)
        sbuf_adds(o, extra);
    if (x->rl_set)
        rl_headers(o, &x->rl_rate, &x->rl);
    /* RFC 9110: every 401 carries a challenge, also when a function chose the status itself */
    if (status == 401 && !(extra && strstr(extra, "WWW-Authenticate")))
        sbuf_addlit(o, "WWW-Authenticate: Bearer\r\n");
    if (close)
        sbuf_addlit(o, "Connection: close\r\n");
    else if (c->req.minor == 0)
        sbuf_addlit(o, "Connection: keep-alive\r\n");
    sbuf_addlit(o, "\r\n");
    size_t bout = !nobody && !x->head_only ? blen : 0;
    struct evbuffer *ob = bufferevent_get_output(c->bev);
    /* one chain for fields and body: a single copy of the body, one writev */
    evbuffer_expand(ob, o->len + bout);
    evbuffer_add(ob, o->data, o->len);
    if (bout)
        evbuffer_add(ob, body, bout);
    if (o->cap > 65536)
        sbuf_free(o);

    uint64_t dur = now_us() - x->start_us;
    const char *method = c->req.method_str ? c->req.method_str : "-";
    const char *label = x->route_label ? x->route_label : "unmatched";
    metrics_request(label, method, status, dur);
    struct access_rec ar = {x->request_id,
                            method,
                            x->path ? x->path : "",
                            x->path_len,
                            x->route_label,
                            status,
                            dur,
                            nobody || x->head_only ? 0 : blen,
                            c->peer_ip,
                            x->user_agent,
                            x->ua_len};
    log_access(&ar);

    c->nrequests++;
    exchange_end(c);
    if (close) {
        conn_set_state(c, CONN_CLOSING); /* lingers once the answer is out */
        if (!c->in_process)
            conn_flush(c);
        return;
    }
    conn_set_state(c, CONN_IDLE);
    if (!c->in_process)
        conn_process(c); /* a pipelined request may already be buffered */
}

void conn_respond_error(struct conn *c, int status, const char *code, const char *message,
                        const char *details, const char *hint, const char *extra)
{
    struct sbuf b;
    sbuf_init(&b);
    error_body(&b, code, message, details, hint);
    conn_respond(c, status, extra, b.data, b.len);
    sbuf_free(&b);
}

bool conn_original_errors(const struct conn *c)
{
    return c->ex.route && c->ex.route->errors == ERRORS_ORIGINAL;
}

void conn_respond_original(struct conn *c, int status, const char *sqlstate, const char *message,
                           const char *field, const char *where, const char *extra)
{
    int st = errstyle_status(status, c->ex.auth.has_credentials, field != NULL);
    struct sbuf b;
    sbuf_init(&b);
    /* no credentials at all: FastAPI's HTTPBearer words, whatever refused the call */
    if (st == 403 && status == 401)
        message = "Not authenticated";
    errstyle_body(&b, st, message, field, where, errstyle_type(sqlstate));
    /* a status changed by the style drops the headers of the old one (a 401's challenge) */
    conn_respond(c, st, st == status ? extra : NULL, b.data, b.len);
    sbuf_free(&b);
}

void conn_fail(struct conn *c, int err, const struct fd_error_args *a)
{
    const struct fd_error *e = fd_error(err);
    struct sbuf h;
    sbuf_init(&h);
    fd_error_headers(&h, e, a);
    if (conn_original_errors(c))
        conn_respond_original(c, e->status, NULL, e->message, NULL, NULL, h.len ? h.data : NULL);
    else
        conn_respond_error(c, e->status, e->code, e->message, a ? a->details : NULL, e->hint,
                           h.len ? h.data : NULL);
    sbuf_free(&h);
}

/* An answer that ends the connection (framing errors, limits, timeouts); details: what the
 * parser said, or NULL. */
static void conn_reject(struct conn *c, int err, const char *details)
{
    const struct fd_error *e = fd_error(err);
    c->ex.close_after = true;
    if (log_enabled(LOG_INFO) && e->status != 408)
        log_info(c->subject, "%d %s: %s%s%s", e->status, e->code, e->message, details ? ": " : "",
                 details ? details : "");
    conn_fail(c, err, &(struct fd_error_args){.details = details});
}

/* ---- writing and closing ---- */
static void start_linger(struct conn *c)
{
    if (c->peer_eof) {
        conn_close(c, NULL);
        return;
    }
    shutdown(c->fd, SHUT_WR);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    c->linger_bytes = 0;
    conn_set_state(c, CONN_LINGER);
}

/* Everything queued has reached the kernel. */
static void output_drained(struct conn *c)
{
    if (c->state == CONN_CLOSING) {
        start_linger(c);
        return;
    }
    if (c->state == CONN_STREAM) {
        stream_on_drained(c->st);
        return;
    }
    update_events(c); /* reading may have stopped at OUT_HIGH_WATER */
}

/* Write what the request path queued now, with the data already hot, instead of arming
 * EV_WRITE and writing on the next loop iteration: that costs two epoll_ctl calls and a wakeup
 * per response (measured: ~16% fewer requests/s on /health).  EV_WRITE is therefore enabled
 * only while the kernel has refused part of the output; the bufferevent then writes the rest
 * and on_write hands control back here. */
static void conn_flush(struct conn *c)
{
    if (c->state == CONN_DEAD || (bufferevent_get_enabled(c->bev) & EV_WRITE))
        return;
    struct evbuffer *ob = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(ob) == 0)
        return;
    /* the bufferevent keeps the front of its output frozen against everyone but its own write
     * callback; it is idle here (EV_WRITE off), so we act as that callback */
    evbuffer_unfreeze(ob, 1);
    int n = evbuffer_write(ob, c->fd);
    evbuffer_freeze(ob, 1);
    if (n < 0) {
        int e = EVUTIL_SOCKET_ERROR();
        if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR) {
            conn_close(c, e == ECONNRESET || e == EPIPE ? NULL : evutil_socket_error_to_string(e));
            return;
        }
    }
    if (evbuffer_get_length(ob) == 0)
        output_drained(c);
    else
        bufferevent_enable(c->bev, EV_WRITE);
}

/* The bufferevent wrote the rest of a partial write (write low-watermark 0). */
static void on_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    bufferevent_disable(bev, EV_WRITE);
    output_drained(c);
    if (c->state == CONN_IDLE && !c->in_process && in_len(c) > 0)
        conn_process(c);
}

/* ---- streams (stream.c) ---- */
void conn_upgrade(struct conn *c, int status, const char *extra)
{
    struct exchange *x = &c->ex;
    struct sbuf *o = &c->out;
    o->len = 0;
    sbuf_addlit(o, "HTTP/1.1 ");
    sbuf_add_u64(o, (uint64_t)status);
    sbuf_addc(o, ' ');
    sbuf_adds(o, http_status_text(status));
    sbuf_addlit(o, "\r\nDate: ");
    sbuf_adds(o, http_date());
    sbuf_addlit(o, "\r\nX-Request-Id: ");
    sbuf_adds(o, x->request_id);
    sbuf_addlit(o, "\r\n");
    if (x->origin) {
        sbuf_addlit(o, "Access-Control-Allow-Origin: ");
        sbuf_add(o, x->origin, x->origin_len);
        sbuf_addlit(o, "\r\n");
    }
    if (extra)
        sbuf_adds(o, extra);
    sbuf_addlit(o, "\r\n");
    evbuffer_add(bufferevent_get_output(c->bev), o->data, o->len);
    uint64_t dur = now_us() - x->start_us;
    metrics_request(x->route_label ? x->route_label : "unmatched", c->req.method_str, status, dur);
    struct access_rec ar = {x->request_id,
                            c->req.method_str,
                            x->path ? x->path : "",
                            x->path_len,
                            x->route_label,
                            status,
                            dur,
                            0,
                            c->peer_ip,
                            x->user_agent,
                            x->ua_len};
    log_access(&ar);
    c->nrequests++;
    exchange_end(c);
    /* a stream parses no more HTTP: its request buffers go (10 000 idle sockets would keep
     * several KB each) */
    free(c->hbuf);
    c->hbuf = NULL;
    c->hbuf_cap = 0;
    sbuf_free(&c->out);
    http_request_free(&c->req);
    http_request_init(&c->req);
    struct sbuf *bufs[] = {&x->claims, &x->hjson, &x->pjson, &x->qjson,
                           &x->pbuf,   &x->pvals, &x->abuf,  &x->wbody};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        sbuf_free(bufs[i]);
    /* the input now carries frames (or nothing, for SSE): no more HTTP parsing */
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    conn_set_state(c, CONN_STREAM);
}

void conn_stream_flush(struct conn *c)
{
    if (c->state == CONN_STREAM && !c->in_process)
        conn_flush(c);
}

void conn_stream_close(struct conn *c, bool abort)
{
    if (c->state != CONN_STREAM)
        return;
    if (abort) {
        conn_close(c, NULL);
        return;
    }
    conn_end(c);
    if (c->state == CONN_CLOSING && !c->in_process)
        conn_flush(c); /* what is queued goes now; the lingering close follows once it is out */
}

struct bufferevent *conn_bev(struct conn *c)
{
    return c->bev;
}

const char *conn_subject(const struct conn *c)
{
    return c->subject;
}

/* ---- reading ---- */
static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_LINGER) {
        struct evbuffer *in = bufferevent_get_input(bev);
        size_t n = evbuffer_get_length(in);
        evbuffer_drain(in, n);
        c->linger_bytes += n;
        if (c->linger_bytes > LINGER_MAX_BYTES)
            conn_close(c, NULL);
        return;
    }
    if (c->state == CONN_STREAM) {
        stream_on_read(c->st);
        return;
    }
    conn_process(c);
    if (c->state != CONN_DEAD)
        update_events(c);
}

/* EOF and errors.  libevent has already stopped reading after an EOF. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_ERROR) {
        int e = EVUTIL_SOCKET_ERROR();
        conn_close(c, e == ECONNRESET || e == EPIPE ? NULL : evutil_socket_error_to_string(e));
        return;
    }
    if (what & BEV_EVENT_EOF) {
        c->peer_eof = true;
        if (c->state == CONN_LINGER || c->state == CONN_STREAM) {
            conn_close(c, NULL);
            return;
        }
        conn_process(c);
        if (c->state != CONN_DEAD)
            update_events(c);
    }
}

/* Close now, or after the pending output is written. */
static void conn_end(struct conn *c)
{
    if (out_pending(c) > 0)
        conn_set_state(c, CONN_CLOSING);
    else
        conn_close(c, NULL);
}

/* The contiguous front of the input (NULL if empty).  Never copies: the first chain as is. */
static const char *in_front(struct evbuffer *in, size_t *n)
{
    size_t len = evbuffer_get_contiguous_space(in);
    if (!len)
        len = evbuffer_get_length(in);
    *n = len;
    return len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : NULL;
}

/* Header block complete at p[0, end) (the front of the input): copy, drain, check, parse. */
static void conn_parse_head(struct conn *c, const char *p, size_t end)
{
    size_t lead = c->scan.lead, blen = end - lead;
    if (c->hbuf_cap < blen + 1) {
        free(c->hbuf);
        c->hbuf_cap = blen + 1 > 1024 ? blen + 1 : 1024;
        c->hbuf = xmalloc(c->hbuf_cap);
    }
    memcpy(c->hbuf, p + lead, blen);
    c->hbuf[blen] = 0;
    evbuffer_drain(bufferevent_get_input(c->bev), end);
    if (c->nodelay_pending) {
        /* at the first request, not at accept: a socket that never sends one (a flood) costs
         * no system call for it */
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->nodelay_pending = false;
    }
    head_scan_init(&c->scan);

    struct head_info hi;
    head_check(c->hbuf, blen, &hi);
    if (hi.err) {
        conn_reject(c, hi.err, NULL);
        return;
    }
    const char *details;
    int err = http_read_head(&c->rd, &c->req, c->hbuf, blen, &hi, (size_t)g_cfg->max_body_bytes,
                             &details);
    if (err) {
        conn_reject(c, err, details);
        return;
    }
    struct http_request *r = &c->req;
    const struct http_hdr *expect = http_known(r, H_EXPECT);
    if (expect) {
        if (!str_ieq(expect->value, expect->vlen, "100-continue")) {
            conn_reject(c, FDE_EXPECT, NULL);
            return;
        }
        /* queued ahead of the final answer, which cannot exist before the body does */
        if (r->has_body && !r->complete && r->minor >= 1)
            evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    if (r->complete) {
        conn_set_state(c, CONN_BUSY);
        dispatch_request(c);
        return;
    }
    conn_set_state(c, CONN_BODY);
}

/* Feed buffered body bytes to http_parser, one contiguous chain at a time, draining what it
 * consumed. */
static void conn_read_body(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    for (;;) {
        size_t avail;
        const char *p = in_front(in, &avail);
        if (!p)
            return;
        size_t np;
        const char *details;
        int err = http_read_body(&c->rd, p, avail, &np, &details);
        if (err) {
            conn_reject(c, err, details);
            return;
        }
        evbuffer_drain(in, np);
        if (c->req.complete) {
            conn_set_state(c, CONN_BUSY);
            dispatch_request(c);
            return;
        }
        if (np < avail)
            return; /* not expected without a pause or an error; wait rather than spin */
    }
}

/* Scan for the end of the header block.  Scans the contiguous front of the input first and
 * pulls up more only while the block may still end beyond it, never more than the limit
 * needs: max-header-bytes past the leading empty lines. */
static int scan_head(struct conn *c, struct evbuffer *in, size_t avail, const char **p, size_t *end,
                     int *err)
{
    size_t have;
    *p = in_front(in, &have);
    for (;;) {
        int r = head_scan(&c->scan, *p, have, end, err);
        if (r != HS_MORE || have >= avail || have - c->scan.lead > (size_t)g_cfg->max_header_bytes)
            return r;
        size_t want = c->scan.lead + (size_t)g_cfg->max_header_bytes + 2;
        if (want > avail)
            want = avail;
        *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
        have = want;
    }
}

/* Take as many buffered requests as the state allows. */
static void conn_process(struct conn *c)
{
    if (c->in_process)
        return;
    c->in_process = true;
    for (;;) {
        if (c->state == CONN_IDLE || c->state == CONN_HEAD) {
            struct evbuffer *in = bufferevent_get_input(c->bev);
            size_t avail = evbuffer_get_length(in);
            if (avail == 0) {
                if (c->peer_eof || (g_shutting_down && c->state == CONN_IDLE))
                    conn_end(c);
                break;
            }
            if (out_pending(c) >= OUT_HIGH_WATER) {
                conn_flush(c);
                if (c->state != CONN_IDLE && c->state != CONN_HEAD)
                    continue;
                if (out_pending(c) >= OUT_HIGH_WATER)
                    break; /* the client is not reading its answers: stop taking requests */
            }
            if (c->state == CONN_IDLE) {
                http_request_reset(&c->req);
                exchange_begin(c);
                conn_set_state(c, CONN_HEAD);
            }
            size_t end = 0;
            const char *p = NULL;
            int err = FDE_NONE;
            int r = scan_head(c, in, avail, &p, &end, &err);
            if (r == HS_BAD) {
                conn_reject(c, err, NULL);
                break;
            }
            if (r == HS_MORE) {
                if (avail - c->scan.lead > (size_t)g_cfg->max_header_bytes)
                    conn_reject(c, FDE_HEAD_TOO_LARGE, NULL);
                else if (c->peer_eof)
                    conn_close(c, NULL);
                break;
            }
            if (end - c->scan.lead > (size_t)g_cfg->max_header_bytes) {
                conn_reject(c, FDE_HEAD_TOO_LARGE, NULL);
                break;
            }
            conn_parse_head(c, p, end);
            continue;
        }
        if (c->state == CONN_BODY) {
            conn_read_body(c);
            if (c->state == CONN_BODY) {
                /* http_parser took every byte we had: wait for more */
                if (c->peer_eof)
                    conn_close(c, NULL);
                break;
            }
            continue;
        }
        break; /* BUSY, CLOSING, LINGER, DEAD */
    }
    c->in_process = false;
    conn_flush(c); /* the answers of this batch, in one write */
}

/* ---- lifetime ---- */
static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    conn_reap();
}

void conn_reap(void)
{
    while (dead_head) {
        struct conn *c = dead_head;
        dead_head = c->next;
        free(c->hbuf);
        sbuf_free(&c->out);
        http_request_free(&c->req);
        struct exchange *x = &c->ex;
        sbuf_free(&x->claims);
        sbuf_free(&x->hjson);
        sbuf_free(&x->pjson);
        sbuf_free(&x->qjson);
        sbuf_free(&x->pbuf);
        sbuf_free(&x->pvals);
        sbuf_free(&x->abuf);
        sbuf_free(&x->wbody);
        stream_free(c->st);
        free(c);
    }
}

static void conn_close(struct conn *c, const char *why)
{
    if (c->state == CONN_DEAD)
        return;
    if (why)
        log_debug(c->subject, "closing: %s", why);
    /* clears the callbacks, drops unsent output and closes the socket (BEV_OPT_CLOSE_ON_FREE,
     * when libevent finalizes the bufferevent, after the current callback); safe inside this
     * bufferevent's own callbacks, which hold a reference */
    if (c->st)
        stream_detach(c->st);
    bufferevent_free(c->bev);
    c->bev = NULL;
    c->fd = -1;
    exchange_end(c);
    conn_set_state(c, CONN_DEAD);
    admit_detach(&c->adm);
    if (c->prev)
        c->prev->next = c->next;
    else
        live_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    nlive--;
    c->prev = NULL;
    c->next = dead_head;
    dead_head = c;
    if (reap_ev)
        event_active(reap_ev, 0, 0);
    frontd_maybe_exit();
}

static void format_peer(struct conn *c, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
        if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip, '.'))
            memmove(ip, ip + 7, strlen(ip + 7) + 1);
    } else if (sa->sa_family == AF_UNIX) {
        snprintf(ip, sizeof(ip), "unix");
    }
    snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", ip);
    snprintf(c->subject, sizeof(c->subject), "C-%llu %s:%d", (unsigned long long)c->id, ip, port);
}

void conn_accept(int fd, const struct sockaddr *sa, const struct admit_key *k, bool over_limit,
                 bool metrics_port)
{
    if (!reap_ev)
        reap_ev = event_new(g_base, -1, 0, reap_cb, NULL);
    struct bufferevent *bev = bufferevent_socket_new(g_base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        log_error("conn", "bufferevent_socket_new failed; dropping the connection");
        close(fd);
        return;
    }
    struct conn *c = xcalloc(1, sizeof(*c));
    c->id = ++last_id;
    c->fd = fd;
    c->bev = bev;
    c->over_limit = over_limit;
    c->metrics_port = metrics_port;
    c->peer_key = *k;
    c->accept_ms = now_ms();
    admit_attach(&c->adm, k);
    c->nodelay_pending = sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
    format_peer(c, sa);
    /* the input never holds more than one header block at its limit plus a little: beyond
     * that the block is a 431 anyway, and pipelined requests wait in the kernel */
    size_t cap = (size_t)g_cfg->max_header_bytes + 1024;
    bufferevent_setwatermark(bev, EV_READ, 0, cap < IN_MIN_CAP ? IN_MIN_CAP : cap);
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    bufferevent_disable(bev, EV_WRITE); /* on by default; see conn_flush() */
    head_scan_init(&c->scan);
    http_request_init(&c->req);
    c->next = live_head;
    if (live_head)
        live_head->prev = c;
    live_head = c;
    nlive++;
    c->state = CONN_IDLE;
    conn_set_state(c, CONN_IDLE);
}

/* Idle or lingering, and nothing on either side: not in our input, not in the kernel's receive
 * queue (a request already sent is never lost to eviction, even before we have read it; nor
 * is the answer a lingering client has yet to read destroyed by the reset that unread input
 * would cause), and no answer still being written. */
bool conn_evictable(const struct admit_node *n, void *arg)
{
    const struct conn *c = (const struct conn *)((const char *)n - offsetof(struct conn, adm));
    (void)arg;
    if ((c->state != CONN_IDLE && c->state != CONN_LINGER) || c->in_process || in_len(c) > 0 ||
        out_pending(c) > 0)
        return false;
    int queued = 0;
    return ioctl(c->fd, FIONREAD, &queued) == 0 && queued == 0;
}

void conn_evict(struct admit_node *n)
{
    struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, adm));
    g_stats.evicted++;
    log_debug(c->subject, "evicted: idle at a connection limit");
    conn_close(c, NULL);
}

void conn_janitor(uint64_t now)
{
    struct conn *next;
    for (struct conn *c = live_head; c; c = next) {
        next = c->next;
        if (!c->deadline_ms || now < c->deadline_ms)
            continue;
        switch (c->state) {
        case CONN_HEAD: conn_reject(c, FDE_HEAD_TIMEOUT, NULL); break;
        case CONN_BODY: conn_reject(c, FDE_BODY_TIMEOUT, NULL); break;
        case CONN_IDLE: /* keep-alive expiry is silent */
        case CONN_CLOSING:
        case CONN_LINGER: conn_close(c, NULL); break;
        case CONN_BUSY:
        case CONN_STREAM: /* stream_tick() */
        case CONN_DEAD: break;
        }
    }
}

void conn_shutdown_begin(void)
{
    struct conn *next;
    for (struct conn *c = live_head; c; c = next) {
        next = c->next;
        if (c->state == CONN_IDLE && in_len(c) == 0)
            conn_close(c, NULL);
        else if (c->state == CONN_LINGER)
            conn_close(c, NULL);
    }
}

void conn_close_all(void)
{
    while (live_head)
        conn_close(live_head, NULL);
    conn_reap();
    if (reap_ev)
        event_free(reap_ev);
    reap_ev = NULL;
}
