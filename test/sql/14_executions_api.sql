-- 14_executions_api.sql: list, get, cancel and retry executions: shapes, filters, keyset pages,
-- another user's ids, scopes, cancel semantics, retry from the failed steps keeping completed ones.
BEGIN;
SELECT plan(40);
\ir helpers.psql

SELECT pg_temp.mkuser('ex.a@pgtap.test', 'user', 'enterprise') AS a \gset
SELECT pg_temp.mkuser('ex.b@pgtap.test') AS b \gset
SELECT pg_temp.mkkey(:'a', ARRAY['workflows:read']) AS key_read \gset

-- A workflow whose node "f" fails while the input says so; "p" runs in parallel; "j" joins.
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.workflow_create(jsonb_build_object('name', 'retry me', 'workflow_json', $${
	"nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}},
			  {"id": "p", "type": "data", "data": {"config": {"operation_type": "mapping", "mapping": {"p": 1}}}},
			  {"id": "f", "type": "action", "data": {"config": {"action_type": "custom", "function": "{{ $.input.fn }}"}}},
			  {"id": "j", "type": "data", "data": {"config": {"operation_type": "merge"}}},
			  {"id": "after", "type": "data", "data": {"config": {"operation_type": "enrich", "fields": {"done": true}}}}],
	"edges": [{"id": "1", "source": "t", "target": "p"}, {"id": "2", "source": "p", "target": "f"},
			  {"id": "3", "source": "p", "target": "j"}, {"id": "4", "source": "f", "target": "j"},
			  {"id": "5", "source": "j", "target": "after"}]}$$::jsonb)) ->> 'id' AS wf \gset
SELECT flov7.execute(:'wf', '{"fn": "flov7_test_ok"}') ->> 'id' AS x1 \gset
SELECT pg_temp.act_dba();
SELECT flov7.run_ready(60) AS ran \gset

-- ---- list and get ---------------------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.execution_list(jsonb_build_object('id', :'wf')) AS l \gset
SELECT is(:'l'::jsonb -> 'total', '1', 'list: total');
SELECT ok(:'l'::jsonb ?& ARRAY['items', 'total', 'limit', 'offset', 'next_cursor'], 'list: shape');
SELECT is(:'l'::jsonb -> 'items' -> 0 ->> 'status', 'failed', 'list: the custom function is not allowed yet, so the run failed');
SELECT is(flov7_api.execution_list(jsonb_build_object('id', :'wf', 'status', 'completed')) -> 'total', '0', 'list: status filter');
SELECT is(flov7_api.execution_list(jsonb_build_object('id', :'wf', 'created_after', now() + interval '1 hour')) -> 'total', '0',
		  'list: created_after');
SELECT is(flov7_api.execution_list(jsonb_build_object('id', :'wf', 'created_before', now() + interval '1 hour')) -> 'total', '1',
		  'list: created_before');
SELECT throws_ok(format('SELECT flov7_api.execution_list(%L)', jsonb_build_object('id', :'wf', 'status', 'nope')), '22023', NULL,
				 'list: a bad status is 22023');
SELECT throws_ok(format('SELECT flov7_api.execution_list(%L)', jsonb_build_object('id', :'wf', 'created_after', 'yesterday-ish')), '22007', NULL,
				 'list: a bad time is 22007');

SELECT flov7_api.execution_get(jsonb_build_object('id', :'x1')) AS g \gset
SELECT is(:'g'::jsonb ->> 'error_node', 'f', 'get: the failing node');
SELECT matches(:'g'::jsonb ->> 'error_message', '^node "f" failed: custom function "flov7_test_ok" is not on the allow-list', 'get: error_message');
SELECT is(jsonb_array_length(:'g'::jsonb -> 'steps'), 5, 'get: every step');
SELECT is((SELECT jsonb_object_agg(s ->> 'node_id', s ->> 'state') FROM jsonb_array_elements(:'g'::jsonb -> 'steps') s),
		  '{"t": "completed", "p": "completed", "f": "failed", "j": "cancelled", "after": "cancelled"}', 'get: the step states');
SELECT ok((SELECT bool_and(s ?& ARRAY['node_id', 'state', 'attempt', 'input', 'output', 'error', 'started_at', 'completed_at'])
			 FROM jsonb_array_elements(:'g'::jsonb -> 'steps') s), 'get: step shape');
SELECT is((SELECT s -> 'output' FROM jsonb_array_elements(:'g'::jsonb -> 'steps') s WHERE s ->> 'node_id' = 'p'), '{"p": 1}', 'get: a step''s output');

-- ---- retry from the failed steps, keeping the completed ones ------------------------------------
SELECT pg_temp.act_dba();
CREATE FUNCTION public.flov7_test_ok(x jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"f": 2}'::jsonb $$;
INSERT INTO flov7.custom_functions (name, function) VALUES ('flov7_test_ok', 'public.flov7_test_ok(jsonb)');
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.execution_retry(jsonb_build_object('id', :'x1')) AS rt \gset
SELECT is(:'rt'::jsonb ->> 'status', 'running', 'retry: running again');
SELECT is(:'rt'::jsonb -> 'retry_count', '1', 'retry: counted');
SELECT pg_temp.act_dba();
SELECT is(flov7.run_ready(60), 3, 'retry: only f, j and after run again');
SELECT is((SELECT count(*) FROM flov7.execution_step_data WHERE execution_id = :'x1' AND node_id IN ('t', 'p')), 2::bigint,
		  'retry: completed steps are kept, not re-run');
