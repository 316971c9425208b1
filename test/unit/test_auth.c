/*
 * test_auth.c — JWT claim rules (integer exp required; exp/nbf/iat with leeway; role limited to
 * flov7_user/flov7_admin), the syntax gate before libjwt, and whole-request decisions with
 * tokens signed here by libjwt: algorithm pinning, wrong key, API keys, schemes, the cache.
 */
#include "auth.h"
#include "errors.h"
#include "tap.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY    "0123456789abcdef0123456789abcdef-unit"
#define NOW    1800000000LL
#define LEEWAY 30

struct claim_case {
    const char *name;
    const char *json;
    bool accept;
    const char *role;
};

/* %E = exp, %N = nbf, %I = iat are spelled out as numbers relative to NOW */
static const struct claim_case claim_cases[] = {
    {"valid user", "{\"exp\":1800000100,\"role\":\"flov7_user\"}", true, ROLE_USER},
    {"valid admin", "{\"exp\":1800000100,\"role\":\"flov7_admin\",\"sub\":\"x\"}", true,
     ROLE_ADMIN},
    {"exp within leeway", "{\"exp\":1799999971,\"role\":\"flov7_user\"}", true, ROLE_USER},
    {"exp at leeway edge", "{\"exp\":1799999970,\"role\":\"flov7_user\"}", false, NULL},
    {"exp beyond leeway", "{\"exp\":1799999900,\"role\":\"flov7_user\"}", false, NULL},
    {"exp missing", "{\"role\":\"flov7_user\"}", false, NULL},
    {"exp string", "{\"exp\":\"1800000100\",\"role\":\"flov7_user\"}", false, NULL},
    {"exp float", "{\"exp\":1800000100.5,\"role\":\"flov7_user\"}", false, NULL},
    {"exp bool", "{\"exp\":true,\"role\":\"flov7_user\"}", false, NULL},
    {"exp null", "{\"exp\":null,\"role\":\"flov7_user\"}", false, NULL},
    {"exp array", "{\"exp\":[1800000100],\"role\":\"flov7_user\"}", false, NULL},
    {"nbf within leeway", "{\"exp\":1800000100,\"nbf\":1800000029,\"role\":\"flov7_user\"}", true,
     ROLE_USER},
    {"nbf in the future", "{\"exp\":1800000100,\"nbf\":1800000031,\"role\":\"flov7_user\"}", false,
     NULL},
    {"nbf string", "{\"exp\":1800000100,\"nbf\":\"0\",\"role\":\"flov7_user\"}", false, NULL},
    {"iat within leeway", "{\"exp\":1800000100,\"iat\":1800000030,\"role\":\"flov7_user\"}", true,
     ROLE_USER},
    {"iat in the future", "{\"exp\":1800000100,\"iat\":1800000031,\"role\":\"flov7_user\"}", false,
     NULL},
    {"iat float", "{\"exp\":1800000100,\"iat\":1.5,\"role\":\"flov7_user\"}", false, NULL},
    {"role missing", "{\"exp\":1800000100}", false, NULL},
    {"role postgres", "{\"exp\":1800000100,\"role\":\"postgres\"}", false, NULL},
    {"role anon", "{\"exp\":1800000100,\"role\":\"flov7_anon\"}", false, NULL},
    {"role authenticator", "{\"exp\":1800000100,\"role\":\"flov7_authenticator\"}", false, NULL},
    {"role upper case", "{\"exp\":1800000100,\"role\":\"FLOV7_USER\"}", false, NULL},
    {"role with space", "{\"exp\":1800000100,\"role\":\"flov7_user \"}", false, NULL},
    {"role number", "{\"exp\":1800000100,\"role\":1}", false, NULL},
    /* found by fuzzing (test/fuzz/jwt): exp + leeway overflowed int64 */
    {"exp at INT64_MAX", "{\"exp\":9223372036854775807,\"role\":\"flov7_user\"}", true, ROLE_USER},
    {"exp beyond int64 (json-c clamps it)",
     "{\"exp\":1955555555555555555555555555555555550,\"role\":\"flov7_user\"}", true, ROLE_USER},
    {"payload array", "[1,2,3]", false, NULL},
    {"payload not JSON", "not json", false, NULL},
    {"payload with trailing junk", "{\"exp\":1800000100,\"role\":\"flov7_user\"} x", false, NULL},
};

static char *make_token(const char *claims, jwt_alg_t alg, const char *key)
{
    jwt_t *jwt = NULL;
    jwt_new(&jwt);
    jwt_add_grants_json(jwt, claims);
    if (alg == JWT_ALG_NONE)
        jwt_set_alg(jwt, JWT_ALG_NONE, NULL, 0);
    else
        jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key));
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    return t;
}

struct req_case {
    const char *name;
    const char *authz; /* "TOKEN:<which>" → Bearer <token>; else literal */
    const char *xkey;
    int n_authz, n_xkey;
    int status;
    const char *role;
};

