/*-------------------------------------------------------------------------
 *
 * jsonbutil.c
 *	  Reading and building jsonb values in C, as the runner needs them:
 *	  what ->> gives, members, and pushing values into a value being built.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "runstate.h"

/* The text of a JSON value as ->> gives it (NULL for JSON null or none). */
char *
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
JsonbValue *
jc_member(JsonbContainer *c, const char *key)
{
	if (c == NULL || !JsonContainerIsObject(c))
		return NULL;
	return getKeyJsonValueFromContainer(c, key, strlen(key), NULL);
}

/* The container of a member holding an object or array, or NULL. */
JsonbContainer *
jc_child(JsonbContainer *c, const char *key)
{
	JsonbValue *v = jc_member(c, key);

	return (v != NULL && v->type == jbvBinary) ? v->val.binary.data : NULL;
}

/* Push a Jsonb (NULL: JSON null) as a value into a building object or array. */
void
jb_push(JsonbParseState **st, Jsonb *j, JsonbIteratorToken tok)
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
void
jb_push_key(JsonbParseState **st, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
}

/* A Jsonb from C text. */
Jsonb *
jb_from_cstring(const char *s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

/* A uuid as a JSON string value. */
void
jb_push_uuid(JsonbParseState **st, const pg_uuid_t *u)
{
	JsonbValue	v;
	char	   *s = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(u)));

	v.type = jbvString;
	v.val.string.val = s;
	v.val.string.len = strlen(s);
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* An int (or null) as a JSON value. */
void
jb_push_int(JsonbParseState **st, int n, bool isnull)
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
