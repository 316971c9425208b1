/*
 * main.c — frontd's entry point: configuration, startup checks against the database (the only
 * blocking database work, done before the loop), the event base, and signals handled as
 * events (pgbouncer: "not actual signal handlers"):
 *   SIGTERM/SIGINT  stop accepting, let requests in flight or waiting finish, exit 0
 *                   (twice: at once)
 *   SIGHUP          re-read config file + environment: CORS, limits, timeouts, log, JWT
 *   SIGPIPE         ignored (bufferevents write with writev(2), which has no MSG_NOSIGNAL)
 * On exit everything is freed, so valgrind reports no leak.  The state the subsystems share is
 * frontd.c's, the route table routes.c's: this file is the entry point only.
 */
#include "admit.h"
#include "auth.h"
#include "conn.h"
#include "config.h"
#include "cors.h"
#include "frontd.h"
#include "janitor.h"
#include "limiter.h"
#include "stream.h"
#include "streamcheck.h"
#include "listen.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "pgconn.h"
#include "pool.h"
#include "router.h"
#include "routes.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int saved_argc;
static char **saved_argv;
static struct event *sig_term, *sig_int, *sig_hup;

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

static void apply_runtime(const struct config *old, const struct config *cfg)
{
    log_configure(cfg->log_level, cfg->access_log);
    if (!old || strcmp(old->jwt_secret, cfg->jwt_secret) != 0 ||
        old->jwt_leeway != cfg->jwt_leeway || old->jwt_cache_size != cfg->jwt_cache_size)
        auth_init(cfg->jwt_secret, cfg->jwt_leeway, cfg->jwt_cache_size);
    pool_set_depth(cfg->pool_pipeline_depth);
    limiter_configure(cfg);
    if (!old || old->max_connections != cfg->max_connections)
        listener_fit_fd_limit(cfg);
    if (!old || old->request_timeout_ms != cfg->request_timeout_ms)
        pgc_global_init(cfg->db_uri, cfg->request_timeout_ms); /* used by (re)connections */
}

static void reload(void)
{
    char err[512];
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    if (config_load(cfg, saved_argc, saved_argv, env_lookup, NULL, err, sizeof(err)) != CONFIG_OK) {
        log_error("reload", "configuration not reloaded: %s", err);
        config_free(cfg);
        free(cfg);
        return;
    }
    struct cors nc;
    const char *cerr = cors_parse(cfg->cors_origins, &nc);
    if (cerr) {
        log_error("reload", "configuration not reloaded: %s", cerr);
        config_free(cfg);
        free(cfg);
        return;
    }
    struct proxies np;
    char perr[256];
    if (proxies_parse(cfg->trusted_proxies, &np, perr, sizeof(perr))) {
        log_error("reload", "configuration not reloaded: %s", perr);
        cors_free(&nc);
        config_free(cfg);
        free(cfg);
        return;
    }
    proxies_free(&g_proxies);
    g_proxies = np;
    if (strcmp(cfg->listen, g_cfg->listen) || strcmp(cfg->db_uri, g_cfg->db_uri) ||
        cfg->pool_size != g_cfg->pool_size || strcmp(cfg->metrics_listen, g_cfg->metrics_listen))
        log_warn("reload", "listen, metrics-listen, db-uri and pool-size need a restart; keeping "
                           "the old values");
    /* keep the values that need a restart, so what we report matches what runs */
    free(cfg->listen);
    cfg->listen = xstrdup(g_cfg->listen);
    free(cfg->metrics_listen);
    cfg->metrics_listen = xstrdup(g_cfg->metrics_listen);
    free(cfg->db_uri);
    cfg->db_uri = xstrdup(g_cfg->db_uri);
    cfg->pool_size = g_cfg->pool_size;
    cors_free(&g_cors);
    g_cors = nc;
    struct config *old = g_cfg;
    g_cfg = cfg;
    apply_runtime(old, cfg);
    config_free(old);
    free(old);
    listen_reenable_feed();
    log_info("reload", "configuration reloaded");
}

static void begin_shutdown(void)
{
    if (g_shutting_down) {
        log_info("shutdown", "second signal: exiting now");
        event_base_loopbreak(g_base);
        return;
    }
    g_shutting_down = true;
    log_info("shutdown", "draining %d connections", conn_count());
    listener_close();
    conn_shutdown_begin();
    stream_release_waiters();
    pool_drain();
    /* a request may wait pool-acquire-timeout for a connection, then run request-timeout */
    janitor_set_drain_deadline(now_ms() + (uint64_t)g_cfg->pool_acquire_timeout_ms +
                               (uint64_t)g_cfg->request_timeout_ms + 1000);
    frontd_maybe_exit();
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    if (sig == SIGHUP)
        reload();
    else
        begin_shutdown();
}

