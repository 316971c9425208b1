/*
 * httpread.c — http_parser's callbacks and the two calls that drive them (httpread.h).  Field
 * names and values are recorded as pointers into the caller's header block, never copied; a
 * name or value http_parser delivers in pieces is one contiguous run of that block, so pieces
 * only lengthen it.  The parser is paused at the end of each message, so pipelined requests
 * are taken one at a time.
 */
#include "httpread.h"
#include "errors.h"

#include <string.h>

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_reader *r = p->data;
    if (!r->req->url)
        r->req->url = at;
    r->req->url_len += len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_reader *r = p->data;
    struct http_request *req = r->req;
    if (req->headers_done)
        return 0; /* chunked trailer fields are ignored */
    if (r->value_last || req->nhdr == 0)
        http_request_add_header(req, at, len);
    else
        req->hdrs[req->nhdr - 1].nlen += (uint32_t)len;
    r->value_last = false;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_reader *r = p->data;
    struct http_request *req = r->req;
    if (req->headers_done || req->nhdr == 0)
        return 0;
    struct http_hdr *h = &req->hdrs[req->nhdr - 1];
    if (!r->value_last) {
        h->value = at;
        h->vlen = (uint32_t)len;
    } else {
        h->vlen += (uint32_t)len;
    }
    r->value_last = true;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_reader *r = p->data;
    r->req->headers_done = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_reader *r = p->data;
    if (r->req->body.len + len > r->max_body) {
        r->too_large = true;
        return -1;
    }
    sbuf_add(&r->req->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_reader *r = p->data;
    r->req->complete = true;
    http_parser_pause(p, 1); /* one request at a time: stop before the next pipelined one */
    return 0;
}

static const http_parser_settings *settings(void)
{
    static http_parser_settings s;
    static bool ready;
    if (!ready) {
        http_parser_settings_init(&s);
        s.on_url = on_url;
        s.on_header_field = on_header_field;
        s.on_header_value = on_header_value;
        s.on_headers_complete = on_headers_complete;
        s.on_body = on_body;
        s.on_message_complete = on_message_complete;
        /* http_parser's own limit (80 KB) must never be the one that fires: max-header-bytes
         * (up to 1 MB) is checked before, and chunked trailers are bounded by it too */
        http_parser_set_max_header_size(2u << 20);
        ready = true;
    }
    return &s;
}

static bool refused(enum http_errno e)
{
    return e != HPE_OK && e != HPE_PAUSED;
}

int http_read_head(struct http_reader *r, struct http_request *req, const char *blk, size_t n,
                   const struct head_info *hi, size_t max_body, const char **details)
{
    *details = NULL;
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    r->req = req;
    r->max_body = max_body;
    r->value_last = r->too_large = false;
    size_t np = http_parser_execute(&r->parser, settings(), blk, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (refused(e) || np != n || !req->headers_done) {
        *details = refused(e) ? http_errno_description(e) : NULL;
        return FDE_HEAD_UNPARSED;
    }
    req->method_str = http_method_str((enum http_method)r->parser.method);
    req->method = http_method_from(req->method_str, strlen(req->method_str));
    req->major = r->parser.http_major;
    req->minor = r->parser.http_minor;
    req->keep_alive = http_should_keep_alive(&r->parser) != 0;
    for (int i = 0; i < req->nhdr; i++) {
        struct http_hdr *h = &req->hdrs[i];
        while (h->vlen && (h->value[h->vlen - 1] == ' ' || h->value[h->vlen - 1] == '\t'))
            h->vlen--;
    }
    http_index(req);
    req->chunked = hi->chunked;
    req->has_body = hi->chunked || hi->content_length > 0;
    if (hi->has_cl && hi->content_length > (uint64_t)max_body)
        return FDE_BODY_TOO_LARGE;
    return FDE_NONE;
}

int http_read_body(struct http_reader *r, const char *buf, size_t n, size_t *used,
                   const char **details)
{
    *details = NULL;
    *used = http_parser_execute(&r->parser, settings(), buf, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (r->too_large)
        return FDE_BODY_TOO_LARGE;
    if (refused(e)) {
        *details = http_errno_description(e);
        return FDE_BODY_UNPARSED;
    }
    return FDE_NONE;
}
