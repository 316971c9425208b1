-- 10_validate.sql: the workflow validator (one failing definition per rule) and the expression compiler.
BEGIN;
SELECT plan(109);
\ir helpers.psql

-- A problem with this rule, node and edge (NULL: must be null) is in the list.
CREATE FUNCTION pg_temp.has_problem(p_def jsonb, p_rule text, p_node text, p_edge text,
									p_severity text DEFAULT 'error')
RETURNS boolean LANGUAGE sql AS $$
	SELECT EXISTS (SELECT 1 FROM jsonb_array_elements(flov7.validate_workflow(p_def)) p
					WHERE p ->> 'rule' = p_rule AND p ->> 'severity' = p_severity
					  AND p -> 'node' = coalesce(to_jsonb(p_node), 'null')
					  AND p -> 'edge' = coalesce(to_jsonb(p_edge), 'null'))
$$;

-- The rules of a definition's problems, sorted.
CREATE FUNCTION pg_temp.rules(p_def jsonb) RETURNS text[]
LANGUAGE sql AS $$
	SELECT coalesce(array_agg(p ->> 'rule' ORDER BY p ->> 'rule'), '{}')
	  FROM jsonb_array_elements(flov7.validate_workflow(p_def)) p
$$;

-- A node of the given type/subtype with extra config.
CREATE FUNCTION pg_temp.n(p_id text, p_type text, p_sub text, p_config jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', p_id, 'type', p_type, 'position', '{"x": 1, "y": 2}'::jsonb,
		'data', jsonb_build_object('label', p_id, 'config', jsonb_build_object(
			CASE p_type WHEN 'data' THEN 'operation_type' ELSE p_type || '_type' END, p_sub) || p_config))
$$;

-- An edge.
CREATE FUNCTION pg_temp.e(p_id text, p_source text, p_target text, p_extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('id', p_id, 'source', p_source, 'target', p_target) || p_extra
$$;

-- A definition from nodes and edges.
CREATE FUNCTION pg_temp.wf(p_nodes jsonb[], p_edges jsonb[] DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('name', 'test', 'nodes', to_jsonb(p_nodes), 'edges', to_jsonb(p_edges))
$$;

-- trigger t -> transform a: valid.
SELECT pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform')],
				  ARRAY[pg_temp.e('e1', 't', 'a')]) AS ok \gset

-- The original platform's definitions validate, with warnings at most.
SELECT is(flov7.validate_workflow(:'ok'), '[]'::jsonb, 'a minimal valid definition has no problem');
SELECT is(flov7.validate_workflow($${"name": "Welcome Email Workflow", "description": "Sends a welcome email when a new user signs up",
	"nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100},
			   "data": {"label": "User Signup Webhook", "config": {"trigger_type": "webhook", "endpoint": "/webhook/user-signup", "method": "POST"}}},
			  {"id": "action_1", "type": "action", "position": {"x": 400, "y": 100},
			   "data": {"label": "Send Welcome Email", "config": {"action_type": "email_send", "template": "welcome_email",
						"to": "{{user.email}}", "subject": "Welcome to our platform!"}}}],
	"edges": [{"id": "edge_1", "source": "trigger_1", "target": "action_1", "sourceHandle": "output", "targetHandle": "input"}]}$$),
	'[]'::jsonb, 'the original''s welcome_email workflow validates with no problem');
SELECT $${"name": "Data Processing Pipeline", "description": "Process incoming data with validation and transformation",
	"nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100},
			   "data": {"label": "Data Upload", "config": {"trigger_type": "webhook", "endpoint": "/upload"}}},
			  {"id": "data_1", "type": "data", "position": {"x": 400, "y": 100},
			   "data": {"label": "Validate Data", "config": {"operation_type": "validate", "schema": "user_schema"}}},
			  {"id": "condition_1", "type": "condition", "position": {"x": 700, "y": 100},
			   "data": {"label": "Check Validity", "config": {"condition_type": "if_else", "condition": "data.valid == true"}}},
			  {"id": "data_2", "type": "data", "position": {"x": 1000, "y": 50},
			   "data": {"label": "Process Valid Data", "config": {"operation_type": "transform", "transform_type": "normalize"}}},
			  {"id": "action_1", "type": "action", "position": {"x": 1000, "y": 150},
			   "data": {"label": "Handle Invalid Data", "config": {"action_type": "notification", "type": "error_alert"}}}],
	"edges": [{"id": "edge_1", "source": "trigger_1", "target": "data_1"}, {"id": "edge_2", "source": "data_1", "target": "condition_1"},
			  {"id": "edge_3", "source": "condition_1", "target": "data_2"}, {"id": "edge_4", "source": "condition_1", "target": "action_1"}]}$$
	AS pipeline \gset
