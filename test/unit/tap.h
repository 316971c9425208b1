/*
 * tap.h — a minimal TAP producer for frontd's C unit tests: ok() prints one "ok N - ..." or
 * "not ok N - ..." line; tap_done() prints the plan and the summary line
 * "unit: P passed, F failed" and returns the exit status.
 */
#ifndef FRONTD_TAP_H
#define FRONTD_TAP_H

#include <stdbool.h>

bool ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tap_done(void);

/* one function per suite, each data-driven from its own tables */
void test_router(void);
void test_http(void);
void test_httpread(void);
void test_errmap(void);
void test_errors(void);
void test_config(void);
void test_auth(void);
void test_util(void);
void test_admit(void);
void test_wsproto(void);
void test_resphdr(void);
void test_ratelimit(void);
void test_errstyle(void);

#endif
