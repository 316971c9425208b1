/*-------------------------------------------------------------------------
 *
 * engine.c
 *	  The executor's loop: claim a due step, run it, record it, repeat.
 *
 * One batch runs in the caller's transaction (flov7.run_ready() from SQL,
 * later a background worker's transaction).  For each step:
 *
 *	1. flov7.step_claim() locks one due step (FOR UPDATE SKIP LOCKED; the
 *	   claim is a row lock, so a runner that dies releases it at once),
 *	   round-robin over owners, and builds the step's context;
 *	2. steps.c runs the node under its own subtransaction, as the owner;
 *	3. flov7.step_finish() records the attempt in the parent transaction
 *	   (after the subtransaction is gone: no MultiXact on the step row) and
 *	   settles the successors, retries or fails the execution.
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

PG_FUNCTION_INFO_V1(flov7_run_ready);

/* Copy a uuid column of the current SPI row. */
static void
spi_uuid(HeapTuple tup, TupleDesc desc, int col, pg_uuid_t *out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	if (isnull)
		elog(ERROR, "flov7: step_claim returned a null key");
	memcpy(out, DatumGetUUIDP(d), sizeof(pg_uuid_t));
}

/* Copy a jsonb column of the current SPI row into the current context. */
static Jsonb *
spi_jsonb(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	if (isnull)
		return NULL;
	return DatumGetJsonbPCopy(d);
}

/* Claim the next due step into *step (in the current context); false if none. */
static bool
claim_step(ClaimedStep *step)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	char		nulls[1] = {' '};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			rc;

	values[0] = have_last_owner ? UUIDPGetDatum(&last_owner) : (Datum) 0;
	if (!have_last_owner)
		nulls[0] = 'n';
	rc = SPI_execute_with_args("SELECT user_id, execution_id, node_id, iteration, attempt,"
							   "       resumed, owner_role, node, ctx"
							   "  FROM flov7.step_claim($1)",
							   1, argtypes, values, nulls, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "flov7: step_claim failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	(void) SPI_getbinval(tup, desc, 1, &isnull);
	if (isnull)
		return false;

	spi_uuid(tup, desc, 1, &step->user_id);
	spi_uuid(tup, desc, 2, &step->execution_id);
	step->node_id = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
	step->iteration = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	step->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
	step->resumed = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
	step->owner_role = TextDatumGetCString(SPI_getbinval(tup, desc, 7, &isnull));
	if (isnull)
		step->owner_role = pstrdup("flov7_user");
	step->node = spi_jsonb(tup, desc, 8);
	step->ctx = spi_jsonb(tup, desc, 9);
	if (step->node == NULL || step->ctx == NULL)
		elog(ERROR, "flov7: step \"%s\" has no node in its definition", step->node_id);
	return true;
}

/* The "data" member of a step's context: what flowed into it. */
static Datum
ctx_data(Jsonb *ctx, bool *isnull)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&ctx->root, "data", 4, NULL);

	*isnull = (v == NULL);
	return v ? JsonbPGetDatum(JsonbValueToJsonb(v)) : (Datum) 0;
}

/* Record an attempt with flov7.step_finish(); returns the step's new state. */
static void
finish_step(ClaimedStep *step, Jsonb *result, const char *error,
			TimestampTz started, const char *worker)
{
	Oid			argtypes[11] = {UUIDOID, UUIDOID, TEXTOID, INT4OID, INT4OID, JSONBOID,
	JSONBOID, JSONBOID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[11];
	char		nulls[11];
	bool		isnull;
	int			rc;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = UUIDPGetDatum(&step->user_id);
	values[1] = UUIDPGetDatum(&step->execution_id);
	values[2] = CStringGetTextDatum(step->node_id);
	values[3] = Int32GetDatum(step->iteration);
	values[4] = Int32GetDatum(step->attempt);
	values[5] = JsonbPGetDatum(step->node);
	values[6] = ctx_data(step->ctx, &isnull);
	if (isnull)
		nulls[6] = 'n';
	values[7] = result ? JsonbPGetDatum(result) : (Datum) 0;
	if (result == NULL)
		nulls[7] = 'n';
	values[8] = error ? CStringGetTextDatum(error) : (Datum) 0;
	if (error == NULL)
		nulls[8] = 'n';
	values[9] = TimestampTzGetDatum(started);
	values[10] = CStringGetTextDatum(worker);

	rc = SPI_execute_with_args("SELECT flov7.step_finish($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
							   11, argtypes, values, nulls, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "flov7: step_finish failed: %s", SPI_result_code_string(rc));
}

/*
 * Run up to max_steps due steps in the current transaction; the caller is
 * connected to SPI.  Returns the number of steps run.
 */
int
flov7_engine_run_batch(int max_steps, const char *worker)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext stepcxt;
	int			ran = 0;

	stepcxt = AllocSetContextCreate(outer, "flov7 step", ALLOCSET_DEFAULT_SIZES);
	while (ran < max_steps && ran < MAX_BATCH_STEPS)
	{
		ClaimedStep step;
		Jsonb	   *result = NULL;
		char	   *error = NULL;
		TimestampTz started;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(stepcxt);
		MemoryContextSwitchTo(stepcxt);
		memset(&step, 0, sizeof(step));
		if (!claim_step(&step))
			break;
		memcpy(&last_owner, &step.user_id, sizeof(pg_uuid_t));
		have_last_owner = true;

		started = GetCurrentTimestamp();
		if (!flov7_step_execute(&step, stepcxt, &result, &error))
			result = NULL;
		MemoryContextSwitchTo(stepcxt);
		finish_step(&step, result, error, started, worker);
		ran++;
	}
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(stepcxt);
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
