-- 21_events.sql: the event log (78_events.sql) and the realtime endpoints (79_realtime_api.sql):
-- an event for every state change, positions given at publication, who reads what, NOTIFY
-- payloads, the notify and broadcast endpoints, retention.
BEGIN;
SELECT plan(45);
\ir helpers.psql

SELECT pg_temp.mkuser('ev.a@pgtap.test', 'user', 'enterprise') AS a \gset
SELECT pg_temp.mkuser('ev.b@pgtap.test', 'user', 'enterprise') AS b \gset
SELECT pg_temp.mkuser('ev.admin@pgtap.test', 'admin', 'enterprise') AS adm \gset
-- start from a published log: what the fixtures wrote is out of the way
SELECT flov7.events_publish() AS head0 \gset

-- ---- executions and steps --------------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.workflow_create($${"name": "ev", "workflow_json": {"nodes": [
	{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}},
	{"id": "x", "type": "data", "data": {"config": {"operation_type": "mapping", "mapping": {"ok": true}}}}], "edges": [
	{"id": "e", "source": "t", "target": "x"}]}}$$::jsonb) ->> 'id' AS wf \gset
SELECT flov7.execute(:'wf') ->> 'execution_id' AS x1 \gset
SELECT pg_temp.act_dba();
SELECT is(ARRAY(SELECT type FROM flov7.events WHERE user_id = :'a' AND pos IS NULL ORDER BY id),
		  '{execution.created}', 'execute: an execution.created event, not yet published');
SELECT is((SELECT payload ->> 'execution_id' FROM flov7.events WHERE user_id = :'a' AND type = 'execution.created'),
		  :'x1', 'the event names its execution');
SELECT flov7.run_ready(60);
SELECT is(ARRAY(SELECT type FROM flov7.events WHERE user_id = :'a' AND pos IS NULL ORDER BY id),
		  '{execution.created,execution.started,step.completed,step.completed,execution.completed}',
		  'running it: started, each step completed, completed, in order');
SELECT is((SELECT count(*) FROM flov7.events WHERE user_id = :'a' AND topic <> 'workflows'), 0::bigint,
		  'execution events are on the workflows topic');

-- ---- publication -----------------------------------------------------------------------------
SELECT is(flov7.events_publish(), (:head0 + 5)::bigint, 'publish: the newest position');
SELECT is(ARRAY(SELECT pos FROM flov7.events WHERE user_id = :'a' ORDER BY id),
		  ARRAY[:head0 + 1, :head0 + 2, :head0 + 3, :head0 + 4, :head0 + 5]::bigint[], 'positions follow, in order');
SELECT is((SELECT pos FROM flov7.event_clock), (:head0 + 5)::bigint, 'the clock holds the newest position');
SELECT is(flov7.events_publish(), (:head0 + 5)::bigint, 'publish with nothing new changes nothing');
SELECT is(flov7.events_head(), (:head0 + 5)::bigint, 'events_head: where a new reader starts');

-- ---- who reads what ------------------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT is((SELECT count(*) FROM flov7.events_since(:head0)), 5::bigint, 'the owner reads their events');
SELECT is((SELECT count(*) FROM flov7.events_since(:head0 + 3)), 2::bigint, 'from a position: only what follows it');
SELECT is((SELECT count(*) FROM flov7.events_since(:head0, '{notifications}')), 0::bigint, 'topics filter');
SELECT throws_ok(format('SELECT * FROM flov7.events_since(%s, %L)', :head0, '{workflows,nope}'), '22023', 'unknown topic "nope"',
				 'an unknown topic is refused');
SELECT throws_ok('SELECT * FROM flov7.events_since(-1)', '22023', NULL, 'a negative position is refused');
SELECT throws_ok(format('SELECT * FROM flov7.events_since(0, %L, %L)', '{workflows}', :'b'), 'P0002', 'user not found',
				 'a user cannot read another user''s stream');