SELECT is(pg_temp.rules(:'pipeline'), ARRAY['implicit_branches'],
		  'the original''s data_processing_pipeline validates, with one warning');
SELECT ok(pg_temp.has_problem(:'pipeline', 'implicit_branches', 'condition_1', NULL, 'warning'),
		  'two unlabelled edges out of an if_else: a warning naming the condition');
SELECT ok(flov7.validate_workflow(:'pipeline') -> 0 ->> 'message' ~ '"edge_3" is taken as "true" and "edge_4" as "false"',
		  'the warning says which edge is true and which false (their order in edges)');
SELECT is(flov7.check_workflow(:'pipeline') - 'problems',
		  '{"valid": true, "is_definition": true, "primitives_count": 5, "estimated_cost": 0.0004}'::jsonb,
		  'check_workflow: valid (warnings only), node count and cost from the primitives table');
SELECT is((flov7.check_workflow(:'pipeline') ->> 'estimated_cost')::numeric,
		  (SELECT sum(cost_usd) FROM flov7.primitives
			WHERE (type, subtype) IN (('trigger', 'webhook'), ('data', 'validate'), ('condition', 'if_else'),
									  ('data', 'transform'), ('action', 'notification'))),
		  'estimated_cost is the sum of the primitives'' cost_usd');

-- Problems have exactly the documented shape.
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(flov7.validate_workflow('{"nodes": [], "edges": []}') -> 0) k),
		  ARRAY['edge', 'message', 'node', 'rule', 'severity'], 'a problem is {severity, rule, node, edge, message}');

-- Not a definition at all.
SELECT is(pg_temp.rules('[]'), ARRAY['not_an_object'], 'not_an_object: an array');
SELECT is(pg_temp.rules('"x"'), ARRAY['not_an_object'], 'not_an_object: a string');
SELECT is(pg_temp.rules('{"edges": []}'), ARRAY['nodes_not_array'], 'nodes_not_array: missing');
SELECT is(pg_temp.rules('{"nodes": {}, "edges": 3}'), ARRAY['edges_not_array', 'nodes_not_array'],
		  'nodes_not_array and edges_not_array, both reported');
SELECT is(flov7.check_workflow('{"nodes": 1}') - 'problems',
		  '{"valid": false, "is_definition": false, "primitives_count": 0, "estimated_cost": 0}'::jsonb,
		  'check_workflow says it is not a definition');
SELECT is(pg_temp.rules(jsonb_build_object('nodes', '[]'::jsonb, 'edges', '[]'::jsonb,
										   'deep', (SELECT string_agg('[', '') || '1' || string_agg(']', '')
													  FROM generate_series(1, 40))::jsonb)),
		  ARRAY['too_deep'], 'too_deep: nesting past flov7.max_workflow_depth (32)');
SELECT is(pg_temp.rules(jsonb_build_object('nodes', (SELECT jsonb_agg(pg_temp.n('n' || i, 'action', 'transform'))
													   FROM generate_series(1, 501) i), 'edges', '[]'::jsonb)),
		  ARRAY['too_many_nodes'], 'too_many_nodes: more than flov7.max_workflow_nodes (500)');
SET LOCAL flov7.max_workflow_bytes = 2048;
SELECT is(pg_temp.rules(jsonb_build_object('nodes', '[]'::jsonb, 'edges', '[]'::jsonb, 'metadata', repeat('x', 3000))),
		  ARRAY['too_large'], 'too_large: past flov7.max_workflow_bytes');
SET LOCAL flov7.max_workflow_nodes = 1;
SELECT is(pg_temp.rules(:'ok'), ARRAY['too_many_nodes'], 'the limits are settings');
RESET flov7.max_workflow_bytes;
RESET flov7.max_workflow_nodes;
SELECT pg_temp.act_as(pg_temp.mkuser('val.u@pgtap.test'));
SELECT throws_ok($$SET flov7.max_workflow_nodes = 100000$$, '42501', NULL, 'only a superuser changes the limits');
SELECT pg_temp.act_dba();

