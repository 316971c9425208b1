-- 22_streams.sql: what frontd's WebSocket and SSE streams ask of the database: the
-- subscription (who may watch whom, from where), the messages and the feed, the re-check of
-- open streams' credentials, and the registry of streams.
BEGIN;
SELECT plan(35);
\ir helpers.psql

SELECT pg_temp.mkuser('st.a@pgtap.test', 'user', 'enterprise') AS a \gset
SELECT pg_temp.mkuser('st.b@pgtap.test', 'user', 'enterprise') AS b \gset
SELECT pg_temp.mkuser('st.admin@pgtap.test', 'admin', 'enterprise') AS adm \gset
SELECT flov7.events_publish() AS head0 \gset

-- ---- the subscription ----------------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.realtime_ws_workflows(jsonb_build_object('user_id', :'a')) AS s1 \gset
SELECT is(:'s1'::jsonb - 'head', jsonb_build_object('user_id', :'a', 'topic', 'workflows',
		  'channel', 'workflows:' || :'a', 'last_event_id', :head0::bigint),
		  'a subscription to one''s own workflows, from the newest position');
SELECT is((flov7_api.realtime_ws_notifications('{}') ->> 'user_id'), :'a', 'SSE: without user_id, the caller''s own');
SELECT is((flov7_api.realtime_ws_notifications(jsonb_build_object('last_event_id', '0')) ->> 'last_event_id')::bigint, 0::bigint,
		  'last_event_id resumes from a position');
SELECT is((flov7_api.realtime_ws_notifications(jsonb_build_object('last_event_id', (:head0 + 1000)::text)) ->> 'last_event_id')::bigint,
		  :head0::bigint, 'a position beyond the newest is the newest');
SELECT set_config('request.headers', '{"last-event-id": "0"}', true) AS h \gset
SELECT is((flov7_api.realtime_ws_notifications('{}') ->> 'last_event_id')::bigint, 0::bigint,
		  'SSE: the Last-Event-ID header resumes too');
SELECT set_config('request.headers', '', true) AS h \gset
SELECT throws_ok(format('SELECT flov7_api.realtime_ws_workflows(%L)', jsonb_build_object('user_id', :'b')),
				 '42501', 'you may only subscribe to your own events', 'another user''s stream is refused (403)');
SELECT throws_ok(format('SELECT flov7_api.realtime_ws_workflows(%L)', jsonb_build_object('user_id', 'nope')),
				 '22P02', NULL, 'a user id that is not a uuid (400)');
SELECT throws_ok('SELECT flov7_api.realtime_ws_workflows(''{"last_event_id": "x1"}'')', '22023', NULL,
				 'a last_event_id that is not a position (400)');
SELECT pg_temp.act_as(:'adm');
SELECT is((flov7_api.realtime_ws_workflows(jsonb_build_object('user_id', :'b')) ->> 'user_id'), :'b',
		  'an admin watches anyone');
SELECT throws_ok(format('SELECT flov7_api.realtime_ws_workflows(%L)', jsonb_build_object('user_id', gen_random_uuid())),
				 'P0002', 'user not found', 'an admin naming nobody (404)');
SELECT pg_temp.act_anon();
SELECT throws_ok('SELECT flov7_api.realtime_ws_workflows(''{}'')', '42501', NULL, 'anonymous callers cannot subscribe');
-- a key without the topic's permission
SELECT pg_temp.act_dba();
SELECT pg_temp.mkkey(:'a', ARRAY['profile:read']) AS key_a \gset
SELECT pg_temp.act_with_key(:'key_a');
SELECT throws_ok('SELECT flov7_api.realtime_ws_workflows(''{}'')', '42501', NULL, 'a key without workflows:read cannot watch workflows');
SELECT pg_temp.act_dba();

