/*
 * errmap.c — the SQLSTATE table of CONTRACT.md.  Exact codes are checked before classes, so
 * 23502/23514 (400) are not caught by a broader rule; unknown codes are 500 with the message
 * kept (never a stack trace: PostgreSQL sends none).  Class FD is reserved for frontd's own
 * error codes (errors.h), so a database error there is flagged instead of passed on.
 */
#include "errmap.h"

#include <string.h>

static bool is(const char *s, const char *code)
{
    return strcmp(s, code) == 0;
}

int errmap_status(const char *s, bool had_credentials, int *flags)
{
    *flags = 0;
    if (!s || strlen(s) != 5)
        return 500;
    /* a client reads a code starting with FD as frontd's own (errors.h): a function's error
     * must not pass for one */
    if (s[0] == 'F' && s[1] == 'D') {
        *flags |= EM_RESERVED;
        return 500;
    }
    /* PTnnn: the function chose the status itself */
    if (s[0] == 'P' && s[1] == 'T') {
        int v = 0;
        for (int i = 2; i < 5; i++) {
            if (s[i] < '0' || s[i] > '9')
                return 500;
            v = v * 10 + (s[i] - '0');
        }
        if (v < 100 || v > 599)
            return 500;
        if (v == 401)
            *flags |= EM_WWW_AUTHENTICATE;
        if (v == 503)
            *flags |= EM_RETRY_AFTER;
        return v;
    }
    if (is(s, "P0002"))
        return 404;
    if (is(s, "28000") || is(s, "28P01")) {
        *flags |= EM_WWW_AUTHENTICATE;
        return 401;
    }
    if (is(s, "42501")) {
        if (had_credentials)
            return 403;
        *flags |= EM_WWW_AUTHENTICATE;
        return 401;
    }
    if (is(s, "23505") || is(s, "23503"))
        return 409;
    if (is(s, "23502") || is(s, "23514") || is(s, "P0001"))
        return 400;
    if (s[0] == '2' && s[1] == '2')
        return 400;
    if (is(s, "53400"))
        return 403;
    /* class 54 program_limit_exceeded: 54000, and 54001 (stack depth: deeply nested JSON) is
     * bad input too, never a 500 */
    if (s[0] == '5' && s[1] == '4')
        return 413;
    if (is(s, "57014"))
        return 504;
    if (is(s, "40001") || is(s, "40P01")) {
        *flags |= EM_RETRY_AFTER;
        return 503;
    }
    if ((s[0] == '0' && s[1] == '8') ||
        (s[0] == '5' && s[1] == '7' && s[2] == 'P' && s[3] == '0')) {
        *flags |= EM_RETRY_AFTER;
        return 503;
    }
    return 500;
}