-- Nodes.
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), '"oops"'::jsonb]),
							  'invalid_node', NULL, NULL), 'invalid_node: not an object');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform') - 'id']),
							  'invalid_node', NULL, NULL), 'invalid_node: no id');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform'),
											   pg_temp.n('a', 'data', 'merge')], ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'duplicate_node_id', 'a', NULL), 'duplicate_node_id names the id');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'robot', 'x')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'unknown_type', 'a', NULL), 'unknown_type names the node');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform') - 'type'],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'unknown_type', 'a', NULL), 'unknown_type: no type at all');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform') #- '{data,config}'],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'missing_config', 'a', NULL), 'missing_config: no data.config');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   pg_temp.n('a', 'action', 'transform') #- '{data,config,action_type}'],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'missing_subtype', 'a', NULL), 'missing_subtype: no config.action_type');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   jsonb_set(pg_temp.n('a', 'action', 'x'), '{data,config,action_type}', '7')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'missing_subtype', 'a', NULL), 'missing_subtype: a subtype that is not a string');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'teleport')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'unknown_subtype', 'a', NULL), 'unknown_subtype names the node');
SELECT ok(flov7.validate_workflow(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'teleport')],
											 ARRAY[pg_temp.e('e1', 't', 'a')])) -> 0 ->> 'message' ~ 'api_call',
		  'unknown_subtype lists the known subtypes');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'operation_type')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'unknown_subtype', 'a', NULL), 'a subtype of another type is unknown');
UPDATE flov7.primitives SET is_active = false WHERE type = 'action' AND subtype = 'transform';
SELECT ok(pg_temp.has_problem(:'ok', 'unknown_subtype', 'a', NULL), 'an inactive primitive is unknown');
UPDATE flov7.primitives SET is_active = true WHERE type = 'action' AND subtype = 'transform';
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'email_send')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'missing_config_field', 'a', NULL), 'missing_config_field: email_send without "to"');
SELECT ok(flov7.validate_workflow(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'email_send')],
											 ARRAY[pg_temp.e('e1', 't', 'a')])) -> 0 ->> 'message' = 'config.to is required by action/email_send',
		  'the message names the field and the primitive');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   pg_temp.n('a', 'action', 'db_query', '{"query": 42}')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'wrong_config_type', 'a', NULL), 'wrong_config_type: a number where a string is due');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   pg_temp.n('a', 'action', 'db_query', '{"query": "select 1", "max_rows": 1.5}')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'wrong_config_type', 'a', NULL), 'wrong_config_type: integer');
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
										 pg_temp.n('a', 'action', 'db_query', '{"query": "select 1", "max_rows": 2.0, "params": [1]}')],
								   ARRAY[pg_temp.e('e1', 't', 'a')])),
		  '{}'::text[], '2.0 is an integer');
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
										 pg_temp.n('a', 'action', 'db_query', '{"query": "select 1", "max_rows": "{{ $.input.n }}"}')],
								   ARRAY[pg_temp.e('e1', 't', 'a')])),
		  '{}'::text[], 'a string that is one {{ path }} stands for any type');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'webhook', '{"method": "FETCH"}')]),
							  'invalid_config_value', 't', NULL), 'invalid_config_value: outside the enum');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   pg_temp.n('s', 'condition', 'switch', '{"cases": [{"condition": "x == 1"}]}')],
										 ARRAY[pg_temp.e('e1', 't', 's')]),
							  'missing_config_field', 's', NULL), 'nested required fields (switch cases need a label)');
SELECT ok(flov7.validate_workflow(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
												   pg_temp.n('s', 'condition', 'switch', '{"cases": [{"condition": "x == 1"}]}')],
											 ARRAY[pg_temp.e('e1', 't', 's')])) -> 0 ->> 'message' = 'config.cases[0].label is required',
		  'nested paths are named in the message');

-- Expressions.
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   pg_temp.n('c', 'condition', 'if_else', '{"condition": "data.valid = true"}')],
										 ARRAY[pg_temp.e('e1', 't', 'c')]),
							  'bad_expression', 'c', NULL), 'bad_expression: a condition that does not parse');
