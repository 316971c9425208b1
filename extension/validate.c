/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  The validator of workflow definitions: flov7.validate_workflow() and
 *	  flov7.check_workflow().
 *
 * A definition is React-Flow style JSON (see DESIGN.md "Workflow
 * definitions"): {"nodes": [{"id", "type", "data": {"config": {...}}}],
 * "edges": [{"id", "source", "target", "branch"?, "sourceHandle"?}], ...}.
 * The validator lists its problems, each
 *
 *		{"severity": "error"|"warning", "rule": "<rule id>",
 *		 "node": "<node id>"|null, "edge": "<edge id>"|null, "message": "..."}
 *
 * Rules, in the order they are checked:
 *
 *	 not a definition at all (the document is refused, nothing else is checked)
 *		not_an_object		the document is not a JSON object
 *		nodes_not_array		"nodes" is missing or not an array
 *		edges_not_array		"edges" is missing or not an array
 *		too_large			bigger than flov7.max_workflow_bytes (jsonb size)
 *		too_deep			arrays and objects nested deeper than
 *							flov7.max_workflow_depth
 *		too_many_nodes		more nodes than flov7.max_workflow_nodes
 *	 nodes
 *		invalid_node		not an object, or no string "id"
 *		duplicate_node_id	an id used by an earlier node
 *		unknown_type		"type" is not trigger|action|connection|condition|data
 *		missing_config		no "data.config" object
 *		missing_subtype		no string config.<type>_type (data: operation_type)
 *		unknown_subtype		a subtype flov7.primitives does not list (active)
 *		missing_config_field  a field the primitive's config_schema requires
 *		wrong_config_type	a field of the wrong JSON type
 *		invalid_config_value  a value outside the field's "enum"
 *		bad_expression		a template, condition, jsonpath or regex that
 *							does not parse (expr.c)
 *		unknown_node_reference	$.nodes.<id> names no node
 *	 edges
 *		invalid_edge		not an object; no string id, source or target;
 *							a "branch" that is not a string
 *		duplicate_edge_id	an id used by an earlier edge
 *		dangling_edge		source or target names no node
 *	 graph
 *		no_trigger			no node of type trigger
 *		edge_into_trigger	an edge ends at a trigger
 *		cycle				the node named is on a cycle (message: the cycle)
 *		invalid_branch		a branch label the source cannot produce, or a
 *							"branch" out of a node that does not branch
 *		missing_branch		an edge out of a switch, or next to labelled
 *							edges, that names no branch
 *		implicit_branches	(warning) the out-edges of a true/false
 *							condition name no branch: the first edge in
 *							"edges" is "true", the second "false"
 *		unreachable_node	not reachable from any trigger
 *		loop_variable_outside_loop	$.item or $.index in a node outside
 *							every loop's body (a filter's condition has
 *							$.item: the element it tests)
 *
 * Branch labels: an edge names its branch with "branch", else with its
 * "sourceHandle"; the labels a condition produces are its primitive's
 * "branches" (if_else, filter, compare, regex, json_path: true/false; loop:
 * item/done, an unlabelled edge being "item"; switch: the labels of its
 * config.cases and "default").  Out of nodes that do not branch, a
 * sourceHandle is only a React Flow handle id and is not checked.
 *
 * Config values are checked against the primitive's config_schema, a
 * JSON-schema subset: type, properties, required, enum (of scalars), items,
 * and format "condition" | "jsonpath" | "regex".  A string that is exactly
 * one {{ path }} stands for a value of any type (known at run time).  Every
 * other string holding "{{" must be a valid template.
 *
 * Memory: everything lives in a context made per call and deleted before
 * returning; only the result is built in the caller's context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"

#include "expr.h"
#include "validate.h"

int			flov7_max_workflow_nodes = 500;
int			flov7_max_workflow_bytes = 1024 * 1024;
int			flov7_max_workflow_depth = 32;

/* Most nodes named in a cycle's message. */
#define CYCLE_MAX_SHOWN 12

/* The five primitives and the config key holding each one's subtype. */
static const char *const primitive_types[] = {
	"trigger", "action", "connection", "condition", "data"
};
static const char *const subtype_keys[] = {
	"trigger_type", "action_type", "connection_type", "condition_type", "operation_type"
};

#define NTYPES lengthof(primitive_types)
#define TYPE_TRIGGER 0

typedef struct Primitive
{
	int			type;			/* index in primitive_types */
	char	   *subtype;
	Jsonb	   *config_schema;
	bool		branches_null;	/* the node does not branch */
	int			nbranches;
	char	  **branches;
	Datum		cost;			/* numeric */
} Primitive;

typedef struct DefNode
{
	char	   *id;				/* NULL: no usable id */
	bool		in_graph;		/* has an id and is its first holder */
	int			type;			/* index in primitive_types, or -1 */
	Primitive  *prim;			/* NULL when unknown */
	JsonbContainer *config;		/* NULL when missing */
	List	   *node_refs;		/* node ids named by its expressions */
	int			loop_vars;		/* $.item/$.index its expressions use */
	bool		in_loop_body;	/* reached by a loop's "item" edges */
} DefNode;

typedef struct DefEdge
{
	char	   *id;				/* NULL when missing */
	int			src;			/* node index, or -1 */
	int			dst;
	char	   *label;			/* branch, else sourceHandle; or NULL */
	bool		label_is_branch;
} DefEdge;

typedef struct IdEntry
{
	const char *id;
	int			index;
} IdEntry;

typedef struct Check
{
	Primitive  *prims;
	int			nprims;
	DefNode	   *nodes;
	int			nnodes;
	DefEdge	   *edges;
	int			nedges;
	IdEntry    *node_index;		/* graph nodes sorted by id */
	int			nindex;
	StringInfoData problems;	/* JSON array elements, comma separated */
	int			nproblems;
	int			nerrors;
	bool		not_definition;
	Datum		cost;			/* numeric */
} Check;

