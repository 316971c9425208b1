/*
 * test_errors.c — frontd's error catalog: every entry filled, codes well-formed, unique and in
 * area order, header flags consistent with the status, and the table of frontd/README.md in
 * agreement with it row for row (code, status, message, hint, headers), both ways.  Then the
 * rendering: the JSON body, the header lines, the challenge's quoted-string.
 */
#include "errors.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FRONTD_README
#error "FRONTD_README must name frontd/README.md (set by frontd/Makefile)"
#endif

static bool code_ok(const char *c)
{
    return c && strlen(c) == 5 && c[0] == 'F' && c[1] == 'D' && c[2] >= '0' && c[2] <= '5' &&
           c[3] >= '0' && c[3] <= '9' && c[4] >= '0' && c[4] <= '9';
}

static void catalog_shape(void)
{
    int bad = 0;
    for (int i = FDE_NONE + 1; i < FDE_COUNT; i++) {
        const struct fd_error *e = fd_error(i);
        if (!e || !code_ok(e->code) || e->status < 400 || e->status > 599 || !e->message ||
            !e->message[0] || e->message[strlen(e->message) - 1] == '.') {
            diag("entry %d: missing, or a bad code, status or message", i);
            bad++;
            continue;
        }
        if (((e->flags & FDF_CHALLENGE) != 0) != (e->status == 401) ||
            ((e->flags & FDF_ALLOW) != 0) != (e->status == 405)) {
            diag("%s: WWW-Authenticate goes with 401 and Allow with 405, and only there", e->code);
            bad++;
        }
        if (e->headers && strcmp(e->headers + strlen(e->headers) - 2, "\r\n") != 0) {
            diag("%s: fixed header lines must end with CRLF", e->code);
            bad++;
        }
        /* the enum lists the areas in order, and codes ascend within them */
        const struct fd_error *prev = fd_error(i - 1);
        if (prev && strcmp(prev->code, e->code) >= 0) {
            diag("%s after %s: codes must ascend in enum order", e->code, prev->code);
            bad++;
        }
    }
    ok(bad == 0, "errors: %d catalog entries, each complete and consistent", FDE_COUNT - 1);
    int dup = 0;
    for (int i = FDE_NONE + 1; i < FDE_COUNT; i++)
        for (int j = i + 1; j < FDE_COUNT; j++)
            if (fd_error(i) && fd_error(j) && strcmp(fd_error(i)->code, fd_error(j)->code) == 0) {
                diag("%s twice", fd_error(i)->code);
                dup++;
            }
    ok(dup == 0, "errors: every code is unique");
    ok(fd_error(FDE_NONE) == NULL && fd_error(FDE_COUNT) == NULL && fd_error(-1) == NULL &&
           fd_error_status(FDE_NONE) == 0,
       "errors: no entry outside the catalog");
}

/* "| `FD001` | 503 | message | hint | headers | when |" → cells, trimmed */
static int split_row(char *line, char **cells, int max)
{
    int n = 0;
    char *p = line;
    if (*p != '|')
        return 0;
    p++;
    while (*p && n < max) {
        char *bar = strchr(p, '|');
        if (!bar)
            break;
        *bar = 0;
        while (*p == ' ')
            p++;
        char *e = bar;
        while (e > p && e[-1] == ' ')
            *--e = 0;
        cells[n++] = p;
        p = bar + 1;
    }
    return n;
}

/* The headers cell names each header line the entry adds, and no other. */
static bool headers_documented(const struct fd_error *e, const char *cell)
{
    char want[256] = "";
    if (e->retry_after)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s`Retry-After: %d`",
                 want[0] ? ", " : "", e->retry_after);
    if (e->headers)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s`%.*s`", want[0] ? ", " : "",
                 (int)strlen(e->headers) - 2, e->headers);
    if (e->flags & FDF_ALLOW)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s`Allow`",
                 want[0] ? ", " : "");
    if (e->flags & FDF_CHALLENGE)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s`WWW-Authenticate`",
                 want[0] ? ", " : "");
    if (e->flags & FDF_RETRY)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s`Retry-After`",
                 want[0] ? ", " : "");
    return strcmp(want, cell) == 0;
}

