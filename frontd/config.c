/*
 * config.c — the option table and its four sources.  Adding an option = one row below plus a
 * field in struct config; --help, the env var, the file key and the flag follow from the row.
 */
#include "config.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_STR, OPT_INT, OPT_MS, OPT_BOOL, OPT_LEVEL, OPT_RATE };

struct option_def {
    const char *name;
    enum opt_type type;
    const char *def;
    const char *env;
    size_t offset;
    long min, max;
    const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct option_def options[] = {
    {"listen", OPT_STR, "127.0.0.1:8000", "FLOV7_LISTEN", OFF(listen), 0, 0,
     "address to accept HTTP on, host:port ([v6]:port)"},
    {"db-uri", OPT_STR, "", "FLOV7_DB_URI", OFF(db_uri), 0, 0,
     "libpq URI/conninfo of flov7_authenticator (empty: PG* environment)"},
    {"jwt-secret", OPT_STR, "", "FLOV7_JWT_SECRET", OFF(jwt_secret), 0, 0,
     "HS256 secret shared with the extension, at least 32 bytes (required)"},
    {"pool-size", OPT_INT, "8", "FLOV7_POOL_SIZE", OFF(pool_size), 1, 1000,
     "database connections in the pool"},
    {"pool-pipeline-depth", OPT_INT, "8", "FLOV7_POOL_PIPELINE_DEPTH", OFF(pool_pipeline_depth), 1,
     64, "requests in flight per database connection when none is idle (1 = no pipelining)"},
    {"pool-acquire-timeout", OPT_MS, "10s", "FLOV7_POOL_ACQUIRE_TIMEOUT",
     OFF(pool_acquire_timeout_ms), 100, 3600000,
     "longest wait for a database connection, also while it reconnects; then 503"},
    {"max-connections", OPT_INT, "1024", "FLOV7_MAX_CONNECTIONS", OFF(max_connections), 1, 1000000,
     "open client connections; at it the longest-idle one is closed for a newcomer, 503 if "
     "none is idle (/health and /ready still answer)"},
    {"max-connections-per-ip", OPT_INT, "256", "FLOV7_MAX_CONNECTIONS_PER_IP",
     OFF(max_connections_per_ip), 0, 1000000,
     "open connections per client address (IPv6: per /64); at it that address's longest-idle "
     "one is closed, 503 if none is idle; 0 = no cap (raise it behind a proxy)"},
    {"max-header-bytes", OPT_INT, "8192", "FLOV7_MAX_HEADER_BYTES", OFF(max_header_bytes), 256,
     1048576, "largest request header block; larger gets 431"},
    {"max-body-bytes", OPT_INT, "1048576", "FLOV7_MAX_BODY_BYTES", OFF(max_body_bytes), 0,
     1073741824, "largest request body; larger gets 413"},
    {"header-timeout", OPT_MS, "10s", "FLOV7_HEADER_TIMEOUT", OFF(header_timeout_ms), 100, 3600000,
     "deadline to receive a whole header block (408), also for a new connection"},
    {"first-byte-timeout", OPT_MS, "3s", "FLOV7_FIRST_BYTE_TIMEOUT", OFF(first_byte_timeout_ms),
     100, 3600000,
     "a new connection closed if it sends nothing this long (at most header-timeout)"},
    {"idle-timeout", OPT_MS, "60s", "FLOV7_IDLE_TIMEOUT", OFF(idle_timeout_ms), 100, 86400000,
     "keep-alive connection closed after this long without a request"},
    {"request-timeout", OPT_MS, "30s", "FLOV7_REQUEST_TIMEOUT", OFF(request_timeout_ms), 100,
     3600000, "body receive and database deadline; sent as statement_timeout (504)"},
    {"cors-origins", OPT_STR, "", "FLOV7_CORS_ORIGINS", OFF(cors_origins), 0, 0,
     "allowed CORS origins: comma list, * for any, empty for none"},
    {"log-level", OPT_LEVEL, "info", "FLOV7_LOG_LEVEL", OFF(log_level), 0, 0,
     "error, warn, info or debug"},
    {"access-log", OPT_BOOL, "on", "FLOV7_ACCESS_LOG", OFF(access_log), 0, 0,
     "one JSON line per request on stderr (on/off)"},
    {"jwt-leeway", OPT_INT, "30", "FLOV7_JWT_LEEWAY", OFF(jwt_leeway), 0, 3600,
     "seconds of clock skew allowed on exp/nbf/iat"},
    {"jwt-cache-size", OPT_INT, "4096", "FLOV7_JWT_CACHE_SIZE", OFF(jwt_cache_size), 0, 1000000,
     "verified tokens remembered until their exp (0 disables)"},
    {"ws-ping-interval", OPT_MS, "30s", "FLOV7_WS_PING_INTERVAL", OFF(ws_ping_interval_ms), 100,
     3600000,
     "WebSocket ping (SSE: comment line) this often; a socket silent for 2.5 intervals is closed"},
    {"ws-max-message", OPT_INT, "65536", "FLOV7_WS_MAX_MESSAGE", OFF(ws_max_message), 125, 16777216,
     "largest message a WebSocket client may send (larger: close 1009)"},
    {"ws-max-buffer", OPT_INT, "1048576", "FLOV7_WS_MAX_BUFFER", OFF(ws_max_buffer), 4096,
     1073741824,
     "unsent bytes a stream may hold for a client that does not read; then it is closed (1008)"},
    {"ws-recheck-interval", OPT_MS, "5s", "FLOV7_WS_RECHECK_INTERVAL", OFF(ws_recheck_interval_ms),
     100, 3600000,
     "re-check open streams' credentials (revoked, deactivated: close 4001) and sync the "
     "registry of streams this often"},
    {"ws-max-per-user", OPT_INT, "16", "FLOV7_WS_MAX_PER_USER", OFF(ws_max_per_user), 1, 1000000,
     "open streams (WebSocket and SSE) per watched user; more get 429"},
    {"ws-max-connections", OPT_INT, "100000", "FLOV7_WS_MAX_CONNECTIONS", OFF(ws_max_connections),
     1, 10000000, "open streams in all; more get 503 (max-connections also counts them)"},
    {"server-url", OPT_STR, "", "FLOV7_SERVER_URL", OFF(server_url), 0, 0,
     "servers URL of /openapi.json, http(s)://... or /...; empty: \"/\" (relative to the "
     "document; never taken from the Host header)"},
    {"rate-limit-ip", OPT_RATE, "0", "FLOV7_RATE_LIMIT_IP", OFF(rate_limit_ip), 0, 0,
     "requests per client address: COUNT/UNIT[,BURST] (UNIT s, m or h; e.g. 50/s,100), "
     "0 = off; 429 beyond it (/health and /ready never limited)"},
    {"rate-limit-credential", OPT_RATE, "0", "FLOV7_RATE_LIMIT_CREDENTIAL",
     OFF(rate_limit_credential), 0, 0,
     "requests per bearer token or API key, as rate-limit-ip; 0 = off"},
    {"rate-limit-max-entries", OPT_INT, "100000", "FLOV7_RATE_LIMIT_MAX_ENTRIES",
     OFF(rate_limit_max_entries), 1, 10000000,
     "buckets kept per limit (about 40 bytes each); at it the least recently used gives way"},
    {"trusted-proxies", OPT_STR, "", "FLOV7_TRUSTED_PROXIES", OFF(trusted_proxies), 0, 0,
     "comma list of proxy addresses or CIDRs whose X-Forwarded-For names the client (for "
     "rate-limit-ip and request.ip); empty: none"},
    {"metrics-listen", OPT_STR, "", "FLOV7_METRICS_LISTEN", OFF(metrics_listen), 0, 0,
     "host:port serving /metrics (and /health) alone; then the main listener answers 404 "
     "there; empty: /metrics on the main listener"},
    {"metrics-token", OPT_STR, "", "FLOV7_METRICS_TOKEN", OFF(metrics_token), 0, 0,
     "if set, /metrics requires Authorization: Bearer <this> (else 401)"},
    {"config", OPT_STR, "", "FLOV7_CONFIG", OFF(config_file), 0, 0,
     "file of `key = value` lines (flags > env > file > defaults)"},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static const char *level_names[] = {"error", "warn", "info", "debug"};

const char *log_level_name(int level)
{
    if (level < 0 || level > LOG_DEBUG)
        return "?";
    return level_names[level];
}

/* Option names accept '_' for '-' (db_uri = ... in a file reads naturally). */
static const struct option_def *find_option(const char *name, size_t n)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const char *o = options[i].name;
        size_t j;
        for (j = 0; j < n && o[j]; j++) {
            char c = name[j] == '_' ? '-' : (char)tolower((unsigned char)name[j]);
            if (c != o[j])
                break;
        }
        if (j == n && o[j] == 0)
            return &options[i];
    }
    return NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
    return CONFIG_ERROR;
}

