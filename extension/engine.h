/*-------------------------------------------------------------------------
 *
 * engine.h
 *	  The workflow executor: claiming steps, running them, recording them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FLOV7_ENGINE_H
#define FLOV7_ENGINE_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* A step the runner is about to run (runner.c fills it from its execution). */
typedef struct ClaimedStep
{
	pg_uuid_t	user_id;
	pg_uuid_t	execution_id;
	char	   *node_id;
	int			iteration;
	int			attempt;
	bool		resumed;		/* a wait step whose timer fired */
	char	   *owner_role;		/* flov7_user or flov7_admin */
	Jsonb	   *node;			/* the node of the definition snapshot */
	Jsonb	   *ctx;			/* {"input","data","parents","nodes","execution"} */
} ClaimedStep;

/* Settings (engine.c). */
extern int	flov7_step_timeout_ms;	/* flov7.step_timeout_ms */
extern int	flov7_db_query_max_rows;	/* flov7.db_query_max_rows */
extern int	flov7_max_step_output_bytes;	/* flov7.max_step_output_bytes */

/* worker.c */
extern char *flov7_database_name;	/* flov7.database_name */
extern char *flov7_worker_role;	/* flov7.worker_role */
extern int	flov7_worker_count;	/* flov7.worker_count */
extern void flov7_worker_init(void);

/* engine.c */
extern void flov7_engine_init(void);
extern int	flov7_engine_run_batch(int max_steps, const char *worker);
extern const char *flov7_runner_name;	/* "worker" or "sql": step_data.worker */

/* runner.c: claim a batch of executions and run their due steps (-1: none was due) */
extern int	flov7_runner_run_batch(int max_steps, pg_uuid_t *after, bool *have_after);

/* plans.c: run a statement prepared once per backend and kept (the claim: planned with index scans only) */
extern int	flov7_plan_execute(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types,
							   Datum *values, const char *nulls, bool read_only, long tcount);
extern int	flov7_plan_execute_indexed(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types,
									   Datum *values, const char *nulls, bool read_only, long tcount);

/*
 * steps.c: run one claimed step under its own subtransaction, as the owner.
 * Returns true with *result ({"output", "branches"} or {"wait_until"}), or
 * false with *error; both are allocated in outcxt.
 */
extern bool flov7_step_execute(ClaimedStep *step, MemoryContext outcxt,
							   Jsonb **result, char **error);

#endif							/* FLOV7_ENGINE_H */
