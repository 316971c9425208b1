-- 13_engine.sql: execute() and the synchronous runner: idempotency, 422/404/403/quota, DAG
-- scheduling (branches, transitive skips, joins), node semantics, expressions, retries and the
-- backoff cap, timeouts, continue_on_error, the owner's identity and RLS inside steps, no
-- settings leaking out of a step, RLS of executions and steps.
BEGIN;
SELECT plan(124);
\ir helpers.psql

SELECT pg_temp.mkuser('en.a@pgtap.test', 'user', 'enterprise') AS a \gset
SELECT pg_temp.mkuser('en.b@pgtap.test') AS b \gset
SELECT pg_temp.mkkey(:'a', ARRAY['workflows:read']) AS key_read \gset
SELECT pg_temp.mkkey(:'a', ARRAY['workflows:execute']) AS key_exec \gset

-- Create a workflow for the current caller from nodes and edges; returns its id.
CREATE FUNCTION pg_temp.wf(p_def jsonb) RETURNS uuid LANGUAGE sql AS $$
	SELECT (flov7_api.workflow_create(jsonb_build_object('name', 'engine test', 'workflow_json', p_def)) ->> 'id')::uuid
$$;
-- A node.
CREATE FUNCTION pg_temp.n(p_id text, p_type text, p_config jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', p_id, 'type', p_type, 'data', jsonb_build_object('config', p_config))
$$;
-- An edge, with an optional branch.
CREATE FUNCTION pg_temp.e(p_source text, p_target text, p_branch text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object('id', p_source || '-' || p_target, 'source', p_source,
												'target', p_target, 'branch', p_branch))
$$;
-- Execute as user p_uid, run every due step as the DBA, and return the execution.
CREATE FUNCTION pg_temp.run(p_uid uuid, p_wf uuid, p_input jsonb DEFAULT '{}') RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
	v_id uuid;
BEGIN
	PERFORM pg_temp.act_as(p_uid);
	v_id := (flov7.execute(p_wf, p_input) ->> 'execution_id')::uuid;
	PERFORM pg_temp.act_dba();
	PERFORM flov7.run_ready(60);
	RETURN v_id;
END
$$;
-- The state of every step of an execution, as {"node": "state"}.
CREATE FUNCTION pg_temp.states(p_exec uuid) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_object_agg(s.node_id, s.state) FROM flov7.execution_steps s WHERE s.execution_id = p_exec
$$;
-- The last output of a node in an execution.
CREATE FUNCTION pg_temp.out(p_exec uuid, p_node text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT d.output FROM flov7.execution_step_data d WHERE d.execution_id = p_exec AND d.node_id = p_node
	 ORDER BY d.attempt DESC LIMIT 1
$$;
CREATE FUNCTION pg_temp.ex(p_exec uuid) RETURNS flov7.workflow_executions LANGUAGE sql AS $$
	SELECT * FROM flov7.workflow_executions e WHERE e.id = p_exec
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

-- ---- execute: shape, steps, idempotency, refusals -------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
							   pg_temp.n('x', 'action', '{"action_type": "transform", "mapping": {"v": "{{ $.input.v }}", "s": "v={{ data.v }}!"}}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'x')))) AS w1 \gset
SELECT flov7.execute(:'w1', '{"v": 41}', 'key-1') AS r1 \gset
SELECT is(:'r1'::jsonb ->> 'status', 'pending', 'execute: the execution is pending');
SELECT ok(:'r1'::jsonb ? 'execution_id' AND (:'r1'::jsonb ->> 'workflow_version')::int = 1, 'execute: execution_id and workflow_version');
SELECT is(pg_temp.states((:'r1'::jsonb ->> 'id')::uuid), '{"t": "ready", "x": "pending"}', 'execute: the trigger is ready, the rest pending');
SELECT is(flov7.execute(:'w1', '{"v": 0}', 'key-1') ->> 'execution_id', :'r1'::jsonb ->> 'execution_id',
		  'idempotency: the same key returns the same execution');
SELECT is(flov7.execute(:'w1', '{"v": 0}', 'key-1') ->> 'idempotent_replay', 'true', 'idempotency: marked as a replay');
SELECT isnt(flov7.execute(:'w1', '{"v": 0}', 'key-2') ->> 'execution_id', :'r1'::jsonb ->> 'execution_id',
			'idempotency: another key, another execution');
SELECT is((SELECT count(*) FROM flov7.workflow_executions WHERE workflow_id = :'w1'), 2::bigint, 'idempotency: two executions in all');
SELECT is((SELECT definition FROM flov7.workflow_executions WHERE id = (:'r1'::jsonb ->> 'id')::uuid),
		  (SELECT workflow_json FROM flov7.workflows WHERE id = :'w1'), 'execute: the definition is snapshotted');

SELECT pg_temp.wf('{"nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}},
	{"id": "x", "type": "action", "data": {"config": {"action_type": "teleport"}}},
	{"id": "y", "type": "action", "data": {"config": {}}}], "edges": [{"id": "e", "source": "t", "target": "x"}]}') AS bad \gset
SELECT throws_ok(format('SELECT flov7.execute(%L)', :'bad'), 'PT422', NULL, 'execute: an invalid workflow is PT422');
CREATE FUNCTION pg_temp.err_detail(p_sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	d text;
BEGIN
	EXECUTE p_sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN d::jsonb;
END
$$;
SELECT ok(jsonb_array_length(pg_temp.err_detail(format('SELECT flov7.execute(%L)', :'bad'))) >= 3,
		  'execute: 422 lists every problem, not the first');
SELECT throws_ok(format('SELECT flov7_api.workflow_execute(%L)', jsonb_build_object('id', :'bad')), 'PT422', NULL,
				 'POST /execute: PT422 too');
SELECT lives_ok(format('SELECT flov7_api.workflow_execute(%L)', jsonb_build_object('id', :'w1', 'input_data', '{"v": 1}'::jsonb)),
				'POST /execute: runs with input_data');
SELECT pg_temp.act_as(:'b');
SELECT throws_ok(format('SELECT flov7.execute(%L)', :'w1'), 'P0002', 'workflow not found', 'execute: another user''s workflow is not found');
SELECT pg_temp.act_with_key(:'key_read');
SELECT throws_ok(format('SELECT flov7.execute(%L)', :'w1'), '42501', NULL, 'execute: needs workflows:execute');
SELECT pg_temp.act_with_key(:'key_exec');
SELECT lives_ok(format('SELECT flov7.execute(%L)', :'w1'), 'execute: an API key with workflows:execute');
SELECT pg_temp.act_anon();
SELECT throws_ok(format('SELECT flov7.execute(%L)', :'w1'), '42501', NULL, 'execute: not granted to the anonymous role');
SELECT pg_temp.act_dba();
UPDATE flov7.plan_quotas SET max_executions_per_day = 4 WHERE plan = 'enterprise';
SELECT pg_temp.act_as(:'a');
SELECT throws_ok(format('SELECT flov7.execute(%L)', :'w1'), '53400', NULL, 'execute: quota max_executions_per_day');
SELECT is(flov7.execute(:'w1', '{}', 'key-1') ->> 'execution_id', :'r1'::jsonb ->> 'execution_id',
		  'idempotency: a replay past the quota still answers');
SELECT pg_temp.act_dba();
UPDATE flov7.plan_quotas SET max_executions_per_day = NULL WHERE plan = 'enterprise';
-- The four pending executions of w1 run: templates keep the JSON type of a single hole.
SELECT is(flov7.run_ready(60), 8, 'run_ready: runs every due step (4 executions x 2 steps)');
SELECT is(pg_temp.out((:'r1'::jsonb ->> 'id')::uuid, 'x'), '{"v": 41, "s": "v=41!"}', 'expressions: $.input and data paths, typed and in text');
SELECT is((pg_temp.ex((:'r1'::jsonb ->> 'id')::uuid)).status, 'completed', 'the execution completed');
SELECT is((pg_temp.ex((:'r1'::jsonb ->> 'id')::uuid)).output_data, '{"x": {"v": 41, "s": "v=41!"}}', 'output_data: the terminal nodes'' outputs');
SELECT ok((pg_temp.ex((:'r1'::jsonb ->> 'id')::uuid)).execution_time_seconds >= 0
		  AND (pg_temp.ex((:'r1'::jsonb ->> 'id')::uuid)).started_at IS NOT NULL, 'timings are recorded');
SELECT is((SELECT execution_count FROM flov7.workflows WHERE id = :'w1'), 4, 'execution_count moves once per execution');
SELECT ok((SELECT updated_at = created_at AND last_executed_at IS NOT NULL FROM flov7.workflows WHERE id = :'w1'),
		  'a run is not an edit: updated_at unchanged, last_executed_at set');
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE record_id = :'w1' AND action = 'update'), 0::bigint, 'runs write no audit rows');
SELECT is((pg_temp.ex((:'r1'::jsonb ->> 'id')::uuid)).cost_usd, 0.0001::numeric(12, 6),
		  'cost_usd: the primitives'' costs of the steps that ran (trigger 0, transform 0.0001)');
SELECT is(flov7.run_ready(60), 0, 'run_ready: nothing left');

-- ---- branches, transitive skips, joins --------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('c', 'condition', '{"condition_type": "if_else", "condition": "data.amount > 100"}'),
		pg_temp.n('big', 'data', '{"operation_type": "mapping", "mapping": {"size": "big"}}'),
		pg_temp.n('big2', 'data', '{"operation_type": "enrich", "fields": {"checked": true}}'),
		pg_temp.n('small', 'data', '{"operation_type": "mapping", "mapping": {"size": "small"}}'),
		pg_temp.n('j', 'data', '{"operation_type": "merge", "strategy": "object"}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'c'), pg_temp.e('c', 'big', 'true'), pg_temp.e('big', 'big2'),
		pg_temp.e('c', 'small', 'false'), pg_temp.e('big2', 'j'), pg_temp.e('small', 'j')))) AS w2 \gset