/* Blocking: connect (retrying a few seconds while PostgreSQL starts), check the role, load
 * the routes.  Returns 0 or prints why frontd refuses to start. */
static int startup_checks(void)
{
    char err[1024];
    PGconn *pg = NULL;
    for (int i = 0; i < 50 && !pg; i++) {
        pg = pgc_connect_blocking(err, sizeof(err));
        if (!pg)
            usleep(200000);
    }
    if (!pg) {
        fprintf(stderr, "frontd: cannot connect to the database: %s\n", err);
        return -1;
    }
    if (pool_check_role(pg, err, sizeof(err)) != 0) {
        fprintf(stderr, "frontd: %s\n", err);
        PQfinish(pg);
        return -1;
    }
    if (routes_load(pg, err, sizeof(err)) != 0) {
        fprintf(stderr, "frontd: %s\n", err);
        PQfinish(pg);
        return -1;
    }
    PQfinish(pg);
    return 0;
}

int main(int argc, char **argv)
{
    char err[512];
    signal(SIGPIPE, SIG_IGN);
    saved_argc = argc;
    saved_argv = argv;

    g_cfg = xcalloc(1, sizeof(*g_cfg));
    int rc = config_load(g_cfg, argc, argv, env_lookup, stdout, err, sizeof(err));
    if (rc != CONFIG_OK) {
        config_free(g_cfg);
        free(g_cfg);
        if (rc == CONFIG_EXIT)
            return 0;
        fprintf(stderr, "frontd: %s\n", err);
        return 2;
    }
    const char *cerr = cors_parse(g_cfg->cors_origins, &g_cors);
    if (!cerr)
        cerr = proxies_parse(g_cfg->trusted_proxies, &g_proxies, err, sizeof(err));
    if (cerr) {
        fprintf(stderr, "frontd: %s\n", cerr);
        cors_free(&g_cors);
        config_free(g_cfg);
        free(g_cfg);
        return 2;
    }
    log_configure(g_cfg->log_level, g_cfg->access_log);
    apply_runtime(NULL, g_cfg);

    int status = 1;
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    g_base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!g_base) {
        fprintf(stderr, "frontd: cannot create the event base\n");
        goto out;
    }
    log_init(g_base);
    if (startup_checks() != 0)
        goto out;
    if (listener_init(g_cfg->listen, g_cfg->metrics_listen, err, sizeof(err)) != 0) {
        fprintf(stderr, "frontd: %s\n", err);
        goto out;
    }
    pool_init(g_cfg->pool_size, g_cfg->pool_pipeline_depth);
    listen_init();
    streamcheck_init();
    janitor_init();
    sig_term = evsignal_new(g_base, SIGTERM, on_signal, NULL);
    sig_int = evsignal_new(g_base, SIGINT, on_signal, NULL);
    sig_hup = evsignal_new(g_base, SIGHUP, on_signal, NULL);
    event_add(sig_term, NULL);
    event_add(sig_int, NULL);
    event_add(sig_hup, NULL);
    log_info("main", "listening on %s%s%s, %d routes, pool of %d", g_cfg->listen,
             g_cfg->metrics_listen[0] ? ", /metrics on " : "", g_cfg->metrics_listen,
             g_routes ? g_routes->nroutes : 0, g_cfg->pool_size);

    event_base_dispatch(g_base);
    log_info("main", "stopped");
    status = 0;

out:
    listener_close();
    conn_close_all();
    admit_shutdown();
    streamcheck_shutdown(); /* its requests are the pool's */
    pool_shutdown();
    listen_shutdown();
    janitor_shutdown();
    if (sig_term)
        event_free(sig_term);
    if (sig_int)
        event_free(sig_int);
    if (sig_hup)
        event_free(sig_hup);
    routes_set(NULL);
    router_shutdown();
    metrics_shutdown();
    auth_shutdown();
    limiter_shutdown();
    cors_free(&g_cors);
    proxies_free(&g_proxies);
    pgc_global_free();
    log_shutdown();
    if (g_base)
        event_base_free(g_base);
    g_base = NULL;
    config_free(g_cfg);
    free(g_cfg);
    libevent_global_shutdown();
    return status;
}
