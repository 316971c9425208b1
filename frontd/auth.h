/*
 * auth.h — who is calling: anonymous, an API key (passed through, the extension resolves it)
 * or a JWT verified here (HS256 pinned, exp required, exp/nbf/iat with leeway, role claim
 * flov7_user|flov7_admin).  Verified tokens are cached (LRU, keyed by the whole token, kept
 * until exp) so a client reusing its token costs a hash lookup, not an HMAC + JSON parse.
 * Uses libjwt, json-c and libcrypto; no libevent/libpq.
 */
#ifndef FRONTD_AUTH_H
#define FRONTD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define ROLE_ANON  "flov7_anon"
#define ROLE_USER  "flov7_user"
#define ROLE_ADMIN "flov7_admin"

struct auth_result {
    int err;              /* 0 = go on; else answer now with this catalog entry (errors.h) */
    bool token_given;     /* a credential was presented: error="invalid_token" in the challenge */
    bool has_credentials; /* JWT or API key present (42501 → 403 rather than 401) */
    const char *role;     /* static role name */
    const char *apikey;   /* points into the request's header, or "" */
    size_t apikey_len;
    int64_t exp; /* JWT exp, 0 for others */
    /* the credential as presented (token or key, in the request's header), for the
     * per-credential rate limit; NULL when none */
    const char *cred;
    size_t cred_len;
};

/* (Re)configure: copies the secret (>= 32 bytes, checked by config), flushes the cache. */
void auth_init(const char *secret, int leeway, int cache_size);
void auth_shutdown(void);

/* Decide from the Authorization and X-API-Key values (NULL when absent; n_* = how many such
 * headers).  For a JWT, claims receives the verified payload as JSON text. */
void auth_request(const char *authz, size_t alen, int n_authz, const char *xkey, size_t klen,
                  int n_xkey, int64_t now, struct auth_result *r, struct sbuf *claims);

/* The claim rules alone (unit-tested): returns 0 if acceptable, else the catalog entry of the
 * reason (errors.h). */
int auth_check_claims(const char *json, size_t len, int64_t now, int leeway, const char **role,
                      int64_t *exp);

/* Syntax gate run before libjwt sees a token (unit-tested). */
bool auth_jwt_shape_ok(const char *t, size_t n);

/* Whether two secrets are equal, in time independent of where they differ and of their
 * lengths (both are hashed with SHA-256 and the digests compared with CRYPTO_memcmp). */
bool auth_secret_eq(const char *a, size_t an, const char *b, size_t bn);

/* Cache statistics, for /metrics. */
void auth_cache_stats(uint64_t *hits, uint64_t *misses, int *entries);

#endif
