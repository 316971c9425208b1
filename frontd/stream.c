/*
 * stream.c — WebSocket and SSE subscribers (see stream.h).
 *
 * WebSocket framing is wslay's: its recv callback reads the connection's input evbuffer, its
 * send callback appends to the output evbuffer (never refusing: the backlog is measured there,
 * and a consumer that lets it pass ws-max-buffer is closed with 1008 rather than growing
 * frontd's memory).  wslay checks masking, reserved bits, opcodes, control frames, close codes
 * and the message size (1009); a text message is checked for UTF-8 here, after reassembly, so
 * a code point split across fragments is fine (1007 otherwise).
 */
#define _GNU_SOURCE /* memmem */
#include "stream.h"
#include "conn.h"
#include "dispatch.h"
#include "errors.h"
#include "frontd.h"
#include "listen.h"
#include "streamcheck.h"
#include "log.h"
#include "util.h"
#include "wsproto.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <json-c/json.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wslay/wslay.h>

#define NBUCKETS 1024

struct stream {
    struct conn *c;
    uint64_t id;
    enum route_stream kind;
    char user[40];
    char topic[16];
    char channel[64];
    int64_t pos;   /* the last position sent (or passed over) */
    bool live;     /* caught up: takes the feed */
    bool sent_any; /* an event went out (a resume message comes too late then) */
    bool closing;  /* a close frame is queued or sent: nothing more goes out */
    bool detached; /* the connection closed: only memory left, freed by the reaper */
    bool dirty;    /* has output of the current feed batch, not yet written */
    int64_t exp;   /* credential expiry, unix seconds; 0 = none */
    char *claims;  /* the credential (owned), for the re-check */
    char *api_key;
    char peer[48];
    int64_t since_ms;     /* wall clock, for the registry */
    bool waiter;          /* no socket of its own: a request waiting for an execution's end */
    char execution[40];   /* ... this execution */
    uint64_t deadline_ms; /* ... until then */
    uint64_t last_in_ms, ping_ms;
    wslay_event_context_ptr ws;
    struct stream *hnext;       /* same bucket */
    struct stream *prev, *next; /* all streams */
};

static struct stream *buckets[NBUCKETS];
static struct stream *all;
static int nstreams;
static uint64_t last_id;
static uint64_t events_sent, closed_slow;
static int opened_since_trim; /* streams opened since the heap was last trimmed */
static uint64_t last_open_ms;
static int nwaiters; /* of nstreams, the waiting requests */

