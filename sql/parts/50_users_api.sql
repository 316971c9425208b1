-- 50_users_api.sql: the /users endpoints: profile, statistics, integrations, notifications.
--
-- These run with the caller's rights (SECURITY INVOKER): the grants and the
-- row level security policies decide what they can touch, and every query
-- is also scoped to the caller explicitly, so that an admin's "my
-- integrations" stay theirs.

-- Change the caller's password after checking the current one; other sessions are revoked.
-- A wrong current password is bad input (22023, 400), not an authentication failure: the
-- caller's token is fine, and a 401 would tell an OAuth client to throw it away.
CREATE FUNCTION flov7.change_password(current_password text, new_password text) RETURNS void
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

-- The counts of a user's workflows, executions and integrations, as the original platform's
-- profile showed them (the totals of GET /users/stats).
CREATE FUNCTION flov7.user_counts(p_uid uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT jsonb_build_object(
		'workflows_count', (SELECT count(*) FROM flov7.workflows w WHERE w.user_id = p_uid),
		'executions_count', (SELECT count(*) FROM flov7.workflow_executions e WHERE e.user_id = p_uid),
		'integrations_count', (SELECT count(*) FROM flov7.user_integrations i WHERE i.user_id = p_uid))
$$;

-- GET /users/profile: the caller's profile (written out as in auth_me, for the same reason),
-- with "stats" (flov7.user_counts).
CREATE FUNCTION flov7_api.users_profile_get(args jsonb) RETURNS jsonb
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
CREATE FUNCTION flov7_api.users_profile_update(args jsonb) RETURNS jsonb
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

-- GET /users/stats: counts of the caller's workflows, executions, integrations, keys, notifications.
CREATE FUNCTION flov7_api.users_stats(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('profile:read');
BEGIN
	RETURN jsonb_build_object(
		'workflows', (SELECT jsonb_build_object(
				'total', count(*),
				'by_status', jsonb_build_object(
					'draft', count(*) FILTER (WHERE w.status = 'draft'),
					'active', count(*) FILTER (WHERE w.status = 'active'),
					'inactive', count(*) FILTER (WHERE w.status = 'inactive'),
					'archived', count(*) FILTER (WHERE w.status = 'archived')))
			FROM flov7.workflows w WHERE w.user_id = v_uid),
		'executions', (SELECT jsonb_build_object(
				'total', count(*),
				'by_status', jsonb_build_object(
					'pending', count(*) FILTER (WHERE e.status = 'pending'),
					'running', count(*) FILTER (WHERE e.status = 'running'),
					'waiting', count(*) FILTER (WHERE e.status = 'waiting'),
					'completed', count(*) FILTER (WHERE e.status = 'completed'),
					'failed', count(*) FILTER (WHERE e.status = 'failed'),
					'cancelled', count(*) FILTER (WHERE e.status = 'cancelled')),
				'total_cost_usd', coalesce(sum(e.cost_usd), 0))
			FROM flov7.workflow_executions e WHERE e.user_id = v_uid),
		'integrations', (SELECT jsonb_build_object('total', count(*), 'active', count(*) FILTER (WHERE i.is_active))
			FROM flov7.user_integrations i WHERE i.user_id = v_uid),
		'api_keys', (SELECT jsonb_build_object('total', count(*), 'active', count(*) FILTER (WHERE k.is_active))
			FROM flov7.api_keys k WHERE k.user_id = v_uid),
		'notifications', (SELECT jsonb_build_object('total', count(*), 'unread', count(*) FILTER (WHERE NOT n.is_read))
			FROM flov7.notifications n WHERE n.user_id = v_uid));
END
$$;

-- The public JSON shape of an integration (never its credentials: "credentials" only says that
-- they are set, which they always are, as the original platform said it).
CREATE FUNCTION flov7.integration_json(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', i.id, 'user_id', i.user_id, 'service_name', i.service_name,
		'service_type', i.service_type, 'credentials', jsonb_build_object('configured', true),
		'is_active', i.is_active, 'last_used_at', i.last_used_at, 'usage_count', i.usage_count,
		'created_at', i.created_at, 'updated_at', i.updated_at)
	  FROM flov7.user_integrations i WHERE i.id = p_id
$$;

-- POST /users/integrations: store an integration, credentials encrypted.
CREATE FUNCTION flov7_api.integration_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('integrations:write');
	v_name text := btrim(flov7.arg_text(args, 'service_name', true, 100));
	v_type text := flov7.arg_enum(args, 'service_type', ARRAY['api_key', 'oauth', 'webhook', 'database']);
	v_credentials jsonb := flov7.arg_object(args, 'credentials', true);
	v_id uuid;
BEGIN
	INSERT INTO flov7.user_integrations (user_id, service_name, service_type, credentials_encrypted)
	VALUES (v_uid, v_name, v_type, flov7.credentials_encrypt(v_credentials))
	ON CONFLICT (user_id, service_name) DO NOTHING
	RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		RAISE EXCEPTION 'integration "%" already exists', v_name USING ERRCODE = '23505',
			HINT = 'Update the existing integration or choose another service_name.';
	END IF;
	RETURN flov7.integration_json(v_id);
END
$$;

-- GET /users/integrations: the caller's integrations, newest first, filtered by service_type /
-- is_active (inactive ones only with include_inactive=true or is_active=false); a page by
-- offset or by cursor (22_lists.sql).
CREATE FUNCTION flov7_api.integration_list(args jsonb) RETURNS jsonb
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

-- GET /users/integrations/{id}: one of the caller's integrations.
CREATE FUNCTION flov7_api.integration_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('integrations:read');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_result jsonb;
BEGIN
	SELECT flov7.integration_json(i.id) INTO v_result
	  FROM flov7.user_integrations i WHERE i.id = v_id AND i.user_id = v_uid;
	IF v_result IS NULL THEN
		RAISE EXCEPTION 'integration not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN v_result;
END
$$;

-- PUT /users/integrations/{id}: change service_name, service_type, is_active and/or credentials
-- (none of them: 400, "No fields to update").
CREATE FUNCTION flov7_api.integration_update(args jsonb) RETURNS jsonb
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

-- DELETE /users/integrations/{id}: delete one of the caller's integrations.
CREATE FUNCTION flov7_api.integration_delete(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('integrations:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
BEGIN
	DELETE FROM flov7.user_integrations i WHERE i.id = v_id AND i.user_id = v_uid;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'integration not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN NULL;
END
$$;

-- The public JSON shape of a notification.
CREATE FUNCTION flov7.notification_json(n flov7.notifications) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('id', n.id, 'user_id', n.user_id, 'type', n.type, 'title', n.title, 'message', n.message,
		'data', n.data, 'is_read', n.is_read, 'read_at', n.read_at, 'created_at', n.created_at)
$$;

-- GET /users/notifications: the caller's notifications, newest first, filtered by is_read
-- (unread_only=true: is_read=false, the original platform's name) / type; a page by offset or
-- by cursor (22_lists.sql); "unread_count" counts the caller's unread ones as "total" counts
-- (flov7.list_total: exact up to 1000 or when asked, else estimated).
CREATE FUNCTION flov7_api.notification_list(args jsonb) RETURNS jsonb
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

-- PUT /users/notifications/{id}/read: mark one of the caller's notifications read.
CREATE FUNCTION flov7_api.notification_read(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('notifications:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_row flov7.notifications;
BEGIN
	UPDATE flov7.notifications n
	   SET is_read = true, read_at = coalesce(n.read_at, now())
	 WHERE n.id = v_id AND n.user_id = v_uid
	RETURNING * INTO v_row;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'notification not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.notification_json(v_row);
END
$$;

-- PUT /users/notifications/read-all: mark all the caller's notifications read.
CREATE FUNCTION flov7_api.notification_read_all(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('notifications:write');
	v_count bigint;
BEGIN
	UPDATE flov7.notifications n SET is_read = true, read_at = now()
	 WHERE n.user_id = v_uid AND NOT n.is_read;
	GET DIAGNOSTICS v_count = ROW_COUNT;
	RETURN jsonb_build_object('message', 'all notifications marked as read', 'updated', v_count);
END
$$;
