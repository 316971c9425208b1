/*-------------------------------------------------------------------------
 *
 * authz.c
 *	  RBAC for flov7: who is calling, and may they do this?
 *
 * The caller of a request is resolved from two GUCs that frontd sets at
 * the start of each transaction (see frontd/CONTRACT.md), and that a DBA
 * may set by hand:
 *
 *	request.api_key		an API key in clear (flv7_...).  It is hashed with
 *						SHA-256, looked up by hash, compared in constant time,
 *						and must be active, unexpired and owned by an active
 *						user.  Its effective permissions are the key's scopes
 *						intersected with the owner's role permissions.
 *	request.jwt.claims	the payload of a JWT that frontd already verified.
 *						sub, jti and exp are required; jti must not be
 *						revoked, the session (sid) must not be revoked, exp
 *						must not be past (with frontd's 30 s leeway), iat
 *						must not be before the user's tokens_valid_after
 *						(set at deactivation; read through to_jsonb so that
 *						this library also serves a schema not yet updated),
 *						and the user must exist and be active.  Permissions
 *						come from role_permissions.
 *
 * The key wins when both are set.  A third source, for the workflow engine
 * only, is set from C (flov7_authz_act_for): while a step runs, the caller
 * is the workflow's owner with the permissions of the owner's role, whatever
 * the GUCs say.
 *  The answer is computed once per
 * transaction and cached, keyed on the local transaction id and the two
 * GUC values; a statement trigger on the tables it reads resets the cache
 * (flov7.authz_invalidate), as does a subtransaction abort, so a change made
 * earlier in the same transaction (a demotion, a revocation) is honoured.
 *
 * The lookups run as the owner of the called function (the extension
 * owner), as SECURITY DEFINER would, so that the row level security
 * policies, which themselves call flov7.caller_id(), do not recurse.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "flov7.h"

#define API_KEY_PREFIX		"flv7_"
#define API_KEY_MAX_LEN		256
#define ADMIN_PERMISSION	"admin:users"

/* Seconds a token is still accepted past its exp: frontd's leeway (CONTRACT.md). */
#define EXP_LEEWAY_SECS		30

typedef enum CallerStatus
{
	CALLER_ANONYMOUS,			/* no credentials at all */
	CALLER_AUTHENTICATED,		/* a known, active user */
	CALLER_INACTIVE,			/* valid credentials of a deactivated user */
	CALLER_REJECTED				/* bad, expired or revoked credentials */
} CallerStatus;

typedef struct Caller
{
	CallerStatus status;
	const char *reason;			/* errmsg when rejected (static string) */
	const char *detail;			/* errdetail when rejected (static string) */
	pg_uuid_t	user_id;
	bool		is_admin;
	int			npermissions;
	char	  **permissions;	/* effective permissions, in authz_context */
} Caller;

typedef struct CallerCache
{
	bool		valid;
	LocalTransactionId lxid;
	bool		acting;			/* resolved from the engine's identity source */
	pg_uuid_t	acting_user;
	char	   *api_key;		/* GUC values the entry was resolved from */
	char	   *claims;
	Caller		caller;
} CallerCache;

static CallerCache cache;
static MemoryContext authz_context = NULL;
static bool resolving = false;

/*
 * The engine's identity source: while a step runs, the caller is the
 * workflow's owner, set from C by flov7_authz_act_for() (never from SQL, so
 * no claims can be forged), and it wins over request.api_key and
 * request.jwt.claims.  It ends with the step, and with any transaction.
 */
static bool acting = false;
static pg_uuid_t acting_user;

PG_FUNCTION_INFO_V1(flov7_caller_id);
PG_FUNCTION_INFO_V1(flov7_caller_is_admin);
PG_FUNCTION_INFO_V1(flov7_caller_permissions);
PG_FUNCTION_INFO_V1(flov7_caller_status);
PG_FUNCTION_INFO_V1(flov7_authorize);
PG_FUNCTION_INFO_V1(flov7_authz_invalidate);

/* Mark the caller as refused with a 28000 message and detail. */
static void
reject(Caller *c, const char *reason, const char *detail)
{
	c->status = CALLER_REJECTED;
	c->reason = reason;
	c->detail = detail;
}

/* Parse a canonical 8-4-4-4-12 hex UUID; false if it is not one. */
static bool
parse_uuid(const char *s, int len, pg_uuid_t *out)
{
	int			i;
	int			j = 0;

	if (len != 36)
		return false;
	for (i = 0; i < 36; i++)
	{
		char		ch = s[i];
		int			v;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (ch != '-')
				return false;
			continue;
		}
		if (ch >= '0' && ch <= '9')
			v = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v = ch - 'A' + 10;
		else
			return false;
		if (j % 2 == 0)
			out->data[j / 2] = (unsigned char) (v << 4);
		else
			out->data[j / 2] |= (unsigned char) v;
		j++;
	}
	return true;
}

