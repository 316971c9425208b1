/*
 * metrics.c — request counters kept in two small open-chained hash tables (series by
 * route+method+status, histograms by route+method).  Label strings are copied once, on the
 * first request of a series, so a route table reload never leaves a dangling label.
 */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

static const double bucket_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                   0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))

struct series {
    struct series *next;
    char *route, *method;
    int status;
    uint64_t count;
};

struct histo {
    struct histo *next;
    char *route, *method;
    uint64_t buckets[NBUCKETS];
    uint64_t count;
    double sum;
};

#define TABLE 256
static struct series *series_tab[TABLE];
static struct histo *histo_tab[TABLE];

static unsigned hash_labels(const char *route, const char *method)
{
    unsigned h = 2166136261u;
    for (const char *p = route; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = method; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

void metrics_request(const char *route, const char *method, int status, uint64_t duration_us)
{
    unsigned h = hash_labels(route, method);
    struct series *s;
    for (s = series_tab[(h + (unsigned)status) % TABLE]; s; s = s->next) {
        if (s->status == status && !strcmp(s->route, route) && !strcmp(s->method, method))
            break;
    }
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->route = xstrdup(route);
        s->method = xstrdup(method);
        s->status = status;
        s->next = series_tab[(h + (unsigned)status) % TABLE];
        series_tab[(h + (unsigned)status) % TABLE] = s;
    }
    s->count++;

    struct histo *x;
    for (x = histo_tab[h % TABLE]; x; x = x->next) {
        if (!strcmp(x->route, route) && !strcmp(x->method, method))
            break;
    }
    if (!x) {
        x = xcalloc(1, sizeof(*x));
        x->route = xstrdup(route);
        x->method = xstrdup(method);
        x->next = histo_tab[h % TABLE];
        histo_tab[h % TABLE] = x;
    }
    double sec = (double)duration_us / 1e6;
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (sec <= bucket_le[i])
            x->buckets[i]++;
    }
    x->count++;
    x->sum += sec;
}

/* Label values are route patterns and method names; escape anyway (\\, \", \n). */
static void label(struct sbuf *o, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            sbuf_addc(o, '\\');
        if (*p == '\n') {
            sbuf_adds(o, "\\n");
            continue;
        }
        sbuf_addc(o, *p);
    }
}

static void gauge(struct sbuf *o, const char *name, const char *help, const char *type, uint64_t v)
{
    sbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s ", name, help, name, type, name);
    sbuf_add_u64(o, v);
    sbuf_addc(o, '\n');
}