PG_FUNCTION_INFO_V1(flov7_validate_workflow);
PG_FUNCTION_INFO_V1(flov7_check_workflow);

/* Define the limits as superuser settings. */
void
flov7_validate_init(void)
{
	DefineCustomIntVariable("flov7.max_workflow_nodes",
							"Most nodes in a workflow definition.",
							NULL, &flov7_max_workflow_nodes, 500, 1, 100000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("flov7.max_workflow_bytes",
							"Largest workflow definition, as stored (jsonb).",
							NULL, &flov7_max_workflow_bytes, 1024 * 1024, 1024,
							64 * 1024 * 1024, PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("flov7.max_workflow_depth",
							"Deepest nesting of arrays and objects in a workflow definition.",
							NULL, &flov7_max_workflow_depth, 32, 4, 512,
							PGC_SUSET, 0, NULL, NULL, NULL);
}

static void problem(Check *c, bool error, const char *rule, const char *node,
					const char *edge, const char *fmt,...) pg_attribute_printf(6, 7);

/* Record a problem; node and edge may be NULL. */
static void
problem(Check *c, bool error, const char *rule, const char *node,
		const char *edge, const char *fmt,...)
{
	StringInfoData msg;
	StringInfo	out = &c->problems;

	initStringInfo(&msg);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&msg, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}

	if (c->nproblems++ > 0)
		appendStringInfoString(out, ", ");
	appendStringInfo(out, "{\"severity\": \"%s\", \"rule\": \"%s\", \"node\": ",
					 error ? "error" : "warning", rule);
	if (node)
		escape_json(out, node);
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ", \"edge\": ");
	if (edge)
		escape_json(out, edge);
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ", \"message\": ");
	escape_json(out, msg.data);
	appendStringInfoChar(out, '}');
	if (error)
		c->nerrors++;
	pfree(msg.data);
}

/* A key of an object container, or NULL. */
static JsonbValue *
get_key(JsonbContainer *obj, const char *key)
{
	if (obj == NULL || !JsonContainerIsObject(obj))
		return NULL;
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

/* The container of a value if it is an object (or array), else NULL. */
static JsonbContainer *
as_container(JsonbValue *v, bool want_object)
{
	if (v == NULL || v->type != jbvBinary)
		return NULL;
	if (want_object ? !JsonContainerIsObject(v->val.binary.data)
		: !JsonContainerIsArray(v->val.binary.data))
		return NULL;
	return v->val.binary.data;
}

/* A string value as a C string, or NULL if not a string. */
static char *
as_string(JsonbValue *v)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The JSON-schema type name of a value. */
static const char *
json_type(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvBool:
			return "boolean";
		case jbvNumeric:
			return "number";
		case jbvString:
			return "string";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "array" : "object";
		default:
			return "unknown";
	}
}

/* True if the value matches one JSON-schema type name. */
static bool
type_matches(JsonbValue *v, const char *type, int len)
{
	const char *actual = json_type(v);

	if ((int) strlen(actual) == len && strncmp(actual, type, len) == 0)
		return true;
	if (len == 7 && strncmp(type, "integer", 7) == 0 && v->type == jbvNumeric)
	{
		Datum		num = NumericGetDatum(v->val.numeric);
		Datum		whole = DirectFunctionCall2(numeric_trunc, num, Int32GetDatum(0));

		return DatumGetBool(DirectFunctionCall2(numeric_eq, num, whole));
	}
	return false;
}

/* True if two scalar JSON values are equal. */
static bool
scalar_equal(JsonbValue *a, JsonbValue *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case jbvNull:
			return true;
		case jbvBool:
			return a->val.boolean == b->val.boolean;
		case jbvString:
			return a->val.string.len == b->val.string.len &&
				memcmp(a->val.string.val, b->val.string.val, a->val.string.len) == 0;
		case jbvNumeric:
			return DatumGetBool(DirectFunctionCall2(numeric_eq,
													NumericGetDatum(a->val.numeric),
													NumericGetDatum(b->val.numeric)));
		default:
			return false;
	}
}

/*
 * Parse a jsonpath under a subtransaction; NULL if it parses, else the
 * parser's message.  Errors other than syntax or data errors are re-thrown.
 */
static char *
jsonpath_error(const char *s)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *volatile result = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		(void) DirectFunctionCall1(jsonpath_in, CStringGetDatum(s));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION &&
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			ReThrowError(edata);
		result = pstrdup(edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return result;
}

/* Compile a regular expression (ARE, as ~ does); NULL if valid, else why not. */
static char *
regex_error(const char *s)
{
	int			len = strlen(s);
	pg_wchar   *wide = palloc((len + 1) * sizeof(pg_wchar));
	int			wlen = pg_mb2wchar_with_len(s, wide, len);
	regex_t		re;
	int			rc;

	rc = pg_regcomp(&re, wide, wlen, REG_ADVANCED, DEFAULT_COLLATION_OID);
	pfree(wide);
	if (rc != REG_OKAY)
	{
		char		buf[128];

		pg_regerror(rc, &re, buf, sizeof(buf));
		return pstrdup(buf);
	}
	pg_regfree(&re);
	return NULL;
}

/*
 * Check a string that carries no declared format: if it holds "{{" it must
 * be a template.  Returns true if it is exactly one {{ path }}.
 */
static bool
check_template(Check *c, DefNode *n, const char *s, int len, StringInfo path)
{
	List	   *parts;
	char	   *error;

	if (!flov7_has_template(s, len))
		return false;
	if (!flov7_compile_template(s, len, &parts, &n->node_refs, &n->loop_vars, &error))
	{
		problem(c, true, "bad_expression", n->id, NULL, "%s: %s", path->data, error);
		return false;
	}
	return list_length(parts) == 1 && ((TemplatePart *) linitial(parts))->is_path;
}

