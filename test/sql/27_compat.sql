-- 27_compat.sql: what the original platform's clients send and expect, in both API profiles
-- (issue 9): skip for offset, has_more, unread_only and unread_count, include_inactive, API-key
-- permissions as an object, description, key_preview, expires_in_days and the default expiry,
-- credentials {"configured": true}, user_id on rows, profile stats, "No fields to update",
-- is_active as text, the root and health functions.
BEGIN;
SELECT plan(71);
\ir helpers.psql

SELECT pg_temp.mkuser('co.a@pgtap.test', 'user', 'enterprise') AS a \gset
SELECT pg_temp.mkuser('co.b@pgtap.test') AS b \gset
SELECT pg_temp.mkuser('co.adm@pgtap.test', 'admin') AS adm \gset
INSERT INTO flov7.notifications (user_id, type, title, created_at)
SELECT :'a', 'info', 'n' || n, now() - n * interval '1 minute' FROM generate_series(1, 5) n;
UPDATE flov7.notifications SET is_read = true, read_at = now() WHERE user_id = :'a' AND title IN ('n1', 'n2');

-- ---- skip: the original's name for offset -------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT is(flov7_api.notification_list('{"skip":1,"limit":1}') -> 'items' -> 0 ->> 'title', 'n2', 'skip=1 skips the first row');
SELECT is(flov7_api.notification_list('{"skip":"1","limit":1}') -> 'items' -> 0 ->> 'title', 'n2', 'skip as a query string');
SELECT is(flov7_api.notification_list('{"skip":1,"limit":1}') -> 'offset', '1', 'and is echoed as offset');
SELECT is(flov7_api.notification_list('{"skip":2,"offset":2,"limit":1}') -> 'items' -> 0 ->> 'title', 'n3',
		  'skip and offset together when they agree');
SELECT throws_ok($$SELECT flov7_api.notification_list('{"skip":1,"offset":2}')$$, '22023',
				 'fields "offset" and "skip" disagree', 'skip and offset that disagree');
SELECT throws_ok($$SELECT flov7_api.notification_list('{"skip":-1}')$$, '22023', 'field "skip" must be at least 0',
				 'a negative skip');
SELECT throws_ok($$SELECT flov7_api.notification_list('{"skip":"x"}')$$, '22023', 'field "skip" must be an integer',
				 'a skip that is no number');
SELECT flov7_api.notification_list('{"limit":1}') ->> 'next_cursor' AS cur \gset
SELECT throws_ok(format('SELECT flov7_api.notification_list(%L)', jsonb_build_object('cursor', :'cur', 'skip', 1)),
				 '22023', 'send either "cursor" or "skip", not both', 'a cursor with skip');
SELECT is(flov7.arg_offset('{}'), 0, 'no offset: 0');
SELECT is(flov7.arg_offset('{"offset":null,"skip":3}'), 3, 'a null offset leaves skip');

-- ---- has_more on every list -----------------------------------------------------------------------
SELECT is(flov7_api.notification_list('{"limit":2}') -> 'has_more', 'true', 'has_more on a page with more after it');
SELECT is(flov7_api.notification_list('{"limit":2,"skip":3}') -> 'has_more', 'false', 'has_more false on the last page');
SELECT is(flov7_api.notification_list(jsonb_build_object('limit', 4, 'cursor', :'cur')) -> 'has_more', 'false',
		  'has_more false on the last page reached by cursor');
SELECT is(flov7_api.api_key_list('{}') -> 'has_more', 'false', 'has_more on API keys');
SELECT is(flov7_api.integration_list('{}') -> 'has_more', 'false', 'has_more on integrations');
SELECT is(flov7_api.workflow_list('{}') -> 'has_more', 'false', 'has_more on workflows');
SELECT is(flov7_api.primitive_list('{"limit":1}') -> 'has_more', 'true', 'has_more on primitives');
SELECT is(flov7_api.template_list('{"limit":1}') -> 'has_more', 'true', 'has_more on templates');

