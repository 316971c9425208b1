/*
 * tap.c — TAP output and the test runner's main: runs every suite, then prints the plan and
 * "unit: P passed, F failed"; exits 1 if anything failed.
 */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_pass, tap_fail;

bool ok(bool cond, const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (cond)
        tap_pass++;
    else
        tap_fail++;
    return cond;
}

void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

int tap_done(void)
{
    printf("1..%d\n", tap_n);
    printf("unit: %d passed, %d failed\n", tap_pass, tap_fail);
    return tap_fail ? 1 : 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_util();
    test_http();
    test_httpread();
    test_router();
    test_errmap();
    test_errors();
    test_config();
    test_auth();
    test_admit();
    test_wsproto();
    test_resphdr();
    test_ratelimit();
    test_errstyle();
    return tap_done();
}
