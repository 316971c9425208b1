-- 28_original_profile.sql: the `original` API profile (issue 9): the switch (superuser only,
-- known profiles only, and back again to exactly what was), the route rows it writes, the
-- wrappers' shapes over flov7_api, and that the wrappers only reshape.
BEGIN;
SELECT plan(31);
\ir helpers.psql

CREATE TEMP TABLE routes_before AS SELECT * FROM flov7.routes;
GRANT SELECT ON routes_before TO flov7_user;

-- ---- the switch ---------------------------------------------------------------------------------
SELECT is(flov7.api_profile(), 'flov7', 'flov7 is the default profile');
SELECT is(flov7.set_api_profile('original'), 'original', 'a superuser switches to the original profile');
SELECT is(flov7.api_profile(), 'original', 'and it is the profile');
SELECT is((SELECT function FROM flov7.routes WHERE method = 'GET' AND path = '/api/v1/auth/me'),
		  'flov7_original.auth_me', 'a route points at its wrapper');
SELECT is((SELECT status FROM flov7.routes WHERE method = 'POST' AND path = '/api/v1/users/integrations'), 200,
		  'a create answers 200');
SELECT is((SELECT status FROM flov7.routes WHERE method = 'DELETE' AND path = '/api/v1/auth/api-keys/{key_id}'), 200,
		  'a delete answers 200');
SELECT is((SELECT count(*) FROM flov7.routes WHERE error_style = 'original'),
		  (SELECT count(*) FROM flov7.route_profiles WHERE profile = 'original'),
		  'every route of the profile renders errors the original way');
SELECT is((SELECT count(*) FROM flov7.routes WHERE error_style = 'original' AND path NOT LIKE '/api/v1/auth/%'
											  AND path NOT LIKE '/api/v1/users/%'), 0::bigint,
		  'and only the auth and users routes (workflows keep flov7''s shapes)');
SELECT is((SELECT count(*) FROM flov7.routes r JOIN routes_before b USING (method, path)
			WHERE r.path LIKE '/api/v1/workflows%' AND (r.function, r.status, r.error_style) IS DISTINCT FROM
														(b.function, b.status, b.error_style)), 0::bigint,
		  'the workflow routes are untouched');
SELECT is(flov7.set_api_profile('original'), 'original', 'switching to the current profile again is harmless');
SELECT is(flov7.set_api_profile('flov7'), 'flov7', 'and back');
SELECT is((SELECT count(*) FROM (SELECT * FROM flov7.routes EXCEPT SELECT * FROM routes_before
								 UNION ALL
								 SELECT * FROM routes_before EXCEPT SELECT * FROM flov7.routes) d), 0::bigint,
		  'back in the flov7 profile, the routes are exactly what they were');
SELECT throws_ok($$SELECT flov7.set_api_profile('fastapi')$$, '22023', 'unknown API profile "fastapi"', 'an unknown profile');
SELECT throws_ok($$SELECT flov7.set_api_profile(NULL)$$, '22023', NULL, 'no profile');
SELECT throws_ok($$UPDATE flov7.settings SET value = 'other' WHERE key = 'api_profile'$$, '23514', NULL,
				 'the setting holds a known profile only');
SELECT throws_ok($$UPDATE flov7.routes SET error_style = 'fancy' WHERE path = '/api/v1/auth/me'$$, '23514', NULL,
				 'a route''s error style is flov7 or original');

-- Only a superuser: as the authenticator frontd uses, and as an API role.
SET LOCAL ROLE flov7_authenticator;
SELECT throws_ok($$SELECT flov7.set_api_profile('original')$$, '42501', NULL, 'the authenticator may not switch');
RESET ROLE;
SELECT pg_temp.mkuser('op.adm@pgtap.test', 'admin') AS adm \gset
SELECT pg_temp.act_as(:'adm');
SELECT throws_ok($$SELECT flov7.set_api_profile('original')$$, '42501', NULL, 'an admin may not switch');
SELECT pg_temp.act_dba();

-- ---- the wrappers reshape, no more ----------------------------------------------------------------
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
			WHERE n.nspname = 'flov7_original' AND p.proname NOT IN ('written', 'listed', 'api_key', 'answered')
			  AND p.prosrc NOT LIKE '%flov7_api.' || p.proname || '(%'), 0::bigint,
		  'every wrapper calls the flov7_api function of its name');
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
			WHERE n.nspname = 'flov7_original' AND p.prosecdef), 0::bigint, 'no wrapper is SECURITY DEFINER');
SELECT pg_temp.mkuser('op.a@pgtap.test') AS a \gset
INSERT INTO flov7.notifications (user_id, type, title) VALUES (:'a', 'info', 'hello');
SELECT pg_temp.act_as(:'a');
SELECT is(flov7_original.auth_me('{}') - 'user', '{"status":"authenticated"}', 'me: the status');
SELECT is(flov7_original.auth_me('{}') -> 'user', flov7_api.auth_me('{}'), 'me: the user, as flov7 has it');
SELECT is(flov7_original.users_profile_get('{}'),
		  jsonb_build_object('user', flov7_api.users_profile_get('{}') - 'stats', 'stats', flov7_api.users_profile_get('{}') -> 'stats'),
		  'profile: {user, stats}');
SELECT flov7_original.integration_create('{"service_name":"gh","service_type":"api_key","credentials":{"t":"SECRET"}}') AS i \gset
SELECT is(:'i'::jsonb - 'integration', '{"success":true,"message":"Integration created successfully"}', 'create: the envelope');
SELECT is(:'i'::jsonb -> 'integration' -> 'credentials', '{"configured":true}', 'and never the credentials');
SELECT is(flov7_original.integration_list('{"skip":0,"limit":5}') - 'integrations',
		  '{"total":1,"skip":0,"limit":5,"has_more":false}', 'a list: total, skip, limit, has_more');
SELECT is(flov7_original.notification_list('{}') - 'notifications',
		  '{"total":1,"skip":0,"limit":20,"has_more":false,"unread_count":1}', 'notifications add unread_count');
SELECT is(jsonb_typeof(flov7_original.api_key_list('{}')), 'array', 'API keys: a bare array');
SELECT is(flov7_original.api_key('{"permissions":["profile:read","workflows:execute"]}'),
		  '{"permissions":{"read":true,"write":false,"execute":true},"scopes":["profile:read","workflows:execute"]}',
		  'a key''s permissions as the original''s object, its scopes beside');
SELECT is(flov7_original.integration_delete(jsonb_build_object('id', :'i'::jsonb -> 'integration' ->> 'id')),
		  '{"message":"Integration deleted successfully"}', 'delete: a message');
SELECT throws_ok(format('SELECT flov7_original.integration_get(%L)', jsonb_build_object('id', :'i'::jsonb -> 'integration' ->> 'id')),
				 'P0002', 'integration not found', 'and the rules are flov7''s: it is gone');

SELECT * FROM finish();
ROLLBACK;
