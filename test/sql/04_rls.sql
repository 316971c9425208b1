-- 04_rls.sql: row level security isolates users on every user-owned table; admins see all.
BEGIN;
SELECT plan(38);
\ir helpers.psql

SELECT pg_temp.mkuser('rls.a@pgtap.test') AS a \gset
SELECT pg_temp.mkuser('rls.b@pgtap.test') AS b \gset
SELECT pg_temp.mkuser('rls.admin@pgtap.test', 'admin') AS adm \gset

-- Rows for both users, made by the DBA.
CREATE FUNCTION pg_temp.populate(p_uid uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_wf uuid;
BEGIN
	INSERT INTO flov7.workflows (user_id, name) VALUES (p_uid, 'wf') RETURNING id INTO v_wf;
	INSERT INTO flov7.workflow_executions (workflow_id, user_id) VALUES (v_wf, p_uid);
	INSERT INTO flov7.deployments (workflow_id, user_id) VALUES (v_wf, p_uid);
	INSERT INTO flov7.user_integrations (user_id, service_name, service_type, credentials_encrypted)
	VALUES (p_uid, 'svc', 'webhook', flov7.credentials_encrypt('{"url":"https://example.com"}'));
	INSERT INTO flov7.notifications (user_id, title) VALUES (p_uid, 'hello');
	PERFORM pg_temp.mkkey(p_uid, '{profile:read}');
END
$$;
SELECT pg_temp.populate(:'a'), pg_temp.populate(:'b');

-- Rows a statement touched.
CREATE FUNCTION pg_temp.affected(p_sql text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE p_sql;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

SELECT pg_temp.act_as(:'a');

-- What A sees: only A's rows.
SELECT is((SELECT array_agg(DISTINCT id) FROM flov7.users), ARRAY[:'a'::uuid], 'users: A sees only A');
SELECT is((SELECT count(*) FROM flov7.workflows WHERE user_id <> :'a'), 0::bigint, 'workflows: B invisible');
SELECT is((SELECT count(*) FROM flov7.workflows), 1::bigint, 'workflows: A sees own');
SELECT is((SELECT count(*) FROM flov7.workflow_executions WHERE user_id <> :'a'), 0::bigint,
		  'workflow_executions: B invisible');
SELECT is((SELECT count(*) FROM flov7.workflow_executions), 1::bigint, 'workflow_executions: A sees own');
SELECT is((SELECT count(*) FROM flov7.deployments WHERE user_id <> :'a'), 0::bigint, 'deployments: B invisible');
SELECT is((SELECT count(*) FROM flov7.user_integrations WHERE user_id <> :'a'), 0::bigint,
		  'user_integrations: B invisible');
SELECT is((SELECT count(*) FROM flov7.user_integrations), 1::bigint, 'user_integrations: A sees own');
SELECT is((SELECT count(*) FROM flov7.api_keys WHERE user_id <> :'a'), 0::bigint, 'api_keys: B invisible');
SELECT is((SELECT count(*) FROM flov7.api_keys), 1::bigint, 'api_keys: A sees own');
SELECT is((SELECT count(*) FROM flov7.notifications WHERE user_id <> :'a'), 0::bigint, 'notifications: B invisible');
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE owner_id IS DISTINCT FROM :'a'::uuid
											   AND user_id IS DISTINCT FROM :'a'::uuid), 0::bigint,
		  'audit_logs: only A''s');
SELECT ok((SELECT count(*) FROM flov7.audit_logs) > 0, 'audit_logs: A sees the log of A''s records');

-- What A cannot change: B's rows are not there to update or delete.
SELECT is(pg_temp.affected(format($$UPDATE flov7.users SET full_name = 'x' WHERE id = %L$$, :'b')), 0::bigint,
		  'users: B not updatable');
SELECT is(pg_temp.affected(format($$UPDATE flov7.workflows SET name = 'x' WHERE user_id = %L$$, :'b')), 0::bigint,
		  'workflows: B not updatable');
SELECT is(pg_temp.affected(format($$DELETE FROM flov7.workflows WHERE user_id = %L$$, :'b')), 0::bigint,
		  'workflows: B not deletable');
