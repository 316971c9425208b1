/*-------------------------------------------------------------------------
 *
 * rungraph.c
 *	  The runner's in-memory rules: a definition's nodes and edges, the
 *	  labels of out-edges, settling successors, a step's context and an
 *	  ended execution's output.  Each is the port of the SQL that is the
 *	  reference for it (flov7.out_edges, step_settle, the context the former step_claim
 *	  built, execution_settle), kept in step with it; the pgTAP suites run
 *	  both paths.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "engine.h"
#include "runstate.h"

static SPIPlanPtr plan_loop_of = NULL;

/* Read the nodes and edges of the execution's definition snapshot. */
void
run_parse_definition(Exec *ex)
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
		nd->node = JsonbValueToJsonb(v);
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
NodeDef *
run_find_node(Exec *ex, const char *id)
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
	NodeDef    *nd = run_find_node(ex, node);
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

StepRow *
run_find_step(Exec *ex, const char *node, int iteration)
{
	int			i;

	for (i = 0; i < ex->nsteps; i++)
		if (ex->steps[i].iteration == iteration && strcmp(ex->steps[i].node_id, node) == 0)
			return &ex->steps[i];
	return NULL;
}

void
run_set_state(StepRow *s, const char *state)
{
	strlcpy(s->state, state, sizeof(s->state));
	s->dirty = true;
}

/*
 * flov7.step_settle(), in memory: the successors of a node (same
 * iteration) each lose a pending parent; taken ones (label in taken, or
 * any edge when taken is NULL) get input; one reaching 0 pending parents
 * is ready now, or skipped when nothing fed it, and a skip settles its own
 * successors in turn.  ntaken < 0: taken is NULL (the node does not branch).
 */
void
run_settle(Exec *ex, const char *node, int iteration, char **taken, int ntaken)
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
			StepRow    *s = run_find_step(ex, targets[i], iteration);

			if (s == NULL || strcmp(s->state, ST_PENDING) != 0 || s->pending_parents <= 0)
				continue;
			s->pending_parents--;
			s->has_input = s->has_input || tk[i];
			s->dirty = true;
			if (s->pending_parents == 0)
			{
				if (s->has_input)
				{
					run_set_state(s, ST_READY);
					s->ready_set = true;
					s->ready_at = now;
				}
				else
				{
					run_set_state(s, ST_SKIPPED);
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

/* Output of the latest attempt of (node, iteration) if it completed (or is the loop). */
static bool
parent_output(Exec *ex, const char *node, int iteration, const char *loop, Jsonb *item, Jsonb **out)
{
	StepRow    *p;

	if (loop != NULL && strcmp(node, loop) == 0)
	{
		p = run_find_step(ex, node, 0);
		if (p == NULL || !p->has_data)
			return false;
		*out = item;
		return true;
	}
	p = run_find_step(ex, node, iteration);
	if (p == NULL || strcmp(p->state, ST_COMPLETED) != 0 || !p->has_data)
		return false;
	*out = p->output;
	return true;
}

/*
 * The context of a step, as the former flov7.step_claim() built it: input, data (the
 * one parent's output; several: their objects merged in edge order, or the
 * list of them when not all are objects; none: the input), parents,
 * execution, item and index (in a loop's iteration), nodes.
 */
Jsonb *
run_build_ctx(Exec *ex, StepRow *step, int attempt, Jsonb **data_out)
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
			StepRow    *l = run_find_step(ex, loop, 0);

			if (l != NULL && l->has_data && l->output != NULL)
			{
				JsonbContainer *items = jc_child(&l->output->root, "items");

				if (items != NULL && JsonContainerIsArray(items) &&
					step->iteration - 1 < (int) JsonContainerSize(items))
				{
					JsonbValue *v = getIthJsonbValueFromContainer(items, step->iteration - 1);

					if (v != NULL)
						item = JsonbValueToJsonb(v);
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
		jb_push(&st, pouts[i], WJB_ELEM);
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
	jb_push_key(&st, "input");
	jb_push(&st, ex->input, WJB_VALUE);
	jb_push_key(&st, "data");
	jb_push(&st, data, WJB_VALUE);
	jb_push_key(&st, "parents");
	jb_push(&st, parents, WJB_VALUE);
	jb_push_key(&st, "execution");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	jb_push_key(&st, "id");
	jb_push_uuid(&st, &ex->id);
	jb_push_key(&st, "workflow_id");
	jb_push_uuid(&st, &ex->workflow_id);
	jb_push_key(&st, "workflow_version");
	jb_push_int(&st, ex->workflow_version, ex->version_null);
	jb_push_key(&st, "attempt");
	jb_push_int(&st, attempt, false);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	jb_push_key(&st, "item");
	jb_push(&st, item, WJB_VALUE);
	jb_push_key(&st, "index");
	jb_push_int(&st, step->iteration - 1, step->iteration <= 0);
	jb_push_key(&st, "nodes");
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
			jb_push_key(&st, s->node_id);
			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			jb_push_key(&st, "output");
			jb_push(&st, s->output, WJB_VALUE);
			pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		}
	}
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* Whether a step is in a state. */
bool
run_state_is(StepRow *s, const char *state)
{
	return strcmp(s->state, state) == 0;
}

/* Whether every step of the execution is settled (completed, failed, skipped, cancelled). */
bool
run_all_settled(Exec *ex)
{
	int			i;

	for (i = 0; i < ex->nsteps; i++)
	{
		StepRow    *s = &ex->steps[i];

		if (run_state_is(s, ST_PENDING) || run_state_is(s, ST_READY) ||
			run_state_is(s, ST_RUNNING) || run_state_is(s, ST_WAITING))
			return false;
	}
	return true;
}

/*
 * The output of an execution that ended, as flov7.execution_settle() makes
 * it: the outputs of its completed terminal nodes (no edge out), outside
 * loop iterations, by node id.
 */
Jsonb *
run_terminal_output(Exec *ex)
{
	JsonbParseState *st = NULL;
	int			i;
	int			j;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < ex->nsteps; i++)
	{
		StepRow    *s = &ex->steps[i];

		if (s->iteration != 0 || !run_state_is(s, ST_COMPLETED) || !s->has_data)
			continue;
		for (j = 0; j < ex->nedges; j++)
			if (str_eq(ex->edges[j].source, s->node_id))
				break;
		if (j < ex->nedges)
			continue;
		jb_push_key(&st, s->node_id);
		jb_push(&st, s->output, WJB_VALUE);
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}
