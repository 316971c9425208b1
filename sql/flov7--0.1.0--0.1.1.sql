-- flov7 0.1.0 -> 0.1.1: pg_temp last in every pinned search_path, endpoints that are never
-- inlined (so their EXECUTE grant is checked in cached plans), read-only routes.
\echo Use "ALTER EXTENSION flov7 UPDATE TO '0.1.1'" to load this file. \quit

-- Routes say whether frontd may run them again after a lost connection.
ALTER TABLE flov7.routes
	ADD COLUMN read_only boolean NOT NULL DEFAULT false CHECK (NOT read_only OR method = 'GET');
COMMENT ON COLUMN flov7.routes.read_only IS
	'the function changes nothing, so frontd may run it again on another connection when its connection dies before the answer';
UPDATE flov7.routes SET read_only = true
 WHERE method = 'GET' AND function IN (
	'flov7_api.auth_me', 'flov7_api.auth_verify', 'flov7_api.api_key_list', 'flov7_api.users_profile_get',
	'flov7_api.users_stats', 'flov7_api.integration_list', 'flov7_api.integration_get',
	'flov7_api.notification_list', 'flov7_api.admin_user_list', 'flov7_api.admin_stats');

-- A search_path without pg_temp searches the session's temporary schema first for types and
-- tables, so any role with TEMP could plant pg_temp.text and run code as the function's owner.
-- pg_temp goes last in every search_path the extension pins (SECURITY DEFINER or not: an
-- invoker function called from a definer runs with the definer's rights).
DO $pin$
DECLARE
	f record;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure AS fn, substr(c.setting, length('search_path=') + 1) AS path
		  FROM pg_catalog.pg_depend d
		  JOIN pg_catalog.pg_proc p ON p.oid = d.objid
		 CROSS JOIN LATERAL unnest(p.proconfig) AS c(setting)
		 WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
		   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'flov7')
		   AND d.deptype = 'e'
		   AND c.setting LIKE 'search\_path=%'
		   AND c.setting NOT LIKE '%pg\_temp'
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = %s, pg_temp', f.fn, f.path);
	END LOOP;
END
$pin$;

-- LANGUAGE sql endpoints were inlined into the caller's plan, where a cached plan never checks
-- their EXECUTE grant again; a SET clause makes a function non-inlinable.
ALTER FUNCTION flov7_api.auth_me(jsonb) SET search_path = pg_catalog, flov7, pg_temp;
ALTER FUNCTION flov7_api.users_profile_get(jsonb) SET search_path = pg_catalog, flov7, pg_temp;

-- ======== issue 6, workflow definitions: primitives, validator, expressions ========
-- Primitives say which branches they produce and what a run costs; seeded rows are marked
-- builtin and left out of pg_dump (CREATE EXTENSION recreates them).
ALTER TABLE flov7.primitives
	ADD COLUMN branches text[] CHECK (array_position(branches, NULL) IS NULL),
	ADD COLUMN cost_usd numeric(10, 4) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
	ADD COLUMN builtin boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN flov7.primitives.branches IS
	'labels the out-edges of such a node may name (NULL: it does not branch; a switch adds its cases)';
COMMENT ON COLUMN flov7.primitives.cost_usd IS
	'estimated cost in USD of one run of such a node; a workflow''s estimated_cost is the sum over its nodes';
