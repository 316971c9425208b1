-- flov7 0.1.0, as released: frozen so that `CREATE EXTENSION flov7 VERSION '0.1.0'` and the upgrade test can install it; never edit
\echo Use "CREATE EXTENSION flov7" to load this file. \quit

-- ---- sql/parts/00_roles.sql ----
-- 00_roles.sql: cluster-wide roles (created only if missing) and the API schema.
--
-- flov7_authenticator is the login role frontd connects as; it is created
-- NOLOGIN here and given LOGIN and a password by `make run` or the tests.
-- It is NOINHERIT: it switches per request to one of the three others.

DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['flov7_anon', 'flov7_user', 'flov7_admin']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
		END IF;
	END LOOP;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'flov7_authenticator') THEN
		CREATE ROLE flov7_authenticator NOLOGIN NOINHERIT;
	END IF;
	FOREACH r IN ARRAY ARRAY['flov7_anon', 'flov7_user', 'flov7_admin']
	LOOP
		IF NOT pg_catalog.pg_has_role('flov7_authenticator', r, 'MEMBER') THEN
			EXECUTE pg_catalog.format('GRANT %I TO flov7_authenticator', r);
		END IF;
	END LOOP;
END
$roles$;

-- Every HTTP endpoint is a function (jsonb) RETURNS jsonb in this schema.
CREATE SCHEMA flov7_api;
COMMENT ON SCHEMA flov7_api IS 'flov7 SQL API: one function per HTTP endpoint, see flov7.routes';

-- ---- sql/parts/05_c_functions.sql ----
-- 05_c_functions.sql: SQL declarations of the functions written in C.

-- Request arguments (extension/args.c).
CREATE FUNCTION flov7.args(path jsonb, query jsonb, body text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'flov7_args' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION flov7.args(jsonb, jsonb, text) IS
	'merge path, query and body of a request into one JSON object: query || body || path';

-- Hashing, tokens, signatures (extension/crypto.c).
CREATE FUNCTION flov7.random_token(prefix text, nbytes int) RETURNS text
	AS 'MODULE_PATHNAME', 'flov7_random_token' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.random_token(text, int) IS
	'prefix followed by nbytes of strong random data, base64url-encoded';

CREATE FUNCTION flov7.sha256_hex(data text) RETURNS text
	AS 'MODULE_PATHNAME', 'flov7_sha256_hex_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.sha256_hex(text) IS 'SHA-256 of a text, lower-case hex';

CREATE FUNCTION flov7.jwt_sign(payload jsonb, secret text) RETURNS text
	AS 'MODULE_PATHNAME', 'flov7_jwt_sign' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.jwt_sign(jsonb, text) IS 'sign a JSON payload as an HS256 JWT';

CREATE FUNCTION flov7.secure_equal(a text, b text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'flov7_secure_equal' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.secure_equal(text, text) IS 'constant-time equality of two texts';

-- The authorizer (extension/authz.c).  Stable: the answer is cached for the
-- transaction.  Parallel unsafe: resolving an API key records its use.
CREATE FUNCTION flov7.caller_id() RETURNS uuid
	AS 'MODULE_PATHNAME', 'flov7_caller_id' LANGUAGE C STABLE;
COMMENT ON FUNCTION flov7.caller_id() IS
	'id of the user making the request (JWT claims or API key); NULL when anonymous or inactive';

CREATE FUNCTION flov7.caller_is_admin() RETURNS boolean
	AS 'MODULE_PATHNAME', 'flov7_caller_is_admin' LANGUAGE C STABLE;
COMMENT ON FUNCTION flov7.caller_is_admin() IS
	'true if the caller is an active admin now (read from the database, not the token)';

CREATE FUNCTION flov7.caller_permissions() RETURNS text[]
	AS 'MODULE_PATHNAME', 'flov7_caller_permissions' LANGUAGE C STABLE;
COMMENT ON FUNCTION flov7.caller_permissions() IS
	'effective permissions of the caller: role permissions, intersected with API key scopes';

CREATE FUNCTION flov7.authorize(permission text) RETURNS uuid
	AS 'MODULE_PATHNAME', 'flov7_authorize' LANGUAGE C STABLE;
COMMENT ON FUNCTION flov7.authorize(text) IS
	'caller id if authenticated, active and holding permission (NULL: any); else 28000 or 42501';

CREATE FUNCTION flov7.authz_invalidate() RETURNS trigger
	AS 'MODULE_PATHNAME', 'flov7_authz_invalidate' LANGUAGE C;
COMMENT ON FUNCTION flov7.authz_invalidate() IS
	'statement trigger: forget the cached caller after a change to what the authorizer reads';

-- ---- sql/parts/10_schema.sql ----
-- 10_schema.sql: the tables of schema flov7.
--
-- The ten tables of the original platform keep their names and column
-- names; the token, settings, permission, quota and route tables are ours.
-- Constraints make bad states unrepresentable.

-- Secrets and tunables.  No role but the owner can read this table.
CREATE TABLE flov7.settings (
	key			text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
	value		text NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (key <> 'jwt_secret' OR octet_length(value) >= 32),
	CHECK (key <> 'credentials_key' OR octet_length(value) >= 32),
	CHECK (key NOT IN ('access_token_ttl', 'refresh_token_ttl') OR value ~ '^[1-9][0-9]{0,8}$'),
	CHECK (key <> 'bcrypt_cost' OR value IN ('8', '9', '10', '11', '12', '13', '14', '15'))
);
COMMENT ON TABLE flov7.settings IS 'secrets (jwt_secret, credentials_key) and tunables; owner only';

CREATE TABLE flov7.plan_quotas (
	plan					text PRIMARY KEY CHECK (plan IN ('free', 'pro', 'enterprise')),
	max_workflows			int CHECK (max_workflows >= 0),
	max_executions_per_day	int CHECK (max_executions_per_day >= 0),
	max_api_keys			int CHECK (max_api_keys >= 0),
	max_integrations		int CHECK (max_integrations >= 0),
	updated_at				timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE flov7.plan_quotas IS 'limits per subscription plan; NULL means unlimited; admins may change them';

CREATE TABLE flov7.permissions (
	name		text PRIMARY KEY CHECK (name ~ '^[a-z_]+:[a-z_]+$'),
	description	text NOT NULL
);
COMMENT ON TABLE flov7.permissions IS 'every permission (API key scope) the authorizer knows';

CREATE TABLE flov7.role_permissions (
	role		text NOT NULL CHECK (role IN ('admin', 'premium', 'user')),
	permission	text NOT NULL REFERENCES flov7.permissions (name) ON DELETE CASCADE,
	PRIMARY KEY (role, permission)
);
COMMENT ON TABLE flov7.role_permissions IS 'RBAC: what each application role may do';

CREATE TABLE flov7.users (
	id						uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	email					text NOT NULL CONSTRAINT users_email_key UNIQUE
		CONSTRAINT users_email_check CHECK (email = lower(email) AND length(email) <= 254
			AND email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
	full_name				text CHECK (length(full_name) <= 200),
	avatar_url				text CHECK (avatar_url ~ '^https?://[^[:space:]]+$' AND length(avatar_url) <= 2048),
	is_active				boolean NOT NULL DEFAULT true,
	is_verified				boolean NOT NULL DEFAULT false,
	role					text NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'premium', 'user')),
	subscription_plan		text NOT NULL DEFAULT 'free'
		CHECK (subscription_plan IN ('free', 'pro', 'enterprise'))
		REFERENCES flov7.plan_quotas (plan) ON UPDATE CASCADE,
	subscription_expires_at	timestamptz,
	created_at				timestamptz NOT NULL DEFAULT now(),
	updated_at				timestamptz NOT NULL DEFAULT now(),
	last_login				timestamptz
);
COMMENT ON TABLE flov7.users IS 'platform users; emails stored lower-cased; no secrets here';

-- Password hashes live apart from users so that no grant on users exposes them.
CREATE TABLE flov7.user_passwords (
	user_id			uuid PRIMARY KEY REFERENCES flov7.users (id) ON DELETE CASCADE,
	password_hash	text NOT NULL CHECK (password_hash ~ '^\$2[abxy]?\$[0-9]{2}\$'),
	updated_at		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE flov7.user_passwords IS 'bcrypt password hashes; owner only';

CREATE TABLE flov7.workflows (
	id					uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id				uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	name				text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
	description			text CHECK (length(description) <= 5000),
	workflow_json		jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(workflow_json) = 'object'),
	tags				text[] NOT NULL DEFAULT '{}' CHECK (array_position(tags, NULL) IS NULL),
	is_template			boolean NOT NULL DEFAULT false,
	status				text NOT NULL DEFAULT 'draft'
		CHECK (status IN ('draft', 'active', 'inactive', 'archived')),
	primitives_count	int NOT NULL DEFAULT 0 CHECK (primitives_count >= 0),
	estimated_cost		numeric(12, 4) NOT NULL DEFAULT 0 CHECK (estimated_cost >= 0),
	execution_count		int NOT NULL DEFAULT 0 CHECK (execution_count >= 0),
	last_executed_at	timestamptz,
	version				int NOT NULL DEFAULT 1 CHECK (version >= 1),
	created_at			timestamptz NOT NULL DEFAULT now(),
	updated_at			timestamptz NOT NULL DEFAULT now(),
	UNIQUE (id, user_id)
);
CREATE INDEX workflows_user_id_idx ON flov7.workflows (user_id, created_at DESC);
COMMENT ON TABLE flov7.workflows IS 'workflow definitions (React-Flow JSON) owned by a user';

CREATE TABLE flov7.workflow_executions (
	id						uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	workflow_id				uuid NOT NULL,
	user_id					uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	status					text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled', 'waiting')),
	input_data				jsonb NOT NULL DEFAULT '{}',
	output_data				jsonb,
	error_message			text,
	execution_time_seconds	numeric(12, 3) CHECK (execution_time_seconds >= 0),
	cost_usd				numeric(12, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
	idempotency_key			text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
	started_at				timestamptz,
	completed_at			timestamptz,
	created_at				timestamptz NOT NULL DEFAULT now(),
	-- An execution belongs to the owner of its workflow.
	FOREIGN KEY (workflow_id, user_id) REFERENCES flov7.workflows (id, user_id) ON DELETE CASCADE,
	UNIQUE (workflow_id, idempotency_key),
	CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at),
	CHECK (status NOT IN ('completed', 'failed', 'cancelled') OR completed_at IS NOT NULL)
);
CREATE INDEX workflow_executions_user_idx ON flov7.workflow_executions (user_id, created_at DESC);
CREATE INDEX workflow_executions_workflow_idx ON flov7.workflow_executions (workflow_id, created_at DESC);
COMMENT ON TABLE flov7.workflow_executions IS 'one run of a workflow';

CREATE TABLE flov7.primitives (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	type			text NOT NULL CHECK (type IN ('trigger', 'action', 'connection', 'condition', 'data')),
	subtype			text NOT NULL CHECK (subtype ~ '^[a-z][a-z0-9_]*$'),
	name			text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
	description		text,
	category		text,
	config_schema	jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config_schema) = 'object'),
	input_schema	jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(input_schema) = 'object'),
	output_schema	jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(output_schema) = 'object'),
	is_active		boolean NOT NULL DEFAULT true,
	created_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (type, subtype)
);
COMMENT ON TABLE flov7.primitives IS 'catalogue of the five primitives and their subtypes, with JSON schemas';