static int parse_long(const char *v, long *out, const char **rest)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*v) && *v != '-')
        return -1;
    long x = strtol(v, &end, 10);
    if (errno || end == v)
        return -1;
    *out = x;
    *rest = end;
    return 0;
}

static int set_value(struct config *cfg, const struct option_def *o, const char *v, char *err,
                     size_t errlen)
{
    char *field = (char *)cfg + o->offset;
    long x = 0;
    const char *rest;
    switch (o->type) {
    case OPT_STR: {
        char **p = (char **)field;
        free(*p);
        *p = xstrdup(v);
        return CONFIG_OK;
    }
    case OPT_INT:
        if (parse_long(v, &x, &rest) || *rest)
            return fail(err, errlen, "option %s: \"%s\" is not an integer", o->name, v);
        break;
    case OPT_MS:
        if (parse_long(v, &x, &rest))
            return fail(err, errlen, "option %s: \"%s\" is not a duration (10, 10s, 500ms)",
                        o->name, v);
        if (*rest == 0 || strcmp(rest, "s") == 0) {
            if (x > LONG_MAX / 1000)
                return fail(err, errlen, "option %s: \"%s\" is out of range", o->name, v);
            x *= 1000;
        } else if (strcmp(rest, "ms") != 0) {
            return fail(err, errlen, "option %s: \"%s\" is not a duration (10, 10s, 500ms)",
                        o->name, v);
        }
        break;
    case OPT_BOOL:
        if (!strcasecmp(v, "on") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
            !strcmp(v, "1")) {
            *(bool *)field = true;
        } else if (!strcasecmp(v, "off") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
                   !strcmp(v, "0")) {
            *(bool *)field = false;
        } else {
            return fail(err, errlen, "option %s: \"%s\" is not on/off", o->name, v);
        }
        return CONFIG_OK;
    case OPT_LEVEL:
        for (int i = 0; i <= LOG_DEBUG; i++) {
            if (!strcasecmp(v, level_names[i])) {
                *(int *)field = i;
                return CONFIG_OK;
            }
        }
        return fail(err, errlen, "option %s: \"%s\" is not error/warn/info/debug", o->name, v);
    case OPT_RATE: {
        char e2[200];
        if (rl_rate_parse(v, (struct rl_rate *)field, e2, sizeof(e2)) != 0)
            return fail(err, errlen, "option %s: %s", o->name, e2);
        return CONFIG_OK;
    }
    }
    if (x < o->min || x > o->max) {
        char range[64];
        snprintf(range, sizeof(range), "%ld..%ld", o->min, o->max);
        if (o->type == OPT_MS)
            snprintf(range, sizeof(range), "%ldms..%ldms", o->min, o->max);
        return fail(err, errlen, "option %s: out of range %s", o->name, range);
    }
    *(int *)field = (int)x;
    return CONFIG_OK;
}

