-- 26_authz_cache.sql: the authorizer's cache across transactions (extension/authz_cache.c).
--
-- Unlike the other files, this one commits: the cache lives across transactions, and a
-- change reaches it only through a commit.  Each statement is its own transaction; the
-- request credentials are session settings.  Every kind of change to what the authorizer
-- reads is made with the cache warm (a hit proven by flov7.authz_cache_stats()), then seen
-- on the very next request, in this session and in another one (dblink).  The file
-- removes what it creates.  With the cache off (flov7.authz_cache_size = 0, as
-- test/upgrade/run.sh runs the suites, or flov7 not preloaded) it checks the same answers.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(79);

SELECT enabled::text AS cache_on FROM flov7.authz_cache_stats() \gset
SELECT is(:cache_on, current_setting('shared_preload_libraries') ~ '\mflov7\M'
					 AND current_setting('flov7.authz_cache_size')::int > 0,
		  'the cache is on when flov7 is preloaded and flov7.authz_cache_size > 0');

-- A user created directly (committed); returns its id.
CREATE FUNCTION pg_temp.mkuser(p_role text DEFAULT 'user') RETURNS uuid
LANGUAGE sql AS $$
	INSERT INTO flov7.users (email, role)
	VALUES ('authz.cache.' || replace(gen_random_uuid()::text, '-', '') || '@pgtap.test', p_role)
	RETURNING id
$$;

-- JWT claims as frontd passes them; exp_in and iat_in seconds from now.
CREATE FUNCTION pg_temp.claims(p_uid uuid, p_jti uuid DEFAULT gen_random_uuid(), p_sid uuid DEFAULT NULL,
							   p_exp_in int DEFAULT 3600, p_iat_in int DEFAULT 0) RETURNS text
LANGUAGE sql AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
		'sub', p_uid, 'role', 'flov7_user', 'jti', p_jti, 'sid', p_sid,
		'iat', floor(extract(epoch FROM clock_timestamp()))::bigint + p_iat_in,
		'exp', floor(extract(epoch FROM clock_timestamp()))::bigint + p_exp_in))::text
$$;

-- An API key created directly (committed); returns the clear key.
CREATE FUNCTION pg_temp.mkkey(p_uid uuid, p_perms text[], p_expires timestamptz DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_key text := flov7.random_token('flv7_', 32);
BEGIN
	INSERT INTO flov7.api_keys (user_id, name, key_prefix, key_hash, permissions, expires_at)
	VALUES (p_uid, 'cache test key', left(v_key, 12), flov7.sha256_hex(v_key), p_perms, p_expires);
	RETURN v_key;
END
$$;

-- The request's credentials, for this session (they outlive each statement's transaction).
CREATE FUNCTION pg_temp.use_claims(p_claims text) RETURNS void
LANGUAGE sql AS $$
	SELECT set_config('request.api_key', '', false), set_config('request.jwt.claims', p_claims, false)
$$;
CREATE FUNCTION pg_temp.use_key(p_key text) RETURNS void
LANGUAGE sql AS $$
	SELECT set_config('request.jwt.claims', '', false), set_config('request.api_key', p_key, false)
$$;

-- Cache hits of this session so far.
CREATE FUNCTION pg_temp.hits() RETURNS bigint
LANGUAGE sql AS $$ SELECT hits FROM flov7.authz_cache_stats() $$;

