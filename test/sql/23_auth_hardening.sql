-- 23_auth_hardening.sql (issue 8): keys made with keys end with their parent, deactivation ends
-- sessions, logout refuses API keys, authentication events are audited, failed logins are
-- throttled per address, a wrong current password is bad input.
BEGIN;
SELECT plan(78);
\ir helpers.psql

-- The decoded payload of a JWT (the claims frontd would pass).
CREATE FUNCTION pg_temp.jwt_payload(p_token text) RETURNS text
LANGUAGE sql AS $$
	SELECT convert_from(decode(rpad(translate(split_part(p_token, '.', 2), '-_', '+/'),
									 (length(split_part(p_token, '.', 2)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')
$$;

SELECT pg_temp.mkuser('hk.a@pgtap.test') AS a \gset
SELECT pg_temp.mkuser('hk.b@pgtap.test') AS b \gset
-- The request context frontd passes; audit rows must carry it.
SELECT set_config('request.ip', '203.0.113.7', true), set_config('request.id', 'req-hk-1', true),
	   set_config('request.headers', '{"user-agent":"hk-agent/1.0"}', true);

-- ---- 1. keys made with keys ----------------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.api_key_create('{"name":"top","permissions":["api_keys:write","api_keys:read","profile:read"],
								   "expires_at":"2099-01-01T00:00:00Z"}') AS top \gset
SELECT is(:'top'::jsonb -> 'parent_id', 'null'::jsonb, 'a key made with a login has no parent');
SELECT pg_temp.act_with_key(:'top'::jsonb ->> 'key');
SELECT flov7_api.api_key_create('{"name":"child","permissions":["api_keys:write","profile:read"]}') AS child \gset
SELECT is(:'child'::jsonb ->> 'parent_id', :'top'::jsonb ->> 'id', 'a key made with a key records it as parent_id');
SELECT is((:'child'::jsonb ->> 'expires_at')::timestamptz, '2099-01-01T00:00:00Z'::timestamptz,
		  'with no expires_at, a child expires with its parent');
SELECT throws_ok($$SELECT flov7_api.api_key_create('{"name":"late","expires_at":"2100-01-01T00:00:00Z"}')$$,
				 '22023', 'field "expires_at" must not be after the expiry of the API key making the request',
				 'a child cannot outlive its parent (22023)');
SELECT pg_temp.act_dba();
SELECT is((SELECT count(*) FROM flov7.api_keys WHERE user_id = :'a'), 2::bigint, '... and nothing was created');
SELECT pg_temp.act_with_key(:'top'::jsonb ->> 'key');
SELECT is((flov7_api.api_key_create('{"name":"early","permissions":["profile:read"],"expires_at":"2098-01-01T00:00:00Z"}')
		   ->> 'expires_at')::timestamptz, '2098-01-01T00:00:00Z'::timestamptz, 'an earlier expiry is kept');
SELECT pg_temp.act_with_key(:'child'::jsonb ->> 'key');
SELECT flov7_api.api_key_create('{"name":"grandchild","permissions":["profile:read"]}') AS grand \gset
SELECT is(:'grand'::jsonb ->> 'parent_id', :'child'::jsonb ->> 'id', 'a grandchild records its own parent');
SELECT is(flov7_api.auth_me('{}') ->> 'id', :'a', 'the grandchild works while its ancestors live');

-- Revoking the top key revokes every descendant, audited, with the request's context.
SELECT pg_temp.act_as(:'a');
SELECT is(flov7_api.api_key_revoke(jsonb_build_object('key_id', :'top'::jsonb ->> 'id')), NULL, 'revoke the parent');
SELECT pg_temp.act_dba();
SELECT is((SELECT count(*) FROM flov7.api_keys WHERE user_id = :'a' AND is_active), 0::bigint,
		  'its children and grandchildren are revoked with it');
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE table_name = 'api_keys' AND action = 'update'
			 AND owner_id = :'a' AND user_id = :'a' AND ip_address = '203.0.113.7' AND user_agent = 'hk-agent/1.0'
			 AND request_id = 'req-hk-1' AND new_data ->> 'is_active' = 'false'), 4::bigint,
		  'each revocation is audited with the caller, IP, user agent and request id');
SELECT pg_temp.act_with_key(:'child'::jsonb ->> 'key');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'api key has been revoked', 'the child is refused at once');
SELECT pg_temp.act_with_key(:'grand'::jsonb ->> 'key');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'api key has been revoked', 'so is the grandchild');

-- A parent with no expiry: its child has none either; an expiry set later (or passing) caps the descendants.
SELECT pg_temp.act_dba();
SELECT pg_temp.mkkey(:'a', ARRAY['api_keys:write', 'profile:read']) AS p2 \gset
SELECT pg_temp.act_with_key(:'p2');
SELECT flov7_api.api_key_create('{"name":"c2","permissions":["api_keys:write","profile:read"],"expires_at":null}') AS c2 \gset
SELECT is(:'c2'::jsonb -> 'expires_at', 'null'::jsonb, 'a child of a key with no expiry may have none, when it asks');
SELECT pg_temp.act_with_key(:'c2'::jsonb ->> 'key');
SELECT flov7_api.api_key_create('{"name":"g2","permissions":["profile:read"]}') AS g2 \gset
SELECT pg_temp.act_dba();
UPDATE flov7.api_keys SET expires_at = now() - interval '1 second' WHERE key_hash = flov7.sha256_hex(:'p2');
SELECT is((SELECT count(*) FROM flov7.api_keys WHERE id IN ((:'c2'::jsonb ->> 'id')::uuid, (:'g2'::jsonb ->> 'id')::uuid)
			 AND expires_at = now() - interval '1 second'), 2::bigint, 'an expired parent caps its descendants'' expiry');
SELECT pg_temp.act_with_key(:'g2'::jsonb ->> 'key');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'api key has expired',
				 'the grandchild of an expired key is refused at the next request');

