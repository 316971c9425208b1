-- 08_audit_quota_routes.sql: audit rows, plan quotas, routes and the OpenAPI document.
BEGIN;
SELECT plan(31);
\ir helpers.psql

SELECT pg_temp.mkuser('aq.a@pgtap.test') AS a \gset
SELECT pg_temp.mkuser('aq.admin@pgtap.test', 'admin') AS adm \gset

-- Request context as frontd sets it.
SELECT set_config('request.ip', '203.0.113.7', false), set_config('request.id', 'req-42', false),
	   set_config('request.headers', '{"user-agent":"pgtap/1.0","accept":"*/*"}', false);

-- Integrations: create, update, delete are audited, with caller, IP, UA, request id, no secrets.
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.integration_create('{"service_name":"db","service_type":"database","credentials":{"password":"hunter2-SECRET"}}') ->> 'id' AS iid \gset
SELECT flov7_api.integration_update(jsonb_build_object('id', :'iid', 'credentials', '{"password":"hunter3-SECRET"}'::jsonb)) IS NOT NULL;
SELECT flov7_api.integration_delete(jsonb_build_object('id', :'iid')) IS NULL;
SELECT pg_temp.act_dba();
SELECT is(ARRAY(SELECT action FROM flov7.audit_logs WHERE record_id = :'iid' ORDER BY created_at),
		  ARRAY['create', 'update', 'delete'], 'integration changes are audited');
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE record_id = :'iid' AND user_id = :'a' AND owner_id = :'a'
			 AND ip_address = '203.0.113.7' AND user_agent = 'pgtap/1.0' AND request_id = 'req-42'
			 AND table_name = 'user_integrations'),
		  3::bigint, 'audit rows carry caller, owner, IP, user agent and request id');
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE record_id = :'iid'
			 AND (coalesce(old_data::text, '') || coalesce(new_data::text, '')) ~ 'SECRET|credentials_encrypted'),
		  0::bigint, 'audit rows hold no credentials');
SELECT ok((SELECT (new_data ->> 'credentials_changed')::boolean FROM flov7.audit_logs
			WHERE record_id = :'iid' AND action = 'update'), 'a credentials change is recorded as such');

-- API keys: creation and revocation audited without the key or its hash; usage is not audited.
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.api_key_create('{"name":"audited"}') AS k \gset
SELECT flov7_api.api_key_revoke(jsonb_build_object('key_id', :'k'::jsonb ->> 'id')) IS NULL;
SELECT pg_temp.act_dba();
SELECT is(ARRAY(SELECT action FROM flov7.audit_logs WHERE record_id = (:'k'::jsonb ->> 'id')::uuid ORDER BY created_at),
		  ARRAY['create', 'update'], 'api key creation and revocation are audited');
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE record_id = (:'k'::jsonb ->> 'id')::uuid
			 AND (coalesce(old_data::text, '') || coalesce(new_data::text, '')) ~ ('key_hash|' || (:'k'::jsonb ->> 'key'))),
		  0::bigint, 'audit rows hold neither key nor hash');
SELECT pg_temp.mkkey(:'a', '{profile:read}') AS k2 \gset
SELECT count(*) FROM flov7.audit_logs \gset before_
SELECT pg_temp.act_with_key(:'k2');
SELECT flov7.authorize('profile:read') IS NOT NULL;
SELECT pg_temp.act_dba();
SELECT is((SELECT count(*) FROM flov7.audit_logs), :before_count::bigint, 'using a key is not an audited change');

-- Workflows.
SELECT pg_temp.act_as(:'a');
INSERT INTO flov7.workflows (user_id, name) VALUES (:'a', 'audited wf') RETURNING id AS wid \gset
SELECT pg_temp.act_dba();
SELECT is((SELECT action || ' ' || user_id FROM flov7.audit_logs WHERE record_id = :'wid'), 'create ' || :'a',
		  'workflow creation is audited with the caller');

-- Role and status changes.
SELECT pg_temp.act_as(:'adm');
SELECT flov7_api.admin_user_set_role(jsonb_build_object('id', :'a', 'role', 'premium')) IS NOT NULL;
SELECT flov7_api.admin_user_set_status(jsonb_build_object('id', :'a', 'is_active', false)) IS NOT NULL;
SELECT pg_temp.act_dba();
SELECT is((SELECT old_data || new_data FROM flov7.audit_logs WHERE record_id = :'a' AND action = 'role_change'),
		  '{"role":"premium","is_active":true}'::jsonb, 'role change audited with the new role');
SELECT is((SELECT jsonb_build_object('by', user_id, 'of', owner_id, 'old', old_data -> 'role', 'new', new_data -> 'role')
			 FROM flov7.audit_logs WHERE record_id = :'a' AND action = 'role_change'),
		  jsonb_build_object('by', :'adm', 'of', :'a', 'old', 'user', 'new', 'premium'), 'role change: by whom, of whom');
SELECT is((SELECT new_data -> 'is_active' FROM flov7.audit_logs WHERE record_id = :'a' AND action = 'status_change'),
		  'false'::jsonb, 'status change audited');
