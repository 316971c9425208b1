-- 67_executions_api.sql: listing, reading, cancelling and retrying executions.
--
-- Reads are invoker rights under RLS, scoped to the caller explicitly (another user's
-- execution is "not found", also for an admin); cancel and retry change the queue, which
-- users cannot write, so they go through SECURITY DEFINER helpers that check the owner.

-- One step of an execution with its latest attempt's data.
CREATE FUNCTION flov7.step_to_json(s flov7.execution_steps) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'node_id', s.node_id, 'iteration', s.iteration, 'state', s.state, 'attempt', s.attempt,
		'ready_at', s.ready_at, 'started_at', s.started_at, 'completed_at', s.completed_at,
		'input', d.input, 'output', d.output, 'branches', to_jsonb(d.branches), 'error', d.error,
		'worker', d.worker, 'duration_ms',
		round(extract(epoch FROM d.finished_at - d.started_at)::numeric * 1000, 3))
	  FROM (SELECT 1) one
	  LEFT JOIN LATERAL (SELECT x.* FROM flov7.execution_step_data x
						  WHERE x.user_id = s.user_id AND x.execution_id = s.execution_id
							AND x.node_id = s.node_id AND x.iteration = s.iteration
						  ORDER BY x.attempt DESC LIMIT 1) d ON true
$$;

-- GET /workflows/{id}/executions: the executions of one of the caller's workflows, newest
-- first; filters status, created_after, created_before; a page by offset or by cursor
-- (22_lists.sql), which costs the same on any page.  "before" is the cursor's older name, and
-- also takes an execution id (the page after that execution).
CREATE FUNCTION flov7_api.execution_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_wf uuid := flov7.arg_uuid(args, 'id');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_status text := flov7.arg_enum(args, 'status',
		ARRAY['pending', 'running', 'completed', 'failed', 'cancelled', 'waiting'], false);
	v_after_ts timestamptz := flov7.arg_timestamptz(args, 'created_after');
	v_before_ts timestamptz := flov7.arg_timestamptz(args, 'created_before');
	v_before text := nullif(flov7.arg_text(args, 'before', false, 4000), '');
	v_after jsonb;
	v_ct timestamptz;
	v_f jsonb;
	v_rows jsonb;
