/*
 * cors.h — which browser origins may call the API (option cors-origins), and the fixed
 * preflight answer.  Pure code; the parsed list is swapped as a whole on SIGHUP.
 */
#ifndef FRONTD_CORS_H
#define FRONTD_CORS_H

#include <stdbool.h>
#include <stddef.h>

struct cors {
    bool any;
    int n;
    char **origins;
};

/* "" → none, "*" → any, else comma-separated origins (scheme://host[:port]).  Returns NULL
 * or a static error message. */
const char *cors_parse(const char *spec, struct cors *out);
bool cors_allowed(const struct cors *c, const char *origin, size_t len);
void cors_free(struct cors *c);

#define CORS_ALLOW_HEADERS "Authorization, Content-Type, Prefer, X-API-Key, X-Request-Id"
#define CORS_EXPOSE_HEADERS                                                                        \
    "X-Request-Id, Retry-After, Content-Range, Preference-Applied, RateLimit-Limit, "              \
    "RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy"
#define CORS_MAX_AGE "86400"

#endif
