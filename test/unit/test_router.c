/*
 * test_router.c — route table building and matching, from tables: literal beats parameter at
 * each segment (with fallback), trailing slash, percent-decoded parameters, 405 + Allow, HEAD
 * and OPTIONS, and rows the builder must skip.
 */
#include "router.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static const struct route_row rows[] = {
    {"GET", "/api/v1/auth/me", "flov7_api.auth_me", "200", "me", "auth", "t", NULL, "original"},
    {"POST", "/api/v1/auth/login", "flov7_api.auth_login", "200", "", "auth", "t", NULL, NULL},
    {"DELETE", "/api/v1/auth/api-keys/{key_id}", "flov7_api.api_key_revoke", "204", "", "auth", "f",
     NULL, NULL},
    {"GET", "/api/v1/users/integrations", "flov7_api.integration_list", "200", "", "users", "f",
     NULL, NULL},
    {"POST", "/api/v1/users/integrations", "flov7_api.integration_create", "201", "", "users", "f",
     NULL, NULL},
    {"GET", "/api/v1/users/integrations/{id}", "flov7_api.integration_get", "200", "", "users", "t",
     NULL, NULL},
    {"PUT", "/api/v1/users/integrations/{id}", "flov7_api.integration_update", "200", "", "u", "f",
     NULL, NULL},
    {"DELETE", "/api/v1/users/integrations/{id}", "flov7_api.integration_delete", "204", "", "u",
     "f", NULL, NULL},
    {"PUT", "/api/v1/users/notifications/{id}/read", "flov7_api.notification_read", "200", "", "u",
     "f", NULL, NULL},
    {"PUT", "/api/v1/users/notifications/read-all", "flov7_api.notification_read_all", "200", "",
     "", "f", NULL, NULL},
    {"GET", "/w/templates", "t.templates", "200", "", "", "f", NULL, NULL},
    {"GET", "/w/{id}", "t.workflow_get", "200", "", "", "f", NULL, NULL},
    {"GET", "/a/{x}/c", "t.axc", "200", "", "", NULL, NULL, NULL},
    {"GET", "/a/b/{y}", "t.aby", "200", "", "", "f", NULL, NULL},
    {"PATCH", "/trailing/", "t.trailing", "200", "", "", "t", NULL, NULL},
    /* rows the builder must skip (5) */
    {"TRACE", "/bad/method", "t.x", "200", "", "", "f", NULL, NULL},
    {"GET", "no-leading-slash", "t.x", "200", "", "", "f", NULL, NULL},
    {"GET", "/bad/function", "t.x; DROP TABLE x", "200", "", "", "f", NULL, NULL},
    {"GET", "/bad/status", "t.x", "99", "", "", "f", NULL, NULL},
    {"GET", "/api/v1/auth/me", "flov7_api.duplicate", "200", "", "", "f", NULL, NULL},
};

struct rcase {
    const char *method, *path;
    int rc;
    const char *function; /* on RM_OK */
    const char *params;   /* "name=value;..." on RM_OK */
    const char *allow;    /* on RM_BAD_METHOD */
};