/* Check a string against a declared format (condition, jsonpath, regex). */
static void
check_format(Check *c, DefNode *n, const char *format, const char *s, int len,
			 StringInfo path)
{
	char	   *error = NULL;

	if (strcmp(format, "condition") == 0)
	{
		StringInfoData out;

		initStringInfo(&out);
		if (!flov7_compile_condition(s, len, &out, &n->node_refs, &n->loop_vars, &error))
			problem(c, true, "bad_expression", n->id, NULL,
					"%s is not a valid condition: %s", path->data, error);
	}
	else if (strcmp(format, "jsonpath") == 0)
	{
		if ((error = jsonpath_error(s)) != NULL)
			problem(c, true, "bad_expression", n->id, NULL,
					"%s is not a valid jsonpath: %s", path->data, error);
	}
	else if (strcmp(format, "regex") == 0)
	{
		if ((error = regex_error(s)) != NULL)
			problem(c, true, "bad_expression", n->id, NULL,
					"%s is not a valid regular expression: %s", path->data, error);
	}
}

/* Describe the "type" of a schema for a message: "a string", "a string or array". */
static char *
describe_type(JsonbValue *type)
{
	StringInfoData buf;
	JsonbContainer *arr;
	int			i;
	int			n;

	if (type->type == jbvString)
		return psprintf("%s %.*s",
						(type->val.string.len > 0 &&
						 strchr("aeiou", type->val.string.val[0])) ? "an" : "a",
						type->val.string.len, type->val.string.val);
	initStringInfo(&buf);
	arr = as_container(type, false);
	n = arr ? JsonContainerSize(arr) : 0;
	for (i = 0; i < n; i++)
	{
		JsonbValue *t = getIthJsonbValueFromContainer(arr, i);

		if (t->type != jbvString)
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, i == n - 1 ? " or " : ", ");
		appendBinaryStringInfo(&buf, t->val.string.val, t->val.string.len);
	}
	return buf.data;
}

/*
 * Check one value against a schema (NULL: no schema, only expressions are
 * checked).  path names the value in messages ("config.to").
 */
static void
check_value(Check *c, DefNode *n, JsonbValue *v, JsonbContainer *schema,
			StringInfo path, int depth)
{
	JsonbValue *type = get_key(schema, "type");
	JsonbValue *format = get_key(schema, "format");
	bool		any_type = false;
	JsonbContainer *obj;
	JsonbContainer *arr;
	int			saved = path->len;

	check_stack_depth();

	/* Strings: a declared format, or templates. */
	if (v->type == jbvString)
	{
		char	   *fmt = as_string(format);

		if (fmt != NULL)
		{
			char	   *s = pnstrdup(v->val.string.val, v->val.string.len);

			check_format(c, n, fmt, s, v->val.string.len, path);
		}
		else
			any_type = check_template(c, n, v->val.string.val, v->val.string.len, path);
	}

	/* The type. */
	if (type != NULL && !any_type)
	{
		bool		ok = false;

		if (type->type == jbvString)
			ok = type_matches(v, type->val.string.val, type->val.string.len);
		else if ((arr = as_container(type, false)) != NULL)
		{
			int			i;

			for (i = 0; i < (int) JsonContainerSize(arr) && !ok; i++)
			{
				JsonbValue *t = getIthJsonbValueFromContainer(arr, i);

				ok = t->type == jbvString &&
					type_matches(v, t->val.string.val, t->val.string.len);
			}
		}
		if (!ok)
		{
			problem(c, true, "wrong_config_type", n->id, NULL,
					"%s must be %s, not %s", path->data, describe_type(type), json_type(v));
			return;
		}
	}

	/* An enum of scalars. */
	if (!any_type && (arr = as_container(get_key(schema, "enum"), false)) != NULL &&
		v->type != jbvBinary)
	{
		bool		found = false;
		int			i;

		for (i = 0; i < (int) JsonContainerSize(arr) && !found; i++)
			found = scalar_equal(v, getIthJsonbValueFromContainer(arr, i));
		if (!found)
		{
			StringInfoData allowed;

			initStringInfo(&allowed);
			for (i = 0; i < (int) JsonContainerSize(arr); i++)
			{
				JsonbValue *e = getIthJsonbValueFromContainer(arr, i);

				if (i > 0)
					appendStringInfoString(&allowed, ", ");
				if (e->type == jbvString)
					appendBinaryStringInfo(&allowed, e->val.string.val, e->val.string.len);
				else
					appendStringInfoString(&allowed, json_type(e));
			}
			problem(c, true, "invalid_config_value", n->id, NULL,
					"%s must be one of: %s", path->data, allowed.data);
		}
	}

	/* Objects: required fields, then every field. */
	if ((obj = as_container(v, true)) != NULL)
	{
		JsonbContainer *props = as_container(get_key(schema, "properties"), true);
		JsonbContainer *req = as_container(get_key(schema, "required"), false);
		JsonbIterator *it;
		JsonbValue	key;
		JsonbValue	val;
		JsonbIteratorToken tok;
		int			i;

		if (req != NULL)
		{
			for (i = 0; i < (int) JsonContainerSize(req); i++)
			{
				JsonbValue *r = getIthJsonbValueFromContainer(req, i);

				if (r->type == jbvString &&
					getKeyJsonValueFromContainer(obj, r->val.string.val,
												 r->val.string.len, NULL) == NULL)
				{
					char	   *name = pnstrdup(r->val.string.val, r->val.string.len);

					if (depth == 0)
						problem(c, true, "missing_config_field", n->id, NULL,
								"%s.%s is required by %s/%s", path->data, name,
								primitive_types[n->type], n->prim->subtype);
					else
						problem(c, true, "missing_config_field", n->id, NULL,
								"%s.%s is required", path->data, name);
				}
			}
		}

		it = JsonbIteratorInit(obj);
		while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
		{
			JsonbValue *sub;

			if (tok != WJB_KEY)
				continue;
			tok = JsonbIteratorNext(&it, &val, true);
			Assert(tok == WJB_VALUE);
			appendStringInfoChar(path, '.');
			appendBinaryStringInfo(path, key.val.string.val, key.val.string.len);
			sub = props ? getKeyJsonValueFromContainer(props, key.val.string.val,
													   key.val.string.len, NULL) : NULL;
			check_value(c, n, &val, as_container(sub, true), path, depth + 1);
			path->len = saved;
			path->data[saved] = '\0';
		}
	}
	else if ((arr = as_container(v, false)) != NULL)
	{
		JsonbContainer *items = as_container(get_key(schema, "items"), true);
		int			i;

		for (i = 0; i < (int) JsonContainerSize(arr); i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(arr, i);

			appendStringInfo(path, "[%d]", i);
			check_value(c, n, e, items, path, depth + 1);
			path->len = saved;
			path->data[saved] = '\0';
		}
	}
}