SELECT ok(flov7.validate_workflow(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
												   pg_temp.n('c', 'condition', 'if_else', '{"condition": "data.valid = true"}')],
											 ARRAY[pg_temp.e('e1', 't', 'c')])) -> 0 ->> 'message'
		  ~ '^config.condition is not a valid condition: unexpected "=" \(use "==" to compare\) at character 12$',
		  'the message names the field and where the parser stopped');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   pg_temp.n('a', 'action', 'notification', '{"message": "Hi {{ user.name "}')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'bad_expression', 'a', NULL), 'bad_expression: an unterminated template');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   pg_temp.n('a', 'action', 'transform', '{"mapping": {"deep": ["ok", "{{ $.nowhere }}"]}}')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'bad_expression', 'a', NULL), 'templates are checked in free extra config keys, at any depth');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   pg_temp.n('j', 'condition', 'json_path', '{"path": "$.data.a ? (@ >"}')],
										 ARRAY[pg_temp.e('e1', 't', 'j')]),
							  'bad_expression', 'j', NULL), 'bad_expression: a jsonpath that does not parse');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   pg_temp.n('r', 'condition', 'regex', '{"value": "x", "pattern": "a(b"}')],
										 ARRAY[pg_temp.e('e1', 't', 'r')]),
							  'bad_expression', 'r', NULL), 'bad_expression: a regular expression that does not compile');
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
										 pg_temp.n('j', 'condition', 'json_path', '{"path": "$.data.items[*] ? (@.price > 10)"}'),
										 pg_temp.n('r', 'condition', 'regex', '{"value": "{{ data.email }}", "pattern": "@example\\.com$"}')],
								   ARRAY[pg_temp.e('e1', 't', 'j'), pg_temp.e('e2', 't', 'r'),
										 pg_temp.e('e3', 'j', 'r', '{"branch": "true"}')])),
		  '{}'::text[], 'valid jsonpath and regex fields');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
											   pg_temp.n('a', 'action', 'notification', '{"message": "{{ $.nodes.ghost.output.x }}"}')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'unknown_node_reference', 'a', NULL), 'unknown_node_reference: $.nodes.<id> of no node');
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
										 pg_temp.n('a', 'action', 'notification', '{"message": "{{ $.nodes.t.output.x }} and {{ $.nodes[\"t\"].output }}"}')],
								   ARRAY[pg_temp.e('e1', 't', 'a')])),
		  '{}'::text[], '$.nodes.<id> of an existing node');

-- Edges.
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual')], ARRAY['[]'::jsonb]),
							  'invalid_edge', NULL, NULL), 'invalid_edge: not an object');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'a') - 'id']),
							  'invalid_edge', NULL, NULL), 'invalid_edge: no id');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'a') - 'target']),
							  'invalid_edge', NULL, 'e1'), 'invalid_edge: no target');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'a'), pg_temp.e('e1', 't', 'a')]),
							  'duplicate_edge_id', NULL, 'e1'), 'duplicate_edge_id names the edge');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'a'), pg_temp.e('e2', 'a', 'nowhere')]),
							  'dangling_edge', NULL, 'e2'), 'dangling_edge: target is not a node');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'a'), pg_temp.e('e2', 'ghost', 'a')]),
							  'dangling_edge', NULL, 'e2'), 'dangling_edge: source is not a node');
SELECT ok(flov7.validate_workflow(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform')],
											 ARRAY[pg_temp.e('e1', 't', 'a'), pg_temp.e('e2', 'a', 'nowhere')])) -> 0 ->> 'message' ~ '"nowhere"',
		  'dangling_edge names the missing node');

-- Graph.
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('a', 'action', 'transform')]), 'no_trigger', NULL, NULL),
		  'no_trigger');