SELECT pg_temp.run(:'a', :'w2', '{"amount": 150}') AS x1 \gset
SELECT is(pg_temp.states(:'x1'), '{"t": "completed", "c": "completed", "big": "completed", "big2": "completed", "small": "skipped", "j": "completed"}',
		  'if_else true: the false branch is skipped, the join runs');
SELECT is(pg_temp.out(:'x1', 'j'), '{"size": "big", "checked": true}', 'join: the data of its one live parent');
SELECT is((SELECT branches FROM flov7.execution_step_data WHERE execution_id = :'x1' AND node_id = 'c'), '{true}', 'the branch taken is recorded');
SELECT pg_temp.run(:'a', :'w2', '{"amount": 50}') AS x2 \gset
SELECT is(pg_temp.states(:'x2'), '{"t": "completed", "c": "completed", "big": "skipped", "big2": "skipped", "small": "completed", "j": "completed"}',
		  'if_else false: the true branch is skipped transitively');
SELECT pg_temp.run(:'a', :'w2', '{}') AS x3 \gset
SELECT is(pg_temp.out(:'x3', 'small'), '{"size": "small"}', 'a missing value compares false (jsonb_path_match, null is false)');

-- A join of two live parents waits for both and merges their objects.
SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "api"}'),
		pg_temp.n('p', 'data', '{"operation_type": "mapping", "mapping": {"p": 1}}'),
		pg_temp.n('q', 'data', '{"operation_type": "mapping", "mapping": {"q": 2}}'),
		pg_temp.n('q2', 'data', '{"operation_type": "enrich", "fields": {"r": 3}}'),
		pg_temp.n('m', 'data', '{"operation_type": "merge"}'),
		pg_temp.n('arr', 'data', '{"operation_type": "merge", "strategy": "array"}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'p'), pg_temp.e('t', 'q'), pg_temp.e('q', 'q2'),
		pg_temp.e('p', 'm'), pg_temp.e('q2', 'm'), pg_temp.e('p', 'arr'), pg_temp.e('q2', 'arr')))) AS w3 \gset
