/*-------------------------------------------------------------------------
 *
 * runstate.h
 *	  The runner's picture of the executions it holds: their definitions,
 *	  steps and pending writes (runner.c, rungraph.c, runio.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FLOV7_RUNSTATE_H
#define FLOV7_RUNSTATE_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* Step states, as execution_steps.state spells them. */
#define ST_PENDING		"pending"
#define ST_READY		"ready"
#define ST_RUNNING		"running"
#define ST_WAITING		"waiting"
#define ST_COMPLETED	"completed"
#define ST_SKIPPED		"skipped"
#define ST_CANCELLED	"cancelled"

/* A node of the definition. */
typedef struct NodeDef
{
	char	   *id;
	char	   *ctype;			/* config.condition_type, or NULL */
	Jsonb	   *node;
} NodeDef;

/* An edge of the definition, in array order. */
typedef struct EdgeDef
{
	char	   *source;
	char	   *target;
	char	   *label;			/* "branch", else "sourceHandle", else NULL */
} EdgeDef;

/* A row of execution_steps, with the output of its latest attempt. */
typedef struct StepRow
{
	char	   *node_id;
	int			iteration;
	char		state[16];
	int			attempt;
	int			pending_parents;
	bool		has_input;
	bool		ready_set;
	TimestampTz ready_at;
	bool		started_set;
	TimestampTz started_at;
	bool		completed_set;
	TimestampTz completed_at;
	bool		has_data;		/* an execution_step_data row exists */
	Jsonb	   *output;			/* its output (NULL: SQL NULL) */
	bool		dirty;
} StepRow;

/* A row for execution_step_data, written back with the steps. */
typedef struct DataRow
{
	char	   *node_id;
	int			iteration;
	int			attempt;
	Jsonb	   *input;
	Jsonb	   *output;
	Jsonb	   *branches;		/* the result's "branches" array, or NULL */
	TimestampTz started_at;
	TimestampTz finished_at;
} DataRow;

/* An execution while a runner holds its row lock. */
typedef struct Exec
{
	pg_uuid_t	user_id;
	pg_uuid_t	id;
	pg_uuid_t	workflow_id;
	char	   *status;
	bool		version_null;
	int			workflow_version;
	Jsonb	   *definition;
	Jsonb	   *input;
	bool		started_set;
	TimestampTz started_at;
	TimestampTz created_at;
	int			steps_completed;
	int			steps_failed;
	char	   *owner_role;

	/* to write back */
	int			completed_delta;	/* steps completed in memory */
	bool		to_running;		/* its first step ran: running, started */
	char	   *new_status;		/* at the end: running or waiting, or NULL */
	bool		to_complete;	/* at the end: all its steps settled */
	Jsonb	   *output;			/* ... and its output_data */

	NodeDef    *nodes;
	int			nnodes;
	EdgeDef    *edges;
	int			nedges;

	StepRow    *steps;
	int			nsteps;
	DataRow    *data;
	int			ndata;
	int			maxdata;
} Exec;

/* The executions one runner batch holds, in the order it serves them. */
typedef struct Batch
{
	Exec	   *execs;
	int			nexecs;
} Batch;

/* rungraph.c: the definition, the steps, settling, a step's context */
extern void run_parse_definition(Exec *ex);
extern NodeDef *run_find_node(Exec *ex, const char *id);
extern StepRow *run_find_step(Exec *ex, const char *node, int iteration);
extern void run_set_state(StepRow *s, const char *state);
extern bool run_state_is(StepRow *s, const char *state);
extern void run_settle(Exec *ex, const char *node, int iteration, char **taken, int ntaken);
extern Jsonb *run_build_ctx(Exec *ex, StepRow *step, int attempt, Jsonb **data_out);
extern bool run_all_settled(Exec *ex);
extern Jsonb *run_terminal_output(Exec *ex);

/* runio.c: claiming, reading and writing back */
extern bool run_claim(Batch *b, int max_execs, pg_uuid_t *after);
extern void run_load_steps(Batch *b);
extern void run_reload(Exec *ex);
extern void run_flush(Batch *b);

/* jsonbutil.c: reading and building jsonb without SQL */
extern char *jv_text(JsonbValue *v);
extern JsonbValue *jc_member(JsonbContainer *c, const char *key);
extern JsonbContainer *jc_child(JsonbContainer *c, const char *key);
extern void jb_push(JsonbParseState **st, Jsonb *j, JsonbIteratorToken tok);
extern void jb_push_key(JsonbParseState **st, const char *key);
extern void jb_push_uuid(JsonbParseState **st, const pg_uuid_t *u);
extern void jb_push_int(JsonbParseState **st, int n, bool isnull);
extern Jsonb *jb_from_cstring(const char *s);

#endif							/* FLOV7_RUNSTATE_H */
