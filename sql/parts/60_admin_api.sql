-- 60_admin_api.sql: admin endpoints (flov7_admin only) and flov7.create_admin for DBAs.
--
-- The admin functions run with the caller's rights: the admin sees every
-- user through the row level security policies (flov7.caller_is_admin()),
-- never through a superuser.

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
CREATE FUNCTION flov7_api.admin_user_list(args jsonb) RETURNS jsonb
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

-- PUT /users/admin/users/{id}/status: activate or deactivate a user (not oneself).  is_active
-- comes in the body or, as the original platform's clients send it, as a query parameter
-- (?is_active=false), which is text: so "true"/"false" are taken as well as JSON booleans.
CREATE FUNCTION flov7_api.admin_user_set_status(args jsonb) RETURNS jsonb
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