SELECT pg_temp.run(:'a', :'w3') AS x4 \gset
SELECT is(pg_temp.out(:'x4', 'm'), '{"p": 1, "q": 2, "r": 3}', 'merge (object) of a join of two parents');
SELECT is(jsonb_array_length(pg_temp.out(:'x4', 'arr')), 2, 'merge (array): one element per parent');
SELECT is((pg_temp.ex(:'x4')).output_data, jsonb_build_object('m', pg_temp.out(:'x4', 'm'), 'arr', pg_temp.out(:'x4', 'arr')),
		  'output_data holds every terminal node');

-- ---- conditions -----------------------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('sw', 'condition', '{"condition_type": "switch", "cases": [{"label": "hi", "condition": "data.p == ''high''"}, {"label": "mid", "equals": 2}], "value": "{{ data.n }}"}'),
		pg_temp.n('hi', 'data', '{"operation_type": "mapping", "mapping": {"r": "hi"}}'),
		pg_temp.n('mid', 'data', '{"operation_type": "mapping", "mapping": {"r": "mid"}}'),
		pg_temp.n('df', 'data', '{"operation_type": "mapping", "mapping": {"r": "default"}}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'sw'), pg_temp.e('sw', 'hi', 'hi'), pg_temp.e('sw', 'mid', 'mid'),
		pg_temp.e('sw', 'df', 'default')))) AS w4 \gset
SELECT is((pg_temp.ex(pg_temp.run(:'a', :'w4', '{"p": "high"}'))).output_data, '{"hi": {"r": "hi"}}', 'switch: a case by condition');
SELECT is((pg_temp.ex(pg_temp.run(:'a', :'w4', '{"n": 2}'))).output_data, '{"mid": {"r": "mid"}}', 'switch: a case by equals');
SELECT is((pg_temp.ex(pg_temp.run(:'a', :'w4', '{"p": "low"}'))).output_data, '{"df": {"r": "default"}}', 'switch: default');

-- One true/false condition of each kind, edges unlabelled (the first is "true").
CREATE FUNCTION pg_temp.cond(p_uid uuid, p_config jsonb, p_input jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v_wf uuid;
	v_ex uuid;
BEGIN
	PERFORM pg_temp.act_as(p_uid);
	v_wf := pg_temp.wf(jsonb_build_object(
		'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'), pg_temp.n('c', 'condition', p_config),
			pg_temp.n('yes', 'data', '{"operation_type": "mapping", "mapping": {}}'),
			pg_temp.n('no', 'data', '{"operation_type": "mapping", "mapping": {}}')),
		'edges', jsonb_build_array(pg_temp.e('t', 'c'), pg_temp.e('c', 'yes'), pg_temp.e('c', 'no'))));
	v_ex := pg_temp.run(p_uid, v_wf, p_input);
	RETURN (SELECT string_agg(s.node_id, ',') FROM flov7.execution_steps s
			 WHERE s.execution_id = v_ex AND s.state = 'completed' AND s.node_id IN ('yes', 'no'));