SELECT pg_temp.act_as(:'b');
SELECT is((SELECT count(*) FROM flov7.events_since(:head0)), 0::bigint, 'another user sees none of them');
SELECT is((SELECT count(*) FROM flov7.events WHERE user_id = :'a'), 0::bigint, 'not even through the table (RLS)');
SELECT pg_temp.act_as(:'adm');
SELECT is((SELECT count(*) FROM flov7.events_since(:head0, '{workflows}', :'a')), 5::bigint, 'an admin reads anyone''s stream');
SELECT pg_temp.act_anon();
SELECT throws_ok(format('SELECT * FROM flov7.events_since(%s)', :head0), '42501', NULL, 'anonymous callers read nothing');
SELECT pg_temp.act_dba();

-- an unpublished event is not read yet (it has no position to resume from)
SELECT flov7.event_add(:'a', 'workflows', 'test.pending', '{}');
SELECT pg_temp.act_as(:'a');
SELECT is((SELECT count(*) FROM flov7.events_since(:head0)), 5::bigint, 'an unpublished event is not read');
SELECT pg_temp.act_dba();
DELETE FROM flov7.events WHERE type = 'test.pending';

-- ---- notifications --------------------------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.realtime_notify_user('{"title": "hello", "message": "to me", "data": {"k": 1}}') AS n1 \gset
SELECT is((:'n1'::jsonb -> 'notification' ->> 'title'), 'hello', 'notify/user-notification: to oneself');
SELECT is((:'n1'::jsonb -> 'notification' ->> 'user_id'), :'a', 'the notification names its user');
SELECT throws_ok(format('SELECT flov7_api.realtime_notify_user(%L)', jsonb_build_object('user_id', :'b', 'title', 'hi')),
				 '42501', 'only an admin may notify another user', 'a user cannot notify another user');
SELECT throws_ok('SELECT flov7_api.realtime_notify_user(''{"message": "no title"}'')', '22023', NULL, 'title is required');
SELECT throws_ok('SELECT flov7_api.realtime_notify_user(''{"title": "t", "notification_type": "Not A Word"}'')', '22023', NULL,
				 'a bad notification_type is refused');
SELECT pg_temp.act_as(:'adm');
SELECT lives_ok(format('SELECT flov7_api.realtime_notify_user(%L)', jsonb_build_object('user_id', :'b', 'title', 'from admin')),
				'an admin notifies anyone');
SELECT throws_ok(format('SELECT flov7_api.realtime_notify_user(%L)', jsonb_build_object('user_id', gen_random_uuid(), 'title', 't')),
				 'P0002', 'user not found', 'an admin notifying a user that does not exist');
SELECT pg_temp.act_as(:'a');
SELECT flov7_api.notification_read(jsonb_build_object('id', :'n1'::jsonb -> 'notification' ->> 'id'));
SELECT pg_temp.act_dba();
SELECT is(ARRAY(SELECT type FROM flov7.events WHERE pos IS NULL AND user_id = :'a' ORDER BY id),
		  '{notification.created,notification.read}', 'notification events: created, then read');
SELECT is((SELECT topic FROM flov7.events WHERE pos IS NULL AND user_id = :'b'), 'notifications',
		  'on the notifications topic of their user');

-- ---- workflow status, announcements ---------------------------------------------------------
SELECT pg_temp.act_as(:'a');
SELECT lives_ok(format('SELECT flov7_api.realtime_notify_workflow_status(%L)',
					   jsonb_build_object('execution_id', :'x1', 'workflow_id', :'wf', 'status', 'completed', 'message', 'done')),
				'notify/workflow-status by the execution''s owner');
SELECT pg_temp.act_as(:'b');
SELECT throws_ok(format('SELECT flov7_api.realtime_notify_workflow_status(%L)',
						jsonb_build_object('execution_id', :'x1', 'status', 'completed')),
				 'P0002', 'execution not found', 'another user''s execution is not found');