int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const struct option_def *o = find_option(name, strlen(name));
    if (!o)
        return fail(err, errlen, "unknown option \"%s\"%s", name, "");
    return set_value(cfg, o, value, err, errlen);
}

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    char err[256];
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (set_value(cfg, &options[i], options[i].def, err, sizeof(err)) != CONFIG_OK)
            abort(); /* a default that does not parse is a bug in the table */
    }
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        if (options[i].type == OPT_STR) {
            char **p = (char **)((char *)cfg + options[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = 0;
    return s;
}

int config_apply_text(struct config *cfg, const char *text, const char *fname, char *err,
                      size_t errlen)
{
    char *copy = xstrdup(text);
    int lineno = 0, rc = CONFIG_OK;
    char *p = copy;
    while (p && rc == CONFIG_OK) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        char *line = trim(p);
        p = nl ? nl + 1 : NULL;
        if (*line == 0 || *line == '#' || *line == ';')
            continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected `key = value`", fname, lineno);
            rc = CONFIG_ERROR;
            break;
        }
        *eq = 0;
        char *key = trim(line), *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 &&
            ((val[0] == '"' && val[vl - 1] == '"') || (val[0] == '\'' && val[vl - 1] == '\''))) {
            val[vl - 1] = 0;
            val++;
        }
        const struct option_def *o = find_option(key, strlen(key));
        if (!o) {
            snprintf(err, errlen, "%s:%d: unknown option \"%s\"", fname, lineno, key);
            rc = CONFIG_ERROR;
        } else if (o->offset == OFF(config_file)) {
            snprintf(err, errlen, "%s:%d: \"config\" cannot be set in a config file", fname,
                     lineno);
            rc = CONFIG_ERROR;
        } else {
            char e2[256];
            if (set_value(cfg, o, val, e2, sizeof(e2)) != CONFIG_OK) {
                snprintf(err, errlen, "%s:%d: %s", fname, lineno, e2);
                rc = CONFIG_ERROR;
            }
        }
    }
    free(copy);
    return rc;
}

