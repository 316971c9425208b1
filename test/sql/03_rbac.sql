-- 03_rbac.sql: the C authorizer: role x permission matrix, tokens, API keys, caching.
BEGIN;
SELECT plan(42);
\ir helpers.psql

SELECT pg_temp.mkuser('rbac.u@pgtap.test', 'user') AS u \gset
SELECT pg_temp.mkuser('rbac.p@pgtap.test', 'premium') AS p \gset
SELECT pg_temp.mkuser('rbac.a@pgtap.test', 'admin') AS a \gset

-- May this user (acting with a fresh JWT) use this permission?
CREATE FUNCTION pg_temp.can(p_uid uuid, p_perm text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_temp.act_as(p_uid);
	BEGIN
		PERFORM flov7.authorize(p_perm);
		PERFORM pg_temp.act_dba();
		RETURN true;
	EXCEPTION WHEN insufficient_privilege THEN
		PERFORM pg_temp.act_dba();
		RETURN false;
	END;
END
$$;

-- The matrix: admin has everything; user and premium everything but admin:*.
SELECT is(ARRAY(SELECT r.role || ' ' || p.name
				  FROM (VALUES ('user', :'u'::uuid), ('premium', :'p'::uuid), ('admin', :'a'::uuid)) r (role, id)
				 CROSS JOIN flov7.permissions p
				 WHERE pg_temp.can(r.id, p.name) ORDER BY 1),
		  ARRAY(SELECT r.role || ' ' || p.name
				  FROM (VALUES ('user'), ('premium'), ('admin')) r (role)
				 CROSS JOIN flov7.permissions p
				 WHERE r.role = 'admin' OR p.name NOT LIKE 'admin:%' ORDER BY 1),
		  'role x permission matrix');
SELECT is((SELECT count(*) FROM flov7.permissions), 14::bigint, 'fourteen permissions');
SELECT ok(pg_temp.can(:'u', 'workflows:execute') AND NOT pg_temp.can(:'u', 'admin:users')
		  AND NOT pg_temp.can(:'p', 'admin:stats') AND pg_temp.can(:'a', 'admin:stats'), 'spot checks of the matrix');

-- Anonymous.
SELECT pg_temp.act_anon();
SELECT throws_ok($$SELECT flov7.authorize('profile:read')$$, '28000', 'authentication required',
				 'no credentials: 28000');
SELECT ok(flov7.caller_id() IS NULL, 'caller_id() is NULL when anonymous');
SELECT ok(NOT flov7.caller_is_admin(), 'anonymous is not admin');

-- A plain user.
SELECT pg_temp.act_as(:'u');
SELECT is(flov7.caller_id(), :'u'::uuid, 'caller_id() from the JWT claims');
SELECT is(flov7.authorize(NULL), :'u'::uuid, 'authorize(NULL) just authenticates');
SELECT is(flov7.authorize('profile:read'), :'u'::uuid, 'authorize returns the caller');
SELECT ok(NOT flov7.caller_is_admin(), 'a user is not admin');
SELECT is(cardinality(flov7.caller_permissions()), 11, 'a user has the eleven non-admin permissions');
SELECT throws_ok($$SELECT flov7.authorize('admin:users')$$, '42501', 'permission denied: "admin:users" is required',
				 'a user lacks admin:users: 42501');
SELECT throws_ok($$SELECT flov7.authorize('no:such')$$, '42501', NULL, 'unknown permissions are refused');

SELECT pg_temp.act_as(:'a');
SELECT ok(flov7.caller_is_admin(), 'an admin is admin');

-- Bad and revoked tokens.
SELECT pg_temp.act_as(:'u', pg_temp.claims(:'u', -10));
SELECT is(flov7.authorize(NULL), :'u'::uuid, 'a token 10 s past exp is within frontd''s 30 s leeway');
SELECT pg_temp.act_as(:'u', pg_temp.claims(:'u', -60));
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'token has expired', 'an expired token is 28000');
SELECT throws_ok($$SELECT flov7.caller_id()$$, '28000', NULL, 'caller_id() refuses bad credentials too');
SELECT pg_temp.act_as(:'u', 'not json');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'invalid token claims', 'claims that are not JSON');
SELECT pg_temp.act_as(:'u', '{"sub":"' || :'u' || '","exp":9999999999}');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'invalid token claims', 'claims without jti');
SELECT pg_temp.act_as(:'u', '{"sub":"nobody","jti":"' || gen_random_uuid() || '","exp":9999999999}');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'invalid token claims', 'a sub that is not a uuid');
SELECT pg_temp.act_as(:'u', pg_temp.claims(gen_random_uuid()));
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'invalid token', 'a token of an unknown user');

SELECT pg_temp.act_dba();
INSERT INTO flov7.revoked_tokens (jti, user_id, expires_at)
VALUES ('00000000-0000-0000-0000-00000000000f', :'u', now() + interval '1 hour');
SELECT pg_temp.act_as(:'u', pg_temp.claims(:'u', 3600, '00000000-0000-0000-0000-00000000000f'));
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'token has been revoked', 'a revoked jti is 28000');

