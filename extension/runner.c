/*-------------------------------------------------------------------------
 *
 * runner.c
 *	  Run the due steps of one execution, chained in memory.
 *
 * The unit a runner claims is an execution, not a step: its row is locked
 * (FOR NO KEY UPDATE SKIP LOCKED), so only one runner at a time moves an
 * execution on, and every other writer of its steps (cancel, retry, an
 * outside worker's result) locks the same row first: no lock-order cycles.
 * The execution's steps and the outputs they produced are read once; then
 * each due step runs under its own subtransaction (steps.c) and, in the
 * common case (it completed), its successors are settled in memory, so a
 * chain of in-database steps runs without a query between them.  What
 * changed is written back with three statements (the execution's status
 * and counters, its steps, their data), in the runner's transaction: a step's effects and
 * its completion commit together, or not at all.
 *
 * The rarer outcomes (an error, a retry, a timer, a loop, a step parked for
 * an outside worker) and loop iterations are recorded by flov7.step_finish()
 * in SQL, after a write-back, and the state is read again after it; the
 * end of an execution is flov7.execution_settle().  One implementation of
 * each rule: the SQL is the reference for everything the runner does not
 * do itself, and what it does itself is step_finish's completed branch and
 * step_settle, ported as they are.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "engine.h"

/* Step states, as execution_steps.state spells them. */
#define ST_PENDING		"pending"
#define ST_READY		"ready"
#define ST_WAITING		"waiting"
#define ST_COMPLETED	"completed"
#define ST_SKIPPED		"skipped"
#define ST_CANCELLED	"cancelled"

/* A node of the definition. */
typedef struct NodeDef
{
	char	   *id;
	char	   *ctype;			/* config.condition_type, or NULL */
	Jsonb	   *node;
} NodeDef;

/* An edge of the definition, in array order. */
typedef struct EdgeDef
{
	char	   *source;
	char	   *target;
	char	   *label;			/* "branch", else "sourceHandle", else NULL */
} EdgeDef;

/* A row of execution_steps, with the output of its latest attempt. */
typedef struct StepRow
{
	char	   *node_id;
	int			iteration;
	char		state[16];
	int			attempt;
	int			pending_parents;
	bool		has_input;
	bool		ready_set;
	TimestampTz ready_at;
	bool		started_set;
	TimestampTz started_at;
	bool		completed_set;
	TimestampTz completed_at;
	bool		has_data;		/* an execution_step_data row exists */
	Jsonb	   *output;			/* its output (NULL: SQL NULL) */
	bool		dirty;
} StepRow;

/* A row for execution_step_data, written back with the steps. */
typedef struct DataRow
{
	char	   *node_id;
	int			iteration;
	int			attempt;
	Jsonb	   *input;
	Jsonb	   *output;
	Jsonb	   *branches;		/* the result's "branches" array, or NULL */
	TimestampTz started_at;
	TimestampTz finished_at;
} DataRow;

/* An execution while a runner holds it. */
typedef struct Exec
{
	pg_uuid_t	user_id;
	pg_uuid_t	id;
	pg_uuid_t	workflow_id;
	char	   *status;
	bool		version_null;
	int			workflow_version;
	Jsonb	   *definition;
	Jsonb	   *input;
	bool		started_set;
	TimestampTz started_at;
	TimestampTz created_at;
	int			steps_completed;
	int			steps_failed;
	int			completed_delta;	/* not yet written back */
	bool		to_running;		/* status to write back as running */
	char	   *owner_role;

	NodeDef    *nodes;
	int			nnodes;
	EdgeDef    *edges;
	int			nedges;

	StepRow    *steps;
	int			nsteps;
	DataRow    *data;
	int			ndata;
	int			maxdata;
} Exec;

static SPIPlanPtr plan_claim = NULL;
static SPIPlanPtr plan_steps = NULL;
static SPIPlanPtr plan_flush_steps = NULL;
static SPIPlanPtr plan_flush_data = NULL;
static SPIPlanPtr plan_counters = NULL;
static SPIPlanPtr plan_finish = NULL;
static SPIPlanPtr plan_settle = NULL;
static SPIPlanPtr plan_fail = NULL;
static SPIPlanPtr plan_status = NULL;
static SPIPlanPtr plan_loop_of = NULL;

/* ---------------------------------------------------------------- JSON */

/* The text of a JSON value as ->> gives it (NULL for JSON null or none). */
static char *
jv_text(JsonbValue *v)
{
	if (v == NULL || v->type == jbvNull)
		return NULL;
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			return NULL;
	}
}

/* A member of an object container, or NULL. */
static JsonbValue *
jc_member(JsonbContainer *c, const char *key)
{
	if (c == NULL || !JsonContainerIsObject(c))
		return NULL;
	return getKeyJsonValueFromContainer(c, key, strlen(key), NULL);
}

/* The container of a member holding an object or array, or NULL. */
static JsonbContainer *
jc_child(JsonbContainer *c, const char *key)
{
	JsonbValue *v = jc_member(c, key);

	return (v != NULL && v->type == jbvBinary) ? v->val.binary.data : NULL;
}

/* A JsonbValue as a Jsonb of its own. */
static Jsonb *
jv_jsonb(JsonbValue *v)
{
	return JsonbValueToJsonb(v);
}