static int apply_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
        return CONFIG_ERROR;
    }
    struct sbuf b;
    sbuf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sbuf_add(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        sbuf_free(&b);
        snprintf(err, errlen, "cannot read config file %s", path);
        return CONFIG_ERROR;
    }
    int rc = config_apply_text(cfg, sbuf_cstr(&b), path, err, errlen);
    sbuf_free(&b);
    return rc;
}

/* Walk argv; for each --name[=value] call fn.  Only --help/--version are value-less. */
typedef int (*flag_fn)(struct config *cfg, const struct option_def *o, const char *v, char *err,
                       size_t errlen);

static int walk_flags(struct config *cfg, int argc, char **argv, flag_fn fn, FILE *help_out,
                      char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            if (help_out)
                config_print_help(help_out);
            return CONFIG_EXIT;
        }
        if (!strcmp(a, "--version")) {
            if (help_out)
                fprintf(help_out, "frontd (flov7)\n");
            return CONFIG_EXIT;
        }
        if (strncmp(a, "--", 2) != 0)
            return fail(err, errlen, "unexpected argument \"%s\" (try --help)%s", a, "");
        const char *name = a + 2, *eq = strchr(name, '='), *val;
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const struct option_def *o = find_option(name, nl);
        if (!o)
            return fail(err, errlen, "unknown option \"%s\" (try --help)%s", a, "");
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            return fail(err, errlen, "option --%s needs a value%s", o->name, "");
        }
        int rc = fn(cfg, o, val, err, errlen);
        if (rc != CONFIG_OK)
            return rc;
    }
    return CONFIG_OK;
}

static int flag_only_config(struct config *cfg, const struct option_def *o, const char *v,
                            char *err, size_t errlen)
{
    if (o->offset == OFF(config_file))
        return set_value(cfg, o, v, err, errlen);
    return CONFIG_OK;
}

