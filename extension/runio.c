/*-------------------------------------------------------------------------
 *
 * runio.c
 *	  What the runner reads and writes: claiming a batch of executions,
 *	  reading their steps, and writing back what changed.
 *
 * Every statement here covers the whole batch (arrays through unnest), so
 * its cost is per batch, not per execution or step.  Each is a plan saved
 * once per backend (plans.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "engine.h"
#include "runstate.h"

static SPIPlanPtr plan_claim = NULL;
static SPIPlanPtr plan_steps = NULL;
static SPIPlanPtr plan_status = NULL;
static SPIPlanPtr plan_execs = NULL;
static SPIPlanPtr plan_write_steps = NULL;
static SPIPlanPtr plan_write_data = NULL;
static SPIPlanPtr plan_end = NULL;
static SPIPlanPtr plan_count = NULL;

/* Growable columns of an array parameter. */
typedef struct Col
{
	Datum	   *v;
	bool	   *n;
} Col;

static void
col_init(Col *c, int n)
{
	c->v = palloc0(sizeof(Datum) * Max(n, 1));
	c->n = palloc0(sizeof(bool) * Max(n, 1));
}

/* The first n values of a column as a one-dimensional array of a type. */
static Datum
col_array(Col *c, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(c->v, c->n, 1, dims, lbs, type, typlen, typbyval, typalign));
}

static Datum
uuid_datum(pg_uuid_t *u)
{
	return UUIDPGetDatum(u);
}

/* A nullable timestamptz column value. */
static void
col_ts(Col *c, int i, bool set, TimestampTz t)
{
	c->v[i] = TimestampTzGetDatum(t);
	c->n[i] = !set;
}

static bool
same_uuid(const pg_uuid_t *a, const pg_uuid_t *b)
{
	return memcmp(a, b, sizeof(pg_uuid_t)) == 0;
}

/*
 * Lock up to max_execs executions with a due step, and read them: round-
 * robin over owners (one execution of each owner after *after, then
 * wrapping around, then the second of each...), among the earliest due
 * steps; executions another runner holds are skipped.  False if none.
 */