/* Push a Jsonb (NULL: JSON null) as a value into a building object or array. */
static void
push_jsonb(JsonbParseState **st, Jsonb *j, JsonbIteratorToken tok)
{
	JsonbValue	v;

	if (j == NULL)
	{
		v.type = jbvNull;
		pushJsonbValue(st, tok, &v);
	}
	else if (JB_ROOT_IS_SCALAR(j))
	{
		(void) JsonbExtractScalar(&j->root, &v);
		pushJsonbValue(st, tok, &v);
	}
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &j->root;
		v.val.binary.len = VARSIZE(j) - VARHDRSZ;
		pushJsonbValue(st, tok, &v);
	}
}

/* Push an object key. */
static void
push_key(JsonbParseState **st, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
}

/* A Jsonb from C text. */
static Jsonb *
jsonb_from_cstring(const char *s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

/* A uuid as a JSON string value. */
static void
push_uuid(JsonbParseState **st, const pg_uuid_t *u)
{
	JsonbValue	v;
	char	   *s = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(u)));

	v.type = jbvString;
	v.val.string.val = s;
	v.val.string.len = strlen(s);
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* An int (or null) as a JSON value. */
static void
push_int(JsonbParseState **st, int n, bool isnull)
{
	JsonbValue	v;

	if (isnull)
		v.type = jbvNull;
	else
	{
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(n);
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* ---------------------------------------------------------- definition */

/* Read the nodes and edges of the execution's definition snapshot. */
static void
parse_definition(Exec *ex)
{
	JsonbContainer *nodes = jc_child(&ex->definition->root, "nodes");
	JsonbContainer *edges = jc_child(&ex->definition->root, "edges");
	int			n;
	int			i;

	n = (nodes && JsonContainerIsArray(nodes)) ? JsonContainerSize(nodes) : 0;
	ex->nodes = palloc0(sizeof(NodeDef) * Max(n, 1));
	ex->nnodes = 0;
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(nodes, i);
		JsonbContainer *config;
		NodeDef    *nd;

		if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			continue;
		nd = &ex->nodes[ex->nnodes++];
		nd->id = jv_text(jc_member(v->val.binary.data, "id"));
		config = jc_child(jc_child(v->val.binary.data, "data"), "config");
		nd->ctype = jv_text(jc_member(config, "condition_type"));
		nd->node = jv_jsonb(v);
	}

	n = (edges && JsonContainerIsArray(edges)) ? JsonContainerSize(edges) : 0;
	ex->edges = palloc0(sizeof(EdgeDef) * Max(n, 1));
	ex->nedges = 0;
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(edges, i);
		EdgeDef    *e;

		if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			continue;
		e = &ex->edges[ex->nedges++];
		e->source = jv_text(jc_member(v->val.binary.data, "source"));
		e->target = jv_text(jc_member(v->val.binary.data, "target"));
		e->label = jv_text(jc_member(v->val.binary.data, "branch"));
		if (e->label == NULL)
			e->label = jv_text(jc_member(v->val.binary.data, "sourceHandle"));
	}
}

/* The first node with this id (as the SQL's LIMIT 1 finds it), or NULL. */
static NodeDef *
find_node(Exec *ex, const char *id)
{
	int			i;

	for (i = 0; i < ex->nnodes; i++)
		if (ex->nodes[i].id && strcmp(ex->nodes[i].id, id) == 0)
			return &ex->nodes[i];
	return NULL;
}

static bool
str_eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/*
 * The label of each out-edge of a node, as flov7.out_edges() gives it: the
 * edge's own; the first and second edge of a true/false condition none of
 * whose out-edges is labelled are "true" and "false"; an unlabelled edge
 * out of a loop is its body ("item").  labels[i] is for ex->edges[i].
 */
static void
out_labels(Exec *ex, const char *node, char **labels)
{
	NodeDef    *nd = find_node(ex, node);
	const char *ctype = nd ? nd->ctype : NULL;
	bool		tf = ctype && (strcmp(ctype, "if_else") == 0 || strcmp(ctype, "filter") == 0 ||
							   strcmp(ctype, "compare") == 0 || strcmp(ctype, "regex") == 0 ||
							   strcmp(ctype, "json_path") == 0);
	bool		any_label = false;
	int			rank = 0;
	int			i;

	for (i = 0; i < ex->nedges; i++)
		if (str_eq(ex->edges[i].source, node) && ex->edges[i].label != NULL)
			any_label = true;
	for (i = 0; i < ex->nedges; i++)
	{
		EdgeDef    *e = &ex->edges[i];

		labels[i] = NULL;
		if (!str_eq(e->source, node))
			continue;
		rank++;
		if (tf && !any_label)
			labels[i] = rank == 1 ? "true" : rank == 2 ? "false" : NULL;
		else if (ctype && strcmp(ctype, "loop") == 0)
			labels[i] = e->label ? e->label : "item";
		else
			labels[i] = e->label;
	}
}

/* ---------------------------------------------------------------- steps */

static StepRow *
find_step(Exec *ex, const char *node, int iteration)
{
	int			i;

	for (i = 0; i < ex->nsteps; i++)
		if (ex->steps[i].iteration == iteration && strcmp(ex->steps[i].node_id, node) == 0)
			return &ex->steps[i];
	return NULL;
}

