-- 65_workflows_api.sql: /primitives, /workflows and /workflows/templates.
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

-- GET /primitives: the node types, filtered by type and category, in the order of the five
-- types, then by subtype; a page by offset or by cursor (22_lists.sql).
CREATE FUNCTION flov7_api.primitive_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_type text := flov7.arg_enum(args, 'type', ARRAY['trigger', 'action', 'connection', 'condition', 'data'], false);
	v_category text := flov7.arg_text(args, 'category', false, 50);
	v_after jsonb := flov7.arg_cursor(args, 'primitives', 'type.asc', '', 2);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('type', v_type, 'category', v_category, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.type_pos, (x.p).subtype),
														 flov7.primitive_to_json(x.p)) ORDER BY x.type_pos, (x.p).subtype), '[]')
				 FROM (SELECT p, array_position('{trigger,action,connection,condition,data}'::text[], p.type) AS type_pos
						 FROM $q$ || flov7.list_from('primitives') || $q$
						  AND (($1->'after') IS NULL
							   OR (array_position('{trigger,action,connection,condition,data}'::text[], p.type), p.subtype)
								  > (($1->'after'->>0)::int, ($1->'after'->>1)))
						ORDER BY 2, p.subtype
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('primitives', 'type.asc', '', v_rows, v_f, flov7.list_count_pref(args));
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

-- GET /workflows: the caller's workflows, filtered by status, tag and search (trigram indexes),
-- sorted by sort_by and sort_order, then by id; a page by offset or by cursor (22_lists.sql),
-- a cursor being good for the sort it was made for only.  Workflows without a run come last
-- when sorted by last_executed_at, either way.
CREATE FUNCTION flov7_api.workflow_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_status text := flov7.arg_enum(args, 'status', ARRAY['draft', 'active', 'inactive', 'archived'], false);
	v_tag text := flov7.arg_text(args, 'tag', false, 50);
	v_search text := flov7.arg_text(args, 'search', false, 200);
	v_sort text := flov7.arg_enum(args, 'sort_by', ARRAY['created_at', 'updated_at', 'name', 'last_executed_at'],
								  false, 'created_at');
	v_asc boolean := flov7.arg_enum(args, 'sort_order', ARRAY['asc', 'desc'], false, 'desc') = 'asc';
	v_order text := v_sort || CASE WHEN v_asc THEN '.asc' ELSE '.desc' END;
	v_after jsonb := flov7.arg_cursor(args, 'workflows', v_order, '', 2);
	v_key text;
	v_by text;
	v_keyset text;
	v_f jsonb;
	v_rows jsonb;
BEGIN
	-- Fixed fragments, chosen by the (checked) sort; the cursor's values are in $1.
	v_key := CASE v_sort WHEN 'name' THEN 'lower(w.name)' ELSE 'w.' || v_sort END;
	v_by := v_key || CASE WHEN v_asc THEN ' ASC' ELSE ' DESC' END
			|| CASE WHEN v_sort = 'last_executed_at' THEN ' NULLS LAST' ELSE '' END
			|| ', w.id' || CASE WHEN v_asc THEN ' ASC' ELSE ' DESC' END;
	v_keyset := CASE
		WHEN v_sort = 'last_executed_at' THEN format(
			$q$CASE WHEN ($1->'after'->>0) IS NULL THEN w.last_executed_at IS NULL AND w.id %1$s ($1->'after'->>1)::uuid
				ELSE w.last_executed_at %1$s ($1->'after'->>0)::timestamptz OR w.last_executed_at IS NULL
					 OR (w.last_executed_at = ($1->'after'->>0)::timestamptz AND w.id %1$s ($1->'after'->>1)::uuid) END$q$,
			CASE WHEN v_asc THEN '>' ELSE '<' END)
		ELSE format($q$(%s, w.id) %s (($1->'after'->>0)::%s, ($1->'after'->>1)::uuid)$q$,
					v_key, CASE WHEN v_asc THEN '>' ELSE '<' END, CASE WHEN v_sort = 'name' THEN 'text' ELSE 'timestamptz' END)
		END;
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'status', v_status, 'tag', v_tag,
		'pat', flov7.like_pattern(v_search), 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE format($q$SELECT coalesce(jsonb_agg(jsonb_build_array(x.k, flov7.workflow_to_json(x.wf)) ORDER BY x.ord), '[]')
						FROM (SELECT w AS wf, jsonb_build_array(%1$s, w.id) AS k, row_number() OVER (ORDER BY %2$s) AS ord
								FROM %3$s
								 AND (($1->'after') IS NULL OR %4$s)
							   ORDER BY %2$s
							   LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$,
				   v_key, v_by, flov7.list_from('workflows'), v_keyset)
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('workflows', v_order, '', v_rows, v_f, flov7.list_count_pref(args));
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
-- Every change bumps version; a "version" (or If-Match) that is not current is refused (PT409);
-- none of those fields: 400, "No fields to update".
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
	IF NOT args ?| ARRAY['name', 'description', 'workflow_json', 'tags', 'status', 'is_template'] THEN
		RAISE EXCEPTION 'No fields to update' USING ERRCODE = '22023',
			HINT = 'Send name, description, workflow_json, tags, status or is_template.';
	END IF;
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

-- GET /workflows/templates: templates, filtered by category, difficulty, is_featured and search
-- (trigram indexes), featured first, then by name and id; a page by offset or by cursor
-- (22_lists.sql).
CREATE FUNCTION flov7_api.template_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_category text := flov7.arg_text(args, 'category', false, 50);
	v_difficulty text := flov7.arg_enum(args, 'difficulty', ARRAY['beginner', 'intermediate', 'advanced'], false);
	v_featured boolean := flov7.arg_bool(args, 'is_featured');
	v_pattern text := flov7.like_pattern(flov7.arg_text(args, 'search', false, 200));
	v_after jsonb := flov7.arg_cursor(args, 'templates', 'featured.name', '', 3);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('category', v_category, 'difficulty', v_difficulty,
		'featured', v_featured, 'pat', v_pattern, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.is_featured, lower(x.name), x.id),
														 flov7.template_to_json(x))
									   ORDER BY x.is_featured DESC, lower(x.name), x.id), '[]')
				 FROM (SELECT t.* FROM $q$ || flov7.list_from('templates') || $q$
						  AND (($1->'after') IS NULL
							   OR t.is_featured < ($1->'after'->>0)::boolean
							   OR (t.is_featured = ($1->'after'->>0)::boolean
								   AND (lower(t.name), t.id) > (($1->'after'->>1), ($1->'after'->>2)::uuid)))
						ORDER BY t.is_featured DESC, lower(t.name), t.id
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('templates', 'featured.name', '', v_rows, v_f, flov7.list_count_pref(args));
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