/* Read the active primitives from flov7.primitives, into CurrentMemoryContext. */
static void
load_primitives(Check *c)
{
	static const char *sql =
		"SELECT p.type, p.subtype, p.config_schema, p.branches, p.cost_usd"
		"  FROM flov7.primitives p WHERE p.is_active";
	MemoryContext cxt = CurrentMemoryContext;
	int			guc_level;
	int			rc;
	uint64		i;

	/* Resolve no name through the caller's search_path (pg_temp last). */
	guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
	rc = SPI_execute(sql, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading flov7.primitives failed: %s", SPI_result_code_string(rc));

	MemoryContextSwitchTo(cxt);
	c->nprims = 0;
	c->prims = palloc0(sizeof(Primitive) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Primitive  *p = &c->prims[c->nprims];
		char	   *type = SPI_getvalue(tup, desc, 1);
		bool		isnull;
		Datum		d;
		int			t;

		p->type = -1;
		for (t = 0; t < NTYPES; t++)
			if (strcmp(type, primitive_types[t]) == 0)
				p->type = t;
		if (p->type < 0)
			continue;
		p->subtype = SPI_getvalue(tup, desc, 2);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		p->config_schema = isnull ? NULL : DatumGetJsonbPCopy(d);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		p->branches_null = isnull;
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			k;

			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &p->nbranches);
			p->branches = palloc(sizeof(char *) * Max(p->nbranches, 1));
			for (k = 0; k < p->nbranches; k++)
				p->branches[k] = nulls[k] ? "" : TextDatumGetCString(elems[k]);
		}
		d = SPI_getbinval(tup, desc, 5, &isnull);
		p->cost = isnull ? (Datum) 0 : PointerGetDatum(DatumGetNumericCopy(d));
		c->nprims++;
	}
	SPI_finish();
	MemoryContextSwitchTo(cxt);
	AtEOXact_GUC(true, guc_level);
}

/* The active primitive of a type and subtype, or NULL. */
static Primitive *
find_primitive(Check *c, int type, const char *subtype)
{
	int			i;

	for (i = 0; i < c->nprims; i++)
		if (c->prims[i].type == type && strcmp(c->prims[i].subtype, subtype) == 0)
			return &c->prims[i];
	return NULL;
}

/* The known subtypes of a type, for a message. */
static char *
known_subtypes(Check *c, int type)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < c->nprims; i++)
		if (c->prims[i].type == type)
		{
			if (buf.len > 0)
				appendStringInfoString(&buf, ", ");
			appendStringInfoString(&buf, c->prims[i].subtype);
		}
	return buf.data;
}

/* Order IdEntry by id, then by position. */
static int
id_cmp(const void *a, const void *b)
{
	const IdEntry *x = a;
	const IdEntry *y = b;
	int			r = strcmp(x->id, y->id);

	if (r != 0)
		return r;
	return x->index - y->index;
}