static const struct rcase cases[] = {
    {"GET", "/api/v1/auth/me", RM_OK, "flov7_api.auth_me", "", NULL},
    {"GET", "/api/v1/auth/me/", RM_OK, "flov7_api.auth_me", "", NULL},
    {"HEAD", "/api/v1/auth/me", RM_OK, "flov7_api.auth_me", "", NULL},
    {"GET", "/api/v1/auth/m%65", RM_OK, "flov7_api.auth_me", "", NULL},
    {"DELETE", "/api/v1/auth/me", RM_BAD_METHOD, NULL, NULL, "GET, HEAD, OPTIONS"},
    {"OPTIONS", "/api/v1/auth/me", RM_BAD_METHOD, NULL, NULL, "GET, HEAD, OPTIONS"},
    {"GET", "/api/v1/auth/login", RM_BAD_METHOD, NULL, NULL, "POST, OPTIONS"},
    {"POST", "/api/v1/auth/login/", RM_OK, "flov7_api.auth_login", "", NULL},
    {"DELETE", "/api/v1/auth/api-keys/k-1", RM_OK, "flov7_api.api_key_revoke", "key_id=k-1;", NULL},
    {"GET", "/api/v1/auth/api-keys/k-1", RM_BAD_METHOD, NULL, NULL, "DELETE, OPTIONS"},
    {"GET", "/api/v1/users/integrations", RM_OK, "flov7_api.integration_list", "", NULL},
    {"PATCH", "/api/v1/users/integrations", RM_BAD_METHOD, NULL, NULL, "GET, HEAD, POST, OPTIONS"},
    {"GET", "/api/v1/users/integrations/abc", RM_OK, "flov7_api.integration_get", "id=abc;", NULL},
    {"PUT", "/api/v1/users/integrations/abc/", RM_OK, "flov7_api.integration_update", "id=abc;",
     NULL},
    {"POST", "/api/v1/users/integrations/abc", RM_BAD_METHOD, NULL, NULL,
     "GET, HEAD, PUT, DELETE, OPTIONS"},
    {"GET", "/api/v1/users/integrations/a%2Fb%20c", RM_OK, "flov7_api.integration_get", "id=a/b c;",
     NULL},
    {"GET", "/api/v1/users/integrations/a+b", RM_OK, "flov7_api.integration_get", "id=a+b;", NULL},
    {"GET", "/api/v1/users/integrations/%zz", RM_BAD_PATH, NULL, NULL, NULL},
    {"GET", "/api/v1/users/integrations/%4", RM_BAD_PATH, NULL, NULL, NULL},
    /* literal beats parameter */
    {"PUT", "/api/v1/users/notifications/read-all", RM_OK, "flov7_api.notification_read_all", "",
     NULL},
    {"GET", "/api/v1/users/notifications/read-all", RM_BAD_METHOD, NULL, NULL, "PUT, OPTIONS"},
    {"PUT", "/api/v1/users/notifications/n1/read", RM_OK, "flov7_api.notification_read", "id=n1;",
     NULL},
    {"PUT", "/api/v1/users/notifications/read-all/read", RM_OK, "flov7_api.notification_read",
     "id=read-all;", NULL},
    {"GET", "/w/templates", RM_OK, "t.templates", "", NULL},
    {"GET", "/w/templates2", RM_OK, "t.workflow_get", "id=templates2;", NULL},
    {"GET", "/w/42", RM_OK, "t.workflow_get", "id=42;", NULL},
    {"GET", "/a/b/c", RM_OK, "t.aby", "y=c;", NULL},
    {"GET", "/a/b/d", RM_OK, "t.aby", "y=d;", NULL},
    {"GET", "/a/z/c", RM_OK, "t.axc", "x=z;", NULL},
    {"GET", "/a/b", RM_NOT_FOUND, NULL, NULL, NULL},
    {"PATCH", "/trailing", RM_OK, "t.trailing", "", NULL},
    /* not found */
    {"GET", "/", RM_NOT_FOUND, NULL, NULL, NULL},
    {"GET", "/nope", RM_NOT_FOUND, NULL, NULL, NULL},
    {"GET", "/api/v1/auth/me/extra", RM_NOT_FOUND, NULL, NULL, NULL},
    {"GET", "/api/v1//auth/me", RM_NOT_FOUND, NULL, NULL, NULL},
    {"GET", "/api/v1/users/integrations//", RM_NOT_FOUND, NULL, NULL, NULL},
    {"GET", "/api/v1/users/integrations/a/b/c", RM_NOT_FOUND, NULL, NULL, NULL},
    {"GET", "/bad/method", RM_NOT_FOUND, NULL, NULL, NULL},
    {"GET", "/bad/function", RM_NOT_FOUND, NULL, NULL, NULL},
    {"GET", "/bad/status", RM_NOT_FOUND, NULL, NULL, NULL},
    {"GET", "relative", RM_BAD_PATH, NULL, NULL, NULL},
};

static int warnings;

static void count_warn(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
    warnings++;
}

