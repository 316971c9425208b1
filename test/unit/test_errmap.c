/*
 * test_errmap.c — the SQLSTATE → HTTP status table of CONTRACT.md, row by row, with the
 * extra headers each status implies (WWW-Authenticate on 401, Retry-After on retryable 503).
 */
#include "errmap.h"
#include "tap.h"

#include <stddef.h>

struct ecase {
    const char *state;
    bool creds;
    int status;
    int flags;
};

static const struct ecase cases[] = {
    {"PT404", false, 404, 0},
    {"PT422", true, 422, 0},
    {"PT401", false, 401, EM_WWW_AUTHENTICATE},
    {"PT503", false, 503, EM_RETRY_AFTER},
    {"PT999", false, 500, 0},
    {"PT099", false, 500, 0},
    {"PTabc", false, 500, 0},
    {"FD001", true, 500, EM_RESERVED},
    {"FD503", false, 500, EM_RESERVED},
    {"P0002", true, 404, 0},
    {"28000", true, 401, EM_WWW_AUTHENTICATE},
    {"28P01", false, 401, EM_WWW_AUTHENTICATE},
    {"42501", false, 401, EM_WWW_AUTHENTICATE},
    {"42501", true, 403, 0},
    {"23505", true, 409, 0},
    {"23503", true, 409, 0},
    {"23502", true, 400, 0},
    {"23514", true, 400, 0},
    {"22P02", false, 400, 0},
    {"22023", false, 400, 0},
    {"22001", false, 400, 0},
    {"22021", false, 400, 0},
    {"P0001", false, 400, 0},
    {"53400", true, 403, 0},
    {"54000", false, 413, 0},
    {"54001", false, 413, 0},
    {"57014", true, 504, 0},
    {"40001", true, 503, EM_RETRY_AFTER},
    {"40P01", true, 503, EM_RETRY_AFTER},
    {"08006", true, 503, EM_RETRY_AFTER},
    {"08003", true, 503, EM_RETRY_AFTER},
    {"57P01", true, 503, EM_RETRY_AFTER},
    {"57P03", true, 503, EM_RETRY_AFTER},
    {"57000", true, 500, 0},
    {"42883", true, 500, 0},
    {"23000", true, 500, 0},
    {"XX000", true, 500, 0},
    {"", true, 500, 0},
    {"2200", true, 500, 0},
    {NULL, true, 500, 0},
};

void test_errmap(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ecase *c = &cases[i];
        int flags = -1;
        int st = errmap_status(c->state, c->creds, &flags);
        ok(st == c->status && flags == c->flags, "errmap: %s%s -> %d (got %d, flags %d)",
           c->state ? c->state : "NULL", c->creds ? " with credentials" : "", c->status, st, flags);
    }
}
