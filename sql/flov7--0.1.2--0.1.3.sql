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
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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
-- ======== issue 8, API keys made with a key: parent_id, capped expiry, cascading revocation (sql/parts/10_schema.sql) ========
ALTER TABLE flov7.api_keys ADD COLUMN parent_id uuid;
ALTER TABLE flov7.api_keys ADD CONSTRAINT api_keys_id_user_id_key UNIQUE (id, user_id);
ALTER TABLE flov7.api_keys ADD CONSTRAINT api_keys_parent_fkey FOREIGN KEY (parent_id, user_id)
	REFERENCES flov7.api_keys (id, user_id) ON DELETE CASCADE;
ALTER TABLE flov7.api_keys ADD CONSTRAINT api_keys_parent_check CHECK (parent_id <> id);
CREATE INDEX api_keys_parent_idx ON flov7.api_keys (parent_id) WHERE parent_id IS NOT NULL;
COMMENT ON COLUMN flov7.api_keys.parent_id IS
	'the API key this key was created with (NULL: created with a login); it expires no later than its parent and is revoked with it';

-- ======== issue 8, API keys made with a key: parent_id, capped expiry, cascading revocation (sql/parts/35_triggers.sql) ========
-- A key made with another key (parent_id) expires no later than it, and is made only from a live one.
CREATE FUNCTION flov7.api_keys_parent_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_parent flov7.api_keys;
BEGIN
	SELECT * INTO v_parent FROM flov7.api_keys k WHERE k.id = NEW.parent_id AND k.user_id = NEW.user_id;
	IF NOT FOUND THEN
		RETURN NEW;				-- the foreign key reports it
	END IF;
	IF TG_OP = 'INSERT' AND (NOT v_parent.is_active OR v_parent.expires_at <= now()) THEN
		RAISE EXCEPTION 'an API key cannot be made with a revoked or expired key' USING ERRCODE = '23514',
			DETAIL = format('Key %s is no longer active.', v_parent.id);
	END IF;
	IF v_parent.expires_at IS NOT NULL AND (NEW.expires_at IS NULL OR NEW.expires_at > v_parent.expires_at) THEN
		RAISE EXCEPTION 'an API key cannot outlive the key it was made with' USING ERRCODE = '23514',
			DETAIL = format('Key %s expires at %s.', v_parent.id, v_parent.expires_at);
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER api_keys_parent_guard BEFORE INSERT OR UPDATE OF parent_id, expires_at ON flov7.api_keys
	FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL)
	EXECUTE FUNCTION flov7.api_keys_parent_guard();

-- A key's revocation revokes every key made with it, and their keys; an earlier expiry caps theirs.
CREATE FUNCTION flov7.api_keys_cascade() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	IF OLD.is_active AND NOT NEW.is_active THEN
		UPDATE flov7.api_keys k SET is_active = false, revoked_at = coalesce(NEW.revoked_at, now())
		 WHERE k.user_id = NEW.user_id AND k.is_active
		   AND k.id IN (WITH RECURSIVE d (id) AS (
							SELECT c.id FROM flov7.api_keys c WHERE c.parent_id = NEW.id AND c.user_id = NEW.user_id
							UNION
							SELECT c.id FROM flov7.api_keys c JOIN d ON c.parent_id = d.id WHERE c.user_id = NEW.user_id)
						SELECT d.id FROM d);
	END IF;
	IF NEW.expires_at < OLD.expires_at OR (OLD.expires_at IS NULL AND NEW.expires_at IS NOT NULL) THEN
		UPDATE flov7.api_keys k SET expires_at = NEW.expires_at
		 WHERE k.user_id = NEW.user_id AND (k.expires_at IS NULL OR k.expires_at > NEW.expires_at)
		   AND k.id IN (WITH RECURSIVE d (id) AS (
							SELECT c.id FROM flov7.api_keys c WHERE c.parent_id = NEW.id AND c.user_id = NEW.user_id
							UNION
							SELECT c.id FROM flov7.api_keys c JOIN d ON c.parent_id = d.id WHERE c.user_id = NEW.user_id)
						SELECT d.id FROM d);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_cascade AFTER UPDATE OF is_active, expires_at ON flov7.api_keys
	FOR EACH ROW WHEN ((OLD.is_active AND NOT NEW.is_active) OR NEW.expires_at < OLD.expires_at
					   OR (OLD.expires_at IS NULL AND NEW.expires_at IS NOT NULL))
	EXECUTE FUNCTION flov7.api_keys_cascade();

-- ======== issue 8, API keys made with a key: parent_id, capped expiry, cascading revocation (sql/parts/40_auth_api.sql) ========
-- The public JSON shape of an API key (never its hash).
CREATE OR REPLACE FUNCTION flov7.api_key_json(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', k.id, 'name', k.name, 'key_prefix', k.key_prefix,
		'permissions', to_jsonb(k.permissions), 'is_active', k.is_active, 'expires_at', k.expires_at,
		'last_used_at', k.last_used_at, 'usage_count', k.usage_count, 'created_at', k.created_at,
		'parent_id', k.parent_id)
	  FROM flov7.api_keys k WHERE k.id = p_id
$$;

