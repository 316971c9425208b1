/*
 * test_ratelimit.c — the rate limiter's pure parts: rate syntax, the bucket's refill and burst,
 * Retry-After and RateLimit-Reset rounded up, a clock going backwards, the table's sweep,
 * eviction at its maximum (memory bounded under rotating keys), the header lines, SipHash-2-4
 * against the reference vector, and trusted-proxies (CIDR matching, X-Forwarded-For walk).
 */
#include "proxies.h"
#include "ratelimit.h"
#include "siphash.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static void rates(void)
{
    static const struct {
        const char *in;
        int rc;
        uint32_t count, period, burst;
    } cases[] = {
        {"0", 0, 0, 0, 0},
        {"off", 0, 0, 0, 0},
        {"", 0, 0, 0, 0},
        {"20/s", 0, 20, 1000, 20},
        {"20/s,40", 0, 20, 1000, 40},
        {" 600 / m , 5 ", 0, 600, 60000, 5},
        {"1/h", 0, 1, 3600000, 1},
        {"20", -1, 0, 0, 0},
        {"20/d", -1, 0, 0, 0},
        {"0/s", -1, 0, 0, 0},
        {"20/s,0", -1, 0, 0, 0},
        {"20/s,", -1, 0, 0, 0},
        {"-1/s", -1, 0, 0, 0},
        {"20/s,40x", -1, 0, 0, 0},
        {"1000001/s", -1, 0, 0, 0},
        {"5/s,1000001", -1, 0, 0, 0},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rl_rate r;
        char err[200] = "";
        int rc = rl_rate_parse(cases[i].in, &r, err, sizeof(err));
        if (rc != cases[i].rc ||
            (rc == 0 && (r.count != cases[i].count || r.period_ms != cases[i].period ||
                         r.burst != cases[i].burst)) ||
            (rc != 0 && !strstr(err, "is not a rate"))) {
            diag("rate \"%s\": rc %d count %u period %u burst %u (%s)", cases[i].in, rc, r.count,
                 r.period_ms, r.burst, err);
            bad++;
        }
    }
    ok(bad == 0, "ratelimit: rate syntax COUNT/UNIT[,BURST], 0/off, and refusals");
}

static void bucket(void)
{
    struct rl_rate r = {2, 1000, 4}; /* 2/s, burst 4: a token every 500 ms */
    struct rl_bucket b;
    struct rl_verdict v;
    rl_bucket_fill(&b, &r, 1000);
    int allowed = 0;
    for (int i = 0; i < 4; i++) {
        rl_take(&b, &r, 1000, &v);
        allowed += v.allowed;
    }
    ok(allowed == 4 && v.remaining == 0 && v.limit == 4,
       "ratelimit: a full bucket allows the burst");
    rl_take(&b, &r, 1000, &v);
    ok(!v.allowed && v.retry_after == 1 && v.reset_s == 2,
       "ratelimit: past the burst, refused; Retry-After 1 (500 ms rounded up), Reset 2 s to full");
    rl_take(&b, &r, 1499, &v);
    ok(!v.allowed, "ratelimit: 499 ms later still no token");
    rl_take(&b, &r, 1500, &v);
    ok(v.allowed && v.remaining == 0, "ratelimit: at 500 ms one token has refilled");
    rl_take(&b, &r, 100000, &v);
    ok(v.allowed && v.remaining == 3, "ratelimit: a long pause refills to the burst, not beyond");

    /* slow rate: 1 per hour; the wait rounds up to whole seconds */
    struct rl_rate h = {1, 3600000, 1};
    rl_bucket_fill(&b, &h, 0);
    rl_take(&b, &h, 0, &v);
    ok(v.allowed && v.remaining == 0 && v.reset_s == 3600, "ratelimit: 1/h allows one");
    rl_take(&b, &h, 1, &v);
    ok(!v.allowed && v.retry_after == 3600, "ratelimit: 1/h: 3599.999 s rounds up to 3600");
    rl_take(&b, &h, 3599001, &v);
    ok(!v.allowed && v.retry_after == 1, "ratelimit: 999 ms left rounds up to 1 s");

    /* a fast rate: 3 per second refills 1 unit of 1000 every 1/3 ms, exactly */
    struct rl_rate f = {3, 1000, 1};
    rl_bucket_fill(&b, &f, 0);
    rl_take(&b, &f, 0, &v);
    rl_take(&b, &f, 333, &v);
    ok(!v.allowed && v.retry_after == 1, "ratelimit: 3/s: at 333 ms the token is 1 unit short");
    rl_take(&b, &f, 334, &v);
    ok(v.allowed, "ratelimit: 3/s: at 334 ms it is there (integer units, no drift)");

    /* the clock goes backwards: nothing refills, waits count from the bucket's time */
    rl_bucket_fill(&b, &r, 10000);
    for (int i = 0; i < 4; i++)
        rl_take(&b, &r, 10000, &v);
    rl_take(&b, &r, 5000, &v);
    ok(!v.allowed && v.retry_after == 6 && b.last_ms == 10000,
       "ratelimit: clock 5 s back: refused, Retry-After counts the 5 s, last time kept");
    rl_take(&b, &r, 10499, &v);
    ok(!v.allowed, "ratelimit: back past the last time, refill counts from it only");
    rl_take(&b, &r, 10500, &v);
    ok(v.allowed, "ratelimit: and a token comes 500 ms after the last time");
}

