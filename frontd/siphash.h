/*
 * siphash.h — SipHash-2-4 (Aumasson and Bernstein), a keyed 64-bit hash: with a random key,
 * a client cannot choose inputs that collide, and the value tells nothing of the input.  The
 * rate limiter keys its buckets with it, so it never stores an address or a credential.
 * Pure code.
 */
#ifndef FRONTD_SIPHASH_H
#define FRONTD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