-- ---- messages and the feed -----------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.realtime_notify_user('{"title": "t1", "message": "m1", "data": {"k": 1}}') ->> 'sent' AS sent \gset
SELECT pg_temp.act_as(:'adm');
SELECT flov7_api.realtime_broadcast('{"title": "down at 2", "announcement_type": "maintenance"}') ->> 'sent' AS sent \gset
SELECT pg_temp.act_dba();
SELECT flov7.events_publish() AS head1 \gset
SELECT is((SELECT count(*) FROM flov7.events_feed(:head0)), 2::bigint, 'the feed: every owner''s published events');
SELECT is((SELECT message::jsonb - 'timestamp' - 'notification_id' FROM flov7.events_feed(:head0) WHERE user_id = :'a'),
		  jsonb_build_object('type', 'notification', 'event', 'notification.created', 'notification_type', 'info',
							 'title', 't1', 'message', 'm1', 'data', '{"k": 1}'::jsonb, 'event_id', :head0 + 1),
		  'a notification as the original platform''s clients know it, with event_id');
SELECT is((SELECT message::jsonb - 'timestamp' FROM flov7.events_feed(:head0) WHERE user_id IS NULL),
		  jsonb_build_object('type', 'system_announcement', 'event', 'system.announcement', 'announcement_type', 'maintenance',
							 'title', 'down at 2', 'message', '', 'data', '{}'::jsonb, 'event_id', :head0 + 2),
		  'a system announcement: no owner, carried on notifications sockets');
SELECT is((SELECT topic FROM flov7.events_feed(:head0) WHERE user_id IS NULL), 'notifications', '... on the notifications topic');
SELECT ok((SELECT (message::jsonb ->> 'timestamp') ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' FROM flov7.events_feed(:head0) LIMIT 1),
		  'timestamps are ISO 8601 in UTC');
SELECT is((SELECT count(*) FROM flov7.events_feed(:head0, :'b', 'notifications')), 1::bigint,
		  'a catch-up for b''s notifications: the announcement, not a''s notification');
SELECT is((SELECT count(*) FROM flov7.events_feed(:head0, :'a', 'workflows')), 0::bigint, 'topics filter the catch-up');
SELECT is((SELECT count(*) FROM flov7.events_feed(:head0, :'a', 'notifications', :head0 + 1)), 1::bigint,
		  'a catch-up stops at upto (where the live feed takes over)');
SELECT is((SELECT count(*) FROM flov7.events_feed(:head0, NULL, NULL, NULL, 1)), 1::bigint, 'the feed reads in batches');

SELECT pg_temp.act_as(:'a');
SELECT flov7_api.workflow_create($${"name": "st", "workflow_json": {"nodes": [
	{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}}], "edges": []}}$$::jsonb) ->> 'id' AS wf \gset
SELECT flov7.execute(:'wf') ->> 'execution_id' AS x1 \gset
SELECT pg_temp.act_dba();
SELECT flov7.run_ready(10) AS ran \gset
SELECT flov7.events_publish() AS head2 \gset
SELECT is(ARRAY(SELECT m ->> 'status' FROM flov7.events_feed(:head1, :'a', 'workflows') f, LATERAL (SELECT f.message::jsonb AS m) x),
		  '{pending,running,step_completed,completed}', 'an execution''s messages: workflow_status with its status, steps too');
SELECT ok((SELECT bool_and(m ->> 'workflow_id' = :'wf' AND m ->> 'execution_id' = :'x1' AND m ->> 'type' = 'workflow_status')
			 FROM flov7.events_feed(:head1, :'a', 'workflows') f, LATERAL (SELECT f.message::jsonb AS m) x),
		  'each names its workflow and execution');

SELECT ok(has_function_privilege('flov7_authenticator', 'flov7.events_feed(bigint, uuid, text, bigint, int)', 'EXECUTE')
		  AND NOT has_function_privilege('flov7_user', 'flov7.events_feed(bigint, uuid, text, bigint, int)', 'EXECUTE'),
		  'only frontd reads the whole feed');

-- ---- re-checking open streams' credentials ---------------------------------------------------
SELECT pg_temp.claims(:'a') AS ca \gset
SELECT pg_temp.claims(:'b') AS cb \gset
SELECT pg_temp.claims(:'adm') AS cadm \gset
SELECT pg_temp.mkkey(:'b', ARRAY['workflows:read']) AS key_b \gset
SELECT is(flov7.stream_credentials_check(jsonb_build_array(
			jsonb_build_object('claims', :'ca', 'user_id', :'a'), jsonb_build_object('api_key', :'key_b', 'user_id', :'b'),
			jsonb_build_object('claims', :'cadm', 'user_id', :'b'))), '{}'::int[],
		  'valid credentials: none fails');