END
$$;
SELECT is(pg_temp.cond(:'a', '{"condition_type": "compare", "left": "{{ data.n }}", "operator": ">=", "right": 3}', '{"n": 3}'), 'yes', 'compare >=');
SELECT is(pg_temp.cond(:'a', '{"condition_type": "compare", "left": "{{ data.n }}", "operator": "<", "right": 3}', '{"n": 3}'), 'no', 'compare <');
SELECT is(pg_temp.cond(:'a', '{"condition_type": "compare", "left": "{{ data.s }}", "operator": "contains", "right": "ell"}', '{"s": "hello"}'), 'yes', 'compare contains');
SELECT is(pg_temp.cond(:'a', '{"condition_type": "regex", "value": "{{ data.e }}", "pattern": "@example\\.com$", "flags": "i"}', '{"e": "A@EXAMPLE.com"}'), 'yes', 'regex with flag i');
SELECT is(pg_temp.cond(:'a', '{"condition_type": "regex", "value": "{{ data.e }}", "pattern": "@example\\.com$"}', '{"e": "a@other.org"}'), 'no', 'regex no match');
SELECT is(pg_temp.cond(:'a', '{"condition_type": "json_path", "path": "$.data.a > 1"}', '{"a": 2}'), 'yes', 'json_path true');
SELECT is(pg_temp.cond(:'a', '{"condition_type": "json_path", "path": "$.data.a == 2"}', '{"a": 1}'), 'no', 'json_path: a false predicate is false (match, not exists)');
SELECT is(pg_temp.cond(:'a', '{"condition_type": "json_path", "path": "$.data.a"}', '{"a": "x"}'), 'no', 'json_path: not a boolean is false');
SELECT is(pg_temp.cond(:'a', '{"condition_type": "filter", "condition": "data.ok"}', '{"ok": true}'), 'yes', 'filter on an object: like if_else');
SELECT is(pg_temp.cond(:'a', '{"condition_type": "if_else", "condition": "data.a == 1 and not (data.b > 2)"}', '{"a": 1, "b": 2}'), 'yes', 'if_else: and/not');

-- ---- data operations ------------------------------------------------------------------------
CREATE FUNCTION pg_temp.op(p_uid uuid, p_config jsonb, p_input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	v_wf uuid;
	v_ex uuid;
BEGIN
	PERFORM pg_temp.act_as(p_uid);
	v_wf := pg_temp.wf(jsonb_build_object(
		'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
			pg_temp.n('o', CASE WHEN p_config ? 'action_type' THEN 'action' ELSE 'data' END, p_config)),
		'edges', jsonb_build_array(pg_temp.e('t', 'o'))));
	v_ex := pg_temp.run(p_uid, v_wf, p_input);
	RETURN coalesce(pg_temp.out(v_ex, 'o'), to_jsonb((pg_temp.ex(v_ex)).error_message));
END
$$;
SELECT is(pg_temp.op(:'a', '{"operation_type": "filter", "condition": "data.k > 1"}', '[{"k": 1}, {"k": 2}, {"k": 3}]'),
		  '{"items": [{"k": 2}, {"k": 3}], "count": 2}', 'data filter keeps matching items in order');
SELECT is(pg_temp.op(:'a', '{"operation_type": "filter", "condition": "data.k == 1", "items": "{{ $.input.list }}"}', '{"list": [{"k": 1}, {"k": 2}]}'),
		  '{"items": [{"k": 1}], "count": 1}', 'data filter over config.items');
SELECT is(pg_temp.op(:'a', '{"operation_type": "split", "field": "xs"}', '{"xs": [1, 2]}'), '{"items": [1, 2], "count": 2}', 'split');
SELECT is(pg_temp.op(:'a', '{"operation_type": "transform", "transform_type": "normalize"}', '{"Name": " Ada ", "x": null}'),
		  '{"name": "Ada"}', 'transform normalize');
SELECT is(pg_temp.op(:'a', '{"operation_type": "transform", "fields": ["a"]}', '{"a": 1, "b": 2}'), '{"a": 1}', 'transform: pick fields');
SELECT is(pg_temp.op(:'a', '{"operation_type": "validate", "schema": {"type": "object", "required": ["email"], "properties": {"age": {"type": "integer"}}}}', '{"age": 1.5}'),
		  '{"valid": false, "errors": ["$.email: required", "$.age: expected integer, got number"], "data": {"age": 1.5}}', 'validate: every error, by path');
SELECT is(pg_temp.op(:'a', '{"operation_type": "validate", "schema": {"type": "object", "required": ["email"]}}', '{"email": "x"}') -> 'valid',
		  'true', 'validate: valid');