void test_router(void)
{
    struct route_table *t = router_build(rows, sizeof(rows) / sizeof(rows[0]), count_warn, NULL);
    ok(t->nroutes == 15, "router: 15 valid routes kept (got %d)", t->nroutes);
    ok(warnings == 5, "router: 5 bad rows skipped with a warning (got %d)", warnings);
    struct sbuf buf, got;
    sbuf_init(&buf);
    sbuf_init(&got);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct rcase *c = &cases[i];
        struct route_match m;
        int meth = http_method_from(c->method, strlen(c->method));
        int rc = router_match(t, meth, c->path, strlen(c->path), &m, &buf);
        bool pass = rc == c->rc;
        if (pass && rc == RM_OK) {
            sbuf_reset(&got);
            for (int p = 0; p < m.nparams; p++)
                sbuf_printf(&got, "%s=%.*s;", m.params[p].name, (int)m.params[p].len,
                            buf.data + m.params[p].off);
            pass = strcmp(m.route->function, c->function) == 0 &&
                   strcmp(sbuf_cstr(&got), c->params) == 0;
        }
        if (pass && rc == RM_BAD_METHOD)
            pass = m.allow && strcmp(m.allow, c->allow) == 0;
        if (!ok(pass, "router: %s %s -> %d", c->method, c->path, c->rc))
            diag("got rc %d function %s params \"%s\" allow \"%s\"", rc,
                 m.route ? m.route->function : "-", sbuf_cstr(&got), m.allow ? m.allow : "-");
    }
    /* read_only holds for a GET that says so, never for another method */
    static const struct {
        int method;
        const char *path;
        bool read_only;
    } ro[] = {
        {M_GET, "/api/v1/auth/me", true},
        {M_HEAD, "/api/v1/auth/me", true},
        {M_GET, "/api/v1/users/integrations", false},
        {M_GET, "/api/v1/users/integrations/x", true},
        {M_PUT, "/api/v1/users/integrations/x", false},
        {M_POST, "/api/v1/auth/login", false},
        {M_PATCH, "/trailing", false},
        {M_GET, "/a/z/c", false},
    };
    for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
        struct route_match m;
        int rc = router_match(t, ro[i].method, ro[i].path, strlen(ro[i].path), &m, &buf);
        ok(rc == RM_OK && m.route->read_only == ro[i].read_only, "router: %s %s read_only=%d",
           http_method_name(ro[i].method == M_HEAD ? M_GET : ro[i].method), ro[i].path,
           ro[i].read_only);
    }
    /* the error style: "original" where the row says so, flov7's otherwise (also NULL) */
    struct route_match m;
    ok(router_match(t, M_GET, "/api/v1/auth/me", 15, &m, &buf) == RM_OK &&
           m.route->errors == ERRORS_ORIGINAL,
       "router: error_style original");
    ok(router_match(t, M_POST, "/api/v1/auth/login", 18, &m, &buf) == RM_OK &&
           m.route->errors == ERRORS_FLOV7,
       "router: error_style NULL is flov7's");
    /* the pattern used as the metrics label */
    router_match(t, M_GET, "/api/v1/users/integrations/xyz", 30, &m, &buf);
    ok(m.pattern && strcmp(m.pattern, "/api/v1/users/integrations/{id}") == 0,
       "router: match reports the route pattern");
    /* function ids are interned across tables */
    int id = router_function_id("flov7_api.auth_me");
    struct route_table *t2 = router_build(rows, 1, NULL, NULL);
    ok(t2->routes[0].fn_id == id, "router: function ids stable across reloads");
    ok(router_function_ok("flov7_api.auth_me") && !router_function_ok("auth_me") &&
           !router_function_ok("a.b.c") && !router_function_ok("A.b") &&
           !router_function_ok("a.b()") && !router_function_ok("a.1b"),
       "router: only schema.name lower-case identifiers are put in SQL");
    router_unref(t2);
    router_unref(t);
    router_shutdown();
    sbuf_free(&buf);
    sbuf_free(&got);
}