-- ---- notifications: unread_only, unread_count, user_id ------------------------------------------
SELECT is((SELECT jsonb_agg(i ->> 'title' ORDER BY i ->> 'title')
			 FROM jsonb_array_elements(flov7_api.notification_list('{"unread_only":"true"}') -> 'items') i),
		  '["n3","n4","n5"]', 'unread_only=true lists the unread ones');
SELECT is(flov7_api.notification_list('{"unread_only":false}') -> 'total', '5', 'unread_only=false lists all');
SELECT is(flov7_api.notification_list('{"unread_only":"true","is_read":"false"}') -> 'total', '3',
		  'unread_only with is_read=false');
SELECT throws_ok($$SELECT flov7_api.notification_list('{"unread_only":"true","is_read":"true"}')$$, '22023',
				 'fields "unread_only" and "is_read" disagree', 'unread_only with is_read=true');
SELECT throws_ok($$SELECT flov7_api.notification_list('{"unread_only":"maybe"}')$$, '22023',
				 'field "unread_only" must be true or false', 'unread_only must be a boolean');
SELECT is(flov7_api.notification_list('{"limit":1}') -> 'unread_count', '3', 'unread_count whatever the page');
SELECT is(flov7_api.notification_list('{"is_read":"true"}') -> 'unread_count', '3', 'unread_count whatever the filter');
SELECT is(flov7_api.notification_list('{}') -> 'unread_count_is_estimate', 'false', 'a small unread_count is exact');
SELECT is(flov7_api.notification_list('{"limit":1}') -> 'items' -> 0 ->> 'user_id', :'a', 'a notification has its user_id');
SELECT pg_temp.act_as(:'b');
SELECT is(flov7_api.notification_list('{}') -> 'unread_count', '0', 'unread_count is the caller''s');

-- ---- API keys: description, key_preview, permissions object, expiry ------------------------------
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.api_key_create('{"name":"ci","description":"for the CI","permissions":{"read":true,"write":false}}') AS k1 \gset
SELECT is(:'k1'::jsonb ->> 'description', 'for the CI', 'a key has its description');
SELECT is(:'k1'::jsonb ->> 'key_preview', left(:'k1'::jsonb ->> 'key', 12) || '...', 'key_preview: the prefix and an ellipsis');
SELECT is(:'k1'::jsonb -> 'permissions',
		  (SELECT to_jsonb(array_agg(p ORDER BY p)) FROM unnest(flov7.caller_permissions()) p
			WHERE p LIKE '%:read' AND p NOT LIKE 'admin:%'),
		  'read: every *:read the owner has');
SELECT ok(abs(extract(epoch FROM (:'k1'::jsonb ->> 'expires_at')::timestamptz - (now() + interval '365 days'))) < 5,
		  'a key expires in 365 days by default');
SELECT is(flov7_api.api_key_create('{"name":"w","permissions":{"write":true}}') -> 'permissions',
		  (SELECT to_jsonb(array_agg(p ORDER BY p)) FROM unnest(flov7.caller_permissions()) p
			WHERE p LIKE '%:write' AND p NOT LIKE 'admin:%'),
		  'write: every *:write the owner has');
SELECT is(flov7_api.api_key_create('{"name":"x","permissions":{"read":false,"execute":true}}') -> 'permissions',
		  '["workflows:execute"]', 'execute: workflows:execute');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","permissions":{"read":false}}')$$, '22023',
				 'field "permissions" must grant something', 'an object granting nothing');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","permissions":{"admin":true}}')$$, '22023',
				 'field "permissions" has an unknown key "admin"', 'an unknown key of the object');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","permissions":{"read":"yes"}}')$$, '22023',
				 'field "permissions.read" must be a JSON boolean', 'a value of the object that is not a boolean');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","permissions":"read"}')$$, '22023',
				 'field "permissions" must be an array of strings', 'permissions neither a list nor an object');