SELECT is(pg_temp.rules('{"nodes": [], "edges": []}'), ARRAY['no_trigger'], 'an empty definition has no trigger');
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('a', 'action', 'transform'), pg_temp.n('b', 'action', 'transform')],
								   ARRAY[pg_temp.e('e1', 'a', 'b')])),
		  ARRAY['no_trigger'], 'without a trigger, nodes are not also reported unreachable');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'a'), pg_temp.e('e2', 'a', 't')]),
							  'edge_into_trigger', 't', 'e2'), 'edge_into_trigger names the trigger and the edge');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform'),
											   pg_temp.n('b', 'data', 'merge'), pg_temp.n('c', 'data', 'split')],
										 ARRAY[pg_temp.e('e1', 't', 'a'), pg_temp.e('e2', 'a', 'b'),
											   pg_temp.e('e3', 'b', 'c'), pg_temp.e('e4', 'c', 'a')]),
							  'cycle', 'a', 'e4'), 'cycle names a node on the cycle and the edge closing it');
SELECT is(flov7.validate_workflow(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform'),
												   pg_temp.n('b', 'data', 'merge'), pg_temp.n('c', 'data', 'split')],
											 ARRAY[pg_temp.e('e1', 't', 'a'), pg_temp.e('e2', 'a', 'b'),
												   pg_temp.e('e3', 'b', 'c'), pg_temp.e('e4', 'c', 'a')])) -> 0 ->> 'message',
		  'node "a" is on a cycle: a -> b -> c -> a', 'the message shows the cycle');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'a'), pg_temp.e('e2', 'a', 'a')]),
							  'cycle', 'a', 'e2'), 'a self-loop is a cycle');
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform'),
										 pg_temp.n('b', 'action', 'transform'), pg_temp.n('j', 'data', 'merge')],
								   ARRAY[pg_temp.e('e1', 't', 'a'), pg_temp.e('e2', 't', 'b'),
										 pg_temp.e('e3', 'a', 'j'), pg_temp.e('e4', 'b', 'j')])),
		  '{}'::text[], 'a diamond (two paths to a join) is not a cycle');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform'),
											   pg_temp.n('island', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'a')]),
							  'unreachable_node', 'island', NULL), 'unreachable_node names the node');
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('t1', 'trigger', 'manual'), pg_temp.n('t2', 'trigger', 'webhook'),
										 pg_temp.n('a', 'action', 'transform'), pg_temp.n('b', 'action', 'transform')],
								   ARRAY[pg_temp.e('e1', 't1', 'a'), pg_temp.e('e2', 't2', 'b')])),
		  '{}'::text[], 'several triggers: reachable from any one is enough');

-- Branches.
SELECT pg_temp.n('c', 'condition', 'if_else', '{"condition": "data.ok"}') AS ifelse \gset
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), :'ifelse', pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'c'), pg_temp.e('e2', 'c', 'a', '{"sourceHandle": "maybe"}')]),
							  'invalid_branch', 'c', 'e2'), 'invalid_branch: an if_else has no "maybe" (sourceHandle)');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), :'ifelse', pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'c'), pg_temp.e('e2', 'c', 'a', '{"branch": "yes", "sourceHandle": "true"}')]),
							  'invalid_branch', 'c', 'e2'), 'invalid_branch: "branch" wins over sourceHandle');
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), :'ifelse', pg_temp.n('a', 'action', 'transform'),
										 pg_temp.n('b', 'action', 'transform')],
								   ARRAY[pg_temp.e('e1', 't', 'c'), pg_temp.e('e2', 'c', 'a', '{"sourceHandle": "true"}'),
										 pg_temp.e('e3', 'c', 'b', '{"branch": "false"}')])),
		  '{}'::text[], 'true/false by sourceHandle or branch: no problem');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform'),
											   pg_temp.n('b', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'a'), pg_temp.e('e2', 'a', 'b', '{"branch": "true"}')]),
							  'invalid_branch', 'a', 'e2'), 'invalid_branch: a "branch" out of a node that does not branch');
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), pg_temp.n('a', 'action', 'transform')],
								   ARRAY[pg_temp.e('e1', 't', 'a', '{"sourceHandle": "output", "targetHandle": "input"}')])),
		  '{}'::text[], 'handle ids out of nodes that do not branch are not branch labels');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), :'ifelse', pg_temp.n('a', 'action', 'transform'),
											   pg_temp.n('b', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'c'), pg_temp.e('e2', 'c', 'a', '{"branch": "true"}'),
											   pg_temp.e('e3', 'c', 'b')]),
							  'missing_branch', 'c', 'e3'), 'missing_branch: an unlabelled edge next to labelled ones');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), :'ifelse', pg_temp.n('a', 'action', 'transform'),
											   pg_temp.n('b', 'action', 'transform'), pg_temp.n('d', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'c'), pg_temp.e('e2', 'c', 'a'), pg_temp.e('e3', 'c', 'b'),
											   pg_temp.e('e4', 'c', 'd')]),
							  'missing_branch', 'c', 'e4'), 'missing_branch: a third unlabelled edge out of an if_else');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), :'ifelse', pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 'c'), pg_temp.e('e2', 'c', 'a')]),
							  'implicit_branches', 'c', NULL, 'warning'), 'implicit_branches: one unlabelled edge is "true", a warning');
