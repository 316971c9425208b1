-- 78_events.sql: the event log behind realtime (WebSocket, SSE, LISTEN clients).
--
-- Every state change a client may follow is a row of flov7.events, written by a trigger in the
-- transaction that made the change: a rolled-back change leaves no event.  Its position (pos)
-- is given after it commits, by flov7.events_publish(), in the order of publication: publishers
-- take turns on the one row of flov7.event_clock, so a reader that has seen position N never
-- later meets a new event at or below N (a sequence taken in the writing transaction would not
-- give that: a transaction may commit after another that took a larger number).  The publisher
-- then announces the positions with NOTIFY:
--	flov7_events				payload: the newest position (frontd's one channel)
--	flov7_user_<user id hex>	payload: {"event_id","topic","type", ids}; never private data
-- The background workers publish when a committing transaction wrote events (the same latch that
-- wakes them for steps); without workers, call flov7.events_publish() yourself.
--
-- Streams: a user's own events (topics "workflows" and "notifications"), and the system stream
-- (user_id flov7.system_stream(), topic "system") that every signed-in user reads.

CREATE FUNCTION flov7.system_stream() RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$;
COMMENT ON FUNCTION flov7.system_stream() IS 'the user_id of the system stream (announcements) in flov7.events';

CREATE TABLE flov7.events (
	user_id		uuid NOT NULL,
	id			bigint GENERATED ALWAYS AS IDENTITY,
	topic		text NOT NULL CHECK (topic IN ('workflows', 'notifications', 'system')),
	type		text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.]*$' AND length(type) <= 50), -- the length apart: '{0,49}' costs the regex engine 49 states on every row written
	payload		jsonb NOT NULL DEFAULT '{}',
	pos			bigint,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, id),
	CHECK ((topic = 'system') = (user_id = '00000000-0000-0000-0000-000000000000'::uuid))
) WITH (autovacuum_vacuum_scale_factor = 0.05);
CREATE UNIQUE INDEX events_pos_idx ON flov7.events (pos) WHERE pos IS NOT NULL;
CREATE INDEX events_user_pos_idx ON flov7.events (user_id, pos) WHERE pos IS NOT NULL;
CREATE INDEX events_unpublished_idx ON flov7.events (id) WHERE pos IS NULL;
COMMENT ON TABLE flov7.events IS
	'what happened, per owner (or the system stream), in publication order (pos); see 78_events.sql';
COMMENT ON COLUMN flov7.events.pos IS
	'position in publication order, given after commit by flov7.events_publish(); NULL until then';

CREATE TABLE flov7.event_clock (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	pos		bigint NOT NULL DEFAULT 0
);
INSERT INTO flov7.event_clock DEFAULT VALUES;
COMMENT ON TABLE flov7.event_clock IS 'the last position published; publishers take turns on its row';

ALTER TABLE flov7.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.events FORCE ROW LEVEL SECURITY;
-- Published events only: an unpublished one has no position to resume from yet.
CREATE POLICY events_reader ON flov7.events FOR SELECT
	USING (pos IS NOT NULL AND (user_id = (SELECT flov7.caller_id())
		   OR (topic = 'system' AND (SELECT flov7.caller_id()) IS NOT NULL)
		   OR (SELECT flov7.caller_is_admin())));
ALTER TABLE flov7.event_clock ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.event_clock FORCE ROW LEVEL SECURITY;

SELECT pg_catalog.pg_extension_config_dump('flov7.events', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.event_clock', '');

-- Record an event in the current transaction and have it published once it commits.
CREATE FUNCTION flov7.event_add(p_user uuid, p_topic text, p_type text, p_payload jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	INSERT INTO flov7.events (user_id, topic, type, payload) VALUES (p_user, p_topic, p_type, p_payload);
	PERFORM flov7.wake_workers();
END
$$;

-- The NOTIFY payload of an event: its position, topic and type, and the ids it names (never
-- titles, messages or data: any database user may LISTEN to any channel).  At most a few
-- hundred bytes whatever the event holds, far below NOTIFY's 8000.
-- No SET clause here or on user_channel, and STABLE as jsonb_build_object is: either would
-- keep them from being inlined into events_publish's one statement (they call only
-- pg_catalog functions).
CREATE FUNCTION flov7.event_notice(e flov7.events) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object('event_id', e.pos, 'topic', e.topic, 'type', e.type,
		'user_id', CASE WHEN e.topic <> 'system' THEN e.user_id END,
		'workflow_id', left(e.payload ->> 'workflow_id', 36), 'execution_id', left(e.payload ->> 'execution_id', 36),
		'notification_id', left(e.payload ->> 'notification_id', 36),
		'node_id', left(e.payload ->> 'node_id', 64)))::text
$$;

-- The LISTEN channel of a user's events.
CREATE FUNCTION flov7.user_channel(p_user uuid) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT 'flov7_user_' || replace(p_user::text, '-', '')
$$;

-- Give positions to committed events (up to max_events, oldest first) and announce them.
-- Returns the newest position published (0: none yet).  Publishers take turns on
-- flov7.event_clock's row, so positions are published in increasing order.
CREATE FUNCTION flov7.events_publish(max_events int DEFAULT 10000) RETURNS bigint
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
COMMENT ON FUNCTION flov7.events_publish(int) IS
	'give committed events their positions and NOTIFY them (the workers do this; call it without workers)';

