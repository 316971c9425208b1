/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The executor's background workers, and how a commit wakes them.
 *
 * With flov7 in shared_preload_libraries, _PG_init registers
 * flov7.worker_count workers.  Each connects to flov7.database_name as
 * flov7.worker_role (a dedicated LOGIN role, neither superuser nor
 * BYPASSRLS; a NULL user would be the bootstrap superuser) and loops like
 * worker_spi and pg_cron: one transaction per batch, calling
 * flov7.run_ready() (which runs each step as its owner), then sleeping on
 * its latch until a commit wakes it or the next timer is due.
 *
 * Waking: each worker publishes its pgprocno in shared memory (requested
 * in shmem_request_hook).  flov7.wake_workers(), called by execute and
 * retry, only sets a flag; a transaction callback sets one worker's latch
 * at XACT_EVENT_COMMIT (data is visible by then; nothing there may fail)
 * and forgets the flag on abort and prepare.  COMMIT PREPARED fires no
 * such event, so an idle worker also wakes at least every
 * WORKER_MAX_SLEEP_MS.
 *
 * Events: a transaction that writes flov7.events wakes a worker the same
 * way, and each turn of the loop, after its batch of steps, publishes
 * committed events (flov7.events_publish(), its own short transaction, so
 * that the clock row it locks is never held across a batch of steps), and
 * purges old ones every WORKER_PURGE_MS.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "engine.h"

#define MAX_WORKERS				64
#define WORKER_MAX_SLEEP_MS		10000L
/* Steps per transaction: as many as one may hold (engine.c's MAX_BATCH_STEPS), so that a
 * busy worker commits, claims and publishes once per 60 steps. */
#define WORKER_BATCH			60
#define WORKER_PURGE_MS			60000
#define WORKER_ANALYZE_MS		1000	/* engine_analyze: at most this often */

/* Shared state: one slot per worker, pgprocno + 1 (0: not running). */
typedef struct WorkerShared
{
	int			nworkers;
	pg_atomic_uint32 next;		/* round-robin over workers to wake */
	pg_atomic_uint32 procno[MAX_WORKERS];
} WorkerShared;

char	   *flov7_database_name = NULL;
char	   *flov7_worker_role = NULL;
int			flov7_worker_count = 1;

static WorkerShared *shared = NULL;
static bool wake_pending = false;
static int	my_slot = -1;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PGDLLEXPORT void flov7_worker_main(Datum arg);

PG_FUNCTION_INFO_V1(flov7_wake_workers);

/* Ask for the shared state (PG 15: only from shmem_request_hook). */
static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
}

/* Create or attach the shared state. */
static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("flov7 workers", sizeof(WorkerShared), &found);
	if (!found)
	{
		int			i;

		shared->nworkers = Min(flov7_worker_count, MAX_WORKERS);
		pg_atomic_init_u32(&shared->next, 0);
		for (i = 0; i < MAX_WORKERS; i++)
			pg_atomic_init_u32(&shared->procno[i], 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Set the latch of one running worker, round-robin; never fails. */
static void
wake_one(void)
{
	uint32		start;
	int			i;

	if (shared == NULL || shared->nworkers <= 0)
		return;
	start = pg_atomic_fetch_add_u32(&shared->next, 1);
	for (i = 0; i < shared->nworkers; i++)
	{
		uint32		p = pg_atomic_read_u32(&shared->procno[(start + i) % shared->nworkers]);

		if (p != 0)
		{
			SetLatch(&ProcGlobal->allProcs[p - 1].procLatch);
			return;
		}
	}
}

/* At commit, wake a worker if this transaction queued work; forget it otherwise. */
static void
worker_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending)
				wake_one();
			wake_pending = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_pending = false;
			break;
		default:
			break;
	}
}

/* flov7.wake_workers(): wake a worker when this transaction commits. */
Datum
flov7_wake_workers(PG_FUNCTION_ARGS)
{
	wake_pending = true;
	PG_RETURN_VOID();
}

/* Unpublish this worker's slot when it exits. */
static void
worker_exit(int code, Datum arg)
{
	if (shared != NULL && my_slot >= 0)
		pg_atomic_write_u32(&shared->procno[my_slot], 0);
}

/*
 * Publish committed events (and, now and then, purge old ones) in a
 * transaction of its own; a no-op until the extension has the functions.
 */