INSERT INTO flov7.revoked_tokens (jti, user_id, expires_at) VALUES ((:'ca'::jsonb ->> 'jti')::uuid, :'a', now() + interval '1 hour');
UPDATE flov7.api_keys SET is_active = false, revoked_at = now() WHERE user_id = :'b';
SELECT is(flov7.stream_credentials_check(jsonb_build_array(
			jsonb_build_object('claims', :'ca', 'user_id', :'a'), jsonb_build_object('api_key', :'key_b', 'user_id', :'b'),
			jsonb_build_object('claims', :'cadm', 'user_id', :'b'))), '{1,2}'::int[],
		  'a revoked token and a revoked key fail');
UPDATE flov7.users SET role = 'user' WHERE id = :'adm';
SELECT is(flov7.stream_credentials_check(jsonb_build_array(jsonb_build_object('claims', :'cadm', 'user_id', :'b'),
																	jsonb_build_object('claims', :'cadm', 'user_id', :'adm'))), '{1}'::int[],
		  'a demoted admin may no longer watch another user (their own stream stays)');
UPDATE flov7.users SET is_active = false WHERE id = :'b';
SELECT is(flov7.stream_credentials_check(jsonb_build_array(jsonb_build_object('claims', :'cb', 'user_id', :'b'))), '{1}'::int[],
		  'a deactivated user''s stream fails');
UPDATE flov7.users SET is_active = true WHERE id = :'b';
UPDATE flov7.users SET role = 'admin' WHERE id = :'adm';
SELECT is(current_setting('request.jwt.claims', true), '', 'the check leaves no credentials behind');
SELECT ok(NOT has_function_privilege('flov7_user', 'flov7.stream_credentials_check(jsonb)', 'EXECUTE'),
		  'users cannot probe credentials');

-- ---- the registry --------------------------------------------------------------------------
SELECT is(flov7.realtime_sync('host-1:1', jsonb_build_array(
			jsonb_build_object('stream_id', 1, 'user_id', :'a', 'kind', 'websocket', 'topic', 'workflows', 'channel', 'workflows:' || :'a', 'peer', '127.0.0.1', 'since', 1700000000000),
			jsonb_build_object('stream_id', 2, 'user_id', :'b', 'kind', 'sse', 'topic', 'notifications', 'channel', 'notifications:' || :'b', 'peer', '127.0.0.1', 'since', 1700000000000))),
		  2, 'an instance syncs its streams');
SELECT flov7.realtime_sync('host-2:9', jsonb_build_array(
			jsonb_build_object('stream_id', 1, 'user_id', :'a', 'kind', 'sse', 'topic', 'notifications', 'channel', 'notifications:' || :'a', 'peer', '::1', 'since', 1700000000000))) AS n \gset
SELECT pg_temp.act_as(:'a');
SELECT is((SELECT jsonb_array_length(flov7_api.realtime_subscriptions_status('{}') -> 'connections')), 2,
		  'subscriptions/status: the caller''s streams on every instance');
SELECT pg_temp.act_as(:'adm');
SELECT is((flov7_api.realtime_admin_connections('{}') ->> 'total')::int, 3, 'admin/connections: all of them');
SELECT pg_temp.act_as(:'a');
SELECT throws_ok('SELECT flov7_api.realtime_admin_connections(''{}'')', '42501', NULL, 'admin/connections is for admins');
SELECT pg_temp.act_dba();
SELECT flov7.realtime_sync('host-1:1', jsonb_build_array(
			jsonb_build_object('stream_id', 2, 'user_id', :'b', 'kind', 'sse', 'topic', 'notifications', 'channel', 'notifications:' || :'b', 'peer', '127.0.0.1', 'since', 1700000000000))) AS n \gset
UPDATE flov7.realtime_connections SET last_seen = now() - interval '1 minute' WHERE instance = 'host-2:9';
SELECT pg_temp.act_as(:'a');
SELECT is((SELECT jsonb_array_length(flov7_api.realtime_subscriptions_status('{}') -> 'connections')), 0,
		  'a closed stream is gone at the next sync; a silent instance''s rows are stale after 30 s');

SELECT * FROM finish();
ROLLBACK;
