-- 35_triggers.sql: updated_at, guarded user columns, quotas, audit, cache invalidation.

CREATE TRIGGER users_touch BEFORE UPDATE ON flov7.users
	FOR EACH ROW EXECUTE FUNCTION flov7.touch_updated_at();
CREATE TRIGGER user_passwords_touch BEFORE UPDATE ON flov7.user_passwords
	FOR EACH ROW EXECUTE FUNCTION flov7.touch_updated_at();
-- A run counted on its workflow (execution_count, last_executed_at) is not an edit.
CREATE TRIGGER workflows_touch BEFORE UPDATE ON flov7.workflows
	FOR EACH ROW WHEN (OLD.execution_count = NEW.execution_count)
	EXECUTE FUNCTION flov7.touch_updated_at();
CREATE TRIGGER user_integrations_touch BEFORE UPDATE ON flov7.user_integrations
	FOR EACH ROW EXECUTE FUNCTION flov7.touch_updated_at();
CREATE TRIGGER workflow_templates_touch BEFORE UPDATE ON flov7.workflow_templates
	FOR EACH ROW EXECUTE FUNCTION flov7.touch_updated_at();
CREATE TRIGGER deployments_touch BEFORE UPDATE ON flov7.deployments
	FOR EACH ROW EXECUTE FUNCTION flov7.touch_updated_at();
CREATE TRIGGER plan_quotas_touch BEFORE UPDATE ON flov7.plan_quotas
	FOR EACH ROW EXECUTE FUNCTION flov7.touch_updated_at();

-- Only an admin (or a superuser, e.g. SECURITY DEFINER code) changes who a user is.
CREATE FUNCTION flov7.users_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF (NEW.id, NEW.email, NEW.role, NEW.is_active, NEW.is_verified, NEW.subscription_plan,
		NEW.subscription_expires_at, NEW.created_at, NEW.last_login)
	   IS DISTINCT FROM
	   (OLD.id, OLD.email, OLD.role, OLD.is_active, OLD.is_verified, OLD.subscription_plan,
		OLD.subscription_expires_at, OLD.created_at, OLD.last_login)
	   AND NOT flov7.caller_is_admin()
	   AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'only an admin may change a user''s email, role, status or plan'
			USING ERRCODE = '42501';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER users_guard BEFORE UPDATE ON flov7.users
	FOR EACH ROW EXECUTE FUNCTION flov7.users_guard();

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

-- Refuse an insert that would take the owner past their plan's quota (53400).
CREATE FUNCTION flov7.enforce_quota() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	owner_plan text;
	q flov7.plan_quotas;
	lim int;
	used bigint;
	what text;
	setting text;
BEGIN
	-- Lock the owner so that concurrent inserts count one after the other.
	SELECT u.subscription_plan INTO owner_plan FROM flov7.users u WHERE u.id = NEW.user_id
	   FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RETURN NEW;				-- the foreign key reports it
	END IF;
	SELECT * INTO q FROM flov7.plan_quotas p WHERE p.plan = owner_plan;

	CASE TG_TABLE_NAME
		WHEN 'workflows' THEN
			lim := q.max_workflows;
			what := 'workflows';
			setting := 'max_workflows';
			IF lim IS NOT NULL THEN
				SELECT count(*) INTO used FROM flov7.workflows w WHERE w.user_id = NEW.user_id;
			END IF;
		WHEN 'api_keys' THEN
			lim := q.max_api_keys;
			what := 'active api keys';
			setting := 'max_api_keys';
			IF lim IS NOT NULL THEN
				SELECT count(*) INTO used FROM flov7.api_keys k WHERE k.user_id = NEW.user_id AND k.is_active;
			END IF;
		WHEN 'user_integrations' THEN
			lim := q.max_integrations;
			what := 'integrations';
			setting := 'max_integrations';
			IF lim IS NOT NULL THEN
				SELECT count(*) INTO used FROM flov7.user_integrations i WHERE i.user_id = NEW.user_id;
			END IF;
		WHEN 'workflow_executions' THEN
			lim := q.max_executions_per_day;
			what := 'executions today';
			setting := 'max_executions_per_day';
			IF lim IS NOT NULL THEN
				SELECT count(*) INTO used FROM flov7.workflow_executions e
				 WHERE e.user_id = NEW.user_id AND e.created_at >= date_trunc('day', now());
			END IF;
	END CASE;

	IF lim IS NOT NULL AND used >= lim THEN
		RAISE EXCEPTION 'plan quota exceeded: at most % % on plan "%"', lim, what, owner_plan
			USING ERRCODE = '53400',
				  DETAIL = format('The account already has %s %s; the limit is %s of plan "%s".', used, what, setting, owner_plan),
				  HINT = 'Remove some, or move to a larger subscription plan.';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER workflows_quota BEFORE INSERT ON flov7.workflows
	FOR EACH ROW EXECUTE FUNCTION flov7.enforce_quota();
CREATE TRIGGER api_keys_quota BEFORE INSERT ON flov7.api_keys
	FOR EACH ROW EXECUTE FUNCTION flov7.enforce_quota();
CREATE TRIGGER user_integrations_quota BEFORE INSERT ON flov7.user_integrations
	FOR EACH ROW EXECUTE FUNCTION flov7.enforce_quota();
CREATE TRIGGER workflow_executions_quota BEFORE INSERT ON flov7.workflow_executions
	FOR EACH ROW EXECUTE FUNCTION flov7.enforce_quota();

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

-- The caller for an audit row: NULL rather than an error when credentials went bad mid-request.
CREATE FUNCTION flov7.audit_actor() RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN flov7.caller_id();
EXCEPTION WHEN invalid_authorization_specification THEN
	RETURN NULL;
