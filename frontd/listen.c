/*
 * listen.c — LISTEN flov7_routes and reload.  Not in pipeline mode: plain PQsendQuery on a
 * connection that does nothing else.  Notifications arriving while a reload query runs set a
 * flag, so a burst of route changes costs at most one extra reload.
 */
#include "listen.h"
#include "frontd.h"
#include "log.h"
#include "pgconn.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static struct pgc lc;
static bool query_running, reload_pending;

static void route_warn(void *arg, const char *msg)
{
    (void)arg;
    log_warn("routes", "%s", msg);
}

struct route_table *routes_from_result(PGresult *res)
{
    int n = PQntuples(res);
    struct route_row *rows = xcalloc((size_t)(n > 0 ? n : 1), sizeof(*rows));
    for (int i = 0; i < n; i++) {
        const char **f[] = {&rows[i].method,  &rows[i].path, &rows[i].function, &rows[i].status,
                            &rows[i].summary, &rows[i].tag,  &rows[i].read_only};
        for (int j = 0; j < (int)(sizeof(f) / sizeof(f[0])); j++)
            *f[j] = PQgetisnull(res, i, j) ? NULL : PQgetvalue(res, i, j);
    }
    struct route_table *t = router_build(rows, n, route_warn, NULL);
    free(rows);
    return t;
}

static void send_query(const char *sql)
{
    if (!PQsendQuery(lc.pg, sql)) {
        pgc_fail(&lc, PQerrorMessage(lc.pg));
        return;
    }
    query_running = true;
    int f = PQflush(lc.pg);
    if (f < 0)
        pgc_fail(&lc, PQerrorMessage(lc.pg));
    else if (f == 1)
        pgc_want_write(&lc, true);
}

static void lc_up(struct pgc *p)
{
    (void)p;
    reload_pending = false;
    /* reload too: NOTIFYs sent while we were disconnected are gone */
    send_query("LISTEN flov7_routes; " ROUTES_QUERY);
}

static void lc_readable(struct pgc *p)
{
    if (!PQconsumeInput(p->pg)) {
        pgc_fail(p, PQerrorMessage(p->pg));
        return;
    }
    while (query_running && !PQisBusy(p->pg)) {
        PGresult *res = PQgetResult(p->pg);
        if (!res) {
            query_running = false;
            break;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK) {
            struct route_table *t = routes_from_result(res);
            log_info("routes", "loaded %d routes", t->nroutes);
            g_stats.routes_reloads++;
            frontd_set_routes(t);
        } else if (st != PGRES_COMMAND_OK) {
            log_error("routes", "reloading routes failed, keeping the current table: %s",
                      PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    PGnotify *n;
    while ((n = PQnotifies(p->pg)) != NULL) {
        if (strcmp(n->relname, "flov7_routes") == 0)
            reload_pending = true;
        PQfreemem(n);
    }
    if (reload_pending && !query_running && p->state == PGC_UP) {
        reload_pending = false;
        send_query(ROUTES_QUERY);
    }
}

static void lc_writable(struct pgc *p)
{
    int f = PQflush(p->pg);
    if (f < 0)
        pgc_fail(p, PQerrorMessage(p->pg));
    else if (f == 0)
        pgc_want_write(p, false);
}

static void lc_down(struct pgc *p, const char *why)
{
    (void)p;
    (void)why;
    query_running = false;
}

static const struct pgc_ops listen_ops = {lc_up, lc_readable, lc_writable, lc_down};

void listen_init(void)
{
    pgc_init(&lc, "listen", &listen_ops, NULL, false);
    pgc_connect(&lc);
}

void listen_shutdown(void)
{
    pgc_close(&lc);
}