static unsigned bucket_of(const char *user)
{
    unsigned h = 2166136261u;
    for (const char *p = user; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % NBUCKETS;
}

int stream_count(void)
{
    return nstreams - nwaiters;
}

void stream_stats(int *open, uint64_t *sent, uint64_t *slow)
{
    *open = nstreams - nwaiters;
    *sent = events_sent;
    *slow = closed_slow;
}

/* Into the registry: its user's bucket and the list of all (stream_detach takes it out). */
static void registry_add(struct stream *s)
{
    unsigned b = bucket_of(s->user);
    s->hnext = buckets[b];
    buckets[b] = s;
    s->next = all;
    if (all)
        all->prev = s;
    all = s;
    nstreams++;
}

static struct stream *find(uint64_t id)
{
    for (struct stream *s = all; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

int stream_admit(const char *user)
{
    if (nstreams - nwaiters >= g_cfg->ws_max_connections)
        return FDE_STREAMS_SERVER;
    int mine = 0;
    for (struct stream *s = buckets[bucket_of(user)]; s; s = s->hnext)
        if (strcmp(s->user, user) == 0 && !s->closing && !s->waiter)
            mine++;
    if (mine >= g_cfg->ws_max_per_user)
        return FDE_STREAMS_USER;
    return FDE_NONE;
}

static void iso_now(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%06ldZ", ts.tv_nsec / 1000);
}

/* ---- output ---- */

static struct evbuffer *out_of(struct stream *s)
{
    return bufferevent_get_output(conn_bev(s->c));
}

static void ws_flush(struct stream *s)
{
    if (s->detached)
        return;
    if (s->ws && wslay_event_want_write(s->ws) && wslay_event_send(s->ws) != 0) {
        conn_stream_close(s->c, true);
        return;
    }
    conn_stream_flush(s->c);
}

/* Queue a close (WebSocket) or end the response (SSE); the connection closes once it is out. */
static void stream_close(struct stream *s, uint16_t code, const char *reason)
{
    if (s->closing || s->detached)
        return;
    s->closing = true;
    s->live = false;
    if (s->ws) {
        wslay_event_queue_close(s->ws, code, (const uint8_t *)reason, reason ? strlen(reason) : 0);
        ws_flush(s);
    } else {
        conn_stream_close(s->c, false);
    }
}

/* One message to the client: a text frame, or an SSE event.  sse_id < 0: no id line. */
static void send_text(struct stream *s, const char *msg, size_t len, const char *sse_event,
                      int64_t sse_id)
{
    if (s->closing || s->detached)
        return;
    if (s->ws) {
        struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)msg, len};
        if (wslay_event_queue_msg(s->ws, &m) != 0)
            return;
    } else {
        struct evbuffer *o = out_of(s);
        if (sse_id >= 0)
            evbuffer_add_printf(o, "id: %lld\n", (long long)sse_id);
        evbuffer_add_printf(o, "event: %s\ndata: ", sse_event);
        evbuffer_add(o, msg, len); /* JSON text: no newline inside */
        evbuffer_add(o, "\n\n", 2);
    }
}

/* The SSE event name of a message: its "type" (messages come from flov7.event_message). */
static void message_type(const char *msg, size_t len, char out[40])
{
    snprintf(out, 40, "message");
    const char *p = memmem(msg, len, "\"type\": \"", 9);
    size_t skip = 9;
    if (!p) {
        p = memmem(msg, len, "\"type\":\"", 8);
        skip = 8;
    }
    if (!p)
        return;
    p += skip;
    size_t i = 0;
    while (i < 39 && p + i < msg + len && p[i] != '"' && p[i] != '\n')
        i++;
    memcpy(out, p, i);
    out[i] = 0;
}

/* Whether a message tells that execution's end (flov7.event_message of execution.*). */
static bool ends_execution(const char *msg, size_t len, const char *execution)
{
    char want[80];
    snprintf(want, sizeof(want), "\"execution_id\": \"%s\"", execution);
    if (!memmem(msg, len, want, strlen(want)))
        return false;
    static const char *const ends[] = {"\"event\": \"execution.completed\"",
                                       "\"event\": \"execution.failed\"",
                                       "\"event\": \"execution.cancelled\""};
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
        if (memmem(msg, len, ends[i], strlen(ends[i])))
            return true;
    return false;
}

static void wait_over(struct stream *s, bool ended)
{
    struct conn *c = s->c;
    stream_detach(s); /* freed with the exchange */
    dispatch_wait_done(c, ended);
}

/*
 * An event, encoded once for all the sockets it goes to: the WebSocket text frame (server
 * frames are not masked, so every socket sends the same bytes) and the SSE event, each shared
 * by reference between the output buffers that carry it, freed with the last of them.
 */
struct shared {
    int refs;
    size_t len;
    char data[];
};

struct outmsg {
    int64_t pos;
    const char *msg;
    size_t len;
    struct shared *ws, *sse;
};

static void shared_unref(const void *data, size_t len, void *arg)
{
    struct shared *sh = arg;
    (void)data;
    (void)len;
    if (--sh->refs == 0)
        free(sh);
}

static struct shared *ws_frame_of(struct outmsg *m)
{
    if (m->ws)
        return m->ws;
    size_t hl = m->len < 126 ? 2 : m->len < 65536 ? 4 : 10;
    struct shared *sh = xmalloc(sizeof(*sh) + hl + m->len);
    unsigned char *h = (unsigned char *)sh->data;
    h[0] = 0x81; /* FIN, text */
    if (hl == 2) {
        h[1] = (unsigned char)m->len;
    } else if (hl == 4) {
        h[1] = 126;
        h[2] = (unsigned char)(m->len >> 8);
        h[3] = (unsigned char)m->len;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)m->len >> (56 - 8 * i));
    }
    memcpy(sh->data + hl, m->msg, m->len);
    sh->len = hl + m->len;
    sh->refs = 1; /* the outmsg's own, dropped by outmsg_done */
    return m->ws = sh;
}

