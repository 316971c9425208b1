/*-------------------------------------------------------------------------
 *
 * steps.c
 *	  Run one workflow step: its own subtransaction, the owner's identity,
 *	  a time limit, and the node itself.
 *
 * The subtransaction follows exec_stmt_block() in pl_exec.c: memory context
 * and resource owner saved and restored, the error copied into the step's
 * context, then flushed, then the subtransaction rolled back, so a failing
 * step undoes only itself.  Inside it the step acts for the workflow's
 * owner: SetUserIdAndSecContext() to the owner's API role (RLS and grants
 * apply as to an HTTP call by the owner) and the authorizer's identity
 * source (authz.c), under a GUC nest level so that nothing a step sets
 * survives it.  statement_timeout is not armed for SPI, so the step arms
 * STATEMENT_TIMEOUT itself, and gives back any outer deadline after.
 *
 * Most nodes run in SQL (flov7.node_run); db_query and custom run here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "parser/parse_param.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "engine.h"
#include "flov7.h"
#include "runstate.h"

/* Parameters of a db_query statement, typed by their use (as PREPARE does). */
typedef struct QueryParams
{
	Oid		   *types;
	int			n;
} QueryParams;

/* A member of a jsonb object, or NULL. */
static JsonbValue *
member(Jsonb *jb, const char *key)
{
	return jb ? jc_member(&jb->root, key) : NULL;
}

/* A member holding an object or array, as a Jsonb, or NULL. */
static Jsonb *
member_jsonb(Jsonb *jb, const char *key)
{
	JsonbValue *v = member(jb, key);

	return v ? JsonbValueToJsonb(v) : NULL;
}

/* A string member as a C string, or NULL. */
static char *
member_string(Jsonb *jb, const char *key)
{
	JsonbValue *v = member(jb, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A numeric member as an int (clamped), or def. */
static int
member_int(Jsonb *jb, const char *key, int def)
{
	JsonbValue *v = member(jb, key);
	float8		f;

	if (v == NULL || v->type != jbvNumeric)
		return def;
	f = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
										   NumericGetDatum(v->val.numeric)));
	if (f < 0)
		return 0;
	if (f > INT_MAX)
		return INT_MAX;
	return (int) f;
}

/* A boolean member, or def. */
static bool
member_bool(Jsonb *jb, const char *key, bool def)
{
	JsonbValue *v = member(jb, key);

	if (v == NULL || v->type != jbvBool)
		return def;
	return v->val.boolean;
}

/* The node's config ({} if none). */
static Jsonb *
node_config(Jsonb *node)
{
	Jsonb	   *data = member_jsonb(node, "data");
	Jsonb	   *config = member_jsonb(data, "config");

	if (config == NULL || !JB_ROOT_IS_OBJECT(config))
		config = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	return config;
}

/* The node's subtype: config.<type>_type (data: config.operation_type). */
static char *
node_subtype(const char *type, Jsonb *config)
{
	char		key[64];

	if (strcmp(type, "data") == 0)
		return member_string(config, "operation_type");
	snprintf(key, sizeof(key), "%s_type", type);
	return member_string(config, key);
}

static SPIPlanPtr plan_eval = NULL;
static SPIPlanPtr plan_node_run = NULL;

