/*-------------------------------------------------------------------------
 *
 * argscan.h
 *	  The scans flov7.args() runs over a request body before PostgreSQL's
 *	  JSON parser sees it.  Plain C, no server headers (see argscan.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FLOV7_ARGSCAN_H
#define FLOV7_ARGSCAN_H

#include <stdbool.h>

/* Deepest nesting of arrays and objects accepted in a request body. */
#define ARGS_MAX_BODY_DEPTH 512

extern bool argscan_blank(const char *s, int len);
extern bool argscan_too_deep(const char *s, int len, int max_depth);

#endif							/* FLOV7_ARGSCAN_H */
