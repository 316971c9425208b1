/*
 * http.h — HTTP/1.1 message pieces that need no I/O: the raw header-block scanner and the
 * strict request-smuggling checker that run BEFORE http_parser sees the bytes (http_parser is
 * lenient about bare LF and friends), the request struct filled by http_parser callbacks,
 * header lookup, status texts.  Pure code: unit-tested alone.
 */
#ifndef FRONTD_HTTP_H
#define FRONTD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* ---- raw header block scanner: finds the end (CRLF CRLF), rejects NUL / bare LF / bare CR.
 * It is incremental: call again with the same buffer grown; it resumes at pos. */
enum { HS_MORE = 0, HS_DONE = 1, HS_BAD = 2 };

struct head_scan {
    size_t pos;  /* bytes of buf already scanned */
    size_t lead; /* empty lines before the request line (RFC 9112 2.2: ignore) */
    bool prev_cr, line_empty, started;
};

void head_scan_init(struct head_scan *s);
/* On HS_DONE *end is the length of the block from buf[0] (leading CRLFs and the final blank
 * line included); on HS_BAD *err is the catalog entry (errors.h). */
int head_scan(struct head_scan *s, const char *buf, size_t len, size_t *end, int *err);

/* ---- strict checks on a complete header block (request line + fields, no leading CRLFs). */
struct head_info {
    int err; /* 0 = acceptable; else the catalog entry (errors.h): a 400, 431 or 505 */
    unsigned major, minor;
    bool has_cl, chunked;
    uint64_t content_length;
    int nfields;
};

#define HTTP_MAX_FIELDS 100

void head_check(const char *blk, size_t n, struct head_info *hi);

/* ---- request as built by http_parser callbacks.  Field pointers point into the connection's
 * copy of the header block, which is never moved while a request is being handled. */
struct http_hdr {
    const char *name, *value;
    uint32_t nlen, vlen;
};

/* Methods frontd routes; other methods are parsed but answered 405/501. */
enum http_meth {
    M_GET = 0,
    M_POST,
    M_PUT,
    M_PATCH,
    M_DELETE,
    M_NROUTED,
    M_HEAD = M_NROUTED,
    M_OPTIONS,
    M_OTHER
};

/* Fields frontd looks at, indexed once per request (first occurrence + count). */
enum http_known {
    H_AUTHORIZATION,
    H_X_API_KEY,
    H_COOKIE,
    H_ORIGIN,
    H_X_REQUEST_ID,
    H_USER_AGENT,
    H_EXPECT,
    H_HOST,
    H_NKNOWN
};

struct http_request {
    const char *method_str;
    int method; /* enum http_meth */
    const char *url;
    size_t url_len;
    struct http_hdr *hdrs;
    int nhdr, hdr_cap;
    unsigned major, minor;
    bool keep_alive, headers_done, complete, chunked, expect_continue, has_body;
    struct sbuf body;
    short known[H_NKNOWN];    /* index into hdrs of the first such field, or -1 */
    uint8_t nknown[H_NKNOWN]; /* how many (saturating) */
};

void http_request_init(struct http_request *r);
void http_request_reset(struct http_request *r); /* between requests: keeps buffers */
void http_request_free(struct http_request *r);
/* Append one field (pointers are kept, not copied). */
void http_request_add_header(struct http_request *r, const char *name, size_t nlen);
const struct http_hdr *http_find(const struct http_request *r, const char *name);
/* Classify the fields once (after parsing); then http_known() is a lookup. */
void http_index(struct http_request *r);
static inline const struct http_hdr *http_known(const struct http_request *r, enum http_known k)
{
    return r->known[k] >= 0 ? &r->hdrs[r->known[k]] : NULL;
}
/* Which known field a name is, or -1. */
int http_known_name(const char *name, size_t n);
int http_count(const struct http_request *r, const char *name);
int http_method_from(const char *s, size_t n);
const char *http_method_name(int m);

const char *http_status_text(int status);

/* Split a request target into path and query (after '?'); absolute-form (http://h/p) is
 * reduced to its path.  Returns false if the target is not a usable origin-form. */
bool http_split_target(const char *t, size_t n, const char **path, size_t *plen, const char **query,
                       size_t *qlen);

#endif
