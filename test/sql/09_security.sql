-- 09_security.sql: search_path hijacking through pg_temp, and EXECUTE grants through cached plans.
--
-- The attack: any role with TEMP on the database (PUBLIC has it by default) plants
-- pg_temp.text as a domain whose CHECK calls its own function, then calls an endpoint.  A
-- function whose pinned search_path lacks pg_temp searches pg_temp first for types and tables,
-- so a SECURITY DEFINER function would run the attacker's code as the extension owner.
BEGIN;
SELECT plan(10 + (SELECT count(*)::int FROM flov7.routes r
				   CROSS JOIN (VALUES ('flov7_anon'), ('flov7_user')) AS d (role)
				  WHERE NOT has_function_privilege(d.role, to_regprocedure(r.function || '(jsonb)'), 'EXECUTE')));
\ir helpers.psql

-- Functions of the extension (not pgTAP's, not the test's).
CREATE FUNCTION pg_temp.ext_functions() RETURNS TABLE (fn regprocedure, p pg_catalog.pg_proc)
LANGUAGE sql AS $$
	SELECT p.oid::regprocedure, p
	  FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_proc p ON p.oid = d.objid
	 WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e'
	   AND d.refclassid = 'pg_catalog.pg_extension'::regclass
	   AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'flov7')
$$;

-- (a) The catalog: pg_temp last wherever a search_path is pinned; every definer pins one.
SELECT is(ARRAY(SELECT f.fn::text FROM pg_temp.ext_functions() f
				 WHERE (f.p).prosecdef
				   AND NOT EXISTS (SELECT 1 FROM unnest((f.p).proconfig) c WHERE c ~ '^search_path=.*, pg_temp$')
				 ORDER BY 1),
		  '{}'::text[], 'every SECURITY DEFINER function pins search_path with pg_temp last');
SELECT is(ARRAY(SELECT f.fn::text FROM pg_temp.ext_functions() f, unnest((f.p).proconfig) c
				 WHERE c LIKE 'search\_path=%' AND c !~ '^search_path=.*, pg_temp$'
				 ORDER BY 1),
		  '{}'::text[], 'every pinned search_path of the extension ends with pg_temp');
SELECT cmp_ok((SELECT count(*) FROM pg_temp.ext_functions() f WHERE (f.p).prosecdef), '>=', 10::bigint,
			  'the check above sees the definer functions');

-- Endpoints are never inlined: a SET clause, SECURITY DEFINER or a language other than SQL.
SELECT is(ARRAY(SELECT f.fn::text FROM pg_temp.ext_functions() f
				 WHERE (f.p).pronamespace = 'flov7_api'::regnamespace
				   AND (f.p).prolang = (SELECT l.oid FROM pg_catalog.pg_language l WHERE l.lanname = 'sql')
				   AND (f.p).proconfig IS NULL AND NOT (f.p).prosecdef
				 ORDER BY 1),
		  '{}'::text[], 'no endpoint can be inlined into its caller''s plan');

-- (b) The replay.  Arguments that take each endpoint past its argument checks into its body.
SELECT pg_temp.mkuser('sec.u@pgtap.test') AS u \gset
SELECT pg_temp.mkuser('sec.v@pgtap.test') AS v \gset
SELECT pg_temp.mkuser('sec.a@pgtap.test', 'admin') AS a \gset
SELECT pg_temp.mkkey(:'u', ARRAY['profile:read', 'api_keys:read']) AS ukey \gset
SELECT pg_temp.act_anon();
SELECT flov7_api.auth_login('{"email":"sec.u@pgtap.test","password":"password123"}') ->> 'refresh_token' AS refresh \gset
SELECT pg_temp.act_as(:'u');
SELECT flov7_api.integration_create('{"service_name":"gh","service_type":"api_key","credentials":{"t":"x"}}') ->> 'id' AS integ \gset
SELECT flov7_api.api_key_create('{"name":"sec"}') ->> 'id' AS key_id \gset
SELECT flov7_api.workflow_create('{"name":"sec","workflow_json":{"nodes":[{"id":"t","type":"trigger","data":{"config":{"trigger_type":"manual"}}}],"edges":[]}}') ->> 'id' AS wf \gset
SELECT flov7_api.workflow_create('{"name":"sec run","workflow_json":{"nodes":[{"id":"t","type":"trigger","data":{"config":{"trigger_type":"manual"}}}],"edges":[]}}') ->> 'id' AS wf2 \gset
SELECT flov7.execute(:'wf2') ->> 'id' AS ex \gset
SELECT pg_temp.act_dba();
INSERT INTO flov7.notifications (user_id, type, title, message) VALUES (:'u', 'info', 't', 'm') RETURNING id AS notif \gset