enum {
    T_USER,
    T_ADMIN,
    T_WRONG_KEY,
    T_HS384,
    T_HS512,
    T_NONE,
    T_NONE_SIG,
    T_EXPIRED,
    T_NBF,
    T_NOEXP,
    T_ROLE,
    T_FAR,
    T_COUNT
};

static const struct req_case req_cases[] = {
    {"no credentials", NULL, NULL, 0, 0, 0, ROLE_ANON},
    {"valid user JWT", "TOKEN:0", NULL, 1, 0, 0, ROLE_USER},
    {"valid admin JWT", "TOKEN:1", NULL, 1, 0, 0, ROLE_ADMIN},
    {"scheme is case-insensitive", "bEaReR TOKEN:0", NULL, 1, 0, 0, ROLE_USER},
    {"wrong key", "TOKEN:2", NULL, 1, 0, 401, NULL},
    {"HS384 with the right key", "TOKEN:3", NULL, 1, 0, 401, NULL},
    {"HS512 with the right key", "TOKEN:4", NULL, 1, 0, 401, NULL},
    {"alg none unsigned", "TOKEN:5", NULL, 1, 0, 401, NULL},
    {"alg none with a fake signature", "TOKEN:6", NULL, 1, 0, 401, NULL},
    {"expired", "TOKEN:7", NULL, 1, 0, 401, NULL},
    {"nbf in the future", "TOKEN:8", NULL, 1, 0, 401, NULL},
    {"no exp", "TOKEN:9", NULL, 1, 0, 401, NULL},
    {"bad role", "TOKEN:10", NULL, 1, 0, 401, NULL},
    {"exp at INT64_MAX", "TOKEN:11", NULL, 1, 0, 0, ROLE_USER},
    {"exp at INT64_MAX again (a cache hit)", "TOKEN:11", NULL, 1, 0, 0, ROLE_USER},
    {"API key as bearer", "Bearer flv7_abcdef", NULL, 1, 0, 0, ROLE_USER},
    {"API key header", NULL, "flv7_abcdef", 0, 1, 0, ROLE_USER},
    {"X-API-Key passed through untouched", NULL, "anything", 0, 1, 0, ROLE_USER},
    {"empty API key", NULL, "", 0, 1, 401, NULL},
    {"both credentials", "TOKEN:0", "flv7_x", 1, 1, 401, NULL},
    {"two Authorization headers", "TOKEN:0", NULL, 2, 0, 400, NULL},
    {"Basic scheme", "Basic dXNlcjpwYXNz", NULL, 1, 0, 401, NULL},
    {"Bearer without token", "Bearer", NULL, 1, 0, 401, NULL},
    {"Bearer and a space", "Bearer ", NULL, 1, 0, 401, NULL},
    {"garbage token", "Bearer garbage", NULL, 1, 0, 401, NULL},
    {"three dots", "Bearer ...", NULL, 1, 0, 401, NULL},
    {"empty segments", "Bearer a..c", NULL, 1, 0, 401, NULL},
    {"header only", "Bearer eyJhbGciOiJIUzI1NiJ9", NULL, 1, 0, 401, NULL},
    {"token68 violation", "Bearer a b", NULL, 1, 0, 401, NULL},
};

struct shape_case {
    const char *t;
    bool ok;
};

static const struct shape_case shapes[] = {
    {"aaaa.bbbb.0123456789012345678901234567890123456789012", true},
    {"aaaa.bbbb.012345678901234567890123456789012345678901", false},
    {"aaaa..0123456789012345678901234567890123456789012", false},
    {".bbbb.0123456789012345678901234567890123456789012", false},
    {"aaaa.bbbb.", false},
    {"aaaaa.bbbb.0123456789012345678901234567890123456789012", false},
    {"aa=a.bbbb.0123456789012345678901234567890123456789012", false},
    {"aa+a.bbbb.0123456789012345678901234567890123456789012", false},
    {"aaaa.bbbb.cccc.0123456789012345678901234567890123456789012", false},
    {"", false},
};

