/*
 * cors.c — origin list parsing and matching.  Origins are compared exactly (case-insensitive
 * for the scheme/host, as browsers send them lower-case anyway); no wildcard subdomains,
 * because a pattern is an easy way to allow more than intended.
 */
#include "cors.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

const char *cors_parse(const char *spec, struct cors *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = spec;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        size_t l = (size_t)(t - p);
        if (l == 1 && *p == '*') {
            out->any = true;
        } else {
            if (!(l > 7 && (str_ieq(p, 7, "http://") || (l > 8 && str_ieq(p, 8, "https://")))) ||
                p[l - 1] == '/') {
                cors_free(out);
                return "cors-origins: each origin must look like https://host[:port] (no path)";
            }
            out->origins = xrealloc(out->origins, sizeof(char *) * (size_t)(out->n + 1));
            out->origins[out->n++] = xstrndup(p, l);
        }
        p = e;
    }
    return NULL;
}

bool cors_allowed(const struct cors *c, const char *origin, size_t len)
{
    if (len == 0)
        return false;
    if (c->any)
        return true;
    for (int i = 0; i < c->n; i++) {
        if (strlen(c->origins[i]) == len && str_ieq(origin, len, c->origins[i]))
            return true;
    }
    return false;
}

void cors_free(struct cors *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->origins[i]);
    free(c->origins);
    memset(c, 0, sizeof(*c));
}
