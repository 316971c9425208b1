/*
 * frontd.c — the process-wide state every subsystem reads (frontd.h): the event base, the
 * configuration, CORS, the shutdown flag, the counters, and the check that ends a graceful
 * drain.  Kept out of main.c (pgbouncer defines its cf_* in main.c, which knots every file to
 * the entry point) so any I/O module links without main().
 */
#include "frontd.h"
#include "conn.h"
#include "stream.h"

#include <event2/event.h>

struct event_base *g_base;
struct config *g_cfg;
struct cors g_cors;
struct proxies g_proxies;
bool g_shutting_down;
struct frontd_stats g_stats;

void frontd_maybe_exit(void)
{
    if (!g_shutting_down || !g_base)
        return;
    /* the HTTP requests in flight have been answered: now the streams go (1001) */
    if (conn_count() > 0 && conn_count() == stream_count())
        stream_shutdown_begin();
    if (conn_count() == 0)
        event_base_loopbreak(g_base);
}
