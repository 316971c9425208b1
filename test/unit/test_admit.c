/*
 * test_admit.c — admission at the connection limits: which idle connection is evicted (the
 * longest idle; of the newcomer's own address at its cap; never a busy one or one the
 * predicate holds back), when the reserve takes the newcomer and when it is refused, and how
 * addresses are keyed (IPv4, IPv4-mapped IPv6, IPv6 by /64).
 *
 * Each case replays a script on 8 nodes and then admits one newcomer the way the listener
 * does (evict the victim, ask again) and compares the steps taken.
 */
#include "admit.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODES 8

static struct admit_node nodes[NODES];
static bool attached[NODES], held[NODES];

static void key_of(const char *addr, struct admit_key *k)
{
    struct sockaddr_in s4;
    struct sockaddr_in6 s6;
    memset(&s4, 0, sizeof(s4));
    memset(&s6, 0, sizeof(s6));
    if (inet_pton(AF_INET, addr, &s4.sin_addr) == 1) {
        s4.sin_family = AF_INET;
        admit_key_from((struct sockaddr *)&s4, k);
    } else if (inet_pton(AF_INET6, addr, &s6.sin6_addr) == 1) {
        s6.sin6_family = AF_INET6;
        admit_key_from((struct sockaddr *)&s6, k);
    } else {
        abort(); /* a typo in a case */
    }
}

static bool evictable(const struct admit_node *n, void *arg)
{
    (void)arg;
    return !held[n - nodes];
}

struct acase {
    const char *name;
    struct admit_limits lim;
    /* tokens: aN=ADDR attach node N from ADDR, iN idle, bN busy, hN held back by the
     * predicate (bytes buffered), dN detach */
    const char *script;
    const char *newcomer;
    /* steps: eN evicted node N, then accept / reserve / refuse */
    const char *want;
};

#define L(max, res, per, pres)                                                                     \
    {                                                                                              \
        max, res, per, pres                                                                        \
    }

static const struct acase cases[] = {
    {"under every limit", L(4, 2, 0, 0), "a0=10.0.0.1 i0", "10.0.0.2", "accept"},
    {"at max: the longest idle goes", L(3, 2, 0, 0), "a0=10.0.0.1 a1=10.0.0.2 a2=10.0.0.3 i1 i0 i2",
     "10.0.0.4", "e1 accept"},
    {"idle again is young again", L(3, 2, 0, 0),
     "a0=10.0.0.1 a1=10.0.0.2 a2=10.0.0.3 i0 i1 i2 b0 i0", "10.0.0.4", "e1 accept"},
    {"a busy connection is never evicted", L(3, 2, 0, 0),
     "a0=10.0.0.1 a1=10.0.0.2 a2=10.0.0.3 i0 i1 b0", "10.0.0.4", "e1 accept"},
    {"a new connection is busy until it is idle", L(2, 2, 0, 0), "a0=10.0.0.1 a1=10.0.0.2 i1",
     "10.0.0.4", "e1 accept"},
    {"held back (bytes pending): the next one goes", L(3, 2, 0, 0),
     "a0=10.0.0.1 a1=10.0.0.2 a2=10.0.0.3 i0 i1 i2 h0", "10.0.0.4", "e1 accept"},
    {"a detached node leaves the idle list", L(2, 2, 0, 0),
     "a0=10.0.0.1 a1=10.0.0.2 a2=10.0.0.3 i0 i1 i2 d0", "10.0.0.4", "e1 accept"},
    {"nothing idle: the reserve", L(2, 2, 0, 0), "a0=10.0.0.1 a1=10.0.0.2", "10.0.0.3", "reserve"},
    {"nothing idle, reserve full: refused", L(2, 1, 0, 0), "a0=10.0.0.1 a1=10.0.0.2 a2=10.0.0.3",
     "10.0.0.4", "refuse"},
    {"everything idle held back: the reserve", L(2, 2, 0, 0), "a0=10.0.0.1 a1=10.0.0.2 i0 i1 h0 h1",
     "10.0.0.3", "reserve"},
    {"address at its cap: its own longest idle goes, not an older one", L(8, 2, 2, 1),
     "a0=10.0.0.9 a1=10.0.0.1 a2=10.0.0.1 i0 i2 i1", "10.0.0.1", "e2 accept"},
    {"address at its cap, nothing of it idle: the reserve", L(8, 2, 2, 1),
     "a0=10.0.0.9 a1=10.0.0.1 a2=10.0.0.1 i0", "10.0.0.1", "reserve"},
    {"address past its reserve: refused", L(8, 2, 2, 1),
     "a0=10.0.0.9 a1=10.0.0.1 a2=10.0.0.1 a3=10.0.0.1 i0", "10.0.0.1", "refuse"},
    {"address at its cap, global reserve full: refused", L(3, 0, 2, 1),
     "a0=10.0.0.9 a1=10.0.0.1 a2=10.0.0.1 i0", "10.0.0.1", "refuse"},
    {"another address under its cap is untouched by the cap", L(8, 2, 2, 1),
     "a0=10.0.0.1 a1=10.0.0.1 i0 i1", "10.0.0.2", "accept"},
    {"both limits: the address's own first, then nothing more", L(3, 2, 2, 1),
     "a0=10.0.0.9 a1=10.0.0.1 a2=10.0.0.1 i0 i1 i2", "10.0.0.1", "e1 accept"},
    {"limit lowered under a full house: idle ones go until it fits", L(2, 2, 0, 0),
     "a0=10.0.0.1 a1=10.0.0.2 a2=10.0.0.3 a3=10.0.0.4 i0 i1 i2 i3", "10.0.0.5", "e0 e1 e2 accept"},
    {"no cap (0) per address", L(8, 2, 0, 0), "a0=10.0.0.1 a1=10.0.0.1 a2=10.0.0.1 i0 i1 i2",
     "10.0.0.1", "accept"},
    {"IPv6 counts by /64", L(8, 2, 2, 1), "a0=2001:db8::1 a1=2001:db8::2 i1 i0", "2001:db8::3",
     "e1 accept"},
    {"another /64 is another address", L(8, 2, 2, 1), "a0=2001:db8::1 a1=2001:db8::2 i0 i1",
     "2001:db8:0:1::1", "accept"},
    {"IPv4-mapped IPv6 is the IPv4 address", L(8, 2, 2, 1), "a0=10.0.0.1 a1=::ffff:10.0.0.1 i1 i0",
     "10.0.0.1", "e1 accept"},
};

