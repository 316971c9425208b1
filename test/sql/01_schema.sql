-- 01_schema.sql: tables, columns, roles, grants, RLS, and constraints that refuse bad states.
BEGIN;
SELECT plan(86);
\ir helpers.psql

SELECT has_schema('flov7');
SELECT has_schema('flov7_api');
SELECT tables_are('flov7', ARRAY[
	'users', 'workflows', 'workflow_executions', 'primitives', 'user_integrations', 'workflow_templates',
	'audit_logs', 'api_keys', 'notifications', 'deployments',
	'user_passwords', 'revoked_tokens', 'refresh_tokens', 'settings', 'permissions', 'role_permissions',
	'plan_quotas', 'routes', 'route_profiles', 'execution_steps', 'execution_step_data', 'custom_functions', 'outbound_requests',
	'json_schemas', 'message_templates', 'events', 'event_clock', 'realtime_connections', 'login_throttle']);

SELECT columns_are('flov7', 'users', ARRAY['id', 'email', 'full_name', 'avatar_url', 'is_active', 'is_verified',
	'role', 'subscription_plan', 'subscription_expires_at', 'created_at', 'updated_at', 'last_login',
	'tokens_valid_after']);
SELECT columns_are('flov7', 'workflows', ARRAY['id', 'user_id', 'name', 'description', 'workflow_json', 'tags',
	'is_template', 'status', 'primitives_count', 'estimated_cost', 'execution_count', 'last_executed_at',
	'version', 'created_at', 'updated_at']);
SELECT has_column('flov7', 'workflow_executions', c, 'workflow_executions.' || c)
  FROM unnest(ARRAY['id', 'workflow_id', 'user_id', 'status', 'input_data', 'output_data', 'error_message',
	'execution_time_seconds', 'cost_usd', 'started_at', 'completed_at', 'created_at']) c;
SELECT has_column('flov7', 'user_integrations', c, 'user_integrations.' || c)
  FROM unnest(ARRAY['id', 'user_id', 'service_name', 'service_type', 'credentials_encrypted', 'is_active',
	'last_used_at', 'usage_count', 'created_at', 'updated_at']) c;
SELECT columns_are('flov7', 'refresh_tokens', ARRAY['id', 'user_id', 'family_id', 'token_hash', 'expires_at',
	'used_at', 'revoked_at', 'created_at']);
SELECT columns_are('flov7', 'routes', ARRAY['method', 'path', 'function', 'status', 'summary', 'tag', 'read_only', 'stream',
											  'error_style']);
SELECT col_is_pk('flov7', 'routes', ARRAY['method', 'path']::name[], 'routes are keyed on (method, path)');

-- Roles.
SELECT has_role(r) FROM unnest(ARRAY['flov7_authenticator', 'flov7_anon', 'flov7_user', 'flov7_admin']) r;
SELECT ok(pg_has_role('flov7_authenticator', r, 'MEMBER'), 'authenticator is a member of ' || r)
  FROM unnest(ARRAY['flov7_anon', 'flov7_user', 'flov7_admin']) r;
SELECT ok(NOT rolinherit, 'authenticator is NOINHERIT') FROM pg_roles WHERE rolname = 'flov7_authenticator';
SELECT ok(NOT pg_has_role('flov7_admin', 'flov7_user', 'MEMBER'), 'flov7_admin is a member of nothing');

-- Row level security is forced everywhere but on the catalogues.
SELECT is(ARRAY(SELECT relname::text FROM pg_class
				 WHERE relnamespace = 'flov7'::regnamespace AND relkind = 'r'
				   AND NOT (relrowsecurity AND relforcerowsecurity) ORDER BY relname),
		  ARRAY['permissions', 'role_permissions', 'route_profiles', 'routes'],
		  'RLS is enabled and forced on every table but the catalogues');

-- Grants: nothing for PUBLIC, least privilege for the rest.
SELECT is_empty($$
	SELECT p.oid::regprocedure FROM pg_proc p
	 WHERE p.pronamespace IN ('flov7'::regnamespace, 'flov7_api'::regnamespace)
	   AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))$$,
	'no flov7 function is executable by PUBLIC');
SELECT ok(has_table_privilege('flov7_authenticator', 'flov7.routes', 'SELECT'), 'authenticator reads routes');
SELECT ok(has_function_privilege('flov7_authenticator', 'flov7.args(jsonb,jsonb,text)', 'EXECUTE'),
		  'authenticator runs flov7.args');