-- The API key the request is made with (id, expires_at), once the authorizer has accepted it; NULLs for a JWT.
CREATE FUNCTION flov7.caller_api_key(OUT id uuid, OUT expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT k.id, k.expires_at FROM flov7.api_keys k
	 WHERE k.key_hash = flov7.sha256_hex(nullif(current_setting('request.api_key', true), ''))
	   AND k.user_id = flov7.caller_id()
$$;

-- POST /auth/api-keys: create a key with a subset of the caller's permissions; the key is shown once.
-- A key made with an API key records it (parent_id), expires no later than it (by default with
-- it), and is revoked with it.
CREATE OR REPLACE FUNCTION flov7_api.api_key_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('api_keys:write');
	v_name text := btrim(flov7.arg_text(args, 'name', true, 100));
	v_perms text[] := flov7.arg_text_array(args, 'permissions');
	v_expires timestamptz := flov7.arg_timestamptz(args, 'expires_at');
	v_allowed text[] := flov7.caller_permissions();
	v_parent record;
	v_bad text;
	v_key text;
	v_id uuid;
BEGIN
	IF v_perms IS NULL THEN
		v_perms := ARRAY(SELECT p FROM unnest(v_allowed) p WHERE p NOT LIKE 'admin:%' ORDER BY p);
	ELSE
		v_perms := ARRAY(SELECT DISTINCT p FROM unnest(v_perms) p ORDER BY p);
		IF cardinality(v_perms) = 0 THEN
			RAISE EXCEPTION 'field "permissions" must not be empty' USING ERRCODE = '22023';
		END IF;
		SELECT p INTO v_bad FROM unnest(v_perms) p
		 WHERE NOT EXISTS (SELECT 1 FROM flov7.permissions k WHERE k.name = p) LIMIT 1;
		IF v_bad IS NOT NULL THEN
			RAISE EXCEPTION 'unknown permission "%"', v_bad USING ERRCODE = '22023',
				DETAIL = 'Known permissions: ' || (SELECT string_agg(name, ', ' ORDER BY name) FROM flov7.permissions);
		END IF;
		SELECT p INTO v_bad FROM unnest(v_perms) p WHERE NOT p = ANY (v_allowed) LIMIT 1;
		IF v_bad IS NOT NULL THEN
			RAISE EXCEPTION 'permission "%" exceeds your own permissions', v_bad USING ERRCODE = '22023',
				DETAIL = 'An API key may carry only permissions its creator has: ' || array_to_string(v_allowed, ', ');
		END IF;
	END IF;
	IF v_expires IS NOT NULL AND v_expires <= now() THEN
		RAISE EXCEPTION 'field "expires_at" must be in the future' USING ERRCODE = '22023';
	END IF;
	SELECT * INTO v_parent FROM flov7.caller_api_key();
	IF v_parent.expires_at IS NOT NULL THEN
		IF v_expires IS NULL THEN
			v_expires := v_parent.expires_at;
		ELSIF v_expires > v_parent.expires_at THEN
			RAISE EXCEPTION 'field "expires_at" must not be after the expiry of the API key making the request'
				USING ERRCODE = '22023',
					  DETAIL = format('That key expires at %s; a key made with it cannot outlive it.', v_parent.expires_at),
					  HINT = 'Omit expires_at to expire with that key, or create the key with a login.';
		END IF;
	END IF;
	v_key := flov7.random_token('flv7_', 32);
	INSERT INTO flov7.api_keys (user_id, name, key_prefix, key_hash, permissions, expires_at, parent_id)
	VALUES (v_uid, v_name, left(v_key, 12), flov7.sha256_hex(v_key), v_perms, v_expires, v_parent.id)
	RETURNING id INTO v_id;
	RETURN flov7.api_key_json(v_id) || jsonb_build_object('key', v_key);
END
$$;

-- ======== issue 8, API keys made with a key: parent_id, capped expiry, cascading revocation (sql/parts/80_grants.sql) ========
REVOKE ALL ON FUNCTION flov7.api_keys_parent_guard(), flov7.api_keys_cascade(), flov7.caller_api_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flov7.caller_api_key() TO flov7_user, flov7_admin;
GRANT SELECT (parent_id), INSERT (parent_id) ON flov7.api_keys TO flov7_user, flov7_admin;

-- ======== issue 8, deactivation ends sessions (users.tokens_valid_after) (sql/parts/10_schema.sql) ========
ALTER TABLE flov7.users ADD COLUMN tokens_valid_after timestamptz;
COMMENT ON COLUMN flov7.users.tokens_valid_after IS
	'access tokens issued (iat) before this second are refused; set when the user is deactivated';

-- ======== issue 8, deactivation ends sessions (users.tokens_valid_after) (sql/parts/35_triggers.sql) ========
-- Deactivating a user ends every session: refresh tokens are revoked (so are the access
-- tokens of their sessions, claim sid), and access tokens issued before now are refused
-- (tokens_valid_after, for tokens without a sid).  Reactivation brings none of them back.
CREATE FUNCTION flov7.users_end_sessions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	NEW.tokens_valid_after := now();
	UPDATE flov7.refresh_tokens t SET revoked_at = now()
	 WHERE t.user_id = NEW.id AND t.revoked_at IS NULL;
	RETURN NEW;
END
$$;
CREATE TRIGGER users_end_sessions BEFORE UPDATE OF is_active ON flov7.users
	FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
	EXECUTE FUNCTION flov7.users_end_sessions();
REVOKE ALL ON FUNCTION flov7.users_end_sessions() FROM PUBLIC;

-- ======== issue 8, deactivation ends sessions: those of users deactivated before this update too (sql/parts/35_triggers.sql) ========
UPDATE flov7.refresh_tokens t SET revoked_at = now()
 WHERE t.revoked_at IS NULL AND t.user_id IN (SELECT u.id FROM flov7.users u WHERE NOT u.is_active);

-- ======== issue 8, logout refuses API keys, and is audited (sql/parts/40_auth_api.sql) ========
-- POST /auth/logout: revoke this access token (jti), its session (sid) and an optional
-- refresh token's session.  An API key has no session to end: 22023, naming how keys are revoked.
CREATE OR REPLACE FUNCTION flov7_api.auth_logout(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_refresh text := flov7.arg_text(args, 'refresh_token', false, 200);
	v_claims jsonb;
	v_sid text;
	v_sessions uuid[];
BEGIN
	IF coalesce(current_setting('request.api_key', true), '') <> '' THEN
		RAISE EXCEPTION 'API keys are revoked with DELETE /api/v1/auth/api-keys/{key_id}, not logged out'
			USING ERRCODE = '22023',
				  DETAIL = 'Logout ends the session of an access token; the request was made with an API key, which has none.',
				  HINT = 'To end this key, revoke it: DELETE /api/v1/auth/api-keys/{key_id} (SQL: flov7_api.api_key_revoke).';
	END IF;
	-- The authorizer has validated these claims: jti is a uuid, exp a number.
	v_claims := current_setting('request.jwt.claims', true)::jsonb;
	INSERT INTO flov7.revoked_tokens (jti, user_id, expires_at)
	VALUES ((v_claims ->> 'jti')::uuid, v_uid, to_timestamp((v_claims ->> 'exp')::double precision))
	ON CONFLICT (jti) DO NOTHING;
	v_sid := v_claims ->> 'sid';
	IF v_sid ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		UPDATE flov7.refresh_tokens SET revoked_at = now()
		 WHERE family_id = v_sid::uuid AND user_id = v_uid AND revoked_at IS NULL;
	END IF;
	IF v_refresh IS NOT NULL THEN
		WITH r AS (
			UPDATE flov7.refresh_tokens SET revoked_at = now()
			 WHERE family_id IN (SELECT t.family_id FROM flov7.refresh_tokens t
								  WHERE t.token_hash = flov7.sha256_hex(v_refresh) AND t.user_id = v_uid)
			   AND revoked_at IS NULL
			RETURNING family_id)
		SELECT array_agg(DISTINCT r.family_id) INTO v_sessions FROM r;
	END IF;
	PERFORM flov7.audit_auth('logout', v_uid, v_uid,
		jsonb_build_object('session_id', v_sid, 'jti', v_claims ->> 'jti', 'refresh_sessions', v_sessions));
	-- Revocations outlive their token by a minute (frontd's leeway is 30 s).
	DELETE FROM flov7.revoked_tokens WHERE expires_at < now() - interval '1 minute';
	RETURN jsonb_build_object('message', 'logged out');
END
$$;

-- ======== issue 8, authentication events audited; failed logins throttled per address (sql/parts/10_schema.sql) ========
ALTER TABLE flov7.audit_logs DROP CONSTRAINT audit_logs_action_check;
ALTER TABLE flov7.audit_logs ADD CONSTRAINT audit_logs_action_check CHECK (action IN ('create', 'update', 'delete', 'role_change', 'status_change',
		'login', 'login_failed', 'login_locked', 'refresh', 'refresh_reuse', 'logout', 'password_change'));
ALTER TABLE flov7.settings ADD CONSTRAINT settings_login_throttle_check
		CHECK (key NOT IN ('login_max_failures', 'login_failure_window', 'login_lock_seconds',
						   'login_lock_max_seconds', 'login_lock_reset') OR value ~ '^[1-9][0-9]{0,8}$');

-- Failed logins per email address (known or not, so that answers do not tell which
-- addresses have accounts); see flov7_api.auth_login.  Owner only; not dumped.
CREATE TABLE flov7.login_throttle (
	email			text PRIMARY KEY,
	failures		int NOT NULL DEFAULT 0 CHECK (failures >= 0),
	window_start	timestamptz NOT NULL DEFAULT now(),
	lock_level		int NOT NULL DEFAULT 0 CHECK (lock_level >= 0),
	locked_until	timestamptz,
	last_failure_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_throttle_last_failure_idx ON flov7.login_throttle (last_failure_at);
COMMENT ON TABLE flov7.login_throttle IS
	'failed logins per email within login_failure_window, and the lock they caused (locked_until, lock_level)';

-- ======== issue 8, authentication events audited; failed logins throttled per address (sql/parts/15_seed.sql) ========
INSERT INTO flov7.settings (key, value) VALUES
	('login_max_failures', '5'),
	('login_failure_window', '900'),
	('login_lock_seconds', '60'),
	('login_lock_max_seconds', '3600'),
	('login_lock_reset', '86400')
ON CONFLICT (key) DO NOTHING;

-- ======== issue 8, authentication events audited; failed logins throttled per address (sql/parts/30_rls.sql) ========
ALTER TABLE flov7.login_throttle ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.login_throttle FORCE ROW LEVEL SECURITY;

-- ======== issue 8, authentication events audited; failed logins throttled per address (sql/parts/40_auth_api.sql) ========
-- Write an audit_logs row for an authentication event (table users, record the account),
-- with the request's IP, user agent and request id, as the audit trigger does.
CREATE FUNCTION flov7.audit_auth(p_action text, p_owner uuid, p_actor uuid, p_data jsonb) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	INSERT INTO flov7.audit_logs (user_id, owner_id, action, table_name, record_id, new_data,
								  ip_address, user_agent, request_id)
	VALUES (p_actor, p_owner, p_action, 'users', p_owner, jsonb_strip_nulls(p_data),
			flov7.request_ip(), flov7.request_header('user-agent'),
			nullif(current_setting('request.id', true), ''))
$$;

-- Answer a login refused because its address is locked: 429, Retry-After, the error body.
CREATE FUNCTION flov7.login_locked(p_until timestamptz) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_secs bigint := greatest(1, ceil(extract(epoch FROM p_until - now())))::bigint;
BEGIN
	PERFORM set_config('response.status', '429', true);
	PERFORM set_config('response.headers', jsonb_build_array(jsonb_build_object('Retry-After', v_secs::text))::text, true);
	RETURN jsonb_build_object('code', 'PT429', 'message', 'too many failed logins',
		'details', format('Logins with this email address are suspended for %s more seconds after repeated failures.', v_secs),
		'hint', 'Try again after the time given in Retry-After.');
END
$$;

-- Count a failed login for an address, lock it after login_max_failures failures within
-- login_failure_window (login_lock_seconds, doubling with each lock up to
-- login_lock_max_seconds; forgotten after login_lock_reset without failures), audit it,
-- and answer: 401 with the error body, or 429 when this failure locks the address.
CREATE FUNCTION flov7.login_failed(p_email text, p_user_id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_max int := flov7.setting('login_max_failures')::int;
	v_window interval := make_interval(secs => flov7.setting('login_failure_window')::int);
	v_reset interval := make_interval(secs => flov7.setting('login_lock_reset')::int);
	v_t flov7.login_throttle;
BEGIN
	-- Forget a bounded batch of addresses quiet for login_lock_reset.
	DELETE FROM flov7.login_throttle t
	 WHERE t.email IN (SELECT o.email FROM flov7.login_throttle o
						WHERE o.last_failure_at < now() - v_reset AND coalesce(o.locked_until <= now(), true)
						ORDER BY o.last_failure_at LIMIT 100);
	INSERT INTO flov7.login_throttle AS t (email, failures) VALUES (p_email, 1)
	ON CONFLICT (email) DO UPDATE
	   SET failures = CASE WHEN t.window_start <= now() - v_window THEN 1 ELSE t.failures + 1 END,
		   window_start = CASE WHEN t.window_start <= now() - v_window THEN now() ELSE t.window_start END,
		   lock_level = CASE WHEN t.last_failure_at < now() - v_reset THEN 0 ELSE t.lock_level END,
		   last_failure_at = now()
	RETURNING * INTO v_t;
	PERFORM flov7.audit_auth('login_failed', p_user_id, NULL,
		jsonb_build_object('email', p_email, 'reason', 'invalid_credentials', 'failures', v_t.failures));
	IF v_t.failures >= v_max THEN
		UPDATE flov7.login_throttle t
		   SET failures = 0, window_start = now(), lock_level = t.lock_level + 1,
			   locked_until = now() + least(make_interval(secs => flov7.setting('login_lock_seconds')::double precision
															   * power(2, least(t.lock_level, 30))),
											make_interval(secs => flov7.setting('login_lock_max_seconds')::int))
		 WHERE t.email = p_email
		RETURNING * INTO v_t;
		PERFORM flov7.audit_auth('login_locked', p_user_id, NULL,
			jsonb_build_object('email', p_email, 'failures', v_max, 'lock_level', v_t.lock_level,
							   'locked_until', v_t.locked_until));
		RETURN flov7.login_locked(v_t.locked_until);
	END IF;
	PERFORM set_config('response.status', '401', true);
	RETURN jsonb_build_object('code', '28P01', 'message', 'invalid email or password', 'details', NULL, 'hint', NULL);
END
$$;

-- POST /auth/login: check the password, with failed logins throttled per email address.
--
-- A refusal is answered, not raised, so that what it records commits (the failure count,
-- the lock, the audit row): the function sets response.status (401; 429 with Retry-After in
-- response.headers while the address is locked, even for the right password) and returns
-- the error body {"code","message","details","hint"}.  Known and unknown addresses take the
-- same path (one bcrypt check, one throttle row, one audit row), so neither the answers nor
-- their timing tell which addresses have accounts.  Attempts on one address take turns
-- (an advisory lock), on every frontd instance, so parallel guesses cannot pass the limit.
CREATE OR REPLACE FUNCTION flov7_api.auth_login(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_email text := lower(btrim(flov7.arg_text(args, 'email', true, 320)));
	v_password text := flov7.arg_text(args, 'password', true, 1000);
	v_user flov7.users;
	v_hash text;
	v_locked_until timestamptz;
	v_session uuid := gen_random_uuid();
	v_tokens jsonb;
BEGIN
	-- 1718384183 is 'flv7' read as an int4: flov7's namespace of advisory locks.
	PERFORM pg_advisory_xact_lock(1718384183, hashtext(v_email));
	SELECT * INTO v_user FROM flov7.users u WHERE u.email = v_email;
	SELECT t.locked_until INTO v_locked_until FROM flov7.login_throttle t WHERE t.email = v_email;
	IF v_locked_until > now() THEN
		PERFORM flov7.audit_auth('login_failed', v_user.id, NULL,
			jsonb_build_object('email', v_email, 'reason', 'locked', 'locked_until', v_locked_until));
		RETURN flov7.login_locked(v_locked_until);
	END IF;
	SELECT p.password_hash INTO v_hash FROM flov7.user_passwords p WHERE p.user_id = v_user.id;
	IF NOT flov7.password_matches(v_password, v_hash) THEN
		RETURN flov7.login_failed(v_email, v_user.id);
	END IF;
	DELETE FROM flov7.login_throttle t WHERE t.email = v_email;
	IF NOT v_user.is_active THEN
		PERFORM flov7.audit_auth('login_failed', v_user.id, NULL,
			jsonb_build_object('email', v_email, 'reason', 'inactive'));
		PERFORM set_config('response.status', '401', true);
		RETURN jsonb_build_object('code', '42501', 'message', 'account is inactive',
			'details', 'The account has been deactivated by an administrator.', 'hint', NULL);
	END IF;
	UPDATE flov7.users SET last_login = now() WHERE id = v_user.id;
	v_tokens := flov7.issue_tokens(v_user.id, v_session);
	PERFORM flov7.audit_auth('login', v_user.id, v_user.id,
		jsonb_build_object('email', v_email, 'session_id', v_session));
	RETURN v_tokens;
END
$$;

-- POST /auth/refresh: rotate a refresh token; a reused one revokes its whole session.
--
-- Reuse cannot be reported by raising an error: that would roll back the
-- revocation.  So the function revokes the family, commits, and answers
-- with HTTP status 401 and the error body {"code": "28000", ...}.
CREATE OR REPLACE FUNCTION flov7_api.auth_refresh(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_token flov7.refresh_tokens;
	v_active boolean;
BEGIN
	SELECT * INTO v_token FROM flov7.refresh_tokens t
	 WHERE t.token_hash = flov7.sha256_hex(flov7.arg_text(args, 'refresh_token', true, 200))
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'invalid refresh token' USING ERRCODE = '28000';
	END IF;
	IF v_token.revoked_at IS NOT NULL THEN
		RAISE EXCEPTION 'refresh token has been revoked' USING ERRCODE = '28000',
			HINT = 'Log in again.';
	END IF;
	IF v_token.used_at IS NOT NULL THEN
		UPDATE flov7.refresh_tokens SET revoked_at = now()
		 WHERE family_id = v_token.family_id AND revoked_at IS NULL;
		PERFORM flov7.audit_auth('refresh_reuse', v_token.user_id, NULL,
			jsonb_build_object('session_id', v_token.family_id));
		PERFORM set_config('response.status', '401', true);
		RETURN jsonb_build_object('code', '28000', 'message', 'refresh token reuse detected',
			'details', 'The refresh token had already been used; every token of its session is now revoked.',
			'hint', 'Log in again.');
	END IF;
	IF v_token.expires_at <= now() THEN
		RAISE EXCEPTION 'refresh token has expired' USING ERRCODE = '28000', HINT = 'Log in again.';
	END IF;
	SELECT u.is_active INTO v_active FROM flov7.users u WHERE u.id = v_token.user_id;
	IF NOT v_active THEN
		RAISE EXCEPTION 'account is inactive' USING ERRCODE = '42501',
			DETAIL = 'The account has been deactivated by an administrator.';
	END IF;
	UPDATE flov7.refresh_tokens SET used_at = now() WHERE id = v_token.id;
	PERFORM flov7.audit_auth('refresh', v_token.user_id, v_token.user_id,
		jsonb_build_object('session_id', v_token.family_id));
	RETURN flov7.issue_tokens(v_token.user_id, v_token.family_id);
END
$$;

-- ======== issue 8, a wrong current password is 400; password changes audited (sql/parts/50_users_api.sql) ========
-- Change the caller's password after checking the current one; other sessions are revoked.
-- A wrong current password is bad input (22023, 400), not an authentication failure: the
-- caller's token is fine, and a 401 would tell an OAuth client to throw it away.
CREATE OR REPLACE FUNCTION flov7.change_password(current_password text, new_password text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('profile:write');
	v_hash text;
	v_sid text;
	v_ended bigint;
BEGIN
	IF current_password IS NULL THEN
		RAISE EXCEPTION 'missing required field "current_password"' USING ERRCODE = '22023',
			HINT = 'Changing the password needs the current one.';
	END IF;
	PERFORM flov7.check_password(new_password, 'new_password');
	SELECT p.password_hash INTO v_hash FROM flov7.user_passwords p WHERE p.user_id = v_uid FOR UPDATE;
	IF NOT flov7.password_matches(current_password, v_hash) THEN
		RAISE EXCEPTION 'current password is incorrect' USING ERRCODE = '22023',
			DETAIL = 'Field "current_password" does not match the account''s password; nothing was changed.';
	END IF;
	UPDATE flov7.user_passwords SET password_hash = flov7.password_hash(new_password) WHERE user_id = v_uid;
	v_sid := nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sid';
	UPDATE flov7.refresh_tokens SET revoked_at = now()
	 WHERE user_id = v_uid AND revoked_at IS NULL AND family_id::text IS DISTINCT FROM v_sid;
	GET DIAGNOSTICS v_ended = ROW_COUNT;
	-- Whoever failed to log in before does not hold the account's lock against its owner.
	DELETE FROM flov7.login_throttle t WHERE t.email = (SELECT u.email FROM flov7.users u WHERE u.id = v_uid);
	PERFORM flov7.audit_auth('password_change', v_uid, v_uid,
		jsonb_build_object('session_id', v_sid, 'refresh_tokens_revoked', v_ended));
END
$$;

-- ======== issue 8, authentication events audited; failed logins throttled per address (sql/parts/80_grants.sql) ========
REVOKE ALL ON FUNCTION flov7.audit_auth(text, uuid, uuid, jsonb), flov7.login_locked(timestamptz),
	flov7.login_failed(text, uuid) FROM PUBLIC;
REVOKE ALL ON flov7.login_throttle FROM PUBLIC;

-- ======== issue 6, type checks without a bounded repetition (sql/parts/10_schema.sql, 78_events.sql) ========
-- '{0,49}' made PostgreSQL's regex engine build 49 states per row written; the length is checked apart.
ALTER TABLE flov7.events DROP CONSTRAINT events_type_check,
	ADD CONSTRAINT events_type_check CHECK (type ~ '^[a-z][a-z0-9_.]*$' AND length(type) <= 50);
ALTER TABLE flov7.notifications DROP CONSTRAINT notifications_type_check,
	ADD CONSTRAINT notifications_type_check CHECK (type ~ '^[a-z][a-z0-9_.]*$' AND length(type) <= 50);

-- ======== issue 8, the authorizer's cache across transactions (sql/parts/05_c_functions.sql, sql/parts/35_triggers.sql) ========
COMMENT ON FUNCTION flov7.authz_invalidate() IS
	'statement trigger: forget the cached caller after a change to what the authorizer reads, and have the commit move the shared generation on';

CREATE FUNCTION flov7.authz_cache_stats(OUT enabled boolean, OUT generation bigint, OUT entries integer,
										OUT hits bigint, OUT misses bigint,
										OUT all_hits bigint, OUT all_misses bigint)
	AS 'MODULE_PATHNAME', 'flov7_authz_cache_stats' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION flov7.authz_cache_stats() IS
	'the authorizer''s cross-transaction cache: on in this session (preloaded, flov7.authz_cache_size > 0, not in recovery), the shared generation, this backend''s entries, hits and misses, and all backends'' hits and misses';
REVOKE ALL ON FUNCTION flov7.authz_cache_stats() FROM PUBLIC;

CREATE TRIGGER users_authz_before BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.users
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.authz_invalidate();
CREATE TRIGGER api_keys_authz_before BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.authz_invalidate();
CREATE TRIGGER revoked_tokens_authz_before BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.revoked_tokens
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.authz_invalidate();
CREATE TRIGGER refresh_tokens_authz_before BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.refresh_tokens
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.authz_invalidate();
CREATE TRIGGER role_permissions_authz_before BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.role_permissions
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.authz_invalidate();
ALTER TABLE flov7.users ENABLE ALWAYS TRIGGER users_authz;
ALTER TABLE flov7.api_keys ENABLE ALWAYS TRIGGER api_keys_authz;
ALTER TABLE flov7.revoked_tokens ENABLE ALWAYS TRIGGER revoked_tokens_authz;
ALTER TABLE flov7.refresh_tokens ENABLE ALWAYS TRIGGER refresh_tokens_authz;
ALTER TABLE flov7.role_permissions ENABLE ALWAYS TRIGGER role_permissions_authz;
ALTER TABLE flov7.users ENABLE ALWAYS TRIGGER users_authz_before;
ALTER TABLE flov7.api_keys ENABLE ALWAYS TRIGGER api_keys_authz_before;
ALTER TABLE flov7.revoked_tokens ENABLE ALWAYS TRIGGER revoked_tokens_authz_before;
ALTER TABLE flov7.refresh_tokens ENABLE ALWAYS TRIGGER refresh_tokens_authz_before;
ALTER TABLE flov7.role_permissions ENABLE ALWAYS TRIGGER role_permissions_authz_before;

-- ======== issue 8, GET /auth/me and /users/profile in PL/pgSQL, written out (sql/parts/40_auth_api.sql, sql/parts/50_users_api.sql) ========
CREATE OR REPLACE FUNCTION flov7_api.auth_me(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('profile:read');
	v_result jsonb;
BEGIN
	SELECT flov7.user_json(u) INTO v_result FROM flov7.users u WHERE u.id = v_uid;
	IF v_result IS NULL THEN
		RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN v_result;
END
$$;

CREATE OR REPLACE FUNCTION flov7_api.users_profile_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('profile:read');
	v_result jsonb;
BEGIN
	SELECT flov7.user_json(u) INTO v_result FROM flov7.users u WHERE u.id = v_uid;
	IF v_result IS NULL THEN
		RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN v_result;
END
$$;

-- ======== issue 8, lists that cost by the page: cursors, totals, the indexes of the lists (sql/parts/22_lists.sql) ========
-- The indexes of the lists, in 22_lists.sql now; four of them change shape under the same name.
DROP INDEX flov7.notifications_user_idx, flov7.notifications_unread_idx, flov7.workflows_user_id_idx,
	flov7.api_keys_user_idx;
-- The MAC key of list cursors; replacing it invalidates every cursor handed out.
INSERT INTO flov7.settings (key, value) VALUES ('cursor_secret', flov7.random_token('', 32));
ALTER TABLE flov7.settings ADD CONSTRAINT settings_cursor_secret_check
	CHECK (key <> 'cursor_secret' OR octet_length(value) >= 32);

-- ---- indexes: (owner, sort key, id) for each list, trigram GIN for each search ------------------
-- The executions of a workflow have theirs in 66_engine.sql; the steps of an execution are read
-- in their primary key's order.  Workflows sorted by last_executed_at are sorted in memory: an
-- index on it would make every execution's end (which sets it) a non-HOT update, and a user's
-- workflows are bounded by the plan's max_workflows.
CREATE INDEX notifications_user_idx ON flov7.notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON flov7.notifications (user_id, created_at DESC, id DESC) WHERE NOT is_read;
CREATE INDEX users_created_idx ON flov7.users (created_at DESC, id DESC);
CREATE INDEX users_email_trgm_idx ON flov7.users USING gin (email gin_trgm_ops);
CREATE INDEX users_full_name_trgm_idx ON flov7.users USING gin (full_name gin_trgm_ops);
CREATE INDEX workflows_user_id_idx ON flov7.workflows (user_id, created_at, id);
CREATE INDEX workflows_user_updated_idx ON flov7.workflows (user_id, updated_at, id);
CREATE INDEX workflows_user_name_idx ON flov7.workflows (user_id, lower(name), id);
CREATE INDEX workflows_name_trgm_idx ON flov7.workflows USING gin (name gin_trgm_ops);
CREATE INDEX workflows_description_trgm_idx ON flov7.workflows USING gin (description gin_trgm_ops);
CREATE INDEX workflow_templates_list_idx ON flov7.workflow_templates (is_featured DESC, lower(name), id);
CREATE INDEX workflow_templates_name_trgm_idx ON flov7.workflow_templates USING gin (name gin_trgm_ops);
CREATE INDEX workflow_templates_description_trgm_idx ON flov7.workflow_templates USING gin (description gin_trgm_ops);
CREATE INDEX api_keys_user_idx ON flov7.api_keys (user_id, created_at DESC, id DESC);
CREATE INDEX user_integrations_user_idx ON flov7.user_integrations (user_id, created_at DESC, id DESC);

-- The FROM and WHERE of each list, fixed texts over one jsonb parameter $1 of filter values
-- ("uid" is the caller).  Every query of a list (page, count, estimate) starts from these.
CREATE FUNCTION flov7.list_from(p_list text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	CASE p_list
	WHEN 'notifications' THEN RETURN $q$flov7.notifications n
		WHERE n.user_id = ($1->>'uid')::uuid
		  AND (($1->>'read') IS NULL OR n.is_read = ($1->>'read')::boolean)
		  AND (($1->>'type') IS NULL OR n.type = ($1->>'type'))$q$;
	WHEN 'admin_users' THEN RETURN $q$flov7.users u
		WHERE (($1->>'role') IS NULL OR u.role = ($1->>'role'))
		  AND (($1->>'active') IS NULL OR u.is_active = ($1->>'active')::boolean)
		  AND (($1->>'pat') IS NULL OR u.email ILIKE ($1->>'pat') OR u.full_name ILIKE ($1->>'pat'))$q$;
	WHEN 'api_keys' THEN RETURN $q$flov7.api_keys k
		WHERE k.user_id = ($1->>'uid')::uuid
		  AND (($1->>'active') IS NULL OR k.is_active = ($1->>'active')::boolean)$q$;
	WHEN 'integrations' THEN RETURN $q$flov7.user_integrations i
		WHERE i.user_id = ($1->>'uid')::uuid
		  AND (($1->>'type') IS NULL OR i.service_type = ($1->>'type'))
		  AND (($1->>'active') IS NULL OR i.is_active = ($1->>'active')::boolean)$q$;
	WHEN 'workflows' THEN RETURN $q$flov7.workflows w
		WHERE w.user_id = ($1->>'uid')::uuid
		  AND (($1->>'status') IS NULL OR w.status = ($1->>'status'))
		  AND (($1->>'tag') IS NULL OR ($1->>'tag') = ANY (w.tags))
		  AND (($1->>'pat') IS NULL OR w.name ILIKE ($1->>'pat') OR w.description ILIKE ($1->>'pat'))$q$;
	WHEN 'templates' THEN RETURN $q$flov7.workflow_templates t
		WHERE (($1->>'category') IS NULL OR t.category = ($1->>'category'))
		  AND (($1->>'difficulty') IS NULL OR t.difficulty = ($1->>'difficulty'))
		  AND (($1->>'featured') IS NULL OR t.is_featured = ($1->>'featured')::boolean)
		  AND (($1->>'pat') IS NULL OR t.name ILIKE ($1->>'pat') OR t.description ILIKE ($1->>'pat'))$q$;
	WHEN 'primitives' THEN RETURN $q$flov7.primitives p
		WHERE (($1->>'type') IS NULL OR p.type = ($1->>'type'))
		  AND (($1->>'category') IS NULL OR p.category = ($1->>'category'))$q$;
	WHEN 'executions' THEN RETURN $q$flov7.workflow_executions e
		WHERE e.user_id = ($1->>'uid')::uuid AND e.workflow_id = ($1->>'wf')::uuid
		  AND (($1->>'status') IS NULL OR e.status = ($1->>'status'))
		  AND (($1->>'from') IS NULL OR e.created_at >= ($1->>'from')::timestamptz)
		  AND (($1->>'to') IS NULL OR e.created_at < ($1->>'to')::timestamptz)$q$;
	WHEN 'steps' THEN RETURN $q$flov7.execution_steps s
		WHERE s.user_id = ($1->>'uid')::uuid AND s.execution_id = ($1->>'exec')::uuid
		  AND (($1->>'state') IS NULL OR s.state = ($1->>'state'))
		  AND (($1->>'node') IS NULL OR s.node_id = ($1->>'node'))$q$;
	ELSE
		RAISE EXCEPTION 'unknown list "%"', p_list USING ERRCODE = '22023';
	END CASE;
END
$$;

-- Unpadded base64url of bytes.
CREATE FUNCTION flov7.b64url(p bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT rtrim(translate(encode(p, 'base64'), E'+/\n', '-_'), '=')
$$;

-- Bytes of unpadded base64url; NULL if the text is not base64url.
CREATE FUNCTION flov7.b64url_decode(p text) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
	IF p !~ '^[A-Za-z0-9_-]*$' OR length(p) % 4 = 1 THEN
		RETURN NULL;
	END IF;
	RETURN decode(translate(p, '-_', '+/') || repeat('=', (4 - length(p) % 4) % 4), 'base64');
END
$$;

-- The MAC of a cursor's payload for the caller and a list's scope (pgcrypto's hmac; the
-- search_path is pinned to pgcrypto's schema below).
CREATE FUNCTION flov7.cursor_mac(p_payload text, p_scope text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$
	SELECT flov7.b64url(substring(hmac(coalesce(flov7.caller_id()::text, '') || '/' || p_scope || '/' || p_payload,
									   flov7.setting('cursor_secret'), 'sha256') FROM 1 FOR 16))
$$;

DO $pin$
DECLARE
	crypto_schema name;
BEGIN
	SELECT n.nspname INTO STRICT crypto_schema
	  FROM pg_catalog.pg_extension e
	  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
	 WHERE e.extname = 'pgcrypto';
	EXECUTE pg_catalog.format('ALTER FUNCTION flov7.cursor_mac(text, text) SET search_path = pg_catalog, flov7, %I, pg_temp',
							  crypto_schema);
END
$pin$;

-- The cursor of a page whose last row has sort key p_key (a JSON array ending with the id).
CREATE FUNCTION flov7.cursor_make(p_list text, p_sort text, p_scope text, p_key jsonb) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_payload text := flov7.b64url(convert_to(jsonb_build_object('l', p_list, 's', p_sort, 'k', p_key)::text, 'UTF8'));
BEGIN
	RETURN v_payload || '.' || flov7.cursor_mac(v_payload, p_scope);
END
$$;

-- Read the "cursor" argument of list p_list sorted by p_sort (scope p_scope): the sort key of the
-- row the page starts after (a JSON array of p_nkeys values), or NULL without a cursor.  22023
-- for a cursor that is malformed, changed, another caller's, another list's or scope's, made
-- for another sort, or sent with "offset".
CREATE FUNCTION flov7.arg_cursor(args jsonb, p_list text, p_sort text, p_scope text, p_nkeys int,
								 p_name text DEFAULT 'cursor') RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v text := nullif(flov7.arg_text(args, p_name, false, 4000), '');
	m text[];
	v_payload jsonb;
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(args -> 'offset') IS DISTINCT FROM 'null' AND args ? 'offset' THEN
		RAISE EXCEPTION 'send either "%" or "offset", not both', p_name USING ERRCODE = '22023',
			HINT = 'A cursor already says where the page starts.';
	END IF;
	m := regexp_match(v, '^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$');
	IF m IS NULL THEN
		RAISE EXCEPTION 'field "%" is not a cursor', p_name USING ERRCODE = '22023',
			DETAIL = format('Got "%s".', left(v, 40)),
			HINT = 'Send next_cursor exactly as a response of this list gave it, or leave it out for the first page.';
	END IF;
	IF NOT flov7.secure_equal(flov7.cursor_mac(m[1], p_scope), m[2]) THEN
		RAISE EXCEPTION 'field "%" is not a cursor of this list', p_name USING ERRCODE = '22023',
			DETAIL = 'It was changed, or made for another user, list, workflow or execution.',
			HINT = 'Send next_cursor exactly as a response of this list gave it, or leave it out for the first page.';
	END IF;
	v_payload := convert_from(flov7.b64url_decode(m[1]), 'UTF8')::jsonb;
	IF v_payload ->> 'l' IS DISTINCT FROM p_list THEN
		RAISE EXCEPTION 'field "%" is a cursor of another list (%)', p_name, v_payload ->> 'l' USING ERRCODE = '22023';
	END IF;
	IF v_payload ->> 's' IS DISTINCT FROM p_sort THEN
		RAISE EXCEPTION 'field "%" was made for another sort order', p_name USING ERRCODE = '22023',
			DETAIL = format('It continues the order "%s"; this request asks for "%s".', v_payload ->> 's', p_sort),
			HINT = 'Send the sort_by and sort_order of the request that returned the cursor, or leave the cursor out.';
	END IF;
	IF jsonb_typeof(v_payload -> 'k') IS DISTINCT FROM 'array' OR jsonb_array_length(v_payload -> 'k') <> p_nkeys THEN
		RAISE EXCEPTION 'field "%" is not a cursor of this list', p_name USING ERRCODE = '22023';
	END IF;
	RETURN v_payload -> 'k';
END
$$;

-- The count mode asked for: "count" in the arguments, else PostgREST's Prefer: count=exact |
-- planned | estimated; NULL when neither asks (the default, estimated).
CREATE FUNCTION flov7.list_count_pref(args jsonb) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v text := flov7.arg_enum(args, 'count', ARRAY['exact', 'planned', 'estimated'], false);
BEGIN
	IF v IS NULL THEN
		v := (regexp_match(lower(coalesce(flov7.request_header('prefer'), '')),
						   '(?:^|[,;[:space:]])count=(exact|planned|estimated)(?:$|[,;[:space:]])'))[1];
	END IF;
	RETURN v;
END
$$;

-- The planner's estimate of the rows of a list, from EXPLAIN of its fixed text, as the owner:
-- row level security would multiply the estimate by its own guess (about 1/2), so the caller
-- is set here instead (an admin's only for admin_users).  Only the filter values come from the
-- caller, as the parameter; nothing is executed.
CREATE FUNCTION flov7.list_estimate(p_list text, p_f jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_f jsonb := p_f;
	v_plan json;
BEGIN
	IF p_list = 'admin_users' THEN
		IF NOT flov7.caller_is_admin() THEN
			RAISE EXCEPTION 'only an admin may count users' USING ERRCODE = '42501';
		END IF;
	ELSIF p_list NOT IN ('templates', 'primitives') THEN
		v_f := v_f || jsonb_build_object('uid', flov7.caller_id());
	END IF;
	EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM ' || flov7.list_from(p_list) INTO v_plan USING v_f;
	RETURN round((v_plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric);
END
$$;

-- The total of a list: {"total", "estimate"}.  "exact" counts every row (cost: the rows);
-- "planned" is the planner's estimate; the default is exact up to 1000 rows, counted by a
-- count that stops at 1001, and beyond that the planner's estimate (at least 1001).  The count
-- is skipped when the planner expects more than 10 000 rows: it would stop at 1001 anyway, but
-- the rows it reads to find them grow with the filters no index serves (a status of
-- executions, a type of notifications).
CREATE FUNCTION flov7.list_total(p_list text, p_f jsonb, p_pref text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_n bigint;
	v_est bigint;
BEGIN
	IF p_pref = 'exact' THEN
		EXECUTE 'SELECT count(*) FROM ' || flov7.list_from(p_list) INTO v_n USING p_f;
		RETURN jsonb_build_object('total', v_n, 'estimate', false);
	END IF;
	v_est := flov7.list_estimate(p_list, p_f);
	IF p_pref IS DISTINCT FROM 'planned' AND v_est <= 10000 THEN
		EXECUTE 'SELECT count(*) FROM (SELECT 1 FROM ' || flov7.list_from(p_list) || ' LIMIT 1001) c' INTO v_n USING p_f;
		IF v_n <= 1000 THEN
			RETURN jsonb_build_object('total', v_n, 'estimate', false);
		END IF;
	END IF;
	RETURN jsonb_build_object('total', greatest(v_est, coalesce(v_n, 0)), 'estimate', true);
END
$$;

-- Add a header to the response (response.headers, CONTRACT.md), after those already there.
CREATE FUNCTION flov7.response_header_add(p_name text, p_value text) RETURNS void
LANGUAGE sql VOLATILE AS $$
	SELECT set_config('response.headers',
		(coalesce(nullif(current_setting('response.headers', true), '')::jsonb, '[]')
		 || jsonb_build_array(jsonb_build_object(p_name, p_value)))::text, true)
$$;

-- A list's answer from p_rows, the page read with one row more than the limit, each row a JSON
-- array [sort key, item]: the items, next_cursor when there is more, the total (the page tells
-- it when it is the last one reached by offset, else flov7.list_total), and the headers
-- Content-Range (offset pages: "0-19/1234", "0-19/*" when the total is an estimate) and
-- Preference-Applied (when a count mode was asked).  p_f holds "lim", "off" and, on a cursor
-- page, "after".  p_count, a total the list already knows ({"total", "estimate"}), stands in
-- for flov7.list_total unless an exact count is asked.
CREATE FUNCTION flov7.list_answer(p_list text, p_sort text, p_scope text, p_rows jsonb, p_f jsonb, p_pref text,
								  p_count jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_limit int := (p_f ->> 'lim')::int;
	v_offset int := coalesce((p_f ->> 'off')::int, 0);
	v_keyset boolean := p_f ? 'after';
	v_n int := jsonb_array_length(p_rows);
	v_items jsonb;
	v_next text;
	v_count jsonb;
BEGIN
	IF v_n > v_limit THEN
		v_next := flov7.cursor_make(p_list, p_sort, p_scope, p_rows -> (v_limit - 1) -> 0);
		v_n := v_limit;
	END IF;
	SELECT coalesce(jsonb_agg(r.row -> 1 ORDER BY r.i), '[]') INTO v_items
	  FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS r (row, i) WHERE r.i <= v_limit;
	IF v_next IS NULL AND NOT v_keyset AND (v_n > 0 OR v_offset = 0) THEN
		v_count := jsonb_build_object('total', v_offset + v_n, 'estimate', false);
	ELSIF p_count IS NOT NULL AND p_pref IS DISTINCT FROM 'exact' THEN
		v_count := p_count;
	ELSE
		v_count := flov7.list_total(p_list, p_f, p_pref);
	END IF;
	IF NOT v_keyset THEN
		PERFORM flov7.response_header_add('Content-Range',
			CASE WHEN v_n = 0 THEN '*' ELSE v_offset || '-' || (v_offset + v_n - 1) END || '/'
			|| CASE WHEN (v_count ->> 'estimate')::boolean THEN '*' ELSE v_count ->> 'total' END);
	END IF;
	IF p_pref IS NOT NULL THEN
		PERFORM flov7.response_header_add('Preference-Applied', 'count=' || p_pref);
	END IF;
	RETURN jsonb_build_object('items', v_items, 'total', (v_count -> 'total'),
							  'total_is_estimate', (v_count -> 'estimate'), 'limit', v_limit,
							  'offset', v_offset, 'next_cursor', v_next);
END
$$;


-- ======== issue 8, lists that cost by the page: API keys (sql/parts/40_auth_api.sql) ========
-- GET /auth/api-keys: the caller's API keys, newest first; a page by offset or by cursor
-- (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.api_key_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('api_keys:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_active boolean := flov7.arg_bool(args, 'is_active');
	v_after jsonb := flov7.arg_cursor(args, 'api_keys', 'created_at.desc', '', 2);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'active', v_active, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.api_key_json(x.id))
									   ORDER BY x.created_at DESC, x.id DESC), '[]')
				 FROM (SELECT k.id, k.created_at FROM $q$ || flov7.list_from('api_keys') || $q$
						  AND (($1->'after') IS NULL
							   OR (k.created_at, k.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
						ORDER BY k.created_at DESC, k.id DESC
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('api_keys', 'created_at.desc', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- ======== issue 8, lists that cost by the page: integrations, notifications (sql/parts/50_users_api.sql) ========
-- GET /users/integrations: the caller's integrations, newest first, filtered by service_type /
-- is_active; a page by offset or by cursor (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.integration_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('integrations:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_type text := flov7.arg_enum(args, 'service_type', ARRAY['api_key', 'oauth', 'webhook', 'database'], false);
	v_active boolean := flov7.arg_bool(args, 'is_active');
	v_after jsonb := flov7.arg_cursor(args, 'integrations', 'created_at.desc', '', 2);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'type', v_type, 'active', v_active, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.integration_json(x.id))
									   ORDER BY x.created_at DESC, x.id DESC), '[]')
				 FROM (SELECT i.id, i.created_at FROM $q$ || flov7.list_from('integrations') || $q$
						  AND (($1->'after') IS NULL
							   OR (i.created_at, i.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
						ORDER BY i.created_at DESC, i.id DESC
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('integrations', 'created_at.desc', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- GET /users/notifications: the caller's notifications, newest first, filtered by is_read / type;
-- a page by offset or by cursor (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.notification_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('notifications:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_read boolean := flov7.arg_bool(args, 'is_read');
	v_type text := flov7.arg_text(args, 'type', false, 50);
	v_after jsonb := flov7.arg_cursor(args, 'notifications', 'created_at.desc', '', 2);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'read', v_read, 'type', v_type, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.notification_json(x))
									   ORDER BY x.created_at DESC, x.id DESC), '[]')
				 FROM (SELECT n.* FROM $q$ || flov7.list_from('notifications') || $q$
						  AND (($1->'after') IS NULL
							   OR (n.created_at, n.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
						ORDER BY n.created_at DESC, n.id DESC
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('notifications', 'created_at.desc', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- ======== issue 8, lists that cost by the page: the admin search of users (sql/parts/60_admin_api.sql) ========
-- The page of an admin search of users (by email or name substring), as {"rows": [[sort key,
-- user], ...], "count": {"total", "estimate"}}.  The planner's estimate of the matches decides
-- where to look first, but it may be far off for a substring, so every way is bounded: when it
-- expects more than 1000, the newest users, at most 1000 past the page's start (a common
-- substring fills the page there; the total is the estimate); then the trigram indexes, bitmap
-- scans only, up to 1001 matches (sparse ones are all there: the page is cut from them and
-- counted exactly); else (more than 1000 matches, mostly among older users) down the newest
-- users as far as it takes.  As the owner, for an admin only: ILIKE is not leakproof, so under
-- row level security it could never be an index condition, and the planner's estimates would
-- be blind (admins see every user anyway).
CREATE FUNCTION flov7.admin_user_search(p_f jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, flov7, pg_temp SET enable_seqscan = off SET enable_indexscan = off
SET enable_indexonlyscan = off SET jit = off AS $$
DECLARE
	v_rows jsonb;
	v_n bigint;
	v_est bigint;
BEGIN
	IF NOT flov7.caller_is_admin() THEN
		RAISE EXCEPTION 'only an admin may search users' USING ERRCODE = '42501';
	END IF;
	v_est := flov7.list_estimate('admin_users', p_f);
	IF v_est > 1000 THEN
		PERFORM set_config('enable_indexscan', 'on', true);
		EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.user_json(x))
										   ORDER BY x.created_at DESC, x.id DESC), '[]')
					 FROM (SELECT w.* FROM (SELECT u.* FROM flov7.users u
											 WHERE (($1->>'role') IS NULL OR u.role = ($1->>'role'))
											   AND (($1->>'active') IS NULL OR u.is_active = ($1->>'active')::boolean)
											   AND (($1->'after') IS NULL
													OR (u.created_at, u.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
											 ORDER BY u.created_at DESC, u.id DESC LIMIT 1000) w
							WHERE w.email ILIKE ($1->>'pat') OR w.full_name ILIKE ($1->>'pat')
							ORDER BY w.created_at DESC, w.id DESC
							LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
		   INTO v_rows USING p_f;
		IF jsonb_array_length(v_rows) > (p_f ->> 'lim')::int THEN
			RETURN jsonb_build_object('rows', v_rows, 'count', jsonb_build_object('total',
				greatest(v_est, coalesce((p_f ->> 'off')::int, 0) + jsonb_array_length(v_rows)), 'estimate', true));
		END IF;
		PERFORM set_config('enable_indexscan', 'off', true);
	END IF;
	EXECUTE $q$WITH m AS MATERIALIZED (SELECT u.* FROM $q$ || flov7.list_from('admin_users') || $q$ LIMIT 1001)
			   SELECT (SELECT count(*) FROM m),
					  (SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.user_json(x))
												 ORDER BY x.created_at DESC, x.id DESC), '[]')
						 FROM (SELECT m.* FROM m
								WHERE ($1->'after') IS NULL
								   OR (m.created_at, m.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid)
								ORDER BY m.created_at DESC, m.id DESC
								LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x)$q$
	   INTO v_n, v_rows USING p_f;
	IF v_n <= 1000 THEN
		RETURN jsonb_build_object('rows', v_rows, 'count', jsonb_build_object('total', v_n, 'estimate', false));
	END IF;
	PERFORM set_config('enable_indexscan', 'on', true);
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.user_json(x))
									   ORDER BY x.created_at DESC, x.id DESC), '[]')
				 FROM (SELECT u.* FROM $q$ || flov7.list_from('admin_users') || $q$
						  AND (($1->'after') IS NULL
							   OR (u.created_at, u.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
						ORDER BY u.created_at DESC, u.id DESC
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING p_f;
	RETURN jsonb_build_object('rows', v_rows, 'count', jsonb_build_object('total', greatest(v_est, 1001), 'estimate', true));
END
$$;

-- GET /users/admin/users: every user, newest first, filtered by role, is_active and an email/name
-- substring (flov7.admin_user_search); a page by offset or by cursor (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.admin_user_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:users');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_role text := flov7.arg_enum(args, 'role', ARRAY['admin', 'premium', 'user'], false);
	v_active boolean := flov7.arg_bool(args, 'is_active');
	v_search text := nullif(btrim(flov7.arg_text(args, 'search', false, 200)), '');
	v_after jsonb := flov7.arg_cursor(args, 'admin_users', 'created_at.desc', '', 2);
	v_f jsonb;
	v_rows jsonb;
	v_page jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('role', v_role, 'active', v_active, 'pat', flov7.like_pattern(v_search),
		'lim', v_limit, 'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	IF v_search IS NOT NULL THEN
		v_page := flov7.admin_user_search(v_f);
		RETURN flov7.list_answer('admin_users', 'created_at.desc', '', v_page -> 'rows', v_f, flov7.list_count_pref(args),
								 v_page -> 'count');
	END IF;
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.user_json(x))
									   ORDER BY x.created_at DESC, x.id DESC), '[]')
				 FROM (SELECT u.* FROM $q$ || flov7.list_from('admin_users') || $q$
						  AND (($1->'after') IS NULL
							   OR (u.created_at, u.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
						ORDER BY u.created_at DESC, u.id DESC
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('admin_users', 'created_at.desc', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- ======== issue 8, lists that cost by the page: primitives, workflows, templates (sql/parts/65_workflows_api.sql) ========
-- GET /primitives: the node types, filtered by type and category, in the order of the five
-- types, then by subtype; a page by offset or by cursor (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.primitive_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_type text := flov7.arg_enum(args, 'type', ARRAY['trigger', 'action', 'connection', 'condition', 'data'], false);
	v_category text := flov7.arg_text(args, 'category', false, 50);
	v_after jsonb := flov7.arg_cursor(args, 'primitives', 'type.asc', '', 2);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('type', v_type, 'category', v_category, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.type_pos, (x.p).subtype),
														 flov7.primitive_to_json(x.p)) ORDER BY x.type_pos, (x.p).subtype), '[]')
				 FROM (SELECT p, array_position('{trigger,action,connection,condition,data}'::text[], p.type) AS type_pos
						 FROM $q$ || flov7.list_from('primitives') || $q$
						  AND (($1->'after') IS NULL
							   OR (array_position('{trigger,action,connection,condition,data}'::text[], p.type), p.subtype)
								  > (($1->'after'->>0)::int, ($1->'after'->>1)))
						ORDER BY 2, p.subtype
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('primitives', 'type.asc', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- GET /workflows: the caller's workflows, filtered by status, tag and search (trigram indexes),
-- sorted by sort_by and sort_order, then by id; a page by offset or by cursor (22_lists.sql),
-- a cursor being good for the sort it was made for only.  Workflows without a run come last
-- when sorted by last_executed_at, either way.
CREATE OR REPLACE FUNCTION flov7_api.workflow_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_status text := flov7.arg_enum(args, 'status', ARRAY['draft', 'active', 'inactive', 'archived'], false);
	v_tag text := flov7.arg_text(args, 'tag', false, 50);
	v_search text := flov7.arg_text(args, 'search', false, 200);
	v_sort text := flov7.arg_enum(args, 'sort_by', ARRAY['created_at', 'updated_at', 'name', 'last_executed_at'],
								  false, 'created_at');
	v_asc boolean := flov7.arg_enum(args, 'sort_order', ARRAY['asc', 'desc'], false, 'desc') = 'asc';
	v_order text := v_sort || CASE WHEN v_asc THEN '.asc' ELSE '.desc' END;
	v_after jsonb := flov7.arg_cursor(args, 'workflows', v_order, '', 2);
	v_key text;
	v_by text;
	v_keyset text;
	v_f jsonb;
	v_rows jsonb;
BEGIN
	-- Fixed fragments, chosen by the (checked) sort; the cursor's values are in $1.
	v_key := CASE v_sort WHEN 'name' THEN 'lower(w.name)' ELSE 'w.' || v_sort END;
	v_by := v_key || CASE WHEN v_asc THEN ' ASC' ELSE ' DESC' END
			|| CASE WHEN v_sort = 'last_executed_at' THEN ' NULLS LAST' ELSE '' END
			|| ', w.id' || CASE WHEN v_asc THEN ' ASC' ELSE ' DESC' END;
	v_keyset := CASE
		WHEN v_sort = 'last_executed_at' THEN format(
			$q$CASE WHEN ($1->'after'->>0) IS NULL THEN w.last_executed_at IS NULL AND w.id %1$s ($1->'after'->>1)::uuid
				ELSE w.last_executed_at %1$s ($1->'after'->>0)::timestamptz OR w.last_executed_at IS NULL
					 OR (w.last_executed_at = ($1->'after'->>0)::timestamptz AND w.id %1$s ($1->'after'->>1)::uuid) END$q$,
			CASE WHEN v_asc THEN '>' ELSE '<' END)
		ELSE format($q$(%s, w.id) %s (($1->'after'->>0)::%s, ($1->'after'->>1)::uuid)$q$,
					v_key, CASE WHEN v_asc THEN '>' ELSE '<' END, CASE WHEN v_sort = 'name' THEN 'text' ELSE 'timestamptz' END)
		END;
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'status', v_status, 'tag', v_tag,
		'pat', flov7.like_pattern(v_search), 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE format($q$SELECT coalesce(jsonb_agg(jsonb_build_array(x.k, flov7.workflow_to_json(x.wf)) ORDER BY x.ord), '[]')
						FROM (SELECT w AS wf, jsonb_build_array(%1$s, w.id) AS k, row_number() OVER (ORDER BY %2$s) AS ord
								FROM %3$s
								 AND (($1->'after') IS NULL OR %4$s)
							   ORDER BY %2$s
							   LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$,
				   v_key, v_by, flov7.list_from('workflows'), v_keyset)
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('workflows', v_order, '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- GET /workflows/templates: templates, filtered by category, difficulty, is_featured and search
-- (trigram indexes), featured first, then by name and id; a page by offset or by cursor
-- (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.template_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_category text := flov7.arg_text(args, 'category', false, 50);
	v_difficulty text := flov7.arg_enum(args, 'difficulty', ARRAY['beginner', 'intermediate', 'advanced'], false);
	v_featured boolean := flov7.arg_bool(args, 'is_featured');
	v_pattern text := flov7.like_pattern(flov7.arg_text(args, 'search', false, 200));
	v_after jsonb := flov7.arg_cursor(args, 'templates', 'featured.name', '', 3);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('category', v_category, 'difficulty', v_difficulty,
		'featured', v_featured, 'pat', v_pattern, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.is_featured, lower(x.name), x.id),
														 flov7.template_to_json(x))
									   ORDER BY x.is_featured DESC, lower(x.name), x.id), '[]')
				 FROM (SELECT t.* FROM $q$ || flov7.list_from('templates') || $q$
						  AND (($1->'after') IS NULL
							   OR t.is_featured < ($1->'after'->>0)::boolean
							   OR (t.is_featured = ($1->'after'->>0)::boolean
								   AND (lower(t.name), t.id) > (($1->'after'->>1), ($1->'after'->>2)::uuid)))
						ORDER BY t.is_featured DESC, lower(t.name), t.id
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('templates', 'featured.name', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- ======== issue 8, lists that cost by the page: executions, and the step log of an execution (sql/parts/67_executions_api.sql) ========
-- GET /workflows/{id}/executions: the executions of one of the caller's workflows, newest
-- first; filters status, created_after, created_before; a page by offset or by cursor
-- (22_lists.sql), which costs the same on any page.  "before" is the cursor's older name, and
-- also takes an execution id (the page after that execution).
CREATE OR REPLACE FUNCTION flov7_api.execution_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_wf uuid := flov7.arg_uuid(args, 'id');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
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
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
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

-- ======== issue 8, lists that cost by the page: the step log of an execution (sql/parts/76_engine_routes.sql) ========
INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('GET', '/api/v1/workflows/executions/{id}/steps', 'flov7_api.execution_step_list', 200, 'List the steps of an execution (its step log)', 'executions', true);

-- ======== issue 8, lists that cost by the page: the step log of an execution (sql/parts/86_engine_grants.sql) ========
REVOKE ALL ON FUNCTION flov7_api.execution_step_list(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flov7_api.execution_step_list(jsonb) TO flov7_user, flov7_admin;

-- ======== issue 8, lists that cost by the page: cursors, totals (sql/parts/89_lists_grants.sql) ========
REVOKE ALL ON FUNCTION
	flov7.list_from(text), flov7.b64url(bytea), flov7.b64url_decode(text), flov7.cursor_mac(text, text),
	flov7.cursor_make(text, text, text, jsonb), flov7.arg_cursor(jsonb, text, text, text, int, text),
	flov7.list_count_pref(jsonb), flov7.list_estimate(text, jsonb), flov7.list_total(text, jsonb, text),
	flov7.response_header_add(text, text), flov7.list_answer(text, text, text, jsonb, jsonb, text, jsonb),
	flov7.admin_user_search(jsonb)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	flov7.list_from(text), flov7.b64url(bytea), flov7.b64url_decode(text),
	flov7.cursor_make(text, text, text, jsonb), flov7.arg_cursor(jsonb, text, text, text, int, text),
	flov7.list_count_pref(jsonb), flov7.list_estimate(text, jsonb), flov7.list_total(text, jsonb, text),
	flov7.response_header_add(text, text), flov7.list_answer(text, text, text, jsonb, jsonb, text, jsonb)
	TO flov7_user, flov7_admin;

-- An admin search's sparse page (60_admin_api.sql).
GRANT EXECUTE ON FUNCTION flov7.admin_user_search(jsonb) TO flov7_admin;

-- ======== issue 8, lists that cost by the page: an offset past int's range is a plain 400 (sql/parts/20_helpers.sql) ========
-- Read an integer field (JSON number or numeric string) within [min_value, max_value], and
-- within int's range when a bound is not given.
CREATE OR REPLACE FUNCTION flov7.arg_int(args jsonb, name text, default_value int, min_value int DEFAULT NULL, max_value int DEFAULT NULL)
RETURNS int LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
	t text;
	n bigint;
BEGIN
	min_value := coalesce(min_value, -2147483648);
	max_value := coalesce(max_value, 2147483647);
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		RETURN default_value;
	END IF;
	IF jsonb_typeof(v) NOT IN ('number', 'string') THEN
		RAISE EXCEPTION 'field "%" must be an integer', name USING ERRCODE = '22023';
	END IF;
	t := btrim(v #>> '{}');
	IF t !~ '^[-+]?[0-9]{1,12}$' THEN
		RAISE EXCEPTION 'field "%" must be an integer', name
			USING ERRCODE = '22023', DETAIL = format('Got %s.', left(v::text, 40));
	END IF;
	n := t::bigint;
	IF n < min_value OR n > max_value THEN
		RAISE EXCEPTION 'field "%" must be %', name,
			CASE WHEN n < min_value AND max_value = 2147483647 THEN format('at least %s', min_value)
				 WHEN n > max_value AND min_value = -2147483648 THEN format('at most %s', max_value)
				 ELSE format('between %s and %s', min_value, max_value) END
			USING ERRCODE = '22023';
	END IF;
	RETURN n::int;
END
$$;

-- ======== issue 9, the original platform's clients: settings, plan limit, key descriptions, the root route (sql/parts/23_compat.sql) ========
-- A new API key expires this many days from its creation unless it asks otherwise (the
-- original platform's expires_in_days defaulted to 365).
INSERT INTO flov7.settings (key, value) VALUES ('api_key_expiry_days', '365');
ALTER TABLE flov7.settings ADD CONSTRAINT settings_api_key_expiry_days_check
	CHECK (key <> 'api_key_expiry_days' OR value ~ '^[1-9][0-9]{0,4}$');

-- The longest life a plan allows an API key, in days; NULL: no limit, keys that never expire
-- included ("expires_at": null).
ALTER TABLE flov7.plan_quotas ADD COLUMN api_key_max_days int CHECK (api_key_max_days >= 1);
COMMENT ON COLUMN flov7.plan_quotas.api_key_max_days IS
	'the longest life of an API key, in days; NULL: unlimited, including keys that never expire';

ALTER TABLE flov7.api_keys ADD COLUMN description text CHECK (length(description) <= 500);

-- "/" is a route too (GET /: the API's name, version and links).
ALTER TABLE flov7.routes DROP CONSTRAINT routes_path_check,
	ADD CONSTRAINT routes_path_check CHECK (path = '/' OR path ~ '^(/[A-Za-z0-9._~{}-]+)+$');

-- How frontd renders a route's errors: flov7's {"code","message","details","hint"}, or the
-- original platform's {"detail": ...} (frontd/errstyle.c); set by flov7.set_api_profile.
ALTER TABLE flov7.routes ADD COLUMN error_style text NOT NULL DEFAULT 'flov7'
	CHECK (error_style IN ('flov7', 'original'));
COMMENT ON COLUMN flov7.routes.error_style IS
	'flov7: errors as {"code","message","details","hint"}; original: as the original platform''s {"detail": ...}, bad input naming a field as 422';

-- The API profile /api/v1 answers in (flov7.set_api_profile).
INSERT INTO flov7.settings (key, value) VALUES ('api_profile', 'flov7');
ALTER TABLE flov7.settings ADD CONSTRAINT settings_api_profile_check
	CHECK (key <> 'api_profile' OR value IN ('flov7', 'original'));

-- ======== issue 9, skip for offset, has_more on every list (sql/parts/22_lists.sql) ========
-- Read the "offset" of a page, or "skip", the original platform's name for it (issue 9); both
-- at once only when they agree.
CREATE OR REPLACE FUNCTION flov7.arg_offset(args jsonb) RETURNS int
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v_offset int := flov7.arg_int(args, 'offset', NULL, 0);
	v_skip int := flov7.arg_int(args, 'skip', NULL, 0);
BEGIN
	IF v_offset <> v_skip THEN
		RAISE EXCEPTION 'fields "offset" and "skip" disagree' USING ERRCODE = '22023',
			DETAIL = format('Got offset %s and skip %s.', v_offset, v_skip),
			HINT = '"skip" is another name for "offset": send one of them.';
	END IF;
	RETURN coalesce(v_offset, v_skip, 0);
END
$$;

-- Read the "cursor" argument of list p_list sorted by p_sort (scope p_scope): the sort key of the
-- row the page starts after (a JSON array of p_nkeys values), or NULL without a cursor.  22023
-- for a cursor that is malformed, changed, another caller's, another list's or scope's, made
-- for another sort, or sent with "offset".
CREATE OR REPLACE FUNCTION flov7.arg_cursor(args jsonb, p_list text, p_sort text, p_scope text, p_nkeys int,
								 p_name text DEFAULT 'cursor') RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v text := nullif(flov7.arg_text(args, p_name, false, 4000), '');
	m text[];
	v_payload jsonb;
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(args -> 'offset') IS DISTINCT FROM 'null' AND args ? 'offset'
	   OR jsonb_typeof(args -> 'skip') IS DISTINCT FROM 'null' AND args ? 'skip' THEN
		RAISE EXCEPTION 'send either "%" or "%", not both', p_name,
			CASE WHEN jsonb_typeof(args -> 'skip') IS DISTINCT FROM 'null' AND args ? 'skip' THEN 'skip' ELSE 'offset' END
			USING ERRCODE = '22023', HINT = 'A cursor already says where the page starts.';
	END IF;
	m := regexp_match(v, '^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$');
	IF m IS NULL THEN
		RAISE EXCEPTION 'field "%" is not a cursor', p_name USING ERRCODE = '22023',
			DETAIL = format('Got "%s".', left(v, 40)),
			HINT = 'Send next_cursor exactly as a response of this list gave it, or leave it out for the first page.';
	END IF;
	IF NOT flov7.secure_equal(flov7.cursor_mac(m[1], p_scope), m[2]) THEN
		RAISE EXCEPTION 'field "%" is not a cursor of this list', p_name USING ERRCODE = '22023',
			DETAIL = 'It was changed, or made for another user, list, workflow or execution.',
			HINT = 'Send next_cursor exactly as a response of this list gave it, or leave it out for the first page.';
	END IF;
	v_payload := convert_from(flov7.b64url_decode(m[1]), 'UTF8')::jsonb;
	IF v_payload ->> 'l' IS DISTINCT FROM p_list THEN
		RAISE EXCEPTION 'field "%" is a cursor of another list (%)', p_name, v_payload ->> 'l' USING ERRCODE = '22023';
	END IF;
	IF v_payload ->> 's' IS DISTINCT FROM p_sort THEN
		RAISE EXCEPTION 'field "%" was made for another sort order', p_name USING ERRCODE = '22023',
			DETAIL = format('It continues the order "%s"; this request asks for "%s".', v_payload ->> 's', p_sort),
			HINT = 'Send the sort_by and sort_order of the request that returned the cursor, or leave the cursor out.';
	END IF;
	IF jsonb_typeof(v_payload -> 'k') IS DISTINCT FROM 'array' OR jsonb_array_length(v_payload -> 'k') <> p_nkeys THEN
		RAISE EXCEPTION 'field "%" is not a cursor of this list', p_name USING ERRCODE = '22023';
	END IF;
	RETURN v_payload -> 'k';
END
$$;

-- A list's answer from p_rows, the page read with one row more than the limit, each row a JSON
-- array [sort key, item]: the items, next_cursor when there is more, the total (the page tells
-- it when it is the last one reached by offset, else flov7.list_total), and the headers
-- Content-Range (offset pages: "0-19/1234", "0-19/*" when the total is an estimate) and
-- Preference-Applied (when a count mode was asked).  p_f holds "lim", "off" and, on a cursor
-- page, "after".  p_count, a total the list already knows ({"total", "estimate"}), stands in
-- for flov7.list_total unless an exact count is asked.
CREATE OR REPLACE FUNCTION flov7.list_answer(p_list text, p_sort text, p_scope text, p_rows jsonb, p_f jsonb, p_pref text,
								  p_count jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_limit int := (p_f ->> 'lim')::int;
	v_offset int := coalesce((p_f ->> 'off')::int, 0);
	v_keyset boolean := p_f ? 'after';
	v_n int := jsonb_array_length(p_rows);
	v_items jsonb;
	v_next text;
	v_count jsonb;
BEGIN
	IF v_n > v_limit THEN
		v_next := flov7.cursor_make(p_list, p_sort, p_scope, p_rows -> (v_limit - 1) -> 0);
		v_n := v_limit;
	END IF;
	SELECT coalesce(jsonb_agg(r.row -> 1 ORDER BY r.i), '[]') INTO v_items
	  FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS r (row, i) WHERE r.i <= v_limit;
	IF v_next IS NULL AND NOT v_keyset AND (v_n > 0 OR v_offset = 0) THEN
		v_count := jsonb_build_object('total', v_offset + v_n, 'estimate', false);
	ELSIF p_count IS NOT NULL AND p_pref IS DISTINCT FROM 'exact' THEN
		v_count := p_count;
	ELSE
		v_count := flov7.list_total(p_list, p_f, p_pref);
	END IF;
	IF NOT v_keyset THEN
		PERFORM flov7.response_header_add('Content-Range',
			CASE WHEN v_n = 0 THEN '*' ELSE v_offset || '-' || (v_offset + v_n - 1) END || '/'
			|| CASE WHEN (v_count ->> 'estimate')::boolean THEN '*' ELSE v_count ->> 'total' END);
	END IF;
	IF p_pref IS NOT NULL THEN
		PERFORM flov7.response_header_add('Preference-Applied', 'count=' || p_pref);
	END IF;
	RETURN jsonb_build_object('items', v_items, 'total', (v_count -> 'total'),
							  'total_is_estimate', (v_count -> 'estimate'), 'limit', v_limit,
							  'offset', v_offset, 'next_cursor', v_next, 'has_more', v_next IS NOT NULL);
END
$$;

-- ======== issue 9, API keys: permissions as an object, description, key_preview, expiry by default, include_inactive (sql/parts/40_auth_api.sql) ========
-- The public JSON shape of an API key (never its hash).  key_preview is what the original
-- platform showed of a key: its stored prefix, then an ellipsis.
CREATE OR REPLACE FUNCTION flov7.api_key_json(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', k.id, 'name', k.name, 'description', k.description, 'key_prefix', k.key_prefix,
		'key_preview', k.key_prefix || '...',
		'permissions', to_jsonb(k.permissions), 'is_active', k.is_active, 'expires_at', k.expires_at,
		'last_used_at', k.last_used_at, 'usage_count', k.usage_count, 'created_at', k.created_at,
		'parent_id', k.parent_id)
	  FROM flov7.api_keys k WHERE k.id = p_id
$$;

-- The scopes an API key asks for, checked against p_allowed (the caller's permissions): a JSON
-- array of permission names, or the original platform's object {"read", "write", "execute"}
-- of booleans (read: every *:read the caller has, write: every *:write, execute:
-- workflows:execute; never admin:*); NULL (not sent): every non-admin permission the caller has.
CREATE OR REPLACE FUNCTION flov7.api_key_scopes(p jsonb, p_allowed text[]) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_perms text[];
	v_bad text;
BEGIN
	IF p IS NULL OR jsonb_typeof(p) = 'null' THEN
		RETURN ARRAY(SELECT x FROM unnest(p_allowed) x WHERE x NOT LIKE 'admin:%' ORDER BY x);
	END IF;
	IF jsonb_typeof(p) = 'object' THEN
		SELECT k INTO v_bad FROM jsonb_object_keys(p) k WHERE k NOT IN ('read', 'write', 'execute') LIMIT 1;
		IF v_bad IS NOT NULL THEN
			RAISE EXCEPTION 'field "permissions" has an unknown key "%"', left(v_bad, 40) USING ERRCODE = '22023', COLUMN = 'permissions',
				HINT = 'As an object, permissions are {"read": bool, "write": bool, "execute": bool}; or send a list of scopes.';
		END IF;
		SELECT k INTO v_bad FROM jsonb_each(p) e (k, v) WHERE jsonb_typeof(e.v) <> 'boolean' LIMIT 1;
		IF v_bad IS NOT NULL THEN
			RAISE EXCEPTION 'field "permissions.%" must be a JSON boolean', v_bad USING ERRCODE = '22023',
				COLUMN = 'permissions.' || v_bad;
		END IF;
		IF (p -> 'execute') = 'true' AND NOT 'workflows:execute' = ANY (p_allowed) THEN
			RAISE EXCEPTION 'permission "workflows:execute" exceeds your own permissions' USING ERRCODE = '22023', COLUMN = 'permissions';
		END IF;
		v_perms := ARRAY(SELECT x FROM unnest(p_allowed) x
						  WHERE x NOT LIKE 'admin:%'
							AND (x LIKE '%:read' AND (p -> 'read') = 'true'
								 OR x LIKE '%:write' AND (p -> 'write') = 'true'
								 OR x = 'workflows:execute' AND (p -> 'execute') = 'true')
						  ORDER BY x);
		IF cardinality(v_perms) = 0 THEN
			RAISE EXCEPTION 'field "permissions" must grant something' USING ERRCODE = '22023', COLUMN = 'permissions',
				HINT = 'Set at least one of read, write, execute to true.';
		END IF;
		RETURN v_perms;
	END IF;
	v_perms := flov7.arg_text_array(jsonb_build_object('permissions', p), 'permissions');
	v_perms := ARRAY(SELECT DISTINCT x FROM unnest(v_perms) x ORDER BY x);
	IF cardinality(v_perms) = 0 THEN
		RAISE EXCEPTION 'field "permissions" must not be empty' USING ERRCODE = '22023', COLUMN = 'permissions';
	END IF;
	SELECT x INTO v_bad FROM unnest(v_perms) x
	 WHERE NOT EXISTS (SELECT 1 FROM flov7.permissions k WHERE k.name = x) LIMIT 1;
	IF v_bad IS NOT NULL THEN
		RAISE EXCEPTION 'unknown permission "%"', v_bad USING ERRCODE = '22023', COLUMN = 'permissions',
			DETAIL = 'Known permissions: ' || (SELECT string_agg(name, ', ' ORDER BY name) FROM flov7.permissions);
	END IF;
	SELECT x INTO v_bad FROM unnest(v_perms) x WHERE NOT x = ANY (p_allowed) LIMIT 1;
	IF v_bad IS NOT NULL THEN
		RAISE EXCEPTION 'permission "%" exceeds your own permissions', v_bad USING ERRCODE = '22023', COLUMN = 'permissions',
			DETAIL = 'An API key may carry only permissions its creator has: ' || array_to_string(p_allowed, ', ');
	END IF;
	RETURN v_perms;
END
$$;

-- The default lifetime of a new API key, in days (setting api_key_expiry_days).
CREATE OR REPLACE FUNCTION flov7.api_key_default_days() RETURNS int
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7.setting('api_key_expiry_days')::int
$$;

-- The expiry of a new API key of user p_uid from "expires_at" (an explicit null: never) or
-- "expires_in_days", made with a key expiring at p_parent_expires (NULL: a login or a key that
-- never expires).  Not sent: the parent's expiry, else api_key_expiry_days from now.  Never
-- later than the parent's (22023) nor than the plan's api_key_max_days allow (53400).
CREATE OR REPLACE FUNCTION flov7.api_key_expiry(args jsonb, p_uid uuid, p_parent_expires timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_expires timestamptz := flov7.arg_timestamptz(args, 'expires_at');
	v_days int := flov7.arg_int(args, 'expires_in_days', NULL, 1, 36500);
	v_max int;
BEGIN
	IF args ? 'expires_at' AND v_days IS NOT NULL THEN
		RAISE EXCEPTION 'send either "expires_at" or "expires_in_days", not both' USING ERRCODE = '22023',
			COLUMN = 'expires_in_days';
	END IF;
	SELECT q.api_key_max_days INTO v_max
	  FROM flov7.users u JOIN flov7.plan_quotas q ON q.plan = u.subscription_plan WHERE u.id = p_uid;
	IF v_days IS NOT NULL THEN
		v_expires := now() + make_interval(days => v_days);
	ELSIF NOT args ? 'expires_at' THEN
		v_expires := coalesce(p_parent_expires,
							  now() + make_interval(days => least(flov7.api_key_default_days(), v_max)));
	END IF;
	IF v_expires IS NOT NULL AND v_expires <= now() THEN
		RAISE EXCEPTION 'field "expires_at" must be in the future' USING ERRCODE = '22023', COLUMN = 'expires_at';
	END IF;
	IF p_parent_expires IS NOT NULL AND (v_expires IS NULL OR v_expires > p_parent_expires) THEN
		RAISE EXCEPTION 'field "expires_at" must not be after the expiry of the API key making the request'
			USING ERRCODE = '22023',
				  DETAIL = format('That key expires at %s; a key made with it cannot outlive it.', p_parent_expires),
				  HINT = 'Omit expires_at to expire with that key, or create the key with a login.';
	END IF;
	IF v_max IS NOT NULL AND (v_expires IS NULL OR v_expires > now() + make_interval(days => v_max)) THEN
		RAISE EXCEPTION 'your plan allows API keys of at most % days', v_max USING ERRCODE = '53400',
			DETAIL = CASE WHEN v_expires IS NULL THEN 'A key that never expires was asked for.'
						  ELSE format('The key would expire at %s.', v_expires) END,
			HINT = 'Ask for an earlier expires_at, or fewer expires_in_days.';
	END IF;
	RETURN v_expires;
END
$$;

-- POST /auth/api-keys: create a key with a subset of the caller's permissions; the key is shown once.
-- A key made with an API key records it (parent_id), expires no later than it (by default with
-- it), and is revoked with it.  Scopes: flov7.api_key_scopes; expiry: flov7.api_key_expiry.
CREATE OR REPLACE FUNCTION flov7_api.api_key_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('api_keys:write');
	v_name text := btrim(flov7.arg_text(args, 'name', true, 100));
	v_description text := nullif(btrim(flov7.arg_text(args, 'description', false, 500)), '');
	v_perms text[] := flov7.api_key_scopes(args -> 'permissions', flov7.caller_permissions());
	v_parent record;
	v_expires timestamptz;
	v_key text;
	v_id uuid;
BEGIN
	SELECT * INTO v_parent FROM flov7.caller_api_key();
	v_expires := flov7.api_key_expiry(args, v_uid, v_parent.expires_at);
	v_key := flov7.random_token('flv7_', 32);
	INSERT INTO flov7.api_keys (user_id, name, description, key_prefix, key_hash, permissions, expires_at, parent_id)
	VALUES (v_uid, v_name, v_description, left(v_key, 12), flov7.sha256_hex(v_key), v_perms, v_expires, v_parent.id)
	RETURNING id INTO v_id;
	RETURN flov7.api_key_json(v_id) || jsonb_build_object('key', v_key);
END
$$;

-- GET /auth/api-keys: the caller's API keys, newest first; revoked ones only with
-- include_inactive=true (or is_active=false); a page by offset or by cursor (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.api_key_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('api_keys:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_active boolean := flov7.arg_bool(args, 'is_active');
	v_all boolean := flov7.arg_bool(args, 'include_inactive', false);
	v_after jsonb := flov7.arg_cursor(args, 'api_keys', 'created_at.desc', '', 2);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	IF v_active IS NULL AND NOT v_all THEN
		v_active := true;
	END IF;
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'active', v_active, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.api_key_json(x.id))
									   ORDER BY x.created_at DESC, x.id DESC), '[]')
				 FROM (SELECT k.id, k.created_at FROM $q$ || flov7.list_from('api_keys') || $q$
						  AND (($1->'after') IS NULL
							   OR (k.created_at, k.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
						ORDER BY k.created_at DESC, k.id DESC
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('api_keys', 'created_at.desc', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- ======== issue 9, profile stats, No fields to update, integrations' credentials and user_id, notifications' user_id, unread_only, unread_count (sql/parts/50_users_api.sql) ========
-- The counts of a user's workflows, executions and integrations, as the original platform's
-- profile showed them (the totals of GET /users/stats).
CREATE OR REPLACE FUNCTION flov7.user_counts(p_uid uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT jsonb_build_object(
		'workflows_count', (SELECT count(*) FROM flov7.workflows w WHERE w.user_id = p_uid),
		'executions_count', (SELECT count(*) FROM flov7.workflow_executions e WHERE e.user_id = p_uid),
		'integrations_count', (SELECT count(*) FROM flov7.user_integrations i WHERE i.user_id = p_uid))
$$;

-- GET /users/profile: the caller's profile (written out as in auth_me, for the same reason),
-- with "stats" (flov7.user_counts).
CREATE OR REPLACE FUNCTION flov7_api.users_profile_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('profile:read');
	v_result jsonb;
BEGIN
	SELECT flov7.user_json(u) INTO v_result FROM flov7.users u WHERE u.id = v_uid;
	IF v_result IS NULL THEN
		RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN v_result || jsonb_build_object('stats', flov7.user_counts(v_uid));
END
$$;

-- PUT /users/profile: change full_name and avatar_url; the password with current_password + new_password.
-- None of these: 400, "No fields to update".
CREATE OR REPLACE FUNCTION flov7_api.users_profile_update(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('profile:write');
	v_full_name text := flov7.arg_text(args, 'full_name', false, 200);
	v_avatar text := flov7.arg_text(args, 'avatar_url', false, 2048);
	v_new_password text := flov7.arg_text(args, 'new_password', false, 1000);
	v_result jsonb;
BEGIN
	IF NOT args ?| ARRAY['full_name', 'avatar_url', 'new_password'] THEN
		RAISE EXCEPTION 'No fields to update' USING ERRCODE = '22023',
			HINT = 'Send full_name, avatar_url, or current_password with new_password.';
	END IF;
	IF v_avatar IS NOT NULL AND v_avatar <> '' AND v_avatar !~ '^https?://[^[:space:]]+$' THEN
		RAISE EXCEPTION 'field "avatar_url" must be an http(s) URL' USING ERRCODE = '22023';
	END IF;
	IF args ? 'full_name' OR args ? 'avatar_url' THEN
		UPDATE flov7.users u
		   SET full_name = CASE WHEN args ? 'full_name' THEN nullif(btrim(v_full_name), '') ELSE u.full_name END,
			   avatar_url = CASE WHEN args ? 'avatar_url' THEN nullif(v_avatar, '') ELSE u.avatar_url END
		 WHERE u.id = v_uid;
	END IF;
	IF v_new_password IS NOT NULL THEN
		PERFORM flov7.change_password(flov7.arg_text(args, 'current_password', false, 1000), v_new_password);
	END IF;
	SELECT flov7.user_json(u) INTO v_result FROM flov7.users u WHERE u.id = v_uid;
	IF v_result IS NULL THEN
		RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN v_result;
END
$$;

-- The public JSON shape of an integration (never its credentials: "credentials" only says that
-- they are set, which they always are, as the original platform said it).
CREATE OR REPLACE FUNCTION flov7.integration_json(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', i.id, 'user_id', i.user_id, 'service_name', i.service_name,
		'service_type', i.service_type, 'credentials', jsonb_build_object('configured', true),
		'is_active', i.is_active, 'last_used_at', i.last_used_at, 'usage_count', i.usage_count,
		'created_at', i.created_at, 'updated_at', i.updated_at)
	  FROM flov7.user_integrations i WHERE i.id = p_id
$$;

-- GET /users/integrations: the caller's integrations, newest first, filtered by service_type /
-- is_active (inactive ones only with include_inactive=true or is_active=false); a page by
-- offset or by cursor (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.integration_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('integrations:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_type text := flov7.arg_enum(args, 'service_type', ARRAY['api_key', 'oauth', 'webhook', 'database'], false);
	v_active boolean := flov7.arg_bool(args, 'is_active');
	v_all boolean := flov7.arg_bool(args, 'include_inactive', false);
	v_after jsonb := flov7.arg_cursor(args, 'integrations', 'created_at.desc', '', 2);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	IF v_active IS NULL AND NOT v_all THEN
		v_active := true;
	END IF;
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'type', v_type, 'active', v_active, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.integration_json(x.id))
									   ORDER BY x.created_at DESC, x.id DESC), '[]')
				 FROM (SELECT i.id, i.created_at FROM $q$ || flov7.list_from('integrations') || $q$
						  AND (($1->'after') IS NULL
							   OR (i.created_at, i.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
						ORDER BY i.created_at DESC, i.id DESC
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('integrations', 'created_at.desc', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- PUT /users/integrations/{id}: change service_name, service_type, is_active and/or credentials
-- (none of them: 400, "No fields to update").
CREATE OR REPLACE FUNCTION flov7_api.integration_update(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('integrations:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_name text := btrim(flov7.arg_text(args, 'service_name', false, 100));
	v_type text := flov7.arg_enum(args, 'service_type', ARRAY['api_key', 'oauth', 'webhook', 'database'], false);
	v_active boolean := flov7.arg_bool(args, 'is_active', NULL, true);
	v_credentials jsonb := flov7.arg_object(args, 'credentials');
BEGIN
	IF NOT args ?| ARRAY['service_name', 'service_type', 'is_active', 'credentials'] THEN
		RAISE EXCEPTION 'No fields to update' USING ERRCODE = '22023',
			HINT = 'Send service_name, service_type, is_active or credentials.';
	END IF;
	IF v_name = '' THEN
		RAISE EXCEPTION 'field "service_name" must not be empty' USING ERRCODE = '22023';
	END IF;
	IF v_name IS NOT NULL AND EXISTS (SELECT 1 FROM flov7.user_integrations i
									   WHERE i.user_id = v_uid AND i.service_name = v_name AND i.id <> v_id) THEN
		RAISE EXCEPTION 'integration "%" already exists', v_name USING ERRCODE = '23505';
	END IF;
	-- Two statements, because reading credentials_encrypted is not granted.
	IF v_credentials IS NULL THEN
		UPDATE flov7.user_integrations i
		   SET service_name = coalesce(v_name, i.service_name), service_type = coalesce(v_type, i.service_type),
			   is_active = coalesce(v_active, i.is_active)
		 WHERE i.id = v_id AND i.user_id = v_uid;
	ELSE
		UPDATE flov7.user_integrations i
		   SET service_name = coalesce(v_name, i.service_name), service_type = coalesce(v_type, i.service_type),
			   is_active = coalesce(v_active, i.is_active), credentials_encrypted = flov7.credentials_encrypt(v_credentials)
		 WHERE i.id = v_id AND i.user_id = v_uid;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'integration not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.integration_json(v_id);
END
$$;

-- The public JSON shape of a notification.
CREATE OR REPLACE FUNCTION flov7.notification_json(n flov7.notifications) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('id', n.id, 'user_id', n.user_id, 'type', n.type, 'title', n.title, 'message', n.message,
		'data', n.data, 'is_read', n.is_read, 'read_at', n.read_at, 'created_at', n.created_at)
$$;

-- GET /users/notifications: the caller's notifications, newest first, filtered by is_read
-- (unread_only=true: is_read=false, the original platform's name) / type; a page by offset or
-- by cursor (22_lists.sql); "unread_count" counts the caller's unread ones as "total" counts
-- (flov7.list_total: exact up to 1000 or when asked, else estimated).
CREATE OR REPLACE FUNCTION flov7_api.notification_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('notifications:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_read boolean := flov7.arg_bool(args, 'is_read');
	v_unread_only boolean := flov7.arg_bool(args, 'unread_only', false);
	v_type text := flov7.arg_text(args, 'type', false, 50);
	v_after jsonb := flov7.arg_cursor(args, 'notifications', 'created_at.desc', '', 2);
	v_pref text := flov7.list_count_pref(args);
	v_f jsonb;
	v_rows jsonb;
	v_unread jsonb;
BEGIN
	IF v_unread_only THEN
		IF v_read THEN
			RAISE EXCEPTION 'fields "unread_only" and "is_read" disagree' USING ERRCODE = '22023',
				HINT = 'unread_only=true is is_read=false: send one of them.';
		END IF;
		v_read := false;
	END IF;
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'read', v_read, 'type', v_type, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.notification_json(x))
									   ORDER BY x.created_at DESC, x.id DESC), '[]')
				 FROM (SELECT n.* FROM $q$ || flov7.list_from('notifications') || $q$
						  AND (($1->'after') IS NULL
							   OR (n.created_at, n.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
						ORDER BY n.created_at DESC, n.id DESC
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	v_unread := flov7.list_total('notifications', jsonb_build_object('uid', v_uid, 'read', false), v_pref);
	RETURN flov7.list_answer('notifications', 'created_at.desc', '', v_rows, v_f, v_pref)
		|| jsonb_build_object('unread_count', v_unread -> 'total', 'unread_count_is_estimate', v_unread -> 'estimate');
END
$$;

-- ======== issue 9, skip, is_active as a query parameter (sql/parts/60_admin_api.sql) ========
-- GET /users/admin/users: every user, newest first, filtered by role, is_active and an email/name
-- substring (flov7.admin_user_search); a page by offset or by cursor (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.admin_user_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:users');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_role text := flov7.arg_enum(args, 'role', ARRAY['admin', 'premium', 'user'], false);
	v_active boolean := flov7.arg_bool(args, 'is_active');
	v_search text := nullif(btrim(flov7.arg_text(args, 'search', false, 200)), '');
	v_after jsonb := flov7.arg_cursor(args, 'admin_users', 'created_at.desc', '', 2);
	v_f jsonb;
	v_rows jsonb;
	v_page jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('role', v_role, 'active', v_active, 'pat', flov7.like_pattern(v_search),
		'lim', v_limit, 'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	IF v_search IS NOT NULL THEN
		v_page := flov7.admin_user_search(v_f);
		RETURN flov7.list_answer('admin_users', 'created_at.desc', '', v_page -> 'rows', v_f, flov7.list_count_pref(args),
								 v_page -> 'count');
	END IF;
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.created_at, x.id), flov7.user_json(x))
									   ORDER BY x.created_at DESC, x.id DESC), '[]')
				 FROM (SELECT u.* FROM $q$ || flov7.list_from('admin_users') || $q$
						  AND (($1->'after') IS NULL
							   OR (u.created_at, u.id) < (($1->'after'->>0)::timestamptz, ($1->'after'->>1)::uuid))
						ORDER BY u.created_at DESC, u.id DESC
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('admin_users', 'created_at.desc', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- PUT /users/admin/users/{id}/status: activate or deactivate a user (not oneself).  is_active
-- comes in the body or, as the original platform's clients send it, as a query parameter
-- (?is_active=false), which is text: so "true"/"false" are taken as well as JSON booleans.
CREATE OR REPLACE FUNCTION flov7_api.admin_user_set_status(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:users');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_active boolean := flov7.arg_bool(args, 'is_active');
	v_row flov7.users;
BEGIN
	IF v_active IS NULL THEN
		RAISE EXCEPTION 'missing required field "is_active"' USING ERRCODE = '22023', COLUMN = 'is_active';
	END IF;
	IF v_id = v_uid THEN
		RAISE EXCEPTION 'admins cannot change their own status' USING ERRCODE = '22023',
			HINT = 'Ask another admin.';
	END IF;
	UPDATE flov7.users u SET is_active = v_active WHERE u.id = v_id RETURNING * INTO v_row;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.user_json(v_row);
END
$$;

-- ======== issue 9, skip, No fields to update (sql/parts/65_workflows_api.sql) ========
-- GET /primitives: the node types, filtered by type and category, in the order of the five
-- types, then by subtype; a page by offset or by cursor (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.primitive_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_type text := flov7.arg_enum(args, 'type', ARRAY['trigger', 'action', 'connection', 'condition', 'data'], false);
	v_category text := flov7.arg_text(args, 'category', false, 50);
	v_after jsonb := flov7.arg_cursor(args, 'primitives', 'type.asc', '', 2);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('type', v_type, 'category', v_category, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.type_pos, (x.p).subtype),
														 flov7.primitive_to_json(x.p)) ORDER BY x.type_pos, (x.p).subtype), '[]')
				 FROM (SELECT p, array_position('{trigger,action,connection,condition,data}'::text[], p.type) AS type_pos
						 FROM $q$ || flov7.list_from('primitives') || $q$
						  AND (($1->'after') IS NULL
							   OR (array_position('{trigger,action,connection,condition,data}'::text[], p.type), p.subtype)
								  > (($1->'after'->>0)::int, ($1->'after'->>1)))
						ORDER BY 2, p.subtype
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('primitives', 'type.asc', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- GET /workflows: the caller's workflows, filtered by status, tag and search (trigram indexes),
-- sorted by sort_by and sort_order, then by id; a page by offset or by cursor (22_lists.sql),
-- a cursor being good for the sort it was made for only.  Workflows without a run come last
-- when sorted by last_executed_at, either way.
CREATE OR REPLACE FUNCTION flov7_api.workflow_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_status text := flov7.arg_enum(args, 'status', ARRAY['draft', 'active', 'inactive', 'archived'], false);
	v_tag text := flov7.arg_text(args, 'tag', false, 50);
	v_search text := flov7.arg_text(args, 'search', false, 200);
	v_sort text := flov7.arg_enum(args, 'sort_by', ARRAY['created_at', 'updated_at', 'name', 'last_executed_at'],
								  false, 'created_at');
	v_asc boolean := flov7.arg_enum(args, 'sort_order', ARRAY['asc', 'desc'], false, 'desc') = 'asc';
	v_order text := v_sort || CASE WHEN v_asc THEN '.asc' ELSE '.desc' END;
	v_after jsonb := flov7.arg_cursor(args, 'workflows', v_order, '', 2);
	v_key text;
	v_by text;
	v_keyset text;
	v_f jsonb;
	v_rows jsonb;
BEGIN
	-- Fixed fragments, chosen by the (checked) sort; the cursor's values are in $1.
	v_key := CASE v_sort WHEN 'name' THEN 'lower(w.name)' ELSE 'w.' || v_sort END;
	v_by := v_key || CASE WHEN v_asc THEN ' ASC' ELSE ' DESC' END
			|| CASE WHEN v_sort = 'last_executed_at' THEN ' NULLS LAST' ELSE '' END
			|| ', w.id' || CASE WHEN v_asc THEN ' ASC' ELSE ' DESC' END;
	v_keyset := CASE
		WHEN v_sort = 'last_executed_at' THEN format(
			$q$CASE WHEN ($1->'after'->>0) IS NULL THEN w.last_executed_at IS NULL AND w.id %1$s ($1->'after'->>1)::uuid
				ELSE w.last_executed_at %1$s ($1->'after'->>0)::timestamptz OR w.last_executed_at IS NULL
					 OR (w.last_executed_at = ($1->'after'->>0)::timestamptz AND w.id %1$s ($1->'after'->>1)::uuid) END$q$,
			CASE WHEN v_asc THEN '>' ELSE '<' END)
		ELSE format($q$(%s, w.id) %s (($1->'after'->>0)::%s, ($1->'after'->>1)::uuid)$q$,
					v_key, CASE WHEN v_asc THEN '>' ELSE '<' END, CASE WHEN v_sort = 'name' THEN 'text' ELSE 'timestamptz' END)
		END;
	v_f := jsonb_strip_nulls(jsonb_build_object('uid', v_uid, 'status', v_status, 'tag', v_tag,
		'pat', flov7.like_pattern(v_search), 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE format($q$SELECT coalesce(jsonb_agg(jsonb_build_array(x.k, flov7.workflow_to_json(x.wf)) ORDER BY x.ord), '[]')
						FROM (SELECT w AS wf, jsonb_build_array(%1$s, w.id) AS k, row_number() OVER (ORDER BY %2$s) AS ord
								FROM %3$s
								 AND (($1->'after') IS NULL OR %4$s)
							   ORDER BY %2$s
							   LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$,
				   v_key, v_by, flov7.list_from('workflows'), v_keyset)
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('workflows', v_order, '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- PUT /workflows/{id}: change name, description, workflow_json, tags, status, is_template.
-- Every change bumps version; a "version" (or If-Match) that is not current is refused (PT409);
-- none of those fields: 400, "No fields to update".
CREATE OR REPLACE FUNCTION flov7_api.workflow_update(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_expected int := flov7.expected_version(args);
	v_name text := btrim(flov7.arg_text(args, 'name', false, 200));
	v_description text := flov7.arg_text(args, 'description', false, 5000);
	v_tags text[] := flov7.arg_tags(args);
	v_status text := flov7.arg_enum(args, 'status', ARRAY['draft', 'active', 'inactive', 'archived'], false);
	v_is_template boolean := flov7.arg_bool(args, 'is_template', NULL, true);
	v_row flov7.workflows;
	v_def jsonb;
	v_check jsonb;
BEGIN
	IF NOT args ?| ARRAY['name', 'description', 'workflow_json', 'tags', 'status', 'is_template'] THEN
		RAISE EXCEPTION 'No fields to update' USING ERRCODE = '22023',
			HINT = 'Send name, description, workflow_json, tags, status or is_template.';
	END IF;
	IF v_name = '' OR (args ? 'name' AND v_name IS NULL) THEN
		RAISE EXCEPTION 'field "name" must not be empty' USING ERRCODE = '22023';
	END IF;
	SELECT * INTO v_row FROM flov7.workflows w WHERE w.id = v_id AND w.user_id = v_uid FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	PERFORM flov7.check_version(v_expected, v_row.version);

	-- A new definition must be one; a stored one that is not (written before this API) only
	-- keeps the workflow a draft until it is replaced.
	IF args ? 'workflow_json' THEN
		v_def := args -> 'workflow_json';
		v_check := flov7.workflow_checked(v_def);
	ELSE
		v_def := v_row.workflow_json;
		v_check := flov7.check_workflow(v_def);
	END IF;
	UPDATE flov7.workflows w
	   SET name = coalesce(v_name, w.name),
		   description = CASE WHEN args ? 'description' THEN v_description ELSE w.description END,
		   workflow_json = v_def,
		   tags = coalesce(v_tags, w.tags),
		   is_template = coalesce(v_is_template, w.is_template),
		   status = flov7.workflow_status(v_check, v_status, w.status),
		   primitives_count = (v_check ->> 'primitives_count')::int,
		   estimated_cost = (v_check ->> 'estimated_cost')::numeric,
		   version = w.version + 1
	 WHERE w.id = v_id AND w.user_id = v_uid
	RETURNING * INTO v_row;
	RETURN flov7.workflow_to_json(v_row) || jsonb_build_object('validation', flov7.validation_json(v_check));
END
$$;

-- GET /workflows/templates: templates, filtered by category, difficulty, is_featured and search
-- (trigram indexes), featured first, then by name and id; a page by offset or by cursor
-- (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.template_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_offset(args);
	v_category text := flov7.arg_text(args, 'category', false, 50);
	v_difficulty text := flov7.arg_enum(args, 'difficulty', ARRAY['beginner', 'intermediate', 'advanced'], false);
	v_featured boolean := flov7.arg_bool(args, 'is_featured');
	v_pattern text := flov7.like_pattern(flov7.arg_text(args, 'search', false, 200));
	v_after jsonb := flov7.arg_cursor(args, 'templates', 'featured.name', '', 3);
	v_f jsonb;
	v_rows jsonb;
BEGIN
	v_f := jsonb_strip_nulls(jsonb_build_object('category', v_category, 'difficulty', v_difficulty,
		'featured', v_featured, 'pat', v_pattern, 'lim', v_limit,
		'off', CASE WHEN v_after IS NULL THEN v_offset END, 'after', v_after));
	EXECUTE $q$SELECT coalesce(jsonb_agg(jsonb_build_array(jsonb_build_array(x.is_featured, lower(x.name), x.id),
														 flov7.template_to_json(x))
									   ORDER BY x.is_featured DESC, lower(x.name), x.id), '[]')
				 FROM (SELECT t.* FROM $q$ || flov7.list_from('templates') || $q$
						  AND (($1->'after') IS NULL
							   OR t.is_featured < ($1->'after'->>0)::boolean
							   OR (t.is_featured = ($1->'after'->>0)::boolean
								   AND (lower(t.name), t.id) > (($1->'after'->>1), ($1->'after'->>2)::uuid)))
						ORDER BY t.is_featured DESC, lower(t.name), t.id
						LIMIT ($1->>'lim')::int + 1 OFFSET coalesce(($1->>'off')::int, 0)) x$q$
	   INTO v_rows USING v_f;
	RETURN flov7.list_answer('templates', 'featured.name', '', v_rows, v_f, flov7.list_count_pref(args));
END
$$;

-- ======== issue 9, skip (sql/parts/67_executions_api.sql) ========
-- GET /workflows/{id}/executions: the executions of one of the caller's workflows, newest
-- first; filters status, created_after, created_before; a page by offset or by cursor
-- (22_lists.sql), which costs the same on any page.  "before" is the cursor's older name, and
-- also takes an execution id (the page after that execution).
CREATE OR REPLACE FUNCTION flov7_api.execution_list(args jsonb) RETURNS jsonb
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

-- GET /workflows/executions/{id}/steps: the step log of one of the caller's executions, the
-- latest attempt of each step, by node id and iteration (the order of the steps' primary key,
-- so any page is a range of it); filters state, node_id; a page by offset or by cursor
-- (22_lists.sql).
CREATE OR REPLACE FUNCTION flov7_api.execution_step_list(args jsonb) RETURNS jsonb
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

-- ======== issue 9, skip, has_more (sql/parts/79_realtime_api.sql) ========
-- GET /realtime/admin/connections: every open stream (admin), newest first; limit/offset (or skip),
-- filters user_id and topic; with counts by topic and by instance.
CREATE OR REPLACE FUNCTION flov7_api.realtime_admin_connections(args jsonb) RETURNS jsonb
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

-- ======== issue 9, the API's root and health (sql/parts/63_service_api.sql) ========
-- GET / and GET /api/v1: the API's name, version and where to read more.  flov7 serves no HTML
-- documentation: the OpenAPI document is the documentation (load it into any OpenAPI viewer).
CREATE FUNCTION flov7_api.api_root(args jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT jsonb_build_object(
		'name', 'flov7',
		'message', 'flov7 API',
		'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'flov7'),
		'api', '/api/v1',
		'openapi_url', '/openapi.json',
		'docs_url', '/openapi.json',
		'health_url', '/health',
		'status', 'running')
$$;

-- GET /api/v1/{auth,users,workflows,realtime}/health: the service is up when the database
-- answers for it.  The service is the route's (request.path), or "service" from psql.
CREATE FUNCTION flov7_api.service_health(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_service text := coalesce(flov7.arg_text(args, 'service', false, 50),
							   (regexp_match(coalesce(current_setting('request.path', true), ''),
											 '^/api/v1/([a-z]+)/health/?$'))[1]);
BEGIN
	IF v_service IS NULL OR v_service NOT IN ('auth', 'users', 'workflows', 'realtime') THEN
		RAISE EXCEPTION 'no such service "%"', coalesce(v_service, '') USING ERRCODE = 'P0002',
			HINT = 'Services: auth, users, workflows, realtime.';
	END IF;
	RETURN jsonb_build_object('status', 'healthy', 'service', v_service,
		'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'flov7'),
		'timestamp', now());
END
$$;

-- GET /api/v1/health/database: the database is reachable (this answer comes from it) and how
-- long the request took inside it, from its transaction's start (statement_timestamp of the
-- first statement of frontd's pipeline) to now, in milliseconds.
CREATE FUNCTION flov7_api.health_database(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT jsonb_build_object('status', 'healthy', 'database', jsonb_build_object(
		'status', 'connected', 'reachable', true,
		'latency_ms', round((extract(epoch FROM clock_timestamp() - now()) * 1000)::numeric, 3)),
		'timestamp', now())
$$;

-- ======== issue 9, the API's root and health (sql/parts/71_service_routes.sql) ========
INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('GET', '/', 'flov7_api.api_root', 200, 'The API''s name, version and links', 'service', true),
	('GET', '/api/v1', 'flov7_api.api_root', 200, 'The API''s name, version and links', 'service', true),
	('GET', '/api/v1/auth/health', 'flov7_api.service_health', 200, 'Health of the auth service', 'service', true),
	('GET', '/api/v1/users/health', 'flov7_api.service_health', 200, 'Health of the users service', 'service', true),
	('GET', '/api/v1/workflows/health', 'flov7_api.service_health', 200, 'Health of the workflows service', 'service', true),
	('GET', '/api/v1/realtime/health', 'flov7_api.service_health', 200, 'Health of the realtime service', 'service', true),
	('GET', '/api/v1/health/database', 'flov7_api.health_database', 200, 'Database reachability and latency', 'service', true);

-- ======== issue 9, grants (sql/parts/90_compat_grants.sql) ========
REVOKE ALL ON FUNCTION
	flov7_api.api_root(jsonb), flov7_api.service_health(jsonb), flov7_api.health_database(jsonb),
	flov7.arg_offset(jsonb), flov7.api_key_scopes(jsonb, text[]), flov7.api_key_default_days(),
	flov7.api_key_expiry(jsonb, uuid, timestamptz), flov7.user_counts(uuid)
	FROM PUBLIC;
-- Anyone may ask what the API is and whether it is up.
GRANT EXECUTE ON FUNCTION
	flov7_api.api_root(jsonb), flov7_api.service_health(jsonb), flov7_api.health_database(jsonb)
	TO flov7_anon, flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION flov7.arg_text(jsonb, text, boolean, int) TO flov7_anon;

-- Page arguments, API-key scopes and expiry, profile counts.
GRANT EXECUTE ON FUNCTION
	flov7.arg_offset(jsonb), flov7.api_key_scopes(jsonb, text[]), flov7.api_key_default_days(),
	flov7.api_key_expiry(jsonb, uuid, timestamptz), flov7.user_counts(uuid)
	TO flov7_user, flov7_admin;
GRANT SELECT (description), INSERT (description) ON flov7.api_keys TO flov7_user, flov7_admin;

-- ======== issue 9, the original profile: arguments name their field in errors (COLUMN), for 422s (sql/parts/20_helpers.sql) ========
-- Read a text field of an API argument object; 22023 if missing (when required) or not a string.
CREATE OR REPLACE FUNCTION flov7.arg_text(args jsonb, name text, required boolean DEFAULT true, max_length int DEFAULT 1000)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
	t text;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		IF required THEN
			RAISE EXCEPTION 'missing required field "%"', name USING ERRCODE = '22023', COLUMN = name;
		END IF;
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'string' THEN
		RAISE EXCEPTION 'field "%" must be a string', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	t := v #>> '{}';
	IF required AND btrim(t) = '' THEN
		RAISE EXCEPTION 'field "%" must not be empty', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	IF length(t) > max_length THEN
		RAISE EXCEPTION 'field "%" is too long', name
			USING ERRCODE = '22023', COLUMN = name, DETAIL = format('At most %s characters are allowed.', max_length);
	END IF;
	RETURN t;
END
$$;

-- Read an integer field (JSON number or numeric string) within [min_value, max_value], and
-- within int's range when a bound is not given.
CREATE OR REPLACE FUNCTION flov7.arg_int(args jsonb, name text, default_value int, min_value int DEFAULT NULL, max_value int DEFAULT NULL)
RETURNS int LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
	t text;
	n bigint;
BEGIN
	min_value := coalesce(min_value, -2147483648);
	max_value := coalesce(max_value, 2147483647);
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		RETURN default_value;
	END IF;
	IF jsonb_typeof(v) NOT IN ('number', 'string') THEN
		RAISE EXCEPTION 'field "%" must be an integer', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	t := btrim(v #>> '{}');
	IF t !~ '^[-+]?[0-9]{1,12}$' THEN
		RAISE EXCEPTION 'field "%" must be an integer', name
			USING ERRCODE = '22023', COLUMN = name, DETAIL = format('Got %s.', left(v::text, 40));
	END IF;
	n := t::bigint;
	IF n < min_value OR n > max_value THEN
		RAISE EXCEPTION 'field "%" must be %', name,
			CASE WHEN n < min_value AND max_value = 2147483647 THEN format('at least %s', min_value)
				 WHEN n > max_value AND min_value = -2147483648 THEN format('at most %s', max_value)
				 ELSE format('between %s and %s', min_value, max_value) END
			USING ERRCODE = '22023', COLUMN = name;
	END IF;
	RETURN n::int;
END
$$;

-- Read a boolean field: a JSON boolean, or (unless strict, e.g. query parameters) "true"/"false".
CREATE OR REPLACE FUNCTION flov7.arg_bool(args jsonb, name text, default_value boolean DEFAULT NULL, strict boolean DEFAULT false)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		RETURN default_value;
	END IF;
	IF jsonb_typeof(v) = 'boolean' THEN
		RETURN v::boolean;
	END IF;
	IF NOT strict AND jsonb_typeof(v) = 'string' AND lower(v #>> '{}') IN ('true', 'false') THEN
		RETURN lower(v #>> '{}') = 'true';
	END IF;
	RAISE EXCEPTION 'field "%" must be %', name, CASE WHEN strict THEN 'a JSON boolean' ELSE 'true or false' END
		USING ERRCODE = '22023', COLUMN = name;
END
$$;

-- Read a required UUID field; 22P02 naming the field if it is not one.
CREATE OR REPLACE FUNCTION flov7.arg_uuid(args jsonb, name text)
RETURNS uuid LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	t text := flov7.arg_text(args, name);
BEGIN
	IF t !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		RAISE EXCEPTION 'field "%" must be a UUID', name
			USING ERRCODE = '22P02', COLUMN = name, DETAIL = format('Got "%s".', left(t, 40));
	END IF;
	RETURN t::uuid;
END
$$;

-- Read a text field restricted to a set of values.
CREATE OR REPLACE FUNCTION flov7.arg_enum(args jsonb, name text, allowed text[], required boolean DEFAULT true,
							   default_value text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	t text := flov7.arg_text(args, name, required, 100);
BEGIN
	IF t IS NULL THEN
		RETURN default_value;
	END IF;
	IF NOT t = ANY (allowed) THEN
		RAISE EXCEPTION 'field "%" must be one of: %', name, array_to_string(allowed, ', ')
			USING ERRCODE = '22023', COLUMN = name, DETAIL = format('Got "%s".', left(t, 40));
	END IF;
	RETURN t;
END
$$;

-- Read an optional timestamp field (ISO 8601); 22007 naming the field if malformed.
CREATE OR REPLACE FUNCTION flov7.arg_timestamptz(args jsonb, name text)
RETURNS timestamptz LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	t text := flov7.arg_text(args, name, false, 64);
BEGIN
	IF t IS NULL THEN
		RETURN NULL;
	END IF;
	BEGIN
		RETURN t::timestamptz;
	EXCEPTION WHEN data_exception THEN
		RAISE EXCEPTION 'field "%" must be an ISO 8601 timestamp', name
			USING ERRCODE = '22007', COLUMN = name, DETAIL = format('Got "%s".', t);
	END;
END
$$;

-- Read an optional JSON object field (required when asked).
CREATE OR REPLACE FUNCTION flov7.arg_object(args jsonb, name text, required boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		IF required THEN
			RAISE EXCEPTION 'missing required field "%"', name USING ERRCODE = '22023', COLUMN = name;
		END IF;
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'object' THEN
		RAISE EXCEPTION 'field "%" must be a JSON object', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	RETURN v;
END
$$;

-- Read an optional array-of-strings field.
CREATE OR REPLACE FUNCTION flov7.arg_text_array(args jsonb, name text)
RETURNS text[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'array'
	   OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
		RAISE EXCEPTION 'field "%" must be an array of strings', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	RETURN ARRAY(SELECT jsonb_array_elements_text(v));
END
$$;

-- Validate and normalise an e-mail address (trimmed, lower-cased).
CREATE OR REPLACE FUNCTION flov7.normalize_email(email text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	e text := lower(btrim(email));
BEGIN
	IF e IS NULL OR length(e) > 254 OR e !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' THEN
		RAISE EXCEPTION 'invalid email address' USING ERRCODE = '22023', COLUMN = 'email',
			DETAIL = 'An address looks like name@example.com.';
	END IF;
	RETURN e;
END
$$;

-- Refuse passwords bcrypt cannot take whole, or too short to be worth hashing.
CREATE OR REPLACE FUNCTION flov7.check_password(password text, name text DEFAULT 'password') RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	IF password IS NULL OR length(password) < 8 THEN
		RAISE EXCEPTION 'field "%" must be at least 8 characters long', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	IF octet_length(password) > 72 THEN
		RAISE EXCEPTION 'field "%" must be at most 72 bytes long', name
			USING ERRCODE = '22023', COLUMN = name, DETAIL = 'bcrypt ignores anything past 72 bytes.';
	END IF;
END
$$;

-- ======== issue 9, the original profile: its wrappers (sql/parts/92_original_api.sql) ========
CREATE SCHEMA flov7_original;
COMMENT ON SCHEMA flov7_original IS 'the original platform''s response shapes over flov7_api (flov7.set_api_profile)';

-- A write's answer: {"success": true, "<key>": resource, "message": message}.
CREATE FUNCTION flov7_original.written(p_key text, p_resource jsonb, p_message text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('success', true, p_key, p_resource, 'message', p_message)
$$;

-- A flov7 list as {"<key>": items, "total", "skip", "limit", "has_more"}.
CREATE FUNCTION flov7_original.listed(p_key text, p_list jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(p_key, p_list -> 'items', 'total', p_list -> 'total', 'skip', p_list -> 'offset',
							  'limit', p_list -> 'limit', 'has_more', p_list -> 'has_more')
$$;

-- An API key as the original platform showed it: "permissions" as its object {"read",
-- "write", "execute"} (any *:read scope, any *:write scope, workflows:execute), the scopes
-- themselves in "scopes".
CREATE FUNCTION flov7_original.api_key(p_key jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT p_key || jsonb_build_object(
		'scopes', p_key -> 'permissions',
		'permissions', jsonb_build_object(
			'read', EXISTS (SELECT 1 FROM jsonb_array_elements_text(p_key -> 'permissions') p WHERE p LIKE '%:read'),
			'write', EXISTS (SELECT 1 FROM jsonb_array_elements_text(p_key -> 'permissions') p WHERE p LIKE '%:write'),
			'execute', (p_key -> 'permissions') ? 'workflows:execute'))
$$;

-- An error a function answers rather than raises (a refused login commits its audit row and
-- lock: 40_auth_api.sql), as {"detail": message}; any other answer as it is.
CREATE FUNCTION flov7_original.answered(p jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT CASE WHEN coalesce(nullif(current_setting('response.status', true), ''), '200')::int >= 400 AND p ? 'code'
				THEN jsonb_build_object('detail', p -> 'message') ELSE p END
$$;

-- POST /auth/login: the Token, or a refusal as {"detail"}.
CREATE FUNCTION flov7_original.auth_login(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.answered(flov7_api.auth_login(args))
$$;

-- POST /auth/refresh: the Token, or a refusal as {"detail"}.
CREATE FUNCTION flov7_original.auth_refresh(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.answered(flov7_api.auth_refresh(args))
$$;

-- GET /auth/me: {"user", "status": "authenticated"}.
CREATE FUNCTION flov7_original.auth_me(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT jsonb_build_object('user', flov7_api.auth_me(args), 'status', 'authenticated')
$$;

-- POST /auth/api-keys: {"success", "api_key": key with "key" (shown once), "message"}.
CREATE FUNCTION flov7_original.api_key_create(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.written('api_key', flov7_original.api_key(flov7_api.api_key_create(args)),
		'API key created successfully; store it now, it will not be shown again')
$$;

-- GET /auth/api-keys: a bare array of keys (the first 100 unless a limit is sent).
CREATE FUNCTION flov7_original.api_key_list(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT coalesce(jsonb_agg(flov7_original.api_key(k.v) ORDER BY k.n), '[]')
	  FROM jsonb_array_elements(flov7_api.api_key_list(jsonb_build_object('limit', 100) || args) -> 'items')
		   WITH ORDINALITY AS k (v, n)
$$;

-- DELETE /auth/api-keys/{key_id}: {"message"}.
CREATE FUNCTION flov7_original.api_key_revoke(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	PERFORM flov7_api.api_key_revoke(args);
	RETURN jsonb_build_object('message', 'API key revoked successfully');
END
$$;

-- GET /users/profile: {"user", "stats"}.
CREATE FUNCTION flov7_original.users_profile_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v jsonb := flov7_api.users_profile_get(args);
BEGIN
	RETURN jsonb_build_object('user', v - 'stats', 'stats', v -> 'stats');
END
$$;

-- PUT /users/profile: {"success", "user", "message"}.
CREATE FUNCTION flov7_original.users_profile_update(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.written('user', flov7_api.users_profile_update(args), 'Profile updated successfully')
$$;

-- POST /users/integrations: {"success", "integration", "message"}.
CREATE FUNCTION flov7_original.integration_create(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.written('integration', flov7_api.integration_create(args), 'Integration created successfully')
$$;

-- GET /users/integrations: {"integrations", "total", "skip", "limit", "has_more"}.
CREATE FUNCTION flov7_original.integration_list(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.listed('integrations', flov7_api.integration_list(args))
$$;

-- GET /users/integrations/{id}: {"integration"}.
CREATE FUNCTION flov7_original.integration_get(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT jsonb_build_object('integration', flov7_api.integration_get(args))
$$;

-- PUT /users/integrations/{id}: {"success", "integration", "message"}.
CREATE FUNCTION flov7_original.integration_update(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.written('integration', flov7_api.integration_update(args), 'Integration updated successfully')
$$;

-- DELETE /users/integrations/{id}: {"message"}.
CREATE FUNCTION flov7_original.integration_delete(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	PERFORM flov7_api.integration_delete(args);
	RETURN jsonb_build_object('message', 'Integration deleted successfully');
END
$$;

-- GET /users/notifications: {"notifications", "total", "skip", "limit", "has_more", "unread_count"}.
CREATE FUNCTION flov7_original.notification_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v jsonb := flov7_api.notification_list(args);
BEGIN
	RETURN flov7_original.listed('notifications', v) || jsonb_build_object('unread_count', v -> 'unread_count');
END
$$;

-- PUT /users/notifications/{id}/read: {"success", "notification", "message"}.
CREATE FUNCTION flov7_original.notification_read(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.written('notification', flov7_api.notification_read(args), 'Notification marked as read')
$$;

-- PUT /users/notifications/read-all: {"success", "message", "updated"}.
CREATE FUNCTION flov7_original.notification_read_all(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT jsonb_build_object('success', true) || flov7_api.notification_read_all(args)
$$;

-- GET /users/admin/users: {"users", "total", "skip", "limit", "has_more"}.
CREATE FUNCTION flov7_original.admin_user_list(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.listed('users', flov7_api.admin_user_list(args))
$$;

-- PUT /users/admin/users/{id}/role: {"success", "user", "message"}.
CREATE FUNCTION flov7_original.admin_user_set_role(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.written('user', flov7_api.admin_user_set_role(args), 'User role updated successfully')
$$;

-- PUT /users/admin/users/{id}/status: {"success", "user", "message"}.
CREATE FUNCTION flov7_original.admin_user_set_status(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7_original.written('user', flov7_api.admin_user_set_status(args), 'User status updated successfully')
$$;

-- ======== issue 9, the original profile: its routes and the switch (sql/parts/93_original_routes.sql) ========
CREATE TABLE flov7.route_profiles (
	profile		text NOT NULL CHECK (profile IN ('flov7', 'original')),
	method		text NOT NULL,
	path		text NOT NULL,
	function	text NOT NULL CHECK (function ~ '^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$'),
	status		int NOT NULL CHECK (status BETWEEN 200 AND 299),
	error_style	text NOT NULL CHECK (error_style IN ('flov7', 'original')),
	PRIMARY KEY (profile, method, path),
	FOREIGN KEY (method, path) REFERENCES flov7.routes (method, path) ON DELETE CASCADE
);
COMMENT ON TABLE flov7.route_profiles IS
	'API profiles: a route''s function, status and error style in each profile (flov7.set_api_profile)';

-- The original platform's endpoints under /api/v1 that flov7 serves too: in the original
-- profile, the flov7_original wrapper where the shape differs, 200 on create and delete, and
-- errors as {"detail": ...}.  Workflows, templates, executions and realtime keep flov7's
-- shapes for now (README).
INSERT INTO flov7.route_profiles (profile, method, path, function, status, error_style) VALUES
	('original', 'POST', '/api/v1/auth/register', 'flov7_api.auth_register', 200, 'original'),
	('original', 'POST', '/api/v1/auth/login', 'flov7_original.auth_login', 200, 'original'),
	('original', 'POST', '/api/v1/auth/refresh', 'flov7_original.auth_refresh', 200, 'original'),
	('original', 'POST', '/api/v1/auth/logout', 'flov7_api.auth_logout', 200, 'original'),
	('original', 'GET', '/api/v1/auth/me', 'flov7_original.auth_me', 200, 'original'),
	('original', 'GET', '/api/v1/auth/verify', 'flov7_api.auth_verify', 200, 'original'),
	('original', 'POST', '/api/v1/auth/api-keys', 'flov7_original.api_key_create', 200, 'original'),
	('original', 'GET', '/api/v1/auth/api-keys', 'flov7_original.api_key_list', 200, 'original'),
	('original', 'DELETE', '/api/v1/auth/api-keys/{key_id}', 'flov7_original.api_key_revoke', 200, 'original'),
	('original', 'GET', '/api/v1/users/profile', 'flov7_original.users_profile_get', 200, 'original'),
	('original', 'PUT', '/api/v1/users/profile', 'flov7_original.users_profile_update', 200, 'original'),
	('original', 'GET', '/api/v1/users/stats', 'flov7_api.users_stats', 200, 'original'),
	('original', 'POST', '/api/v1/users/integrations', 'flov7_original.integration_create', 200, 'original'),
	('original', 'GET', '/api/v1/users/integrations', 'flov7_original.integration_list', 200, 'original'),
	('original', 'GET', '/api/v1/users/integrations/{id}', 'flov7_original.integration_get', 200, 'original'),
	('original', 'PUT', '/api/v1/users/integrations/{id}', 'flov7_original.integration_update', 200, 'original'),
	('original', 'DELETE', '/api/v1/users/integrations/{id}', 'flov7_original.integration_delete', 200, 'original'),
	('original', 'GET', '/api/v1/users/notifications', 'flov7_original.notification_list', 200, 'original'),
	('original', 'PUT', '/api/v1/users/notifications/{id}/read', 'flov7_original.notification_read', 200, 'original'),
	('original', 'PUT', '/api/v1/users/notifications/read-all', 'flov7_original.notification_read_all', 200, 'original'),
	('original', 'GET', '/api/v1/users/admin/users', 'flov7_original.admin_user_list', 200, 'original'),
	('original', 'PUT', '/api/v1/users/admin/users/{id}/role', 'flov7_original.admin_user_set_role', 200, 'original'),
	('original', 'PUT', '/api/v1/users/admin/users/{id}/status', 'flov7_original.admin_user_set_status', 200, 'original'),
	('original', 'GET', '/api/v1/users/admin/stats', 'flov7_api.admin_stats', 200, 'original');

-- The same routes in the flov7 profile: as they are now.
INSERT INTO flov7.route_profiles (profile, method, path, function, status, error_style)
SELECT 'flov7', r.method, r.path, r.function, r.status, r.error_style
  FROM flov7.routes r JOIN flov7.route_profiles o ON o.profile = 'original' AND (o.method, o.path) = (r.method, r.path);

-- The API profile /api/v1 answers in.
CREATE FUNCTION flov7.api_profile() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7.setting('api_profile')
$$;

-- Answer /api/v1 as flov7 does ('flov7', the default) or as the original platform did
-- ('original'), superuser only: the routes of flov7.route_profiles take that profile's
-- function, status and error style.  Returns the profile.
CREATE FUNCTION flov7.set_api_profile(p_profile text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) THEN
		RAISE EXCEPTION 'only a superuser may change the API profile' USING ERRCODE = '42501';
	END IF;
	IF p_profile IS NULL OR p_profile NOT IN ('flov7', 'original') THEN
		RAISE EXCEPTION 'unknown API profile "%"', p_profile USING ERRCODE = '22023',
			HINT = 'Profiles: flov7, original.';
	END IF;
	UPDATE flov7.routes r
	   SET function = p.function, status = p.status, error_style = p.error_style
	  FROM flov7.route_profiles p
	 WHERE p.profile = p_profile AND (r.method, r.path) = (p.method, p.path)
	   AND (r.function, r.status, r.error_style) IS DISTINCT FROM (p.function, p.status, p.error_style);
	UPDATE flov7.settings SET value = p_profile, updated_at = now() WHERE key = 'api_profile';
	RETURN p_profile;
END
$$;

-- Grants: the wrappers are endpoints like flov7_api's (user and admin; admin's own for the
-- admin routes); the profile functions are the owner's (set_api_profile checks the superuser).
REVOKE ALL ON SCHEMA flov7_original FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA flov7_original FROM PUBLIC;
REVOKE ALL ON FUNCTION flov7.api_profile(), flov7.set_api_profile(text) FROM PUBLIC;
REVOKE ALL ON flov7.route_profiles FROM PUBLIC;
GRANT USAGE ON SCHEMA flov7_original TO flov7_authenticator, flov7_anon, flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION
	flov7_original.written(text, jsonb, text), flov7_original.listed(text, jsonb), flov7_original.api_key(jsonb),
	flov7_original.auth_me(jsonb), flov7_original.api_key_create(jsonb), flov7_original.api_key_list(jsonb),
	flov7_original.api_key_revoke(jsonb), flov7_original.users_profile_get(jsonb),
	flov7_original.users_profile_update(jsonb), flov7_original.integration_create(jsonb),
	flov7_original.integration_list(jsonb), flov7_original.integration_get(jsonb),
	flov7_original.integration_update(jsonb), flov7_original.integration_delete(jsonb),
	flov7_original.notification_list(jsonb), flov7_original.notification_read(jsonb),
	flov7_original.notification_read_all(jsonb)
	TO flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION
	flov7_original.answered(jsonb), flov7_original.auth_login(jsonb), flov7_original.auth_refresh(jsonb)
	TO flov7_anon, flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION
	flov7_original.admin_user_list(jsonb), flov7_original.admin_user_set_role(jsonb),
	flov7_original.admin_user_set_status(jsonb)
	TO flov7_admin;
-- ======== issue 8, the credentials key lives outside the database (sql/parts/05_c_functions.sql) ========
-- Sealing integration credentials with keys kept outside the database (extension/credentials.c,
-- extension/credkeys.c).  Owner only: flov7.credentials_encrypt and flov7.credentials_decrypt
-- (25_secrets.sql) are the doors; no function ever returns a key.
CREATE FUNCTION flov7.credentials_seal(plaintext text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'flov7_credentials_seal' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION flov7.credentials_seal(text) IS
	'seal a plaintext with the current key of flov7.credentials_key_file (or _command): AES-256-GCM';
CREATE FUNCTION flov7.credentials_open(data bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'flov7_credentials_open' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION flov7.credentials_open(bytea) IS
	'open a value sealed by credentials_seal, with whichever configured key sealed it';
CREATE FUNCTION flov7.credentials_key_id(data bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'flov7_credentials_key_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.credentials_key_id(bytea) IS
	'the id of the key that sealed a value; empty for a value sealed before 0.1.3 (the legacy key)';
CREATE FUNCTION flov7.credentials_current_key_id() RETURNS text
	AS 'MODULE_PATHNAME', 'flov7_credentials_current_key_id' LANGUAGE C STABLE;
COMMENT ON FUNCTION flov7.credentials_current_key_id() IS
	'the id of the key that seals now (the first line of the key file or command)';
REVOKE ALL ON FUNCTION flov7.credentials_seal(text), flov7.credentials_open(bytea), flov7.credentials_key_id(bytea),
	flov7.credentials_current_key_id() FROM PUBLIC;

-- ======== issue 8, the credentials key lives outside the database (sql/parts/10_schema.sql) ========
COMMENT ON TABLE flov7.settings IS
	'secrets (jwt_secret; credentials_key only on installs made before 0.1.3, until dropped) and tunables; owner only';
COMMENT ON TABLE flov7.user_integrations IS
	'external services of a user; credentials sealed with a key kept outside the database (flov7.credentials_key_file)';

-- ======== issue 8, the credentials key lives outside the database (sql/parts/25_secrets.sql) ========
-- The legacy key stays in flov7.settings: credentials_decrypt opens what it sealed until
-- flov7.rotate_credentials_key() has re-sealed it and flov7.drop_legacy_credentials_key() deletes it.
-- Seal integration credentials with the current key of flov7.credentials_key_file (or
-- flov7.credentials_key_command): the key lives outside the database (extension/credkeys.c).
CREATE OR REPLACE FUNCTION flov7.credentials_encrypt(credentials jsonb) RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
BEGIN
	IF credentials IS NULL OR jsonb_typeof(credentials) <> 'object' THEN
		RAISE EXCEPTION 'credentials must be a JSON object' USING ERRCODE = '22023';
	END IF;
	RETURN flov7.credentials_seal(credentials::text);
END
$$;

-- Open integration credentials (engine and DBA use only; never granted to API roles).  A value
-- sealed before 0.1.3 has no key id: pgcrypto opens it with the legacy key of flov7.settings,
-- until flov7.rotate_credentials_key() has moved it to the current key.
CREATE OR REPLACE FUNCTION flov7.credentials_decrypt(data bytea) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
DECLARE
	legacy text;
BEGIN
	IF flov7.credentials_key_id(data) <> '' THEN
		RETURN flov7.credentials_open(data)::jsonb;
	END IF;
	SELECT s.value INTO legacy FROM flov7.settings s WHERE s.key = 'credentials_key';
	IF legacy IS NULL THEN
		RAISE EXCEPTION 'credentials sealed with the legacy key, which is no longer in flov7.settings'
			USING ERRCODE = '55000',
			HINT = 'Restore the credentials_key row of flov7.settings from a backup, then run flov7.rotate_credentials_key().';
	END IF;
	RETURN pgp_sym_decrypt(data, legacy, 'cipher-algo=aes256')::jsonb;
END
$$;

-- Finding what a rotation has left: the key id of each value.
CREATE INDEX user_integrations_key_idx ON flov7.user_integrations (flov7.credentials_key_id(credentials_encrypted));

-- Re-seal up to batch integrations still sealed with another key than the current one (an
-- older line of the key file, or the legacy key); return how many remain.  Rows locked by a
-- concurrent change are skipped, so call it until it returns 0.  "Another key" is the two ranges
-- around the current id, which the key-id index serves (it cannot serve <>).
CREATE FUNCTION flov7.rotate_credentials_key(batch int DEFAULT 1000) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	current_id text := flov7.credentials_current_key_id();
	remaining bigint;
BEGIN
	IF batch IS NULL OR batch < 1 OR batch > 100000 THEN
		RAISE EXCEPTION 'batch must be between 1 and 100000' USING ERRCODE = '22023';
	END IF;
	-- The batch is chosen once (a CTE): a subquery rescanned by a join would lock new rows each time.
	WITH picked AS MATERIALIZED (
		SELECT o.id FROM flov7.user_integrations o
		 WHERE flov7.credentials_key_id(o.credentials_encrypted) < current_id
			OR flov7.credentials_key_id(o.credentials_encrypted) > current_id
		 LIMIT batch FOR UPDATE SKIP LOCKED)
	UPDATE flov7.user_integrations i
	   SET credentials_encrypted = flov7.credentials_seal(flov7.credentials_decrypt(i.credentials_encrypted)::text)
	  FROM picked
	 WHERE i.id = picked.id;
	SELECT count(*) INTO remaining FROM flov7.user_integrations o
	 WHERE flov7.credentials_key_id(o.credentials_encrypted) < current_id
		OR flov7.credentials_key_id(o.credentials_encrypted) > current_id;
	RETURN remaining;
END
$$;

-- Delete the legacy key of installs made before 0.1.3 from flov7.settings, once no credentials
-- are sealed with it; true if there was one.
CREATE FUNCTION flov7.drop_legacy_credentials_key() RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	left_over bigint;
BEGIN
	SELECT count(*) INTO left_over FROM flov7.user_integrations i
	 WHERE flov7.credentials_key_id(i.credentials_encrypted) = '';
	IF left_over > 0 THEN
		RAISE EXCEPTION '% integrations are still sealed with the legacy key', left_over USING ERRCODE = '55000',
			HINT = 'Run SELECT flov7.rotate_credentials_key(1000) until it returns 0.';
	END IF;
	DELETE FROM flov7.settings WHERE key = 'credentials_key';
	RETURN FOUND;
END
$$;

DO $pin$
DECLARE
	crypto_schema name;
	fn text;
BEGIN
	SELECT n.nspname INTO STRICT crypto_schema
	  FROM pg_catalog.pg_extension e
	  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
	 WHERE e.extname = 'pgcrypto';
	FOREACH fn IN ARRAY ARRAY['flov7.credentials_encrypt(jsonb)', 'flov7.credentials_decrypt(bytea)']
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, flov7, %I, pg_temp',
								  fn, crypto_schema);
	END LOOP;
END
$pin$;
REVOKE ALL ON FUNCTION flov7.rotate_credentials_key(int), flov7.drop_legacy_credentials_key() FROM PUBLIC;

-- ======== issue 8, the credentials key lives outside the database (sql/parts/80_grants.sql) ========
-- The key id of sealed credentials is an index expression (25_secrets.sql), computed with the
-- rights of whoever writes an integration.
GRANT EXECUTE ON FUNCTION flov7.credentials_key_id(bytea) TO flov7_user, flov7_admin;

-- ======== issue 6, an execution's cost read in the runner's statement (sql/parts/66_engine.sql) ========
-- execution_cost's cached generic plan read the whole step data table when it had been planned while
-- the table was small; execution_costs is inlined into the statement that needs it instead.
-- The cost of an execution so far: primitives.cost_usd of every step attempt that ran.
-- LANGUAGE sql, one SELECT, no SET clause: the planner inlines it into the statement that calls it
-- in FROM (the runner's end-of-execution UPDATE, planned for its batch), so its step data is read
-- through the primary key whatever the table's size was when a plan was first cached.
CREATE FUNCTION flov7.execution_costs(p_uid uuid, p_exec uuid, p_definition jsonb) RETURNS TABLE (cost numeric)
LANGUAGE sql STABLE AS $$
	SELECT coalesce(sum(p.cost_usd), 0)
	  FROM flov7.execution_step_data d
	  JOIN pg_catalog.jsonb_array_elements(p_definition -> 'nodes') n ON n ->> 'id' = d.node_id
	  JOIN flov7.primitives p ON p.type = n ->> 'type'
		   AND p.subtype = n -> 'data' -> 'config' ->> CASE n ->> 'type' WHEN 'data' THEN 'operation_type'
																		   ELSE (n ->> 'type') || '_type' END
	 WHERE d.user_id = p_uid AND d.execution_id = p_exec
$$;

-- The same, as a value (SQL-side settling).
CREATE OR REPLACE FUNCTION flov7.execution_cost(p_uid uuid, p_exec uuid, p_definition jsonb) RETURNS numeric
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	RETURN (SELECT c.cost FROM flov7.execution_costs(p_uid, p_exec, p_definition) c);
END
$$;
REVOKE ALL ON FUNCTION flov7.execution_costs(uuid, uuid, jsonb) FROM PUBLIC;

-- ======== issue 6, workers re-analyze the engine's tables while their statistics are far behind (sql/parts/68_worker.sql) ========
-- Re-analyze the engine's tables whose statistics are far behind: a burst of executions grows
-- them from empty to many thousand rows a minute before autovacuum looks, and plans made from
-- near-empty statistics (a sequential scan per step, the whole table as a join's outer side)
-- stay cached until then (extension/plans.c).  Only small statistics are corrected: from
-- 100 000 rows on, autovacuum's thresholds are the right ones.  Returns the tables analyzed.
CREATE FUNCTION flov7.engine_analyze() RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_rel regclass;
	v_n int := 0;
BEGIN
	FOR v_rel IN
		SELECT c.oid::regclass FROM pg_catalog.pg_class c
		 WHERE c.oid IN ('flov7.workflow_executions'::regclass, 'flov7.execution_steps'::regclass,
						 'flov7.execution_step_data'::regclass, 'flov7.events'::regclass)
		   AND c.reltuples < 100000
		   AND pg_catalog.pg_stat_get_mod_since_analyze(c.oid) > greatest(1000, 2 * c.reltuples)
	LOOP
		-- SKIP_LOCKED: another worker analyzing it does it for both
		EXECUTE pg_catalog.format('ANALYZE (SKIP_LOCKED) %s', v_rel);
		v_n := v_n + 1;
	END LOOP;
	RETURN v_n;
END
$$;
REVOKE ALL ON FUNCTION flov7.engine_analyze() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flov7.engine_analyze() TO flov7_worker;
