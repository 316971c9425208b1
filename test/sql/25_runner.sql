-- 25_runner.sql: the runner (extension/runner.c) claims executions in batches and moves their
-- steps on in memory: what it writes back must be what the SQL steps would have written -
-- the events of an execution in order, a join fed by both parents, several owners' executions
-- in one batch each counted once on its workflow, and what was due in an ended execution
-- cancelled, not run.
BEGIN;
SELECT plan(14);
\ir helpers.psql

SELECT pg_temp.mkuser('rn.a@pgtap.test', 'user', 'enterprise') AS a \gset
SELECT pg_temp.mkuser('rn.b@pgtap.test', 'user', 'enterprise') AS b \gset

CREATE FUNCTION pg_temp.n(p_id text, p_type text, p_config jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', p_id, 'type', p_type, 'data', jsonb_build_object('config', p_config))
$$;
CREATE FUNCTION pg_temp.e(p_source text, p_target text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', p_source || '-' || p_target, 'source', p_source, 'target', p_target)
$$;
-- A workflow of the user's, from nodes and edges.
CREATE FUNCTION pg_temp.wf(p_uid uuid, p_nodes jsonb, p_edges jsonb) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
	v_id uuid;
BEGIN
	PERFORM pg_temp.act_as(p_uid);
	v_id := (flov7_api.workflow_create(jsonb_build_object('name', 'runner',
			 'workflow_json', jsonb_build_object('nodes', p_nodes, 'edges', p_edges))) ->> 'id')::uuid;
	PERFORM pg_temp.act_dba();
	RETURN v_id;
END
$$;
-- Execute a workflow as the user (nothing run yet); the execution id.
CREATE FUNCTION pg_temp.exec(p_uid uuid, p_wf uuid, p_input jsonb DEFAULT '{}') RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
	v_id uuid;
BEGIN
	PERFORM pg_temp.act_as(p_uid);
	v_id := (flov7.execute(p_wf, p_input) ->> 'execution_id')::uuid;
	PERFORM pg_temp.act_dba();
	RETURN v_id;
END
$$;
CREATE FUNCTION pg_temp.chain(p_uid uuid) RETURNS uuid LANGUAGE sql AS $$
	SELECT pg_temp.wf(p_uid,
		jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
						  pg_temp.n('x', 'action', '{"action_type": "transform", "fields": ["amount"]}'),
						  pg_temp.n('c', 'condition', '{"condition_type": "if_else", "condition": "data.amount > 100"}')),
		jsonb_build_array(pg_temp.e('t', 'x'), pg_temp.e('x', 'c')))
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

-- Drain what earlier files left due, so that counts below are this file's.
SELECT sum(flov7.run_ready(60)) AS drained FROM generate_series(1, 20) \gset

-- ---- one execution: its events, in order -----------------------------------------------------
SELECT pg_temp.chain(:'a') AS wa \gset
SELECT pg_temp.exec(:'a', :'wa', '{"amount": 150}') AS x1 \gset
SELECT is(flov7.run_ready(60), 3, 'a three-step chain runs in one batch');
SELECT is(ARRAY(SELECT type FROM flov7.events WHERE payload ->> 'execution_id' = :'x1' ORDER BY id),
		  '{execution.created,execution.started,step.completed,step.completed,step.completed,execution.completed}',
		  'its events: created, started, each step, completed - in that order');
SELECT is(ARRAY(SELECT payload ->> 'node_id' FROM flov7.events
				 WHERE payload ->> 'execution_id' = :'x1' AND type = 'step.completed' ORDER BY id),
		  '{t,x,c}', 'the steps'' events in the order they ran');
SELECT is((SELECT array_agg(k ORDER BY k) FROM flov7.workflow_executions, jsonb_object_keys(output_data) k
			 WHERE id = :'x1'), '{c}', 'the output is the terminal node''s');

-- ---- a join: both parents complete in memory, the join gets their outputs merged -------------
SELECT pg_temp.wf(:'a',
	jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
					  pg_temp.n('l', 'data', '{"operation_type": "mapping", "mapping": {"left": 1}}'),
					  pg_temp.n('r', 'data', '{"operation_type": "mapping", "mapping": {"right": 2}}'),
					  pg_temp.n('j', 'action', '{"action_type": "transform", "fields": ["left", "right"]}')),
	jsonb_build_array(pg_temp.e('t', 'l'), pg_temp.e('t', 'r'), pg_temp.e('l', 'j'), pg_temp.e('r', 'j'))) AS wj \gset
SELECT pg_temp.exec(:'a', :'wj') AS xj \gset
SELECT is(flov7.run_ready(60), 4, 'a diamond runs in one batch');
SELECT is((SELECT status || ' ' || output_data::text FROM flov7.workflow_executions WHERE id = :'xj'),
		  'completed {"j": {"left": 1, "right": 2}}', 'the join ran once, on both parents'' outputs merged');
SELECT is((SELECT pending_parents FROM flov7.execution_steps WHERE execution_id = :'xj' AND node_id = 'j'), 0,
		  'the join waited for both parents');

-- ---- several owners in one batch, each run counted once ------------------------------------
SELECT pg_temp.chain(:'b') AS wb \gset
SELECT pg_temp.exec(:'a', :'wa', '{"amount": 1}') AS xa1, pg_temp.exec(:'a', :'wa', '{"amount": 2}') AS xa2,
	   pg_temp.exec(:'b', :'wb', '{"amount": 3}') AS xb1, pg_temp.exec(:'b', :'wb', '{"amount": 4}') AS xb2 \gset
SELECT is(flov7.run_ready(60), 12, 'four executions of two owners run in one batch');
SELECT is((SELECT count(*) FROM flov7.workflow_executions WHERE id IN (:'xa1', :'xa2', :'xb1', :'xb2')
			  AND status = 'completed' AND steps_completed = 3 AND completed_at >= started_at), 4::bigint,
		  'each one completed, with its counters and timings');
SELECT is((SELECT execution_count FROM flov7.workflows WHERE id = :'wa'), 3,
		  'each run counted once on its workflow (three of a''s)');
SELECT is((SELECT execution_count FROM flov7.workflows WHERE id = :'wb'), 2, '(two of b''s)');
SELECT is((SELECT array_agg(DISTINCT worker) FROM flov7.execution_step_data WHERE execution_id = :'xb2'), '{sql}',
		  'the attempts name the runner that ran them');

-- ---- an execution that ended: what was due is cancelled, not run -----------------------------
SELECT pg_temp.exec(:'a', :'wa', '{"amount": 5}') AS xc \gset
UPDATE flov7.workflow_executions SET status = 'cancelled', completed_at = clock_timestamp() WHERE id = :'xc';
SELECT is(flov7.run_ready(60), 0, 'nothing runs in an execution that ended');
SELECT is((SELECT state FROM flov7.execution_steps WHERE execution_id = :'xc' AND node_id = 't'), 'cancelled',
		  'its due step is cancelled');

SELECT * FROM finish();
ROLLBACK;
