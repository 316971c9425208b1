/*-------------------------------------------------------------------------
 *
 * flov7.c
 *	  Module entry point of the flov7 extension.
 *
 * The library is loaded on demand, the first time one of its functions is
 * called, or preloaded (shared_preload_libraries) to start the executor's
 * background workers; _PG_init only registers the callbacks, settings and
 * workers the other files need.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "engine.h"
#include "flov7.h"
#include "validate.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Set up the module once per backend. */
void
_PG_init(void)
{
	flov7_authz_init();
	flov7_credkeys_init();
	flov7_validate_init();
	flov7_engine_init();
	flov7_worker_init();
	MarkGUCPrefixReserved("flov7");
}
