-- 11_workflows_api.sql: workflow CRUD: shapes, drafts on problems, 422, versions and 409, RLS, quotas, scopes.
BEGIN;
SELECT plan(92);
\ir helpers.psql

SELECT pg_temp.mkuser('wf.a@pgtap.test') AS a \gset
SELECT pg_temp.mkuser('wf.b@pgtap.test') AS b \gset
SELECT pg_temp.mkuser('wf.admin@pgtap.test', 'admin') AS adm \gset

-- The original platform's pipeline (valid, one warning), with free extra keys everywhere.
SELECT $${"name": "Data Processing Pipeline", "description": "Process incoming data with validation and transformation",
	"generated_at": "2024-01-01T00:00:00Z", "metadata": {"ai_model": "gpt-4", "tokens": 812},
	"nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100},
			   "data": {"label": "Data Upload", "config": {"trigger_type": "webhook", "endpoint": "/upload", "x_extra": [1, {"k": null}]}}},
			  {"id": "data_1", "type": "data", "position": {"x": 400, "y": 100},
			   "data": {"label": "Validate Data", "config": {"operation_type": "validate", "schema": "user_schema"}}},
			  {"id": "condition_1", "type": "condition", "position": {"x": 700, "y": 100},
			   "data": {"label": "Check Validity", "config": {"condition_type": "if_else", "condition": "data.valid == true"}}},
			  {"id": "data_2", "type": "data", "position": {"x": 1000, "y": 50},
			   "data": {"label": "Process Valid Data", "config": {"operation_type": "transform", "transform_type": "normalize"}}},
			  {"id": "action_1", "type": "action", "position": {"x": 1000, "y": 150},
			   "data": {"label": "Handle Invalid Data", "config": {"action_type": "notification", "type": "error_alert"}}}],
	"edges": [{"id": "edge_1", "source": "trigger_1", "target": "data_1", "sourceHandle": "output", "targetHandle": "input"},
			  {"id": "edge_2", "source": "data_1", "target": "condition_1"},
			  {"id": "edge_3", "source": "condition_1", "target": "data_2"}, {"id": "edge_4", "source": "condition_1", "target": "action_1"}]}$$
	AS pipeline \gset
-- A definition with a cycle and an unknown subtype.
SELECT $${"nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}},
					{"id": "a", "type": "action", "data": {"config": {"action_type": "transform"}}},
					{"id": "b", "type": "action", "data": {"config": {"action_type": "teleport"}}}],
		  "edges": [{"id": "e1", "source": "t", "target": "a"}, {"id": "e2", "source": "a", "target": "b"},
					{"id": "e3", "source": "b", "target": "a"}]}$$ AS broken \gset
SELECT '{"nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}}], "edges": []}' AS tiny \gset

-- Create.
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.workflow_create(jsonb_build_object('workflow_json', :'pipeline'::jsonb, 'tags', '["etl", "etl", " demo "]'::jsonb,
		'primitives_count', 99, 'estimated_cost', 1000, 'version', 7, 'execution_count', 5, 'user_id', :'b')) AS w1 \gset
SELECT ok(:'w1'::jsonb ?& ARRAY['id', 'user_id', 'name', 'description', 'workflow_json', 'tags', 'is_template', 'status',
							   'primitives_count', 'estimated_cost', 'execution_count', 'last_executed_at', 'version',
							   'created_at', 'updated_at', 'validation'], 'create returns the Workflow shape and its validation');
