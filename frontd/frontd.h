/*
 * frontd.h — process-wide state shared by the event-driven subsystems (defined in frontd.c):
 * the event base, the current configuration (swapped whole on SIGHUP), CORS, the shutdown flag
 * and a few counters.  The route table is routes.h's.  One process, one thread, one event loop.
 */
#ifndef FRONTD_FRONTD_H
#define FRONTD_FRONTD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "cors.h"
#include "proxies.h"

struct event_base;

extern struct event_base *g_base;
extern struct config *g_cfg;
extern struct cors g_cors;
extern struct proxies g_proxies; /* trusted-proxies, parsed */
extern bool g_shutting_down;

struct frontd_stats {
    uint64_t accepted, rejected, evicted, db_reconnects, routes_reloads;
};
extern struct frontd_stats g_stats;

/* Called by the connection code whenever a connection closes, to finish a graceful drain. */
void frontd_maybe_exit(void);

#endif