SELECT is((SELECT attempt FROM flov7.execution_steps WHERE execution_id = :'x1' AND node_id = 'f'), 2, 'retry: the failed step''s next attempt');
SELECT is((SELECT status FROM flov7.workflow_executions WHERE id = :'x1'), 'completed', 'retry: the execution completes');
SELECT is((SELECT output_data FROM flov7.workflow_executions WHERE id = :'x1'), '{"after": {"f": 2, "p": 1, "done": true}}',
		  'retry: the join got both parents');
SELECT is((SELECT execution_count FROM flov7.workflows WHERE id = :'wf'), 1, 'retry: the workflow counts the execution once');
SELECT pg_temp.act_as(:'a');
SELECT throws_ok(format('SELECT flov7_api.execution_retry(%L)', jsonb_build_object('id', :'x1')), 'PT409', NULL,
				 'retry: a completed execution is 409');

-- ---- cancel -------------------------------------------------------------------------------------
SELECT flov7_api.workflow_create(jsonb_build_object('name', 'wait', 'workflow_json', $${
	"nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}},
			  {"id": "w", "type": "action", "data": {"config": {"action_type": "wait", "duration_seconds": 3600}}},
			  {"id": "n", "type": "action", "data": {"config": {"action_type": "notification", "title": "never"}}}],
	"edges": [{"id": "1", "source": "t", "target": "w"}, {"id": "2", "source": "w", "target": "n"}]}$$::jsonb)) ->> 'id' AS ww \gset
SELECT flov7.execute(:'ww') ->> 'id' AS xw \gset
SELECT pg_temp.act_dba();
SELECT flov7.run_ready(60) AS ran \gset
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.execution_cancel(jsonb_build_object('id', :'xw')) AS c \gset
SELECT is(:'c'::jsonb ->> 'status', 'cancelled', 'cancel: cancelled');
SELECT ok((:'c'::jsonb ->> 'completed_at') IS NOT NULL, 'cancel: completed_at');
SELECT is((SELECT jsonb_object_agg(node_id, state) FROM flov7.execution_steps WHERE execution_id = :'xw'),
		  '{"t": "completed", "w": "cancelled", "n": "cancelled"}', 'cancel: waiting and pending steps are cancelled');
SELECT pg_temp.act_dba();
UPDATE flov7.execution_steps SET ready_at = now() - interval '1 second' WHERE execution_id = :'xw';
SELECT is(flov7.run_ready(60), 0, 'cancel: nothing of it runs any more');
SELECT is((SELECT count(*) FROM flov7.notifications WHERE title = 'never'), 0::bigint, 'cancel: no effect after it');
SELECT pg_temp.act_as(:'a');
SELECT throws_ok(format('SELECT flov7_api.execution_cancel(%L)', jsonb_build_object('id', :'xw')), 'PT409', NULL,
				 'cancel: twice is 409');
SELECT is((SELECT execution_count FROM flov7.workflows WHERE id = :'ww'), 1, 'cancel: counted once');
-- A cancelled execution can be retried: its cancelled steps run again.
SELECT is(flov7_api.execution_retry(jsonb_build_object('id', :'xw')) ->> 'status', 'running', 'retry of a cancelled execution');
SELECT is((SELECT state FROM flov7.execution_steps WHERE execution_id = :'xw' AND node_id = 'w'), 'ready', 'retry: the cancelled wait is ready again');

-- ---- another user's ids, scopes -----------------------------------------------------------------
SELECT pg_temp.act_as(:'b');
SELECT throws_ok(format('SELECT flov7_api.execution_get(%L)', jsonb_build_object('id', :'x1')), 'P0002', 'execution not found',
				 'get: another user''s execution is not found');
SELECT throws_ok(format('SELECT flov7_api.execution_list(%L)', jsonb_build_object('id', :'wf')), 'P0002', 'workflow not found',
				 'list: another user''s workflow is not found');
SELECT throws_ok(format('SELECT flov7_api.execution_cancel(%L)', jsonb_build_object('id', :'xw')), 'P0002', NULL,
				 'cancel: another user''s execution is not found');
SELECT throws_ok(format('SELECT flov7_api.execution_retry(%L)', jsonb_build_object('id', :'x1')), 'P0002', NULL,
				 'retry: another user''s execution is not found');
SELECT pg_temp.act_with_key(:'key_read');
SELECT lives_ok(format('SELECT flov7_api.execution_get(%L)', jsonb_build_object('id', :'x1')), 'get: workflows:read is enough');
SELECT throws_ok(format('SELECT flov7_api.execution_cancel(%L)', jsonb_build_object('id', :'xw')), '42501', NULL,
				 'cancel: needs workflows:execute');

-- ---- keyset pages ---------------------------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT count(flov7.execute(:'ww')) AS made FROM generate_series(1, 5) \gset
SELECT flov7_api.execution_list(jsonb_build_object('id', :'ww', 'limit', 4)) AS p1 \gset
SELECT flov7_api.execution_list(jsonb_build_object('id', :'ww', 'limit', 4, 'before', :'p1'::jsonb ->> 'next_cursor')) AS p2 \gset
SELECT is(jsonb_array_length(:'p1'::jsonb -> 'items') + jsonb_array_length(:'p2'::jsonb -> 'items'), 6, 'keyset: two pages hold the six');
SELECT is((SELECT count(DISTINCT x ->> 'id') FROM (SELECT jsonb_array_elements(:'p1'::jsonb -> 'items') x
												   UNION ALL SELECT jsonb_array_elements(:'p2'::jsonb -> 'items')) y), 6::bigint,
		  'keyset: no execution twice');

SELECT * FROM finish();
ROLLBACK;
