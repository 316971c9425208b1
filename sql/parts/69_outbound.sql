-- 69_outbound.sql: steps done outside the database (HTTP calls, AI, email, connections).
--
-- Such a step is parked (state waiting, no ready_at) with its request: the node's type, its
-- config with templates evaluated, the data flowing in, and an idempotency key that stays the
-- same across attempts.  An outbound worker claims parked steps with a lease
-- (flov7.outbound_claim: state running, lease_until, fence bumped) and reports each result with
-- the fence it got (flov7.outbound_complete): a late answer from a claim whose lease expired and
-- was claimed again is refused, so a result is recorded once even though the call itself is at
-- least once.  A result goes through flov7.step_finish like any other step's (retries, backoff,
-- continue_on_error, successors).  Until an outbound worker exists, the setting
-- outbound_worker (flov7.settings) is absent and such steps fail with a clear error.

CREATE TABLE flov7.outbound_requests (
	user_id			uuid NOT NULL,
	execution_id	uuid NOT NULL,
	node_id			text NOT NULL,
	iteration		int NOT NULL,
	attempt			int NOT NULL CHECK (attempt >= 1),
	kind			text NOT NULL CHECK (kind ~ '^[a-z]+\.[a-z_]+$'),
	request			jsonb NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, execution_id, node_id, iteration, attempt),
	FOREIGN KEY (user_id, execution_id, node_id, iteration)
		REFERENCES flov7.execution_steps (user_id, execution_id, node_id, iteration) ON DELETE CASCADE
);
COMMENT ON TABLE flov7.outbound_requests IS
	'what a parked outside step asks of the outbound worker, per attempt; written once';
ALTER TABLE flov7.outbound_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.outbound_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY outbound_requests_owner_or_admin ON flov7.outbound_requests
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));
SELECT pg_catalog.pg_extension_config_dump('flov7.outbound_requests', '');

-- Whether outside steps are parked for an outbound worker (settings key outbound_worker = 'on').
CREATE FUNCTION flov7.outbound_enabled() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT coalesce((SELECT s.value = 'on' FROM flov7.settings s WHERE s.key = 'outbound_worker'), false)
$$;

-- Park an outside step with its request.
CREATE FUNCTION flov7.outbound_park(p_uid uuid, p_exec uuid, p_node text, p_iteration int, p_attempt int,
									p_outside jsonb, p_input jsonb, p_started timestamptz) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	INSERT INTO flov7.outbound_requests (user_id, execution_id, node_id, iteration, attempt, kind, request)
	VALUES (p_uid, p_exec, p_node, p_iteration, p_attempt, (p_outside ->> 'type') || '.' || (p_outside ->> 'subtype'),
			jsonb_build_object('config', p_outside -> 'config', 'data', p_input,
							   'idempotency_key', format('%s:%s:%s', p_exec, p_node, p_iteration)));
	UPDATE flov7.execution_steps s
	   SET state = 'waiting', ready_at = NULL, lease_until = NULL, attempt = p_attempt,
		   started_at = coalesce(s.started_at, p_started)
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
END
$$;