/* Index of the graph node with this id, or -1 (binary search of node_index). */
static int
lookup_node(Check *c, const char *id)
{
	int			lo = 0;
	int			hi = c->nindex - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			r = strcmp(id, c->node_index[mid].id);

		if (r == 0)
			return c->node_index[mid].index;
		if (r < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

/* The structural checks: is this a definition at all? */
static void
check_document(Check *c, Jsonb *def, JsonbContainer **nodes, JsonbContainer **edges)
{
	JsonbContainer *root = &def->root;
	JsonbValue *v;

	*nodes = *edges = NULL;
	if (!JB_ROOT_IS_OBJECT(def) || JB_ROOT_IS_SCALAR(def))
	{
		problem(c, true, "not_an_object", NULL, NULL,
				"a workflow definition is a JSON object with \"nodes\" and \"edges\" arrays");
		c->not_definition = true;
		return;
	}
	v = get_key(root, "nodes");
	if ((*nodes = as_container(v, false)) == NULL)
		problem(c, true, "nodes_not_array", NULL, NULL, "\"nodes\" must be an array, not %s",
				v ? json_type(v) : "missing");
	v = get_key(root, "edges");
	if ((*edges = as_container(v, false)) == NULL)
		problem(c, true, "edges_not_array", NULL, NULL, "\"edges\" must be an array, not %s",
				v ? json_type(v) : "missing");

	if ((int64) VARSIZE(def) > flov7_max_workflow_bytes)
		problem(c, true, "too_large", NULL, NULL,
				"the definition takes %d bytes; at most %d are allowed (flov7.max_workflow_bytes)",
				(int) VARSIZE(def), flov7_max_workflow_bytes);
	else
	{
		JsonbIterator *it = JsonbIteratorInit(root);
		JsonbValue	jv;
		JsonbIteratorToken tok;
		int			depth = 0;
		int			deepest = 0;

		while ((tok = JsonbIteratorNext(&it, &jv, false)) != WJB_DONE)
		{
			if (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT)
			{
				depth++;
				deepest = Max(deepest, depth);
			}
			else if (tok == WJB_END_ARRAY || tok == WJB_END_OBJECT)
				depth--;
		}
		if (deepest > flov7_max_workflow_depth)
			problem(c, true, "too_deep", NULL, NULL,
					"arrays and objects are nested %d deep; at most %d levels are allowed (flov7.max_workflow_depth)",
					deepest, flov7_max_workflow_depth);
	}
	if (*nodes != NULL && (int) JsonContainerSize(*nodes) > flov7_max_workflow_nodes)
		problem(c, true, "too_many_nodes", NULL, NULL,
				"the definition has %d nodes; at most %d are allowed (flov7.max_workflow_nodes)",
				(int) JsonContainerSize(*nodes), flov7_max_workflow_nodes);
	c->not_definition = c->nproblems > 0;
}

/* Read the nodes: ids, duplicates, types, subtypes, config. */
static void
check_nodes(Check *c, JsonbContainer *nodes)
{
	int			i;
	int			k;

	c->nnodes = JsonContainerSize(nodes);
	c->nodes = palloc0(sizeof(DefNode) * Max(c->nnodes, 1));
	c->node_index = palloc(sizeof(IdEntry) * Max(c->nnodes, 1));

	/* ids, and which holder of an id is in the graph */
	for (i = 0; i < c->nnodes; i++)
	{
		JsonbValue *jv = getIthJsonbValueFromContainer(nodes, i);
		JsonbContainer *obj = as_container(jv, true);
		DefNode	   *n = &c->nodes[i];

		n->type = -1;
		if (obj == NULL)
		{
			problem(c, true, "invalid_node", NULL, NULL, "nodes[%d] must be an object, not %s",
					i, json_type(jv));
			continue;
		}
		n->id = as_string(get_key(obj, "id"));
		if (n->id == NULL || n->id[0] == '\0')
		{
			n->id = NULL;
			problem(c, true, "invalid_node", NULL, NULL, "nodes[%d] has no \"id\" string", i);
			continue;
		}
		c->node_index[c->nindex].id = n->id;
		c->node_index[c->nindex].index = i;
		c->nindex++;
	}
	qsort(c->node_index, c->nindex, sizeof(IdEntry), id_cmp);
	for (i = 0, k = 0; i < c->nindex; i++)
	{
		if (k > 0 && strcmp(c->node_index[k - 1].id, c->node_index[i].id) == 0)
			continue;			/* a later holder of the id: reported below */
		c->node_index[k++] = c->node_index[i];
	}
	c->nindex = k;
	for (i = 0; i < c->nindex; i++)
		c->nodes[c->node_index[i].index].in_graph = true;

	for (i = 0; i < c->nnodes; i++)
	{
		JsonbContainer *obj = as_container(getIthJsonbValueFromContainer(nodes, i), true);
		DefNode	   *n = &c->nodes[i];
		JsonbValue *jv;
		char	   *type;
		char	   *subtype;
		int			t;

		if (n->id == NULL)
			continue;
		if (!n->in_graph)
		{
			problem(c, true, "duplicate_node_id", n->id, NULL,
					"nodes[%d] uses the id \"%s\" of an earlier node", i, n->id);
			continue;
		}

		jv = get_key(obj, "type");
		type = as_string(jv);
		for (t = 0; type != NULL && t < NTYPES; t++)
			if (strcmp(type, primitive_types[t]) == 0)
				n->type = t;
		if (n->type < 0)
		{
			if (type != NULL)
				problem(c, true, "unknown_type", n->id, NULL,
						"node \"%s\" has unknown type \"%s\" (use trigger, action, connection, condition or data)",
						n->id, type);
			else
				problem(c, true, "unknown_type", n->id, NULL,
						"node \"%s\" has no \"type\" string (use trigger, action, connection, condition or data)",
						n->id);
			continue;
		}

		n->config = as_container(get_key(as_container(get_key(obj, "data"), true), "config"), true);
		if (n->config == NULL)
		{
			problem(c, true, "missing_config", n->id, NULL,
					"node \"%s\" has no \"data.config\" object", n->id);
			continue;
		}
		jv = get_key(n->config, subtype_keys[n->type]);
		subtype = as_string(jv);
		if (subtype == NULL)
		{
			problem(c, true, "missing_subtype", n->id, NULL,
					"node \"%s\" has no config.%s string (one of: %s)", n->id,
					subtype_keys[n->type], known_subtypes(c, n->type));
			continue;
		}
		n->prim = find_primitive(c, n->type, subtype);
		if (n->prim == NULL)
		{
			problem(c, true, "unknown_subtype", n->id, NULL,
					"node \"%s\" has unknown %s \"%s\" (one of: %s)", n->id,
					subtype_keys[n->type], subtype, known_subtypes(c, n->type));
			continue;
		}
		if (n->prim->cost != (Datum) 0)
			c->cost = DirectFunctionCall2(numeric_add, c->cost, n->prim->cost);
	}

	/* config against the schema, expressions, and what they reference */
	for (i = 0; i < c->nnodes; i++)
	{
		DefNode	   *n = &c->nodes[i];
		JsonbValue	cfg;
		StringInfoData path;
		ListCell   *lc;

		if (n->prim == NULL)
			continue;
		cfg.type = jbvBinary;
		cfg.val.binary.data = n->config;
		cfg.val.binary.len = 0;
		initStringInfo(&path);
		appendStringInfoString(&path, "config");
		check_value(c, n, &cfg,
					n->prim->config_schema ? &n->prim->config_schema->root : NULL,
					&path, 0);
		foreach(lc, n->node_refs)
		{
			char	   *ref = lfirst(lc);

			if (lookup_node(c, ref) < 0)
				problem(c, true, "unknown_node_reference", n->id, NULL,
						"node \"%s\" refers to $.nodes.%s, which is not a node", n->id, ref);
		}
	}
}

/* Read the edges: ids, duplicates, ends, labels. */
static void
check_edges(Check *c, JsonbContainer *edges)
{
	IdEntry    *ids;
	int			nids = 0;
	int			i;

	c->nedges = JsonContainerSize(edges);
	c->edges = palloc0(sizeof(DefEdge) * Max(c->nedges, 1));
	ids = palloc(sizeof(IdEntry) * Max(c->nedges, 1));

	for (i = 0; i < c->nedges; i++)
	{
		JsonbValue *jv = getIthJsonbValueFromContainer(edges, i);
		JsonbContainer *obj = as_container(jv, true);
		DefEdge	   *e = &c->edges[i];
		char	   *source;
		char	   *target;
		JsonbValue *branch;

		e->src = e->dst = -1;
		if (obj == NULL)
		{
			problem(c, true, "invalid_edge", NULL, NULL, "edges[%d] must be an object, not %s",
					i, json_type(jv));
			continue;
		}
		e->id = as_string(get_key(obj, "id"));
		if (e->id != NULL && e->id[0] == '\0')
			e->id = NULL;
		if (e->id == NULL)
			problem(c, true, "invalid_edge", NULL, NULL, "edges[%d] has no \"id\" string", i);
		else
		{
			ids[nids].id = e->id;
			ids[nids].index = i;
			nids++;
		}

		source = as_string(get_key(obj, "source"));
		target = as_string(get_key(obj, "target"));
		if (source == NULL || target == NULL)
		{
			problem(c, true, "invalid_edge", NULL, e->id,
					"edges[%d] needs \"source\" and \"target\" node ids", i);
			continue;
		}
		e->src = lookup_node(c, source);
		e->dst = lookup_node(c, target);
		if (e->src < 0)
			problem(c, true, "dangling_edge", NULL, e->id,
					"edges[%d] starts at \"%s\", which is not a node", i, source);
		if (e->dst < 0)
			problem(c, true, "dangling_edge", NULL, e->id,
					"edges[%d] ends at \"%s\", which is not a node", i, target);

		branch = get_key(obj, "branch");
		if (branch != NULL && branch->type != jbvNull)
		{
			if ((e->label = as_string(branch)) == NULL)
				problem(c, true, "invalid_edge", NULL, e->id, "edges[%d]: \"branch\" must be a string", i);
			e->label_is_branch = true;
		}
		else
			e->label = as_string(get_key(obj, "sourceHandle"));
	}

	qsort(ids, nids, sizeof(IdEntry), id_cmp);
	for (i = 1; i < nids; i++)
		if (strcmp(ids[i - 1].id, ids[i].id) == 0)
			problem(c, true, "duplicate_edge_id", NULL, ids[i].id,
					"edges[%d] uses the id \"%s\" of an earlier edge", ids[i].index, ids[i].id);
}

/* True if the label is one of the node's branches (switch: its cases too). */
static bool
label_allowed(DefNode *n, const char *label)
{
	int			i;

	for (i = 0; i < n->prim->nbranches; i++)
		if (strcmp(n->prim->branches[i], label) == 0)
			return true;
	if (strcmp(n->prim->subtype, "switch") == 0)
	{
		JsonbContainer *cases = as_container(get_key(n->config, "cases"), false);

		for (i = 0; cases != NULL && i < (int) JsonContainerSize(cases); i++)
		{
			char	   *l = as_string(get_key(as_container(getIthJsonbValueFromContainer(cases, i), true),
											  "label"));

			if (l != NULL && strcmp(l, label) == 0)
				return true;
		}
	}
	return false;
}

/* The labels a node produces, for a message. */
static char *
describe_labels(DefNode *n)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	if (strcmp(n->prim->subtype, "switch") == 0)
		appendStringInfoString(&buf, "one of its config.cases labels or ");
	for (i = 0; i < n->prim->nbranches; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, i == n->prim->nbranches - 1 ? " or " : ", ");
		appendStringInfo(&buf, "\"%s\"", n->prim->branches[i]);
	}
	return buf.data;
}

