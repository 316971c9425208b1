-- 15_worker.sql: the background workers' role and functions (the workers themselves are tested
-- over HTTP, where the harness preloads flov7 with flov7.database_name set).
BEGIN;
SELECT plan(11);
\ir helpers.psql

SELECT ok(rolcanlogin, 'flov7_worker can log in (a background worker connects as it)') FROM pg_roles WHERE rolname = 'flov7_worker';
SELECT ok(NOT rolsuper AND NOT rolbypassrls AND NOT rolcreaterole AND NOT rolcreatedb, 'flov7_worker is no superuser and obeys RLS')
  FROM pg_roles WHERE rolname = 'flov7_worker';
SELECT is(ARRAY(SELECT b.rolname::text FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid
				 JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'flov7_worker'), '{}'::text[], 'flov7_worker is a member of nothing');
SELECT ok(has_database_privilege('flov7_worker', current_database(), 'CONNECT'), 'flov7_worker may connect');
SELECT ok(has_function_privilege('flov7_worker', 'flov7.run_ready(int)', 'EXECUTE'), 'flov7_worker runs the runner');
SELECT ok(NOT has_table_privilege('flov7_worker', 'flov7.execution_steps', 'SELECT'), 'flov7_worker reads no table itself');
SELECT ok(NOT has_function_privilege('flov7_user', 'flov7.next_due_ms()', 'EXECUTE'), 'users do not see the queue''s timers');

SELECT is(flov7.next_due_ms(), NULL::bigint, 'next_due_ms: nothing due, no timer (an idle worker sleeps)');
SELECT pg_temp.mkuser('wk.a@pgtap.test', 'user', 'enterprise') AS a \gset
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.workflow_create($${"name": "w", "workflow_json": {"nodes": [
	{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}},
	{"id": "w", "type": "action", "data": {"config": {"action_type": "wait", "duration_seconds": 120}}}], "edges": [
	{"id": "e", "source": "t", "target": "w"}]}}$$::jsonb) ->> 'id' AS wf \gset
SELECT lives_ok(format('SELECT flov7.execute(%L)', :'wf'), 'execute asks for a worker at commit (no error without workers)');
SELECT pg_temp.act_dba();
SELECT is(flov7.next_due_ms(), 0::bigint, 'next_due_ms: a ready step is due now');
SELECT flov7.run_ready(60) AS ran \gset
SELECT cmp_ok(flov7.next_due_ms(), '>', 100000::bigint, 'next_due_ms: then the wait''s timer');

SELECT * FROM finish();
ROLLBACK;