static struct shared *sse_event_of(struct outmsg *m)
{
    if (m->sse)
        return m->sse;
    char type[40], head[96];
    message_type(m->msg, m->len, type);
    int hl = snprintf(head, sizeof(head), "id: %lld\nevent: %s\ndata: ", (long long)m->pos, type);
    struct shared *sh = xmalloc(sizeof(*sh) + (size_t)hl + m->len + 2);
    memcpy(sh->data, head, (size_t)hl);
    memcpy(sh->data + hl, m->msg, m->len); /* JSON text: no newline inside */
    memcpy(sh->data + hl + m->len, "\n\n", 2);
    sh->len = (size_t)hl + m->len + 2;
    sh->refs = 1;
    return m->sse = sh;
}

static void outmsg_done(struct outmsg *m)
{
    if (m->ws)
        shared_unref(NULL, 0, m->ws);
    if (m->sse)
        shared_unref(NULL, 0, m->sse);
}

/* Streams given output by the current feed batch: written once it has been fanned out. */
static struct stream **dirty;
static size_t ndirty, cap_dirty;

static void mark_dirty(struct stream *s)
{
    if (s->dirty)
        return;
    if (ndirty == cap_dirty) {
        cap_dirty = cap_dirty ? cap_dirty * 2 : 256;
        dirty = xrealloc(dirty, cap_dirty * sizeof(*dirty));
    }
    s->dirty = true;
    dirty[ndirty++] = s;
}

/* A client that does not read its events: the backlog would only grow.  No more events, a
 * close behind what is queued (a frame half written to the socket cannot be taken back), and
 * the connection ends once that is out or request-timeout passes. */
static void close_slow(struct stream *s)
{
    log_info(conn_subject(s->c), "stream closed: the client does not read its events");
    closed_slow++;
    stream_close(s, 1008, "slow consumer: too many unread events");
    if (!s->detached) /* writing the close may have found the connection gone */
        conn_stream_close(s->c, false);
}

void stream_flush_dirty(void)
{
    /* within one callback: a stream closed meanwhile is detached, not yet freed */
    for (size_t i = 0; i < ndirty; i++) {
        struct stream *s = dirty[i];
        s->dirty = false;
        if (s->detached)
            continue;
        conn_stream_flush(s->c);
        /* what the kernel would not take: more than ws-max-buffer waits for this client */
        if (!s->detached && !s->closing &&
            evbuffer_get_length(out_of(s)) > (size_t)g_cfg->ws_max_buffer)
            close_slow(s);
    }
    ndirty = 0;
}

static void deliver(struct stream *s, struct outmsg *m)
{
    if (m->pos <= s->pos || s->closing)
        return;
    if (s->waiter) {
        s->pos = m->pos;
        if (ends_execution(m->msg, m->len, s->execution))
            wait_over(s, true);
        return;
    }
    s->pos = m->pos;
    s->sent_any = true;
    events_sent++;
    struct evbuffer *o = out_of(s);
    struct shared *sh;
    if (s->ws) {
        /* wslay's own queue (pongs) goes out first, whole: frames never interleave */
        if (wslay_event_want_write(s->ws) && wslay_event_send(s->ws) != 0) {
            conn_stream_close(s->c, true);
            return;
        }
        sh = ws_frame_of(m);
    } else {
        sh = sse_event_of(m);
    }
    sh->refs++;
    evbuffer_add_reference(o, sh->data, sh->len, shared_unref, sh);
    mark_dirty(s);
    /* judged after the batch is written (stream_flush_dirty), so that a reader keeping up is
     * not closed for one large batch; this bound only keeps a batch's memory in check */
    if (evbuffer_get_length(o) > 8 * (size_t)g_cfg->ws_max_buffer)
        close_slow(s);
}