SELECT is(pg_temp.op(:'a', '{"operation_type": "validate", "schema": "user_schema"}', '{}'),
		  '"node \"o\" failed: schema \"user_schema\" not found"', 'validate: a missing named schema fails the step, naming it');
SELECT is(pg_temp.op(:'a', '{"action_type": "api_call", "url": "https://example.com"}', '{}'),
		  '"node \"o\" failed: node type action/api_call needs the outbound worker (not available yet)"', 'outside types fail clearly');

-- ---- loop: one iteration of the body per item, results in order on "done" ----------------------
SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('l', 'condition', '{"condition_type": "loop", "items": "{{ $.input.xs }}", "max_iterations": 3}'),
		pg_temp.n('m', 'data', '{"operation_type": "mapping", "mapping": {"v": "{{ data.v }}", "first": "{{ $.input.xs[0].v }}"}}'),
		pg_temp.n('big', 'condition', '{"condition_type": "if_else", "condition": "data.v > 1"}'),
		pg_temp.n('tag', 'data', '{"operation_type": "enrich", "fields": {"big": true}}'),
		pg_temp.n('after', 'data', '{"operation_type": "merge", "strategy": "array"}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'l'), pg_temp.e('l', 'm', 'item'), pg_temp.e('m', 'big'),
		pg_temp.e('big', 'tag', 'true'), pg_temp.e('l', 'after', 'done')))) AS wl \gset
SELECT pg_temp.run(:'a', :'wl', '{"xs": [{"v": 1}, {"v": 2}, {"v": 3}]}') AS xl \gset
SELECT is((pg_temp.ex(:'xl')).status, 'completed', 'loop: the execution completes');
SELECT is(pg_temp.out(:'xl', 'l'), '{"items": [null, {"v": 2, "first": 1, "big": true}, {"v": 3, "first": 1, "big": true}]}',
		  'loop: one result per item, in order (an iteration whose last node was skipped gives null)');
SELECT is((pg_temp.ex(:'xl')).output_data -> 'after', '[null, {"v": 2, "first": 1, "big": true}, {"v": 3, "first": 1, "big": true}]',
		  'loop: "done" receives the results');
SELECT is((SELECT count(*) FROM flov7.execution_steps WHERE execution_id = :'xl' AND node_id = 'm' AND iteration > 0 AND state = 'completed'),
		  3::bigint, 'loop: the body ran once per item (iterations 1..3)');
SELECT is((SELECT state FROM flov7.execution_steps WHERE execution_id = :'xl' AND node_id = 'tag' AND iteration = 1), 'skipped',
		  'loop: branches inside an iteration');
SELECT is((SELECT state FROM flov7.execution_steps WHERE execution_id = :'xl' AND node_id = 'm' AND iteration = 0), 'skipped',
		  'loop: the body''s iteration 0 is skipped');
SELECT is((pg_temp.ex(pg_temp.run(:'a', :'wl', '{"xs": []}'))).output_data, '{"after": []}', 'loop: no items, done at once');
SELECT matches((pg_temp.ex(pg_temp.run(:'a', :'wl', '{"xs": [1, 2, 3, 4]}'))).error_message, 'loop has 4 items, over its max_iterations \(3\)',
			   'loop: the item limit, named');
SELECT is((pg_temp.ex(pg_temp.run(:'a', :'wl', '{"xs": [{"v": 5}, {"v": "x"}]}'))).status, 'completed',
		  'loop: a non-number compares false, no error');

-- ---- notification, db_query, custom: as the owner ---------------------------------------------
SELECT ok((pg_temp.op(:'a', '{"action_type": "notification", "title": "Hi {{ data.who }}", "message": "m", "type": "greeting"}', '{"who": "Ada"}')
		   ->> 'notification_id') IS NOT NULL, 'notification: created');
SELECT is((SELECT user_id || '/' || title FROM flov7.notifications WHERE type = 'greeting'), :'a' || '/Hi Ada', 'notification: for the owner, templated');
SELECT pg_temp.act_as(:'b');
SELECT pg_temp.wf('{"nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}}], "edges": []}') AS wb \gset
SELECT set_config('request.jwt.claims', pg_temp.claims(:'b'), false) IS NOT NULL AS claims_set \gset
SELECT pg_temp.op(:'a', '{"action_type": "db_query", "query": "SELECT flov7.caller_id() AS me, current_user AS r, (SELECT count(*) FROM flov7.workflows) AS wfs, $1::int + 1 AS p", "params": ["{{ data.n }}"]}', '{"n": 41}') AS dbq \gset
SELECT pg_temp.act_dba();
SELECT is(:'dbq'::jsonb -> 'rows' -> 0 ->> 'me', :'a', 'db_query: acts for the owner, whatever the session''s claims');
SELECT is(:'dbq'::jsonb -> 'rows' -> 0 ->> 'r', 'flov7_user', 'db_query: as the owner''s API role');
SELECT is((:'dbq'::jsonb -> 'rows' -> 0 ->> 'wfs')::bigint, (SELECT count(*) FROM flov7.workflows WHERE user_id = :'a'),
		  'db_query: under RLS (the other user''s workflow is not counted)');
