/*
 * ratelimit.c — token-bucket arithmetic and the bounded table of buckets (see ratelimit.h).
 *
 * The table is an array of entries linked by index (so growing it is one realloc), chained
 * into a power-of-two hash array sized with the array, and kept on a list in order of use:
 * the oldest end is where the sweep looks and what a newcomer displaces when the table is full.
 */
#include "ratelimit.h"

#include <ctype.h>
#include <strings.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

static int bad(char *err, size_t errlen, const char *s)
{
    snprintf(err, errlen, "\"%s\" is not a rate (0, off, or COUNT/UNIT[,BURST], e.g. 20/s,40)", s);
    return -1;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static int parse_count(const char **pp, uint32_t *out)
{
    const char *p = skip_ws(*pp);
    if (!isdigit((unsigned char)*p))
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(p, &end, 10);
    if (errno || v < 1 || v > RL_MAX_COUNT)
        return -1;
    *out = (uint32_t)v;
    *pp = skip_ws(end);
    return 0;
}

int rl_rate_parse(const char *s, struct rl_rate *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *p = skip_ws(s);
    if (*p == 0 || strcmp(p, "0") == 0 || strcasecmp(p, "off") == 0)
        return 0;
    struct rl_rate r = {0, 0, 0};
    if (parse_count(&p, &r.count) || *p++ != '/')
        return bad(err, errlen, s);
    p = skip_ws(p);
    switch (*p++) {
    case 's': r.period_ms = 1000; break;
    case 'm': r.period_ms = 60000; break;
    case 'h': r.period_ms = 3600000; break;
    default: return bad(err, errlen, s);
    }
    p = skip_ws(p);
    r.burst = r.count;
    if (*p == ',') {
        p++;
        if (parse_count(&p, &r.burst))
            return bad(err, errlen, s);
    }
    if (*p)
        return bad(err, errlen, s);
    *out = r;
    return 0;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static uint64_t capacity(const struct rl_rate *r)
{
    return (uint64_t)r->burst * r->period_ms; /* <= 3.6e12: no overflow */
}

uint64_t rl_fill_ms(const struct rl_rate *r)
{
    return ceil_div(capacity(r), r->count);
}

void rl_bucket_fill(struct rl_bucket *b, const struct rl_rate *r, uint64_t now)
{
    b->level = capacity(r);
    b->last_ms = now;
}

void rl_take(struct rl_bucket *b, const struct rl_rate *r, uint64_t now, struct rl_verdict *v)
{
    uint64_t cap = capacity(r);
    /* a clock behind last_ms: no refill, and the waits count from last_ms */
    uint64_t behind = now < b->last_ms ? b->last_ms - now : 0;
    if (!behind) {
        uint64_t elapsed = now - b->last_ms;
        /* elapsed * count cannot overflow below the fill time */
        if (elapsed >= rl_fill_ms(r) || b->level + elapsed * r->count >= cap)
            b->level = cap;
        else
            b->level += elapsed * r->count;
        b->last_ms = now;
    }
    v->limit = r->burst;
    v->allowed = b->level >= r->period_ms;
    if (v->allowed)
        b->level -= r->period_ms;
    v->remaining = (uint32_t)(b->level / r->period_ms);
    v->reset_s = (uint32_t)ceil_div(behind + ceil_div(cap - b->level, r->count), 1000);
    v->retry_after = 0;
    if (!v->allowed) {
        uint64_t wait_ms = behind + ceil_div(r->period_ms - b->level, r->count);
        v->retry_after = (uint32_t)ceil_div(wait_ms, 1000);
    }
}

void rl_headers(struct sbuf *out, const struct rl_rate *r, const struct rl_verdict *v)
{
    sbuf_printf(out,
                "RateLimit-Limit: %u\r\nRateLimit-Remaining: %u\r\nRateLimit-Reset: %u\r\n"
                "RateLimit-Policy: %u;w=%llu\r\n",
                v->limit, v->remaining, v->reset_s, r->burst,
                (unsigned long long)ceil_div(rl_fill_ms(r), 1000));
}

/* ---- the table ---- */

struct rl_entry {
    uint64_t key;
    struct rl_bucket b;
    uint32_t hnext;        /* hash chain, or the free list */
    uint32_t older, newer; /* use order */
};

struct rl_table {
    struct rl_entry *e;
    uint32_t cap;  /* entries allocated */
    uint32_t used; /* entries ever handed out (<= cap) */
    uint32_t max;
    uint32_t count;
    uint32_t *heads; /* hash chains, mask + 1 of them */
    uint32_t mask;
    uint32_t oldest, newest, free;
    uint64_t evictions;
};

struct rl_table *rl_table_new(uint32_t max)
{
    struct rl_table *t = xcalloc(1, sizeof(*t));
    t->max = max ? max : 1;
    t->oldest = t->newest = t->free = NIL;
    return t;
}

void rl_table_free(struct rl_table *t)
{
    if (!t)
        return;
    free(t->e);
    free(t->heads);
    free(t);
}

uint32_t rl_table_count(const struct rl_table *t)
{
    return t->count;
}

uint64_t rl_table_evictions(const struct rl_table *t)
{
    return t->evictions;
}

size_t rl_table_bytes(const struct rl_table *t)
{
    return sizeof(*t) + (size_t)t->cap * sizeof(struct rl_entry) +
           (t->heads ? ((size_t)t->mask + 1) * sizeof(uint32_t) : 0);
}

static void unlink_use(struct rl_table *t, uint32_t i)
{
    struct rl_entry *e = &t->e[i];
    if (e->older != NIL)
        t->e[e->older].newer = e->newer;
    else
        t->oldest = e->newer;
    if (e->newer != NIL)
        t->e[e->newer].older = e->older;
    else
        t->newest = e->older;
}

static void push_newest(struct rl_table *t, uint32_t i)
{
    struct rl_entry *e = &t->e[i];
    e->older = t->newest;
    e->newer = NIL;
    if (t->newest != NIL)
        t->e[t->newest].newer = i;
    else
        t->oldest = i;
    t->newest = i;
}

static void chain_insert(struct rl_table *t, uint32_t i)
{
    uint32_t h = (uint32_t)(t->e[i].key & t->mask);
    t->e[i].hnext = t->heads[h];
    t->heads[h] = i;
}

static void chain_remove(struct rl_table *t, uint32_t i)
{
    uint32_t *pp = &t->heads[t->e[i].key & t->mask];
    while (*pp != i)
        pp = &t->e[*pp].hnext;
    *pp = t->e[i].hnext;
}

/* Forget entry i: off its chain and the use list, onto the free list. */
static void drop(struct rl_table *t, uint32_t i)
{
    chain_remove(t, i);
    unlink_use(t, i);
    t->e[i].hnext = t->free;
    t->free = i;
    t->count--;
}

/* Grow the entries (doubling, up to max) and the hash array with them. */
static void grow(struct rl_table *t)
{
    uint32_t ncap = t->cap ? t->cap * 2 : 64;
    if (ncap > t->max || ncap < t->cap)
        ncap = t->max;
    t->e = xrealloc(t->e, (size_t)ncap * sizeof(*t->e));
    t->cap = ncap;
    uint32_t nb = 16;
    while (nb < ncap && nb < (1u << 31))
        nb <<= 1;
    if (t->heads && nb == t->mask + 1)
        return;
    free(t->heads);
    t->heads = xmalloc((size_t)nb * sizeof(uint32_t));
    memset(t->heads, 0xff, (size_t)nb * sizeof(uint32_t)); /* NIL */
    t->mask = nb - 1;
    for (uint32_t i = t->oldest; i != NIL; i = t->e[i].newer)
        chain_insert(t, i);
}

static uint32_t find(const struct rl_table *t, uint64_t key)
{
    if (!t->heads)
        return NIL;
    for (uint32_t i = t->heads[key & t->mask]; i != NIL; i = t->e[i].hnext)
        if (t->e[i].key == key)
            return i;
    return NIL;
}

/* A place for a new entry: a freed one, a never used one, more room, or the oldest. */
static uint32_t take_slot(struct rl_table *t)
{
    if (t->free != NIL) {
        uint32_t i = t->free;
        t->free = t->e[i].hnext;
        return i;
    }
    if (t->used == t->cap && t->cap < t->max)
        grow(t);
    if (t->used < t->cap)
        return t->used++;
    uint32_t i = t->oldest; /* full of live buckets: the least recently used gives way */
    drop(t, i);
    t->free = t->e[i].hnext;
    t->evictions++;
    return i;
}

void rl_table_take(struct rl_table *t, const struct rl_rate *r, uint64_t key, uint64_t now,
                   struct rl_verdict *v)
{
    uint32_t i = find(t, key);
    if (i == NIL) {
        i = take_slot(t);
        t->e[i].key = key;
        rl_bucket_fill(&t->e[i].b, r, now);
        chain_insert(t, i);
        t->count++;
    } else {
        unlink_use(t, i);
    }
    push_newest(t, i);
    rl_take(&t->e[i].b, r, now, v);
}

size_t rl_table_sweep(struct rl_table *t, const struct rl_rate *r, uint64_t now)
{
    uint64_t fill = rl_fill_ms(r);
    size_t n = 0;
    /* the use list is in order of last_ms (a take refills to now), unless the clock went back;
     * then the sweep stops early, which only delays it */
    while (t->oldest != NIL && t->e[t->oldest].b.last_ms + fill <= now) {
        drop(t, t->oldest);
        n++;
    }
    return n;
}