static void
set_state(StepRow *s, const char *state)
{
	strlcpy(s->state, state, sizeof(s->state));
	s->dirty = true;
}

/* Read the execution's steps, each with the output of its latest attempt. */
static void
load_steps(Exec *ex)
{
	Oid			types[2] = {UUIDOID, UUIDOID};
	Datum		values[2] = {UUIDPGetDatum(&ex->user_id), UUIDPGetDatum(&ex->id)};
	uint64		i;
	int			rc;

	rc = flov7_plan_execute(&plan_steps,
							"SELECT s.node_id, s.iteration, s.state, s.attempt, s.pending_parents, s.has_input,"
							"       s.ready_at, s.started_at, s.completed_at, d.found, d.output"
							"  FROM flov7.execution_steps s"
							"  LEFT JOIN LATERAL (SELECT true AS found, x.output FROM flov7.execution_step_data x"
							"                      WHERE x.user_id = s.user_id AND x.execution_id = s.execution_id"
							"                        AND x.node_id = s.node_id AND x.iteration = s.iteration"
							"                      ORDER BY x.attempt DESC LIMIT 1) d ON true"
							" WHERE s.user_id = $1 AND s.execution_id = $2"
							" ORDER BY s.iteration, s.node_id",
							2, types, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "flov7: reading the steps failed: %s", SPI_result_code_string(rc));
	ex->nsteps = (int) SPI_processed;
	ex->steps = palloc0(sizeof(StepRow) * Max(ex->nsteps, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		StepRow    *s = &ex->steps[i];
		bool		isnull;
		Datum		d;

		s->node_id = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		s->iteration = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		text_to_cstring_buffer(DatumGetTextPP(SPI_getbinval(tup, desc, 3, &isnull)), s->state, sizeof(s->state));
		s->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		s->pending_parents = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		s->has_input = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		d = SPI_getbinval(tup, desc, 7, &isnull);
		s->ready_set = !isnull;
		s->ready_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = SPI_getbinval(tup, desc, 8, &isnull);
		s->started_set = !isnull;
		s->started_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = SPI_getbinval(tup, desc, 9, &isnull);
		s->completed_set = !isnull;
		s->completed_at = isnull ? 0 : DatumGetTimestampTz(d);
		(void) SPI_getbinval(tup, desc, 10, &isnull);
		s->has_data = !isnull;
		d = SPI_getbinval(tup, desc, 11, &isnull);
		s->output = isnull ? NULL : DatumGetJsonbPCopy(d);
		s->dirty = false;
	}
}

/* Read the execution's status and counters again (after SQL moved it on). */
static void
reload_exec(Exec *ex)
{
	Oid			types[2] = {UUIDOID, UUIDOID};
	Datum		values[2] = {UUIDPGetDatum(&ex->user_id), UUIDPGetDatum(&ex->id)};
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
	load_steps(ex);
}

/* ----------------------------------------------------------- write-back */

/* Build a one-dimensional array of n datums of a type. */
static Datum
make_array(Datum *elems, bool *nulls, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, type, typlen, typbyval, typalign));
}

