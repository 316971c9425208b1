-- 80_grants.sql: least privilege.
--
-- Functions are executable by PUBLIC by default (and ALTER DEFAULT
-- PRIVILEGES does not reach into extension scripts), so every function is
-- revoked from PUBLIC first and granted back one by one.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA flov7 FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA flov7_api FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA flov7 FROM PUBLIC;
REVOKE ALL ON SCHEMA flov7, flov7_api FROM PUBLIC;

GRANT USAGE ON SCHEMA flov7 TO flov7_authenticator, flov7_anon, flov7_user, flov7_admin;
GRANT USAGE ON SCHEMA flov7_api TO flov7_authenticator, flov7_anon, flov7_user, flov7_admin;

-- frontd itself (NOINHERIT, so only these direct grants count).
GRANT SELECT ON flov7.routes TO flov7_authenticator;
GRANT EXECUTE ON FUNCTION flov7.args(jsonb, jsonb, text), flov7.openapi(text) TO flov7_authenticator;

-- Endpoints.  "anon": anyone; "user": user and admin; "admin": admin only.
GRANT EXECUTE ON FUNCTION
	flov7_api.auth_register(jsonb), flov7_api.auth_login(jsonb), flov7_api.auth_refresh(jsonb)
	TO flov7_anon, flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION
	flov7_api.auth_logout(jsonb), flov7_api.auth_me(jsonb), flov7_api.auth_verify(jsonb),
	flov7_api.api_key_create(jsonb), flov7_api.api_key_list(jsonb), flov7_api.api_key_revoke(jsonb),
	flov7_api.users_profile_get(jsonb), flov7_api.users_profile_update(jsonb), flov7_api.users_stats(jsonb),
	flov7_api.integration_create(jsonb), flov7_api.integration_list(jsonb), flov7_api.integration_get(jsonb),
	flov7_api.integration_update(jsonb), flov7_api.integration_delete(jsonb),
	flov7_api.notification_list(jsonb), flov7_api.notification_read(jsonb), flov7_api.notification_read_all(jsonb)
	TO flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION
	flov7_api.admin_user_list(jsonb), flov7_api.admin_user_set_role(jsonb),
	flov7_api.admin_user_set_status(jsonb), flov7_api.admin_stats(jsonb)
	TO flov7_admin;

-- The authorizer answers anyone (anonymous callers get 28000, not a grant error).
GRANT EXECUTE ON FUNCTION flov7.args(jsonb, jsonb, text), flov7.caller_id(), flov7.caller_is_admin(), flov7.authorize(text)
	TO flov7_anon;

-- Helpers the invoker-rights endpoints and the RLS policies call.
GRANT EXECUTE ON FUNCTION
	flov7.args(jsonb, jsonb, text), flov7.openapi(text),
	flov7.caller_id(), flov7.caller_is_admin(), flov7.caller_permissions(), flov7.authorize(text),
	flov7.arg_text(jsonb, text, boolean, int), flov7.arg_int(jsonb, text, int, int, int),
	flov7.arg_bool(jsonb, text, boolean, boolean), flov7.arg_uuid(jsonb, text),
	flov7.arg_enum(jsonb, text, text[], boolean, text), flov7.arg_timestamptz(jsonb, text),
	flov7.arg_object(jsonb, text, boolean), flov7.arg_text_array(jsonb, text),
	flov7.normalize_email(text), flov7.check_password(text, text),
	flov7.random_token(text, int), flov7.sha256_hex(text),
	flov7.user_json(flov7.users), flov7.caller_user_json(), flov7.api_key_json(uuid), flov7.integration_json(uuid),
	flov7.notification_json(flov7.notifications),
	flov7.credentials_encrypt(jsonb), flov7.change_password(text, text),
	flov7.request_ip(), flov7.request_header(text), flov7.caller_api_key()
	TO flov7_user, flov7_admin;

-- The key id of sealed credentials is an index expression (25_secrets.sql), computed with the
-- rights of whoever writes an integration.
GRANT EXECUTE ON FUNCTION flov7.credentials_key_id(bytea) TO flov7_user, flov7_admin;

-- Tables: only what the invoker-rights functions touch; rows are filtered by RLS.
GRANT SELECT ON flov7.permissions, flov7.role_permissions, flov7.plan_quotas,
	flov7.primitives, flov7.workflow_templates
	TO flov7_user, flov7_admin;
GRANT SELECT, UPDATE (full_name, avatar_url) ON flov7.users TO flov7_user, flov7_admin;
GRANT UPDATE (role, is_active) ON flov7.users TO flov7_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON flov7.workflows TO flov7_user, flov7_admin;
GRANT SELECT ON flov7.workflow_executions, flov7.deployments, flov7.audit_logs TO flov7_user, flov7_admin;
GRANT SELECT (id, user_id, service_name, service_type, is_active, last_used_at, usage_count, created_at, updated_at),
	INSERT (user_id, service_name, service_type, credentials_encrypted, is_active),
	UPDATE (service_name, service_type, credentials_encrypted, is_active),
	DELETE
	ON flov7.user_integrations TO flov7_user, flov7_admin;
GRANT SELECT (id, user_id, name, key_prefix, permissions, is_active, expires_at, last_used_at, usage_count,
			  revoked_at, created_at, parent_id),
	INSERT (user_id, name, key_prefix, key_hash, permissions, expires_at, parent_id),
	UPDATE (is_active, revoked_at)
	ON flov7.api_keys TO flov7_user, flov7_admin;
GRANT SELECT, UPDATE (is_read, read_at) ON flov7.notifications TO flov7_user, flov7_admin;
GRANT INSERT, UPDATE, DELETE ON flov7.plan_quotas, flov7.primitives, flov7.workflow_templates TO flov7_admin;
