/*
 * auth.c — credential checks and the verified-token cache.
 *
 * libjwt 1.10 caveats handled here: with a NULL/empty key jwt_decode accepts any signature, so
 * the configured key (>= 32 bytes) is always passed; it does not pin the algorithm, so
 * jwt_get_alg() must be HS256 after every decode; it does not check exp/nbf/iat, so
 * auth_check_claims does, on the payload re-parsed with json-c (to insist on integer times).
 */
#include "auth.h"
#include "errors.h"

#include <errno.h>
#include <jwt.h>
#include <json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *secret;
static int secret_len;
static int leeway_s;

/* ---- LRU cache of verified tokens ---- */
struct centry {
    struct centry *hnext;               /* hash chain */
    struct centry *lru_prev, *lru_next; /* most recent at head */
    uint64_t hash;
    char *token;
    size_t tlen;
    char *claims;
    size_t clen;
    const char *role;
    int64_t exp;
};

static struct centry **buckets;
static size_t nbuckets;
static struct centry *lru_head, *lru_tail;
static int centries, cmax;
static uint64_t hash_seed, chits, cmisses;

/* Bucket choice only (entries are compared in full): the seeded mix of the length and of the
 * last 32 characters, which for a JWT are its HMAC — unpredictable without the secret. */
static uint64_t token_hash(const char *s, size_t n)
{
    uint64_t h = hash_seed ^ (n * 0x9e3779b97f4a7c15ULL);
    size_t start = n > 32 ? n - 32 : 0;
    for (size_t i = start; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    for (size_t i = n - (n - start) % 8; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static void lru_unlink(struct centry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct centry *e)
{
    e->lru_prev = NULL;
    e->lru_next = lru_head;
    if (lru_head)
        lru_head->lru_prev = e;
    lru_head = e;
    if (!lru_tail)
        lru_tail = e;
}

static void centry_remove(struct centry *e)
{
    struct centry **pp = &buckets[e->hash % nbuckets];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(e);
    free(e->token);
    free(e->claims);
    free(e);
    centries--;
}

static void cache_flush(void)
{
    while (lru_head)
        centry_remove(lru_head);
}

static struct centry *cache_get(const char *tok, size_t n, uint64_t h)
{
    if (!nbuckets)
        return NULL;
    /* the signature (last 43 characters) is compared in constant time, so the cache cannot
     * become an oracle for guessing one; header and payload are not secret: plain memcmp */
    size_t split = n > 43 ? n - 43 : 0;
    for (struct centry *e = buckets[h % nbuckets]; e; e = e->hnext) {
        if (e->hash == h && e->tlen == n && memcmp(e->token, tok, split) == 0 &&
            CRYPTO_memcmp(e->token + split, tok + split, n - split) == 0)
            return e;
    }
    return NULL;
}

static void cache_put(const char *tok, size_t n, uint64_t h, const char *claims, size_t clen,
                      const char *role, int64_t exp)
{
    if (cmax <= 0 || !nbuckets)
        return;
    while (centries >= cmax && lru_tail)
        centry_remove(lru_tail);
    struct centry *e = xcalloc(1, sizeof(*e));
    e->hash = h;
    e->token = xstrndup(tok, n);
    e->tlen = n;
    e->claims = xstrndup(claims, clen);
    e->clen = clen;
    e->role = role;
    e->exp = exp;
    e->hnext = buckets[h % nbuckets];
    buckets[h % nbuckets] = e;
    lru_push(e);
    centries++;
}

void auth_init(const char *sec, int leeway, int cache_size)
{
    cache_flush();
    free(secret);
    secret_len = (int)strlen(sec);
    secret = (unsigned char *)xstrndup(sec, (size_t)secret_len);
    leeway_s = leeway;
    if (!hash_seed && RAND_bytes((unsigned char *)&hash_seed, sizeof(hash_seed)) != 1)
        hash_seed = (uint64_t)(uintptr_t)&hash_seed ^ 0x9e3779b97f4a7c15ULL;
    if (cache_size != cmax || !buckets) {
        free(buckets);
        cmax = cache_size;
        nbuckets = cache_size > 0 ? (size_t)cache_size * 2 + 1 : 0;
        buckets = nbuckets ? xcalloc(nbuckets, sizeof(*buckets)) : NULL;
    }
}

void auth_shutdown(void)
{
    cache_flush();
    free(buckets);
    buckets = NULL;
    nbuckets = 0;
    cmax = 0;
    if (secret)
        OPENSSL_cleanse(secret, (size_t)secret_len);
    free(secret);
    secret = NULL;
}

bool auth_secret_eq(const char *a, size_t an, const char *b, size_t bn)
{
    unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)a, an, da);
    SHA256((const unsigned char *)b, bn, db);
    return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

void auth_cache_stats(uint64_t *hits, uint64_t *misses, int *entries)
{
    *hits = chits;
    *misses = cmisses;
    *entries = centries;
}

static bool int_claim(json_object *o, const char *name, bool required, int64_t *out, bool *present)
{
    json_object *v;
    *present = json_object_object_get_ex(o, name, &v);
    if (!*present)
        return !required;
    if (!json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_int64(v);
    return true;
}

int auth_check_claims(const char *json, size_t len, int64_t now, int leeway, const char **role,
                      int64_t *exp)
{
    int err = FDE_NONE;
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, json, (int)len);
    bool complete = json_tokener_get_error(tok) == json_tokener_success;
    /* json-c stops after the first value: anything but whitespace after it is an error */
    for (size_t i = complete ? json_tokener_get_parse_end(tok) : len; i < len; i++) {
        if (json[i] != ' ' && json[i] != '\t' && json[i] != '\n' && json[i] != '\r')
            complete = false;
    }
    json_tokener_free(tok);
    if (!o || !complete || !json_object_is_type(o, json_type_object)) {
        err = FDE_JWT_PAYLOAD;
        goto out;
    }
    int64_t e = 0, nbf = 0, iat = 0;
    bool has;
    if (!int_claim(o, "exp", true, &e, &has)) {
        err = FDE_JWT_EXP_MISSING;
        goto out;
    }
    if (!int_claim(o, "nbf", false, &nbf, &has)) {
        err = FDE_JWT_NBF_TYPE;
        goto out;
    }
    if (has && now + leeway < nbf) {
        err = FDE_JWT_NBF;
        goto out;
    }
    if (!int_claim(o, "iat", false, &iat, &has)) {
        err = FDE_JWT_IAT_TYPE;
        goto out;
    }
    if (has && iat > now + leeway) {
        err = FDE_JWT_IAT;
        goto out;
    }
    /* exp is the token's: near INT64_MAX (json-c clamps larger numbers there), e + leeway
     * would overflow; now and leeway are ours and small */
    if (e <= now - leeway) {
        err = FDE_JWT_EXPIRED;
        goto out;
    }
    json_object *r;
    const char *rs = NULL;
    if (json_object_object_get_ex(o, "role", &r) && json_object_is_type(r, json_type_string))
        rs = json_object_get_string(r);
    if (rs && strcmp(rs, ROLE_USER) == 0) {
        *role = ROLE_USER;
    } else if (rs && strcmp(rs, ROLE_ADMIN) == 0) {
        *role = ROLE_ADMIN;
    } else {
        err = FDE_JWT_ROLE;
        goto out;
    }
    *exp = e;
out:
    if (o)
        json_object_put(o);
    return err;
}

static bool is_token68(const char *s, size_t n)
{
    size_t i = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
            break;
    }
    while (i < n && s[i] == '=')
        i++;
    return i == n && n > 0;
}

static void deny(struct auth_result *r, int err)
{
    r->err = err;
}

/* A compact JWS: three non-empty base64url segments, no padding.  libjwt 1.10's decoder
 * writes past its buffer on an empty segment (malloc(0)), so nothing else reaches it; the
 * HS256 signature is 32 bytes, i.e. exactly 43 characters. */
bool auth_jwt_shape_ok(const char *t, size_t n)
{
    size_t seg = 0, len = 0;
    size_t lens[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == '.') {
            if (++seg > 2)
                return false;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok)
            return false;
        lens[seg]++;
        len++;
    }
    if (seg != 2)
        return false;
    for (int i = 0; i < 3; i++) {
        if (lens[i] == 0 || lens[i] % 4 == 1)
            return false;
    }
    return lens[2] == 43;
}

