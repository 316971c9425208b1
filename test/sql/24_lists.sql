-- 24_lists.sql: lists that cost by the page (22_lists.sql): totals exact when cheap or asked,
-- else the planner's estimate marked as such; opaque keyset cursors (round trips, equal sort
-- keys, tampered, foreign, mixed with offset, another sort); the headers; bad page arguments.
BEGIN;
SELECT plan(78);
\ir helpers.psql

SELECT pg_temp.mkuser('li.a@pgtap.test', 'user', 'enterprise') AS a \gset
SELECT pg_temp.mkuser('li.b@pgtap.test') AS b \gset
SELECT pg_temp.mkuser('li.admin@pgtap.test', 'admin') AS adm \gset

-- Every item of a list, page after page by next_cursor: the values of field p_key, in order.
CREATE FUNCTION pg_temp.walk(p_fn text, p_args jsonb, p_key text DEFAULT 'id') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
	acc jsonb := '[]';
	c text;
	n int := 0;
BEGIN
	LOOP
		EXECUTE format('SELECT flov7_api.%I($1)', p_fn) INTO r
		  USING p_args || CASE WHEN c IS NULL THEN '{}' ELSE jsonb_build_object('cursor', c) END;
		acc := acc || coalesce((SELECT jsonb_agg(i.v -> p_key ORDER BY i.n) FROM jsonb_array_elements(r -> 'items')
								  WITH ORDINALITY AS i (v, n)), '[]');
		c := r ->> 'next_cursor';
		n := n + 1;
		EXIT WHEN c IS NULL OR n > 500;
	END LOOP;
	RETURN acc;
END
$$;

-- The same by offset.
CREATE FUNCTION pg_temp.walk_offset(p_fn text, p_args jsonb, p_key text DEFAULT 'id') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
	acc jsonb := '[]';
	o int := 0;
BEGIN
	LOOP
		EXECUTE format('SELECT flov7_api.%I($1)', p_fn) INTO r USING p_args || jsonb_build_object('offset', o);
		EXIT WHEN jsonb_array_length(r -> 'items') = 0;
		acc := acc || (SELECT jsonb_agg(i.v -> p_key ORDER BY i.n) FROM jsonb_array_elements(r -> 'items')
						 WITH ORDINALITY AS i (v, n));
		o := o + jsonb_array_length(r -> 'items');
	END LOOP;
	RETURN acc;
END
$$;

-- The last response header of that name the list set (response.headers).
CREATE FUNCTION pg_temp.header(p_name text) RETURNS text LANGUAGE sql AS $$
	SELECT (SELECT h ->> p_name FROM jsonb_array_elements(nullif(current_setting('response.headers', true), '')::jsonb)
							WITH ORDINALITY AS x (h, n) WHERE h ? p_name ORDER BY x.n DESC LIMIT 1)
$$;
CREATE FUNCTION pg_temp.no_headers() RETURNS void LANGUAGE sql AS $$
	SELECT set_config('response.headers', '', true)
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

-- a: 1205 notifications, 300 of them at one instant (equal sort keys); b: 5.
INSERT INTO flov7.notifications (user_id, type, title, created_at)
SELECT :'a', CASE WHEN n % 3 = 0 THEN 'alert' ELSE 'info' END, 'n' || n,
	   CASE WHEN n <= 300 THEN timestamptz '2024-01-01 00:00:00+00' ELSE timestamptz '2024-01-01 00:00:00+00' + n * interval '1 second' END
  FROM generate_series(1, 1205) n;
INSERT INTO flov7.notifications (user_id, title) SELECT :'b', 'b' || n FROM generate_series(1, 5) n;
ANALYZE flov7.notifications;

-- ---- totals -------------------------------------------------------------------------------------
SELECT pg_temp.act_as(:'b');
SELECT pg_temp.no_headers();
SELECT flov7_api.notification_list('{"limit":3}') AS l \gset
SELECT ok(:'l'::jsonb ?& ARRAY['items', 'total', 'total_is_estimate', 'limit', 'offset', 'next_cursor'], 'a list has every field');
SELECT is(:'l'::jsonb - 'items' - 'next_cursor', '{"total":5,"total_is_estimate":false,"limit":3,"offset":0,"has_more":true,
		  "unread_count":5,"unread_count_is_estimate":false}', 'a small list counts exactly');