-- The table refuses what the API refuses.
SELECT pg_temp.act_dba();
SELECT throws_ok(format($$INSERT INTO flov7.api_keys (user_id, name, key_prefix, key_hash, permissions, parent_id, expires_at)
						  VALUES (%L, 'x', 'flv7_x', repeat('1', 64), '{profile:read}', %L, '2099-06-01')$$,
						:'a', :'child'::jsonb ->> 'id'),
				 '23514', 'an API key cannot be made with a revoked or expired key', 'no child of a revoked key');
SELECT pg_temp.mkkey(:'a', ARRAY['profile:read'], now() + interval '1 day') AS p3 \gset
SELECT id AS p3id FROM flov7.api_keys WHERE key_hash = flov7.sha256_hex(:'p3') \gset
SELECT throws_ok(format($$INSERT INTO flov7.api_keys (user_id, name, key_prefix, key_hash, permissions, parent_id)
						  VALUES (%L, 'x', 'flv7_x', repeat('2', 64), '{profile:read}', %L)$$, :'a', :'p3id'),
				 '23514', 'an API key cannot outlive the key it was made with', 'no child without expiry of a key with one');
SELECT throws_ok(format($$INSERT INTO flov7.api_keys (user_id, name, key_prefix, key_hash, permissions, parent_id)
						  VALUES (%L, 'x', 'flv7_x', repeat('3', 64), '{profile:read}', %L)$$, :'b', :'p3id'),
				 '23503', NULL, 'a parent must belong to the same user');
SELECT ok(has_column_privilege('flov7_user', 'flov7.api_keys', 'parent_id', 'SELECT'), 'users see parent_id');

-- ---- 2. deactivation ends sessions; logout is for sessions ------------------------------------
SELECT pg_temp.act_anon();
SELECT flov7_api.auth_login('{"email":"hk.b@pgtap.test","password":"password123"}') AS lb1 \gset
SELECT flov7_api.auth_login('{"email":"hk.b@pgtap.test","password":"password123"}') AS lb2 \gset
SELECT pg_temp.act_dba();
-- An access token with no sid (not one flov7 issues, but one a secret holder may make), issued earlier.
SELECT jsonb_build_object('sub', :'b', 'role', 'flov7_user', 'jti', gen_random_uuid(),
		'iat', floor(extract(epoch FROM now()))::bigint - 5, 'exp', floor(extract(epoch FROM now()))::bigint + 3600)::text AS nosid \gset
