/*-------------------------------------------------------------------------
 *
 * flov7.c
 *	  Module entry point of the flov7 extension.
 *
 * The library is loaded on demand, the first time one of its functions is
 * called; _PG_init only registers the callbacks the other files need.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "flov7.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Set up the module once per backend. */
void
_PG_init(void)
{
	flov7_authz_init();
}
