-- 70_routes.sql: the HTTP routes of this release and the OpenAPI document built from them.

INSERT INTO flov7.routes (method, path, function, status, summary, tag) VALUES
	('POST', '/api/v1/auth/register', 'flov7_api.auth_register', 201, 'Register a new user and log in', 'auth'),
	('POST', '/api/v1/auth/login', 'flov7_api.auth_login', 200, 'Log in with email and password', 'auth'),
	('POST', '/api/v1/auth/refresh', 'flov7_api.auth_refresh', 200, 'Exchange a refresh token for new tokens', 'auth'),
	('POST', '/api/v1/auth/logout', 'flov7_api.auth_logout', 200, 'Revoke the current token and session', 'auth'),
	('GET', '/api/v1/auth/me', 'flov7_api.auth_me', 200, 'Get the current user', 'auth'),
	('GET', '/api/v1/auth/verify', 'flov7_api.auth_verify', 200, 'Verify the credentials of the request', 'auth'),
	('POST', '/api/v1/auth/api-keys', 'flov7_api.api_key_create', 201, 'Create an API key (shown once)', 'auth'),
	('GET', '/api/v1/auth/api-keys', 'flov7_api.api_key_list', 200, 'List my API keys', 'auth'),
	('DELETE', '/api/v1/auth/api-keys/{key_id}', 'flov7_api.api_key_revoke', 204, 'Revoke an API key', 'auth'),
	('GET', '/api/v1/users/profile', 'flov7_api.users_profile_get', 200, 'Get my profile', 'users'),
	('PUT', '/api/v1/users/profile', 'flov7_api.users_profile_update', 200, 'Update my profile or password', 'users'),
	('GET', '/api/v1/users/stats', 'flov7_api.users_stats', 200, 'Get my usage statistics', 'users'),
	('POST', '/api/v1/users/integrations', 'flov7_api.integration_create', 201, 'Create an integration', 'integrations'),
	('GET', '/api/v1/users/integrations', 'flov7_api.integration_list', 200, 'List my integrations', 'integrations'),
	('GET', '/api/v1/users/integrations/{id}', 'flov7_api.integration_get', 200, 'Get an integration', 'integrations'),
	('PUT', '/api/v1/users/integrations/{id}', 'flov7_api.integration_update', 200, 'Update an integration', 'integrations'),
	('DELETE', '/api/v1/users/integrations/{id}', 'flov7_api.integration_delete', 204, 'Delete an integration', 'integrations'),
	('GET', '/api/v1/users/notifications', 'flov7_api.notification_list', 200, 'List my notifications', 'notifications'),
	('PUT', '/api/v1/users/notifications/{id}/read', 'flov7_api.notification_read', 200, 'Mark a notification read', 'notifications'),
	('PUT', '/api/v1/users/notifications/read-all', 'flov7_api.notification_read_all', 200, 'Mark all my notifications read', 'notifications'),
	('GET', '/api/v1/users/admin/users', 'flov7_api.admin_user_list', 200, 'List all users', 'admin'),
	('PUT', '/api/v1/users/admin/users/{id}/role', 'flov7_api.admin_user_set_role', 200, 'Change a user''s role', 'admin'),
	('PUT', '/api/v1/users/admin/users/{id}/status', 'flov7_api.admin_user_set_status', 200, 'Activate or deactivate a user', 'admin'),
	('GET', '/api/v1/users/admin/stats', 'flov7_api.admin_stats', 200, 'Platform statistics', 'admin');

-- Every GET of this release only reads, so frontd may retry it on another connection.
UPDATE flov7.routes SET read_only = true WHERE method = 'GET';

-- An OpenAPI 3.0 document describing flov7.routes, served by frontd at /openapi.json.
CREATE FUNCTION flov7.openapi(server_url text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	WITH r AS (
		SELECT r.method, r.path, r.function, r.status, r.summary, r.tag,
			   ARRAY(SELECT m[1] FROM regexp_matches(r.path, '\{([^}]+)\}', 'g') AS m) AS params,
			   coalesce(has_function_privilege('flov7_anon', to_regprocedure(r.function || '(jsonb)'), 'EXECUTE'),
						false) AS public
		  FROM flov7.routes r
	), op AS (
		SELECT r.path, lower(r.method) AS method, jsonb_strip_nulls(jsonb_build_object(
			'summary', r.summary,
			'tags', jsonb_build_array(r.tag),
			'operationId', split_part(r.function, '.', 2),
			'parameters',
				(SELECT coalesce(jsonb_agg(jsonb_build_object('name', p, 'in', 'path', 'required', true,
															  'schema', jsonb_build_object('type', 'string'))), '[]')
				   FROM unnest(r.params) p)
				|| CASE WHEN r.method = 'GET' AND r.function LIKE '%\_list' THEN
					'[{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
					  {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}]'::jsonb
				   ELSE '[]' END,
			'requestBody', CASE WHEN r.method IN ('POST', 'PUT', 'PATCH') THEN
				'{"content": {"application/json": {"schema": {"type": "object"}}}}'::jsonb END,
			'responses', jsonb_build_object(
				r.status::text, CASE WHEN r.status = 204 THEN '{"description": "No Content"}'::jsonb
					ELSE '{"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}'::jsonb END,
				'default', '{"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}'::jsonb),
			'security', CASE WHEN r.public THEN '[]'::jsonb
				ELSE '[{"bearerAuth": []}, {"apiKeyAuth": []}]'::jsonb END)) AS item
		  FROM r
	)
	SELECT jsonb_build_object(
		'openapi', '3.0.3',
		'info', jsonb_build_object(
			'title', 'flov7 API',
			'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'flov7'),
			'description', 'Workflow automation platform. Errors are {"code","message","details","hint"}, code being a SQLSTATE.'),
		'servers', CASE WHEN server_url IS NULL THEN '[]'::jsonb
			ELSE jsonb_build_array(jsonb_build_object('url', server_url)) END,
		'paths', coalesce((SELECT jsonb_object_agg(p.path, p.ops)
							 FROM (SELECT op.path, jsonb_object_agg(op.method, op.item) AS ops
									 FROM op GROUP BY op.path) p), '{}'),
		'tags', coalesce((SELECT jsonb_agg(jsonb_build_object('name', t.tag) ORDER BY t.tag)
							FROM (SELECT DISTINCT r.tag FROM r) t), '[]'),
		'components', jsonb_build_object(
			'securitySchemes', jsonb_build_object(
				'bearerAuth', '{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}'::jsonb,
				'apiKeyAuth', '{"type": "apiKey", "in": "header", "name": "X-API-Key"}'::jsonb),
			'schemas', jsonb_build_object(
				'Error', '{"type": "object", "required": ["code", "message"],
						   "properties": {"code": {"type": "string", "description": "SQLSTATE or PTnnn"},
										  "message": {"type": "string"},
										  "details": {"type": "string", "nullable": true},
										  "hint": {"type": "string", "nullable": true}}}'::jsonb)))
$$;