SELECT pg_temp.jwt_payload(:'lb1'::jsonb ->> 'access_token') AS cb1 \gset
SELECT pg_temp.act_as(:'b', :'nosid');
SELECT is(flov7.authorize(NULL), :'b'::uuid, 'a token without sid works while the user is active');
SELECT pg_temp.act_dba();
UPDATE flov7.users SET is_active = false WHERE id = :'b';
SELECT is((SELECT count(*) FROM flov7.refresh_tokens WHERE user_id = :'b' AND revoked_at IS NULL), 0::bigint,
		  'deactivation revokes every refresh token');
SELECT is((SELECT tokens_valid_after FROM flov7.users WHERE id = :'b'), now(), 'and records when tokens stopped being valid');
UPDATE flov7.users SET is_active = true WHERE id = :'b';
SELECT pg_temp.act_as(:'b', :'cb1');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'token has been revoked',
				 'after reactivation, an old access token stays refused (its session was revoked)');
SELECT pg_temp.act_as(:'b', :'nosid');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'token has been revoked',
				 'so does an old token without sid (issued before tokens_valid_after)');
SELECT pg_temp.act_anon();
SELECT throws_ok(format('SELECT flov7_api.auth_refresh(%L)', jsonb_build_object('refresh_token', :'lb2'::jsonb ->> 'refresh_token')),
				 '28000', 'refresh token has been revoked', 'and an old refresh token');
SELECT flov7_api.auth_login('{"email":"hk.b@pgtap.test","password":"password123"}') AS lb3 \gset
SELECT ok(:'lb3'::jsonb ? 'access_token', 'the reactivated user logs in again');
SELECT pg_temp.act_as(:'b');
SELECT is(flov7.authorize(NULL), :'b'::uuid, 'and tokens issued after reactivation work');
SELECT pg_temp.act_as(:'a');
SELECT is((SELECT tokens_valid_after FROM flov7.users WHERE id = :'a'), NULL, 'users who were never deactivated have none');

-- Logout with an API key: 400 naming how a key is revoked, and nothing changes.
SELECT pg_temp.act_dba();
SELECT pg_temp.mkkey(:'b', ARRAY['profile:read']) AS kb \gset
SELECT pg_temp.act_dba();
SELECT count(*) AS revoked_before FROM flov7.revoked_tokens \gset
SELECT pg_temp.act_with_key(:'kb');
SELECT throws_ok(format('SELECT flov7_api.auth_logout(%L)', jsonb_build_object('refresh_token', :'lb3'::jsonb ->> 'refresh_token')),
				 '22023', 'API keys are revoked with DELETE /api/v1/auth/api-keys/{key_id}, not logged out',
				 'logout with an API key is 22023 and says how keys are revoked');
SELECT is(flov7.authorize(NULL), :'b'::uuid, 'the key still works');
SELECT pg_temp.act_dba();
SELECT is((SELECT count(*) FROM flov7.revoked_tokens), :'revoked_before'::bigint, 'no token was revoked');
SELECT is((SELECT revoked_at FROM flov7.refresh_tokens WHERE token_hash = flov7.sha256_hex(:'lb3'::jsonb ->> 'refresh_token')),
		  NULL, 'the refresh token in the body was left alone');

-- ---- 3. authentication events are audited -----------------------------------------------------
CREATE FUNCTION pg_temp.auth_rows(p_action text, p_owner uuid) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM flov7.audit_logs a
	 WHERE a.action = p_action AND a.owner_id IS NOT DISTINCT FROM p_owner AND a.table_name = 'users'
	   AND a.record_id IS NOT DISTINCT FROM p_owner AND a.ip_address = '203.0.113.7'
	   AND a.user_agent = 'hk-agent/1.0' AND a.request_id = 'req-hk-1'
