-- 06_users_api.sql: API key, profile, stats, integration and notification endpoints.
BEGIN;
SELECT plan(61);
\ir helpers.psql

SELECT pg_temp.mkuser('ua.a@pgtap.test') AS a \gset
SELECT pg_temp.mkuser('ua.b@pgtap.test') AS b \gset

-- API keys: created with the caller's non-admin permissions by default, the key shown once.
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.api_key_create('{"name":"ci"}') AS k \gset
SELECT ok(:'k'::jsonb ?& ARRAY['id', 'name', 'permissions', 'is_active', 'expires_at', 'last_used_at', 'usage_count',
							  'created_at', 'key'], 'api_key_create returns an API key with its key');
SELECT ok(:'k'::jsonb ->> 'key' ~ '^flv7_[A-Za-z0-9_-]{43}$', 'keys are flv7_ + 32 random bytes');
SELECT is(jsonb_array_length(:'k'::jsonb -> 'permissions'), 11, 'default scopes: all the owner''s non-admin permissions');
SELECT pg_temp.act_dba();
SELECT is((SELECT count(*) FROM flov7.api_keys
			WHERE key_hash = flov7.sha256_hex(:'k'::jsonb ->> 'key') AND key_prefix = left(:'k'::jsonb ->> 'key', 12)),
		  1::bigint, 'the key is stored as its sha256 and a display prefix');
SELECT is((SELECT count(*) FROM flov7.api_keys k WHERE to_jsonb(k)::text LIKE '%' || (:'k'::jsonb ->> 'key') || '%'),
		  0::bigint, 'the clear key is stored nowhere');
SELECT pg_temp.act_as(:'a');
SELECT ok(NOT flov7_api.api_key_list('{}') -> 'items' -> 0 ? 'key', 'list never shows the key');
SELECT is(flov7_api.api_key_list('{}') ->> 'total', '1', 'list total');
SELECT flov7_api.api_key_create('{"name":"ro","permissions":["workflows:read","profile:read"],"expires_at":"2999-01-01T00:00:00Z"}') AS ro \gset
SELECT is(:'ro'::jsonb -> 'permissions', '["profile:read", "workflows:read"]'::jsonb, 'explicit scopes are kept');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","permissions":["admin:users"]}')$$, '22023',
				 'permission "admin:users" exceeds your own permissions', 'scopes must be a subset of the owner''s');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","permissions":["root:all"]}')$$, '22023',
				 'unknown permission "root:all"', 'unknown scopes are refused');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","permissions":[]}')$$, '22023', NULL, 'empty scopes');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x","expires_at":"2000-01-01T00:00:00Z"}')$$, '22023',
				 'field "expires_at" must be in the future', 'expiry in the past');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{}')$$, '22023', 'missing required field "name"', 'name required');

-- A key can only mint keys within its own scopes.
SELECT pg_temp.act_with_key(:'ro'::jsonb ->> 'key');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"x"}')$$, '42501', 'permission denied: "api_keys:write" is required',
				 'a read-only key cannot create keys');
SELECT is(flov7_api.auth_verify('{}') -> 'expires_at', 'null'::jsonb, 'verify with an API key: expires_at null');

-- Revoke.
SELECT pg_temp.act_as(:'b');
SELECT throws_ok(format('SELECT flov7_api.api_key_revoke(%L)', jsonb_build_object('key_id', :'k'::jsonb ->> 'id')),
				 'P0002', 'api key not found', 'B cannot revoke A''s key (P0002)');
SELECT throws_ok($$SELECT flov7_api.api_key_revoke('{"key_id":"42"}')$$, '22P02', NULL, 'bad key id is 22P02');
SELECT pg_temp.act_as(:'a');
SELECT ok(flov7_api.api_key_revoke(jsonb_build_object('key_id', :'k'::jsonb ->> 'id')) IS NULL,
		  'revoke answers NULL (204)');
SELECT pg_temp.act_with_key(:'k'::jsonb ->> 'key');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'api key has been revoked', 'a revoked key no longer works');

-- Profile.
SELECT pg_temp.act_as(:'a');
SELECT is(flov7_api.users_profile_get('{}') ->> 'email', 'ua.a@pgtap.test', 'profile get');
SELECT is(flov7_api.users_profile_update('{"full_name":" Ada ","avatar_url":"https://img.example.com/a.png"}') - ARRAY['updated_at', 'created_at', 'last_login', 'id', 'subscription_expires_at'],
		  '{"email":"ua.a@pgtap.test","full_name":"Ada","avatar_url":"https://img.example.com/a.png","is_active":true,
			"is_verified":false,"role":"user","subscription_plan":"free"}'::jsonb, 'profile update');