/* Run one SQL statement (a saved plan) returning one jsonb: the value, or NULL. */
static Jsonb *
spi_jsonb_call(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	bool		isnull;
	Datum		d;
	int			rc;

	rc = flov7_plan_execute(slot, sql, nargs, types, values, nulls, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "flov7: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : DatumGetJsonbP(d);
}

/* Whether a string value anywhere in a JSON value holds a "{{" template. */
static bool
has_template(Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
		if ((tok == WJB_VALUE || tok == WJB_ELEM) && v.type == jbvString &&
			v.val.string.len >= 2 && memmem(v.val.string.val, v.val.string.len, "{{", 2) != NULL)
			return true;
	return false;
}

/*
 * Evaluate the templates of a config against the context (keys in skip kept
 * as they are).  Without any, flov7.eval_templates() would give the config
 * back as it is: no call, which is most steps'.
 */
static Jsonb *
eval_config(Jsonb *config, Jsonb *ctx, const char *skip)
{
	Oid			types[3] = {JSONBOID, JSONBOID, TEXTARRAYOID};
	Datum		values[3];
	Datum		skipd = CStringGetTextDatum(skip ? skip : "");
	Jsonb	   *out;

	if (!has_template(config))
		return config;
	values[0] = JsonbPGetDatum(config);
	values[1] = JsonbPGetDatum(ctx);
	values[2] = PointerGetDatum(construct_array(&skipd, skip ? 1 : 0, TEXTOID, -1, false, TYPALIGN_INT));
	out = spi_jsonb_call(&plan_eval, "SELECT flov7.eval_templates($1, $2, $3)", 3, types, values, NULL);
	return out ? out : config;
}

/* Parser setup hook of a db_query: parameters take the types their use gives them. */
static void
query_parser_setup(struct ParseState *pstate, void *arg)
{
	QueryParams *qp = (QueryParams *) arg;

	setup_parse_variable_parameters(pstate, &qp->types, &qp->n);
}

/* The text of a JSON parameter value: strings bare, null as NULL, others as JSON. */
static char *
param_text(JsonbValue *v, bool *isnull)
{
	*isnull = false;
	switch (v->type)
	{
		case jbvNull:
			*isnull = true;
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return JsonbToCString(NULL, &JsonbValueToJsonb(v)->root, 0);
	}
}

/*
 * action/db_query: one statement as the owner, parameters $1.. from
 * config.params, read only unless config.read_only is false, at most
 * max_rows rows.  Output {"rows": [...], "row_count": n}.
 */
static Jsonb *
run_db_query(Jsonb *config)
{
	char	   *query = member_string(config, "query");
	JsonbValue *params = member(config, "params");
	Jsonb	   *paramsjb = params ? JsonbValueToJsonb(params) : NULL;
	bool		read_only = member_bool(config, "read_only", true);
	int			max_rows = Min(member_int(config, "max_rows", flov7_db_query_max_rows),
							   flov7_db_query_max_rows);
	QueryParams qp = {NULL, 0};
	SPIPlanPtr	plan;
	List	   *raw;
	int			nparams = 0;
	ParamListInfo paramli;
	int			rc;
	int			i;
	StringInfoData out;
	uint64		nrows;

	if (query == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("db_query needs config.query, a SQL statement")));
	raw = raw_parser(query, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("db_query runs exactly one statement, config.query has %d", list_length(raw)),
				 errhint("Pass values as parameters $1, $2... in config.params, never in the text.")));
	if (paramsjb != NULL && !JB_ROOT_IS_ARRAY(paramsjb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("db_query config.params must be an array")));
	if (paramsjb != NULL)
		nparams = JB_ROOT_COUNT(paramsjb);
	if (max_rows < 1)
		max_rows = 1;

	if (read_only)
		(void) set_config_option("transaction_read_only", "on", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);

	/*
	 * Parse with variable parameters (as PREPARE without types does): each
	 * $n takes the type its use gives it, so "LIMIT $1" takes a number.
	 */
	qp.n = nparams;
	qp.types = palloc0(sizeof(Oid) * Max(nparams, 1));
	plan = SPI_prepare_params(query, query_parser_setup, &qp, 0);
	if (plan == NULL)
		elog(ERROR, "flov7: db_query prepare failed: %s", SPI_result_code_string(SPI_result));
	if (qp.n > nparams)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("db_query uses $%d but config.params has %d value(s)", qp.n, nparams)));

	paramli = makeParamList(nparams);
	for (i = 0; i < nparams; i++)
	{
		ParamExternData *prm = &paramli->params[i];
		JsonbValue *v = getIthJsonbValueFromContainer(&paramsjb->root, i);
		bool		isnull;
		char	   *txt = param_text(v, &isnull);
		Oid			typ = qp.types[i];
		Oid			typinput;
		Oid			typioparam;

		prm->pflags = PARAM_FLAG_CONST;
		prm->ptype = OidIsValid(typ) ? typ : UNKNOWNOID;
		prm->isnull = isnull;
		prm->value = (Datum) 0;
		if (isnull || !OidIsValid(typ))
		{
			prm->isnull = true;
			continue;
		}
		getTypeInputInfo(typ, &typinput, &typioparam);
		prm->value = OidInputFunctionCall(typinput, txt, typioparam, -1);
	}

	rc = SPI_execute_plan_with_paramlist(plan, paramli, false, read_only ? max_rows + 1 : 0);
	if (rc < 0)
		elog(ERROR, "flov7: db_query failed: %s", SPI_result_code_string(rc));
	nrows = SPI_processed;
	if (SPI_tuptable != NULL && nrows > (uint64) max_rows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("db_query returned more than %d rows (max_rows)", max_rows),
				 errhint("Add a LIMIT, or raise config.max_rows up to flov7.db_query_max_rows.")));

	initStringInfo(&out);
	appendStringInfoString(&out, "{\"rows\": [");
	if (SPI_tuptable != NULL)
	{
		TupleDesc	desc = BlessTupleDesc(SPI_tuptable->tupdesc);
		uint64		r;

		for (r = 0; r < nrows; r++)
		{
			Datum		row = heap_copy_tuple_as_datum(SPI_tuptable->vals[r], desc);
			text	   *js = DatumGetTextPP(DirectFunctionCall1(row_to_json, row));

			if (r > 0)
				appendStringInfoString(&out, ", ");
			appendBinaryStringInfo(&out, VARDATA_ANY(js), VARSIZE_ANY_EXHDR(js));
		}
	}
	appendStringInfo(&out, "], \"row_count\": " UINT64_FORMAT "}", nrows);
	SPI_freeplan(plan);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/*
 * action/custom: a function (jsonb) RETURNS jsonb that an admin put on
 * flov7.custom_functions, called as the owner with config.args (or the
 * data flowing in).  Output: what it returns.
 */
