/*-------------------------------------------------------------------------
 *
 * runner.c
 *	  Run the due steps of a batch of executions, chained in memory.
 *
 * The unit a runner claims is an execution, not a step: its row is locked
 * (FOR NO KEY UPDATE SKIP LOCKED), so only one runner at a time moves an
 * execution on, and every other writer of its steps (cancel, retry, an
 * outside worker's result) locks the same row first: no lock-order cycles.
 * A batch claims several executions, round-robin over owners, and reads
 * their steps and the outputs they produced at once (runio.c).  Then each
 * due step runs under its own subtransaction as the owner (steps.c) and, in
 * the common case (it completed), its successors are settled in memory
 * (rungraph.c), so a chain of in-database steps runs without a query
 * between them.  What changed is written back at the end with one
 * statement per kind for the whole batch, in the runner's transaction: a
 * step's effects and its completion commit together, or not at all.
 *
 * The rarer outcomes (an error, a retry, a timer, a loop, a step parked for
 * an outside worker) and loop iterations are recorded by flov7.step_finish()
 * in SQL, after a write-back, and the execution is read again after it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "engine.h"
#include "runstate.h"

/* Executions a batch claims at most. */
#define RUN_BATCH_EXECS 16

static SPIPlanPtr plan_finish = NULL;
static SPIPlanPtr plan_fail = NULL;

static bool
status_ended(const char *status)
{
	return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
		strcmp(status, "cancelled") == 0;
}

/* The earliest due step (ready, or a timer that fired), or NULL. */
static StepRow *
next_due(Exec *ex)
{
	TimestampTz now = GetCurrentTimestamp();
	StepRow    *best = NULL;
	int			i;

	for (i = 0; i < ex->nsteps; i++)
	{
		StepRow    *s = &ex->steps[i];

		if ((!run_state_is(s, ST_READY) && !run_state_is(s, ST_WAITING)) ||
			!s->ready_set || s->ready_at > now)
			continue;
		if (best == NULL || s->ready_at < best->ready_at)
			best = s;
	}
	return best;
}

/* Record an attempt with flov7.step_finish() (everything but a plain completion). */
static void
finish_in_sql(Batch *b, Exec *ex, StepRow *step, Jsonb *node, int attempt, Jsonb *input,
			  Jsonb *result, const char *error, TimestampTz started)
{
	Oid			types[11] = {UUIDOID, UUIDOID, TEXTOID, INT4OID, INT4OID, JSONBOID,
	JSONBOID, JSONBOID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[11];
	char		nulls[11];
	int			rc;

	run_flush(b);
	memset(nulls, ' ', sizeof(nulls));
	values[0] = UUIDPGetDatum(&ex->user_id);
	values[1] = UUIDPGetDatum(&ex->id);
	values[2] = CStringGetTextDatum(step->node_id);
	values[3] = Int32GetDatum(step->iteration);
	values[4] = Int32GetDatum(attempt);
	values[5] = JsonbPGetDatum(node);
	values[6] = input ? JsonbPGetDatum(input) : (Datum) 0;
	if (input == NULL)
		nulls[6] = 'n';
	values[7] = result ? JsonbPGetDatum(result) : (Datum) 0;
	if (result == NULL)
		nulls[7] = 'n';
	values[8] = error ? CStringGetTextDatum(error) : (Datum) 0;
	if (error == NULL)
		nulls[8] = 'n';
	values[9] = TimestampTzGetDatum(started);
	values[10] = CStringGetTextDatum(flov7_runner_name);
	rc = flov7_plan_execute(&plan_finish,
							"SELECT flov7.step_finish($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
							11, types, values, nulls, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "flov7: step_finish failed: %s", SPI_result_code_string(rc));
	run_reload(ex);
}

/* Fail the execution at a node with flov7.execution_fail(). */
static void
fail_in_sql(Batch *b, Exec *ex, const char *node, const char *error)
{
	Oid			types[4] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID};
	Datum		values[4] = {UUIDPGetDatum(&ex->user_id), UUIDPGetDatum(&ex->id),
	CStringGetTextDatum(node), CStringGetTextDatum(error)};
	int			rc;

	run_flush(b);
	rc = flov7_plan_execute(&plan_fail, "SELECT flov7.execution_fail($1, $2, $3, $4)",
							4, types, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "flov7: execution_fail failed: %s", SPI_result_code_string(rc));
}

/*
 * step_finish's completed branch, in memory: the attempt's data row, the
 * step completed, its successors settled.
 */
