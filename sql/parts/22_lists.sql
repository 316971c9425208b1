-- 22_lists.sql: what every list shares: its filters, the indexes that serve them, page
-- arguments, opaque keyset cursors and totals.
--
-- A list answers {"items", "total", "total_is_estimate", "limit", "offset", "next_cursor",
-- "has_more"} and costs by the page, not by the caller's rows:
-- * a page is one index range scan: every list's ORDER BY ends with the row's id, an index
--   below matches its filter and sort, and a page after a cursor starts where the cursor points
--   (keyset), never skipping rows with OFFSET ("offset" still works, at the cost of the rows it
--   skips);
-- * "next_cursor" (null on the last page) is base64url of {"l": list, "s": sort, "k": [sort key
--   of the page's last row, ..., id]}, a dot and a MAC (HMAC-SHA256 with settings.cursor_secret,
--   truncated to 128 bits) over it, the caller and the list's scope (its workflow or execution),
--   so a cursor that was changed, or made for someone else or another list, is refused (22023);
-- * "total" is exact when cheap or when asked: see flov7.list_total.
--
-- The filters are fixed texts (flov7.list_from) whose values all come in one jsonb parameter,
-- $1; queries are run with EXECUTE ... USING, so every request gets a plan for its own values:
-- a filter left out, e.g. (($1->>'type') IS NULL OR n.type = ...), folds away at planning, and
-- the keyset condition becomes an index condition.  No text of a query is ever built from a
-- request.

-- The MAC key of list cursors; replacing it invalidates every cursor handed out.
INSERT INTO flov7.settings (key, value) VALUES ('cursor_secret', flov7.random_token('', 32));
ALTER TABLE flov7.settings ADD CONSTRAINT settings_cursor_secret_check
	CHECK (key <> 'cursor_secret' OR octet_length(value) >= 32);

-- ---- indexes: (owner, sort key, id) for each list, trigram GIN for each search ------------------
-- The executions of a workflow have theirs in 66_engine.sql; the steps of an execution are read
-- in their primary key's order.  Workflows sorted by last_executed_at are sorted in memory: an
-- index on it would make every execution's end (which sets it) a non-HOT update, and a user's
-- workflows are bounded by the plan's max_workflows.
CREATE INDEX notifications_user_idx ON flov7.notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON flov7.notifications (user_id, created_at DESC, id DESC) WHERE NOT is_read;
CREATE INDEX users_created_idx ON flov7.users (created_at DESC, id DESC);
CREATE INDEX users_email_trgm_idx ON flov7.users USING gin (email gin_trgm_ops);
CREATE INDEX users_full_name_trgm_idx ON flov7.users USING gin (full_name gin_trgm_ops);
CREATE INDEX workflows_user_id_idx ON flov7.workflows (user_id, created_at, id);
CREATE INDEX workflows_user_updated_idx ON flov7.workflows (user_id, updated_at, id);
CREATE INDEX workflows_user_name_idx ON flov7.workflows (user_id, lower(name), id);
CREATE INDEX workflows_name_trgm_idx ON flov7.workflows USING gin (name gin_trgm_ops);
CREATE INDEX workflows_description_trgm_idx ON flov7.workflows USING gin (description gin_trgm_ops);
CREATE INDEX workflow_templates_list_idx ON flov7.workflow_templates (is_featured DESC, lower(name), id);
CREATE INDEX workflow_templates_name_trgm_idx ON flov7.workflow_templates USING gin (name gin_trgm_ops);
CREATE INDEX workflow_templates_description_trgm_idx ON flov7.workflow_templates USING gin (description gin_trgm_ops);
CREATE INDEX api_keys_user_idx ON flov7.api_keys (user_id, created_at DESC, id DESC);
CREATE INDEX user_integrations_user_idx ON flov7.user_integrations (user_id, created_at DESC, id DESC);

-- The FROM and WHERE of each list, fixed texts over one jsonb parameter $1 of filter values
-- ("uid" is the caller).  Every query of a list (page, count, estimate) starts from these.
CREATE FUNCTION flov7.list_from(p_list text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	CASE p_list
	WHEN 'notifications' THEN RETURN $q$flov7.notifications n
		WHERE n.user_id = ($1->>'uid')::uuid
		  AND (($1->>'read') IS NULL OR n.is_read = ($1->>'read')::boolean)
		  AND (($1->>'type') IS NULL OR n.type = ($1->>'type'))$q$;
	WHEN 'admin_users' THEN RETURN $q$flov7.users u
		WHERE (($1->>'role') IS NULL OR u.role = ($1->>'role'))
		  AND (($1->>'active') IS NULL OR u.is_active = ($1->>'active')::boolean)
		  AND (($1->>'pat') IS NULL OR u.email ILIKE ($1->>'pat') OR u.full_name ILIKE ($1->>'pat'))$q$;
	WHEN 'api_keys' THEN RETURN $q$flov7.api_keys k
		WHERE k.user_id = ($1->>'uid')::uuid
		  AND (($1->>'active') IS NULL OR k.is_active = ($1->>'active')::boolean)$q$;
	WHEN 'integrations' THEN RETURN $q$flov7.user_integrations i
		WHERE i.user_id = ($1->>'uid')::uuid
		  AND (($1->>'type') IS NULL OR i.service_type = ($1->>'type'))
		  AND (($1->>'active') IS NULL OR i.is_active = ($1->>'active')::boolean)$q$;
	WHEN 'workflows' THEN RETURN $q$flov7.workflows w
		WHERE w.user_id = ($1->>'uid')::uuid
		  AND (($1->>'status') IS NULL OR w.status = ($1->>'status'))
		  AND (($1->>'tag') IS NULL OR ($1->>'tag') = ANY (w.tags))
		  AND (($1->>'pat') IS NULL OR w.name ILIKE ($1->>'pat') OR w.description ILIKE ($1->>'pat'))$q$;
	WHEN 'templates' THEN RETURN $q$flov7.workflow_templates t
		WHERE (($1->>'category') IS NULL OR t.category = ($1->>'category'))
		  AND (($1->>'difficulty') IS NULL OR t.difficulty = ($1->>'difficulty'))
		  AND (($1->>'featured') IS NULL OR t.is_featured = ($1->>'featured')::boolean)
		  AND (($1->>'pat') IS NULL OR t.name ILIKE ($1->>'pat') OR t.description ILIKE ($1->>'pat'))$q$;
	WHEN 'primitives' THEN RETURN $q$flov7.primitives p
		WHERE (($1->>'type') IS NULL OR p.type = ($1->>'type'))
		  AND (($1->>'category') IS NULL OR p.category = ($1->>'category'))$q$;
	WHEN 'executions' THEN RETURN $q$flov7.workflow_executions e
		WHERE e.user_id = ($1->>'uid')::uuid AND e.workflow_id = ($1->>'wf')::uuid
		  AND (($1->>'status') IS NULL OR e.status = ($1->>'status'))
		  AND (($1->>'from') IS NULL OR e.created_at >= ($1->>'from')::timestamptz)
		  AND (($1->>'to') IS NULL OR e.created_at < ($1->>'to')::timestamptz)$q$;
	WHEN 'steps' THEN RETURN $q$flov7.execution_steps s
		WHERE s.user_id = ($1->>'uid')::uuid AND s.execution_id = ($1->>'exec')::uuid
		  AND (($1->>'state') IS NULL OR s.state = ($1->>'state'))
		  AND (($1->>'node') IS NULL OR s.node_id = ($1->>'node'))$q$;
	ELSE
		RAISE EXCEPTION 'unknown list "%"', p_list USING ERRCODE = '22023';
	END CASE;
END
$$;

-- Unpadded base64url of bytes.
CREATE FUNCTION flov7.b64url(p bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT rtrim(translate(encode(p, 'base64'), E'+/\n', '-_'), '=')
$$;

-- Bytes of unpadded base64url; NULL if the text is not base64url.
CREATE FUNCTION flov7.b64url_decode(p text) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
	IF p !~ '^[A-Za-z0-9_-]*$' OR length(p) % 4 = 1 THEN
		RETURN NULL;
	END IF;
	RETURN decode(translate(p, '-_', '+/') || repeat('=', (4 - length(p) % 4) % 4), 'base64');
END
$$;

-- The MAC of a cursor's payload for the caller and a list's scope (pgcrypto's hmac; the
-- search_path is pinned to pgcrypto's schema below).
CREATE FUNCTION flov7.cursor_mac(p_payload text, p_scope text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$
	SELECT flov7.b64url(substring(hmac(coalesce(flov7.caller_id()::text, '') || '/' || p_scope || '/' || p_payload,
									   flov7.setting('cursor_secret'), 'sha256') FROM 1 FOR 16))
$$;

DO $pin$
DECLARE
	crypto_schema name;
BEGIN
	SELECT n.nspname INTO STRICT crypto_schema
	  FROM pg_catalog.pg_extension e
	  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
	 WHERE e.extname = 'pgcrypto';
	EXECUTE pg_catalog.format('ALTER FUNCTION flov7.cursor_mac(text, text) SET search_path = pg_catalog, flov7, %I, pg_temp',
							  crypto_schema);
END
$pin$;

-- The cursor of a page whose last row has sort key p_key (a JSON array ending with the id).
CREATE FUNCTION flov7.cursor_make(p_list text, p_sort text, p_scope text, p_key jsonb) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_payload text := flov7.b64url(convert_to(jsonb_build_object('l', p_list, 's', p_sort, 'k', p_key)::text, 'UTF8'));
BEGIN
	RETURN v_payload || '.' || flov7.cursor_mac(v_payload, p_scope);
END
$$;

-- Read the "offset" of a page, or "skip", the original platform's name for it (issue 9); both
-- at once only when they agree.
CREATE FUNCTION flov7.arg_offset(args jsonb) RETURNS int
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v_offset int := flov7.arg_int(args, 'offset', NULL, 0);
	v_skip int := flov7.arg_int(args, 'skip', NULL, 0);
BEGIN
	IF v_offset <> v_skip THEN
		RAISE EXCEPTION 'fields "offset" and "skip" disagree' USING ERRCODE = '22023',
			DETAIL = format('Got offset %s and skip %s.', v_offset, v_skip),
			HINT = '"skip" is another name for "offset": send one of them.';
	END IF;
	RETURN coalesce(v_offset, v_skip, 0);
END
$$;

-- Read the "cursor" argument of list p_list sorted by p_sort (scope p_scope): the sort key of the
-- row the page starts after (a JSON array of p_nkeys values), or NULL without a cursor.  22023
-- for a cursor that is malformed, changed, another caller's, another list's or scope's, made
-- for another sort, or sent with "offset".
CREATE FUNCTION flov7.arg_cursor(args jsonb, p_list text, p_sort text, p_scope text, p_nkeys int,
								 p_name text DEFAULT 'cursor') RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v text := nullif(flov7.arg_text(args, p_name, false, 4000), '');
	m text[];
	v_payload jsonb;
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(args -> 'offset') IS DISTINCT FROM 'null' AND args ? 'offset'
	   OR jsonb_typeof(args -> 'skip') IS DISTINCT FROM 'null' AND args ? 'skip' THEN
		RAISE EXCEPTION 'send either "%" or "%", not both', p_name,
			CASE WHEN jsonb_typeof(args -> 'skip') IS DISTINCT FROM 'null' AND args ? 'skip' THEN 'skip' ELSE 'offset' END
			USING ERRCODE = '22023', HINT = 'A cursor already says where the page starts.';
	END IF;
	m := regexp_match(v, '^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$');
	IF m IS NULL THEN
		RAISE EXCEPTION 'field "%" is not a cursor', p_name USING ERRCODE = '22023',
			DETAIL = format('Got "%s".', left(v, 40)),
			HINT = 'Send next_cursor exactly as a response of this list gave it, or leave it out for the first page.';
	END IF;
	IF NOT flov7.secure_equal(flov7.cursor_mac(m[1], p_scope), m[2]) THEN
		RAISE EXCEPTION 'field "%" is not a cursor of this list', p_name USING ERRCODE = '22023',
			DETAIL = 'It was changed, or made for another user, list, workflow or execution.',
			HINT = 'Send next_cursor exactly as a response of this list gave it, or leave it out for the first page.';
	END IF;
	v_payload := convert_from(flov7.b64url_decode(m[1]), 'UTF8')::jsonb;
	IF v_payload ->> 'l' IS DISTINCT FROM p_list THEN
		RAISE EXCEPTION 'field "%" is a cursor of another list (%)', p_name, v_payload ->> 'l' USING ERRCODE = '22023';
	END IF;
	IF v_payload ->> 's' IS DISTINCT FROM p_sort THEN
		RAISE EXCEPTION 'field "%" was made for another sort order', p_name USING ERRCODE = '22023',
			DETAIL = format('It continues the order "%s"; this request asks for "%s".', v_payload ->> 's', p_sort),
			HINT = 'Send the sort_by and sort_order of the request that returned the cursor, or leave the cursor out.';
	END IF;
	IF jsonb_typeof(v_payload -> 'k') IS DISTINCT FROM 'array' OR jsonb_array_length(v_payload -> 'k') <> p_nkeys THEN
		RAISE EXCEPTION 'field "%" is not a cursor of this list', p_name USING ERRCODE = '22023';
	END IF;
	RETURN v_payload -> 'k';
END
$$;

-- The count mode asked for: "count" in the arguments, else PostgREST's Prefer: count=exact |
-- planned | estimated; NULL when neither asks (the default, estimated).
CREATE FUNCTION flov7.list_count_pref(args jsonb) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v text := flov7.arg_enum(args, 'count', ARRAY['exact', 'planned', 'estimated'], false);
BEGIN
	IF v IS NULL THEN
		v := (regexp_match(lower(coalesce(flov7.request_header('prefer'), '')),
						   '(?:^|[,;[:space:]])count=(exact|planned|estimated)(?:$|[,;[:space:]])'))[1];
	END IF;
	RETURN v;
END
$$;

-- The planner's estimate of the rows of a list, from EXPLAIN of its fixed text, as the owner:
-- row level security would multiply the estimate by its own guess (about 1/2), so the caller
-- is set here instead (an admin's only for admin_users).  Only the filter values come from the
-- caller, as the parameter; nothing is executed.
CREATE FUNCTION flov7.list_estimate(p_list text, p_f jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_f jsonb := p_f;
	v_plan json;
BEGIN
	IF p_list = 'admin_users' THEN
		IF NOT flov7.caller_is_admin() THEN
			RAISE EXCEPTION 'only an admin may count users' USING ERRCODE = '42501';
		END IF;
	ELSIF p_list NOT IN ('templates', 'primitives') THEN
		v_f := v_f || jsonb_build_object('uid', flov7.caller_id());
	END IF;
	EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM ' || flov7.list_from(p_list) INTO v_plan USING v_f;
	RETURN round((v_plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric);
END
$$;

-- The total of a list: {"total", "estimate"}.  "exact" counts every row (cost: the rows);
-- "planned" is the planner's estimate; the default is exact up to 1000 rows, counted by a
-- count that stops at 1001, and beyond that the planner's estimate (at least 1001).  The count
-- is skipped when the planner expects more than 10 000 rows: it would stop at 1001 anyway, but
-- the rows it reads to find them grow with the filters no index serves (a status of
-- executions, a type of notifications).
CREATE FUNCTION flov7.list_total(p_list text, p_f jsonb, p_pref text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_n bigint;
	v_est bigint;
BEGIN
	IF p_pref = 'exact' THEN
		EXECUTE 'SELECT count(*) FROM ' || flov7.list_from(p_list) INTO v_n USING p_f;
		RETURN jsonb_build_object('total', v_n, 'estimate', false);
	END IF;
	v_est := flov7.list_estimate(p_list, p_f);
	IF p_pref IS DISTINCT FROM 'planned' AND v_est <= 10000 THEN
		EXECUTE 'SELECT count(*) FROM (SELECT 1 FROM ' || flov7.list_from(p_list) || ' LIMIT 1001) c' INTO v_n USING p_f;
		IF v_n <= 1000 THEN
			RETURN jsonb_build_object('total', v_n, 'estimate', false);
		END IF;
	END IF;
	RETURN jsonb_build_object('total', greatest(v_est, coalesce(v_n, 0)), 'estimate', true);
END
$$;

-- Add a header to the response (response.headers, CONTRACT.md), after those already there.
CREATE FUNCTION flov7.response_header_add(p_name text, p_value text) RETURNS void
LANGUAGE sql VOLATILE AS $$
	SELECT set_config('response.headers',
		(coalesce(nullif(current_setting('response.headers', true), '')::jsonb, '[]')
		 || jsonb_build_array(jsonb_build_object(p_name, p_value)))::text, true)
$$;

-- A list's answer from p_rows, the page read with one row more than the limit, each row a JSON
-- array [sort key, item]: the items, next_cursor when there is more, the total (the page tells
-- it when it is the last one reached by offset, else flov7.list_total), and the headers
-- Content-Range (offset pages: "0-19/1234", "0-19/*" when the total is an estimate) and
-- Preference-Applied (when a count mode was asked).  p_f holds "lim", "off" and, on a cursor
-- page, "after".  p_count, a total the list already knows ({"total", "estimate"}), stands in
-- for flov7.list_total unless an exact count is asked.
CREATE FUNCTION flov7.list_answer(p_list text, p_sort text, p_scope text, p_rows jsonb, p_f jsonb, p_pref text,
								  p_count jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_limit int := (p_f ->> 'lim')::int;
	v_offset int := coalesce((p_f ->> 'off')::int, 0);
	v_keyset boolean := p_f ? 'after';
	v_n int := jsonb_array_length(p_rows);
	v_items jsonb;
	v_next text;
	v_count jsonb;
BEGIN
	IF v_n > v_limit THEN
		v_next := flov7.cursor_make(p_list, p_sort, p_scope, p_rows -> (v_limit - 1) -> 0);
		v_n := v_limit;
	END IF;
	SELECT coalesce(jsonb_agg(r.row -> 1 ORDER BY r.i), '[]') INTO v_items
	  FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS r (row, i) WHERE r.i <= v_limit;
	IF v_next IS NULL AND NOT v_keyset AND (v_n > 0 OR v_offset = 0) THEN
		v_count := jsonb_build_object('total', v_offset + v_n, 'estimate', false);
	ELSIF p_count IS NOT NULL AND p_pref IS DISTINCT FROM 'exact' THEN
		v_count := p_count;
	ELSE
		v_count := flov7.list_total(p_list, p_f, p_pref);
	END IF;
	IF NOT v_keyset THEN
		PERFORM flov7.response_header_add('Content-Range',
			CASE WHEN v_n = 0 THEN '*' ELSE v_offset || '-' || (v_offset + v_n - 1) END || '/'
			|| CASE WHEN (v_count ->> 'estimate')::boolean THEN '*' ELSE v_count ->> 'total' END);
	END IF;
	IF p_pref IS NOT NULL THEN
		PERFORM flov7.response_header_add('Preference-Applied', 'count=' || p_pref);
	END IF;
	RETURN jsonb_build_object('items', v_items, 'total', (v_count -> 'total'),
							  'total_is_estimate', (v_count -> 'estimate'), 'limit', v_limit,
							  'offset', v_offset, 'next_cursor', v_next, 'has_more', v_next IS NOT NULL);
END
$$;
