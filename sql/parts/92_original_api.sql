-- 92_original_api.sql: the `original` API profile's endpoints (issue 9): thin wrappers, in
-- their own schema, that call the flov7_api function of the same name and give its answer the
-- original platform's shape (envelopes, named lists with total/skip/limit/has_more, a message
-- for deletes).  They only reshape: every rule (authorization, validation, quotas, what is
-- never returned) is the flov7_api function's.  Their routes: 93_original_routes.sql.

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