SELECT is(flov7_api.api_key_create('{"name":"d7","expires_in_days":7}') ->> 'expires_at' IS NOT NULL
		  AND abs(extract(epoch FROM (flov7_api.api_key_create('{"name":"d7b","expires_in_days":"7"}') ->> 'expires_at')::timestamptz
						  - (now() + interval '7 days'))) < 5, true, 'expires_in_days');
SELECT is(flov7_api.api_key_create('{"name":"never","expires_at":null}') -> 'expires_at', 'null',
		  'an explicit "expires_at": null never expires');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","expires_in_days":0}')$$, '22023', NULL, 'expires_in_days 0');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","expires_in_days":7,"expires_at":"2999-01-01T00:00:00Z"}')$$,
				 '22023', 'send either "expires_at" or "expires_in_days", not both', 'both expiries');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","description":7}')$$, '22023',
				 'field "description" must be a string', 'a description that is no string');
-- The setting and the plan.
SELECT pg_temp.act_dba();
UPDATE flov7.settings SET value = '30' WHERE key = 'api_key_expiry_days';
UPDATE flov7.plan_quotas SET api_key_max_days = 90 WHERE plan = 'enterprise';
SELECT throws_ok($$UPDATE flov7.settings SET value = '0' WHERE key = 'api_key_expiry_days'$$, '23514', NULL,
				 'the default expiry is a positive number of days');
SELECT pg_temp.act_as(:'a');
SELECT ok(abs(extract(epoch FROM (flov7_api.api_key_create('{"name":"s30"}') ->> 'expires_at')::timestamptz
						- (now() + interval '30 days'))) < 5, 'the default expiry is the setting api_key_expiry_days');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","expires_at":null}')$$, '53400',
				 'your plan allows API keys of at most 90 days', 'no expiry where the plan does not allow it');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","expires_in_days":91}')$$, '53400',
				 'your plan allows API keys of at most 90 days', 'past the plan''s longest key');
SELECT pg_temp.act_dba();
UPDATE flov7.settings SET value = '365' WHERE key = 'api_key_expiry_days';
SELECT pg_temp.act_as(:'a');
SELECT ok(abs(extract(epoch FROM (flov7_api.api_key_create('{"name":"s90"}') ->> 'expires_at')::timestamptz
						- (now() + interval '90 days'))) < 5, 'the default never passes the plan''s longest key');
SELECT pg_temp.act_dba();
UPDATE flov7.plan_quotas SET api_key_max_days = NULL WHERE plan = 'enterprise';

-- ---- include_inactive ---------------------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.api_key_revoke(jsonb_build_object('key_id', :'k1'::jsonb ->> 'id'));
SELECT ok(NOT (flov7_api.api_key_list('{"limit":100}') -> 'items') @> jsonb_build_array(jsonb_build_object('id', :'k1'::jsonb -> 'id')),
		  'a revoked key is not listed by default');
SELECT ok((flov7_api.api_key_list('{"limit":100,"include_inactive":"true"}') -> 'items') @> jsonb_build_array(jsonb_build_object('id', :'k1'::jsonb -> 'id')),
		  'include_inactive=true lists it');
SELECT is(flov7_api.api_key_list('{"is_active":"false"}') -> 'items' -> 0 -> 'id', :'k1'::jsonb -> 'id',
		  'is_active=false lists the revoked ones');
SELECT flov7_api.integration_create('{"service_name":"gh","service_type":"api_key","credentials":{"token":"SECRET1"}}') AS i1 \gset
SELECT flov7_api.integration_create('{"service_name":"off","service_type":"webhook","credentials":{"u":"v"}}') AS i2 \gset
SELECT flov7_api.integration_update(jsonb_build_object('id', :'i2'::jsonb ->> 'id', 'is_active', false));
SELECT is(flov7_api.integration_list('{}') -> 'total', '1', 'an inactive integration is not listed by default');
SELECT is(flov7_api.integration_list('{"include_inactive":true}') -> 'total', '2', 'include_inactive=true lists it');
SELECT throws_ok($$SELECT flov7_api.integration_list('{"include_inactive":"sometimes"}')$$, '22023',
				 'field "include_inactive" must be true or false', 'include_inactive must be a boolean');

