/*
 * router.h — the route table (rows of flov7.routes) and path matching: split on '/', trailing
 * slash ignored, at each segment a literal beats a parameter, known path with another method
 * gives 405 + Allow, parameter values percent-decoded.  Tables are reference counted so a
 * reload (NOTIFY flov7_routes) never frees a route a request in flight still uses.  Pure code.
 */
#ifndef FRONTD_ROUTER_H
#define FRONTD_ROUTER_H

#include "errstyle.h"
#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "util.h"

#define ROUTE_MAX_SEGS   32
#define ROUTE_MAX_PARAMS 16

/* One row of flov7.routes as text, as libpq returns it (read_only: "t" or "f"; stream:
 * "websocket", "sse" or NULL; error_style: "flov7", "original" or NULL). */
struct route_row {
    const char *method, *path, *function, *status, *summary, *tag, *read_only, *stream,
        *error_style;
};

/* A route whose answer is a stream of events (its function authorizes the subscription). */
enum route_stream { STREAM_NONE, STREAM_WEBSOCKET, STREAM_SSE };

struct route_seg {
    char *text; /* literal text, or the parameter's name */
    size_t len;
    bool param;
};

struct route {
    int method; /* enum http_meth, < M_NROUTED */
    char *path, *function, *summary, *tag;
    int status;
    bool read_only; /* the function changes nothing: may run again if its connection dies */
    enum route_stream stream;
    enum route_errors errors; /* how its errors are rendered (errstyle.h) */
    int fn_id;                /* interned function id: index of its prepared statement */
    int nsegs;
    struct route_seg *segs;
};

struct rnode;

struct route_table {
    int refcount;
    int nroutes;
    struct route *routes;
    struct rnode *root;
};

/* Parameters of a match: name from the route, decoded value in buf at [off, off+len). */
struct route_match {
    const struct route *route; /* NULL unless status 0 */
    const char *allow;         /* for 405 and OPTIONS: "GET, HEAD, POST, OPTIONS" */
    const char *pattern;       /* the matched path pattern (also on 405) */
    int nparams;
    struct {
        const char *name;
        size_t off, len;
    } params[ROUTE_MAX_PARAMS];
};

typedef void (*router_warn_fn)(void *arg, const char *msg);

/* Build a table from rows; invalid rows are skipped with a warning (never fatal). */
struct route_table *router_build(const struct route_row *rows, int n, router_warn_fn warn,
                                 void *arg);
void router_ref(struct route_table *t);
void router_unref(struct route_table *t);

enum { RM_OK = 0, RM_NOT_FOUND = 404, RM_BAD_METHOD = 405, RM_BAD_PATH = 400 };
/* Match method+path (raw, percent-encoded, without query).  HEAD matches GET routes.
 * OPTIONS returns RM_BAD_METHOD with allow set when the path exists (the caller answers it).
 * Decoded parameter values go to buf (reset first). */
int router_match(const struct route_table *t, int method, const char *path, size_t len,
                 struct route_match *m, struct sbuf *buf);

/* Interned function names: an id per distinct function, stable across reloads, so each pool
 * connection prepares statement 2 once per function. */
int router_function_id(const char *function);
const char *router_function_name(int id);
int router_function_count(void);
void router_shutdown(void); /* free the interned names */

/* Is s a plain schema-qualified lower-case identifier (safe to put in SQL text)? */
bool router_function_ok(const char *s);

#endif
