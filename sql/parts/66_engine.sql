-- 66_engine.sql: the executor's tables, execute(), and the SQL half of a step.
--
-- An execution runs the definition it started with (a snapshot in
-- workflow_executions.definition, with its version).  Every node is one row
-- of execution_steps, a narrow queue row that changes state often; what a
-- step read and wrote is written once, per attempt, to execution_step_data.
-- Every key carries user_id (DESIGN.md "Scale").
--
-- State machine of a step (execution_steps.state):
--	pending		waiting for pending_parents parents to settle
--	ready		due at ready_at; run by the runner that holds its execution's row lock
--				(a crashed runner releases it, nothing half-applied)
--	waiting		a durable timer (ready_at in the future) or, with ready_at NULL,
--				parked for an outside worker (lease_until and fence)
--	running		only for outside steps under a lease; in-database steps go from
--				ready to a final state in the transaction that claimed them
--	completed, failed, skipped (an untaken branch, transitively), cancelled
--
-- The C runner (extension/runner.c) claims an execution (its row, FOR NO KEY UPDATE
-- SKIP LOCKED; everything else that writes its steps locks that row first), runs its
-- due steps as the owner, each under its own subtransaction (flov7.node_run() or a C
-- node), and records a completed step and its successors itself (the port of
-- step_finish's completed branch and step_settle); other outcomes go through
-- flov7.step_finish(), the end through flov7.execution_settle().

ALTER TABLE flov7.workflow_executions
	ADD COLUMN workflow_version int CHECK (workflow_version >= 1),
	ADD COLUMN definition jsonb,
	ADD COLUMN steps_total int NOT NULL DEFAULT 0 CHECK (steps_total >= 0),
	ADD COLUMN steps_completed int NOT NULL DEFAULT 0 CHECK (steps_completed >= 0),
	ADD COLUMN steps_failed int NOT NULL DEFAULT 0 CHECK (steps_failed >= 0),
	ADD COLUMN error_node text,
	ADD COLUMN retry_count int NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
	ADD CONSTRAINT workflow_executions_user_id_id_key UNIQUE (user_id, id);
CREATE INDEX workflow_executions_user_workflow_idx
	ON flov7.workflow_executions (user_id, workflow_id, created_at DESC, id DESC);
COMMENT ON COLUMN flov7.workflow_executions.definition IS
	'the workflow_json the execution runs, as it was when it started (workflow_version)';
COMMENT ON COLUMN flov7.workflow_executions.retry_count IS
	'times the execution was retried from its failed steps; its workflow counts it once, at its first end';

CREATE TABLE flov7.execution_steps (
	user_id			uuid NOT NULL,
	execution_id	uuid NOT NULL,
	node_id			text NOT NULL,
	iteration		int NOT NULL DEFAULT 0 CHECK (iteration >= 0),
	state			text NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'ready', 'running', 'waiting', 'completed', 'failed', 'skipped', 'cancelled')),
	attempt			int NOT NULL DEFAULT 0 CHECK (attempt >= 0),
	pending_parents	int NOT NULL DEFAULT 0 CHECK (pending_parents >= 0),
	has_input		boolean NOT NULL DEFAULT false,
	ready_at		timestamptz,
	lease_until		timestamptz,
	fence			bigint NOT NULL DEFAULT 0,
	started_at		timestamptz,
	completed_at	timestamptz,
	PRIMARY KEY (user_id, execution_id, node_id, iteration),
	FOREIGN KEY (user_id, execution_id) REFERENCES flov7.workflow_executions (user_id, id) ON DELETE CASCADE,
	CHECK (state NOT IN ('ready') OR ready_at IS NOT NULL)
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
		autovacuum_analyze_scale_factor = 0.05);
CREATE INDEX execution_steps_due_idx ON flov7.execution_steps (user_id, ready_at)
	WHERE state IN ('ready', 'waiting') AND ready_at IS NOT NULL;
-- The steps of an execution that are runnable or running (execution_refresh_status).
CREATE INDEX execution_steps_active_idx ON flov7.execution_steps (user_id, execution_id)
	WHERE state IN ('ready', 'running');
COMMENT ON TABLE flov7.execution_steps IS
	'the queue: one narrow row per node (and loop iteration) of an execution; see 66_engine.sql for the states';
COMMENT ON COLUMN flov7.execution_steps.pending_parents IS
	'parents not settled yet; decremented with UPDATE ... RETURNING, the one reaching 0 makes the step ready or skipped';
COMMENT ON COLUMN flov7.execution_steps.has_input IS 'a parent completed with an edge into this step taken';
COMMENT ON COLUMN flov7.execution_steps.fence IS 'bumped by every outside claim; a completion must present the current one';

CREATE TABLE flov7.execution_step_data (
	user_id			uuid NOT NULL,
	execution_id	uuid NOT NULL,
	node_id			text NOT NULL,
	iteration		int NOT NULL DEFAULT 0,
	attempt			int NOT NULL CHECK (attempt >= 1),
	input			jsonb,
	output			jsonb,
	branches		text[],
	error			text,
	started_at		timestamptz NOT NULL,
	finished_at		timestamptz NOT NULL,
	worker			text,
	PRIMARY KEY (user_id, execution_id, node_id, iteration, attempt),
	FOREIGN KEY (user_id, execution_id, node_id, iteration)
		REFERENCES flov7.execution_steps (user_id, execution_id, node_id, iteration) ON DELETE CASCADE
);
COMMENT ON TABLE flov7.execution_step_data IS
	'what each attempt of a step read and wrote (input, output, branches taken, error); written once';

-- SQL functions an admin allows the "custom" action to call: (jsonb) RETURNS jsonb.
CREATE TABLE flov7.custom_functions (
	name		text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	function	regprocedure NOT NULL UNIQUE,
	description	text,
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE flov7.custom_functions IS
	'allow-list of the "custom" action: name -> a function (jsonb) RETURNS jsonb, run as the workflow owner';

ALTER TABLE flov7.execution_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.execution_steps FORCE ROW LEVEL SECURITY;
CREATE POLICY execution_steps_owner_or_admin ON flov7.execution_steps
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));
ALTER TABLE flov7.execution_step_data ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.execution_step_data FORCE ROW LEVEL SECURITY;
CREATE POLICY execution_step_data_owner_or_admin ON flov7.execution_step_data
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));
ALTER TABLE flov7.custom_functions ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.custom_functions FORCE ROW LEVEL SECURITY;
CREATE POLICY custom_functions_read ON flov7.custom_functions FOR SELECT USING (true);
CREATE POLICY custom_functions_admin ON flov7.custom_functions
	USING ((SELECT flov7.caller_is_admin()));

SELECT pg_catalog.pg_extension_config_dump('flov7.execution_steps', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.execution_step_data', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.custom_functions', '');