SELECT is(pg_temp.header('Content-Range'), '0-2/5', 'Content-Range of an offset page, exact total');
SELECT is(pg_temp.header('Preference-Applied'), NULL, 'no Preference-Applied unless a count is asked');
SELECT is(flov7_api.notification_list('{"limit":10}') -> 'next_cursor', 'null', 'the last page has no next_cursor');
SELECT is(flov7_api.notification_list('{"limit":10,"offset":3}') - 'items' - 'next_cursor',
		  '{"total":5,"total_is_estimate":false,"limit":10,"offset":3,"has_more":false,
			"unread_count":5,"unread_count_is_estimate":false}', 'the last page by offset tells the total');
SELECT is(flov7_api.notification_list('{"limit":2,"offset":50}') -> 'total', '5', 'an offset past the end still counts');
SELECT is(pg_temp.header('Content-Range'), '*/5', 'Content-Range of an empty page');

SELECT pg_temp.act_as(:'a');
SELECT flov7_api.notification_list('{}') AS l \gset
SELECT ok((:'l'::jsonb ->> 'total_is_estimate')::boolean, 'past 1000 rows the total is an estimate, marked');
SELECT ok(flov7.list_estimate('notifications', jsonb_build_object('uid', :'a')) BETWEEN 1100 AND 1400,
		  format('the estimate is the planner''s, without row level security''s own guess of 1/2 (got %s for 1205)',
				 flov7.list_estimate('notifications', jsonb_build_object('uid', :'a'))));
SELECT is(pg_temp.header('Content-Range'), '0-19/*', 'Content-Range of an estimated total');
SELECT is(flov7_api.notification_list('{"count":"exact"}') - 'items' - 'next_cursor',
		  '{"total":1205,"total_is_estimate":false,"limit":20,"offset":0,"has_more":true,
			"unread_count":1205,"unread_count_is_estimate":false}', 'count=exact counts every row');
SELECT is(pg_temp.header('Content-Range'), '0-19/1205', 'Content-Range of the exact count');
SELECT is(pg_temp.header('Preference-Applied'), 'count=exact', 'Preference-Applied: count=exact');
SELECT set_config('request.headers', '{"prefer":"return=minimal, count=exact"}', true) \g /dev/null
SELECT is(flov7_api.notification_list('{}') -> 'total', '1205', 'Prefer: count=exact (PostgREST) asks the same');
SELECT set_config('request.headers', '{"prefer":"count=planned"}', true) \g /dev/null
SELECT ok((flov7_api.notification_list('{"limit":5,"is_read":"false"}') ->> 'total_is_estimate')::boolean, 'Prefer: count=planned is an estimate');
SELECT is(pg_temp.header('Preference-Applied'), 'count=planned', 'Preference-Applied: count=planned');
SELECT set_config('request.headers', '', true) \g /dev/null
SELECT is(flov7_api.notification_list('{"type":"alert","count":"exact"}') -> 'total', '401', 'filters count exactly too');
SELECT is(flov7_api.notification_list('{"type":"alert","is_read":"true"}') -> 'total', '0', 'an empty filtered list');
SELECT throws_ok($$SELECT flov7_api.notification_list('{"count":"all"}')$$, '22023', NULL, 'an unknown count mode is 22023');

-- ---- cursors: round trips and equal sort keys --------------------------------------------------------
SELECT is(pg_temp.walk('notification_list', '{"limit":100}'),
		  (SELECT jsonb_agg(n.id ORDER BY n.created_at DESC, n.id DESC) FROM flov7.notifications n WHERE n.user_id = :'a'),
		  'cursor pages give every row once, in order, across 300 equal sort keys');
SELECT is(pg_temp.walk('notification_list', '{"limit":7,"type":"alert"}'),
		  pg_temp.walk_offset('notification_list', '{"limit":7,"type":"alert"}'),
		  'cursor pages and offset pages agree (a filter kept across pages)');
