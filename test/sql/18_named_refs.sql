-- 18_named_refs.sql: named JSON schemas and message templates (issue 6): their endpoints,
-- owner scoping and global rows, RLS, and the engine looking them up when a step runs (the
-- original platform's data_processing_pipeline with and without its "user_schema").
BEGIN;
SELECT plan(37);
\ir helpers.psql

SELECT pg_temp.mkuser('nr.a@pgtap.test', 'user', 'enterprise') AS a \gset
SELECT pg_temp.mkuser('nr.b@pgtap.test', 'user', 'enterprise') AS b \gset
SELECT pg_temp.mkuser('nr.c@pgtap.test', 'user', 'enterprise') AS c \gset
SELECT pg_temp.mkuser('nr.admin@pgtap.test', 'admin', 'enterprise') AS adm \gset
SELECT pg_temp.mkkey(:'a', ARRAY['workflows:read']) AS key_read \gset

-- Execute a definition as p_uid, run every due step as the DBA; the execution.
CREATE FUNCTION pg_temp.run(p_uid uuid, p_def jsonb, p_input jsonb DEFAULT '{}') RETURNS flov7.workflow_executions
LANGUAGE plpgsql AS $$
DECLARE
	v_wf uuid;
	v_id uuid;
	v_row flov7.workflow_executions;
BEGIN
	PERFORM pg_temp.act_as(p_uid);
	v_wf := (flov7_api.workflow_create(jsonb_build_object('name', 'named refs', 'workflow_json', p_def)) ->> 'id')::uuid;
	v_id := (flov7.execute(v_wf, p_input) ->> 'execution_id')::uuid;
	PERFORM pg_temp.act_dba();
	PERFORM flov7.run_ready(60);
	SELECT * INTO v_row FROM flov7.workflow_executions e WHERE e.id = v_id;
	RETURN v_row;
END
$$;
-- trigger -> one action/data node with the config given.
CREATE FUNCTION pg_temp.one(p_type text, p_config jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object(
		'nodes', jsonb_build_array(
			'{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}}'::jsonb,
			jsonb_build_object('id', 'n', 'type', p_type, 'data', jsonb_build_object('config', p_config))),
		'edges', '[{"id": "e", "source": "t", "target": "n"}]'::jsonb)
$$;

-- The original platform's data_processing_pipeline, exactly as it produced it.
SELECT '{"name": "Data Processing Pipeline", "description": "Process incoming data with validation and transformation",
  "nodes": [
   {"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100},
    "data": {"label": "Data Upload", "config": {"trigger_type": "webhook", "endpoint": "/upload"}}},
   {"id": "data_1", "type": "data", "position": {"x": 400, "y": 100},
    "data": {"label": "Validate Data", "config": {"operation_type": "validate", "schema": "user_schema"}}},
   {"id": "condition_1", "type": "condition", "position": {"x": 700, "y": 100},
    "data": {"label": "Check Validity", "config": {"condition_type": "if_else", "condition": "data.valid == true"}}},
   {"id": "data_2", "type": "data", "position": {"x": 1000, "y": 50},
    "data": {"label": "Process Valid Data", "config": {"operation_type": "transform", "transform_type": "normalize"}}},
   {"id": "action_1", "type": "action", "position": {"x": 1000, "y": 150},
    "data": {"label": "Handle Invalid Data", "config": {"action_type": "notification", "type": "error_alert"}}}],
  "edges": [
   {"id": "edge_1", "source": "trigger_1", "target": "data_1"},
   {"id": "edge_2", "source": "data_1", "target": "condition_1"},
   {"id": "edge_3", "source": "condition_1", "target": "data_2"},
   {"id": "edge_4", "source": "condition_1", "target": "action_1"}]}' AS pipeline \gset

-- Schemas: create, conflict, replace, get, list, delete.
SELECT pg_temp.act_as(:'a');
SELECT is(flov7_api.schema_create('{"name": "user_schema", "description": "a user",
		  "schema": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}}') - 'created_at' - 'updated_at',
		  '{"name": "user_schema", "global": false, "description": "a user",
			"schema": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}}',
		  'schema_create: the new schema');