BEGIN
	PERFORM 1 FROM flov7.workflows w WHERE w.id = v_wf AND w.user_id = v_uid;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	IF v_before IS NULL THEN
		v_after := flov7.arg_cursor(args, 'executions', 'created_at.desc', v_wf::text, 2);
	ELSIF nullif(args ->> 'cursor', '') IS NOT NULL THEN
		RAISE EXCEPTION 'send either "cursor" or "before", not both' USING ERRCODE = '22023';
	ELSIF v_before ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		-- An execution id: the page after it (offset is ignored, as it always was).
		SELECT e.created_at INTO v_ct FROM flov7.workflow_executions e
		 WHERE e.user_id = v_uid AND e.workflow_id = v_wf AND e.id = v_before::uuid;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'field "before" names no execution of this workflow' USING ERRCODE = '22023';
		END IF;
		v_after := jsonb_build_array(v_ct, v_before::uuid);
	ELSE
		v_after := flov7.arg_cursor(args, 'executions', 'created_at.desc', v_wf::text, 2, 'before');
	END IF;
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'wf', v_wf, 'status', v_status,
		'from', v_after_ts, 'to', v_before_ts, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.execution_to_json(x))
									   ORDER BY x.created_at DESC, x.id DESC), '[]')
				 FROM (SELECT e.* FROM $q$ || flov7.list_from('executions') || $q$
						  AND (($1->'after') IS NULL
							   OR (e.created_at, e.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
						ORDER BY e.created_at DESC, e.id DESC
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('executions', 'created_at.desc', v_wf::text, v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- GET /workflows/executions/{id}: one of the caller's executions with its steps.
CREATE FUNCTION flov7_api.execution_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_exec flov7.workflow_executions;
BEGIN
	SELECT * INTO v_exec FROM flov7.workflow_executions e WHERE e.user_id = v_uid AND e.id = v_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'execution not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.execution_to_json(v_exec) || jsonb_build_object(
		'steps', (SELECT coalesce(jsonb_agg(flov7.step_to_json(s) ORDER BY s.started_at NULLS LAST, s.node_id, s.iteration), '[]')
					FROM flov7.execution_steps s WHERE s.user_id = v_uid AND s.execution_id = v_id));
END
$$;

-- GET /workflows/executions/{id}/steps: the step log of one of the caller's executions, the
-- latest attempt of each step, by node id and iteration (the order of the steps' primary key,
-- so any page is a range of it); filters state, node_id; a page by offset or by cursor
-- (22_lists.sql).
CREATE FUNCTION flov7_api.execution_step_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_state text := flov7.arg_enum(args, 'state',
		ARRAY['pending', 'ready', 'running', 'waiting', 'completed', 'failed', 'skipped', 'cancelled'], false);
	v_node text := flov7.arg_text(args, 'node_id', false, 200);
	v_after jsonb := flov7.arg_cursor(args, 'steps', 'node_id.asc', v_id::text, 2);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	PERFORM 1 FROM flov7.workflow_executions e WHERE e.user_id = v_uid AND e.id = v_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'execution not found' USING ERRCODE = 'P0002';
	END IF;
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'exec', v_id, 'state', v_state, 'node', v_node,
		'lim', v_limit, 'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.node_id, x.iteration), flov7.step_to_json(x))
									   ORDER BY x.node_id, x.iteration), '[]')
				 FROM (SELECT s.* FROM $q$ || flov7.list_from('steps') || $q$
						  AND (($1->'after') IS NULL
							   OR (s.node_id, s.iteration) > (($1->'after'->>0), ($1->'after'->>1)::int))
						ORDER BY s.node_id, s.iteration
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('steps', 'node_id.asc', v_id::text, v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- Cancel one of the caller's executions: its pending, ready and waiting steps are cancelled
-- (a step running right now finishes, and its successors do not start).  PT409 if it ended.
CREATE FUNCTION flov7.execution_cancel(p_id uuid) RETURNS flov7.workflow_executions
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:execute');
	v_exec flov7.workflow_executions;
BEGIN
	SELECT * INTO v_exec FROM flov7.workflow_executions e WHERE e.user_id = v_uid AND e.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'execution not found' USING ERRCODE = 'P0002';
	END IF;
	IF v_exec.status IN ('completed', 'failed', 'cancelled') THEN
		RAISE EXCEPTION 'execution already ended (%)', v_exec.status USING ERRCODE = 'PT409',
			HINT = 'Only a pending, running or waiting execution can be cancelled.';
	END IF;
	-- A step a worker holds is running now: skip it rather than wait for it (the worker, about to
	-- lock this execution row, would deadlock with us); it finishes, and the runner cancels what
	-- it would start next, since the execution is over.
	UPDATE flov7.execution_steps s SET state = 'cancelled', completed_at = now(), ready_at = NULL
	  FROM (SELECT x.node_id, x.iteration FROM flov7.execution_steps x
			 WHERE x.user_id = v_uid AND x.execution_id = p_id AND x.state IN ('pending', 'ready', 'waiting')
			   FOR UPDATE SKIP LOCKED) free
	 WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.node_id = free.node_id AND s.iteration = free.iteration;
	UPDATE flov7.workflow_executions e
	   SET status = 'cancelled', completed_at = clock_timestamp(), error_message = 'cancelled by the user',
		   execution_time_seconds = round(extract(epoch FROM clock_timestamp() - coalesce(e.started_at, e.created_at))::numeric, 3)
	 WHERE e.user_id = v_uid AND e.id = p_id
	RETURNING * INTO v_exec;
	IF v_exec.retry_count = 0 THEN
		PERFORM flov7.workflow_count_run(v_uid, v_exec.workflow_id);
	END IF;
	RETURN v_exec;
END
$$;

-- POST /workflows/executions/{id}/cancel
CREATE FUNCTION flov7_api.execution_cancel(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	PERFORM flov7.authorize('workflows:execute');
	RETURN flov7.execution_to_json(flov7.execution_cancel(flov7.arg_uuid(args, 'id')));
END
$$;

-- Retry one of the caller's failed (or cancelled) executions from where it stopped: completed
-- and skipped steps are kept; every other step waits again for its unsettled parents, and
-- those with none left are ready now.  A failed step gets a fresh attempt (numbering goes on,
-- and one more attempt than config.retry gives per retry).  PT409 unless failed or cancelled.
CREATE FUNCTION flov7.execution_retry(p_id uuid) RETURNS flov7.workflow_executions
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:execute');
	v_exec flov7.workflow_executions;
	r record;
BEGIN
	SELECT * INTO v_exec FROM flov7.workflow_executions e WHERE e.user_id = v_uid AND e.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'execution not found' USING ERRCODE = 'P0002';
	END IF;
	IF v_exec.status NOT IN ('failed', 'cancelled') THEN
		RAISE EXCEPTION 'only a failed or cancelled execution can be retried (it is %)', v_exec.status
			USING ERRCODE = 'PT409';
	END IF;

	-- A loop that did not end runs again, all its iterations.
	DELETE FROM flov7.execution_steps s
	 WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.iteration > 0 AND s.state NOT IN ('completed', 'skipped');

	-- Every unsettled step waits again for its parents that are neither completed nor skipped;
	-- it has input if a completed parent took an edge into it.
	WITH edges AS (
		SELECT DISTINCT x.e ->> 'source' AS src, x.e ->> 'target' AS dst
		  FROM jsonb_array_elements(v_exec.definition -> 'edges') AS x (e)
	), counts AS (
		SELECT s.node_id,
			   count(DISTINCT e.src) FILTER (WHERE p.state NOT IN ('completed', 'skipped'))::int AS waiting,
			   bool_or(p.state = 'completed' AND (d.branches IS NULL OR EXISTS (
				   SELECT 1 FROM flov7.out_edges(v_exec.definition, e.src) o
					WHERE o.target = s.node_id AND o.label = ANY (d.branches)))) AS fed,
			   count(e.src) = 0 AS root
		  FROM flov7.execution_steps s
		  LEFT JOIN edges e ON e.dst = s.node_id
		  LEFT JOIN flov7.execution_steps p ON p.user_id = s.user_id AND p.execution_id = s.execution_id
										   AND p.node_id = e.src AND p.iteration = 0
		  LEFT JOIN LATERAL (SELECT x.branches FROM flov7.execution_step_data x
							  WHERE x.user_id = p.user_id AND x.execution_id = p.execution_id AND x.node_id = p.node_id
								AND x.iteration = p.iteration ORDER BY x.attempt DESC LIMIT 1) d ON true
		 WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.state NOT IN ('completed', 'skipped')
		   AND s.iteration = 0
		 GROUP BY s.node_id
	)
	UPDATE flov7.execution_steps s
	   SET state = CASE WHEN c.waiting = 0 THEN 'ready' ELSE 'pending' END,
		   pending_parents = c.waiting, has_input = coalesce(c.fed, false) OR c.root,
		   ready_at = CASE WHEN c.waiting = 0 THEN now() END, completed_at = NULL
	  FROM counts c
	 WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.node_id = c.node_id AND s.iteration = 0;

	-- A ready step nothing fed is skipped, and settles its successors.
	FOR r IN SELECT s.node_id FROM flov7.execution_steps s
			  WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.state = 'ready' AND NOT s.has_input
			  ORDER BY s.node_id LOOP
		UPDATE flov7.execution_steps s SET state = 'skipped', ready_at = NULL, completed_at = now()
		 WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.node_id = r.node_id;
		PERFORM flov7.step_settle(v_uid, p_id, v_exec.definition, r.node_id, '{}');
	END LOOP;

	UPDATE flov7.workflow_executions e
	   SET status = 'running', error_message = NULL, error_node = NULL, completed_at = NULL,
		   execution_time_seconds = NULL, output_data = NULL, retry_count = e.retry_count + 1
	 WHERE e.user_id = v_uid AND e.id = p_id
	RETURNING * INTO v_exec;
	PERFORM flov7.execution_settle(v_uid, p_id);
	PERFORM flov7.wake_workers();
	SELECT * INTO v_exec FROM flov7.workflow_executions e WHERE e.user_id = v_uid AND e.id = p_id;
	RETURN v_exec;
END
$$;

-- POST /workflows/executions/{id}/retry
CREATE FUNCTION flov7_api.execution_retry(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_exec flov7.workflow_executions;
BEGIN
	PERFORM flov7.authorize('workflows:execute');
	v_exec := flov7.execution_retry(flov7.arg_uuid(args, 'id'));
	RETURN flov7.execution_to_json(v_exec);
END
$$;