static void run_script(const char *script)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", script);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        int n = t[1] - '0';
        switch (t[0]) {
        case 'a': {
            struct admit_key k;
            key_of(t + 3, &k);
            admit_attach(&nodes[n], &k);
            attached[n] = true;
            break;
        }
        case 'i': admit_set_idle(&nodes[n], true); break;
        case 'b': admit_set_idle(&nodes[n], false); break;
        case 'h': held[n] = true; break;
        case 'd':
            admit_detach(&nodes[n]);
            attached[n] = false;
            break;
        }
    }
}

/* The listener's loop: evict and ask again until the newcomer is taken or refused. */
static void admit_newcomer(const struct admit_limits *l, const char *addr, char *out, size_t n)
{
    struct admit_key k;
    key_of(addr, &k);
    out[0] = 0;
    for (int guard = 0; guard < NODES + 1; guard++) {
        struct admit_node *v;
        enum admit_verdict a = admit_decide(l, &k, evictable, NULL, &v);
        size_t len = strlen(out);
        if (a == ADMIT_EVICT_PEER || a == ADMIT_EVICT_ANY) {
            snprintf(out + len, n - len, "e%d ", (int)(v - nodes));
            admit_detach(v);
            attached[v - nodes] = false;
            continue;
        }
        snprintf(out + len, n - len, "%s",
                 a == ADMIT_ACCEPT    ? "accept"
                 : a == ADMIT_RESERVE ? "reserve"
                                      : "refuse");
        return;
    }
    snprintf(out, n, "no end");
}

static void key_strings(void)
{
    static const char *const in[][2] = {
        {"10.0.0.1", "10.0.0.1"},
        {"::ffff:192.0.2.7", "192.0.2.7"},
        {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
        {"::1", "::/64"},
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        struct admit_key k;
        char s[64];
        key_of(in[i][0], &k);
        admit_key_str(&k, s, sizeof(s));
        ok(strcmp(s, in[i][1]) == 0, "admit: %s is counted as %s (got %s)", in[i][0], in[i][1], s);
    }
}

/* Many addresses: the table grows, counts stay right, everything is freed at zero. */
static void many_addresses(void)
{
    enum { N = 3000 };
    struct admit_node *ns = calloc(N, sizeof(*ns));
    char addr[32];
    for (int i = 0; i < N; i++) {
        struct admit_key k;
        snprintf(addr, sizeof(addr), "10.%d.%d.1", i / 256, i % 256);
        key_of(addr, &k);
        admit_attach(&ns[i], &k);
        admit_attach(&ns[++i], &k);
    }
    struct admit_key k;
    key_of("10.11.2.1", &k); /* i = 2818 */
    bool counts = admit_total() == N && admit_count(&k) == 2;
    key_of("10.200.0.1", &k);
    counts = counts && admit_count(&k) == 0;
    for (int i = 0; i < N; i++)
        admit_detach(&ns[i]);
    ok(counts && admit_total() == 0, "admit: %d connections from %d addresses counted", N, N / 2);
    free(ns);
    admit_shutdown();
}

void test_admit(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct acase *c = &cases[i];
        memset(nodes, 0, sizeof(nodes));
        memset(attached, 0, sizeof(attached));
        memset(held, 0, sizeof(held));
        run_script(c->script);
        char got[128];
        admit_newcomer(&c->lim, c->newcomer, got, sizeof(got));
        if (!ok(strcmp(got, c->want) == 0, "admit: %s", c->name))
            diag("want \"%s\", got \"%s\"", c->want, got);
        for (int n = 0; n < NODES; n++) {
            if (attached[n])
                admit_detach(&nodes[n]);
        }
        ok(admit_total() == 0, "admit: %s: every connection detached", c->name);
        admit_shutdown();
    }
    key_strings();
    many_addresses();
}