static void
worker_publish(void)
{
	static TimestampTz last_purge = 0;
	static TimestampTz last_analyze = 0;
	static bool can_publish = false;	/* once true, for the life of this worker */
	static bool can_analyze = false;	/* likewise */
	TimestampTz now = GetCurrentTimestamp();
	bool		purge = TimestampDifferenceExceeds(last_purge, now, WORKER_PURGE_MS);
	bool		analyze = TimestampDifferenceExceeds(last_analyze, now, WORKER_ANALYZE_MS);
	int			rc;
	bool		isnull;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "flov7: publishing events");
	if (!can_publish)
	{
		rc = SPI_execute("SELECT coalesce(pg_catalog.has_function_privilege("
						 "  pg_catalog.to_regprocedure('flov7.events_publish(integer)'), 'EXECUTE'), false)",
						 true, 1);
		can_publish = rc == SPI_OK_SELECT && SPI_processed == 1 &&
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (can_publish)
	{
		if (SPI_execute("SELECT flov7.events_publish()", false, 1) != SPI_OK_SELECT)
			elog(ERROR, "flov7: events_publish failed");
		if (purge)
		{
			if (SPI_execute("SELECT flov7.events_purge()", false, 1) != SPI_OK_SELECT)
				elog(ERROR, "flov7: events_purge failed");
			last_purge = now;
		}
	}
	if (analyze && !can_analyze)
	{
		/* an install not updated yet has no engine_analyze (see plans.c for why it exists) */
		rc = SPI_execute("SELECT pg_catalog.to_regprocedure('flov7.engine_analyze()') IS NOT NULL",
						 true, 1);
		can_analyze = rc == SPI_OK_SELECT && SPI_processed == 1 &&
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

	/* in a transaction of its own: not while holding the event clock that publishing locked */
	if (analyze && can_analyze)
	{
		StartTransactionCommand();
		if ((rc = SPI_connect()) != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_execute("SELECT flov7.engine_analyze()", false, 1) != SPI_OK_SELECT)
			elog(ERROR, "flov7: engine_analyze failed");
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		last_analyze = now;
	}
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* One batch in its own transaction; returns steps run and sets *sleep_ms to the next timer. */
static int
worker_batch(long *sleep_ms)
{
	static bool can_run = false;	/* once true, for the life of this worker */
	int			ran = 0;
	int			rc;
	bool		isnull;

	*sleep_ms = WORKER_MAX_SLEEP_MS;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "flov7: running steps");

	/*
	 * Nothing to do (and no error) until the extension is there and ours to
	 * run; checked until it is (a dropped extension then makes run_ready
	 * fail, and the worker restarts and checks again).
	 */
	if (!can_run)
	{
		rc = SPI_execute("SELECT coalesce((SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE')"
						 "   AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')"
						 "  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
						 " WHERE n.nspname = 'flov7' AND p.proname = 'next_due_ms'), false)", true, 1);
		can_run = rc == SPI_OK_SELECT && SPI_processed == 1 &&
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (can_run)
	{
		Oid			argtypes[1] = {INT4OID};
		Datum		values[1] = {Int32GetDatum(WORKER_BATCH)};
		Datum		d;

		rc = SPI_execute_with_args("SELECT flov7.run_ready($1)", 1, argtypes, values, NULL, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "flov7: run_ready failed: %s", SPI_result_code_string(rc));
		ran = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		/* with steps run, the loop goes on at once: the next timer only matters when idle */
		if (ran == 0)
		{
			rc = SPI_execute("SELECT flov7.next_due_ms()", true, 1);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "flov7: next_due_ms failed: %s", SPI_result_code_string(rc));
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
				*sleep_ms = Max(Min(DatumGetInt64(d), WORKER_MAX_SLEEP_MS), 1);
		}
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ran;
}

/* Entry point of a worker. */
void
flov7_worker_main(Datum arg)
{
	int			slot = DatumGetInt32(arg);
	MemoryContext loopcxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(flov7_database_name, flov7_worker_role, 0);
	pgstat_report_appname("flov7 worker");

	if (shared != NULL && slot >= 0 && slot < MAX_WORKERS)
	{
		my_slot = slot;
		before_shmem_exit(worker_exit, (Datum) 0);
		pg_atomic_write_u32(&shared->procno[slot], (uint32) MyProc->pgprocno + 1);
	}
	ereport(LOG,
			(errmsg("flov7 worker %d started in database \"%s\" as \"%s\"",
					slot, flov7_database_name, flov7_worker_role)));

	loopcxt = AllocSetContextCreate(TopMemoryContext, "flov7 worker loop", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		long		sleep_ms;
		int			ran;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(loopcxt);
		/* steps first (what woke us is most often an execute), then their events */
		ran = worker_batch(&sleep_ms);
		worker_publish();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loopcxt);
		if (ran > 0)
		{
			/* more may be due: let another worker share it, and go on */
			wake_one();
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Settings, hooks and workers; called once from _PG_init. */
void
flov7_worker_init(void)
{
	int			i;

	RegisterXactCallback(worker_xact_callback, NULL);

	/* PGC_POSTMASTER settings may only be defined while preloading. */
	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	DefineCustomStringVariable("flov7.database_name",
							   "Database the flov7 workers run executions in.",
							   NULL, &flov7_database_name, "postgres",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("flov7.worker_role",
							   "Role the flov7 workers connect as (LOGIN, neither superuser nor BYPASSRLS).",
							   NULL, &flov7_worker_role, "flov7_worker",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("flov7.worker_count",
							"Number of flov7 background workers (0: none; run flov7.run_ready() yourself).",
							NULL, &flov7_worker_count, 1, 0, MAX_WORKERS,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;

	for (i = 0; i < flov7_worker_count; i++)
	{
		BackgroundWorker worker;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		/*
		 * A worker that cannot start yet (its database or role created after
		 * the server, as `make run` and the tests do) tries again soon, so
		 * that the first executions and events do not wait for it.
		 */
		worker.bgw_restart_time = 2;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "flov7");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "flov7_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "flov7 worker %d", i);
		snprintf(worker.bgw_type, BGW_MAXLEN, "flov7 worker");
		worker.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&worker);
	}
}