void test_auth(void)
{
    for (size_t i = 0; i < sizeof(claim_cases) / sizeof(claim_cases[0]); i++) {
        const struct claim_case *c = &claim_cases[i];
        const char *role = NULL;
        int64_t exp = 0;
        int err = auth_check_claims(c->json, strlen(c->json), NOW, LEEWAY, &role, &exp);
        bool pass =
            c->accept ? (!err && role && strcmp(role, c->role) == 0) : fd_error_status(err) == 401;
        if (!ok(pass, "auth claims: %s -> %s", c->name, c->accept ? "accepted" : "refused"))
            diag("err %s", err ? fd_error(err)->message : "(none)");
    }
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        ok(auth_jwt_shape_ok(shapes[i].t, strlen(shapes[i].t)) == shapes[i].ok,
           "auth shape: \"%.20s...\" %s", shapes[i].t, shapes[i].ok ? "ok" : "refused");

    auth_init(KEY, LEEWAY, 16);
    char *tok[T_COUNT];
    tok[T_USER] = make_token("{\"exp\":1800000100,\"role\":\"flov7_user\",\"sub\":\"u\"}",
                             JWT_ALG_HS256, KEY);
    tok[T_ADMIN] = make_token("{\"exp\":1800000100,\"role\":\"flov7_admin\"}", JWT_ALG_HS256, KEY);
    tok[T_WRONG_KEY] = make_token("{\"exp\":1800000100,\"role\":\"flov7_user\"}", JWT_ALG_HS256,
                                  "another-secret-of-at-least-32-bytes!");
    tok[T_HS384] = make_token("{\"exp\":1800000100,\"role\":\"flov7_user\"}", JWT_ALG_HS384, KEY);
    tok[T_HS512] = make_token("{\"exp\":1800000100,\"role\":\"flov7_user\"}", JWT_ALG_HS512, KEY);
    tok[T_NONE] = make_token("{\"exp\":1800000100,\"role\":\"flov7_user\"}", JWT_ALG_NONE, NULL);
    tok[T_NONE_SIG] = malloc(strlen(tok[T_NONE]) + 44);
    sprintf(tok[T_NONE_SIG], "%s%s", tok[T_NONE], "0123456789012345678901234567890123456789012");
    tok[T_EXPIRED] = make_token("{\"exp\":1799999000,\"role\":\"flov7_user\"}", JWT_ALG_HS256, KEY);
    tok[T_NBF] = make_token("{\"exp\":1800000100,\"nbf\":1800000090,\"role\":\"flov7_user\"}",
                            JWT_ALG_HS256, KEY);
    tok[T_NOEXP] = make_token("{\"role\":\"flov7_user\"}", JWT_ALG_HS256, KEY);
    tok[T_ROLE] = make_token("{\"exp\":1800000100,\"role\":\"postgres\"}", JWT_ALG_HS256, KEY);
    tok[T_FAR] =
        make_token("{\"exp\":9223372036854775807,\"role\":\"flov7_user\"}", JWT_ALG_HS256, KEY);

    struct sbuf claims, az;
    sbuf_init(&claims);
    sbuf_init(&az);
    for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
        const struct req_case *c = &req_cases[i];
        sbuf_reset(&az);
        if (c->authz) {
            const char *t = strstr(c->authz, "TOKEN:");
            if (t) {
                sbuf_add(&az, c->authz, (size_t)(t - c->authz));
                if (az.len == 0)
                    sbuf_adds(&az, "Bearer ");
                sbuf_adds(&az, tok[atoi(t + 6)]);
            } else {
                sbuf_adds(&az, c->authz);
            }
        }
        struct auth_result r;
        sbuf_reset(&claims);
        auth_request(c->authz ? az.data : NULL, az.len, c->n_authz, c->xkey,
                     c->xkey ? strlen(c->xkey) : 0, c->n_xkey, NOW, &r, &claims);
        int st = fd_error_status(r.err);
        bool pass = st == c->status && (c->status || strcmp(r.role, c->role) == 0);
        if (pass && c->status == 0 && strcmp(r.role, ROLE_ANON) != 0 && c->xkey == NULL &&
            strncmp(az.data + 7, "flv7_", 5) != 0)
            pass = claims.len > 0 && strstr(claims.data, "\"role\"") != NULL;
        if (!ok(pass, "auth request: %s -> %d", c->name, c->status))
            diag("got status %d role %s error %s", st, r.role, r.err ? fd_error(r.err)->code : "-");
    }
    /* the cache: a second use of a token is a hit, and it still expires */
    uint64_t h0, h1, m0, m1;
    int n;
    auth_cache_stats(&h0, &m0, &n);
    struct auth_result r;
    sbuf_reset(&az);
    sbuf_printf(&az, "Bearer %s", tok[T_USER]);
    sbuf_reset(&claims);
    auth_request(az.data, az.len, 1, NULL, 0, 0, NOW, &r, &claims);
    auth_cache_stats(&h1, &m1, &n);
    ok(r.err == 0 && h1 == h0 + 1 && m1 == m0, "auth cache: repeated token is a cache hit");
    ok(strstr(claims.data, "\"sub\":\"u\"") != NULL, "auth cache: hit returns the claims");
    sbuf_reset(&claims);
    auth_request(az.data, az.len, 1, NULL, 0, 0, 1800000100 + LEEWAY, &r, &claims);
    ok(r.err == FDE_JWT_EXPIRED, "auth cache: a cached token still expires");
    /* a new secret flushes the cache */
    auth_init("ffffffffffffffffffffffffffffffffffff", LEEWAY, 16);
    sbuf_reset(&claims);
    auth_request(az.data, az.len, 1, NULL, 0, 0, NOW, &r, &claims);
    ok(r.err == FDE_JWT_SIGNATURE, "auth cache: changing the secret forgets verified tokens");
    auth_shutdown();
    for (int i = 0; i < T_COUNT; i++)
        free(tok[i]);
    sbuf_free(&claims);
    sbuf_free(&az);
}
