/*
 * test_wsproto.c — the WebSocket handshake helpers: RFC 6455's own key/accept example, keys
 * that are not 16 bytes of base64, header token lists, the "bearer, <token>" subprotocol, and
 * UTF-8 validation of whole text messages (overlongs, surrogates, truncations).
 */
#include "tap.h"
#include "wsproto.h"

#include <string.h>

struct kcase {
    const char *key;
    bool valid;
};

static const struct kcase keys[] = {
    {"dGhlIHNhbXBsZSBub25jZQ==", true}, /* RFC 6455 §1.3 */
    {"AAAAAAAAAAAAAAAAAAAAAA==", true},
    {"AAAAAAAAAAAAAAAAAAAAAB==", false}, /* low bits of the last symbol set: not 16 bytes */
    {"dGhlIHNhbXBsZSBub25jZQ=", false},
    {"dGhlIHNhbXBsZSBub25jZQ===", false},
    {"dGhlIHNhbXBsZSBub25j*Q==", false},
    {"", false},
};

struct tcase {
    const char *value, *token;
    bool has;
};

static const struct tcase tokens[] = {
    {"Upgrade", "upgrade", true},
    {"keep-alive, Upgrade", "upgrade", true},
    {"keep-alive,upgrade ", "upgrade", true},
    {"keep-alive", "upgrade", false},
    {"upgraded", "upgrade", false},
    {"", "upgrade", false},
};

struct pcase {
    const char *value, *token; /* NULL: no bearer token */
};

static const struct pcase protos[] = {
    {"bearer, eyJ.abc.def", "eyJ.abc.def"},
    {"Bearer,flv7_key", "flv7_key"},
    {"chat, bearer, tok", "tok"},
    {"bearer", NULL},
    {"bearer, ", NULL},
    {"chat, superchat", NULL},
};

struct ucase {
    const char *s;
    size_t n;
    bool valid;
};

static const struct ucase utf8[] = {
    {"plain ascii", 11, true},
    {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11, true}, /* Autobahn 6.2.x: κόσμε */
    {"\xf0\x90\x80\x80", 4, true},
    {"\xf4\x90\x80\x80", 4, false}, /* above U+10FFFF */
    {"\xed\xa0\x80", 3, false},     /* surrogate */
    {"\xc0\xaf", 2, false},         /* overlong '/' */
    {"\xce", 1, false},             /* truncated */
    {"\xff", 1, false},
    {"a\0b", 3, true}, /* NUL is valid UTF-8 */
};

void test_wsproto(void)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        ok(ws_key_valid(keys[i].key, strlen(keys[i].key)) == keys[i].valid, "ws key \"%s\" -> %s",
           keys[i].key, keys[i].valid ? "valid" : "refused");
    char accept[29];
    ws_accept_value("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
    ok(strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
       "accept value of RFC 6455's example (%s)", accept);
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
        ok(header_has_token(tokens[i].value, strlen(tokens[i].value), tokens[i].token) ==
               tokens[i].has,
           "\"%s\" %s token %s", tokens[i].value, tokens[i].has ? "has" : "lacks", tokens[i].token);
    for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
        const char *t = NULL;
        size_t tl = 0;
        bool got = ws_protocol_bearer(protos[i].value, strlen(protos[i].value), &t, &tl);
        ok(protos[i].token
               ? got && tl == strlen(protos[i].token) && memcmp(t, protos[i].token, tl) == 0
               : !got,
           "subprotocols \"%s\" -> %s", protos[i].value,
           protos[i].token ? protos[i].token : "none");
    }
    for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++)
        ok(utf8_valid(utf8[i].s, utf8[i].n) == utf8[i].valid, "utf8 case %zu -> %s", i,
           utf8[i].valid ? "valid" : "invalid");
}