CREATE TABLE flov7.user_integrations (
	id						uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id					uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	service_name			text NOT NULL CHECK (length(btrim(service_name)) BETWEEN 1 AND 100),
	service_type			text NOT NULL CHECK (service_type IN ('api_key', 'oauth', 'webhook', 'database')),
	credentials_encrypted	bytea NOT NULL,
	is_active				boolean NOT NULL DEFAULT true,
	last_used_at			timestamptz,
	usage_count				int NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
	created_at				timestamptz NOT NULL DEFAULT now(),
	updated_at				timestamptz NOT NULL DEFAULT now(),
	UNIQUE (user_id, service_name)
);
COMMENT ON TABLE flov7.user_integrations IS 'external services of a user; credentials encrypted with pgp_sym_encrypt';

CREATE TABLE flov7.workflow_templates (
	id						uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name					text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
	description				text,
	category				text NOT NULL DEFAULT 'general' CHECK (category ~ '^[a-z][a-z0-9_-]*$'),
	difficulty				text NOT NULL DEFAULT 'beginner'
		CHECK (difficulty IN ('beginner', 'intermediate', 'advanced')),
	estimated_time_minutes	int CHECK (estimated_time_minutes > 0),
	workflow_json			jsonb NOT NULL CHECK (jsonb_typeof(workflow_json) = 'object'),
	preview_image_url		text CHECK (preview_image_url ~ '^https?://'),
	is_featured				boolean NOT NULL DEFAULT false,
	usage_count				int NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
	created_by				uuid REFERENCES flov7.users (id) ON DELETE SET NULL,
	created_at				timestamptz NOT NULL DEFAULT now(),
	updated_at				timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE flov7.workflow_templates IS 'shared starting points for workflows';

-- Audit rows outlive the users they mention, so user ids are not foreign keys.
CREATE TABLE flov7.audit_logs (
	id			uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid,
	owner_id	uuid,
	action		text NOT NULL CHECK (action IN ('create', 'update', 'delete', 'role_change', 'status_change')),
	table_name	text NOT NULL,
	record_id	uuid,
	old_data	jsonb,
	new_data	jsonb,
	ip_address	inet,
	user_agent	text,
	request_id	text,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_logs_user_idx ON flov7.audit_logs (user_id, created_at DESC);
CREATE INDEX audit_logs_owner_idx ON flov7.audit_logs (owner_id, created_at DESC);
CREATE INDEX audit_logs_record_idx ON flov7.audit_logs (table_name, record_id);
COMMENT ON TABLE flov7.audit_logs IS 'who (user_id) changed what (table_name, record_id) of whom (owner_id), from where';
COMMENT ON COLUMN flov7.audit_logs.user_id IS 'the caller who made the change; NULL for anonymous or DBA changes';
COMMENT ON COLUMN flov7.audit_logs.owner_id IS 'the user who owns the changed record';

CREATE TABLE flov7.api_keys (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id			uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	name			text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
	key_prefix		text NOT NULL CHECK (key_prefix ~ '^flv7_[A-Za-z0-9_-]{1,16}$'),
	key_hash		text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
	permissions		text[] NOT NULL CHECK (cardinality(permissions) >= 1
		AND array_position(permissions, NULL) IS NULL),
	is_active		boolean NOT NULL DEFAULT true,
	expires_at		timestamptz,
	last_used_at	timestamptz,
	usage_count		bigint NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
	revoked_at		timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	CHECK (is_active = (revoked_at IS NULL))
);
CREATE INDEX api_keys_user_idx ON flov7.api_keys (user_id, created_at DESC);
COMMENT ON TABLE flov7.api_keys IS 'API keys: SHA-256 of the key and a display prefix; the key itself is never stored';

CREATE TABLE flov7.notifications (
	id			uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	type		text NOT NULL DEFAULT 'info' CHECK (type ~ '^[a-z][a-z0-9_.]{0,49}$'),
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	message		text NOT NULL DEFAULT '' CHECK (length(message) <= 5000),
	data		jsonb NOT NULL DEFAULT '{}',
	is_read		boolean NOT NULL DEFAULT false,
	read_at		timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (is_read = (read_at IS NOT NULL))
);
CREATE INDEX notifications_user_idx ON flov7.notifications (user_id, created_at DESC);
CREATE INDEX notifications_unread_idx ON flov7.notifications (user_id) WHERE NOT is_read;
COMMENT ON TABLE flov7.notifications IS 'messages to a user, read or unread';

CREATE TABLE flov7.deployments (
	id				uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	workflow_id		uuid NOT NULL,
	user_id			uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	environment		text NOT NULL DEFAULT 'production'
		CHECK (environment IN ('development', 'staging', 'production')),
	status			text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'active', 'inactive', 'failed')),
	version			int NOT NULL DEFAULT 1 CHECK (version >= 1),
	config			jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
	endpoint_url	text,
	deployed_at		timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (workflow_id, user_id) REFERENCES flov7.workflows (id, user_id) ON DELETE CASCADE
);
CREATE INDEX deployments_user_idx ON flov7.deployments (user_id);
CREATE INDEX deployments_workflow_idx ON flov7.deployments (workflow_id);
COMMENT ON TABLE flov7.deployments IS 'a workflow version put into service in an environment';

