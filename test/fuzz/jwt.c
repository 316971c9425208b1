/*
 * jwt.c — fuzz target: credentials as frontd receives them (auth.c).  The first input byte
 * picks what the rest is:
 *   0  the Authorization value after "Bearer " (any token, API key or garbage)
 *   1  a token payload, signed here with the server's secret: the whole verification path
 *      (the shape gate, libjwt, the claim rules, the cache) on payloads only a key holder
 *      could send
 *   2  a token header, signed likewise over a valid payload (algorithm pinning)
 *   3  an X-API-Key value, with an Authorization header as well or not (bit 4)
 * and auth_jwt_shape_ok and auth_check_claims also get the raw rest.
 *
 * Checked beyond memory safety: nothing that fails the shape gate is taken as a JWT; an
 * accepted JWT's role is flov7_user or flov7_admin, its exp is in the future, and the claims
 * text passed on to the database (request.jwt.claims) is a JSON object naming that same role.
 */
#include "auth.h"
#include "errors.h"

#include "fuzz.h"

#include <json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SECRET "fuzz-secret-0123456789abcdef-0123456789"
#define NOW    1800000000LL
#define LEEWAY 30

static void b64url(struct sbuf *out, const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        char q[4] = {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
        sbuf_add(out, q, 4);
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        char q[2] = {a[v >> 18], a[(v >> 12) & 63]};
        sbuf_add(out, q, 2);
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        char q[3] = {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63]};
        sbuf_add(out, q, 3);
    }
}

/* "Bearer " + base64url(header) "." base64url(payload) "." HMAC-SHA256 */
static void sign(struct sbuf *out, const char *hdr, size_t hl, const char *pl, size_t pll)
{
    sbuf_addlit(out, "Bearer ");
    size_t start = out->len;
    b64url(out, (const unsigned char *)hdr, hl);
    sbuf_addc(out, '.');
    b64url(out, (const unsigned char *)pl, pll);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned ml = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)out->data + start,
         out->len - start, mac, &ml);
    sbuf_addc(out, '.');
    b64url(out, mac, ml);
}

static void check_accepted(const struct auth_result *r, const struct sbuf *claims, bool jwt)
{
    FUZZ_CHECK(r->has_credentials);
    if (!jwt) {
        FUZZ_CHECK(strcmp(r->role, ROLE_USER) == 0 && r->apikey_len > 0);
        return;
    }
    FUZZ_CHECK(strcmp(r->role, ROLE_USER) == 0 || strcmp(r->role, ROLE_ADMIN) == 0);
    FUZZ_CHECK(r->exp > NOW - LEEWAY);
    json_object *o = json_tokener_parse(sbuf_cstr((struct sbuf *)claims));
    json_object *role;
    FUZZ_CHECK(o && json_object_is_type(o, json_type_object));
    FUZZ_CHECK(json_object_object_get_ex(o, "role", &role) &&
               json_object_is_type(role, json_type_string) &&
               strcmp(json_object_get_string(role), r->role) == 0);
    json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        auth_init(SECRET, LEEWAY, 16);
        ready = true;
    }
    if (size < 1)
        return 0;
    int mode = data[0] & 3;
    bool both = data[0] & 16;
    char *rest = fuzz_copy(data + 1, size - 1);
    size_t n = size - 1;

    const char *role = NULL;
    int64_t exp = 0;
    bool shape = auth_jwt_shape_ok(rest, n);
    int cerr = auth_check_claims(rest, n, NOW, LEEWAY, &role, &exp);
    FUZZ_CHECK(cerr == FDE_NONE ? role != NULL : fd_error_status(cerr) == 401);

    struct sbuf az, claims;
    sbuf_init(&az);
    sbuf_init(&claims);
    static const char good_hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    static const char good_pl[] = "{\"sub\":\"u\",\"role\":\"flov7_user\",\"exp\":1900000000}";
    switch (mode) {
    case 0:
        sbuf_addlit(&az, "Bearer ");
        sbuf_add(&az, rest, n);
        break;
    case 1: sign(&az, good_hdr, sizeof(good_hdr) - 1, rest, n); break;
    case 2: sign(&az, rest, n, good_pl, sizeof(good_pl) - 1); break;
    default: break;
    }
    struct auth_result r;
    if (mode == 3) {
        static const char other[] = "Bearer flv7_other";
        auth_request(both ? other : NULL, both ? sizeof(other) - 1 : 0, both, rest, n, 1, NOW, &r,
                     &claims);
        FUZZ_CHECK(!both || r.err == FDE_AUTH_BOTH);
        if (r.err == FDE_NONE)
            check_accepted(&r, &claims, false);
    } else {
        char *value = fuzz_copy((const uint8_t *)az.data, az.len); /* ends where it ends */
        auth_request(value, az.len, 1, NULL, 0, 0, NOW, &r, &claims);
        const char *tok = az.data + 7;
        size_t tl = az.len - 7;
        while (tl && *tok == ' ') {
            tok++;
            tl--;
        }
        bool apikey = tl > 5 && memcmp(tok, "flv7_", 5) == 0;
        if (r.err == FDE_NONE) {
            check_accepted(&r, &claims, !apikey);
            if (!apikey)
                FUZZ_CHECK(auth_jwt_shape_ok(tok, tl));
        } else {
            FUZZ_CHECK(fd_error_status(r.err) == 401 || fd_error_status(r.err) == 400);
        }
        if (mode == 0 && !apikey && n && !shape && rest[0] != ' ')
            FUZZ_CHECK(r.err != FDE_NONE);
        free(value);
    }
    sbuf_free(&az);
    sbuf_free(&claims);
    free(rest);
    return 0;
}