-- May the caller use this permission?  (authorize() raises; this answers.)
CREATE FUNCTION pg_temp.can(p_perm text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM flov7.authorize(p_perm);
	RETURN true;
EXCEPTION WHEN insufficient_privilege OR invalid_authorization_specification THEN
	RETURN false;
END
$$;

-- The other session: its own backend and its own cache.
SELECT FROM dblink_connect('other', format('host=%s port=%s dbname=%s user=%s',
									  split_part(current_setting('unix_socket_directories'), ',', 1),
									  current_setting('port'), current_database(), current_user));
CREATE FUNCTION pg_temp.other(p_sql text) RETURNS text
LANGUAGE sql AS $$ SELECT v FROM dblink('other', p_sql) AS t (v text) $$;
CREATE FUNCTION pg_temp.other_use_claims(p_claims text) RETURNS void
LANGUAGE sql AS $$
	SELECT pg_temp.other(format('SELECT set_config(''request.api_key'', '''', false) || '
								'set_config(''request.jwt.claims'', %L, false)', p_claims))
$$;
CREATE FUNCTION pg_temp.other_use_key(p_key text) RETURNS void
LANGUAGE sql AS $$
	SELECT pg_temp.other(format('SELECT set_config(''request.jwt.claims'', '''', false) || '
								'set_config(''request.api_key'', %L, false)', p_key))
$$;
CREATE FUNCTION pg_temp.other_status() RETURNS text
LANGUAGE sql AS $$ SELECT pg_temp.other('SELECT flov7.caller_status()') $$;
CREATE FUNCTION pg_temp.other_hits() RETURNS bigint
LANGUAGE sql AS $$ SELECT pg_temp.other('SELECT hits FROM flov7.authz_cache_stats()')::bigint $$;

-- Warm both sessions with their current credentials (this one resolves once; the other
-- asks until a request is answered from its cache).  Answers the status the other session
-- saw, or 'cold' when none of its requests was a hit.  (Autovacuum updating a table's
-- statistics drops the caches, so one miss more is possible, never a stale answer.)
CREATE FUNCTION pg_temp.warm() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_on boolean := pg_temp.other('SELECT enabled FROM flov7.authz_cache_stats()')::boolean;
	v_oh bigint;
	v_status text;
BEGIN
	PERFORM flov7.caller_status();
	FOR i IN 1 .. 3 LOOP
		v_oh := pg_temp.other_hits();
		v_status := pg_temp.other_status();	-- each request its own transaction there
		IF NOT v_on OR pg_temp.other_hits() > v_oh THEN
			RETURN v_status;
		END IF;
	END LOOP;
	RETURN 'cold';
END
$$;

-- This session's second request is checked by the statements themselves (each its own transaction).
SELECT pg_temp.mkuser('user') AS u1, pg_temp.mkuser('user') AS u2, pg_temp.mkuser('user') AS u3,
	   pg_temp.mkuser('premium') AS p1, pg_temp.mkuser('user') AS u4, pg_temp.mkuser('user') AS u5 \gset
SELECT gen_random_uuid() AS jti1, gen_random_uuid() AS sid2 \gset

-- ==== A token revoked at logout (revoked_tokens).
SELECT FROM pg_temp.use_claims(pg_temp.claims(:'u1', :'jti1'));
SELECT FROM pg_temp.other_use_claims(current_setting('request.jwt.claims'));
SELECT is(pg_temp.warm(), 'authenticated', 'token: the other session has it cached');
SELECT pg_temp.hits() AS h \gset
SELECT is(flov7.caller_status(), 'authenticated', 'token: this session asks again');
SELECT FROM flov7.caller_status();
SELECT FROM flov7.caller_status();
SELECT ok(NOT :cache_on OR pg_temp.hits() >= :h + 2, 'token: ... and the answers came from the cache');
INSERT INTO flov7.revoked_tokens (jti, user_id, expires_at) VALUES (:'jti1', :'u1', now() + interval '1 hour');
SELECT is(flov7.caller_status(), 'rejected', 'revoked token: refused on the very next request');
SELECT is(pg_temp.other_status(), 'rejected', 'revoked token: refused on the other session''s next request');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'token has been revoked', 'revoked token: 28000');