/* Write back the steps that changed, the step data rows and the counters. */
static void
flush(Exec *ex)
{
	int			n = 0;
	int			i;
	int			rc;

	/* first the execution (its "started" event comes before its steps' events) */
	if (ex->completed_delta > 0 || ex->to_running)
	{
		Oid			types[5] = {UUIDOID, UUIDOID, INT4OID, BOOLOID, TIMESTAMPTZOID};
		Datum		values[5] = {UUIDPGetDatum(&ex->user_id), UUIDPGetDatum(&ex->id),
			Int32GetDatum(ex->completed_delta), BoolGetDatum(ex->to_running),
		TimestampTzGetDatum(ex->started_at)};

		rc = flov7_plan_execute(&plan_counters,
								"UPDATE flov7.workflow_executions e"
								"   SET steps_completed = e.steps_completed + $3,"
								"       status = CASE WHEN $4 THEN 'running' ELSE e.status END,"
								"       started_at = coalesce(e.started_at, $5)"
								" WHERE e.user_id = $1 AND e.id = $2",
								5, types, values, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "flov7: writing back the execution failed: %s", SPI_result_code_string(rc));
		ex->completed_delta = 0;
		ex->to_running = false;
	}

	for (i = 0; i < ex->nsteps; i++)
		if (ex->steps[i].dirty)
			n++;
	if (n > 0)
	{
		Oid			types[11] = {UUIDOID, UUIDOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT4ARRAYOID,
		INT4ARRAYOID, BOOLARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID};
		Datum		values[11];
		Datum	   *cols[9];
		bool	   *nulls[9];
		int			c;
		int			k = 0;

		for (c = 0; c < 9; c++)
		{
			cols[c] = palloc0(sizeof(Datum) * n);
			nulls[c] = palloc0(sizeof(bool) * n);
		}
		for (i = 0; i < ex->nsteps; i++)
		{
			StepRow    *s = &ex->steps[i];

			if (!s->dirty)
				continue;
			cols[0][k] = CStringGetTextDatum(s->node_id);
			cols[1][k] = Int32GetDatum(s->iteration);
			cols[2][k] = CStringGetTextDatum(s->state);
			cols[3][k] = Int32GetDatum(s->attempt);
			cols[4][k] = Int32GetDatum(s->pending_parents);
			cols[5][k] = BoolGetDatum(s->has_input);
			cols[6][k] = TimestampTzGetDatum(s->ready_at);
			nulls[6][k] = !s->ready_set;
			cols[7][k] = TimestampTzGetDatum(s->started_at);
			nulls[7][k] = !s->started_set;
			cols[8][k] = TimestampTzGetDatum(s->completed_at);
			nulls[8][k] = !s->completed_set;
			s->dirty = false;
			k++;
		}
		values[0] = UUIDPGetDatum(&ex->user_id);
		values[1] = UUIDPGetDatum(&ex->id);
		values[2] = make_array(cols[0], nulls[0], n, TEXTOID);
		values[3] = make_array(cols[1], nulls[1], n, INT4OID);
		values[4] = make_array(cols[2], nulls[2], n, TEXTOID);
		values[5] = make_array(cols[3], nulls[3], n, INT4OID);
		values[6] = make_array(cols[4], nulls[4], n, INT4OID);
		values[7] = make_array(cols[5], nulls[5], n, BOOLOID);
		values[8] = make_array(cols[6], nulls[6], n, TIMESTAMPTZOID);
		values[9] = make_array(cols[7], nulls[7], n, TIMESTAMPTZOID);
		values[10] = make_array(cols[8], nulls[8], n, TIMESTAMPTZOID);
		rc = flov7_plan_execute(&plan_flush_steps,
								"UPDATE flov7.execution_steps s"
								"   SET state = u.state, attempt = u.attempt, pending_parents = u.pending_parents,"
								"       has_input = u.has_input, ready_at = u.ready_at, started_at = u.started_at,"
								"       completed_at = u.completed_at"
								"  FROM unnest($3::text[], $4::int[], $5::text[], $6::int[], $7::int[], $8::boolean[],"
								"              $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])"
								"       AS u (node_id, iteration, state, attempt, pending_parents, has_input,"
								"             ready_at, started_at, completed_at)"
								" WHERE s.user_id = $1 AND s.execution_id = $2"
								"   AND s.node_id = u.node_id AND s.iteration = u.iteration",
								11, types, values, NULL, false, 0);
		if (rc != SPI_OK_UPDATE || SPI_processed != (uint64) n)
			elog(ERROR, "flov7: writing back %d steps failed: %s, " UINT64_FORMAT " rows",
				 n, SPI_result_code_string(rc), SPI_processed);
	}

	if (ex->ndata > 0)
	{
		Oid			types[11] = {UUIDOID, UUIDOID, TEXTARRAYOID, INT4ARRAYOID, INT4ARRAYOID, JSONBARRAYOID,
		JSONBARRAYOID, JSONBARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTOID};
		Datum		values[11];
		Datum	   *cols[8];
		bool	   *nulls[8];
		int			c;

		n = ex->ndata;
		for (c = 0; c < 8; c++)
		{
			cols[c] = palloc0(sizeof(Datum) * n);
			nulls[c] = palloc0(sizeof(bool) * n);
		}
		for (i = 0; i < n; i++)
		{
			DataRow    *d = &ex->data[i];

			cols[0][i] = CStringGetTextDatum(d->node_id);
			cols[1][i] = Int32GetDatum(d->iteration);
			cols[2][i] = Int32GetDatum(d->attempt);
			cols[3][i] = d->input ? JsonbPGetDatum(d->input) : (Datum) 0;
			nulls[3][i] = d->input == NULL;
			cols[4][i] = d->output ? JsonbPGetDatum(d->output) : (Datum) 0;
			nulls[4][i] = d->output == NULL;
			/* as JSON: unnest cannot take an array of arrays */
			cols[5][i] = d->branches ? JsonbPGetDatum(d->branches) : (Datum) 0;
			nulls[5][i] = d->branches == NULL;
			cols[6][i] = TimestampTzGetDatum(d->started_at);
			cols[7][i] = TimestampTzGetDatum(d->finished_at);
		}
		values[0] = UUIDPGetDatum(&ex->user_id);
		values[1] = UUIDPGetDatum(&ex->id);
		values[2] = make_array(cols[0], nulls[0], n, TEXTOID);
		values[3] = make_array(cols[1], nulls[1], n, INT4OID);
		values[4] = make_array(cols[2], nulls[2], n, INT4OID);
		values[5] = make_array(cols[3], nulls[3], n, JSONBOID);
		values[6] = make_array(cols[4], nulls[4], n, JSONBOID);
		values[7] = make_array(cols[5], nulls[5], n, JSONBOID);
		values[8] = make_array(cols[6], nulls[6], n, TIMESTAMPTZOID);
		values[9] = make_array(cols[7], nulls[7], n, TIMESTAMPTZOID);
		values[10] = CStringGetTextDatum(flov7_runner_name);
		rc = flov7_plan_execute(&plan_flush_data,
								"INSERT INTO flov7.execution_step_data (user_id, execution_id, node_id, iteration,"
								"       attempt, input, output, branches, error, started_at, finished_at, worker)"
								"SELECT $1, $2, u.node_id, u.iteration, u.attempt, u.input, u.output,"
								"       CASE WHEN u.branches IS NOT NULL THEN ARRAY(SELECT jsonb_array_elements_text(u.branches)) END,"
								"       NULL, u.started_at, u.finished_at, $11"
								"  FROM unnest($3::text[], $4::int[], $5::int[], $6::jsonb[], $7::jsonb[], $8::jsonb[],"
								"              $9::timestamptz[], $10::timestamptz[])"
								"       AS u (node_id, iteration, attempt, input, output, branches, started_at, finished_at)",
								11, types, values, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "flov7: writing back step data failed: %s", SPI_result_code_string(rc));
		ex->ndata = 0;
	}

}

