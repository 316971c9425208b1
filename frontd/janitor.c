/*
 * janitor.c — one timer, every 250 ms, instead of a timer per connection: deadlines are
 * plain fields compared here, so the hot path never touches the timer heap.
 */
#include "janitor.h"
#include "limiter.h"
#include "conn.h"
#include "frontd.h"
#include "log.h"
#include "listen.h"
#include "pool.h"
#include "stream.h"
#include "util.h"

#include <event2/event.h>

#define JANITOR_PERIOD_MS 250

static struct event *tick;
static uint64_t drain_deadline;

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    uint64_t now = now_ms();
    conn_janitor(now);
    pool_janitor(now);
    stream_tick(now);
    listen_tick();
    limiter_sweep(now);
    if (drain_deadline && now >= drain_deadline) {
        log_warn("shutdown", "drain deadline reached with %d connections open; exiting",
                 conn_count());
        event_base_loopbreak(g_base);
    }
}

void janitor_init(void)
{
    tick = event_new(g_base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, JANITOR_PERIOD_MS * 1000};
    event_add(tick, &tv);
}

void janitor_set_drain_deadline(uint64_t when_ms)
{
    drain_deadline = when_ms;
}

void janitor_shutdown(void)
{
    if (tick)
        event_free(tick);
    tick = NULL;
}
