/*
 * ratelimit.h — token buckets and a bounded table of them (pure: no libevent, no libpq).
 *
 * A rate is COUNT tokens per PERIOD (1 s, 1 min or 1 h) and a burst (the bucket's size); a
 * request takes one token.  The arithmetic is exact integers: a bucket's level is counted in
 * units of which one token is PERIOD_MS, and every millisecond adds COUNT units, so no rate
 * loses precision to rounding.  Time is the caller's monotonic milliseconds; a clock that goes
 * backwards refills nothing until it passes the bucket's last time again (never extra tokens).
 *
 * The table maps a 64-bit key (a keyed hash of the address or credential: see siphash.h) to a
 * bucket.  It holds at most `max` entries: a bucket that has refilled is the same as no entry,
 * so rl_table_sweep() forgets those; when the table is full of live buckets a newcomer takes
 * the place of the least recently used one (nginx's limit_req zone does the same), so keys
 * rotated by an attacker can cost at most max entries of memory.
 */
#ifndef FRONTD_RATELIMIT_H
#define FRONTD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define RL_MAX_COUNT 1000000 /* tokens per period, and burst */

struct rl_rate {
    uint32_t count;     /* tokens added per period; 0 = limit off */
    uint32_t period_ms; /* 1000, 60000 or 3600000 */
    uint32_t burst;     /* bucket size, >= 1 when on */
};

/* "0" / "off" / "" (off), or "COUNT/UNIT[,BURST]": UNIT s, m or h; BURST defaults to COUNT.
 * Returns 0, or -1 with a message in err. */
int rl_rate_parse(const char *s, struct rl_rate *out, char *err, size_t errlen);
static inline bool rl_on(const struct rl_rate *r)
{
    return r->count > 0;
}
static inline bool rl_rate_eq(const struct rl_rate *a, const struct rl_rate *b)
{
    return a->count == b->count && a->period_ms == b->period_ms && a->burst == b->burst;
}
/* Milliseconds for an empty bucket to fill (rounded up). */
uint64_t rl_fill_ms(const struct rl_rate *r);

struct rl_bucket {
    uint64_t level;   /* units; a token is period_ms units */
    uint64_t last_ms; /* the latest time it was refilled to */
};

/* What one take says, for the answer's fields (draft-ietf-httpapi-ratelimit-headers-06). */
struct rl_verdict {
    bool allowed;
    uint32_t limit;       /* the burst */
    uint32_t remaining;   /* whole tokens left after this request */
    uint32_t reset_s;     /* seconds until the bucket is full again, rounded up */
    uint32_t retry_after; /* refused: seconds until a token is there, rounded up (>= 1) */
};

void rl_bucket_fill(struct rl_bucket *b, const struct rl_rate *r, uint64_t now);
/* Refill for the time since last_ms, then take one token if there is one. */
void rl_take(struct rl_bucket *b, const struct rl_rate *r, uint64_t now, struct rl_verdict *v);

/* The verdict's header lines: RateLimit-Limit, -Remaining, -Reset, -Policy ("B;w=W", W the
 * seconds an empty bucket takes to fill).  A refusal's Retry-After is the error's (errors.h). */
void rl_headers(struct sbuf *out, const struct rl_rate *r, const struct rl_verdict *v);

struct rl_table;

/* max >= 1 entries. */
struct rl_table *rl_table_new(uint32_t max);
void rl_table_free(struct rl_table *t);
/* Take a token from key's bucket (a new key starts with a full bucket). */
void rl_table_take(struct rl_table *t, const struct rl_rate *r, uint64_t key, uint64_t now,
                   struct rl_verdict *v);
/* Forget the buckets unused for longer than a fill time (full again, so nothing is lost),
 * oldest first; returns how many. */
size_t rl_table_sweep(struct rl_table *t, const struct rl_rate *r, uint64_t now);
uint32_t rl_table_count(const struct rl_table *t);
/* Live buckets displaced by a newcomer at max, since the table was made. */
uint64_t rl_table_evictions(const struct rl_table *t);
/* Bytes allocated for the table (bounded by max). */
size_t rl_table_bytes(const struct rl_table *t);

#endif
