/*
 * wsproto.c — WebSocket handshake helpers and UTF-8 validation (see wsproto.h).
 */
#include "wsproto.h"
#include "util.h"

#include <openssl/evp.h>
#include <string.h>

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool b64char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

bool ws_key_valid(const char *key, size_t n)
{
    if (n != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!b64char(key[i]))
            return false;
    /* 16 bytes = 128 bits: the last character carries 2 bits, its low 4 must be zero */
    return strchr("AQgw", key[21]) != NULL;
}

void ws_accept_value(const char *key, size_t n, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char buf[64 + sizeof(GUID)];
    if (n > 64)
        n = 64; /* callers pass a checked 24-byte key */
    memcpy(buf, key, n);
    memcpy(buf + n, GUID, sizeof(GUID) - 1);
    EVP_Digest(buf, n + sizeof(GUID) - 1, md, &mdlen, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
    out[28] = 0;
}

/* The next comma-separated item of v[*i..n), trimmed; false at the end. */
static bool next_item(const char *v, size_t n, size_t *i, const char **item, size_t *len)
{
    while (*i < n && (v[*i] == ',' || v[*i] == ' ' || v[*i] == '\t'))
        (*i)++;
    if (*i >= n)
        return false;
    size_t s = *i;
    while (*i < n && v[*i] != ',')
        (*i)++;
    size_t e = *i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    *item = v + s;
    *len = e - s;
    return true;
}

bool header_has_token(const char *v, size_t n, const char *token)
{
    size_t i = 0, len;
    const char *item;
    while (next_item(v, n, &i, &item, &len))
        if (str_ieq(item, len, token))
            return true;
    return false;
}

bool ws_protocol_bearer(const char *v, size_t n, const char **tok, size_t *tlen)
{
    size_t i = 0, len;
    const char *item;
    while (next_item(v, n, &i, &item, &len)) {
        if (!str_ieq(item, len, "bearer"))
            continue;
        if (!next_item(v, n, &i, &item, &len) || len == 0)
            return false;
        *tok = item;
        *tlen = len;
        return true;
    }
    return false;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int l = utf8_seq_len(u + i, n - i);
        if (l == 0)
            return false;
        i += (size_t)l;
    }
    return true;
}
