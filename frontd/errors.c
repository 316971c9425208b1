/*
 * errors.c — the catalog of frontd's own errors (see errors.h) and the rendering of an error
 * answer's body and header lines.  Codes are stable: an entry that goes away leaves its code
 * unused, a new one takes the next free number of its area.  Every row is in README.md's
 * table, with the same status and message (test/unit/test_errors.c compares them).
 */
#include "errors.h"

#include <string.h>

#define RETRY_NOW   1 /* seconds: the condition usually passes at once (a reconnect, a slot) */
#define RETRY_LATER 5 /* seconds: a stream slot frees when another client leaves */

static const struct fd_error catalog[FDE_COUNT] = {
    /* FD0nn: availability of the database and of frontd */
    [FDE_STOPPING] = {"FD000", 503, "database unavailable",
                      "frontd is shutting down with no database connection; retry the request.",
                      RETRY_NOW, NULL, 0},
    [FDE_DB_UNREACHABLE] = {"FD001", 503, "no database connection within pool-acquire-timeout",
                            "The database is unreachable; retry the request.", RETRY_NOW, NULL, 0},
    [FDE_POOL_BUSY] = {"FD002", 503, "no database connection within pool-acquire-timeout",
                       "All connections are busy; retry the request.", RETRY_NOW, NULL, 0},
    [FDE_DB_LOST] = {"FD003", 503, "database connection lost during the request",
                     "Retry the request.", RETRY_NOW, NULL, 0},
    [FDE_DB_TIMEOUT] = {"FD004", 504, "the database did not answer within request-timeout", NULL, 0,
                        NULL, 0},
    [FDE_NOT_READY] = {"FD005", 503, "no database connection is up", NULL, RETRY_NOW, NULL, 0},
    [FDE_TOO_MANY_CONNECTIONS] = {"FD006", 503, "too many connections",
                                  "Retry later; /health still answers.", RETRY_NOW, NULL, 0},
    [FDE_RATE_IP] =
        {"FD007", 429, "too many requests from this address (rate-limit-ip)",
         "Wait the seconds of Retry-After; RateLimit-Reset says when the quota is whole.", 0, NULL,
         FDF_RETRY},
    [FDE_RATE_CREDENTIAL] = {"FD008", 429,
                             "too many requests with this credential "
                             "(rate-limit-credential)",
                             "Wait the seconds of Retry-After; RateLimit-Reset says when the quota "
                             "is whole.",
                             0, NULL, FDF_RETRY},

    /* FD1nn: the HTTP message; 10x-11x the header block's syntax (http.c), 12x the parser,
     * 13x limits, 14x timeouts */
    [FDE_REQUEST_LINE] = {"FD100", 400, "malformed request line", NULL, 0, NULL, 0},
    [FDE_HTTP_VERSION] = {"FD101", 505, "HTTP version not supported (HTTP/1.0 and HTTP/1.1 only)",
                          NULL, 0, NULL, 0},
    [FDE_BARE_CR] = {"FD102", 400, "bare CR in the header block", NULL, 0, NULL, 0},
    [FDE_BARE_LF] = {"FD103", 400, "bare LF in the header block (lines must end with CRLF)", NULL,
                     0, NULL, 0},
    [FDE_NUL_IN_HEAD] = {"FD104", 400, "NUL byte in the header block", NULL, 0, NULL, 0},
    [FDE_LEADING_EMPTY_LINES] = {"FD105", 400, "too many empty lines before the request line", NULL,
                                 0, NULL, 0},
    [FDE_LINE_FOLDING] = {"FD106", 400, "obsolete line folding in a header field", NULL, 0, NULL,
                          0},
    [FDE_FIELD_NO_COLON] = {"FD107", 400, "header field without a colon", NULL, 0, NULL, 0},
    [FDE_FIELD_EMPTY_NAME] = {"FD108", 400, "empty header field name", NULL, 0, NULL, 0},
    [FDE_FIELD_SPACE_COLON] = {"FD109", 400, "whitespace before the colon of a header field", NULL,
                               0, NULL, 0},
    [FDE_FIELD_NAME_CHAR] = {"FD110", 400, "invalid character in a header field name", NULL, 0,
                             NULL, 0},
    [FDE_FIELD_VALUE_CHAR] = {"FD111", 400, "invalid character in a header field value", NULL, 0,
                              NULL, 0},
    [FDE_CL_REPEATED] = {"FD112", 400, "more than one Content-Length", NULL, 0, NULL, 0},
    [FDE_CL_INVALID] = {"FD113", 400, "invalid Content-Length", NULL, 0, NULL, 0},
    [FDE_TE_REPEATED] = {"FD114", 400, "more than one Transfer-Encoding", NULL, 0, NULL, 0},
    [FDE_TE_UNSUPPORTED] = {"FD115", 400,
                            "unsupported Transfer-Encoding (only \"chunked\" is accepted)", NULL, 0,
                            NULL, 0},
    [FDE_CL_AND_TE] = {"FD116", 400, "both Content-Length and Transfer-Encoding", NULL, 0, NULL, 0},
    [FDE_TE_HTTP10] = {"FD117", 400, "Transfer-Encoding in an HTTP/1.0 request", NULL, 0, NULL, 0},
    [FDE_HOST_REPEATED] = {"FD118", 400, "more than one Host header", NULL, 0, NULL, 0},
    [FDE_HOST_MISSING] = {"FD119", 400, "missing Host header (required in HTTP/1.1)", NULL, 0, NULL,
                          0},
    [FDE_HEAD_UNPARSED] = {"FD120", 400, "malformed request", NULL, 0, NULL, 0},
    [FDE_BODY_UNPARSED] = {"FD121", 400, "malformed request body", NULL, 0, NULL, 0},
    [FDE_HEAD_TOO_LARGE] = {"FD130", 431, "request header block is larger than max-header-bytes",
                            NULL, 0, NULL, 0},
    [FDE_TOO_MANY_FIELDS] = {"FD131", 431, "too many header fields", NULL, 0, NULL, 0},
    [FDE_BODY_TOO_LARGE] = {"FD132", 413, "request body is larger than max-body-bytes", NULL, 0,
                            NULL, 0},
    [FDE_EXPECT] = {"FD133", 417, "only \"Expect: 100-continue\" is supported", NULL, 0, NULL, 0},
    [FDE_HEAD_TIMEOUT] = {"FD140", 408, "timed out receiving the request header", NULL, 0, NULL, 0},
    [FDE_BODY_TIMEOUT] = {"FD141", 408, "timed out receiving the request body", NULL, 0, NULL, 0},

    /* FD2nn: target and routing */
    [FDE_TARGET] = {"FD200", 400, "request target must be a path", NULL, 0, NULL, 0},
    [FDE_PATH_ENCODING] = {"FD201", 400, "malformed percent-encoding in the path", NULL, 0, NULL,
                           0},
    [FDE_PATH_PARAM_UTF8] = {"FD202", 400, "path parameter is not valid UTF-8", NULL, 0, NULL, 0},
    [FDE_QUERY_ENCODING] = {"FD203", 400, "malformed percent-encoding in query string", NULL, 0,
                            NULL, 0},
    [FDE_QUERY_UTF8] = {"FD204", 400, "query string is not valid UTF-8", NULL, 0, NULL, 0},
    [FDE_QUERY_TOO_MANY] = {"FD205", 400, "too many query parameters", NULL, 0, NULL, 0},
    [FDE_NO_ROUTE] = {"FD210", 404, "no such endpoint", NULL, 0, NULL, 0},
    [FDE_METHOD] = {"FD211", 405, "method not allowed on this path", NULL, 0, NULL, FDF_ALLOW},

    /* FD3nn: credentials; 30x the headers, 305-309 the token's form and signature, 31x its
     * claims */
    [FDE_AUTH_REPEATED] = {"FD300", 400, "more than one Authorization or X-API-Key header", NULL, 0,
                           NULL, 0},
    [FDE_AUTH_BOTH] = {"FD301", 401, "give either Authorization or X-API-Key, not both", NULL, 0,
                       NULL, FDF_CHALLENGE},
    [FDE_APIKEY_EMPTY] = {"FD302", 401, "empty API key", NULL, 0, NULL, FDF_CHALLENGE},
    [FDE_AUTH_SCHEME] = {"FD303", 401, "unsupported authorization scheme (use Bearer)", NULL, 0,
                         NULL, FDF_CHALLENGE},
    [FDE_BEARER_MALFORMED] = {"FD304", 401, "malformed bearer token", NULL, 0, NULL, FDF_CHALLENGE},
    [FDE_JWT_NO_SECRET] = {"FD305", 401, "server has no JWT secret", NULL, 0, NULL, FDF_CHALLENGE},
    [FDE_JWT_SHAPE] = {"FD306", 401, "malformed token (expected header.payload.signature, HS256)",
                       NULL, 0, NULL, FDF_CHALLENGE},
    [FDE_JWT_SIGNATURE] = {"FD307", 401, "invalid token (bad signature or malformed)", NULL, 0,
                           NULL, FDF_CHALLENGE},
    [FDE_JWT_ALG] = {"FD308", 401, "token algorithm must be HS256", NULL, 0, NULL, FDF_CHALLENGE},
    [FDE_JWT_PAYLOAD] = {"FD309", 401, "token payload is not a JSON object", NULL, 0, NULL,
                         FDF_CHALLENGE},
    [FDE_JWT_EXP_MISSING] = {"FD310", 401, "token has no integer exp claim", NULL, 0, NULL,
                             FDF_CHALLENGE},
    [FDE_JWT_NBF_TYPE] = {"FD311", 401, "token nbf claim is not an integer", NULL, 0, NULL,
                          FDF_CHALLENGE},
    [FDE_JWT_NBF] = {"FD312", 401, "token is not valid yet (nbf)", NULL, 0, NULL, FDF_CHALLENGE},
    [FDE_JWT_IAT_TYPE] = {"FD313", 401, "token iat claim is not an integer", NULL, 0, NULL,
                          FDF_CHALLENGE},
    [FDE_JWT_IAT] = {"FD314", 401, "token is issued in the future (iat)", NULL, 0, NULL,
                     FDF_CHALLENGE},
    [FDE_JWT_EXPIRED] = {"FD315", 401, "token has expired", NULL, 0, NULL, FDF_CHALLENGE},
    [FDE_JWT_ROLE] = {"FD316", 401, "token role claim must be flov7_user or flov7_admin", NULL, 0,
                      NULL, FDF_CHALLENGE},
    [FDE_METRICS_TOKEN] = {"FD317", 401, "/metrics needs the metrics token",
                           "Send Authorization: Bearer <metrics-token>.", 0, NULL, FDF_CHALLENGE},

    /* FD4nn: WebSocket handshake refusals (RFC 6455 4.2.1) and stream limits */
    [FDE_WS_NOT_UPGRADE] = {"FD400", 426, "this endpoint is a WebSocket: send an upgrade request",
                            "Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Version: 13", 0,
                            "Upgrade: websocket\r\n", 0},
    [FDE_WS_VERSION] = {"FD401", 426, "unsupported WebSocket version (13 is)", NULL, 0,
                        "Sec-WebSocket-Version: 13\r\n", 0},
    [FDE_WS_KEY] = {"FD402", 400, "Sec-WebSocket-Key must be the base64 of 16 bytes", NULL, 0, NULL,
                    0},
    [FDE_WS_ORIGIN] = {"FD403", 403, "this Origin may not open WebSockets here",
                       "Add it to cors-origins.", 0, NULL, 0},
    [FDE_STREAMS_SERVER] = {"FD404", 503,
                            "too many streams open on this server (ws-max-connections)",
                            "Close another stream, or retry later.", RETRY_LATER, NULL, 0},
    [FDE_STREAMS_USER] = {"FD405", 429, "too many streams open for this user (ws-max-per-user)",
                          "Close another stream, or retry later.", RETRY_LATER, NULL, 0},
    [FDE_STREAM_SHAPE] = {"FD406", 500, "the subscription function answered an unusable shape",
                          NULL, 0, NULL, 0},
    [FDE_STREAM_START] = {"FD407", 500, "could not start the stream", NULL, 0, NULL, 0},

    /* FD5nn: answers frontd cannot use */
    [FDE_NO_RESULT] = {"FD500", 500, "the database returned no result", NULL, 0, NULL, 0},
    [FDE_OPENAPI_EMPTY] = {"FD501", 500, "flov7.openapi() returned nothing", NULL, 0, NULL, 0},
    [FDE_DB_ERROR] = {"FD502", 500, "database error", NULL, 0, NULL, 0},
    [FDE_RESERVED_SQLSTATE] = {"FD503", 500, "a function raised an error code reserved for frontd",
                               "SQLSTATE class FD is frontd's; raise another code.", 0, NULL, 0},
};

