-- 40_auth_api.sql: tokens, sessions, and the auth endpoints (register, login,
-- refresh, logout, me, verify, API keys).

-- Sign an access token and store a new refresh token in a session (refresh family).
CREATE FUNCTION flov7.issue_tokens(p_user_id uuid, p_family_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_user flov7.users;
	v_ttl int := flov7.setting('access_token_ttl')::int;
	v_now bigint := floor(extract(epoch FROM clock_timestamp()))::bigint;
	v_family uuid := coalesce(p_family_id, gen_random_uuid());
	v_refresh text := flov7.random_token('flv7r_', 32);
	v_access text;
BEGIN
	SELECT * INTO STRICT v_user FROM flov7.users u WHERE u.id = p_user_id;
	v_access := flov7.jwt_sign(jsonb_build_object(
		'sub', v_user.id,
		'role', CASE v_user.role WHEN 'admin' THEN 'flov7_admin' ELSE 'flov7_user' END,
		'app_role', v_user.role, 'email', v_user.email,
		'jti', gen_random_uuid(), 'sid', v_family,
		'iat', v_now, 'nbf', v_now, 'exp', v_now + v_ttl, 'iss', 'flov7'),
		flov7.setting('jwt_secret'));
	INSERT INTO flov7.refresh_tokens (user_id, family_id, token_hash, expires_at)
	VALUES (v_user.id, v_family, flov7.sha256_hex(v_refresh),
			now() + make_interval(secs => flov7.setting('refresh_token_ttl')::int));
	RETURN jsonb_build_object('access_token', v_access, 'token_type', 'bearer', 'expires_in', v_ttl,
							  'refresh_token', v_refresh, 'user', flov7.user_json(v_user));
END
$$;

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

-- POST /auth/register: create a user (role user, plan free) and log them in.
CREATE FUNCTION flov7_api.auth_register(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_email text := flov7.normalize_email(flov7.arg_text(args, 'email', true, 254));
	v_password text := flov7.arg_text(args, 'password', true, 1000);
	v_full_name text := nullif(btrim(flov7.arg_text(args, 'full_name', false, 200)), '');
	v_hash text;
	v_id uuid;
BEGIN
	PERFORM flov7.check_password(v_password);
	INSERT INTO flov7.users (email, full_name) VALUES (v_email, v_full_name)
	ON CONFLICT (email) DO NOTHING
	RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		RAISE EXCEPTION 'email already registered' USING ERRCODE = '23505',
			HINT = 'Log in, or register with another address.';
	END IF;
	v_hash := flov7.password_hash(v_password);
	INSERT INTO flov7.user_passwords (user_id, password_hash) VALUES (v_id, v_hash);
	RETURN flov7.issue_tokens(v_id);
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
CREATE FUNCTION flov7_api.auth_login(args jsonb) RETURNS jsonb
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
CREATE FUNCTION flov7_api.auth_refresh(args jsonb) RETURNS jsonb
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

-- POST /auth/logout: revoke this access token (jti), its session (sid) and an optional
-- refresh token's session.  An API key has no session to end: 22023, naming how keys are revoked.
CREATE FUNCTION flov7_api.auth_logout(args jsonb) RETURNS jsonb
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

-- The caller's own user record, once authorized for profile:read (GET /auth/me, GET /users/profile).
CREATE FUNCTION flov7.caller_user_json() RETURNS jsonb
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

-- GET /auth/me: the caller's user record.  The body of flov7.caller_user_json(), written out:
-- PL/pgSQL keeps its plans for the session, where a SQL function called in FROM with a SET
-- clause is parsed and planned on every call, and a nested call with its own SET clause costs
-- this short route about a quarter of its time (issue 8).
CREATE FUNCTION flov7_api.auth_me(args jsonb) RETURNS jsonb
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

-- GET /auth/verify: are these credentials valid, and whose are they?
CREATE FUNCTION flov7_api.auth_verify(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_expires timestamptz;
	v_result jsonb;
BEGIN
	IF coalesce(current_setting('request.api_key', true), '') = '' THEN
		v_expires := to_timestamp((current_setting('request.jwt.claims', true)::jsonb ->> 'exp')::double precision);
	END IF;
	SELECT jsonb_build_object('valid', true, 'user_id', u.id, 'email', u.email, 'role', u.role,
							  'expires_at', v_expires)
	  INTO v_result FROM flov7.users u WHERE u.id = v_uid;
	IF v_result IS NULL THEN
		RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN v_result;
END
$$;

-- The public JSON shape of an API key (never its hash).  key_preview is what the original
-- platform showed of a key: its stored prefix, then an ellipsis.
CREATE FUNCTION flov7.api_key_json(p_id uuid) RETURNS jsonb
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
CREATE FUNCTION flov7.api_key_scopes(p jsonb, p_allowed text[]) RETURNS text[]
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
CREATE FUNCTION flov7.api_key_default_days() RETURNS int
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7.setting('api_key_expiry_days')::int
$$;

-- The expiry of a new API key of user p_uid from "expires_at" (an explicit null: never) or
-- "expires_in_days", made with a key expiring at p_parent_expires (NULL: a login or a key that
-- never expires).  Not sent: the parent's expiry, else api_key_expiry_days from now.  Never
-- later than the parent's (22023) nor than the plan's api_key_max_days allow (53400).
CREATE FUNCTION flov7.api_key_expiry(args jsonb, p_uid uuid, p_parent_expires timestamptz) RETURNS timestamptz
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

-- The API key the request is made with (id, expires_at), once the authorizer has accepted it; NULLs for a JWT.
CREATE FUNCTION flov7.caller_api_key(OUT id uuid, OUT expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT k.id, k.expires_at FROM flov7.api_keys k
	 WHERE k.key_hash = flov7.sha256_hex(nullif(current_setting('request.api_key', true), ''))
	   AND k.user_id = flov7.caller_id()
$$;

-- POST /auth/api-keys: create a key with a subset of the caller's permissions; the key is shown once.
-- A key made with an API key records it (parent_id), expires no later than it (by default with
-- it), and is revoked with it.  Scopes: flov7.api_key_scopes; expiry: flov7.api_key_expiry.
CREATE FUNCTION flov7_api.api_key_create(args jsonb) RETURNS jsonb
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
CREATE FUNCTION flov7_api.api_key_list(args jsonb) RETURNS jsonb
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

-- DELETE /auth/api-keys/{key_id}: revoke one of the caller's keys (kept, inactive, for the audit
-- trail) and every key made with it (trigger api_keys_cascade).
CREATE FUNCTION flov7_api.api_key_revoke(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('api_keys:write');
	v_id uuid := flov7.arg_uuid(args, 'key_id');
BEGIN
	UPDATE flov7.api_keys SET is_active = false, revoked_at = now()
	 WHERE id = v_id AND user_id = v_uid AND is_active;
	IF NOT FOUND THEN
		IF NOT EXISTS (SELECT 1 FROM flov7.api_keys k WHERE k.id = v_id AND k.user_id = v_uid) THEN
			RAISE EXCEPTION 'api key not found' USING ERRCODE = 'P0002';
		END IF;
	END IF;
	RETURN NULL;
END
$$;
