/*
 * wsbench.c — the WebSocket client side of `make bench-realtime`: N connections from one
 * libevent loop (so the harness is not the bottleneck), each receiving the events a producer
 * commits with "t0" (its wall clock in microseconds at commit) in the message; every delivery's
 * latency is now - t0.  The same binary measures flov7's frontd and the Node peer.
 *
 *   wsbench HOST PORT PATH CLIENTS EXPECT TIMEOUT_S [SKIP_FIRST]
 *     PATH is the request target (with ?token=... for frontd); EXPECT events per client (0:
 *     only connect and hold the connections, for the idle-memory measure, until stdin closes).
 *     SKIP_FIRST=1 drops each client's first text message (frontd's connection message).
 *   Prints "ready" on stdout once every client is upgraded, then, at the end, one JSON line:
 *     {"clients","expected","received","lost","p50_ms","p90_ms","p99_ms","max_ms",
 *      "seconds","deliveries_per_s"}
 *
 * Server frames are unmasked; the client's (pongs) are masked, as RFC 6455 requires.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct client {
    struct bufferevent *bev;
    int upgraded;
    int got;  /* messages with t0 */
    int skip; /* text messages still to skip */
};

static struct event_base *base;
static struct client *clients;
static int nclients, expect, ready_count, done_count, skip_first;
static double *lat; /* ms, one per delivery */
static size_t nlat, cap_lat;
static int64_t first_t0 = -1, last_rx;
static const char *host, *path;
static int port;

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void finish(void)
{
    qsort(lat, nlat, sizeof(double), cmp);
#define PCT(p) (nlat ? lat[(size_t)((double)(nlat - 1) * (p))] : 0.0)
    double secs = first_t0 >= 0 && last_rx > first_t0 ? (double)(last_rx - first_t0) / 1e6 : 0;
    long expected = (long)nclients * expect;
    printf("{\"clients\":%d,\"expected\":%ld,\"received\":%zu,\"lost\":%ld,\"p50_ms\":%.3f,"
           "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"seconds\":%.3f,"
           "\"deliveries_per_s\":%.0f}\n",
           nclients, expected, nlat, expected - (long)nlat, PCT(0.5), PCT(0.9), PCT(0.99),
           nlat ? lat[nlat - 1] : 0.0, secs, secs > 0 ? (double)nlat / secs : 0.0);
    fflush(stdout);
    event_base_loopbreak(base);
}

static void on_message(struct client *c, const char *p, size_t n)
{
    if (c->skip > 0) {
        c->skip--;
        return;
    }
    const char *t = memmem(p, n, "\"t0\"", 4);
    if (!t)
        return;
    t += 4;
    while (t < p + n && (*t == ':' || *t == ' '))
        t++;
    int64_t t0 = strtoll(t, NULL, 10);
    int64_t now = wall_us();
    if (nlat == cap_lat) {
        cap_lat = cap_lat ? cap_lat * 2 : 65536;
        lat = realloc(lat, cap_lat * sizeof(double));
    }
    lat[nlat++] = (double)(now - t0) / 1000.0;
    if (first_t0 < 0 || t0 < first_t0)
        first_t0 = t0;
    last_rx = now;
    if (++c->got == expect && ++done_count == nclients)
        finish();
}

static void send_pong(struct client *c, const unsigned char *payload, size_t n)
{
    unsigned char hdr[6] = {0x8A, (unsigned char)(0x80 | n), 1, 2, 3, 4};
    unsigned char body[125];
    for (size_t i = 0; i < n && i < 125; i++)
        body[i] = payload[i] ^ hdr[2 + i % 4];
    bufferevent_write(c->bev, hdr, 6);
    bufferevent_write(c->bev, body, n);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (!c->upgraded) {
        struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (e.pos < 0)
            return;
        char line[16] = {0};
        evbuffer_copyout(in, line, 12);
        if (strncmp(line + 9, "101", 3) != 0) {
            fprintf(stderr, "wsbench: handshake refused: %.12s\n", line);
            exit(2);
        }
        evbuffer_drain(in, (size_t)e.pos + 4);
        c->upgraded = 1;
        if (++ready_count == nclients) {
            printf("ready\n");
            fflush(stdout);
        }
    }
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (avail < 2)
            return;
        unsigned char h[10];
        evbuffer_copyout(in, h, avail < 10 ? avail : 10);
        int op = h[0] & 0x0f;
        uint64_t len = h[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (avail < 4)
                return;
            len = (uint64_t)h[2] << 8 | h[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                return;
            len = 0;
            for (int i = 2; i < 10; i++)
                len = len << 8 | h[i];
            hl = 10;
        }
        if (avail < hl + len)
            return;
        evbuffer_drain(in, hl);
        unsigned char *p = evbuffer_pullup(in, (ssize_t)len);
        if (op == 1)
            on_message(c, (const char *)p, len);
        else if (op == 9)
            send_pong(c, p, len);
        else if (op == 8) {
            fprintf(stderr, "wsbench: the server closed a socket\n");
            exit(3);
        }
        evbuffer_drain(in, len);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        fprintf(stderr, "wsbench: connection lost (%s)\n", strerror(errno));
        exit(3);
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    fprintf(stderr, "wsbench: timeout (%d of %d clients ready, %zu deliveries)\n", ready_count,
            nclients, nlat);
    finish();
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    char buf[64];
    if (read(fd, buf, sizeof(buf)) <= 0)
        event_base_loopbreak(base); /* hold mode: released */
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: wsbench HOST PORT PATH CLIENTS EXPECT TIMEOUT_S [SKIP_FIRST]\n");
        return 1;
    }
    host = argv[1];
    port = atoi(argv[2]);
    path = argv[3];
    nclients = atoi(argv[4]);
    expect = atoi(argv[5]);
    int timeout = atoi(argv[6]);
    skip_first = argc > 7 ? atoi(argv[7]) : 0;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    base = event_base_new();
    clients = calloc((size_t)nclients, sizeof(*clients));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    char req[4096];
    int rlen = snprintf(req, sizeof(req),
                        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n",
                        path, host, port);
    for (int i = 0; i < nclients; i++) {
        struct client *c = &clients[i];
        c->skip = skip_first;
        c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
        bufferevent_enable(c->bev, EV_READ);
        if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            fprintf(stderr, "wsbench: connect %d failed\n", i);
            return 2;
        }
        int one = 1;
        setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        bufferevent_write(c->bev, req, (size_t)rlen);
        /* pace the connects a little: a burst of thousands overflows the accept queue */
        if (i % 200 == 199)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    struct timeval tv = {timeout, 0};
    struct event *t = evtimer_new(base, on_timeout, NULL);
    evtimer_add(t, &tv);
    struct event *in = NULL;
    if (expect == 0) {
        in = event_new(base, 0, EV_READ | EV_PERSIST, on_stdin, NULL);
        event_add(in, NULL);
    }
    event_base_dispatch(base);
    return 0;
}