SELECT pg_temp.n('s', 'condition', 'switch', '{"cases": [{"label": "high", "condition": "data.p > 5"}, {"label": "low", "equals": 1}]}') AS sw \gset
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), :'sw', pg_temp.n('a', 'action', 'transform'),
										 pg_temp.n('b', 'action', 'transform'), pg_temp.n('d', 'action', 'transform')],
								   ARRAY[pg_temp.e('e1', 't', 's'), pg_temp.e('e2', 's', 'a', '{"branch": "high"}'),
										 pg_temp.e('e3', 's', 'b', '{"sourceHandle": "low"}'), pg_temp.e('e4', 's', 'd', '{"branch": "default"}')])),
		  '{}'::text[], 'a switch: its cases and "default"');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), :'sw', pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 's'), pg_temp.e('e2', 's', 'a', '{"branch": "medium"}')]),
							  'invalid_branch', 's', 'e2'), 'invalid_branch: a case the switch does not have');
SELECT ok(pg_temp.has_problem(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'), :'sw', pg_temp.n('a', 'action', 'transform')],
										 ARRAY[pg_temp.e('e1', 't', 's'), pg_temp.e('e2', 's', 'a')]),
							  'missing_branch', 's', 'e2'), 'missing_branch: an unlabelled edge out of a switch');
SELECT is(pg_temp.rules(pg_temp.wf(ARRAY[pg_temp.n('t', 'trigger', 'manual'),
										 pg_temp.n('l', 'condition', 'loop', '{"items": "{{ $.input.items }}"}'),
										 pg_temp.n('a', 'data', 'mapping', '{"mapping": {"x": "{{ data.x }}"}}'),
										 pg_temp.n('m', 'data', 'merge')],
								   ARRAY[pg_temp.e('e1', 't', 'l'), pg_temp.e('e2', 'l', 'a'), pg_temp.e('e3', 'l', 'm', '{"branch": "done"}')])),
		  '{}'::text[], 'a loop: unlabelled edges are its body ("item"), "done" follows it');

-- Robustness: bad input is a problem list, never an error.
SELECT lives_ok($$SELECT flov7.validate_workflow(x) FROM (VALUES ('null'::jsonb), ('1'), ('{"nodes": [null, 1, "a", [], {}], "edges": [null, {"id": 1}, {"id": "x", "source": 1, "target": []}]}'),
																 ('{"nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}}], "edges": [{"id": "e", "source": "t", "target": "t", "branch": 5}]}')) v (x)$$,
				'garbage in nodes and edges is reported, not raised');
SELECT ok(jsonb_array_length(flov7.validate_workflow('{"nodes": [null, 1, "a", [], {}], "edges": [null]}')) >= 6,
		  'every bad element is reported');
SELECT is(flov7.validate_workflow(NULL), NULL, 'NULL in, NULL out');

-- The condition compiler.
SELECT is(flov7.compile_condition('data.valid == true')::text, '($."data"."valid" == true)', 'data.<x> is the data flowing in');
SELECT is(flov7.compile_condition('valid == true')::text, '($."data"."valid" == true)', 'a bare path starts in the data flowing in');
SELECT is(flov7.compile_condition('$.input.n >= 3 AND $.nodes.step_1.output.ok')::text,
		  '($."input"."n" >= 3 && $."nodes"."step_1"."output"."ok" == true)', '$.input, $.nodes; keywords in any case; a bare value is compared with true');
SELECT is(flov7.compile_condition('not (a < 1 or b > "x") && c != null')::text,
		  '(!($."data"."a" < 1 || $."data"."b" > "x") && $."data"."c" != null)', 'not, or, and, parentheses, strings, null');