SELECT is(:'w1'::jsonb -> 'workflow_json', :'pipeline'::jsonb, 'the definition is kept exactly: positions, handles, extra keys');
SELECT is(:'w1'::jsonb ->> 'name', 'Data Processing Pipeline', 'name and description default to the definition''s');
SELECT is(:'w1'::jsonb ->> 'description', 'Process incoming data with validation and transformation', 'description from the definition');
SELECT is(:'w1'::jsonb ->> 'user_id', :'a', 'the owner is the caller, whatever the body says');
SELECT is((:'w1'::jsonb ->> 'primitives_count')::int, 5, 'primitives_count is computed, never taken from the client');
SELECT is((:'w1'::jsonb ->> 'estimated_cost')::numeric, 0.0004, 'estimated_cost is computed from the primitives');
SELECT is((:'w1'::jsonb ->> 'version')::int, 1, 'a new workflow is at version 1');
SELECT is((:'w1'::jsonb ->> 'execution_count')::int, 0, 'execution_count is not taken from the client');
SELECT is(:'w1'::jsonb -> 'tags', '["etl", "demo"]', 'tags are trimmed and de-duplicated');
SELECT is(:'w1'::jsonb ->> 'status', 'draft', 'a new workflow is a draft by default');
SELECT is(:'w1'::jsonb -> 'validation' -> 'valid', 'true', 'valid: warnings only');
SELECT is(:'w1'::jsonb -> 'validation' -> 'problems' -> 0 ->> 'rule', 'implicit_branches', 'the warnings are returned');

SELECT flov7_api.workflow_create(jsonb_build_object('name', ' Broken ', 'workflow_json', :'broken'::jsonb, 'status', 'inactive')) AS w2 \gset
SELECT is(:'w2'::jsonb ->> 'status', 'draft', 'a definition with problems is stored as a draft');
SELECT is(:'w2'::jsonb ->> 'name', 'Broken', 'names are trimmed');
SELECT is(:'w2'::jsonb -> 'validation' -> 'valid', 'false', 'and the response says it is not valid');
SELECT is((SELECT array_agg(p ->> 'rule' ORDER BY p ->> 'rule') FROM jsonb_array_elements(:'w2'::jsonb -> 'validation' -> 'problems') p),
		  ARRAY['cycle', 'unknown_subtype'], 'with every problem');
SELECT is(:'w2'::jsonb -> 'workflow_json', :'broken'::jsonb, 'the broken definition is kept as sent (nothing is lost)');

SELECT flov7_api.workflow_create(jsonb_build_object('name', 'Live', 'workflow_json', :'tiny'::jsonb, 'status', 'active',
		'description', 'runs', 'tags', '["prod"]'::jsonb, 'is_template', true)) AS w3 \gset
SELECT is(:'w3'::jsonb ->> 'status', 'active', 'a valid workflow may be created active');
SELECT is(:'w3'::jsonb -> 'is_template', 'true', 'is_template is kept');
SELECT flov7_api.workflow_create('{"name": "Empty"}') AS w4 \gset
SELECT is(:'w4'::jsonb -> 'workflow_json', '{"nodes": [], "edges": []}', 'no workflow_json: an empty definition');
SELECT is(:'w4'::jsonb -> 'validation' -> 'problems' -> 0 ->> 'rule', 'no_trigger', 'which has no trigger');

-- 422: active with problems, and what is not a definition at all.
SELECT throws_ok(format('SELECT flov7_api.workflow_create(%L)', jsonb_build_object('name', 'x', 'workflow_json', :'broken'::jsonb,
				 'status', 'active')), 'PT422', 'a workflow with problems cannot be active', 'active with problems: PT422');
