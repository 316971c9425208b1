-- 79_realtime_api.sql: the realtime endpoints that write or read events (the WebSocket and
-- SSE endpoints are frontd's; they read through flov7.events_since).

INSERT INTO flov7.permissions (name, description) VALUES
	('admin:broadcast', 'send system announcements to every user');
INSERT INTO flov7.role_permissions (role, permission) VALUES ('admin', 'admin:broadcast');

-- Send a notification: to oneself, or, for an admin, to anyone.
CREATE FUNCTION flov7.notify_user(p_to uuid, p_type text, p_title text, p_message text, p_data jsonb)
RETURNS flov7.notifications
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('notifications:write');
	v_row flov7.notifications;
BEGIN
	p_to := coalesce(p_to, v_uid);
	IF p_to <> v_uid THEN
		IF NOT flov7.caller_is_admin() THEN
			RAISE EXCEPTION 'only an admin may notify another user' USING ERRCODE = '42501';
		END IF;
		IF NOT EXISTS (SELECT 1 FROM flov7.users u WHERE u.id = p_to) THEN
			RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
		END IF;
	END IF;
	IF p_type !~ '^[a-z][a-z0-9_.]{0,49}$' THEN
		RAISE EXCEPTION 'notification_type must be a lower-case word (e.g. info, warning)' USING ERRCODE = '22023';
	END IF;
	INSERT INTO flov7.notifications (user_id, type, title, message, data)
	VALUES (p_to, p_type, p_title, coalesce(p_message, ''), coalesce(p_data, '{}'))
	RETURNING * INTO v_row;
	RETURN v_row;
END
$$;

-- Tell an execution's owner about its status: an event on the owner's workflows stream and,
-- as the original platform did, a stored notification.  The owner or an admin sends it;
-- anyone else is told the execution does not exist.
CREATE FUNCTION flov7.notify_workflow_status(p_exec uuid, p_workflow uuid, p_status text, p_message text,
											 p_data jsonb)
RETURNS flov7.notifications
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_owner uuid;
	v_wf uuid;
	v_row flov7.notifications;
BEGIN
	SELECT e.user_id, e.workflow_id INTO v_owner, v_wf FROM flov7.workflow_executions e
	 WHERE e.id = p_exec AND (p_workflow IS NULL OR e.workflow_id = p_workflow)
	   AND (e.user_id = v_uid OR flov7.caller_is_admin());
	IF NOT FOUND THEN
		RAISE EXCEPTION 'execution not found' USING ERRCODE = 'P0002';
	END IF;
	IF p_status IS NULL OR p_status !~ '^[a-z][a-z0-9_]{0,29}$' THEN
		RAISE EXCEPTION 'status must be a lower-case word (e.g. running, completed, failed)' USING ERRCODE = '22023';
	END IF;
	PERFORM flov7.event_add(v_owner, 'workflows', 'workflow.status',
		jsonb_build_object('workflow_id', v_wf, 'execution_id', p_exec, 'status', p_status,
						   'message', coalesce(p_message, ''), 'data', coalesce(p_data, '{}')));
	INSERT INTO flov7.notifications (user_id, type, title, message, data)
	VALUES (v_owner, 'workflow_status', 'Workflow ' || p_status, coalesce(p_message, ''),
			coalesce(p_data, '{}') || jsonb_build_object('workflow_id', v_wf, 'execution_id', p_exec, 'status', p_status))
	RETURNING * INTO v_row;
	RETURN v_row;
END
$$;

-- Announce something to every user (the system stream); admins only.
CREATE FUNCTION flov7.broadcast(p_type text, p_title text, p_message text, p_data jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:broadcast');
	v_payload jsonb;
BEGIN
	IF p_type IS NULL OR p_type !~ '^[a-z][a-z0-9_.]{0,49}$' THEN
		RAISE EXCEPTION 'announcement_type must be a lower-case word (e.g. info, maintenance)' USING ERRCODE = '22023';
	END IF;
	v_payload := jsonb_build_object('announcement_type', p_type, 'title', p_title, 'message', coalesce(p_message, ''),
									'data', coalesce(p_data, '{}'), 'sent_by', v_uid);
	PERFORM flov7.event_add(flov7.system_stream(), 'system', 'system.announcement', v_payload);
	RETURN v_payload;
END
$$;

-- POST /realtime/notify/workflow-status (execution_id, workflow_id, status, message, data)
CREATE FUNCTION flov7_api.realtime_notify_workflow_status(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_n flov7.notifications;
BEGIN
	PERFORM flov7.authorize('workflows:read');
	v_n := flov7.notify_workflow_status(flov7.arg_uuid(args, 'execution_id'),
		CASE WHEN args ? 'workflow_id' THEN flov7.arg_uuid(args, 'workflow_id') END,
		flov7.arg_text(args, 'status', true, 30), flov7.arg_text(args, 'message', false, 5000),
		flov7.arg_object(args, 'data'));
	RETURN jsonb_build_object('sent', true, 'notification', flov7.notification_json(v_n) || jsonb_build_object('user_id', v_n.user_id));
END
$$;

-- POST /realtime/notify/user-notification (user_id, notification_type, title, message, data)
CREATE FUNCTION flov7_api.realtime_notify_user(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_n flov7.notifications;
BEGIN
	PERFORM flov7.authorize('notifications:write');
	v_n := flov7.notify_user(CASE WHEN args ? 'user_id' THEN flov7.arg_uuid(args, 'user_id') END,
		coalesce(flov7.arg_text(args, 'notification_type', false, 50), 'info'),
		flov7.arg_text(args, 'title', true, 200), flov7.arg_text(args, 'message', false, 5000),
		flov7.arg_object(args, 'data'));
	RETURN jsonb_build_object('sent', true, 'notification', flov7.notification_json(v_n) || jsonb_build_object('user_id', v_n.user_id));
END
$$;

-- POST /realtime/broadcast/system-announcement (announcement_type, title, message, data)
CREATE FUNCTION flov7_api.realtime_broadcast(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	PERFORM flov7.authorize('admin:broadcast');
	RETURN jsonb_build_object('sent', true, 'announcement', flov7.broadcast(
		coalesce(flov7.arg_text(args, 'announcement_type', false, 50), 'info'),
		flov7.arg_text(args, 'title', true, 200), flov7.arg_text(args, 'message', false, 5000),
		flov7.arg_object(args, 'data')));
END
$$;

-- GET /realtime/events: replay, for clients that poll or resume (last_event_id, topics,
-- limit; an admin may name user_id).  next_event_id is where to read from next.
CREATE FUNCTION flov7_api.realtime_events(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_last bigint;
	v_limit int := flov7.arg_int(args, 'limit', 100, 1, 1000);
	-- topics: an array, or a comma-separated string (?topics=workflows,system)
	v_topics text[] := coalesce(CASE WHEN jsonb_typeof(args -> 'topics') = 'string'
									 THEN string_to_array(replace(args ->> 'topics', ' ', ''), ',')
									 ELSE flov7.arg_text_array(args, 'topics') END,
								'{workflows,notifications,system}');
	v_user uuid := CASE WHEN args ? 'user_id' THEN flov7.arg_uuid(args, 'user_id') END;
	v_items jsonb;
	v_next bigint;
BEGIN
	IF args ? 'last_event_id' THEN
		BEGIN
			v_last := (args ->> 'last_event_id')::bigint;
		EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
			RAISE EXCEPTION 'last_event_id must be an event position (an integer, 0 or more)' USING ERRCODE = '22023';
		END;
	ELSE
		v_last := flov7.events_head();
	END IF;
	SELECT coalesce(jsonb_agg(flov7.event_json(e) ORDER BY e.pos), '[]'), max(e.pos)
	  INTO v_items, v_next
	  FROM flov7.events_since(v_last, v_topics, v_user, v_limit) e;
	RETURN jsonb_build_object('items', v_items, 'next_event_id', coalesce(v_next, v_last));
END
$$;

-- ---- streams: WebSocket and SSE (frontd) -----------------------------------------------------

-- A subscription to a topic of a user's events ("workflows" or "notifications"; the latter also
-- carries system announcements): the caller watches their own, an admin anyone's.  Resumes
-- after last_event_id (query parameter, or the Last-Event-ID header of SSE), else from now.
-- frontd calls it before the WebSocket upgrade or the SSE answer, so every refusal is a plain
-- HTTP error; then it streams flov7.events_feed() from the position returned.
CREATE FUNCTION flov7.realtime_subscription(p_topic text, args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(CASE p_topic WHEN 'workflows' THEN 'workflows:read' ELSE 'notifications:read' END);
	v_who uuid := CASE WHEN args ? 'user_id' THEN flov7.arg_uuid(args, 'user_id') ELSE v_uid END;
	v_head bigint := flov7.events_head();
	v_last text := coalesce(args ->> 'last_event_id',
							nullif(current_setting('request.headers', true), '')::jsonb ->> 'last-event-id');
	v_from bigint;
BEGIN
	IF v_who <> v_uid THEN
		IF NOT flov7.caller_is_admin() THEN
			RAISE EXCEPTION 'you may only subscribe to your own events' USING ERRCODE = '42501',
				HINT = 'The user id in the path must be yours (admins may watch anyone).';
		END IF;
		IF NOT EXISTS (SELECT 1 FROM flov7.users u WHERE u.id = v_who) THEN
			RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
		END IF;
	END IF;
	IF v_last IS NULL OR btrim(v_last) = '' THEN
		v_from := v_head;
	ELSIF btrim(v_last) !~ '^[0-9]{1,18}$' THEN
		RAISE EXCEPTION 'last_event_id must be an event position (an integer, 0 or more)' USING ERRCODE = '22023';
	ELSE
		v_from := least(btrim(v_last)::bigint, v_head);
	END IF;
	RETURN jsonb_build_object('user_id', v_who, 'topic', p_topic, 'channel', p_topic || ':' || v_who,
							  'last_event_id', v_from, 'head', v_head);
END
$$;

CREATE FUNCTION flov7_api.realtime_ws_workflows(args jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7.realtime_subscription('workflows', args)
$$;
CREATE FUNCTION flov7_api.realtime_ws_notifications(args jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7.realtime_subscription('notifications', args)
$$;

-- A message as WebSocket and SSE clients get it: the original platform's shapes
-- ({"type":"workflow_status"|"notification"|"system_announcement", ...,"timestamp"}), with
-- flov7's position added as event_id and the event's own type as "event".
CREATE FUNCTION flov7.event_message(e flov7.events) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT CASE
		WHEN e.type LIKE 'execution.%' THEN jsonb_build_object('type', 'workflow_status',
			'workflow_id', e.payload -> 'workflow_id', 'execution_id', e.payload -> 'execution_id',
			'status', e.payload -> 'status',
			'message', coalesce(e.payload ->> 'error_message', 'execution ' || (e.payload ->> 'status')),
			'data', jsonb_strip_nulls(jsonb_build_object('error_node', e.payload -> 'error_node',
							'execution_time_seconds', e.payload -> 'execution_time_seconds')))
		WHEN e.type LIKE 'step.%' THEN jsonb_build_object('type', 'workflow_status',
			'workflow_id', e.payload -> 'workflow_id', 'execution_id', e.payload -> 'execution_id',
			'status', 'step_' || (e.payload ->> 'state'),
			'message', format('step %s %s', e.payload ->> 'node_id', e.payload ->> 'state'),
			'data', jsonb_build_object('node_id', e.payload -> 'node_id', 'iteration', e.payload -> 'iteration',
									   'attempt', e.payload -> 'attempt'))
		WHEN e.type = 'workflow.status' THEN jsonb_build_object('type', 'workflow_status',
			'workflow_id', e.payload -> 'workflow_id', 'execution_id', e.payload -> 'execution_id',
			'status', e.payload -> 'status', 'message', e.payload -> 'message', 'data', e.payload -> 'data')
		WHEN e.type = 'notification.created' THEN jsonb_build_object('type', 'notification',
			'notification_id', e.payload -> 'notification_id', 'notification_type', e.payload -> 'notification_type',
			'title', e.payload -> 'title', 'message', e.payload -> 'message', 'data', e.payload -> 'data')
		WHEN e.type = 'notification.read' THEN jsonb_build_object('type', 'notification_read',
			'notification_id', e.payload -> 'notification_id')
		WHEN e.type = 'system.announcement' THEN jsonb_build_object('type', 'system_announcement',
			'announcement_type', e.payload -> 'announcement_type', 'title', e.payload -> 'title',
			'message', e.payload -> 'message', 'data', e.payload -> 'data')
		ELSE jsonb_build_object('type', e.type, 'data', e.payload)
	END || jsonb_build_object('event', e.type, 'event_id', e.pos,
							  'timestamp', to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;

-- frontd's read of the log: published events after a position (up to upto), oldest first, as
-- (position, owner (NULL: system), topic of the socket that carries it, message).  Without
-- p_user: every owner's, for frontd to fan out; with p_user and p_topic: one subscription's
-- catch-up (frontd has had the subscription authorized as the caller first).
CREATE FUNCTION flov7.events_feed(after bigint, p_user uuid DEFAULT NULL, p_topic text DEFAULT NULL,
								  upto bigint DEFAULT NULL, max_events int DEFAULT 1000)
RETURNS TABLE (pos bigint, user_id uuid, topic text, message text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT e.pos, CASE WHEN e.topic = 'system' THEN NULL ELSE e.user_id END,
		   CASE WHEN e.topic = 'system' THEN 'notifications' ELSE e.topic END, flov7.event_message(e)::text
	  FROM flov7.events e
	 WHERE e.pos > after AND (upto IS NULL OR e.pos <= upto)
	   AND (p_user IS NULL OR e.user_id = p_user OR (e.topic = 'system' AND p_topic = 'notifications'))
	   AND (p_topic IS NULL OR e.topic = p_topic OR (e.topic = 'system' AND p_topic = 'notifications'))
	 ORDER BY e.pos LIMIT greatest(max_events, 1)
$$;
COMMENT ON FUNCTION flov7.events_feed(bigint, uuid, text, bigint, int) IS
	'frontd''s read of the published events (as flov7_authenticator), with the messages its sockets send';

-- Which open streams' credentials no longer hold: revoked at logout, session revoked, key
-- revoked or expired, user deactivated, or an admin watching someone else who is no longer an
-- admin.  creds is [{"claims": <JWT payload as text> | null, "api_key": text | null,
-- "user_id": the watched user}, ...]; the answer is the 1-based positions that failed.  frontd
-- asks every few seconds and closes those streams (4001).  The rules are the authorizer's own.
CREATE FUNCTION flov7.stream_credentials_check(creds jsonb) RETURNS int[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_bad int[] := '{}';
	v_i int := 0;
	c jsonb;
	v_uid uuid;
BEGIN
	IF jsonb_typeof(creds) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'creds must be a JSON array' USING ERRCODE = '22023';
	END IF;
	FOR c IN SELECT x FROM jsonb_array_elements(creds) x LOOP
		v_i := v_i + 1;
		PERFORM set_config('request.jwt.claims', coalesce(c ->> 'claims', ''), true);
		PERFORM set_config('request.api_key', coalesce(c ->> 'api_key', ''), true);
		IF flov7.caller_status() <> 'authenticated' THEN
			v_bad := v_bad || v_i;
			CONTINUE;
		END IF;
		v_uid := flov7.caller_id();
		IF (c ->> 'user_id') IS DISTINCT FROM v_uid::text AND NOT flov7.caller_is_admin() THEN
			v_bad := v_bad || v_i;
		END IF;
	END LOOP;
	PERFORM set_config('request.jwt.claims', '', true);
	PERFORM set_config('request.api_key', '', true);
	RETURN v_bad;
END
$$;

-- The registry of open streams, across frontd instances: each instance sends its whole set
-- every few seconds (flov7.realtime_sync); rows of an instance that stopped syncing (killed)
-- are stale after 30 s, hidden at once and deleted by the next sync of anyone.
CREATE TABLE flov7.realtime_connections (
	user_id		uuid NOT NULL,
	instance	text NOT NULL CHECK (length(instance) BETWEEN 1 AND 200),
	stream_id	bigint NOT NULL,
	kind		text NOT NULL CHECK (kind IN ('websocket', 'sse')),
	topic		text NOT NULL CHECK (topic IN ('workflows', 'notifications')),
	channel		text NOT NULL,
	peer		text,
	since		timestamptz NOT NULL,
	last_seen	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, instance, stream_id)
);
CREATE INDEX realtime_connections_instance_idx ON flov7.realtime_connections (instance, last_seen);
COMMENT ON TABLE flov7.realtime_connections IS
	'open WebSocket/SSE streams of every frontd instance (synced every few seconds; stale after 30 s)';
ALTER TABLE flov7.realtime_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.realtime_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY realtime_connections_reader ON flov7.realtime_connections FOR SELECT
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

-- An instance's whole set of open streams: [{"stream_id","user_id","kind","topic","channel",
-- "peer","since" (unix ms)}].  Returns how many rows it holds now.
CREATE FUNCTION flov7.realtime_sync(p_instance text, p_streams jsonb) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_n int;
BEGIN
	IF jsonb_typeof(p_streams) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'p_streams must be a JSON array' USING ERRCODE = '22023';
	END IF;
	-- no temporary table: a definer must not use objects the caller could have planted in pg_temp
	DELETE FROM flov7.realtime_connections r
	 WHERE (r.instance = p_instance
			AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_streams) x
							 WHERE (x ->> 'user_id')::uuid = r.user_id AND (x ->> 'stream_id')::bigint = r.stream_id))
		OR r.last_seen < now() - interval '5 minutes';
	INSERT INTO flov7.realtime_connections AS r (user_id, instance, stream_id, kind, topic, channel, peer, since, last_seen)
	SELECT (x ->> 'user_id')::uuid, p_instance, (x ->> 'stream_id')::bigint, x ->> 'kind', x ->> 'topic',
		   x ->> 'channel', x ->> 'peer', to_timestamp((x ->> 'since')::float8 / 1000), now()
	  FROM jsonb_array_elements(p_streams) x
	ON CONFLICT (user_id, instance, stream_id) DO UPDATE SET last_seen = now();
	v_n := jsonb_array_length(p_streams);
	RETURN v_n;
END
$$;

CREATE FUNCTION flov7.realtime_connection_json(r flov7.realtime_connections) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('user_id', r.user_id, 'instance', r.instance, 'stream_id', r.stream_id,
		'kind', r.kind, 'topic', r.topic, 'channel', r.channel, 'since', r.since, 'last_seen', r.last_seen)
$$;

-- GET /realtime/subscriptions/status: the caller's open streams, on every frontd.
CREATE FUNCTION flov7_api.realtime_subscriptions_status(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_items jsonb;
BEGIN
	SELECT coalesce(jsonb_agg(flov7.realtime_connection_json(r) ORDER BY r.since, r.instance, r.stream_id), '[]')
	  INTO v_items
	  FROM flov7.realtime_connections r
	 WHERE r.user_id = v_uid AND r.last_seen > now() - interval '30 seconds';
	RETURN jsonb_build_object('user_id', v_uid, 'connections', v_items, 'total', jsonb_array_length(v_items),
		'topics', (SELECT coalesce(jsonb_agg(DISTINCT t), '[]') FROM jsonb_array_elements(v_items) i,
						  LATERAL (SELECT i ->> 'topic' AS t) x));
END
$$;

-- GET /realtime/admin/connections: every open stream (admin), newest first; limit/offset (or skip),
-- filters user_id and topic; with counts by topic and by instance.
CREATE FUNCTION flov7_api.realtime_admin_connections(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:users');
	v_limit int := flov7.arg_int(args, 'limit', 100, 1, 1000);
	v_offset int := flov7.arg_offset(args);
	v_user uuid := CASE WHEN args ? 'user_id' THEN flov7.arg_uuid(args, 'user_id') END;
	v_topic text := flov7.arg_enum(args, 'topic', '{workflows,notifications}', false);
	v_items jsonb;
	v_total bigint;
	v_by_topic jsonb;
	v_by_instance jsonb;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.realtime_connections r
	 WHERE r.last_seen > now() - interval '30 seconds'
	   AND (v_user IS NULL OR r.user_id = v_user) AND (v_topic IS NULL OR r.topic = v_topic);
	SELECT coalesce(jsonb_agg(flov7.realtime_connection_json(x) ORDER BY x.since DESC, x.instance, x.stream_id), '[]')
	  INTO v_items
	  FROM (SELECT * FROM flov7.realtime_connections r
			 WHERE r.last_seen > now() - interval '30 seconds'
			   AND (v_user IS NULL OR r.user_id = v_user) AND (v_topic IS NULL OR r.topic = v_topic)
			 ORDER BY r.since DESC, r.instance, r.stream_id LIMIT v_limit OFFSET v_offset) x;
	SELECT coalesce(jsonb_object_agg(t, n), '{}') INTO v_by_topic
	  FROM (SELECT r.topic AS t, count(*) AS n FROM flov7.realtime_connections r
			 WHERE r.last_seen > now() - interval '30 seconds' GROUP BY r.topic) x;
	SELECT coalesce(jsonb_object_agg(i, n), '{}') INTO v_by_instance
	  FROM (SELECT r.instance AS i, count(*) AS n FROM flov7.realtime_connections r
			 WHERE r.last_seen > now() - interval '30 seconds' GROUP BY r.instance) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset,
							  'has_more', v_offset + jsonb_array_length(v_items) < v_total,
							  'by_topic', v_by_topic, 'by_instance', v_by_instance);
END
$$;

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('POST', '/api/v1/realtime/notify/workflow-status', 'flov7_api.realtime_notify_workflow_status', 200,
	 'Tell an execution''s owner about its status (also stored as a notification)', 'realtime', false),
	('POST', '/api/v1/realtime/notify/user-notification', 'flov7_api.realtime_notify_user', 200,
	 'Send a notification (to oneself; an admin to anyone)', 'realtime', false),
	('POST', '/api/v1/realtime/broadcast/system-announcement', 'flov7_api.realtime_broadcast', 200,
	 'Announce something to every user (admin)', 'realtime', false),
	('GET', '/api/v1/realtime/events', 'flov7_api.realtime_events', 200,
	 'Events after a position (replay for clients that resume or poll)', 'realtime', true),
	('GET', '/api/v1/realtime/subscriptions/status', 'flov7_api.realtime_subscriptions_status', 200,
	 'The caller''s open WebSocket and SSE streams, on every frontd', 'realtime', true),
	('GET', '/api/v1/realtime/admin/connections', 'flov7_api.realtime_admin_connections', 200,
	 'Every open stream (admin)', 'realtime', true);

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only, stream) VALUES
	('GET', '/api/v1/realtime/ws/workflows/{user_id}', 'flov7_api.realtime_ws_workflows', 200,
	 'WebSocket: a user''s execution events (replay from last_event_id)', 'realtime', false, 'websocket'),
	('GET', '/api/v1/realtime/ws/notifications/{user_id}', 'flov7_api.realtime_ws_notifications', 200,
	 'WebSocket: a user''s notifications and system announcements', 'realtime', false, 'websocket'),
	('GET', '/api/v1/realtime/sse/workflows', 'flov7_api.realtime_ws_workflows', 200,
	 'Server-Sent Events: the caller''s execution events (Last-Event-ID replay)', 'realtime', false, 'sse'),
	('GET', '/api/v1/realtime/sse/notifications', 'flov7_api.realtime_ws_notifications', 200,
	 'Server-Sent Events: the caller''s notifications and system announcements', 'realtime', false, 'sse');