SELECT ok(has_function_privilege('flov7_authenticator', 'flov7.openapi(text)', 'EXECUTE'),
		  'authenticator runs flov7.openapi');
SELECT ok(NOT has_function_privilege('flov7_authenticator', 'flov7_api.auth_me(jsonb)', 'EXECUTE'),
		  'authenticator runs no endpoint without switching role');
SELECT ok(has_function_privilege('flov7_anon', 'flov7_api.auth_login(jsonb)', 'EXECUTE'), 'anon may log in');
SELECT ok(has_function_privilege('flov7_anon', 'flov7.args(jsonb,jsonb,text)', 'EXECUTE'),
		  'request roles run flov7.args after the role switch');
SELECT ok(NOT has_function_privilege('flov7_anon', 'flov7_api.auth_me(jsonb)', 'EXECUTE'), 'anon may not call me');
SELECT ok(NOT has_function_privilege('flov7_user', 'flov7_api.admin_stats(jsonb)', 'EXECUTE'),
		  'user may not call admin functions');
SELECT ok(has_function_privilege('flov7_admin', 'flov7_api.integration_list(jsonb)', 'EXECUTE'),
		  'admin has the user grants too');
SELECT ok(NOT has_table_privilege('flov7_user', 'flov7.settings', 'SELECT'), 'settings are secret');
SELECT ok(NOT has_table_privilege('flov7_admin', 'flov7.user_passwords', 'SELECT'), 'password hashes are secret');
SELECT ok(NOT has_column_privilege('flov7_user', 'flov7.api_keys', 'key_hash', 'SELECT'), 'key hashes are not readable');
SELECT ok(NOT has_column_privilege('flov7_admin', 'flov7.user_integrations', 'credentials_encrypted', 'SELECT'),
		  'encrypted credentials are not readable');
SELECT ok(NOT has_column_privilege('flov7_user', 'flov7.users', 'role', 'UPDATE'), 'a user cannot grant themselves a role');
SELECT ok(NOT has_function_privilege('flov7_user', 'flov7.credentials_decrypt(bytea)', 'EXECUTE'),
		  'nobody but the owner decrypts credentials');

