-- 88_realtime_grants.sql: grants of the event log and the realtime endpoints (80_grants.sql
-- has already revoked every function from PUBLIC; the update script revokes the new ones).

GRANT EXECUTE ON FUNCTION
	flov7_api.realtime_notify_workflow_status(jsonb), flov7_api.realtime_notify_user(jsonb),
	flov7_api.realtime_events(jsonb)
	TO flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION flov7_api.realtime_broadcast(jsonb) TO flov7_admin;

-- What they call, and what frontd and SQL readers call: replay reads run under RLS.
GRANT EXECUTE ON FUNCTION
	flov7.system_stream(), flov7.user_channel(uuid), flov7.event_json(flov7.events),
	flov7.events_since(bigint, text[], uuid, int), flov7.events_head(),
	flov7.notify_user(uuid, text, text, text, jsonb),
	flov7.notify_workflow_status(uuid, uuid, text, text, jsonb)
	TO flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION flov7.broadcast(text, text, text, jsonb) TO flov7_admin;
GRANT SELECT ON flov7.events TO flov7_user, flov7_admin;

-- The workers publish and purge.
GRANT EXECUTE ON FUNCTION flov7.events_publish(int), flov7.events_purge(int) TO flov7_worker;

-- Streams: the subscription is authorized as the caller; frontd reads the feed itself.
GRANT EXECUTE ON FUNCTION
	flov7_api.realtime_ws_workflows(jsonb), flov7_api.realtime_ws_notifications(jsonb),
	flov7.realtime_subscription(text, jsonb)
	TO flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION flov7.events_feed(bigint, uuid, text, bigint, int), flov7.events_head()
	TO flov7_authenticator;

-- The registry and the credential re-check: frontd writes and asks; users read their rows.
GRANT EXECUTE ON FUNCTION flov7.realtime_sync(text, jsonb), flov7.stream_credentials_check(jsonb)
	TO flov7_authenticator;
GRANT EXECUTE ON FUNCTION flov7_api.realtime_subscriptions_status(jsonb),
	flov7.realtime_connection_json(flov7.realtime_connections), flov7.caller_status()
	TO flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION flov7_api.realtime_admin_connections(jsonb) TO flov7_admin;
GRANT SELECT ON flov7.realtime_connections TO flov7_user, flov7_admin;
