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
 *
 * Two caches.  Within a transaction, the answer is computed once, keyed on
 * the local transaction id and the two GUC values; a statement trigger on
 * the tables it reads resets it (flov7.authz_invalidate), as does a
 * subtransaction abort, so a change made earlier in the same transaction (a
 * demotion, a revocation) is honoured.  Across transactions, authz_cache.c
 * keeps what the lookups found per credential, valid while a generation
 * counter in shared memory is unchanged (those triggers move it after
 * commit); the token's exp and the key's expires_at are compared with the
 * clock on every request, and each use of a key is still counted.
 *
 * The lookups are saved plans (SPI_prepare + SPI_keepplan, as ri_triggers.c
 * keeps its queries), parsed once per backend on schema-qualified SQL under
 * a pinned search_path; the plan cache revalidates them after DDL, also when
 * the extension is dropped and created again.  They run as the owner of the
 * called function (the extension owner), as SECURITY DEFINER would, so that
 * the row level security policies, which themselves call flov7.caller_id(),
 * do not recurse.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "authz.h"
#include "flov7.h"

#define API_KEY_PREFIX		"flv7_"
#define API_KEY_MAX_LEN		256
#define ADMIN_PERMISSION	"admin:users"

/* Seconds a token is still accepted past its exp: frontd's leeway (CONTRACT.md). */
#define EXP_LEEWAY_SECS		30

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

/* One credential being resolved: its source, and how its rows are read. */
typedef struct Lookup
{
	AuthzCredKind kind;
	const char *credential;		/* the key, the claims, or NULL (owner) */
	const pg_uuid_t *owner;		/* AUTHZ_CRED_OWNER */
	char		key_hash[FLOV7_SHA256_HEX_LEN + 1]; /* AUTHZ_CRED_API_KEY */
	bool		fresh_snapshot; /* read the rows in a snapshot taken now */
	Resolution *res;			/* out: what the rows say */
	Caller	   *caller;			/* out: the caller, clock applied */
} Lookup;

static CallerCache cache;
static MemoryContext authz_context = NULL;
static bool resolving = false;
static bool counting_use = false;	/* the authorizer's own api_keys update */

/*
 * The lookups, planned once per backend (SPI_keepplan).  The SQL names every
 * table with its schema; functions and operators come from pg_catalog, the
 * only schema on the search_path pinned while they are planned and run.
 */
static SPIPlanPtr api_key_plan = NULL;
static SPIPlanPtr key_use_plan = NULL;
static SPIPlanPtr claims_plan = NULL;
static SPIPlanPtr owner_plan = NULL;

static const char *const api_key_sql =
"SELECT k.id, k.key_hash, k.is_active, k.expires_at,"
"       u.id, u.is_active, u.role = 'admin',"
"       ARRAY(SELECT p.permission FROM flov7.role_permissions p"
"              WHERE p.role = u.role AND p.permission = ANY (k.permissions)"
"              ORDER BY p.permission)"
"  FROM flov7.api_keys k JOIN flov7.users u ON u.id = k.user_id"
" WHERE k.key_hash = $1";
static const char *const key_use_sql =
"UPDATE flov7.api_keys SET last_used_at = now(), usage_count = usage_count + 1"
" WHERE id = (SELECT id FROM flov7.api_keys WHERE id = $1"
"              FOR NO KEY UPDATE SKIP LOCKED)";
static const char *const claims_sql =
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
static const char *const owner_sql =
"SELECT u.is_active, u.role = 'admin',"
"       ARRAY(SELECT p.permission FROM flov7.role_permissions p"
"              WHERE p.role = u.role ORDER BY p.permission)"
"  FROM flov7.users u WHERE u.id = $1";

/* The tables those lookups read: DDL on any of them drops the cross-transaction cache. */
static const char *const lookup_tables[] = {
	"users", "api_keys", "revoked_tokens", "refresh_tokens", "role_permissions"
};

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

/*
 * Run a saved read-only lookup for at most one row: in a snapshot taken now
 * when its result may be cached (after the generation was read), else in
 * the statement's snapshot, as any function would.
 */