SELECT flov7_api.notification_list('{"limit":2}') ->> 'next_cursor' AS c \gset
SELECT pg_temp.no_headers();
SELECT flov7_api.notification_list(jsonb_build_object('limit', 2, 'cursor', :'c')) AS p2 \gset
SELECT is(:'p2'::jsonb -> 'items' -> 0 -> 'id',
		  (SELECT to_jsonb(n.id) FROM flov7.notifications n WHERE n.user_id = :'a' ORDER BY n.created_at DESC, n.id DESC OFFSET 2 LIMIT 1),
		  'the page after a cursor starts after its last row');
SELECT is(:'p2'::jsonb -> 'offset', '0', 'a cursor page says offset 0');
SELECT is(pg_temp.header('Content-Range'), NULL, 'no Content-Range on a cursor page (its position is unknown)');
SELECT ok(:'c' ~ '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$', 'a cursor is opaque base64url with its MAC');

-- ---- cursors: refused --------------------------------------------------------------------------------
SELECT throws_ok(format('SELECT flov7_api.notification_list(%L)', jsonb_build_object('cursor', :'c', 'offset', 0)),
				 '22023', 'send either "cursor" or "offset", not both', 'cursor and offset together: 22023');
SELECT throws_ok($$SELECT flov7_api.notification_list('{"cursor":"abc"}')$$, '22023', 'field "cursor" is not a cursor',
				 'a malformed cursor: 22023');
SELECT throws_ok($$SELECT flov7_api.notification_list('{"cursor":"%%%.%%%"}')$$, '22023', 'field "cursor" is not a cursor',
				 'a cursor with bytes outside base64url: 22023');
-- The payload with one character changed, the MAC kept.
SELECT throws_ok(format('SELECT flov7_api.notification_list(%L)', jsonb_build_object('cursor',
					 overlay(:'c' placing CASE WHEN substr(:'c', 20, 1) = 'A' THEN 'B' ELSE 'A' END FROM 20 FOR 1))),
				 '22023', 'field "cursor" is not a cursor of this list', 'a tampered payload: 22023');
SELECT throws_ok(format('SELECT flov7_api.notification_list(%L)', jsonb_build_object('cursor',
					 split_part(:'c', '.', 1) || '.AAAAAAAAAAAAAAAAAAAAAA')),
				 '22023', 'field "cursor" is not a cursor of this list', 'a forged MAC: 22023');
-- A payload for another sort, well encoded, with the MAC of the original: refused by the MAC.
SELECT throws_ok(format('SELECT flov7_api.notification_list(%L)', jsonb_build_object('cursor',
					 flov7.b64url(convert_to(jsonb_build_object('l', 'notifications', 's', 'created_at.desc',
										 'k', '["2099-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"]'::jsonb)::text, 'UTF8'))
					 || '.' || split_part(:'c', '.', 2))),
				 '22023', 'field "cursor" is not a cursor of this list', 'a payload of one''s own with another''s MAC: 22023');
SELECT pg_temp.act_as(:'b');
SELECT throws_ok(format('SELECT flov7_api.notification_list(%L)', jsonb_build_object('cursor', :'c')),
				 '22023', 'field "cursor" is not a cursor of this list', 'another user''s cursor: 22023');
SELECT pg_temp.act_as(:'a');

-- ---- workflows: four sorts, both orders, cursors bound to their sort ----------------------------------
INSERT INTO flov7.workflows (user_id, name, description, last_executed_at, created_at)
SELECT :'a', CASE WHEN n % 4 = 0 THEN 'Same name' ELSE 'flow ' || (n % 7) END, 'about ' || n,
	   CASE WHEN n % 3 = 0 THEN NULL ELSE timestamptz '2024-02-01' + (n % 5) * interval '1 hour' END,
	   timestamptz '2024-01-01' + (n % 9) * interval '1 minute'
  FROM generate_series(1, 37) n;
SELECT is(pg_temp.walk('workflow_list', jsonb_build_object('limit', 5, 'sort_by', s.by, 'sort_order', s.ord)),
		  pg_temp.walk_offset('workflow_list', jsonb_build_object('limit', 5, 'sort_by', s.by, 'sort_order', s.ord)),
		  format('workflows by %s %s: cursor pages = offset pages', s.by, s.ord))
  FROM (VALUES ('created_at', 'asc'), ('created_at', 'desc'), ('updated_at', 'desc'), ('name', 'asc'), ('name', 'desc'),
			   ('last_executed_at', 'asc'), ('last_executed_at', 'desc')) s (by, ord);
