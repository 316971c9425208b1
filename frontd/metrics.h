/*
 * metrics.h — counters for /metrics (Prometheus text format 0.0.4): requests by route
 * pattern/method/status, a duration histogram by route/method, and gauges the caller samples
 * at scrape time (pool, connections).  Route labels are patterns, never raw paths, so the
 * number of series stays bounded.  Pure code.
 */
#ifndef FRONTD_METRICS_H
#define FRONTD_METRICS_H

#include <stdint.h>

#include "util.h"

struct metrics_gauges {
    int pool_size, pool_connected, pool_busy, pool_waiting, pool_in_flight;
    int connections_open, routes, streams_open;
    uint64_t events_sent, streams_closed_slow;
    int64_t feed_position;
    uint64_t connections_accepted, connections_rejected, connections_evicted;
    uint64_t jwt_cache_hits, jwt_cache_misses;
    int jwt_cache_entries;
    uint64_t db_reconnects, db_retries, routes_reloads;
    uint64_t rate_limited_ip, rate_limited_credential, rate_limit_buckets, rate_limit_evictions;
};

void metrics_request(const char *route, const char *method, int status, uint64_t duration_us);
void metrics_render(struct sbuf *out, const struct metrics_gauges *g);
void metrics_shutdown(void);

#endif
