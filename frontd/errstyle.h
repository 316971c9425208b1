/*
 * errstyle.h — the error bodies of a route whose error_style is "original" (flov7.routes,
 * CONTRACT.md): the original platform's FastAPI shapes, {"detail": "..."} and, for bad input
 * naming a field, 422 {"detail": [{"loc": [...], "msg", "type"}]}.  Pure code.
 */
#ifndef FRONTD_ERRSTYLE_H
#define FRONTD_ERRSTYLE_H

#include "util.h"

#include <stdbool.h>

/* How a route renders its errors (flov7.routes.error_style). */
enum route_errors { ERRORS_FLOV7, ERRORS_ORIGINAL };

/* The status in the original style for flov7's status: 401 for a request that carried no
 * credentials is 403 (FastAPI's HTTPBearer), and a 400 that names a field is 422. */
int errstyle_status(int status, bool had_credentials, bool names_field);

/* FastAPI's "type" of a validation error from its SQLSTATE. */
const char *errstyle_type(const char *sqlstate);

/* The body: {"detail": message}, or with a field (status 422) {"detail": [{"loc": [where,
 * field parts split on '.'], "msg": message, "type": type}]}.  where: "path", "query" or "body". */
void errstyle_body(struct sbuf *out, int status, const char *message, const char *field,
                   const char *where, const char *type);

#endif