SELECT is(pg_temp.affected(format($$UPDATE flov7.user_integrations SET is_active = false WHERE user_id = %L$$, :'b')),
		  0::bigint, 'user_integrations: B not updatable');
SELECT is(pg_temp.affected(format($$DELETE FROM flov7.user_integrations WHERE user_id = %L$$, :'b')), 0::bigint,
		  'user_integrations: B not deletable');
SELECT is(pg_temp.affected(format($$UPDATE flov7.api_keys SET is_active = false, revoked_at = now() WHERE user_id = %L$$, :'b')),
		  0::bigint, 'api_keys: B not revocable');
SELECT is(pg_temp.affected(format($$UPDATE flov7.notifications SET is_read = true, read_at = now() WHERE user_id = %L$$, :'b')),
		  0::bigint, 'notifications: B not updatable');
SELECT throws_ok(format($$INSERT INTO flov7.workflows (user_id, name) VALUES (%L, 'planted')$$, :'b'), '42501', NULL,
				 'workflows: cannot insert a row owned by B');
SELECT throws_ok(format($$UPDATE flov7.workflows SET user_id = %L$$, :'b'), '42501', NULL,
				 'workflows: cannot give a row to B');
SELECT throws_ok($$UPDATE flov7.workflow_executions SET status = 'cancelled', completed_at = now()$$, '42501', NULL,
				 'workflow_executions: not writable by users yet');
SELECT throws_ok($$DELETE FROM flov7.audit_logs$$, '42501', NULL, 'audit_logs: not deletable');
SELECT throws_ok($$UPDATE flov7.deployments SET status = 'active'$$, '42501', NULL, 'deployments: read-only');
SELECT throws_ok($$SELECT * FROM flov7.settings$$, '42501', NULL, 'settings: not readable');
SELECT throws_ok($$SELECT * FROM flov7.refresh_tokens$$, '42501', NULL, 'refresh_tokens: not readable');
SELECT throws_ok($$SELECT key_hash FROM flov7.api_keys$$, '42501', NULL, 'api_keys.key_hash: not readable');
SELECT throws_ok($$SELECT credentials_encrypted FROM flov7.user_integrations$$, '42501', NULL,
				 'user_integrations.credentials_encrypted: not readable');
SELECT throws_ok(format($$UPDATE flov7.users SET role = 'admin' WHERE id = %L$$, :'a'), '42501', NULL,
				 'users: A cannot make themselves admin');

-- B sees A's changes? No: and A's own updates work.
SELECT is(pg_temp.affected($$UPDATE flov7.workflows SET name = 'mine'$$), 1::bigint, 'workflows: A updates own');

-- The admin sees everyone through the policies.
SELECT pg_temp.act_as(:'adm');
SELECT is((SELECT count(*) FROM flov7.users WHERE id IN (:'a', :'b')), 2::bigint, 'admin sees all users');
SELECT is((SELECT count(*) FROM flov7.workflows WHERE user_id IN (:'a', :'b')), 2::bigint, 'admin sees all workflows');
SELECT is((SELECT count(*) FROM flov7.user_integrations WHERE user_id IN (:'a', :'b')), 2::bigint,
		  'admin sees all integrations');
SELECT ok((SELECT count(*) FROM flov7.audit_logs WHERE owner_id IN (:'a', :'b')) >= 4, 'admin sees all audit rows');

-- Admin quota edits are allowed through policy; users cannot edit quotas.
SELECT is(pg_temp.affected($$UPDATE flov7.plan_quotas SET max_workflows = 3 WHERE plan = 'free'$$), 1::bigint,
		  'admin may change plan quotas');
SELECT pg_temp.act_as(:'a');
SELECT throws_ok($$UPDATE flov7.plan_quotas SET max_workflows = 1000$$, '42501', NULL, 'users may not change quotas');

-- Anonymous sees nothing at all.
SELECT pg_temp.act_anon();
SELECT throws_ok($$SELECT count(*) FROM flov7.users$$, '42501', NULL, 'anon has no table access');

SELECT pg_temp.act_dba();
SELECT * FROM finish();
ROLLBACK;
