/*
 * listener.h — the listening socket (evconnlistener) and admission control: up to
 * max-connections connections are served normally; a small reserve above it is accepted so
 * that /health (and /ready) still answer while everything else gets 503; beyond the reserve a
 * canned 503 is written and the socket closed.
 */
#ifndef FRONTD_LISTENER_H
#define FRONTD_LISTENER_H

#include <stddef.h>

#define LISTENER_RESERVE 16

int listener_init(const char *addr, char *err, size_t errlen);
void listener_close(void);

#endif