/* ------------------------------------------------------------- settling */

/*
 * flov7.step_settle(), in memory: the successors of a node (same
 * iteration) each lose a pending parent; taken ones (label in taken, or
 * any edge when taken is NULL) get input; one reaching 0 pending parents
 * is ready now, or skipped when nothing fed it, and a skip settles its own
 * successors in turn.  ntaken < 0: taken is NULL (the node does not branch).
 */
static void
settle(Exec *ex, const char *node, int iteration, char **taken, int ntaken)
{
	char	  **queue = palloc(sizeof(char *) * (ex->nnodes + 1));
	char	  **labels = palloc(sizeof(char *) * Max(ex->nedges, 1));
	char	  **targets = palloc(sizeof(char *) * Max(ex->nedges, 1));
	bool	   *tk = palloc(sizeof(bool) * Max(ex->nedges, 1));
	int			qh = 0;
	int			qt = 0;
	bool		first = true;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	queue[qt++] = (char *) node;
	while (qh < qt)
	{
		const char *v = queue[qh++];
		int			nt = 0;
		int			i;
		int			j;

		out_labels(ex, v, labels);
		/* distinct targets, taken if any edge to them is */
		for (i = 0; i < ex->nedges; i++)
		{
			bool		t = false;

			if (!str_eq(ex->edges[i].source, v) || ex->edges[i].target == NULL)
				continue;
			if (first)
			{
				if (ntaken < 0)
					t = true;
				else if (labels[i] != NULL)
					for (j = 0; j < ntaken; j++)
						if (strcmp(labels[i], taken[j]) == 0)
							t = true;
			}
			for (j = 0; j < nt; j++)
				if (strcmp(targets[j], ex->edges[i].target) == 0)
					break;
			if (j == nt)
			{
				targets[nt] = ex->edges[i].target;
				tk[nt++] = t;
			}
			else
				tk[j] = tk[j] || t;
		}
		/* in target order, as the SQL does (its ORDER BY o.target) */
		for (i = 1; i < nt; i++)
			for (j = i; j > 0 && strcmp(targets[j - 1], targets[j]) > 0; j--)
			{
				char	   *ts = targets[j];
				bool		tb = tk[j];

				targets[j] = targets[j - 1];
				tk[j] = tk[j - 1];
				targets[j - 1] = ts;
				tk[j - 1] = tb;
			}
		for (i = 0; i < nt; i++)
		{
			StepRow    *s = find_step(ex, targets[i], iteration);

			if (s == NULL || strcmp(s->state, ST_PENDING) != 0 || s->pending_parents <= 0)
				continue;
			s->pending_parents--;
			s->has_input = s->has_input || tk[i];
			s->dirty = true;
			if (s->pending_parents == 0)
			{
				if (s->has_input)
				{
					set_state(s, ST_READY);
					s->ready_set = true;
					s->ready_at = now;
				}
				else
				{
					set_state(s, ST_SKIPPED);
					s->completed_set = true;
					s->completed_at = now;
					if (qt < ex->nnodes + 1)
						queue[qt++] = s->node_id;
				}
			}
		}
		first = false;
	}
}

/* -------------------------------------------------------------- context */

/* Output of the latest attempt of (node, iteration) if it completed (or is the loop). */
static bool
parent_output(Exec *ex, const char *node, int iteration, const char *loop, Jsonb *item, Jsonb **out)
{
	StepRow    *p;

	if (loop != NULL && strcmp(node, loop) == 0)
	{
		p = find_step(ex, node, 0);
		if (p == NULL || !p->has_data)
			return false;
		*out = item;
		return true;
	}
	p = find_step(ex, node, iteration);
	if (p == NULL || strcmp(p->state, ST_COMPLETED) != 0 || !p->has_data)
		return false;
	*out = p->output;
	return true;
}

/*
 * The context of a step, as flov7.step_claim() built it: input, data (the
 * one parent's output; several: their objects merged in edge order, or the
 * list of them when not all are objects; none: the input), parents,
 * execution, item and index (in a loop's iteration), nodes.
 */
