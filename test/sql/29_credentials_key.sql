-- 29_credentials_key.sql: the credentials key lives outside the database (issue 8): a key file or
-- key command named by superuser-only settings, rotation in batches, the legacy key of installs
-- made before 0.1.3, and a clear error when no key is configured.
BEGIN;
SELECT plan(46);
\ir helpers.psql

-- pg_temp.sh(command): run a shell command in the data directory, as the server does.
CREATE FUNCTION pg_temp.sh(p_command text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'cd ' || current_setting('data_directory') || ' && ' || p_command);
END
$$;

-- pg_temp.keyfile(name, lines): write a key file the server reads (owned by the server's user,
-- mode 0600: COPY leaves it 0644), one line per array element; return its path.
CREATE FUNCTION pg_temp.keyfile(p_name text, p_lines text[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_path text := current_setting('data_directory') || '/flov7_pgtap_key_' || p_name;
BEGIN
	EXECUTE format('COPY (SELECT unnest(%L::text[])) TO %L', p_lines, v_path);
	PERFORM pg_temp.sh('chmod 0600 flov7_pgtap_key_' || p_name);
	RETURN v_path;
END
$$;

-- pg_temp.use_keys(file, command): point this transaction at a key file or command.
CREATE FUNCTION pg_temp.use_keys(p_file text, p_command text DEFAULT '') RETURNS void
LANGUAGE sql AS $$
	SELECT set_config('flov7.credentials_key_file', p_file, true);
	SELECT set_config('flov7.credentials_key_command', p_command, true);
$$;

-- pg_temp.rotate_all(batch): call rotate_credentials_key until it returns 0; how many calls.
CREATE FUNCTION pg_temp.rotate_all(p_batch int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
	v_calls int := 1;
BEGIN
	WHILE flov7.rotate_credentials_key(p_batch) > 0 LOOP
		v_calls := v_calls + 1;
		IF v_calls > 1000 THEN
			RAISE EXCEPTION 'rotation does not end';
		END IF;
	END LOOP;
	RETURN v_calls;
END
$$;

-- pg_temp.not_under(key id): integrations not sealed with that key.
CREATE FUNCTION pg_temp.not_under(p_id text) RETURNS bigint
LANGUAGE sql AS $$
	SELECT count(*) FROM flov7.user_integrations i WHERE flov7.credentials_key_id(i.credentials_encrypted) <> p_id
$$;

SELECT pg_temp.mkuser('ck.a@pgtap.test') AS a \gset

-- The settings: named by the cluster's configuration, superuser only.
SELECT isnt(current_setting('flov7.credentials_key_file'), '', 'the cluster names a key file (test/lib.sh pg_init)');
SET LOCAL ROLE flov7_user;
SELECT throws_ok($$SHOW flov7.credentials_key_file$$, '42501', NULL, 'an API role cannot even SHOW the key file');
SELECT throws_ok($$SELECT current_setting('flov7.credentials_key_command')$$, '42501', NULL,
				 'nor read the key command');
SELECT throws_ok($$SELECT set_config('flov7.credentials_key_file', '/tmp/mine', true)$$, '42501', NULL,
				 'nor set the key file');
RESET ROLE;
SELECT is(string_agg(r || ' ' || f, ', '), NULL, 'no role but the owner may seal, open, rotate or read a key id')
  FROM unnest(ARRAY['flov7_anon', 'flov7_user', 'flov7_admin', 'flov7_authenticator', 'flov7_worker']) r,
	   unnest(ARRAY['flov7.credentials_seal(text)', 'flov7.credentials_open(bytea)', 'flov7.credentials_decrypt(bytea)',
					'flov7.credentials_current_key_id()', 'flov7.rotate_credentials_key(int)',
					'flov7.drop_legacy_credentials_key()']) f
 WHERE has_function_privilege(r, f, 'EXECUTE');
SELECT is((SELECT count(*) FROM flov7.settings WHERE key = 'credentials_key' AND value = pg_read_file(current_setting('flov7.credentials_key_file'))),
		  0::bigint, 'the database does not hold the key');

-- A round trip through the API, with the cluster's key.
SELECT flov7.credentials_current_key_id() AS cluster_id \gset
SELECT ok(:'cluster_id' ~ '^[0-9a-f]{16}$', 'a key id is 16 hex digits');
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.integration_create('{"service_name":"s0","service_type":"api_key","credentials":{"token":"TOPSECRET-0"}}') ->> 'id' AS i0 \gset
SELECT pg_temp.act_dba();
SELECT is((SELECT flov7.credentials_key_id(credentials_encrypted) FROM flov7.user_integrations WHERE id = :'i0'),
		  :'cluster_id', 'credentials are sealed with the current key, whose id they record');
SELECT is((SELECT position('TOPSECRET'::bytea IN credentials_encrypted) FROM flov7.user_integrations WHERE id = :'i0'),
		  0, 'the stored bytes do not hold the clear secret');
SELECT is((SELECT flov7.credentials_decrypt(credentials_encrypted) FROM flov7.user_integrations WHERE id = :'i0'),
		  '{"token": "TOPSECRET-0"}'::jsonb, 'and open again');
SELECT throws_ok(format($$SELECT flov7.credentials_open(overlay(credentials_encrypted PLACING '\xff'::bytea FROM 40))
						   FROM flov7.user_integrations WHERE id = %L$$, :'i0'),
				 'XX001', NULL, 'a changed ciphertext does not open');

-- Rotation: key one seals three integrations; then key two seals, and key one still opens.
SELECT pg_read_file(current_setting('flov7.credentials_key_file')) AS cluster_key \gset
SELECT pg_temp.keyfile('one', ARRAY['pgtap-key-one-' || repeat('1', 40), :'cluster_key']) AS f1 \gset
SELECT pg_temp.use_keys(:'f1');
SELECT flov7.credentials_current_key_id() AS id1 \gset
SELECT isnt(:'id1'::text, :'cluster_id', 'the first line of the key file seals');
SELECT pg_temp.act_as(:'a');
SELECT count(flov7_api.integration_create(format('{"service_name":"s%s","service_type":"api_key","credentials":{"token":"T-%s"}}', n, n)::jsonb))
  FROM generate_series(1, 3) n;
SELECT pg_temp.act_dba();
SELECT is((SELECT count(*) FROM flov7.user_integrations WHERE user_id = :'a'
			 AND flov7.credentials_key_id(credentials_encrypted) = :'id1'), 3::bigint, 'three integrations sealed with key one');
SELECT pg_temp.keyfile('two', ARRAY['# rotated: key two seals, key one and the cluster''s key still open',
									'pgtap-key-two-' || repeat('2', 40), '', '  pgtap-key-one-' || repeat('1', 40) || '  ',
									:'cluster_key']) AS f2 \gset
SELECT pg_temp.use_keys(:'f2');
SELECT flov7.credentials_current_key_id() AS id2 \gset
SELECT ok(:'id2' NOT IN (:'id1', :'cluster_id'), 'the new first line seals (comments, blank lines and spaces skipped)');
SELECT is((SELECT flov7.credentials_decrypt(credentials_encrypted) FROM flov7.user_integrations
			WHERE user_id = :'a' AND service_name = 's2'), '{"token": "T-2"}'::jsonb, 'an older key still opens');
SELECT throws_ok($$SELECT flov7.rotate_credentials_key(0)$$, '22023', 'batch must be between 1 and 100000',
				 'a batch of 0 is refused');
SELECT pg_temp.not_under(:'id2') AS before \gset
SELECT is(flov7.rotate_credentials_key(2), (:before - 2)::bigint, 'a batch re-seals that many and returns how many remain');
SELECT is(pg_temp.not_under(:'id2'), (:before - 2)::bigint, 'as counted');
SELECT cmp_ok(pg_temp.rotate_all(1), '>=', 1, 'rotation in batches of one ends');
SELECT is(pg_temp.not_under(:'id2'), 0::bigint, 'every integration is sealed with key two');
SELECT is((SELECT jsonb_agg(flov7.credentials_decrypt(credentials_encrypted) ORDER BY service_name)
			 FROM flov7.user_integrations WHERE user_id = :'a'),
		  '[{"token": "TOPSECRET-0"}, {"token": "T-1"}, {"token": "T-2"}, {"token": "T-3"}]'::jsonb,
		  'and opens as before');
SELECT is(flov7.rotate_credentials_key(), 0::bigint, 'a rotation with nothing left does nothing');
SELECT pg_temp.use_keys(pg_temp.keyfile('three', ARRAY['pgtap-key-two-' || repeat('2', 40)]));
SELECT is((SELECT count(*) FROM flov7.user_integrations WHERE flov7.credentials_decrypt(credentials_encrypted) IS NOT NULL),
		  (SELECT count(*) FROM flov7.user_integrations), 'once rotated, the old keys can go from the file');
SELECT pg_temp.use_keys(:'f1');
SELECT throws_ok($$SELECT flov7.credentials_decrypt(credentials_encrypted) FROM flov7.user_integrations LIMIT 1$$,
				 '55000', format('credentials were sealed with key %s, which is not configured', :'id2'),
				 'a key missing from the file is named');

-- The file is read again when it changes, without a reload.
SELECT pg_temp.keyfile('one', ARRAY['pgtap-key-two-' || repeat('2', 40)]) AS f1 \gset
SELECT is(flov7.credentials_current_key_id(), :'id2', 'a key file rewritten in place is read again');

-- The key command, and what is refused.
SELECT pg_temp.use_keys('', 'cat ' || :'f1');
SELECT is(flov7.credentials_current_key_id(), :'id2', 'flov7.credentials_key_command: its output holds the keys');
SELECT is((SELECT flov7.credentials_decrypt(credentials_encrypted) FROM flov7.user_integrations
			WHERE user_id = :'a' AND service_name = 's3'), '{"token": "T-3"}'::jsonb, 'and opens');
SELECT pg_temp.use_keys('', 'exit 3');
SELECT throws_ok($$SELECT flov7.credentials_current_key_id()$$, '55000',
				 'flov7.credentials_key_command failed: child process exited with exit code 3', 'a failing key command');
SELECT pg_temp.use_keys(:'f1', 'cat ' || :'f1');
SELECT throws_ok($$SELECT flov7.credentials_current_key_id()$$, '55000',
				 'both flov7.credentials_key_file and flov7.credentials_key_command are set', 'only one of them');
SELECT pg_temp.use_keys(pg_temp.keyfile('short', ARRAY['# a key too short', 'short']));
SELECT throws_ok($$SELECT flov7.credentials_current_key_id()$$, '55000', NULL, 'a key under 32 characters is refused');
SELECT pg_temp.use_keys(pg_temp.keyfile('empty', ARRAY['# nothing but a comment']));
SELECT throws_ok($$SELECT flov7.credentials_current_key_id()$$, '55000', NULL, 'a file with no key is refused');
SELECT pg_temp.use_keys(current_setting('data_directory') || '/flov7_pgtap_no_such_file');
SELECT throws_ok($$SELECT flov7.credentials_current_key_id()$$, '55000', NULL, 'a missing file is refused');
SELECT pg_temp.keyfile('open', ARRAY['pgtap-key-two-' || repeat('2', 40)]) AS fo \gset
SELECT pg_temp.use_keys(:'fo');
SELECT pg_temp.sh('chmod 0644 flov7_pgtap_key_open');
SELECT throws_ok($$SELECT flov7.credentials_current_key_id()$$, '55000',
				 format('credentials key file "%s" has group or world access', :'fo'),
				 'a key file others may read is refused, as PostgreSQL refuses such an SSL key');
SELECT pg_temp.sh('chmod 0600 flov7_pgtap_key_open');
SELECT is(flov7.credentials_current_key_id(), :'id2', 'and accepted once mode 0600');

-- No key configured: a clear error where credentials are needed, and only there.
SELECT pg_temp.use_keys('', '');
SELECT pg_temp.act_as(:'a');
SELECT throws_ok($$SELECT flov7_api.integration_create('{"service_name":"nokey","service_type":"api_key","credentials":{"t":"x"}}')$$,
				 '55000', 'no credentials key is configured', 'storing credentials without a key: 55000, naming what is missing');
SELECT is(flov7_api.integration_list('{}') ->> 'total', '4', 'reading integrations needs no key');
SELECT is(flov7_api.integration_update(jsonb_build_object('id', :'i0', 'is_active', false)) ->> 'is_active', 'false',
		  'nor does changing them without new credentials');
SELECT pg_temp.act_dba();
SELECT throws_ok(format($$SELECT flov7.credentials_decrypt(credentials_encrypted) FROM flov7.user_integrations WHERE id = %L$$, :'i0'),
				 '55000', 'no credentials key is configured', 'opening credentials without a key: the same error');

-- The legacy key (flov7.settings, installs made before 0.1.3): opens until rotated away, then dropped.
SELECT pg_temp.use_keys(:'f2');
INSERT INTO flov7.settings (key, value) VALUES ('credentials_key', 'pgtap-legacy-key-' || repeat('l', 32))
	ON CONFLICT (key) DO NOTHING;
INSERT INTO flov7.user_integrations (user_id, service_name, service_type, credentials_encrypted)
SELECT :'a', 'legacy', 'api_key', pgp_sym_encrypt('{"token":"OLD"}', value, 'cipher-algo=aes256')
  FROM flov7.settings WHERE key = 'credentials_key'
RETURNING id AS il \gset
SELECT is((SELECT flov7.credentials_key_id(credentials_encrypted) FROM flov7.user_integrations WHERE id = :'il'), '',
		  'a value sealed by pgcrypto with the legacy key has no key id');
SELECT is((SELECT flov7.credentials_decrypt(credentials_encrypted) FROM flov7.user_integrations WHERE id = :'il'),
		  '{"token": "OLD"}'::jsonb, 'the legacy key opens it');
SELECT throws_ok($$SELECT flov7.drop_legacy_credentials_key()$$, '55000', NULL,
				 'the legacy key is not dropped while it still seals something');
SELECT cmp_ok(pg_temp.rotate_all(1000), '>=', 1, 'rotation moves legacy values too');
SELECT is((SELECT flov7.credentials_key_id(credentials_encrypted) FROM flov7.user_integrations WHERE id = :'il'), :'id2',
		  'to the current key');
SELECT is(flov7.drop_legacy_credentials_key(), true, 'then the legacy key is dropped');
SELECT is((SELECT count(*) FROM flov7.settings WHERE key = 'credentials_key'), 0::bigint, 'from flov7.settings');
SELECT is((SELECT flov7.credentials_decrypt(credentials_encrypted) FROM flov7.user_integrations WHERE id = :'il'),
		  '{"token": "OLD"}'::jsonb, 'and the credentials still open');

SELECT pg_temp.sh('rm -f flov7_pgtap_key_*');
SELECT * FROM finish();
ROLLBACK;