bool
run_claim(Batch *b, int max_execs, pg_uuid_t *after)
{
	Oid			types[2] = {UUIDOID, INT4OID};
	Datum		values[2] = {after ? UUIDPGetDatum(after) : (Datum) 0, Int32GetDatum(max_execs)};
	char		nulls[2] = {after ? ' ' : 'n', ' '};
	uint64		r;
	int			rc;

	rc = flov7_plan_execute_indexed(&plan_claim,
							"SELECT e.user_id, e.id, e.workflow_id, e.status, e.workflow_version, e.definition,"
							"       e.input_data, e.started_at, e.created_at, e.steps_completed, e.steps_failed,"
							"       (SELECT CASE u.role WHEN 'admin' THEN 'flov7_admin' ELSE 'flov7_user' END"
							"          FROM flov7.users u WHERE u.id = e.user_id)"
							"  FROM (SELECT c.user_id, c.execution_id, min(c.pass) AS pass, min(c.ready_at) AS due,"
							"               row_number() OVER (PARTITION BY c.user_id ORDER BY min(c.ready_at)) AS turn"
							"          FROM ((SELECT 0 AS pass, s.user_id, s.execution_id, s.ready_at"
							"                   FROM flov7.execution_steps s"
							"                  WHERE s.state IN ('ready', 'waiting') AND s.ready_at IS NOT NULL"
							"                    AND s.ready_at <= clock_timestamp()"
							"                    AND s.user_id > coalesce($1, '00000000-0000-0000-0000-000000000000')"
							"                  ORDER BY s.user_id, s.ready_at LIMIT 64)"
							"                UNION ALL"
							"                (SELECT 1, s.user_id, s.execution_id, s.ready_at"
							"                   FROM flov7.execution_steps s"
							"                  WHERE s.state IN ('ready', 'waiting') AND s.ready_at IS NOT NULL"
							"                    AND s.ready_at <= clock_timestamp()"
							"                    AND s.user_id <= coalesce($1, '00000000-0000-0000-0000-000000000000')"
							"                  ORDER BY s.user_id, s.ready_at LIMIT 64)) c"
							"         GROUP BY c.user_id, c.execution_id"
							"         ORDER BY turn, pass, c.user_id, due) c"
	/* (the bounds are index conditions); in that order, those no other runner holds */
							" CROSS JOIN LATERAL (SELECT x.* FROM flov7.workflow_executions x"
							"                      WHERE x.user_id = c.user_id AND x.id = c.execution_id"
							"                        FOR NO KEY UPDATE SKIP LOCKED) e"
							" LIMIT $2",
							2, types, values, nulls, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "flov7: claiming executions failed: %s", SPI_result_code_string(rc));
	b->nexecs = (int) SPI_processed;
	b->execs = palloc0(sizeof(Exec) * Max(b->nexecs, 1));
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Exec	   *ex = &b->execs[r];
		bool		isnull;
		Datum		d;

		memcpy(&ex->user_id, DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull)), sizeof(pg_uuid_t));
		memcpy(&ex->id, DatumGetUUIDP(SPI_getbinval(tup, desc, 2, &isnull)), sizeof(pg_uuid_t));
		memcpy(&ex->workflow_id, DatumGetUUIDP(SPI_getbinval(tup, desc, 3, &isnull)), sizeof(pg_uuid_t));
		ex->status = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
		d = SPI_getbinval(tup, desc, 5, &isnull);
		ex->version_null = isnull;
		ex->workflow_version = isnull ? 0 : DatumGetInt32(d);
		d = SPI_getbinval(tup, desc, 6, &isnull);
		ex->definition = isnull ? jb_from_cstring("{}") : DatumGetJsonbPCopy(d);
		d = SPI_getbinval(tup, desc, 7, &isnull);
		ex->input = isnull ? NULL : DatumGetJsonbPCopy(d);
		d = SPI_getbinval(tup, desc, 8, &isnull);
		ex->started_set = !isnull;
		ex->started_at = isnull ? 0 : DatumGetTimestampTz(d);
		ex->created_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 9, &isnull));
		ex->steps_completed = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
		ex->steps_failed = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
		d = SPI_getbinval(tup, desc, 12, &isnull);
		ex->owner_role = isnull ? pstrdup("flov7_user") : TextDatumGetCString(d);
		run_parse_definition(ex);
	}
	return b->nexecs > 0;
}

