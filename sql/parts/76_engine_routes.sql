-- 76_engine_routes.sql: the routes of the executor.

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('POST', '/api/v1/workflows/{id}/execute', 'flov7_api.workflow_execute', 202, 'Run a workflow (returns the pending execution)', 'executions', false);
