/*
 * errors.h — frontd's own errors, one catalog (PostgREST's Error.hs): each entry is an HTTP
 * status, a stable code of frontd's namespace, a message, an optional hint and the header lines
 * its answer carries.  Call sites name an entry and add only what the request knows (details,
 * the Allow list, whether a credential was given).
 *
 * Codes are FDgnn, g the area: 0 availability of the database and of frontd, 1 the HTTP
 * message, 2 target and routing, 3 credentials, 4 WebSocket and streams, 5 answers frontd cannot
 * use.  They are not HTTP statuses.  An error a database function raised keeps its SQLSTATE as
 * its code (errmap.c), and SQLSTATE class FD is refused to functions, so a code starting with FD
 * always comes from frontd: a client tells "the database is unreachable" (FD001) from "a
 * function raised an error mapped to 503" (its SQLSTATE).
 *
 * The table is documented in README.md; a unit test checks the two agree.  Pure code.
 */
#ifndef FRONTD_ERRORS_H
#define FRONTD_ERRORS_H

#include <stdbool.h>

#include "util.h"

/* Entry ids.  0 is "no error", so functions can return an id or 0. */
enum fd_error_id {
    FDE_NONE = 0,
    /* FD0nn: availability */
    FDE_STOPPING,
    FDE_DB_UNREACHABLE,
    FDE_POOL_BUSY,
    FDE_DB_LOST,
    FDE_DB_TIMEOUT,
    FDE_NOT_READY,
    FDE_TOO_MANY_CONNECTIONS,
    FDE_RATE_IP,
    FDE_RATE_CREDENTIAL,
    /* FD1nn: the HTTP message (each ends the connection) */
    FDE_REQUEST_LINE,
    FDE_HTTP_VERSION,
    FDE_BARE_CR,
    FDE_BARE_LF,
    FDE_NUL_IN_HEAD,
    FDE_LEADING_EMPTY_LINES,
    FDE_LINE_FOLDING,
    FDE_FIELD_NO_COLON,
    FDE_FIELD_EMPTY_NAME,
    FDE_FIELD_SPACE_COLON,
    FDE_FIELD_NAME_CHAR,
    FDE_FIELD_VALUE_CHAR,
    FDE_CL_REPEATED,
    FDE_CL_INVALID,
    FDE_TE_REPEATED,
    FDE_TE_UNSUPPORTED,
    FDE_CL_AND_TE,
    FDE_TE_HTTP10,
    FDE_HOST_REPEATED,
    FDE_HOST_MISSING,
    FDE_HEAD_UNPARSED,
    FDE_BODY_UNPARSED,
    FDE_HEAD_TOO_LARGE,
    FDE_TOO_MANY_FIELDS,
    FDE_BODY_TOO_LARGE,
    FDE_EXPECT,
    FDE_HEAD_TIMEOUT,
    FDE_BODY_TIMEOUT,
    /* FD2nn: target and routing */
    FDE_TARGET,
    FDE_PATH_ENCODING,
    FDE_PATH_PARAM_UTF8,
    FDE_QUERY_ENCODING,
    FDE_QUERY_UTF8,
    FDE_QUERY_TOO_MANY,
    FDE_NO_ROUTE,
    FDE_METHOD,
    /* FD3nn: credentials */
    FDE_AUTH_REPEATED,
    FDE_AUTH_BOTH,
    FDE_APIKEY_EMPTY,
    FDE_AUTH_SCHEME,
    FDE_BEARER_MALFORMED,
    FDE_JWT_NO_SECRET,
    FDE_JWT_SHAPE,
    FDE_JWT_SIGNATURE,
    FDE_JWT_ALG,
    FDE_JWT_PAYLOAD,
    FDE_JWT_EXP_MISSING,
    FDE_JWT_NBF_TYPE,
    FDE_JWT_NBF,
    FDE_JWT_IAT_TYPE,
    FDE_JWT_IAT,
    FDE_JWT_EXPIRED,
    FDE_JWT_ROLE,
    FDE_METRICS_TOKEN,
    /* FD4nn: WebSocket and streams */
    FDE_WS_NOT_UPGRADE,
    FDE_WS_VERSION,
    FDE_WS_KEY,
    FDE_WS_ORIGIN,
    FDE_STREAMS_SERVER,
    FDE_STREAMS_USER,
    FDE_STREAM_SHAPE,
    FDE_STREAM_START,
    /* FD5nn: answers frontd cannot use */
    FDE_NO_RESULT,
    FDE_OPENAPI_EMPTY,
    FDE_DB_ERROR,
    FDE_RESERVED_SQLSTATE,
    FDE_COUNT
};

/* Header lines built from the request (fixed ones are in the entry's headers). */
#define FDF_ALLOW     1 /* Allow: <the path's methods> (fd_error_args.allow) */
#define FDF_CHALLENGE 2 /* WWW-Authenticate: Bearer error=..., error_description=<message> */
#define FDF_RETRY     4 /* Retry-After: <fd_error_args.retry_after> (the wait is computed) */

struct fd_error {
    const char *code;    /* "FD001" */
    int status;          /* HTTP status */
    const char *message; /* lower-case, no final period (SQL errmsg style) */
    const char *hint;    /* a sentence, or NULL */
    int retry_after;     /* seconds for Retry-After, 0 = none */
    const char *headers; /* fixed header lines ("Upgrade: websocket\r\n"), or NULL */
    unsigned flags;      /* FDF_* */
};

/* What a call site adds to an entry; NULL means nothing. */
struct fd_error_args {
    const char *details; /* the specifics, e.g. the parser's reason; NULL = null */
    const char *allow;   /* FDF_ALLOW: "GET, HEAD, OPTIONS" */
    bool token_given;    /* FDF_CHALLENGE: error="invalid_token", else "invalid_request" */
    int retry_after;     /* FDF_RETRY: seconds */
};

/* The entry of id, or NULL if id is none of them. */
const struct fd_error *fd_error(int id);
/* Its status, or 0 for FDE_NONE (and unknown ids). */
int fd_error_status(int id);

/* Append the entry's header lines (each ending CRLF) to out. */
void fd_error_headers(struct sbuf *out, const struct fd_error *e, const struct fd_error_args *a);

/* The one JSON error shape, {"code","message","details","hint"}, for frontd's errors and for
 * the database's alike; details and hint may be NULL (JSON null). */
void error_body(struct sbuf *out, const char *code, const char *message, const char *details,
                const char *hint);

/* A WWW-Authenticate line: "Bearer" alone when error is NULL, else with error= and
 * error_description= (the description reduced to the characters a quoted-string may hold). */
void bearer_challenge(struct sbuf *out, const char *error, const char *description);

#endif