SELECT is(jsonb_array_length(pg_temp.walk('workflow_list', '{"limit":6,"sort_by":"last_executed_at","sort_order":"desc"}')), 37,
		  'every workflow once, those never run last');
SELECT is(pg_temp.walk('workflow_list', '{"limit":4,"sort_by":"name","sort_order":"asc"}'),
		  (SELECT jsonb_agg(w.id ORDER BY lower(w.name), w.id) FROM flov7.workflows w WHERE w.user_id = :'a'),
		  'equal names are ordered by id');
SELECT is((SELECT jsonb_agg(x ->> 'last_executed_at' IS NULL)
			 FROM jsonb_array_elements(flov7_api.workflow_list('{"limit":100,"sort_by":"last_executed_at","sort_order":"asc"}') -> 'items') x)
		  -> 36, 'true', 'never run: last when ascending too');
SELECT flov7_api.workflow_list('{"limit":2,"sort_by":"name"}') ->> 'next_cursor' AS wc \gset
SELECT throws_ok(format('SELECT flov7_api.workflow_list(%L)', jsonb_build_object('cursor', :'wc', 'sort_by', 'created_at')),
				 '22023', 'field "cursor" was made for another sort order', 'a cursor with another sort: 22023');
SELECT throws_ok(format('SELECT flov7_api.workflow_list(%L)', jsonb_build_object('cursor', :'wc', 'sort_by', 'name', 'sort_order', 'asc')),
				 '22023', 'field "cursor" was made for another sort order', 'a cursor with another order: 22023');
SELECT throws_ok(format('SELECT flov7_api.notification_list(%L)', jsonb_build_object('cursor', :'wc')),
				 '22023', 'field "cursor" is a cursor of another list (workflows)', 'a cursor of another list: 22023');
SELECT is(jsonb_array_length(flov7_api.workflow_list(jsonb_build_object('cursor', :'wc', 'sort_by', 'name')) -> 'items'), 20,
		  'the same sort takes it');
SELECT is(flov7_api.workflow_list('{"search":"same NAME","count":"exact"}') -> 'total', '9', 'search is case-insensitive');
SELECT is(flov7_api.workflow_list('{"search":"about 3"}') -> 'total', '9', 'search reads descriptions (about 3, about 30 to 37)');

-- ---- executions: scope bound into the cursor; "before" still takes an execution id -------------------
SELECT (SELECT w.id FROM flov7.workflows w WHERE w.user_id = :'a' ORDER BY w.id LIMIT 1) AS wf1,
	   (SELECT w.id FROM flov7.workflows w WHERE w.user_id = :'a' ORDER BY w.id DESC LIMIT 1) AS wf2 \gset
SELECT pg_temp.act_dba();
INSERT INTO flov7.workflow_executions (user_id, workflow_id, status, created_at, completed_at)
SELECT :'a', w.wf::uuid, CASE WHEN n % 5 = 0 THEN 'failed' ELSE 'completed' END,
	   timestamptz '2024-03-01' + (n / 4) * interval '1 second', timestamptz '2024-03-02'
  FROM generate_series(1, 45) n, (VALUES (:'wf1'), (:'wf2')) w (wf);
SELECT pg_temp.act_as(:'a');
SELECT is(pg_temp.walk('execution_list', jsonb_build_object('id', :'wf1', 'limit', 4)),
		  (SELECT jsonb_agg(e.id ORDER BY e.created_at DESC, e.id DESC) FROM flov7.workflow_executions e WHERE e.workflow_id = :'wf1'),
		  'executions: cursor pages, newest first, equal times by id');
SELECT is(pg_temp.walk('execution_list', jsonb_build_object('id', :'wf1', 'limit', 4, 'status', 'failed')),
		  pg_temp.walk_offset('execution_list', jsonb_build_object('id', :'wf1', 'limit', 4, 'status', 'failed')),
		  'executions: filtered cursor pages = offset pages');