SELECT throws_ok($$SELECT flov7_api.schema_create('{"name": "user_schema", "schema": {}}')$$, 'PT409',
				 'schema "user_schema" already exists', 'schema_create: a name the caller has is a conflict');
SELECT throws_ok($$SELECT flov7_api.schema_create('{"name": "bad name", "schema": {}}')$$, '22023', NULL,
				 'schema_create: a name with a space is refused');
SELECT throws_ok($$SELECT flov7_api.schema_create('{"name": "s", "schema": [1]}')$$, '22023', NULL,
				 'schema_create: a schema that is not an object is refused');
SELECT throws_ok($$SELECT flov7_api.schema_create('{"name": "s"}')$$, '22023', NULL,
				 'schema_create: the schema is required');
SELECT is(flov7_api.schema_put('{"name": "tmp", "schema": {"type": "string"}}') ->> 'name', 'tmp', 'schema_put creates');
SELECT is(flov7_api.schema_put('{"name": "tmp", "schema": {"type": "number"}}') -> 'schema', '{"type": "number"}',
		  'schema_put replaces');
SELECT is(flov7_api.schema_get('{"name": "tmp"}') -> 'schema', '{"type": "number"}', 'schema_get');
SELECT is(jsonb_path_query_array(flov7_api.schema_list('{}'), '$.items[*].name'), '["tmp", "user_schema"]',
		  'schema_list: the caller''s, by name');
SELECT is(flov7_api.schema_list('{"limit": 1}') -> 'next', '"tmp"', 'schema_list: a full page names the cursor');
SELECT is(jsonb_path_query_array(flov7_api.schema_list('{"after": "tmp"}'), '$.items[*].name'), '["user_schema"]',
		  'schema_list: after the cursor');
SELECT is(flov7_api.schema_delete('{"name": "tmp"}'), NULL, 'schema_delete');
SELECT throws_ok($$SELECT flov7_api.schema_get('{"name": "tmp"}')$$, 'P0002', 'schema "tmp" not found',
				 'schema_get: a deleted schema is gone');
SELECT throws_ok($$SELECT flov7_api.schema_delete('{"name": "tmp"}')$$, 'P0002', 'schema "tmp" not found',
				 'schema_delete: twice is a 404');

-- Owner scoping, RLS, global rows.
SELECT pg_temp.act_as(:'b');
SELECT throws_ok($$SELECT flov7_api.schema_get('{"name": "user_schema"}')$$, 'P0002', NULL,
				 'another user''s schema is a 404');
SELECT is((SELECT count(*) FROM flov7.json_schemas), 0::bigint, 'RLS: another user''s schemas are invisible');
SELECT throws_ok($$SELECT flov7_api.schema_create('{"name": "g", "global": true, "schema": {}}')$$, '42501', NULL,
				 'only an admin makes a global schema');
SELECT throws_ok(format('INSERT INTO flov7.json_schemas (user_id, name, schema) VALUES (%L, ''x'', ''{}'')', :'a'),
				 '42501', NULL, 'RLS: no writing a schema for another user');
SELECT pg_temp.act_as(:'adm');
SELECT is(flov7_api.schema_create('{"name": "shared", "global": true, "schema": {"type": "object", "required": ["id"]}}') -> 'global',
		  'true', 'an admin makes a global schema');
SELECT pg_temp.act_as(:'b');
SELECT is(flov7_api.schema_get('{"name": "shared"}') -> 'schema' -> 'required', '["id"]', 'everyone reads a global schema');
UPDATE flov7.json_schemas SET schema = '{}' WHERE name = 'shared';
SELECT is((SELECT schema -> 'required' FROM flov7.json_schemas WHERE name = 'shared'), '["id"]',
		  'RLS: a global schema is not everyone''s to change');
SELECT flov7_api.schema_create('{"name": "shared", "schema": {"type": "object", "required": ["own"]}}') IS NOT NULL AS created \gset
SELECT is(flov7_api.schema_get('{"name": "shared"}') -> 'schema' -> 'required', '["own"]',
		  'the caller''s own schema comes before a global one of that name');

