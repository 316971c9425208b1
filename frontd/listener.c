/*
 * listener.c — accept loop, admission (admit.c keeps the books) and descriptor limits.
 *
 * At most ACCEPT_BATCH connections are accepted per wakeup; the listening socket is
 * level-triggered, so the rest wait for the next loop iteration.  In between, the loop reads
 * the connections already accepted: under a connection flood that is what lets a newcomer be
 * heard (and so stop being idle) before more arrivals could displace it.
 *
 * Out of descriptors (EMFILE/ENFILE) the listening socket stays readable and accept fails
 * again at once.  First the longest-idle connection is evicted, which frees a descriptor by
 * the next wakeup; with nothing idle, a spare descriptor kept open for this moment is closed,
 * the pending connection accepted, given the canned 503 and closed, and the spare reopened
 * (the reserve descriptor of nginx and libevent users).  Only if even that fails does
 * accepting pause.
 */
#define _GNU_SOURCE /* accept4 */
#include "listener.h"
#include "admit.h"
#include "conn.h"
#include "errors.h"
#include "frontd.h"
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BATCH   64
#define LISTEN_BACKLOG 4096 /* the kernel caps it at net.core.somaxconn */
#define PAUSE_MS       100
#define WARN_EVERY_MS  10000

/* The main listening socket, and metrics-listen's when set (its connections serve /metrics
 * and /health only). */
struct lsock {
    int fd;
    struct event *ev;
    bool metrics;
};
static struct lsock socks[2] = {{-1, NULL, false}, {-1, NULL, true}};
static int spare_fd = -1;
static struct event *resume_ev;

/* The canned 503 (FDE_TOO_MANY_CONNECTIONS), rendered once when listening starts: at that
 * moment there is no room for a connection object, let alone a per-answer allocation. */
static char busy_response[512];
static size_t busy_len;

static void render_busy_response(void)
{
    const struct fd_error *e = fd_error(FDE_TOO_MANY_CONNECTIONS);
    struct sbuf body, hdrs;
    sbuf_init(&body);
    sbuf_init(&hdrs);
    error_body(&body, e->code, e->message, NULL, e->hint);
    fd_error_headers(&hdrs, e, NULL);
    int n = snprintf(busy_response, sizeof(busy_response),
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: application/json; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n"
                     "%s"
                     "Connection: close\r\n"
                     "\r\n"
                     "%s",
                     e->status, http_status_text(e->status), body.len, sbuf_cstr(&hdrs),
                     sbuf_cstr(&body));
    busy_len = n > 0 && (size_t)n < sizeof(busy_response) ? (size_t)n : 0;
    sbuf_free(&body);
    sbuf_free(&hdrs);
}

/* The canned answer: written if the socket takes it, never waited for. */
static void refuse(int fd)
{
    if (busy_len) {
        ssize_t w = send(fd, busy_response, busy_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    shutdown(fd, SHUT_WR);
    close(fd);
}

/* One line per WARN_EVERY_MS at most: a flood must not flood the log too. */
static void warn_limit(enum admit_verdict a, const struct admit_key *k)
{
    static uint64_t last;
    uint64_t now = now_ms();
    if (last && now - last < WARN_EVERY_MS)
        return;
    last = now;
    char who[64];
    admit_key_str(k, who, sizeof(who));
    const struct config *cfg = g_cfg;
    unsigned long long ev = (unsigned long long)g_stats.evicted,
                       rj = (unsigned long long)g_stats.rejected;
    if (a == ADMIT_EVICT_PEER)
        log_warn("listener",
                 "%s reached max-connections-per-ip (%d): closing its idle connections (%llu "
                 "evicted, %llu refused so far)",
                 who, cfg->max_connections_per_ip, ev, rj);
    else if (a == ADMIT_EVICT_ANY)
        log_warn("listener",
                 "max-connections (%d) reached: closing idle connections (%llu evicted, %llu "
                 "refused so far)",
                 cfg->max_connections, ev, rj);
    else
        log_warn("listener",
                 "connection limit reached with nothing idle to close: refusing %s (%llu "
                 "evicted, %llu refused so far)",
                 who, ev, rj);
}

static void admit_one(int fd, const struct sockaddr *sa, bool metrics)
{
    const struct config *cfg = g_cfg;
    struct admit_limits lim = {cfg->max_connections, LISTENER_RESERVE, cfg->max_connections_per_ip,
                               LISTENER_ADDR_RESERVE};
    struct admit_key k;
    admit_key_from(sa, &k);
    for (;;) {
        struct admit_node *victim;
        enum admit_verdict a = admit_decide(&lim, &k, conn_evictable, NULL, &victim);
        switch (a) {
        case ADMIT_ACCEPT: conn_accept(fd, sa, &k, false, metrics); return;
        case ADMIT_EVICT_PEER:
        case ADMIT_EVICT_ANY:
            conn_evict(victim);
            warn_limit(a, &k);
            continue; /* and ask again: the other limit may need a room too */
        case ADMIT_RESERVE:
            g_stats.rejected++;
            warn_limit(a, &k);
            conn_accept(fd, sa, &k, true, metrics);
            return;
        case ADMIT_REFUSE:
            g_stats.rejected++;
            warn_limit(a, &k);
            refuse(fd);
            return;
        }
    }
}

static void pause_accepting(void)
{
    for (int i = 0; i < 2; i++)
        if (socks[i].ev)
            event_del(socks[i].ev);
    struct timeval tv = {0, PAUSE_MS * 1000};
    evtimer_add(resume_ev, &tv);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    for (int i = 0; i < 2 && !g_shutting_down; i++)
        if (socks[i].ev)
            event_add(socks[i].ev, NULL);
}

/* accept() failed for lack of descriptors.  Returns whether to go on accepting now. */
static bool out_of_fds(int lfd, int e)
{
    static uint64_t last;
    uint64_t now = now_ms();
    if (!last || now - last >= WARN_EVERY_MS) {
        last = now;
        log_warn("listener",
                 "accept: %s with %d connections open; closing idle ones, then refusing (raise "
                 "the open-file limit)",
                 strerror(e), conn_count());
    }
    struct admit_node *victim = admit_oldest(conn_evictable, NULL);
    if (victim) {
        /* its descriptor is closed when libevent finalizes the bufferevent, after this
         * callback: accepting again now would fail again and evict one idle connection per
         * try, so wait for the next wakeup (the listening socket is level-triggered) */
        conn_evict(victim);
        return false;
    }
    if (spare_fd >= 0) {
        close(spare_fd);
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            g_stats.accepted++;
            g_stats.rejected++;
            refuse(fd);
        }
        spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && spare_fd >= 0)
            return true;
    }
    pause_accepting();
    return false;
}

