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
