/*
 * listener.c — accept loop.  Accepted sockets are already non-blocking (evconnlistener).
 * When accept fails for lack of descriptors (EMFILE/ENFILE) the listener pauses for a second
 * instead of spinning on a readable listening socket it cannot accept from.
 */
#include "listener.h"
#include "conn.h"
#include "frontd.h"
#include "log.h"

#include <errno.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct evconnlistener *lst;
static struct event *resume_ev;

static const char busy_response[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 76\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "\r\n"
    "{\"code\":\"PT503\",\"message\":\"too many connections\",\"details\":null,\"hint\":null}";

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)arg;
    g_stats.accepted++;
    if (g_shutting_down) {
        close(fd);
        return;
    }
    int n = conn_count(), max = g_cfg->max_connections;
    if (n >= max + LISTENER_RESERVE) {
        g_stats.rejected++;
        ssize_t w = send(fd, busy_response, sizeof(busy_response) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
        shutdown(fd, SHUT_WR);
        close(fd);
        return;
    }
    if (n >= max)
        g_stats.rejected++;
    conn_accept(fd, sa, salen, n >= max);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (lst && !g_shutting_down)
        evconnlistener_enable(lst);
}

static void on_error(struct evconnlistener *l, void *arg)
{
    (void)arg;
    int e = EVUTIL_SOCKET_ERROR();
    log_error("listener", "accept failed: %s; pausing accepts for 1 s", strerror(e));
    evconnlistener_disable(l);
    struct timeval tv = {1, 0};
    evtimer_add(resume_ev, &tv);
}

int listener_init(const char *addr, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    size_t hl = colon ? (size_t)(colon - addr) : 0;
    if (!colon || hl >= sizeof(host)) {
        snprintf(err, errlen, "listen: \"%s\" is not host:port", addr);
        return -1;
    }
    memcpy(host, addr, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host[0] && strcmp(host, "*") ? host : NULL, colon + 1, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errlen, "listen: cannot resolve \"%s\": %s", addr, gai_strerror(rc));
        return -1;
    }
    lst = evconnlistener_new_bind(g_base, on_accept, NULL,
                                  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                  1024, ai->ai_addr, (int)ai->ai_addrlen);
    int e = errno;
    freeaddrinfo(ai);
    if (!lst) {
        snprintf(err, errlen, "listen: cannot bind %s: %s", addr, strerror(e));
        return -1;
    }
    evconnlistener_set_error_cb(lst, on_error);
    resume_ev = evtimer_new(g_base, resume_cb, NULL);
    return 0;
}

void listener_close(void)
{
    if (lst)
        evconnlistener_free(lst);
    lst = NULL;
    if (resume_ev)
        event_free(resume_ev);
    resume_ev = NULL;
}