const struct fd_error *fd_error(int id)
{
    return id > FDE_NONE && id < FDE_COUNT && catalog[id].code ? &catalog[id] : NULL;
}

int fd_error_status(int id)
{
    const struct fd_error *e = fd_error(id);
    return e ? e->status : 0;
}

void bearer_challenge(struct sbuf *out, const char *error, const char *description)
{
    sbuf_addlit(out, "WWW-Authenticate: Bearer");
    if (error) {
        sbuf_printf(out, " error=\"%s\", error_description=\"", error);
        /* RFC 6750 3: the description is a quoted-string of %x20-21 / %x23-5B / %x5D-7E */
        size_t n = 0;
        for (const char *p = description ? description : ""; *p && n < 399; p++) {
            unsigned char c = (unsigned char)*p;
            if (c != '"' && c != '\\' && c >= 0x20 && c < 0x7f) {
                sbuf_addc(out, (char)c);
                n++;
            }
        }
        sbuf_addc(out, '"');
    }
    sbuf_addlit(out, "\r\n");
}

void fd_error_headers(struct sbuf *out, const struct fd_error *e, const struct fd_error_args *a)
{
    if (e->retry_after > 0)
        sbuf_printf(out, "Retry-After: %d\r\n", e->retry_after);
    if ((e->flags & FDF_RETRY) && a && a->retry_after > 0)
        sbuf_printf(out, "Retry-After: %d\r\n", a->retry_after);
    if (e->headers)
        sbuf_adds(out, e->headers);
    if ((e->flags & FDF_ALLOW) && a && a->allow)
        sbuf_printf(out, "Allow: %s\r\n", a->allow);
    if (e->flags & FDF_CHALLENGE)
        bearer_challenge(out, a && a->token_given ? "invalid_token" : "invalid_request",
                         e->message);
}

static void add_text_or_null(struct sbuf *out, const char *s)
{
    if (s)
        json_add_string(out, s, strlen(s), JSON_REPLACE);
    else
        sbuf_addlit(out, "null");
}

void error_body(struct sbuf *out, const char *code, const char *message, const char *details,
                const char *hint)
{
    sbuf_addlit(out, "{\"code\":");
    add_text_or_null(out, code);
    sbuf_addlit(out, ",\"message\":");
    add_text_or_null(out, message);
    sbuf_addlit(out, ",\"details\":");
    add_text_or_null(out, details);
    sbuf_addlit(out, ",\"hint\":");
    add_text_or_null(out, hint);
    sbuf_addc(out, '}');
}