-- Constraints.
SELECT pg_temp.mkuser('alice@pgtap.test') AS alice \gset
SELECT pg_temp.mkuser('bob@pgtap.test') AS bob \gset
INSERT INTO flov7.workflows (id, user_id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', :'alice', 'wf');

SELECT throws_ok($$INSERT INTO flov7.users (email) VALUES ('Carol@pgtap.test')$$, '23514', NULL,
				 'emails must be stored lower-cased');
SELECT throws_ok($$INSERT INTO flov7.users (email) VALUES ('not-an-email')$$, '23514', NULL, 'emails are validated');
SELECT throws_ok($$INSERT INTO flov7.users (email) VALUES ('alice@pgtap.test')$$, '23505', NULL, 'emails are unique');
SELECT throws_ok($$INSERT INTO flov7.users (email, role) VALUES ('c@pgtap.test', 'root')$$, '23514', NULL,
				 'role is admin|premium|user');
SELECT throws_ok($$INSERT INTO flov7.users (email, subscription_plan) VALUES ('c@pgtap.test', 'gold')$$, '23514', NULL,
				 'plan is free|pro|enterprise');
SELECT throws_ok($$INSERT INTO flov7.user_passwords VALUES ('$$ || :'bob' || $$', 'plaintext')$$, '23514', NULL,
				 'only bcrypt hashes are stored as passwords');
SELECT throws_ok(format($$INSERT INTO flov7.workflows (user_id, name, status) VALUES (%L, 'x', 'running')$$, :'alice'),
				 '23514', NULL, 'workflow status is draft|active|inactive|archived');
SELECT throws_ok(format($$INSERT INTO flov7.workflows (user_id, name) VALUES (%L, '  ')$$, :'alice'),
				 '23514', NULL, 'a workflow needs a name');
SELECT throws_ok($$INSERT INTO flov7.workflows (name) VALUES ('x')$$, '23502', NULL, 'a workflow needs an owner');
SELECT throws_ok($$INSERT INTO flov7.workflows (user_id, name) VALUES (gen_random_uuid(), 'x')$$, '23503', NULL,
				 'a workflow needs an existing owner');
SELECT throws_ok(format($$INSERT INTO flov7.workflow_executions (workflow_id, user_id, status)
						  VALUES ('00000000-0000-0000-0000-0000000000a1', %L, 'done')$$, :'alice'),
				 '23514', NULL, 'execution status is checked');
SELECT throws_ok(format($$INSERT INTO flov7.workflow_executions (workflow_id, user_id)
						  VALUES ('00000000-0000-0000-0000-0000000000a1', %L)$$, :'bob'),
				 '23503', NULL, 'an execution belongs to the owner of its workflow');
SELECT throws_ok(format($$INSERT INTO flov7.workflow_executions (workflow_id, user_id, status)
						  VALUES ('00000000-0000-0000-0000-0000000000a1', %L, 'completed')$$, :'alice'),
				 '23514', NULL, 'a finished execution has completed_at');
SELECT lives_ok(format($$INSERT INTO flov7.workflow_executions (workflow_id, user_id, status)
						 VALUES ('00000000-0000-0000-0000-0000000000a1', %L, 'waiting')$$, :'alice'),
				'a waiting execution is fine');
SELECT throws_ok(format($$INSERT INTO flov7.user_integrations (user_id, service_name, service_type, credentials_encrypted)
						  VALUES (%L, 'x', 'ftp', '\x00')$$, :'alice'),
				 '23514', NULL, 'service_type is api_key|oauth|webhook|database');
SELECT throws_ok(format($$INSERT INTO flov7.api_keys (user_id, name, key_prefix, key_hash, permissions)
						  VALUES (%L, 'k', 'flv7_abc', 'flv7_clear_key', '{profile:read}')$$, :'alice'),
				 '23514', NULL, 'api keys store a sha256 hex hash, not a key');
SELECT throws_ok(format($$INSERT INTO flov7.notifications (user_id, title, is_read) VALUES (%L, 't', true)$$, :'alice'),
				 '23514', NULL, 'a read notification has read_at');
SELECT throws_ok($$UPDATE flov7.settings SET value = 'short' WHERE key = 'jwt_secret'$$, '23514', NULL,
				 'the jwt secret is at least 32 bytes');
SELECT throws_ok($$UPDATE flov7.settings SET value = '4' WHERE key = 'bcrypt_cost'$$, '23514', NULL,
				 'bcrypt cost is at least 8');
SELECT throws_ok($$INSERT INTO flov7.role_permissions VALUES ('user', 'root:all')$$, '23503', NULL,
				 'role permissions name known permissions');

DELETE FROM flov7.users WHERE id = :'alice';
SELECT is((SELECT count(*) FROM flov7.workflows WHERE id = '00000000-0000-0000-0000-0000000000a1'), 0::bigint,
		  'deleting a user deletes their workflows');

-- Routes are data, validated, and announced to frontd.
SELECT is((SELECT count(*) FROM flov7.routes), 65::bigint, 'every endpoint of CONTRACT.md has a route');
SELECT is_empty($$SELECT r.function FROM flov7.routes r WHERE to_regprocedure(r.function || '(jsonb)') IS NULL$$,
				'every route names an existing function');
SELECT throws_ok($$INSERT INTO flov7.routes (method, path, function) VALUES ('GET', '/api/v1/x', 'flov7_api.nope')$$,
				 '42883', NULL, 'a route must name an existing function (jsonb)');
SELECT throws_ok($$INSERT INTO flov7.routes (method, path, function) VALUES ('GET', '/api/v1/x/', 'flov7_api.auth_me')$$,
				 '23514', NULL, 'route paths have no trailing slash');
SELECT has_trigger('flov7', 'routes', 'routes_notify', 'routes changes NOTIFY flov7_routes');
SELECT is_empty($$SELECT method, path FROM flov7.routes WHERE read_only <> (method = 'GET' AND stream IS NULL)$$,
				'the GET routes of this release are read_only (streams excepted), the others are not');
SELECT throws_ok($$INSERT INTO flov7.routes (method, path, function, stream) VALUES ('POST', '/api/v1/x', 'flov7_api.auth_me', 'sse')$$,
				 '23514', NULL, 'only a GET route may be a stream');
SELECT throws_ok($$INSERT INTO flov7.routes (method, path, function, stream) VALUES ('GET', '/api/v1/x', 'flov7_api.auth_me', 'ftp')$$,
				 '23514', NULL, 'a stream is websocket or sse');
SELECT throws_ok($$INSERT INTO flov7.routes (method, path, function, read_only)
				   VALUES ('POST', '/api/v1/x', 'flov7_api.auth_me', true)$$,
				 '23514', NULL, 'only a GET route may be read_only (frontd may run it twice)');

SELECT * FROM finish();
ROLLBACK;