static Jsonb *
build_ctx(Exec *ex, StepRow *step, int attempt, Jsonb **data_out)
{
	JsonbParseState *st = NULL;
	char	   *loop = NULL;
	Jsonb	   *item = NULL;
	Jsonb	  **pouts = palloc(sizeof(Jsonb *) * Max(ex->nedges, 1));
	char	  **psrc = palloc(sizeof(char *) * Max(ex->nedges, 1));
	int			np = 0;
	Jsonb	   *data;
	Jsonb	   *parents;
	bool		all_objects = true;
	int			i;
	int			j;

	if (step->iteration > 0)
	{
		Oid			types[2] = {JSONBOID, TEXTOID};
		Datum		values[2] = {JsonbPGetDatum(ex->definition), CStringGetTextDatum(step->node_id)};
		bool		isnull;
		int			rc;

		rc = flov7_plan_execute(&plan_loop_of, "SELECT flov7.loop_of($1, $2)", 2, types, values, NULL, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "flov7: loop_of failed: %s", SPI_result_code_string(rc));
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			loop = isnull ? NULL : TextDatumGetCString(d);
		}
		if (loop != NULL)
		{
			StepRow    *l = find_step(ex, loop, 0);

			if (l != NULL && l->has_data && l->output != NULL)
			{
				JsonbContainer *items = jc_child(&l->output->root, "items");

				if (items != NULL && JsonContainerIsArray(items) &&
					step->iteration - 1 < (int) JsonContainerSize(items))
				{
					JsonbValue *v = getIthJsonbValueFromContainer(items, step->iteration - 1);

					if (v != NULL)
						item = jv_jsonb(v);
				}
			}
		}
	}

	/* parents: distinct sources, each at its first edge into the step, in edge order */
	for (i = 0; i < ex->nedges; i++)
	{
		EdgeDef    *e = &ex->edges[i];
		Jsonb	   *out;

		if (!str_eq(e->target, step->node_id) || e->source == NULL)
			continue;
		for (j = 0; j < np; j++)
			if (strcmp(psrc[j], e->source) == 0)
				break;
		if (j < np)
			continue;
		if (!parent_output(ex, e->source, step->iteration, loop, item, &out))
			continue;
		psrc[np] = e->source;
		pouts[np++] = out;
	}

	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < np; i++)
	{
		push_jsonb(&st, pouts[i], WJB_ELEM);
		if (pouts[i] == NULL || !JB_ROOT_IS_OBJECT(pouts[i]) || JB_ROOT_IS_SCALAR(pouts[i]))
			all_objects = false;
	}
	parents = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_ARRAY, NULL));

	if (np == 0)
		data = ex->input;
	else if (np == 1)
		data = pouts[0];
	else if (all_objects)
	{
		/* merged in order: a later parent's key wins, as jsonb_object_agg keeps the last */
		JsonbValue *res;

		st = NULL;
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		for (i = 0; i < np; i++)
		{
			JsonbIterator *it = JsonbIteratorInit(&pouts[i]->root);
			JsonbValue	v;
			JsonbIteratorToken tok;

			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
				if (tok == WJB_KEY || tok == WJB_VALUE)
					pushJsonbValue(&st, tok, &v);
		}
		res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		data = JsonbValueToJsonb(res);
	}
	else
		data = parents;
	*data_out = data;

	st = NULL;
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	push_key(&st, "input");
	push_jsonb(&st, ex->input, WJB_VALUE);
	push_key(&st, "data");
	push_jsonb(&st, data, WJB_VALUE);
	push_key(&st, "parents");
	push_jsonb(&st, parents, WJB_VALUE);
	push_key(&st, "execution");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	push_key(&st, "id");
	push_uuid(&st, &ex->id);
	push_key(&st, "workflow_id");
	push_uuid(&st, &ex->workflow_id);
	push_key(&st, "workflow_version");
	push_int(&st, ex->workflow_version, ex->version_null);
	push_key(&st, "attempt");
	push_int(&st, attempt, false);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	push_key(&st, "item");
	push_jsonb(&st, item, WJB_VALUE);
	push_key(&st, "index");
	push_int(&st, step->iteration - 1, step->iteration <= 0);
	push_key(&st, "nodes");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	/* iteration 0 first, then the step's own iteration, whose outputs win */
	for (j = 0; j < 2; j++)
	{
		int			it = j == 0 ? 0 : step->iteration;

		if (j == 1 && it == 0)
			break;
		for (i = 0; i < ex->nsteps; i++)
		{
			StepRow    *s = &ex->steps[i];

			if (s->iteration != it || strcmp(s->state, ST_COMPLETED) != 0 || !s->has_data)
				continue;
			push_key(&st, s->node_id);
			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			push_key(&st, "output");
			push_jsonb(&st, s->output, WJB_VALUE);
			pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		}
	}
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* ------------------------------------------------------------ recording */

