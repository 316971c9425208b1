-- 17_outbound.sql: steps done outside the database: failing clearly without an outbound worker,
-- parked with their request when there is one, claimed with a lease and a fence, completed once.
BEGIN;
SELECT plan(17);
\ir helpers.psql

SELECT pg_temp.mkuser('ob.a@pgtap.test', 'user', 'enterprise') AS a \gset
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.workflow_create($${"name": "call", "workflow_json": {"nodes": [
	{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}},
	{"id": "c", "type": "action", "data": {"config": {"action_type": "api_call", "url": "https://api.example/{{ $.input.id }}",
		"retry": {"max_attempts": 2, "backoff_ms": 0}}}},
	{"id": "m", "type": "data", "data": {"config": {"operation_type": "mapping", "mapping": {"status": "{{ data.status }}"}}}}],
	"edges": [{"id": "1", "source": "t", "target": "c"}, {"id": "2", "source": "c", "target": "m"}]}}$$::jsonb) ->> 'id' AS wf \gset

-- No outbound worker: the step fails, saying why.
SELECT flov7.execute(:'wf', '{"id": 7}') ->> 'id' AS x0 \gset
SELECT pg_temp.act_dba();
SELECT flov7.run_ready(60) AS ran \gset
SELECT is((SELECT error_message FROM flov7.workflow_executions WHERE id = :'x0'),
		  'node "c" failed: node type action/api_call needs the outbound worker (not available yet)', 'no outbound worker: a clear error');

-- With one: the step is parked with its request.
INSERT INTO flov7.settings (key, value) VALUES ('outbound_worker', 'on');
SELECT pg_temp.act_as(:'a');
SELECT flov7.execute(:'wf', '{"id": 7}') ->> 'id' AS x1 \gset
SELECT pg_temp.act_dba();
SELECT flov7.run_ready(60) AS ran \gset
SELECT is((SELECT state || '/' || coalesce(ready_at::text, 'no timer') FROM flov7.execution_steps WHERE execution_id = :'x1' AND node_id = 'c'),
		  'waiting/no timer', 'parked: waiting, no timer');
SELECT is((SELECT request - 'data' FROM flov7.outbound_requests WHERE execution_id = :'x1'),
		  jsonb_build_object('config', '{"action_type": "api_call", "url": "https://api.example/7", "retry": {"max_attempts": 2, "backoff_ms": 0}}'::jsonb,
							 'idempotency_key', :'x1' || ':c:0'), 'the request: config with templates evaluated, an idempotency key');
SELECT is((SELECT status FROM flov7.workflow_executions WHERE id = :'x1'), 'waiting', 'the execution waits for it (waiting)');
SELECT is((SELECT count(*) FROM flov7.execution_steps WHERE execution_id = :'x1' AND ready_at IS NOT NULL), 0::bigint, 'a parked step has no timer');

-- Claims: a lease and a fence.
SELECT * INTO TEMP claim1 FROM flov7.outbound_claim(ARRAY['action.api_call'], 60000, 10);
SELECT is((SELECT count(*) FROM claim1), 1::bigint, 'claim: one parked step');
SELECT is((SELECT fence FROM claim1), 1::bigint, 'claim: fence 1');
SELECT is((SELECT count(*) FROM flov7.outbound_claim(NULL, 60000, 10)), 0::bigint, 'claim: a leased step is not claimed twice');
SELECT is((SELECT count(*) FROM flov7.outbound_claim(ARRAY['action.email_send'], 60000, 10)), 0::bigint, 'claim: by kind');
UPDATE flov7.execution_steps SET lease_until = now() - interval '1 second' WHERE execution_id = :'x1' AND node_id = 'c';
SELECT * INTO TEMP claim2 FROM flov7.outbound_claim(NULL, 60000, 10);
SELECT is((SELECT fence FROM claim2), 2::bigint, 'claim: an expired lease is claimed again, fence 2');
SELECT throws_ok(format('SELECT flov7.outbound_complete(%L, %L, %L, 0, 1, %L, NULL)', :'a', :'x1', 'c', '{"status": 500}'),
				 'PT409', NULL, 'complete: a late answer of the first claim is refused');

-- An error is retried (max_attempts 2): parked again for a new attempt.
SELECT is(flov7.outbound_complete(:'a', :'x1', 'c', 0, 2, NULL, 'HTTP 503'), 'retry', 'complete with an error: retried');
SELECT flov7.run_ready(60) AS ran \gset
SELECT is((SELECT state || '/' || attempt FROM flov7.execution_steps WHERE execution_id = :'x1' AND node_id = 'c'), 'waiting/2',
		  'retry: parked again as attempt 2');
SELECT * INTO TEMP claim3 FROM flov7.outbound_claim(NULL, 60000, 10);
SELECT is(flov7.outbound_complete(:'a', :'x1', 'c', 0, (SELECT fence FROM claim3), '{"status": 200}', NULL), 'completed',
		  'complete: the result is recorded');
SELECT flov7.run_ready(60) AS ran \gset
SELECT is((SELECT output_data FROM flov7.workflow_executions WHERE id = :'x1'), '{"m": {"status": 200}}', 'the execution goes on with the result');
SELECT ok(has_function_privilege('flov7_worker', 'flov7.outbound_claim(text[], int, int)', 'EXECUTE')
		  AND NOT has_function_privilege('flov7_user', 'flov7.outbound_claim(text[], int, int)', 'EXECUTE'),
		  'the workers'' role claims outside steps, users do not');
SELECT pg_temp.act_as(:'a');
SELECT is((SELECT count(*) FROM flov7.outbound_requests), 2::bigint, 'the owner reads the requests of their steps');

SELECT * FROM finish();
ROLLBACK;
