-- 77_named_refs.sql: what a definition names without defining it (issue 6): named JSON schemas
-- ("schema": "user_schema" on a data/validate node) and message templates ("template":
-- "welcome_email" on a notification or email_send node).
--
-- Each row belongs to a user (user_id is in the key, DESIGN.md "Scale"); a row an admin marks
-- is_global is readable by everyone, so one global "user_schema" serves all users.  A step looks
-- a name up as its owner: the owner's own row first, else the global one; a missing name fails
-- the step with an error naming it.

CREATE TABLE flov7.json_schemas (
	user_id		uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	name		text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
	is_global	boolean NOT NULL DEFAULT false,
	description	text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
	schema		jsonb NOT NULL CHECK (jsonb_typeof(schema) = 'object' AND pg_column_size(schema) <= 65536),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, name)
);
COMMENT ON TABLE flov7.json_schemas IS
	'named JSON schemas: a data/validate node''s "schema": "<name>" (the owner''s row, else a global one)';
CREATE UNIQUE INDEX json_schemas_global_name ON flov7.json_schemas (name) WHERE is_global;

CREATE TABLE flov7.message_templates (
	user_id		uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	name		text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
	is_global	boolean NOT NULL DEFAULT false,
	description	text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
	subject		text NOT NULL DEFAULT '' CHECK (length(subject) <= 1000),
	body		text NOT NULL CHECK (length(body) <= 20000),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, name)
);
COMMENT ON TABLE flov7.message_templates IS
	'notification/email templates: a node''s "template": "<name>"; subject and body may hold {{ }} expressions';
CREATE UNIQUE INDEX message_templates_global_name ON flov7.message_templates (name) WHERE is_global;

-- Owner or admin; global rows are read by everyone, and only an admin makes a row global.
ALTER TABLE flov7.json_schemas ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.json_schemas FORCE ROW LEVEL SECURITY;
CREATE POLICY json_schemas_global_read ON flov7.json_schemas FOR SELECT USING (is_global);
CREATE POLICY json_schemas_owner_or_admin ON flov7.json_schemas
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()))
	WITH CHECK ((user_id = (SELECT flov7.caller_id()) AND NOT is_global) OR (SELECT flov7.caller_is_admin()));
ALTER TABLE flov7.message_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.message_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY message_templates_global_read ON flov7.message_templates FOR SELECT USING (is_global);
CREATE POLICY message_templates_owner_or_admin ON flov7.message_templates
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()))
	WITH CHECK ((user_id = (SELECT flov7.caller_id()) AND NOT is_global) OR (SELECT flov7.caller_is_admin()));