/* Read a string claim holding a UUID; false if absent or malformed. */
static bool
claim_uuid(Jsonb *claims, const char *name, pg_uuid_t *out)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&claims->root, name,
												 strlen(name), NULL);

	return v != NULL && v->type == jbvString &&
		parse_uuid(v->val.string.val, v->val.string.len, out);
}

/* The owner of the function being called: the extension owner. */
static Oid
function_owner(FunctionCallInfo fcinfo)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u",
			 fcinfo->flinfo->fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	return owner;
}

/* Copy a text[] SPI column into the caller's permission list. */
static void
store_permissions(Caller *c, HeapTuple tuple, TupleDesc tupdesc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, tupdesc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	c->npermissions = 0;
	c->permissions = NULL;
	if (isnull)
		return;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	c->permissions = MemoryContextAlloc(authz_context, sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			continue;
		c->permissions[c->npermissions++] =
			MemoryContextStrdup(authz_context, TextDatumGetCString(elems[i]));
	}
}

/* True if the caller's effective permissions include perm. */
static bool
has_permission(const Caller *c, const char *perm)
{
	int			i;

	for (i = 0; i < c->npermissions; i++)
		if (strcmp(c->permissions[i], perm) == 0)
			return true;
	return false;
}

/* Read a boolean SPI column that the query guarantees is not null. */
static bool
spi_bool(HeapTuple tuple, TupleDesc tupdesc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, tupdesc, col, &isnull);

	return !isnull && DatumGetBool(d);
}

/* Resolve a caller from an API key given in clear. */
static void
resolve_api_key(const char *key, Caller *c)
{
	static const char *sql =
		"SELECT k.id, k.key_hash, k.is_active,"
		"       k.expires_at IS NOT NULL AND k.expires_at <= now(),"
		"       u.id, u.is_active, u.role = 'admin',"
		"       ARRAY(SELECT p.permission FROM flov7.role_permissions p"
		"              WHERE p.role = u.role AND p.permission = ANY (k.permissions)"
		"              ORDER BY p.permission)"
		"  FROM flov7.api_keys k JOIN flov7.users u ON u.id = k.user_id"
		" WHERE k.key_hash = $1";
	static const char *touch =
		"UPDATE flov7.api_keys SET last_used_at = now(), usage_count = usage_count + 1"
		" WHERE id = (SELECT id FROM flov7.api_keys WHERE id = $1"
		"              FOR NO KEY UPDATE SKIP LOCKED)";
	char		hash[FLOV7_SHA256_HEX_LEN + 1];
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	bool		isnull;
	char	   *stored;
	Datum		d;
	Datum		key_id;
	int			rc;

	if (strncmp(key, API_KEY_PREFIX, strlen(API_KEY_PREFIX)) != 0 ||
		strlen(key) > API_KEY_MAX_LEN)
	{
		reject(c, "invalid api key", "API keys start with \"flv7_\".");
		return;
	}
	flov7_sha256_hex(key, strlen(key), hash);
	values[0] = CStringGetTextDatum(hash);

	rc = SPI_execute_with_args(sql, 1, argtypes, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "api key lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		reject(c, "invalid api key", "No API key matches the one given.");
		return;
	}
	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;

	d = SPI_getbinval(tuple, tupdesc, 2, &isnull);
	stored = isnull ? "" : TextDatumGetCString(d);
	if (strlen(stored) != FLOV7_SHA256_HEX_LEN ||
		CRYPTO_memcmp(stored, hash, FLOV7_SHA256_HEX_LEN) != 0)
	{
		reject(c, "invalid api key", "No API key matches the one given.");
		return;
	}
	if (!spi_bool(tuple, tupdesc, 3))
	{
		reject(c, "api key has been revoked", "The API key is no longer active.");
		return;
	}
	if (spi_bool(tuple, tupdesc, 4))
	{
		reject(c, "api key has expired", "The API key is past its expires_at.");
		return;
	}

	memcpy(&c->user_id, DatumGetUUIDP(SPI_getbinval(tuple, tupdesc, 5, &isnull)),
		   sizeof(pg_uuid_t));
	if (!spi_bool(tuple, tupdesc, 6))
	{
		c->status = CALLER_INACTIVE;
		return;
	}
	c->status = CALLER_AUTHENTICATED;
	store_permissions(c, tuple, tupdesc, 8);
	c->is_admin = spi_bool(tuple, tupdesc, 7) && has_permission(c, ADMIN_PERMISSION);

	/* Count the use; never wait for a concurrent request using the same key. */
	key_id = SPI_getbinval(tuple, tupdesc, 1, &isnull);
	if (!XactReadOnly)
	{
		Oid			idtype[1] = {UUIDOID};

		rc = SPI_execute_with_args(touch, 1, idtype, &key_id, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "api key usage update failed: %s",
				 SPI_result_code_string(rc));
	}
}