SELECT flov7_api.execution_list(jsonb_build_object('id', :'wf1', 'limit', 3)) ->> 'next_cursor' AS ec \gset
SELECT throws_ok(format('SELECT flov7_api.execution_list(%L)', jsonb_build_object('id', :'wf2', 'cursor', :'ec')),
				 '22023', 'field "cursor" is not a cursor of this list', 'a cursor of another workflow''s executions: 22023');
SELECT is(flov7_api.execution_list(jsonb_build_object('id', :'wf1', 'limit', 3, 'before', :'ec')) -> 'items',
		  flov7_api.execution_list(jsonb_build_object('id', :'wf1', 'limit', 3, 'cursor', :'ec')) -> 'items',
		  '"before" takes the cursor too');
SELECT throws_ok(format('SELECT flov7_api.execution_list(%L)', jsonb_build_object('id', :'wf1', 'cursor', :'ec', 'before', :'ec')),
				 '22023', 'send either "cursor" or "before", not both', 'cursor and before together: 22023');

-- ---- steps of an execution ----------------------------------------------------------------------------
SELECT flov7_api.workflow_create(jsonb_build_object('name', 'fan', 'workflow_json', jsonb_build_object(
	'nodes', jsonb_build_array(jsonb_build_object('id', 't', 'type', 'trigger', 'data', '{"config":{"trigger_type":"manual"}}'::jsonb))
			 || (SELECT jsonb_agg(jsonb_build_object('id', 'n' || n, 'type', 'data',
					'data', '{"config":{"operation_type":"mapping","mapping":{"x":1}}}'::jsonb)) FROM generate_series(1, 12) n),
	'edges', (SELECT jsonb_agg(jsonb_build_object('id', 'e' || n, 'source', 't', 'target', 'n' || n)) FROM generate_series(1, 12) n))))
	->> 'id' AS fan \gset
SELECT flov7.execute(:'fan', '{}') ->> 'id' AS fx \gset
SELECT is(pg_temp.walk('execution_step_list', jsonb_build_object('id', :'fx', 'limit', 5), 'node_id'),
		  (SELECT jsonb_agg(s.node_id ORDER BY s.node_id, s.iteration) FROM flov7.execution_steps s WHERE s.execution_id = :'fx'),
		  'steps: every step once, by node id');
SELECT is(flov7_api.execution_step_list(jsonb_build_object('id', :'fx', 'node_id', 'n7')) -> 'items' -> 0 ->> 'node_id', 'n7',
		  'steps: node_id filter');
SELECT is(flov7_api.execution_step_list(jsonb_build_object('id', :'fx', 'state', 'completed')) -> 'total', '0',
		  'steps: state filter (nothing ran yet)');
SELECT pg_temp.act_as(:'b');
SELECT throws_ok(format('SELECT flov7_api.execution_step_list(%L)', jsonb_build_object('id', :'fx')), 'P0002', NULL,
				 'steps: another user''s execution is not found');
SELECT pg_temp.act_as(:'a');

-- ---- templates, primitives, keys, integrations ----------------------------------------------------------
SELECT is(pg_temp.walk('template_list', '{"limit":2}'), pg_temp.walk_offset('template_list', '{"limit":2}'),
		  'templates: cursor pages = offset pages (featured first, then name)');
SELECT is(pg_temp.walk('primitive_list', '{"limit":10}', 'subtype'), pg_temp.walk_offset('primitive_list', '{"limit":10}', 'subtype'),
		  'primitives: cursor pages = offset pages');
SELECT is(jsonb_array_length(pg_temp.walk('primitive_list', '{"limit":10}', 'subtype')),
		  (SELECT count(*)::int FROM flov7.primitives WHERE is_active), 'primitives: all of them');
SELECT flov7_api.api_key_create(jsonb_build_object('name', 'k' || n)) IS NOT NULL FROM generate_series(1, 5) n \g /dev/null
SELECT is(pg_temp.walk('api_key_list', '{"limit":2}'), pg_temp.walk_offset('api_key_list', '{"limit":2}'), 'api keys: cursor pages = offset pages');
SELECT flov7_api.integration_create(jsonb_build_object('service_name', 's' || n, 'service_type', 'webhook', 'credentials', '{}'::jsonb)) IS NOT NULL
  FROM generate_series(1, 4) n \g /dev/null
