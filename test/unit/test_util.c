/*
 * test_util.c — percent-decoding, query string → JSON (last repeated key wins), JSON string
 * escaping and UTF-8 checking, CORS origin lists, request-id syntax.
 */
#include "cors.h"
#include "errors.h"
#include "tap.h"
#include "util.h"

#include <string.h>

struct pct_case {
    const char *in;
    bool plus;
    bool ok;
    const char *out;
};

static const struct pct_case pct_cases[] = {
    {"abc", false, true, "abc"},       {"a%20b", false, true, "a b"},
    {"a+b", true, true, "a b"},        {"a+b", false, true, "a+b"},
    {"%41%42%43", false, true, "ABC"}, {"%e2%82%AC", false, true, "\xe2\x82\xac"},
    {"%2F", false, true, "/"},         {"%", false, false, NULL},
    {"%4", false, false, NULL},        {"a%zz", false, false, NULL},
    {"%%41", false, false, NULL},      {"", false, true, ""},
};

struct q_case {
    const char *in;
    const char *json; /* NULL = error */
};

static const struct q_case q_cases[] = {
    {"", "{}"},
    {"a=1", "{\"a\":\"1\"}"},
    {"a=1&b=2", "{\"a\":\"1\",\"b\":\"2\"}"},
    {"a=1&a=2", "{\"a\":\"2\"}"},
    {"a=1&b=2&a=3", "{\"b\":\"2\",\"a\":\"3\"}"},
    {"a", "{\"a\":\"\"}"},
    {"a=&b", "{\"a\":\"\",\"b\":\"\"}"},
    {"=x&&b=1&", "{\"b\":\"1\"}"},
    {"k%20y=v+w", "{\"k y\":\"v w\"}"},
    {"q=a%22b%5C", "{\"q\":\"a\\\"b\\\\\"}"},
    {"x=a=b", "{\"x\":\"a=b\"}"},
    {"limit=10&offset=0", "{\"limit\":\"10\",\"offset\":\"0\"}"},
    {"u=%C3%A9", "{\"u\":\"\xc3\xa9\"}"},
    {"n=%00", "{\"n\":\"\\u0000\"}"},
    {"x=%zz", NULL},
    {"%zz=1", NULL},
    {"x=%ff", NULL},
    {"x=%C3", NULL},
};

struct j_case {
    const char *name;
    const char *in;
    size_t len;
    int flags;
    bool ok;
    const char *out;
};

static const struct j_case j_cases[] = {
    {"plain", "abc", 3, 0, true, "\"abc\""},
    {"quote and backslash", "a\"b\\c", 5, 0, true, "\"a\\\"b\\\\c\""},
    {"short escapes", "\n\r\t\b\f", 5, 0, true, "\"\\n\\r\\t\\b\\f\""},
    {"control chars", "\x01\x1f", 2, 0, true, "\"\\u0001\\u001f\""},
    {"NUL", "a\0b", 3, 0, true, "\"a\\u0000b\""},
    {"DEL", "\x7f", 1, 0, true, "\"\\u007f\""},
    {"slash kept", "a/b", 3, 0, true, "\"a/b\""},
    {"UTF-8 kept", "\xc3\xa9\xe6\x9d\xb1\xf0\x9f\x98\x80", 9, JSON_STRICT, true,
     "\"\xc3\xa9\xe6\x9d\xb1\xf0\x9f\x98\x80\""},
    {"lower-case names", "Content-Type", 12, JSON_LOWER, true, "\"content-type\""},
    {"invalid byte replaced",
     "a\xff"
     "b",
     3, JSON_REPLACE, true,
     "\"a\xef\xbf\xbd"
     "b\""},
    {"invalid byte strict", "a\xff", 2, JSON_STRICT, false, NULL},
    {"overlong strict", "\xc0\xaf", 2, JSON_STRICT, false, NULL},
    {"overlong 3-byte strict", "\xe0\x80\xaf", 3, JSON_STRICT, false, NULL},
    {"surrogate strict", "\xed\xa0\x80", 3, JSON_STRICT, false, NULL},
    {"above U+10FFFF strict", "\xf4\x90\x80\x80", 4, JSON_STRICT, false, NULL},
    {"truncated sequence strict", "\xe2\x82", 2, JSON_STRICT, false, NULL},
    {"5-byte form strict", "\xf8\x88\x80\x80\x80", 5, JSON_STRICT, false, NULL},
    {"truncated replaced", "\xe2\x82", 2, JSON_REPLACE, true, "\"\xef\xbf\xbd\xef\xbf\xbd\""},
};

