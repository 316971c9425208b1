/*-------------------------------------------------------------------------
 *
 * engine.c
 *	  The executor's loop: claim an execution, run its due steps, repeat.
 *
 * One batch runs in the caller's transaction (flov7.run_ready() from SQL,
 * or a background worker's transaction): runner.c claims an execution
 * (FOR NO KEY UPDATE SKIP LOCKED on its row: a runner that dies releases it
 * at once), runs its due steps, each under its own subtransaction as the
 * owner (steps.c), and records them; then the next execution, round-robin
 * over owners.
 *
 * A batch stops before PGPROC_MAX_CACHED_SUBXIDS (64) subtransactions, so
 * that it never overflows the cluster's snapshots into pg_subtrans.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "engine.h"

/* Subtransactions a batch may open (PGPROC_MAX_CACHED_SUBXIDS is 64). */
#define MAX_BATCH_STEPS 60

int			flov7_step_timeout_ms = 60000;
int			flov7_db_query_max_rows = 1000;
int			flov7_max_step_output_bytes = 1024 * 1024;

/* The owner served last, for round-robin; remembered across batches. */
static bool have_last_owner = false;
static pg_uuid_t last_owner;

const char *flov7_runner_name = "sql";

PG_FUNCTION_INFO_V1(flov7_run_ready);

/*
 * Run up to max_steps due steps in the current transaction, one execution
 * after another (runner.c); the caller is connected to SPI.  Returns the
 * number of steps run.
 */
int
flov7_engine_run_batch(int max_steps, const char *worker)
{
	int			limit = Min(max_steps, MAX_BATCH_STEPS);
	int			ran = 0;
	int			claims = 0;

	flov7_runner_name = worker;
	/* a claim that finds nothing to run (its steps ran meanwhile) still counts, so this ends */
	while (ran < limit && claims++ < limit + 16)
	{
		int			r;

		CHECK_FOR_INTERRUPTS();
		r = flov7_runner_run_batch(limit - ran, &last_owner, &have_last_owner);
		if (r < 0)
			break;
		ran += r;
	}
	return ran;
}

/* flov7.run_ready(max_steps int) RETURNS int: run due steps now, from SQL. */
Datum
flov7_run_ready(PG_FUNCTION_ARGS)
{
	int32		max_steps = PG_GETARG_INT32(0);
	int			ran;
	int			rc;

	if (max_steps < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_steps must not be negative")));
	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
	ran = flov7_engine_run_batch(max_steps, IsBackgroundWorker ? "worker" : "sql");
	SPI_finish();
	PG_RETURN_INT32(ran);
}

/* Define the executor's settings; called once from _PG_init. */
void
flov7_engine_init(void)
{
	DefineCustomIntVariable("flov7.step_timeout_ms",
							"Default time limit of a workflow step, in milliseconds (0: none).",
							"A node's config.timeout_ms overrides it.",
							&flov7_step_timeout_ms, 60000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("flov7.db_query_max_rows",
							"Most rows a db_query step may return.",
							"A node's config.max_rows may lower it, never raise it.",
							&flov7_db_query_max_rows, 1000, 1, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("flov7.max_step_output_bytes",
							"Largest result a workflow step may produce; a larger one fails the step.",
							NULL, &flov7_max_step_output_bytes, 1024 * 1024, 1024, MaxAllocSize / 2,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
}