static void send_small(struct stream *s, const char *json)
{
    send_text(s, json, strlen(json), "message", -1);
    ws_flush(s);
}

/* ---- the feed ---- */

void stream_feed_row(int64_t pos, const char *user, const char *topic, const char *msg, size_t len)
{
    struct outmsg m = {pos, msg, len, NULL, NULL};
    if (!user || !*user) {
        /* the system stream: every notifications subscriber */
        for (struct stream *s = all, *n; s; s = n) {
            n = s->next;
            if (s->live && strcmp(s->topic, topic) == 0)
                deliver(s, &m);
        }
    } else {
        for (struct stream *s = buckets[bucket_of(user)], *n; s; s = n) {
            n = s->hnext;
            if (s->live && strcmp(s->user, user) == 0 && strcmp(s->topic, topic) == 0)
                deliver(s, &m);
        }
    }
    outmsg_done(&m);
}

void stream_catchup_row(uint64_t id, int64_t pos, const char *msg, size_t len)
{
    struct stream *s = find(id);
    struct outmsg m = {pos, msg, len, NULL, NULL};
    if (s && !s->live)
        deliver(s, &m);
    outmsg_done(&m);
}

void stream_catchup_end(uint64_t id, int64_t upto)
{
    struct stream *s = find(id);
    if (!s || s->closing)
        return;
    if (upto > s->pos)
        s->pos = upto;
    s->live = true;
}

/* From position from: live at once when the feed is not ahead, else a catch-up first. */
static void start_from(struct stream *s, int64_t from)
{
    s->pos = from;
    int64_t feed = listen_feed_pos();
    if (feed >= 0 && from >= feed) {
        s->live = true;
        return;
    }
    s->live = false;
    listen_catchup(s->id, s->user, s->topic, from);
}

void stream_feed_reset(void)
{
    for (struct stream *s = all; s; s = s->next)
        if (!s->closing && s->live)
            start_from(s, s->pos);
}