int config_load(struct config *cfg, int argc, char **argv, config_getenv_fn getenv_fn,
                FILE *help_out, char *err, size_t errlen)
{
    int rc;
    config_defaults(cfg);
    /* The file's path itself comes from flags or env, so find it first. */
    const char *envcfg = getenv_fn ? getenv_fn("FLOV7_CONFIG") : NULL;
    if (envcfg && (rc = config_set(cfg, "config", envcfg, err, errlen)) != CONFIG_OK)
        return rc;
    if ((rc = walk_flags(cfg, argc, argv, flag_only_config, help_out, err, errlen)) != CONFIG_OK)
        return rc;
    if (cfg->config_file[0] && (rc = apply_file(cfg, cfg->config_file, err, errlen)) != CONFIG_OK)
        return rc;
    for (size_t i = 0; getenv_fn && i < NOPTIONS; i++) {
        const char *v = getenv_fn(options[i].env);
        if (v && (rc = set_value(cfg, &options[i], v, err, errlen)) != CONFIG_OK) {
            char e2[256];
            snprintf(e2, sizeof(e2), "%s (from %s)", err, options[i].env);
            snprintf(err, errlen, "%s", e2);
            return rc;
        }
    }
    if ((rc = walk_flags(cfg, argc, argv, set_value, help_out, err, errlen)) != CONFIG_OK)
        return rc;
    return config_validate(cfg, err, errlen);
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
    size_t sl = strlen(cfg->jwt_secret);
    if (sl < 32) {
        snprintf(err, errlen,
                 "jwt-secret (FLOV7_JWT_SECRET) must be at least 32 bytes, got %zu; use the "
                 "secret of flov7.settings",
                 sl);
        return CONFIG_ERROR;
    }
    const char *colon = strrchr(cfg->listen, ':');
    if (!colon || colon[1] == 0)
        return fail(err, errlen, "listen: \"%s\" is not host:port%s", cfg->listen, "");
    if (cfg->metrics_listen[0]) {
        colon = strrchr(cfg->metrics_listen, ':');
        if (!colon || colon[1] == 0)
            return fail(err, errlen, "metrics-listen: \"%s\" is not host:port%s",
                        cfg->metrics_listen, "");
        if (strcmp(cfg->metrics_listen, cfg->listen) == 0)
            return fail(err, errlen, "metrics-listen must differ from listen (\"%s\")%s",
                        cfg->listen, "");
    }
    if (cfg->metrics_token[0] && strlen(cfg->metrics_token) < 16)
        return fail(err, errlen, "metrics-token must be at least 16 bytes%s%s", "", "");
    /* the servers URL goes into a JSON document clients follow: a plain URL or path only */
    const char *u = cfg->server_url;
    bool shape =
        u[0] == 0 || u[0] == '/' || strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
    for (const char *p = u; shape && *p; p++)
        shape = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '"' && *p != '\\';
    if (!shape)
        return fail(err, errlen,
                    "server-url: \"%s\" is not an http(s):// URL or a path starting with /%s", u,
                    "");
    return CONFIG_OK;
}

void config_print_help(FILE *out)
{
    fprintf(out, "usage: frontd [--option=value ...]\n\n"
                 "HTTP front end of the flov7 PostgreSQL extension.  Each option can also be set\n"
                 "in the environment or in the config file (`option = value`); flags win over\n"
                 "the environment, which wins over the file, which wins over the defaults.\n"
                 "Durations are seconds unless suffixed with ms.  SIGHUP reloads.\n\n");
    fprintf(out, "  %-24s %-28s %-15s %s\n", "option", "environment", "default", "meaning");
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_def *o = &options[i];
        char flag[40];
        snprintf(flag, sizeof(flag), "--%s", o->name);
        fprintf(out, "  %-24s %-28s %-15s %s\n", flag, o->env, o->def[0] ? o->def : "\"\"",
                o->help);
    }
}
