-- 07_admin_api.sql: admin endpoints: user list, role and status changes, stats.
BEGIN;
SELECT plan(27);
\ir helpers.psql

SELECT pg_temp.mkuser('adm.root@pgtap.test', 'admin') AS adm \gset
SELECT pg_temp.mkuser('adm.other@pgtap.test', 'admin') AS adm2 \gset
SELECT pg_temp.mkuser('adm.u1@pgtap.test') AS u1 \gset
SELECT pg_temp.mkuser('adm.u2@pgtap.test', 'premium', 'pro') AS u2 \gset
UPDATE flov7.users SET full_name = 'Grace 100%_Hopper' WHERE id = :'u2';

-- Non-admins are refused twice over: no EXECUTE grant, and the authorizer.
SELECT pg_temp.act_as(:'u1');
SELECT throws_ok($$SELECT flov7_api.admin_user_list('{}')$$, '42501', NULL, 'a user cannot list users');
SELECT set_config('role', 'flov7_admin', true);
SELECT throws_ok($$SELECT flov7_api.admin_stats('{}')$$, '42501', 'permission denied: "admin:stats" is required',
				 'a user token under the admin role is still refused by the authorizer');

SELECT pg_temp.act_as(:'adm');
SELECT ok((flov7_api.admin_user_list('{"limit":100}') ->> 'total')::int >= 4, 'admin lists users');
SELECT is(flov7_api.admin_user_list('{"search":"adm.u"}') ->> 'total', '2', 'search by email substring');
SELECT is(flov7_api.admin_user_list('{"search":"100%_h"}') -> 'items' -> 0 ->> 'id', :'u2',
		  'search by name, wildcards taken literally');
SELECT is(flov7_api.admin_user_list('{"search":"%"}') ->> 'total', '1', 'a % in search is literal');
SELECT is(flov7_api.admin_user_list('{"role":"premium","search":"pgtap"}') ->> 'total', '1', 'role filter');
SELECT throws_ok($$SELECT flov7_api.admin_user_list('{"role":"root"}')$$, '22023', NULL, 'bad role filter');
SELECT is(flov7_api.admin_user_list('{"limit":"1","search":"adm."}') - 'items' - 'next_cursor',
		  '{"total":4,"total_is_estimate":false,"limit":1,"offset":0,"has_more":true}'::jsonb,
		  'paging');

-- Role changes.
SELECT is(flov7_api.admin_user_set_role(jsonb_build_object('id', :'u1', 'role', 'premium')) ->> 'role', 'premium',
		  'admin sets a role');
SELECT throws_ok(format('SELECT flov7_api.admin_user_set_role(%L)', jsonb_build_object('id', :'u1', 'role', 'god')),
				 '22023', 'field "role" must be one of: admin, premium, user', 'bad role is 22023');
SELECT throws_ok(format('SELECT flov7_api.admin_user_set_role(%L)', jsonb_build_object('id', :'adm', 'role', 'user')),
				 '22023', 'admins cannot change their own role', 'an admin cannot demote themselves');
SELECT throws_ok(format('SELECT flov7_api.admin_user_set_role(%L)', jsonb_build_object('id', gen_random_uuid(), 'role', 'user')),
				 'P0002', 'user not found', 'unknown user is P0002');
SELECT throws_ok($$SELECT flov7_api.admin_user_set_role('{"id":"x","role":"user"}')$$, '22P02', NULL, 'bad id is 22P02');

-- Status changes.
SELECT is(flov7_api.admin_user_set_status(jsonb_build_object('id', :'u1', 'is_active', false)) ->> 'is_active', 'false',
		  'admin deactivates a user');
SELECT throws_ok(format('SELECT flov7_api.admin_user_set_status(%L)', jsonb_build_object('id', :'adm', 'is_active', false)),
				 '22023', 'admins cannot change their own status', 'an admin cannot deactivate themselves');
SELECT throws_ok(format('SELECT flov7_api.admin_user_set_status(%L)', jsonb_build_object('id', :'u1')),
				 '22023', 'missing required field "is_active"', 'is_active required');
SELECT throws_ok(format('SELECT flov7_api.admin_user_set_status(%L)', jsonb_build_object('id', :'u1', 'is_active', 'no')),
				 '22023', 'field "is_active" must be true or false', 'is_active must be a boolean');
SELECT is(flov7_api.admin_user_list('{"is_active":false,"search":"pgtap"}') ->> 'total', '1', 'is_active filter');
SELECT pg_temp.act_as(:'u1');
SELECT throws_ok($$SELECT flov7_api.auth_me('{}')$$, '42501', 'account is inactive', 'the deactivated user is refused');

-- An admin demoted by another admin loses access at once.
SELECT pg_temp.claims(:'adm2') AS adm2_claims \gset
SELECT pg_temp.act_as(:'adm');
SELECT is(flov7_api.admin_user_set_role(jsonb_build_object('id', :'adm2', 'role', 'user')) ->> 'role', 'user',
		  'admin demotes another admin');
SELECT set_config('role', 'flov7_admin', true), set_config('request.jwt.claims', :'adm2_claims', true);
SELECT throws_ok($$SELECT flov7_api.admin_user_list('{}')$$, '42501', NULL, 'the demoted admin''s token is refused');

-- Stats.
SELECT pg_temp.act_as(:'adm');
SELECT flov7_api.admin_stats('{}') AS st \gset
SELECT ok(:'st'::jsonb ?& ARRAY['users', 'workflows', 'executions', 'integrations', 'api_keys', 'notifications'],
		  'admin stats sections');
SELECT is((:'st'::jsonb -> 'users' ->> 'total')::bigint, (SELECT count(*) FROM flov7.users), 'users total');
SELECT is((:'st'::jsonb -> 'users' -> 'by_role' ->> 'admin')::int + (:'st'::jsonb -> 'users' -> 'by_role' ->> 'premium')::int
		  + (:'st'::jsonb -> 'users' -> 'by_role' ->> 'user')::int, (:'st'::jsonb -> 'users' ->> 'total')::int,
		  'roles add up');
SELECT ok((:'st'::jsonb -> 'users' -> 'by_plan' ->> 'pro')::int >= 1, 'by plan');
SELECT ok((:'st'::jsonb -> 'users' ->> 'inactive')::int >= 1, 'inactive users counted');

SELECT pg_temp.act_dba();
SELECT * FROM finish();
ROLLBACK;