/* True if the node's branches are exactly true and false. */
static bool
is_two_way(DefNode *n)
{
	return n->prim->nbranches == 2 &&
		((strcmp(n->prim->branches[0], "true") == 0 && strcmp(n->prim->branches[1], "false") == 0) ||
		 (strcmp(n->prim->branches[0], "false") == 0 && strcmp(n->prim->branches[1], "true") == 0));
}

/* Branch labels on the edges leaving each node. */
static void
check_branches(Check *c)
{
	int			i;
	int			j;

	for (i = 0; i < c->nnodes; i++)
	{
		DefNode	   *n = &c->nodes[i];
		bool		branches = n->prim != NULL && !n->prim->branches_null;
		int			labelled = 0;
		int			unlabelled = 0;
		int			first = -1;
		int			second = -1;

		if (!n->in_graph)
			continue;
		for (j = 0; j < c->nedges; j++)
		{
			DefEdge	   *e = &c->edges[j];

			if (e->src != i)
				continue;
			if (!branches)
			{
				if (e->label_is_branch && e->label != NULL && n->prim != NULL)
					problem(c, true, "invalid_branch", n->id, e->id,
							"edge \"%s\" names branch \"%s\", but %s/%s node \"%s\" does not branch",
							e->id ? e->id : "?", e->label, primitive_types[n->type],
							n->prim->subtype, n->id);
				continue;
			}
			if (e->label == NULL)
			{
				unlabelled++;
				if (first < 0)
					first = j;
				else if (second < 0)
					second = j;
				continue;
			}
			labelled++;
			if (!label_allowed(n, e->label))
				problem(c, true, "invalid_branch", n->id, e->id,
						"edge \"%s\" leaves %s node \"%s\" by branch \"%s\"; it produces %s",
						e->id ? e->id : "?", n->prim->subtype, n->id, e->label, describe_labels(n));
		}
		if (!branches || unlabelled == 0)
			continue;

		if (strcmp(n->prim->subtype, "loop") == 0)
			continue;			/* an unlabelled edge out of a loop is its body: "item" */
		if (labelled == 0 && is_two_way(n))
		{
			/* By position: the first edge in "edges" is true, the second false. */
			if (second >= 0)
				problem(c, false, "implicit_branches", n->id, NULL,
						"the edges out of %s node \"%s\" name no branch: \"%s\" is taken as \"true\" and \"%s\" as \"false\" (their order in \"edges\")",
						n->prim->subtype, n->id,
						c->edges[first].id ? c->edges[first].id : "?",
						c->edges[second].id ? c->edges[second].id : "?");
			else
				problem(c, false, "implicit_branches", n->id, NULL,
						"the edge \"%s\" out of %s node \"%s\" names no branch and is taken as \"true\"",
						c->edges[first].id ? c->edges[first].id : "?", n->prim->subtype, n->id);
			if (unlabelled <= 2)
				continue;
		}
		for (j = 0; j < c->nedges; j++)
		{
			DefEdge	   *e = &c->edges[j];

			if (e->src != i || e->label != NULL)
				continue;
			if (labelled == 0 && is_two_way(n) && (j == first || j == second))
				continue;
			problem(c, true, "missing_branch", n->id, e->id,
					"edge \"%s\" out of %s node \"%s\" names no branch (set \"branch\" or \"sourceHandle\" to %s)",
					e->id ? e->id : "?", n->prim->subtype, n->id, describe_labels(n));
		}
	}
}

