/*
 * routes.c — loading flov7.routes into the table router.c matches against.  Startup reads it
 * on the blocking connection of the startup checks (frontd refuses to start without it); a
 * reload keeps the current table when the query fails, since serving the old routes beats
 * serving none.
 */
#include "routes.h"
#include "frontd.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct route_table *g_routes;

void routes_set(struct route_table *t)
{
    struct route_table *old = g_routes;
    g_routes = t;
    router_unref(old);
}

static void route_warn(void *arg, const char *msg)
{
    (void)arg;
    log_warn("routes", "%s", msg);
}

struct route_table *routes_from_result(PGresult *res)
{
    int n = PQntuples(res);
    int nf = PQnfields(res) < 9 ? PQnfields(res) : 9;
    struct route_row *rows = xcalloc((size_t)(n > 0 ? n : 1), sizeof(*rows));
    for (int i = 0; i < n; i++) {
        const char **f[] = {&rows[i].method,    &rows[i].path,    &rows[i].function,
                            &rows[i].status,    &rows[i].summary, &rows[i].tag,
                            &rows[i].read_only, &rows[i].stream,  &rows[i].error_style};
        for (int j = 0; j < nf; j++)
            *f[j] = PQgetisnull(res, i, j) ? NULL : PQgetvalue(res, i, j);
    }
    struct route_table *t = router_build(rows, n, route_warn, NULL);
    free(rows);
    return t;
}

int routes_load(PGconn *pg, char *err, size_t errlen)
{
    PGresult *res = PQexec(pg, ROUTES_QUERY); /* the loop is not running yet */
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *why = PQerrorMessage(pg);
        size_t n = strlen(why);
        while (n && why[n - 1] == '\n')
            n--;
        snprintf(err, errlen,
                 "cannot read flov7.routes (is the extension installed and SELECT granted to "
                 "this role?): %.*s",
                 (int)n, why);
        PQclear(res);
        return -1;
    }
    routes_set(routes_from_result(res));
    PQclear(res);
    return 0;
}

void routes_reloaded(PGresult *res)
{
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        struct route_table *t = routes_from_result(res);
        log_info("routes", "loaded %d routes", t->nroutes);
        g_stats.routes_reloads++;
        routes_set(t);
    } else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        log_error("routes", "reloading routes failed, keeping the current table: %s",
                  PQresultErrorMessage(res));
    }
}
