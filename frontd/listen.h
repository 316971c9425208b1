/*
 * listen.h — the one extra database connection that LISTENs on flov7_routes and reloads the
 * route table on each NOTIFY (and after every reconnect, since notifications sent while it
 * was down are lost).  Requests in flight keep the table they started with.
 */
#ifndef FRONTD_LISTEN_H
#define FRONTD_LISTEN_H

#include <libpq-fe.h>

#include "router.h"

#define ROUTES_QUERY                                                                               \
    "SELECT method, path, function, status, summary, tag, read_only FROM flov7.routes "            \
    "ORDER BY path, method"

void listen_init(void);
void listen_shutdown(void);
/* Build a table from the result of ROUTES_QUERY (bad rows are logged and skipped). */
struct route_table *routes_from_result(PGresult *res);

#endif