/* Graph rules: triggers, edges into triggers, cycles, reachability. */
static void
check_graph(Check *c)
{
	int		   *out_start = palloc0(sizeof(int) * (c->nnodes + 1));
	int		   *out_edges = palloc(sizeof(int) * Max(c->nedges, 1));
	int		   *fill = palloc0(sizeof(int) * Max(c->nnodes, 1));
	char	   *color = palloc0(Max(c->nnodes, 1));
	int		   *stack = palloc(sizeof(int) * Max(c->nnodes, 1));
	int		   *stack_at = palloc(sizeof(int) * Max(c->nnodes, 1));
	int		   *next = palloc0(sizeof(int) * Max(c->nnodes, 1));
	bool	   *on_cycle = palloc0(sizeof(bool) * Max(c->nnodes, 1));
	bool		any_trigger = false;
	int			i;
	int			j;

	/* adjacency, in the order of "edges" */
	for (j = 0; j < c->nedges; j++)
		if (c->edges[j].src >= 0 && c->edges[j].dst >= 0)
			out_start[c->edges[j].src + 1]++;
	for (i = 0; i < c->nnodes; i++)
		out_start[i + 1] += out_start[i];
	for (j = 0; j < c->nedges; j++)
		if (c->edges[j].src >= 0 && c->edges[j].dst >= 0)
		{
			int			s = c->edges[j].src;

			out_edges[out_start[s] + fill[s]++] = j;
		}

	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i].in_graph && c->nodes[i].type == TYPE_TRIGGER)
			any_trigger = true;
	if (!any_trigger)
		problem(c, true, "no_trigger", NULL, NULL,
				"the workflow has no trigger node; every workflow starts at a trigger");

	for (j = 0; j < c->nedges; j++)
	{
		DefEdge	   *e = &c->edges[j];

		if (e->src >= 0 && e->dst >= 0 && c->nodes[e->dst].type == TYPE_TRIGGER)
			problem(c, true, "edge_into_trigger", c->nodes[e->dst].id, e->id,
					"edge \"%s\" ends at trigger \"%s\"; a trigger starts a workflow and has no inputs",
					e->id ? e->id : "?", c->nodes[e->dst].id);
	}

	/* cycles: iterative depth-first search; a back edge closes one */
	for (i = 0; i < c->nnodes; i++)
	{
		int			depth = 0;

		if (!c->nodes[i].in_graph || color[i] != 0)
			continue;
		stack[depth] = i;
		stack_at[i] = depth++;
		color[i] = 1;
		while (depth > 0)
		{
			int			u = stack[depth - 1];

			CHECK_FOR_INTERRUPTS();
			if (out_start[u] + next[u] < out_start[u + 1])
			{
				DefEdge	   *e = &c->edges[out_edges[out_start[u] + next[u]++]];
				int			v = e->dst;

				if (color[v] == 0)
				{
					color[v] = 1;
					stack_at[v] = depth;
					stack[depth++] = v;
				}
				else if (color[v] == 1 && !on_cycle[v])
				{
					StringInfoData cyc;
					int			k;

					on_cycle[v] = true;
					initStringInfo(&cyc);
					for (k = stack_at[v]; k < depth; k++)
					{
						if (k - stack_at[v] == CYCLE_MAX_SHOWN)
						{
							appendStringInfoString(&cyc, "... -> ");
							break;
						}
						appendStringInfo(&cyc, "%s -> ", c->nodes[stack[k]].id);
					}
					appendStringInfoString(&cyc, c->nodes[v].id);
					problem(c, true, "cycle", c->nodes[v].id, e->id,
							"node \"%s\" is on a cycle: %s", c->nodes[v].id, cyc.data);
				}
			}
			else
			{
				color[u] = 2;
				depth--;
			}
		}
	}

	/* reachability from the triggers */
	if (any_trigger)
	{
		int			head = 0;
		int			tail = 0;

		memset(color, 0, c->nnodes);
		for (i = 0; i < c->nnodes; i++)
			if (c->nodes[i].in_graph && c->nodes[i].type == TYPE_TRIGGER)
			{
				color[i] = 1;
				stack[tail++] = i;
			}
		while (head < tail)
		{
			int			u = stack[head++];

			for (j = out_start[u]; j < out_start[u + 1]; j++)
			{
				int			v = c->edges[out_edges[j]].dst;

				if (!color[v])
				{
					color[v] = 1;
					stack[tail++] = v;
				}
			}
		}
		for (i = 0; i < c->nnodes; i++)
			if (c->nodes[i].in_graph && !color[i])
				problem(c, true, "unreachable_node", c->nodes[i].id, NULL,
						"node \"%s\" cannot be reached from any trigger", c->nodes[i].id);
	}
}

