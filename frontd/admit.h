/*
 * admit.h — admission bookkeeping for the listener (pure: no libevent, no libpq): how many
 * connections each client address holds, and which connections may be evicted to make room
 * for a newcomer, kept in the order they became idle, overall and per address, so that the
 * longest-idle one is at hand when a limit is reached (nginx closes idle keep-alive
 * connections when it runs short; so do we, and also those that never sent a byte).
 *
 * A node is embedded in each connection.  "Idle" here is what the connection code says it is
 * (no request in flight); whether an idle connection may really go now (nothing buffered either
 * way) is asked through a predicate at eviction time.
 */
#ifndef FRONTD_ADMIT_H
#define FRONTD_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A client address: family byte + address.  IPv6 addresses count by their /64 (one host
 * usually has a whole /64); IPv4-mapped IPv6 counts as the IPv4 address. */
#define ADMIT_KEY_LEN 17
struct admit_key {
    unsigned char b[ADMIT_KEY_LEN];
};

struct admit_peer;

struct admit_node {
    struct admit_node *prev, *next;   /* every idle node, oldest first */
    struct admit_node *pprev, *pnext; /* the idle nodes of the same address, oldest first */
    struct admit_peer *peer;          /* NULL while not attached */
    bool idle;
};

struct admit_limits {
    int max;              /* max-connections */
    int reserve;          /* accepted above max only for /health and /ready */
    int per_addr;         /* max-connections-per-ip, 0 = no cap */
    int per_addr_reserve; /* the same reserve, per address */
};

enum admit_verdict {
    ADMIT_ACCEPT,     /* under every limit */
    ADMIT_EVICT_PEER, /* the address is at its cap: evict *victim (its own), then ask again */
    ADMIT_EVICT_ANY,  /* max-connections reached: evict *victim, then ask again */
    ADMIT_RESERVE,    /* nothing evictable: accept for /health and /ready only */
    ADMIT_REFUSE,     /* nothing evictable and the reserve is full: canned 503 */
};

/* May this idle node be evicted right now?  (The connection code checks its buffers.) */
typedef bool (*admit_evictable_fn)(const struct admit_node *n, void *arg);

void admit_key_from(const struct sockaddr *sa, struct admit_key *k);
/* Format k for log lines ("10.0.0.1", "2001:db8::/64"). */
void admit_key_str(const struct admit_key *k, char *out, size_t n);

/* Count n as a connection from k (not idle yet) / forget it (also leaves the idle lists). */
void admit_attach(struct admit_node *n, const struct admit_key *k);
void admit_detach(struct admit_node *n);
/* n becomes idle (moved to the young end of both lists, also if it was idle) / busy. */
void admit_set_idle(struct admit_node *n, bool idle);

int admit_total(void);
/* Connections from k right now (0 if none). */
int admit_count(const struct admit_key *k);

/* What to do with a newcomer from k.  For ADMIT_EVICT_* *victim is the longest-idle node
 * that ok() accepts (of the address, or of all); the caller evicts it (detaching it) and
 * asks again, so both limits are honoured. */
enum admit_verdict admit_decide(const struct admit_limits *l, const struct admit_key *k,
                                admit_evictable_fn ok, void *arg, struct admit_node **victim);

/* The longest-idle node of all that ok() accepts, or NULL (out of descriptors). */
struct admit_node *admit_oldest(admit_evictable_fn ok, void *arg);

/* Free the address table (every node must be detached). */
void admit_shutdown(void);

#endif