/* Record an attempt with flov7.step_finish() (everything but a plain completion). */
static void
finish_in_sql(Exec *ex, StepRow *step, Jsonb *node, int attempt, Jsonb *input,
			  Jsonb *result, const char *error, TimestampTz started)
{
	Oid			types[11] = {UUIDOID, UUIDOID, TEXTOID, INT4OID, INT4OID, JSONBOID,
	JSONBOID, JSONBOID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[11];
	char		nulls[11];
	int			rc;

	flush(ex);
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
	reload_exec(ex);
}

/*
 * step_finish's completed branch, in memory: the attempt's data row, the
 * step completed, its successors settled.  Only for a result that is a
 * plain output (and maybe branches) of a step outside any loop iteration.
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
		branches = jv_jsonb(br);
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
	d->output = out ? jv_jsonb(out) : NULL;
	d->started_at = started;
	d->finished_at = now;

	set_state(step, ST_COMPLETED);
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

	settle(ex, step->node_id, step->iteration, taken, ntaken);
}

/* Whether a node's result can be recorded in memory (else step_finish does it). */
static bool
plain_result(StepRow *step, Jsonb *result, const char *error)
{
	if (error != NULL || result == NULL || step->iteration > 0)
		return false;
	if (!JB_ROOT_IS_OBJECT(result))
		return false;
	return jc_member(&result->root, "outside") == NULL &&
		jc_member(&result->root, "wait_until") == NULL &&
		jc_member(&result->root, "loop") == NULL;
}

/* ---------------------------------------------------------------- claim */

/*
 * Lock the next execution with a due step: the first owner after *after
 * (wrapping around), among a few of its earliest due steps; executions
 * another runner holds are skipped.  Returns false if none.
 */
static bool
claim(Exec *ex, pg_uuid_t *after)
{
	Oid			types[1] = {UUIDOID};
	Datum		values[1];
	char		nulls[1];
	int			pass;
	HeapTuple	tup = NULL;
	TupleDesc	desc = NULL;
	bool		isnull;
	Datum		d;

	for (pass = 0; pass < 2 && tup == NULL; pass++)
	{
		int			rc;

		if (pass == 1 && after == NULL)
			break;
		values[0] = (pass == 0 && after != NULL) ? UUIDPGetDatum(after) : (Datum) 0;
		nulls[0] = (pass == 0 && after != NULL) ? ' ' : 'n';
		rc = flov7_plan_execute(&plan_claim,
								"SELECT e.user_id, e.id, e.workflow_id, e.status, e.workflow_version, e.definition,"
								"       e.input_data, e.started_at, e.created_at, e.steps_completed, e.steps_failed,"
								"       (SELECT CASE u.role WHEN 'admin' THEN 'flov7_admin' ELSE 'flov7_user' END"
								"          FROM flov7.users u WHERE u.id = e.user_id)"
								"  FROM (SELECT c.user_id, c.execution_id, min(c.ready_at) AS due"
								"          FROM (SELECT s.user_id, s.execution_id, s.ready_at FROM flov7.execution_steps s"
								"                 WHERE s.state IN ('ready', 'waiting') AND s.ready_at IS NOT NULL"
								"                   AND s.ready_at <= clock_timestamp()"
								"                   AND ($1::uuid IS NULL OR s.user_id > $1)"
								"                 ORDER BY s.user_id, s.ready_at LIMIT 16) c"
								"         GROUP BY c.user_id, c.execution_id"
								"         ORDER BY c.user_id, due) c"
								/* in that order, the first one no other runner holds */
								" CROSS JOIN LATERAL (SELECT x.* FROM flov7.workflow_executions x"
								"                      WHERE x.user_id = c.user_id AND x.id = c.execution_id"
								"                        FOR NO KEY UPDATE SKIP LOCKED) e"
								" LIMIT 1",
								1, types, values, nulls, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "flov7: claiming an execution failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 1)
		{
			tup = SPI_tuptable->vals[0];
			desc = SPI_tuptable->tupdesc;
		}
	}
	if (tup == NULL)
		return false;

	memcpy(&ex->user_id, DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull)), sizeof(pg_uuid_t));
	memcpy(&ex->id, DatumGetUUIDP(SPI_getbinval(tup, desc, 2, &isnull)), sizeof(pg_uuid_t));
	memcpy(&ex->workflow_id, DatumGetUUIDP(SPI_getbinval(tup, desc, 3, &isnull)), sizeof(pg_uuid_t));
	ex->status = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
	d = SPI_getbinval(tup, desc, 5, &isnull);
	ex->version_null = isnull;
	ex->workflow_version = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	ex->definition = isnull ? jsonb_from_cstring("{}") : DatumGetJsonbPCopy(d);
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
	return true;
}

/* ------------------------------------------------------------- the run */

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

		if ((strcmp(s->state, ST_READY) != 0 && strcmp(s->state, ST_WAITING) != 0) ||
			!s->ready_set || s->ready_at > now)
			continue;
		if (best == NULL || s->ready_at < best->ready_at)
			best = s;
	}
	return best;
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

/* Fail the execution at a node with flov7.execution_fail(). */
static void
fail_in_sql(Exec *ex, const char *node, const char *error)
{
	Oid			types[4] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID};
	Datum		values[4] = {UUIDPGetDatum(&ex->user_id), UUIDPGetDatum(&ex->id),
	CStringGetTextDatum(node), CStringGetTextDatum(error)};
	int			rc;

	flush(ex);
	rc = flov7_plan_execute(&plan_fail, "SELECT flov7.execution_fail($1, $2, $3, $4)",
							4, types, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "flov7: execution_fail failed: %s", SPI_result_code_string(rc));
}

