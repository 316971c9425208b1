/*-------------------------------------------------------------------------
 *
 * args.c
 *	  flov7.args(): merge an HTTP request into one JSON argument object.
 *
 * frontd calls every API function as fn(flov7.args(path, query, body)).
 * The result is query || body || path, so a path parameter always wins
 * over a body field of the same name, and a body field over a query
 * parameter.  See frontd/CONTRACT.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "argscan.h"
#include "flov7.h"

PG_FUNCTION_INFO_V1(flov7_args);

/* Raise 22023 unless the jsonb value is an object. */
static void
check_object(Jsonb *jb, const char *what)
{
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", what)));
}

/* Parse a request body into jsonb, raising 22P02 with the parser's detail. */
static Jsonb *
parse_body(text *body)
{
	char	   *s = text_to_cstring(body);
	int			len = strlen(s);
	JsonLexContext *lex;
	JsonParseErrorType rc;

	/* hostile nesting must be bad input (22023), not a stack overflow */
	if (argscan_too_deep(s, len, ARGS_MAX_BODY_DEPTH))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request body is nested too deeply"),
				 errdetail("At most %d levels of arrays and objects are allowed.",
						   ARGS_MAX_BODY_DEPTH)));
	lex = makeJsonLexContextCstringLen(s, len, GetDatabaseEncoding(), true);
	rc = pg_parse_json(lex, &nullSemAction);
	if (rc != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("request body is not valid JSON"),
				 errdetail("%s", json_errdetail(rc, lex))));

	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

/* flov7.args(path jsonb, query jsonb, body text): query || body || path. */
Datum
flov7_args(PG_FUNCTION_ARGS)
{
	Datum		result;

	result = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));

	if (!PG_ARGISNULL(1))
	{
		Jsonb	   *query = PG_GETARG_JSONB_P(1);

		check_object(query, "query parameters");
		result = JsonbPGetDatum(query);
	}

	if (!PG_ARGISNULL(2))
	{
		text	   *body = PG_GETARG_TEXT_PP(2);

		if (!argscan_blank(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body)))
		{
			Jsonb	   *parsed = parse_body(body);

			check_object(parsed, "request body");
			result = DirectFunctionCall2(jsonb_concat, result,
										 JsonbPGetDatum(parsed));
		}
	}

	if (!PG_ARGISNULL(0))
	{
		Jsonb	   *path = PG_GETARG_JSONB_P(0);

		check_object(path, "path parameters");
		result = DirectFunctionCall2(jsonb_concat, result,
									 JsonbPGetDatum(path));
	}

	PG_RETURN_DATUM(result);
}
