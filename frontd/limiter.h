/*
 * limiter.h — the two rate limits of a request (rate-limit-ip, rate-limit-credential): their
 * bucket tables (ratelimit.h), keyed by SipHash under a key drawn at startup so that neither
 * an address nor a secret is stored, the 429 answer, and the RateLimit-* fields every answer
 * on a limited route carries (conn.c renders them from the exchange).
 *
 * Checked after routing, before anything reaches the pool: the address once the route (or
 * /openapi.json, /metrics) is known, the credential once it has passed frontd's own checks.
 * /health and /ready, and requests refused before routing, never count.
 */
#ifndef FRONTD_LIMITER_H
#define FRONTD_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct conn;

/* (Re)build the tables for cfg; a table whose rate or size changed starts afresh. */
void limiter_configure(const struct config *cfg);
void limiter_shutdown(void);
/* The janitor's: forget buckets that have refilled. */
void limiter_sweep(uint64_t now);

/* Take a token for the request's client address / credential.  false: the request has been
 * answered with 429 (FD007 / FD008). */
bool limiter_admit_ip(struct conn *c);
bool limiter_admit_credential(struct conn *c, const char *cred, size_t len);

void limiter_stats(uint64_t *limited_ip, uint64_t *limited_credential, uint64_t *buckets,
                   uint64_t *evictions);

#endif