CREATE FUNCTION pg_temp.error_detail(p_sql text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	v_detail text;
BEGIN
	EXECUTE p_sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
	RETURN v_detail::jsonb;
END
$$;
SELECT is(pg_temp.error_detail(format('SELECT flov7_api.workflow_create(%L)', jsonb_build_object('name', 'x',
		  'workflow_json', :'broken'::jsonb, 'status', 'active'))), flov7.validate_workflow(:'broken'),
		  'the 422 lists every problem in details (JSON), not only the first');
SELECT throws_ok($$SELECT flov7_api.workflow_create('{"name": "x", "workflow_json": [1, 2]}')$$, 'PT422',
				 'workflow_json is not a workflow definition', 'not an object: PT422');
SELECT is((SELECT array_agg(p ->> 'rule' ORDER BY p ->> 'rule')
			 FROM jsonb_array_elements(pg_temp.error_detail($$SELECT flov7_api.workflow_create('{"name": "x", "workflow_json": {"nodes": {}, "edges": "no"}}')$$)) p),
		  ARRAY['edges_not_array', 'nodes_not_array'], 'not a definition: every problem in details');
SELECT throws_ok($$SELECT flov7_api.workflow_create('{"name": "x", "workflow_json": null}')$$, 'PT422', NULL,
				 'workflow_json null: PT422');
SELECT throws_ok(format('SELECT flov7_api.workflow_create(%L)', jsonb_build_object('name', 'x', 'workflow_json',
				 jsonb_build_object('nodes', (SELECT jsonb_agg(jsonb_build_object('id', 'n' || i)) FROM generate_series(1, 501) i),
									'edges', '[]'::jsonb))), 'PT422', NULL, 'over the node limit: PT422');
SELECT throws_ok($$SELECT flov7_api.workflow_create('{"workflow_json": {"nodes": [], "edges": []}}')$$, '22023',
				 'missing required field "name"', 'a name is required (body or definition)');
SELECT throws_ok($$SELECT flov7_api.workflow_create('{"name": "  "}')$$, '22023', 'field "name" must not be empty', 'blank name');
SELECT throws_ok($$SELECT flov7_api.workflow_create('{"name": "x", "status": "running"}')$$, '22023', NULL, 'bad status');
SELECT throws_ok($$SELECT flov7_api.workflow_create('{"name": "x", "tags": "a,b"}')$$, '22023', NULL, 'tags must be an array');
SELECT throws_ok($$SELECT flov7_api.workflow_create('{"name": "x", "tags": [""]}')$$, '22023', NULL, 'empty tags');
SELECT throws_ok($$SELECT flov7_api.workflow_create('{"name": "x", "is_template": "yes"}')$$, '22023', NULL, 'is_template must be a boolean');

-- Get.
SELECT is(flov7_api.workflow_get(jsonb_build_object('id', :'w1'::jsonb ->> 'id')) - 'validation', :'w1'::jsonb - 'validation',
		  'get returns what create returned');
SELECT is(flov7_api.workflow_get(jsonb_build_object('id', :'w2'::jsonb ->> 'id')) -> 'validation', :'w2'::jsonb -> 'validation',
		  'get carries the validation too');
SELECT throws_ok($$SELECT flov7_api.workflow_get('{"id": "7"}')$$, '22P02', NULL, 'a bad id is 22P02');
SELECT throws_ok(format('SELECT flov7_api.workflow_get(%L)', jsonb_build_object('id', gen_random_uuid())), 'P0002',
				 'workflow not found', 'an unknown id is P0002');

-- List (one transaction has one now(): spread the creation times first).
SELECT pg_temp.act_dba();
UPDATE flov7.workflows SET created_at = now() - interval '1 minute' * (5 - o.n),
	   last_executed_at = CASE WHEN o.n = 1 THEN now() END
  FROM (VALUES (1, :'w1'::jsonb ->> 'id'), (2, :'w2'::jsonb ->> 'id'), (3, :'w3'::jsonb ->> 'id'), (4, :'w4'::jsonb ->> 'id')) AS o (n, id)
 WHERE workflows.id = o.id::uuid;
SELECT pg_temp.act_as(:'a');
SELECT is((flov7_api.workflow_list('{}') ->> 'total')::int, 4, 'list: the caller''s four workflows');
SELECT ok(flov7_api.workflow_list('{}') ?& ARRAY['items', 'total', 'limit', 'offset'], 'list shape');
SELECT is(flov7_api.workflow_list('{}') -> 'items' -> 0 ->> 'id', :'w4'::jsonb ->> 'id', 'newest first by default');
SELECT is(flov7_api.workflow_list('{"status": "active"}') -> 'items' -> 0 ->> 'id', :'w3'::jsonb ->> 'id', 'filter by status');
SELECT is((flov7_api.workflow_list('{"tag": "etl"}') ->> 'total')::int, 1, 'filter by tag');
SELECT is((flov7_api.workflow_list('{"search": "PIPE"}') ->> 'total')::int, 1, 'search the name, case-insensitively');
SELECT is((flov7_api.workflow_list('{"search": "runs"}') ->> 'total')::int, 1, 'search the description');
SELECT is((flov7_api.workflow_list('{"search": "%"}') ->> 'total')::int, 0, 'LIKE wildcards in a search match themselves');
SELECT is((SELECT array_agg(i ->> 'name') FROM jsonb_array_elements(flov7_api.workflow_list('{"sort_by": "name", "sort_order": "asc"}') -> 'items') i),
		  ARRAY['Broken', 'Data Processing Pipeline', 'Empty', 'Live'], 'sort by name ascending');
SELECT is((SELECT array_agg(i ->> 'name') FROM jsonb_array_elements(flov7_api.workflow_list('{"sort_by": "name", "sort_order": "desc", "limit": "2", "offset": "1"}') -> 'items') i),
		  ARRAY['Empty', 'Data Processing Pipeline'], 'sort by name descending, with limit and offset');
SELECT is(flov7_api.workflow_list('{"sort_by": "last_executed_at", "sort_order": "asc"}') -> 'items' -> 0 ->> 'id', :'w1'::jsonb ->> 'id',
		  'sort by last_executed_at, never-run workflows last');
SELECT throws_ok($$SELECT flov7_api.workflow_list('{"sort_by": "id; drop table x"}')$$, '22023', NULL, 'sort_by is an enum');
SELECT throws_ok($$SELECT flov7_api.workflow_list('{"sort_order": "up"}')$$, '22023', NULL, 'sort_order is asc|desc');
SELECT throws_ok($$SELECT flov7_api.workflow_list('{"limit": 0}')$$, '22023', NULL, 'limit is 1..100');
SELECT throws_ok($$SELECT flov7_api.workflow_list('{"status": "on"}')$$, '22023', NULL, 'status filter is an enum');

-- Update: version bump, optimistic concurrency, drafts.
SELECT flov7_api.workflow_update(jsonb_build_object('id', :'w3'::jsonb ->> 'id', 'name', 'Live 2', 'version', 1)) AS u \gset
SELECT is((:'u'::jsonb ->> 'version')::int, 2, 'update bumps the version');
SELECT is(:'u'::jsonb ->> 'description', 'runs', 'fields not sent are kept');
SELECT is(:'u'::jsonb ->> 'status', 'active', 'status is kept');
SELECT throws_ok(format('SELECT flov7_api.workflow_update(%L)', jsonb_build_object('id', :'w3'::jsonb ->> 'id', 'name', 'stale', 'version', 1)),
				 'PT409', 'version conflict: the workflow is at version 2', 'a stale version is PT409');
SELECT is(flov7_api.workflow_get(jsonb_build_object('id', :'w3'::jsonb ->> 'id')) ->> 'name', 'Live 2', 'and nothing changed');
SELECT set_config('request.headers', '{"if-match": "W/\"1\""}', true) IS NOT NULL AS h \gset
SELECT throws_ok(format('SELECT flov7_api.workflow_update(%L)', jsonb_build_object('id', :'w3'::jsonb ->> 'id', 'name', 'stale')),
				 'PT409', NULL, 'a stale If-Match is PT409 too');
SELECT set_config('request.headers', '{"if-match": "\"2\""}', true) IS NOT NULL AS h \gset
SELECT is(flov7_api.workflow_update(jsonb_build_object('id', :'w3'::jsonb ->> 'id', 'tags', '[]'::jsonb)) -> 'tags', '[]',
		  'a current If-Match is accepted');
SELECT set_config('request.headers', '{"if-match": "yesterday"}', true) IS NOT NULL AS h \gset
SELECT throws_ok(format('SELECT flov7_api.workflow_update(%L)', jsonb_build_object('id', :'w3'::jsonb ->> 'id')),
				 '22023', NULL, 'a malformed If-Match is 22023');
SELECT set_config('request.headers', '', true) IS NOT NULL AS h \gset

SELECT throws_ok(format('SELECT flov7_api.workflow_update(%L)', jsonb_build_object('id', :'w2'::jsonb ->> 'id', 'status', 'active')),
				 'PT422', 'a workflow with problems cannot be active', 'activating a workflow with problems: PT422');
SELECT is(pg_temp.error_detail(format('SELECT flov7_api.workflow_update(%L)', jsonb_build_object('id', :'w2'::jsonb ->> 'id', 'status', 'active'))),
		  flov7.validate_workflow(:'broken'), 'listing every problem');
SELECT flov7_api.workflow_update(jsonb_build_object('id', :'w3'::jsonb ->> 'id', 'workflow_json', :'broken'::jsonb)) AS u \gset
SELECT is(:'u'::jsonb ->> 'status', 'draft', 'an active workflow given problems becomes a draft');
SELECT is(:'u'::jsonb -> 'validation' -> 'valid', 'false', 'and the response says why');
SELECT is((:'u'::jsonb ->> 'primitives_count')::int, 3, 'primitives_count follows the definition');
SELECT is((flov7_api.workflow_update(jsonb_build_object('id', :'w3'::jsonb ->> 'id', 'status', 'archived')) ->> 'status'),
		  'archived', 'a workflow with problems may be archived');
SELECT flov7_api.workflow_update(jsonb_build_object('id', :'w3'::jsonb ->> 'id', 'workflow_json', :'tiny'::jsonb, 'status', 'active',
		'description', NULL)) AS u \gset
SELECT is(:'u'::jsonb ->> 'status', 'active', 'fixed, it can be activated');
SELECT is(:'u'::jsonb -> 'description', 'null', 'description can be cleared');
SELECT is((:'u'::jsonb ->> 'version')::int, 6, 'every update bumped the version');
SELECT throws_ok(format('SELECT flov7_api.workflow_update(%L)', jsonb_build_object('id', :'w3'::jsonb ->> 'id', 'workflow_json', '"x"'::jsonb)),
				 'PT422', 'workflow_json is not a workflow definition', 'update with what is not a definition: PT422');
SELECT is((flov7_api.workflow_get(jsonb_build_object('id', :'w3'::jsonb ->> 'id')) ->> 'version')::int, 6, 'and nothing changed');
SELECT throws_ok(format('SELECT flov7_api.workflow_update(%L)', jsonb_build_object('id', :'w3'::jsonb ->> 'id', 'name', '')),
				 '22023', NULL, 'an empty name');

-- A workflow written by a DBA: the default definition is an empty one; one that is not a definition
-- (0.1.0's default was '{}') keeps the workflow a draft but does not block other changes.
SELECT pg_temp.act_dba();
INSERT INTO flov7.workflows (user_id, name) VALUES (:'a', 'by dba') RETURNING id AS dba_wf, workflow_json AS dba_json \gset
SELECT is(:'dba_json'::jsonb, '{"nodes": [], "edges": []}', 'the column default is an empty definition');
UPDATE flov7.workflows SET workflow_json = '{}' WHERE id = :'dba_wf';
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.workflow_update(jsonb_build_object('id', :'dba_wf', 'name', 'renamed', 'status', 'inactive')) AS u \gset
SELECT is(ARRAY[:'u'::jsonb ->> 'name', :'u'::jsonb ->> 'status', :'u'::jsonb -> 'validation' -> 'problems' -> 0 ->> 'rule'],
		  ARRAY['renamed', 'draft', 'nodes_not_array'], 'a stored non-definition: the update applies, the workflow stays a draft');
SELECT is(flov7_api.workflow_delete(jsonb_build_object('id', :'dba_wf')), NULL, 'and it can be deleted');

-- Another user: invisible, untouchable; an admin's own lists stay their own.
SELECT pg_temp.act_as(:'b');
SELECT throws_ok(format('SELECT flov7_api.workflow_get(%L)', jsonb_build_object('id', :'w1'::jsonb ->> 'id')), 'P0002', NULL,
				 'B cannot read A''s workflow (404)');
SELECT throws_ok(format('SELECT flov7_api.workflow_update(%L)', jsonb_build_object('id', :'w1'::jsonb ->> 'id', 'name', 'mine')), 'P0002', NULL,
				 'B cannot update A''s workflow (404)');
SELECT throws_ok(format('SELECT flov7_api.workflow_delete(%L)', jsonb_build_object('id', :'w1'::jsonb ->> 'id')), 'P0002', NULL,
				 'B cannot delete A''s workflow (404)');
SELECT is((flov7_api.workflow_list('{}') ->> 'total')::int, 0, 'B lists none of A''s workflows');
SELECT is((SELECT count(*) FROM flov7.workflows), 0::bigint, 'row level security hides A''s rows from B''s own queries');
SELECT pg_temp.act_as(:'adm');
SELECT is((flov7_api.workflow_list('{}') ->> 'total')::int, 0, 'an admin''s list holds the admin''s own workflows');
SELECT pg_temp.act_dba();
SELECT is((SELECT count(*) FROM flov7.workflows WHERE user_id = :'a' AND name = 'mine'), 0::bigint, 'nothing of A''s changed');

-- Scopes.
SELECT pg_temp.act_with_key(pg_temp.mkkey(:'a', ARRAY['workflows:read']));
SELECT is((flov7_api.workflow_list('{}') ->> 'total')::int, 4, 'a workflows:read key lists');
SELECT throws_ok($$SELECT flov7_api.workflow_create('{"name": "k"}')$$, '42501', 'permission denied: "workflows:write" is required',
				 'a workflows:read key cannot create');
SELECT pg_temp.act_with_key(pg_temp.mkkey(:'a', ARRAY['profile:read']));
SELECT throws_ok($$SELECT flov7_api.workflow_list('{}')$$, '42501', 'permission denied: "workflows:read" is required',
				 'a key without workflows:read cannot list');

-- Delete.
SELECT pg_temp.act_as(:'a');
SELECT throws_ok(format('SELECT flov7_api.workflow_delete(%L)', jsonb_build_object('id', :'w4'::jsonb ->> 'id', 'version', 3)),
				 'PT409', NULL, 'delete with a stale version is PT409');
SELECT is(flov7_api.workflow_delete(jsonb_build_object('id', :'w4'::jsonb ->> 'id')), NULL, 'delete answers NULL (204)');
SELECT throws_ok(format('SELECT flov7_api.workflow_delete(%L)', jsonb_build_object('id', :'w4'::jsonb ->> 'id')), 'P0002', NULL,
				 'deleted is gone');

-- Quota: a free plan holds 10 workflows.
SELECT lives_ok($$SELECT flov7_api.workflow_create(jsonb_build_object('name', 'q' || i)) FROM generate_series(1, 7) i$$,
				'up to the quota');
SELECT throws_ok($$SELECT flov7_api.workflow_create('{"name": "one too many"}')$$, '53400',
				 'plan quota exceeded: at most 10 workflows on plan "free"', 'past max_workflows: 53400 naming the limit');

-- Audit.
SELECT pg_temp.act_dba();
SELECT is((SELECT count(*) FROM flov7.audit_logs WHERE table_name = 'workflows' AND record_id = (:'w3'::jsonb ->> 'id')::uuid
		   AND action = 'update'), 6::bigint, 'every update is audited (5 through the API, 1 by the DBA)');

SELECT * FROM finish();
ROLLBACK;