SELECT throws_ok('SELECT flov7_api.realtime_broadcast(''{"title": "hi"}'')', '42501', NULL, 'users cannot broadcast');
SELECT pg_temp.act_as(:'adm');
SELECT lives_ok('SELECT flov7_api.realtime_broadcast(''{"title": "maintenance", "announcement_type": "maintenance", "message": "at 2"}'')',
				'an admin broadcasts a system announcement');
SELECT pg_temp.act_dba();
SELECT is(ARRAY(SELECT type FROM flov7.events WHERE pos IS NULL AND user_id = :'a' AND topic = 'workflows' ORDER BY id),
		  '{workflow.status}', 'workflow-status: an event on the owner''s workflows topic');
SELECT is((SELECT count(*) FROM flov7.notifications WHERE user_id = :'a' AND type = 'workflow_status'), 1::bigint,
		  '... and a stored notification, as the original did');
SELECT flov7.events_publish() AS head1 \gset
SELECT pg_temp.act_as(:'b');
SELECT is(ARRAY(SELECT type FROM flov7.events_since(:head0) ORDER BY pos), '{notification.created,system.announcement}',
		  'a user reads their own events and the system stream');
SELECT is((SELECT count(*) FROM flov7.events_since(:head0, '{workflows,notifications}')), 1::bigint,
		  'without the system topic, no announcements');

-- ---- NOTIFY payloads ------------------------------------------------------------------------
SELECT pg_temp.act_dba();
SELECT ok(NOT EXISTS (SELECT 1 FROM flov7.events e WHERE flov7.event_notice(e)::jsonb ?| '{title,message,data,payload}'),
		  'NOTIFY payloads carry no titles, messages or data');
INSERT INTO flov7.events (user_id, topic, type, payload)
VALUES (:'a', 'notifications', 'notification.created',
		jsonb_build_object('notification_id', repeat('x', 100000), 'title', repeat('t', 100000)));
SELECT cmp_ok((SELECT max(length(flov7.event_notice(e))) FROM flov7.events e), '<', 1000,
			  'a NOTIFY payload stays small whatever the event holds (8000 is the limit)');
SELECT is(flov7.user_channel(:'a'), 'flov7_user_' || replace(:'a', '-', ''), 'a user''s LISTEN channel');

-- ---- retention ------------------------------------------------------------------------------
SELECT flov7.events_publish();
UPDATE flov7.events SET created_at = now() - interval '8 days' WHERE user_id = :'a' AND type LIKE 'execution.%';
SELECT is(flov7.events_purge(), 3::bigint, 'purge: published events older than the retention (7 days) go');
SELECT is((SELECT count(*) FROM flov7.events WHERE user_id = :'a' AND type LIKE 'step.%'), 2::bigint, 'newer ones stay');
INSERT INTO flov7.settings (key, value) VALUES ('event_retention', '1 hour')
	ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
UPDATE flov7.events SET created_at = now() - interval '2 hours' WHERE user_id = :'a' AND type LIKE 'step.%';
SELECT is(flov7.events_purge(1), 1::bigint, 'the retention is a setting; a purge takes a batch at a time');

-- ---- privileges -----------------------------------------------------------------------------
SELECT ok(NOT has_function_privilege('flov7_user', 'flov7.event_add(uuid, text, text, jsonb)', 'EXECUTE')
		  AND NOT has_function_privilege('flov7_user', 'flov7.events_publish(int)', 'EXECUTE')
		  AND NOT has_table_privilege('flov7_user', 'flov7.events', 'INSERT'),
		  'users cannot write events or publish');
SELECT ok(has_function_privilege('flov7_worker', 'flov7.events_publish(int)', 'EXECUTE')
		  AND has_function_privilege('flov7_worker', 'flov7.events_purge(int)', 'EXECUTE'),
		  'the workers publish and purge');

SELECT * FROM finish();
ROLLBACK;