CREATE TEMP TABLE happy (fn text PRIMARY KEY, args jsonb NOT NULL);
INSERT INTO happy VALUES
	('auth_register', '{"email":"sec.new@pgtap.test","password":"password123","full_name":"N"}'),
	('auth_login', '{"email":"sec.u@pgtap.test","password":"password123"}'),
	('auth_refresh', jsonb_build_object('refresh_token', :'refresh')),
	('auth_logout', '{}'),
	('auth_me', '{}'),
	('auth_verify', '{}'),
	('api_key_create', '{"name":"k","permissions":["profile:read"]}'),
	('api_key_list', '{}'),
	('api_key_revoke', jsonb_build_object('key_id', :'key_id')),
	('users_profile_get', '{}'),
	('users_profile_update', '{"full_name":"Sec","current_password":"password123","new_password":"password456"}'),
	('users_stats', '{}'),
	('integration_create', '{"service_name":"s","service_type":"webhook","credentials":{"u":"v"}}'),
	('integration_list', '{}'),
	('integration_get', jsonb_build_object('id', :'integ')),
	('integration_update', jsonb_build_object('id', :'integ', 'credentials', '{"t":"y"}'::jsonb)),
	('integration_delete', jsonb_build_object('id', :'integ')),
	('notification_list', '{}'),
	('notification_read', jsonb_build_object('id', :'notif')),
	('notification_read_all', '{}'),
	('admin_user_list', '{"search":"sec"}'),
	('admin_user_set_role', jsonb_build_object('id', :'v', 'role', 'premium')),
	('admin_user_set_status', jsonb_build_object('id', :'v', 'is_active', false)),
	('admin_stats', '{}'),
	('api_root', '{}'),
	('service_health', '{"service":"auth"}'),
	('health_database', '{}'),
	('primitive_list', '{"type":"condition"}'),
	('workflow_create', '{"name":"w","workflow_json":{"nodes":[{"id":"t","type":"trigger","data":{"config":{"trigger_type":"manual"}}},{"id":"c","type":"condition","data":{"config":{"condition_type":"if_else","condition":"data.x == 1"}}},{"id":"j","type":"condition","data":{"config":{"condition_type":"json_path","path":"$.data ? (@.a > 1)"}}}],"edges":[{"id":"e","source":"t","target":"c"},{"id":"f","source":"t","target":"j"}]}}'),
	('workflow_list', '{"search":"sec","tag":"x","sort_by":"name"}'),
	('workflow_get', jsonb_build_object('id', :'wf')),
	('workflow_update', jsonb_build_object('id', :'wf', 'name', 'sec2', 'tags', '["t"]'::jsonb)),
	('workflow_delete', jsonb_build_object('id', :'wf')),
	('workflow_execute', jsonb_build_object('id', :'wf2', 'input_data', '{"x": 1}'::jsonb)),
	('execution_list', jsonb_build_object('id', :'wf2', 'status', 'pending', 'limit', 5)),
	('execution_get', jsonb_build_object('id', :'ex')),
	('execution_step_list', jsonb_build_object('id', :'ex', 'state', 'pending', 'limit', 5)),
	('execution_cancel', jsonb_build_object('id', :'ex')),
	('execution_retry', jsonb_build_object('id', :'ex')),
	('template_list', '{"search":"a","difficulty":"beginner"}'),
	('template_use', jsonb_build_object('id', (SELECT t.id FROM flov7.workflow_templates t ORDER BY t.name LIMIT 1))),
	('schema_list', '{"limit":5,"after":"a"}'),
	('schema_create', '{"name":"sec_schema","schema":{"type":"object"},"description":"d"}'),
	('schema_get', '{"name":"sec_schema"}'),
	('schema_put', '{"name":"sec_schema","schema":{"type":"object","required":["x"]}}'),
	('schema_delete', '{"name":"sec_schema"}'),
	('message_template_list', '{"limit":5}'),
	('message_template_create', '{"name":"sec_tpl","subject":"Hi {{ $.input.name }}","body":"b"}'),
	('message_template_get', '{"name":"sec_tpl"}'),
	('message_template_put', '{"name":"sec_tpl","body":"Hello {{user.name}}"}'),
	('message_template_delete', '{"name":"sec_tpl"}'),
	('realtime_notify_workflow_status', jsonb_build_object('execution_id', :'ex', 'status', 'completed', 'message', 'm')),
	('realtime_notify_user', '{"title":"t","message":"m","data":{"k":1}}'),
	('realtime_broadcast', '{"title":"t","announcement_type":"info"}'),
	('realtime_events', '{"last_event_id":0,"topics":"workflows,system","limit":5}'),
	('realtime_ws_workflows', jsonb_build_object('user_id', :'u', 'last_event_id', '0')),
	('realtime_ws_notifications', '{"last_event_id":"0"}'),
	('realtime_subscriptions_status', '{}'),
	('realtime_admin_connections', '{"limit":5,"topic":"workflows"}');
