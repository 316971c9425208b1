/*
 * pgconn.h — one non-blocking libpq connection driven by the event loop: PQconnectStart /
 * PQconnectPoll on the socket's readiness, then read/write events handed to the owner, and
 * reconnect with exponential backoff when the connection fails or PostgreSQL restarts.  Shared
 * by the pool (pool.c) and the LISTEN connection (listen.c).
 */
#ifndef FRONTD_PGCONN_H
#define FRONTD_PGCONN_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <libpq-fe.h>
#include <stdbool.h>

enum pgc_state { PGC_DOWN, PGC_CONNECTING, PGC_UP, PGC_CLOSED };

struct pgc;

struct pgc_ops {
    void (*up)(struct pgc *p);                    /* connected and ready */
    void (*readable)(struct pgc *p);              /* socket readable while up */
    void (*writable)(struct pgc *p);              /* socket writable, only after pgc_want_write */
    void (*down)(struct pgc *p, const char *why); /* was up or connecting; now closed */
};

struct pgc {
    char name[32];
    enum pgc_state state;
    PGconn *pg;
    int sock;
    struct event rev, wev, retry;
    bool rev_on, wev_on, events_set, retry_set;
    int backoff_ms;
    bool ever_up, pipeline;
    const struct pgc_ops *ops;
    void *owner;
};

/* Connection parameters for every pgc: the db-uri plus statement_timeout in options. */
void pgc_global_init(const char *conninfo, int statement_timeout_ms);
void pgc_global_free(void);

void pgc_init(struct pgc *p, const char *name, const struct pgc_ops *ops, void *owner,
              bool pipeline);
void pgc_connect(struct pgc *p);
/* Close after an error; calls ops->down and schedules a reconnect. */
void pgc_fail(struct pgc *p, const char *why);
void pgc_want_write(struct pgc *p, bool on);
/* Close for good (shutdown): no callback, no reconnect. */
void pgc_close(struct pgc *p);

/* Blocking connect for startup checks (before the loop runs). */
PGconn *pgc_connect_blocking(char *err, size_t errlen);

#endif
