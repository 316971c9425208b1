/*
 * proxies.h — trusted-proxies: the addresses (or CIDR networks) of reverse proxies whose
 * X-Forwarded-For is believed.  Behind a proxy every client arrives from the proxy's address;
 * the client's own is the right-most X-Forwarded-For entry that is not a trusted proxy (each
 * proxy appends the address it received from, so entries to its left are whatever the client
 * wrote, and only the chain of trusted proxies from the right can be believed: the
 * "recursive" rule of nginx's real_ip module).  From any other peer the header is ignored.
 * Pure code.
 */
#ifndef FRONTD_PROXIES_H
#define FRONTD_PROXIES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct proxy_net {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
};

struct proxies {
    struct proxy_net *nets;
    int n;
};

/* "10.0.0.1, 10.1.0.0/16, ::1" (empty: none).  NULL, or a message naming the bad entry (in
 * the caller's err).  out is left empty on error. */
const char *proxies_parse(const char *list, struct proxies *out, char *err, size_t errlen);
void proxies_free(struct proxies *p);
/* One address, without port or brackets ("10.0.0.1", "2001:db8::1"). */
bool proxies_parse_addr(const char *s, size_t n, struct sockaddr_storage *out);
bool proxies_trusted(const struct proxies *p, const struct sockaddr *sa);
/* The client behind the trusted peer, from the X-Forwarded-For values joined with ","; false
 * when there is no usable entry (then the peer stays the client).  An entry that is not an
 * address stops the walk: the last trusted address before it is taken. */
bool proxies_client(const struct proxies *p, const char *xff, size_t n,
                    struct sockaddr_storage *out);

#endif
