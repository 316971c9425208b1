/*
 * routes.h — the route table frontd serves, loaded from flov7.routes (pgbouncer's loader.c):
 * once at startup on a blocking connection, then again whenever the LISTEN connection (listen.c)
 * hears flov7_routes or reconnects.  The table is swapped whole; requests in flight keep a
 * reference to the one they started with (router.h).
 */
#ifndef FRONTD_ROUTES_H
#define FRONTD_ROUTES_H

#include <libpq-fe.h>
#include <stddef.h>

#include "router.h"

#define ROUTES_QUERY                                                                               \
    "SELECT method, path, function, status, summary, tag, read_only, stream, error_style "         \
    "FROM flov7.routes ORDER BY path, method"

/* The table new requests match against; NULL before the first load and after shutdown. */
extern struct route_table *g_routes;

/* Replace the table (takes ownership of t; NULL drops it). */
void routes_set(struct route_table *t);
/* Build a table from the result of ROUTES_QUERY (bad rows are logged and skipped). */
struct route_table *routes_from_result(PGresult *res);
/* Startup, before the loop: run ROUTES_QUERY on pg and install the table.  Returns 0, or -1
 * with the reason in err. */
int routes_load(PGconn *pg, char *err, size_t errlen);
/* A reload's result from the LISTEN connection: install the new table, or keep the current
 * one if the query failed. */
void routes_reloaded(PGresult *res);

#endif