END
$$;

-- Write an audit_logs row for a change, without secrets, with caller, IP, user agent, request id.
CREATE FUNCTION flov7.audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	hidden CONSTANT text[] := ARRAY['credentials_encrypted', 'key_hash'];
	usage CONSTANT text[] := ARRAY['last_used_at', 'usage_count', 'execution_count', 'last_executed_at'];
	old_data jsonb;
	new_data jsonb;
	rec jsonb;
	act text;
BEGIN
	IF TG_OP <> 'INSERT' THEN
		old_data := to_jsonb(OLD) - hidden;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		new_data := to_jsonb(NEW) - hidden;
	END IF;
	rec := coalesce(new_data, old_data);
	act := CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'DELETE' THEN 'delete' ELSE 'update' END;

	IF TG_TABLE_NAME = 'users' THEN
		-- Of users, only role and status changes are audited.
		IF old_data -> 'role' IS DISTINCT FROM new_data -> 'role' THEN
			act := 'role_change';
		ELSIF old_data -> 'is_active' IS DISTINCT FROM new_data -> 'is_active' THEN
			act := 'status_change';
		ELSE
			RETURN NULL;
		END IF;
		old_data := jsonb_build_object('role', old_data -> 'role', 'is_active', old_data -> 'is_active');
		new_data := jsonb_build_object('role', new_data -> 'role', 'is_active', new_data -> 'is_active');
	ELSIF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'user_integrations' THEN
		-- Credentials are never logged, but that they changed is.
		IF OLD.credentials_encrypted IS DISTINCT FROM NEW.credentials_encrypted THEN
			new_data := new_data || '{"credentials_changed": true}';
		ELSIF (old_data - usage) = (new_data - usage) THEN
			RETURN NULL;
		END IF;
	ELSIF TG_OP = 'UPDATE' AND (old_data - usage) = (new_data - usage) THEN
		RETURN NULL;			-- only usage counters moved
	END IF;

	INSERT INTO flov7.audit_logs (user_id, owner_id, action, table_name, record_id,
								  old_data, new_data, ip_address, user_agent, request_id)
	VALUES (flov7.audit_actor(),
			(CASE WHEN TG_TABLE_NAME = 'users' THEN rec ->> 'id' ELSE rec ->> 'user_id' END)::uuid,
			act, TG_TABLE_NAME, (rec ->> 'id')::uuid, old_data, new_data,
			flov7.request_ip(), flov7.request_header('user-agent'),
			nullif(current_setting('request.id', true), ''));
	RETURN NULL;
END
$$;
CREATE TRIGGER workflows_audit AFTER INSERT OR DELETE ON flov7.workflows
	FOR EACH ROW EXECUTE FUNCTION flov7.audit();
-- A run counted on its workflow is not an edit (as for workflows_touch): no trigger call at all,
-- since converting the row, definition and all, only to find nothing to audit is most of its cost.
CREATE TRIGGER workflows_audit_update AFTER UPDATE ON flov7.workflows
	FOR EACH ROW WHEN (OLD.execution_count = NEW.execution_count)
	EXECUTE FUNCTION flov7.audit();
CREATE TRIGGER user_integrations_audit AFTER INSERT OR UPDATE OR DELETE ON flov7.user_integrations
	FOR EACH ROW EXECUTE FUNCTION flov7.audit();
CREATE TRIGGER api_keys_audit AFTER INSERT OR UPDATE OR DELETE ON flov7.api_keys
	FOR EACH ROW EXECUTE FUNCTION flov7.audit();
CREATE TRIGGER users_audit AFTER UPDATE OF role, is_active ON flov7.users
	FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.is_active IS DISTINCT FROM NEW.is_active)
	EXECUTE FUNCTION flov7.audit();

-- Whatever the authorizer reads changed: drop its per-transaction cache, and after commit
-- every backend's cached callers (extension/authz_cache.c).
CREATE TRIGGER users_authz AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.users
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.authz_invalidate();
CREATE TRIGGER api_keys_authz AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.authz_invalidate();
CREATE TRIGGER revoked_tokens_authz AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.revoked_tokens
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.authz_invalidate();
CREATE TRIGGER refresh_tokens_authz AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.refresh_tokens
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.authz_invalidate();
CREATE TRIGGER role_permissions_authz AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.role_permissions
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.authz_invalidate();
-- Before the first row changes, the transaction stops reading callers cached across
-- transactions (its row triggers, e.g. users_guard and audit, must see its own changes).
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
-- They all fire also under session_replication_role = replica (a logical replication apply,
-- a DBA's bulk fix): a change they miss would leave every backend's cached callers stale.
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

-- A route must name an existing function (jsonb) RETURNS jsonb.
CREATE FUNCTION flov7.routes_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	fn regprocedure := to_regprocedure(NEW.function || '(jsonb)');
BEGIN
	IF fn IS NULL OR (SELECT p.prorettype FROM pg_catalog.pg_proc p WHERE p.oid = fn) <> 'jsonb'::regtype THEN
		RAISE EXCEPTION 'route % % names no function %(jsonb) RETURNS jsonb', NEW.method, NEW.path, NEW.function
			USING ERRCODE = '42883';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER routes_check BEFORE INSERT OR UPDATE ON flov7.routes
	FOR EACH ROW EXECUTE FUNCTION flov7.routes_check();

-- Tell frontd to reload its routes.
CREATE FUNCTION flov7.routes_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('flov7_routes', '');
	RETURN NULL;
END
$$;
CREATE TRIGGER routes_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flov7.routes
	FOR EACH STATEMENT EXECUTE FUNCTION flov7.routes_notify();
