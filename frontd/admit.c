/*
 * admit.c — per-address connection counts in a small chained hash table (an entry lives while
 * its address has a connection), and two intrusive idle lists.  Becoming idle appends at the
 * tail, so the head is always the longest idle; every operation is O(1) except the victim
 * search, which skips the idle nodes the predicate rejects (those still writing a response
 * or holding unread bytes: rare, and never more than the open connections).
 */
#include "admit.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct admit_peer {
    struct admit_peer *next; /* hash chain */
    struct admit_key key;
    int count;
    struct admit_node *idle_head, *idle_tail;
};

static struct admit_peer **table;
static size_t nbuckets, npeers;
static int total;
static struct admit_node *idle_head, *idle_tail;

void admit_key_from(const struct sockaddr *sa, struct admit_key *k)
{
    memset(k, 0, sizeof(*k));
    k->b[0] = (unsigned char)sa->sa_family;
    if (sa->sa_family == AF_INET) {
        memcpy(k->b + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            k->b[0] = AF_INET;
            memcpy(k->b + 1, a->s6_addr + 12, 4);
        } else {
            memcpy(k->b + 1, a->s6_addr, 8);
        }
    }
    /* other families (a Unix socket) share one key */
}

void admit_key_str(const struct admit_key *k, char *out, size_t n)
{
    char buf[INET6_ADDRSTRLEN] = "?";
    if (k->b[0] == AF_INET) {
        inet_ntop(AF_INET, k->b + 1, buf, sizeof(buf));
        snprintf(out, n, "%s", buf);
    } else if (k->b[0] == AF_INET6) {
        unsigned char a[16] = {0};
        memcpy(a, k->b + 1, 8);
        inet_ntop(AF_INET6, a, buf, sizeof(buf));
        snprintf(out, n, "%s/64", buf);
    } else {
        snprintf(out, n, "local");
    }
}

static size_t bucket_of(const struct admit_key *k, size_t nb)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < ADMIT_KEY_LEN; i++)
        h = (h ^ k->b[i]) * 16777619u;
    return h & (nb - 1);
}

static struct admit_peer *find(const struct admit_key *k)
{
    if (!table)
        return NULL;
    for (struct admit_peer *p = table[bucket_of(k, nbuckets)]; p; p = p->next) {
        if (memcmp(p->key.b, k->b, ADMIT_KEY_LEN) == 0)
            return p;
    }
    return NULL;
}

/* Double the table when the addresses outnumber the buckets (a chain stays ~1 long). */
static void grow(void)
{
    size_t nb = nbuckets ? nbuckets * 2 : 64;
    struct admit_peer **t = xcalloc(nb, sizeof(*t));
    for (size_t i = 0; i < nbuckets; i++) {
        struct admit_peer *p = table[i], *next;
        for (; p; p = next) {
            next = p->next;
            size_t b = bucket_of(&p->key, nb);
            p->next = t[b];
            t[b] = p;
        }
    }
    free(table);
    table = t;
    nbuckets = nb;
}

static void unlink_idle(struct admit_node *n)
{
    struct admit_peer *p = n->peer;
    if (n->prev)
        n->prev->next = n->next;
    else
        idle_head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        idle_tail = n->prev;
    if (n->pprev)
        n->pprev->pnext = n->pnext;
    else
        p->idle_head = n->pnext;
    if (n->pnext)
        n->pnext->pprev = n->pprev;
    else
        p->idle_tail = n->pprev;
    n->prev = n->next = n->pprev = n->pnext = NULL;
    n->idle = false;
}

void admit_attach(struct admit_node *n, const struct admit_key *k)
{
    struct admit_peer *p = find(k);
    if (!p) {
        if (npeers >= nbuckets)
            grow();
        p = xcalloc(1, sizeof(*p));
        p->key = *k;
        size_t b = bucket_of(k, nbuckets);
        p->next = table[b];
        table[b] = p;
        npeers++;
    }
    memset(n, 0, sizeof(*n));
    n->peer = p;
    p->count++;
    total++;
}

void admit_detach(struct admit_node *n)
{
    struct admit_peer *p = n->peer;
    if (!p)
        return;
    if (n->idle)
        unlink_idle(n);
    n->peer = NULL;
    total--;
    if (--p->count > 0)
        return;
    struct admit_peer **pp = &table[bucket_of(&p->key, nbuckets)];
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    free(p);
    npeers--;
}

void admit_set_idle(struct admit_node *n, bool idle)
{
    struct admit_peer *p = n->peer;
    if (!p)
        return;
    if (n->idle)
        unlink_idle(n);
    if (!idle)
        return;
    n->idle = true;
    n->prev = idle_tail;
    if (idle_tail)
        idle_tail->next = n;
    else
        idle_head = n;
    idle_tail = n;
    n->pprev = p->idle_tail;
    if (p->idle_tail)
        p->idle_tail->pnext = n;
    else
        p->idle_head = n;
    p->idle_tail = n;
}

int admit_total(void)
{
    return total;
}

int admit_count(const struct admit_key *k)
{
    const struct admit_peer *p = find(k);
    return p ? p->count : 0;
}

static struct admit_node *oldest(struct admit_node *n, bool per_peer, admit_evictable_fn ok,
                                 void *arg)
{
    for (; n; n = per_peer ? n->pnext : n->next) {
        if (ok(n, arg))
            return n;
    }
    return NULL;
}

enum admit_verdict admit_decide(const struct admit_limits *l, const struct admit_key *k,
                                admit_evictable_fn ok, void *arg, struct admit_node **victim)
{
    struct admit_peer *p = find(k);
    int mine = p ? p->count : 0;
    *victim = NULL;
    /* the address's own idle connections go first: a flood from one address costs only it */
    if (l->per_addr > 0 && mine >= l->per_addr) {
        *victim = oldest(p->idle_head, true, ok, arg);
        if (*victim)
            return ADMIT_EVICT_PEER;
        if (mine < l->per_addr + l->per_addr_reserve && total < l->max + l->reserve)
            return ADMIT_RESERVE;
        return ADMIT_REFUSE;
    }
    if (total >= l->max) {
        *victim = oldest(idle_head, false, ok, arg);
        if (*victim)
            return ADMIT_EVICT_ANY;
        return total < l->max + l->reserve ? ADMIT_RESERVE : ADMIT_REFUSE;
    }
    return ADMIT_ACCEPT;
}

struct admit_node *admit_oldest(admit_evictable_fn ok, void *arg)
{
    return oldest(idle_head, false, ok, arg);
}

void admit_shutdown(void)
{
    for (size_t i = 0; i < nbuckets; i++) {
        while (table[i]) {
            struct admit_peer *p = table[i];
            table[i] = p->next;
            free(p);
        }
    }
    free(table);
    table = NULL;
    nbuckets = npeers = 0;
    total = 0;
    idle_head = idle_tail = NULL;
}