/* Read the steps of the batch's executions, each with the output of its latest attempt. */
void
run_load_steps(Batch *b)
{
	Oid			types[2] = {UUIDARRAYOID, UUIDARRAYOID};
	Datum		values[2];
	Col			users;
	Col			ids;
	uint64		r;
	int			i;
	int			rc;

	col_init(&users, b->nexecs);
	col_init(&ids, b->nexecs);
	for (i = 0; i < b->nexecs; i++)
	{
		users.v[i] = uuid_datum(&b->execs[i].user_id);
		ids.v[i] = uuid_datum(&b->execs[i].id);
		b->execs[i].nsteps = 0;
	}
	values[0] = col_array(&users, b->nexecs, UUIDOID);
	values[1] = col_array(&ids, b->nexecs, UUIDOID);
	rc = flov7_plan_execute(&plan_steps,
							"SELECT s.user_id, s.execution_id, s.node_id, s.iteration, s.state, s.attempt,"
							"       s.pending_parents, s.has_input, s.ready_at, s.started_at, s.completed_at,"
							"       d.found, d.output"
							"  FROM unnest($1::uuid[], $2::uuid[]) AS x (user_id, id)"
							"  JOIN flov7.execution_steps s ON s.user_id = x.user_id AND s.execution_id = x.id"
							"  LEFT JOIN LATERAL (SELECT true AS found, y.output FROM flov7.execution_step_data y"
							"                      WHERE y.user_id = s.user_id AND y.execution_id = s.execution_id"
							"                        AND y.node_id = s.node_id AND y.iteration = s.iteration"
							"                      ORDER BY y.attempt DESC LIMIT 1) d ON true"
							" ORDER BY s.user_id, s.execution_id, s.iteration, s.node_id",
							2, types, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "flov7: reading the steps failed: %s", SPI_result_code_string(rc));

	/* rows of one execution are adjacent: count, then fill */
	for (i = 0; i < b->nexecs; i++)
		b->execs[i].steps = NULL;
	for (r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		pg_uuid_t  *eid = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));

		for (i = 0; i < b->nexecs; i++)
			if (same_uuid(eid, &b->execs[i].id))
				b->execs[i].nsteps++;
	}
	for (i = 0; i < b->nexecs; i++)
	{
		b->execs[i].steps = palloc0(sizeof(StepRow) * Max(b->execs[i].nsteps, 1));
		b->execs[i].nsteps = 0;
	}
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		pg_uuid_t  *eid = DatumGetUUIDP(SPI_getbinval(tup, desc, 2, &isnull));
		Exec	   *ex = NULL;
		StepRow    *s;
		Datum		d;

		for (i = 0; i < b->nexecs && ex == NULL; i++)
			if (same_uuid(eid, &b->execs[i].id))
				ex = &b->execs[i];
		if (ex == NULL)
			continue;
		s = &ex->steps[ex->nsteps++];
		s->node_id = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
		s->iteration = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		text_to_cstring_buffer(DatumGetTextPP(SPI_getbinval(tup, desc, 5, &isnull)), s->state, sizeof(s->state));
		s->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		s->pending_parents = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		s->has_input = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
		d = SPI_getbinval(tup, desc, 9, &isnull);
		s->ready_set = !isnull;
		s->ready_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = SPI_getbinval(tup, desc, 10, &isnull);
		s->started_set = !isnull;
		s->started_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = SPI_getbinval(tup, desc, 11, &isnull);
		s->completed_set = !isnull;
		s->completed_at = isnull ? 0 : DatumGetTimestampTz(d);
		(void) SPI_getbinval(tup, desc, 12, &isnull);
		s->has_data = !isnull;
		d = SPI_getbinval(tup, desc, 13, &isnull);
		s->output = isnull ? NULL : DatumGetJsonbPCopy(d);
		s->dirty = false;
	}
}

/* Read an execution's status, counters and steps again (after SQL moved it on). */
void
run_reload(Exec *ex)
{
	Oid			types[2] = {UUIDOID, UUIDOID};
	Datum		values[2] = {UUIDPGetDatum(&ex->user_id), UUIDPGetDatum(&ex->id)};
	Batch		one = {ex, 1};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	int			rc;

	rc = flov7_plan_execute(&plan_status,
							"SELECT e.status, e.started_at, e.steps_completed, e.steps_failed"
							"  FROM flov7.workflow_executions e WHERE e.user_id = $1 AND e.id = $2",
							2, types, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "flov7: reading the execution failed: %s", SPI_result_code_string(rc));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	ex->status = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	ex->started_set = !isnull;
	ex->started_at = isnull ? 0 : DatumGetTimestampTz(d);
	ex->steps_completed = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	ex->steps_failed = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	run_load_steps(&one);
}

/* First the executions that started or counted steps (their "started" events come first). */
static void
write_execs(Batch *b)
{
	Oid			types[5] = {UUIDARRAYOID, UUIDARRAYOID, INT4ARRAYOID, BOOLARRAYOID, TIMESTAMPTZARRAYOID};
	Oid			elem[5] = {UUIDOID, UUIDOID, INT4OID, BOOLOID, TIMESTAMPTZOID};
	Datum		values[5];
	Col			c[5];
	int			n = 0;
	int			i;
	int			rc;

	for (i = 0; i < 5; i++)
		col_init(&c[i], b->nexecs);
	for (i = 0; i < b->nexecs; i++)
	{
		Exec	   *ex = &b->execs[i];

		if (ex->completed_delta == 0 && !ex->to_running)
			continue;
		c[0].v[n] = uuid_datum(&ex->user_id);
		c[1].v[n] = uuid_datum(&ex->id);
		c[2].v[n] = Int32GetDatum(ex->completed_delta);
		c[3].v[n] = BoolGetDatum(ex->to_running);
		col_ts(&c[4], n, ex->started_set, ex->started_at);
		ex->completed_delta = 0;
		ex->to_running = false;
		n++;
	}
	if (n == 0)
		return;
	for (i = 0; i < 5; i++)
		values[i] = col_array(&c[i], n, elem[i]);
	rc = flov7_plan_execute(&plan_execs,
							"UPDATE flov7.workflow_executions e"
							"   SET steps_completed = e.steps_completed + u.delta,"
							"       status = CASE WHEN u.running THEN 'running' ELSE e.status END,"
							"       started_at = coalesce(e.started_at, u.started_at)"
							"  FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::boolean[], $5::timestamptz[])"
							"       AS u (user_id, id, delta, running, started_at)"
							" WHERE e.user_id = u.user_id AND e.id = u.id",
							5, types, values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != (uint64) n)
		elog(ERROR, "flov7: writing back %d executions failed: %s", n, SPI_result_code_string(rc));
}