void test_util(void)
{
    struct sbuf b;
    sbuf_init(&b);
    for (size_t i = 0; i < sizeof(pct_cases) / sizeof(pct_cases[0]); i++) {
        const struct pct_case *c = &pct_cases[i];
        sbuf_reset(&b);
        bool r = pct_decode(&b, c->in, strlen(c->in), c->plus);
        ok(r == c->ok && (!r || (b.len == strlen(c->out) && memcmp(b.data, c->out, b.len) == 0)),
           "pct_decode: \"%s\"%s", c->in, c->plus ? " (+ is space)" : "");
    }
    for (size_t i = 0; i < sizeof(q_cases) / sizeof(q_cases[0]); i++) {
        const struct q_case *c = &q_cases[i];
        sbuf_reset(&b);
        int err = query_to_json(&b, c->in, strlen(c->in));
        bool pass =
            c->json ? (!err && strcmp(sbuf_cstr(&b), c->json) == 0) : fd_error_status(err) == 400;
        if (!ok(pass, "query: \"%s\"", c->in))
            diag("got %s / %s", err ? fd_error(err)->message : "-", sbuf_cstr(&b));
    }
    struct sbuf big;
    sbuf_init(&big);
    for (int i = 0; i <= QUERY_MAX_PARAMS; i++)
        sbuf_printf(&big, "p%d=1&", i);
    sbuf_reset(&b);
    ok(query_to_json(&b, big.data, big.len) == FDE_QUERY_TOO_MANY,
       "query: more than %d parameters refused", QUERY_MAX_PARAMS);
    sbuf_free(&big);
    for (size_t i = 0; i < sizeof(j_cases) / sizeof(j_cases[0]); i++) {
        const struct j_case *c = &j_cases[i];
        sbuf_reset(&b);
        bool r = json_add_string(&b, c->in, c->len, c->flags);
        bool pass = r == c->ok && (!r || strcmp(sbuf_cstr(&b), c->out) == 0);
        if (!ok(pass, "json escape: %s", c->name))
            diag("got %s", sbuf_cstr(&b));
    }
    sbuf_free(&b);

    struct cors cs;
    ok(cors_parse("", &cs) == NULL && !cs.any && cs.n == 0 && !cors_allowed(&cs, "http://a", 8),
       "cors: empty list allows nothing");
    cors_free(&cs);
    ok(cors_parse("*", &cs) == NULL && cs.any && cors_allowed(&cs, "http://x.example", 16),
       "cors: * allows any origin");
    cors_free(&cs);
    ok(cors_parse(" http://a.example , https://b.example:8443", &cs) == NULL && cs.n == 2 &&
           cors_allowed(&cs, "https://b.example:8443", 22) &&
           cors_allowed(&cs, "HTTP://A.EXAMPLE", 16) &&
           !cors_allowed(&cs, "http://a.example.evil", 21) &&
           !cors_allowed(&cs, "https://a.example", 17),
       "cors: exact origins only");
    cors_free(&cs);
    ok(cors_parse("a.example", &cs) != NULL, "cors: origin without scheme refused");
    ok(cors_parse("http://a.example/", &cs) != NULL, "cors: origin with a path refused");

    ok(request_id_ok("abc-DEF_1.2:3", 13), "request id: token characters kept");
    ok(!request_id_ok("", 0), "request id: empty refused");
    ok(!request_id_ok("a b", 3) && !request_id_ok("a\"b", 3) && !request_id_ok("<x>", 3),
       "request id: spaces, quotes, markup refused");
    char longid[66];
    memset(longid, 'a', 65);
    ok(request_id_ok(longid, 64) && !request_id_ok(longid, 65), "request id: at most 64 chars");
    ok(str_ieq("Content-LENGTH", 14, "content-length") &&
           !str_ieq("content-lengt", 13, "content-length"),
       "str_ieq: case-insensitive, whole string");
}