UPDATE flov7.users SET full_name = 'not audited', is_active = true WHERE id = :'a';
UPDATE flov7.users SET full_name = 'still not audited' WHERE id = :'a';
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE record_id = :'a'), 3::bigint,
		  'only role and status changes of users are audited (a DBA change has a NULL caller)');
SELECT ok((SELECT user_id IS NULL FROM flov7.audit_logs WHERE record_id = :'a' ORDER BY created_at DESC LIMIT 1),
		  'a change with no caller records user_id NULL');

-- Audit rows are visible to their owner.
SELECT pg_temp.act_as(:'a');
SELECT ok((SELECT count(*) FROM flov7.audit_logs WHERE owner_id = :'a') >= 3, 'a user sees the audit of their records');

-- Quotas: the free plan allows max_workflows; one more is 53400.
SELECT pg_temp.act_dba();
UPDATE flov7.users SET subscription_plan = 'free', role = 'user' WHERE id = :'a';
SELECT pg_temp.act_as(:'adm');
UPDATE flov7.plan_quotas SET max_workflows = 3 WHERE plan = 'free';
SELECT is((SELECT max_workflows FROM flov7.plan_quotas WHERE plan = 'free'), 3, 'an admin changes the quota table');
SELECT pg_temp.act_as(:'a');
INSERT INTO flov7.workflows (user_id, name) VALUES (:'a', 'w2'), (:'a', 'w3');
SELECT throws_ok(format($$INSERT INTO flov7.workflows (user_id, name) VALUES (%L, 'w4')$$, :'a'), '53400',
				 'plan quota exceeded: at most 3 workflows on plan "free"', 'one workflow too many is 53400');
SELECT pg_temp.act_dba();
UPDATE flov7.users SET subscription_plan = 'enterprise' WHERE id = :'a';
SELECT pg_temp.act_as(:'a');
SELECT lives_ok(format($$INSERT INTO flov7.workflows (user_id, name) VALUES (%L, 'w4')$$, :'a'),
				'enterprise has no workflow limit');
SELECT pg_temp.act_dba();
UPDATE flov7.users SET subscription_plan = 'free' WHERE id = :'a';
UPDATE flov7.plan_quotas SET max_api_keys = 1, max_integrations = 0 WHERE plan = 'free';
SELECT pg_temp.act_as(:'a');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"one too many"}')$$, '53400', NULL,
				 'api keys beyond max_api_keys are 53400');
SELECT throws_ok($$SELECT flov7_api.integration_create('{"service_name":"x","service_type":"webhook","credentials":{}}')$$,
				 '53400', NULL, 'integrations beyond max_integrations are 53400');
SELECT pg_temp.act_dba();
UPDATE flov7.plan_quotas SET max_executions_per_day = 1 WHERE plan = 'free';
INSERT INTO flov7.workflow_executions (workflow_id, user_id) VALUES (:'wid', :'a');
SELECT throws_ok(format($$INSERT INTO flov7.workflow_executions (workflow_id, user_id) VALUES (%L, %L)$$, :'wid', :'a'),
				 '53400', NULL, 'executions beyond max_executions_per_day are 53400');

-- OpenAPI from the routes.
SELECT flov7.openapi('http://localhost:8000') AS doc \gset
SELECT is(:'doc'::jsonb ->> 'openapi', '3.0.3', 'OpenAPI 3');
SELECT is(:'doc'::jsonb -> 'servers' -> 0 ->> 'url', 'http://localhost:8000', 'server url');
SELECT is((SELECT count(*) FROM jsonb_object_keys(:'doc'::jsonb -> 'paths')),
		  (SELECT count(DISTINCT path) FROM flov7.routes), 'one path item per route path');
SELECT is(:'doc'::jsonb #> ARRAY['paths', '/api/v1/users/integrations/{id}', 'get', 'parameters', '0', 'name'], '"id"'::jsonb,
		  'path parameters are described');
SELECT is(:'doc'::jsonb #> ARRAY['paths', '/api/v1/auth/login', 'post', 'security'], '[]'::jsonb, 'public endpoints need no auth');
SELECT ok(:'doc'::jsonb #> ARRAY['paths', '/api/v1/auth/me', 'get', 'security'] @> '[{"bearerAuth":[]}]', 'others need a bearer token');
SELECT ok(:'doc'::jsonb #> ARRAY['paths', '/api/v1/auth/api-keys/{key_id}', 'delete', 'responses'] ? '204', 'status from the route');
SELECT ok(:'doc'::jsonb #> ARRAY['components', 'securitySchemes'] ?& ARRAY['bearerAuth', 'apiKeyAuth'], 'security schemes');
SELECT ok(:'doc'::jsonb #> ARRAY['components', 'schemas', 'Error', 'properties'] ?& ARRAY['code', 'message', 'details', 'hint'],
		  'the error schema');
SET LOCAL ROLE flov7_authenticator;
SELECT lives_ok($$SELECT flov7.openapi(NULL)$$, 'the authenticator can build the document');
SELECT lives_ok($$SELECT method, path, function, status, summary, tag FROM flov7.routes ORDER BY path, method$$,
				'the authenticator can read the routes');
RESET ROLE;

SELECT pg_temp.act_dba();
SELECT * FROM finish();
ROLLBACK;