/* ---- WebSocket callbacks ---- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *arg)
{
    struct stream *s = arg;
    (void)flags;
    if (s->detached) {
        /* the connection ended inside this wslay_event_recv (our close went out) */
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    struct evbuffer *in = bufferevent_get_input(conn_bev(s->c));
    int n = evbuffer_remove(in, buf, len);
    if (n <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *arg)
{
    struct stream *s = arg;
    (void)flags;
    if (s->detached || evbuffer_add(out_of(s), data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

/* A client message: {"type":"ping"}, {"type":"resume","last_event_id":N}; anything else that is
 * JSON is ignored, and what is not JSON gets an error message (the socket stays open). */
static void client_message(struct stream *s, const char *msg, size_t len)
{
    char ts[32], out[160];
    iso_now(ts);
    struct json_tokener *tk = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tk, msg, (int)len);
    bool ok = o && json_tokener_get_error(tk) == json_tokener_success &&
              json_tokener_get_parse_end(tk) == len;
    json_tokener_free(tk);
    if (!ok) {
        json_object_put(o);
        snprintf(out, sizeof(out),
                 "{\"type\":\"error\",\"message\":\"Invalid JSON format\",\"timestamp\":\"%s\"}",
                 ts);
        send_small(s, out);
        return;
    }
    struct json_object *t = NULL, *last = NULL;
    const char *type = json_object_is_type(o, json_type_object) &&
                               json_object_object_get_ex(o, "type", &t) &&
                               json_object_is_type(t, json_type_string)
                           ? json_object_get_string(t)
                           : "";
    if (strcmp(type, "ping") == 0) {
        snprintf(out, sizeof(out), "{\"type\":\"pong\",\"timestamp\":\"%s\"}", ts);
        send_small(s, out);
    } else if (json_object_is_type(o, json_type_object) &&
               json_object_object_get_ex(o, "last_event_id", &last)) {
        int64_t from = json_object_is_type(last, json_type_int) ? json_object_get_int64(last) : -1;
        if (json_object_is_type(last, json_type_string)) {
            char *end;
            const char *v = json_object_get_string(last);
            long long x = strtoll(v, &end, 10);
            from = *v && !*end ? x : -1;
        }
        if (from < 0 || s->sent_any || !s->live) {
            snprintf(out, sizeof(out),
                     "{\"type\":\"error\",\"message\":\"%s\",\"timestamp\":\"%s\"}",
                     from < 0 ? "last_event_id must be a position (an integer, 0 or more)"
                              : "last_event_id must come before any event (reconnect with "
                                "?last_event_id= instead)",
                     ts);
            send_small(s, out);
        } else if (from < s->pos) {
            start_from(s, from);
        }
    }
    json_object_put(o);
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                      void *arg)
{
    struct stream *s = arg;
    (void)ctx;
    if (s->closing || wslay_is_ctrl_frame(a->opcode))
        return; /* wslay answers pings and closes itself */
    if (a->opcode == WSLAY_TEXT_FRAME) {
        if (!utf8_valid((const char *)a->msg, a->msg_length)) {
            stream_close(s, 1007, "text message is not valid UTF-8");
            return;
        }
        client_message(s, (const char *)a->msg, a->msg_length);
    } else {
        stream_close(s, 1003, "binary messages are not accepted");
    }
}

/* RFC 6455 §5.5.1: a close body is empty or starts with a 2-byte code; wslay takes a 1-byte
 * body for "no code" and would echo it, so the 1002 is queued first. */
static void ws_frame_start_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *a, void *arg)
{
    (void)arg;
    if (a->opcode == WSLAY_CONNECTION_CLOSE && a->payload_length == 1)
        wslay_event_queue_close(ctx, 1002, (const uint8_t *)"close body of 1 byte", 20);
}

static const struct wslay_event_callbacks ws_callbacks = {
    ws_recv_cb, ws_send_cb, NULL, ws_frame_start_cb, NULL, NULL, ws_msg_cb,
};

/* ---- lifetime ---- */

struct stream *stream_open(struct conn *c, const struct stream_params *p)
{
    struct stream *s = xcalloc(1, sizeof(*s));
    s->c = c;
    s->id = ++last_id;
    s->kind = p->kind;
    snprintf(s->user, sizeof(s->user), "%s", p->user);
    snprintf(s->topic, sizeof(s->topic), "%s", p->topic);
    snprintf(s->channel, sizeof(s->channel), "%s", p->channel);
    s->exp = p->exp;
    s->claims = p->claims && p->claims_len ? xstrndup(p->claims, p->claims_len) : NULL;
    s->api_key = p->api_key && p->api_key_len ? xstrndup(p->api_key, p->api_key_len) : NULL;
    snprintf(s->peer, sizeof(s->peer), "%s", p->peer ? p->peer : "");
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    s->since_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    s->last_in_ms = s->ping_ms = now_ms();
    c->st = s; /* before any output: a drained write calls back into the stream */
    char extra[256];
    if (p->kind == STREAM_WEBSOCKET) {
        char accept[29];
        ws_accept_value(p->ws_key, p->ws_key_len, accept);
        snprintf(extra, sizeof(extra),
                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s",
                 accept, p->ws_bearer ? "Sec-WebSocket-Protocol: bearer\r\n" : "");
        if (wslay_event_context_server_init(&s->ws, &ws_callbacks, s) != 0) {
            c->st = NULL;
            free(s->claims);
            free(s->api_key);
            free(s);
            return NULL;
        }
        wslay_event_config_set_max_recv_msg_length(s->ws, (uint64_t)g_cfg->ws_max_message);
        conn_upgrade(c, 101, extra);
    } else {
        conn_upgrade(c, 200,
                     "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     "X-Accel-Buffering: no\r\n");
    }
    registry_add(s);
    opened_since_trim++;
    last_open_ms = now_ms();

    char ts[32], hello[256];
    iso_now(ts);
    snprintf(hello, sizeof(hello),
             "{\"type\":\"connection\",\"status\":\"connected\",\"channel\":\"%s\","
             "\"timestamp\":\"%s\",\"event_id\":%lld}",
             s->channel, ts, (long long)p->from);
    send_text(s, hello, strlen(hello), "connection", -1);
    ws_flush(s);
    start_from(s, p->from);
    /* frames a client sent right behind its handshake */
    if (!s->detached && evbuffer_get_length(bufferevent_get_input(conn_bev(c))) > 0)
        stream_on_read(s);
    return s;
}

void stream_on_read(struct stream *s)
{
    if (s->detached)
        return;
    s->last_in_ms = now_ms();
    if (!s->ws) {
        /* an SSE client has nothing to say: drop what it sends */
        struct evbuffer *in = bufferevent_get_input(conn_bev(s->c));
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (wslay_event_recv(s->ws) != 0) {
        /* a framing error below wslay's message layer (a fragmented or oversized control
         * frame, a bad length): wslay queued a close without a code; say 1002 ourselves,
         * behind what is already queued, and end the connection */
        static const unsigned char close1002[4] = {0x88, 0x02, 0x03, 0xea};
        if (s->detached)
            return;
        s->closing = true;
        s->live = false;
        evbuffer_add(out_of(s), close1002, sizeof(close1002));
        conn_stream_close(s->c, false);
        return;
    }
    ws_flush(s);
}

void stream_on_drained(struct stream *s)
{
    if (s->detached)
        return;
    if (s->ws && !wslay_event_want_read(s->ws) && !wslay_event_want_write(s->ws))
        conn_stream_close(s->c, false); /* both closes exchanged (or ours sent after an error) */
    else if (s->ws && wslay_event_get_close_sent(s->ws) && !wslay_event_want_write(s->ws))
        conn_stream_close(s->c, false); /* our close is out: no need to wait for theirs */
}

void stream_detach(struct stream *s)
{
    if (s->detached)
        return;
    s->detached = s->closing = true;
    s->live = false;
    struct stream **pp = &buckets[bucket_of(s->user)];
    while (*pp && *pp != s)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = s->hnext;
    if (s->prev)
        s->prev->next = s->next;
    else
        all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    nstreams--;
    if (s->waiter)
        nwaiters--;
    s->c = NULL;
}

void stream_free(struct stream *s)
{
    if (!s)
        return;
    stream_detach(s);
    if (s->ws)
        wslay_event_context_free(s->ws);
    free(s->claims);
    free(s->api_key);
    free(s);
}

struct stream *stream_wait_open(struct conn *c, const char *user, const char *execution_id,
                                int64_t after, uint64_t deadline_ms)
{
    struct stream *s = xcalloc(1, sizeof(*s));
    s->c = c;
    s->id = ++last_id;
    s->waiter = true;
    snprintf(s->user, sizeof(s->user), "%s", user);
    snprintf(s->topic, sizeof(s->topic), "workflows");
    snprintf(s->execution, sizeof(s->execution), "%s", execution_id);
    s->deadline_ms = deadline_ms;
    registry_add(s);
    nwaiters++;
    start_from(s, after);
    return s;
}

bool stream_recheck_request(struct sbuf *json, uint64_t **ids, int *n)
{
    *n = 0;
    *ids = NULL;
    if (!all)
        return false;
    *ids = xmalloc(sizeof(uint64_t) * (size_t)nstreams);
    sbuf_reset(json);
    sbuf_addc(json, '[');
    for (struct stream *s = all; s; s = s->next) {
        if (s->closing || s->waiter || (!s->claims && !s->api_key))
            continue;
        if (*n)
            sbuf_addc(json, ',');
        sbuf_adds(json, "{\"claims\":");
        if (s->claims)
            json_add_string(json, s->claims, strlen(s->claims), JSON_REPLACE);
        else
            sbuf_adds(json, "null");
        sbuf_adds(json, ",\"api_key\":");
        if (s->api_key)
            json_add_string(json, s->api_key, strlen(s->api_key), JSON_REPLACE);
        else
            sbuf_adds(json, "null");
        sbuf_adds(json, ",\"user_id\":");
        json_add_string(json, s->user, strlen(s->user), JSON_REPLACE);
        sbuf_addc(json, '}');
        (*ids)[(*n)++] = s->id;
    }
    sbuf_addc(json, ']');
    if (*n == 0) {
        free(*ids);
        *ids = NULL;
        return false;
    }
    return true;
}

void stream_credentials_failed(uint64_t id)
{
    struct stream *s = find(id);
    if (!s)
        return;
    log_info(conn_subject(s->c), "stream closed: its credentials were revoked");
    if (s->ws)
        stream_close(s, 4001, "credentials revoked");
    else
        conn_stream_close(s->c, false);
}

void stream_registry_json(struct sbuf *json)
{
    sbuf_reset(json);
    sbuf_addc(json, '[');
    bool first = true;
    for (struct stream *s = all; s; s = s->next) {
        if (s->closing || s->waiter)
            continue;
        if (!first)
            sbuf_addc(json, ',');
        first = false;
        sbuf_printf(json,
                    "{\"stream_id\":%llu,\"since\":%lld,\"kind\":\"%s\",\"topic\":\"%s\","
                    "\"user_id\":",
                    (unsigned long long)s->id, (long long)s->since_ms,
                    s->kind == STREAM_WEBSOCKET ? "websocket" : "sse", s->topic);
        json_add_string(json, s->user, strlen(s->user), JSON_REPLACE);
        sbuf_adds(json, ",\"channel\":");
        json_add_string(json, s->channel, strlen(s->channel), JSON_REPLACE);
        sbuf_adds(json, ",\"peer\":");
        json_add_string(json, s->peer, strlen(s->peer), JSON_REPLACE);
        sbuf_addc(json, '}');
    }
    sbuf_addc(json, ']');
}

void stream_tick(uint64_t now)
{
    /* after a burst of handshakes (each passed through the database: requests, results,
     * buffers), give the freed heap back to the system once things are quiet */
    if (opened_since_trim >= 256 && now - last_open_ms >= 1000) {
        opened_since_trim = 0;
        malloc_trim(0);
    }
    static uint64_t last_check;
    if (now - last_check >= (uint64_t)g_cfg->ws_recheck_interval_ms) {
        last_check = now;
        streamcheck_run(); /* the credential re-check and the registry sync */
    }
    int64_t wall = (int64_t)time(NULL);
    uint64_t every = (uint64_t)g_cfg->ws_ping_interval_ms;
    for (struct stream *s = all, *n; s; s = n) {
        n = s->next;
        if (s->closing)
            continue;
        if (s->waiter) {
            if (now >= s->deadline_ms)
                wait_over(s, false);
            continue;
        }
        if (s->exp && wall >= s->exp) {
            if (s->ws)
                stream_close(s, 4001, "token expired");
            else
                conn_stream_close(s->c, false);
            continue;
        }
        if (now - s->ping_ms < every)
            continue;
        if (s->ws && now - s->last_in_ms > 2 * every + every / 2) {
            /* no frame, not even a pong, for over two pings: the peer is gone */
            log_debug(conn_subject(s->c), "stream closed: no answer to pings");
            conn_stream_close(s->c, true);
            continue;
        }
        s->ping_ms = now;
        if (s->ws) {
            struct wslay_event_msg m = {WSLAY_PING, (const uint8_t *)"", 0};
            wslay_event_queue_msg(s->ws, &m);
            ws_flush(s);
        } else {
            evbuffer_add(out_of(s), ": ping\n\n", 8);
            conn_stream_flush(s->c);
        }
    }
}

void stream_release_waiters(void)
{
    for (struct stream *s = all, *n; s; s = n) {
        n = s->next;
        if (s->waiter && !s->closing)
            wait_over(s, false);
    }
}

void stream_shutdown_begin(void)
{
    for (struct stream *s = all, *n; s; s = n) {
        n = s->next;
        if (!s->waiter) /* a waiting request is an HTTP request: it drains like one */
            stream_close(s, 1001, "server going away");
    }
}