/* The steps that changed, in one statement. */
static void
write_steps(Batch *b)
{
	Oid			types[11] = {UUIDARRAYOID, UUIDARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT4ARRAYOID,
	INT4ARRAYOID, BOOLARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID};
	Oid			elem[11] = {UUIDOID, UUIDOID, TEXTOID, INT4OID, TEXTOID, INT4OID, INT4OID, BOOLOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[11];
	Col			c[11];
	int			total = 0;
	int			n = 0;
	int			i;
	int			j;
	int			rc;

	for (i = 0; i < b->nexecs; i++)
		for (j = 0; j < b->execs[i].nsteps; j++)
			if (b->execs[i].steps[j].dirty)
				total++;
	if (total == 0)
		return;
	for (i = 0; i < 11; i++)
		col_init(&c[i], total);
	for (i = 0; i < b->nexecs; i++)
	{
		Exec	   *ex = &b->execs[i];

		for (j = 0; j < ex->nsteps; j++)
		{
			StepRow    *s = &ex->steps[j];

			if (!s->dirty)
				continue;
			c[0].v[n] = uuid_datum(&ex->user_id);
			c[1].v[n] = uuid_datum(&ex->id);
			c[2].v[n] = CStringGetTextDatum(s->node_id);
			c[3].v[n] = Int32GetDatum(s->iteration);
			c[4].v[n] = CStringGetTextDatum(s->state);
			c[5].v[n] = Int32GetDatum(s->attempt);
			c[6].v[n] = Int32GetDatum(s->pending_parents);
			c[7].v[n] = BoolGetDatum(s->has_input);
			col_ts(&c[8], n, s->ready_set, s->ready_at);
			col_ts(&c[9], n, s->started_set, s->started_at);
			col_ts(&c[10], n, s->completed_set, s->completed_at);
			s->dirty = false;
			n++;
		}
	}
	for (i = 0; i < 11; i++)
		values[i] = col_array(&c[i], n, elem[i]);
	rc = flov7_plan_execute(&plan_write_steps,
							"UPDATE flov7.execution_steps s"
							"   SET state = u.state, attempt = u.attempt, pending_parents = u.pending_parents,"
							"       has_input = u.has_input, ready_at = u.ready_at, started_at = u.started_at,"
							"       completed_at = u.completed_at"
							"  FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[], $6::int[],"
							"              $7::int[], $8::boolean[], $9::timestamptz[], $10::timestamptz[],"
							"              $11::timestamptz[])"
							"       AS u (user_id, execution_id, node_id, iteration, state, attempt, pending_parents,"
							"             has_input, ready_at, started_at, completed_at)"
							" WHERE s.user_id = u.user_id AND s.execution_id = u.execution_id"
							"   AND s.node_id = u.node_id AND s.iteration = u.iteration",
							11, types, values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != (uint64) n)
		elog(ERROR, "flov7: writing back %d steps failed: %s, " UINT64_FORMAT " rows",
			 n, SPI_result_code_string(rc), SPI_processed);
}

/* The attempts recorded in memory, in one statement. */
static void
write_data(Batch *b)
{
	Oid			types[11] = {UUIDARRAYOID, UUIDARRAYOID, TEXTARRAYOID, INT4ARRAYOID, INT4ARRAYOID, JSONBARRAYOID,
	JSONBARRAYOID, JSONBARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTOID};
	Oid			elem[10] = {UUIDOID, UUIDOID, TEXTOID, INT4OID, INT4OID, JSONBOID, JSONBOID, JSONBOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[11];
	Col			c[10];
	int			total = 0;
	int			n = 0;
	int			i;
	int			j;
	int			rc;

	for (i = 0; i < b->nexecs; i++)
		total += b->execs[i].ndata;
	if (total == 0)
		return;
	for (i = 0; i < 10; i++)
		col_init(&c[i], total);
	for (i = 0; i < b->nexecs; i++)
	{
		Exec	   *ex = &b->execs[i];

		for (j = 0; j < ex->ndata; j++)
		{
			DataRow    *d = &ex->data[j];

			c[0].v[n] = uuid_datum(&ex->user_id);
			c[1].v[n] = uuid_datum(&ex->id);
			c[2].v[n] = CStringGetTextDatum(d->node_id);
			c[3].v[n] = Int32GetDatum(d->iteration);
			c[4].v[n] = Int32GetDatum(d->attempt);
			c[5].v[n] = d->input ? JsonbPGetDatum(d->input) : (Datum) 0;
			c[5].n[n] = d->input == NULL;
			c[6].v[n] = d->output ? JsonbPGetDatum(d->output) : (Datum) 0;
			c[6].n[n] = d->output == NULL;
			/* as JSON: unnest cannot take an array of arrays */
			c[7].v[n] = d->branches ? JsonbPGetDatum(d->branches) : (Datum) 0;
			c[7].n[n] = d->branches == NULL;
			c[8].v[n] = TimestampTzGetDatum(d->started_at);
			c[9].v[n] = TimestampTzGetDatum(d->finished_at);
			n++;
		}
		ex->ndata = 0;
	}
	for (i = 0; i < 10; i++)
		values[i] = col_array(&c[i], n, elem[i]);
	values[10] = CStringGetTextDatum(flov7_runner_name);
	rc = flov7_plan_execute(&plan_write_data,
							"INSERT INTO flov7.execution_step_data (user_id, execution_id, node_id, iteration,"
							"       attempt, input, output, branches, error, started_at, finished_at, worker)"
							"SELECT u.user_id, u.execution_id, u.node_id, u.iteration, u.attempt, u.input, u.output,"
							"       CASE WHEN u.branches IS NOT NULL THEN ARRAY(SELECT jsonb_array_elements_text(u.branches)) END,"
							"       NULL, u.started_at, u.finished_at, $11"
							"  FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::int[], $6::jsonb[],"
							"              $7::jsonb[], $8::jsonb[], $9::timestamptz[], $10::timestamptz[])"
							"       AS u (user_id, execution_id, node_id, iteration, attempt, input, output, branches,"
							"             started_at, finished_at)",
							11, types, values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "flov7: writing back step data failed: %s", SPI_result_code_string(rc));
}

/* Order of (user, workflow) pairs, so that workflow rows are always locked in one order. */
static int
pair_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 2 * sizeof(pg_uuid_t));
}