-- The JSON shape of an event, as readers get it.
CREATE FUNCTION flov7.event_json(e flov7.events) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('event_id', e.pos, 'user_id', CASE WHEN e.topic <> 'system' THEN e.user_id END,
		'topic', e.topic, 'type', e.type, 'payload', e.payload, 'created_at', e.created_at)
$$;

-- Events after position last_id that the caller may see, in order: their own stream's topics
-- (or p_user's, for an admin) and the system stream when topics has "system".  At most
-- max_events; read again from the last one returned for more.
CREATE FUNCTION flov7.events_since(last_id bigint, topics text[] DEFAULT '{workflows,notifications,system}',
								   p_user uuid DEFAULT NULL, max_events int DEFAULT 1000)
RETURNS SETOF flov7.events
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_who uuid := coalesce(p_user, v_uid);
	v_bad text;
BEGIN
	SELECT t INTO v_bad FROM unnest(topics) t WHERE t IS NULL OR t NOT IN ('workflows', 'notifications', 'system') LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'unknown topic "%"', v_bad USING ERRCODE = '22023',
			HINT = 'topics are workflows, notifications and system';
	END IF;
	IF 'workflows' = ANY (topics) THEN
		PERFORM flov7.authorize('workflows:read');
	END IF;
	IF 'notifications' = ANY (topics) THEN
		PERFORM flov7.authorize('notifications:read');
	END IF;
	IF v_who <> v_uid AND NOT flov7.caller_is_admin() THEN
		RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
	END IF;
	IF last_id IS NULL OR last_id < 0 THEN
		RAISE EXCEPTION 'last_id must be a position (0 or more)' USING ERRCODE = '22023';
	END IF;
	RETURN QUERY
	SELECT * FROM (
		(SELECT * FROM flov7.events e
		  WHERE e.user_id = v_who AND e.pos > last_id AND e.topic = ANY (topics)
		  ORDER BY e.pos LIMIT greatest(max_events, 1))
		UNION ALL
		(SELECT * FROM flov7.events e
		  WHERE 'system' = ANY (topics) AND e.user_id = flov7.system_stream() AND e.pos > last_id
		  ORDER BY e.pos LIMIT greatest(max_events, 1))
	) x ORDER BY x.pos LIMIT greatest(max_events, 1);
END
$$;
COMMENT ON FUNCTION flov7.events_since(bigint, text[], uuid, int) IS
	'events after a position that the caller may see (their own, the system stream; an admin may name p_user)';

-- The newest position published (where a new reader starts).
CREATE FUNCTION flov7.events_head() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT c.pos FROM flov7.event_clock c
$$;

-- Delete published events older than flov7.event_retention (an interval, settings table;
-- default 7 days), at most max_rows at a time.  Returns how many went.
CREATE FUNCTION flov7.events_purge(max_rows int DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_keep interval := coalesce((SELECT s.value FROM flov7.settings s WHERE s.key = 'event_retention'), '7 days')::interval;
	v_n bigint;
BEGIN
	DELETE FROM flov7.events e
	 WHERE (e.user_id, e.id) IN (SELECT x.user_id, x.id FROM flov7.events x
								   WHERE x.pos IS NOT NULL AND x.created_at < now() - v_keep
								   ORDER BY x.pos LIMIT greatest(max_rows, 1));
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;
COMMENT ON FUNCTION flov7.events_purge(int) IS
	'delete published events older than the event_retention setting (default 7 days), a batch at a time';

-- ---- what writes events -----------------------------------------------------------------

-- Executions: created, and every change of status (pending -> running is "started"), once per
-- statement (the runner writes a batch of executions back in one UPDATE).
CREATE FUNCTION flov7.execution_event_payload(e flov7.workflow_executions) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('execution_id', e.id, 'workflow_id', e.workflow_id, 'status', e.status,
							  'error_message', e.error_message, 'error_node', e.error_node,
							  'execution_time_seconds', e.execution_time_seconds)
$$;
CREATE FUNCTION flov7.execution_event() RETURNS trigger
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

-- Steps: each one that ends (completed or failed; skipped and cancelled ones are told by
-- their execution's events).
CREATE FUNCTION flov7.step_event() RETURNS trigger
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

-- Notifications: created, read.
CREATE FUNCTION flov7.notification_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	PERFORM flov7.event_add(NEW.user_id, 'notifications',
		CASE WHEN TG_OP = 'INSERT' THEN 'notification.created' ELSE 'notification.read' END,
		jsonb_build_object('notification_id', NEW.id, 'notification_type', NEW.type, 'title', NEW.title,
						   'message', NEW.message, 'data', NEW.data, 'is_read', NEW.is_read));
	RETURN NULL;
END
$$;
CREATE TRIGGER notifications_event_insert AFTER INSERT ON flov7.notifications
	FOR EACH ROW EXECUTE FUNCTION flov7.notification_event();
CREATE TRIGGER notifications_event_read AFTER UPDATE OF is_read ON flov7.notifications
	FOR EACH ROW WHEN (NEW.is_read AND NOT OLD.is_read) EXECUTE FUNCTION flov7.notification_event();