GRANT SELECT ON happy TO PUBLIC;
SELECT is(ARRAY(SELECT f.fn::text FROM pg_temp.ext_functions() f
				 WHERE (f.p).pronamespace = 'flov7_api'::regnamespace
				   AND (f.p).proname NOT IN (SELECT h.fn FROM happy h) ORDER BY 1),
		  '{}'::text[], 'every endpoint has arguments for the replay');

-- The attacker's function: counts the times it runs with more rights than the attacker.
CREATE SEQUENCE pg_temp.escalations;
GRANT USAGE ON SEQUENCE pg_temp.escalations TO PUBLIC;
CREATE FUNCTION pg_temp.evil() RETURNS pg_catalog.bool LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = pg_catalog.current_user())
	   OR pg_catalog.has_table_privilege('flov7.settings', 'SELECT') THEN
		PERFORM pg_catalog.nextval('pg_temp.escalations');
	END IF;
	RETURN true;
END
$$;

-- A definer function as flov7 0.1.0 wrote them, to show the replay catches the hole.
CREATE FUNCTION pg_temp.vulnerable(args jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v text := args ->> 'x';
BEGIN
	RETURN to_jsonb(v);
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.vulnerable(jsonb) TO PUBLIC;

-- Plant the types and tables as the attacker, call every endpoint the attacker's role may call
-- (with empty and with working arguments), clean up, and return how often evil() escalated.
-- Everything here is schema-qualified: with the domains in place, an unqualified type in this
-- harness would itself resolve to them.
CREATE FUNCTION pg_temp.replay(p_role pg_catalog.text, p_control pg_catalog.bool) RETURNS pg_catalog.int8
LANGUAGE plpgsql AS $$
DECLARE
	v_types pg_catalog.text[] := ARRAY['text', 'jsonb', 'json', 'uuid', 'bool', 'int4', 'int8', 'numeric',
									   'float8', 'timestamptz', 'interval', 'bytea', 'inet', 'name'];
	v_t pg_catalog.text;
	v_fn pg_catalog.text;
	v_args pg_catalog.jsonb;
	v_before pg_catalog.int8;
	v_after pg_catalog.int8;
BEGIN
	SELECT s.last_value + (CASE WHEN s.is_called THEN 0 ELSE -1 END) INTO v_before FROM pg_temp.escalations s;
	CASE p_role
		WHEN 'anon' THEN PERFORM pg_temp.act_anon();
		WHEN 'user' THEN PERFORM pg_temp.act_as(current_setting('sec.u')::pg_catalog.uuid);
		WHEN 'admin' THEN PERFORM pg_temp.act_as(current_setting('sec.a')::pg_catalog.uuid);
		WHEN 'key' THEN PERFORM pg_temp.act_with_key(current_setting('sec.ukey'));
	END CASE;
	-- Tables first (their columns name the real types), then the types.
	FOR v_t IN SELECT c.relname FROM pg_catalog.pg_class c
				WHERE c.relnamespace = 'flov7'::pg_catalog.regnamespace AND c.relkind = 'r'
	LOOP
		EXECUTE pg_catalog.format('CREATE VIEW pg_temp.%I AS SELECT %s WHERE pg_temp.evil()', v_t,
			(SELECT pg_catalog.string_agg(pg_catalog.format('NULL::%s AS %I',
							pg_catalog.format_type(a.atttypid, a.atttypmod), a.attname), ', ' ORDER BY a.attnum)
			   FROM pg_catalog.pg_attribute a
			  WHERE a.attrelid = ('flov7.' || pg_catalog.quote_ident(v_t))::pg_catalog.regclass
				AND a.attnum > 0 AND NOT a.attisdropped));
	END LOOP;
	FOREACH v_t IN ARRAY v_types LOOP
		EXECUTE pg_catalog.format('CREATE DOMAIN pg_temp.%I AS pg_catalog.%I CHECK (pg_temp.evil())', v_t, v_t);
	END LOOP;

	-- Logout and a password change end the session, so they come last.
	FOR v_fn, v_args IN
		SELECT c.fn, c.args FROM (
			SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text AS fn, a.args,
				   p.proname IN ('auth_logout', 'users_profile_update') AS late
			  FROM pg_catalog.pg_proc p
			  JOIN pg_temp.happy h ON h.fn = p.proname
			 CROSS JOIN LATERAL (VALUES ('{}'::pg_catalog.jsonb), (h.args)) AS a (args)
			 WHERE p.pronamespace = 'flov7_api'::pg_catalog.regnamespace
			   AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')
			UNION ALL
			SELECT 'pg_temp.vulnerable(jsonb)', '{"x":"y"}', false WHERE p_control) c
		 ORDER BY c.late, c.fn
	LOOP
		BEGIN
			EXECUTE pg_catalog.format('SELECT %s($1)', pg_catalog.regexp_replace(v_fn, '\(.*$', '')) USING v_args;
		EXCEPTION WHEN OTHERS THEN
			NULL;
		END;
	END LOOP;

	FOREACH v_t IN ARRAY v_types LOOP
		EXECUTE pg_catalog.format('DROP DOMAIN pg_temp.%I', v_t);
	END LOOP;
	FOR v_t IN SELECT c.relname FROM pg_catalog.pg_class c
				WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND c.relkind = 'v'
	LOOP
		EXECUTE pg_catalog.format('DROP VIEW pg_temp.%I', v_t);
	END LOOP;
	PERFORM pg_temp.act_dba();
	SELECT s.last_value + (CASE WHEN s.is_called THEN 0 ELSE -1 END) INTO v_after FROM pg_temp.escalations s;
	RETURN v_after - v_before;
END
$$;

SELECT set_config('sec.u', :'u', true) AS s1, set_config('sec.a', :'a', true) AS s2, set_config('sec.ukey', :'ukey', true) AS s3 \gset
SELECT cmp_ok(pg_temp.replay('anon', true), '>', 0::bigint,
			  'control: the replay catches a definer function whose search_path lacks pg_temp');
SELECT is(pg_temp.replay('anon', false), 0::bigint, 'anonymous endpoints run none of the attacker''s code as owner');
SELECT is(pg_temp.replay('user', false), 0::bigint, 'user endpoints (JWT) run none of the attacker''s code as owner');
SELECT is(pg_temp.replay('key', false), 0::bigint, 'user endpoints (API key) run none of the attacker''s code as owner');
SELECT is(pg_temp.replay('admin', false), 0::bigint, 'admin endpoints run none of the attacker''s code as owner');

-- (c) Grants through a cached generic plan, as frontd runs them: a statement prepared once
-- per connection, run by whichever role the next request has.  Prime the plan as a role that
-- may call the function, then run it as one that may not: the grant must still be checked.
SET LOCAL plan_cache_mode = force_generic_plan;
CREATE FUNCTION pg_temp.denied_through_cached_plan(p_fn text, p_role text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	v_call text := 'pg_temp.call_' || split_part(p_fn, '.', 2);
BEGIN
	IF to_regprocedure(v_call || '(jsonb)') IS NULL THEN
		EXECUTE format('CREATE FUNCTION %s(a jsonb) RETURNS jsonb LANGUAGE plpgsql AS $f$
			DECLARE r jsonb; BEGIN SELECT %s(a) INTO r; RETURN r; END $f$', v_call, p_fn);
	END IF;
	PERFORM pg_temp.act_as(current_setting('sec.a')::uuid);
	BEGIN
		EXECUTE format('SELECT %s($1)', v_call) USING '{}'::jsonb;
		EXECUTE format('SELECT %s($1)', v_call) USING '{}'::jsonb;
	EXCEPTION WHEN OTHERS THEN
		NULL;
	END;
	IF p_role = 'flov7_anon' THEN
		PERFORM pg_temp.act_anon();
	ELSE
		PERFORM pg_temp.act_as(current_setting('sec.u')::uuid);
	END IF;
	RETURN QUERY SELECT throws_ok(format('SELECT %s(''{}'')', v_call), '42501',
								  'permission denied for function ' || split_part(p_fn, '.', 2),
								  format('%s is refused to %s through a cached plan', p_fn, p_role));
	PERFORM pg_temp.act_dba();
END
$$;
SELECT pg_temp.denied_through_cached_plan(r.function, d.role)
  FROM flov7.routes r
 CROSS JOIN (VALUES ('flov7_anon'), ('flov7_user')) AS d (role)
 WHERE NOT has_function_privilege(d.role, to_regprocedure(r.function || '(jsonb)'), 'EXECUTE')
 ORDER BY r.function, d.role;

SELECT * FROM finish();
ROLLBACK;
