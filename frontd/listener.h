/*
 * listener.h — the listening socket and admission control: up to max-connections connections,
 * and up to max-connections-per-ip from one address, are served normally.  At a limit the
 * longest-idle connection (of that address, at its cap) is closed to make room; when nothing
 * is idle, a small reserve above the limit is accepted so that /health and /ready still answer
 * while everything else gets 503; beyond the reserve a canned 503 is written and the socket
 * closed.
 */
#ifndef FRONTD_LISTENER_H
#define FRONTD_LISTENER_H

#include <stddef.h>

#include "config.h"

#define LISTENER_RESERVE      16
#define LISTENER_ADDR_RESERVE 2

/* addr: the main listener; metrics_addr: metrics-listen's, or "" for none. */
int listener_init(const char *addr, const char *metrics_addr, char *err, size_t errlen);
/* Raise the soft open-file limit toward the hard one when max-connections needs it. */
void listener_fit_fd_limit(const struct config *cfg);
void listener_close(void);

#endif
