/*
 * limiter.c — see limiter.h.  One table per limit, made only while the limit is on.
 */
#include "limiter.h"
#include "conn.h"
#include "errors.h"
#include "ratelimit.h"
#include "siphash.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

struct limit {
    struct rl_rate rate;
    uint32_t max;
    struct rl_table *t;
    uint64_t limited;
    uint64_t evicted_before; /* evictions of tables dropped at a reconfiguration */
};

static struct limit by_ip, by_cred;
static uint8_t sip_key[16];
static bool have_key;

static void set_limit(struct limit *l, const struct rl_rate *r, int max)
{
    if (l->t && rl_rate_eq(&l->rate, r) && l->max == (uint32_t)max)
        return;
    if (l->t)
        l->evicted_before += rl_table_evictions(l->t);
    rl_table_free(l->t);
    l->t = NULL;
    l->rate = *r;
    l->max = (uint32_t)max;
    if (rl_on(r))
        l->t = rl_table_new(l->max);
}

void limiter_configure(const struct config *cfg)
{
    if (!have_key) {
        /* without a random key an attacker could aim keys at one hash chain: refuse to guess */
        if (RAND_bytes(sip_key, sizeof(sip_key)) != 1)
            abort();
        have_key = true;
    }
    set_limit(&by_ip, &cfg->rate_limit_ip, cfg->rate_limit_max_entries);
    set_limit(&by_cred, &cfg->rate_limit_credential, cfg->rate_limit_max_entries);
}

void limiter_shutdown(void)
{
    rl_table_free(by_ip.t);
    rl_table_free(by_cred.t);
    by_ip.t = by_cred.t = NULL;
}

void limiter_sweep(uint64_t now)
{
    if (by_ip.t)
        rl_table_sweep(by_ip.t, &by_ip.rate, now);
    if (by_cred.t)
        rl_table_sweep(by_cred.t, &by_cred.rate, now);
}

/* Take from l's bucket for key; the exchange keeps the verdict closest to exhaustion for the
 * RateLimit-* fields (draft -06: with several policies, the one nearest its limit). */
static bool admit(struct conn *c, struct limit *l, uint64_t key, int refusal)
{
    struct exchange *x = &c->ex;
    struct rl_verdict v;
    rl_table_take(l->t, &l->rate, key, now_ms(), &v);
    if (!x->rl_set || !v.allowed || v.remaining < x->rl.remaining) {
        x->rl = v;
        x->rl_rate = l->rate;
        x->rl_set = true;
    }
    if (v.allowed)
        return true;
    l->limited++;
    conn_fail(c, refusal, &(struct fd_error_args){.retry_after = (int)v.retry_after});
    return false;
}

bool limiter_admit_ip(struct conn *c)
{
    if (!by_ip.t)
        return true;
    const struct admit_key *k = &c->ex.client_key;
    return admit(c, &by_ip, siphash24(sip_key, k->b, sizeof(k->b)), FDE_RATE_IP);
}

bool limiter_admit_credential(struct conn *c, const char *cred, size_t len)
{
    if (!by_cred.t || !cred || !len)
        return true;
    return admit(c, &by_cred, siphash24(sip_key, cred, len), FDE_RATE_CREDENTIAL);
}

void limiter_stats(uint64_t *limited_ip, uint64_t *limited_credential, uint64_t *buckets,
                   uint64_t *evictions)
{
    *limited_ip = by_ip.limited;
    *limited_credential = by_cred.limited;
    *buckets =
        (by_ip.t ? rl_table_count(by_ip.t) : 0) + (by_cred.t ? rl_table_count(by_cred.t) : 0);
    *evictions = by_ip.evicted_before + by_cred.evicted_before +
                 (by_ip.t ? rl_table_evictions(by_ip.t) : 0) +
                 (by_cred.t ? rl_table_evictions(by_cred.t) : 0);
}