CREATE TABLE flov7.revoked_tokens (
	jti			uuid PRIMARY KEY,
	user_id		uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	expires_at	timestamptz NOT NULL,
	revoked_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires_idx ON flov7.revoked_tokens (expires_at);
COMMENT ON TABLE flov7.revoked_tokens IS 'access tokens revoked before their exp (logout); purged once expired';

CREATE TABLE flov7.refresh_tokens (
	id			uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	family_id	uuid NOT NULL,
	token_hash	text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz,
	revoked_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON flov7.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON flov7.refresh_tokens (user_id);
COMMENT ON TABLE flov7.refresh_tokens IS 'refresh tokens (hashed), rotated on use; a family is one login session';

-- Routes are data: frontd reads this table and reloads it on NOTIFY flov7_routes.
CREATE TABLE flov7.routes (
	method		text NOT NULL CHECK (method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')),
	path		text NOT NULL CHECK (path ~ '^(/[A-Za-z0-9._~{}-]+)+$'),
	function	text NOT NULL CHECK (function ~ '^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$'),
	status		int NOT NULL DEFAULT 200 CHECK (status BETWEEN 200 AND 299),
	summary		text NOT NULL DEFAULT '',
	tag			text NOT NULL DEFAULT 'default',
	PRIMARY KEY (method, path)
);
COMMENT ON TABLE flov7.routes IS 'HTTP routes served by frontd: method + path -> function (jsonb) RETURNS jsonb';

-- User data is dumped by pg_dump; seeded tables (settings, quotas,
-- permissions, routes) are recreated by CREATE EXTENSION.
SELECT pg_catalog.pg_extension_config_dump('flov7.users', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.user_passwords', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.workflows', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.workflow_executions', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.primitives', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.user_integrations', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.workflow_templates', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.audit_logs', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.api_keys', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.notifications', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.deployments', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.revoked_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.refresh_tokens', '');

-- ---- sql/parts/15_seed.sql ----
-- 15_seed.sql: permissions, the role -> permission matrix, plan quotas and settings.

INSERT INTO flov7.permissions (name, description) VALUES
	('profile:read', 'read one''s own profile, statistics and session'),
	('profile:write', 'change one''s own profile and password'),
	('api_keys:read', 'list one''s own API keys'),
	('api_keys:write', 'create and revoke one''s own API keys'),
	('integrations:read', 'list and read one''s own integrations'),
	('integrations:write', 'create, change and delete one''s own integrations'),
	('notifications:read', 'list one''s own notifications'),
	('notifications:write', 'mark one''s own notifications read'),
	('workflows:read', 'list and read one''s own workflows and executions'),
	('workflows:write', 'create, change and delete one''s own workflows'),
	('workflows:execute', 'run one''s own workflows'),
	('admin:users', 'list users, change their role and status'),
	('admin:stats', 'read platform-wide statistics');

-- admin has every permission; premium and user every one but admin:*.
INSERT INTO flov7.role_permissions (role, permission)
SELECT r.role, p.name
  FROM (VALUES ('admin'), ('premium'), ('user')) AS r (role)
 CROSS JOIN flov7.permissions p
 WHERE r.role = 'admin' OR p.name NOT LIKE 'admin:%';

INSERT INTO flov7.plan_quotas (plan, max_workflows, max_executions_per_day, max_api_keys, max_integrations) VALUES
	('free', 10, 100, 5, 5),
	('pro', 100, 5000, 25, 50),
	('enterprise', NULL, NULL, 100, NULL);

INSERT INTO flov7.settings (key, value) VALUES
	('jwt_secret', flov7.random_token('', 48)),
	('credentials_key', flov7.random_token('', 32)),
	('access_token_ttl', '3600'),
	('refresh_token_ttl', '2592000'),
	('bcrypt_cost', '10');

-- ---- sql/parts/20_helpers.sql ----
-- 20_helpers.sql: settings, request context, argument readers, shapes.

-- Read a setting; settings are readable by the extension owner only.
CREATE FUNCTION flov7.setting(name text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v text;
BEGIN
	SELECT s.value INTO v FROM flov7.settings s WHERE s.key = name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'flov7 setting "%" is missing', name
			USING ERRCODE = '55000', HINT = 'Reinstall the extension or insert the setting into flov7.settings.';
	END IF;
	RETURN v;
END
$$;

-- Replace the JWT signing secret (superuser only; at least 32 bytes).
CREATE FUNCTION flov7.set_jwt_secret(secret text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) THEN
		RAISE EXCEPTION 'only a superuser may change the jwt secret' USING ERRCODE = '42501';
	END IF;
	IF secret IS NULL OR octet_length(secret) < 32 THEN
		RAISE EXCEPTION 'jwt secret must be at least 32 bytes long'
			USING ERRCODE = '22023', DETAIL = 'HS256 needs a key at least as long as its output.';
	END IF;
	UPDATE flov7.settings SET value = secret, updated_at = now() WHERE key = 'jwt_secret';
END
$$;

-- The peer IP address of the request (GUC request.ip), NULL if unset or not an address.
CREATE FUNCTION flov7.request_ip() RETURNS inet
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v text := nullif(current_setting('request.ip', true), '');
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN v::inet;
EXCEPTION WHEN invalid_text_representation THEN
	RETURN NULL;
END
$$;

-- A request header (GUC request.headers, names lower-cased), NULL if absent.
CREATE FUNCTION flov7.request_header(name text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v text := nullif(current_setting('request.headers', true), '');
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN v::jsonb ->> lower(name);
EXCEPTION WHEN invalid_text_representation THEN
	RETURN NULL;
END
$$;

-- Set the updated_at column of the row being updated.
CREATE FUNCTION flov7.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

-- Read a text field of an API argument object; 22023 if missing (when required) or not a string.
CREATE FUNCTION flov7.arg_text(args jsonb, name text, required boolean DEFAULT true, max_length int DEFAULT 1000)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
	t text;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		IF required THEN
			RAISE EXCEPTION 'missing required field "%"', name USING ERRCODE = '22023';
		END IF;
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'string' THEN
		RAISE EXCEPTION 'field "%" must be a string', name USING ERRCODE = '22023';
	END IF;
	t := v #>> '{}';
	IF required AND btrim(t) = '' THEN
		RAISE EXCEPTION 'field "%" must not be empty', name USING ERRCODE = '22023';
	END IF;
	IF length(t) > max_length THEN
		RAISE EXCEPTION 'field "%" is too long', name
			USING ERRCODE = '22023', DETAIL = format('At most %s characters are allowed.', max_length);
	END IF;
	RETURN t;
END
$$;

-- Read an integer field (JSON number or numeric string) within [min_value, max_value].
CREATE FUNCTION flov7.arg_int(args jsonb, name text, default_value int, min_value int DEFAULT NULL, max_value int DEFAULT NULL)
RETURNS int LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
	t text;
	n bigint;
BEGIN
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
	IF (min_value IS NOT NULL AND n < min_value) OR (max_value IS NOT NULL AND n > max_value) THEN
		RAISE EXCEPTION 'field "%" must be %', name,
			CASE WHEN max_value IS NULL THEN format('at least %s', min_value)
				 WHEN min_value IS NULL THEN format('at most %s', max_value)
				 ELSE format('between %s and %s', min_value, max_value) END
			USING ERRCODE = '22023';
	END IF;
	RETURN n::int;
END
$$;

-- Read a boolean field: a JSON boolean, or (unless strict, e.g. query parameters) "true"/"false".
CREATE FUNCTION flov7.arg_bool(args jsonb, name text, default_value boolean DEFAULT NULL, strict boolean DEFAULT false)
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
		USING ERRCODE = '22023';
END
$$;

-- Read a required UUID field; 22P02 naming the field if it is not one.
CREATE FUNCTION flov7.arg_uuid(args jsonb, name text)
RETURNS uuid LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	t text := flov7.arg_text(args, name);
BEGIN
	IF t !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		RAISE EXCEPTION 'field "%" must be a UUID', name
			USING ERRCODE = '22P02', DETAIL = format('Got "%s".', left(t, 40));
	END IF;
	RETURN t::uuid;
END
$$;

-- Read a text field restricted to a set of values.
CREATE FUNCTION flov7.arg_enum(args jsonb, name text, allowed text[], required boolean DEFAULT true,
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
			USING ERRCODE = '22023', DETAIL = format('Got "%s".', left(t, 40));
	END IF;
	RETURN t;
END
$$;

-- Read an optional timestamp field (ISO 8601); 22007 naming the field if malformed.
CREATE FUNCTION flov7.arg_timestamptz(args jsonb, name text)
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
			USING ERRCODE = '22007', DETAIL = format('Got "%s".', t);
	END;
END
$$;

-- Read an optional JSON object field (required when asked).
CREATE FUNCTION flov7.arg_object(args jsonb, name text, required boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		IF required THEN
			RAISE EXCEPTION 'missing required field "%"', name USING ERRCODE = '22023';
		END IF;
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'object' THEN
		RAISE EXCEPTION 'field "%" must be a JSON object', name USING ERRCODE = '22023';
	END IF;
	RETURN v;
END
$$;

-- Read an optional array-of-strings field.
CREATE FUNCTION flov7.arg_text_array(args jsonb, name text)
RETURNS text[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'array'
	   OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
		RAISE EXCEPTION 'field "%" must be an array of strings', name USING ERRCODE = '22023';
	END IF;
	RETURN ARRAY(SELECT jsonb_array_elements_text(v));
END
$$;

-- Validate and normalise an e-mail address (trimmed, lower-cased).
CREATE FUNCTION flov7.normalize_email(email text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	e text := lower(btrim(email));
BEGIN
	IF e IS NULL OR length(e) > 254 OR e !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' THEN
		RAISE EXCEPTION 'invalid email address' USING ERRCODE = '22023',
			DETAIL = 'An address looks like name@example.com.';
	END IF;
	RETURN e;
END
$$;

-- Refuse passwords bcrypt cannot take whole, or too short to be worth hashing.
CREATE FUNCTION flov7.check_password(password text, name text DEFAULT 'password') RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	IF password IS NULL OR length(password) < 8 THEN
		RAISE EXCEPTION 'field "%" must be at least 8 characters long', name USING ERRCODE = '22023';
	END IF;
	IF octet_length(password) > 72 THEN
		RAISE EXCEPTION 'field "%" must be at most 72 bytes long', name
			USING ERRCODE = '22023', DETAIL = 'bcrypt ignores anything past 72 bytes.';
	END IF;
END
$$;

-- The public JSON shape of a user (never a password hash).
CREATE FUNCTION flov7.user_json(u flov7.users) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(
		'id', u.id, 'email', u.email, 'full_name', u.full_name, 'avatar_url', u.avatar_url,
		'is_active', u.is_active, 'is_verified', u.is_verified, 'role', u.role,
		'subscription_plan', u.subscription_plan, 'subscription_expires_at', u.subscription_expires_at,
		'created_at', u.created_at, 'updated_at', u.updated_at, 'last_login', u.last_login)
$$;

-- ---- sql/parts/25_secrets.sql ----
-- 25_secrets.sql: password hashing and credential encryption (pgcrypto).
--
-- pgcrypto may live in any schema; the DO block at the end pins each of
-- these functions' search_path to pg_catalog, flov7 and pgcrypto's schema.

-- Hash a password with bcrypt at the cost in setting bcrypt_cost.
CREATE FUNCTION flov7.password_hash(password text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
BEGIN
	PERFORM flov7.check_password(password);
	RETURN crypt(password, gen_salt('bf', flov7.setting('bcrypt_cost')::int));
END
$$;

-- Check a password against a bcrypt hash; with a NULL hash, spend the same time and fail.
CREATE FUNCTION flov7.password_matches(password text, hash text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
BEGIN
	IF hash IS NULL OR password IS NULL OR octet_length(password) > 72 THEN
		PERFORM crypt(coalesce(left(password, 72), ''), gen_salt('bf', flov7.setting('bcrypt_cost')::int));
		RETURN false;
	END IF;
	RETURN flov7.secure_equal(crypt(password, hash), hash);
END
$$;

-- Encrypt integration credentials with the key in setting credentials_key.
CREATE FUNCTION flov7.credentials_encrypt(credentials jsonb) RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
BEGIN
	IF credentials IS NULL OR jsonb_typeof(credentials) <> 'object' THEN
		RAISE EXCEPTION 'credentials must be a JSON object' USING ERRCODE = '22023';
	END IF;
	RETURN pgp_sym_encrypt(credentials::text, flov7.setting('credentials_key'), 'cipher-algo=aes256');
END
$$;

-- Decrypt integration credentials (engine and DBA use only; never granted to API roles).
CREATE FUNCTION flov7.credentials_decrypt(data bytea) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
BEGIN
	RETURN pgp_sym_decrypt(data, flov7.setting('credentials_key'), 'cipher-algo=aes256')::jsonb;
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
	FOREACH fn IN ARRAY ARRAY['flov7.password_hash(text)', 'flov7.password_matches(text, text)',
							  'flov7.credentials_encrypt(jsonb)', 'flov7.credentials_decrypt(bytea)']
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, flov7, %I',
								  fn, crypto_schema);
	END LOOP;
END
$pin$;

-- ---- sql/parts/30_rls.sql ----
-- 30_rls.sql: row level security, forced on every table holding user data.
--
-- The caller comes from flov7.caller_id() and admin rights from
-- flov7.caller_is_admin(), both resolved once per transaction by the C
-- authorizer.  They are wrapped in scalar subqueries so that the planner
-- evaluates them once per query (an initplan), not once per row.
-- Tables with no policy below are readable by their owner only.

ALTER TABLE flov7.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_self_or_admin ON flov7.users
	USING (id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.workflows ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.workflows FORCE ROW LEVEL SECURITY;
CREATE POLICY workflows_owner_or_admin ON flov7.workflows
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.workflow_executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.workflow_executions FORCE ROW LEVEL SECURITY;
CREATE POLICY workflow_executions_owner_or_admin ON flov7.workflow_executions
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.user_integrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.user_integrations FORCE ROW LEVEL SECURITY;
CREATE POLICY user_integrations_owner_or_admin ON flov7.user_integrations
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_owner_or_admin ON flov7.api_keys
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY notifications_owner_or_admin ON flov7.notifications
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.deployments FORCE ROW LEVEL SECURITY;
CREATE POLICY deployments_owner_or_admin ON flov7.deployments
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

-- A user sees what they did and what was done to their records; admins see all.
ALTER TABLE flov7.audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.audit_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_logs_read ON flov7.audit_logs FOR SELECT
	USING (user_id = (SELECT flov7.caller_id()) OR owner_id = (SELECT flov7.caller_id())
		   OR (SELECT flov7.caller_is_admin()));

-- Shared catalogues: everyone reads, admins write.
ALTER TABLE flov7.workflow_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.workflow_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY workflow_templates_read ON flov7.workflow_templates FOR SELECT USING (true);
CREATE POLICY workflow_templates_admin ON flov7.workflow_templates
	USING ((SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.primitives ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.primitives FORCE ROW LEVEL SECURITY;
CREATE POLICY primitives_read ON flov7.primitives FOR SELECT
	USING (is_active OR (SELECT flov7.caller_is_admin()));
CREATE POLICY primitives_admin ON flov7.primitives
	USING ((SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.plan_quotas ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.plan_quotas FORCE ROW LEVEL SECURITY;
CREATE POLICY plan_quotas_read ON flov7.plan_quotas FOR SELECT USING (true);
CREATE POLICY plan_quotas_admin ON flov7.plan_quotas
	USING ((SELECT flov7.caller_is_admin()));

-- Secrets and tokens: no policy, so nobody but the owner (SECURITY DEFINER code).
ALTER TABLE flov7.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.settings FORCE ROW LEVEL SECURITY;
ALTER TABLE flov7.user_passwords ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.user_passwords FORCE ROW LEVEL SECURITY;
ALTER TABLE flov7.refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.refresh_tokens FORCE ROW LEVEL SECURITY;
ALTER TABLE flov7.revoked_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.revoked_tokens FORCE ROW LEVEL SECURITY;

-- ---- sql/parts/35_triggers.sql ----
-- 35_triggers.sql: updated_at, guarded user columns, quotas, audit, cache invalidation.

CREATE TRIGGER users_touch BEFORE UPDATE ON flov7.users
	FOR EACH ROW EXECUTE FUNCTION flov7.touch_updated_at();
CREATE TRIGGER user_passwords_touch BEFORE UPDATE ON flov7.user_passwords
	FOR EACH ROW EXECUTE FUNCTION flov7.touch_updated_at();
CREATE TRIGGER workflows_touch BEFORE UPDATE ON flov7.workflows
	FOR EACH ROW EXECUTE FUNCTION flov7.touch_updated_at();
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

-- Refuse an insert that would take the owner past their plan's quota (53400).
CREATE FUNCTION flov7.enforce_quota() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
DECLARE
	owner_plan text;
	q flov7.plan_quotas;
	lim int;
	used bigint;
	what text;
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
			IF lim IS NOT NULL THEN
				SELECT count(*) INTO used FROM flov7.workflows w WHERE w.user_id = NEW.user_id;
			END IF;
		WHEN 'api_keys' THEN
			lim := q.max_api_keys;
			what := 'active api keys';
			IF lim IS NOT NULL THEN
				SELECT count(*) INTO used FROM flov7.api_keys k WHERE k.user_id = NEW.user_id AND k.is_active;
			END IF;
		WHEN 'user_integrations' THEN
			lim := q.max_integrations;
			what := 'integrations';
			IF lim IS NOT NULL THEN
				SELECT count(*) INTO used FROM flov7.user_integrations i WHERE i.user_id = NEW.user_id;
			END IF;
		WHEN 'workflow_executions' THEN
			lim := q.max_executions_per_day;
			what := 'executions today';
			IF lim IS NOT NULL THEN
				SELECT count(*) INTO used FROM flov7.workflow_executions e
				 WHERE e.user_id = NEW.user_id AND e.created_at >= date_trunc('day', now());
			END IF;
	END CASE;

	IF lim IS NOT NULL AND used >= lim THEN
		RAISE EXCEPTION 'plan quota exceeded: at most % % on plan "%"', lim, what, owner_plan
			USING ERRCODE = '53400',
				  DETAIL = format('The account already has %s %s.', used, what),
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
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
DECLARE
	hidden CONSTANT text[] := ARRAY['credentials_encrypted', 'key_hash'];
	usage CONSTANT text[] := ARRAY['last_used_at', 'usage_count'];
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
CREATE TRIGGER workflows_audit AFTER INSERT OR UPDATE OR DELETE ON flov7.workflows
	FOR EACH ROW EXECUTE FUNCTION flov7.audit();
CREATE TRIGGER user_integrations_audit AFTER INSERT OR UPDATE OR DELETE ON flov7.user_integrations
	FOR EACH ROW EXECUTE FUNCTION flov7.audit();
CREATE TRIGGER api_keys_audit AFTER INSERT OR UPDATE OR DELETE ON flov7.api_keys
	FOR EACH ROW EXECUTE FUNCTION flov7.audit();
CREATE TRIGGER users_audit AFTER UPDATE OF role, is_active ON flov7.users
	FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.is_active IS DISTINCT FROM NEW.is_active)
	EXECUTE FUNCTION flov7.audit();

-- Whatever the authorizer reads changed: drop its per-transaction cache.
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

-- ---- sql/parts/40_auth_api.sql ----
-- 40_auth_api.sql: tokens, sessions, and the auth endpoints (register, login,
-- refresh, logout, me, verify, API keys).

-- Sign an access token and store a new refresh token in a session (refresh family).
CREATE FUNCTION flov7.issue_tokens(p_user_id uuid, p_family_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
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

-- POST /auth/register: create a user (role user, plan free) and log them in.
CREATE FUNCTION flov7_api.auth_register(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
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

-- POST /auth/login: check the password (same answer and time for unknown emails).
CREATE FUNCTION flov7_api.auth_login(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v_email text := lower(btrim(flov7.arg_text(args, 'email', true, 320)));
	v_password text := flov7.arg_text(args, 'password', true, 1000);
	v_user flov7.users;
	v_hash text;
BEGIN
	SELECT * INTO v_user FROM flov7.users u WHERE u.email = v_email;
	SELECT p.password_hash INTO v_hash FROM flov7.user_passwords p WHERE p.user_id = v_user.id;
	IF NOT flov7.password_matches(v_password, v_hash) THEN
		RAISE EXCEPTION 'invalid email or password' USING ERRCODE = '28P01';
	END IF;
	IF NOT v_user.is_active THEN
		RAISE EXCEPTION 'account is inactive' USING ERRCODE = '42501',
			DETAIL = 'The account has been deactivated by an administrator.';
	END IF;
	UPDATE flov7.users SET last_login = now() WHERE id = v_user.id;
	RETURN flov7.issue_tokens(v_user.id);
END
$$;

-- POST /auth/refresh: rotate a refresh token; a reused one revokes its whole session.
--
-- Reuse cannot be reported by raising an error: that would roll back the
-- revocation.  So the function revokes the family, commits, and answers
-- with HTTP status 401 and the error body {"code": "28000", ...}.
CREATE FUNCTION flov7_api.auth_refresh(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
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
	RETURN flov7.issue_tokens(v_token.user_id, v_token.family_id);
END
$$;

-- POST /auth/logout: revoke this access token (jti), its session (sid) and an optional refresh token's session.
CREATE FUNCTION flov7_api.auth_logout(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_refresh text := flov7.arg_text(args, 'refresh_token', false, 200);
	v_claims jsonb;
	v_sid text;
BEGIN
	IF coalesce(current_setting('request.api_key', true), '') = '' THEN
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
	END IF;
	IF v_refresh IS NOT NULL THEN
		UPDATE flov7.refresh_tokens SET revoked_at = now()
		 WHERE family_id IN (SELECT t.family_id FROM flov7.refresh_tokens t
							  WHERE t.token_hash = flov7.sha256_hex(v_refresh) AND t.user_id = v_uid)
		   AND revoked_at IS NULL;
	END IF;
	-- Revocations outlive their token by a minute (frontd's leeway is 30 s).
	DELETE FROM flov7.revoked_tokens WHERE expires_at < now() - interval '1 minute';
	RETURN jsonb_build_object('message', 'logged out');
END
$$;

-- The caller's own user record, once authorized for profile:read (GET /auth/me, GET /users/profile).
CREATE FUNCTION flov7.caller_user_json() RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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

-- GET /auth/me: the caller's user record.
CREATE FUNCTION flov7_api.auth_me(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$ SELECT flov7.caller_user_json() $$;

-- GET /auth/verify: are these credentials valid, and whose are they?
CREATE FUNCTION flov7_api.auth_verify(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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

-- The public JSON shape of an API key (never its hash).
CREATE FUNCTION flov7.api_key_json(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', k.id, 'name', k.name, 'key_prefix', k.key_prefix,
		'permissions', to_jsonb(k.permissions), 'is_active', k.is_active, 'expires_at', k.expires_at,
		'last_used_at', k.last_used_at, 'usage_count', k.usage_count, 'created_at', k.created_at)
	  FROM flov7.api_keys k WHERE k.id = p_id
$$;

-- POST /auth/api-keys: create a key with a subset of the caller's permissions; the key is shown once.
CREATE FUNCTION flov7_api.api_key_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v_uid uuid := flov7.authorize('api_keys:write');
	v_name text := btrim(flov7.arg_text(args, 'name', true, 100));
	v_perms text[] := flov7.arg_text_array(args, 'permissions');
	v_expires timestamptz := flov7.arg_timestamptz(args, 'expires_at');
	v_allowed text[] := flov7.caller_permissions();
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
	v_key := flov7.random_token('flv7_', 32);
	INSERT INTO flov7.api_keys (user_id, name, key_prefix, key_hash, permissions, expires_at)
	VALUES (v_uid, v_name, left(v_key, 12), flov7.sha256_hex(v_key), v_perms, v_expires)
	RETURNING id INTO v_id;
	RETURN flov7.api_key_json(v_id) || jsonb_build_object('key', v_key);
END
$$;

-- GET /auth/api-keys: the caller's API keys, newest first.
CREATE FUNCTION flov7_api.api_key_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v_uid uuid := flov7.authorize('api_keys:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_active boolean := flov7.arg_bool(args, 'is_active');
	v_items jsonb;
	v_total bigint;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.api_keys k
	 WHERE k.user_id = v_uid AND (v_active IS NULL OR k.is_active = v_active);
	SELECT coalesce(jsonb_agg(flov7.api_key_json(x.id) ORDER BY x.created_at DESC, x.id), '[]')
	  INTO v_items
	  FROM (SELECT k.id, k.created_at FROM flov7.api_keys k
			 WHERE k.user_id = v_uid AND (v_active IS NULL OR k.is_active = v_active)
			 ORDER BY k.created_at DESC, k.id LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset);
END
$$;

-- DELETE /auth/api-keys/{key_id}: revoke one of the caller's keys (kept, inactive, for the audit trail).
CREATE FUNCTION flov7_api.api_key_revoke(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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

-- ---- sql/parts/50_users_api.sql ----
-- 50_users_api.sql: the /users endpoints: profile, statistics, integrations, notifications.
--
-- These run with the caller's rights (SECURITY INVOKER): the grants and the
-- row level security policies decide what they can touch, and every query
-- is also scoped to the caller explicitly, so that an admin's "my
-- integrations" stay theirs.

-- Change the caller's password after checking the current one; other sessions are revoked.
CREATE FUNCTION flov7.change_password(current_password text, new_password text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v_uid uuid := flov7.authorize('profile:write');
	v_hash text;
	v_sid text;
BEGIN
	IF current_password IS NULL THEN
		RAISE EXCEPTION 'missing required field "current_password"' USING ERRCODE = '22023',
			HINT = 'Changing the password needs the current one.';
	END IF;
	PERFORM flov7.check_password(new_password, 'new_password');
	SELECT p.password_hash INTO v_hash FROM flov7.user_passwords p WHERE p.user_id = v_uid FOR UPDATE;
	IF NOT flov7.password_matches(current_password, v_hash) THEN
		RAISE EXCEPTION 'current password is incorrect' USING ERRCODE = '28P01';
	END IF;
	UPDATE flov7.user_passwords SET password_hash = flov7.password_hash(new_password) WHERE user_id = v_uid;
	v_sid := nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sid';
	UPDATE flov7.refresh_tokens SET revoked_at = now()
	 WHERE user_id = v_uid AND revoked_at IS NULL AND family_id::text IS DISTINCT FROM v_sid;
END
$$;

-- GET /users/profile: the caller's profile.
CREATE FUNCTION flov7_api.users_profile_get(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$ SELECT flov7.caller_user_json() $$;

-- PUT /users/profile: change full_name and avatar_url; the password with current_password + new_password.
CREATE FUNCTION flov7_api.users_profile_update(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v_uid uuid := flov7.authorize('profile:write');
	v_full_name text := flov7.arg_text(args, 'full_name', false, 200);
	v_avatar text := flov7.arg_text(args, 'avatar_url', false, 2048);
	v_new_password text := flov7.arg_text(args, 'new_password', false, 1000);
	v_result jsonb;
BEGIN
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
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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

-- The public JSON shape of an integration (never its credentials).
CREATE FUNCTION flov7.integration_json(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', i.id, 'service_name', i.service_name, 'service_type', i.service_type,
		'is_active', i.is_active, 'last_used_at', i.last_used_at, 'usage_count', i.usage_count,
		'created_at', i.created_at, 'updated_at', i.updated_at)
	  FROM flov7.user_integrations i WHERE i.id = p_id
$$;

-- POST /users/integrations: store an integration, credentials encrypted.
CREATE FUNCTION flov7_api.integration_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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

-- GET /users/integrations: the caller's integrations, filtered by service_type / is_active.
CREATE FUNCTION flov7_api.integration_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v_uid uuid := flov7.authorize('integrations:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_type text := flov7.arg_enum(args, 'service_type', ARRAY['api_key', 'oauth', 'webhook', 'database'], false);
	v_active boolean := flov7.arg_bool(args, 'is_active');
	v_items jsonb;
	v_total bigint;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.user_integrations i
	 WHERE i.user_id = v_uid AND (v_type IS NULL OR i.service_type = v_type)
	   AND (v_active IS NULL OR i.is_active = v_active);
	SELECT coalesce(jsonb_agg(flov7.integration_json(x.id) ORDER BY x.created_at DESC, x.id), '[]')
	  INTO v_items
	  FROM (SELECT i.id, i.created_at FROM flov7.user_integrations i
			 WHERE i.user_id = v_uid AND (v_type IS NULL OR i.service_type = v_type)
			   AND (v_active IS NULL OR i.is_active = v_active)
			 ORDER BY i.created_at DESC, i.id LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset);
END
$$;

-- GET /users/integrations/{id}: one of the caller's integrations.
CREATE FUNCTION flov7_api.integration_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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

-- PUT /users/integrations/{id}: change service_name, service_type, is_active and/or credentials.
CREATE FUNCTION flov7_api.integration_update(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v_uid uuid := flov7.authorize('integrations:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_name text := btrim(flov7.arg_text(args, 'service_name', false, 100));
	v_type text := flov7.arg_enum(args, 'service_type', ARRAY['api_key', 'oauth', 'webhook', 'database'], false);
	v_active boolean := flov7.arg_bool(args, 'is_active', NULL, true);
	v_credentials jsonb := flov7.arg_object(args, 'credentials');
BEGIN
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
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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
	SELECT jsonb_build_object('id', n.id, 'type', n.type, 'title', n.title, 'message', n.message,
		'data', n.data, 'is_read', n.is_read, 'read_at', n.read_at, 'created_at', n.created_at)
$$;

-- GET /users/notifications: the caller's notifications, newest first, filtered by is_read / type.
CREATE FUNCTION flov7_api.notification_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
DECLARE
	v_uid uuid := flov7.authorize('notifications:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_read boolean := flov7.arg_bool(args, 'is_read');
	v_type text := flov7.arg_text(args, 'type', false, 50);
	v_items jsonb;
	v_total bigint;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.notifications n
	 WHERE n.user_id = v_uid AND (v_read IS NULL OR n.is_read = v_read)
	   AND (v_type IS NULL OR n.type = v_type);
	SELECT coalesce(jsonb_agg(flov7.notification_json(x) ORDER BY x.created_at DESC, x.id), '[]')
	  INTO v_items
	  FROM (SELECT * FROM flov7.notifications n
			 WHERE n.user_id = v_uid AND (v_read IS NULL OR n.is_read = v_read)
			   AND (v_type IS NULL OR n.type = v_type)
			 ORDER BY n.created_at DESC, n.id LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset);
END
$$;

-- PUT /users/notifications/{id}/read: mark one of the caller's notifications read.
CREATE FUNCTION flov7_api.notification_read(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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

-- ---- sql/parts/60_admin_api.sql ----
-- 60_admin_api.sql: admin endpoints (flov7_admin only) and flov7.create_admin for DBAs.
--
-- The admin functions run with the caller's rights: the admin sees every
-- user through the row level security policies (flov7.caller_is_admin()),
-- never through a superuser.

-- GET /users/admin/users: every user, filtered by role, is_active and an email/name substring.
CREATE FUNCTION flov7_api.admin_user_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7 AS $$
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
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7 AS $$
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

-- ---- sql/parts/70_routes.sql ----
-- 70_routes.sql: the HTTP routes of this release and the OpenAPI document built from them.

INSERT INTO flov7.routes (method, path, function, status, summary, tag) VALUES
	('POST', '/api/v1/auth/register', 'flov7_api.auth_register', 201, 'Register a new user and log in', 'auth'),
	('POST', '/api/v1/auth/login', 'flov7_api.auth_login', 200, 'Log in with email and password', 'auth'),
	('POST', '/api/v1/auth/refresh', 'flov7_api.auth_refresh', 200, 'Exchange a refresh token for new tokens', 'auth'),
	('POST', '/api/v1/auth/logout', 'flov7_api.auth_logout', 200, 'Revoke the current token and session', 'auth'),
	('GET', '/api/v1/auth/me', 'flov7_api.auth_me', 200, 'Get the current user', 'auth'),
	('GET', '/api/v1/auth/verify', 'flov7_api.auth_verify', 200, 'Verify the credentials of the request', 'auth'),
	('POST', '/api/v1/auth/api-keys', 'flov7_api.api_key_create', 201, 'Create an API key (shown once)', 'auth'),
	('GET', '/api/v1/auth/api-keys', 'flov7_api.api_key_list', 200, 'List my API keys', 'auth'),
	('DELETE', '/api/v1/auth/api-keys/{key_id}', 'flov7_api.api_key_revoke', 204, 'Revoke an API key', 'auth'),
	('GET', '/api/v1/users/profile', 'flov7_api.users_profile_get', 200, 'Get my profile', 'users'),
	('PUT', '/api/v1/users/profile', 'flov7_api.users_profile_update', 200, 'Update my profile or password', 'users'),
	('GET', '/api/v1/users/stats', 'flov7_api.users_stats', 200, 'Get my usage statistics', 'users'),
	('POST', '/api/v1/users/integrations', 'flov7_api.integration_create', 201, 'Create an integration', 'integrations'),
	('GET', '/api/v1/users/integrations', 'flov7_api.integration_list', 200, 'List my integrations', 'integrations'),
	('GET', '/api/v1/users/integrations/{id}', 'flov7_api.integration_get', 200, 'Get an integration', 'integrations'),
	('PUT', '/api/v1/users/integrations/{id}', 'flov7_api.integration_update', 200, 'Update an integration', 'integrations'),
	('DELETE', '/api/v1/users/integrations/{id}', 'flov7_api.integration_delete', 204, 'Delete an integration', 'integrations'),
	('GET', '/api/v1/users/notifications', 'flov7_api.notification_list', 200, 'List my notifications', 'notifications'),
	('PUT', '/api/v1/users/notifications/{id}/read', 'flov7_api.notification_read', 200, 'Mark a notification read', 'notifications'),
	('PUT', '/api/v1/users/notifications/read-all', 'flov7_api.notification_read_all', 200, 'Mark all my notifications read', 'notifications'),
	('GET', '/api/v1/users/admin/users', 'flov7_api.admin_user_list', 200, 'List all users', 'admin'),
	('PUT', '/api/v1/users/admin/users/{id}/role', 'flov7_api.admin_user_set_role', 200, 'Change a user''s role', 'admin'),
	('PUT', '/api/v1/users/admin/users/{id}/status', 'flov7_api.admin_user_set_status', 200, 'Activate or deactivate a user', 'admin'),
	('GET', '/api/v1/users/admin/stats', 'flov7_api.admin_stats', 200, 'Platform statistics', 'admin');

-- An OpenAPI 3.0 document describing flov7.routes, served by frontd at /openapi.json.
CREATE FUNCTION flov7.openapi(server_url text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7 AS $$
	WITH r AS (
		SELECT r.method, r.path, r.function, r.status, r.summary, r.tag,
			   ARRAY(SELECT m[1] FROM regexp_matches(r.path, '\{([^}]+)\}', 'g') AS m) AS params,
			   coalesce(has_function_privilege('flov7_anon', to_regprocedure(r.function || '(jsonb)'), 'EXECUTE'),
						false) AS public
		  FROM flov7.routes r
	), op AS (
		SELECT r.path, lower(r.method) AS method, jsonb_strip_nulls(jsonb_build_object(
			'summary', r.summary,
			'tags', jsonb_build_array(r.tag),
			'operationId', split_part(r.function, '.', 2),
			'parameters',
				(SELECT coalesce(jsonb_agg(jsonb_build_object('name', p, 'in', 'path', 'required', true,
															  'schema', jsonb_build_object('type', 'string'))), '[]')
				   FROM unnest(r.params) p)
				|| CASE WHEN r.method = 'GET' AND r.function LIKE '%\_list' THEN
					'[{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
					  {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}]'::jsonb
				   ELSE '[]' END,
			'requestBody', CASE WHEN r.method IN ('POST', 'PUT', 'PATCH') THEN
				'{"content": {"application/json": {"schema": {"type": "object"}}}}'::jsonb END,
			'responses', jsonb_build_object(
				r.status::text, CASE WHEN r.status = 204 THEN '{"description": "No Content"}'::jsonb
					ELSE '{"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}'::jsonb END,
				'default', '{"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}'::jsonb),
			'security', CASE WHEN r.public THEN '[]'::jsonb
				ELSE '[{"bearerAuth": []}, {"apiKeyAuth": []}]'::jsonb END)) AS item
		  FROM r
	)
	SELECT jsonb_build_object(
		'openapi', '3.0.3',
		'info', jsonb_build_object(
			'title', 'flov7 API',
			'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'flov7'),
			'description', 'Workflow automation platform. Errors are {"code","message","details","hint"}, code being a SQLSTATE.'),
		'servers', CASE WHEN server_url IS NULL THEN '[]'::jsonb
			ELSE jsonb_build_array(jsonb_build_object('url', server_url)) END,
		'paths', coalesce((SELECT jsonb_object_agg(p.path, p.ops)
							 FROM (SELECT op.path, jsonb_object_agg(op.method, op.item) AS ops
									 FROM op GROUP BY op.path) p), '{}'),
		'tags', coalesce((SELECT jsonb_agg(jsonb_build_object('name', t.tag) ORDER BY t.tag)
							FROM (SELECT DISTINCT r.tag FROM r) t), '[]'),
		'components', jsonb_build_object(
			'securitySchemes', jsonb_build_object(
				'bearerAuth', '{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}'::jsonb,
				'apiKeyAuth', '{"type": "apiKey", "in": "header", "name": "X-API-Key"}'::jsonb),
			'schemas', jsonb_build_object(
				'Error', '{"type": "object", "required": ["code", "message"],
						   "properties": {"code": {"type": "string", "description": "SQLSTATE or PTnnn"},
										  "message": {"type": "string"},
										  "details": {"type": "string", "nullable": true},
										  "hint": {"type": "string", "nullable": true}}}'::jsonb)))
$$;

-- ---- sql/parts/80_grants.sql ----
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
	flov7.request_ip(), flov7.request_header(text)
	TO flov7_user, flov7_admin;

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
			  revoked_at, created_at),
	INSERT (user_id, name, key_prefix, key_hash, permissions, expires_at),
	UPDATE (is_active, revoked_at)
	ON flov7.api_keys TO flov7_user, flov7_admin;
GRANT SELECT, UPDATE (is_read, read_at) ON flov7.notifications TO flov7_user, flov7_admin;
GRANT INSERT, UPDATE, DELETE ON flov7.plan_quotas, flov7.primitives, flov7.workflow_templates TO flov7_admin;