/* Seconds since the Unix epoch, as a double, from the wall clock. */
static double
unix_now(void)
{
	TimestampTz now = GetCurrentTimestamp();

	return (double) now / USECS_PER_SEC +
		(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

/* Resolve a caller from the JSON claims of an already verified JWT. */
static void
resolve_claims(const char *claims, Caller *c)
{
	static const char *sql =
		"SELECT u.is_active, u.role = 'admin',"
		"       EXISTS (SELECT 1 FROM flov7.revoked_tokens r WHERE r.jti = $2),"
		"       $3 IS NOT NULL AND EXISTS (SELECT 1 FROM flov7.refresh_tokens f"
		"                                   WHERE f.family_id = $3"
		"                                     AND f.revoked_at IS NOT NULL),"
		"       ARRAY(SELECT p.permission FROM flov7.role_permissions p"
		"              WHERE p.role = u.role ORDER BY p.permission),"
		"       (SELECT v IS NOT NULL AND ($4 IS NULL OR to_timestamp($4) < date_trunc('second', v))"
		"          FROM (SELECT (to_jsonb(u) ->> 'tokens_valid_after')::timestamptz) t (v))"
		"  FROM flov7.users u WHERE u.id = $1";
	JsonLexContext *lex;
	Jsonb	   *jb;
	JsonbValue *exp;
	JsonbValue *iat;
	pg_uuid_t	sub;
	pg_uuid_t	jti;
	pg_uuid_t	sid;
	bool		has_sid;
	Oid			argtypes[4] = {UUIDOID, UUIDOID, UUIDOID, FLOAT8OID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	int			rc;

	lex = makeJsonLexContextCstringLen((char *) claims, strlen(claims),
									   GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
	{
		reject(c, "invalid token claims", "request.jwt.claims is not valid JSON.");
		return;
	}
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims)));
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
	{
		reject(c, "invalid token claims", "request.jwt.claims is not a JSON object.");
		return;
	}
	if (!claim_uuid(jb, "sub", &sub))
	{
		reject(c, "invalid token claims", "The sub claim must be a user id (UUID).");
		return;
	}
	if (!claim_uuid(jb, "jti", &jti))
	{
		reject(c, "invalid token claims", "The jti claim must be a UUID.");
		return;
	}
	exp = getKeyJsonValueFromContainer(&jb->root, "exp", 3, NULL);
	if (exp == NULL || exp->type != jbvNumeric)
	{
		reject(c, "invalid token claims", "The exp claim must be a number.");
		return;
	}
	if (DatumGetFloat8(DirectFunctionCall1(numeric_float8,
										   NumericGetDatum(exp->val.numeric))) + EXP_LEEWAY_SECS <= unix_now())
	{
		reject(c, "token has expired", "The exp claim is in the past.");
		return;
	}
	has_sid = claim_uuid(jb, "sid", &sid);

	values[0] = UUIDPGetDatum(&sub);
	values[1] = UUIDPGetDatum(&jti);
	values[2] = has_sid ? UUIDPGetDatum(&sid) : (Datum) 0;
	if (!has_sid)
		nulls[2] = 'n';
	iat = getKeyJsonValueFromContainer(&jb->root, "iat", 3, NULL);
	if (iat != NULL && iat->type == jbvNumeric)
		values[3] = DirectFunctionCall1(numeric_float8, NumericGetDatum(iat->val.numeric));
	else
		nulls[3] = 'n';

	rc = SPI_execute_with_args(sql, 4, argtypes, values, nulls, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "token lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		reject(c, "invalid token", "The token's user does not exist.");
		return;
	}
	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;

	if (spi_bool(tuple, tupdesc, 3))
	{
		reject(c, "token has been revoked", "The token was revoked at logout.");
		return;
	}
	if (spi_bool(tuple, tupdesc, 4))
	{
		reject(c, "token has been revoked", "The token's session was revoked.");
		return;
	}
	if (spi_bool(tuple, tupdesc, 6))
	{
		reject(c, "token has been revoked", "The token was issued before the account's sessions were ended.");
		return;
	}
	memcpy(&c->user_id, &sub, sizeof(pg_uuid_t));
	if (!spi_bool(tuple, tupdesc, 1))
	{
		c->status = CALLER_INACTIVE;
		return;
	}
	c->status = CALLER_AUTHENTICATED;
	c->is_admin = spi_bool(tuple, tupdesc, 2);
	store_permissions(c, tuple, tupdesc, 5);
}

/* Resolve the owner a workflow step acts for: the user's role permissions, as by JWT. */
static void
resolve_owner(const pg_uuid_t *user, Caller *c)
{
	static const char *sql =
		"SELECT u.is_active, u.role = 'admin',"
		"       ARRAY(SELECT p.permission FROM flov7.role_permissions p"
		"              WHERE p.role = u.role ORDER BY p.permission)"
		"  FROM flov7.users u WHERE u.id = $1";
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	int			rc;

	values[0] = UUIDPGetDatum(user);
	rc = SPI_execute_with_args(sql, 1, argtypes, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "owner lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		reject(c, "invalid workflow owner", "The workflow's owner does not exist.");
		return;
	}
	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;
	memcpy(&c->user_id, user, sizeof(pg_uuid_t));
	if (!spi_bool(tuple, tupdesc, 1))
	{
		c->status = CALLER_INACTIVE;
		return;
	}
	c->status = CALLER_AUTHENTICATED;
	c->is_admin = spi_bool(tuple, tupdesc, 2);
	store_permissions(c, tuple, tupdesc, 3);
}

/* Return the caller of the current transaction, resolving it if needed. */
static Caller *
current_caller(FunctionCallInfo fcinfo)
{
	const char *key = GetConfigOption("request.api_key", true, false);
	const char *claims = GetConfigOption("request.jwt.claims", true, false);
	Caller		c;
	Oid			save_userid;
	int			save_sec;

	if (key == NULL)
		key = "";
	if (claims == NULL)
		claims = "";

	if (acting)
		key = claims = "";
	if (cache.valid && cache.lxid == MyProc->lxid &&
		cache.acting == acting &&
		(!acting || memcmp(&cache.acting_user, &acting_user, sizeof(pg_uuid_t)) == 0) &&
		strcmp(cache.api_key, key) == 0 && strcmp(cache.claims, claims) == 0)
		return &cache.caller;

	if (resolving)
		elog(ERROR, "flov7: recursive caller resolution");

	cache.valid = false;
	MemoryContextReset(authz_context);
	cache.api_key = MemoryContextStrdup(authz_context, key);
	cache.claims = MemoryContextStrdup(authz_context, claims);
	cache.acting = acting;
	memcpy(&cache.acting_user, &acting_user, sizeof(pg_uuid_t));
	memset(&c, 0, sizeof(c));

	if (!acting && cache.api_key[0] == '\0' && cache.claims[0] == '\0')
		c.status = CALLER_ANONYMOUS;
	else
	{
		int			rc;
		int			guc_level;

		/*
		 * The lookups run as the extension owner, so they must not resolve
		 * names through the caller's search_path: pinned like a SET clause of
		 * a SECURITY DEFINER function, with pg_temp last.
		 */
		GetUserIdAndSecContext(&save_userid, &save_sec);
		guc_level = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
		SetUserIdAndSecContext(function_owner(fcinfo),
							   save_sec | SECURITY_LOCAL_USERID_CHANGE);
		resolving = true;
		PG_TRY();
		{
			if ((rc = SPI_connect()) != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
			if (cache.acting)
				resolve_owner(&cache.acting_user, &c);
			else if (cache.api_key[0] != '\0')
				resolve_api_key(cache.api_key, &c);
			else
				resolve_claims(cache.claims, &c);
			SPI_finish();
		}
		PG_FINALLY();
		{
			resolving = false;
			SetUserIdAndSecContext(save_userid, save_sec);
		}
		PG_END_TRY();
		/* on error, transaction abort restores search_path */
		AtEOXact_GUC(true, guc_level);
	}

	cache.caller = c;
	cache.lxid = MyProc->lxid;
	cache.valid = true;
	return &cache.caller;
}

/* Raise the 28000 error that goes with refused credentials. */
static void
raise_rejected(const Caller *c)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("%s", c->reason),
			 c->detail ? errdetail("%s", c->detail) : 0,
			 errhint("Log in again or use a valid API key.")));
}

