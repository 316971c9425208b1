-- 12_primitives_templates.sql: the primitives catalogue and GET /primitives; templates, their list and use.
BEGIN;
SELECT plan(44);
\ir helpers.psql

-- The catalogue: five primitives, 38 subtypes, each with schemas.
SELECT is((SELECT count(*) FROM flov7.primitives WHERE builtin), 38::bigint, '38 builtin subtypes');
SELECT is(ARRAY(SELECT type || ':' || string_agg(subtype, ',' ORDER BY subtype) FROM flov7.primitives GROUP BY type ORDER BY type),
		  ARRAY['action:ai_process,api_call,custom,db_query,email_send,notification,transform,wait',
				'condition:compare,filter,if_else,json_path,loop,regex,switch',
				'connection:api,api_key,database,gmail,hubspot,oauth,slack,webhook',
				'data:enrich,filter,mapping,merge,split,transform,validate',
				'trigger:api,database,email,iot,manual,schedule,sms,webhook'],
		  'every subtype of the original platform');
SELECT is_empty($$SELECT subtype FROM flov7.primitives
				   WHERE config_schema ->> 'type' <> 'object' OR config_schema -> 'additionalProperties' <> 'true'
					  OR input_schema ->> 'type' IS NULL OR output_schema ->> 'type' IS NULL
					  OR name = '' OR description IS NULL OR category IS NULL$$,
				'every primitive has a name, description, category and object schemas that keep extra config keys');
SELECT is(ARRAY(SELECT subtype FROM flov7.primitives WHERE branches IS NOT NULL ORDER BY subtype),
		  ARRAY['compare', 'filter', 'if_else', 'json_path', 'loop', 'regex', 'switch'], 'conditions branch; nothing else does');
SELECT is_empty($$SELECT 1 FROM flov7.primitives p, jsonb_array_elements_text(p.config_schema -> 'required') r
				   WHERE NOT p.config_schema -> 'properties' ? r$$, 'every required field is a declared property');
SELECT ok((SELECT cost_usd FROM flov7.primitives WHERE subtype = 'ai_process') >
		  (SELECT cost_usd FROM flov7.primitives WHERE type = 'action' AND subtype = 'transform'), 'costs: AI costs more than a transform');

-- GET /primitives.
SELECT pg_temp.mkuser('pt.a@pgtap.test') AS a \gset
SELECT pg_temp.mkuser('pt.b@pgtap.test') AS b \gset
SELECT pg_temp.act_as(:'a');
SELECT is((flov7_api.primitive_list('{}') ->> 'total')::int, 38, 'list: all 38');
SELECT is(jsonb_array_length(flov7_api.primitive_list('{}') -> 'items'), 20, 'paginated: 20 by default');
SELECT ok(flov7_api.primitive_list('{}') -> 'items' -> 0 ?& ARRAY['id', 'type', 'subtype', 'name', 'description', 'category',
		  'subtype_field', 'config_schema', 'input_schema', 'output_schema', 'branches', 'cost_usd'], 'item shape');
SELECT is(flov7_api.primitive_list('{}') -> 'items' -> 0 ->> 'type', 'trigger', 'triggers first');
SELECT is((flov7_api.primitive_list('{"type": "condition"}') ->> 'total')::int, 7, 'filter by type');
SELECT is((SELECT array_agg(DISTINCT i ->> 'subtype_field') FROM jsonb_array_elements(flov7_api.primitive_list('{"type": "data"}') -> 'items') i),
		  ARRAY['operation_type'], 'data subtypes live in config.operation_type');
SELECT is((flov7_api.primitive_list('{"category": "logic"}') ->> 'total')::int, 6, 'filter by category');
SELECT is((flov7_api.primitive_list('{"limit": 100, "offset": 31}') -> 'items' -> 0 ->> 'type'), 'data', 'offset');
SELECT throws_ok($$SELECT flov7_api.primitive_list('{"type": "robot"}')$$, '22023', NULL, 'type is an enum');
SELECT pg_temp.act_with_key(pg_temp.mkkey(:'a', ARRAY['profile:read']));
SELECT throws_ok($$SELECT flov7_api.primitive_list('{}')$$, '42501', 'permission denied: "workflows:read" is required',
				 'a key without workflows:read');
SELECT pg_temp.act_anon();
SELECT throws_ok($$SELECT flov7_api.primitive_list('{}')$$, '42501', NULL, 'anonymous callers have no grant');

-- Templates: at least six, each validates with no problem at all.
SELECT pg_temp.act_dba();
SELECT cmp_ok((SELECT count(*) FROM flov7.workflow_templates WHERE builtin), '>=', 6::bigint, 'at least six templates');
SELECT is_empty($$SELECT t.name, flov7.validate_workflow(t.workflow_json) FROM flov7.workflow_templates t
				   WHERE flov7.validate_workflow(t.workflow_json) <> '[]'$$,
				'every template validates with no error and no warning');