-- ==== A session revoked (refresh_tokens.revoked_at of the token's family).
INSERT INTO flov7.refresh_tokens (user_id, family_id, token_hash, expires_at)
VALUES (:'u2', :'sid2', encode(sha256(gen_random_uuid()::text::bytea), 'hex'), now() + interval '1 day');
SELECT FROM pg_temp.use_claims(pg_temp.claims(:'u2', gen_random_uuid(), :'sid2'));
SELECT FROM pg_temp.other_use_claims(current_setting('request.jwt.claims'));
SELECT is(pg_temp.warm(), 'authenticated', 'session: the other session has it cached');
SELECT is(flov7.caller_status(), 'authenticated', 'session: this session too');
UPDATE flov7.refresh_tokens SET revoked_at = now() WHERE family_id = :'sid2';
SELECT is(flov7.caller_status(), 'rejected', 'revoked session: refused on the very next request');
SELECT is(pg_temp.other_status(), 'rejected', 'revoked session: refused on the other session''s next request');
SELECT throws_ok($$SELECT flov7.caller_id()$$, '28000', 'token has been revoked', 'revoked session: 28000');

-- ==== A user deactivated, then reactivated.  Deactivation also ends the sessions of the
-- tokens issued before it (users.tokens_valid_after): first a token that predates it ...
SELECT FROM pg_temp.use_claims(pg_temp.claims(:'u5', p_iat_in => -5));
SELECT FROM pg_temp.other_use_claims(current_setting('request.jwt.claims'));
SELECT is(pg_temp.warm(), 'authenticated', 'sessions ended: the other session has the token cached');
UPDATE flov7.users SET is_active = false WHERE id = :'u5';
SELECT is(flov7.caller_status(), 'rejected', 'token issued before a deactivation: refused on the very next request');
SELECT is(pg_temp.other_status(), 'rejected', 'token issued before a deactivation: refused in the other session');
-- ... then a token (said to be) issued after it, so that only is_active decides.
SELECT FROM pg_temp.use_claims(pg_temp.claims(:'u3', p_iat_in => 60));
SELECT FROM pg_temp.other_use_claims(current_setting('request.jwt.claims'));
SELECT is(pg_temp.warm(), 'authenticated', 'deactivation: the other session has the user cached');
SELECT is(flov7.caller_id(), :'u3'::uuid, 'deactivation: this session too');
UPDATE flov7.users SET is_active = false WHERE id = :'u3';
SELECT is(flov7.caller_status(), 'inactive', 'deactivated user: inactive on the very next request');
SELECT is(pg_temp.other_status(), 'inactive', 'deactivated user: inactive on the other session''s next request');
SELECT ok(flov7.caller_id() IS NULL, 'deactivated user: caller_id() is NULL');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '42501', 'account is inactive', 'deactivated user: 42501');
UPDATE flov7.users SET is_active = true WHERE id = :'u3';
SELECT is(flov7.caller_status(), 'authenticated', 'reactivated user: accepted on the very next request');
SELECT is(pg_temp.other_status(), 'authenticated', 'reactivated user: accepted in the other session too');

-- ==== A change the triggers cannot see (they were disabled for it) still reaches the other
-- session: re-enabling them is DDL on the table, whose relcache invalidation drops its cache.
-- (A role change: deactivation would also revoke refresh tokens, whose triggers would bump.)
SELECT is(pg_temp.warm(), 'authenticated', 'DDL: the other session has the user cached');
SELECT is(pg_temp.other('SELECT flov7.caller_is_admin()'), 'f', 'DDL: not an admin');
BEGIN;
ALTER TABLE flov7.users DISABLE TRIGGER users_authz_before;
ALTER TABLE flov7.users DISABLE TRIGGER users_authz;
UPDATE flov7.users SET role = 'admin' WHERE id = :'u3';
ALTER TABLE flov7.users ENABLE ALWAYS TRIGGER users_authz_before;
ALTER TABLE flov7.users ENABLE ALWAYS TRIGGER users_authz;
COMMIT;
SELECT is(pg_temp.other('SELECT flov7.caller_is_admin()'), 't',
		  'DDL: a change made with the triggers disabled is seen after they are back');
UPDATE flov7.users SET role = 'user' WHERE id = :'u3';
SELECT is(pg_temp.other('SELECT flov7.caller_is_admin()'), 'f', 'DDL: and the triggers work again');