/* Whether a bound of the execution is crossed; fails it if so. */
static bool
over_bounds(Exec *ex, StepRow *step)
{
	double		limit;

	if (setting_number(ex, "timeout_seconds", &limit))
	{
		TimestampTz from = ex->started_set ? ex->started_at : ex->created_at;
		double		elapsed = (double) (GetCurrentTimestamp() - from) / USECS_PER_SEC;

		if (elapsed > limit)
		{
			JsonbValue *v = jc_member(jc_child(&ex->definition->root, "settings"), "timeout_seconds");

			fail_in_sql(ex, step->node_id,
						psprintf("the execution is over its time limit of %s s (settings.timeout_seconds)",
								 jv_text(v)));
			return true;
		}
	}
	if (!setting_number(ex, "max_steps", &limit))
		limit = 100000;
	if (ex->steps_completed + ex->steps_failed >= limit)
	{
		fail_in_sql(ex, step->node_id,
					psprintf("the execution ran %d steps, its limit (settings.max_steps)",
							 ex->steps_completed + ex->steps_failed));
		return true;
	}
	return false;
}

/* The execution runs from now on (written back with its steps). */
static void
mark_running(Exec *ex)
{
	if (!ex->started_set)
	{
		ex->started_at = GetCurrentTimestamp();
		ex->started_set = true;
	}
	ex->to_running = true;
	ex->status = "running";
}

/* End the execution if all its steps settled, and set running/waiting. */
static void
settle_execution(Exec *ex)
{
	Oid			types[2] = {UUIDOID, UUIDOID};
	Datum		values[2] = {UUIDPGetDatum(&ex->user_id), UUIDPGetDatum(&ex->id)};
	int			rc;

	flush(ex);
	rc = flov7_plan_execute(&plan_settle,
							"SELECT flov7.execution_settle($1, $2), flov7.execution_refresh_status($1, $2)",
							2, types, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "flov7: execution_settle failed: %s", SPI_result_code_string(rc));
}

/*
 * Claim one execution and run its due steps, at most max_steps of them
 * (each under its own subtransaction).  Returns the steps run, or -1 when
 * no execution was due.  *after is the owner served last (round-robin).
 */
int
flov7_runner_run_one(int max_steps, pg_uuid_t *after, bool *have_after)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext excxt = AllocSetContextCreate(outer, "flov7 execution", ALLOCSET_DEFAULT_SIZES);
	MemoryContext stepcxt = AllocSetContextCreate(excxt, "flov7 step", ALLOCSET_DEFAULT_SIZES);
	Exec		ex;
	int			ran = 0;
	bool		ended = false;

	MemoryContextSwitchTo(excxt);
	memset(&ex, 0, sizeof(ex));
	if (!claim(&ex, *have_after ? after : NULL))
	{
		MemoryContextSwitchTo(outer);
		MemoryContextDelete(excxt);
		return -1;
	}
	memcpy(after, &ex.user_id, sizeof(pg_uuid_t));
	*have_after = true;
	parse_definition(&ex);
	load_steps(&ex);

	/* an execution that ended: what was due is cancelled */
	if (strcmp(ex.status, "completed") == 0 || strcmp(ex.status, "failed") == 0 ||
		strcmp(ex.status, "cancelled") == 0)
	{
		StepRow    *s;

		while ((s = next_due(&ex)) != NULL)
		{
			set_state(s, ST_CANCELLED);
			s->completed_set = true;
			s->completed_at = GetCurrentTransactionStartTimestamp();
			s->ready_set = false;
		}
		flush(&ex);
		MemoryContextSwitchTo(outer);
		MemoryContextDelete(excxt);
		return 0;
	}

	while (ran < max_steps && !ended)
	{
		StepRow    *step = next_due(&ex);
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
		if (over_bounds(&ex, step))
		{
			ended = true;
			break;
		}
		if (strcmp(ex.status, "pending") == 0 || strcmp(ex.status, "waiting") == 0)
			mark_running(&ex);

		nd = find_node(&ex, step->node_id);
		if (nd == NULL)
			elog(ERROR, "flov7: step \"%s\" has no node in its definition", step->node_id);
		attempt = step->attempt + 1;
		memset(&cs, 0, sizeof(cs));
		memcpy(&cs.user_id, &ex.user_id, sizeof(pg_uuid_t));
		memcpy(&cs.execution_id, &ex.id, sizeof(pg_uuid_t));
		cs.node_id = step->node_id;
		cs.iteration = step->iteration;
		cs.attempt = attempt;
		cs.resumed = strcmp(step->state, ST_WAITING) == 0;
		cs.owner_role = ex.owner_role;
		cs.node = nd->node;
		cs.ctx = build_ctx(&ex, step, attempt, &input);

		started = GetCurrentTimestamp();
		MemoryContextReset(stepcxt);
		if (!flov7_step_execute(&cs, stepcxt, &result, &error))
			result = NULL;
		MemoryContextSwitchTo(excxt);
		/* what the step returned lives on in the execution's context */
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
			complete_in_memory(&ex, step, attempt, input, result, started);
		else
		{
			finish_in_sql(&ex, step, nd->node, attempt, input, result, error, started);
			if (strcmp(ex.status, "completed") == 0 || strcmp(ex.status, "failed") == 0 ||
				strcmp(ex.status, "cancelled") == 0)
				ended = true;
		}
	}
	if (!ended)
		settle_execution(&ex);
	else
		flush(&ex);

	MemoryContextSwitchTo(outer);
	MemoryContextDelete(excxt);
	return ran;
}
