/*
 * httpread.h — reading one request with http_parser: the callbacks that fill struct
 * http_request (http.h) from a header block that head_scan/head_check already accepted, then
 * from the body, chunk by chunk.  The connection (conn.c) moves the bytes; this decides what
 * they mean.  Pure code (http_parser, no libevent/libpq): unit-tested and fuzzed alone.
 */
#ifndef FRONTD_HTTPREAD_H
#define FRONTD_HTTPREAD_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct http_reader {
    http_parser parser;
    struct http_request *req; /* being filled; its fields point into the header block */
    size_t max_body;          /* bytes of body accepted (max-body-bytes) */
    bool value_last;          /* the last callback was a field value: a name starts a field */
    bool too_large;           /* the body went past max_body */
};

/* Parse the header block blk[0, n) — complete, without leading CRLFs, accepted by head_check
 * with hi — into req, which must have been reset.  The block must stay in place while req is
 * used.  Returns 0, or the catalog entry (errors.h) to refuse with and *details (http_parser's
 * reason, or NULL).  On 0, req->complete tells whether the message had no body to wait for. */
int http_read_head(struct http_reader *r, struct http_request *req, const char *blk, size_t n,
                   const struct head_info *hi, size_t max_body, const char **details);

/* Feed body bytes; *used receives how many http_parser consumed (it stops after the message:
 * the rest belongs to the next, pipelined request).  Returns 0 — req->complete tells whether
 * the body ended — or the catalog entry to refuse with and *details. */
int http_read_body(struct http_reader *r, const char *buf, size_t n, size_t *used,
                   const char **details);

#endif