COMMENT ON COLUMN flov7.primitives.builtin IS 'seeded by the extension (pg_dump leaves these rows out)';
ALTER TABLE flov7.workflow_templates ADD COLUMN builtin boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN flov7.workflow_templates.builtin IS 'seeded by the extension (pg_dump leaves these rows out)';
SELECT pg_catalog.pg_extension_config_dump('flov7.primitives', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('flov7.workflow_templates', 'WHERE NOT builtin');

-- Expressions (extension/expr.c): compiled to jsonpath text, evaluated later against a step's
-- context {"input": ..., "nodes": {"<id>": {"output": ...}}, "data": <data flowing in>}.
CREATE FUNCTION flov7.compile_condition(condition text) RETURNS jsonpath
	AS 'MODULE_PATHNAME', 'flov7_compile_condition_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.compile_condition(text) IS
	'compile a condition ("data.valid == true and not (x < 3)") into a jsonpath predicate (22P02 if malformed)';

CREATE FUNCTION flov7.compile_template(template text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'flov7_compile_template_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.compile_template(text) IS
	'compile a template ("Hi {{ user.name }}") into an array of literal strings and {"path": <jsonpath>} (22P02 if malformed)';

-- The validator (extension/validate.c).  It reads flov7.primitives (active rows) as the caller,
-- and parses jsonpath fields under a subtransaction (so it is parallel unsafe).
CREATE FUNCTION flov7.validate_workflow(definition jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'flov7_validate_workflow' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION flov7.validate_workflow(jsonb) IS
	'the problems of a workflow definition: [{"severity","rule","node","edge","message"}], [] when none';

CREATE FUNCTION flov7.check_workflow(definition jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'flov7_check_workflow' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION flov7.check_workflow(jsonb) IS
	'{"valid","is_definition","problems","primitives_count","estimated_cost"} of a workflow definition';

-- The 38 subtypes (sql/parts/16_primitives.sql); a row an admin added before is taken over.
INSERT INTO flov7.primitives (type, subtype, name, description, category, branches,
							  cost_usd, config_schema, input_schema, output_schema, builtin) VALUES
	('trigger', 'webhook', 'Webhook', 'Starts the workflow when an HTTP request arrives at its hook URL; the request body is the input.', 'http', NULL,
	 0, '{"type": "object", "properties": {"endpoint": {"type": "string"}, "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]}, "secret": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'schedule', 'Schedule', 'Starts the workflow on a cron schedule.', 'time', NULL,
	 0, '{"type": "object", "properties": {"cron": {"type": "string"}, "timezone": {"type": "string"}, "input": {"type": "object"}}, "required": ["cron"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'database', 'Database change', 'Starts the workflow when rows of a table change (a trigger a DBA attaches).', 'database', NULL,
	 0, '{"type": "object", "properties": {"table": {"type": "string"}, "events": {"type": "array", "items": {"type": "string", "enum": ["INSERT", "UPDATE", "DELETE"]}}}, "required": ["table"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'manual', 'Manual', 'Starts the workflow when a user runs it (HTTP or SQL); the input is given by the caller.', 'core', NULL,
	 0, '{"type": "object", "properties": {"input_schema": {"type": "object"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'api', 'API call', 'Starts the workflow from POST /workflows/{id}/execute; the input is the request''s input_data.', 'http', NULL,
	 0, '{"type": "object", "properties": {"input_schema": {"type": "object"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'email', 'Incoming email', 'Starts the workflow when an email reaches its address.', 'communication', NULL,
	 0, '{"type": "object", "properties": {"address": {"type": "string"}, "filter": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'sms', 'Incoming SMS', 'Starts the workflow when an SMS reaches its number.', 'communication', NULL,
	 0, '{"type": "object", "properties": {"phone_number": {"type": "string"}, "filter": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'iot', 'IoT event', 'Starts the workflow when a device publishes an event.', 'iot', NULL,
	 0, '{"type": "object", "properties": {"device_id": {"type": "string"}, "topic": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('action', 'ai_process', 'AI processing', 'Sends a prompt built from the node''s data to a language model and returns its answer.', 'ai', NULL,
	 0.0100, '{"type": "object", "properties": {"model": {"type": "string"}, "prompt": {"type": "string"}, "system": {"type": "string"}, "max_tokens": {"type": "integer"}, "temperature": {"type": "number"}}, "required": ["prompt"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"text": {"type": "string"}}, "additionalProperties": true}', true),
	('action', 'api_call', 'HTTP request', 'Calls an HTTP API and returns its status, headers and body.', 'http', NULL,
	 0.0010, '{"type": "object", "properties": {"url": {"type": "string"}, "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]}, "headers": {"type": "object"}, "body": {}, "timeout_ms": {"type": "integer"}}, "required": ["url"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"status": {"type": "integer"}, "headers": {"type": "object"}, "body": {}}, "additionalProperties": true}', true),
	('action', 'email_send', 'Send email', 'Sends an email, from a template or a subject and body.', 'communication', NULL,
	 0.0010, '{"type": "object", "properties": {"to": {"type": ["string", "array"]}, "subject": {"type": "string"}, "body": {"type": "string"}, "template": {"type": "string"}}, "required": ["to"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"message_id": {"type": "string"}}, "additionalProperties": true}', true),
	('action', 'db_query', 'Database query', 'Runs one parameterised SQL statement as the workflow''s owner (read only unless the node says otherwise).', 'database', NULL,
	 0.0002, '{"type": "object", "properties": {"query": {"type": "string"}, "params": {"type": "array"}, "read_only": {"type": "boolean"}, "max_rows": {"type": "integer"}}, "required": ["query"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"rows": {"type": "array"}, "row_count": {"type": "integer"}}, "additionalProperties": true}', true),
	('action', 'notification', 'Notification', 'Creates a notification for the workflow''s owner.', 'communication', NULL,
	 0.0001, '{"type": "object", "properties": {"title": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}, "data": {"type": "object"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"notification_id": {"type": "string"}}, "additionalProperties": true}', true),
	('action', 'transform', 'Transform', 'Builds a new object from templates over the node''s data.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"mapping": {"type": "object"}, "transform_type": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('action', 'wait', 'Wait', 'Pauses the execution for a duration or until a time, without holding a backend.', 'flow', NULL,
	 0, '{"type": "object", "properties": {"duration_seconds": {"type": "number"}, "until": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('action', 'custom', 'Custom SQL function', 'Calls a SQL function an admin has put on the allow-list.', 'core', NULL,
	 0.0005, '{"type": "object", "properties": {"function": {"type": "string"}, "args": {"type": "object"}}, "required": ["function"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('connection', 'gmail', 'Gmail', 'Makes the owner''s Gmail integration available to the next steps.', 'communication', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'slack', 'Slack', 'Makes the owner''s Slack integration available to the next steps.', 'communication', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "channel": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'hubspot', 'HubSpot', 'Makes the owner''s HubSpot integration available to the next steps.', 'crm', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'database', 'Database', 'Makes the owner''s database integration available to the next steps.', 'database', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "database": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'api', 'API', 'Makes the owner''s API integration (base URL and credentials) available to the next steps.', 'http', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "base_url": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'webhook', 'Outgoing webhook', 'Makes the owner''s webhook integration available to the next steps.', 'http', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "url": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'oauth', 'OAuth', 'Makes an OAuth integration''s tokens available to the next steps.', 'auth', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "scopes": {"type": "array", "items": {"type": "string"}}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'api_key', 'API key', 'Makes an API-key integration available to the next steps.', 'auth', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "header": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('condition', 'if_else', 'If / else', 'Takes the "true" or the "false" branch by a condition on the node''s data.', 'logic', '{true,false}',
	 0.0001, '{"type": "object", "properties": {"condition": {"type": "string", "format": "condition"}}, "required": ["condition"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"result": {"type": "boolean"}}, "additionalProperties": true}', true),
	('condition', 'filter', 'Filter', 'Keeps the items of a list for which a condition holds ("true" branch); the others go to the "false" branch.', 'logic', '{true,false}',
	 0.0001, '{"type": "object", "properties": {"condition": {"type": "string", "format": "condition"}, "items": {"type": "string"}}, "required": ["condition"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"items": {"type": "array"}}, "additionalProperties": true}', true),
	('condition', 'switch', 'Switch', 'Takes the branch of the first case whose condition holds (or whose value equals config.value), else "default".', 'logic', '{default}',
	 0.0001, '{"type": "object", "properties": {"value": {}, "cases": {"type": "array", "items": {"type": "object", "properties": {"label": {"type": "string"}, "condition": {"type": "string", "format": "condition"}, "equals": {}}, "required": ["label"], "additionalProperties": true}}}, "required": ["cases"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"branch": {"type": "string"}}, "additionalProperties": true}', true),
	('condition', 'loop', 'Loop', 'Runs the "item" branch once per element of a list (bounded) and collects the results in order on the "done" branch.', 'flow', '{item,done}',
	 0.0001, '{"type": "object", "properties": {"items": {"type": "string"}, "max_iterations": {"type": "integer"}}, "required": ["items"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"items": {"type": "array"}}, "additionalProperties": true}', true),
	('condition', 'compare', 'Compare', 'Compares two values; "true" or "false" branch.', 'logic', '{true,false}',
	 0.0001, '{"type": "object", "properties": {"left": {}, "operator": {"type": "string", "enum": ["==", "!=", "<", "<=", ">", ">=", "contains", "starts_with", "ends_with"]}, "right": {}}, "required": ["left", "operator", "right"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"result": {"type": "boolean"}}, "additionalProperties": true}', true),
	('condition', 'regex', 'Regular expression', 'Matches a value against a regular expression; "true" or "false" branch.', 'logic', '{true,false}',
	 0.0001, '{"type": "object", "properties": {"value": {"type": "string"}, "pattern": {"type": "string", "format": "regex"}, "flags": {"type": "string"}}, "required": ["value", "pattern"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"result": {"type": "boolean"}}, "additionalProperties": true}', true),
	('condition', 'json_path', 'JSON path', 'Evaluates a jsonpath predicate over the step''s context ($.data, $.input, $.nodes); "true" or "false" branch.', 'logic', '{true,false}',
	 0.0001, '{"type": "object", "properties": {"path": {"type": "string", "format": "jsonpath"}}, "required": ["path"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"result": {"type": "boolean"}}, "additionalProperties": true}', true),
	('data', 'mapping', 'Mapping', 'Builds an object whose fields are templates over the node''s data.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"mapping": {"type": "object"}}, "required": ["mapping"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('data', 'transform', 'Transform', 'Reshapes the node''s data (normalize, pick, rename).', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"transform_type": {"type": "string"}, "mapping": {"type": "object"}, "fields": {"type": "array", "items": {"type": "string"}}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('data', 'filter', 'Filter', 'Keeps the elements of a list for which a condition holds.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"condition": {"type": "string", "format": "condition"}, "items": {"type": "string"}}, "required": ["condition"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"items": {"type": "array"}}, "additionalProperties": true}', true),
	('data', 'merge', 'Merge', 'Merges the outputs of its parents (or a loop''s results) into one value.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"strategy": {"type": "string", "enum": ["object", "array", "concat"]}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('data', 'split', 'Split', 'Splits a list into items for the next steps.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"items": {"type": "string"}, "field": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"items": {"type": "array"}}, "additionalProperties": true}', true),
	('data', 'enrich', 'Enrich', 'Adds fields to the node''s data from another node''s output or a lookup.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"source": {"type": "string"}, "key": {"type": "string"}, "fields": {"type": "object"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('data', 'validate', 'Validate', 'Checks the node''s data against a JSON schema (inline, or named); outputs valid and errors.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"schema": {"type": ["string", "object"]}}, "required": ["schema"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"valid": {"type": "boolean"}, "errors": {"type": "array"}, "data": {}}, "additionalProperties": true}', true)
ON CONFLICT (type, subtype) DO UPDATE
   SET name = EXCLUDED.name, description = EXCLUDED.description, category = EXCLUDED.category,
	   branches = EXCLUDED.branches, cost_usd = EXCLUDED.cost_usd, config_schema = EXCLUDED.config_schema,
	   input_schema = EXCLUDED.input_schema, output_schema = EXCLUDED.output_schema, builtin = true;

REVOKE ALL ON FUNCTION
	flov7.compile_condition(text), flov7.compile_template(text),
	flov7.validate_workflow(jsonb), flov7.check_workflow(jsonb)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	flov7.compile_condition(text), flov7.compile_template(text),
	flov7.validate_workflow(jsonb), flov7.check_workflow(jsonb)
	TO flov7_user, flov7_admin;


-- ======== issue 6, workflow CRUD: /primitives, /workflows, /workflows/templates ========
-- A workflow written without a definition gets an empty one, not '{}' (which is none).
ALTER TABLE flov7.workflows ALTER COLUMN workflow_json SET DEFAULT '{"nodes": [], "edges": []}';
--
-- Invoker rights, like the /users endpoints: grants and row level security
-- decide what a caller touches, and every query is scoped to the caller
-- explicitly, so another user's workflow is "not found" even for an admin.
--
-- Saving never loses an editor's work: a definition with problems is stored
-- as a draft and the response says why ("validation"); only a document that
-- is not a definition at all is refused (PT422, every problem in details).

-- The public JSON shape of a workflow.
CREATE FUNCTION flov7.workflow_to_json(w flov7.workflows) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(
		'id', w.id, 'user_id', w.user_id, 'name', w.name, 'description', w.description,
		'workflow_json', w.workflow_json, 'tags', to_jsonb(w.tags), 'is_template', w.is_template,
		'status', w.status, 'primitives_count', w.primitives_count, 'estimated_cost', w.estimated_cost,
		'execution_count', w.execution_count, 'last_executed_at', w.last_executed_at, 'version', w.version,
		'created_at', w.created_at, 'updated_at', w.updated_at)
$$;

-- The public JSON shape of a template.
CREATE FUNCTION flov7.template_to_json(t flov7.workflow_templates) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(
		'id', t.id, 'name', t.name, 'description', t.description, 'category', t.category,
		'difficulty', t.difficulty, 'estimated_time_minutes', t.estimated_time_minutes,
		'workflow_json', t.workflow_json, 'preview_image_url', t.preview_image_url,
		'is_featured', t.is_featured, 'usage_count', t.usage_count, 'created_by', t.created_by,
		'created_at', t.created_at)
$$;

-- The public JSON shape of a primitive.
CREATE FUNCTION flov7.primitive_to_json(p flov7.primitives) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(
		'id', p.id, 'type', p.type, 'subtype', p.subtype, 'name', p.name, 'description', p.description,
		'category', p.category, 'subtype_field', CASE p.type WHEN 'data' THEN 'operation_type' ELSE p.type || '_type' END,
		'config_schema', p.config_schema, 'input_schema', p.input_schema, 'output_schema', p.output_schema,
		'branches', to_jsonb(p.branches), 'cost_usd', p.cost_usd, 'is_active', p.is_active,
		'created_at', p.created_at)
$$;

-- Check a definition; refuse (PT422, every problem in details) what is not a definition at all.
CREATE FUNCTION flov7.workflow_checked(definition jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_check jsonb := flov7.check_workflow(definition);
BEGIN
	IF NOT (v_check ->> 'is_definition')::boolean THEN
		RAISE EXCEPTION 'workflow_json is not a workflow definition'
			USING ERRCODE = 'PT422', DETAIL = (v_check -> 'problems')::text,
				  HINT = 'A definition is a JSON object with "nodes" and "edges" arrays, within the size limits.';
	END IF;
	RETURN v_check;
END
$$;

-- The "validation" member of a response: {"valid", "problems"}.
CREATE FUNCTION flov7.validation_json(p_check jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('valid', p_check -> 'valid', 'problems', p_check -> 'problems')
$$;

-- The status to store: a workflow with problems cannot be active (PT422 if asked), and is kept
-- as a draft (or archived, if it is or is being archived).
CREATE FUNCTION flov7.workflow_status(p_check jsonb, p_requested text, p_current text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF (p_check ->> 'valid')::boolean THEN
		RETURN coalesce(p_requested, p_current, 'draft');
	END IF;
	IF p_requested = 'active' THEN
		RAISE EXCEPTION 'a workflow with problems cannot be active'
			USING ERRCODE = 'PT422', DETAIL = (p_check -> 'problems')::text,
				  HINT = 'Fix every problem with severity "error", then set status to active.';
	END IF;
	IF coalesce(p_requested, p_current) = 'archived' THEN
		RETURN 'archived';
	END IF;
	RETURN 'draft';
END
$$;

-- Read the optional "tags" field: at most 20 distinct non-empty strings of at most 50 characters.
CREATE FUNCTION flov7.arg_tags(args jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v_tags text[] := flov7.arg_text_array(args, 'tags');
	v_out text[] := '{}';
	t text;
BEGIN
	IF v_tags IS NULL THEN
		RETURN NULL;
	END IF;
	FOREACH t IN ARRAY v_tags LOOP
		t := btrim(t);
		IF t = '' OR length(t) > 50 THEN
			RAISE EXCEPTION 'field "tags" must hold non-empty strings of at most 50 characters' USING ERRCODE = '22023';
		END IF;
		IF NOT t = ANY (v_out) THEN
			v_out := v_out || t;
		END IF;
	END LOOP;
	IF cardinality(v_out) > 20 THEN
		RAISE EXCEPTION 'field "tags" holds at most 20 tags' USING ERRCODE = '22023';
	END IF;
	RETURN v_out;
END
$$;

-- The version a writer expects: the body's "version", else the If-Match header; NULL for any.
CREATE FUNCTION flov7.expected_version(args jsonb) RETURNS int
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_version int := flov7.arg_int(args, 'version', NULL, 1);
	v_match text := btrim(flov7.request_header('if-match'));
	m text[];
BEGIN
	IF v_version IS NOT NULL OR v_match IS NULL OR v_match IN ('', '*') THEN
		RETURN v_version;
	END IF;
	m := regexp_match(v_match, '^(W/)?"?([0-9]{1,9})"?$');
	IF m IS NULL THEN
		RAISE EXCEPTION 'header "If-Match" must name a workflow version' USING ERRCODE = '22023',
			DETAIL = format('Got %s.', left(v_match, 40)), HINT = 'Send If-Match: "<version>", e.g. If-Match: "3".';
	END IF;
	RETURN m[2]::int;
END
$$;

-- Refuse a write based on a version that is no longer current (PT409: nothing is changed).
CREATE FUNCTION flov7.check_version(p_expected int, p_current int) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF p_expected IS NOT NULL AND p_expected <> p_current THEN
		RAISE EXCEPTION 'version conflict: the workflow is at version %', p_current
			USING ERRCODE = 'PT409', DETAIL = format('The change was made against version %s.', p_expected),
				  HINT = 'Read the workflow again and apply the change to its current version.';
	END IF;
END
$$;

-- Escape LIKE wildcards so a search string matches itself.
CREATE FUNCTION flov7.like_pattern(search text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT '%' || replace(replace(replace(search, '\', '\\'), '%', '\%'), '_', '\_') || '%'
$$;

-- Count a use of a template (users may not update templates themselves).
CREATE FUNCTION flov7.template_count_use(p_id uuid) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	UPDATE flov7.workflow_templates SET usage_count = usage_count + 1 WHERE id = p_id
$$;

-- GET /primitives: the node types, filtered by type and category.
CREATE FUNCTION flov7_api.primitive_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_types CONSTANT text[] := ARRAY['trigger', 'action', 'connection', 'condition', 'data'];
	v_type text := flov7.arg_enum(args, 'type', v_types, false);
	v_category text := flov7.arg_text(args, 'category', false, 50);
	v_items jsonb;
	v_total bigint;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.primitives p
	 WHERE (v_type IS NULL OR p.type = v_type) AND (v_category IS NULL OR p.category = v_category);
	SELECT coalesce(jsonb_agg(flov7.primitive_to_json(x) ORDER BY array_position(v_types, x.type), x.subtype), '[]')
	  INTO v_items
	  FROM (SELECT * FROM flov7.primitives p
			 WHERE (v_type IS NULL OR p.type = v_type) AND (v_category IS NULL OR p.category = v_category)
			 ORDER BY array_position(v_types, p.type), p.subtype LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset);
END
$$;

-- POST /workflows: create a workflow; a definition with problems is kept as a draft.
CREATE FUNCTION flov7_api.workflow_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_def jsonb := coalesce(args -> 'workflow_json', '{"nodes": [], "edges": []}');
	v_name text := btrim(flov7.arg_text(args, 'name', false, 200));
	v_description text := flov7.arg_text(args, 'description', false, 5000);
	v_tags text[] := coalesce(flov7.arg_tags(args), '{}');
	v_status text := flov7.arg_enum(args, 'status', ARRAY['draft', 'active', 'inactive', 'archived'], false);
	v_is_template boolean := flov7.arg_bool(args, 'is_template', false, true);
	v_check jsonb;
	v_row flov7.workflows;
BEGIN
	v_check := flov7.workflow_checked(v_def);
	-- Definitions of the original platform carry their own name and description.
	IF v_name IS NULL AND jsonb_typeof(v_def -> 'name') = 'string' THEN
		v_name := left(btrim(v_def ->> 'name'), 200);
	END IF;
	IF v_name = '' THEN
		RAISE EXCEPTION 'field "name" must not be empty' USING ERRCODE = '22023';
	END IF;
	IF v_name IS NULL THEN
		RAISE EXCEPTION 'missing required field "name"' USING ERRCODE = '22023',
			HINT = 'Give the workflow a name, in the body or in workflow_json.';
	END IF;
	IF NOT args ? 'description' AND jsonb_typeof(v_def -> 'description') = 'string' THEN
		v_description := left(v_def ->> 'description', 5000);
	END IF;

	INSERT INTO flov7.workflows (user_id, name, description, workflow_json, tags, is_template, status,
								 primitives_count, estimated_cost)
	VALUES (v_uid, v_name, v_description, v_def, v_tags, v_is_template,
			flov7.workflow_status(v_check, v_status, NULL),
			(v_check ->> 'primitives_count')::int, (v_check ->> 'estimated_cost')::numeric)
	RETURNING * INTO v_row;
	RETURN flov7.workflow_to_json(v_row) || jsonb_build_object('validation', flov7.validation_json(v_check));
END
$$;

-- GET /workflows: the caller's workflows, filtered by status, tag and search, sorted.
CREATE FUNCTION flov7_api.workflow_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_status text := flov7.arg_enum(args, 'status', ARRAY['draft', 'active', 'inactive', 'archived'], false);
	v_tag text := flov7.arg_text(args, 'tag', false, 50);
	v_search text := flov7.arg_text(args, 'search', false, 200);
	v_sort text := flov7.arg_enum(args, 'sort_by', ARRAY['created_at', 'updated_at', 'name', 'last_executed_at'],
								  false, 'created_at');
	v_asc boolean := flov7.arg_enum(args, 'sort_order', ARRAY['asc', 'desc'], false, 'desc') = 'asc';
	v_pattern text := flov7.like_pattern(v_search);
	v_items jsonb;
	v_total bigint;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.workflows w
	 WHERE w.user_id = v_uid AND (v_status IS NULL OR w.status = v_status)
	   AND (v_tag IS NULL OR v_tag = ANY (w.tags))
	   AND (v_pattern IS NULL OR w.name ILIKE v_pattern OR w.description ILIKE v_pattern);
	SELECT coalesce(jsonb_agg(flov7.workflow_to_json(x.wf) ORDER BY x.ord), '[]')
	  INTO v_items
	  FROM (SELECT w AS wf, row_number() OVER sorted AS ord
			  FROM flov7.workflows w
			 WHERE w.user_id = v_uid AND (v_status IS NULL OR w.status = v_status)
			   AND (v_tag IS NULL OR v_tag = ANY (w.tags))
			   AND (v_pattern IS NULL OR w.name ILIKE v_pattern OR w.description ILIKE v_pattern)
			WINDOW sorted AS (ORDER BY
				CASE WHEN v_sort = 'name' AND v_asc THEN lower(w.name) END ASC,
				CASE WHEN v_sort = 'name' AND NOT v_asc THEN lower(w.name) END DESC,
				CASE WHEN v_sort = 'created_at' AND v_asc THEN w.created_at END ASC,
				CASE WHEN v_sort = 'created_at' AND NOT v_asc THEN w.created_at END DESC,
				CASE WHEN v_sort = 'updated_at' AND v_asc THEN w.updated_at END ASC,
				CASE WHEN v_sort = 'updated_at' AND NOT v_asc THEN w.updated_at END DESC,
				CASE WHEN v_sort = 'last_executed_at' AND v_asc THEN w.last_executed_at END ASC NULLS LAST,
				CASE WHEN v_sort = 'last_executed_at' AND NOT v_asc THEN w.last_executed_at END DESC NULLS LAST,
				w.id)
			ORDER BY ord LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset);
END
$$;

-- GET /workflows/{id}: one of the caller's workflows, with its validation.
CREATE FUNCTION flov7_api.workflow_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_row flov7.workflows;
BEGIN
	SELECT * INTO v_row FROM flov7.workflows w WHERE w.id = v_id AND w.user_id = v_uid;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.workflow_to_json(v_row)
		|| jsonb_build_object('validation', flov7.validation_json(flov7.check_workflow(v_row.workflow_json)));
END
$$;

-- PUT /workflows/{id}: change name, description, workflow_json, tags, status, is_template.
-- Every change bumps version; a "version" (or If-Match) that is not current is refused (PT409).
CREATE FUNCTION flov7_api.workflow_update(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_expected int := flov7.expected_version(args);
	v_name text := btrim(flov7.arg_text(args, 'name', false, 200));
	v_description text := flov7.arg_text(args, 'description', false, 5000);
	v_tags text[] := flov7.arg_tags(args);
	v_status text := flov7.arg_enum(args, 'status', ARRAY['draft', 'active', 'inactive', 'archived'], false);
	v_is_template boolean := flov7.arg_bool(args, 'is_template', NULL, true);
	v_row flov7.workflows;
	v_def jsonb;
	v_check jsonb;
BEGIN
	IF v_name = '' OR (args ? 'name' AND v_name IS NULL) THEN
		RAISE EXCEPTION 'field "name" must not be empty' USING ERRCODE = '22023';
	END IF;
	SELECT * INTO v_row FROM flov7.workflows w WHERE w.id = v_id AND w.user_id = v_uid FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	PERFORM flov7.check_version(v_expected, v_row.version);

	-- A new definition must be one; a stored one that is not (written before this API) only
	-- keeps the workflow a draft until it is replaced.
	IF args ? 'workflow_json' THEN
		v_def := args -> 'workflow_json';
		v_check := flov7.workflow_checked(v_def);
	ELSE
		v_def := v_row.workflow_json;
		v_check := flov7.check_workflow(v_def);
	END IF;
	UPDATE flov7.workflows w
	   SET name = coalesce(v_name, w.name),
		   description = CASE WHEN args ? 'description' THEN v_description ELSE w.description END,
		   workflow_json = v_def,
		   tags = coalesce(v_tags, w.tags),
		   is_template = coalesce(v_is_template, w.is_template),
		   status = flov7.workflow_status(v_check, v_status, w.status),
		   primitives_count = (v_check ->> 'primitives_count')::int,
		   estimated_cost = (v_check ->> 'estimated_cost')::numeric,
		   version = w.version + 1
	 WHERE w.id = v_id AND w.user_id = v_uid
	RETURNING * INTO v_row;
	RETURN flov7.workflow_to_json(v_row) || jsonb_build_object('validation', flov7.validation_json(v_check));
END
$$;

-- DELETE /workflows/{id}: delete one of the caller's workflows (and its executions).
CREATE FUNCTION flov7_api.workflow_delete(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_expected int := flov7.expected_version(args);
	v_version int;
BEGIN
	SELECT w.version INTO v_version FROM flov7.workflows w WHERE w.id = v_id AND w.user_id = v_uid FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	PERFORM flov7.check_version(v_expected, v_version);
	DELETE FROM flov7.workflows w WHERE w.id = v_id AND w.user_id = v_uid;
	RETURN NULL;
END
$$;

-- GET /workflows/templates: templates, filtered by category, difficulty, is_featured and search.
CREATE FUNCTION flov7_api.template_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_category text := flov7.arg_text(args, 'category', false, 50);
	v_difficulty text := flov7.arg_enum(args, 'difficulty', ARRAY['beginner', 'intermediate', 'advanced'], false);
	v_featured boolean := flov7.arg_bool(args, 'is_featured');
	v_pattern text := flov7.like_pattern(flov7.arg_text(args, 'search', false, 200));
	v_items jsonb;
	v_total bigint;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.workflow_templates t
	 WHERE (v_category IS NULL OR t.category = v_category) AND (v_difficulty IS NULL OR t.difficulty = v_difficulty)
	   AND (v_featured IS NULL OR t.is_featured = v_featured)
	   AND (v_pattern IS NULL OR t.name ILIKE v_pattern OR t.description ILIKE v_pattern);
	SELECT coalesce(jsonb_agg(flov7.template_to_json(x) ORDER BY x.is_featured DESC, lower(x.name), x.id), '[]')
	  INTO v_items
	  FROM (SELECT * FROM flov7.workflow_templates t
			 WHERE (v_category IS NULL OR t.category = v_category) AND (v_difficulty IS NULL OR t.difficulty = v_difficulty)
			   AND (v_featured IS NULL OR t.is_featured = v_featured)
			   AND (v_pattern IS NULL OR t.name ILIKE v_pattern OR t.description ILIKE v_pattern)
			 ORDER BY t.is_featured DESC, lower(t.name), t.id LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset);
END
$$;

-- POST /workflows/templates/{id}/use: a new workflow of the caller's, from a template.
CREATE FUNCTION flov7_api.template_use(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_name text := btrim(flov7.arg_text(args, 'name', false, 200));
	v_tags text[] := coalesce(flov7.arg_tags(args), '{}');
	v_template flov7.workflow_templates;
	v_check jsonb;
	v_row flov7.workflows;
BEGIN
	IF v_name = '' THEN
		RAISE EXCEPTION 'field "name" must not be empty' USING ERRCODE = '22023';
	END IF;
	SELECT * INTO v_template FROM flov7.workflow_templates t WHERE t.id = v_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'template not found' USING ERRCODE = 'P0002';
	END IF;
	v_check := flov7.workflow_checked(v_template.workflow_json);
	INSERT INTO flov7.workflows (user_id, name, description, workflow_json, tags, status,
								 primitives_count, estimated_cost)
	VALUES (v_uid, coalesce(v_name, v_template.name), v_template.description, v_template.workflow_json, v_tags,
			flov7.workflow_status(v_check, NULL, NULL),
			(v_check ->> 'primitives_count')::int, (v_check ->> 'estimated_cost')::numeric)
	RETURNING * INTO v_row;
	PERFORM flov7.template_count_use(v_template.id);
	RETURN flov7.workflow_to_json(v_row)
		|| jsonb_build_object('validation', flov7.validation_json(v_check), 'template_id', v_template.id);
END
$$;

-- The templates (sql/parts/17_templates.sql).
INSERT INTO flov7.workflow_templates (name, description, category, difficulty, estimated_time_minutes,
									  is_featured, workflow_json, builtin) VALUES
	('Review large orders',
	 'Reshapes an order, then notifies you: orders over 100 need a review.',
	 'notifications', 'beginner', 5, true,
	 '{"name": "Review large orders", "description": "Reshapes an order, then notifies you: orders over 100 need a review.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Order received", "config": {"trigger_type": "manual"}}}, {"id": "action_1", "type": "action", "position": {"x": 350, "y": 100}, "data": {"label": "Shape the order", "config": {"action_type": "transform", "mapping": {"order_id": "{{ $.input.order_id }}", "amount": "{{ $.input.amount }}", "customer": "{{ $.input.customer }}"}}}}, {"id": "condition_1", "type": "condition", "position": {"x": 600, "y": 100}, "data": {"label": "Over 100?", "config": {"condition_type": "if_else", "condition": "data.amount > 100"}}}, {"id": "action_2", "type": "action", "position": {"x": 850, "y": 50}, "data": {"label": "Ask for a review", "config": {"action_type": "notification", "title": "Large order to review", "message": "Order {{ data.order_id }} from {{ data.customer }} needs a review.", "type": "order.review"}}}, {"id": "action_3", "type": "action", "position": {"x": 850, "y": 200}, "data": {"label": "Confirm", "config": {"action_type": "notification", "title": "Order received", "message": "Order {{ data.order_id }} was recorded.", "type": "order.received"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "action_1"}, {"id": "edge_2", "source": "action_1", "target": "condition_1"}, {"id": "edge_3", "source": "condition_1", "target": "action_2", "branch": "true"}, {"id": "edge_4", "source": "condition_1", "target": "action_3", "branch": "false"}], "settings": {}}', true),
	('Process a list of items',
	 'Loops over the input items, maps each one, and merges the results into one list.',
	 'data-processing', 'intermediate', 10, true,
	 '{"name": "Process a list of items", "description": "Loops over the input items, maps each one, and merges the results into one list.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Items arrive", "config": {"trigger_type": "manual"}}}, {"id": "condition_1", "type": "condition", "position": {"x": 350, "y": 100}, "data": {"label": "For each item", "config": {"condition_type": "loop", "items": "{{ $.input.items }}", "max_iterations": 1000}}}, {"id": "data_1", "type": "data", "position": {"x": 600, "y": 50}, "data": {"label": "Map one item", "config": {"operation_type": "mapping", "mapping": {"name": "{{ data.name }}", "price": "{{ data.price }}", "currency": "EUR"}}}}, {"id": "data_2", "type": "data", "position": {"x": 600, "y": 200}, "data": {"label": "Collect the results", "config": {"operation_type": "merge", "strategy": "array"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "condition_1"}, {"id": "edge_2", "source": "condition_1", "target": "data_1", "branch": "item"}, {"id": "edge_3", "source": "condition_1", "target": "data_2", "branch": "done"}], "settings": {}}', true),
	('Digest of unread alerts',
	 'Queries your unread notifications, keeps the error alerts, and sends you a digest.',
	 'database', 'intermediate', 10, false,
	 '{"name": "Digest of unread alerts", "description": "Queries your unread notifications, keeps the error alerts, and sends you a digest.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Run the digest", "config": {"trigger_type": "manual"}}}, {"id": "action_1", "type": "action", "position": {"x": 350, "y": 100}, "data": {"label": "Unread notifications", "config": {"action_type": "db_query", "query": "SELECT n.id, n.title, n.type FROM flov7.notifications n WHERE NOT n.is_read ORDER BY n.created_at DESC LIMIT $1", "params": ["{{ $.input.limit }}"], "read_only": true, "max_rows": 100}}}, {"id": "data_1", "type": "data", "position": {"x": 600, "y": 100}, "data": {"label": "Keep error alerts", "config": {"operation_type": "filter", "condition": "data.type == ''error_alert''", "items": "{{ data.rows }}"}}}, {"id": "action_2", "type": "action", "position": {"x": 850, "y": 100}, "data": {"label": "Send the digest", "config": {"action_type": "notification", "title": "Unread error alerts", "message": "Some error alerts are still unread.", "type": "digest", "data": {"alerts": "{{ data.items }}"}}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "action_1"}, {"id": "edge_2", "source": "action_1", "target": "data_1"}, {"id": "edge_3", "source": "data_1", "target": "action_2"}], "settings": {}}', true),
	('Route tickets by priority',
	 'Sends each ticket down the branch of its priority: urgent, normal, or the default.',
	 'routing', 'intermediate', 15, true,
	 '{"name": "Route tickets by priority", "description": "Sends each ticket down the branch of its priority: urgent, normal, or the default.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 150}, "data": {"label": "Ticket created", "config": {"trigger_type": "api"}}}, {"id": "condition_1", "type": "condition", "position": {"x": 350, "y": 150}, "data": {"label": "Priority", "config": {"condition_type": "switch", "cases": [{"label": "urgent", "condition": "data.priority == ''high'' or data.escalated == true"}, {"label": "normal", "condition": "data.priority == ''medium''"}]}}}, {"id": "action_1", "type": "action", "position": {"x": 600, "y": 50}, "data": {"label": "Page someone", "config": {"action_type": "notification", "title": "Urgent ticket", "message": "{{ data.subject }}", "type": "ticket.urgent"}}}, {"id": "action_2", "type": "action", "position": {"x": 600, "y": 150}, "data": {"label": "Queue it", "config": {"action_type": "notification", "title": "New ticket", "message": "{{ data.subject }}", "type": "ticket.normal"}}}, {"id": "data_1", "type": "data", "position": {"x": 600, "y": 250}, "data": {"label": "Tag as low priority", "config": {"operation_type": "transform", "transform_type": "normalize"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "condition_1"}, {"id": "edge_2", "source": "condition_1", "target": "action_1", "branch": "urgent"}, {"id": "edge_3", "source": "condition_1", "target": "action_2", "branch": "normal"}, {"id": "edge_4", "source": "condition_1", "target": "data_1", "branch": "default"}], "settings": {}}', true),
	('Validate incoming data',
	 'Checks the input against a JSON schema; valid data is normalized, invalid data raises an alert.',
	 'validation', 'beginner', 5, false,
	 '{"name": "Validate incoming data", "description": "Checks the input against a JSON schema; valid data is normalized, invalid data raises an alert.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Data arrives", "config": {"trigger_type": "manual"}}}, {"id": "data_1", "type": "data", "position": {"x": 350, "y": 100}, "data": {"label": "Validate", "config": {"operation_type": "validate", "schema": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}, "age": {"type": "integer"}}}}}}, {"id": "condition_1", "type": "condition", "position": {"x": 600, "y": 100}, "data": {"label": "Valid?", "config": {"condition_type": "if_else", "condition": "data.valid == true"}}}, {"id": "data_2", "type": "data", "position": {"x": 850, "y": 50}, "data": {"label": "Normalize", "config": {"operation_type": "transform", "transform_type": "normalize"}}}, {"id": "action_1", "type": "action", "position": {"x": 850, "y": 200}, "data": {"label": "Alert", "config": {"action_type": "notification", "title": "Invalid data", "message": "Data failed validation.", "type": "error_alert"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "data_1"}, {"id": "edge_2", "source": "data_1", "target": "condition_1"}, {"id": "edge_3", "source": "condition_1", "target": "data_2", "branch": "true"}, {"id": "edge_4", "source": "condition_1", "target": "action_1", "branch": "false"}], "settings": {}}', true),
	('Reminder after a delay',
	 'Waits for the delay you give, then sends you the reminder (a durable timer: no process sleeps).',
	 'scheduling', 'beginner', 3, false,
	 '{"name": "Reminder after a delay", "description": "Waits for the delay you give, then sends you the reminder (a durable timer: no process sleeps).", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Set a reminder", "config": {"trigger_type": "manual"}}}, {"id": "action_1", "type": "action", "position": {"x": 350, "y": 100}, "data": {"label": "Wait", "config": {"action_type": "wait", "duration_seconds": "{{ $.input.delay_seconds }}"}}}, {"id": "action_2", "type": "action", "position": {"x": 600, "y": 100}, "data": {"label": "Remind", "config": {"action_type": "notification", "title": "Reminder", "message": "{{ $.input.message }}", "type": "reminder"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "action_1"}, {"id": "edge_2", "source": "action_1", "target": "action_2"}], "settings": {}}', true),
	('Tag contacts by email domain',
	 'Tags a contact internal or external by a regular expression on its email, then joins both branches.',
	 'routing', 'advanced', 10, false,
	 '{"name": "Tag contacts by email domain", "description": "Tags a contact internal or external by a regular expression on its email, then joins both branches.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Contact added", "config": {"trigger_type": "manual"}}}, {"id": "condition_1", "type": "condition", "position": {"x": 350, "y": 100}, "data": {"label": "Company address?", "config": {"condition_type": "regex", "value": "{{ $.input.email }}", "pattern": "@example\\.com$", "flags": "i"}}}, {"id": "data_1", "type": "data", "position": {"x": 600, "y": 50}, "data": {"label": "Internal", "config": {"operation_type": "mapping", "mapping": {"email": "{{ $.input.email }}", "tag": "internal"}}}}, {"id": "data_2", "type": "data", "position": {"x": 600, "y": 200}, "data": {"label": "External", "config": {"operation_type": "mapping", "mapping": {"email": "{{ $.input.email }}", "tag": "external"}}}}, {"id": "data_3", "type": "data", "position": {"x": 850, "y": 100}, "data": {"label": "Join", "config": {"operation_type": "merge", "strategy": "object"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "condition_1"}, {"id": "edge_2", "source": "condition_1", "target": "data_1", "branch": "true"}, {"id": "edge_3", "source": "condition_1", "target": "data_2", "branch": "false"}, {"id": "edge_4", "source": "data_1", "target": "data_3"}, {"id": "edge_5", "source": "data_2", "target": "data_3"}], "settings": {}}', true);

-- Routes (sql/parts/75_workflow_routes.sql).
INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('GET', '/api/v1/primitives', 'flov7_api.primitive_list', 200, 'List the node types (primitives)', 'workflows', true),
	('POST', '/api/v1/workflows', 'flov7_api.workflow_create', 201, 'Create a workflow', 'workflows', false),
	('GET', '/api/v1/workflows', 'flov7_api.workflow_list', 200, 'List my workflows', 'workflows', true),
	('GET', '/api/v1/workflows/{id}', 'flov7_api.workflow_get', 200, 'Get a workflow and its validation', 'workflows', true),
	('PUT', '/api/v1/workflows/{id}', 'flov7_api.workflow_update', 200, 'Update a workflow (bumps its version)', 'workflows', false),
	('DELETE', '/api/v1/workflows/{id}', 'flov7_api.workflow_delete', 204, 'Delete a workflow', 'workflows', false),
	('GET', '/api/v1/workflows/templates', 'flov7_api.template_list', 200, 'List workflow templates', 'templates', true),
	('POST', '/api/v1/workflows/templates/{id}/use', 'flov7_api.template_use', 201, 'Create a workflow from a template', 'templates', false);

REVOKE ALL ON FUNCTION
	flov7_api.primitive_list(jsonb), flov7_api.workflow_create(jsonb), flov7_api.workflow_list(jsonb),
	flov7_api.workflow_get(jsonb), flov7_api.workflow_update(jsonb), flov7_api.workflow_delete(jsonb),
	flov7_api.template_list(jsonb), flov7_api.template_use(jsonb),
	flov7.workflow_to_json(flov7.workflows), flov7.template_to_json(flov7.workflow_templates),
	flov7.primitive_to_json(flov7.primitives), flov7.workflow_checked(jsonb), flov7.validation_json(jsonb),
	flov7.workflow_status(jsonb, text, text), flov7.arg_tags(jsonb), flov7.expected_version(jsonb),
	flov7.check_version(int, int), flov7.like_pattern(text), flov7.template_count_use(uuid)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	flov7_api.primitive_list(jsonb), flov7_api.workflow_create(jsonb), flov7_api.workflow_list(jsonb),
	flov7_api.workflow_get(jsonb), flov7_api.workflow_update(jsonb), flov7_api.workflow_delete(jsonb),
	flov7_api.template_list(jsonb), flov7_api.template_use(jsonb)
	TO flov7_user, flov7_admin;

GRANT EXECUTE ON FUNCTION
	flov7.compile_condition(text), flov7.compile_template(text),
	flov7.validate_workflow(jsonb), flov7.check_workflow(jsonb),
	flov7.workflow_to_json(flov7.workflows), flov7.template_to_json(flov7.workflow_templates),
	flov7.primitive_to_json(flov7.primitives), flov7.workflow_checked(jsonb), flov7.validation_json(jsonb),
	flov7.workflow_status(jsonb, text, text), flov7.arg_tags(jsonb), flov7.expected_version(jsonb),
	flov7.check_version(int, int), flov7.like_pattern(text), flov7.template_count_use(uuid)
	TO flov7_user, flov7_admin;
