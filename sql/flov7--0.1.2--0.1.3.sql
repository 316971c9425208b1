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
