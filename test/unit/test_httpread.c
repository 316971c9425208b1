/*
 * test_httpread.c — reading requests through http_parser's callbacks, the way conn.c does:
 * scan, check, read the head, then feed the body in pieces of every size.  Each case names the
 * outcome (0 or a catalog entry), and for accepted ones what the request must hold.
 */
#include "errors.h"
#include "httpread.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

struct rcase {
    const char *name;
    const char *bytes;
    int err;            /* expected: 0 or FDE_* */
    const char *target; /* expected url, when accepted */
    const char *field;  /* a field to look up ... */
    const char *value;  /* ... and its value */
    const char *body;   /* expected body */
    size_t rest;        /* bytes left for the next pipelined request */
};

#define H "Host: x\r\n"

static const struct rcase cases[] = {
    {"plain GET", "GET /a?b=1 HTTP/1.1\r\n" H "X-A: one  \r\n\r\n", 0, "/a?b=1", "x-a", "one", "",
     0},
    {"empty value", "GET / HTTP/1.1\r\n" H "X-E:\r\n\r\n", 0, "/", "x-e", "", "", 0},
    {"body by length", "POST /p HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello", 0, "/p", "host",
     "x", "hello", 0},
    {"chunked body",
     "POST /p HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
     "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
     0, "/p", "transfer-encoding", "chunked", "abcde", 0},
    {"pipelined after a body", "POST /p HTTP/1.1\r\n" H "Content-Length: 2\r\n\r\nokGET / HTTP/1.1",
     0, "/p", NULL, NULL, "ok", 14},
    {"body over the limit by length", "POST /p HTTP/1.1\r\n" H "Content-Length: 65\r\n\r\n",
     FDE_BODY_TOO_LARGE, NULL, NULL, NULL, NULL, 0},
    {"body over the limit by chunks",
     "POST /p HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
     "40\r\n0123456789012345678901234567890123456789012345678901"
     "234567890123\r\n1\r\nx\r\n0\r\n\r\n",
     FDE_BODY_TOO_LARGE, NULL, NULL, NULL, NULL, 0},
    {"bad chunk size", "POST /p HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
     FDE_BODY_UNPARSED, NULL, NULL, NULL, NULL, 0},
    {"method http_parser refuses", "BREW / HTTP/1.1\r\n" H "\r\n", FDE_HEAD_UNPARSED, NULL, NULL,
     NULL, NULL, 0},
    {"method frontd does not route", "PROPFIND / HTTP/1.1\r\n" H "\r\n", 0, "/", NULL, NULL, "", 0},
};

#define MAX_BODY 64

/* Read c->bytes the way conn.c does, the body fed in pieces of step bytes. */
static int run(const struct rcase *c, size_t step, struct http_request *req, size_t *rest)
{
    size_t len = strlen(c->bytes), end = 0;
    struct head_scan s;
    int err = 0;
    head_scan_init(&s);
    if (head_scan(&s, c->bytes, len, &end, &err) != HS_DONE)
        return err ? err : -1;
    struct head_info hi;
    head_check(c->bytes + s.lead, end - s.lead, &hi);
    if (hi.err)
        return hi.err;
    struct http_reader r;
    const char *details;
    http_request_reset(req);
    err = http_read_head(&r, req, c->bytes + s.lead, end - s.lead, &hi, MAX_BODY, &details);
    if (err)
        return err;
    size_t pos = end;
    while (!req->complete && pos < len) {
        size_t n = len - pos < step ? len - pos : step, used = 0;
        err = http_read_body(&r, c->bytes + pos, n, &used, &details);
        if (err)
            return err;
        pos += used;
        if (used < n && !req->complete)
            return -2; /* stopped without finishing or refusing */
    }
    *rest = len - pos;
    return req->complete ? 0 : -3;
}

void test_httpread(void)
{
    struct http_request req;
    http_request_init(&req);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct rcase *c = &cases[i];
        bool pass = true;
        for (size_t step = 1; step <= 64 && pass; step = step * 2 + 1) {
            size_t rest = 0;
            int got = run(c, step, &req, &rest);
            pass = got == c->err;
            if (pass && got == 0) {
                const struct http_hdr *h = c->field ? http_find(&req, c->field) : NULL;
                pass = req.url_len == strlen(c->target) &&
                       memcmp(req.url, c->target, req.url_len) == 0 &&
                       (!c->field || (h && h->vlen == strlen(c->value) &&
                                      memcmp(h->value, c->value, h->vlen) == 0)) &&
                       req.body.len == strlen(c->body) &&
                       (req.body.len == 0 || memcmp(req.body.data, c->body, req.body.len) == 0) &&
                       rest == c->rest;
            }
            if (!pass)
                diag("%s, body in pieces of %zu: got %d (%s)", c->name, step, got,
                     got > 0 ? fd_error(got)->code : "-");
        }
        ok(pass, "httpread: %s", c->name);
    }
    http_request_free(&req);
}