/* Raise unless the caller is an authenticated, active user. */
static void
require_authenticated(const Caller *c)
{
	switch (c->status)
	{
		case CALLER_AUTHENTICATED:
			return;
		case CALLER_ANONYMOUS:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("authentication required"),
					 errhint("Send a bearer token or an API key.")));
			break;
		case CALLER_REJECTED:
			raise_rejected(c);
			break;
		case CALLER_INACTIVE:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("account is inactive"),
					 errdetail("The account has been deactivated by an administrator.")));
			break;
	}
}

/* Copy a uuid into a palloc'd Datum for returning. */
static Datum
uuid_datum(const pg_uuid_t *u)
{
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

	memcpy(copy, u, sizeof(pg_uuid_t));
	return UUIDPGetDatum(copy);
}

/* flov7.caller_id(): the calling user's id, NULL when anonymous or inactive. */
Datum
flov7_caller_id(PG_FUNCTION_ARGS)
{
	Caller	   *c = current_caller(fcinfo);

	if (c->status == CALLER_REJECTED)
		raise_rejected(c);
	if (c->status != CALLER_AUTHENTICATED)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(uuid_datum(&c->user_id));
}

/* flov7.caller_is_admin(): true if the caller currently holds admin rights. */
Datum
flov7_caller_is_admin(PG_FUNCTION_ARGS)
{
	Caller	   *c = current_caller(fcinfo);

	if (c->status == CALLER_REJECTED)
		raise_rejected(c);
	PG_RETURN_BOOL(c->status == CALLER_AUTHENTICATED && c->is_admin);
}