/* Full verification (cache miss): 0, or the catalog entry of the failure. */
static int verify_jwt(const char *tok, size_t n, int64_t now, struct sbuf *claims,
                      const char **role, int64_t *exp)
{
    char stackbuf[2048];
    char *z = n < sizeof(stackbuf) ? stackbuf : xmalloc(n + 1);
    memcpy(z, tok, n);
    z[n] = 0;
    jwt_t *jwt = NULL;
    int err = FDE_NONE;
    if (!secret || secret_len < 32) {
        err = FDE_JWT_NO_SECRET;
    } else if (!auth_jwt_shape_ok(tok, n)) {
        err = FDE_JWT_SHAPE;
    } else if (jwt_decode(&jwt, z, secret, secret_len) != 0 || !jwt) {
        err = FDE_JWT_SIGNATURE;
    } else if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        err = FDE_JWT_ALG;
    } else {
        char *js = jwt_get_grants_json(jwt, NULL);
        if (!js) {
            err = FDE_JWT_PAYLOAD;
        } else {
            size_t jl = strlen(js);
            err = auth_check_claims(js, jl, now, leeway_s, role, exp);
            if (!err)
                sbuf_add(claims, js, jl);
            free(js);
        }
    }
    if (jwt)
        jwt_free(jwt);
    if (z != stackbuf)
        free(z);
    return err;
}

