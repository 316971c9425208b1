/*
 * util.h — small pure helpers shared by every frontd subsystem: the growable byte buffer
 * (sbuf), JSON string escaping with UTF-8 checking, percent-decoding, query-string → JSON,
 * request-id syntax, monotonic clock.  Nothing here touches libevent or libpq, so the unit
 * tests link it alone.
 */
#ifndef FRONTD_UTIL_H
#define FRONTD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Allocation failure is not recoverable for a small daemon: these abort with a message. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Growable byte buffer.  data is always NUL-terminated after any append (when cap > 0). */
struct sbuf {
    char *data;
    size_t len;
    size_t cap;
};

void sbuf_init(struct sbuf *b);
void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b);
void sbuf_reserve(struct sbuf *b, size_t extra);
void sbuf_add(struct sbuf *b, const void *p, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
/* Append a string literal (length known at compile time). */
#define sbuf_addlit(b, lit) sbuf_add((b), "" lit, sizeof(lit) - 1)
void sbuf_addc(struct sbuf *b, char c);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_add_u64(struct sbuf *b, uint64_t v);
/* Give memory back when a buffer grew past keep bytes (e.g. after one large body). */
void sbuf_trim(struct sbuf *b, size_t keep);
static inline const char *sbuf_cstr(struct sbuf *b)
{
    if (b->cap == 0)
        return "";
    return b->data;
}

/* JSON string escaping. */
#define JSON_LOWER   1 /* lower-case ASCII letters (header names) */
#define JSON_STRICT  2 /* invalid UTF-8 makes json_add_string fail */
#define JSON_REPLACE 4 /* invalid UTF-8 bytes become U+FFFD */
/* Append s[0..n) as a quoted JSON string.  Returns false only with JSON_STRICT on bad UTF-8
 * (b then holds a partial string; the caller discards it). */
bool json_add_string(struct sbuf *b, const char *s, size_t n, int flags);
/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not valid. */
int utf8_seq_len(const unsigned char *s, size_t n);

/* Percent-decoding.  plus_space turns '+' into ' ' (query strings).  Returns false on a
 * malformed escape ("%", "%4", "%zz"); out is appended to. */
bool pct_decode(struct sbuf *out, const char *s, size_t n, bool plus_space);

/* Query string (without '?') → JSON object of strings, last repeated key wins.
 * Returns 0 on success or the catalog entry of the error (errors.h). */
#define QUERY_MAX_PARAMS 256
int query_to_json(struct sbuf *out, const char *q, size_t n);

/* A client-supplied X-Request-Id is kept if it is 1..64 chars of [A-Za-z0-9._:-]. */
bool request_id_ok(const char *s, size_t n);

/* Case-insensitive ASCII comparison of s[0..n) with the NUL-terminated lit. */
bool str_ieq(const char *s, size_t n, const char *lit);

/* Monotonic milliseconds / microseconds (CLOCK_MONOTONIC, vDSO: no syscall). */
uint64_t now_ms(void);
uint64_t now_us(void);

#endif