static Jsonb *
run_custom(Jsonb *config, Jsonb *ctx)
{
	char	   *name = member_string(config, "function");
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	Oid			fn;
	Oid		   *argtypes;
	int			nargs;
	Oid			rettype;
	bool		isnull;
	Jsonb	   *arg;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;
	int			rc;

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("custom needs config.function, the name of an allowed function")));
	values[0] = CStringGetTextDatum(name);
	rc = SPI_execute_with_args("SELECT function::oid FROM flov7.custom_functions WHERE name = $1",
							   1, types, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "flov7: custom function lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("custom function \"%s\" is not on the allow-list", name),
				 errhint("An admin adds it to flov7.custom_functions.")));
	fn = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	rettype = get_func_signature(fn, &argtypes, &nargs);
	if (rettype != JSONBOID || nargs != 1 || argtypes[0] != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("custom function \"%s\" must take one jsonb and return jsonb", name)));
	if (pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for custom function \"%s\"", name),
				 errdetail("The workflow's owner may not execute %s.", format_procedure(fn))));

	arg = member_jsonb(config, "args");
	if (arg == NULL)
		arg = member_jsonb(ctx, "data");
	if (arg == NULL)
		arg = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("null")));

	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(arg);
	fcinfo->args[0].isnull = false;
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("null")));
	return DatumGetJsonbP(result);
}

/* Wrap a node's output as {"output": ...}. */
static Jsonb *
as_output(Jsonb *output)
{
	JsonbParseState *state = NULL;
	JsonbValue	key;
	JsonbValue	val;

	key.type = jbvString;
	key.val.string.val = "output";
	key.val.string.len = 6;
	val.type = jbvBinary;
	val.val.binary.data = &output->root;
	val.val.binary.len = VARSIZE(output) - VARHDRSZ;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	pushJsonbValue(&state, WJB_KEY, &key);
	if (JB_ROOT_IS_SCALAR(output))
	{
		JsonbValue	scalar;

		(void) JsonbExtractScalar(&output->root, &scalar);
		pushJsonbValue(&state, WJB_VALUE, &scalar);
	}
	else
		pushJsonbValue(&state, WJB_VALUE, &val);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* Run the node itself (inside the subtransaction, as the owner). */
static Jsonb *
run_node(ClaimedStep *step)
{
	char	   *type = member_string(step->node, "type");
	Jsonb	   *config = node_config(step->node);
	char	   *subtype = node_subtype(type ? type : "", config);
	Oid			types[5] = {TEXTOID, TEXTOID, JSONBOID, JSONBOID, BOOLOID};
	Datum		values[5];
	Jsonb	   *result;

	if (type == NULL || subtype == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("node \"%s\" has no type or subtype", step->node_id)));

	if (strcmp(type, "action") == 0 && strcmp(subtype, "db_query") == 0)
		return as_output(run_db_query(eval_config(config, step->ctx, "query")));
	if (strcmp(type, "action") == 0 && strcmp(subtype, "custom") == 0)
		return as_output(run_custom(eval_config(config, step->ctx, NULL), step->ctx));

	values[0] = CStringGetTextDatum(type);
	values[1] = CStringGetTextDatum(subtype);
	values[2] = JsonbPGetDatum(type && strcmp(type, "trigger") == 0 ? config
							   : eval_config(config, step->ctx, NULL));
	values[3] = JsonbPGetDatum(step->ctx);
	values[4] = BoolGetDatum(step->resumed);
	result = spi_jsonb_call(&plan_node_run, "SELECT flov7.node_run($1, $2, $3, $4, $5)", 5, types, values, NULL);
	if (result == NULL)
		elog(ERROR, "flov7: node_run returned NULL");
	return result;
}