-- The pipeline with its schema: valid data is normalized, invalid data raises the alert.
SELECT pg_temp.run(:'a', :'pipeline', '{"email": " Ada@example.com ", "Name": "Ada"}') AS p1 \gset
SELECT is((:'p1'::flov7.workflow_executions).status, 'completed', 'pipeline with its schema runs end to end');
SELECT is((:'p1'::flov7.workflow_executions).output_data -> 'data_2' -> 'valid', 'true', 'pipeline: valid data takes the true branch');
SELECT pg_temp.run(:'a', :'pipeline', '{"name": "no email"}') AS p2 \gset
SELECT is((:'p2'::flov7.workflow_executions).status, 'completed', 'pipeline with invalid data completes');
SELECT is((SELECT count(*) FROM flov7.notifications WHERE user_id = :'a' AND type = 'error_alert'), 1::bigint,
		  'pipeline: invalid data raises the error alert');
-- ... and without it, the validate step fails naming the schema.
SELECT pg_temp.run(:'c', :'pipeline', '{"email": "x@example.com"}') AS p3 \gset
SELECT is((:'p3'::flov7.workflow_executions).status, 'failed', 'pipeline without its schema fails');
SELECT is((:'p3'::flov7.workflow_executions).error_message, 'node "data_1" failed: schema "user_schema" not found',
		  'pipeline without its schema: the error names the schema');

-- Message templates.
SELECT pg_temp.act_as(:'a');
SELECT is(flov7_api.message_template_create('{"name": "welcome", "subject": "Welcome {{ $.input.name }}",
		  "body": "Hello {{name}}, your plan is {{ $.input.plan }}."}') - 'created_at' - 'updated_at',
		  '{"name": "welcome", "global": false, "description": "", "subject": "Welcome {{ $.input.name }}",
			"body": "Hello {{name}}, your plan is {{ $.input.plan }}."}', 'message_template_create');
SELECT throws_ok($$SELECT flov7_api.message_template_create('{"name": "bad", "body": "{{ $.input. }}"}')$$, 'PT422', NULL,
				 'message_template_create: an expression that does not parse is refused');
SELECT is(flov7_api.message_template_put('{"name": "welcome2", "body": "Hi {{ $.input.name }}"}') ->> 'body', 'Hi {{ $.input.name }}',
		  'message_template_put creates');
SELECT pg_temp.run(:'a', pg_temp.one('action', '{"action_type": "notification", "type": "welcome", "template": "welcome"}'),
				   '{"name": "Ada", "plan": "pro"}') AS m1 \gset
SELECT is((SELECT title || ' / ' || message FROM flov7.notifications WHERE user_id = :'a' AND type = 'welcome'),
		  'Welcome Ada / Hello Ada, your plan is pro.', 'notification: title and message rendered from the template');
SELECT pg_temp.run(:'a', pg_temp.one('action', '{"action_type": "notification", "type": "welcome2", "template": "welcome", "title": "Mine"}'),
				   '{"name": "Bo", "plan": "free"}') AS m2 \gset
SELECT is((SELECT title || ' / ' || message FROM flov7.notifications WHERE user_id = :'a' AND type = 'welcome2'),
		  'Mine / Hello Bo, your plan is free.', 'notification: the node''s own title beats the template''s');
SELECT pg_temp.run(:'b', pg_temp.one('action', '{"action_type": "notification", "template": "welcome"}')) AS m3 \gset
SELECT is((:'m3'::flov7.workflow_executions).error_message, 'node "n" failed: message template "welcome" not found',
		  'notification: another user''s template is not found, and the error names it');
SELECT pg_temp.run(:'b', pg_temp.one('action', '{"action_type": "email_send", "to": "x@example.com", "template": "welcome_email"}')) AS m4 \gset
SELECT is((:'m4'::flov7.workflow_executions).error_message, 'node "n" failed: message template "welcome_email" not found',
		  'email_send: a missing template fails the step naming it');
SELECT pg_temp.act_as(:'b');
SELECT is((SELECT count(*) FROM flov7.message_templates), 0::bigint, 'RLS: another user''s templates are invisible');
SELECT pg_temp.act_as(:'a');
SELECT is(flov7_api.message_template_delete('{"name": "welcome2"}'), NULL, 'message_template_delete');

SELECT * FROM finish();
ROLLBACK;
