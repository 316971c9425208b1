/*
 * test_config.c — the option table: defaults, the file format, durations, ranges, and the
 * precedence flags > environment > file > defaults; the JWT secret length rule.
 */
#include "config.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET "0123456789abcdef0123456789abcdef"

/* a fake environment: NULL-terminated name/value pairs */
static const char *const *fake_env;

static const char *get(const char *name)
{
    for (const char *const *p = fake_env; p && *p; p += 2) {
        if (strcmp(p[0], name) == 0)
            return p[1];
    }
    return NULL;
}

static char cfgfile[64];

static void write_file(const char *text)
{
    FILE *f = fopen(cfgfile, "w");
    fputs(text, f);
    fclose(f);
}

struct ccase {
    const char *name;
    const char *file;    /* NULL: no config file */
    const char *env[8];  /* name, value, ... */
    const char *argv[6]; /* after argv[0] */
    int rc;
    const char *check; /* "pool=N", "header_ms=N", "acquire_ms=N", "listen=...", "access=0/1",
                          "level=N" */
};

static const struct ccase cases[] = {
    {"defaults", NULL, {"FLOV7_JWT_SECRET", SECRET}, {NULL}, CONFIG_OK, "pool=8"},
    {"default listen",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "listen=127.0.0.1:8000"},
    {"default header-timeout 10 s",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "header_ms=10000"},
    {"default max-body-bytes",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "body=1048576"},
    {"default pool-acquire-timeout 10 s",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "acquire_ms=10000"},
    {"pool-acquire-timeout from env, in ms",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET, "FLOV7_POOL_ACQUIRE_TIMEOUT", "1500ms"},
     {NULL},
     CONFIG_OK,
     "acquire_ms=1500"},
    {"pool-acquire-timeout below 100 ms refused",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--pool-acquire-timeout=50ms", NULL},
     CONFIG_ERROR,
     NULL},
    {"file only", "pool-size = 3\n", {"FLOV7_JWT_SECRET", SECRET}, {NULL}, CONFIG_OK, "pool=3"},
    {"env beats file",
     "pool-size = 3\n",
     {"FLOV7_JWT_SECRET", SECRET, "FLOV7_POOL_SIZE", "5"},
     {NULL},
     CONFIG_OK,
     "pool=5"},
    {"flag beats env and file",
     "pool-size = 3\n",
     {"FLOV7_JWT_SECRET", SECRET, "FLOV7_POOL_SIZE", "5"},
     {"--pool-size=7", NULL},
     CONFIG_OK,
     "pool=7"},
    {"flag with separate value",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--pool-size", "9", NULL},
     CONFIG_OK,
     "pool=9"},
    {"secret from file", "jwt-secret = \"" SECRET "\"\n", {NULL}, {NULL}, CONFIG_OK, "pool=8"},
    {"comments, blanks, underscores",
     "# c\n\n; c\n  pool_size=4  \r\nlog_level = debug\n",
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "level=3"},
    {"duration in ms",
     "header-timeout = 500ms\n",
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "header_ms=500"},
    {"duration in s",
     "header-timeout = 2s\n",
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "header_ms=2000"},
    {"duration bare seconds from env",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET, "FLOV7_HEADER_TIMEOUT", "2"},
     {NULL},
     CONFIG_OK,
     "header_ms=2000"},
    {"bool off", "access-log = off\n", {"FLOV7_JWT_SECRET", SECRET}, {NULL}, CONFIG_OK, "access=0"},
    {"listen from env",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET, "FLOV7_LISTEN", "0.0.0.0:9"},
     {NULL},
     CONFIG_OK,
     "listen=0.0.0.0:9"},
    {"default first-byte-timeout 3 s",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "first_ms=3000"},
    {"default max-connections-per-ip",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "per_ip=256"},
    {"first-byte-timeout from env",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET, "FLOV7_FIRST_BYTE_TIMEOUT", "500ms"},
     {NULL},
     CONFIG_OK,
     "first_ms=500"},
    {"no per-address cap",
     "max-connections-per-ip = 0\n",
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "per_ip=0"},
    /* errors */
    {"short secret refused", NULL, {"FLOV7_JWT_SECRET", "too-short"}, {NULL}, CONFIG_ERROR, NULL},
    {"no secret refused", NULL, {NULL}, {NULL}, CONFIG_ERROR, NULL},
    {"unknown file key",
     "pool-sise = 3\n",
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_ERROR,
     NULL},
    {"line without =", "pool-size 3\n", {"FLOV7_JWT_SECRET", SECRET}, {NULL}, CONFIG_ERROR, NULL},
    {"not an integer",
     "pool-size = 3x\n",
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_ERROR,
     NULL},
    {"out of range",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET, "FLOV7_POOL_SIZE", "0"},
     {NULL},
     CONFIG_ERROR,
     NULL},
    {"bad duration unit",
     "idle-timeout = 2m\n",
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_ERROR,
     NULL},
    {"negative per-address cap",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--max-connections-per-ip=-1", NULL},
     CONFIG_ERROR,
     NULL},
    {"bad bool", "access-log = maybe\n", {"FLOV7_JWT_SECRET", SECRET}, {NULL}, CONFIG_ERROR, NULL},
    {"bad log level",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--log-level=loud", NULL},
     CONFIG_ERROR,
     NULL},
    {"unknown flag",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--frobnicate=1", NULL},
     CONFIG_ERROR,
     NULL},
    {"flag without value",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--pool-size", NULL},
     CONFIG_ERROR,
     NULL},
    {"positional argument",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"extra", NULL},
     CONFIG_ERROR,
     NULL},
    {"config key in a file",
     "config = /etc/x\n",
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_ERROR,
     NULL},
    {"listen without port",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--listen=localhost", NULL},
     CONFIG_ERROR,
     NULL},
    {"--help exits", NULL, {NULL}, {"--help", NULL}, CONFIG_EXIT, NULL},
    /* rate limits, metrics, server-url (issue 8) */
    {"rate limits off by default",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "rate_ip=0/0,0"},
    {"rate-limit-ip from the environment",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET, "FLOV7_RATE_LIMIT_IP", "50/s,100"},
     {NULL},
     CONFIG_OK,
     "rate_ip=50/1000,100"},
    {"rate-limit-credential in a file",
     "rate-limit-credential = 600/m\n",
     {"FLOV7_JWT_SECRET", SECRET},
     {NULL},
     CONFIG_OK,
     "rate_cred=600/60000,600"},
    {"a bad rate is refused",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--rate-limit-ip=fast", NULL},
     CONFIG_ERROR,
     NULL},
    {"server-url must be a URL or a path",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--server-url=javascript:alert(1)", NULL},
     CONFIG_ERROR,
     NULL},
    {"server-url with a quote is refused",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--server-url=https://a\"b", NULL},
     CONFIG_ERROR,
     NULL},
    {"server-url https accepted",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET},
     {"--server-url=https://api.example.com", NULL},
     CONFIG_OK,
     "pool=8"},
    {"metrics-listen must differ from listen",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET, "FLOV7_LISTEN", "127.0.0.1:9000"},
     {"--metrics-listen=127.0.0.1:9000", NULL},
     CONFIG_ERROR,
     NULL},
    {"a short metrics-token is refused",
     NULL,
     {"FLOV7_JWT_SECRET", SECRET, "FLOV7_METRICS_TOKEN", "short"},
     {NULL},
     CONFIG_ERROR,
     NULL},
};