/* True if the node is a prim of that subtype (any type when type is NULL). */
static bool
node_is(DefNode *n, const char *type, const char *subtype)
{
	return n->prim != NULL && n->type >= 0 &&
		(type == NULL || strcmp(primitive_types[n->type], type) == 0) &&
		strcmp(n->prim->subtype, subtype) == 0;
}

/*
 * Mark the bodies of loops as flov7.loop_body() computes them: the nodes
 * reached from a loop's "item" edges (an unlabelled edge is one) without
 * going back through the loop, less those reached from its "done" edges.
 */
static void
mark_loop_bodies(Check *c)
{
	char	   *mark = palloc(Max(c->nnodes, 1));
	int		   *queue = palloc(sizeof(int) * Max(c->nnodes, 1));
	int			l;

	for (l = 0; l < c->nnodes; l++)
	{
		int			pass;
		int			k;

		if (!c->nodes[l].in_graph || !node_is(&c->nodes[l], "condition", "loop"))
			continue;
		memset(mark, 0, Max(c->nnodes, 1));
		/* pass 0: the "done" side (mark 2); pass 1: the body (mark 1) */
		for (pass = 0; pass < 2; pass++)
		{
			int			head = 0;
			int			tail = 0;
			char		m = pass == 0 ? 2 : 1;
			int			j;

			for (j = 0; j < c->nedges; j++)
			{
				DefEdge    *e = &c->edges[j];
				bool		done = e->label != NULL && strcmp(e->label, "done") == 0;
				bool		item = e->label == NULL || strcmp(e->label, "item") == 0;

				if (e->src != l || e->dst < 0 || (pass == 0 ? !done : !item))
					continue;
				if (pass == 1 && mark[e->dst] != 0)
					continue;
				if (mark[e->dst] == m)
					continue;
				mark[e->dst] = m;
				queue[tail++] = e->dst;
			}
			while (head < tail)
			{
				int			n = queue[head++];

				for (j = 0; j < c->nedges; j++)
				{
					DefEdge    *e = &c->edges[j];

					if (e->src != n || e->dst < 0 || (pass == 1 && e->dst == l))
						continue;
					if (mark[e->dst] == m || (pass == 1 && mark[e->dst] != 0))
						continue;
					mark[e->dst] = m;
					queue[tail++] = e->dst;
				}
			}
		}
		for (k = 0; k < c->nnodes; k++)
			if (mark[k] == 1)
				c->nodes[k].in_loop_body = true;
	}
	pfree(mark);
	pfree(queue);
}

/* $.item and $.index only where a step has them: in a loop's body. */
static void
check_loop_vars(Check *c)
{
	int			i;

	mark_loop_bodies(c);
	for (i = 0; i < c->nnodes; i++)
	{
		DefNode    *n = &c->nodes[i];
		int			used = n->loop_vars;

		if (used == 0 || n->in_loop_body || n->id == NULL)
			continue;
		if (node_is(n, NULL, "filter"))
			used &= ~FLOV7_EXPR_ITEM;
		if (used == 0)
			continue;
		problem(c, true, "loop_variable_outside_loop", n->id, NULL,
				"node \"%s\" uses %s outside a loop's body (only the nodes reached by a loop's \"item\" edges have $.item and $.index)",
				n->id, (used & FLOV7_EXPR_ITEM) ? "$.item" : "$.index");
	}
}

/* Run every rule on a definition. */
static void
run_check(Check *c, Jsonb *def)
{
	JsonbContainer *nodes;
	JsonbContainer *edges;

	initStringInfo(&c->problems);
	c->cost = DirectFunctionCall3(numeric_in, CStringGetDatum("0"),
								  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	check_document(c, def, &nodes, &edges);
	if (c->not_definition)
		return;
	load_primitives(c);
	check_nodes(c, nodes);
	check_edges(c, edges);
	check_branches(c);
	check_graph(c);
	check_loop_vars(c);
}

/* The problems as a JSON array, in the caller's memory context. */
static Datum
problems_datum(Check *c, MemoryContext caller)
{
	char	   *json = psprintf("[%s]", c->problems.data);

	MemoryContextSwitchTo(caller);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/* flov7.validate_workflow(definition jsonb) RETURNS jsonb: the problems. */
Datum
flov7_validate_workflow(PG_FUNCTION_ARGS)
{
	Jsonb	   *def = PG_GETARG_JSONB_P(0);
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(caller, "flov7 validate",
											  ALLOCSET_DEFAULT_SIZES);
	Check		c;
	Datum		result;

	MemoryContextSwitchTo(cxt);
	memset(&c, 0, sizeof(c));
	run_check(&c, def);
	result = problems_datum(&c, caller);
	MemoryContextDelete(cxt);
	PG_RETURN_DATUM(result);
}

/*
 * flov7.check_workflow(definition jsonb) RETURNS jsonb:
 * {"valid", "is_definition", "problems", "primitives_count", "estimated_cost"}.
 */
Datum
flov7_check_workflow(PG_FUNCTION_ARGS)
{
	Jsonb	   *def = PG_GETARG_JSONB_P(0);
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(caller, "flov7 validate",
											  ALLOCSET_DEFAULT_SIZES);
	Check		c;
	char	   *json;
	Datum		result;

	MemoryContextSwitchTo(cxt);
	memset(&c, 0, sizeof(c));
	run_check(&c, def);
	json = psprintf("{\"valid\": %s, \"is_definition\": %s, \"problems\": [%s],"
					" \"primitives_count\": %d, \"estimated_cost\": %s}",
					c.nerrors == 0 ? "true" : "false",
					c.not_definition ? "false" : "true",
					c.problems.data, c.not_definition ? 0 : c.nnodes,
					DatumGetCString(DirectFunctionCall1(numeric_out, c.cost)));
	MemoryContextSwitchTo(caller);
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	MemoryContextDelete(cxt);
	PG_RETURN_DATUM(result);
}
