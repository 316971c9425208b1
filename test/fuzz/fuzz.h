/*
 * fuzz.h — what every harness needs: an assertion that survives -O and -DNDEBUG and reads
 * as a finding in libFuzzer's log, and a copy of the input that ends exactly where the input
 * does (libFuzzer's buffer may be followed by readable bytes; a copy makes ASan see an
 * overread as one).
 */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A heap copy of data[0, n) with no terminator (n may be 0: one byte is allocated). */
static inline char *fuzz_copy(const uint8_t *data, size_t n)
{
    char *p = malloc(n ? n : 1);
    if (!p)
        abort();
    if (n)
        memcpy(p, data, n);
    return p;
}

/* The same, NUL-terminated. */
static inline char *fuzz_cstr(const uint8_t *data, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        abort();
    if (n)
        memcpy(p, data, n);
    p[n] = 0;
    return p;
}

#endif