-- Claim up to p_limit parked outside steps (of the kinds given, e.g. 'action.api_call'; NULL: any),
-- or steps whose lease expired, for p_lease_ms.  Each comes with the fence its result must bear.
CREATE FUNCTION flov7.outbound_claim(p_kinds text[], p_lease_ms int, p_limit int)
RETURNS TABLE (user_id uuid, execution_id uuid, node_id text, iteration int, attempt int, fence bigint,
			   kind text, request jsonb, lease_until timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF p_lease_ms IS NULL OR p_lease_ms < 1 OR p_limit IS NULL OR p_limit < 1 THEN
		RAISE EXCEPTION 'lease_ms and limit must be positive' USING ERRCODE = '22023';
	END IF;
	RETURN QUERY
	WITH c AS (
		SELECT s.user_id, s.execution_id, s.node_id, s.iteration, s.attempt
		  FROM flov7.execution_steps s
		 WHERE ((s.state = 'waiting' AND s.ready_at IS NULL) OR (s.state = 'running' AND s.lease_until < clock_timestamp()))
		   AND EXISTS (SELECT 1 FROM flov7.outbound_requests r
						WHERE r.user_id = s.user_id AND r.execution_id = s.execution_id AND r.node_id = s.node_id
						  AND r.iteration = s.iteration AND r.attempt = s.attempt
						  AND (p_kinds IS NULL OR r.kind = ANY (p_kinds)))
		 ORDER BY s.started_at
		 LIMIT p_limit
		   FOR UPDATE SKIP LOCKED
	), u AS (
		UPDATE flov7.execution_steps s
		   SET state = 'running', lease_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0),
			   fence = s.fence + 1
		  FROM c
		 WHERE s.user_id = c.user_id AND s.execution_id = c.execution_id AND s.node_id = c.node_id
		   AND s.iteration = c.iteration
		RETURNING s.user_id, s.execution_id, s.node_id, s.iteration, s.attempt, s.fence, s.lease_until
	), x AS (
		-- a claimed step runs: its execution is running again
		UPDATE flov7.workflow_executions e SET status = 'running'
		  FROM (SELECT DISTINCT u.user_id, u.execution_id FROM u) ue
		 WHERE e.user_id = ue.user_id AND e.id = ue.execution_id AND e.status = 'waiting'
	)
	SELECT u.user_id, u.execution_id, u.node_id, u.iteration, u.attempt, u.fence, r.kind, r.request, u.lease_until
	  FROM u JOIN flov7.outbound_requests r
			   ON r.user_id = u.user_id AND r.execution_id = u.execution_id AND r.node_id = u.node_id
			  AND r.iteration = u.iteration AND r.attempt = u.attempt;
END
$$;

-- Report the result of a claimed outside step (output, or an error), with the claim's fence.
-- A fence that is no longer current (the lease expired and the step was claimed again) is
-- refused with PT409 and changes nothing.  Returns the step's new state.
CREATE FUNCTION flov7.outbound_complete(p_uid uuid, p_exec uuid, p_node text, p_iteration int, p_fence bigint,
										p_output jsonb, p_error text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_step flov7.execution_steps;
	v_node jsonb;
	v_input jsonb;
BEGIN
	-- the execution's row first, as the runner and cancel lock it: no lock-order cycle with them
	PERFORM FROM flov7.workflow_executions e WHERE e.user_id = p_uid AND e.id = p_exec FOR NO KEY UPDATE;
	SELECT * INTO v_step FROM flov7.execution_steps s
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'step not found' USING ERRCODE = 'P0002';
	END IF;
	IF v_step.state <> 'running' OR v_step.fence <> p_fence THEN
		RAISE EXCEPTION 'stale claim: the step is % at fence %', v_step.state, v_step.fence USING ERRCODE = 'PT409',
			DETAIL = format('The result was reported with fence %s.', p_fence),
			HINT = 'The lease expired and the step was claimed again, or it was cancelled; drop this result.';
	END IF;
	SELECT n INTO v_node FROM flov7.workflow_executions e, jsonb_array_elements(e.definition -> 'nodes') n
	 WHERE e.user_id = p_uid AND e.id = p_exec AND n ->> 'id' = p_node LIMIT 1;
	SELECT r.request -> 'data' INTO v_input FROM flov7.outbound_requests r
	 WHERE r.user_id = p_uid AND r.execution_id = p_exec AND r.node_id = p_node AND r.iteration = p_iteration
	   AND r.attempt = v_step.attempt;
	UPDATE flov7.execution_steps s SET lease_until = NULL
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
	RETURN flov7.step_finish(p_uid, p_exec, p_node, p_iteration, v_step.attempt, v_node, v_input,
							 CASE WHEN p_error IS NULL THEN jsonb_build_object('output', p_output) END, p_error,
							 v_step.started_at, 'outbound');
END
$$;