static void headers(void)
{
    struct rl_rate r = {10, 1000, 25};
    struct rl_verdict v = {true, 25, 7, 2, 0};
    struct sbuf b;
    sbuf_init(&b);
    rl_headers(&b, &r, &v);
    ok(strcmp(b.data, "RateLimit-Limit: 25\r\nRateLimit-Remaining: 7\r\nRateLimit-Reset: 2\r\n"
                      "RateLimit-Policy: 25;w=3\r\n") == 0,
       "ratelimit: RateLimit-* fields (draft -06), the policy window rounded up");
    sbuf_free(&b);
}

static void table(void)
{
    struct rl_rate r = {1, 1000, 2}; /* fills in 2 s */
    struct rl_table *t = rl_table_new(100);
    struct rl_verdict v;
    rl_table_take(t, &r, 42, 0, &v);
    rl_table_take(t, &r, 42, 0, &v);
    rl_table_take(t, &r, 42, 0, &v);
    ok(!v.allowed && rl_table_count(t) == 1, "ratelimit: table: one key, its own bucket");
    rl_table_take(t, &r, 43, 0, &v);
    ok(v.allowed && rl_table_count(t) == 2, "ratelimit: table: another key is independent");
    ok(rl_table_sweep(t, &r, 1999) == 0 && rl_table_count(t) == 2,
       "ratelimit: sweep keeps buckets not yet refilled");
    rl_table_take(t, &r, 43, 1000, &v);
    ok(rl_table_sweep(t, &r, 2000) == 1 && rl_table_count(t) == 1,
       "ratelimit: sweep forgets a bucket unused for a fill time, keeps the younger");
    rl_table_take(t, &r, 42, 2000, &v);
    ok(v.allowed && v.remaining == 1, "ratelimit: a forgotten key starts full, as it would be");

    /* rotating keys: at most max entries, the least recently used gives way */
    for (uint64_t k = 1000; k < 1000 + 10000; k++)
        rl_table_take(t, &r, k, 3000, &v);
    size_t bytes = rl_table_bytes(t);
    ok(rl_table_count(t) == 100 && rl_table_evictions(t) == 10000 - 100 + 2 && bytes < 100 * 64,
       "ratelimit: 10000 rotating keys hold 100 entries (%u, %zu bytes, %llu evicted)",
       rl_table_count(t), bytes, (unsigned long long)rl_table_evictions(t));
    rl_table_take(t, &r, 10999, 3000, &v);
    ok(v.allowed && v.remaining == 0, "ratelimit: the newest key kept its bucket");
    rl_table_take(t, &r, 1000, 3000, &v);
    ok(v.allowed && v.remaining == 1, "ratelimit: an evicted key starts again full");
    ok(rl_table_sweep(t, &r, 100000) == 100 && rl_table_count(t) == 0,
       "ratelimit: everything refilled is swept");
    /* reuse after sweeping: the free list, the same memory */
    for (uint64_t k = 0; k < 100; k++)
        rl_table_take(t, &r, k, 200000, &v);
    ok(rl_table_count(t) == 100 && rl_table_bytes(t) == bytes,
       "ratelimit: a swept table reuses its entries without growing");
    rl_table_free(t);

    t = rl_table_new(1); /* the smallest table: every newcomer displaces the last */
    rl_table_take(t, &r, 1, 0, &v);
    rl_table_take(t, &r, 2, 0, &v);
    rl_table_take(t, &r, 2, 0, &v);
    rl_table_take(t, &r, 2, 0, &v);
    ok(!v.allowed && rl_table_count(t) == 1 && rl_table_evictions(t) == 1,
       "ratelimit: a table of one still limits its key");
    rl_table_free(t);
    rl_table_free(NULL);
}