-- Delay before retry number "attempt" (1 = the first retry): base * 2^(attempt-1), capped
-- at max_ms, with equal jitter (half fixed, half random).  Computed in double precision
-- and capped before any cast, so it holds at attempt 40 and beyond.
CREATE FUNCTION flov7.retry_delay_ms(attempt int, base_ms int, max_ms int, jitter float8 DEFAULT random())
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT floor(d / 2 + d / 2 * least(greatest(jitter, 0), 1))::bigint
	  FROM (SELECT least(greatest(max_ms, 0)::float8,
						 greatest(base_ms, 0)::float8 * power(2::float8, least(greatest(attempt - 1, 0), 60))) AS d) x
$$;

-- The public JSON shape of an execution.
CREATE FUNCTION flov7.execution_to_json(e flov7.workflow_executions) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(
		'id', e.id, 'execution_id', e.id, 'workflow_id', e.workflow_id, 'user_id', e.user_id,
		'workflow_version', e.workflow_version, 'status', e.status, 'input_data', e.input_data,
		'output_data', e.output_data, 'error_message', e.error_message, 'error_node', e.error_node,
		'execution_time_seconds', e.execution_time_seconds, 'cost_usd', e.cost_usd,
		'idempotency_key', e.idempotency_key, 'steps_total', e.steps_total,
		'steps_completed', e.steps_completed, 'steps_failed', e.steps_failed, 'retry_count', e.retry_count,
		'started_at', e.started_at, 'completed_at', e.completed_at, 'created_at', e.created_at)
$$;