-- ==== A role change: promoted to admin, then demoted.
SELECT ok(NOT flov7.caller_is_admin(), 'role: not an admin yet');
SELECT is(pg_temp.other('SELECT flov7.caller_is_admin()'), 'f', 'role: the other session agrees');
UPDATE flov7.users SET role = 'admin' WHERE id = :'u3';
SELECT ok(flov7.caller_is_admin(), 'promoted: admin on the very next request');
SELECT is(pg_temp.other('SELECT flov7.caller_is_admin()'), 't', 'promoted: admin on the other session''s next request');
SELECT ok(pg_temp.can('admin:users'), 'promoted: holds admin:users');
UPDATE flov7.users SET role = 'user' WHERE id = :'u3';
SELECT ok(NOT flov7.caller_is_admin(), 'demoted: no longer admin on the very next request');
SELECT is(pg_temp.other('SELECT flov7.caller_is_admin()'), 'f', 'demoted: no longer admin in the other session');
SELECT ok(NOT pg_temp.can('admin:users'), 'demoted: admin:users refused');

-- ==== A change in the exploring transaction itself is honoured before it commits, and a
-- rolled-back change leaves the cached answer right.
BEGIN;
UPDATE flov7.users SET role = 'admin' WHERE id = :'u3';
SELECT flov7.caller_is_admin()::text AS admin_in_txn \gset
ROLLBACK;
SELECT ok(:admin_in_txn, 'own uncommitted promotion: seen inside the transaction');
SELECT ok(NOT flov7.caller_is_admin(), 'rolled back: not admin afterwards');
SELECT is(pg_temp.other('SELECT flov7.caller_is_admin()'), 'f', 'rolled back: nor in the other session');

-- ==== Role permissions changed (role_permissions).
SELECT FROM pg_temp.use_claims(pg_temp.claims(:'p1'));
SELECT FROM pg_temp.other_use_claims(current_setting('request.jwt.claims'));
SELECT is(pg_temp.warm(), 'authenticated', 'role permissions: the other session has the premium user cached');
SELECT ok(pg_temp.can('notifications:read'), 'role permissions: premium holds notifications:read');
DELETE FROM flov7.role_permissions WHERE role = 'premium' AND permission = 'notifications:read';
SELECT ok(NOT pg_temp.can('notifications:read'), 'permission withdrawn from the role: refused on the very next request');
SELECT is(pg_temp.other('SELECT flov7.caller_permissions() @> ''{notifications:read}'''), 'f',
		  'permission withdrawn: gone from the other session''s next request');
INSERT INTO flov7.role_permissions (role, permission) VALUES ('premium', 'notifications:read');
SELECT ok(pg_temp.can('notifications:read'), 'permission given back: granted on the very next request');

-- ==== A user deleted.
SELECT FROM pg_temp.use_claims(pg_temp.claims(:'u4'));
SELECT FROM pg_temp.other_use_claims(current_setting('request.jwt.claims'));
SELECT is(pg_temp.warm(), 'authenticated', 'deleted user: the other session has the user cached');
DELETE FROM flov7.users WHERE id = :'u4';
SELECT is(flov7.caller_status(), 'rejected', 'deleted user: refused on the very next request');
SELECT is(pg_temp.other_status(), 'rejected', 'deleted user: refused on the other session''s next request');

-- ==== API keys: revoked, expired by a change, scopes changed, owner deactivated, deleted;
-- each use still counted when the answer comes from the cache.
SELECT pg_temp.mkkey(:'u1', '{workflows:read,profile:read}') AS key1,
	   pg_temp.mkkey(:'u2', '{workflows:read}') AS key2,
	   pg_temp.mkkey(:'u3', '{workflows:read}') AS key3 \gset
SELECT FROM pg_temp.use_key(:'key1');
SELECT FROM pg_temp.other_use_key(:'key1');
SELECT is(pg_temp.warm(), 'authenticated', 'key: the other session has it cached');
SELECT usage_count AS uses FROM flov7.api_keys WHERE key_hash = flov7.sha256_hex(:'key1') \gset
SELECT pg_temp.hits() AS h \gset
SELECT is(flov7.authorize('workflows:read'), :'u1'::uuid, 'key: accepted');
SELECT is(flov7.authorize('workflows:read'), :'u1'::uuid, 'key: accepted again');
SELECT FROM flov7.authorize('workflows:read');
SELECT ok(NOT :cache_on OR pg_temp.hits() >= :h + 2, 'key: ... from the cache');
SELECT is((SELECT usage_count FROM flov7.api_keys WHERE key_hash = flov7.sha256_hex(:'key1')), (:uses + 3)::bigint,
		  'key: each cached use is still counted');