static void sip(void)
{
    uint8_t key[16], msg[15];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    ok(siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL,
       "siphash: the reference vector (15 bytes)");
    ok(siphash24(key, msg, 8) != siphash24(key, msg, 9), "siphash: length matters");
}

static bool client_of(const struct proxies *p, const char *xff, char *out)
{
    struct sockaddr_storage ss;
    if (!proxies_client(p, xff, strlen(xff), &ss))
        return false;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, 64);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, 64);
    return true;
}

static bool trusted(const struct proxies *p, const char *a)
{
    struct sockaddr_storage ss;
    return proxies_parse_addr(a, strlen(a), &ss) && proxies_trusted(p, (struct sockaddr *)&ss);
}

static void proxies(void)
{
    struct proxies p;
    char err[200];
    ok(proxies_parse("10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,::1", &p, err, sizeof(err)) == NULL &&
           p.n == 4,
       "proxies: a list of addresses and networks");
    ok(trusted(&p, "10.200.3.4") && trusted(&p, "192.168.1.7") && !trusted(&p, "192.168.1.8") &&
           !trusted(&p, "11.0.0.1") && trusted(&p, "2001:db8:1::5") && trusted(&p, "::1") &&
           !trusted(&p, "2001:db9::1") && trusted(&p, "::ffff:10.1.1.1"),
       "proxies: CIDR matching, IPv4-mapped IPv6 as IPv4");
    char c[64];
    ok(client_of(&p, "203.0.113.9", c) && strcmp(c, "203.0.113.9") == 0,
       "proxies: one hop: the entry is the client");
    ok(client_of(&p, "6.6.6.6, 203.0.113.9, 10.0.0.2", c) && strcmp(c, "203.0.113.9") == 0,
       "proxies: the right-most untrusted entry, not what the client wrote to its left");
    ok(client_of(&p, "10.0.0.3,10.0.0.2", c) && strcmp(c, "10.0.0.3") == 0,
       "proxies: all trusted: the left-most");
    ok(client_of(&p, "junk, 10.0.0.2", c) && strcmp(c, "10.0.0.2") == 0,
       "proxies: garbage stops the walk at the last good entry");
    ok(!client_of(&p, "", c) && !client_of(&p, "not-an-ip", c) && !client_of(&p, " , ", c),
       "proxies: nothing usable: the peer stays the client");
    proxies_free(&p);
    int bad = 0;
    const char *wrong[] = {"10.0.0.0/33", "::1/129",    "10.0.0.1/",
                           "example.com", "10.0.0.1/x", "1.2.3.4/8/9"};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        if (proxies_parse(wrong[i], &p, err, sizeof(err)) == NULL || p.n != 0) {
            diag("trusted-proxies \"%s\" accepted", wrong[i]);
            bad++;
        }
    }
    ok(bad == 0, "proxies: malformed entries are refused");
    ok(proxies_parse("", &p, err, sizeof(err)) == NULL && p.n == 0, "proxies: empty is none");
}

void test_ratelimit(void)
{
    rates();
    bucket();
    headers();
    table();
    sip();
    proxies();
}
