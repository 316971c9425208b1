/*
 * stream.h — event streams to clients: WebSocket sessions (framing by wslay) and Server-Sent
 * Events, the registry of subscribers by user, and the fan-out of the event feed (listen.c).
 *
 * A subscription is authorized by the database first (the route's function, as the caller);
 * dispatch then hands the connection over with stream_open().  A new subscriber catches up
 * from its last_event_id on the feed connection (so catch-up and live reads are serialized
 * and nothing falls between them), then goes live: every feed row for its user and topic with
 * a position above the last one it got is sent.  A connection owns its stream.
 */
#ifndef FRONTD_STREAM_H
#define FRONTD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router.h"
#include "util.h"

struct conn;
struct stream;

/* What the subscription function answered, and what the handshake carried. */
struct stream_params {
    enum route_stream kind;
    const char *user;    /* watched user id (uuid text) */
    const char *topic;   /* "workflows" or "notifications" */
    const char *channel; /* "workflows:<user id>" */
    int64_t from;        /* resume after this position */
    int64_t exp;         /* the credential's exp (unix seconds), 0 = none */
    const char *ws_key;  /* Sec-WebSocket-Key (WebSocket) */
    size_t ws_key_len;
    bool ws_bearer; /* the token came as subprotocol "bearer": echo it */
    /* the credential, re-checked every ws-recheck-interval (revocation, deactivation) */
    const char *claims; /* verified JWT payload, or NULL */
    size_t claims_len;
    const char *api_key; /* or an API key */
    size_t api_key_len;
    const char *peer;
};

/* Before the upgrade: 0 if a stream for user may open, else the catalog entry (errors.h) to
 * refuse with: the user's limit (429) or frontd's (503). */
int stream_admit(const char *user);
/* Answer the handshake (101 or the SSE head), send the connection message, register and
 * start the catch-up.  The connection now belongs to the stream protocol. */
struct stream *stream_open(struct conn *c, const struct stream_params *p);
/* Bytes arrived / the output drained.  When the connection closes, detach (off the registry
 * at once); the reaper frees it after the current callback, so code holding s stays safe. */
void stream_on_read(struct stream *s);
void stream_on_drained(struct stream *s);
void stream_detach(struct stream *s);
void stream_free(struct stream *s);

/* The feed (listen.c): a live row, and a subscriber's catch-up rows and end. */
void stream_feed_row(int64_t pos, const char *user, const char *topic, const char *msg, size_t len);
void stream_catchup_row(uint64_t id, int64_t pos, const char *msg, size_t len);
void stream_catchup_end(uint64_t id, int64_t upto);
/* Write out what the rows fanned out since the last call queued (one write per socket for a
 * whole batch of rows). */
void stream_flush_dirty(void);
/* The feed lost its position (a new one is set): every subscriber catches up again. */
void stream_feed_reset(void);

/* The credential re-check (listen.c): the JSON array of every open stream's credentials
 * for flov7.stream_credentials_check(); false when there is none.  ids[i] is the stream of
 * element i+1 (the caller frees ids).  Then the failed ones are closed with 4001. */
bool stream_recheck_request(struct sbuf *json, uint64_t **ids, int *n);
void stream_credentials_failed(uint64_t id);
/* The registry (listen.c): this instance's open streams for flov7.realtime_sync(). */
void stream_registry_json(struct sbuf *json);

/* A request waiting for an execution's end (execute ?wait=): a hidden subscriber of the
 * user's workflows events after position after, which calls dispatch_wait_done(c, true) on the
 * execution's terminal event, or (c, false) at the deadline.  Owned by the exchange. */
struct stream *stream_wait_open(struct conn *c, const char *user, const char *execution_id,
                                int64_t after, uint64_t deadline_ms);

/* Pings, dead peers, expired credentials, slow consumers; from the janitor. */
void stream_tick(uint64_t now_ms);
/* SIGTERM: waiting requests answer now (what they have: 202 for execute ?wait=). */
void stream_release_waiters(void);
/* SIGTERM, once the HTTP requests are answered: close every stream with 1001. */
void stream_shutdown_begin(void);
int stream_count(void);
void stream_stats(int *open, uint64_t *events_sent, uint64_t *closed_slow);

#endif