static void readme_agrees(void)
{
    FILE *f = fopen(FRONTD_README, "r");
    if (!ok(f != NULL, "errors: %s is readable", FRONTD_README))
        return;
    int seen[FDE_COUNT] = {0};
    int bad = 0, rows = 0;
    char line[2048];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "| `FD", 5) != 0)
            continue;
        line[strcspn(line, "\n")] = 0;
        char *cell[8];
        if (split_row(line, cell, 8) < 6) {
            diag("README row with fewer than 6 cells: %s", line);
            bad++;
            continue;
        }
        rows++;
        char code[8] = "";
        size_t cl = strlen(cell[0]);
        if (cl == 7 && cell[0][0] == '`' && cell[0][6] == '`')
            memcpy(code, cell[0] + 1, 5);
        int id = FDE_NONE;
        for (int i = FDE_NONE + 1; i < FDE_COUNT && !id; i++)
            if (fd_error(i) && strcmp(fd_error(i)->code, code) == 0)
                id = i;
        if (!id) {
            diag("README documents %s, which the catalog lacks", cell[0]);
            bad++;
            continue;
        }
        const struct fd_error *e = fd_error(id);
        seen[id]++;
        if (atoi(cell[1]) != e->status || strcmp(cell[2], e->message) != 0 ||
            strcmp(cell[3], e->hint ? e->hint : "") != 0 || !headers_documented(e, cell[4])) {
            diag("README row of %s differs from the catalog: %s | %s | %s | %s", e->code, cell[1],
                 cell[2], cell[3], cell[4]);
            bad++;
        }
    }
    fclose(f);
    for (int i = FDE_NONE + 1; i < FDE_COUNT; i++) {
        if (fd_error(i) && seen[i] != 1) {
            diag("%s is documented %d times in README.md (once is right)", fd_error(i)->code,
                 seen[i]);
            bad++;
        }
    }
    ok(bad == 0 && rows == FDE_COUNT - 1,
       "errors: README.md documents every code once, as the catalog has it (%d rows)", rows);
}

static void rendering(void)
{
    struct sbuf b;
    sbuf_init(&b);
    error_body(&b, "FD001", "say \"hi\"\n", NULL, "h");
    ok(strcmp(b.data, "{\"code\":\"FD001\",\"message\":\"say \\\"hi\\\"\\n\",\"details\":null,"
                      "\"hint\":\"h\"}") == 0,
       "errors: body shape, escaped, null details");
    sbuf_reset(&b);
    fd_error_headers(&b, fd_error(FDE_METHOD), &(struct fd_error_args){.allow = "GET, OPTIONS"});
    ok(strcmp(b.data, "Allow: GET, OPTIONS\r\n") == 0, "errors: 405 carries Allow");
    sbuf_reset(&b);
    fd_error_headers(&b, fd_error(FDE_STREAMS_USER), NULL);
    ok(strcmp(b.data, "Retry-After: 5\r\n") == 0, "errors: a stream limit says Retry-After: 5");
    sbuf_reset(&b);
    fd_error_headers(&b, fd_error(FDE_RATE_IP), &(struct fd_error_args){.retry_after = 3});
    ok(strcmp(b.data, "Retry-After: 3\r\n") == 0, "errors: a rate limit says its computed wait");
    sbuf_reset(&b);
    fd_error_headers(&b, fd_error(FDE_WS_NOT_UPGRADE), NULL);
    ok(strcmp(b.data, "Upgrade: websocket\r\n") == 0, "errors: 426 names the upgrade");
    sbuf_reset(&b);
    fd_error_headers(&b, fd_error(FDE_JWT_EXPIRED), &(struct fd_error_args){.token_given = true});
    ok(strcmp(b.data, "WWW-Authenticate: Bearer error=\"invalid_token\", "
                      "error_description=\"token has expired\"\r\n") == 0,
       "errors: a refused token is an invalid_token challenge");
    sbuf_reset(&b);
    fd_error_headers(&b, fd_error(FDE_AUTH_SCHEME), NULL);
    ok(strstr(b.data, "error=\"invalid_request\"") != NULL,
       "errors: no credential given is an invalid_request challenge");
    sbuf_reset(&b);
    bearer_challenge(&b, "invalid_token",
                     "a\"b\\c\x01\xc3\xa9"
                     "d");
    ok(strcmp(b.data, "WWW-Authenticate: Bearer error=\"invalid_token\", "
                      "error_description=\"abcd\"\r\n") == 0,
       "errors: the description keeps only quoted-string characters");
    sbuf_reset(&b);
    bearer_challenge(&b, NULL, "ignored");
    ok(strcmp(b.data, "WWW-Authenticate: Bearer\r\n") == 0, "errors: a bare challenge");
    sbuf_free(&b);
}

void test_errors(void)
{
    catalog_shape();
    readme_agrees();
    rendering();
}
