/*
 * util.c — pure helpers: sbuf, JSON escaping, UTF-8 checking, percent-decoding, query strings.
 * Hot path code (every request builds a few JSON strings), so no per-call allocation beyond
 * growing the caller's buffers, which callers keep between requests.
 */
#include "util.h"
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void oom(size_t n)
{
    fprintf(stderr, "frontd: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        oom(n * sz);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void sbuf_init(struct sbuf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void sbuf_free(struct sbuf *b)
{
    free(b->data);
    sbuf_init(b);
}

void sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    if (b->cap)
        b->data[0] = 0;
}

/* Make room for extra more bytes plus the terminating NUL. */
void sbuf_reserve(struct sbuf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void sbuf_add(struct sbuf *b, const void *p, size_t n)
{
    sbuf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_addc(struct sbuf *b, char c)
{
    sbuf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    sbuf_reserve(b, 64);
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        sbuf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* Decimal without printf: the access log and response headers call this per request. */
void sbuf_add_u64(struct sbuf *b, uint64_t v)
{
    char tmp[24];
    int i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sbuf_add(b, tmp + i, sizeof(tmp) - (size_t)i);
}

void sbuf_trim(struct sbuf *b, size_t keep)
{
    if (b->cap > keep) {
        sbuf_free(b);
    } else {
        sbuf_reset(b);
    }
}

/* RFC 3629: rejects overlong forms, surrogates and code points above U+10FFFF. */
int utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        if (n >= 2 && (s[1] & 0xC0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

static const char hexdig[] = "0123456789abcdef";

bool json_add_string(struct sbuf *b, const char *str, size_t n, int flags)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Worst case every byte becomes \u00XX (6) — reserve once, then write without checks. */
    sbuf_reserve(b, n * 6 + 2);
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            int l = utf8_seq_len(s + i, n - i);
            if (l == 0) {
                if (flags & JSON_STRICT) {
                    b->len = (size_t)(o - b->data);
                    b->data[b->len] = 0;
                    return false;
                }
                if (flags & JSON_REPLACE) {
                    /* U+FFFD, 3 bytes: fits in the 6 reserved for this input byte */
                    *o++ = (char)0xEF;
                    *o++ = (char)0xBF;
                    *o++ = (char)0xBD;
                } else {
                    *o++ = (char)c;
                }
                i++;
                continue;
            }
            memcpy(o, s + i, (size_t)l);
            o += l;
            i += (size_t)l;
            continue;
        }
        i++;
        switch (c) {
        case '"':
            *o++ = '\\';
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        case '\b':
            *o++ = '\\';
            *o++ = 'b';
            break;
        case '\f':
            *o++ = '\\';
            *o++ = 'f';
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                *o++ = '\\';
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hexdig[c >> 4];
                *o++ = hexdig[c & 15];
            } else if ((flags & JSON_LOWER) && c >= 'A' && c <= 'Z') {
                *o++ = (char)(c + 32);
            } else {
                *o++ = (char)c;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
    return true;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool pct_decode(struct sbuf *out, const char *s, size_t n, bool plus_space)
{
    sbuf_reserve(out, n);
    char *o = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                goto bad;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                goto bad;
            *o++ = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_space) {
            *o++ = ' ';
        } else {
            *o++ = (char)c;
        }
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = 0;
    return true;
bad:
    out->data[out->len] = 0;
    return false;
}

int query_to_json(struct sbuf *out, const char *q, size_t n)
{
    /* Key/value slices of q; decoded keys are compared to find the last of each repeated key. */
    struct {
        const char *k, *v;
        size_t kl, vl;
    } p[QUERY_MAX_PARAMS];
    int np = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && q[j] != '&')
            j++;
        if (j > i) {
            if (np == QUERY_MAX_PARAMS)
                return FDE_QUERY_TOO_MANY;
            const char *eq = memchr(q + i, '=', j - i);
            p[np].k = q + i;
            p[np].kl = eq ? (size_t)(eq - (q + i)) : j - i;
            p[np].v = eq ? eq + 1 : q + j;
            p[np].vl = eq ? (size_t)(q + j - (eq + 1)) : 0;
            np++;
        }
        i = j + 1;
    }
    sbuf_addc(out, '{');
    struct sbuf dk, dv, dk2;
    sbuf_init(&dk);
    sbuf_init(&dv);
    sbuf_init(&dk2);
    int err = FDE_NONE;
    bool first = true;
    for (int a = 0; a < np && !err; a++) {
        sbuf_reset(&dk);
        if (!pct_decode(&dk, p[a].k, p[a].kl, true)) {
            err = FDE_QUERY_ENCODING;
            break;
        }
        if (dk.len == 0)
            continue; /* "=x" has no name: nothing to pass */
        bool later = false;
        for (int b = a + 1; b < np && !later; b++) {
            sbuf_reset(&dk2);
            if (!pct_decode(&dk2, p[b].k, p[b].kl, true))
                continue; /* reported when its turn comes */
            later = dk2.len == dk.len && memcmp(dk2.data, dk.data, dk.len) == 0;
        }
        if (later)
            continue;
        sbuf_reset(&dv);
        if (!pct_decode(&dv, p[a].v, p[a].vl, true)) {
            err = FDE_QUERY_ENCODING;
            break;
        }
        if (!first)
            sbuf_addc(out, ',');
        first = false;
        if (!json_add_string(out, dk.data, dk.len, JSON_STRICT) ||
            (sbuf_addc(out, ':'),
             !json_add_string(out, dv.len ? dv.data : "", dv.len, JSON_STRICT)))
            err = FDE_QUERY_UTF8;
    }
    sbuf_free(&dk);
    sbuf_free(&dv);
    sbuf_free(&dk2);
    if (err)
        return err;
    sbuf_addc(out, '}');
    return FDE_NONE;
}

bool request_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == ':';
        if (!ok)
            return false;
    }
    return true;
}

bool str_ieq(const char *s, size_t n, const char *lit)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)lit[i];
        if (b == 0)
            return false;
        if (a >= 'A' && a <= 'Z')
            a += 32;
        if (b >= 'A' && b <= 'Z')
            b += 32;
        if (a != b)
            return false;
    }
    return lit[i] == 0;
}

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
