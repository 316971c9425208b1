/*
 * test_http.c — the raw header-block scanner and the strict checker, from a table of request
 * heads: request-smuggling shapes (CL+TE, duplicate or list Content-Length, TE other than
 * chunked, whitespace before the colon, NUL, bare LF/CR, obs-fold), Host rules, versions, and
 * request-target splitting.
 */
#include "http.h"
#include "errors.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define MORE (-1) /* head not complete yet */

struct hcase {
    const char *name;
    const char *bytes;
    size_t len; /* 0 = strlen (cases with NUL give it) */
    int status; /* 0 acceptable, 400/431/505, or MORE */
    long long cl;
    int chunked;
};

#define GET_OK "GET / HTTP/1.1\r\nHost: x\r\n"

static const struct hcase cases[] = {
    {"simple GET", GET_OK "\r\n", 0, 0, 0, 0},
    {"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 0, 0, 0, 0},
    {"leading empty line ignored", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 0, 0, 0},
    {"incomplete head", GET_OK, 0, MORE, 0, 0},
    {"POST with Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n", 0, 0,
     12, 0},
    {"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0, 0, 1},
    {"chunked, any case", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", 0, 0,
     0, 1},
    {"OWS around values", GET_OK "X-A: \t b \t\r\n\r\n", 0, 0, 0, 0},
    {"obs-text in a value", GET_OK "X-A: caf\xe9\r\n\r\n", 0, 0, 0, 0},
    {"HTTP/1.2 is HTTP/1.x", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 0, 0, 0, 0},
    /* smuggling shapes */
    {"CL and TE",
     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
     400, 0, 0},
    {"TE and CL",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", 0,
     400, 0, 0},
    {"two equal CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
     0, 400, 0, 0},
    {"two different CL",
     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", 0, 400, 0, 0},
    {"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n", 0, 400, 0, 0},
    {"negative CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 0, 400, 0, 0},
    {"plus CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n", 0, 400, 0, 0},
    {"hex CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\n", 0, 400, 0, 0},
    {"empty CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 0, 400, 0, 0},
    {"huge CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456789012\r\n\r\n", 0,
     400, 0, 0},
    {"TE chunked, identity",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 0, 400, 0, 0},
    {"TE gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 0, 400, 0, 0},
    {"two TE",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     0, 400, 0, 0},
    {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400, 0, 0},
    {"space before colon", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", 0,
     400, 0, 0},
    {"tab before colon", GET_OK "X-A\t: b\r\n\r\n", 0, 400, 0, 0},
    {"space inside a name", GET_OK "X A: b\r\n\r\n", 0, 400, 0, 0},
    {"obs-fold", GET_OK "X-A: b\r\n c\r\n\r\n", 0, 400, 0, 0},
    {"field without colon", GET_OK "NoColonHere\r\n\r\n", 0, 400, 0, 0},
    {"empty field name", GET_OK ": b\r\n\r\n", 0, 400, 0, 0},
    {"NUL in a value", GET_OK "X-A: a\0b\r\n\r\n", sizeof(GET_OK "X-A: a\0b\r\n\r\n") - 1, 400, 0,
     0},
    {"NUL in the request line", "GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n",
     sizeof("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n") - 1, 400, 0, 0},
    {"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 0, 400, 0, 0},
    {"bare LF mixed", "GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 0, 400, 0, 0},
    {"bare CR", "GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 0, 400, 0, 0},
    {"control char in a value", GET_OK "X-A: a\x01 b\r\n\r\n", 0, 400, 0, 0},
    {"DEL in a value", GET_OK "X-A: a\x7f\r\n\r\n", 0, 400, 0, 0},
    /* Host */
    {"missing Host in HTTP/1.1", "GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 0, 400, 0, 0},
    {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 0, 400, 0, 0},
    {"empty Host is allowed", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 0, 0, 0, 0},
    /* request line */
    {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 0, 505, 0, 0},
    {"HTTP/9.9", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 0, 505, 0, 0},
    {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\n", 0, 505, 0, 0},
    {"HTTP/1", "GET / HTTP/1\r\nHost: x\r\n\r\n", 0, 400, 0, 0},
    {"garbage request line", "HELLO THERE\r\n\r\n", 0, 400, 0, 0},
    {"double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, 0, 0},
    {"lower-case version", "GET / http/1.1\r\nHost: x\r\n\r\n", 0, 400, 0, 0},
    {"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 0, 400, 0, 0},
    {"HTTP/0.9 style", "GET /\r\n\r\n", 0, 400, 0, 0},
};

static int run_case(const struct hcase *c, struct head_info *hi)
{
    size_t len = c->len ? c->len : strlen(c->bytes), end = 0;
    struct head_scan s;
    int err = 0;
    head_scan_init(&s);
    /* feed byte by byte: the scanner must be incremental */
    int r = HS_MORE;
    for (size_t i = 1; i <= len && r == HS_MORE; i++)
        r = head_scan(&s, c->bytes, i, &end, &err);
    if (r == HS_BAD)
        return fd_error_status(err);
    if (r == HS_MORE)
        return MORE;
    head_check(c->bytes + s.lead, end - s.lead, hi);
    return fd_error_status(hi->err);
}

static void many_fields(void)
{
    struct sbuf b;
    sbuf_init(&b);
    sbuf_adds(&b, GET_OK);
    for (int i = 0; i < HTTP_MAX_FIELDS; i++)
        sbuf_printf(&b, "X-F%d: v\r\n", i);
    sbuf_adds(&b, "\r\n");
    struct head_info hi;
    head_check(b.data, b.len, &hi);
    ok(hi.err == FDE_TOO_MANY_FIELDS, "http: more than %d fields -> 431 (got %d)", HTTP_MAX_FIELDS,
       fd_error_status(hi.err));
    sbuf_free(&b);
}

struct tcase {
    const char *target, *path, *query;
    bool ok;
};

static const struct tcase targets[] = {
    {"/a/b", "/a/b", NULL, true},
    {"/a/b?x=1&y=2", "/a/b", "x=1&y=2", true},
    {"/a?", "/a", "", true},
    {"/a#frag", "/a", NULL, true},
    {"http://host:8000/p/q?z", "/p/q", "z", true},
    {"HTTPS://host", "/", NULL, true},
    {"http://host?x=1", "/", "x=1", true},
    {"*", NULL, NULL, false},
    {"a/b", NULL, NULL, false},
    {"ftp://h/x", NULL, NULL, false},
};

void test_http(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hcase *c = &cases[i];
        struct head_info hi;
        memset(&hi, 0, sizeof(hi));
        int st = run_case(c, &hi);
        bool pass = st == c->status;
        if (pass && st == 0)
            pass = (long long)hi.content_length == c->cl && hi.chunked == (c->chunked != 0);
        if (!ok(pass, "http: %s -> %d", c->name, c->status))
            diag("got %d (%s)", st, hi.err ? fd_error(hi.err)->message : "");
    }
    many_fields();
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        const struct tcase *t = &targets[i];
        const char *p = NULL, *q = NULL;
        size_t pl = 0, ql = 0;
        bool r = http_split_target(t->target, strlen(t->target), &p, &pl, &q, &ql);
        bool pass = r == t->ok;
        if (pass && r) {
            pass = pl == strlen(t->path) && memcmp(p, t->path, pl) == 0;
            if (t->query)
                pass = pass && q && ql == strlen(t->query) && memcmp(q, t->query, ql) == 0;
            else
                pass = pass && q == NULL;
        }
        ok(pass, "http: target \"%s\" splits", t->target);
    }
    ok(strcmp(http_status_text(431), "Request Header Fields Too Large") == 0 &&
           strcmp(http_status_text(599), "Server Error") == 0,
       "http: status texts");
    ok(http_method_from("PATCH", 5) == M_PATCH && http_method_from("GETX", 4) == M_OTHER &&
           http_method_from("get", 3) == M_OTHER,
       "http: methods are case-sensitive tokens");
}
