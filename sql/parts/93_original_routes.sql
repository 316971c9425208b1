-- 93_original_routes.sql: API profiles (issue 9).  A profile is a set of route rows: for each
-- route that differs between profiles, the function, success status and error style it has
-- in each.  flov7.set_api_profile() copies one profile's rows onto flov7.routes; the routes
-- trigger tells frontd, which reloads them as after any change of routes.

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
