/*
 * proxies.c — see proxies.h.
 */
#include "proxies.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* IPv4-mapped IPv6 (::ffff:a.b.c.d) compares as the IPv4 address. */
static int addr_of(const struct sockaddr *sa, unsigned char out[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            memcpy(out, a + 12, 4);
            return AF_INET;
        }
        memcpy(out, a, 16);
        return AF_INET6;
    }
    return 0;
}

/* One address (no port, no brackets) into a sockaddr. */
bool proxies_parse_addr(const char *s, size_t n, struct sockaddr_storage *out)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *s4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

static const char *trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
    return *s;
}

const char *proxies_parse(const char *list, struct proxies *out, char *err, size_t errlen)
{
    out->nets = NULL;
    out->n = 0;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        trim(&item, &n);
        p = comma ? comma + 1 : p + strlen(p);
        if (n == 0)
            continue;
        const char *slash = memchr(item, '/', n);
        size_t an = slash ? (size_t)(slash - item) : n;
        struct sockaddr_storage ss;
        struct proxy_net net;
        int bits = -1;
        if (slash) {
            bits = 0;
            size_t k = an + 1;
            if (k == n || n - k > 3)
                bits = -2;
            for (; k < n && bits >= 0; k++)
                bits = item[k] >= '0' && item[k] <= '9' ? bits * 10 + (item[k] - '0') : -2;
        }
        if (bits < -1 || !proxies_parse_addr(item, an, &ss) ||
            !(net.family = addr_of((struct sockaddr *)&ss, net.addr)) ||
            bits > (net.family == AF_INET ? 32 : 128)) {
            snprintf(err, errlen, "trusted-proxies: \"%.*s\" is not an address or CIDR network",
                     (int)n, item);
            proxies_free(out);
            return err;
        }
        net.bits = bits < 0 ? (net.family == AF_INET ? 32 : 128) : bits;
        out->nets = xrealloc(out->nets, (size_t)(out->n + 1) * sizeof(*out->nets));
        out->nets[out->n++] = net;
    }
    return NULL;
}

void proxies_free(struct proxies *p)
{
    free(p->nets);
    p->nets = NULL;
    p->n = 0;
}

bool proxies_trusted(const struct proxies *p, const struct sockaddr *sa)
{
    unsigned char a[16];
    int fam = addr_of(sa, a);
    for (int i = 0; fam && i < p->n; i++) {
        const struct proxy_net *net = &p->nets[i];
        if (net->family != fam)
            continue;
        int full = net->bits / 8, rest = net->bits % 8;
        if (memcmp(a, net->addr, (size_t)full) != 0)
            continue;
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        if (rest == 0 || ((a[full] ^ net->addr[full]) & mask) == 0)
            return true;
    }
    return false;
}

bool proxies_client(const struct proxies *p, const char *xff, size_t n,
                    struct sockaddr_storage *out)
{
    bool found = false;
    size_t end = n;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        const char *item = xff + start;
        size_t len = end - start;
        trim(&item, &len);
        end = start ? start - 1 : 0;
        if (len == 0 && start > 0)
            continue;
        struct sockaddr_storage ss;
        if (!proxies_parse_addr(item, len, &ss))
            break; /* garbage (or a port, or an obfuscated name): keep the last good one */
        *out = ss;
        found = true;
        if (!proxies_trusted(p, (struct sockaddr *)&ss))
            break;
    }
    return found;
}
