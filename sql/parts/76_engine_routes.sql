-- 76_engine_routes.sql: the routes of the executor.

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('POST', '/api/v1/workflows/{id}/execute', 'flov7_api.workflow_execute', 202, 'Run a workflow (returns the pending execution)', 'executions', false),
	('GET', '/api/v1/workflows/{id}/executions', 'flov7_api.execution_list', 200, 'List the executions of a workflow', 'executions', true),
	('GET', '/api/v1/workflows/executions/{id}', 'flov7_api.execution_get', 200, 'Get an execution with its steps', 'executions', true),
	('GET', '/api/v1/workflows/executions/{id}/steps', 'flov7_api.execution_step_list', 200, 'List the steps of an execution (its step log)', 'executions', true),
	('POST', '/api/v1/workflows/executions/{id}/cancel', 'flov7_api.execution_cancel', 200, 'Cancel an execution', 'executions', false),
	('POST', '/api/v1/workflows/executions/{id}/retry', 'flov7_api.execution_retry', 200, 'Retry an execution from its failed steps', 'executions', false);
