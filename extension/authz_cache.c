/*-------------------------------------------------------------------------
 *
 * authz_cache.c
 *	  The authorizer's per-backend cache of resolved callers, kept across
 *	  transactions and validated by a generation counter in shared memory.
 *
 * A backend keeps, for each credential it has resolved (an API key, the
 * claims of a JWT, the owner a workflow step acts for), what the lookups
 * found: the caller as the rows say, plus the token's exp or the key's
 * expires_at, which authz.c compares with the clock on every request.
 * Entries live in their own memory context under TopMemoryContext, at most
 * flov7.authz_cache_size of them (the whole cache is dropped when full).
 *
 * Validity: a 64-bit generation counter in shared memory.  The statement
 * triggers on every table the lookups read (flov7.authz_invalidate: users,
 * api_keys, revoked_tokens, refresh_tokens, role_permissions) mark the
 * transaction, and a transaction callback increments the counter at
 * XACT_EVENT_COMMIT, which runs after the commit is visible to new
 * snapshots; never before, so no backend can keep a pre-commit state under
 * the new generation.  A backend drops its entries when the counter moves.
 * A lookup reads the counter first, then takes a fresh snapshot
 * (GetLatestSnapshot) for its rows: a commit its snapshot misses bumps the
 * counter after the read, so the entry stored under the value read is
 * dropped on the next request.  COMMIT PREPARED is seen by a utility hook
 * and bumps at the end of its own transaction (PREPARE bumps nothing: the
 * prepared changes are not visible yet).
 *
 * What the triggers cannot see is caught otherwise: DDL on those tables
 * (DROP EXTENSION, a recreated table, a disabled trigger) sends relcache
 * invalidations, which drop the cache; a standby replays changes without
 * running triggers, so the cache is off during recovery.  It is also off
 * without shared_preload_libraries (no counter), in a transaction that has
 * itself changed those tables (its own uncommitted rows must be read), in
 * transactions that see one snapshot throughout (REPEATABLE READ and
 * SERIALIZABLE read as they always did) and in parallel mode.  Every such
 * case resolves as if there were no cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"

#include "authz.h"

/* Longest claims text kept (frontd passes a token's payload; real ones are far shorter). */
#define AUTHZ_CACHE_MAX_CLAIMS	4096
#define AUTHZ_CACHE_MAX_TABLES	8

typedef struct AuthzShared
{
	pg_atomic_uint64 generation;	/* bumped after each commit that changed an input */
	pg_atomic_uint64 hits;		/* all backends' lookups answered from their cache */
	pg_atomic_uint64 misses;	/* ... and those that read the tables */
} AuthzShared;

int			flov7_authz_cache_size = 1024;

static AuthzShared *authz_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;

static bool xact_changed = false;	/* this transaction changed an input */
static MemoryContext cache_context = NULL;
static HTAB *cache_htab = NULL;
static uint64 cache_generation = 0;
static uint64 cache_flushes = 0;	/* relcache-driven flushes so far */
static uint64 cache_hits = 0;
static uint64 cache_misses = 0;
static Oid	tracked[AUTHZ_CACHE_MAX_TABLES];
static int	ntracked = 0;

PG_FUNCTION_INFO_V1(flov7_authz_cache_stats);

/* Ask for the shared counter (PG 15: only from shmem_request_hook). */
static void
authz_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(AuthzShared)));
}

/* Create or attach the shared counter. */
static void
authz_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	authz_shared = ShmemInitStruct("flov7 authz", sizeof(AuthzShared), &found);
	if (!found)
	{
		pg_atomic_init_u64(&authz_shared->generation, 1);
		pg_atomic_init_u64(&authz_shared->hits, 0);
		pg_atomic_init_u64(&authz_shared->misses, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Forget every entry (the tracked tables stay known). */
static void
drop_entries(void)
{
	if (cache_htab == NULL)
		return;
	MemoryContextReset(cache_context);	/* the hash table's own context too */
	cache_htab = NULL;
}

/* Forget every entry and the tables, and tell lookups in flight not to store. */
static void
flush(void)
{
	drop_entries();
	ntracked = 0;
	cache_flushes++;
}

/* A relation changed shape or went away: drop the cache if it was one of ours. */
static void
authz_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	if (relid == InvalidOid)
	{
		flush();
		return;
	}
	for (i = 0; i < ntracked; i++)
		if (tracked[i] == relid)
		{
			flush();
			return;
		}
}

/* After a commit that changed an input, move the generation on; never before. */
static void
authz_cache_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			/* visible to new snapshots by now; a full barrier, cannot fail */
			if (xact_changed && authz_shared != NULL)
				(void) pg_atomic_fetch_add_u64(&authz_shared->generation, 1);
			xact_changed = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* nothing visible changed; COMMIT PREPARED bumps (below) */
			xact_changed = false;
			break;
		default:
			break;
	}
}

/* COMMIT PREPARED makes another transaction's changes visible: bump after it. */
static void
authz_process_utility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree, ProcessUtilityContext context,
					  ParamListInfo params, QueryEnvironment *queryEnv,
					  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (IsA(stmt, TransactionStmt) &&
		((TransactionStmt *) stmt)->kind == TRANS_STMT_COMMIT_PREPARED)
		xact_changed = true;
	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * Start a lookup: may the cache be used, and under which generation?  The
 * counter is read before any snapshot the lookup takes (the barrier keeps
 * the read from moving past it).
 */