-- ---- integrations: credentials {"configured": true}, user_id --------------------------------------
SELECT is(:'i1'::jsonb -> 'credentials', '{"configured": true}', 'credentials: only that they are set');
SELECT is(:'i1'::jsonb ->> 'user_id', :'a', 'an integration has its user_id');
SELECT ok(strpos(flov7_api.integration_get(jsonb_build_object('id', :'i1'::jsonb ->> 'id'))::text, 'SECRET1') = 0,
		  'the secret is never in an answer');

-- ---- No fields to update --------------------------------------------------------------------------
SELECT throws_ok(format('SELECT flov7_api.integration_update(%L)', jsonb_build_object('id', :'i1'::jsonb ->> 'id')),
				 '22023', 'No fields to update', 'an integration PUT with no field');
SELECT throws_ok($$SELECT flov7_api.users_profile_update('{"current_password":"password123"}')$$, '22023',
				 'No fields to update', 'a profile PUT with no field');
SELECT flov7_api.workflow_create('{"name":"w"}') ->> 'id' AS wf \gset
SELECT throws_ok(format('SELECT flov7_api.workflow_update(%L)', jsonb_build_object('id', :'wf', 'version', 1)),
				 '22023', 'No fields to update', 'a workflow PUT with only a version');
SELECT is(flov7_api.workflow_get(jsonb_build_object('id', :'wf')) -> 'version', '1', 'and the version did not move');

-- ---- profile stats ---------------------------------------------------------------------------------
SELECT is(flov7_api.users_profile_get('{}') -> 'stats',
		  jsonb_build_object('workflows_count', flov7_api.users_stats('{}') -> 'workflows' -> 'total',
							 'executions_count', flov7_api.users_stats('{}') -> 'executions' -> 'total',
							 'integrations_count', flov7_api.users_stats('{}') -> 'integrations' -> 'total'),
		  'profile stats are the totals of /users/stats');
SELECT is(flov7_api.users_profile_get('{}') -> 'stats' -> 'integrations_count', '2', 'counted');

-- ---- admin status: is_active as text (a query parameter) ------------------------------------------
SELECT pg_temp.act_as(:'adm');
SELECT is(flov7_api.admin_user_set_status(jsonb_build_object('id', :'b', 'is_active', 'false')) -> 'is_active', 'false',
		  'is_active=false as text (a query parameter)');
SELECT is(flov7_api.admin_user_set_status(jsonb_build_object('id', :'b', 'is_active', 'true')) -> 'is_active', 'true',
		  'is_active=true as text');

-- ---- the root and health, for anyone ------------------------------------------------------------
SELECT pg_temp.act_anon();
SELECT is(flov7_api.api_root('{}') - 'version', '{"name":"flov7","message":"flov7 API","api":"/api/v1",
		  "openapi_url":"/openapi.json","docs_url":"/openapi.json","health_url":"/health","status":"running"}',
		  'the root: name and links');
SELECT is(flov7_api.api_root('{}') ->> 'version', (SELECT extversion FROM pg_extension WHERE extname = 'flov7'),
		  'the root: the extension''s version');
SELECT is(flov7_api.service_health('{"service":"workflows"}') ->> 'status', 'healthy', 'a service''s health');
SELECT set_config('request.path', '/api/v1/realtime/health', true);
SELECT is(flov7_api.service_health('{}') ->> 'service', 'realtime', 'the service is the route''s');
SELECT throws_ok($$SELECT flov7_api.service_health('{"service":"billing"}')$$, 'P0002', 'no such service "billing"',
				 'an unknown service');
SELECT ok((flov7_api.health_database('{}') -> 'database' ->> 'latency_ms')::numeric >= 0
		  AND flov7_api.health_database('{}') -> 'database' -> 'reachable' = 'true', 'the database: reachable, latency');

SELECT * FROM finish();
ROLLBACK;