SELECT is(flov7_api.users_profile_update('{"full_name":"Ada","role":"admin","is_active":false}') ->> 'role', 'user',
		  'profile update ignores role and status');
SELECT throws_ok($$SELECT flov7_api.users_profile_update('{"avatar_url":"javascript:alert(1)"}')$$, '22023', NULL,
				 'avatar_url must be http(s)');
SELECT throws_ok($$SELECT flov7_api.users_profile_update('{"new_password":"brand new pw"}')$$, '22023',
				 'missing required field "current_password"', 'password change needs the current password');
SELECT throws_ok($$SELECT flov7_api.users_profile_update('{"new_password":"brand new pw","current_password":"wrong one!"}')$$,
				 '22023', 'current password is incorrect', 'wrong current password is 22023 (400), not 28P01 (401)');
SELECT throws_ok($$SELECT flov7_api.users_profile_update('{"new_password":"short","current_password":"password123"}')$$,
				 '22023', NULL, 'new password is checked');
SELECT lives_ok($$SELECT flov7_api.users_profile_update('{"new_password":"brand new pw","current_password":"password123"}')$$,
				'password change');
SELECT pg_temp.act_anon();
SELECT is(flov7_api.auth_login('{"email":"ua.a@pgtap.test","password":"brand new pw"}') -> 'user' ->> 'id', :'a',
		  'the new password logs in');

-- Integrations: credentials encrypted at rest, never returned.
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.integration_create('{"service_name":"stripe","service_type":"api_key","credentials":{"secret":"sk_live_TOPSECRET"}}') AS i \gset
SELECT is(:'i'::jsonb ->> 'service_name', 'stripe', 'integration created');
SELECT is(:'i'::jsonb -> 'credentials', '{"configured": true}', 'credentials never returned, only that they are set');
SELECT ok(NOT :'i'::jsonb ? 'credentials_encrypted' AND strpos(:'i', 'TOPSECRET') = 0, 'nothing of the secret in the answer');
SELECT pg_temp.act_dba();
SELECT ok((SELECT position('TOPSECRET'::bytea IN credentials_encrypted) = 0 FROM flov7.user_integrations
			WHERE id = (:'i'::jsonb ->> 'id')::uuid), 'the stored bytes do not contain the clear secret');
SELECT is((SELECT flov7.credentials_decrypt(credentials_encrypted) FROM flov7.user_integrations
			WHERE id = (:'i'::jsonb ->> 'id')::uuid), '{"secret":"sk_live_TOPSECRET"}'::jsonb,
		  'the owner of the extension can decrypt them');
SELECT pg_temp.act_as(:'a');
SELECT throws_ok($$SELECT flov7_api.integration_create('{"service_name":"stripe","service_type":"api_key","credentials":{}}')$$,
				 '23505', NULL, 'service names are unique per user');
SELECT throws_ok($$SELECT flov7_api.integration_create('{"service_name":"x","service_type":"ftp","credentials":{}}')$$,
				 '22023', NULL, 'bad service_type is 22023');
SELECT throws_ok($$SELECT flov7_api.integration_create('{"service_name":"x","service_type":"oauth"}')$$,
				 '22023', 'missing required field "credentials"', 'credentials required');
SELECT is(flov7_api.integration_get(jsonb_build_object('id', :'i'::jsonb ->> 'id')) ->> 'id', :'i'::jsonb ->> 'id',
		  'integration get');
SELECT is(flov7_api.integration_list('{"service_type":"api_key"}') ->> 'total', '1', 'integration list filter');
SELECT is(flov7_api.integration_list('{"service_type":"oauth"}') ->> 'total', '0', 'integration list filter (none)');
SELECT is(flov7_api.integration_update(jsonb_build_object('id', :'i'::jsonb ->> 'id', 'is_active', false,
														  'credentials', '{"secret":"rotated"}'::jsonb)) ->> 'is_active',
		  'false', 'integration update');
SELECT throws_ok(format('SELECT flov7_api.integration_update(%L)', jsonb_build_object('id', :'i'::jsonb ->> 'id', 'service_type', 'nope')),
				 '22023', NULL, 'integration update checks service_type');
