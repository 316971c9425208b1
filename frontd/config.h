/*
 * config.h — frontd's options: ONE table (name, type, default, env var, help) drives the
 * defaults, the config file, the environment, the command line and --help.
 * Precedence: flags > environment > config file > defaults.  Pure code (no libevent/libpq).
 */
#ifndef FRONTD_CONFIG_H
#define FRONTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ratelimit.h"

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

struct config {
    char *listen;          /* host:port */
    char *db_uri;          /* libpq connection string or URI; "" = libpq defaults (PG* env) */
    char *jwt_secret;      /* HS256 key, >= 32 bytes */
    char *cors_origins;    /* "" none, "*" any, or comma list */
    char *config_file;     /* path of the `key = value` file, "" none */
    char *server_url;      /* servers URL of /openapi.json; "" = "/" (relative) */
    char *metrics_listen;  /* host:port serving /metrics alone; "" = on the main listener */
    char *metrics_token;   /* Bearer token /metrics requires; "" = none */
    char *trusted_proxies; /* addresses whose X-Forwarded-For is believed; "" = none */
    struct rl_rate rate_limit_ip;
    struct rl_rate rate_limit_credential;
    int rate_limit_max_entries; /* per table */
    int pool_size;
    int pool_pipeline_depth;
    int pool_acquire_timeout_ms; /* longest wait for a database connection */
    int max_connections;
    int max_connections_per_ip; /* 0 = no cap */
    int max_header_bytes;
    int max_body_bytes;
    int header_timeout_ms;
    int first_byte_timeout_ms; /* never more than header_timeout_ms in effect */
    int idle_timeout_ms;
    int request_timeout_ms;
    int ws_ping_interval_ms;
    int ws_recheck_interval_ms;
    int ws_max_message;
    int ws_max_buffer;
    int ws_max_per_user;
    int ws_max_connections;
    int jwt_leeway; /* seconds */
    int jwt_cache_size;
    int log_level; /* enum log_level */
    bool access_log;
};

/* Where values come from; tests pass their own getenv. */
typedef const char *(*config_getenv_fn)(const char *name);

enum { CONFIG_OK = 0, CONFIG_ERROR = 1, CONFIG_EXIT = 2 /* --help/--version printed */ };

/* Build cfg from defaults, file, env and argv (argv[0] is skipped).  On CONFIG_ERROR err holds
 * a message.  cfg is always left in a state config_free() accepts. */
int config_load(struct config *cfg, int argc, char **argv, config_getenv_fn getenv_fn,
                FILE *help_out, char *err, size_t errlen);
/* Apply `key = value` lines (the file format) on top of cfg.  fname is used in messages. */
int config_apply_text(struct config *cfg, const char *text, const char *fname, char *err,
                      size_t errlen);
/* Set one option by name from a string (name may use '-' or '_'). */
int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen);
void config_defaults(struct config *cfg);
/* Cross-option checks that make the daemon refuse to start (e.g. short JWT secret). */
int config_validate(const struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);
void config_print_help(FILE *out);
const char *log_level_name(int level);

#endif