SELECT pg_catalog.pg_extension_config_dump('flov7.json_schemas', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.message_templates', '');

-- The schema a step's "schema": "<name>" means, for the caller (the owner): their own, else global.
CREATE FUNCTION flov7.named_schema(p_name text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_schema jsonb;
BEGIN
	SELECT s.schema INTO v_schema FROM flov7.json_schemas s
	 WHERE s.name = p_name AND (s.user_id = flov7.caller_id() OR s.is_global)
	 ORDER BY s.is_global LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'schema "%" not found', p_name USING ERRCODE = 'P0002',
			HINT = 'Create it (PUT /api/v1/workflows/schemas/{name}), or give the schema inline in config.schema.';
	END IF;
	RETURN v_schema;
END
$$;

-- A message template rendered against a step's context: {"subject", "body"}.
CREATE FUNCTION flov7.render_message_template(p_name text, ctx jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_row flov7.message_templates;
BEGIN
	SELECT * INTO v_row FROM flov7.message_templates t
	 WHERE t.name = p_name AND (t.user_id = flov7.caller_id() OR t.is_global)
	 ORDER BY t.is_global LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'message template "%" not found', p_name USING ERRCODE = 'P0002',
			HINT = 'Create it (PUT /api/v1/workflows/message-templates/{name}).';
	END IF;
	RETURN flov7.eval_templates(jsonb_build_object('subject', v_row.subject, 'body', v_row.body), ctx);
END
$$;

CREATE FUNCTION flov7.json_schema_to_json(s flov7.json_schemas) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('name', s.name, 'global', s.is_global, 'description', s.description,
							  'schema', s.schema, 'created_at', s.created_at, 'updated_at', s.updated_at)
$$;

CREATE FUNCTION flov7.message_template_to_json(t flov7.message_templates) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('name', t.name, 'global', t.is_global, 'description', t.description,
							  'subject', t.subject, 'body', t.body, 'created_at', t.created_at, 'updated_at', t.updated_at)
$$;

-- "global": true is an admin's only (403 otherwise).
CREATE FUNCTION flov7.arg_global(args jsonb) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_global boolean := flov7.arg_bool(args, 'global', false, true);
BEGIN
	IF v_global AND NOT flov7.caller_is_admin() THEN
		RAISE EXCEPTION 'only an admin may create a global entry' USING ERRCODE = '42501',
			HINT = 'Leave "global" out: your own entries serve your workflows.';
	END IF;
	RETURN v_global;
END
$$;

-- Every {{ }} expression of a template's text parses (PT422 naming the field otherwise).
CREATE FUNCTION flov7.check_template_text(p_field text, p_text text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	IF strpos(p_text, '{{') > 0 THEN
		PERFORM flov7.compile_template(p_text);
	END IF;
EXCEPTION WHEN OTHERS THEN
	RAISE EXCEPTION '%: %', p_field, SQLERRM USING ERRCODE = 'PT422';
END
$$;

-- GET /workflows/schemas: the caller's schemas and the global ones, by name (keyset: "after").
CREATE FUNCTION flov7_api.schema_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 50, 1, 100);
	v_after text := flov7.arg_text(args, 'after', false, 100);
	v_items jsonb;
BEGIN
	SELECT coalesce(jsonb_agg(flov7.json_schema_to_json(x) ORDER BY x.name, x.is_global), '[]') INTO v_items
	  FROM (SELECT * FROM flov7.json_schemas s
			 WHERE (s.user_id = v_uid OR s.is_global) AND (v_after IS NULL OR s.name > v_after)
			 ORDER BY s.name, s.is_global LIMIT v_limit) x;
	RETURN jsonb_build_object('items', v_items, 'limit', v_limit,
							  'next', CASE WHEN jsonb_array_length(v_items) = v_limit
										   THEN v_items -> (v_limit - 1) -> 'name' END);
END
$$;

-- GET /workflows/schemas/{name}: the schema the caller's workflows get by that name.
CREATE FUNCTION flov7_api.schema_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_name text := flov7.arg_text(args, 'name', true, 100);
	v_row flov7.json_schemas;
BEGIN
	SELECT * INTO v_row FROM flov7.json_schemas s
	 WHERE s.name = v_name AND (s.user_id = v_uid OR s.is_global) ORDER BY s.is_global LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'schema "%" not found', v_name USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.json_schema_to_json(v_row);
END
$$;

-- POST /workflows/schemas: create one (PT409 if the caller already has that name).
-- PUT /workflows/schemas/{name}: create or replace the caller's own.
CREATE FUNCTION flov7.schema_write(args jsonb, p_replace boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_name text := flov7.arg_text(args, 'name', true, 100);
	v_schema jsonb := flov7.arg_object(args, 'schema', true);
	v_description text := coalesce(flov7.arg_text(args, 'description', false, 1000), '');
	v_global boolean := flov7.arg_global(args);
	v_row flov7.json_schemas;
BEGIN
	IF v_name !~ '^[A-Za-z0-9_.-]{1,100}$' THEN
		RAISE EXCEPTION 'name: letters, digits, "_", "." and "-" only' USING ERRCODE = '22023';
	END IF;
	INSERT INTO flov7.json_schemas AS s (user_id, name, is_global, description, schema)
	VALUES (v_uid, v_name, v_global, v_description, v_schema)
	ON CONFLICT (user_id, name) DO NOTHING
	RETURNING * INTO v_row;
	IF NOT FOUND THEN
		IF NOT p_replace THEN
			RAISE EXCEPTION 'schema "%" already exists', v_name USING ERRCODE = 'PT409',
				HINT = 'PUT /api/v1/workflows/schemas/{name} replaces it.';
		END IF;
		UPDATE flov7.json_schemas s SET is_global = v_global, description = v_description, schema = v_schema,
			   updated_at = now()
		 WHERE s.user_id = v_uid AND s.name = v_name RETURNING * INTO v_row;
	END IF;
	RETURN flov7.json_schema_to_json(v_row);
END
$$;

CREATE FUNCTION flov7_api.schema_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	RETURN flov7.schema_write(args, false);
END
$$;

CREATE FUNCTION flov7_api.schema_put(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	RETURN flov7.schema_write(args, true);
END
$$;

-- DELETE /workflows/schemas/{name}: delete the caller's own (a global one is its admin's).
CREATE FUNCTION flov7_api.schema_delete(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_name text := flov7.arg_text(args, 'name', true, 100);
BEGIN
	DELETE FROM flov7.json_schemas s WHERE s.user_id = v_uid AND s.name = v_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'schema "%" not found', v_name USING ERRCODE = 'P0002';
	END IF;
	RETURN NULL;
END
$$;

-- GET /workflows/message-templates: the caller's templates and the global ones, by name.
CREATE FUNCTION flov7_api.message_template_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 50, 1, 100);
	v_after text := flov7.arg_text(args, 'after', false, 100);
	v_items jsonb;
BEGIN
	SELECT coalesce(jsonb_agg(flov7.message_template_to_json(x) ORDER BY x.name, x.is_global), '[]') INTO v_items
	  FROM (SELECT * FROM flov7.message_templates t
			 WHERE (t.user_id = v_uid OR t.is_global) AND (v_after IS NULL OR t.name > v_after)
			 ORDER BY t.name, t.is_global LIMIT v_limit) x;
	RETURN jsonb_build_object('items', v_items, 'limit', v_limit,
							  'next', CASE WHEN jsonb_array_length(v_items) = v_limit
										   THEN v_items -> (v_limit - 1) -> 'name' END);
END
$$;

-- GET /workflows/message-templates/{name}
CREATE FUNCTION flov7_api.message_template_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_name text := flov7.arg_text(args, 'name', true, 100);
	v_row flov7.message_templates;
BEGIN
	SELECT * INTO v_row FROM flov7.message_templates t
	 WHERE t.name = v_name AND (t.user_id = v_uid OR t.is_global) ORDER BY t.is_global LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'message template "%" not found', v_name USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.message_template_to_json(v_row);
END
$$;

CREATE FUNCTION flov7.message_template_write(args jsonb, p_replace boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_name text := flov7.arg_text(args, 'name', true, 100);
	v_body text := flov7.arg_text(args, 'body', true, 20000);
	v_subject text := coalesce(flov7.arg_text(args, 'subject', false, 1000), '');
	v_description text := coalesce(flov7.arg_text(args, 'description', false, 1000), '');
	v_global boolean := flov7.arg_global(args);
	v_row flov7.message_templates;
BEGIN
	IF v_name !~ '^[A-Za-z0-9_.-]{1,100}$' THEN
		RAISE EXCEPTION 'name: letters, digits, "_", "." and "-" only' USING ERRCODE = '22023';
	END IF;
	PERFORM flov7.check_template_text('subject', v_subject);
	PERFORM flov7.check_template_text('body', v_body);
	INSERT INTO flov7.message_templates AS t (user_id, name, is_global, description, subject, body)
	VALUES (v_uid, v_name, v_global, v_description, v_subject, v_body)
	ON CONFLICT (user_id, name) DO NOTHING
	RETURNING * INTO v_row;
	IF NOT FOUND THEN
		IF NOT p_replace THEN
			RAISE EXCEPTION 'message template "%" already exists', v_name USING ERRCODE = 'PT409',
				HINT = 'PUT /api/v1/workflows/message-templates/{name} replaces it.';
		END IF;
		UPDATE flov7.message_templates t SET is_global = v_global, description = v_description, subject = v_subject,
			   body = v_body, updated_at = now()
		 WHERE t.user_id = v_uid AND t.name = v_name RETURNING * INTO v_row;
	END IF;
	RETURN flov7.message_template_to_json(v_row);
END
$$;

CREATE FUNCTION flov7_api.message_template_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	RETURN flov7.message_template_write(args, false);
END
$$;

CREATE FUNCTION flov7_api.message_template_put(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	RETURN flov7.message_template_write(args, true);
END
$$;

CREATE FUNCTION flov7_api.message_template_delete(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_name text := flov7.arg_text(args, 'name', true, 100);
BEGIN
	DELETE FROM flov7.message_templates t WHERE t.user_id = v_uid AND t.name = v_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'message template "%" not found', v_name USING ERRCODE = 'P0002';
	END IF;
	RETURN NULL;
END
$$;

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('GET', '/api/v1/workflows/schemas', 'flov7_api.schema_list', 200, 'List my named JSON schemas and the global ones', 'workflows', true),
	('POST', '/api/v1/workflows/schemas', 'flov7_api.schema_create', 201, 'Create a named JSON schema', 'workflows', false),
	('GET', '/api/v1/workflows/schemas/{name}', 'flov7_api.schema_get', 200, 'Get a named JSON schema', 'workflows', true),
	('PUT', '/api/v1/workflows/schemas/{name}', 'flov7_api.schema_put', 200, 'Create or replace a named JSON schema', 'workflows', false),
	('DELETE', '/api/v1/workflows/schemas/{name}', 'flov7_api.schema_delete', 204, 'Delete a named JSON schema', 'workflows', false),
	('GET', '/api/v1/workflows/message-templates', 'flov7_api.message_template_list', 200, 'List my message templates and the global ones', 'workflows', true),
	('POST', '/api/v1/workflows/message-templates', 'flov7_api.message_template_create', 201, 'Create a message template', 'workflows', false),
	('GET', '/api/v1/workflows/message-templates/{name}', 'flov7_api.message_template_get', 200, 'Get a message template', 'workflows', true),
	('PUT', '/api/v1/workflows/message-templates/{name}', 'flov7_api.message_template_put', 200, 'Create or replace a message template', 'workflows', false),
	('DELETE', '/api/v1/workflows/message-templates/{name}', 'flov7_api.message_template_delete', 204, 'Delete a message template', 'workflows', false);