/*
 * The end of each execution that settled (completed, with its output, as
 * flov7.execution_settle() ends it) or that only waits for timers now
 * (waiting, as execution_refresh_status() sets it); then each completed
 * run counted once on its workflow, workflows in key order (no deadlock
 * between runners), last, so that the row is held only until the commit.
 */
static void
write_ends(Batch *b)
{
	Oid			types[4] = {UUIDARRAYOID, UUIDARRAYOID, TEXTARRAYOID, JSONBARRAYOID};
	Oid			elem[4] = {UUIDOID, UUIDOID, TEXTOID, JSONBOID};
	Datum		values[4];
	Col			c[4];
	pg_uuid_t  *pairs;
	int			npairs = 0;
	int			n = 0;
	uint64		r;
	int			i;
	int			rc;

	for (i = 0; i < 4; i++)
		col_init(&c[i], b->nexecs);
	for (i = 0; i < b->nexecs; i++)
	{
		Exec	   *ex = &b->execs[i];

		if (!ex->to_complete && ex->new_status == NULL)
			continue;
		c[0].v[n] = uuid_datum(&ex->user_id);
		c[1].v[n] = uuid_datum(&ex->id);
		c[2].v[n] = CStringGetTextDatum(ex->to_complete ? "completed" : ex->new_status);
		c[3].v[n] = ex->output ? JsonbPGetDatum(ex->output) : (Datum) 0;
		c[3].n[n] = ex->output == NULL;
		ex->to_complete = false;
		ex->new_status = NULL;
		n++;
	}
	if (n == 0)
		return;
	for (i = 0; i < 4; i++)
		values[i] = col_array(&c[i], n, elem[i]);
	rc = flov7_plan_execute(&plan_end,
							"UPDATE flov7.workflow_executions e"
							"   SET status = u.status,"
							"       output_data = CASE WHEN u.status = 'completed' THEN u.output ELSE e.output_data END,"
							"       completed_at = CASE WHEN u.status = 'completed' THEN clock_timestamp() ELSE e.completed_at END,"
							"       cost_usd = CASE WHEN u.status = 'completed'"
							"                       THEN (SELECT c.cost FROM flov7.execution_costs(e.user_id, e.id, e.definition) c)"
							"                  ELSE e.cost_usd END,"
							"       started_at = CASE WHEN u.status = 'completed' THEN coalesce(e.started_at, e.created_at)"
							"                         ELSE e.started_at END,"
							"       execution_time_seconds = CASE WHEN u.status = 'completed'"
							"            THEN round(extract(epoch FROM clock_timestamp() - coalesce(e.started_at, e.created_at))::numeric, 3)"
							"            ELSE e.execution_time_seconds END"
							"  FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[]) AS u (user_id, id, status, output)"
							" WHERE e.user_id = u.user_id AND e.id = u.id"
							"   AND (u.status = 'completed' AND e.status NOT IN ('completed', 'failed', 'cancelled')"
							"        OR u.status <> 'completed' AND e.status IN ('running', 'waiting') AND e.status <> u.status)"
							" RETURNING e.user_id, e.workflow_id, e.status = 'completed' AND e.retry_count = 0",
							4, types, values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "flov7: ending executions failed: %s", SPI_result_code_string(rc));

	pairs = palloc(sizeof(pg_uuid_t) * 2 * Max(SPI_processed, 1));
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		if (!DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
			continue;
		memcpy(&pairs[2 * npairs], DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull)), sizeof(pg_uuid_t));
		memcpy(&pairs[2 * npairs + 1], DatumGetUUIDP(SPI_getbinval(tup, desc, 2, &isnull)), sizeof(pg_uuid_t));
		npairs++;
	}
	qsort(pairs, npairs, 2 * sizeof(pg_uuid_t), pair_cmp);
	for (i = 0; i < npairs; i++)
	{
		Oid			ctypes[3] = {UUIDOID, UUIDOID, INT4OID};
		Datum		cvalues[3];
		int			k = 1;

		while (i + k < npairs && pair_cmp(&pairs[2 * i], &pairs[2 * (i + k)]) == 0)
			k++;
		cvalues[0] = UUIDPGetDatum(&pairs[2 * i]);
		cvalues[1] = UUIDPGetDatum(&pairs[2 * i + 1]);
		cvalues[2] = Int32GetDatum(k);
		rc = flov7_plan_execute(&plan_count,
								"UPDATE flov7.workflows w"
								"   SET execution_count = w.execution_count + $3, last_executed_at = clock_timestamp()"
								" WHERE w.user_id = $1 AND w.id = $2",
								3, ctypes, cvalues, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "flov7: counting runs failed: %s", SPI_result_code_string(rc));
		i += k - 1;
	}
}

/*
 * Write back what the batch changed in memory: the executions' starts and
 * counters, the steps, the attempts' data, then the ends of executions.
 */
void
run_flush(Batch *b)
{
	write_execs(b);
	write_steps(b);
	write_data(b);
	write_ends(b);
}