static void
run_lookup(SPIPlanPtr plan, Datum *values, const char *nulls, bool fresh,
		   const char *what)
{
	int			rc;

	if (fresh)
		rc = SPI_execute_snapshot(plan, values, nulls, GetLatestSnapshot(),
								  InvalidSnapshot, true, true, 1);
	else
		rc = SPI_execute_plan(plan, values, nulls, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "%s lookup failed: %s", what, SPI_result_code_string(rc));
}

/* Copy a text[] SPI column into the resolution's permission list. */
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

/* Resolve a caller from an API key given in clear (its hash in lk->key_hash). */
static void
resolve_api_key(Lookup *lk)
{
	Resolution *r = lk->res;
	Caller	   *c = &r->caller;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	bool		isnull;
	char	   *stored;
	Datum		d;

	values[0] = CStringGetTextDatum(lk->key_hash);
	run_lookup(flov7_plan_prepare(&api_key_plan, api_key_sql, 1, argtypes),
			   values, NULL, lk->fresh_snapshot, "api key");
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
		CRYPTO_memcmp(stored, lk->key_hash, FLOV7_SHA256_HEX_LEN) != 0)
	{
		reject(c, "invalid api key", "No API key matches the one given.");
		return;
	}
	/* From here on, what the rows say holds until one of them changes. */
	r->cacheable = true;
	memcpy(&r->key_id, DatumGetUUIDP(SPI_getbinval(tuple, tupdesc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	if (!spi_bool(tuple, tupdesc, 3))
	{
		reject(c, "api key has been revoked", "The API key is no longer active.");
		return;
	}
	d = SPI_getbinval(tuple, tupdesc, 4, &isnull);
	if (!isnull)
	{
		r->has_key_expiry = true;
		r->key_expires_at = DatumGetTimestampTz(d);
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
	r->has_key_id = true;
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
resolve_claims(Lookup *lk)
{
	Resolution *r = lk->res;
	Caller	   *c = &r->caller;
	const char *claims = lk->credential;
	JsonLexContext *lex;
	Jsonb	   *jb;
	JsonbValue *exp;
	JsonbValue *iat;
	pg_uuid_t	sub;
	pg_uuid_t	jti;
	pg_uuid_t	sid;
	bool		has_sid;
	double		exp_secs;
	Oid			argtypes[4] = {UUIDOID, UUIDOID, UUIDOID, FLOAT8OID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	HeapTuple	tuple;
	TupleDesc	tupdesc;

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
	exp_secs = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
												  NumericGetDatum(exp->val.numeric)));
	if (exp_secs + EXP_LEEWAY_SECS <= unix_now())
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

	run_lookup(flov7_plan_prepare(&claims_plan, claims_sql, 4, argtypes),
			   values, nulls, lk->fresh_snapshot, "token");
	if (SPI_processed == 0)
	{
		reject(c, "invalid token", "The token's user does not exist.");
		return;
	}
	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;

	/* From here on, what the rows say holds until one of them changes. */
	r->cacheable = true;
	r->has_exp = true;
	r->exp = exp_secs;
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
resolve_owner(Lookup *lk)
{
	Resolution *r = lk->res;
	Caller	   *c = &r->caller;
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	HeapTuple	tuple;
	TupleDesc	tupdesc;

	values[0] = UUIDPGetDatum(lk->owner);
	run_lookup(flov7_plan_prepare(&owner_plan, owner_sql, 1, argtypes),
			   values, NULL, lk->fresh_snapshot, "owner");
	if (SPI_processed == 0)
	{
		reject(c, "invalid workflow owner", "The workflow's owner does not exist.");
		return;
	}
	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;
	r->cacheable = true;
	memcpy(&c->user_id, lk->owner, sizeof(pg_uuid_t));
	if (!spi_bool(tuple, tupdesc, 1))
	{
		c->status = CALLER_INACTIVE;
		return;
	}
	c->status = CALLER_AUTHENTICATED;
	c->is_admin = spi_bool(tuple, tupdesc, 2);
	store_permissions(c, tuple, tupdesc, 3);
}

/* Count one use of an API key; never wait for a concurrent request using the same key. */
static void
count_key_use(const pg_uuid_t *key_id)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	int			rc;

	values[0] = UUIDPGetDatum(key_id);
	counting_use = true;
	PG_TRY();
	{
		rc = SPI_execute_plan(flov7_plan_prepare(&key_use_plan, key_use_sql, 1, argtypes),
							  values, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "api key usage update failed: %s", SPI_result_code_string(rc));
	}
	PG_FINALLY();
	{
		counting_use = false;
	}
	PG_END_TRY();
}

/* A key whose use is counted: an authenticated caller, outside a read-only transaction. */
static bool
needs_key_use(const Resolution *r, const Caller *c)
{
	return r->has_key_id && c->status == CALLER_AUTHENTICATED && !XactReadOnly;
}

/*
 * The caller a resolution gives now: its permissions copied into the
 * transaction's context, then the clock applied exactly as the lookups
 * order it (an expired token is refused whatever its rows say; a revoked
 * key stays "revoked" even when also past its expires_at).
 */
static void
apply_clock(const Resolution *r, Caller *c)
{
	int			i;

	*c = r->caller;
	if (r->caller.npermissions > 0)
	{
		c->permissions = MemoryContextAlloc(authz_context,
											sizeof(char *) * r->caller.npermissions);
		for (i = 0; i < r->caller.npermissions; i++)
			c->permissions[i] = MemoryContextStrdup(authz_context, r->caller.permissions[i]);
	}
	if (r->has_exp && r->exp + EXP_LEEWAY_SECS <= unix_now())
		reject(c, "token has expired", "The exp claim is in the past.");
	else if (r->has_key_expiry && c->status != CALLER_REJECTED &&
			 r->key_expires_at <= GetCurrentTransactionStartTimestamp())
		reject(c, "api key has expired", "The API key is past its expires_at.");
}

/* Remember the OIDs of the tables the lookups read, for the cache's DDL check. */
static void
track_lookup_tables(void)
{
	Oid			relids[lengthof(lookup_tables)];
	Oid			nsp = get_namespace_oid("flov7", true);
	int			i;

	if (!OidIsValid(nsp))
		return;
	for (i = 0; i < lengthof(lookup_tables); i++)
	{
		relids[i] = get_relname_relid(lookup_tables[i], nsp);
		if (!OidIsValid(relids[i]))
			return;
	}
	flov7_authz_cache_track(relids, lengthof(lookup_tables));
}

/* Resolve a credential in the lookup environment, then apply the clock and count a key's use. */
static void
lookup_credential(Lookup *lk)
{
	switch (lk->kind)
	{
		case AUTHZ_CRED_OWNER:
			resolve_owner(lk);
			break;
		case AUTHZ_CRED_API_KEY:
			resolve_api_key(lk);
			break;
		case AUTHZ_CRED_CLAIMS:
			resolve_claims(lk);
			break;
	}
	apply_clock(lk->res, lk->caller);
	if (needs_key_use(lk->res, lk->caller))
		count_key_use(&lk->res->key_id);
	if (lk->res->cacheable && lk->fresh_snapshot && !flov7_authz_cache_tracking())
		track_lookup_tables();
}

/* Count a key's use on a cache hit. */
static void
count_cached_key_use(Lookup *lk)
{
	count_key_use(&lk->res->key_id);
}

/*
 * Run fn(lk) with SPI connected, as the extension owner, with search_path
 * pinned like a SET clause of a SECURITY DEFINER function (pg_temp last), so
 * that no name resolves through the caller's search_path.
 */
static void
in_lookup_env(FunctionCallInfo fcinfo, void (*fn) (Lookup *), Lookup *lk)
{
	Oid			save_userid;
	int			save_sec;
	int			guc_level;
	int			rc;

	if (resolving)
		elog(ERROR, "flov7: recursive caller resolution");
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
		fn(lk);
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

/* The cache key of a credential (an API key's is its stored hash, already in lk). */
static void
credential_key(const Lookup *lk, AuthzCacheKey *key)
{
	char		hex[FLOV7_SHA256_HEX_LEN + 1];

	memset(key, 0, sizeof(*key));
	key->kind = (char) lk->kind;
	switch (lk->kind)
	{
		case AUTHZ_CRED_API_KEY:
			memcpy(key->digest, lk->key_hash, FLOV7_SHA256_HEX_LEN);
			break;
		case AUTHZ_CRED_CLAIMS:
			flov7_sha256_hex(lk->credential, strlen(lk->credential), hex);
			memcpy(key->digest, hex, FLOV7_SHA256_HEX_LEN);
			break;
		case AUTHZ_CRED_OWNER:
			memcpy(key->digest, lk->owner->data, sizeof(lk->owner->data));
			break;
	}
}

/*
 * Resolve the current credential into c: from the cross-transaction cache
 * when it holds an entry valid under the current generation, else by the
 * lookups (and keep what they found).
 */
static void
resolve(FunctionCallInfo fcinfo, Caller *c)
{
	Lookup		lk;
	Resolution	res;
	AuthzCacheTicket ticket;
	AuthzCacheKey key;
	AuthzCacheEntry *entry;

	memset(&lk, 0, sizeof(lk));
	memset(&res, 0, sizeof(res));
	lk.res = &res;
	lk.caller = c;
	if (cache.acting)
	{
		lk.kind = AUTHZ_CRED_OWNER;
		lk.owner = &cache.acting_user;
	}
	else if (cache.api_key[0] != '\0')
	{
		lk.kind = AUTHZ_CRED_API_KEY;
		lk.credential = cache.api_key;
		if (strncmp(lk.credential, API_KEY_PREFIX, strlen(API_KEY_PREFIX)) != 0 ||
			strlen(lk.credential) > API_KEY_MAX_LEN)
		{
			reject(c, "invalid api key", "API keys start with \"flv7_\".");
			return;
		}
		flov7_sha256_hex(lk.credential, strlen(lk.credential), lk.key_hash);
	}
	else
	{
		lk.kind = AUTHZ_CRED_CLAIMS;
		lk.credential = cache.claims;
	}

	flov7_authz_cache_begin(&ticket);
	if (ticket.usable)
	{
		credential_key(&lk, &key);
		entry = flov7_authz_cache_find(&ticket, &key);
		if (entry != NULL &&
			(lk.kind != AUTHZ_CRED_CLAIMS || strcmp(entry->claims, lk.credential) == 0))
		{
			res = entry->res;
			apply_clock(&res, c);
			if (needs_key_use(&res, c))
				in_lookup_env(fcinfo, count_cached_key_use, &lk);
			return;
		}
	}

	lk.fresh_snapshot = ticket.usable;
	in_lookup_env(fcinfo, lookup_credential, &lk);
	if (ticket.usable)
		flov7_authz_cache_store(&ticket, &key,
								lk.kind == AUTHZ_CRED_CLAIMS ? lk.credential : NULL, &res);
}

/* Return the caller of the current transaction, resolving it if needed. */
static Caller *
current_caller(FunctionCallInfo fcinfo)
{
	const char *key = GetConfigOption("request.api_key", true, false);
	const char *claims = GetConfigOption("request.jwt.claims", true, false);
	Caller		c;

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
		resolve(fcinfo, &c);

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

/*
 * Statement trigger on the tables the authorizer reads.  Before the
 * statement: from now on this transaction reads no caller cached across
 * transactions (its row triggers must see its own changes), and its commit
 * moves the shared generation on (authz_cache.c).  After it: also drop the
 * transaction's own cached caller.  The authorizer's own count of a key's
 * use changes nothing it reads, and does neither.
 */
Datum
flov7_authz_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("flov7.authz_invalidate() must be called as a statement trigger")));
	if (counting_use)
		return PointerGetDatum(NULL);
	flov7_authz_cache_note_change();
	if (TRIGGER_FIRED_AFTER(trigdata->tg_event))
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

/* Create the caller's memory context, register the callbacks, set up the cache. */
void
flov7_authz_init(void)
{
	authz_context = AllocSetContextCreate(TopMemoryContext, "flov7 authz",
										  ALLOCSET_SMALL_SIZES);
	RegisterXactCallback(authz_xact_callback, NULL);
	RegisterSubXactCallback(authz_subxact_callback, NULL);
	flov7_authz_cache_init();
}
