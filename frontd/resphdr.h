/*
 * resphdr.h — response.headers: headers an API function asks frontd to add to its answer, in
 * PostgREST's shape (a JSON array of one-member objects, e.g. [{"Retry-After": "60"}]).  Pure
 * code.
 */
#ifndef FRONTD_RESPHDR_H
#define FRONTD_RESPHDR_H

#include <stddef.h>

#include "util.h"

#define RESPHDR_MAX_HEADERS 16
#define RESPHDR_MAX_BYTES   4096

/* Append the headers of json[0..len) to out as "Name: value\r\n" lines.  All or nothing: on
 * any problem out is left as it was and a static message says why; NULL when they were added.
 * An empty text or "[]" adds nothing.  Names must be HTTP tokens and not one frontd owns
 * (framing, Date, Content-Type, X-Request-Id, CORS, WWW-Authenticate); values strings of
 * visible ASCII, spaces and tabs. */
const char *resphdr_render(const char *json, size_t len, struct sbuf *out);

#endif