SELECT is(flov7_api.integration_update(jsonb_build_object('id', :'i'::jsonb ->> 'id', 'service_type', 'oauth')) ->> 'service_type',
		  'oauth', 'integration update changes service_type');
SELECT pg_temp.act_as(:'b');
SELECT throws_ok(format('SELECT flov7_api.integration_get(%L)', jsonb_build_object('id', :'i'::jsonb ->> 'id')),
				 'P0002', 'integration not found', 'B cannot get A''s integration');
SELECT throws_ok(format('SELECT flov7_api.integration_update(%L)', jsonb_build_object('id', :'i'::jsonb ->> 'id', 'is_active', true)),
				 'P0002', NULL, 'B cannot update A''s integration');
SELECT throws_ok(format('SELECT flov7_api.integration_delete(%L)', jsonb_build_object('id', :'i'::jsonb ->> 'id')),
				 'P0002', NULL, 'B cannot delete A''s integration');
SELECT is(flov7_api.integration_list('{}') ->> 'total', '0', 'B lists none of A''s integrations');
SELECT pg_temp.act_as(:'a');
SELECT ok(flov7_api.integration_delete(jsonb_build_object('id', :'i'::jsonb ->> 'id')) IS NULL, 'integration delete');
SELECT throws_ok(format('SELECT flov7_api.integration_get(%L)', jsonb_build_object('id', :'i'::jsonb ->> 'id')),
				 'P0002', NULL, 'deleted integration is gone');

-- Notifications.
SELECT pg_temp.act_dba();
INSERT INTO flov7.notifications (user_id, type, title, created_at)
SELECT :'a', CASE WHEN n % 2 = 0 THEN 'info' ELSE 'warning' END, 'n' || n, now() - n * interval '1 minute'
  FROM generate_series(1, 5) n;
INSERT INTO flov7.notifications (user_id, title) VALUES (:'b', 'for b') RETURNING id AS nb \gset
SELECT pg_temp.act_as(:'a');
SELECT is(flov7_api.notification_list('{"limit":"2"}') - 'items' - 'next_cursor',
		  '{"total":5,"total_is_estimate":false,"limit":2,"offset":0,"has_more":true,"unread_count":5,
			"unread_count_is_estimate":false}'::jsonb,
		  'notification list paging');
SELECT is(flov7_api.notification_list('{"limit":"2","offset":"4"}') -> 'items' -> 0 ->> 'title', 'n5',
		  'newest first, offset');
SELECT is(flov7_api.notification_list('{"type":"info"}') ->> 'total', '2', 'type filter');
SELECT throws_ok($$SELECT flov7_api.notification_list('{"limit":"500"}')$$, '22023', NULL, 'limit is at most 100');
SELECT is(flov7_api.notification_read(jsonb_build_object('id', (SELECT id FROM flov7.notifications WHERE title = 'n1'))) ->> 'is_read',
		  'true', 'notification read');
SELECT is(flov7_api.notification_list('{"is_read":"false"}') ->> 'total', '4', 'is_read filter');
SELECT throws_ok(format('SELECT flov7_api.notification_read(%L)', jsonb_build_object('id', :'nb')), 'P0002', NULL,
				 'cannot read B''s notification');
SELECT is(flov7_api.notification_read_all('{}') ->> 'updated', '4', 'read-all');
SELECT is(flov7_api.notification_list('{"is_read":false}') ->> 'total', '0', 'all read');

-- Stats.
SELECT pg_temp.act_dba();
INSERT INTO flov7.workflows (user_id, name, status) VALUES (:'a', 'w1', 'active'), (:'a', 'w2', 'draft'), (:'b', 'w3', 'draft');
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.users_stats('{}') AS st \gset
SELECT is(:'st'::jsonb -> 'workflows', '{"total":2,"by_status":{"draft":1,"active":1,"inactive":0,"archived":0}}'::jsonb,
		  'stats: workflows by status');
SELECT is(:'st'::jsonb -> 'notifications', '{"total":5,"unread":0}'::jsonb, 'stats: notifications');
SELECT is(:'st'::jsonb -> 'api_keys', '{"total":2,"active":1}'::jsonb, 'stats: api keys');
SELECT is(:'st'::jsonb -> 'executions' ->> 'total', '0', 'stats: executions');

SELECT pg_temp.act_dba();
SELECT * FROM finish();
ROLLBACK;