$$;
SELECT is(pg_temp.auth_rows('login', :'b'), 3::bigint, 'each login is audited with IP, user agent and request id');
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE action = 'login' AND owner_id = :'b' AND user_id = :'b'
			 AND new_data ->> 'session_id' = :'cb1'::jsonb ->> 'sid'), 1::bigint,
		  'a login row names the caller and the session (the token''s sid)');
SELECT pg_temp.act_anon();
SELECT is(flov7_api.auth_login('{"email":"hk.a@pgtap.test","password":"wrong pass"}') ->> 'code', '28P01', 'a failed login');
SELECT is(flov7_api.auth_login('{"email":"hk.ghost@pgtap.test","password":"wrong pass"}') ->> 'code', '28P01',
		  'a failed login of an unknown address');
SELECT pg_temp.act_dba();
SELECT is((SELECT jsonb_build_object('by', user_id, 'email', new_data ->> 'email', 'reason', new_data ->> 'reason',
									  'failures', new_data -> 'failures')
			 FROM flov7.audit_logs WHERE action = 'login_failed' AND owner_id = :'a'),
		  jsonb_build_object('by', NULL, 'email', 'hk.a@pgtap.test', 'reason', 'invalid_credentials', 'failures', 1),
		  'a failed login is audited: no caller, the account, the reason and the count');
SELECT is(pg_temp.auth_rows('login_failed', :'a'), 1::bigint, '... with IP, user agent and request id');
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE action = 'login_failed' AND owner_id IS NULL
			 AND new_data ->> 'email' = 'hk.ghost@pgtap.test' AND ip_address = '203.0.113.7'), 1::bigint,
		  'a failed login of an unknown address is audited with the address tried');
SELECT pg_temp.act_anon();
SELECT flov7_api.auth_refresh(jsonb_build_object('refresh_token', :'lb3'::jsonb ->> 'refresh_token')) AS rb \gset
SELECT is(flov7_api.auth_refresh(jsonb_build_object('refresh_token', :'lb3'::jsonb ->> 'refresh_token')) ->> 'code', '28000',
		  'a reused refresh token');
SELECT pg_temp.act_dba();
SELECT is(pg_temp.auth_rows('refresh', :'b'), 1::bigint, 'a refresh is audited');
SELECT is(pg_temp.auth_rows('refresh_reuse', :'b'), 1::bigint, 'a detected reuse is audited');
SELECT pg_temp.act_anon();
SELECT flov7_api.auth_login('{"email":"hk.b@pgtap.test","password":"password123"}') AS lb4 \gset
SELECT pg_temp.jwt_payload(:'lb4'::jsonb ->> 'access_token') AS cb4 \gset
SELECT pg_temp.act_as(:'b', :'cb4');
SELECT is(flov7_api.auth_logout('{}'), '{"message":"logged out"}'::jsonb, 'logout');
SELECT pg_temp.act_dba();
SELECT is((SELECT new_data ->> 'session_id' FROM flov7.audit_logs WHERE action = 'logout' AND owner_id = :'b'
			 AND user_id = :'b' AND ip_address = '203.0.113.7'),
		  :'cb4'::jsonb ->> 'sid', 'a logout is audited with its session');
UPDATE flov7.users SET is_active = false WHERE id = :'a';
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE action = 'status_change' AND record_id = :'a'
			 AND ip_address = '203.0.113.7' AND request_id = 'req-hk-1'), 1::bigint, 'a deactivation is audited');
UPDATE flov7.users SET is_active = true WHERE id = :'a';
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE table_name = 'api_keys' AND action = 'create' AND owner_id = :'a'
			 AND ip_address = '203.0.113.7' AND user_agent = 'hk-agent/1.0'), 8::bigint,
		  'key creations are audited with IP and user agent');

-- ---- 5. password change ------------------------------------------------------------------------
SELECT password_hash AS hash_a FROM flov7.user_passwords WHERE user_id = :'a' \gset
SELECT pg_temp.act_as(:'a');
SELECT throws_ok($$SELECT flov7_api.users_profile_update('{"full_name":"Changed","current_password":"not it!","new_password":"brand new pw"}')$$,
				 '22023', 'current password is incorrect', 'a wrong current password is 22023 (400), not an authentication error');