static void
complete_in_memory(Exec *ex, StepRow *step, int attempt, Jsonb *input, Jsonb *result,
				   TimestampTz started)
{
	JsonbValue *out = jc_member(&result->root, "output");
	JsonbValue *br = jc_member(&result->root, "branches");
	char	  **taken = NULL;
	int			ntaken = -1;
	TimestampTz now = GetCurrentTimestamp();
	Jsonb	   *branches = NULL;
	DataRow    *d;

	if (br != NULL && br->type == jbvBinary && JsonContainerIsArray(br->val.binary.data))
	{
		JsonbContainer *c = br->val.binary.data;
		int			n = JsonContainerSize(c);
		int			i;

		taken = palloc(sizeof(char *) * Max(n, 1));
		ntaken = 0;
		for (i = 0; i < n; i++)
		{
			char	   *t = jv_text(getIthJsonbValueFromContainer(c, i));

			if (t != NULL)
				taken[ntaken++] = t;
		}
		branches = JsonbValueToJsonb(br);
	}
	if (ex->ndata == ex->maxdata)
	{
		ex->maxdata = ex->maxdata ? ex->maxdata * 2 : 8;
		ex->data = ex->data ? repalloc(ex->data, sizeof(DataRow) * ex->maxdata)
			: palloc(sizeof(DataRow) * ex->maxdata);
	}
	d = &ex->data[ex->ndata++];
	d->branches = branches;
	d->node_id = step->node_id;
	d->iteration = step->iteration;
	d->attempt = attempt;
	d->input = input;
	d->output = out ? JsonbValueToJsonb(out) : NULL;
	d->started_at = started;
	d->finished_at = now;

	run_set_state(step, ST_COMPLETED);
	step->attempt = attempt;
	step->ready_set = false;
	step->completed_set = true;
	step->completed_at = now;
	if (!step->started_set)
	{
		step->started_set = true;
		step->started_at = started;
	}
	step->has_data = true;
	step->output = d->output;
	ex->steps_completed++;
	ex->completed_delta++;

	run_settle(ex, step->node_id, step->iteration, taken, ntaken);
}

/* Whether a node's result can be recorded in memory (else step_finish does it). */
static bool
plain_result(StepRow *step, Jsonb *result, const char *error)
{
	if (error != NULL || result == NULL || step->iteration > 0 || !JB_ROOT_IS_OBJECT(result))
		return false;
	return jc_member(&result->root, "outside") == NULL &&
		jc_member(&result->root, "wait_until") == NULL &&
		jc_member(&result->root, "loop") == NULL;
}

/* A numeric member of the definition's "settings", as a double; false if none. */
static bool
setting_number(Exec *ex, const char *key, double *out)
{
	JsonbValue *v = jc_member(jc_child(&ex->definition->root, "settings"), key);

	if (v == NULL || v->type != jbvNumeric)
		return false;
	*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	return true;
}

/* Whether a bound of the execution is crossed (settings.timeout_seconds, max_steps); fails it if so. */
static bool
over_bounds(Batch *b, Exec *ex, StepRow *step)
{
	double		limit;

	if (setting_number(ex, "timeout_seconds", &limit))
	{
		TimestampTz from = ex->started_set ? ex->started_at : ex->created_at;
		double		elapsed = (double) (GetCurrentTimestamp() - from) / USECS_PER_SEC;

		if (elapsed > limit)
		{
			JsonbValue *v = jc_member(jc_child(&ex->definition->root, "settings"), "timeout_seconds");

			fail_in_sql(b, ex, step->node_id,
						psprintf("the execution is over its time limit of %s s (settings.timeout_seconds)",
								 jv_text(v)));
			return true;
		}
	}
	if (!setting_number(ex, "max_steps", &limit))
		limit = 100000;
	if (ex->steps_completed + ex->steps_failed >= limit)
	{
		fail_in_sql(b, ex, step->node_id,
					psprintf("the execution ran %d steps, its limit (settings.max_steps)",
							 ex->steps_completed + ex->steps_failed));
		return true;
	}
	return false;
}

/*
 * What an execution that did not end is now, as execution_refresh_status()
 * tells it: settled (to complete), running while a step is due or running,
 * else waiting (timers, loops, outside workers).
 */
static void
decide_end(Exec *ex)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		busy = false;
	int			i;

	if (run_all_settled(ex))
	{
		ex->to_complete = true;
		ex->output = run_terminal_output(ex);
		return;
	}
	if (strcmp(ex->status, "running") != 0 && strcmp(ex->status, "waiting") != 0)
		return;
	for (i = 0; i < ex->nsteps && !busy; i++)
	{
		StepRow    *s = &ex->steps[i];

		busy = run_state_is(s, ST_RUNNING) ||
			(run_state_is(s, ST_READY) && s->ready_set && s->ready_at <= now);
	}
	if (strcmp(ex->status, busy ? "running" : "waiting") != 0)
		ex->new_status = busy ? "running" : "waiting";
}