void metrics_render(struct sbuf *o, const struct metrics_gauges *g)
{
    sbuf_adds(o, "# HELP flov7_http_requests_total HTTP requests answered.\n"
                 "# TYPE flov7_http_requests_total counter\n");
    for (int i = 0; i < TABLE; i++) {
        for (struct series *s = series_tab[i]; s; s = s->next) {
            sbuf_adds(o, "flov7_http_requests_total{route=\"");
            label(o, s->route);
            sbuf_adds(o, "\",method=\"");
            label(o, s->method);
            sbuf_printf(o, "\",status=\"%d\"} ", s->status);
            sbuf_add_u64(o, s->count);
            sbuf_addc(o, '\n');
        }
    }
    sbuf_adds(o, "# HELP flov7_http_request_duration_seconds Time from the first byte of a request "
                 "to its response being queued.\n"
                 "# TYPE flov7_http_request_duration_seconds histogram\n");
    for (int i = 0; i < TABLE; i++) {
        for (struct histo *x = histo_tab[i]; x; x = x->next) {
            for (size_t b = 0; b <= NBUCKETS; b++) {
                sbuf_adds(o, "flov7_http_request_duration_seconds_bucket{route=\"");
                label(o, x->route);
                sbuf_adds(o, "\",method=\"");
                label(o, x->method);
                if (b < NBUCKETS)
                    sbuf_printf(o, "\",le=\"%g\"} ", bucket_le[b]);
                else
                    sbuf_adds(o, "\",le=\"+Inf\"} ");
                sbuf_add_u64(o, b < NBUCKETS ? x->buckets[b] : x->count);
                sbuf_addc(o, '\n');
            }
            sbuf_adds(o, "flov7_http_request_duration_seconds_sum{route=\"");
            label(o, x->route);
            sbuf_adds(o, "\",method=\"");
            label(o, x->method);
            sbuf_printf(o, "\"} %.6f\n", x->sum);
            sbuf_adds(o, "flov7_http_request_duration_seconds_count{route=\"");
            label(o, x->route);
            sbuf_adds(o, "\",method=\"");
            label(o, x->method);
            sbuf_adds(o, "\"} ");
            sbuf_add_u64(o, x->count);
            sbuf_addc(o, '\n');
        }
    }
    gauge(o, "flov7_pool_size", "Configured database connections.", "gauge",
          (uint64_t)g->pool_size);
    gauge(o, "flov7_pool_connected", "Database connections up.", "gauge",
          (uint64_t)g->pool_connected);
    gauge(o, "flov7_pool_busy", "Database connections running a request.", "gauge",
          (uint64_t)g->pool_busy);
    gauge(o, "flov7_pool_in_flight", "Requests sent to the database and not yet answered.", "gauge",
          (uint64_t)g->pool_in_flight);
    gauge(o, "flov7_pool_waiting", "Requests waiting for a database connection.", "gauge",
          (uint64_t)g->pool_waiting);
    gauge(o, "flov7_db_reconnects_total", "Database connections re-established.", "counter",
          g->db_reconnects);
    gauge(o, "flov7_db_retries_total",
          "Read-only requests run again after their database connection was lost.", "counter",
          g->db_retries);
    gauge(o, "flov7_http_connections_open", "Open client connections.", "gauge",
          (uint64_t)g->connections_open);
    gauge(o, "flov7_http_connections_accepted_total", "Client connections accepted.", "counter",
          g->connections_accepted);
    gauge(o, "flov7_http_connections_rejected_total",
          "Client connections refused with 503 at a connection limit (nothing idle to evict).",
          "counter", g->connections_rejected);
    gauge(o, "flov7_http_connections_evicted_total",
          "Idle client connections closed to admit a new one at a connection limit.", "counter",
          g->connections_evicted);
    gauge(o, "flov7_routes", "Routes loaded from flov7.routes.", "gauge", (uint64_t)g->routes);
    gauge(o, "flov7_streams_open", "Open WebSocket and SSE streams.", "gauge",
          (uint64_t)g->streams_open);
    gauge(o, "flov7_stream_events_sent_total", "Events sent to streams (catch-up and live).",
          "counter", g->events_sent);
    gauge(o, "flov7_streams_closed_slow_total",
          "Streams closed because their client did not read (ws-max-buffer).", "counter",
          g->streams_closed_slow);
    gauge(o, "flov7_event_feed_position", "The last event position read from the feed.", "gauge",
          g->feed_position > 0 ? (uint64_t)g->feed_position : 0);
    gauge(o, "flov7_routes_reloads_total", "Route table reloads.", "counter", g->routes_reloads);
    gauge(o, "flov7_jwt_cache_hits_total", "JWTs found in the verified-token cache.", "counter",
          g->jwt_cache_hits);
    gauge(o, "flov7_jwt_cache_misses_total", "JWTs verified in full.", "counter",
          g->jwt_cache_misses);
    gauge(o, "flov7_jwt_cache_entries", "Verified tokens cached.", "gauge",
          (uint64_t)g->jwt_cache_entries);
    gauge(o, "flov7_rate_limited_ip_total", "Requests refused by rate-limit-ip (429).", "counter",
          g->rate_limited_ip);
    gauge(o, "flov7_rate_limited_credential_total",
          "Requests refused by rate-limit-credential (429).", "counter",
          g->rate_limited_credential);
    gauge(o, "flov7_rate_limit_buckets",
          "Token buckets held (per address and per credential together).", "gauge",
          g->rate_limit_buckets);
    gauge(o, "flov7_rate_limit_evictions_total",
          "Buckets displaced by a newcomer at rate-limit-max-entries.", "counter",
          g->rate_limit_evictions);
}

void metrics_shutdown(void)
{
    for (int i = 0; i < TABLE; i++) {
        while (series_tab[i]) {
            struct series *s = series_tab[i];
            series_tab[i] = s->next;
            free(s->route);
            free(s->method);
            free(s);
        }
        while (histo_tab[i]) {
            struct histo *x = histo_tab[i];
            histo_tab[i] = x->next;
            free(x->route);
            free(x->method);
            free(x);
        }
    }
}
