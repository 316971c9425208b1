-- 60_admin_api.sql: admin endpoints (flov7_admin only) and flov7.create_admin for DBAs.
--
-- The admin functions run with the caller's rights: the admin sees every
-- user through the row level security policies (flov7.caller_is_admin()),
-- never through a superuser.

-- GET /users/admin/users: every user, filtered by role, is_active and an email/name substring.
CREATE FUNCTION flov7_api.admin_user_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:users');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_role text := flov7.arg_enum(args, 'role', ARRAY['admin', 'premium', 'user'], false);
	v_active boolean := flov7.arg_bool(args, 'is_active');
	v_search text := nullif(btrim(flov7.arg_text(args, 'search', false, 200)), '');
	v_pattern text;
	v_items jsonb;
	v_total bigint;
BEGIN
	IF v_search IS NOT NULL THEN
		v_pattern := '%' || replace(replace(replace(v_search, '\', '\\'), '%', '\%'), '_', '\_') || '%';
	END IF;
	SELECT count(*) INTO v_total FROM flov7.users u
	 WHERE (v_role IS NULL OR u.role = v_role) AND (v_active IS NULL OR u.is_active = v_active)
	   AND (v_pattern IS NULL OR u.email ILIKE v_pattern OR u.full_name ILIKE v_pattern);
	SELECT coalesce(jsonb_agg(flov7.user_json(x) ORDER BY x.created_at DESC, x.id), '[]')
	  INTO v_items
	  FROM (SELECT * FROM flov7.users u
			 WHERE (v_role IS NULL OR u.role = v_role) AND (v_active IS NULL OR u.is_active = v_active)
			   AND (v_pattern IS NULL OR u.email ILIKE v_pattern OR u.full_name ILIKE v_pattern)
			 ORDER BY u.created_at DESC, u.id LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset);
END
$$;

-- PUT /users/admin/users/{id}/role: change a user's role (not one's own).
CREATE FUNCTION flov7_api.admin_user_set_role(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:users');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_role text := flov7.arg_enum(args, 'role', ARRAY['admin', 'premium', 'user']);
	v_row flov7.users;
BEGIN
	IF v_id = v_uid THEN
		RAISE EXCEPTION 'admins cannot change their own role' USING ERRCODE = '22023',
			HINT = 'Ask another admin.';
	END IF;
	UPDATE flov7.users u SET role = v_role WHERE u.id = v_id RETURNING * INTO v_row;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.user_json(v_row);
END
$$;

-- PUT /users/admin/users/{id}/status: activate or deactivate a user (not oneself).
CREATE FUNCTION flov7_api.admin_user_set_status(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:users');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_active boolean := flov7.arg_bool(args, 'is_active', NULL, true);
	v_row flov7.users;
BEGIN
	IF v_active IS NULL THEN
		RAISE EXCEPTION 'missing required field "is_active"' USING ERRCODE = '22023';
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

-- GET /users/admin/stats: platform-wide counts.
CREATE FUNCTION flov7_api.admin_stats(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:stats');
BEGIN
	RETURN jsonb_build_object(
		'users', (SELECT jsonb_build_object(
				'total', count(*),
				'active', count(*) FILTER (WHERE u.is_active),
				'inactive', count(*) FILTER (WHERE NOT u.is_active),
				'verified', count(*) FILTER (WHERE u.is_verified),
				'new_last_30_days', count(*) FILTER (WHERE u.created_at >= now() - interval '30 days'),
				'by_role', jsonb_build_object(
					'admin', count(*) FILTER (WHERE u.role = 'admin'),
					'premium', count(*) FILTER (WHERE u.role = 'premium'),
					'user', count(*) FILTER (WHERE u.role = 'user')),
				'by_plan', jsonb_build_object(
					'free', count(*) FILTER (WHERE u.subscription_plan = 'free'),
					'pro', count(*) FILTER (WHERE u.subscription_plan = 'pro'),
					'enterprise', count(*) FILTER (WHERE u.subscription_plan = 'enterprise')))
			FROM flov7.users u),
		'workflows', (SELECT jsonb_build_object(
				'total', count(*),
				'by_status', jsonb_build_object(
					'draft', count(*) FILTER (WHERE w.status = 'draft'),
					'active', count(*) FILTER (WHERE w.status = 'active'),
					'inactive', count(*) FILTER (WHERE w.status = 'inactive'),
					'archived', count(*) FILTER (WHERE w.status = 'archived')))
			FROM flov7.workflows w),
		'executions', (SELECT jsonb_build_object(
				'total', count(*),
				'last_24_hours', count(*) FILTER (WHERE e.created_at >= now() - interval '24 hours'),
				'by_status', jsonb_build_object(
					'pending', count(*) FILTER (WHERE e.status = 'pending'),
					'running', count(*) FILTER (WHERE e.status = 'running'),
					'waiting', count(*) FILTER (WHERE e.status = 'waiting'),
					'completed', count(*) FILTER (WHERE e.status = 'completed'),
					'failed', count(*) FILTER (WHERE e.status = 'failed'),
					'cancelled', count(*) FILTER (WHERE e.status = 'cancelled')),
				'total_cost_usd', coalesce(sum(e.cost_usd), 0))
			FROM flov7.workflow_executions e),
		'integrations', (SELECT jsonb_build_object('total', count(*), 'active', count(*) FILTER (WHERE i.is_active))
			FROM flov7.user_integrations i),
		'api_keys', (SELECT jsonb_build_object('total', count(*), 'active', count(*) FILTER (WHERE k.is_active))
			FROM flov7.api_keys k),
		'notifications', (SELECT jsonb_build_object('total', count(*), 'unread', count(*) FILTER (WHERE NOT n.is_read))
			FROM flov7.notifications n));
END
$$;

-- Create an admin, or promote and reactivate an existing user (superuser only; for DBAs and setup scripts).
CREATE FUNCTION flov7.create_admin(email text, password text, full_name text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_email text := flov7.normalize_email(email);
	v_id uuid;
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) THEN
		RAISE EXCEPTION 'only a superuser may create an admin' USING ERRCODE = '42501';
	END IF;
	IF password IS NOT NULL THEN
		PERFORM flov7.check_password(password);
	END IF;
	SELECT u.id INTO v_id FROM flov7.users u WHERE u.email = v_email FOR UPDATE;
	IF v_id IS NULL THEN
		IF password IS NULL THEN
			RAISE EXCEPTION 'a password is required to create an admin' USING ERRCODE = '22023';
		END IF;
		INSERT INTO flov7.users (email, full_name, role, is_active, is_verified)
		VALUES (v_email, nullif(btrim(create_admin.full_name), ''), 'admin', true, true)
		RETURNING id INTO v_id;
	ELSE
		UPDATE flov7.users u
		   SET role = 'admin', is_active = true,
			   full_name = coalesce(nullif(btrim(create_admin.full_name), ''), u.full_name)
		 WHERE u.id = v_id;
	END IF;
	IF password IS NOT NULL THEN
		INSERT INTO flov7.user_passwords (user_id, password_hash)
		VALUES (v_id, flov7.password_hash(password))
		ON CONFLICT (user_id) DO UPDATE SET password_hash = EXCLUDED.password_hash;
	END IF;
	RETURN v_id;
END
$$;