SELECT pg_temp.act_dba();
SELECT is((SELECT password_hash FROM flov7.user_passwords WHERE user_id = :'a'), :'hash_a', '... the password is unchanged');
SELECT is((SELECT full_name FROM flov7.users WHERE id = :'a'), NULL, '... and so is the rest of the profile');
SELECT pg_temp.act_as(:'a');
SELECT is(flov7_api.users_profile_update('{"current_password":"password123","new_password":"brand new pw"}') ->> 'id', :'a',
		  'the right current password changes it');
SELECT pg_temp.act_dba();
SELECT is(pg_temp.auth_rows('password_change', :'a'), 1::bigint, 'a password change is audited');
UPDATE flov7.user_passwords SET password_hash = flov7.password_hash('password123') WHERE user_id = :'a';

-- ---- 4. failed logins are throttled per address ----------------------------------------------
CREATE FUNCTION pg_temp.try(p_email text, p_password text, OUT status text, OUT code text, OUT retry_after text)
LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
BEGIN
	PERFORM set_config('response.status', '', true), set_config('response.headers', '', true);
	PERFORM pg_temp.act_anon();
	r := flov7_api.auth_login(jsonb_build_object('email', p_email, 'password', p_password));
	PERFORM pg_temp.act_dba();
	status := coalesce(nullif(current_setting('response.status', true), ''), '200');
	code := coalesce(r ->> 'code', 'token');
	retry_after := nullif(current_setting('response.headers', true), '')::jsonb -> 0 ->> 'Retry-After';
END
$$;
SELECT pg_temp.mkuser('hk.t@pgtap.test') AS t \gset
SELECT is(array_agg(x.status || ' ' || x.code ORDER BY g), ARRAY['401 28P01', '401 28P01', '401 28P01', '401 28P01'],
		  'four wrong passwords: 401 each')
  FROM generate_series(1, 4) g, LATERAL pg_temp.try('hk.t@pgtap.test', 'wrong ' || g) x;
SELECT is(pg_temp.try(' HK.T@pgtap.test ', 'wrong 5')::text, '(429,PT429,60)',
		  'the fifth (the address in any case) locks it: 429 with Retry-After 60 (login_lock_seconds)');
SELECT ok((SELECT lock_level = 1 AND locked_until = now() + interval '60 seconds' FROM flov7.login_throttle
			WHERE email = 'hk.t@pgtap.test'), 'the lock is in the database, for every frontd instance');
SELECT is((SELECT new_data - 'locked_until' FROM flov7.audit_logs WHERE action = 'login_locked' AND owner_id = :'t'
			 AND ip_address = '203.0.113.7' AND request_id = 'req-hk-1'),
		  '{"email":"hk.t@pgtap.test","failures":5,"lock_level":1}'::jsonb, 'the lock is audited');
SELECT is(pg_temp.try('hk.t@pgtap.test', 'password123')::text, '(429,PT429,60)',
		  'the right password is refused while locked');
SELECT is((SELECT count(*) FROM flov7.refresh_tokens WHERE user_id = :'t'), 0::bigint, '... and no session was made');
SELECT is((SELECT new_data ->> 'reason' FROM flov7.audit_logs WHERE action = 'login_failed' AND owner_id = :'t'
			ORDER BY created_at DESC LIMIT 1), 'locked', '... and audited as refused because locked');
-- Unknown addresses answer exactly the same way, so the lock tells nothing about accounts.
SELECT is(array_agg(x.status || ' ' || x.code || ' ' || coalesce(x.retry_after, '-') ORDER BY g),
		  ARRAY['401 28P01 -', '401 28P01 -', '401 28P01 -', '401 28P01 -', '429 PT429 60', '429 PT429 60'],
		  'an unknown address: the same answers')
  FROM generate_series(1, 6) g, LATERAL pg_temp.try('hk.nobody@pgtap.test', 'wrong ' || g) x;