SELECT is_empty($$SELECT t.name FROM flov7.workflow_templates t, jsonb_array_elements(t.workflow_json -> 'nodes') n
				   WHERE (n ->> 'type', n -> 'data' -> 'config' ->> (CASE n ->> 'type' WHEN 'data' THEN 'operation_type'
																	 ELSE (n ->> 'type') || '_type' END))
						 IN (('trigger', 'webhook'), ('trigger', 'schedule'), ('trigger', 'email'), ('trigger', 'sms'),
							 ('trigger', 'iot'), ('action', 'api_call'), ('action', 'ai_process'), ('action', 'email_send'))
					  OR n ->> 'type' = 'connection'$$,
				'templates use only node types that run inside the database');
SELECT is((SELECT count(DISTINCT n -> 'data' -> 'config' ->> 'condition_type') FROM flov7.workflow_templates t,
				  jsonb_array_elements(t.workflow_json -> 'nodes') n WHERE n ->> 'type' = 'condition'),
		  4::bigint, 'templates show if_else, loop, switch and regex');

-- GET /workflows/templates.
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.template_list('{}') AS tl \gset
SELECT is((:'tl'::jsonb ->> 'total')::int, (SELECT count(*)::int FROM flov7.workflow_templates), 'list: every template');
SELECT ok(:'tl'::jsonb -> 'items' -> 0 ?& ARRAY['id', 'name', 'description', 'category', 'difficulty', 'estimated_time_minutes',
		  'workflow_json', 'preview_image_url', 'is_featured', 'usage_count', 'created_by', 'created_at'], 'Template shape');
SELECT is(:'tl'::jsonb -> 'items' -> 0 -> 'is_featured', 'true', 'featured first');
SELECT is((flov7_api.template_list('{"is_featured": "false"}') -> 'items' -> 0 -> 'is_featured'), 'false', 'filter by is_featured');
SELECT is((flov7_api.template_list('{"category": "routing"}') ->> 'total')::int, 2, 'filter by category');
SELECT is((flov7_api.template_list('{"difficulty": "advanced"}') ->> 'total')::int, 1, 'filter by difficulty');
SELECT is((flov7_api.template_list('{"search": "REMINDER"}') -> 'items' -> 0 ->> 'name'), 'Reminder after a delay', 'search');
SELECT is((flov7_api.template_list('{"limit": 2, "offset": 1}') -> 'items' -> 0 ->> 'id'), :'tl'::jsonb -> 'items' -> 1 ->> 'id',
		  'limit and offset');
SELECT throws_ok($$SELECT flov7_api.template_list('{"difficulty": "expert"}')$$, '22023', NULL, 'difficulty is an enum');
SELECT throws_ok($$SELECT flov7_api.template_list('{"is_featured": "maybe"}')$$, '22023', NULL, 'is_featured is a boolean');

-- POST /workflows/templates/{id}/use.
SELECT id AS tid, workflow_json AS tjson, usage_count AS uses FROM flov7.workflow_templates WHERE name = 'Review large orders' \gset
SELECT flov7_api.template_use(jsonb_build_object('id', :'tid')) AS w \gset
SELECT is(:'w'::jsonb ->> 'user_id', :'a', 'the new workflow is the caller''s');
SELECT is(:'w'::jsonb -> 'workflow_json', :'tjson'::jsonb, 'with the template''s definition');
SELECT is(:'w'::jsonb ->> 'name', 'Review large orders', 'and its name');
SELECT is(:'w'::jsonb ->> 'status', 'draft', 'as a draft');
SELECT is(:'w'::jsonb -> 'validation', '{"valid": true, "problems": []}', 'valid, no problems');
SELECT is(:'w'::jsonb ->> 'template_id', :'tid', 'the response names the template');
SELECT is((SELECT usage_count FROM flov7.workflow_templates WHERE id = :'tid'), :'uses'::int + 1, 'usage_count is bumped');
SELECT is(flov7_api.template_use(jsonb_build_object('id', :'tid', 'name', 'My orders', 'tags', '["shop"]'::jsonb)) ->> 'name',
		  'My orders', 'a name of one''s own');
SELECT throws_ok(format('SELECT flov7_api.template_use(%L)', jsonb_build_object('id', gen_random_uuid())), 'P0002',
				 'template not found', 'unknown template: P0002');
SELECT is((SELECT count(*) FROM flov7.workflow_templates WHERE id = :'tid'), 1::bigint, 'templates are readable');
SELECT throws_ok(format($$UPDATE flov7.workflow_templates SET usage_count = 0 WHERE id = %L$$, :'tid'), '42501', NULL,
				 'but users cannot change them');
SELECT lives_ok(format($$SELECT flov7_api.template_use(jsonb_build_object('id', %L)) FROM generate_series(1, 8)$$, :'tid'),
				'up to the quota');
SELECT throws_ok(format('SELECT flov7_api.template_use(%L)', jsonb_build_object('id', :'tid')), '53400', NULL,
				 'using a template counts against max_workflows');

SELECT * FROM finish();
ROLLBACK;