void
flov7_authz_cache_begin(AuthzCacheTicket *ticket)
{
	uint64		generation;

	ticket->usable = authz_shared != NULL && flov7_authz_cache_size > 0 &&
		!xact_changed && !IsolationUsesXactSnapshot() && !IsInParallelMode() &&
		!RecoveryInProgress();
	if (!ticket->usable)
		return;
	generation = pg_atomic_read_u64(&authz_shared->generation);
	pg_memory_barrier();
	if (generation != cache_generation)
	{
		drop_entries();
		cache_generation = generation;
	}
	ticket->generation = generation;
	ticket->flushes = cache_flushes;
}

/* The entry for this credential under the ticket's generation, or NULL. */
AuthzCacheEntry *
flov7_authz_cache_find(const AuthzCacheTicket *ticket, const AuthzCacheKey *key)
{
	AuthzCacheEntry *entry = NULL;

	if (!ticket->usable)
		return NULL;
	if (cache_htab != NULL)
		entry = hash_search(cache_htab, key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		cache_hits++;
		pg_atomic_fetch_add_u64(&authz_shared->hits, 1);
	}
	else
	{
		cache_misses++;
		pg_atomic_fetch_add_u64(&authz_shared->misses, 1);
	}
	return entry;
}

/* Copy a resolution into the cache's memory context. */
static void
copy_resolution(Resolution *dst, const Resolution *src)
{
	int			i;

	*dst = *src;
	dst->caller.permissions = NULL;
	if (src->caller.npermissions > 0)
	{
		dst->caller.permissions =
			MemoryContextAlloc(cache_context, sizeof(char *) * src->caller.npermissions);
		for (i = 0; i < src->caller.npermissions; i++)
			dst->caller.permissions[i] =
				MemoryContextStrdup(cache_context, src->caller.permissions[i]);
	}
}

/*
 * Keep a resolution read under the ticket, unless the state moved since:
 * another generation, a relcache flush, or a change by this transaction.
 */
void
flov7_authz_cache_store(const AuthzCacheTicket *ticket, const AuthzCacheKey *key,
						const char *claims, const Resolution *res)
{
	Resolution	copy;
	char	   *claims_copy = NULL;
	AuthzCacheEntry *entry;
	bool		found;

	if (!ticket->usable || !res->cacheable || xact_changed || ntracked == 0 ||
		ticket->flushes != cache_flushes || ticket->generation != cache_generation ||
		pg_atomic_read_u64(&authz_shared->generation) != ticket->generation)
		return;
	if (claims != NULL && strlen(claims) > AUTHZ_CACHE_MAX_CLAIMS)
		return;

	if (cache_htab != NULL && hash_get_num_entries(cache_htab) >= flov7_authz_cache_size)
		drop_entries();
	if (cache_htab == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(AuthzCacheKey);
		ctl.entrysize = sizeof(AuthzCacheEntry);
		ctl.hcxt = cache_context;
		cache_htab = hash_create("flov7 authz cache", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	/* copies first, so that a failure leaves no half-filled entry */
	copy_resolution(&copy, res);
	if (claims != NULL)
		claims_copy = MemoryContextStrdup(cache_context, claims);
	entry = hash_search(cache_htab, key, HASH_ENTER, &found);
	entry->claims = claims_copy;
	entry->res = copy;
}

/* This transaction changed a table the lookups read (the authz triggers). */
void
flov7_authz_cache_note_change(void)
{
	xact_changed = true;
}

/* Are the tables whose DDL must drop the cache known? */
bool
flov7_authz_cache_tracking(void)
{
	return ntracked > 0;
}

/* Name the tables whose relcache invalidations drop the cache. */
void
flov7_authz_cache_track(const Oid *relids, int n)
{
	Assert(n > 0 && n <= AUTHZ_CACHE_MAX_TABLES);
	memcpy(tracked, relids, sizeof(Oid) * n);
	ntracked = n;
}

/*
 * flov7.authz_cache_stats(): is the cache on in this session, the shared
 * generation, this backend's entries, hits and misses, and all backends'
 * hits and misses since the server started.
 */
Datum
flov7_authz_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = BoolGetDatum(authz_shared != NULL && flov7_authz_cache_size > 0 &&
							 !RecoveryInProgress());
	values[2] = Int32GetDatum(cache_htab != NULL ? (int32) hash_get_num_entries(cache_htab) : 0);
	values[3] = Int64GetDatum((int64) cache_hits);
	values[4] = Int64GetDatum((int64) cache_misses);
	if (authz_shared != NULL)
	{
		values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&authz_shared->generation));
		values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&authz_shared->hits));
		values[6] = Int64GetDatum((int64) pg_atomic_read_u64(&authz_shared->misses));
	}
	else
		nulls[1] = nulls[5] = nulls[6] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Setting, memory context and callbacks; the counter and hook only when preloaded. */
void
flov7_authz_cache_init(void)
{
	DefineCustomIntVariable("flov7.authz_cache_size",
							"Callers the authorizer keeps per backend across transactions (0: none).",
							"Needs flov7 in shared_preload_libraries; entries are dropped whenever "
							"users, keys, tokens or role permissions change.",
							&flov7_authz_cache_size, 1024, 0, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	cache_context = AllocSetContextCreate(TopMemoryContext, "flov7 authz cache",
										  ALLOCSET_DEFAULT_SIZES);
	RegisterXactCallback(authz_cache_xact_callback, NULL);
	CacheRegisterRelcacheCallback(authz_relcache_callback, (Datum) 0);

	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = authz_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = authz_shmem_startup;
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = authz_process_utility;
}
