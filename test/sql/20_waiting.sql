-- 20_waiting.sql: an execution whose only remaining work is durable timers (wait nodes, retry
-- backoff) or steps parked for an outside worker is "waiting"; it is "running" again when a
-- step runs.
BEGIN;
SELECT plan(12);
\ir helpers.psql

SELECT pg_temp.mkuser('wt.a@pgtap.test', 'user', 'enterprise') AS a \gset

CREATE FUNCTION pg_temp.n(p_id text, p_type text, p_config jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', p_id, 'type', p_type, 'data', jsonb_build_object('config', p_config))
$$;
CREATE FUNCTION pg_temp.e(p_source text, p_target text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', p_source || '-' || p_target, 'source', p_source, 'target', p_target)
$$;
-- Create and execute a definition as the user, run what is due; the execution id.
CREATE FUNCTION pg_temp.start(p_nodes jsonb, p_edges jsonb) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
	v_wf uuid;
	v_id uuid;
BEGIN
	PERFORM pg_temp.act_as((SELECT id FROM flov7.users WHERE email = 'wt.a@pgtap.test'));
	v_wf := (flov7_api.workflow_create(jsonb_build_object('name', 'waiting',
			 'workflow_json', jsonb_build_object('nodes', p_nodes, 'edges', p_edges))) ->> 'id')::uuid;
	v_id := (flov7.execute(v_wf, '{}') ->> 'execution_id')::uuid;
	PERFORM pg_temp.act_dba();
	PERFORM flov7.run_ready(60);
	RETURN v_id;
END
$$;
CREATE FUNCTION pg_temp.st(p_exec uuid) RETURNS text LANGUAGE sql AS $$
	SELECT status FROM flov7.workflow_executions WHERE id = p_exec
$$;

-- A wait node: waiting on its timer; running when it is due and claimed; completed after.
SELECT pg_temp.start(jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
									   pg_temp.n('w', 'action', '{"action_type": "wait", "duration_seconds": 3600}'),
									   pg_temp.n('m', 'data', '{"operation_type": "mapping", "mapping": {"done": true}}')),
					 jsonb_build_array(pg_temp.e('t', 'w'), pg_temp.e('w', 'm'))) AS x1 \gset
SELECT is(pg_temp.st(:'x1'), 'waiting', 'a wait node''s timer: the execution is waiting');
UPDATE flov7.execution_steps SET ready_at = now() - interval '1 second' WHERE execution_id = :'x1' AND node_id = 'w';
SELECT is(flov7.run_ready(60), 2, 'the due wait and its successor run');
SELECT is(ARRAY(SELECT type FROM flov7.events WHERE payload ->> 'execution_id' = :'x1' AND type LIKE 'execution.%' ORDER BY id),
		  '{execution.created,execution.started,execution.waiting,execution.running,execution.completed}',
		  'a step of a waiting execution runs: running again, then it completes');
SELECT is(pg_temp.st(:'x1'), 'completed', 'then it completes');

-- Two branches: one done, one on a timer: waiting.
SELECT pg_temp.start(jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
									   pg_temp.n('w', 'action', '{"action_type": "wait", "duration_seconds": 3600}'),
									   pg_temp.n('m', 'data', '{"operation_type": "mapping", "mapping": {"x": 1}}')),
					 jsonb_build_array(pg_temp.e('t', 'w'), pg_temp.e('t', 'm'))) AS x2 \gset
SELECT is((SELECT state FROM flov7.execution_steps WHERE execution_id = :'x2' AND node_id = 'm'), 'completed',
		  'the other branch ran');
SELECT is(pg_temp.st(:'x2'), 'waiting', 'only a timer is left: waiting');

-- Retry backoff: a failing step waiting for its next attempt.
SELECT pg_temp.start(jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
									   pg_temp.n('v', 'data', '{"operation_type": "validate", "schema": "later_schema",
																"retry": {"max_attempts": 3, "backoff_ms": 3600000}}')),
					 jsonb_build_array(pg_temp.e('t', 'v'))) AS x3 \gset
SELECT is(pg_temp.st(:'x3'), 'waiting', 'a retry''s backoff: waiting');
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.schema_put('{"name": "later_schema", "schema": {"type": "object"}}') IS NOT NULL AS ok \gset
SELECT pg_temp.act_dba();
UPDATE flov7.execution_steps SET ready_at = now() - interval '1 second' WHERE execution_id = :'x3' AND node_id = 'v';
SELECT is(flov7.run_ready(60), 1, 'the retry runs when due');
SELECT is(pg_temp.st(:'x3'), 'completed', 'and the execution completes');

-- Parked for an outside worker: waiting; claimed by the worker: running.
INSERT INTO flov7.settings (key, value) VALUES ('outbound_worker', 'on');
SELECT pg_temp.start(jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
									   pg_temp.n('c', 'action', '{"action_type": "api_call", "url": "https://api.example/x"}')),
					 jsonb_build_array(pg_temp.e('t', 'c'))) AS x4 \gset
SELECT is(pg_temp.st(:'x4'), 'waiting', 'a step parked for the outbound worker: waiting');
SELECT is((SELECT count(*) FROM flov7.outbound_claim(NULL, 60000, 10)), 1::bigint, 'the outbound worker claims it');
SELECT is(pg_temp.st(:'x4'), 'running', 'claimed: running');

SELECT * FROM finish();
ROLLBACK;