/*
 * flov7.caller_status(): what the request GUCs say of the caller, without raising:
 * anonymous, authenticated, inactive or rejected (bad, expired or revoked credentials).
 * frontd re-checks the credentials of its open streams with it.
 */
Datum
flov7_caller_status(PG_FUNCTION_ARGS)
{
	Caller	   *c = current_caller(fcinfo);

	switch (c->status)
	{
		case CALLER_ANONYMOUS:
			PG_RETURN_TEXT_P(cstring_to_text("anonymous"));
		case CALLER_AUTHENTICATED:
			PG_RETURN_TEXT_P(cstring_to_text("authenticated"));
		case CALLER_INACTIVE:
			PG_RETURN_TEXT_P(cstring_to_text("inactive"));
		case CALLER_REJECTED:
			break;
	}
	PG_RETURN_TEXT_P(cstring_to_text("rejected"));
}

/* flov7.caller_permissions(): the caller's effective permissions. */
Datum
flov7_caller_permissions(PG_FUNCTION_ARGS)
{
	Caller	   *c = current_caller(fcinfo);
	Datum	   *elems;
	int			i;

	require_authenticated(c);
	elems = palloc(sizeof(Datum) * Max(c->npermissions, 1));
	for (i = 0; i < c->npermissions; i++)
		elems[i] = CStringGetTextDatum(c->permissions[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, c->npermissions, TEXTOID,
										  -1, false, TYPALIGN_INT));
}

/* flov7.authorize(permission): the caller's id, or 28000 / 42501. */
Datum
flov7_authorize(PG_FUNCTION_ARGS)
{
	Caller	   *c = current_caller(fcinfo);

	require_authenticated(c);
	if (!PG_ARGISNULL(0))
	{
		char	   *perm = text_to_cstring(PG_GETARG_TEXT_PP(0));

		if (!has_permission(c, perm))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied: \"%s\" is required", perm),
					 errdetail("Neither the account's role nor the API key's scopes grant it.")));
	}
	PG_RETURN_DATUM(uuid_datum(&c->user_id));
}

/* Statement trigger on the tables the authorizer reads: drop the cache. */
Datum
flov7_authz_invalidate(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("flov7.authz_invalidate() must be called as a trigger")));
	cache.valid = false;
	return PointerGetDatum(NULL);
}

/* Forget the cached caller when a transaction ends. */
static void
authz_xact_callback(XactEvent event, void *arg)
{
	cache.valid = false;
	acting = false;
}

/* From now on, the caller is this user (a workflow step acting for its owner). */
void
flov7_authz_act_for(const pg_uuid_t *user)
{
	memcpy(&acting_user, user, sizeof(pg_uuid_t));
	acting = true;
	cache.valid = false;
}

/* Back to the request's own credentials. */
void
flov7_authz_act_end(void)
{
	acting = false;
	cache.valid = false;
}

/* Forget the cached caller when a subtransaction rolls back. */
static void
authz_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		cache.valid = false;
}

/* Create the cache's memory context and register the callbacks. */
void
flov7_authz_init(void)
{
	authz_context = AllocSetContextCreate(TopMemoryContext, "flov7 authz",
										  ALLOCSET_SMALL_SIZES);
	RegisterXactCallback(authz_xact_callback, NULL);
	RegisterSubXactCallback(authz_subxact_callback, NULL);
}
