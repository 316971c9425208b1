-- 86_engine_grants.sql: grants of the executor (80_grants.sql has already revoked every
-- function from PUBLIC; the update script revokes the new ones itself).

GRANT EXECUTE ON FUNCTION
	flov7_api.workflow_execute(jsonb), flov7_api.execution_list(jsonb), flov7_api.execution_get(jsonb),
	flov7_api.execution_cancel(jsonb), flov7_api.execution_retry(jsonb), flov7_api.execution_step_list(jsonb)
	TO flov7_user, flov7_admin;

-- What the endpoints and a step running as its owner call.
GRANT EXECUTE ON FUNCTION
	flov7.execute(uuid, jsonb, text), flov7.execution_to_json(flov7.workflow_executions),
	flov7.eval_templates(jsonb, jsonb, text[]), flov7.eval_condition(text, jsonb),
	flov7.json_schema_errors(jsonb, jsonb, text), flov7.notify_caller(text, text, text, jsonb),
	flov7.node_items(jsonb, jsonb), flov7.node_run(text, text, jsonb, jsonb, boolean),
	flov7.retry_delay_ms(int, int, int, float8), flov7.step_to_json(flov7.execution_steps),
	flov7.execution_cancel(uuid), flov7.execution_retry(uuid)
	TO flov7_user, flov7_admin;

-- Executions and their steps: read by their owner (and admins) under RLS; written only by
-- SECURITY DEFINER code and the runner.
GRANT SELECT ON flov7.execution_steps, flov7.execution_step_data, flov7.custom_functions, flov7.outbound_requests
	TO flov7_user, flov7_admin;
GRANT INSERT, UPDATE, DELETE ON flov7.custom_functions TO flov7_admin;

-- The background workers' role: the runner and its timer, nothing else.
GRANT USAGE ON SCHEMA flov7 TO flov7_worker;
GRANT EXECUTE ON FUNCTION flov7.run_ready(int), flov7.next_due_ms(), flov7.engine_analyze() TO flov7_worker;
-- ... and, for the outbound worker to come, claiming and completing outside steps.
GRANT EXECUTE ON FUNCTION flov7.outbound_claim(text[], int, int),
	flov7.outbound_complete(uuid, uuid, text, int, bigint, jsonb, text) TO flov7_worker;
