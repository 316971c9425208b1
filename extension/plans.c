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
 * The plans are only as good as the statistics they were made with, and the
 * engine's tables go from empty to many thousand rows within one burst of
 * executions, a minute before autovacuum re-analyzes them at best; a plan
 * made meanwhile (a sequential scan of the step data for every step, the
 * whole steps table as the outer side of a join) stays cached until then
 * and makes the burst quadratic.  The workers re-analyze those tables while
 * their statistics are that far off (flov7.engine_analyze, 68_worker.sql),
 * which also drops the cached plans.
 *
 * The claim is planned with index scans only (flov7_plan_execute_indexed):
 * a bitmap scan, which the planner prefers while the due index looks
 * small, reads every entry of it, dead ones included, on every batch (only
 * a plain index scan marks dead entries so that the next scan skips them);
 * an ordered scan of the due index stopped by the LIMIT is right at any
 * size.
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
	return SPI_execute_plan(plan_prepare(slot, sql, nargs, types, 0),
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
	/* a disabled scan costs 1e10, far over jit_above_cost: compiling took 10-100 ms */
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	rc = SPI_execute_plan(plan_prepare(slot, sql, nargs, types, CURSOR_OPT_GENERIC_PLAN),
						  values, nulls, read_only, tcount);
	AtEOXact_GUC(true, level);
	return rc;
}