SELECT pg_temp.act_dba();
INSERT INTO flov7.refresh_tokens (user_id, family_id, token_hash, expires_at, revoked_at)
VALUES (:'u', '00000000-0000-0000-0000-0000000000fa', repeat('a', 64), now() + interval '1 day', now());
SELECT pg_temp.act_as(:'u', pg_temp.claims(:'u', 3600, gen_random_uuid(), '00000000-0000-0000-0000-0000000000fa'));
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'token has been revoked',
				 'a token of a revoked session is 28000');

-- Inactive users: refused with 42501, invisible to RLS.
SELECT pg_temp.act_dba();
UPDATE flov7.users SET is_active = false WHERE id = :'p';
SELECT pg_temp.act_as(:'p');
SELECT throws_ok($$SELECT flov7.authorize('profile:read')$$, '42501', 'account is inactive', 'inactive user: 42501');
SELECT ok(flov7.caller_id() IS NULL, 'an inactive user has no caller id');

-- A demoted admin's old token loses admin rights at once, even within one transaction.
SELECT pg_temp.claims(:'a') AS admin_claims \gset
SELECT pg_temp.act_as(:'a', :'admin_claims');
SELECT is(flov7.authorize('admin:users'), :'a'::uuid, 'admin before demotion');
SELECT pg_temp.act_dba();
UPDATE flov7.users SET role = 'user' WHERE id = :'a';
SELECT set_config('role', 'flov7_admin', true), set_config('request.jwt.claims', :'admin_claims', true);
SELECT throws_ok($$SELECT flov7.authorize('admin:users')$$, '42501', NULL, 'a demoted admin is refused (42501)');
SELECT ok(NOT flov7.caller_is_admin(), 'a demoted admin is no longer admin for RLS');
SELECT pg_temp.act_dba();
UPDATE flov7.users SET role = 'admin' WHERE id = :'a';

-- Role permissions are data: a DBA can withdraw one.
DELETE FROM flov7.role_permissions WHERE role = 'user' AND permission = 'workflows:execute';
SELECT ok(NOT pg_temp.can(:'u', 'workflows:execute'), 'a withdrawn role permission is refused');

-- API keys: scopes intersected with the owner's role permissions.
SELECT pg_temp.mkkey(:'u', '{workflows:read}') AS k_read \gset
SELECT pg_temp.act_with_key(:'k_read');
SELECT is(flov7.authorize('workflows:read'), :'u'::uuid, 'an API key identifies its owner');
SELECT is(flov7.caller_permissions(), ARRAY['workflows:read'], 'effective permissions are the key scopes');
SELECT throws_ok($$SELECT flov7.authorize('workflows:write')$$, '42501', NULL, 'a key cannot exceed its scopes');
SELECT pg_temp.act_dba();
SELECT is((SELECT usage_count FROM flov7.api_keys WHERE key_hash = flov7.sha256_hex(:'k_read')), 1::bigint,
		  'key use is counted once per transaction');
SELECT ok((SELECT last_used_at IS NOT NULL FROM flov7.api_keys WHERE key_hash = flov7.sha256_hex(:'k_read')),
		  'key use sets last_used_at');

SELECT pg_temp.mkkey(:'u', '{admin:users,profile:read}') AS k_escalate \gset
SELECT pg_temp.act_with_key(:'k_escalate');
SELECT throws_ok($$SELECT flov7.authorize('admin:users')$$, '42501', NULL,
				 'a key scope the owner''s role lacks is ignored');
SELECT pg_temp.act_dba();
SELECT pg_temp.mkkey(:'a', '{admin:users}') AS k_admin \gset
SELECT pg_temp.mkkey(:'a', '{profile:read}') AS k_admin_plain \gset
SELECT pg_temp.act_with_key(:'k_admin');
SELECT ok(flov7.caller_is_admin(), 'an admin key with admin:users is admin');
SELECT pg_temp.act_with_key(:'k_admin_plain');
SELECT ok(NOT flov7.caller_is_admin(), 'an admin''s key without admin:users is not admin');

SELECT pg_temp.act_with_key('flv7_' || repeat('x', 43));
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'invalid api key', 'an unknown key is 28000');
SELECT pg_temp.act_with_key('not-a-key');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'invalid api key', 'a malformed key is 28000');

SELECT pg_temp.act_dba();
UPDATE flov7.api_keys SET is_active = false, revoked_at = now() WHERE key_hash = flov7.sha256_hex(:'k_read');
SELECT pg_temp.act_with_key(:'k_read');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'api key has been revoked', 'a revoked key is 28000');
SELECT pg_temp.act_dba();
SELECT pg_temp.mkkey(:'u', '{profile:read}', now() - interval '1 second') AS k_old \gset
SELECT pg_temp.act_with_key(:'k_old');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'api key has expired', 'an expired key is 28000');
SELECT pg_temp.act_dba();
SELECT pg_temp.mkkey(:'p', '{profile:read}') AS k_inactive \gset
SELECT pg_temp.act_with_key(:'k_inactive');
SELECT throws_ok($$SELECT flov7.authorize('profile:read')$$, '42501', 'account is inactive',
				 'a key of an inactive user is 42501');

SELECT pg_temp.act_dba();
SELECT * FROM finish();
ROLLBACK;