SELECT is(flov7.compile_condition($$name == 'O\'Brien "jr"' || n == -1.5e2$$)::text,
		  '($."data"."name" == "O''Brien \"jr\"" || $."data"."n" == -150)', 'quoted strings and numbers');
SELECT is(flov7.compile_condition('{{ data.items[*].price > 10 }}')::text, '($."data"."items"[*]."price" > 10)',
		  'a condition wrapped in {{ }}; [*]');
SELECT is(flov7.compile_condition('{{ $.input.a }} == {{ data["the key"][2] }}')::text, '($."input"."a" == $."data"."the key"[2])',
		  '{{ path }} operands; quoted keys; indexes');
SELECT is(flov7.compile_condition('data.flag')::text, '($."data"."flag" == true)', 'a path alone is true when it is true');
SELECT is(jsonb_path_match('{"data": {"valid": true}}', flov7.compile_condition('data.valid == true')), true,
		  'compiled conditions run with jsonb_path_match');
SELECT is(jsonb_path_match('{"data": {"p": 3}, "input": {"min": 2}}', flov7.compile_condition('data.p > $.input.min and not data.x')), true,
		  'compiled conditions: comparisons of two paths, missing values');
SELECT is(coalesce(jsonb_path_match('{"data": {}}', flov7.compile_condition('data.n > 2')), false), false,
		  'a comparison with a missing value is not true');
SELECT throws_ok($$SELECT flov7.compile_condition('a = 1')$$, '22P02', 'invalid condition expression', 'a single = is refused');
SELECT throws_ok($$SELECT flov7.compile_condition('a ==')$$, '22P02', NULL, 'a missing operand');
SELECT throws_ok($$SELECT flov7.compile_condition('(a == 1) == true')$$, '22P02', NULL, 'a condition is not a value');
SELECT throws_ok($$SELECT flov7.compile_condition('a == 1 == 2')$$, '22P02', NULL, 'comparisons do not chain');
SELECT throws_ok($$SELECT flov7.compile_condition('')$$, '22P02', NULL, 'an empty condition');
SELECT throws_ok($$SELECT flov7.compile_condition('a == ''x')$$, '22P02', NULL, 'an unterminated string');
SELECT throws_ok($$SELECT flov7.compile_condition('$.secret == 1')$$, '22P02', NULL, 'only $.input, $.nodes and $.data are roots');
SELECT throws_ok($$SELECT flov7.compile_condition('a == 1; DROP TABLE x')$$, '22P02', NULL, 'trailing junk');
SELECT throws_ok($$SELECT flov7.compile_condition(repeat('(', 100) || 'a' || repeat(')', 100))$$, '22P02', NULL,
				 'nesting is bounded');
SELECT throws_ok($$SELECT flov7.compile_condition('a == 01')$$, '22P02', NULL, 'malformed numbers');

-- The template compiler.
SELECT is(flov7.compile_template('Hello {{user.email}}!'), '["Hello ", {"path": "$.\"data\".\"user\".\"email\""}, "!"]',
		  'text and paths');
SELECT is(flov7.compile_template('{{ $.nodes.trigger_1.output }}'), '[{"path": "$.\"nodes\".\"trigger_1\".\"output\""}]',
		  'one path alone');
SELECT is(flov7.compile_template('no holes } {'), '["no holes } {"]', 'plain text');
SELECT is(jsonb_path_query_first('{"data": {"user": {"email": "a@b.c"}}}',
								 (flov7.compile_template('{{ user.email }}') -> 0 ->> 'path')::jsonpath), '"a@b.c"',
		  'template paths run with jsonb_path_query_first');
SELECT throws_ok($$SELECT flov7.compile_template('Hi {{ user.name ')$$, '22P02', 'invalid template', 'unterminated');
SELECT throws_ok($$SELECT flov7.compile_template('{{ }}')$$, '22P02', NULL, 'empty');
SELECT throws_ok($$SELECT flov7.compile_template('{{ a == 1 }}')$$, '22P02', NULL, 'a template holds a path, not a condition');
SELECT throws_ok($$SELECT flov7.compile_template('{{ data.items[*] }}')$$, '22P02', NULL, '[*] is for conditions only');

SELECT * FROM finish();
ROLLBACK;