SELECT is(:'dbq'::jsonb -> 'rows' -> 0 -> 'p', '42', 'db_query: parameters typed by their use');
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS claims_reset \gset
-- The runner's own session has claims of another user: the step still acts for its owner.
SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('o', 'action', '{"action_type": "db_query", "query": "SELECT flov7.caller_id() AS me"}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'o')))) AS wid \gset
SELECT flov7.execute(:'wid') ->> 'id' AS xid \gset
SELECT pg_temp.act_dba();
SELECT set_config('request.jwt.claims', pg_temp.claims(:'b'), true) IS NOT NULL AS claims_b \gset
SELECT is(flov7.run_ready(60), 2, 'run_ready with a session acting as another user');
SELECT is(pg_temp.out(:'xid', 'o') -> 'rows' -> 0 ->> 'me', :'a', 'the step acted for the workflow''s owner, not the session''s claims');
SELECT is(flov7.caller_id(), :'b'::uuid, 'the session''s own caller is back after the steps');
SELECT pg_temp.act_dba();
SELECT is(pg_temp.op(:'a', '{"action_type": "db_query", "query": "SELECT n FROM generate_series(1, 10) n LIMIT $1", "params": [2]}', '{}') -> 'row_count',
		  '2', 'db_query: LIMIT $1 takes a number');
SELECT matches(pg_temp.op(:'a', '{"action_type": "db_query", "query": "UPDATE flov7.notifications SET is_read = true, read_at = now()"}', '{}') #>> '{}',
			   'read-only transaction', 'db_query: read only unless the node says otherwise');
SELECT is(pg_temp.op(:'a', '{"action_type": "db_query", "query": "UPDATE flov7.notifications SET is_read = true, read_at = now()", "read_only": false}', '{}') -> 'row_count',
		  '1', 'db_query: read_only false writes, under RLS (the owner''s one notification)');
SELECT matches(pg_temp.op(:'a', '{"action_type": "db_query", "query": "SELECT 1; SELECT 2"}', '{}') #>> '{}',
			   'exactly one statement', 'db_query: one statement only');
SELECT matches(pg_temp.op(:'a', '{"action_type": "db_query", "query": "SELECT generate_series(1, 5)", "max_rows": 3}', '{}') #>> '{}',
			   'more than 3 rows \(max_rows\)', 'db_query: the row limit');
SELECT is(pg_temp.op(:'a', '{"action_type": "db_query", "query": "SELECT set_config(''flov7_test.leak'', ''x'', false) AS v"}', '{}') -> 'row_count',
		  '1', 'a step may set a setting');
SELECT is(nullif(current_setting('flov7_test.leak', true), ''), NULL, '... which does not outlive the step');
SELECT is(current_user::text, 'postgres', 'the runner is itself again after the steps');
SELECT matches(pg_temp.op(:'a', '{"action_type": "db_query", "query": "SELECT pg_sleep(2)", "timeout_ms": 100}', '{}') #>> '{}',
			   'timed out after 100 ms', 'timeout_ms stops a step');
SELECT pg_temp.act_dba();
CREATE FUNCTION public.flov7_test_double(x jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_object('double', (x ->> 'n')::int * 2) $$;
INSERT INTO flov7.custom_functions (name, function) VALUES ('double', 'public.flov7_test_double(jsonb)');
SELECT is(pg_temp.op(:'a', '{"action_type": "custom", "function": "double", "args": {"n": "{{ data.n }}"}}', '{"n": 21}'), '{"double": 42}',
		  'custom: an allowed function, with templated args');
SELECT matches(pg_temp.op(:'a', '{"action_type": "custom", "function": "nope"}', '{}') #>> '{}', 'not on the allow-list', 'custom: only the allow-list');
SELECT pg_temp.act_dba();
REVOKE EXECUTE ON FUNCTION public.flov7_test_double(jsonb) FROM PUBLIC;
SELECT matches(pg_temp.op(:'a', '{"action_type": "custom", "function": "double"}', '{}') #>> '{}', 'permission denied',
			   'custom: the owner needs EXECUTE');

SELECT pg_temp.act_dba();
SET LOCAL flov7.max_step_output_bytes = 1024;
SELECT matches(pg_temp.op(:'a', '{"operation_type": "mapping", "mapping": {"big": "{{ $.input.s }}"}}', jsonb_build_object('s', repeat('x', 2000))) #>> '{}',
			   'over flov7.max_step_output_bytes \(1024\)', 'a step''s output is bounded, the limit named');
RESET flov7.max_step_output_bytes;

-- A trigger's input_schema is checked by execute.
SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "api", "input_schema": {"type": "object", "required": ["email"], "properties": {"age": {"type": "integer"}}}}')),
	'edges', '[]'::jsonb)) AS wis \gset