static void on_acceptable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    const struct lsock *ls = arg;
    for (int i = 0; i < ACCEPT_BATCH && !g_shutting_down; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            g_stats.accepted++;
            admit_one(cfd, (struct sockaddr *)&ss, ls->metrics);
            continue;
        }
        int e = errno;
        switch (e) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return;
        case EMFILE:
        case ENFILE:
            if (!out_of_fds(fd, e))
                return;
            break;
        /* a connection that failed while queued (Linux reports its error here): next */
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case EPERM: break;
        default: /* ENOBUFS, ENOMEM: give the system a moment */
            log_error("listener", "accept failed: %s; pausing accepts for %d ms", strerror(e),
                      PAUSE_MS);
            pause_accepting();
            return;
        }
    }
}

void listener_fit_fd_limit(const struct config *cfg)
{
    /* clients and the reserve, the pool and the LISTEN connection, and the daemon's own
     * (listening socket, spare, epoll, stdio, a config file being read) with room to spare */
    rlim_t need = (rlim_t)cfg->max_connections + LISTENER_RESERVE + (rlim_t)cfg->pool_size + 64;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
    if (rl.rlim_cur > old && setrlimit(RLIMIT_NOFILE, &rl) == 0)
        log_info("listener", "open-file limit raised from %llu to %llu for max-connections %d",
                 (unsigned long long)old, (unsigned long long)rl.rlim_cur, cfg->max_connections);
    else
        rl.rlim_cur = old;
    if (rl.rlim_cur < need)
        log_warn("listener",
                 "open-file limit %llu (hard limit %llu) is below the %llu that max-connections %d "
                 "needs: short of descriptors, idle connections are closed and then newcomers "
                 "refused",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
                 (unsigned long long)need, cfg->max_connections);
}

static int bind_one(struct lsock *ls, const char *addr, char *err, size_t errlen)
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
    int one = 1, e = 0;
    int lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(lfd, LISTEN_BACKLOG) != 0)
        e = errno;
    freeaddrinfo(ai);
    ls->fd = lfd;
    if (e) {
        snprintf(err, errlen, "listen: cannot bind %s: %s", addr, strerror(e));
        return -1;
    }
    ls->ev = event_new(g_base, lfd, EV_READ | EV_PERSIST, on_acceptable, ls);
    event_add(ls->ev, NULL);
    return 0;
}

int listener_init(const char *addr, const char *metrics_addr, char *err, size_t errlen)
{
    if (bind_one(&socks[0], addr, err, errlen) != 0 ||
        (metrics_addr[0] && bind_one(&socks[1], metrics_addr, err, errlen) != 0)) {
        listener_close();
        return -1;
    }
    resume_ev = evtimer_new(g_base, resume_cb, NULL);
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    render_busy_response();
    return 0;
}

void listener_close(void)
{
    for (int i = 0; i < 2; i++) {
        if (socks[i].ev)
            event_free(socks[i].ev);
        socks[i].ev = NULL;
        if (socks[i].fd >= 0)
            close(socks[i].fd);
        socks[i].fd = -1;
    }
    if (resume_ev)
        event_free(resume_ev);
    resume_ev = NULL;
    if (spare_fd >= 0)
        close(spare_fd);
    spare_fd = -1;
}