SELECT is(pg_temp.walk('integration_list', '{"limit":3}'), pg_temp.walk_offset('integration_list', '{"limit":3}'),
		  'integrations: cursor pages = offset pages');

-- ---- admin search ---------------------------------------------------------------------------------------------
SELECT pg_temp.act_dba();
INSERT INTO flov7.users (email, full_name, created_at)
SELECT 'li.many' || n || '@pgtap.test', CASE WHEN n % 250 = 0 THEN 'Rare Zebra ' || n ELSE 'Common ' || n END,
	   timestamptz '2024-01-01' + (n % 50) * interval '1 day'
  FROM generate_series(1, 1500) n;
ANALYZE flov7.users;
SELECT pg_temp.act_as(:'adm');
SELECT is(flov7_api.admin_user_list('{"search":"zebra","limit":2}') - 'items' - 'next_cursor',
		  '{"total":6,"total_is_estimate":false,"limit":2,"offset":0,"has_more":true}', 'a sparse search is counted exactly');
SELECT is(pg_temp.walk('admin_user_list', '{"search":"zebra","limit":2}'),
		  (SELECT jsonb_agg(u.id ORDER BY u.created_at DESC, u.id DESC) FROM flov7.users u WHERE u.full_name ILIKE '%zebra%'),
		  'a sparse search, page after page');
SELECT is(pg_temp.walk('admin_user_list', '{"search":"li.many1","limit":50}'),
		  (SELECT jsonb_agg(u.id ORDER BY u.created_at DESC, u.id DESC) FROM flov7.users u WHERE u.email ILIKE '%li.many1%'),
		  'a common search, page after page');
SELECT ok((flov7_api.admin_user_list('{"search":"common"}') ->> 'total_is_estimate')::boolean,
		  'a common search over 1000 matches has an estimated total');
SELECT is(flov7_api.admin_user_list('{"search":"common","count":"exact"}') -> 'total', '1494', 'count=exact counts it');
SELECT is(flov7_api.admin_user_list('{"search":"common","offset":990,"limit":5}') -> 'items',
		  (SELECT jsonb_agg(flov7.user_json(u) ORDER BY u.created_at DESC, u.id DESC)
			 FROM (SELECT * FROM flov7.users u WHERE u.full_name ILIKE '%common%' ORDER BY u.created_at DESC, u.id DESC OFFSET 990 LIMIT 5) u),
		  'a deep offset of a common search');
SELECT pg_temp.act_as(:'a');
SELECT throws_ok($$SELECT flov7.admin_user_search('{"pat":"%a%","lim":5}')$$, '42501', NULL, 'the owner-rights search is an admin''s only');
SELECT throws_ok($$SELECT flov7.list_estimate('admin_users', '{}')$$, '42501', NULL, 'so is the estimate of users');
SELECT is(flov7.list_estimate('notifications', jsonb_build_object('uid', :'b')),
		  flov7.list_estimate('notifications', jsonb_build_object('uid', :'a')),
		  'an estimate is always of the caller''s own rows');

-- ---- bad page arguments ---------------------------------------------------------------------------------------
SELECT throws_ok($$SELECT flov7_api.notification_list('{"limit":0}')$$, '22023', 'field "limit" must be between 1 and 100', 'limit 0');
SELECT throws_ok($$SELECT flov7_api.workflow_list('{"limit":"101"}')$$, '22023', 'field "limit" must be between 1 and 100', 'limit 101');
SELECT throws_ok($$SELECT flov7_api.execution_list('{"id":"00000000-0000-0000-0000-000000000000","offset":-1}')$$, '22023', NULL, 'offset -1');
SELECT throws_ok($$SELECT flov7_api.notification_list('{"offset":"99999999999"}')$$, '22023',
				 'field "offset" must be between 0 and 2147483647', 'an offset past int''s range says so');
SELECT throws_ok($$SELECT flov7_api.workflow_list('{"sort_by":"id"}')$$, '22023', NULL, 'an unknown sort');
SELECT throws_ok($$SELECT flov7_api.template_list('{"cursor":5}')$$, '22023', 'field "cursor" must be a string', 'a cursor that is not a string');

SELECT * FROM finish();
ROLLBACK;
