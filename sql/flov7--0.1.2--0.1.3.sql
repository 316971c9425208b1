-- flov7 0.1.2 -> 0.1.3.
-- Hand-written; a fresh 0.1.3 install (sql/parts/) must end up with the same catalog
-- (test/upgrade/run.sh compares them).  Each change names its issue and the part it mirrors.
\echo Use "ALTER EXTENSION flov7 UPDATE TO '0.1.3'" to load this file. \quit

-- ======== issue 6, the runner claims executions, not steps (sql/parts/66_engine.sql) ========
-- extension/runner.c locks an execution's row and runs its due steps; step_claim is gone.
DROP FUNCTION flov7.step_claim(uuid);
CREATE OR REPLACE FUNCTION flov7.execution_cost(p_uid uuid, p_exec uuid, p_definition jsonb) RETURNS numeric
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	-- PL/pgSQL, not SQL: its plan is kept across calls (a SQL function's is made per call)
	RETURN (SELECT coalesce(sum(p.cost_usd), 0)
			  FROM flov7.execution_step_data d
			  JOIN jsonb_array_elements(p_definition -> 'nodes') n ON n ->> 'id' = d.node_id
			  JOIN flov7.primitives p ON p.type = n ->> 'type'
				   AND p.subtype = n -> 'data' -> 'config' ->> CASE n ->> 'type' WHEN 'data' THEN 'operation_type'
																				   ELSE (n ->> 'type') || '_type' END
			 WHERE d.user_id = p_uid AND d.execution_id = p_exec);
END
$$;

-- ======== issue 6, an outside result locks the execution first (sql/parts/69_outbound.sql) ========
CREATE OR REPLACE FUNCTION flov7.outbound_complete(p_uid uuid, p_exec uuid, p_node text, p_iteration int, p_fence bigint,
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

-- ======== issue 6, counting a run is not audited (sql/parts/35_triggers.sql) ========
DROP TRIGGER workflows_audit ON flov7.workflows;
CREATE TRIGGER workflows_audit AFTER INSERT OR DELETE ON flov7.workflows
	FOR EACH ROW EXECUTE FUNCTION flov7.audit();
CREATE TRIGGER workflows_audit_update AFTER UPDATE ON flov7.workflows
	FOR EACH ROW WHEN (OLD.execution_count = NEW.execution_count)
	EXECUTE FUNCTION flov7.audit();

-- ======== issue 6, counting a run keeps its plan (sql/parts/66_engine.sql) ========
CREATE OR REPLACE FUNCTION flov7.workflow_count_run(p_uid uuid, p_workflow uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	UPDATE flov7.workflows w SET execution_count = w.execution_count + 1, last_executed_at = clock_timestamp()
	 WHERE w.user_id = p_uid AND w.id = p_workflow;
END
$$;

-- ======== issue 6, step events once per statement (sql/parts/78_events.sql) ========
DROP TRIGGER execution_steps_event ON flov7.execution_steps;
CREATE OR REPLACE FUNCTION flov7.step_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	-- once per statement: the runner writes an execution's steps back in one UPDATE
	INSERT INTO flov7.events (user_id, topic, type, payload)
	SELECT n.user_id, 'workflows', 'step.' || n.state,
		   jsonb_build_object('execution_id', n.execution_id, 'node_id', n.node_id, 'iteration', n.iteration,
							  'state', n.state, 'attempt', n.attempt, 'workflow_id', e.workflow_id)
	  FROM new_steps n
	  JOIN old_steps o ON o.user_id = n.user_id AND o.execution_id = n.execution_id AND o.node_id = n.node_id
					  AND o.iteration = n.iteration
	  LEFT JOIN flov7.workflow_executions e ON e.user_id = n.user_id AND e.id = n.execution_id
	 WHERE n.state IN ('completed', 'failed') AND o.state IS DISTINCT FROM n.state
	 ORDER BY n.completed_at, n.iteration, n.node_id;
	IF FOUND THEN
		PERFORM flov7.wake_workers();
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER execution_steps_event AFTER UPDATE ON flov7.execution_steps
	REFERENCING OLD TABLE AS old_steps NEW TABLE AS new_steps
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.step_event();

-- ======== issue 6, publishing events in one statement (sql/parts/78_events.sql) ========
CREATE OR REPLACE FUNCTION flov7.event_notice(e flov7.events) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object('event_id', e.pos, 'topic', e.topic, 'type', e.type,
		'user_id', CASE WHEN e.topic <> 'system' THEN e.user_id END,
		'workflow_id', left(e.payload ->> 'workflow_id', 36), 'execution_id', left(e.payload ->> 'execution_id', 36),
		'notification_id', left(e.payload ->> 'notification_id', 36),
		'node_id', left(e.payload ->> 'node_id', 64)))::text
$$;
CREATE OR REPLACE FUNCTION flov7.user_channel(p_user uuid) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT 'flov7_user_' || replace(p_user::text, '-', '')
$$;
CREATE OR REPLACE FUNCTION flov7.events_publish(max_events int DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_base bigint;
	v_n bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM flov7.events e WHERE e.pos IS NULL) THEN
		RETURN (SELECT c.pos FROM flov7.event_clock c);
	END IF;
	SELECT c.pos INTO v_base FROM flov7.event_clock c FOR UPDATE;
	-- a new statement: its snapshot sees what the publisher before us published
	WITH todo AS (
		SELECT e.user_id, e.id, row_number() OVER (ORDER BY e.id) AS rn
		  FROM flov7.events e WHERE e.pos IS NULL ORDER BY e.id LIMIT greatest(max_events, 1)
	)
	UPDATE flov7.events e SET pos = v_base + t.rn FROM todo t WHERE e.user_id = t.user_id AND e.id = t.id;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	IF v_n = 0 THEN
		RETURN v_base;
	END IF;
	UPDATE flov7.event_clock c SET pos = v_base + v_n;
	-- users' events, then the system stream's, each in order (pg_notify runs after the sort)
	PERFORM pg_catalog.pg_notify(CASE WHEN e.topic = 'system' THEN 'flov7_system' ELSE flov7.user_channel(e.user_id) END,
								 flov7.event_notice(e))
	   FROM flov7.events e WHERE e.pos > v_base AND e.pos <= v_base + v_n
	  ORDER BY e.topic = 'system', e.pos;
	PERFORM pg_catalog.pg_notify('flov7_events', (v_base + v_n)::text);
	RETURN v_base + v_n;
END
$$;

-- ======== issue 6, execution events once per statement (sql/parts/78_events.sql) ========
DROP TRIGGER workflow_executions_event_insert ON flov7.workflow_executions;
DROP TRIGGER workflow_executions_event_status ON flov7.workflow_executions;
CREATE FUNCTION flov7.execution_event_payload(e flov7.workflow_executions) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('execution_id', e.id, 'workflow_id', e.workflow_id, 'status', e.status,
							  'error_message', e.error_message, 'error_node', e.error_node,
							  'execution_time_seconds', e.execution_time_seconds)
$$;
REVOKE ALL ON FUNCTION flov7.execution_event_payload(flov7.workflow_executions) FROM PUBLIC;
CREATE OR REPLACE FUNCTION flov7.execution_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO flov7.events (user_id, topic, type, payload)
		SELECT n.user_id, 'workflows', 'execution.created', flov7.execution_event_payload(n)
		  FROM new_executions n ORDER BY n.created_at, n.id;
	ELSE
		INSERT INTO flov7.events (user_id, topic, type, payload)
		SELECT n.user_id, 'workflows',
			   CASE WHEN n.status = 'running' AND o.status = 'pending' THEN 'execution.started'
					ELSE 'execution.' || n.status END,
			   flov7.execution_event_payload(n)
		  FROM new_executions n JOIN old_executions o ON o.id = n.id
		 WHERE o.status IS DISTINCT FROM n.status
		 ORDER BY n.created_at, n.id;
	END IF;
	IF FOUND THEN
		PERFORM flov7.wake_workers();
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER workflow_executions_event_insert AFTER INSERT ON flov7.workflow_executions
	REFERENCING NEW TABLE AS new_executions FOR EACH STATEMENT EXECUTE FUNCTION flov7.execution_event();
CREATE TRIGGER workflow_executions_event_status AFTER UPDATE ON flov7.workflow_executions
	REFERENCING OLD TABLE AS old_executions NEW TABLE AS new_executions
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.execution_event();