void auth_request(const char *authz, size_t alen, int n_authz, const char *xkey, size_t klen,
                  int n_xkey, int64_t now, struct auth_result *r, struct sbuf *claims)
{
    memset(r, 0, sizeof(*r));
    r->role = ROLE_ANON;
    r->apikey = "";
    if (n_authz > 1 || n_xkey > 1) {
        r->token_given = true;
        return deny(r, FDE_AUTH_REPEATED);
    }
    if (n_authz && n_xkey) {
        r->token_given = true;
        return deny(r, FDE_AUTH_BOTH);
    }
    if (n_xkey) {
        r->token_given = true;
        if (klen == 0)
            return deny(r, FDE_APIKEY_EMPTY);
        r->has_credentials = true;
        r->role = ROLE_USER;
        r->apikey = xkey;
        r->apikey_len = klen;
        r->cred = xkey;
        r->cred_len = klen;
        return;
    }
    if (!n_authz)
        return;
    if (alen < 7 || !str_ieq(authz, 6, "bearer") || authz[6] != ' ')
        return deny(r, FDE_AUTH_SCHEME);
    const char *tok = authz + 7;
    size_t tl = alen - 7;
    while (tl && *tok == ' ') {
        tok++;
        tl--;
    }
    r->token_given = true;
    r->cred = tok;
    r->cred_len = tl;
    if (tl > 5 && memcmp(tok, "flv7_", 5) == 0) {
        if (!is_token68(tok, tl))
            return deny(r, FDE_BEARER_MALFORMED);
        r->has_credentials = true;
        r->role = ROLE_USER;
        r->apikey = tok;
        r->apikey_len = tl;
        return;
    }
    r->has_credentials = true;
    /* the cache first: a hit is an exact copy of a token already verified in full */
    uint64_t h = token_hash(tok, tl);
    struct centry *e = cache_get(tok, tl, h);
    if (e) {
        if (e->exp > now - leeway_s) { /* as in auth_check_claims: no overflow near INT64_MAX */
            chits++;
            lru_unlink(e);
            lru_push(e);
            r->role = e->role;
            r->exp = e->exp;
            sbuf_add(claims, e->claims, e->clen);
            return;
        }
        centry_remove(e); /* expired: verify again, which reports why */
    }
    cmisses++;
    if (!is_token68(tok, tl)) {
        r->has_credentials = false;
        return deny(r, FDE_BEARER_MALFORMED);
    }
    const char *role = NULL;
    int64_t exp = 0;
    size_t start = claims->len;
    int err = verify_jwt(tok, tl, now, claims, &role, &exp);
    if (err) {
        r->has_credentials = true;
        r->role = ROLE_ANON;
        return deny(r, err);
    }
    r->role = role;
    r->exp = exp;
    cache_put(tok, tl, h, claims->data + start, claims->len - start, role, exp);
}
