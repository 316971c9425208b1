/*-------------------------------------------------------------------------
 *
 * plans.c
 *	  Saved SPI plans for the executor's fixed statements.
 *
 * The runner issues the same few statements for every execution and step;
 * SPI_execute_with_args would parse and plan each of them every time (a
 * tenth of a step's cost).  As ri_triggers.c does, each statement is
 * prepared once per backend and kept (SPI_keepplan); the plan cache
 * re-analyzes it from its text when what it uses changes, so a dropped and
 * re-created extension still works.
 *
 * The runner's statements are planned for each execution (a custom plan):
 * the tables they read grow from nothing to many thousand rows within one
 * burst of executions, faster than autovacuum re-analyzes them, and a
 * generic plan made while they were small (a sequential scan of the step
 * data for every step) stays in the cache until it does, making a drain
 * quadratic.  Planning them costs a few tens of microseconds per step.  The
 * claim is the exception (flov7_plan_execute_indexed): a custom plan would
 * probe the due index's ends on every batch (selfuncs.c reads the actual
 * range of a column compared with an inequality, through the entries of
 * the steps just run), and a bitmap scan, which the planner prefers while
 * the table looks small, reads every entry of the index, dead ones
 * included, on every batch (only a plain index scan marks dead entries
 * so that the next scan skips them).  It is planned once with bitmap and
 * sequential scans off: an ordered scan of the due index stopped by the
 * LIMIT, right at any size.  The authorizer's primary-key lookups keep
 * their generic plans.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/guc.h"

#include "engine.h"
#include "flov7.h"

/*
 * The saved plan of a statement, prepared and kept on first use (*slot
 * holds it).  Also used by the authorizer (authz.c).
 */
static SPIPlanPtr
plan_prepare(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types, int options)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, types, options);

		if (plan == NULL)
			elog(ERROR, "flov7: preparing \"%s\" failed: %s", sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "flov7: keeping the plan of \"%s\" failed", sql);
		*slot = plan;
	}
	return *slot;
}

SPIPlanPtr
flov7_plan_prepare(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types)
{
	return plan_prepare(slot, sql, nargs, types, 0);
}

/*
 * Run the saved plan of a statement, preparing it on first use.  *slot
 * holds the plan; read_only and tcount as for SPI_execute_plan.  Returns
 * the SPI result code.
 */
int
flov7_plan_execute(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types,
				   Datum *values, const char *nulls, bool read_only, long tcount)
{
	return SPI_execute_plan(plan_prepare(slot, sql, nargs, types, CURSOR_OPT_CUSTOM_PLAN),
							values, nulls, read_only, tcount);
}

/*
 * The same, planned once (and again only when what it reads changes) with
 * index scans as the only way to read a table: see above, the claim.
 */
int
flov7_plan_execute_indexed(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types,
						   Datum *values, const char *nulls, bool read_only, long tcount)
{
	int			level = NewGUCNestLevel();
	int			rc;

	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	rc = SPI_execute_plan(plan_prepare(slot, sql, nargs, types, CURSOR_OPT_GENERIC_PLAN),
						  values, nulls, read_only, tcount);
	AtEOXact_GUC(true, level);
	return rc;
}