/* Run the due steps of one claimed execution, at most max_steps; returns how many ran. */
static int
run_execution(Batch *b, Exec *ex, int max_steps, MemoryContext stepcxt)
{
	MemoryContext excxt = CurrentMemoryContext;
	int			ran = 0;

	/* an execution that ended: what was due is cancelled */
	if (status_ended(ex->status))
	{
		StepRow    *s;

		while ((s = next_due(ex)) != NULL)
		{
			run_set_state(s, ST_CANCELLED);
			s->completed_set = true;
			s->completed_at = GetCurrentTransactionStartTimestamp();
			s->ready_set = false;
		}
		return 0;
	}

	while (ran < max_steps)
	{
		StepRow    *step = next_due(ex);
		ClaimedStep cs;
		NodeDef    *nd;
		Jsonb	   *result = NULL;
		char	   *error = NULL;
		Jsonb	   *input;
		TimestampTz started;
		int			attempt;

		CHECK_FOR_INTERRUPTS();
		if (step == NULL)
			break;
		if (over_bounds(b, ex, step))
			return ran;
		if (strcmp(ex->status, "pending") == 0 || strcmp(ex->status, "waiting") == 0)
		{
			if (!ex->started_set)
			{
				ex->started_at = GetCurrentTimestamp();
				ex->started_set = true;
			}
			ex->to_running = true;
			ex->status = "running";
		}

		nd = run_find_node(ex, step->node_id);
		if (nd == NULL)
			elog(ERROR, "flov7: step \"%s\" has no node in its definition", step->node_id);
		attempt = step->attempt + 1;
		memset(&cs, 0, sizeof(cs));
		memcpy(&cs.user_id, &ex->user_id, sizeof(pg_uuid_t));
		memcpy(&cs.execution_id, &ex->id, sizeof(pg_uuid_t));
		cs.node_id = step->node_id;
		cs.iteration = step->iteration;
		cs.attempt = attempt;
		cs.resumed = run_state_is(step, ST_WAITING);
		cs.owner_role = ex->owner_role;
		cs.node = nd->node;
		cs.ctx = run_build_ctx(ex, step, attempt, &input);

		started = GetCurrentTimestamp();
		MemoryContextReset(stepcxt);
		if (!flov7_step_execute(&cs, stepcxt, &result, &error))
			result = NULL;
		MemoryContextSwitchTo(excxt);
		/* what the step returned lives on with the batch */
		if (result != NULL)
		{
			Jsonb	   *copy = palloc(VARSIZE(result));

			memcpy(copy, result, VARSIZE(result));
			result = copy;
		}
		if (error != NULL)
			error = pstrdup(error);
		ran++;

		if (plain_result(step, result, error))
			complete_in_memory(ex, step, attempt, input, result, started);
		else
		{
			finish_in_sql(b, ex, step, nd->node, attempt, input, result, error, started);
			if (status_ended(ex->status))
				return ran;
		}
	}
	decide_end(ex);
	return ran;
}

/*
 * Claim a batch of executions and run their due steps, at most max_steps
 * (each under its own subtransaction).  Returns the steps run, or -1 when
 * no execution was due.  *after is the owner served last (round-robin).
 */
int
flov7_runner_run_batch(int max_steps, pg_uuid_t *after, bool *have_after)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(outer, "flov7 batch", ALLOCSET_DEFAULT_SIZES);
	MemoryContext stepcxt = AllocSetContextCreate(cxt, "flov7 step", ALLOCSET_DEFAULT_SIZES);
	Batch		b;
	int			ran = 0;
	int			i;

	MemoryContextSwitchTo(cxt);
	if (!run_claim(&b, Min(RUN_BATCH_EXECS, Max(max_steps, 1)), *have_after ? after : NULL))
	{
		MemoryContextSwitchTo(outer);
		MemoryContextDelete(cxt);
		return -1;
	}
	run_load_steps(&b);
	for (i = 0; i < b.nexecs && ran < max_steps; i++)
	{
		ran += run_execution(&b, &b.execs[i], max_steps - ran, stepcxt);
		memcpy(after, &b.execs[i].user_id, sizeof(pg_uuid_t));
		*have_after = true;
	}
	run_flush(&b);

	MemoryContextSwitchTo(outer);
	MemoryContextDelete(cxt);
	return ran;
}
