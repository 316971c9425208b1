/*
 * test_resphdr.c — response.headers (CONTRACT.md): what a function may add to its answer, row
 * by row; a refused set adds nothing at all.
 */
#include "resphdr.h"
#include "tap.h"

#include <string.h>

struct rcase {
    const char *json;
    const char *want; /* the lines added, or NULL when refused */
};

static const struct rcase cases[] = {
    {"", ""},
    {"[]", ""},
    {"[{\"Retry-After\": \"60\"}]", "Retry-After: 60\r\n"},
    {"[{\"Retry-After\":\"60\"},{\"Cache-Control\":\"no-store, max-age=0\"}]",
     "Retry-After: 60\r\nCache-Control: no-store, max-age=0\r\n"},
    {"[{\"X-Thing\": \"\"}]", "X-Thing: \r\n"},
    {"[{\"Set-Cookie\": \"a=b; Path=/; HttpOnly\"}]", "Set-Cookie: a=b; Path=/; HttpOnly\r\n"},
    /* not the PostgREST shape */
    {"{\"Retry-After\": \"60\"}", NULL},
    {"[{\"Retry-After\": \"60\", \"X-Other\": \"1\"}]", NULL},
    {"[{}]", NULL},
    {"[\"Retry-After: 60\"]", NULL},
    {"[{\"Retry-After\": 60}]", NULL},
    {"[{\"Retry-After\": null}]", NULL},
    {"[{\"Retry-After\": \"60\"}] x", NULL},
    {"[{\"Retry-After\": \"60\"}", NULL},
    {"not json", NULL},
    /* header injection and bad names */
    {"[{\"X-A\": \"1\\r\\nX-Injected: 2\"}]", NULL},
    {"[{\"X-A\": \"line\\nbreak\"}]", NULL},
    {"[{\"X-A\": \"nul\\u0000byte\"}]", NULL},
    {"[{\"X-A\": \"caf\\u00e9\"}]", NULL},
    {"[{\"X A\": \"1\"}]", NULL},
    {"[{\"X-A:\": \"1\"}]", NULL},
    {"[{\"\": \"1\"}]", NULL},
    {"[{\"X-A\\r\\nX-B\": \"1\"}]", NULL},
    /* headers frontd owns */
    {"[{\"Content-Length\": \"0\"}]", NULL},
    {"[{\"transfer-encoding\": \"chunked\"}]", NULL},
    {"[{\"Connection\": \"close\"}]", NULL},
    {"[{\"Content-Type\": \"text/html\"}]", NULL},
    {"[{\"X-Request-Id\": \"forged\"}]", NULL},
    {"[{\"WWW-Authenticate\": \"Basic\"}]", NULL},
    {"[{\"Access-Control-Allow-Origin\": \"*\"}]", NULL},
    {"[{\"Date\": \"yesterday\"}]", NULL},
    /* a refusal anywhere refuses the whole set */
    {"[{\"Retry-After\": \"60\"},{\"Content-Length\": \"5\"}]", NULL},
    {"[{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":"
     "\"1\"},"
     "{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":"
     "\"1\"},"
     "{\"a\":\"1\"},{\"a\":\"1\"},{\"a\":\"1\"}]",
     NULL},
};

void test_resphdr(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct rcase *c = &cases[i];
        struct sbuf out;
        sbuf_init(&out);
        sbuf_addlit(&out, "Before: 1\r\n");
        const char *why = resphdr_render(c->json, strlen(c->json), &out);
        const char *added = sbuf_cstr(&out) + strlen("Before: 1\r\n");
        if (c->want)
            ok(!why && strcmp(added, c->want) == 0, "resphdr: %s -> added (got %s)", c->json,
               why ? why : added);
        else
            ok(why && out.len == strlen("Before: 1\r\n"), "resphdr: %s -> refused, nothing added",
               c->json);
        sbuf_free(&out);
    }
    /* a value past the size limit */
    struct sbuf big, out;
    sbuf_init(&big);
    sbuf_init(&out);
    sbuf_addlit(&big, "[{\"X-Big\": \"");
    for (int i = 0; i < RESPHDR_MAX_BYTES; i++)
        sbuf_addc(&big, 'a');
    sbuf_addlit(&big, "\"}]");
    ok(resphdr_render(big.data, big.len, &out) != NULL && out.len == 0,
       "resphdr: more than RESPHDR_MAX_BYTES is refused");
    sbuf_free(&big);
    sbuf_free(&out);
}