SELECT ok(pg_temp.can('profile:read') AND NOT pg_temp.can('workflows:write'), 'key: its scopes apply');
UPDATE flov7.api_keys SET permissions = '{workflows:read}' WHERE key_hash = flov7.sha256_hex(:'key1');
SELECT ok(NOT pg_temp.can('profile:read'), 'key scopes narrowed: refused on the very next request');
SELECT is(pg_temp.other('SELECT flov7.caller_permissions() @> ''{profile:read}'''), 'f',
		  'key scopes narrowed: refused on the other session''s next request');
UPDATE flov7.api_keys SET is_active = false, revoked_at = now() WHERE key_hash = flov7.sha256_hex(:'key1');
SELECT is(flov7.caller_status(), 'rejected', 'revoked key: refused on the very next request');
SELECT is(pg_temp.other_status(), 'rejected', 'revoked key: refused on the other session''s next request');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'api key has been revoked', 'revoked key: 28000');
SELECT is((SELECT count(*) FROM flov7.audit_logs a JOIN flov7.api_keys k ON k.id = a.record_id
			 WHERE k.key_hash = flov7.sha256_hex(:'key1') AND a.new_data ->> 'is_active' = 'false'
			   AND a.user_id IS NULL), 1::bigint,
		  'revoked key: the revoking statement''s own audit trigger already saw the key revoked (no cached answer mid-change)');

SELECT FROM pg_temp.use_key(:'key2');
SELECT FROM pg_temp.other_use_key(:'key2');
SELECT is(pg_temp.warm(), 'authenticated', 'key expiry: the other session has it cached');
UPDATE flov7.api_keys SET expires_at = now() - interval '1 second' WHERE key_hash = flov7.sha256_hex(:'key2');
SELECT is(flov7.caller_status(), 'rejected', 'key given a past expires_at: refused on the very next request');
SELECT is(pg_temp.other_status(), 'rejected', 'key given a past expires_at: refused in the other session');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'api key has expired', 'expired key: 28000');

SELECT FROM pg_temp.use_key(:'key3');
SELECT FROM pg_temp.other_use_key(:'key3');
SELECT is(pg_temp.warm(), 'authenticated', 'key owner: the other session has the key cached');
UPDATE flov7.users SET is_active = false WHERE id = :'u3';
SELECT is(flov7.caller_status(), 'inactive', 'key of a deactivated owner: inactive on the very next request');
SELECT is(pg_temp.other_status(), 'inactive', 'key of a deactivated owner: inactive in the other session');
UPDATE flov7.users SET is_active = true WHERE id = :'u3';
SELECT is(flov7.caller_status(), 'authenticated', 'key of a reactivated owner: accepted again');
DELETE FROM flov7.api_keys WHERE key_hash = flov7.sha256_hex(:'key3');
SELECT is(flov7.caller_status(), 'rejected', 'deleted key: refused on the very next request');
SELECT is(pg_temp.other_status(), 'rejected', 'deleted key: refused in the other session');

-- ==== Time alone: a cached token reaches its exp (30 s leeway), a cached key its expires_at.
SELECT pg_temp.mkkey(:'u2', '{workflows:read}', clock_timestamp() + interval '6 seconds') AS key4 \gset
SELECT pg_temp.claims(:'u2', gen_random_uuid(), NULL, -24) AS short_claims \gset
SELECT FROM pg_temp.use_claims(:'short_claims');
SELECT FROM pg_temp.other_use_key(:'key4');
SELECT is(pg_temp.warm(), 'authenticated', 'time: the other session has a key about to expire cached');
SELECT is(flov7.caller_status(), 'authenticated', 'time: this session has a token about to expire cached');
SELECT FROM pg_sleep(7);
SELECT is(flov7.caller_status(), 'rejected', 'a cached token past its exp: refused');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'token has expired', 'a cached token past its exp: 28000');
SELECT is(pg_temp.other_status(), 'rejected', 'a cached key past its expires_at: refused');
SELECT FROM pg_temp.use_key(:'key4');
SELECT throws_ok($$SELECT flov7.authorize(NULL)$$, '28000', 'api key has expired', 'a cached key past its expires_at: 28000');

