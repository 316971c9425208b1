/*
 * router.c — fuzz target: route tables built from rows (as flov7.routes could hold them) and
 * requests matched against them.  Input lines: "R <method> <path> <function>" adds a route
 * row, anything else "<method> <path>" is a request; the routes of CONTRACT.md are always in
 * the table too, so requests meet a realistic trie.
 *
 * Checked beyond memory safety: a match's parameters lie inside the decode buffer and are as
 * many as the route has parameter segments; a 405 comes with an Allow list; HEAD finds what
 * GET finds; a match is stable (the same request twice gives the same route); and every
 * route the table kept names a function that is safe to put in SQL text.
 */
#include "http.h"
#include "router.h"

#include "fuzz.h"

static const char *const contract[][3] = {
    {"POST", "/api/v1/auth/login", "flov7_api.auth_login"},
    {"GET", "/api/v1/auth/me", "flov7_api.auth_me"},
    {"DELETE", "/api/v1/auth/api-keys/{key_id}", "flov7_api.api_key_revoke"},
    {"GET", "/api/v1/users/integrations/{id}", "flov7_api.integration_get"},
    {"PUT", "/api/v1/users/integrations/{id}", "flov7_api.integration_update"},
    {"PUT", "/api/v1/users/notifications/{id}/read", "flov7_api.notification_read"},
    {"PUT", "/api/v1/users/notifications/read-all", "flov7_api.notification_read_all"},
    {"GET", "/api/v1/workflows/{id}", "flov7_api.workflow_get"},
    {"GET", "/api/v1/workflows/templates", "flov7_api.template_list"},
    {"POST", "/api/v1/workflows/templates/{id}/use", "flov7_api.template_use"},
    {"POST", "/api/v1/workflows/{id}/execute", "flov7_api.workflow_execute"},
    {"GET", "/api/v1/workflows/executions/{id}", "flov7_api.execution_get"},
    {"GET", "/api/v1/workflows/schemas/{name}", "flov7_api.schema_get"},
    {"GET", "/api/v1/realtime/ws/workflows/{user_id}", "flov7_api.realtime_ws_workflows"},
};

#define MAX_ROWS 64

static int nparams_of(const struct route *r)
{
    int k = 0;
    for (int i = 0; i < r->nsegs; i++)
        k += r->segs[i].param;
    return k;
}

static void match(const struct route_table *t, int method, const char *path, size_t len,
                  struct sbuf *buf)
{
    struct route_match m;
    int rc = router_match(t, method, path, len, &m, buf);
    FUZZ_CHECK(rc == RM_OK || rc == RM_NOT_FOUND || rc == RM_BAD_METHOD || rc == RM_BAD_PATH);
    if (rc == RM_OK) {
        FUZZ_CHECK(m.route && m.pattern && m.allow);
        FUZZ_CHECK(m.nparams == nparams_of(m.route));
        for (int i = 0; i < m.nparams; i++) {
            FUZZ_CHECK(m.params[i].name && m.params[i].len > 0);
            FUZZ_CHECK(m.params[i].off + m.params[i].len <= buf->len);
        }
        /* the same request again: the same route (matching keeps no state) */
        struct route_match m2;
        struct sbuf b2;
        sbuf_init(&b2);
        FUZZ_CHECK(router_match(t, method, path, len, &m2, &b2) == RM_OK && m2.route == m.route);
        sbuf_free(&b2);
        if (method == M_GET) {
            sbuf_init(&b2);
            FUZZ_CHECK(router_match(t, M_HEAD, path, len, &m2, &b2) == RM_OK &&
                       m2.route == m.route);
            sbuf_free(&b2);
        }
    } else if (rc == RM_BAD_METHOD) {
        FUZZ_CHECK(m.allow && m.pattern && !m.route);
        FUZZ_CHECK(strstr(m.allow, "OPTIONS") != NULL);
    } else {
        FUZZ_CHECK(!m.route);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct route_row rows[MAX_ROWS];
    int nrows = 0;
    for (size_t i = 0; i < sizeof(contract) / sizeof(contract[0]); i++)
        rows[nrows++] = (struct route_row){
            contract[i][0], contract[i][1], contract[i][2], "200", "", "", "t", NULL, NULL};
    /* route rows first: the table is built once, then every request line is matched */
    char *save = NULL;
    char *copy = fuzz_cstr(data, size);
    for (char *line = strtok_r(copy, "\n", &save); line && nrows < MAX_ROWS;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] != 'R' || line[1] != ' ')
            continue;
        char *m = line + 2, *p = strchr(m, ' ');
        if (!p)
            continue;
        *p++ = 0;
        char *f = strchr(p, ' ');
        if (f)
            *f++ = 0;
        rows[nrows++] = (struct route_row){
            m, p, f ? f : "flov7_api.fuzz", "200", NULL, NULL, "f", "websocket", NULL};
    }
    struct route_table *t = router_build(rows, nrows, NULL, NULL);
    FUZZ_CHECK(t && t->nroutes <= nrows);
    for (int i = 0; i < t->nroutes; i++)
        FUZZ_CHECK(router_function_ok(t->routes[i].function));
    struct sbuf buf;
    sbuf_init(&buf);
    save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == 'R' && line[1] == ' ')
            continue;
        char *sp = strchr(line, ' ');
        const char *path = sp ? sp + 1 : line;
        int method = sp ? http_method_from(line, (size_t)(sp - line)) : M_GET;
        match(t, method, path, strlen(path), &buf);
    }
    /* the whole input as one path, bytes and all */
    char *whole = fuzz_copy(data, size);
    match(t, M_GET, whole, size, &buf);
    free(whole);
    sbuf_free(&buf);
    router_unref(t);
    router_shutdown();
    free(copy);
    free(text);
    return 0;
}
