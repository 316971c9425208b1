/*
 * errmap.h — SQLSTATE → HTTP status: the only place frontd decides a status from a database
 * error (table in CONTRACT.md).  Pure code.
 */
#ifndef FRONTD_ERRMAP_H
#define FRONTD_ERRMAP_H

#include <stdbool.h>

#define EM_WWW_AUTHENTICATE 1 /* add WWW-Authenticate: Bearer */
#define EM_RETRY_AFTER      2 /* add Retry-After: 1 */
#define EM_RESERVED         4 /* class FD: frontd's own codes, which a function may not raise */

/* had_credentials: the request carried a JWT or an API key (42501 → 403 instead of 401).
 * *flags receives EM_* bits.  NULL/short sqlstate → 500. */
int errmap_status(const char *sqlstate, bool had_credentials, int *flags);

#endif
