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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "engine.h"
#include "flov7.h"

/*
 * The saved plan of a statement, prepared and kept on first use (*slot
 * holds it).  Also used by the authorizer (authz.c).
 */
SPIPlanPtr
flov7_plan_prepare(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "flov7: preparing \"%s\" failed: %s", sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "flov7: keeping the plan of \"%s\" failed", sql);
		*slot = plan;
	}
	return *slot;
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
	return SPI_execute_plan(flov7_plan_prepare(slot, sql, nargs, types),
							values, nulls, read_only, tcount);
}
