-- 19_loop_vars.sql: the loop variables $.item and $.index: compiled in templates and
-- conditions, refused by the validator outside a loop's body (loop_variable_outside_loop), and
-- bound to each iteration's item and 0-based index when the body runs.
BEGIN;
SELECT plan(14);
\ir helpers.psql

SELECT pg_temp.mkuser('lv.a@pgtap.test', 'user', 'enterprise') AS a \gset

CREATE FUNCTION pg_temp.n(p_id text, p_type text, p_config jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', p_id, 'type', p_type, 'data', jsonb_build_object('config', p_config))
$$;
CREATE FUNCTION pg_temp.e(p_source text, p_target text, p_branch text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object('id', p_source || '-' || p_target, 'source', p_source,
												'target', p_target, 'branch', p_branch))
$$;
-- The loop-variable problems of a definition, as "node: message".
CREATE FUNCTION pg_temp.lv(p_def jsonb) RETURNS text[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg((p ->> 'node') ORDER BY p ->> 'node'), '{}')
	  FROM jsonb_array_elements(flov7.validate_workflow(p_def)) p WHERE p ->> 'rule' = 'loop_variable_outside_loop'
$$;

SELECT is(flov7.compile_template('#{{ $.index }}: {{ $.item.name }}'),
		  '["#", {"path": "$.\"index\""}, ": ", {"path": "$.\"item\".\"name\""}]', 'templates take $.item and $.index');
SELECT is(flov7.compile_condition('$.item.v > 1 and $.index != 0')::text, '($."item"."v" > 1 && $."index" != 0)',
		  'conditions take $.item and $.index');
SELECT throws_ok($$SELECT flov7.compile_template('{{ $.items }}')$$, '22P02', NULL, 'other roots are still refused');

-- A loop whose body uses both; a merge after it ("done").
SELECT jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('l', 'condition', '{"condition_type": "loop", "items": "{{ $.input.xs }}"}'),
		pg_temp.n('m', 'data', '{"operation_type": "mapping", "mapping": {"v": "{{ $.item.v }}", "i": "{{ $.index }}", "label": "#{{ $.index }}: {{ $.item.name }}"}}'),
		pg_temp.n('c', 'condition', '{"condition_type": "if_else", "condition": "$.index >= 1 and $.item.v != 9"}'),
		pg_temp.n('tag', 'data', '{"operation_type": "enrich", "fields": {"later": true}}'),
		pg_temp.n('after', 'data', '{"operation_type": "merge", "strategy": "array"}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'l'), pg_temp.e('l', 'm'), pg_temp.e('m', 'c'),
		pg_temp.e('c', 'tag', 'true'), pg_temp.e('l', 'after', 'done'))) AS body \gset
SELECT is(pg_temp.lv(:'body'), '{}'::text[], 'inside a loop''s body (also a branch within it) the loop variables are fine');
SELECT is(flov7.check_workflow(:'body') -> 'valid', 'true', 'the loop workflow is valid');

SELECT is(pg_temp.lv(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('x', 'action', '{"action_type": "notification", "title": "{{ $.item.name }}"}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'x')))), '{x}', 'loop_variable_outside_loop: $.item with no loop, naming the node');
SELECT is((SELECT p ->> 'message' FROM jsonb_array_elements(flov7.validate_workflow(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('x', 'condition', '{"condition_type": "if_else", "condition": "$.index > 2"}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'x'))))) p WHERE p ->> 'rule' = 'loop_variable_outside_loop'),
	'node "x" uses $.index outside a loop''s body (only the nodes reached by a loop''s "item" edges have $.item and $.index)',
	'loop_variable_outside_loop: $.index in a condition, and what the message says');
SELECT is(pg_temp.lv(jsonb_set(jsonb_set(:'body'::jsonb, '{nodes,5,data,config,fields}', '{"i": "{{ $.index }}"}'),
							   '{nodes,5,data,config,operation_type}', '"enrich"')),
		  '{after}', 'loop_variable_outside_loop: after the loop ("done") is outside its body');
SELECT is(pg_temp.lv(jsonb_set(:'body'::jsonb, '{nodes,1,data,config,items}', '"{{ $.item }}"')),
		  '{l}', 'loop_variable_outside_loop: the loop node itself is outside its body');
SELECT is(pg_temp.lv(jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('f', 'data', '{"operation_type": "filter", "condition": "$.item.v > 1"}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'f')))), '{}'::text[], 'a filter''s condition has $.item: the element it tests');
SELECT pg_temp.act_as(:'a');
SELECT is(flov7_api.workflow_create(jsonb_build_object('name', 'lv', 'workflow_json', jsonb_build_object(
	'nodes', jsonb_build_array(pg_temp.n('t', 'trigger', '{"trigger_type": "manual"}'),
		pg_temp.n('x', 'action', '{"action_type": "notification", "title": "{{ $.item.name }}"}')),
	'edges', jsonb_build_array(pg_temp.e('t', 'x'))))) ->> 'status', 'draft', 'a workflow using $.item outside a loop is saved as a draft');

-- Running it: each iteration sees its item and index.
CREATE FUNCTION pg_temp.run(p_def jsonb, p_input jsonb) RETURNS flov7.workflow_executions LANGUAGE plpgsql AS $$
DECLARE
	v_wf uuid;
	v_id uuid;
	v_row flov7.workflow_executions;
BEGIN
	PERFORM pg_temp.act_as((SELECT id FROM flov7.users WHERE email = 'lv.a@pgtap.test'));
	v_wf := (flov7_api.workflow_create(jsonb_build_object('name', 'lv', 'workflow_json', p_def)) ->> 'id')::uuid;
	v_id := (flov7.execute(v_wf, p_input) ->> 'execution_id')::uuid;
	PERFORM pg_temp.act_dba();
	PERFORM flov7.run_ready(60);
	SELECT * INTO v_row FROM flov7.workflow_executions e WHERE e.id = v_id;
	RETURN v_row;
END
$$;
SELECT pg_temp.run(:'body', '{"xs": [{"v": 1, "name": "a"}, {"v": 2, "name": "b"}, {"v": 9, "name": "c"}]}') AS x1 \gset
SELECT is((:'x1'::flov7.workflow_executions).status, 'completed', 'the loop runs');
SELECT is((SELECT jsonb_agg(d.output ORDER BY d.iteration) FROM flov7.execution_step_data d
			WHERE d.execution_id = (:'x1'::flov7.workflow_executions).id AND d.node_id = 'm'),
		  '[{"v": 1, "i": 0, "label": "#0: a"}, {"v": 2, "i": 1, "label": "#1: b"}, {"v": 9, "i": 2, "label": "#2: c"}]',
		  'templates see each iteration''s $.item and $.index');
SELECT is((:'x1'::flov7.workflow_executions).output_data -> 'after',
		  '[null, {"v": 2, "i": 1, "label": "#1: b", "later": true}, null]',
		  'conditions see $.item and $.index (only the second iteration takes the true branch)');

SELECT * FROM finish();
ROLLBACK;
