-- verify.sql: after the update, the data written by seed.sql still works through the API.
BEGIN;
SELECT plan(20);

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
SELECT is(flov7_api.auth_login('{"email":"bob@upgrade.test","password":"correct horse 2"}') ->> 'code',
		  '42501', 'a user deactivated before the update stays locked out');
SELECT throws_ok(format('SELECT flov7_api.auth_refresh(%L)', jsonb_build_object('refresh_token',
				 (SELECT value::jsonb ->> 'refresh_token' FROM public.upgrade_fixture WHERE name = 'bob_token'))),
				 '28000', 'refresh token has been revoked',
				 'the update ended the sessions of a user deactivated before it (issue 8)');
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
SELECT is(flov7_api.workflow_get(jsonb_build_object('id', (SELECT value FROM public.upgrade_fixture WHERE name = 'ada_workflow')))
		  -> 'validation', '{"valid": true, "problems": []}', 'a workflow stored before the update reads and validates');
SELECT is(flov7_api.workflow_update(jsonb_build_object('id', (SELECT value FROM public.upgrade_fixture WHERE name = 'ada_workflow'),
		  'version', 1, 'tags', '["old"]'::jsonb)) - ARRAY['id', 'user_id', 'created_at', 'updated_at', 'workflow_json', 'validation'],
		  '{"name": "Welcome", "description": null, "tags": ["old"], "is_template": false, "status": "active", "primitives_count": 2,
			"estimated_cost": 0.0010, "execution_count": 0, "last_executed_at": null, "version": 2}',
		  'and updates: the counts are computed, the version bumped');
SELECT is(flov7_api.workflow_update(jsonb_build_object('id', (SELECT value FROM public.upgrade_fixture WHERE name = 'ada_legacy_workflow'),
		  'name', 'Legacy renamed')) -> 'validation' -> 'problems' -> 0 ->> 'rule', 'nodes_not_array',
		  'a workflow stored with 0.1.0''s default definition ''{}'' can still be renamed (and says why it is a draft)');
RESET ROLE;
SELECT set_config('request.jwt.claims', '', true);

SELECT is((SELECT flov7.credentials_decrypt(credentials_encrypted) ->> 'token' FROM flov7.user_integrations
			WHERE id = (SELECT value::uuid FROM public.upgrade_fixture WHERE name = 'ada_integration')),
		  'ghp_upgrade', 'credentials encrypted before the update decrypt');
-- ... with the legacy key of flov7.settings, until rotation moves them to the key file (issue 8).
SELECT is((SELECT flov7.credentials_key_id(credentials_encrypted) FROM flov7.user_integrations
			WHERE id = (SELECT value::uuid FROM public.upgrade_fixture WHERE name = 'ada_integration')),
		  '', 'they are still sealed with the legacy key');
SELECT is(flov7.rotate_credentials_key(1000), 0::bigint, 'one rotation re-seals them all');
SELECT is((SELECT flov7.credentials_key_id(credentials_encrypted) FROM flov7.user_integrations
			WHERE id = (SELECT value::uuid FROM public.upgrade_fixture WHERE name = 'ada_integration')),
		  flov7.credentials_current_key_id(), 'with the key of flov7.credentials_key_file');
SELECT is(flov7.drop_legacy_credentials_key(), true, 'after which the legacy key is dropped from flov7.settings');
SELECT is((SELECT flov7.credentials_decrypt(credentials_encrypted) ->> 'token' FROM flov7.user_integrations
			WHERE id = (SELECT value::uuid FROM public.upgrade_fixture WHERE name = 'ada_integration')),
		  'ghp_upgrade', 'and the credentials still decrypt');
SELECT is((SELECT read_only FROM flov7.routes WHERE method = 'GET' AND path = '/api/v1/auth/me'), true,
		  'routes of the current version');

SELECT * FROM finish();
ROLLBACK;