/* The step's time limit: config.timeout_ms, else flov7.step_timeout_ms; 0 for none. */
static int
step_timeout(ClaimedStep *step)
{
	return member_int(node_config(step->node), "timeout_ms", flov7_step_timeout_ms);
}

/* See engine.h. */
bool
flov7_step_execute(ClaimedStep *step, MemoryContext outcxt, Jsonb **result, char **error)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Oid			role = get_role_oid(step->owner_role, false);
	Oid			save_userid;
	int			save_sec;
	int			timeout_ms = step_timeout(step);
	bool		had_outer = get_timeout_active(STATEMENT_TIMEOUT);
	TimestampTz outer_fin = had_outer ? get_timeout_finish_time(STATEMENT_TIMEOUT) : 0;
	volatile TimestampTz our_fin = 0;
	volatile bool armed = false;
	bool		ok = true;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		int			guc_level = NewGUCNestLevel();
		Jsonb	   *res;

		(void) set_config_option("search_path", "public, pg_temp", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		flov7_authz_act_for(&step->user_id);
		SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		if (timeout_ms > 0)
		{
			our_fin = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
			if (!had_outer || our_fin < outer_fin)
			{
				enable_timeout_at(STATEMENT_TIMEOUT, our_fin);
				armed = true;
			}
		}

		res = run_node(step);
		if (VARSIZE(res) > (Size) flov7_max_step_output_bytes)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("step output of %zu bytes is over flov7.max_step_output_bytes (%d)",
							(Size) VARSIZE(res), flov7_max_step_output_bytes),
					 errhint("Return less data from the node, e.g. a LIMIT or fewer fields.")));
		*result = (Jsonb *) MemoryContextAlloc(outcxt, VARSIZE(res));
		memcpy(*result, res, VARSIZE(res));

		if (armed)
		{
			if (had_outer)
				enable_timeout_at(STATEMENT_TIMEOUT, outer_fin);
			else
				disable_timeout(STATEMENT_TIMEOUT, false);
			armed = false;
		}
		SetUserIdAndSecContext(save_userid, save_sec);
		flov7_authz_act_end();
		/* false: even a plain SET of the step is undone, nothing leaks to the next owner */
		AtEOXact_GUC(false, guc_level);

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		if (armed)
		{
			if (had_outer)
				enable_timeout_at(STATEMENT_TIMEOUT, outer_fin);
			else
				disable_timeout(STATEMENT_TIMEOUT, false);
		}
		MemoryContextSwitchTo(outcxt);
		edata = CopyErrorData();
		FlushErrorState();

		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		SetUserIdAndSecContext(save_userid, save_sec);
		flov7_authz_act_end();

		/* A cancel that is not the step's own time limit stops the whole run. */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		{
			if (!armed || GetCurrentTimestamp() < our_fin)
				ReThrowError(edata);
			*error = MemoryContextStrdup(outcxt, psprintf("step timed out after %d ms (timeout_ms)", timeout_ms));
		}
		else if (edata->detail)
			*error = MemoryContextStrdup(outcxt, psprintf("%s (%s)", edata->message, edata->detail));
		else
			*error = MemoryContextStrdup(outcxt, edata->message);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}
