-- verify.sql: after the update, the data written by seed.sql still works through the API.
BEGIN;
SELECT plan(11);

SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'flov7'), current_setting('flov7_test.version'),
		  'the update reached the current version');
SELECT is((SELECT count(*) FROM flov7.users WHERE email LIKE '%@upgrade.test'), 3::bigint, 'users kept');
SELECT is((SELECT value FROM public.upgrade_fixture WHERE name = 'audit_rows')::bigint,
		  (SELECT count(*) FROM flov7.audit_logs), 'audit log kept');

-- Old password, old refresh token, old API key.
SET LOCAL ROLE flov7_anon;
SELECT ok(flov7_api.auth_login('{"email":"ada@upgrade.test","password":"correct horse 1"}') ? 'access_token',
		  'a password set before the update logs in');
SELECT ok(flov7_api.auth_refresh(jsonb_build_object('refresh_token',
		  (SELECT value::jsonb ->> 'refresh_token' FROM public.upgrade_fixture WHERE name = 'ada_token'))) ? 'access_token',
		  'a refresh token issued before the update rotates');
SELECT throws_ok($$SELECT flov7_api.auth_login('{"email":"bob@upgrade.test","password":"correct horse 2"}')$$,
				 '42501', NULL, 'a user deactivated before the update stays locked out');
RESET ROLE;

SET LOCAL ROLE flov7_user;
SELECT set_config('request.api_key', (SELECT value FROM public.upgrade_fixture WHERE name = 'ada_key'), true);
SELECT is(flov7_api.auth_me('{}') ->> 'full_name', 'Ada Lovelace', 'an API key created before the update works');
SELECT is(flov7_api.integration_get(jsonb_build_object('id',
		  (SELECT value FROM public.upgrade_fixture WHERE name = 'ada_integration'))) ->> 'service_name', 'github',
		  'integrations kept');
RESET ROLE;
SELECT set_config('request.api_key', '', true);

SELECT id AS ada FROM flov7.users WHERE email = 'ada@upgrade.test' \gset
SET LOCAL ROLE flov7_user;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'ada',
	   'role', 'flov7_user', 'jti', gen_random_uuid(), 'exp', extract(epoch FROM now() + interval '5 minutes')::bigint)::text, true);
SELECT is(flov7_api.notification_list('{}') -> 'items' -> 0 ->> 'title', 'Welcome', 'notifications kept');
RESET ROLE;
SELECT set_config('request.jwt.claims', '', true);

SELECT is((SELECT flov7.credentials_decrypt(credentials_encrypted) ->> 'token' FROM flov7.user_integrations
			WHERE id = (SELECT value::uuid FROM public.upgrade_fixture WHERE name = 'ada_integration')),
		  'ghp_upgrade', 'credentials encrypted before the update decrypt');
SELECT is((SELECT read_only FROM flov7.routes WHERE method = 'GET' AND path = '/api/v1/auth/me'), true,
		  'routes of the current version');

SELECT * FROM finish();
ROLLBACK;