-- ==== DROP EXTENSION and CREATE EXTENSION again, in a scratch database: the cached callers and
-- the saved lookup plans of both sessions follow the new tables.
SELECT current_database() || '_authz_scratch' AS scratch \gset
SELECT FROM dblink_connect('admin', format('host=%s port=%s dbname=postgres user=%s',
									  split_part(current_setting('unix_socket_directories'), ',', 1),
									  current_setting('port'), current_user));
SELECT FROM dblink_exec('admin', format('DROP DATABASE IF EXISTS %I', :'scratch'));
SELECT FROM dblink_exec('admin', format('CREATE DATABASE %I', :'scratch'));
SELECT FROM unnest(ARRAY['s1', 's2']) s,
	 LATERAL dblink_connect(s, format('host=%s port=%s dbname=%s user=%s',
									  split_part(current_setting('unix_socket_directories'), ',', 1),
									  current_setting('port'), :'scratch', current_user));
SELECT FROM dblink_exec('s1', 'SET client_min_messages = warning; CREATE EXTENSION flov7 CASCADE');
SELECT FROM dblink_exec('s1', format('INSERT INTO flov7.users (id, email) VALUES (%L, ''scratch@pgtap.test'')', :'u1'));
SELECT pg_temp.claims(:'u1') AS scratch_claims \gset
SELECT FROM unnest(ARRAY['s1', 's2']) s,
	 LATERAL dblink(s, format('SELECT set_config(''request.jwt.claims'', %L, false)', :'scratch_claims')) AS t (v text);
SELECT is(ARRAY(SELECT v FROM unnest(ARRAY['s1', 's2', 's1', 's2']) s,
						   dblink(s, 'SELECT flov7.caller_status()') AS t (v text)),
		  '{authenticated,authenticated,authenticated,authenticated}', 'scratch: both sessions resolve the user');
SELECT ok(NOT :cache_on OR (SELECT v FROM dblink('s2', 'SELECT hits FROM flov7.authz_cache_stats()') AS t (v bigint)) > 0,
		  'scratch: ... and have it cached');
SELECT FROM dblink_exec('s1', 'DROP EXTENSION flov7 CASCADE');
SELECT FROM dblink_exec('s1', 'SET client_min_messages = warning; CREATE EXTENSION flov7 CASCADE');
SELECT is((SELECT v FROM dblink('s2', 'SELECT flov7.caller_status()') AS t (v text)), 'rejected',
		  'extension recreated: the user is gone for the session that had it cached');
SELECT is((SELECT v FROM dblink('s1', 'SELECT flov7.caller_status()') AS t (v text)), 'rejected',
		  'extension recreated: and for the session that recreated it');
SELECT FROM dblink_exec('s1', format('INSERT INTO flov7.users (id, email) VALUES (%L, ''scratch@pgtap.test'')', :'u1'));
SELECT is(ARRAY(SELECT v FROM unnest(ARRAY['s1', 's2']) s, dblink(s, 'SELECT flov7.caller_status()') AS t (v text)),
		  '{authenticated,authenticated}', 'extension recreated: the saved plans read the new tables in both sessions');
SELECT FROM unnest(ARRAY['s1', 's2']) s, LATERAL dblink_disconnect(s);
SELECT FROM dblink_exec('admin', format('DROP DATABASE %I WITH (FORCE)', :'scratch'));
SELECT FROM dblink_disconnect('admin');

-- ==== Clean up.
SELECT FROM pg_temp.use_claims('');
SELECT FROM dblink_disconnect('other');
DELETE FROM flov7.users WHERE id IN (:'u1', :'u2', :'u3', :'p1', :'u5');
SELECT * FROM finish();
DROP EXTENSION dblink;
