-- 05_auth_api.sql: register, login, JWT issuing, refresh rotation and reuse, logout, me, verify, passwords.
BEGIN;
SELECT plan(59);
\ir helpers.psql

-- The decoded payload of a JWT.
CREATE FUNCTION pg_temp.jwt_payload(p_token text) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT convert_from(decode(rpad(translate(split_part(p_token, '.', 2), '-_', '+/'),
									 (length(split_part(p_token, '.', 2)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb
$$;

-- True if the JWT's HS256 signature matches the secret (checked with pgcrypto, independently of the C code).
CREATE FUNCTION pg_temp.jwt_valid(p_token text, p_secret text) RETURNS boolean
LANGUAGE sql AS $$
	SELECT rtrim(translate(encode(hmac(split_part(p_token, '.', 1) || '.' || split_part(p_token, '.', 2),
									   p_secret, 'sha256'), 'base64'), '+/', '-_'), '=')
		   = split_part(p_token, '.', 3)
$$;

-- Register (anonymous).
SELECT pg_temp.act_anon();
SELECT flov7_api.auth_register('{"email":"  Reg.User@PGTAP.test ","password":"correct horse","full_name":"Reg"}') AS reg \gset
SELECT ok(:'reg'::jsonb ?& ARRAY['access_token', 'token_type', 'expires_in', 'refresh_token', 'user'], 'register returns a Token');
SELECT is(:'reg'::jsonb ->> 'token_type', 'bearer', 'token_type is bearer');
SELECT is((:'reg'::jsonb ->> 'expires_in')::int, 3600, 'access tokens live an hour');
SELECT is(:'reg'::jsonb -> 'user' ->> 'email', 'reg.user@pgtap.test', 'email trimmed and lower-cased');
SELECT is(:'reg'::jsonb -> 'user' ->> 'role', 'user', 'new users have role user');
SELECT ok(NOT (:'reg'::jsonb -> 'user') ? 'password_hash', 'no password hash in the user');
SELECT ok(:'reg'::jsonb ->> 'refresh_token' LIKE 'flv7r\_%', 'refresh tokens are flv7r_...');
SELECT :'reg'::jsonb -> 'user' ->> 'id' AS uid \gset

SELECT throws_ok($$SELECT flov7_api.auth_register('{"email":"REG.user@pgtap.test","password":"another pass"}')$$,
				 '23505', 'email already registered', 'duplicate email (any case) is 23505');
SELECT throws_ok($$SELECT flov7_api.auth_register('{"email":"x@pgtap.test","password":"short"}')$$,
				 '22023', 'field "password" must be at least 8 characters long', 'short password is 22023');
SELECT throws_ok(format('SELECT flov7_api.auth_register(%L)',
						jsonb_build_object('email', 'x@pgtap.test', 'password', repeat('é', 40))),
				 '22023', 'field "password" must be at most 72 bytes long', 'passwords over 72 bytes are 22023');
SELECT throws_ok($$SELECT flov7_api.auth_register('{"email":"nope","password":"long enough"}')$$,
				 '22023', 'invalid email address', 'bad email is 22023');
SELECT throws_ok($$SELECT flov7_api.auth_register('{"email":"x@pgtap.test"}')$$,
				 '22023', 'missing required field "password"', 'missing password is 22023');
SELECT throws_ok($$SELECT flov7_api.auth_me('{}')$$, '42501', NULL, 'anonymous may not call auth_me');

-- Passwords are bcrypt hashes.
SELECT pg_temp.act_dba();
SELECT ok((SELECT password_hash LIKE '$2a$08$%' AND password_hash NOT LIKE '%correct horse%'
			 FROM flov7.user_passwords WHERE user_id = :'uid'), 'the password is stored as a bcrypt hash only');
SELECT ok(NOT flov7.password_matches('anything', NULL), 'password_matches with no hash is false');

-- The JWT.
SELECT :'reg'::jsonb ->> 'access_token' AS tok \gset
SELECT pg_temp.jwt_payload(:'tok') AS claims \gset
SELECT ok(pg_temp.jwt_valid(:'tok', flov7.setting('jwt_secret')), 'the access token is HS256-signed with the secret');
SELECT is(split_part(:'tok', '.', 1), 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', 'header is {"alg":"HS256","typ":"JWT"}');
SELECT ok(:'claims'::jsonb ?& ARRAY['sub', 'role', 'app_role', 'email', 'jti', 'sid', 'iat', 'nbf', 'exp', 'iss'],
		  'claims as CONTRACT.md');
SELECT is(:'claims'::jsonb ->> 'sub', :'uid', 'sub is the user id');
SELECT is(:'claims'::jsonb ->> 'role', 'flov7_user', 'role claim names the database role');
SELECT is(:'claims'::jsonb ->> 'iss', 'flov7', 'issuer');
SELECT is((:'claims'::jsonb ->> 'exp')::bigint - (:'claims'::jsonb ->> 'iat')::bigint, 3600::bigint, 'exp = iat + 3600');

-- The token works as credentials.
SELECT pg_temp.act_as(:'uid', :'claims');
SELECT is(flov7_api.auth_me('{}') ->> 'id', :'uid', 'auth_me with the issued token');
SELECT is(flov7_api.auth_verify('{}') - 'expires_at',
		  jsonb_build_object('valid', true, 'user_id', :'uid', 'email', 'reg.user@pgtap.test', 'role', 'user'),
		  'auth_verify');
SELECT is((flov7_api.auth_verify('{}') ->> 'expires_at')::timestamptz,
		  to_timestamp((:'claims'::jsonb ->> 'exp')::bigint), 'verify reports the token expiry');

-- Login.
SELECT pg_temp.act_anon();
SELECT flov7_api.auth_login('{"email":"REG.USER@pgtap.test","password":"correct horse"}') AS login \gset
SELECT is(:'login'::jsonb -> 'user' ->> 'id', :'uid', 'login (email in any case)');
SELECT ok(:'login'::jsonb -> 'user' ->> 'last_login' IS NOT NULL, 'login sets last_login');
-- A refused login is answered (status 401 and the error body), not raised, so that its audit row commits.
SELECT is(flov7_api.auth_login('{"email":"reg.user@pgtap.test","password":"wrong horse"}'),
		  '{"code":"28P01","message":"invalid email or password","details":null,"hint":null}'::jsonb,
		  'wrong password answers code 28P01');
SELECT is(current_setting('response.status', true), '401', '... with HTTP status 401');
SELECT is(flov7_api.auth_login('{"email":"nobody@pgtap.test","password":"wrong horse"}'),
		  '{"code":"28P01","message":"invalid email or password","details":null,"hint":null}'::jsonb,
		  'unknown email: the same answer');
SELECT throws_ok($$SELECT flov7_api.auth_login('{"email":"reg.user@pgtap.test"}')$$, '22023', NULL,
				 'login without password is 22023');

-- Refresh: rotation.
SELECT :'login'::jsonb ->> 'refresh_token' AS r1 \gset
SELECT flov7_api.auth_refresh(jsonb_build_object('refresh_token', :'r1')) AS ref \gset
SELECT isnt(:'ref'::jsonb ->> 'refresh_token', :'r1', 'refresh returns a new refresh token');
SELECT is(pg_temp.jwt_payload(:'ref'::jsonb ->> 'access_token') ->> 'sid',
		  pg_temp.jwt_payload(:'login'::jsonb ->> 'access_token') ->> 'sid', 'same session (sid) after rotation');
SELECT pg_temp.act_dba();
SELECT ok((SELECT used_at IS NOT NULL FROM flov7.refresh_tokens WHERE token_hash = flov7.sha256_hex(:'r1')),
		  'the used refresh token is marked used');
SELECT is((SELECT count(*) FROM flov7.refresh_tokens WHERE token_hash IN (:'r1', :'ref'::jsonb ->> 'refresh_token')),
		  0::bigint, 'refresh tokens are stored hashed');

-- Refresh: reuse revokes the whole session, and answers 28000 with status 401.
SELECT pg_temp.act_anon();
SELECT is(flov7_api.auth_refresh(jsonb_build_object('refresh_token', :'r1')) ->> 'code', '28000',
		  'reusing a refresh token answers code 28000');
SELECT is(current_setting('response.status', true), '401', '... with HTTP status 401');
SELECT throws_ok(format('SELECT flov7_api.auth_refresh(%L)', jsonb_build_object('refresh_token', :'ref'::jsonb ->> 'refresh_token')),
				 '28000', 'refresh token has been revoked', 'after reuse, the newest refresh token is revoked too');
SELECT pg_temp.act_as(:'uid', pg_temp.jwt_payload(:'ref'::jsonb ->> 'access_token')::text);
SELECT throws_ok($$SELECT flov7_api.auth_me('{}')$$, '28000', 'token has been revoked',
				 'after reuse, the session''s access tokens are refused');
SELECT pg_temp.act_anon();
SELECT throws_ok($$SELECT flov7_api.auth_refresh('{"refresh_token":"flv7r_nope"}')$$, '28000', 'invalid refresh token',
				 'unknown refresh token is 28000');
SELECT flov7_api.auth_login('{"email":"reg.user@pgtap.test","password":"correct horse"}') AS login2 \gset
SELECT pg_temp.act_dba();
UPDATE flov7.refresh_tokens SET expires_at = now() - interval '1 second'
 WHERE token_hash = flov7.sha256_hex(:'login2'::jsonb ->> 'refresh_token');
SELECT pg_temp.act_anon();
SELECT throws_ok(format('SELECT flov7_api.auth_refresh(%L)', jsonb_build_object('refresh_token', :'login2'::jsonb ->> 'refresh_token')),
				 '28000', 'refresh token has expired', 'expired refresh token is 28000');

-- Logout revokes the access token and its session.
SELECT flov7_api.auth_login('{"email":"reg.user@pgtap.test","password":"correct horse"}') AS login3 \gset
SELECT pg_temp.act_as(:'uid', pg_temp.jwt_payload(:'login3'::jsonb ->> 'access_token')::text);
SELECT is(flov7_api.auth_logout('{}'), '{"message":"logged out"}'::jsonb, 'logout');
SELECT throws_ok($$SELECT flov7_api.auth_me('{}')$$, '28000', 'token has been revoked', 'a logged-out token is refused');
SELECT pg_temp.act_anon();
SELECT throws_ok(format('SELECT flov7_api.auth_refresh(%L)', jsonb_build_object('refresh_token', :'login3'::jsonb ->> 'refresh_token')),
				 '28000', 'refresh token has been revoked', 'a logged-out session cannot be refreshed');

-- Inactive users cannot log in or refresh.
SELECT flov7_api.auth_login('{"email":"reg.user@pgtap.test","password":"correct horse"}') AS login4 \gset
SELECT pg_temp.act_dba();
UPDATE flov7.users SET is_active = false WHERE id = :'uid';
SELECT pg_temp.act_anon();
SELECT is(flov7_api.auth_login('{"email":"reg.user@pgtap.test","password":"correct horse"}') ->> 'code', '42501',
		  'inactive login answers code 42501');
SELECT is(current_setting('response.status', true), '401', '... with HTTP status 401');
SELECT throws_ok(format('SELECT flov7_api.auth_refresh(%L)', jsonb_build_object('refresh_token', :'login4'::jsonb ->> 'refresh_token')),
				 '28000', 'refresh token has been revoked', 'deactivation revoked the sessions: refresh is 28000');
SELECT pg_temp.act_dba();
SELECT flov7.issue_tokens(:'uid') AS login5 \gset
SELECT pg_temp.act_anon();
SELECT throws_ok(format('SELECT flov7_api.auth_refresh(%L)', jsonb_build_object('refresh_token', :'login5'::jsonb ->> 'refresh_token')),
				 '42501', 'account is inactive', 'a live session of an inactive user: refresh is 42501');

-- The JWT secret and admins, for DBAs.
SELECT pg_temp.act_dba();
SELECT throws_ok($$SELECT flov7.set_jwt_secret('too short')$$, '22023', 'jwt secret must be at least 32 bytes long',
				 'set_jwt_secret refuses short secrets');
SELECT lives_ok($$SELECT flov7.set_jwt_secret(repeat('s', 32))$$, 'set_jwt_secret');
SELECT is(flov7.setting('jwt_secret'), repeat('s', 32), 'the secret is stored');
SELECT ok(pg_temp.jwt_valid(flov7_api.auth_register('{"email":"after@pgtap.test","password":"password123"}') ->> 'access_token',
							repeat('s', 32)), 'new tokens use the new secret');
SELECT pg_temp.act_as(:'uid');
SELECT throws_ok($$SELECT flov7.set_jwt_secret(repeat('s', 40))$$, '42501', NULL, 'only superusers set the secret');
SELECT pg_temp.act_dba();

SELECT flov7.create_admin('Boss@pgtap.test', 'boss password', 'Boss') AS boss \gset
SELECT is((SELECT role FROM flov7.users WHERE id = :'boss'), 'admin', 'create_admin creates an admin');
SELECT is(flov7.create_admin('after@pgtap.test', 'new password'),
		  (SELECT id FROM flov7.users WHERE email = 'after@pgtap.test'), 'create_admin promotes an existing user');
SELECT is((SELECT role FROM flov7.users WHERE email = 'after@pgtap.test'), 'admin', '... who is now admin');
SELECT throws_ok($$SELECT flov7.create_admin('new@pgtap.test', 'short')$$, '22023', NULL,
				 'create_admin checks the password');
SELECT pg_temp.act_anon();
SELECT is(flov7_api.auth_login('{"email":"boss@pgtap.test","password":"boss password"}') -> 'user' ->> 'role', 'admin',
		  'the admin can log in');
SELECT is(pg_temp.jwt_payload(flov7_api.auth_login('{"email":"boss@pgtap.test","password":"boss password"}') ->> 'access_token') ->> 'role',
		  'flov7_admin', 'an admin''s token names role flov7_admin');

SELECT pg_temp.act_dba();
SELECT * FROM finish();
ROLLBACK;