SELECT throws_ok(format('SELECT flov7.execute(%L, %L)', :'wis', '{"age": "x"}'), 'PT422',
				 'input_data does not match the trigger''s input_schema: $.age: expected integer, got string', 'execute: input_schema, naming the field');
SELECT is(pg_temp.err_detail(format('SELECT flov7.execute(%L, %L)', :'wis', '{"age": "x"}')),
		  '["$.age: expected integer, got string", "$.email: required"]', 'execute: every mismatch in details');
SELECT lives_ok(format('SELECT flov7.execute(%L, %L)', :'wis', '{"email": "e", "age": 3}'), 'execute: matching input runs');
SELECT pg_temp.act_dba();

-- ---- wait: a durable timer ------------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('w', 'action', '{"action_type": "wait", "duration_seconds": "{{ $.input.s }}"}'),
		pg_temp.n('after', 'data', '{"operation_type": "mapping", "mapping": {"done": true}}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'w'), pg_temp.e('w', 'after')))) AS ww \gset
SELECT pg_temp.run(:'a', :'ww', '{"s": 3600}') AS xw \gset
SELECT is(pg_temp.states(:'xw'), '{"t": "completed", "w": "waiting", "after": "pending"}', 'wait: the step waits, nothing sleeps');
SELECT ok((SELECT ready_at > now() + interval '59 minutes' FROM flov7.execution_steps WHERE execution_id = :'xw' AND node_id = 'w'),
		  'wait: its timer is ready_at');
SELECT is(flov7.run_ready(60), 0, 'wait: not due, not run');
UPDATE flov7.execution_steps SET ready_at = now() - interval '1 second' WHERE execution_id = :'xw' AND node_id = 'w';
SELECT is(flov7.run_ready(60), 2, 'wait: due, it completes and its successor runs');
SELECT is((pg_temp.ex(:'xw')).status, 'completed', 'wait: the execution completes');

-- ---- retries, backoff cap, continue_on_error, failure -----------------------------------------
SELECT is(flov7.retry_delay_ms(1, 1000, 60000, 1), 1000::bigint, 'backoff: first retry, full jitter');
SELECT is(flov7.retry_delay_ms(1, 1000, 60000, 0), 500::bigint, 'backoff: first retry, no jitter (half)');
SELECT is(flov7.retry_delay_ms(4, 1000, 60000, 1), 8000::bigint, 'backoff: doubles');
SELECT is(flov7.retry_delay_ms(40, 1000, 60000, 1), 60000::bigint, 'backoff: the cap holds at attempt 40');
SELECT is(flov7.retry_delay_ms(2000000000, 2000000000, 2000000000, 1), 2000000000::bigint, 'backoff: no overflow at any attempt');
SELECT ok((SELECT bool_and(flov7.retry_delay_ms(a, 1000, 60000) BETWEEN 0 AND 60000) FROM generate_series(1, 100) a),
		  'backoff: always within the cap with random jitter');

SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('f', 'data', '{"operation_type": "validate", "schema": "missing", "retry": {"max_attempts": 3, "backoff_ms": 0}}'),
		pg_temp.n('next', 'data', '{"operation_type": "mapping", "mapping": {}}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'f'), pg_temp.e('f', 'next')))) AS wr \gset
SELECT pg_temp.run(:'a', :'wr') AS xr \gset
SELECT is((SELECT state || '/' || attempt FROM flov7.execution_steps WHERE execution_id = :'xr' AND node_id = 'f'), 'failed/3',
		  'retry: three attempts, then failed');
SELECT is((SELECT count(*) FROM flov7.execution_step_data WHERE execution_id = :'xr' AND node_id = 'f' AND error IS NOT NULL), 3::bigint,
		  'retry: each attempt is logged with its error');
SELECT is((pg_temp.ex(:'xr')).status, 'failed', 'a failing node fails the execution');
SELECT is((pg_temp.ex(:'xr')).error_message, 'node "f" failed: schema "missing" not found',
		  'error_message names the failing node');
SELECT is(pg_temp.states(:'xr') ->> 'next', 'cancelled', 'the rest of a failed execution is cancelled');
SELECT is((SELECT execution_count FROM flov7.workflows WHERE id = :'wr'), 1, 'a failed run is counted once');

SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('f', 'data', '{"operation_type": "validate", "schema": "missing", "retry": {"max_attempts": 2, "backoff_ms": 60000}}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'f')))) AS wb2 \gset
SELECT pg_temp.run(:'a', :'wb2') AS xb \gset
SELECT ok((SELECT state = 'ready' AND ready_at > now() + interval '29 seconds' FROM flov7.execution_steps WHERE execution_id = :'xb' AND node_id = 'f'),
		  'retry: the next attempt waits for its backoff');

SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('f', 'data', '{"operation_type": "validate", "schema": "missing", "continue_on_error": true}'),
		pg_temp.n('next', 'data', '{"operation_type": "mapping", "mapping": {"went_on": true}}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'f'), pg_temp.e('f', 'next')))) AS wc \gset
SELECT pg_temp.run(:'a', :'wc') AS xc \gset
SELECT is((pg_temp.ex(:'xc')).status || '/' || (pg_temp.ex(:'xc')).steps_failed, 'completed/1', 'continue_on_error: the execution goes on');
SELECT ok(pg_temp.out(:'xc', 'f') ? 'error' AND pg_temp.out(:'xc', 'next') = '{"went_on": true}', 'continue_on_error: the error is the output, successors run');

-- ---- a step failure undoes only itself --------------------------------------------------------
SELECT pg_temp.act_dba();
CREATE FUNCTION public.flov7_test_half(x jsonb) RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO flov7.notifications (user_id, title) VALUES ((x ->> 'uid')::uuid, 'half done');
	RAISE EXCEPTION 'boom';
END
$$;
INSERT INTO flov7.custom_functions (name, function) VALUES ('half', 'public.flov7_test_half(jsonb)');
SELECT matches(pg_temp.op(:'a', jsonb_build_object('action_type', 'custom', 'function', 'half', 'args', jsonb_build_object('uid', :'a')), '{}') #>> '{}',
			   'boom', 'a failing step reports its error');
SELECT is((SELECT count(*) FROM flov7.notifications WHERE title = 'half done'), 0::bigint, 'a failing step leaves nothing half-applied');

-- ---- the execution's own bounds: settings.timeout_seconds and settings.max_steps ------------------
SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object('settings', '{"max_steps": 2}'::jsonb,
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('x', 'data', '{"operation_type": "mapping", "mapping": {}}'),
		pg_temp.n('y', 'data', '{"operation_type": "mapping", "mapping": {}}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'x'), pg_temp.e('x', 'y')))) AS wms \gset
SELECT pg_temp.run(:'a', :'wms') AS xms \gset
SELECT is((pg_temp.ex(:'xms')).status || ': ' || (pg_temp.ex(:'xms')).error_message,
		  'failed: node "y" failed: the execution ran 2 steps, its limit (settings.max_steps)', 'settings.max_steps bounds an execution');
SELECT pg_temp.act_as(:'a');
SELECT pg_temp.wf(jsonb_build_object('settings', '{"timeout_seconds": 0.01}'::jsonb,
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}')), 'edges', '[]'::jsonb)) AS wto \gset
SELECT flov7.execute(:'wto') ->> 'id' AS xto \gset
SELECT pg_temp.act_dba();
SELECT pg_sleep(0.05);
SELECT flov7.run_ready(60) AS ran_to \gset
SELECT is((pg_temp.ex(:'xto')).status || ': ' || (pg_temp.ex(:'xto')).error_message,
		  'failed: node "t" failed: the execution is over its time limit of 0.01 s (settings.timeout_seconds)',
		  'settings.timeout_seconds bounds an execution');

-- ---- fairness: one owner's burst does not hold back another owner's execution -------------------
SELECT flov7.run_ready(60) AS drained \gset
SELECT pg_temp.act_as(:'a');
SELECT count(flov7.execute(:'w1', '{"v": 1}')) AS burst FROM generate_series(1, 30) \gset
SELECT pg_temp.act_as(:'b');
SELECT flov7.execute(:'wb') ->> 'id' AS xfair \gset
SELECT pg_temp.act_dba();
SELECT flov7.run_ready(4) AS ran4 \gset
SELECT is((pg_temp.ex(:'xfair')).status, 'completed', 'fairness: round-robin over owners runs the single execution within the first steps');
SELECT cmp_ok((SELECT count(*) FROM flov7.workflow_executions WHERE workflow_id = :'w1' AND status = 'pending'), '>', 25::bigint,
			  '... while the burst waits its turn');

-- ---- RLS of executions and steps ----------------------------------------------------------------
SELECT pg_temp.act_as(:'b');
SELECT is((SELECT count(*) FROM flov7.execution_steps WHERE user_id = :'a'), 0::bigint, 'RLS: another user''s steps are invisible');
SELECT is((SELECT count(*) FROM flov7.execution_step_data WHERE user_id = :'a'), 0::bigint, 'RLS: another user''s step data is invisible');
SELECT is((SELECT count(*) FROM flov7.workflow_executions WHERE user_id = :'a'), 0::bigint, 'RLS: another user''s executions are invisible');
SELECT pg_temp.act_as(:'a');
SELECT ok((SELECT count(*) FROM flov7.execution_step_data) > 0, 'RLS: the owner reads their step data');
SELECT throws_ok($$UPDATE flov7.execution_steps SET state = 'ready'$$, '42501', NULL, 'steps are not writable by users');
SELECT throws_ok($$SELECT flov7.run_ready(1)$$, '42501', NULL, 'run_ready is for the DBA and the workers');

SELECT * FROM finish();
ROLLBACK;