-- Start a run of one of the caller's workflows: records a pending execution and its first
-- ready steps in the caller's transaction.  The same idempotency key returns the same
-- execution (a concurrent one waits on the unique index, then returns the winner's).
CREATE FUNCTION flov7.execute(workflow_id uuid, input jsonb DEFAULT '{}', idempotency_key text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:execute');
	v_wf flov7.workflows;
	v_check jsonb;
	v_exec flov7.workflow_executions;
	v_input jsonb := coalesce(input, '{}');
	v_key text := idempotency_key;
	v_problems jsonb;
BEGIN
	IF v_key IS NOT NULL AND (length(v_key) NOT BETWEEN 1 AND 200) THEN
		RAISE EXCEPTION 'field "idempotency_key" must be 1 to 200 characters' USING ERRCODE = '22023';
	END IF;
	SELECT * INTO v_wf FROM flov7.workflows w WHERE w.id = execute.workflow_id AND w.user_id = v_uid
	   FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	IF v_key IS NOT NULL THEN
		SELECT * INTO v_exec FROM flov7.workflow_executions e
		 WHERE e.user_id = v_uid AND e.workflow_id = v_wf.id AND e.idempotency_key = v_key;
		IF FOUND THEN
			RETURN flov7.execution_to_json(v_exec) || '{"idempotent_replay": true}';
		END IF;
	END IF;
	v_check := flov7.check_workflow(v_wf.workflow_json);
	IF NOT (v_check ->> 'valid')::boolean THEN
		SELECT jsonb_agg(p) INTO v_problems FROM jsonb_array_elements(v_check -> 'problems') p
		 WHERE p ->> 'severity' = 'error';
		RAISE EXCEPTION 'workflow has % problem(s) and cannot run', jsonb_array_length(v_problems)
			USING ERRCODE = 'PT422', DETAIL = v_problems::text,
				  HINT = 'Fix every problem with severity "error" (GET /workflows/{id} lists them), then run it again.';
	END IF;

	-- A trigger may declare the input it takes (config.input_schema): every mismatch, by path.
	SELECT jsonb_agg(x.err ORDER BY x.err) INTO v_problems
	  FROM jsonb_array_elements(v_wf.workflow_json -> 'nodes') n,
		   unnest(flov7.json_schema_errors(n -> 'data' -> 'config' -> 'input_schema', v_input)) AS x (err)
	 WHERE n ->> 'type' = 'trigger' AND jsonb_typeof(n -> 'data' -> 'config' -> 'input_schema') = 'object';
	IF v_problems IS NOT NULL THEN
		RAISE EXCEPTION 'input_data does not match the trigger''s input_schema: %', v_problems ->> 0
			USING ERRCODE = 'PT422', DETAIL = v_problems::text,
				  HINT = 'Send input_data as the trigger''s config.input_schema describes.';
	END IF;

	INSERT INTO flov7.workflow_executions AS e (workflow_id, user_id, status, input_data, idempotency_key,
												workflow_version, definition, steps_total)
	VALUES (v_wf.id, v_uid, 'pending', v_input, v_key, v_wf.version, v_wf.workflow_json,
			jsonb_array_length(v_wf.workflow_json -> 'nodes'))
	ON CONFLICT ON CONSTRAINT workflow_executions_workflow_id_idempotency_key_key DO NOTHING
	RETURNING * INTO v_exec;
	IF NOT FOUND THEN
		SELECT * INTO v_exec FROM flov7.workflow_executions e
		 WHERE e.user_id = v_uid AND e.workflow_id = v_wf.id AND e.idempotency_key = v_key;
		RETURN flov7.execution_to_json(v_exec) || '{"idempotent_replay": true}';
	END IF;

	-- One step per node; a node waits for its distinct parents, the roots are ready now.
	INSERT INTO flov7.execution_steps (user_id, execution_id, node_id, state, pending_parents, has_input, ready_at)
	SELECT v_uid, v_exec.id, n.id,
		   CASE WHEN coalesce(p.parents, 0) = 0 THEN 'ready' ELSE 'pending' END,
		   coalesce(p.parents, 0), coalesce(p.parents, 0) = 0,
		   CASE WHEN coalesce(p.parents, 0) = 0 THEN now() END
	  FROM (SELECT DISTINCT n ->> 'id' AS id FROM jsonb_array_elements(v_wf.workflow_json -> 'nodes') n) n
	  LEFT JOIN (SELECT e ->> 'target' AS id, count(DISTINCT e ->> 'source')::int AS parents
				   FROM jsonb_array_elements(v_wf.workflow_json -> 'edges') e GROUP BY 1) p ON p.id = n.id
	 ORDER BY n.id;
	PERFORM flov7.wake_workers();
	RETURN flov7.execution_to_json(v_exec) || '{"idempotent_replay": false}';
END
$$;
COMMENT ON FUNCTION flov7.execute(uuid, jsonb, text) IS
	'start a run of one of the caller''s workflows (workflows:execute); returns the pending execution';

-- POST /workflows/{id}/execute: {"input_data", "idempotency_key"} -> 202 {"execution_id", "status", ...}.
-- POST /workflows/{id}/execute (input_data, idempotency_key; ?wait=<ms>, at most 60000).
-- With wait, frontd holds the answer after the commit (no backend sleeps in a transaction)
-- until the execution's terminal event, then answers GET /workflows/executions/{id} as the
-- caller (200); when the wait runs out, this 202.  response.wait tells it what to wait for:
-- every event of the execution comes after the position read here.
CREATE FUNCTION flov7_api.workflow_execute(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_input jsonb := args -> 'input_data';
	v_key text := flov7.arg_text(args, 'idempotency_key', false, 200);
	v_wait int := flov7.arg_int(args, 'wait', 0, 0, 60000);
	v_head bigint;
	v_res jsonb;
BEGIN
	PERFORM flov7.authorize('workflows:execute');
	IF v_input IS NOT NULL AND jsonb_typeof(v_input) = 'null' THEN
		v_input := NULL;
	END IF;
	v_head := flov7.events_head();
	v_res := flov7.execute(v_id, coalesce(v_input, '{}'), v_key);
	IF v_wait > 0 AND v_res ->> 'status' NOT IN ('completed', 'failed', 'cancelled') THEN
		PERFORM set_config('response.wait', jsonb_build_object(
			'user_id', v_res ->> 'user_id', 'execution_id', v_res ->> 'execution_id', 'after', v_head,
			'timeout_ms', v_wait, 'function', 'flov7_api.execution_get',
			'args', jsonb_build_object('id', v_res ->> 'execution_id'))::text, true);
	END IF;
	RETURN v_res;
END
$$;

-- Out-edges of a node: target, the branch label of the edge, and whether the node branches.
-- A label is the edge's "branch", else its "sourceHandle"; when no out-edge of a true/false
-- condition names one, the first edge in "edges" is "true" and the second "false"; an
-- unlabelled edge out of a loop is its body ("item").
CREATE FUNCTION flov7.out_edges(definition jsonb, node text)
RETURNS TABLE (target text, label text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	WITH e AS (
		SELECT x.e ->> 'target' AS target, coalesce(x.e ->> 'branch', x.e ->> 'sourceHandle') AS label, x.ord
		  FROM jsonb_array_elements(definition -> 'edges') WITH ORDINALITY AS x (e, ord)
		 WHERE x.e ->> 'source' = node
	), n AS (
		SELECT nd -> 'data' -> 'config' ->> 'condition_type' AS ctype
		  FROM jsonb_array_elements(definition -> 'nodes') nd WHERE nd ->> 'id' = node LIMIT 1
	)
	SELECT e.target,
		   CASE WHEN (SELECT ctype FROM n) IN ('if_else', 'filter', 'compare', 'regex', 'json_path')
					 AND NOT EXISTS (SELECT 1 FROM e e2 WHERE e2.label IS NOT NULL)
				THEN CASE row_number() OVER (ORDER BY e.ord) WHEN 1 THEN 'true' WHEN 2 THEN 'false' END
				WHEN (SELECT ctype FROM n) = 'loop' THEN coalesce(e.label, 'item')
				ELSE e.label END
	  FROM e ORDER BY e.ord
$$;

-- Replace every {{ ... }} template in a JSON value by its value in the context; a string that
-- is exactly one hole keeps the value's JSON type, others are text.  Keys in "skip" (at the top
-- level) are left as they are.
CREATE FUNCTION flov7.eval_templates(v jsonb, ctx jsonb, skip text[] DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_parts jsonb;
	v_out text := '';
	v_part jsonb;
	v_val jsonb;
BEGIN
	CASE jsonb_typeof(v)
		WHEN 'object' THEN
			RETURN coalesce((SELECT jsonb_object_agg(k, CASE WHEN k = ANY (skip) THEN x ELSE flov7.eval_templates(x, ctx) END)
							   FROM jsonb_each(v) AS j (k, x)), '{}');
		WHEN 'array' THEN
			RETURN coalesce((SELECT jsonb_agg(flov7.eval_templates(x, ctx) ORDER BY o)
							   FROM jsonb_array_elements(v) WITH ORDINALITY AS j (x, o)), '[]');
		WHEN 'string' THEN
			IF strpos(v #>> '{}', '{{') = 0 THEN
				RETURN v;
			END IF;
			v_parts := flov7.compile_template(v #>> '{}');
			IF jsonb_array_length(v_parts) = 1 AND jsonb_typeof(v_parts -> 0) = 'object' THEN
				RETURN coalesce(jsonb_path_query_first(ctx, (v_parts -> 0 ->> 'path')::jsonpath, '{}', true), 'null');
			END IF;
			FOR v_part IN SELECT x FROM jsonb_array_elements(v_parts) x LOOP
				IF jsonb_typeof(v_part) = 'string' THEN
					v_out := v_out || (v_part #>> '{}');
				ELSE
					v_val := jsonb_path_query_first(ctx, (v_part ->> 'path')::jsonpath, '{}', true);
					v_out := v_out || CASE WHEN v_val IS NULL OR jsonb_typeof(v_val) = 'null' THEN ''
										   WHEN jsonb_typeof(v_val) = 'string' THEN v_val #>> '{}'
										   ELSE v_val::text END;
				END IF;
			END LOOP;
			RETURN to_jsonb(v_out);
		ELSE
			RETURN v;
	END CASE;
END
$$;

-- A condition over a context, with jsonb_path_match semantics: NULL (no boolean) is false.
CREATE FUNCTION flov7.eval_condition(condition text, ctx jsonb) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_path_match(ctx, flov7.compile_condition(condition), '{}', true), false)
$$;

-- The problems of a value against a JSON schema subset (type, required, properties, items,
-- enum, minimum, maximum, minLength, maxLength), each naming the path.
CREATE FUNCTION flov7.json_schema_errors(schema jsonb, value jsonb, path text DEFAULT '$') RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	v_errors text[] := '{}';
	v_type text := jsonb_typeof(value);
	v_types text[];
	k text;
	s jsonb;
	i int;
BEGIN
	IF jsonb_typeof(schema) <> 'object' THEN
		RETURN v_errors;
	END IF;
	IF schema ? 'type' THEN
		v_types := CASE jsonb_typeof(schema -> 'type') WHEN 'array'
					 THEN ARRAY(SELECT jsonb_array_elements_text(schema -> 'type'))
					 ELSE ARRAY[schema ->> 'type'] END;
		IF NOT (v_type = ANY (v_types)
				OR (v_type = 'number' AND 'integer' = ANY (v_types) AND value::text::numeric = trunc(value::text::numeric))) THEN
			RETURN v_errors || format('%s: expected %s, got %s', path, array_to_string(v_types, ' or '), v_type);
		END IF;
	END IF;
	IF schema ? 'enum' AND NOT (schema -> 'enum') @> jsonb_build_array(value) THEN
		v_errors := v_errors || format('%s: not one of %s', path, schema -> 'enum');
	END IF;
	IF v_type = 'number' THEN
		IF schema ? 'minimum' AND value::text::numeric < (schema ->> 'minimum')::numeric THEN
			v_errors := v_errors || format('%s: less than %s', path, schema ->> 'minimum');
		END IF;
		IF schema ? 'maximum' AND value::text::numeric > (schema ->> 'maximum')::numeric THEN
			v_errors := v_errors || format('%s: more than %s', path, schema ->> 'maximum');
		END IF;
	ELSIF v_type = 'string' THEN
		IF schema ? 'minLength' AND length(value #>> '{}') < (schema ->> 'minLength')::int THEN
			v_errors := v_errors || format('%s: shorter than %s', path, schema ->> 'minLength');
		END IF;
		IF schema ? 'maxLength' AND length(value #>> '{}') > (schema ->> 'maxLength')::int THEN
			v_errors := v_errors || format('%s: longer than %s', path, schema ->> 'maxLength');
		END IF;
	ELSIF v_type = 'object' THEN
		FOR k IN SELECT jsonb_array_elements_text(coalesce(schema -> 'required', '[]')) LOOP
			IF NOT value ? k THEN
				v_errors := v_errors || format('%s.%s: required', path, k);
			END IF;
		END LOOP;
		FOR k, s IN SELECT * FROM jsonb_each(coalesce(schema -> 'properties', '{}')) LOOP
			IF value ? k THEN
				v_errors := v_errors || flov7.json_schema_errors(s, value -> k, path || '.' || k);
			END IF;
		END LOOP;
	ELSIF v_type = 'array' AND schema ? 'items' THEN
		FOR i IN 0 .. jsonb_array_length(value) - 1 LOOP
			v_errors := v_errors || flov7.json_schema_errors(schema -> 'items', value -> i, path || '[' || i || ']');
		END LOOP;
	END IF;
	RETURN v_errors;
END
$$;

-- Create a notification for the caller (the workflow owner when a step runs).
CREATE FUNCTION flov7.notify_caller(p_type text, p_title text, p_message text, p_data jsonb) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_id uuid;
BEGIN
	INSERT INTO flov7.notifications (user_id, type, title, message, data)
	VALUES (v_uid, coalesce(p_type, 'workflow'), left(coalesce(nullif(p_title, ''), 'Workflow notification'), 200),
			left(coalesce(p_message, ''), 5000), coalesce(p_data, '{}'))
	RETURNING id INTO v_id;
	RETURN v_id;
END
$$;

-- The list a filter/split works on: config "items" (already evaluated), else the data itself
-- when it is an array, else data.items.
CREATE FUNCTION flov7.node_items(config jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN jsonb_typeof(config -> 'items') = 'array' THEN config -> 'items'
				WHEN config ? 'field' AND jsonb_typeof(data -> (config ->> 'field')) = 'array' THEN data -> (config ->> 'field')
				WHEN jsonb_typeof(data) = 'array' THEN data
				WHEN jsonb_typeof(data -> 'items') = 'array' THEN data -> 'items'
				ELSE '[]'::jsonb END
$$;

-- Run one in-database node as the caller (the owner): config has its templates evaluated.
-- Returns {"output": ...} and, for conditions, {"branches": [...]}; a wait that is not due
-- returns {"wait_until": <timestamptz>}.
CREATE FUNCTION flov7.node_run(node_type text, subtype text, config jsonb, ctx jsonb, resumed boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_data jsonb := ctx -> 'data';
	v_kind text := node_type || '.' || subtype;
	v_items jsonb;
	v_keep jsonb;
	v_reject jsonb;
	v_case jsonb;
	v_ok boolean;
	v_until timestamptz;
	v_schema jsonb;
	v_errors text[];
	v_left jsonb;
	v_right jsonb;
	v_op text;
	v_out jsonb;
BEGIN
	CASE
		WHEN node_type = 'trigger' THEN
			RETURN jsonb_build_object('output', v_data);

		WHEN v_kind IN ('action.transform', 'data.mapping', 'data.transform') THEN
			IF jsonb_typeof(config -> 'mapping') = 'object' THEN
				RETURN jsonb_build_object('output', config -> 'mapping');
			ELSIF jsonb_typeof(config -> 'fields') = 'array' AND jsonb_typeof(v_data) = 'object' THEN
				SELECT coalesce(jsonb_object_agg(f, v_data -> f), '{}') INTO v_out
				  FROM jsonb_array_elements_text(config -> 'fields') f WHERE v_data ? f;
				RETURN jsonb_build_object('output', v_out);
			ELSIF config ->> 'transform_type' = 'normalize' AND jsonb_typeof(v_data) = 'object' THEN
				-- keys lower-cased, strings trimmed, nulls dropped
				SELECT coalesce(jsonb_object_agg(lower(k), CASE WHEN jsonb_typeof(x) = 'string'
																 THEN to_jsonb(btrim(x #>> '{}')) ELSE x END), '{}')
				  INTO v_out FROM jsonb_each(v_data) AS j (k, x) WHERE jsonb_typeof(x) <> 'null';
				RETURN jsonb_build_object('output', v_out);
			END IF;
			RETURN jsonb_build_object('output', v_data);

		WHEN v_kind IN ('data.filter', 'condition.filter') THEN
			v_items := flov7.node_items(config, v_data);
			SELECT coalesce(jsonb_agg(x ORDER BY o) FILTER (WHERE m), '[]'), coalesce(jsonb_agg(x ORDER BY o) FILTER (WHERE NOT m), '[]')
			  INTO v_keep, v_reject
			  FROM (SELECT x, o, flov7.eval_condition(config ->> 'condition', ctx || jsonb_build_object('data', x, 'item', x)) AS m
					  FROM jsonb_array_elements(v_items) WITH ORDINALITY AS j (x, o)) s;
			IF subtype = 'filter' AND node_type = 'condition' THEN
				IF jsonb_typeof(v_data) IS DISTINCT FROM 'array' AND NOT (config ? 'items')
				   AND jsonb_typeof(v_data -> 'items') IS DISTINCT FROM 'array' THEN
					v_ok := flov7.eval_condition(config ->> 'condition', ctx);
					RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(v_ok::text));
				END IF;
				RETURN jsonb_build_object('output', jsonb_build_object('items', v_keep, 'rejected', v_reject),
										  'branches', jsonb_build_array((jsonb_array_length(v_keep) > 0)::text));
			END IF;
			RETURN jsonb_build_object('output', jsonb_build_object('items', v_keep, 'count', jsonb_array_length(v_keep)));

		WHEN v_kind = 'data.merge' THEN
			-- After a loop (one parent holding {"items": [...]}), its results are what is merged.
			IF jsonb_array_length(coalesce(ctx -> 'parents', '[]')) = 1
			   AND jsonb_typeof(ctx -> 'parents' -> 0 -> 'items') = 'array' THEN
				ctx := jsonb_set(ctx, '{parents}', ctx -> 'parents' -> 0 -> 'items');
			END IF;
			CASE coalesce(config ->> 'strategy', 'object')
				WHEN 'array' THEN
					v_out := coalesce(ctx -> 'parents', '[]');
				WHEN 'concat' THEN
					SELECT coalesce(jsonb_agg(y ORDER BY o, p), '[]') INTO v_out
					  FROM jsonb_array_elements(coalesce(ctx -> 'parents', '[]')) WITH ORDINALITY AS a (x, o),
						   LATERAL jsonb_array_elements(CASE jsonb_typeof(x) WHEN 'array' THEN x ELSE jsonb_build_array(x) END)
						   WITH ORDINALITY AS b (y, p);
				ELSE
					SELECT coalesce(jsonb_object_agg(k, v ORDER BY o), '{}') INTO v_out
					  FROM jsonb_array_elements(coalesce(ctx -> 'parents', '[]')) WITH ORDINALITY AS a (x, o),
						   LATERAL jsonb_each(CASE jsonb_typeof(x) WHEN 'object' THEN x ELSE '{}' END) AS b (k, v);
			END CASE;
			RETURN jsonb_build_object('output', v_out);

		WHEN v_kind = 'data.split' THEN
			v_items := flov7.node_items(config, v_data);
			RETURN jsonb_build_object('output', jsonb_build_object('items', v_items, 'count', jsonb_array_length(v_items)));

		WHEN v_kind = 'data.enrich' THEN
			v_out := CASE WHEN jsonb_typeof(v_data) = 'object' THEN v_data ELSE jsonb_build_object('data', v_data) END;
			IF config ? 'source' THEN
				v_out := v_out || CASE WHEN jsonb_typeof(ctx -> 'nodes' -> (config ->> 'source') -> 'output') = 'object'
									   THEN ctx -> 'nodes' -> (config ->> 'source') -> 'output' ELSE '{}' END;
			END IF;
			IF jsonb_typeof(config -> 'fields') = 'object' THEN
				v_out := v_out || (config -> 'fields');
			END IF;
			RETURN jsonb_build_object('output', v_out);

		WHEN v_kind = 'data.validate' THEN
			v_schema := config -> 'schema';
			IF jsonb_typeof(v_schema) = 'string' THEN
				-- a named schema (sql/parts/77_named_refs.sql): the owner's, else a global one
				v_schema := flov7.named_schema(v_schema #>> '{}');
			END IF;
			v_errors := flov7.json_schema_errors(v_schema, v_data);
			RETURN jsonb_build_object('output', jsonb_build_object('valid', cardinality(v_errors) = 0,
																   'errors', to_jsonb(v_errors), 'data', v_data));

		WHEN v_kind = 'condition.if_else' THEN
			v_ok := flov7.eval_condition(config ->> 'condition', ctx);
			RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(v_ok::text));

		WHEN v_kind = 'condition.json_path' THEN
			v_ok := coalesce(jsonb_path_match(ctx, (config ->> 'path')::jsonpath, '{}', true), false);
			RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(v_ok::text));

		WHEN v_kind = 'condition.regex' THEN
			v_ok := coalesce((config ->> 'value') ~ (CASE WHEN coalesce(config ->> 'flags', '') ~ 'i' THEN '(?i)' ELSE '' END
													 || (config ->> 'pattern')), false);
			RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(v_ok::text));

		WHEN v_kind = 'condition.compare' THEN
			v_left := config -> 'left';
			v_right := config -> 'right';
			v_op := config ->> 'operator';
			v_ok := CASE v_op
				WHEN '==' THEN v_left = v_right
				WHEN '!=' THEN v_left <> v_right
				WHEN 'contains' THEN CASE WHEN jsonb_typeof(v_left) = 'string' THEN strpos(v_left #>> '{}', v_right #>> '{}') > 0
										  ELSE v_left @> v_right END
				WHEN 'starts_with' THEN starts_with(v_left #>> '{}', v_right #>> '{}')
				WHEN 'ends_with' THEN right(v_left #>> '{}', length(v_right #>> '{}')) = v_right #>> '{}'
				ELSE CASE WHEN jsonb_typeof(v_left) = jsonb_typeof(v_right) AND jsonb_typeof(v_left) IN ('number', 'string') THEN
						CASE v_op WHEN '<' THEN v_left < v_right WHEN '<=' THEN v_left <= v_right
								  WHEN '>' THEN v_left > v_right WHEN '>=' THEN v_left >= v_right END END
			END;
			RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(coalesce(v_ok, false)::text));

		WHEN v_kind = 'condition.switch' THEN
			FOR v_case IN SELECT x FROM jsonb_array_elements(coalesce(config -> 'cases', '[]')) x LOOP
				IF (v_case ? 'condition' AND flov7.eval_condition(v_case ->> 'condition', ctx))
				   OR (v_case ? 'equals' AND config ? 'value' AND config -> 'value' = v_case -> 'equals') THEN
					RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(v_case ->> 'label'));
				END IF;
			END LOOP;
			RETURN jsonb_build_object('output', v_data, 'branches', '["default"]'::jsonb);

		WHEN v_kind = 'action.notification' THEN
			-- a named template gives the title (subject) and message (body) the node does not give
			IF jsonb_typeof(config -> 'template') = 'string' THEN
				v_out := flov7.render_message_template(config ->> 'template', ctx);
				config := jsonb_build_object('title', v_out -> 'subject', 'message', v_out -> 'body')
						  || jsonb_strip_nulls(jsonb_build_object('title', config -> 'title', 'message', config -> 'message'))
						  || (config - 'title' - 'message');
			END IF;
			RETURN jsonb_build_object('output', jsonb_build_object('notification_id',
				flov7.notify_caller(config ->> 'type', config ->> 'title', config ->> 'message',
									CASE WHEN jsonb_typeof(config -> 'data') = 'object' THEN config -> 'data' END)));

		WHEN v_kind = 'action.wait' THEN
			IF resumed THEN
				RETURN jsonb_build_object('output', v_data);
			END IF;
			IF config ? 'until' THEN
				v_until := (config ->> 'until')::timestamptz;
			ELSE
				v_until := clock_timestamp() + make_interval(secs => coalesce((config ->> 'duration_seconds')::float8, 0));
			END IF;
			IF v_until <= clock_timestamp() THEN
				RETURN jsonb_build_object('output', v_data);
			END IF;
			RETURN jsonb_build_object('wait_until', v_until);

		WHEN v_kind = 'condition.loop' THEN
			v_items := flov7.node_items(config, v_data);
			IF jsonb_array_length(v_items) > least(coalesce((config ->> 'max_iterations')::int, 1000), 10000) THEN
				RAISE EXCEPTION 'loop has % items, over its max_iterations (%)', jsonb_array_length(v_items),
					least(coalesce((config ->> 'max_iterations')::int, 1000), 10000)
					USING ERRCODE = '54000', HINT = 'Raise config.max_iterations (at most 10000), or loop over fewer items.';
			END IF;
			RETURN jsonb_build_object('output', jsonb_build_object('items', v_items), 'loop', true);

		ELSE
			-- The outside world (HTTP, AI, email, connections): step_finish parks the step for an
			-- outbound worker, or fails it when there is none (69_outbound.sql).  An email's named
			-- template is rendered here, as the owner, into the subject and body it does not give.
			IF v_kind = 'action.email_send' AND jsonb_typeof(config -> 'template') = 'string' THEN
				v_out := flov7.render_message_template(config ->> 'template', ctx);
				config := v_out || jsonb_strip_nulls(jsonb_build_object('subject', config -> 'subject', 'body', config -> 'body'))
						  || (config - 'subject' - 'body');
			END IF;
			RETURN jsonb_build_object('outside', jsonb_build_object('type', node_type, 'subtype', subtype, 'config', config));
	END CASE;
END
$$;

-- Settle the successors of a node (in the same loop iteration), in node id order (no deadlocks
-- between runners): each
-- loses a pending parent; taken ones (label in p_taken, or any edge of a node that does not
-- branch) get has_input.  A successor reaching 0 pending parents becomes ready, or skipped
-- when no parent fed it, and a skip settles its own successors in turn.
CREATE FUNCTION flov7.step_settle(p_uid uuid, p_exec uuid, p_definition jsonb, p_node text, p_taken text[],
								  p_iteration int DEFAULT 0)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_queue text[] := ARRAY[p_node];
	v_taken_q text[][] := NULL;
	v_node text;
	v_labels text[];
	v_first boolean := true;
	r record;
	v_left int;
	v_has boolean;
BEGIN
	WHILE cardinality(v_queue) > 0 LOOP
		v_node := v_queue[1];
		v_queue := v_queue[2:];
		FOR r IN
			SELECT o.target, bool_or(CASE WHEN v_first THEN (p_taken IS NULL OR o.label = ANY (p_taken)) ELSE false END) AS taken
			  FROM flov7.out_edges(p_definition, v_node) o
			 GROUP BY o.target ORDER BY o.target
		LOOP
			UPDATE flov7.execution_steps s
			   SET pending_parents = s.pending_parents - 1, has_input = s.has_input OR r.taken
			 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = r.target AND s.iteration = p_iteration
			   AND s.state = 'pending'
			RETURNING s.pending_parents, s.has_input INTO v_left, v_has;
			IF FOUND AND v_left = 0 THEN
				IF v_has THEN
					UPDATE flov7.execution_steps s SET state = 'ready', ready_at = now()
					 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = r.target AND s.iteration = p_iteration;
				ELSE
					UPDATE flov7.execution_steps s SET state = 'skipped', completed_at = now()
					 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = r.target AND s.iteration = p_iteration;
					v_queue := v_queue || r.target;
				END IF;
			END IF;
		END LOOP;
		v_first := false;
	END LOOP;
END
$$;

-- The cost of an execution so far: primitives.cost_usd of every step attempt that ran.
-- LANGUAGE sql, one SELECT, no SET clause: the planner inlines it into the statement that calls it
-- in FROM (the runner's end-of-execution UPDATE, planned for its batch), so its step data is read
-- through the primary key whatever the table's size was when a plan was first cached.
CREATE FUNCTION flov7.execution_costs(p_uid uuid, p_exec uuid, p_definition jsonb) RETURNS TABLE (cost numeric)
LANGUAGE sql STABLE AS $$
	SELECT coalesce(sum(p.cost_usd), 0)
	  FROM flov7.execution_step_data d
	  JOIN pg_catalog.jsonb_array_elements(p_definition -> 'nodes') n ON n ->> 'id' = d.node_id
	  JOIN flov7.primitives p ON p.type = n ->> 'type'
		   AND p.subtype = n -> 'data' -> 'config' ->> CASE n ->> 'type' WHEN 'data' THEN 'operation_type'
																		   ELSE (n ->> 'type') || '_type' END
	 WHERE d.user_id = p_uid AND d.execution_id = p_exec
$$;

-- The same, as a value (SQL-side settling).
CREATE FUNCTION flov7.execution_cost(p_uid uuid, p_exec uuid, p_definition jsonb) RETURNS numeric
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	RETURN (SELECT c.cost FROM flov7.execution_costs(p_uid, p_exec, p_definition) c);
END
$$;

-- End an execution whose steps are all settled (or that failed): status, timings, output_data
-- (the outputs of its completed terminal nodes), and the workflow's counters, once.
CREATE FUNCTION flov7.execution_settle(p_uid uuid, p_exec uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_exec flov7.workflow_executions;
	v_out jsonb;
BEGIN
	SELECT * INTO v_exec FROM flov7.workflow_executions e WHERE e.user_id = p_uid AND e.id = p_exec;
	IF v_exec.status IN ('completed', 'failed', 'cancelled') THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM flov7.execution_steps s WHERE s.user_id = p_uid AND s.execution_id = p_exec
				  AND s.state IN ('pending', 'ready', 'running', 'waiting')) THEN
		RETURN;
	END IF;
	SELECT coalesce(jsonb_object_agg(s.node_id, d.output), '{}') INTO v_out
	  FROM flov7.execution_steps s
	  JOIN LATERAL (SELECT x.output FROM flov7.execution_step_data x
					 WHERE x.user_id = s.user_id AND x.execution_id = s.execution_id AND x.node_id = s.node_id
					   AND x.iteration = s.iteration ORDER BY x.attempt DESC LIMIT 1) d ON true
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.state = 'completed' AND s.iteration = 0
	   AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_exec.definition -> 'edges') e WHERE e ->> 'source' = s.node_id);
	UPDATE flov7.workflow_executions e
	   SET status = 'completed', output_data = v_out, completed_at = clock_timestamp(),
		   cost_usd = flov7.execution_cost(p_uid, p_exec, v_exec.definition),
		   started_at = coalesce(e.started_at, e.created_at),
		   execution_time_seconds = round(extract(epoch FROM clock_timestamp() - coalesce(e.started_at, e.created_at))::numeric, 3)
	 WHERE e.user_id = p_uid AND e.id = p_exec;
	IF v_exec.retry_count = 0 THEN
		PERFORM flov7.workflow_count_run(p_uid, v_exec.workflow_id);
	END IF;
END
$$;

-- Count a finished run on its workflow (once per execution; no updated_at, no audit row).
-- PL/pgSQL, not SQL: its plan is kept across calls.
CREATE FUNCTION flov7.workflow_count_run(p_uid uuid, p_workflow uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	UPDATE flov7.workflows w SET execution_count = w.execution_count + 1, last_executed_at = clock_timestamp()
	 WHERE w.user_id = p_uid AND w.id = p_workflow;
END
$$;

-- Fail an execution at a node: the other unsettled steps are cancelled.
CREATE FUNCTION flov7.execution_fail(p_uid uuid, p_exec uuid, p_node text, p_error text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_wf uuid;
	v_retries int;
BEGIN
	UPDATE flov7.execution_steps s SET state = 'cancelled', completed_at = now(), ready_at = NULL
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.state IN ('pending', 'ready', 'waiting');
	UPDATE flov7.workflow_executions e
	   SET status = 'failed', error_node = p_node, completed_at = clock_timestamp(),
		   cost_usd = flov7.execution_cost(p_uid, p_exec, e.definition),
		   error_message = left(format('node "%s" failed: %s', p_node, p_error), 2000),
		   started_at = coalesce(e.started_at, e.created_at),
		   execution_time_seconds = round(extract(epoch FROM clock_timestamp() - coalesce(e.started_at, e.created_at))::numeric, 3)
	 WHERE e.user_id = p_uid AND e.id = p_exec AND e.status NOT IN ('completed', 'failed', 'cancelled')
	RETURNING e.workflow_id, e.retry_count INTO v_wf, v_retries;
	IF FOUND AND v_retries = 0 THEN
		PERFORM flov7.workflow_count_run(p_uid, v_wf);
	END IF;
END
$$;

-- The body of a loop: the nodes reachable from its "item" edges (an unlabelled edge is one),
-- but not from its "done" edges.  Each run of the body is one iteration (1..n) of its steps.
CREATE FUNCTION flov7.loop_body(definition jsonb, loop text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	WITH RECURSIVE e AS (
		SELECT x ->> 'source' AS src, x ->> 'target' AS dst, coalesce(x ->> 'branch', x ->> 'sourceHandle') AS lbl
		  FROM jsonb_array_elements(definition -> 'edges') x
	), done (n) AS (
		SELECT e.dst FROM e WHERE e.src = loop AND e.lbl = 'done'
		UNION
		SELECT e.dst FROM e JOIN done d ON e.src = d.n
	), body (n) AS (
		SELECT e.dst FROM e WHERE e.src = loop AND (e.lbl IS NULL OR e.lbl = 'item')
		UNION
		SELECT e.dst FROM e JOIN body b ON e.src = b.n WHERE e.dst <> loop
	)
	SELECT coalesce(array_agg(DISTINCT b.n ORDER BY b.n), '{}') FROM body b WHERE b.n NOT IN (SELECT d.n FROM done d)
$$;

-- The loop whose body holds a node (NULL: none).
CREATE FUNCTION flov7.loop_of(definition jsonb, node text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT n ->> 'id' FROM jsonb_array_elements(definition -> 'nodes') n
	 WHERE n -> 'data' -> 'config' ->> 'condition_type' = 'loop' AND node = ANY (flov7.loop_body(definition, n ->> 'id'))
	 ORDER BY n ->> 'id' LIMIT 1
$$;

-- Start a loop whose node ran: one iteration of its body per item; the loop step waits (parked,
-- no timer) until the iterations end.  No items: the loop completes at once.
CREATE FUNCTION flov7.loop_start(p_uid uuid, p_exec uuid, p_definition jsonb, p_loop text, p_items jsonb,
								 p_worker text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_body text[] := flov7.loop_body(p_definition, p_loop);
	v_n int := jsonb_array_length(p_items);
BEGIN
	DELETE FROM flov7.execution_steps s
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = ANY (v_body) AND s.iteration > 0;
	UPDATE flov7.execution_steps s SET state = 'waiting', ready_at = NULL
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_loop AND s.iteration = 0;
	INSERT INTO flov7.execution_steps (user_id, execution_id, node_id, iteration, state, pending_parents, has_input, ready_at)
	SELECT p_uid, p_exec, b, k, CASE WHEN c.parents = 0 THEN 'ready' ELSE 'pending' END, c.parents, c.parents = 0,
		   CASE WHEN c.parents = 0 THEN now() END
	  FROM unnest(v_body) b
	 CROSS JOIN generate_series(1, v_n) k
	 CROSS JOIN LATERAL (SELECT count(DISTINCT e ->> 'source')::int AS parents
						   FROM jsonb_array_elements(p_definition -> 'edges') e
						  WHERE e ->> 'target' = b AND e ->> 'source' = ANY (v_body)) c
	 ORDER BY k, b;
	UPDATE flov7.workflow_executions e SET steps_total = e.steps_total + v_n * cardinality(v_body)
	 WHERE e.user_id = p_uid AND e.id = p_exec;
	PERFORM flov7.loop_try_finish(p_uid, p_exec, p_definition, p_loop, p_worker);
END
$$;

-- Complete a loop whose iterations have all ended: its output is {"items": [one result per
-- item, in order]}, a result being the output of the body's last node (several last nodes:
-- an object by node id); then its "done" branch goes on.
CREATE FUNCTION flov7.loop_try_finish(p_uid uuid, p_exec uuid, p_definition jsonb, p_loop text, p_worker text)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_body text[] := flov7.loop_body(p_definition, p_loop);
	v_last text[];
	v_step flov7.execution_steps;
	v_n int;
	v_results jsonb;
BEGIN
	IF p_loop IS NULL OR EXISTS (
		SELECT 1 FROM flov7.execution_steps s
		 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = ANY (v_body) AND s.iteration > 0
		   AND s.state IN ('pending', 'ready', 'running', 'waiting')) THEN
		RETURN;
	END IF;
	SELECT * INTO v_step FROM flov7.execution_steps s
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_loop AND s.iteration = 0;
	IF v_step.state IS DISTINCT FROM 'waiting' OR v_step.ready_at IS NOT NULL THEN
		RETURN;
	END IF;
	v_last := ARRAY(SELECT b FROM unnest(v_body) b
					 WHERE NOT EXISTS (SELECT 1 FROM flov7.out_edges(p_definition, b) o WHERE o.target = ANY (v_body)));
	SELECT jsonb_array_length(d.output -> 'items') INTO v_n FROM flov7.execution_step_data d
	 WHERE d.user_id = p_uid AND d.execution_id = p_exec AND d.node_id = p_loop AND d.iteration = 0
	 ORDER BY d.attempt DESC LIMIT 1;
	SELECT coalesce(jsonb_agg(r.result ORDER BY r.k), '[]') INTO v_results
	  FROM (SELECT k, CASE WHEN cardinality(v_last) = 1 THEN max(o.output::text) FILTER (WHERE o.node_id = v_last[1])::jsonb
						   ELSE jsonb_object_agg(o.node_id, o.output) END AS result
			  FROM generate_series(1, coalesce(v_n, 0)) k
			  CROSS JOIN unnest(v_last) l (node_id)
			  LEFT JOIN LATERAL (SELECT x.node_id, x.output FROM flov7.execution_step_data x
								  WHERE x.user_id = p_uid AND x.execution_id = p_exec AND x.node_id = l.node_id
									AND x.iteration = k ORDER BY x.attempt DESC LIMIT 1) o ON true
			 GROUP BY k) r;
	INSERT INTO flov7.execution_step_data (user_id, execution_id, node_id, iteration, attempt, input, output,
										   branches, error, started_at, finished_at, worker)
	VALUES (p_uid, p_exec, p_loop, 0, v_step.attempt + 1, NULL, jsonb_build_object('items', v_results),
			'{done}', NULL, coalesce(v_step.started_at, clock_timestamp()), clock_timestamp(), p_worker);
	UPDATE flov7.execution_steps s
	   SET state = 'completed', attempt = v_step.attempt + 1, completed_at = clock_timestamp()
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_loop AND s.iteration = 0;
	UPDATE flov7.workflow_executions e SET steps_completed = e.steps_completed + 1
	 WHERE e.user_id = p_uid AND e.id = p_exec;
	PERFORM flov7.step_settle(p_uid, p_exec, p_definition, p_loop, '{done}', 0);
	PERFORM flov7.execution_settle(p_uid, p_exec);
END
$$;

-- An execution that has started and not ended is 'running' while one of its steps is due or
-- running, and 'waiting' when all that remains is durable timers (wait nodes, retry backoff),
-- a loop's iterations to come, or steps parked for an outside worker.  The execution row is
-- locked first, so that two steps finishing at once see each other's states.
CREATE FUNCTION flov7.execution_refresh_status(p_uid uuid, p_exec uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_status text;
	v_new text;
BEGIN
	SELECT e.status INTO v_status FROM flov7.workflow_executions e
	 WHERE e.user_id = p_uid AND e.id = p_exec FOR NO KEY UPDATE;
	IF v_status IS DISTINCT FROM 'running' AND v_status IS DISTINCT FROM 'waiting' THEN
		RETURN;
	END IF;
	v_new := CASE WHEN EXISTS (SELECT 1 FROM flov7.execution_steps s
								WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.state IN ('ready', 'running')
								  AND (s.state = 'running' OR s.ready_at <= clock_timestamp()))
				  THEN 'running' ELSE 'waiting' END;
	IF v_new <> v_status THEN
		UPDATE flov7.workflow_executions e SET status = v_new WHERE e.user_id = p_uid AND e.id = p_exec;
	END IF;
END
$$;

-- Record the end of a step's attempt and move the execution on.  p_result is the node's
-- answer ({"output", "branches"} or {"wait_until"}), NULL when p_error is set.  A failure is
-- retried per config.retry ({"max_attempts", "backoff_ms", "max_backoff_ms"}), else it fails
-- the execution, unless config.continue_on_error (then the step completes with
-- {"error": ...} as its output and its successors run).
CREATE FUNCTION flov7.step_finish(p_uid uuid, p_exec uuid, p_node text, p_iteration int, p_attempt int,
								  p_node_def jsonb, p_input jsonb, p_result jsonb, p_error text,
								  p_started timestamptz, p_worker text)
RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_config jsonb := coalesce(p_node_def -> 'data' -> 'config', '{}');
	v_retry jsonb := CASE WHEN jsonb_typeof(v_config -> 'retry') = 'object' THEN v_config -> 'retry' ELSE '{}' END;
	v_max int := least(greatest(coalesce((v_retry ->> 'max_attempts')::int, 1), 1), 100);
	v_delay bigint;
	v_def jsonb;
	v_branches text[];
BEGIN
	SELECT e.definition INTO v_def FROM flov7.workflow_executions e WHERE e.user_id = p_uid AND e.id = p_exec;
	IF p_error IS NULL AND p_result ? 'outside' THEN
		IF flov7.outbound_enabled() THEN
			PERFORM flov7.outbound_park(p_uid, p_exec, p_node, p_iteration, p_attempt, p_result -> 'outside', p_input, p_started);
			PERFORM flov7.execution_refresh_status(p_uid, p_exec);
			RETURN 'parked';
		END IF;
		p_error := format('node type %s/%s needs the outbound worker (not available yet)',
						  p_result -> 'outside' ->> 'type', p_result -> 'outside' ->> 'subtype');
		p_result := NULL;
	END IF;
	IF p_error IS NULL AND p_result ? 'wait_until' THEN
		UPDATE flov7.execution_steps s SET state = 'waiting', ready_at = (p_result ->> 'wait_until')::timestamptz,
			   started_at = coalesce(s.started_at, p_started)
		 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
		PERFORM flov7.execution_refresh_status(p_uid, p_exec);
		RETURN 'waiting';
	END IF;
	IF p_result ? 'branches' THEN
		v_branches := ARRAY(SELECT jsonb_array_elements_text(p_result -> 'branches'));
	END IF;
	INSERT INTO flov7.execution_step_data (user_id, execution_id, node_id, iteration, attempt, input, output,
										   branches, error, started_at, finished_at, worker)
	VALUES (p_uid, p_exec, p_node, p_iteration, p_attempt, p_input,
			CASE WHEN p_error IS NULL THEN p_result -> 'output'
				 WHEN (v_config ->> 'continue_on_error')::boolean AND p_attempt >= v_max THEN jsonb_build_object('error', p_error) END,
			v_branches, p_error, p_started, clock_timestamp(), p_worker);

	IF p_error IS NOT NULL AND p_attempt < v_max THEN
		v_delay := flov7.retry_delay_ms(p_attempt, coalesce((v_retry ->> 'backoff_ms')::int, 1000),
										coalesce((v_retry ->> 'max_backoff_ms')::int, 300000));
		UPDATE flov7.execution_steps s
		   SET state = 'ready', attempt = p_attempt, ready_at = clock_timestamp() + make_interval(secs => v_delay / 1000.0),
			   started_at = coalesce(s.started_at, p_started)
		 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
		PERFORM flov7.execution_refresh_status(p_uid, p_exec);
		RETURN 'retry';
	END IF;

	IF p_error IS NULL AND p_result ? 'loop' THEN
		UPDATE flov7.execution_steps s SET attempt = p_attempt, started_at = coalesce(s.started_at, p_started)
		 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
		PERFORM flov7.loop_start(p_uid, p_exec, v_def, p_node, p_result -> 'output' -> 'items', p_worker);
		PERFORM flov7.execution_refresh_status(p_uid, p_exec);
		RETURN 'looping';
	END IF;

	IF p_error IS NOT NULL AND NOT coalesce((v_config ->> 'continue_on_error')::boolean, false) THEN
		UPDATE flov7.execution_steps s
		   SET state = 'failed', attempt = p_attempt, ready_at = NULL, completed_at = clock_timestamp(),
			   started_at = coalesce(s.started_at, p_started)
		 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
		UPDATE flov7.workflow_executions e SET steps_failed = e.steps_failed + 1
		 WHERE e.user_id = p_uid AND e.id = p_exec;
		PERFORM flov7.execution_fail(p_uid, p_exec, p_node, p_error);
		RETURN 'failed';
	END IF;

	UPDATE flov7.execution_steps s
	   SET state = 'completed', attempt = p_attempt, ready_at = NULL, completed_at = clock_timestamp(),
		   started_at = coalesce(s.started_at, p_started)
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
	UPDATE flov7.workflow_executions e
	   SET steps_completed = e.steps_completed + 1,
		   steps_failed = e.steps_failed + CASE WHEN p_error IS NULL THEN 0 ELSE 1 END
	 WHERE e.user_id = p_uid AND e.id = p_exec;
	PERFORM flov7.step_settle(p_uid, p_exec, v_def, p_node, CASE WHEN p_error IS NULL THEN v_branches END, p_iteration);
	IF p_iteration > 0 THEN
		PERFORM flov7.loop_try_finish(p_uid, p_exec, v_def, flov7.loop_of(v_def, p_node), p_worker);
	END IF;
	PERFORM flov7.execution_settle(p_uid, p_exec);
	PERFORM flov7.execution_refresh_status(p_uid, p_exec);
	RETURN 'completed';
END
$$;

-- The runner (extension/engine.c): run up to max_steps due steps now, in this transaction,
-- each under its own subtransaction as the workflow's owner.  Returns how many ran.
CREATE FUNCTION flov7.run_ready(max_steps int DEFAULT 100) RETURNS int
	AS 'MODULE_PATHNAME', 'flov7_run_ready' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, flov7, pg_temp;
COMMENT ON FUNCTION flov7.run_ready(int) IS
	'run up to max_steps due steps of any owner now (superuser; what the background workers do)';
