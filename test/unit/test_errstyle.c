/*
 * test_errstyle.c — the original platform's error bodies (errstyle.c): which statuses change
 * (401 without credentials → 403, a 400 naming a field → 422), FastAPI's validation shape
 * with the field's location, and JSON escaping of what the database said.
 */
#include "errstyle.h"
#include "tap.h"

#include <stddef.h>
#include <string.h>

struct scase {
    int status;
    bool creds, field;
    int want;
};

static const struct scase statuses[] = {
    {401, false, false, 403}, {401, true, false, 401}, {400, true, true, 422},
    {400, false, true, 422},  {400, true, false, 400}, {404, true, true, 404},
    {403, true, false, 403},  {409, true, true, 409},  {500, false, false, 500},
};

struct bcase {
    int status;
    const char *message, *field, *where, *sqlstate, *want;
};

static const struct bcase bodies[] = {
    {404, "integration not found", NULL, NULL, "P0002", "{\"detail\":\"integration not found\"}"},
    {400, "No fields to update", NULL, NULL, "22023", "{\"detail\":\"No fields to update\"}"},
    {422, "invalid email address", "email", "body", "22023",
     "{\"detail\":[{\"loc\":[\"body\",\"email\"],\"msg\":\"invalid email address\",\"type\":"
     "\"value_error\"}]}"},
    {422, "field \"id\" must be a UUID", "id", "path", "22P02",
     "{\"detail\":[{\"loc\":[\"path\",\"id\"],\"msg\":\"field \\\"id\\\" must be a UUID\","
     "\"type\":\"type_error\"}]}"},
    {422, "bad", "permissions.read", "body", "22023",
     "{\"detail\":[{\"loc\":[\"body\",\"permissions\",\"read\"],\"msg\":\"bad\",\"type\":"
     "\"value_error\"}]}"},
    {422, "when?", "expires_at", "query", "22007",
     "{\"detail\":[{\"loc\":[\"query\",\"expires_at\"],\"msg\":\"when?\",\"type\":"
     "\"value_error.datetime\"}]}"},
    {422, "no field", NULL, NULL, "22023", "{\"detail\":\"no field\"}"},
    {500, NULL, NULL, NULL, NULL, "{\"detail\":\"\"}"},
};

void test_errstyle(void)
{
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        const struct scase *c = &statuses[i];
        int got = errstyle_status(c->status, c->creds, c->field);
        ok(got == c->want, "errstyle: %d%s%s -> %d (got %d)", c->status,
           c->creds ? " with credentials" : "", c->field ? " naming a field" : "", c->want, got);
    }
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        const struct bcase *c = &bodies[i];
        struct sbuf b;
        sbuf_init(&b);
        errstyle_body(&b, c->status, c->message, c->field, c->where, errstyle_type(c->sqlstate));
        ok(b.data && strcmp(b.data, c->want) == 0, "errstyle: body %zu is %s (got %s)", i, c->want,
           b.data ? b.data : "NULL");
        sbuf_free(&b);
    }
}