static bool check(const struct config *cfg, const char *what)
{
    char key[32];
    const char *eq = strchr(what, '=');
    snprintf(key, sizeof(key), "%.*s", (int)(eq - what), what);
    const char *v = eq + 1;
    if (!strcmp(key, "pool"))
        return cfg->pool_size == atoi(v);
    if (!strcmp(key, "header_ms"))
        return cfg->header_timeout_ms == atoi(v);
    if (!strcmp(key, "acquire_ms"))
        return cfg->pool_acquire_timeout_ms == atoi(v);
    if (!strcmp(key, "body"))
        return cfg->max_body_bytes == atoi(v);
    if (!strcmp(key, "listen"))
        return !strcmp(cfg->listen, v);
    if (!strcmp(key, "access"))
        return cfg->access_log == (atoi(v) != 0);
    if (!strcmp(key, "level"))
        return cfg->log_level == atoi(v);
    /* connection limits */
    if (!strcmp(key, "first_ms"))
        return cfg->first_byte_timeout_ms == atoi(v);
    if (!strcmp(key, "per_ip"))
        return cfg->max_connections_per_ip == atoi(v);
    if (!strcmp(key, "rate_ip") || !strcmp(key, "rate_cred")) {
        const struct rl_rate *r =
            !strcmp(key, "rate_ip") ? &cfg->rate_limit_ip : &cfg->rate_limit_credential;
        char got[64];
        snprintf(got, sizeof(got), "%u/%u,%u", r->count, r->period_ms, r->burst);
        return !strcmp(got, v);
    }
    return false;
}

void test_config(void)
{
    snprintf(cfgfile, sizeof(cfgfile), "/tmp/frontd-unit-%d.conf", (int)getpid());
    FILE *devnull = fopen("/dev/null", "w");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ccase *c = &cases[i];
        const char *env[12];
        int n = 0;
        for (int j = 0; j < 8 && c->env[j]; j++)
            env[n++] = c->env[j];
        if (c->file) {
            write_file(c->file);
            env[n++] = "FLOV7_CONFIG";
            env[n++] = cfgfile;
        }
        env[n] = NULL;
        fake_env = env;
        char *argv[8] = {"frontd"};
        int argc = 1;
        for (int j = 0; j < 6 && c->argv[j]; j++)
            argv[argc++] = (char *)c->argv[j];
        struct config cfg;
        char err[512] = "";
        int rc = config_load(&cfg, argc, argv, get, devnull, err, sizeof(err));
        bool pass = rc == c->rc && (!c->check || check(&cfg, c->check));
        if (!ok(pass, "config: %s", c->name))
            diag("rc %d err \"%s\"", rc, err);
        config_free(&cfg);
    }
    fclose(devnull);
    unlink(cfgfile);
    /* the file named by a flag beats the one named in the environment */
    struct config cfg;
    char err[256];
    write_file("pool-size = 6\n");
    const char *env[] = {"FLOV7_JWT_SECRET", SECRET, "FLOV7_CONFIG", "/nonexistent/x.conf", NULL};
    fake_env = env;
    char flag[96];
    snprintf(flag, sizeof(flag), "--config=%s", cfgfile);
    char *argv[] = {"frontd", flag};
    int rc = config_load(&cfg, 2, argv, get, NULL, err, sizeof(err));
    ok(rc == CONFIG_OK && cfg.pool_size == 6, "config: --config beats FLOV7_CONFIG");
    config_free(&cfg);
    unlink(cfgfile);
    /* --help prints every option with its environment variable */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    config_print_help(m);
    fclose(m);
    ok(strstr(buf, "--db-uri") && strstr(buf, "FLOV7_DB_URI") && strstr(buf, "--max-body-bytes") &&
           strstr(buf, "FLOV7_JWT_LEEWAY") && strstr(buf, "127.0.0.1:8000") &&
           strstr(buf, "FLOV7_MAX_CONNECTIONS_PER_IP") && strstr(buf, "--first-byte-timeout"),
       "config: --help lists options, env vars and defaults");
    free(buf);
}
