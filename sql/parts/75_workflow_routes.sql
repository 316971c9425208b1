-- 75_workflow_routes.sql: the routes of /primitives, /workflows and /workflows/templates.
-- frontd matches a literal segment before a parameter, so /workflows/templates is never taken
-- for /workflows/{id}.

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('GET', '/api/v1/primitives', 'flov7_api.primitive_list', 200, 'List the node types (primitives)', 'workflows', true),
	('POST', '/api/v1/workflows', 'flov7_api.workflow_create', 201, 'Create a workflow', 'workflows', false),
	('GET', '/api/v1/workflows', 'flov7_api.workflow_list', 200, 'List my workflows', 'workflows', true),
	('GET', '/api/v1/workflows/{id}', 'flov7_api.workflow_get', 200, 'Get a workflow and its validation', 'workflows', true),
	('PUT', '/api/v1/workflows/{id}', 'flov7_api.workflow_update', 200, 'Update a workflow (bumps its version)', 'workflows', false),
	('DELETE', '/api/v1/workflows/{id}', 'flov7_api.workflow_delete', 204, 'Delete a workflow', 'workflows', false),
	('GET', '/api/v1/workflows/templates', 'flov7_api.template_list', 200, 'List workflow templates', 'templates', true),
	('POST', '/api/v1/workflows/templates/{id}/use', 'flov7_api.template_use', 201, 'Create a workflow from a template', 'templates', false);