-- The lock ends; the right password logs in and clears the count.
UPDATE flov7.login_throttle SET locked_until = now() - interval '1 second' WHERE email = 'hk.t@pgtap.test';
SELECT is(pg_temp.try('hk.t@pgtap.test', 'password123')::text, '(200,token,)', 'after the lock, the right password works');
SELECT is((SELECT count(*) FROM flov7.login_throttle WHERE email = 'hk.t@pgtap.test'), 0::bigint, '... and clears the address');
-- Locks grow with each one, up to login_lock_max_seconds.
SELECT is(array_agg(x.status || ' ' || coalesce(x.retry_after, '-') ORDER BY g), ARRAY['401 -', '401 -', '401 -', '401 -', '429 60'],
		  'locked again')
  FROM generate_series(1, 5) g, LATERAL pg_temp.try('hk.t@pgtap.test', 'wrong ' || g) x;
UPDATE flov7.login_throttle SET locked_until = now() - interval '1 second' WHERE email = 'hk.t@pgtap.test';
SELECT is((array_agg(x.retry_after ORDER BY g))[5], '120', 'the next lock lasts twice as long')
  FROM generate_series(1, 5) g, LATERAL pg_temp.try('hk.t@pgtap.test', 'wrong ' || g) x;
UPDATE flov7.login_throttle SET locked_until = now() - interval '1 second', lock_level = 12 WHERE email = 'hk.t@pgtap.test';
SELECT is((array_agg(x.retry_after ORDER BY g))[5], '3600', 'locks stop growing at login_lock_max_seconds')
  FROM generate_series(1, 5) g, LATERAL pg_temp.try('hk.t@pgtap.test', 'wrong ' || g) x;
-- Failures outside the window, and a level quiet for login_lock_reset, are forgotten.
UPDATE flov7.login_throttle SET locked_until = NULL, failures = 4, window_start = now() - interval '901 seconds'
 WHERE email = 'hk.t@pgtap.test';
SELECT is(pg_temp.try('hk.t@pgtap.test', 'wrong')::text, '(401,28P01,)', 'failures older than the window do not count');
SELECT is((SELECT failures FROM flov7.login_throttle WHERE email = 'hk.t@pgtap.test'), 1, '... the count starts again');
UPDATE flov7.login_throttle SET last_failure_at = now() - interval '2 days' WHERE email = 'hk.t@pgtap.test';
SELECT is(pg_temp.try('hk.t@pgtap.test', 'wrong')::text, '(401,28P01,)', 'a failure after a quiet day');
SELECT is((SELECT failures || ' ' || lock_level FROM flov7.login_throttle WHERE email = 'hk.t@pgtap.test'), '1 0',
		  '... starts from scratch');
-- The limits are settings.
UPDATE flov7.settings SET value = '2' WHERE key = 'login_max_failures';
SELECT is(array_agg(x.status ORDER BY g), ARRAY['401', '429'], 'login_max_failures is a setting')
  FROM generate_series(1, 2) g, LATERAL pg_temp.try('hk.setting@pgtap.test', 'wrong ' || g) x;
SELECT throws_ok($$UPDATE flov7.settings SET value = '0' WHERE key = 'login_max_failures'$$, '23514', NULL,
				 'throttle settings must be positive integers');
-- A password change lifts the lock its owner did not cause.
SELECT is(pg_temp.try('hk.t@pgtap.test', 'wrong')::text, '(429,PT429,60)', 'locked');
SELECT pg_temp.act_as(:'t');
SELECT is(flov7_api.users_profile_update('{"current_password":"password123","new_password":"another pw 1"}') ->> 'id', :'t',
		  'the logged-in owner changes the password');
SELECT is(pg_temp.try('hk.t@pgtap.test', 'another pw 1')::text, '(200,token,)', 'and is no longer locked out');
-- Nobody but the owner reads the throttle.
SELECT ok(NOT has_table_privilege(r, 'flov7.login_throttle', 'SELECT'), r || ' cannot read the throttle')
  FROM unnest(ARRAY['flov7_anon', 'flov7_user', 'flov7_admin']) r;
SELECT throws_ok($$SELECT flov7_api.auth_login('{"email":"hk.t@pgtap.test"}')$$, '22023', NULL,
				 'bad input is still raised (400)');

SELECT * FROM finish();
ROLLBACK;
