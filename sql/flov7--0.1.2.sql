-- flov7 0.1.2, as released: frozen so that `CREATE EXTENSION flov7 VERSION '0.1.2'` and the upgrade test can install it; never edit
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

CREATE FUNCTION flov7.caller_status() RETURNS text
	AS 'MODULE_PATHNAME', 'flov7_caller_status' LANGUAGE C STABLE;
COMMENT ON FUNCTION flov7.caller_status() IS
	'anonymous, authenticated, inactive or rejected: the caller''s credentials, without raising';

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

-- ---- sql/parts/06_workflow_c_functions.sql ----
-- 06_workflow_c_functions.sql: SQL declarations of the validator and the expression compiler (C).

-- Expressions (extension/expr.c): compiled to jsonpath text, evaluated later against a step's
-- context {"input": ..., "nodes": {"<id>": {"output": ...}}, "data": <data flowing in>}.
CREATE FUNCTION flov7.compile_condition(condition text) RETURNS jsonpath
	AS 'MODULE_PATHNAME', 'flov7_compile_condition_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.compile_condition(text) IS
	'compile a condition ("data.valid == true and not (x < 3)") into a jsonpath predicate (22P02 if malformed)';

CREATE FUNCTION flov7.compile_template(template text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'flov7_compile_template_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.compile_template(text) IS
	'compile a template ("Hi {{ user.name }}") into an array of literal strings and {"path": <jsonpath>} (22P02 if malformed)';

-- The validator (extension/validate.c).  It reads flov7.primitives (active rows) as the caller,
-- and parses jsonpath fields under a subtransaction (so it is parallel unsafe).
CREATE FUNCTION flov7.validate_workflow(definition jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'flov7_validate_workflow' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION flov7.validate_workflow(jsonb) IS
	'the problems of a workflow definition: [{"severity","rule","node","edge","message"}], [] when none';

CREATE FUNCTION flov7.check_workflow(definition jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'flov7_check_workflow' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION flov7.check_workflow(jsonb) IS
	'{"valid","is_definition","problems","primitives_count","estimated_cost"} of a workflow definition';

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
	workflow_json		jsonb NOT NULL DEFAULT '{"nodes": [], "edges": []}' CHECK (jsonb_typeof(workflow_json) = 'object'),
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
	branches		text[] CHECK (array_position(branches, NULL) IS NULL),
	cost_usd		numeric(10, 4) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
	builtin			boolean NOT NULL DEFAULT false,
	UNIQUE (type, subtype)
);
COMMENT ON TABLE flov7.primitives IS 'catalogue of the five primitives and their subtypes, with JSON schemas';
COMMENT ON COLUMN flov7.primitives.branches IS
	'labels the out-edges of such a node may name (NULL: it does not branch; a switch adds its cases)';
COMMENT ON COLUMN flov7.primitives.cost_usd IS
	'estimated cost in USD of one run of such a node; a workflow''s estimated_cost is the sum over its nodes';
COMMENT ON COLUMN flov7.primitives.builtin IS 'seeded by the extension (pg_dump leaves these rows out)';

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
	updated_at				timestamptz NOT NULL DEFAULT now(),
	builtin					boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE flov7.workflow_templates IS 'shared starting points for workflows';
COMMENT ON COLUMN flov7.workflow_templates.builtin IS 'seeded by the extension (pg_dump leaves these rows out)';

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
	read_only	boolean NOT NULL DEFAULT false CHECK (NOT read_only OR method = 'GET'),
	stream		text CHECK (stream IS NULL OR (stream IN ('websocket', 'sse') AND method = 'GET')),
	PRIMARY KEY (method, path)
);
COMMENT ON TABLE flov7.routes IS 'HTTP routes served by frontd: method + path -> function (jsonb) RETURNS jsonb';
COMMENT ON COLUMN flov7.routes.stream IS
	'websocket or sse: the function authorizes a subscription and describes it ({"user_id","topic","channel","last_event_id"}); frontd then streams the events';
COMMENT ON COLUMN flov7.routes.read_only IS
	'the function changes nothing, so frontd may run it again on another connection when its connection dies before the answer';

-- User data is dumped by pg_dump; seeded tables (settings, quotas,
-- permissions, routes) and seeded rows (builtin primitives and templates)
-- are recreated by CREATE EXTENSION.
SELECT pg_catalog.pg_extension_config_dump('flov7.users', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.user_passwords', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.workflows', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.workflow_executions', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.primitives', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('flov7.user_integrations', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.workflow_templates', 'WHERE NOT builtin');
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

-- ---- sql/parts/16_primitives.sql ----
-- 16_primitives.sql: the five primitives and their 38 subtypes, with JSON schemas and costs.
--
-- config_schema is a JSON-schema subset the validator (extension/validate.c) reads: type,
-- properties, required, enum, items, format (condition | jsonpath | regex); every config takes
-- extra keys (additionalProperties), and they are kept as sent.  The subtype key itself
-- (config.trigger_type ...) is checked by the validator, not listed here.
-- branches: the labels a condition's out-edges may name (NULL: the node does not branch;
-- switch adds its config.cases labels).  cost_usd: the estimated cost of one run of such a
-- node; a workflow's estimated_cost is the sum over its nodes.

INSERT INTO flov7.primitives (type, subtype, name, description, category, branches,
							  cost_usd, config_schema, input_schema, output_schema, builtin) VALUES
	('trigger', 'webhook', 'Webhook', 'Starts the workflow when an HTTP request arrives at its hook URL; the request body is the input.', 'http', NULL,
	 0, '{"type": "object", "properties": {"endpoint": {"type": "string"}, "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]}, "secret": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'schedule', 'Schedule', 'Starts the workflow on a cron schedule.', 'time', NULL,
	 0, '{"type": "object", "properties": {"cron": {"type": "string"}, "timezone": {"type": "string"}, "input": {"type": "object"}}, "required": ["cron"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'database', 'Database change', 'Starts the workflow when rows of a table change (a trigger a DBA attaches).', 'database', NULL,
	 0, '{"type": "object", "properties": {"table": {"type": "string"}, "events": {"type": "array", "items": {"type": "string", "enum": ["INSERT", "UPDATE", "DELETE"]}}}, "required": ["table"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'manual', 'Manual', 'Starts the workflow when a user runs it (HTTP or SQL); the input is given by the caller.', 'core', NULL,
	 0, '{"type": "object", "properties": {"input_schema": {"type": "object"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'api', 'API call', 'Starts the workflow from POST /workflows/{id}/execute; the input is the request''s input_data.', 'http', NULL,
	 0, '{"type": "object", "properties": {"input_schema": {"type": "object"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'email', 'Incoming email', 'Starts the workflow when an email reaches its address.', 'communication', NULL,
	 0, '{"type": "object", "properties": {"address": {"type": "string"}, "filter": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'sms', 'Incoming SMS', 'Starts the workflow when an SMS reaches its number.', 'communication', NULL,
	 0, '{"type": "object", "properties": {"phone_number": {"type": "string"}, "filter": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('trigger', 'iot', 'IoT event', 'Starts the workflow when a device publishes an event.', 'iot', NULL,
	 0, '{"type": "object", "properties": {"device_id": {"type": "string"}, "topic": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('action', 'ai_process', 'AI processing', 'Sends a prompt built from the node''s data to a language model and returns its answer.', 'ai', NULL,
	 0.0100, '{"type": "object", "properties": {"model": {"type": "string"}, "prompt": {"type": "string"}, "system": {"type": "string"}, "max_tokens": {"type": "integer"}, "temperature": {"type": "number"}}, "required": ["prompt"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"text": {"type": "string"}}, "additionalProperties": true}', true),
	('action', 'api_call', 'HTTP request', 'Calls an HTTP API and returns its status, headers and body.', 'http', NULL,
	 0.0010, '{"type": "object", "properties": {"url": {"type": "string"}, "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]}, "headers": {"type": "object"}, "body": {}, "timeout_ms": {"type": "integer"}}, "required": ["url"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"status": {"type": "integer"}, "headers": {"type": "object"}, "body": {}}, "additionalProperties": true}', true),
	('action', 'email_send', 'Send email', 'Sends an email, from a template or a subject and body.', 'communication', NULL,
	 0.0010, '{"type": "object", "properties": {"to": {"type": ["string", "array"]}, "subject": {"type": "string"}, "body": {"type": "string"}, "template": {"type": "string"}}, "required": ["to"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"message_id": {"type": "string"}}, "additionalProperties": true}', true),
	('action', 'db_query', 'Database query', 'Runs one parameterised SQL statement as the workflow''s owner (read only unless the node says otherwise).', 'database', NULL,
	 0.0002, '{"type": "object", "properties": {"query": {"type": "string"}, "params": {"type": "array"}, "read_only": {"type": "boolean"}, "max_rows": {"type": "integer"}}, "required": ["query"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"rows": {"type": "array"}, "row_count": {"type": "integer"}}, "additionalProperties": true}', true),
	('action', 'notification', 'Notification', 'Creates a notification for the workflow''s owner.', 'communication', NULL,
	 0.0001, '{"type": "object", "properties": {"title": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}, "data": {"type": "object"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"notification_id": {"type": "string"}}, "additionalProperties": true}', true),
	('action', 'transform', 'Transform', 'Builds a new object from templates over the node''s data.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"mapping": {"type": "object"}, "transform_type": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('action', 'wait', 'Wait', 'Pauses the execution for a duration or until a time, without holding a backend.', 'flow', NULL,
	 0, '{"type": "object", "properties": {"duration_seconds": {"type": "number"}, "until": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('action', 'custom', 'Custom SQL function', 'Calls a SQL function an admin has put on the allow-list.', 'core', NULL,
	 0.0005, '{"type": "object", "properties": {"function": {"type": "string"}, "args": {"type": "object"}}, "required": ["function"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('connection', 'gmail', 'Gmail', 'Makes the owner''s Gmail integration available to the next steps.', 'communication', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'slack', 'Slack', 'Makes the owner''s Slack integration available to the next steps.', 'communication', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "channel": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'hubspot', 'HubSpot', 'Makes the owner''s HubSpot integration available to the next steps.', 'crm', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'database', 'Database', 'Makes the owner''s database integration available to the next steps.', 'database', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "database": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'api', 'API', 'Makes the owner''s API integration (base URL and credentials) available to the next steps.', 'http', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "base_url": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'webhook', 'Outgoing webhook', 'Makes the owner''s webhook integration available to the next steps.', 'http', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "url": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'oauth', 'OAuth', 'Makes an OAuth integration''s tokens available to the next steps.', 'auth', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "scopes": {"type": "array", "items": {"type": "string"}}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('connection', 'api_key', 'API key', 'Makes an API-key integration available to the next steps.', 'auth', NULL,
	 0, '{"type": "object", "properties": {"integration": {"type": "string", "description": "service_name of one of the owner''s integrations"}, "header": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"integration_id": {"type": "string"}, "service_name": {"type": "string"}}, "additionalProperties": true}', true),
	('condition', 'if_else', 'If / else', 'Takes the "true" or the "false" branch by a condition on the node''s data.', 'logic', '{true,false}',
	 0.0001, '{"type": "object", "properties": {"condition": {"type": "string", "format": "condition"}}, "required": ["condition"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"result": {"type": "boolean"}}, "additionalProperties": true}', true),
	('condition', 'filter', 'Filter', 'Keeps the items of a list for which a condition holds ("true" branch); the others go to the "false" branch.', 'logic', '{true,false}',
	 0.0001, '{"type": "object", "properties": {"condition": {"type": "string", "format": "condition"}, "items": {"type": "string"}}, "required": ["condition"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"items": {"type": "array"}}, "additionalProperties": true}', true),
	('condition', 'switch', 'Switch', 'Takes the branch of the first case whose condition holds (or whose value equals config.value), else "default".', 'logic', '{default}',
	 0.0001, '{"type": "object", "properties": {"value": {}, "cases": {"type": "array", "items": {"type": "object", "properties": {"label": {"type": "string"}, "condition": {"type": "string", "format": "condition"}, "equals": {}}, "required": ["label"], "additionalProperties": true}}}, "required": ["cases"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"branch": {"type": "string"}}, "additionalProperties": true}', true),
	('condition', 'loop', 'Loop', 'Runs the "item" branch once per element of a list (bounded) and collects the results in order on the "done" branch.', 'flow', '{item,done}',
	 0.0001, '{"type": "object", "properties": {"items": {"type": "string"}, "max_iterations": {"type": "integer"}}, "required": ["items"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"items": {"type": "array"}}, "additionalProperties": true}', true),
	('condition', 'compare', 'Compare', 'Compares two values; "true" or "false" branch.', 'logic', '{true,false}',
	 0.0001, '{"type": "object", "properties": {"left": {}, "operator": {"type": "string", "enum": ["==", "!=", "<", "<=", ">", ">=", "contains", "starts_with", "ends_with"]}, "right": {}}, "required": ["left", "operator", "right"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"result": {"type": "boolean"}}, "additionalProperties": true}', true),
	('condition', 'regex', 'Regular expression', 'Matches a value against a regular expression; "true" or "false" branch.', 'logic', '{true,false}',
	 0.0001, '{"type": "object", "properties": {"value": {"type": "string"}, "pattern": {"type": "string", "format": "regex"}, "flags": {"type": "string"}}, "required": ["value", "pattern"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"result": {"type": "boolean"}}, "additionalProperties": true}', true),
	('condition', 'json_path', 'JSON path', 'Evaluates a jsonpath predicate over the step''s context ($.data, $.input, $.nodes); "true" or "false" branch.', 'logic', '{true,false}',
	 0.0001, '{"type": "object", "properties": {"path": {"type": "string", "format": "jsonpath"}}, "required": ["path"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"result": {"type": "boolean"}}, "additionalProperties": true}', true),
	('data', 'mapping', 'Mapping', 'Builds an object whose fields are templates over the node''s data.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"mapping": {"type": "object"}}, "required": ["mapping"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('data', 'transform', 'Transform', 'Reshapes the node''s data (normalize, pick, rename).', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"transform_type": {"type": "string"}, "mapping": {"type": "object"}, "fields": {"type": "array", "items": {"type": "string"}}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('data', 'filter', 'Filter', 'Keeps the elements of a list for which a condition holds.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"condition": {"type": "string", "format": "condition"}, "items": {"type": "string"}}, "required": ["condition"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"items": {"type": "array"}}, "additionalProperties": true}', true),
	('data', 'merge', 'Merge', 'Merges the outputs of its parents (or a loop''s results) into one value.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"strategy": {"type": "string", "enum": ["object", "array", "concat"]}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('data', 'split', 'Split', 'Splits a list into items for the next steps.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"items": {"type": "string"}, "field": {"type": "string"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"items": {"type": "array"}}, "additionalProperties": true}', true),
	('data', 'enrich', 'Enrich', 'Adds fields to the node''s data from another node''s output or a lookup.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"source": {"type": "string"}, "key": {"type": "string"}, "fields": {"type": "object"}}, "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', true),
	('data', 'validate', 'Validate', 'Checks the node''s data against a JSON schema (inline, or named); outputs valid and errors.', 'data', NULL,
	 0.0001, '{"type": "object", "properties": {"schema": {"type": ["string", "object"]}}, "required": ["schema"], "additionalProperties": true}', '{"type": "object", "additionalProperties": true}', '{"type": "object", "properties": {"valid": {"type": "boolean"}, "errors": {"type": "array"}, "data": {}}, "additionalProperties": true}', true);

-- ---- sql/parts/17_templates.sql ----
-- 17_templates.sql: shared workflow templates, built from the node types that run inside the
-- database (manual/api triggers, transform, notification, db_query, wait, conditions, data
-- operations).  test/sql/12_primitives_templates.sql checks that each validates with no problem.

INSERT INTO flov7.workflow_templates (name, description, category, difficulty, estimated_time_minutes,
									  is_featured, workflow_json, builtin) VALUES
	('Review large orders',
	 'Reshapes an order, then notifies you: orders over 100 need a review.',
	 'notifications', 'beginner', 5, true,
	 '{"name": "Review large orders", "description": "Reshapes an order, then notifies you: orders over 100 need a review.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Order received", "config": {"trigger_type": "manual"}}}, {"id": "action_1", "type": "action", "position": {"x": 350, "y": 100}, "data": {"label": "Shape the order", "config": {"action_type": "transform", "mapping": {"order_id": "{{ $.input.order_id }}", "amount": "{{ $.input.amount }}", "customer": "{{ $.input.customer }}"}}}}, {"id": "condition_1", "type": "condition", "position": {"x": 600, "y": 100}, "data": {"label": "Over 100?", "config": {"condition_type": "if_else", "condition": "data.amount > 100"}}}, {"id": "action_2", "type": "action", "position": {"x": 850, "y": 50}, "data": {"label": "Ask for a review", "config": {"action_type": "notification", "title": "Large order to review", "message": "Order {{ data.order_id }} from {{ data.customer }} needs a review.", "type": "order.review"}}}, {"id": "action_3", "type": "action", "position": {"x": 850, "y": 200}, "data": {"label": "Confirm", "config": {"action_type": "notification", "title": "Order received", "message": "Order {{ data.order_id }} was recorded.", "type": "order.received"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "action_1"}, {"id": "edge_2", "source": "action_1", "target": "condition_1"}, {"id": "edge_3", "source": "condition_1", "target": "action_2", "branch": "true"}, {"id": "edge_4", "source": "condition_1", "target": "action_3", "branch": "false"}], "settings": {}}', true),
	('Process a list of items',
	 'Loops over the input items, maps each one, and merges the results into one list.',
	 'data-processing', 'intermediate', 10, true,
	 '{"name": "Process a list of items", "description": "Loops over the input items, maps each one, and merges the results into one list.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Items arrive", "config": {"trigger_type": "manual"}}}, {"id": "condition_1", "type": "condition", "position": {"x": 350, "y": 100}, "data": {"label": "For each item", "config": {"condition_type": "loop", "items": "{{ $.input.items }}", "max_iterations": 1000}}}, {"id": "data_1", "type": "data", "position": {"x": 600, "y": 50}, "data": {"label": "Map one item", "config": {"operation_type": "mapping", "mapping": {"name": "{{ data.name }}", "price": "{{ data.price }}", "currency": "EUR"}}}}, {"id": "data_2", "type": "data", "position": {"x": 600, "y": 200}, "data": {"label": "Collect the results", "config": {"operation_type": "merge", "strategy": "array"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "condition_1"}, {"id": "edge_2", "source": "condition_1", "target": "data_1", "branch": "item"}, {"id": "edge_3", "source": "condition_1", "target": "data_2", "branch": "done"}], "settings": {}}', true),
	('Digest of unread alerts',
	 'Queries your unread notifications, keeps the error alerts, and sends you a digest.',
	 'database', 'intermediate', 10, false,
	 '{"name": "Digest of unread alerts", "description": "Queries your unread notifications, keeps the error alerts, and sends you a digest.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Run the digest", "config": {"trigger_type": "manual"}}}, {"id": "action_1", "type": "action", "position": {"x": 350, "y": 100}, "data": {"label": "Unread notifications", "config": {"action_type": "db_query", "query": "SELECT n.id, n.title, n.type FROM flov7.notifications n WHERE NOT n.is_read ORDER BY n.created_at DESC LIMIT $1", "params": ["{{ $.input.limit }}"], "read_only": true, "max_rows": 100}}}, {"id": "data_1", "type": "data", "position": {"x": 600, "y": 100}, "data": {"label": "Keep error alerts", "config": {"operation_type": "filter", "condition": "data.type == ''error_alert''", "items": "{{ data.rows }}"}}}, {"id": "action_2", "type": "action", "position": {"x": 850, "y": 100}, "data": {"label": "Send the digest", "config": {"action_type": "notification", "title": "Unread error alerts", "message": "Some error alerts are still unread.", "type": "digest", "data": {"alerts": "{{ data.items }}"}}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "action_1"}, {"id": "edge_2", "source": "action_1", "target": "data_1"}, {"id": "edge_3", "source": "data_1", "target": "action_2"}], "settings": {}}', true),
	('Route tickets by priority',
	 'Sends each ticket down the branch of its priority: urgent, normal, or the default.',
	 'routing', 'intermediate', 15, true,
	 '{"name": "Route tickets by priority", "description": "Sends each ticket down the branch of its priority: urgent, normal, or the default.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 150}, "data": {"label": "Ticket created", "config": {"trigger_type": "api"}}}, {"id": "condition_1", "type": "condition", "position": {"x": 350, "y": 150}, "data": {"label": "Priority", "config": {"condition_type": "switch", "cases": [{"label": "urgent", "condition": "data.priority == ''high'' or data.escalated == true"}, {"label": "normal", "condition": "data.priority == ''medium''"}]}}}, {"id": "action_1", "type": "action", "position": {"x": 600, "y": 50}, "data": {"label": "Page someone", "config": {"action_type": "notification", "title": "Urgent ticket", "message": "{{ data.subject }}", "type": "ticket.urgent"}}}, {"id": "action_2", "type": "action", "position": {"x": 600, "y": 150}, "data": {"label": "Queue it", "config": {"action_type": "notification", "title": "New ticket", "message": "{{ data.subject }}", "type": "ticket.normal"}}}, {"id": "data_1", "type": "data", "position": {"x": 600, "y": 250}, "data": {"label": "Tag as low priority", "config": {"operation_type": "transform", "transform_type": "normalize"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "condition_1"}, {"id": "edge_2", "source": "condition_1", "target": "action_1", "branch": "urgent"}, {"id": "edge_3", "source": "condition_1", "target": "action_2", "branch": "normal"}, {"id": "edge_4", "source": "condition_1", "target": "data_1", "branch": "default"}], "settings": {}}', true),
	('Validate incoming data',
	 'Checks the input against a JSON schema; valid data is normalized, invalid data raises an alert.',
	 'validation', 'beginner', 5, false,
	 '{"name": "Validate incoming data", "description": "Checks the input against a JSON schema; valid data is normalized, invalid data raises an alert.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Data arrives", "config": {"trigger_type": "manual"}}}, {"id": "data_1", "type": "data", "position": {"x": 350, "y": 100}, "data": {"label": "Validate", "config": {"operation_type": "validate", "schema": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}, "age": {"type": "integer"}}}}}}, {"id": "condition_1", "type": "condition", "position": {"x": 600, "y": 100}, "data": {"label": "Valid?", "config": {"condition_type": "if_else", "condition": "data.valid == true"}}}, {"id": "data_2", "type": "data", "position": {"x": 850, "y": 50}, "data": {"label": "Normalize", "config": {"operation_type": "transform", "transform_type": "normalize"}}}, {"id": "action_1", "type": "action", "position": {"x": 850, "y": 200}, "data": {"label": "Alert", "config": {"action_type": "notification", "title": "Invalid data", "message": "Data failed validation.", "type": "error_alert"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "data_1"}, {"id": "edge_2", "source": "data_1", "target": "condition_1"}, {"id": "edge_3", "source": "condition_1", "target": "data_2", "branch": "true"}, {"id": "edge_4", "source": "condition_1", "target": "action_1", "branch": "false"}], "settings": {}}', true),
	('Reminder after a delay',
	 'Waits for the delay you give, then sends you the reminder (a durable timer: no process sleeps).',
	 'scheduling', 'beginner', 3, false,
	 '{"name": "Reminder after a delay", "description": "Waits for the delay you give, then sends you the reminder (a durable timer: no process sleeps).", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Set a reminder", "config": {"trigger_type": "manual"}}}, {"id": "action_1", "type": "action", "position": {"x": 350, "y": 100}, "data": {"label": "Wait", "config": {"action_type": "wait", "duration_seconds": "{{ $.input.delay_seconds }}"}}}, {"id": "action_2", "type": "action", "position": {"x": 600, "y": 100}, "data": {"label": "Remind", "config": {"action_type": "notification", "title": "Reminder", "message": "{{ $.input.message }}", "type": "reminder"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "action_1"}, {"id": "edge_2", "source": "action_1", "target": "action_2"}], "settings": {}}', true),
	('Tag contacts by email domain',
	 'Tags a contact internal or external by a regular expression on its email, then joins both branches.',
	 'routing', 'advanced', 10, false,
	 '{"name": "Tag contacts by email domain", "description": "Tags a contact internal or external by a regular expression on its email, then joins both branches.", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100}, "data": {"label": "Contact added", "config": {"trigger_type": "manual"}}}, {"id": "condition_1", "type": "condition", "position": {"x": 350, "y": 100}, "data": {"label": "Company address?", "config": {"condition_type": "regex", "value": "{{ $.input.email }}", "pattern": "@example\\.com$", "flags": "i"}}}, {"id": "data_1", "type": "data", "position": {"x": 600, "y": 50}, "data": {"label": "Internal", "config": {"operation_type": "mapping", "mapping": {"email": "{{ $.input.email }}", "tag": "internal"}}}}, {"id": "data_2", "type": "data", "position": {"x": 600, "y": 200}, "data": {"label": "External", "config": {"operation_type": "mapping", "mapping": {"email": "{{ $.input.email }}", "tag": "external"}}}}, {"id": "data_3", "type": "data", "position": {"x": 850, "y": 100}, "data": {"label": "Join", "config": {"operation_type": "merge", "strategy": "object"}}}], "edges": [{"id": "edge_1", "source": "trigger_1", "target": "condition_1"}, {"id": "edge_2", "source": "condition_1", "target": "data_1", "branch": "true"}, {"id": "edge_3", "source": "condition_1", "target": "data_2", "branch": "false"}, {"id": "edge_4", "source": "data_1", "target": "data_3"}, {"id": "edge_5", "source": "data_2", "target": "data_3"}], "settings": {}}', true);

-- ---- sql/parts/20_helpers.sql ----
-- 20_helpers.sql: settings, request context, argument readers, shapes.

-- Read a setting; settings are readable by the extension owner only.
CREATE FUNCTION flov7.setting(name text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
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
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
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
-- these functions' search_path to pg_catalog, flov7, pgcrypto's schema and pg_temp (last).

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
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, flov7, %I, pg_temp',
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

-- POST /auth/login: check the password (same answer and time for unknown emails).
CREATE FUNCTION flov7_api.auth_login(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
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
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
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

-- GET /auth/me: the caller's user record.
CREATE FUNCTION flov7_api.auth_me(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$ SELECT flov7.caller_user_json() $$;

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
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
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
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
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

-- ---- sql/parts/50_users_api.sql ----
-- 50_users_api.sql: the /users endpoints: profile, statistics, integrations, notifications.
--
-- These run with the caller's rights (SECURITY INVOKER): the grants and the
-- row level security policies decide what they can touch, and every query
-- is also scoped to the caller explicitly, so that an admin's "my
-- integrations" stay theirs.

-- Change the caller's password after checking the current one; other sessions are revoked.
CREATE FUNCTION flov7.change_password(current_password text, new_password text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
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
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$ SELECT flov7.caller_user_json() $$;

-- PUT /users/profile: change full_name and avatar_url; the password with current_password + new_password.
CREATE FUNCTION flov7_api.users_profile_update(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
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

-- GET /users/integrations: the caller's integrations, filtered by service_type / is_active.
CREATE FUNCTION flov7_api.integration_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
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

-- PUT /users/integrations/{id}: change service_name, service_type, is_active and/or credentials.
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
	SELECT jsonb_build_object('id', n.id, 'type', n.type, 'title', n.title, 'message', n.message,
		'data', n.data, 'is_read', n.is_read, 'read_at', n.read_at, 'created_at', n.created_at)
$$;

-- GET /users/notifications: the caller's notifications, newest first, filtered by is_read / type.
CREATE FUNCTION flov7_api.notification_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
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

-- ---- sql/parts/60_admin_api.sql ----
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

-- ---- sql/parts/65_workflows_api.sql ----
-- 65_workflows_api.sql: /primitives, /workflows and /workflows/templates.
--
-- Invoker rights, like the /users endpoints: grants and row level security
-- decide what a caller touches, and every query is scoped to the caller
-- explicitly, so another user's workflow is "not found" even for an admin.
--
-- Saving never loses an editor's work: a definition with problems is stored
-- as a draft and the response says why ("validation"); only a document that
-- is not a definition at all is refused (PT422, every problem in details).

-- The public JSON shape of a workflow.
CREATE FUNCTION flov7.workflow_to_json(w flov7.workflows) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(
		'id', w.id, 'user_id', w.user_id, 'name', w.name, 'description', w.description,
		'workflow_json', w.workflow_json, 'tags', to_jsonb(w.tags), 'is_template', w.is_template,
		'status', w.status, 'primitives_count', w.primitives_count, 'estimated_cost', w.estimated_cost,
		'execution_count', w.execution_count, 'last_executed_at', w.last_executed_at, 'version', w.version,
		'created_at', w.created_at, 'updated_at', w.updated_at)
$$;

-- The public JSON shape of a template.
CREATE FUNCTION flov7.template_to_json(t flov7.workflow_templates) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(
		'id', t.id, 'name', t.name, 'description', t.description, 'category', t.category,
		'difficulty', t.difficulty, 'estimated_time_minutes', t.estimated_time_minutes,
		'workflow_json', t.workflow_json, 'preview_image_url', t.preview_image_url,
		'is_featured', t.is_featured, 'usage_count', t.usage_count, 'created_by', t.created_by,
		'created_at', t.created_at)
$$;

-- The public JSON shape of a primitive.
CREATE FUNCTION flov7.primitive_to_json(p flov7.primitives) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(
		'id', p.id, 'type', p.type, 'subtype', p.subtype, 'name', p.name, 'description', p.description,
		'category', p.category, 'subtype_field', CASE p.type WHEN 'data' THEN 'operation_type' ELSE p.type || '_type' END,
		'config_schema', p.config_schema, 'input_schema', p.input_schema, 'output_schema', p.output_schema,
		'branches', to_jsonb(p.branches), 'cost_usd', p.cost_usd, 'is_active', p.is_active,
		'created_at', p.created_at)
$$;

-- Check a definition; refuse (PT422, every problem in details) what is not a definition at all.
CREATE FUNCTION flov7.workflow_checked(definition jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_check jsonb := flov7.check_workflow(definition);
BEGIN
	IF NOT (v_check ->> 'is_definition')::boolean THEN
		RAISE EXCEPTION 'workflow_json is not a workflow definition'
			USING ERRCODE = 'PT422', DETAIL = (v_check -> 'problems')::text,
				  HINT = 'A definition is a JSON object with "nodes" and "edges" arrays, within the size limits.';
	END IF;
	RETURN v_check;
END
$$;

-- The "validation" member of a response: {"valid", "problems"}.
CREATE FUNCTION flov7.validation_json(p_check jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('valid', p_check -> 'valid', 'problems', p_check -> 'problems')
$$;

-- The status to store: a workflow with problems cannot be active (PT422 if asked), and is kept
-- as a draft (or archived, if it is or is being archived).
CREATE FUNCTION flov7.workflow_status(p_check jsonb, p_requested text, p_current text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF (p_check ->> 'valid')::boolean THEN
		RETURN coalesce(p_requested, p_current, 'draft');
	END IF;
	IF p_requested = 'active' THEN
		RAISE EXCEPTION 'a workflow with problems cannot be active'
			USING ERRCODE = 'PT422', DETAIL = (p_check -> 'problems')::text,
				  HINT = 'Fix every problem with severity "error", then set status to active.';
	END IF;
	IF coalesce(p_requested, p_current) = 'archived' THEN
		RETURN 'archived';
	END IF;
	RETURN 'draft';
END
$$;

-- Read the optional "tags" field: at most 20 distinct non-empty strings of at most 50 characters.
CREATE FUNCTION flov7.arg_tags(args jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v_tags text[] := flov7.arg_text_array(args, 'tags');
	v_out text[] := '{}';
	t text;
BEGIN
	IF v_tags IS NULL THEN
		RETURN NULL;
	END IF;
	FOREACH t IN ARRAY v_tags LOOP
		t := btrim(t);
		IF t = '' OR length(t) > 50 THEN
			RAISE EXCEPTION 'field "tags" must hold non-empty strings of at most 50 characters' USING ERRCODE = '22023';
		END IF;
		IF NOT t = ANY (v_out) THEN
			v_out := v_out || t;
		END IF;
	END LOOP;
	IF cardinality(v_out) > 20 THEN
		RAISE EXCEPTION 'field "tags" holds at most 20 tags' USING ERRCODE = '22023';
	END IF;
	RETURN v_out;
END
$$;

-- The version a writer expects: the body's "version", else the If-Match header; NULL for any.
CREATE FUNCTION flov7.expected_version(args jsonb) RETURNS int
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_version int := flov7.arg_int(args, 'version', NULL, 1);
	v_match text := btrim(flov7.request_header('if-match'));
	m text[];
BEGIN
	IF v_version IS NOT NULL OR v_match IS NULL OR v_match IN ('', '*') THEN
		RETURN v_version;
	END IF;
	m := regexp_match(v_match, '^(W/)?"?([0-9]{1,9})"?$');
	IF m IS NULL THEN
		RAISE EXCEPTION 'header "If-Match" must name a workflow version' USING ERRCODE = '22023',
			DETAIL = format('Got %s.', left(v_match, 40)), HINT = 'Send If-Match: "<version>", e.g. If-Match: "3".';
	END IF;
	RETURN m[2]::int;
END
$$;

-- Refuse a write based on a version that is no longer current (PT409: nothing is changed).
CREATE FUNCTION flov7.check_version(p_expected int, p_current int) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF p_expected IS NOT NULL AND p_expected <> p_current THEN
		RAISE EXCEPTION 'version conflict: the workflow is at version %', p_current
			USING ERRCODE = 'PT409', DETAIL = format('The change was made against version %s.', p_expected),
				  HINT = 'Read the workflow again and apply the change to its current version.';
	END IF;
END
$$;

-- Escape LIKE wildcards so a search string matches itself.
CREATE FUNCTION flov7.like_pattern(search text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT '%' || replace(replace(replace(search, '\', '\\'), '%', '\%'), '_', '\_') || '%'
$$;

-- Count a use of a template (users may not update templates themselves).
CREATE FUNCTION flov7.template_count_use(p_id uuid) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	UPDATE flov7.workflow_templates SET usage_count = usage_count + 1 WHERE id = p_id
$$;

-- GET /primitives: the node types, filtered by type and category.
CREATE FUNCTION flov7_api.primitive_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_types CONSTANT text[] := ARRAY['trigger', 'action', 'connection', 'condition', 'data'];
	v_type text := flov7.arg_enum(args, 'type', v_types, false);
	v_category text := flov7.arg_text(args, 'category', false, 50);
	v_items jsonb;
	v_total bigint;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.primitives p
	 WHERE (v_type IS NULL OR p.type = v_type) AND (v_category IS NULL OR p.category = v_category);
	SELECT coalesce(jsonb_agg(flov7.primitive_to_json(x) ORDER BY array_position(v_types, x.type), x.subtype), '[]')
	  INTO v_items
	  FROM (SELECT * FROM flov7.primitives p
			 WHERE (v_type IS NULL OR p.type = v_type) AND (v_category IS NULL OR p.category = v_category)
			 ORDER BY array_position(v_types, p.type), p.subtype LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset);
END
$$;

-- POST /workflows: create a workflow; a definition with problems is kept as a draft.
CREATE FUNCTION flov7_api.workflow_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_def jsonb := coalesce(args -> 'workflow_json', '{"nodes": [], "edges": []}');
	v_name text := btrim(flov7.arg_text(args, 'name', false, 200));
	v_description text := flov7.arg_text(args, 'description', false, 5000);
	v_tags text[] := coalesce(flov7.arg_tags(args), '{}');
	v_status text := flov7.arg_enum(args, 'status', ARRAY['draft', 'active', 'inactive', 'archived'], false);
	v_is_template boolean := flov7.arg_bool(args, 'is_template', false, true);
	v_check jsonb;
	v_row flov7.workflows;
BEGIN
	v_check := flov7.workflow_checked(v_def);
	-- Definitions of the original platform carry their own name and description.
	IF v_name IS NULL AND jsonb_typeof(v_def -> 'name') = 'string' THEN
		v_name := left(btrim(v_def ->> 'name'), 200);
	END IF;
	IF v_name = '' THEN
		RAISE EXCEPTION 'field "name" must not be empty' USING ERRCODE = '22023';
	END IF;
	IF v_name IS NULL THEN
		RAISE EXCEPTION 'missing required field "name"' USING ERRCODE = '22023',
			HINT = 'Give the workflow a name, in the body or in workflow_json.';
	END IF;
	IF NOT args ? 'description' AND jsonb_typeof(v_def -> 'description') = 'string' THEN
		v_description := left(v_def ->> 'description', 5000);
	END IF;

	INSERT INTO flov7.workflows (user_id, name, description, workflow_json, tags, is_template, status,
								 primitives_count, estimated_cost)
	VALUES (v_uid, v_name, v_description, v_def, v_tags, v_is_template,
			flov7.workflow_status(v_check, v_status, NULL),
			(v_check ->> 'primitives_count')::int, (v_check ->> 'estimated_cost')::numeric)
	RETURNING * INTO v_row;
	RETURN flov7.workflow_to_json(v_row) || jsonb_build_object('validation', flov7.validation_json(v_check));
END
$$;

-- GET /workflows: the caller's workflows, filtered by status, tag and search, sorted.
CREATE FUNCTION flov7_api.workflow_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_status text := flov7.arg_enum(args, 'status', ARRAY['draft', 'active', 'inactive', 'archived'], false);
	v_tag text := flov7.arg_text(args, 'tag', false, 50);
	v_search text := flov7.arg_text(args, 'search', false, 200);
	v_sort text := flov7.arg_enum(args, 'sort_by', ARRAY['created_at', 'updated_at', 'name', 'last_executed_at'],
								  false, 'created_at');
	v_asc boolean := flov7.arg_enum(args, 'sort_order', ARRAY['asc', 'desc'], false, 'desc') = 'asc';
	v_pattern text := flov7.like_pattern(v_search);
	v_items jsonb;
	v_total bigint;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.workflows w
	 WHERE w.user_id = v_uid AND (v_status IS NULL OR w.status = v_status)
	   AND (v_tag IS NULL OR v_tag = ANY (w.tags))
	   AND (v_pattern IS NULL OR w.name ILIKE v_pattern OR w.description ILIKE v_pattern);
	SELECT coalesce(jsonb_agg(flov7.workflow_to_json(x.wf) ORDER BY x.ord), '[]')
	  INTO v_items
	  FROM (SELECT w AS wf, row_number() OVER sorted AS ord
			  FROM flov7.workflows w
			 WHERE w.user_id = v_uid AND (v_status IS NULL OR w.status = v_status)
			   AND (v_tag IS NULL OR v_tag = ANY (w.tags))
			   AND (v_pattern IS NULL OR w.name ILIKE v_pattern OR w.description ILIKE v_pattern)
			WINDOW sorted AS (ORDER BY
				CASE WHEN v_sort = 'name' AND v_asc THEN lower(w.name) END ASC,
				CASE WHEN v_sort = 'name' AND NOT v_asc THEN lower(w.name) END DESC,
				CASE WHEN v_sort = 'created_at' AND v_asc THEN w.created_at END ASC,
				CASE WHEN v_sort = 'created_at' AND NOT v_asc THEN w.created_at END DESC,
				CASE WHEN v_sort = 'updated_at' AND v_asc THEN w.updated_at END ASC,
				CASE WHEN v_sort = 'updated_at' AND NOT v_asc THEN w.updated_at END DESC,
				CASE WHEN v_sort = 'last_executed_at' AND v_asc THEN w.last_executed_at END ASC NULLS LAST,
				CASE WHEN v_sort = 'last_executed_at' AND NOT v_asc THEN w.last_executed_at END DESC NULLS LAST,
				w.id)
			ORDER BY ord LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset);
END
$$;

-- GET /workflows/{id}: one of the caller's workflows, with its validation.
CREATE FUNCTION flov7_api.workflow_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_row flov7.workflows;
BEGIN
	SELECT * INTO v_row FROM flov7.workflows w WHERE w.id = v_id AND w.user_id = v_uid;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.workflow_to_json(v_row)
		|| jsonb_build_object('validation', flov7.validation_json(flov7.check_workflow(v_row.workflow_json)));
END
$$;

-- PUT /workflows/{id}: change name, description, workflow_json, tags, status, is_template.
-- Every change bumps version; a "version" (or If-Match) that is not current is refused (PT409).
CREATE FUNCTION flov7_api.workflow_update(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_expected int := flov7.expected_version(args);
	v_name text := btrim(flov7.arg_text(args, 'name', false, 200));
	v_description text := flov7.arg_text(args, 'description', false, 5000);
	v_tags text[] := flov7.arg_tags(args);
	v_status text := flov7.arg_enum(args, 'status', ARRAY['draft', 'active', 'inactive', 'archived'], false);
	v_is_template boolean := flov7.arg_bool(args, 'is_template', NULL, true);
	v_row flov7.workflows;
	v_def jsonb;
	v_check jsonb;
BEGIN
	IF v_name = '' OR (args ? 'name' AND v_name IS NULL) THEN
		RAISE EXCEPTION 'field "name" must not be empty' USING ERRCODE = '22023';
	END IF;
	SELECT * INTO v_row FROM flov7.workflows w WHERE w.id = v_id AND w.user_id = v_uid FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	PERFORM flov7.check_version(v_expected, v_row.version);

	-- A new definition must be one; a stored one that is not (written before this API) only
	-- keeps the workflow a draft until it is replaced.
	IF args ? 'workflow_json' THEN
		v_def := args -> 'workflow_json';
		v_check := flov7.workflow_checked(v_def);
	ELSE
		v_def := v_row.workflow_json;
		v_check := flov7.check_workflow(v_def);
	END IF;
	UPDATE flov7.workflows w
	   SET name = coalesce(v_name, w.name),
		   description = CASE WHEN args ? 'description' THEN v_description ELSE w.description END,
		   workflow_json = v_def,
		   tags = coalesce(v_tags, w.tags),
		   is_template = coalesce(v_is_template, w.is_template),
		   status = flov7.workflow_status(v_check, v_status, w.status),
		   primitives_count = (v_check ->> 'primitives_count')::int,
		   estimated_cost = (v_check ->> 'estimated_cost')::numeric,
		   version = w.version + 1
	 WHERE w.id = v_id AND w.user_id = v_uid
	RETURNING * INTO v_row;
	RETURN flov7.workflow_to_json(v_row) || jsonb_build_object('validation', flov7.validation_json(v_check));
END
$$;

-- DELETE /workflows/{id}: delete one of the caller's workflows (and its executions).
CREATE FUNCTION flov7_api.workflow_delete(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_expected int := flov7.expected_version(args);
	v_version int;
BEGIN
	SELECT w.version INTO v_version FROM flov7.workflows w WHERE w.id = v_id AND w.user_id = v_uid FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	PERFORM flov7.check_version(v_expected, v_version);
	DELETE FROM flov7.workflows w WHERE w.id = v_id AND w.user_id = v_uid;
	RETURN NULL;
END
$$;

-- GET /workflows/templates: templates, filtered by category, difficulty, is_featured and search.
CREATE FUNCTION flov7_api.template_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_category text := flov7.arg_text(args, 'category', false, 50);
	v_difficulty text := flov7.arg_enum(args, 'difficulty', ARRAY['beginner', 'intermediate', 'advanced'], false);
	v_featured boolean := flov7.arg_bool(args, 'is_featured');
	v_pattern text := flov7.like_pattern(flov7.arg_text(args, 'search', false, 200));
	v_items jsonb;
	v_total bigint;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.workflow_templates t
	 WHERE (v_category IS NULL OR t.category = v_category) AND (v_difficulty IS NULL OR t.difficulty = v_difficulty)
	   AND (v_featured IS NULL OR t.is_featured = v_featured)
	   AND (v_pattern IS NULL OR t.name ILIKE v_pattern OR t.description ILIKE v_pattern);
	SELECT coalesce(jsonb_agg(flov7.template_to_json(x) ORDER BY x.is_featured DESC, lower(x.name), x.id), '[]')
	  INTO v_items
	  FROM (SELECT * FROM flov7.workflow_templates t
			 WHERE (v_category IS NULL OR t.category = v_category) AND (v_difficulty IS NULL OR t.difficulty = v_difficulty)
			   AND (v_featured IS NULL OR t.is_featured = v_featured)
			   AND (v_pattern IS NULL OR t.name ILIKE v_pattern OR t.description ILIKE v_pattern)
			 ORDER BY t.is_featured DESC, lower(t.name), t.id LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset);
END
$$;

-- POST /workflows/templates/{id}/use: a new workflow of the caller's, from a template.
CREATE FUNCTION flov7_api.template_use(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_name text := btrim(flov7.arg_text(args, 'name', false, 200));
	v_tags text[] := coalesce(flov7.arg_tags(args), '{}');
	v_template flov7.workflow_templates;
	v_check jsonb;
	v_row flov7.workflows;
BEGIN
	IF v_name = '' THEN
		RAISE EXCEPTION 'field "name" must not be empty' USING ERRCODE = '22023';
	END IF;
	SELECT * INTO v_template FROM flov7.workflow_templates t WHERE t.id = v_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'template not found' USING ERRCODE = 'P0002';
	END IF;
	v_check := flov7.workflow_checked(v_template.workflow_json);
	INSERT INTO flov7.workflows (user_id, name, description, workflow_json, tags, status,
								 primitives_count, estimated_cost)
	VALUES (v_uid, coalesce(v_name, v_template.name), v_template.description, v_template.workflow_json, v_tags,
			flov7.workflow_status(v_check, NULL, NULL),
			(v_check ->> 'primitives_count')::int, (v_check ->> 'estimated_cost')::numeric)
	RETURNING * INTO v_row;
	PERFORM flov7.template_count_use(v_template.id);
	RETURN flov7.workflow_to_json(v_row)
		|| jsonb_build_object('validation', flov7.validation_json(v_check), 'template_id', v_template.id);
END
$$;

-- ---- sql/parts/66_engine.sql ----
-- 66_engine.sql: the executor's tables, execute(), and the SQL half of a step.
--
-- An execution runs the definition it started with (a snapshot in
-- workflow_executions.definition, with its version).  Every node is one row
-- of execution_steps, a narrow queue row that changes state often; what a
-- step read and wrote is written once, per attempt, to execution_step_data.
-- Every key carries user_id (DESIGN.md "Scale").
--
-- State machine of a step (execution_steps.state):
--	pending		waiting for pending_parents parents to settle
--	ready		due at ready_at; claimed with FOR UPDATE SKIP LOCKED (the claim is a
--				row lock: a crashed runner releases it, nothing half-applied)
--	waiting		a durable timer (ready_at in the future) or, with ready_at NULL,
--				parked for an outside worker (lease_until and fence)
--	running		only for outside steps under a lease; in-database steps go from
--				ready to a final state in the transaction that claimed them
--	completed, failed, skipped (an untaken branch, transitively), cancelled
--
-- The C runner (extension/engine.c) claims with flov7.step_claim(), runs the node
-- as the owner under its own subtransaction (flov7.node_run() or a C node), and
-- records the result with flov7.step_finish(), which schedules the successors.

ALTER TABLE flov7.workflow_executions
	ADD COLUMN workflow_version int CHECK (workflow_version >= 1),
	ADD COLUMN definition jsonb,
	ADD COLUMN steps_total int NOT NULL DEFAULT 0 CHECK (steps_total >= 0),
	ADD COLUMN steps_completed int NOT NULL DEFAULT 0 CHECK (steps_completed >= 0),
	ADD COLUMN steps_failed int NOT NULL DEFAULT 0 CHECK (steps_failed >= 0),
	ADD COLUMN error_node text,
	ADD COLUMN retry_count int NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
	ADD CONSTRAINT workflow_executions_user_id_id_key UNIQUE (user_id, id);
CREATE INDEX workflow_executions_user_workflow_idx
	ON flov7.workflow_executions (user_id, workflow_id, created_at DESC, id DESC);
COMMENT ON COLUMN flov7.workflow_executions.definition IS
	'the workflow_json the execution runs, as it was when it started (workflow_version)';
COMMENT ON COLUMN flov7.workflow_executions.retry_count IS
	'times the execution was retried from its failed steps; its workflow counts it once, at its first end';

CREATE TABLE flov7.execution_steps (
	user_id			uuid NOT NULL,
	execution_id	uuid NOT NULL,
	node_id			text NOT NULL,
	iteration		int NOT NULL DEFAULT 0 CHECK (iteration >= 0),
	state			text NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'ready', 'running', 'waiting', 'completed', 'failed', 'skipped', 'cancelled')),
	attempt			int NOT NULL DEFAULT 0 CHECK (attempt >= 0),
	pending_parents	int NOT NULL DEFAULT 0 CHECK (pending_parents >= 0),
	has_input		boolean NOT NULL DEFAULT false,
	ready_at		timestamptz,
	lease_until		timestamptz,
	fence			bigint NOT NULL DEFAULT 0,
	started_at		timestamptz,
	completed_at	timestamptz,
	PRIMARY KEY (user_id, execution_id, node_id, iteration),
	FOREIGN KEY (user_id, execution_id) REFERENCES flov7.workflow_executions (user_id, id) ON DELETE CASCADE,
	CHECK (state NOT IN ('ready') OR ready_at IS NOT NULL)
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
		autovacuum_analyze_scale_factor = 0.05);
CREATE INDEX execution_steps_due_idx ON flov7.execution_steps (user_id, ready_at)
	WHERE state IN ('ready', 'waiting') AND ready_at IS NOT NULL;
-- The steps of an execution that are runnable or running (execution_refresh_status).
CREATE INDEX execution_steps_active_idx ON flov7.execution_steps (user_id, execution_id)
	WHERE state IN ('ready', 'running');
COMMENT ON TABLE flov7.execution_steps IS
	'the queue: one narrow row per node (and loop iteration) of an execution; see 66_engine.sql for the states';
COMMENT ON COLUMN flov7.execution_steps.pending_parents IS
	'parents not settled yet; decremented with UPDATE ... RETURNING, the one reaching 0 makes the step ready or skipped';
COMMENT ON COLUMN flov7.execution_steps.has_input IS 'a parent completed with an edge into this step taken';
COMMENT ON COLUMN flov7.execution_steps.fence IS 'bumped by every outside claim; a completion must present the current one';

CREATE TABLE flov7.execution_step_data (
	user_id			uuid NOT NULL,
	execution_id	uuid NOT NULL,
	node_id			text NOT NULL,
	iteration		int NOT NULL DEFAULT 0,
	attempt			int NOT NULL CHECK (attempt >= 1),
	input			jsonb,
	output			jsonb,
	branches		text[],
	error			text,
	started_at		timestamptz NOT NULL,
	finished_at		timestamptz NOT NULL,
	worker			text,
	PRIMARY KEY (user_id, execution_id, node_id, iteration, attempt),
	FOREIGN KEY (user_id, execution_id, node_id, iteration)
		REFERENCES flov7.execution_steps (user_id, execution_id, node_id, iteration) ON DELETE CASCADE
);
COMMENT ON TABLE flov7.execution_step_data IS
	'what each attempt of a step read and wrote (input, output, branches taken, error); written once';

-- SQL functions an admin allows the "custom" action to call: (jsonb) RETURNS jsonb.
CREATE TABLE flov7.custom_functions (
	name		text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	function	regprocedure NOT NULL UNIQUE,
	description	text,
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE flov7.custom_functions IS
	'allow-list of the "custom" action: name -> a function (jsonb) RETURNS jsonb, run as the workflow owner';

ALTER TABLE flov7.execution_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.execution_steps FORCE ROW LEVEL SECURITY;
CREATE POLICY execution_steps_owner_or_admin ON flov7.execution_steps
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));
ALTER TABLE flov7.execution_step_data ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.execution_step_data FORCE ROW LEVEL SECURITY;
CREATE POLICY execution_step_data_owner_or_admin ON flov7.execution_step_data
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));
ALTER TABLE flov7.custom_functions ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.custom_functions FORCE ROW LEVEL SECURITY;
CREATE POLICY custom_functions_read ON flov7.custom_functions FOR SELECT USING (true);
CREATE POLICY custom_functions_admin ON flov7.custom_functions
	USING ((SELECT flov7.caller_is_admin()));

SELECT pg_catalog.pg_extension_config_dump('flov7.execution_steps', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.execution_step_data', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.custom_functions', '');

-- Delay before retry number "attempt" (1 = the first retry): base * 2^(attempt-1), capped
-- at max_ms, with equal jitter (half fixed, half random).  Computed in double precision
-- and capped before any cast, so it holds at attempt 40 and beyond.
CREATE FUNCTION flov7.retry_delay_ms(attempt int, base_ms int, max_ms int, jitter float8 DEFAULT random())
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT floor(d / 2 + d / 2 * least(greatest(jitter, 0), 1))::bigint
	  FROM (SELECT least(greatest(max_ms, 0)::float8,
						 greatest(base_ms, 0)::float8 * power(2::float8, least(greatest(attempt - 1, 0), 60))) AS d) x
$$;

-- The public JSON shape of an execution.
CREATE FUNCTION flov7.execution_to_json(e flov7.workflow_executions) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(
		'id', e.id, 'execution_id', e.id, 'workflow_id', e.workflow_id, 'user_id', e.user_id,
		'workflow_version', e.workflow_version, 'status', e.status, 'input_data', e.input_data,
		'output_data', e.output_data, 'error_message', e.error_message, 'error_node', e.error_node,
		'execution_time_seconds', e.execution_time_seconds, 'cost_usd', e.cost_usd,
		'idempotency_key', e.idempotency_key, 'steps_total', e.steps_total,
		'steps_completed', e.steps_completed, 'steps_failed', e.steps_failed, 'retry_count', e.retry_count,
		'started_at', e.started_at, 'completed_at', e.completed_at, 'created_at', e.created_at)
$$;

-- Start a run of one of the caller's workflows: records a pending execution and its first
-- ready steps in the caller's transaction.  The same idempotency key returns the same
-- execution (a concurrent one waits on the unique index, then returns the winner's).
CREATE FUNCTION flov7.execute(workflow_id uuid, input jsonb DEFAULT '{}', idempotency_key text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:execute');
	v_wf flov7.workflows;
	v_check jsonb;
	v_exec flov7.workflow_executions;
	v_input jsonb := coalesce(input, '{}');
	v_key text := idempotency_key;
	v_problems jsonb;
BEGIN
	IF v_key IS NOT NULL AND (length(v_key) NOT BETWEEN 1 AND 200) THEN
		RAISE EXCEPTION 'field "idempotency_key" must be 1 to 200 characters' USING ERRCODE = '22023';
	END IF;
	SELECT * INTO v_wf FROM flov7.workflows w WHERE w.id = execute.workflow_id AND w.user_id = v_uid
	   FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	IF v_key IS NOT NULL THEN
		SELECT * INTO v_exec FROM flov7.workflow_executions e
		 WHERE e.user_id = v_uid AND e.workflow_id = v_wf.id AND e.idempotency_key = v_key;
		IF FOUND THEN
			RETURN flov7.execution_to_json(v_exec) || '{"idempotent_replay": true}';
		END IF;
	END IF;
	v_check := flov7.check_workflow(v_wf.workflow_json);
	IF NOT (v_check ->> 'valid')::boolean THEN
		SELECT jsonb_agg(p) INTO v_problems FROM jsonb_array_elements(v_check -> 'problems') p
		 WHERE p ->> 'severity' = 'error';
		RAISE EXCEPTION 'workflow has % problem(s) and cannot run', jsonb_array_length(v_problems)
			USING ERRCODE = 'PT422', DETAIL = v_problems::text,
				  HINT = 'Fix every problem with severity "error" (GET /workflows/{id} lists them), then run it again.';
	END IF;

	-- A trigger may declare the input it takes (config.input_schema): every mismatch, by path.
	SELECT jsonb_agg(x.err ORDER BY x.err) INTO v_problems
	  FROM jsonb_array_elements(v_wf.workflow_json -> 'nodes') n,
		   unnest(flov7.json_schema_errors(n -> 'data' -> 'config' -> 'input_schema', v_input)) AS x (err)
	 WHERE n ->> 'type' = 'trigger' AND jsonb_typeof(n -> 'data' -> 'config' -> 'input_schema') = 'object';
	IF v_problems IS NOT NULL THEN
		RAISE EXCEPTION 'input_data does not match the trigger''s input_schema: %', v_problems ->> 0
			USING ERRCODE = 'PT422', DETAIL = v_problems::text,
				  HINT = 'Send input_data as the trigger''s config.input_schema describes.';
	END IF;

	INSERT INTO flov7.workflow_executions AS e (workflow_id, user_id, status, input_data, idempotency_key,
												workflow_version, definition, steps_total)
	VALUES (v_wf.id, v_uid, 'pending', v_input, v_key, v_wf.version, v_wf.workflow_json,
			jsonb_array_length(v_wf.workflow_json -> 'nodes'))
	ON CONFLICT ON CONSTRAINT workflow_executions_workflow_id_idempotency_key_key DO NOTHING
	RETURNING * INTO v_exec;
	IF NOT FOUND THEN
		SELECT * INTO v_exec FROM flov7.workflow_executions e
		 WHERE e.user_id = v_uid AND e.workflow_id = v_wf.id AND e.idempotency_key = v_key;
		RETURN flov7.execution_to_json(v_exec) || '{"idempotent_replay": true}';
	END IF;

	-- One step per node; a node waits for its distinct parents, the roots are ready now.
	INSERT INTO flov7.execution_steps (user_id, execution_id, node_id, state, pending_parents, has_input, ready_at)
	SELECT v_uid, v_exec.id, n.id,
		   CASE WHEN coalesce(p.parents, 0) = 0 THEN 'ready' ELSE 'pending' END,
		   coalesce(p.parents, 0), coalesce(p.parents, 0) = 0,
		   CASE WHEN coalesce(p.parents, 0) = 0 THEN now() END
	  FROM (SELECT DISTINCT n ->> 'id' AS id FROM jsonb_array_elements(v_wf.workflow_json -> 'nodes') n) n
	  LEFT JOIN (SELECT e ->> 'target' AS id, count(DISTINCT e ->> 'source')::int AS parents
				   FROM jsonb_array_elements(v_wf.workflow_json -> 'edges') e GROUP BY 1) p ON p.id = n.id
	 ORDER BY n.id;
	PERFORM flov7.wake_workers();
	RETURN flov7.execution_to_json(v_exec) || '{"idempotent_replay": false}';
END
$$;
COMMENT ON FUNCTION flov7.execute(uuid, jsonb, text) IS
	'start a run of one of the caller''s workflows (workflows:execute); returns the pending execution';

-- POST /workflows/{id}/execute: {"input_data", "idempotency_key"} -> 202 {"execution_id", "status", ...}.
-- POST /workflows/{id}/execute (input_data, idempotency_key; ?wait=<ms>, at most 60000).
-- With wait, frontd holds the answer after the commit (no backend sleeps in a transaction)
-- until the execution's terminal event, then answers GET /workflows/executions/{id} as the
-- caller (200); when the wait runs out, this 202.  response.wait tells it what to wait for:
-- every event of the execution comes after the position read here.
CREATE FUNCTION flov7_api.workflow_execute(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_input jsonb := args -> 'input_data';
	v_key text := flov7.arg_text(args, 'idempotency_key', false, 200);
	v_wait int := flov7.arg_int(args, 'wait', 0, 0, 60000);
	v_head bigint;
	v_res jsonb;
BEGIN
	PERFORM flov7.authorize('workflows:execute');
	IF v_input IS NOT NULL AND jsonb_typeof(v_input) = 'null' THEN
		v_input := NULL;
	END IF;
	v_head := flov7.events_head();
	v_res := flov7.execute(v_id, coalesce(v_input, '{}'), v_key);
	IF v_wait > 0 AND v_res ->> 'status' NOT IN ('completed', 'failed', 'cancelled') THEN
		PERFORM set_config('response.wait', jsonb_build_object(
			'user_id', v_res ->> 'user_id', 'execution_id', v_res ->> 'execution_id', 'after', v_head,
			'timeout_ms', v_wait, 'function', 'flov7_api.execution_get',
			'args', jsonb_build_object('id', v_res ->> 'execution_id'))::text, true);
	END IF;
	RETURN v_res;
END
$$;

-- Out-edges of a node: target, the branch label of the edge, and whether the node branches.
-- A label is the edge's "branch", else its "sourceHandle"; when no out-edge of a true/false
-- condition names one, the first edge in "edges" is "true" and the second "false"; an
-- unlabelled edge out of a loop is its body ("item").
CREATE FUNCTION flov7.out_edges(definition jsonb, node text)
RETURNS TABLE (target text, label text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	WITH e AS (
		SELECT x.e ->> 'target' AS target, coalesce(x.e ->> 'branch', x.e ->> 'sourceHandle') AS label, x.ord
		  FROM jsonb_array_elements(definition -> 'edges') WITH ORDINALITY AS x (e, ord)
		 WHERE x.e ->> 'source' = node
	), n AS (
		SELECT nd -> 'data' -> 'config' ->> 'condition_type' AS ctype
		  FROM jsonb_array_elements(definition -> 'nodes') nd WHERE nd ->> 'id' = node LIMIT 1
	)
	SELECT e.target,
		   CASE WHEN (SELECT ctype FROM n) IN ('if_else', 'filter', 'compare', 'regex', 'json_path')
					 AND NOT EXISTS (SELECT 1 FROM e e2 WHERE e2.label IS NOT NULL)
				THEN CASE row_number() OVER (ORDER BY e.ord) WHEN 1 THEN 'true' WHEN 2 THEN 'false' END
				WHEN (SELECT ctype FROM n) = 'loop' THEN coalesce(e.label, 'item')
				ELSE e.label END
	  FROM e ORDER BY e.ord
$$;

-- Replace every {{ ... }} template in a JSON value by its value in the context; a string that
-- is exactly one hole keeps the value's JSON type, others are text.  Keys in "skip" (at the top
-- level) are left as they are.
CREATE FUNCTION flov7.eval_templates(v jsonb, ctx jsonb, skip text[] DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_parts jsonb;
	v_out text := '';
	v_part jsonb;
	v_val jsonb;
BEGIN
	CASE jsonb_typeof(v)
		WHEN 'object' THEN
			RETURN coalesce((SELECT jsonb_object_agg(k, CASE WHEN k = ANY (skip) THEN x ELSE flov7.eval_templates(x, ctx) END)
							   FROM jsonb_each(v) AS j (k, x)), '{}');
		WHEN 'array' THEN
			RETURN coalesce((SELECT jsonb_agg(flov7.eval_templates(x, ctx) ORDER BY o)
							   FROM jsonb_array_elements(v) WITH ORDINALITY AS j (x, o)), '[]');
		WHEN 'string' THEN
			IF strpos(v #>> '{}', '{{') = 0 THEN
				RETURN v;
			END IF;
			v_parts := flov7.compile_template(v #>> '{}');
			IF jsonb_array_length(v_parts) = 1 AND jsonb_typeof(v_parts -> 0) = 'object' THEN
				RETURN coalesce(jsonb_path_query_first(ctx, (v_parts -> 0 ->> 'path')::jsonpath, '{}', true), 'null');
			END IF;
			FOR v_part IN SELECT x FROM jsonb_array_elements(v_parts) x LOOP
				IF jsonb_typeof(v_part) = 'string' THEN
					v_out := v_out || (v_part #>> '{}');
				ELSE
					v_val := jsonb_path_query_first(ctx, (v_part ->> 'path')::jsonpath, '{}', true);
					v_out := v_out || CASE WHEN v_val IS NULL OR jsonb_typeof(v_val) = 'null' THEN ''
										   WHEN jsonb_typeof(v_val) = 'string' THEN v_val #>> '{}'
										   ELSE v_val::text END;
				END IF;
			END LOOP;
			RETURN to_jsonb(v_out);
		ELSE
			RETURN v;
	END CASE;
END
$$;

-- A condition over a context, with jsonb_path_match semantics: NULL (no boolean) is false.
CREATE FUNCTION flov7.eval_condition(condition text, ctx jsonb) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_path_match(ctx, flov7.compile_condition(condition), '{}', true), false)
$$;

-- The problems of a value against a JSON schema subset (type, required, properties, items,
-- enum, minimum, maximum, minLength, maxLength), each naming the path.
CREATE FUNCTION flov7.json_schema_errors(schema jsonb, value jsonb, path text DEFAULT '$') RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	v_errors text[] := '{}';
	v_type text := jsonb_typeof(value);
	v_types text[];
	k text;
	s jsonb;
	i int;
BEGIN
	IF jsonb_typeof(schema) <> 'object' THEN
		RETURN v_errors;
	END IF;
	IF schema ? 'type' THEN
		v_types := CASE jsonb_typeof(schema -> 'type') WHEN 'array'
					 THEN ARRAY(SELECT jsonb_array_elements_text(schema -> 'type'))
					 ELSE ARRAY[schema ->> 'type'] END;
		IF NOT (v_type = ANY (v_types)
				OR (v_type = 'number' AND 'integer' = ANY (v_types) AND value::text::numeric = trunc(value::text::numeric))) THEN
			RETURN v_errors || format('%s: expected %s, got %s', path, array_to_string(v_types, ' or '), v_type);
		END IF;
	END IF;
	IF schema ? 'enum' AND NOT (schema -> 'enum') @> jsonb_build_array(value) THEN
		v_errors := v_errors || format('%s: not one of %s', path, schema -> 'enum');
	END IF;
	IF v_type = 'number' THEN
		IF schema ? 'minimum' AND value::text::numeric < (schema ->> 'minimum')::numeric THEN
			v_errors := v_errors || format('%s: less than %s', path, schema ->> 'minimum');
		END IF;
		IF schema ? 'maximum' AND value::text::numeric > (schema ->> 'maximum')::numeric THEN
			v_errors := v_errors || format('%s: more than %s', path, schema ->> 'maximum');
		END IF;
	ELSIF v_type = 'string' THEN
		IF schema ? 'minLength' AND length(value #>> '{}') < (schema ->> 'minLength')::int THEN
			v_errors := v_errors || format('%s: shorter than %s', path, schema ->> 'minLength');
		END IF;
		IF schema ? 'maxLength' AND length(value #>> '{}') > (schema ->> 'maxLength')::int THEN
			v_errors := v_errors || format('%s: longer than %s', path, schema ->> 'maxLength');
		END IF;
	ELSIF v_type = 'object' THEN
		FOR k IN SELECT jsonb_array_elements_text(coalesce(schema -> 'required', '[]')) LOOP
			IF NOT value ? k THEN
				v_errors := v_errors || format('%s.%s: required', path, k);
			END IF;
		END LOOP;
		FOR k, s IN SELECT * FROM jsonb_each(coalesce(schema -> 'properties', '{}')) LOOP
			IF value ? k THEN
				v_errors := v_errors || flov7.json_schema_errors(s, value -> k, path || '.' || k);
			END IF;
		END LOOP;
	ELSIF v_type = 'array' AND schema ? 'items' THEN
		FOR i IN 0 .. jsonb_array_length(value) - 1 LOOP
			v_errors := v_errors || flov7.json_schema_errors(schema -> 'items', value -> i, path || '[' || i || ']');
		END LOOP;
	END IF;
	RETURN v_errors;
END
$$;

-- Create a notification for the caller (the workflow owner when a step runs).
CREATE FUNCTION flov7.notify_caller(p_type text, p_title text, p_message text, p_data jsonb) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_id uuid;
BEGIN
	INSERT INTO flov7.notifications (user_id, type, title, message, data)
	VALUES (v_uid, coalesce(p_type, 'workflow'), left(coalesce(nullif(p_title, ''), 'Workflow notification'), 200),
			left(coalesce(p_message, ''), 5000), coalesce(p_data, '{}'))
	RETURNING id INTO v_id;
	RETURN v_id;
END
$$;

-- The list a filter/split works on: config "items" (already evaluated), else the data itself
-- when it is an array, else data.items.
CREATE FUNCTION flov7.node_items(config jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN jsonb_typeof(config -> 'items') = 'array' THEN config -> 'items'
				WHEN config ? 'field' AND jsonb_typeof(data -> (config ->> 'field')) = 'array' THEN data -> (config ->> 'field')
				WHEN jsonb_typeof(data) = 'array' THEN data
				WHEN jsonb_typeof(data -> 'items') = 'array' THEN data -> 'items'
				ELSE '[]'::jsonb END
$$;

-- Run one in-database node as the caller (the owner): config has its templates evaluated.
-- Returns {"output": ...} and, for conditions, {"branches": [...]}; a wait that is not due
-- returns {"wait_until": <timestamptz>}.
CREATE FUNCTION flov7.node_run(node_type text, subtype text, config jsonb, ctx jsonb, resumed boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_data jsonb := ctx -> 'data';
	v_kind text := node_type || '.' || subtype;
	v_items jsonb;
	v_keep jsonb;
	v_reject jsonb;
	v_case jsonb;
	v_ok boolean;
	v_until timestamptz;
	v_schema jsonb;
	v_errors text[];
	v_left jsonb;
	v_right jsonb;
	v_op text;
	v_out jsonb;
BEGIN
	CASE
		WHEN node_type = 'trigger' THEN
			RETURN jsonb_build_object('output', v_data);

		WHEN v_kind IN ('action.transform', 'data.mapping', 'data.transform') THEN
			IF jsonb_typeof(config -> 'mapping') = 'object' THEN
				RETURN jsonb_build_object('output', config -> 'mapping');
			ELSIF jsonb_typeof(config -> 'fields') = 'array' AND jsonb_typeof(v_data) = 'object' THEN
				SELECT coalesce(jsonb_object_agg(f, v_data -> f), '{}') INTO v_out
				  FROM jsonb_array_elements_text(config -> 'fields') f WHERE v_data ? f;
				RETURN jsonb_build_object('output', v_out);
			ELSIF config ->> 'transform_type' = 'normalize' AND jsonb_typeof(v_data) = 'object' THEN
				-- keys lower-cased, strings trimmed, nulls dropped
				SELECT coalesce(jsonb_object_agg(lower(k), CASE WHEN jsonb_typeof(x) = 'string'
																 THEN to_jsonb(btrim(x #>> '{}')) ELSE x END), '{}')
				  INTO v_out FROM jsonb_each(v_data) AS j (k, x) WHERE jsonb_typeof(x) <> 'null';
				RETURN jsonb_build_object('output', v_out);
			END IF;
			RETURN jsonb_build_object('output', v_data);

		WHEN v_kind IN ('data.filter', 'condition.filter') THEN
			v_items := flov7.node_items(config, v_data);
			SELECT coalesce(jsonb_agg(x ORDER BY o) FILTER (WHERE m), '[]'), coalesce(jsonb_agg(x ORDER BY o) FILTER (WHERE NOT m), '[]')
			  INTO v_keep, v_reject
			  FROM (SELECT x, o, flov7.eval_condition(config ->> 'condition', ctx || jsonb_build_object('data', x, 'item', x)) AS m
					  FROM jsonb_array_elements(v_items) WITH ORDINALITY AS j (x, o)) s;
			IF subtype = 'filter' AND node_type = 'condition' THEN
				IF jsonb_typeof(v_data) IS DISTINCT FROM 'array' AND NOT (config ? 'items')
				   AND jsonb_typeof(v_data -> 'items') IS DISTINCT FROM 'array' THEN
					v_ok := flov7.eval_condition(config ->> 'condition', ctx);
					RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(v_ok::text));
				END IF;
				RETURN jsonb_build_object('output', jsonb_build_object('items', v_keep, 'rejected', v_reject),
										  'branches', jsonb_build_array((jsonb_array_length(v_keep) > 0)::text));
			END IF;
			RETURN jsonb_build_object('output', jsonb_build_object('items', v_keep, 'count', jsonb_array_length(v_keep)));

		WHEN v_kind = 'data.merge' THEN
			-- After a loop (one parent holding {"items": [...]}), its results are what is merged.
			IF jsonb_array_length(coalesce(ctx -> 'parents', '[]')) = 1
			   AND jsonb_typeof(ctx -> 'parents' -> 0 -> 'items') = 'array' THEN
				ctx := jsonb_set(ctx, '{parents}', ctx -> 'parents' -> 0 -> 'items');
			END IF;
			CASE coalesce(config ->> 'strategy', 'object')
				WHEN 'array' THEN
					v_out := coalesce(ctx -> 'parents', '[]');
				WHEN 'concat' THEN
					SELECT coalesce(jsonb_agg(y ORDER BY o, p), '[]') INTO v_out
					  FROM jsonb_array_elements(coalesce(ctx -> 'parents', '[]')) WITH ORDINALITY AS a (x, o),
						   LATERAL jsonb_array_elements(CASE jsonb_typeof(x) WHEN 'array' THEN x ELSE jsonb_build_array(x) END)
						   WITH ORDINALITY AS b (y, p);
				ELSE
					SELECT coalesce(jsonb_object_agg(k, v ORDER BY o), '{}') INTO v_out
					  FROM jsonb_array_elements(coalesce(ctx -> 'parents', '[]')) WITH ORDINALITY AS a (x, o),
						   LATERAL jsonb_each(CASE jsonb_typeof(x) WHEN 'object' THEN x ELSE '{}' END) AS b (k, v);
			END CASE;
			RETURN jsonb_build_object('output', v_out);

		WHEN v_kind = 'data.split' THEN
			v_items := flov7.node_items(config, v_data);
			RETURN jsonb_build_object('output', jsonb_build_object('items', v_items, 'count', jsonb_array_length(v_items)));

		WHEN v_kind = 'data.enrich' THEN
			v_out := CASE WHEN jsonb_typeof(v_data) = 'object' THEN v_data ELSE jsonb_build_object('data', v_data) END;
			IF config ? 'source' THEN
				v_out := v_out || CASE WHEN jsonb_typeof(ctx -> 'nodes' -> (config ->> 'source') -> 'output') = 'object'
									   THEN ctx -> 'nodes' -> (config ->> 'source') -> 'output' ELSE '{}' END;
			END IF;
			IF jsonb_typeof(config -> 'fields') = 'object' THEN
				v_out := v_out || (config -> 'fields');
			END IF;
			RETURN jsonb_build_object('output', v_out);

		WHEN v_kind = 'data.validate' THEN
			v_schema := config -> 'schema';
			IF jsonb_typeof(v_schema) = 'string' THEN
				-- a named schema (sql/parts/77_named_refs.sql): the owner's, else a global one
				v_schema := flov7.named_schema(v_schema #>> '{}');
			END IF;
			v_errors := flov7.json_schema_errors(v_schema, v_data);
			RETURN jsonb_build_object('output', jsonb_build_object('valid', cardinality(v_errors) = 0,
																   'errors', to_jsonb(v_errors), 'data', v_data));

		WHEN v_kind = 'condition.if_else' THEN
			v_ok := flov7.eval_condition(config ->> 'condition', ctx);
			RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(v_ok::text));

		WHEN v_kind = 'condition.json_path' THEN
			v_ok := coalesce(jsonb_path_match(ctx, (config ->> 'path')::jsonpath, '{}', true), false);
			RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(v_ok::text));

		WHEN v_kind = 'condition.regex' THEN
			v_ok := coalesce((config ->> 'value') ~ (CASE WHEN coalesce(config ->> 'flags', '') ~ 'i' THEN '(?i)' ELSE '' END
													 || (config ->> 'pattern')), false);
			RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(v_ok::text));

		WHEN v_kind = 'condition.compare' THEN
			v_left := config -> 'left';
			v_right := config -> 'right';
			v_op := config ->> 'operator';
			v_ok := CASE v_op
				WHEN '==' THEN v_left = v_right
				WHEN '!=' THEN v_left <> v_right
				WHEN 'contains' THEN CASE WHEN jsonb_typeof(v_left) = 'string' THEN strpos(v_left #>> '{}', v_right #>> '{}') > 0
										  ELSE v_left @> v_right END
				WHEN 'starts_with' THEN starts_with(v_left #>> '{}', v_right #>> '{}')
				WHEN 'ends_with' THEN right(v_left #>> '{}', length(v_right #>> '{}')) = v_right #>> '{}'
				ELSE CASE WHEN jsonb_typeof(v_left) = jsonb_typeof(v_right) AND jsonb_typeof(v_left) IN ('number', 'string') THEN
						CASE v_op WHEN '<' THEN v_left < v_right WHEN '<=' THEN v_left <= v_right
								  WHEN '>' THEN v_left > v_right WHEN '>=' THEN v_left >= v_right END END
			END;
			RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(coalesce(v_ok, false)::text));

		WHEN v_kind = 'condition.switch' THEN
			FOR v_case IN SELECT x FROM jsonb_array_elements(coalesce(config -> 'cases', '[]')) x LOOP
				IF (v_case ? 'condition' AND flov7.eval_condition(v_case ->> 'condition', ctx))
				   OR (v_case ? 'equals' AND config ? 'value' AND config -> 'value' = v_case -> 'equals') THEN
					RETURN jsonb_build_object('output', v_data, 'branches', jsonb_build_array(v_case ->> 'label'));
				END IF;
			END LOOP;
			RETURN jsonb_build_object('output', v_data, 'branches', '["default"]'::jsonb);

		WHEN v_kind = 'action.notification' THEN
			-- a named template gives the title (subject) and message (body) the node does not give
			IF jsonb_typeof(config -> 'template') = 'string' THEN
				v_out := flov7.render_message_template(config ->> 'template', ctx);
				config := jsonb_build_object('title', v_out -> 'subject', 'message', v_out -> 'body')
						  || jsonb_strip_nulls(jsonb_build_object('title', config -> 'title', 'message', config -> 'message'))
						  || (config - 'title' - 'message');
			END IF;
			RETURN jsonb_build_object('output', jsonb_build_object('notification_id',
				flov7.notify_caller(config ->> 'type', config ->> 'title', config ->> 'message',
									CASE WHEN jsonb_typeof(config -> 'data') = 'object' THEN config -> 'data' END)));

		WHEN v_kind = 'action.wait' THEN
			IF resumed THEN
				RETURN jsonb_build_object('output', v_data);
			END IF;
			IF config ? 'until' THEN
				v_until := (config ->> 'until')::timestamptz;
			ELSE
				v_until := clock_timestamp() + make_interval(secs => coalesce((config ->> 'duration_seconds')::float8, 0));
			END IF;
			IF v_until <= clock_timestamp() THEN
				RETURN jsonb_build_object('output', v_data);
			END IF;
			RETURN jsonb_build_object('wait_until', v_until);

		WHEN v_kind = 'condition.loop' THEN
			v_items := flov7.node_items(config, v_data);
			IF jsonb_array_length(v_items) > least(coalesce((config ->> 'max_iterations')::int, 1000), 10000) THEN
				RAISE EXCEPTION 'loop has % items, over its max_iterations (%)', jsonb_array_length(v_items),
					least(coalesce((config ->> 'max_iterations')::int, 1000), 10000)
					USING ERRCODE = '54000', HINT = 'Raise config.max_iterations (at most 10000), or loop over fewer items.';
			END IF;
			RETURN jsonb_build_object('output', jsonb_build_object('items', v_items), 'loop', true);

		ELSE
			-- The outside world (HTTP, AI, email, connections): step_finish parks the step for an
			-- outbound worker, or fails it when there is none (69_outbound.sql).  An email's named
			-- template is rendered here, as the owner, into the subject and body it does not give.
			IF v_kind = 'action.email_send' AND jsonb_typeof(config -> 'template') = 'string' THEN
				v_out := flov7.render_message_template(config ->> 'template', ctx);
				config := v_out || jsonb_strip_nulls(jsonb_build_object('subject', config -> 'subject', 'body', config -> 'body'))
						  || (config - 'subject' - 'body');
			END IF;
			RETURN jsonb_build_object('outside', jsonb_build_object('type', node_type, 'subtype', subtype, 'config', config));
	END CASE;
END
$$;

-- Settle the successors of a node (in the same loop iteration), in node id order (no deadlocks
-- between runners): each
-- loses a pending parent; taken ones (label in p_taken, or any edge of a node that does not
-- branch) get has_input.  A successor reaching 0 pending parents becomes ready, or skipped
-- when no parent fed it, and a skip settles its own successors in turn.
CREATE FUNCTION flov7.step_settle(p_uid uuid, p_exec uuid, p_definition jsonb, p_node text, p_taken text[],
								  p_iteration int DEFAULT 0)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_queue text[] := ARRAY[p_node];
	v_taken_q text[][] := NULL;
	v_node text;
	v_labels text[];
	v_first boolean := true;
	r record;
	v_left int;
	v_has boolean;
BEGIN
	WHILE cardinality(v_queue) > 0 LOOP
		v_node := v_queue[1];
		v_queue := v_queue[2:];
		FOR r IN
			SELECT o.target, bool_or(CASE WHEN v_first THEN (p_taken IS NULL OR o.label = ANY (p_taken)) ELSE false END) AS taken
			  FROM flov7.out_edges(p_definition, v_node) o
			 GROUP BY o.target ORDER BY o.target
		LOOP
			UPDATE flov7.execution_steps s
			   SET pending_parents = s.pending_parents - 1, has_input = s.has_input OR r.taken
			 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = r.target AND s.iteration = p_iteration
			   AND s.state = 'pending'
			RETURNING s.pending_parents, s.has_input INTO v_left, v_has;
			IF FOUND AND v_left = 0 THEN
				IF v_has THEN
					UPDATE flov7.execution_steps s SET state = 'ready', ready_at = now()
					 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = r.target AND s.iteration = p_iteration;
				ELSE
					UPDATE flov7.execution_steps s SET state = 'skipped', completed_at = now()
					 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = r.target AND s.iteration = p_iteration;
					v_queue := v_queue || r.target;
				END IF;
			END IF;
		END LOOP;
		v_first := false;
	END LOOP;
END
$$;

-- The cost of an execution so far: primitives.cost_usd of every step attempt that ran.
CREATE FUNCTION flov7.execution_cost(p_uid uuid, p_exec uuid, p_definition jsonb) RETURNS numeric
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT coalesce(sum(p.cost_usd), 0)
	  FROM flov7.execution_step_data d
	  JOIN jsonb_array_elements(p_definition -> 'nodes') n ON n ->> 'id' = d.node_id
	  JOIN flov7.primitives p ON p.type = n ->> 'type'
		   AND p.subtype = n -> 'data' -> 'config' ->> CASE n ->> 'type' WHEN 'data' THEN 'operation_type'
																		   ELSE (n ->> 'type') || '_type' END
	 WHERE d.user_id = p_uid AND d.execution_id = p_exec
$$;

-- End an execution whose steps are all settled (or that failed): status, timings, output_data
-- (the outputs of its completed terminal nodes), and the workflow's counters, once.
CREATE FUNCTION flov7.execution_settle(p_uid uuid, p_exec uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_exec flov7.workflow_executions;
	v_out jsonb;
BEGIN
	SELECT * INTO v_exec FROM flov7.workflow_executions e WHERE e.user_id = p_uid AND e.id = p_exec;
	IF v_exec.status IN ('completed', 'failed', 'cancelled') THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM flov7.execution_steps s WHERE s.user_id = p_uid AND s.execution_id = p_exec
				  AND s.state IN ('pending', 'ready', 'running', 'waiting')) THEN
		RETURN;
	END IF;
	SELECT coalesce(jsonb_object_agg(s.node_id, d.output), '{}') INTO v_out
	  FROM flov7.execution_steps s
	  JOIN LATERAL (SELECT x.output FROM flov7.execution_step_data x
					 WHERE x.user_id = s.user_id AND x.execution_id = s.execution_id AND x.node_id = s.node_id
					   AND x.iteration = s.iteration ORDER BY x.attempt DESC LIMIT 1) d ON true
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.state = 'completed' AND s.iteration = 0
	   AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_exec.definition -> 'edges') e WHERE e ->> 'source' = s.node_id);
	UPDATE flov7.workflow_executions e
	   SET status = 'completed', output_data = v_out, completed_at = clock_timestamp(),
		   cost_usd = flov7.execution_cost(p_uid, p_exec, v_exec.definition),
		   started_at = coalesce(e.started_at, e.created_at),
		   execution_time_seconds = round(extract(epoch FROM clock_timestamp() - coalesce(e.started_at, e.created_at))::numeric, 3)
	 WHERE e.user_id = p_uid AND e.id = p_exec;
	IF v_exec.retry_count = 0 THEN
		PERFORM flov7.workflow_count_run(p_uid, v_exec.workflow_id);
	END IF;
END
$$;

-- Count a finished run on its workflow (once per execution; no updated_at, no audit row).
CREATE FUNCTION flov7.workflow_count_run(p_uid uuid, p_workflow uuid) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	UPDATE flov7.workflows w SET execution_count = w.execution_count + 1, last_executed_at = clock_timestamp()
	 WHERE w.user_id = p_uid AND w.id = p_workflow
$$;

-- Fail an execution at a node: the other unsettled steps are cancelled.
CREATE FUNCTION flov7.execution_fail(p_uid uuid, p_exec uuid, p_node text, p_error text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_wf uuid;
	v_retries int;
BEGIN
	UPDATE flov7.execution_steps s SET state = 'cancelled', completed_at = now(), ready_at = NULL
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.state IN ('pending', 'ready', 'waiting');
	UPDATE flov7.workflow_executions e
	   SET status = 'failed', error_node = p_node, completed_at = clock_timestamp(),
		   cost_usd = flov7.execution_cost(p_uid, p_exec, e.definition),
		   error_message = left(format('node "%s" failed: %s', p_node, p_error), 2000),
		   started_at = coalesce(e.started_at, e.created_at),
		   execution_time_seconds = round(extract(epoch FROM clock_timestamp() - coalesce(e.started_at, e.created_at))::numeric, 3)
	 WHERE e.user_id = p_uid AND e.id = p_exec AND e.status NOT IN ('completed', 'failed', 'cancelled')
	RETURNING e.workflow_id, e.retry_count INTO v_wf, v_retries;
	IF FOUND AND v_retries = 0 THEN
		PERFORM flov7.workflow_count_run(p_uid, v_wf);
	END IF;
END
$$;

-- The body of a loop: the nodes reachable from its "item" edges (an unlabelled edge is one),
-- but not from its "done" edges.  Each run of the body is one iteration (1..n) of its steps.
CREATE FUNCTION flov7.loop_body(definition jsonb, loop text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	WITH RECURSIVE e AS (
		SELECT x ->> 'source' AS src, x ->> 'target' AS dst, coalesce(x ->> 'branch', x ->> 'sourceHandle') AS lbl
		  FROM jsonb_array_elements(definition -> 'edges') x
	), done (n) AS (
		SELECT e.dst FROM e WHERE e.src = loop AND e.lbl = 'done'
		UNION
		SELECT e.dst FROM e JOIN done d ON e.src = d.n
	), body (n) AS (
		SELECT e.dst FROM e WHERE e.src = loop AND (e.lbl IS NULL OR e.lbl = 'item')
		UNION
		SELECT e.dst FROM e JOIN body b ON e.src = b.n WHERE e.dst <> loop
	)
	SELECT coalesce(array_agg(DISTINCT b.n ORDER BY b.n), '{}') FROM body b WHERE b.n NOT IN (SELECT d.n FROM done d)
$$;

-- The loop whose body holds a node (NULL: none).
CREATE FUNCTION flov7.loop_of(definition jsonb, node text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT n ->> 'id' FROM jsonb_array_elements(definition -> 'nodes') n
	 WHERE n -> 'data' -> 'config' ->> 'condition_type' = 'loop' AND node = ANY (flov7.loop_body(definition, n ->> 'id'))
	 ORDER BY n ->> 'id' LIMIT 1
$$;

-- Start a loop whose node ran: one iteration of its body per item; the loop step waits (parked,
-- no timer) until the iterations end.  No items: the loop completes at once.
CREATE FUNCTION flov7.loop_start(p_uid uuid, p_exec uuid, p_definition jsonb, p_loop text, p_items jsonb,
								 p_worker text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_body text[] := flov7.loop_body(p_definition, p_loop);
	v_n int := jsonb_array_length(p_items);
BEGIN
	DELETE FROM flov7.execution_steps s
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = ANY (v_body) AND s.iteration > 0;
	UPDATE flov7.execution_steps s SET state = 'waiting', ready_at = NULL
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_loop AND s.iteration = 0;
	INSERT INTO flov7.execution_steps (user_id, execution_id, node_id, iteration, state, pending_parents, has_input, ready_at)
	SELECT p_uid, p_exec, b, k, CASE WHEN c.parents = 0 THEN 'ready' ELSE 'pending' END, c.parents, c.parents = 0,
		   CASE WHEN c.parents = 0 THEN now() END
	  FROM unnest(v_body) b
	 CROSS JOIN generate_series(1, v_n) k
	 CROSS JOIN LATERAL (SELECT count(DISTINCT e ->> 'source')::int AS parents
						   FROM jsonb_array_elements(p_definition -> 'edges') e
						  WHERE e ->> 'target' = b AND e ->> 'source' = ANY (v_body)) c
	 ORDER BY k, b;
	UPDATE flov7.workflow_executions e SET steps_total = e.steps_total + v_n * cardinality(v_body)
	 WHERE e.user_id = p_uid AND e.id = p_exec;
	PERFORM flov7.loop_try_finish(p_uid, p_exec, p_definition, p_loop, p_worker);
END
$$;

-- Complete a loop whose iterations have all ended: its output is {"items": [one result per
-- item, in order]}, a result being the output of the body's last node (several last nodes:
-- an object by node id); then its "done" branch goes on.
CREATE FUNCTION flov7.loop_try_finish(p_uid uuid, p_exec uuid, p_definition jsonb, p_loop text, p_worker text)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_body text[] := flov7.loop_body(p_definition, p_loop);
	v_last text[];
	v_step flov7.execution_steps;
	v_n int;
	v_results jsonb;
BEGIN
	IF p_loop IS NULL OR EXISTS (
		SELECT 1 FROM flov7.execution_steps s
		 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = ANY (v_body) AND s.iteration > 0
		   AND s.state IN ('pending', 'ready', 'running', 'waiting')) THEN
		RETURN;
	END IF;
	SELECT * INTO v_step FROM flov7.execution_steps s
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_loop AND s.iteration = 0;
	IF v_step.state IS DISTINCT FROM 'waiting' OR v_step.ready_at IS NOT NULL THEN
		RETURN;
	END IF;
	v_last := ARRAY(SELECT b FROM unnest(v_body) b
					 WHERE NOT EXISTS (SELECT 1 FROM flov7.out_edges(p_definition, b) o WHERE o.target = ANY (v_body)));
	SELECT jsonb_array_length(d.output -> 'items') INTO v_n FROM flov7.execution_step_data d
	 WHERE d.user_id = p_uid AND d.execution_id = p_exec AND d.node_id = p_loop AND d.iteration = 0
	 ORDER BY d.attempt DESC LIMIT 1;
	SELECT coalesce(jsonb_agg(r.result ORDER BY r.k), '[]') INTO v_results
	  FROM (SELECT k, CASE WHEN cardinality(v_last) = 1 THEN max(o.output::text) FILTER (WHERE o.node_id = v_last[1])::jsonb
						   ELSE jsonb_object_agg(o.node_id, o.output) END AS result
			  FROM generate_series(1, coalesce(v_n, 0)) k
			  CROSS JOIN unnest(v_last) l (node_id)
			  LEFT JOIN LATERAL (SELECT x.node_id, x.output FROM flov7.execution_step_data x
								  WHERE x.user_id = p_uid AND x.execution_id = p_exec AND x.node_id = l.node_id
									AND x.iteration = k ORDER BY x.attempt DESC LIMIT 1) o ON true
			 GROUP BY k) r;
	INSERT INTO flov7.execution_step_data (user_id, execution_id, node_id, iteration, attempt, input, output,
										   branches, error, started_at, finished_at, worker)
	VALUES (p_uid, p_exec, p_loop, 0, v_step.attempt + 1, NULL, jsonb_build_object('items', v_results),
			'{done}', NULL, coalesce(v_step.started_at, clock_timestamp()), clock_timestamp(), p_worker);
	UPDATE flov7.execution_steps s
	   SET state = 'completed', attempt = v_step.attempt + 1, completed_at = clock_timestamp()
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_loop AND s.iteration = 0;
	UPDATE flov7.workflow_executions e SET steps_completed = e.steps_completed + 1
	 WHERE e.user_id = p_uid AND e.id = p_exec;
	PERFORM flov7.step_settle(p_uid, p_exec, p_definition, p_loop, '{done}', 0);
	PERFORM flov7.execution_settle(p_uid, p_exec);
END
$$;

-- Claim one due step, round-robin over owners: the first owner after p_after with a due step
-- (wrapping around), its earliest step.  Locks the step (FOR UPDATE SKIP LOCKED) and returns
-- what the runner needs; steps of executions that ended are cancelled on the way.
CREATE FUNCTION flov7.step_claim(p_after uuid,
	OUT user_id uuid, OUT execution_id uuid, OUT node_id text, OUT iteration int, OUT attempt int,
	OUT resumed boolean, OUT owner_role text, OUT node jsonb, OUT ctx jsonb)
RETURNS record
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_step flov7.execution_steps;
	v_exec flov7.workflow_executions;
	v_parents jsonb;
	v_data jsonb;
	v_pass int;
	v_loop text;
	v_item jsonb;
	v_settings jsonb;
	v_max_steps float8;
BEGIN
	LOOP
		v_step := NULL;
		FOR v_pass IN 1 .. 2 LOOP
			SELECT * INTO v_step FROM flov7.execution_steps s
			 WHERE s.state IN ('ready', 'waiting') AND s.ready_at IS NOT NULL AND s.ready_at <= clock_timestamp()
			   AND (v_pass = 2 OR p_after IS NULL OR s.user_id > p_after)
			 ORDER BY s.user_id, s.ready_at LIMIT 1
			   FOR UPDATE SKIP LOCKED;
			EXIT WHEN v_step.user_id IS NOT NULL OR p_after IS NULL;
		END LOOP;
		IF v_step.user_id IS NULL THEN
			RETURN;
		END IF;
		SELECT * INTO v_exec FROM flov7.workflow_executions e
		 WHERE e.user_id = v_step.user_id AND e.id = v_step.execution_id;
		IF v_exec.status IN ('completed', 'failed', 'cancelled') THEN
			UPDATE flov7.execution_steps s SET state = 'cancelled', completed_at = now(), ready_at = NULL
			 WHERE s.user_id = v_step.user_id AND s.execution_id = v_step.execution_id
			   AND s.node_id = v_step.node_id AND s.iteration = v_step.iteration;
			CONTINUE;
		END IF;
		-- The execution's own bounds (definition "settings"): a time limit and a number of steps.
		v_settings := CASE WHEN jsonb_typeof(v_exec.definition -> 'settings') = 'object' THEN v_exec.definition -> 'settings' ELSE '{}' END;
		IF jsonb_typeof(v_settings -> 'timeout_seconds') = 'number'
		   AND clock_timestamp() > coalesce(v_exec.started_at, v_exec.created_at)
								   + make_interval(secs => (v_settings ->> 'timeout_seconds')::float8) THEN
			PERFORM flov7.execution_fail(v_step.user_id, v_step.execution_id, v_step.node_id,
				format('the execution is over its time limit of %s s (settings.timeout_seconds)', v_settings ->> 'timeout_seconds'));
			CONTINUE;
		END IF;
		v_max_steps := CASE WHEN jsonb_typeof(v_settings -> 'max_steps') = 'number'
							THEN (v_settings ->> 'max_steps')::float8 ELSE 100000 END;
		IF v_exec.steps_completed + v_exec.steps_failed >= v_max_steps THEN
			PERFORM flov7.execution_fail(v_step.user_id, v_step.execution_id, v_step.node_id,
				format('the execution ran %s steps, its limit (settings.max_steps)', v_exec.steps_completed + v_exec.steps_failed));
			CONTINUE;
		END IF;
		EXIT;
	END LOOP;

	user_id := v_step.user_id;
	execution_id := v_step.execution_id;
	node_id := v_step.node_id;
	iteration := v_step.iteration;
	attempt := v_step.attempt + 1;
	resumed := v_step.state = 'waiting';
	SELECT CASE u.role WHEN 'admin' THEN 'flov7_admin' ELSE 'flov7_user' END INTO owner_role
	  FROM flov7.users u WHERE u.id = v_step.user_id;
	SELECT n INTO node FROM jsonb_array_elements(v_exec.definition -> 'nodes') n WHERE n ->> 'id' = v_step.node_id LIMIT 1;

	-- The data flowing in: the one completed parent's output; several: their objects merged
	-- (in edge order), or the list of their outputs when not all are objects; none: the input.
	-- In iteration k of a loop's body, parents are of the same iteration, and the loop itself
	-- gives its k-th item.
	IF v_step.iteration > 0 THEN
		v_loop := flov7.loop_of(v_exec.definition, v_step.node_id);
		SELECT d.output -> 'items' -> (v_step.iteration - 1) INTO v_item
		  FROM flov7.execution_step_data d
		 WHERE d.user_id = v_step.user_id AND d.execution_id = v_step.execution_id AND d.node_id = v_loop
		   AND d.iteration = 0 ORDER BY d.attempt DESC LIMIT 1;
	END IF;
	SELECT coalesce(jsonb_agg(x.output ORDER BY x.ord), '[]') INTO v_parents
	  FROM (SELECT DISTINCT ON (e.e ->> 'source') e.e ->> 'source' AS src, e.ord,
				   CASE WHEN p.node_id = v_loop THEN v_item ELSE d.output END AS output
			  FROM jsonb_array_elements(v_exec.definition -> 'edges') WITH ORDINALITY AS e (e, ord)
			  JOIN flov7.execution_steps p ON p.user_id = v_step.user_id AND p.execution_id = v_step.execution_id
										  AND p.node_id = e.e ->> 'source'
										  AND ((p.node_id = v_loop AND p.iteration = 0)
											   OR (p.node_id IS DISTINCT FROM v_loop AND p.iteration = v_step.iteration
												   AND p.state = 'completed'))
			  JOIN LATERAL (SELECT x.output FROM flov7.execution_step_data x
							 WHERE x.user_id = p.user_id AND x.execution_id = p.execution_id AND x.node_id = p.node_id
							   AND x.iteration = p.iteration ORDER BY x.attempt DESC LIMIT 1) d ON true
			 WHERE e.e ->> 'target' = v_step.node_id
			 ORDER BY e.e ->> 'source', e.ord) x;
	v_data := CASE jsonb_array_length(v_parents)
				WHEN 0 THEN v_exec.input_data
				WHEN 1 THEN v_parents -> 0
				ELSE CASE WHEN NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_parents) y WHERE jsonb_typeof(y) <> 'object')
						  THEN (SELECT jsonb_object_agg(k, v ORDER BY o)
								  FROM jsonb_array_elements(v_parents) WITH ORDINALITY AS a (y, o), jsonb_each(y) AS b (k, v))
						  ELSE v_parents END
			  END;
	ctx := jsonb_build_object(
		'input', v_exec.input_data,
		'data', v_data,
		'parents', v_parents,
		'execution', jsonb_build_object('id', v_exec.id, 'workflow_id', v_exec.workflow_id,
										'workflow_version', v_exec.workflow_version, 'attempt', attempt),
		'item', v_item, 'index', CASE WHEN v_step.iteration > 0 THEN v_step.iteration - 1 END,
		'nodes', (SELECT coalesce(jsonb_object_agg(s.node_id, jsonb_build_object('output', d.output) ORDER BY s.iteration), '{}')
					FROM flov7.execution_steps s
					JOIN LATERAL (SELECT x.output FROM flov7.execution_step_data x
								   WHERE x.user_id = s.user_id AND x.execution_id = s.execution_id AND x.node_id = s.node_id
									 AND x.iteration = s.iteration ORDER BY x.attempt DESC LIMIT 1) d ON true
				   WHERE s.user_id = v_step.user_id AND s.execution_id = v_step.execution_id AND s.state = 'completed'
					 AND s.iteration IN (0, v_step.iteration)));
	IF v_exec.status IN ('pending', 'waiting') THEN
		UPDATE flov7.workflow_executions e SET status = 'running', started_at = coalesce(e.started_at, clock_timestamp())
		 WHERE e.user_id = v_step.user_id AND e.id = v_step.execution_id;
	END IF;
END
$$;

-- An execution that has started and not ended is 'running' while one of its steps is due or
-- running, and 'waiting' when all that remains is durable timers (wait nodes, retry backoff),
-- a loop's iterations to come, or steps parked for an outside worker.  The execution row is
-- locked first, so that two steps finishing at once see each other's states.
CREATE FUNCTION flov7.execution_refresh_status(p_uid uuid, p_exec uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_status text;
	v_new text;
BEGIN
	SELECT e.status INTO v_status FROM flov7.workflow_executions e
	 WHERE e.user_id = p_uid AND e.id = p_exec FOR NO KEY UPDATE;
	IF v_status IS DISTINCT FROM 'running' AND v_status IS DISTINCT FROM 'waiting' THEN
		RETURN;
	END IF;
	v_new := CASE WHEN EXISTS (SELECT 1 FROM flov7.execution_steps s
								WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.state IN ('ready', 'running')
								  AND (s.state = 'running' OR s.ready_at <= clock_timestamp()))
				  THEN 'running' ELSE 'waiting' END;
	IF v_new <> v_status THEN
		UPDATE flov7.workflow_executions e SET status = v_new WHERE e.user_id = p_uid AND e.id = p_exec;
	END IF;
END
$$;

-- Record the end of a step's attempt and move the execution on.  p_result is the node's
-- answer ({"output", "branches"} or {"wait_until"}), NULL when p_error is set.  A failure is
-- retried per config.retry ({"max_attempts", "backoff_ms", "max_backoff_ms"}), else it fails
-- the execution, unless config.continue_on_error (then the step completes with
-- {"error": ...} as its output and its successors run).
CREATE FUNCTION flov7.step_finish(p_uid uuid, p_exec uuid, p_node text, p_iteration int, p_attempt int,
								  p_node_def jsonb, p_input jsonb, p_result jsonb, p_error text,
								  p_started timestamptz, p_worker text)
RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_config jsonb := coalesce(p_node_def -> 'data' -> 'config', '{}');
	v_retry jsonb := CASE WHEN jsonb_typeof(v_config -> 'retry') = 'object' THEN v_config -> 'retry' ELSE '{}' END;
	v_max int := least(greatest(coalesce((v_retry ->> 'max_attempts')::int, 1), 1), 100);
	v_delay bigint;
	v_def jsonb;
	v_branches text[];
BEGIN
	SELECT e.definition INTO v_def FROM flov7.workflow_executions e WHERE e.user_id = p_uid AND e.id = p_exec;
	IF p_error IS NULL AND p_result ? 'outside' THEN
		IF flov7.outbound_enabled() THEN
			PERFORM flov7.outbound_park(p_uid, p_exec, p_node, p_iteration, p_attempt, p_result -> 'outside', p_input, p_started);
			PERFORM flov7.execution_refresh_status(p_uid, p_exec);
			RETURN 'parked';
		END IF;
		p_error := format('node type %s/%s needs the outbound worker (not available yet)',
						  p_result -> 'outside' ->> 'type', p_result -> 'outside' ->> 'subtype');
		p_result := NULL;
	END IF;
	IF p_error IS NULL AND p_result ? 'wait_until' THEN
		UPDATE flov7.execution_steps s SET state = 'waiting', ready_at = (p_result ->> 'wait_until')::timestamptz,
			   started_at = coalesce(s.started_at, p_started)
		 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
		PERFORM flov7.execution_refresh_status(p_uid, p_exec);
		RETURN 'waiting';
	END IF;
	IF p_result ? 'branches' THEN
		v_branches := ARRAY(SELECT jsonb_array_elements_text(p_result -> 'branches'));
	END IF;
	INSERT INTO flov7.execution_step_data (user_id, execution_id, node_id, iteration, attempt, input, output,
										   branches, error, started_at, finished_at, worker)
	VALUES (p_uid, p_exec, p_node, p_iteration, p_attempt, p_input,
			CASE WHEN p_error IS NULL THEN p_result -> 'output'
				 WHEN (v_config ->> 'continue_on_error')::boolean AND p_attempt >= v_max THEN jsonb_build_object('error', p_error) END,
			v_branches, p_error, p_started, clock_timestamp(), p_worker);

	IF p_error IS NOT NULL AND p_attempt < v_max THEN
		v_delay := flov7.retry_delay_ms(p_attempt, coalesce((v_retry ->> 'backoff_ms')::int, 1000),
										coalesce((v_retry ->> 'max_backoff_ms')::int, 300000));
		UPDATE flov7.execution_steps s
		   SET state = 'ready', attempt = p_attempt, ready_at = clock_timestamp() + make_interval(secs => v_delay / 1000.0),
			   started_at = coalesce(s.started_at, p_started)
		 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
		PERFORM flov7.execution_refresh_status(p_uid, p_exec);
		RETURN 'retry';
	END IF;

	IF p_error IS NULL AND p_result ? 'loop' THEN
		UPDATE flov7.execution_steps s SET attempt = p_attempt, started_at = coalesce(s.started_at, p_started)
		 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
		PERFORM flov7.loop_start(p_uid, p_exec, v_def, p_node, p_result -> 'output' -> 'items', p_worker);
		PERFORM flov7.execution_refresh_status(p_uid, p_exec);
		RETURN 'looping';
	END IF;

	IF p_error IS NOT NULL AND NOT coalesce((v_config ->> 'continue_on_error')::boolean, false) THEN
		UPDATE flov7.execution_steps s
		   SET state = 'failed', attempt = p_attempt, ready_at = NULL, completed_at = clock_timestamp(),
			   started_at = coalesce(s.started_at, p_started)
		 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
		UPDATE flov7.workflow_executions e SET steps_failed = e.steps_failed + 1
		 WHERE e.user_id = p_uid AND e.id = p_exec;
		PERFORM flov7.execution_fail(p_uid, p_exec, p_node, p_error);
		RETURN 'failed';
	END IF;

	UPDATE flov7.execution_steps s
	   SET state = 'completed', attempt = p_attempt, ready_at = NULL, completed_at = clock_timestamp(),
		   started_at = coalesce(s.started_at, p_started)
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
	UPDATE flov7.workflow_executions e
	   SET steps_completed = e.steps_completed + 1,
		   steps_failed = e.steps_failed + CASE WHEN p_error IS NULL THEN 0 ELSE 1 END
	 WHERE e.user_id = p_uid AND e.id = p_exec;
	PERFORM flov7.step_settle(p_uid, p_exec, v_def, p_node, CASE WHEN p_error IS NULL THEN v_branches END, p_iteration);
	IF p_iteration > 0 THEN
		PERFORM flov7.loop_try_finish(p_uid, p_exec, v_def, flov7.loop_of(v_def, p_node), p_worker);
	END IF;
	PERFORM flov7.execution_settle(p_uid, p_exec);
	PERFORM flov7.execution_refresh_status(p_uid, p_exec);
	RETURN 'completed';
END
$$;

-- The runner (extension/engine.c): run up to max_steps due steps now, in this transaction,
-- each under its own subtransaction as the workflow's owner.  Returns how many ran.
CREATE FUNCTION flov7.run_ready(max_steps int DEFAULT 100) RETURNS int
	AS 'MODULE_PATHNAME', 'flov7_run_ready' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, flov7, pg_temp;
COMMENT ON FUNCTION flov7.run_ready(int) IS
	'run up to max_steps due steps of any owner now (superuser; what the background workers do)';

-- ---- sql/parts/67_executions_api.sql ----
-- 67_executions_api.sql: listing, reading, cancelling and retrying executions.
--
-- Reads are invoker rights under RLS, scoped to the caller explicitly (another user's
-- execution is "not found", also for an admin); cancel and retry change the queue, which
-- users cannot write, so they go through SECURITY DEFINER helpers that check the owner.

-- One step of an execution with its latest attempt's data.
CREATE FUNCTION flov7.step_to_json(s flov7.execution_steps) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'node_id', s.node_id, 'iteration', s.iteration, 'state', s.state, 'attempt', s.attempt,
		'ready_at', s.ready_at, 'started_at', s.started_at, 'completed_at', s.completed_at,
		'input', d.input, 'output', d.output, 'branches', to_jsonb(d.branches), 'error', d.error,
		'worker', d.worker, 'duration_ms',
		round(extract(epoch FROM d.finished_at - d.started_at)::numeric * 1000, 3))
	  FROM (SELECT 1) one
	  LEFT JOIN LATERAL (SELECT x.* FROM flov7.execution_step_data x
						  WHERE x.user_id = s.user_id AND x.execution_id = s.execution_id
							AND x.node_id = s.node_id AND x.iteration = s.iteration
						  ORDER BY x.attempt DESC LIMIT 1) d ON true
$$;

-- GET /workflows/{id}/executions: the executions of one of the caller's workflows, newest
-- first; filters status, created_after, created_before; limit/offset, or the keyset cursor
-- "before" (an execution id: the page after it), which costs the same on any page.
CREATE FUNCTION flov7_api.execution_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_wf uuid := flov7.arg_uuid(args, 'id');
	v_limit int := flov7.arg_int(args, 'limit', 20, 1, 100);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_status text := flov7.arg_enum(args, 'status',
		ARRAY['pending', 'running', 'completed', 'failed', 'cancelled', 'waiting'], false);
	v_after timestamptz := flov7.arg_timestamptz(args, 'created_after');
	v_before timestamptz := flov7.arg_timestamptz(args, 'created_before');
	v_cursor uuid;
	v_ct timestamptz;
	v_items jsonb;
	v_total bigint;
	v_last flov7.workflow_executions;
BEGIN
	IF args ? 'before' THEN
		v_cursor := flov7.arg_uuid(args, 'before');
	END IF;
	PERFORM 1 FROM flov7.workflows w WHERE w.id = v_wf AND w.user_id = v_uid;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'workflow not found' USING ERRCODE = 'P0002';
	END IF;
	IF v_cursor IS NOT NULL THEN
		SELECT e.created_at INTO v_ct FROM flov7.workflow_executions e
		 WHERE e.user_id = v_uid AND e.workflow_id = v_wf AND e.id = v_cursor;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'field "before" names no execution of this workflow' USING ERRCODE = '22023';
		END IF;
		v_offset := 0;
	END IF;
	SELECT count(*) INTO v_total FROM flov7.workflow_executions e
	 WHERE e.user_id = v_uid AND e.workflow_id = v_wf AND (v_status IS NULL OR e.status = v_status)
	   AND (v_after IS NULL OR e.created_at >= v_after) AND (v_before IS NULL OR e.created_at < v_before);
	SELECT coalesce(jsonb_agg(flov7.execution_to_json(x) ORDER BY x.created_at DESC, x.id DESC), '[]')
	  INTO v_items
	  FROM (SELECT * FROM flov7.workflow_executions e
			 WHERE e.user_id = v_uid AND e.workflow_id = v_wf AND (v_status IS NULL OR e.status = v_status)
			   AND (v_after IS NULL OR e.created_at >= v_after) AND (v_before IS NULL OR e.created_at < v_before)
			   AND (v_cursor IS NULL OR (e.created_at, e.id) < (v_ct, v_cursor))
			 ORDER BY e.created_at DESC, e.id DESC LIMIT v_limit OFFSET v_offset) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset,
							  'next_cursor', CASE WHEN jsonb_array_length(v_items) = v_limit
												  THEN v_items -> (v_limit - 1) -> 'id' END);
END
$$;

-- GET /workflows/executions/{id}: one of the caller's executions with its steps.
CREATE FUNCTION flov7_api.execution_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_id uuid := flov7.arg_uuid(args, 'id');
	v_exec flov7.workflow_executions;
BEGIN
	SELECT * INTO v_exec FROM flov7.workflow_executions e WHERE e.user_id = v_uid AND e.id = v_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'execution not found' USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.execution_to_json(v_exec) || jsonb_build_object(
		'steps', (SELECT coalesce(jsonb_agg(flov7.step_to_json(s) ORDER BY s.started_at NULLS LAST, s.node_id, s.iteration), '[]')
					FROM flov7.execution_steps s WHERE s.user_id = v_uid AND s.execution_id = v_id));
END
$$;

-- Cancel one of the caller's executions: its pending, ready and waiting steps are cancelled
-- (a step running right now finishes, and its successors do not start).  PT409 if it ended.
CREATE FUNCTION flov7.execution_cancel(p_id uuid) RETURNS flov7.workflow_executions
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:execute');
	v_exec flov7.workflow_executions;
BEGIN
	SELECT * INTO v_exec FROM flov7.workflow_executions e WHERE e.user_id = v_uid AND e.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'execution not found' USING ERRCODE = 'P0002';
	END IF;
	IF v_exec.status IN ('completed', 'failed', 'cancelled') THEN
		RAISE EXCEPTION 'execution already ended (%)', v_exec.status USING ERRCODE = 'PT409',
			HINT = 'Only a pending, running or waiting execution can be cancelled.';
	END IF;
	-- A step a worker holds is running now: skip it rather than wait for it (the worker, about to
	-- lock this execution row, would deadlock with us); it finishes, and the runner cancels what
	-- it would start next, since the execution is over.
	UPDATE flov7.execution_steps s SET state = 'cancelled', completed_at = now(), ready_at = NULL
	  FROM (SELECT x.node_id, x.iteration FROM flov7.execution_steps x
			 WHERE x.user_id = v_uid AND x.execution_id = p_id AND x.state IN ('pending', 'ready', 'waiting')
			   FOR UPDATE SKIP LOCKED) free
	 WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.node_id = free.node_id AND s.iteration = free.iteration;
	UPDATE flov7.workflow_executions e
	   SET status = 'cancelled', completed_at = clock_timestamp(), error_message = 'cancelled by the user',
		   execution_time_seconds = round(extract(epoch FROM clock_timestamp() - coalesce(e.started_at, e.created_at))::numeric, 3)
	 WHERE e.user_id = v_uid AND e.id = p_id
	RETURNING * INTO v_exec;
	IF v_exec.retry_count = 0 THEN
		PERFORM flov7.workflow_count_run(v_uid, v_exec.workflow_id);
	END IF;
	RETURN v_exec;
END
$$;

-- POST /workflows/executions/{id}/cancel
CREATE FUNCTION flov7_api.execution_cancel(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	PERFORM flov7.authorize('workflows:execute');
	RETURN flov7.execution_to_json(flov7.execution_cancel(flov7.arg_uuid(args, 'id')));
END
$$;

-- Retry one of the caller's failed (or cancelled) executions from where it stopped: completed
-- and skipped steps are kept; every other step waits again for its unsettled parents, and
-- those with none left are ready now.  A failed step gets a fresh attempt (numbering goes on,
-- and one more attempt than config.retry gives per retry).  PT409 unless failed or cancelled.
CREATE FUNCTION flov7.execution_retry(p_id uuid) RETURNS flov7.workflow_executions
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:execute');
	v_exec flov7.workflow_executions;
	r record;
BEGIN
	SELECT * INTO v_exec FROM flov7.workflow_executions e WHERE e.user_id = v_uid AND e.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'execution not found' USING ERRCODE = 'P0002';
	END IF;
	IF v_exec.status NOT IN ('failed', 'cancelled') THEN
		RAISE EXCEPTION 'only a failed or cancelled execution can be retried (it is %)', v_exec.status
			USING ERRCODE = 'PT409';
	END IF;

	-- A loop that did not end runs again, all its iterations.
	DELETE FROM flov7.execution_steps s
	 WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.iteration > 0 AND s.state NOT IN ('completed', 'skipped');

	-- Every unsettled step waits again for its parents that are neither completed nor skipped;
	-- it has input if a completed parent took an edge into it.
	WITH edges AS (
		SELECT DISTINCT x.e ->> 'source' AS src, x.e ->> 'target' AS dst
		  FROM jsonb_array_elements(v_exec.definition -> 'edges') AS x (e)
	), counts AS (
		SELECT s.node_id,
			   count(DISTINCT e.src) FILTER (WHERE p.state NOT IN ('completed', 'skipped'))::int AS waiting,
			   bool_or(p.state = 'completed' AND (d.branches IS NULL OR EXISTS (
				   SELECT 1 FROM flov7.out_edges(v_exec.definition, e.src) o
					WHERE o.target = s.node_id AND o.label = ANY (d.branches)))) AS fed,
			   count(e.src) = 0 AS root
		  FROM flov7.execution_steps s
		  LEFT JOIN edges e ON e.dst = s.node_id
		  LEFT JOIN flov7.execution_steps p ON p.user_id = s.user_id AND p.execution_id = s.execution_id
										   AND p.node_id = e.src AND p.iteration = 0
		  LEFT JOIN LATERAL (SELECT x.branches FROM flov7.execution_step_data x
							  WHERE x.user_id = p.user_id AND x.execution_id = p.execution_id AND x.node_id = p.node_id
								AND x.iteration = p.iteration ORDER BY x.attempt DESC LIMIT 1) d ON true
		 WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.state NOT IN ('completed', 'skipped')
		   AND s.iteration = 0
		 GROUP BY s.node_id
	)
	UPDATE flov7.execution_steps s
	   SET state = CASE WHEN c.waiting = 0 THEN 'ready' ELSE 'pending' END,
		   pending_parents = c.waiting, has_input = coalesce(c.fed, false) OR c.root,
		   ready_at = CASE WHEN c.waiting = 0 THEN now() END, completed_at = NULL
	  FROM counts c
	 WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.node_id = c.node_id AND s.iteration = 0;

	-- A ready step nothing fed is skipped, and settles its successors.
	FOR r IN SELECT s.node_id FROM flov7.execution_steps s
			  WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.state = 'ready' AND NOT s.has_input
			  ORDER BY s.node_id LOOP
		UPDATE flov7.execution_steps s SET state = 'skipped', ready_at = NULL, completed_at = now()
		 WHERE s.user_id = v_uid AND s.execution_id = p_id AND s.node_id = r.node_id;
		PERFORM flov7.step_settle(v_uid, p_id, v_exec.definition, r.node_id, '{}');
	END LOOP;

	UPDATE flov7.workflow_executions e
	   SET status = 'running', error_message = NULL, error_node = NULL, completed_at = NULL,
		   execution_time_seconds = NULL, output_data = NULL, retry_count = e.retry_count + 1
	 WHERE e.user_id = v_uid AND e.id = p_id
	RETURNING * INTO v_exec;
	PERFORM flov7.execution_settle(v_uid, p_id);
	PERFORM flov7.wake_workers();
	SELECT * INTO v_exec FROM flov7.workflow_executions e WHERE e.user_id = v_uid AND e.id = p_id;
	RETURN v_exec;
END
$$;

-- POST /workflows/executions/{id}/retry
CREATE FUNCTION flov7_api.execution_retry(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_exec flov7.workflow_executions;
BEGIN
	PERFORM flov7.authorize('workflows:execute');
	v_exec := flov7.execution_retry(flov7.arg_uuid(args, 'id'));
	RETURN flov7.execution_to_json(v_exec);
END
$$;

-- ---- sql/parts/68_worker.sql ----
-- 68_worker.sql: what the background workers (extension/worker.c) need.
--
-- The workers connect as flov7_worker: LOGIN (a background worker connects without a
-- password, through no pg_hba line), neither superuser nor BYPASSRLS, member of nothing.
-- All it may do is call the runner, which runs each step as the step's owner.

DO $worker$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'flov7_worker') THEN
		CREATE ROLE flov7_worker LOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS;
	END IF;
	EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO flov7_worker', pg_catalog.current_database());
END
$worker$;

-- Milliseconds until the earliest ready step or timer is due (0: now; NULL: none).
CREATE FUNCTION flov7.next_due_ms() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT CASE WHEN min(s.ready_at) IS NOT NULL
				THEN greatest(0, ceil(extract(epoch FROM min(s.ready_at) - clock_timestamp()) * 1000))::bigint END
	  FROM flov7.execution_steps s
	 WHERE s.state IN ('ready', 'waiting') AND s.ready_at IS NOT NULL
$$;

-- Wake a background worker when the current transaction commits (a no-op without workers).
CREATE FUNCTION flov7.wake_workers() RETURNS void
	AS 'MODULE_PATHNAME', 'flov7_wake_workers' LANGUAGE C VOLATILE;

-- ---- sql/parts/69_outbound.sql ----
-- 69_outbound.sql: steps done outside the database (HTTP calls, AI, email, connections).
--
-- Such a step is parked (state waiting, no ready_at) with its request: the node's type, its
-- config with templates evaluated, the data flowing in, and an idempotency key that stays the
-- same across attempts.  An outbound worker claims parked steps with a lease
-- (flov7.outbound_claim: state running, lease_until, fence bumped) and reports each result with
-- the fence it got (flov7.outbound_complete): a late answer from a claim whose lease expired and
-- was claimed again is refused, so a result is recorded once even though the call itself is at
-- least once.  A result goes through flov7.step_finish like any other step's (retries, backoff,
-- continue_on_error, successors).  Until an outbound worker exists, the setting
-- outbound_worker (flov7.settings) is absent and such steps fail with a clear error.

CREATE TABLE flov7.outbound_requests (
	user_id			uuid NOT NULL,
	execution_id	uuid NOT NULL,
	node_id			text NOT NULL,
	iteration		int NOT NULL,
	attempt			int NOT NULL CHECK (attempt >= 1),
	kind			text NOT NULL CHECK (kind ~ '^[a-z]+\.[a-z_]+$'),
	request			jsonb NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, execution_id, node_id, iteration, attempt),
	FOREIGN KEY (user_id, execution_id, node_id, iteration)
		REFERENCES flov7.execution_steps (user_id, execution_id, node_id, iteration) ON DELETE CASCADE
);
COMMENT ON TABLE flov7.outbound_requests IS
	'what a parked outside step asks of the outbound worker, per attempt; written once';
ALTER TABLE flov7.outbound_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.outbound_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY outbound_requests_owner_or_admin ON flov7.outbound_requests
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));
SELECT pg_catalog.pg_extension_config_dump('flov7.outbound_requests', '');

-- Whether outside steps are parked for an outbound worker (settings key outbound_worker = 'on').
CREATE FUNCTION flov7.outbound_enabled() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT coalesce((SELECT s.value = 'on' FROM flov7.settings s WHERE s.key = 'outbound_worker'), false)
$$;

-- Park an outside step with its request.
CREATE FUNCTION flov7.outbound_park(p_uid uuid, p_exec uuid, p_node text, p_iteration int, p_attempt int,
									p_outside jsonb, p_input jsonb, p_started timestamptz) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	INSERT INTO flov7.outbound_requests (user_id, execution_id, node_id, iteration, attempt, kind, request)
	VALUES (p_uid, p_exec, p_node, p_iteration, p_attempt, (p_outside ->> 'type') || '.' || (p_outside ->> 'subtype'),
			jsonb_build_object('config', p_outside -> 'config', 'data', p_input,
							   'idempotency_key', format('%s:%s:%s', p_exec, p_node, p_iteration)));
	UPDATE flov7.execution_steps s
	   SET state = 'waiting', ready_at = NULL, lease_until = NULL, attempt = p_attempt,
		   started_at = coalesce(s.started_at, p_started)
	 WHERE s.user_id = p_uid AND s.execution_id = p_exec AND s.node_id = p_node AND s.iteration = p_iteration;
END
$$;

-- Claim up to p_limit parked outside steps (of the kinds given, e.g. 'action.api_call'; NULL: any),
-- or steps whose lease expired, for p_lease_ms.  Each comes with the fence its result must bear.
CREATE FUNCTION flov7.outbound_claim(p_kinds text[], p_lease_ms int, p_limit int)
RETURNS TABLE (user_id uuid, execution_id uuid, node_id text, iteration int, attempt int, fence bigint,
			   kind text, request jsonb, lease_until timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
#variable_conflict use_column
BEGIN
	IF p_lease_ms IS NULL OR p_lease_ms < 1 OR p_limit IS NULL OR p_limit < 1 THEN
		RAISE EXCEPTION 'lease_ms and limit must be positive' USING ERRCODE = '22023';
	END IF;
	RETURN QUERY
	WITH c AS (
		SELECT s.user_id, s.execution_id, s.node_id, s.iteration, s.attempt
		  FROM flov7.execution_steps s
		 WHERE ((s.state = 'waiting' AND s.ready_at IS NULL) OR (s.state = 'running' AND s.lease_until < clock_timestamp()))
		   AND EXISTS (SELECT 1 FROM flov7.outbound_requests r
						WHERE r.user_id = s.user_id AND r.execution_id = s.execution_id AND r.node_id = s.node_id
						  AND r.iteration = s.iteration AND r.attempt = s.attempt
						  AND (p_kinds IS NULL OR r.kind = ANY (p_kinds)))
		 ORDER BY s.started_at
		 LIMIT p_limit
		   FOR UPDATE SKIP LOCKED
	), u AS (
		UPDATE flov7.execution_steps s
		   SET state = 'running', lease_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0),
			   fence = s.fence + 1
		  FROM c
		 WHERE s.user_id = c.user_id AND s.execution_id = c.execution_id AND s.node_id = c.node_id
		   AND s.iteration = c.iteration
		RETURNING s.user_id, s.execution_id, s.node_id, s.iteration, s.attempt, s.fence, s.lease_until
	), x AS (
		-- a claimed step runs: its execution is running again
		UPDATE flov7.workflow_executions e SET status = 'running'
		  FROM (SELECT DISTINCT u.user_id, u.execution_id FROM u) ue
		 WHERE e.user_id = ue.user_id AND e.id = ue.execution_id AND e.status = 'waiting'
	)
	SELECT u.user_id, u.execution_id, u.node_id, u.iteration, u.attempt, u.fence, r.kind, r.request, u.lease_until
	  FROM u JOIN flov7.outbound_requests r
			   ON r.user_id = u.user_id AND r.execution_id = u.execution_id AND r.node_id = u.node_id
			  AND r.iteration = u.iteration AND r.attempt = u.attempt;
END
$$;

-- Report the result of a claimed outside step (output, or an error), with the claim's fence.
-- A fence that is no longer current (the lease expired and the step was claimed again) is
-- refused with PT409 and changes nothing.  Returns the step's new state.
CREATE FUNCTION flov7.outbound_complete(p_uid uuid, p_exec uuid, p_node text, p_iteration int, p_fence bigint,
										p_output jsonb, p_error text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_step flov7.execution_steps;
	v_node jsonb;
	v_input jsonb;
BEGIN
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

-- Every GET of this release only reads, so frontd may retry it on another connection.
UPDATE flov7.routes SET read_only = true WHERE method = 'GET';

-- An OpenAPI 3.0 document describing flov7.routes, served by frontd at /openapi.json.
CREATE FUNCTION flov7.openapi(server_url text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
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

-- ---- sql/parts/75_workflow_routes.sql ----
-- 75_workflow_routes.sql: the routes of /primitives, /workflows and /workflows/templates.
-- frontd matches a literal segment before a parameter, so /workflows/templates is never taken
-- for /workflows/{id}.

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('GET', '/api/v1/primitives', 'flov7_api.primitive_list', 200, 'List the node types (primitives)', 'workflows', true),
	('POST', '/api/v1/workflows', 'flov7_api.workflow_create', 201, 'Create a workflow', 'workflows', false),
	('GET', '/api/v1/workflows', 'flov7_api.workflow_list', 200, 'List my workflows', 'workflows', true),
	('GET', '/api/v1/workflows/{id}', 'flov7_api.workflow_get', 200, 'Get a workflow and its validation', 'workflows', true),
	('PUT', '/api/v1/workflows/{id}', 'flov7_api.workflow_update', 200, 'Update a workflow (bumps its version)', 'workflows', false),
	('DELETE', '/api/v1/workflows/{id}', 'flov7_api.workflow_delete', 204, 'Delete a workflow', 'workflows', false),
	('GET', '/api/v1/workflows/templates', 'flov7_api.template_list', 200, 'List workflow templates', 'templates', true),
	('POST', '/api/v1/workflows/templates/{id}/use', 'flov7_api.template_use', 201, 'Create a workflow from a template', 'templates', false);

-- ---- sql/parts/76_engine_routes.sql ----
-- 76_engine_routes.sql: the routes of the executor.

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('POST', '/api/v1/workflows/{id}/execute', 'flov7_api.workflow_execute', 202, 'Run a workflow (returns the pending execution)', 'executions', false),
	('GET', '/api/v1/workflows/{id}/executions', 'flov7_api.execution_list', 200, 'List the executions of a workflow', 'executions', true),
	('GET', '/api/v1/workflows/executions/{id}', 'flov7_api.execution_get', 200, 'Get an execution with its steps', 'executions', true),
	('POST', '/api/v1/workflows/executions/{id}/cancel', 'flov7_api.execution_cancel', 200, 'Cancel an execution', 'executions', false),
	('POST', '/api/v1/workflows/executions/{id}/retry', 'flov7_api.execution_retry', 200, 'Retry an execution from its failed steps', 'executions', false);

-- ---- sql/parts/77_named_refs.sql ----
-- 77_named_refs.sql: what a definition names without defining it (issue 6): named JSON schemas
-- ("schema": "user_schema" on a data/validate node) and message templates ("template":
-- "welcome_email" on a notification or email_send node).
--
-- Each row belongs to a user (user_id is in the key, DESIGN.md "Scale"); a row an admin marks
-- is_global is readable by everyone, so one global "user_schema" serves all users.  A step looks
-- a name up as its owner: the owner's own row first, else the global one; a missing name fails
-- the step with an error naming it.

CREATE TABLE flov7.json_schemas (
	user_id		uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	name		text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
	is_global	boolean NOT NULL DEFAULT false,
	description	text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
	schema		jsonb NOT NULL CHECK (jsonb_typeof(schema) = 'object' AND pg_column_size(schema) <= 65536),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, name)
);
COMMENT ON TABLE flov7.json_schemas IS
	'named JSON schemas: a data/validate node''s "schema": "<name>" (the owner''s row, else a global one)';
CREATE UNIQUE INDEX json_schemas_global_name ON flov7.json_schemas (name) WHERE is_global;

CREATE TABLE flov7.message_templates (
	user_id		uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	name		text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
	is_global	boolean NOT NULL DEFAULT false,
	description	text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
	subject		text NOT NULL DEFAULT '' CHECK (length(subject) <= 1000),
	body		text NOT NULL CHECK (length(body) <= 20000),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, name)
);
COMMENT ON TABLE flov7.message_templates IS
	'notification/email templates: a node''s "template": "<name>"; subject and body may hold {{ }} expressions';
CREATE UNIQUE INDEX message_templates_global_name ON flov7.message_templates (name) WHERE is_global;

-- Owner or admin; global rows are read by everyone, and only an admin makes a row global.
ALTER TABLE flov7.json_schemas ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.json_schemas FORCE ROW LEVEL SECURITY;
CREATE POLICY json_schemas_global_read ON flov7.json_schemas FOR SELECT USING (is_global);
CREATE POLICY json_schemas_owner_or_admin ON flov7.json_schemas
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()))
	WITH CHECK ((user_id = (SELECT flov7.caller_id()) AND NOT is_global) OR (SELECT flov7.caller_is_admin()));
ALTER TABLE flov7.message_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.message_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY message_templates_global_read ON flov7.message_templates FOR SELECT USING (is_global);
CREATE POLICY message_templates_owner_or_admin ON flov7.message_templates
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()))
	WITH CHECK ((user_id = (SELECT flov7.caller_id()) AND NOT is_global) OR (SELECT flov7.caller_is_admin()));

SELECT pg_catalog.pg_extension_config_dump('flov7.json_schemas', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.message_templates', '');

-- The schema a step's "schema": "<name>" means, for the caller (the owner): their own, else global.
CREATE FUNCTION flov7.named_schema(p_name text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_schema jsonb;
BEGIN
	SELECT s.schema INTO v_schema FROM flov7.json_schemas s
	 WHERE s.name = p_name AND (s.user_id = flov7.caller_id() OR s.is_global)
	 ORDER BY s.is_global LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'schema "%" not found', p_name USING ERRCODE = 'P0002',
			HINT = 'Create it (PUT /api/v1/workflows/schemas/{name}), or give the schema inline in config.schema.';
	END IF;
	RETURN v_schema;
END
$$;

-- A message template rendered against a step's context: {"subject", "body"}.
CREATE FUNCTION flov7.render_message_template(p_name text, ctx jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_row flov7.message_templates;
BEGIN
	SELECT * INTO v_row FROM flov7.message_templates t
	 WHERE t.name = p_name AND (t.user_id = flov7.caller_id() OR t.is_global)
	 ORDER BY t.is_global LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'message template "%" not found', p_name USING ERRCODE = 'P0002',
			HINT = 'Create it (PUT /api/v1/workflows/message-templates/{name}).';
	END IF;
	RETURN flov7.eval_templates(jsonb_build_object('subject', v_row.subject, 'body', v_row.body), ctx);
END
$$;

CREATE FUNCTION flov7.json_schema_to_json(s flov7.json_schemas) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('name', s.name, 'global', s.is_global, 'description', s.description,
							  'schema', s.schema, 'created_at', s.created_at, 'updated_at', s.updated_at)
$$;

CREATE FUNCTION flov7.message_template_to_json(t flov7.message_templates) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('name', t.name, 'global', t.is_global, 'description', t.description,
							  'subject', t.subject, 'body', t.body, 'created_at', t.created_at, 'updated_at', t.updated_at)
$$;

-- "global": true is an admin's only (403 otherwise).
CREATE FUNCTION flov7.arg_global(args jsonb) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_global boolean := flov7.arg_bool(args, 'global', false, true);
BEGIN
	IF v_global AND NOT flov7.caller_is_admin() THEN
		RAISE EXCEPTION 'only an admin may create a global entry' USING ERRCODE = '42501',
			HINT = 'Leave "global" out: your own entries serve your workflows.';
	END IF;
	RETURN v_global;
END
$$;

-- Every {{ }} expression of a template's text parses (PT422 naming the field otherwise).
CREATE FUNCTION flov7.check_template_text(p_field text, p_text text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	IF strpos(p_text, '{{') > 0 THEN
		PERFORM flov7.compile_template(p_text);
	END IF;
EXCEPTION WHEN OTHERS THEN
	RAISE EXCEPTION '%: %', p_field, SQLERRM USING ERRCODE = 'PT422';
END
$$;

-- GET /workflows/schemas: the caller's schemas and the global ones, by name (keyset: "after").
CREATE FUNCTION flov7_api.schema_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 50, 1, 100);
	v_after text := flov7.arg_text(args, 'after', false, 100);
	v_items jsonb;
BEGIN
	SELECT coalesce(jsonb_agg(flov7.json_schema_to_json(x) ORDER BY x.name, x.is_global), '[]') INTO v_items
	  FROM (SELECT * FROM flov7.json_schemas s
			 WHERE (s.user_id = v_uid OR s.is_global) AND (v_after IS NULL OR s.name > v_after)
			 ORDER BY s.name, s.is_global LIMIT v_limit) x;
	RETURN jsonb_build_object('items', v_items, 'limit', v_limit,
							  'next', CASE WHEN jsonb_array_length(v_items) = v_limit
										   THEN v_items -> (v_limit - 1) -> 'name' END);
END
$$;

-- GET /workflows/schemas/{name}: the schema the caller's workflows get by that name.
CREATE FUNCTION flov7_api.schema_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_name text := flov7.arg_text(args, 'name', true, 100);
	v_row flov7.json_schemas;
BEGIN
	SELECT * INTO v_row FROM flov7.json_schemas s
	 WHERE s.name = v_name AND (s.user_id = v_uid OR s.is_global) ORDER BY s.is_global LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'schema "%" not found', v_name USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.json_schema_to_json(v_row);
END
$$;

-- POST /workflows/schemas: create one (PT409 if the caller already has that name).
-- PUT /workflows/schemas/{name}: create or replace the caller's own.
CREATE FUNCTION flov7.schema_write(args jsonb, p_replace boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_name text := flov7.arg_text(args, 'name', true, 100);
	v_schema jsonb := flov7.arg_object(args, 'schema', true);
	v_description text := coalesce(flov7.arg_text(args, 'description', false, 1000), '');
	v_global boolean := flov7.arg_global(args);
	v_row flov7.json_schemas;
BEGIN
	IF v_name !~ '^[A-Za-z0-9_.-]{1,100}$' THEN
		RAISE EXCEPTION 'name: letters, digits, "_", "." and "-" only' USING ERRCODE = '22023';
	END IF;
	INSERT INTO flov7.json_schemas AS s (user_id, name, is_global, description, schema)
	VALUES (v_uid, v_name, v_global, v_description, v_schema)
	ON CONFLICT (user_id, name) DO NOTHING
	RETURNING * INTO v_row;
	IF NOT FOUND THEN
		IF NOT p_replace THEN
			RAISE EXCEPTION 'schema "%" already exists', v_name USING ERRCODE = 'PT409',
				HINT = 'PUT /api/v1/workflows/schemas/{name} replaces it.';
		END IF;
		UPDATE flov7.json_schemas s SET is_global = v_global, description = v_description, schema = v_schema,
			   updated_at = now()
		 WHERE s.user_id = v_uid AND s.name = v_name RETURNING * INTO v_row;
	END IF;
	RETURN flov7.json_schema_to_json(v_row);
END
$$;

CREATE FUNCTION flov7_api.schema_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	RETURN flov7.schema_write(args, false);
END
$$;

CREATE FUNCTION flov7_api.schema_put(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	RETURN flov7.schema_write(args, true);
END
$$;

-- DELETE /workflows/schemas/{name}: delete the caller's own (a global one is its admin's).
CREATE FUNCTION flov7_api.schema_delete(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_name text := flov7.arg_text(args, 'name', true, 100);
BEGIN
	DELETE FROM flov7.json_schemas s WHERE s.user_id = v_uid AND s.name = v_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'schema "%" not found', v_name USING ERRCODE = 'P0002';
	END IF;
	RETURN NULL;
END
$$;

-- GET /workflows/message-templates: the caller's templates and the global ones, by name.
CREATE FUNCTION flov7_api.message_template_list(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_limit int := flov7.arg_int(args, 'limit', 50, 1, 100);
	v_after text := flov7.arg_text(args, 'after', false, 100);
	v_items jsonb;
BEGIN
	SELECT coalesce(jsonb_agg(flov7.message_template_to_json(x) ORDER BY x.name, x.is_global), '[]') INTO v_items
	  FROM (SELECT * FROM flov7.message_templates t
			 WHERE (t.user_id = v_uid OR t.is_global) AND (v_after IS NULL OR t.name > v_after)
			 ORDER BY t.name, t.is_global LIMIT v_limit) x;
	RETURN jsonb_build_object('items', v_items, 'limit', v_limit,
							  'next', CASE WHEN jsonb_array_length(v_items) = v_limit
										   THEN v_items -> (v_limit - 1) -> 'name' END);
END
$$;

-- GET /workflows/message-templates/{name}
CREATE FUNCTION flov7_api.message_template_get(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_name text := flov7.arg_text(args, 'name', true, 100);
	v_row flov7.message_templates;
BEGIN
	SELECT * INTO v_row FROM flov7.message_templates t
	 WHERE t.name = v_name AND (t.user_id = v_uid OR t.is_global) ORDER BY t.is_global LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'message template "%" not found', v_name USING ERRCODE = 'P0002';
	END IF;
	RETURN flov7.message_template_to_json(v_row);
END
$$;

CREATE FUNCTION flov7.message_template_write(args jsonb, p_replace boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_name text := flov7.arg_text(args, 'name', true, 100);
	v_body text := flov7.arg_text(args, 'body', true, 20000);
	v_subject text := coalesce(flov7.arg_text(args, 'subject', false, 1000), '');
	v_description text := coalesce(flov7.arg_text(args, 'description', false, 1000), '');
	v_global boolean := flov7.arg_global(args);
	v_row flov7.message_templates;
BEGIN
	IF v_name !~ '^[A-Za-z0-9_.-]{1,100}$' THEN
		RAISE EXCEPTION 'name: letters, digits, "_", "." and "-" only' USING ERRCODE = '22023';
	END IF;
	PERFORM flov7.check_template_text('subject', v_subject);
	PERFORM flov7.check_template_text('body', v_body);
	INSERT INTO flov7.message_templates AS t (user_id, name, is_global, description, subject, body)
	VALUES (v_uid, v_name, v_global, v_description, v_subject, v_body)
	ON CONFLICT (user_id, name) DO NOTHING
	RETURNING * INTO v_row;
	IF NOT FOUND THEN
		IF NOT p_replace THEN
			RAISE EXCEPTION 'message template "%" already exists', v_name USING ERRCODE = 'PT409',
				HINT = 'PUT /api/v1/workflows/message-templates/{name} replaces it.';
		END IF;
		UPDATE flov7.message_templates t SET is_global = v_global, description = v_description, subject = v_subject,
			   body = v_body, updated_at = now()
		 WHERE t.user_id = v_uid AND t.name = v_name RETURNING * INTO v_row;
	END IF;
	RETURN flov7.message_template_to_json(v_row);
END
$$;

CREATE FUNCTION flov7_api.message_template_create(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	RETURN flov7.message_template_write(args, false);
END
$$;

CREATE FUNCTION flov7_api.message_template_put(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	RETURN flov7.message_template_write(args, true);
END
$$;

CREATE FUNCTION flov7_api.message_template_delete(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:write');
	v_name text := flov7.arg_text(args, 'name', true, 100);
BEGIN
	DELETE FROM flov7.message_templates t WHERE t.user_id = v_uid AND t.name = v_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'message template "%" not found', v_name USING ERRCODE = 'P0002';
	END IF;
	RETURN NULL;
END
$$;

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('GET', '/api/v1/workflows/schemas', 'flov7_api.schema_list', 200, 'List my named JSON schemas and the global ones', 'workflows', true),
	('POST', '/api/v1/workflows/schemas', 'flov7_api.schema_create', 201, 'Create a named JSON schema', 'workflows', false),
	('GET', '/api/v1/workflows/schemas/{name}', 'flov7_api.schema_get', 200, 'Get a named JSON schema', 'workflows', true),
	('PUT', '/api/v1/workflows/schemas/{name}', 'flov7_api.schema_put', 200, 'Create or replace a named JSON schema', 'workflows', false),
	('DELETE', '/api/v1/workflows/schemas/{name}', 'flov7_api.schema_delete', 204, 'Delete a named JSON schema', 'workflows', false),
	('GET', '/api/v1/workflows/message-templates', 'flov7_api.message_template_list', 200, 'List my message templates and the global ones', 'workflows', true),
	('POST', '/api/v1/workflows/message-templates', 'flov7_api.message_template_create', 201, 'Create a message template', 'workflows', false),
	('GET', '/api/v1/workflows/message-templates/{name}', 'flov7_api.message_template_get', 200, 'Get a message template', 'workflows', true),
	('PUT', '/api/v1/workflows/message-templates/{name}', 'flov7_api.message_template_put', 200, 'Create or replace a message template', 'workflows', false),
	('DELETE', '/api/v1/workflows/message-templates/{name}', 'flov7_api.message_template_delete', 204, 'Delete a message template', 'workflows', false);

-- ---- sql/parts/78_events.sql ----
-- 78_events.sql: the event log behind realtime (WebSocket, SSE, LISTEN clients).
--
-- Every state change a client may follow is a row of flov7.events, written by a trigger in the
-- transaction that made the change: a rolled-back change leaves no event.  Its position (pos)
-- is given after it commits, by flov7.events_publish(), in the order of publication: publishers
-- take turns on the one row of flov7.event_clock, so a reader that has seen position N never
-- later meets a new event at or below N (a sequence taken in the writing transaction would not
-- give that: a transaction may commit after another that took a larger number).  The publisher
-- then announces the positions with NOTIFY:
--	flov7_events				payload: the newest position (frontd's one channel)
--	flov7_user_<user id hex>	payload: {"event_id","topic","type", ids}; never private data
-- The background workers publish when a committing transaction wrote events (the same latch that
-- wakes them for steps); without workers, call flov7.events_publish() yourself.
--
-- Streams: a user's own events (topics "workflows" and "notifications"), and the system stream
-- (user_id flov7.system_stream(), topic "system") that every signed-in user reads.

CREATE FUNCTION flov7.system_stream() RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$;
COMMENT ON FUNCTION flov7.system_stream() IS 'the user_id of the system stream (announcements) in flov7.events';

CREATE TABLE flov7.events (
	user_id		uuid NOT NULL,
	id			bigint GENERATED ALWAYS AS IDENTITY,
	topic		text NOT NULL CHECK (topic IN ('workflows', 'notifications', 'system')),
	type		text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.]{0,49}$'),
	payload		jsonb NOT NULL DEFAULT '{}',
	pos			bigint,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, id),
	CHECK ((topic = 'system') = (user_id = '00000000-0000-0000-0000-000000000000'::uuid))
) WITH (autovacuum_vacuum_scale_factor = 0.05);
CREATE UNIQUE INDEX events_pos_idx ON flov7.events (pos) WHERE pos IS NOT NULL;
CREATE INDEX events_user_pos_idx ON flov7.events (user_id, pos) WHERE pos IS NOT NULL;
CREATE INDEX events_unpublished_idx ON flov7.events (id) WHERE pos IS NULL;
COMMENT ON TABLE flov7.events IS
	'what happened, per owner (or the system stream), in publication order (pos); see 78_events.sql';
COMMENT ON COLUMN flov7.events.pos IS
	'position in publication order, given after commit by flov7.events_publish(); NULL until then';

CREATE TABLE flov7.event_clock (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	pos		bigint NOT NULL DEFAULT 0
);
INSERT INTO flov7.event_clock DEFAULT VALUES;
COMMENT ON TABLE flov7.event_clock IS 'the last position published; publishers take turns on its row';

ALTER TABLE flov7.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.events FORCE ROW LEVEL SECURITY;
-- Published events only: an unpublished one has no position to resume from yet.
CREATE POLICY events_reader ON flov7.events FOR SELECT
	USING (pos IS NOT NULL AND (user_id = (SELECT flov7.caller_id())
		   OR (topic = 'system' AND (SELECT flov7.caller_id()) IS NOT NULL)
		   OR (SELECT flov7.caller_is_admin())));
ALTER TABLE flov7.event_clock ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.event_clock FORCE ROW LEVEL SECURITY;

SELECT pg_catalog.pg_extension_config_dump('flov7.events', '');
SELECT pg_catalog.pg_extension_config_dump('flov7.event_clock', '');

-- Record an event in the current transaction and have it published once it commits.
CREATE FUNCTION flov7.event_add(p_user uuid, p_topic text, p_type text, p_payload jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	INSERT INTO flov7.events (user_id, topic, type, payload) VALUES (p_user, p_topic, p_type, p_payload);
	PERFORM flov7.wake_workers();
END
$$;

-- The NOTIFY payload of an event: its position, topic and type, and the ids it names (never
-- titles, messages or data: any database user may LISTEN to any channel).  At most a few
-- hundred bytes whatever the event holds, far below NOTIFY's 8000.
CREATE FUNCTION flov7.event_notice(e flov7.events) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object('event_id', e.pos, 'topic', e.topic, 'type', e.type,
		'user_id', CASE WHEN e.topic <> 'system' THEN e.user_id END,
		'workflow_id', left(e.payload ->> 'workflow_id', 36), 'execution_id', left(e.payload ->> 'execution_id', 36),
		'notification_id', left(e.payload ->> 'notification_id', 36),
		'node_id', left(e.payload ->> 'node_id', 64)))::text
$$;

-- The LISTEN channel of a user's events.
CREATE FUNCTION flov7.user_channel(p_user uuid) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT 'flov7_user_' || replace(p_user::text, '-', '')
$$;

-- Give positions to committed events (up to max_events, oldest first) and announce them.
-- Returns the newest position published (0: none yet).  Publishers take turns on
-- flov7.event_clock's row, so positions are published in increasing order.
CREATE FUNCTION flov7.events_publish(max_events int DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_base bigint;
	v_n bigint;
	r flov7.events;
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
	FOR r IN SELECT * FROM flov7.events e WHERE e.pos > v_base AND e.pos <= v_base + v_n AND e.topic <> 'system'
			  ORDER BY e.pos LOOP
		PERFORM pg_catalog.pg_notify(flov7.user_channel(r.user_id), flov7.event_notice(r));
	END LOOP;
	FOR r IN SELECT * FROM flov7.events e WHERE e.pos > v_base AND e.pos <= v_base + v_n AND e.topic = 'system'
			  ORDER BY e.pos LOOP
		PERFORM pg_catalog.pg_notify('flov7_system', flov7.event_notice(r));
	END LOOP;
	PERFORM pg_catalog.pg_notify('flov7_events', (v_base + v_n)::text);
	RETURN v_base + v_n;
END
$$;
COMMENT ON FUNCTION flov7.events_publish(int) IS
	'give committed events their positions and NOTIFY them (the workers do this; call it without workers)';

-- The JSON shape of an event, as readers get it.
CREATE FUNCTION flov7.event_json(e flov7.events) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('event_id', e.pos, 'user_id', CASE WHEN e.topic <> 'system' THEN e.user_id END,
		'topic', e.topic, 'type', e.type, 'payload', e.payload, 'created_at', e.created_at)
$$;

-- Events after position last_id that the caller may see, in order: their own stream's topics
-- (or p_user's, for an admin) and the system stream when topics has "system".  At most
-- max_events; read again from the last one returned for more.
CREATE FUNCTION flov7.events_since(last_id bigint, topics text[] DEFAULT '{workflows,notifications,system}',
								   p_user uuid DEFAULT NULL, max_events int DEFAULT 1000)
RETURNS SETOF flov7.events
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_who uuid := coalesce(p_user, v_uid);
	v_bad text;
BEGIN
	SELECT t INTO v_bad FROM unnest(topics) t WHERE t IS NULL OR t NOT IN ('workflows', 'notifications', 'system') LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'unknown topic "%"', v_bad USING ERRCODE = '22023',
			HINT = 'topics are workflows, notifications and system';
	END IF;
	IF 'workflows' = ANY (topics) THEN
		PERFORM flov7.authorize('workflows:read');
	END IF;
	IF 'notifications' = ANY (topics) THEN
		PERFORM flov7.authorize('notifications:read');
	END IF;
	IF v_who <> v_uid AND NOT flov7.caller_is_admin() THEN
		RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
	END IF;
	IF last_id IS NULL OR last_id < 0 THEN
		RAISE EXCEPTION 'last_id must be a position (0 or more)' USING ERRCODE = '22023';
	END IF;
	RETURN QUERY
	SELECT * FROM (
		(SELECT * FROM flov7.events e
		  WHERE e.user_id = v_who AND e.pos > last_id AND e.topic = ANY (topics)
		  ORDER BY e.pos LIMIT greatest(max_events, 1))
		UNION ALL
		(SELECT * FROM flov7.events e
		  WHERE 'system' = ANY (topics) AND e.user_id = flov7.system_stream() AND e.pos > last_id
		  ORDER BY e.pos LIMIT greatest(max_events, 1))
	) x ORDER BY x.pos LIMIT greatest(max_events, 1);
END
$$;
COMMENT ON FUNCTION flov7.events_since(bigint, text[], uuid, int) IS
	'events after a position that the caller may see (their own, the system stream; an admin may name p_user)';

-- The newest position published (where a new reader starts).
CREATE FUNCTION flov7.events_head() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT c.pos FROM flov7.event_clock c
$$;

-- Delete published events older than flov7.event_retention (an interval, settings table;
-- default 7 days), at most max_rows at a time.  Returns how many went.
CREATE FUNCTION flov7.events_purge(max_rows int DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_keep interval := coalesce((SELECT s.value FROM flov7.settings s WHERE s.key = 'event_retention'), '7 days')::interval;
	v_n bigint;
BEGIN
	DELETE FROM flov7.events e
	 WHERE (e.user_id, e.id) IN (SELECT x.user_id, x.id FROM flov7.events x
								   WHERE x.pos IS NOT NULL AND x.created_at < now() - v_keep
								   ORDER BY x.pos LIMIT greatest(max_rows, 1));
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;
COMMENT ON FUNCTION flov7.events_purge(int) IS
	'delete published events older than the event_retention setting (default 7 days), a batch at a time';

-- ---- what writes events -----------------------------------------------------------------

-- Executions: created, and every change of status (pending -> running is "started").
CREATE FUNCTION flov7.execution_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	PERFORM flov7.event_add(NEW.user_id, 'workflows',
		CASE WHEN TG_OP = 'INSERT' THEN 'execution.created'
			 WHEN NEW.status = 'running' AND OLD.status = 'pending' THEN 'execution.started'
			 ELSE 'execution.' || NEW.status END,
		jsonb_build_object('execution_id', NEW.id, 'workflow_id', NEW.workflow_id, 'status', NEW.status,
						   'error_message', NEW.error_message, 'error_node', NEW.error_node,
						   'execution_time_seconds', NEW.execution_time_seconds));
	RETURN NULL;
END
$$;
CREATE TRIGGER workflow_executions_event_insert AFTER INSERT ON flov7.workflow_executions
	FOR EACH ROW EXECUTE FUNCTION flov7.execution_event();
CREATE TRIGGER workflow_executions_event_status AFTER UPDATE OF status ON flov7.workflow_executions
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION flov7.execution_event();

-- Steps: each one that ends (completed or failed; skipped and cancelled ones are told by
-- their execution's events).
CREATE FUNCTION flov7.step_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	PERFORM flov7.event_add(NEW.user_id, 'workflows', 'step.' || NEW.state,
		jsonb_build_object('execution_id', NEW.execution_id, 'node_id', NEW.node_id, 'iteration', NEW.iteration,
						   'state', NEW.state, 'attempt', NEW.attempt,
						   'workflow_id', (SELECT e.workflow_id FROM flov7.workflow_executions e
											WHERE e.user_id = NEW.user_id AND e.id = NEW.execution_id)));
	RETURN NULL;
END
$$;
CREATE TRIGGER execution_steps_event AFTER UPDATE OF state ON flov7.execution_steps
	FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.state IN ('completed', 'failed'))
	EXECUTE FUNCTION flov7.step_event();

-- Notifications: created, read.
CREATE FUNCTION flov7.notification_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	PERFORM flov7.event_add(NEW.user_id, 'notifications',
		CASE WHEN TG_OP = 'INSERT' THEN 'notification.created' ELSE 'notification.read' END,
		jsonb_build_object('notification_id', NEW.id, 'notification_type', NEW.type, 'title', NEW.title,
						   'message', NEW.message, 'data', NEW.data, 'is_read', NEW.is_read));
	RETURN NULL;
END
$$;
CREATE TRIGGER notifications_event_insert AFTER INSERT ON flov7.notifications
	FOR EACH ROW EXECUTE FUNCTION flov7.notification_event();
CREATE TRIGGER notifications_event_read AFTER UPDATE OF is_read ON flov7.notifications
	FOR EACH ROW WHEN (NEW.is_read AND NOT OLD.is_read) EXECUTE FUNCTION flov7.notification_event();

-- ---- sql/parts/79_realtime_api.sql ----
-- 79_realtime_api.sql: the realtime endpoints that write or read events (the WebSocket and
-- SSE endpoints are frontd's; they read through flov7.events_since).

INSERT INTO flov7.permissions (name, description) VALUES
	('admin:broadcast', 'send system announcements to every user');
INSERT INTO flov7.role_permissions (role, permission) VALUES ('admin', 'admin:broadcast');

-- Send a notification: to oneself, or, for an admin, to anyone.
CREATE FUNCTION flov7.notify_user(p_to uuid, p_type text, p_title text, p_message text, p_data jsonb)
RETURNS flov7.notifications
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('notifications:write');
	v_row flov7.notifications;
BEGIN
	p_to := coalesce(p_to, v_uid);
	IF p_to <> v_uid THEN
		IF NOT flov7.caller_is_admin() THEN
			RAISE EXCEPTION 'only an admin may notify another user' USING ERRCODE = '42501';
		END IF;
		IF NOT EXISTS (SELECT 1 FROM flov7.users u WHERE u.id = p_to) THEN
			RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
		END IF;
	END IF;
	IF p_type !~ '^[a-z][a-z0-9_.]{0,49}$' THEN
		RAISE EXCEPTION 'notification_type must be a lower-case word (e.g. info, warning)' USING ERRCODE = '22023';
	END IF;
	INSERT INTO flov7.notifications (user_id, type, title, message, data)
	VALUES (p_to, p_type, p_title, coalesce(p_message, ''), coalesce(p_data, '{}'))
	RETURNING * INTO v_row;
	RETURN v_row;
END
$$;

-- Tell an execution's owner about its status: an event on the owner's workflows stream and,
-- as the original platform did, a stored notification.  The owner or an admin sends it;
-- anyone else is told the execution does not exist.
CREATE FUNCTION flov7.notify_workflow_status(p_exec uuid, p_workflow uuid, p_status text, p_message text,
											 p_data jsonb)
RETURNS flov7.notifications
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('workflows:read');
	v_owner uuid;
	v_wf uuid;
	v_row flov7.notifications;
BEGIN
	SELECT e.user_id, e.workflow_id INTO v_owner, v_wf FROM flov7.workflow_executions e
	 WHERE e.id = p_exec AND (p_workflow IS NULL OR e.workflow_id = p_workflow)
	   AND (e.user_id = v_uid OR flov7.caller_is_admin());
	IF NOT FOUND THEN
		RAISE EXCEPTION 'execution not found' USING ERRCODE = 'P0002';
	END IF;
	IF p_status IS NULL OR p_status !~ '^[a-z][a-z0-9_]{0,29}$' THEN
		RAISE EXCEPTION 'status must be a lower-case word (e.g. running, completed, failed)' USING ERRCODE = '22023';
	END IF;
	PERFORM flov7.event_add(v_owner, 'workflows', 'workflow.status',
		jsonb_build_object('workflow_id', v_wf, 'execution_id', p_exec, 'status', p_status,
						   'message', coalesce(p_message, ''), 'data', coalesce(p_data, '{}')));
	INSERT INTO flov7.notifications (user_id, type, title, message, data)
	VALUES (v_owner, 'workflow_status', 'Workflow ' || p_status, coalesce(p_message, ''),
			coalesce(p_data, '{}') || jsonb_build_object('workflow_id', v_wf, 'execution_id', p_exec, 'status', p_status))
	RETURNING * INTO v_row;
	RETURN v_row;
END
$$;

-- Announce something to every user (the system stream); admins only.
CREATE FUNCTION flov7.broadcast(p_type text, p_title text, p_message text, p_data jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:broadcast');
	v_payload jsonb;
BEGIN
	IF p_type IS NULL OR p_type !~ '^[a-z][a-z0-9_.]{0,49}$' THEN
		RAISE EXCEPTION 'announcement_type must be a lower-case word (e.g. info, maintenance)' USING ERRCODE = '22023';
	END IF;
	v_payload := jsonb_build_object('announcement_type', p_type, 'title', p_title, 'message', coalesce(p_message, ''),
									'data', coalesce(p_data, '{}'), 'sent_by', v_uid);
	PERFORM flov7.event_add(flov7.system_stream(), 'system', 'system.announcement', v_payload);
	RETURN v_payload;
END
$$;

-- POST /realtime/notify/workflow-status (execution_id, workflow_id, status, message, data)
CREATE FUNCTION flov7_api.realtime_notify_workflow_status(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_n flov7.notifications;
BEGIN
	PERFORM flov7.authorize('workflows:read');
	v_n := flov7.notify_workflow_status(flov7.arg_uuid(args, 'execution_id'),
		CASE WHEN args ? 'workflow_id' THEN flov7.arg_uuid(args, 'workflow_id') END,
		flov7.arg_text(args, 'status', true, 30), flov7.arg_text(args, 'message', false, 5000),
		flov7.arg_object(args, 'data'));
	RETURN jsonb_build_object('sent', true, 'notification', flov7.notification_json(v_n) || jsonb_build_object('user_id', v_n.user_id));
END
$$;

-- POST /realtime/notify/user-notification (user_id, notification_type, title, message, data)
CREATE FUNCTION flov7_api.realtime_notify_user(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_n flov7.notifications;
BEGIN
	PERFORM flov7.authorize('notifications:write');
	v_n := flov7.notify_user(CASE WHEN args ? 'user_id' THEN flov7.arg_uuid(args, 'user_id') END,
		coalesce(flov7.arg_text(args, 'notification_type', false, 50), 'info'),
		flov7.arg_text(args, 'title', true, 200), flov7.arg_text(args, 'message', false, 5000),
		flov7.arg_object(args, 'data'));
	RETURN jsonb_build_object('sent', true, 'notification', flov7.notification_json(v_n) || jsonb_build_object('user_id', v_n.user_id));
END
$$;

-- POST /realtime/broadcast/system-announcement (announcement_type, title, message, data)
CREATE FUNCTION flov7_api.realtime_broadcast(args jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	PERFORM flov7.authorize('admin:broadcast');
	RETURN jsonb_build_object('sent', true, 'announcement', flov7.broadcast(
		coalesce(flov7.arg_text(args, 'announcement_type', false, 50), 'info'),
		flov7.arg_text(args, 'title', true, 200), flov7.arg_text(args, 'message', false, 5000),
		flov7.arg_object(args, 'data')));
END
$$;

-- GET /realtime/events: replay, for clients that poll or resume (last_event_id, topics,
-- limit; an admin may name user_id).  next_event_id is where to read from next.
CREATE FUNCTION flov7_api.realtime_events(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_last bigint;
	v_limit int := flov7.arg_int(args, 'limit', 100, 1, 1000);
	-- topics: an array, or a comma-separated string (?topics=workflows,system)
	v_topics text[] := coalesce(CASE WHEN jsonb_typeof(args -> 'topics') = 'string'
									 THEN string_to_array(replace(args ->> 'topics', ' ', ''), ',')
									 ELSE flov7.arg_text_array(args, 'topics') END,
								'{workflows,notifications,system}');
	v_user uuid := CASE WHEN args ? 'user_id' THEN flov7.arg_uuid(args, 'user_id') END;
	v_items jsonb;
	v_next bigint;
BEGIN
	IF args ? 'last_event_id' THEN
		BEGIN
			v_last := (args ->> 'last_event_id')::bigint;
		EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
			RAISE EXCEPTION 'last_event_id must be an event position (an integer, 0 or more)' USING ERRCODE = '22023';
		END;
	ELSE
		v_last := flov7.events_head();
	END IF;
	SELECT coalesce(jsonb_agg(flov7.event_json(e) ORDER BY e.pos), '[]'), max(e.pos)
	  INTO v_items, v_next
	  FROM flov7.events_since(v_last, v_topics, v_user, v_limit) e;
	RETURN jsonb_build_object('items', v_items, 'next_event_id', coalesce(v_next, v_last));
END
$$;

-- ---- streams: WebSocket and SSE (frontd) -----------------------------------------------------

-- A subscription to a topic of a user's events ("workflows" or "notifications"; the latter also
-- carries system announcements): the caller watches their own, an admin anyone's.  Resumes
-- after last_event_id (query parameter, or the Last-Event-ID header of SSE), else from now.
-- frontd calls it before the WebSocket upgrade or the SSE answer, so every refusal is a plain
-- HTTP error; then it streams flov7.events_feed() from the position returned.
CREATE FUNCTION flov7.realtime_subscription(p_topic text, args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(CASE p_topic WHEN 'workflows' THEN 'workflows:read' ELSE 'notifications:read' END);
	v_who uuid := CASE WHEN args ? 'user_id' THEN flov7.arg_uuid(args, 'user_id') ELSE v_uid END;
	v_head bigint := flov7.events_head();
	v_last text := coalesce(args ->> 'last_event_id',
							nullif(current_setting('request.headers', true), '')::jsonb ->> 'last-event-id');
	v_from bigint;
BEGIN
	IF v_who <> v_uid THEN
		IF NOT flov7.caller_is_admin() THEN
			RAISE EXCEPTION 'you may only subscribe to your own events' USING ERRCODE = '42501',
				HINT = 'The user id in the path must be yours (admins may watch anyone).';
		END IF;
		IF NOT EXISTS (SELECT 1 FROM flov7.users u WHERE u.id = v_who) THEN
			RAISE EXCEPTION 'user not found' USING ERRCODE = 'P0002';
		END IF;
	END IF;
	IF v_last IS NULL OR btrim(v_last) = '' THEN
		v_from := v_head;
	ELSIF btrim(v_last) !~ '^[0-9]{1,18}$' THEN
		RAISE EXCEPTION 'last_event_id must be an event position (an integer, 0 or more)' USING ERRCODE = '22023';
	ELSE
		v_from := least(btrim(v_last)::bigint, v_head);
	END IF;
	RETURN jsonb_build_object('user_id', v_who, 'topic', p_topic, 'channel', p_topic || ':' || v_who,
							  'last_event_id', v_from, 'head', v_head);
END
$$;

CREATE FUNCTION flov7_api.realtime_ws_workflows(args jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7.realtime_subscription('workflows', args)
$$;
CREATE FUNCTION flov7_api.realtime_ws_notifications(args jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT flov7.realtime_subscription('notifications', args)
$$;

-- A message as WebSocket and SSE clients get it: the original platform's shapes
-- ({"type":"workflow_status"|"notification"|"system_announcement", ...,"timestamp"}), with
-- flov7's position added as event_id and the event's own type as "event".
CREATE FUNCTION flov7.event_message(e flov7.events) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT CASE
		WHEN e.type LIKE 'execution.%' THEN jsonb_build_object('type', 'workflow_status',
			'workflow_id', e.payload -> 'workflow_id', 'execution_id', e.payload -> 'execution_id',
			'status', e.payload -> 'status',
			'message', coalesce(e.payload ->> 'error_message', 'execution ' || (e.payload ->> 'status')),
			'data', jsonb_strip_nulls(jsonb_build_object('error_node', e.payload -> 'error_node',
							'execution_time_seconds', e.payload -> 'execution_time_seconds')))
		WHEN e.type LIKE 'step.%' THEN jsonb_build_object('type', 'workflow_status',
			'workflow_id', e.payload -> 'workflow_id', 'execution_id', e.payload -> 'execution_id',
			'status', 'step_' || (e.payload ->> 'state'),
			'message', format('step %s %s', e.payload ->> 'node_id', e.payload ->> 'state'),
			'data', jsonb_build_object('node_id', e.payload -> 'node_id', 'iteration', e.payload -> 'iteration',
									   'attempt', e.payload -> 'attempt'))
		WHEN e.type = 'workflow.status' THEN jsonb_build_object('type', 'workflow_status',
			'workflow_id', e.payload -> 'workflow_id', 'execution_id', e.payload -> 'execution_id',
			'status', e.payload -> 'status', 'message', e.payload -> 'message', 'data', e.payload -> 'data')
		WHEN e.type = 'notification.created' THEN jsonb_build_object('type', 'notification',
			'notification_id', e.payload -> 'notification_id', 'notification_type', e.payload -> 'notification_type',
			'title', e.payload -> 'title', 'message', e.payload -> 'message', 'data', e.payload -> 'data')
		WHEN e.type = 'notification.read' THEN jsonb_build_object('type', 'notification_read',
			'notification_id', e.payload -> 'notification_id')
		WHEN e.type = 'system.announcement' THEN jsonb_build_object('type', 'system_announcement',
			'announcement_type', e.payload -> 'announcement_type', 'title', e.payload -> 'title',
			'message', e.payload -> 'message', 'data', e.payload -> 'data')
		ELSE jsonb_build_object('type', e.type, 'data', e.payload)
	END || jsonb_build_object('event', e.type, 'event_id', e.pos,
							  'timestamp', to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;

-- frontd's read of the log: published events after a position (up to upto), oldest first, as
-- (position, owner (NULL: system), topic of the socket that carries it, message).  Without
-- p_user: every owner's, for frontd to fan out; with p_user and p_topic: one subscription's
-- catch-up (frontd has had the subscription authorized as the caller first).
CREATE FUNCTION flov7.events_feed(after bigint, p_user uuid DEFAULT NULL, p_topic text DEFAULT NULL,
								  upto bigint DEFAULT NULL, max_events int DEFAULT 1000)
RETURNS TABLE (pos bigint, user_id uuid, topic text, message text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT e.pos, CASE WHEN e.topic = 'system' THEN NULL ELSE e.user_id END,
		   CASE WHEN e.topic = 'system' THEN 'notifications' ELSE e.topic END, flov7.event_message(e)::text
	  FROM flov7.events e
	 WHERE e.pos > after AND (upto IS NULL OR e.pos <= upto)
	   AND (p_user IS NULL OR e.user_id = p_user OR (e.topic = 'system' AND p_topic = 'notifications'))
	   AND (p_topic IS NULL OR e.topic = p_topic OR (e.topic = 'system' AND p_topic = 'notifications'))
	 ORDER BY e.pos LIMIT greatest(max_events, 1)
$$;
COMMENT ON FUNCTION flov7.events_feed(bigint, uuid, text, bigint, int) IS
	'frontd''s read of the published events (as flov7_authenticator), with the messages its sockets send';

-- Which open streams' credentials no longer hold: revoked at logout, session revoked, key
-- revoked or expired, user deactivated, or an admin watching someone else who is no longer an
-- admin.  creds is [{"claims": <JWT payload as text> | null, "api_key": text | null,
-- "user_id": the watched user}, ...]; the answer is the 1-based positions that failed.  frontd
-- asks every few seconds and closes those streams (4001).  The rules are the authorizer's own.
CREATE FUNCTION flov7.stream_credentials_check(creds jsonb) RETURNS int[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_bad int[] := '{}';
	v_i int := 0;
	c jsonb;
	v_uid uuid;
BEGIN
	IF jsonb_typeof(creds) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'creds must be a JSON array' USING ERRCODE = '22023';
	END IF;
	FOR c IN SELECT x FROM jsonb_array_elements(creds) x LOOP
		v_i := v_i + 1;
		PERFORM set_config('request.jwt.claims', coalesce(c ->> 'claims', ''), true);
		PERFORM set_config('request.api_key', coalesce(c ->> 'api_key', ''), true);
		IF flov7.caller_status() <> 'authenticated' THEN
			v_bad := v_bad || v_i;
			CONTINUE;
		END IF;
		v_uid := flov7.caller_id();
		IF (c ->> 'user_id') IS DISTINCT FROM v_uid::text AND NOT flov7.caller_is_admin() THEN
			v_bad := v_bad || v_i;
		END IF;
	END LOOP;
	PERFORM set_config('request.jwt.claims', '', true);
	PERFORM set_config('request.api_key', '', true);
	RETURN v_bad;
END
$$;

-- The registry of open streams, across frontd instances: each instance sends its whole set
-- every few seconds (flov7.realtime_sync); rows of an instance that stopped syncing (killed)
-- are stale after 30 s, hidden at once and deleted by the next sync of anyone.
CREATE TABLE flov7.realtime_connections (
	user_id		uuid NOT NULL,
	instance	text NOT NULL CHECK (length(instance) BETWEEN 1 AND 200),
	stream_id	bigint NOT NULL,
	kind		text NOT NULL CHECK (kind IN ('websocket', 'sse')),
	topic		text NOT NULL CHECK (topic IN ('workflows', 'notifications')),
	channel		text NOT NULL,
	peer		text,
	since		timestamptz NOT NULL,
	last_seen	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, instance, stream_id)
);
CREATE INDEX realtime_connections_instance_idx ON flov7.realtime_connections (instance, last_seen);
COMMENT ON TABLE flov7.realtime_connections IS
	'open WebSocket/SSE streams of every frontd instance (synced every few seconds; stale after 30 s)';
ALTER TABLE flov7.realtime_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.realtime_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY realtime_connections_reader ON flov7.realtime_connections FOR SELECT
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

-- An instance's whole set of open streams: [{"stream_id","user_id","kind","topic","channel",
-- "peer","since" (unix ms)}].  Returns how many rows it holds now.
CREATE FUNCTION flov7.realtime_sync(p_instance text, p_streams jsonb) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_n int;
BEGIN
	IF jsonb_typeof(p_streams) IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'p_streams must be a JSON array' USING ERRCODE = '22023';
	END IF;
	-- no temporary table: a definer must not use objects the caller could have planted in pg_temp
	DELETE FROM flov7.realtime_connections r
	 WHERE (r.instance = p_instance
			AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_streams) x
							 WHERE (x ->> 'user_id')::uuid = r.user_id AND (x ->> 'stream_id')::bigint = r.stream_id))
		OR r.last_seen < now() - interval '5 minutes';
	INSERT INTO flov7.realtime_connections AS r (user_id, instance, stream_id, kind, topic, channel, peer, since, last_seen)
	SELECT (x ->> 'user_id')::uuid, p_instance, (x ->> 'stream_id')::bigint, x ->> 'kind', x ->> 'topic',
		   x ->> 'channel', x ->> 'peer', to_timestamp((x ->> 'since')::float8 / 1000), now()
	  FROM jsonb_array_elements(p_streams) x
	ON CONFLICT (user_id, instance, stream_id) DO UPDATE SET last_seen = now();
	v_n := jsonb_array_length(p_streams);
	RETURN v_n;
END
$$;

CREATE FUNCTION flov7.realtime_connection_json(r flov7.realtime_connections) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object('user_id', r.user_id, 'instance', r.instance, 'stream_id', r.stream_id,
		'kind', r.kind, 'topic', r.topic, 'channel', r.channel, 'since', r.since, 'last_seen', r.last_seen)
$$;

-- GET /realtime/subscriptions/status: the caller's open streams, on every frontd.
CREATE FUNCTION flov7_api.realtime_subscriptions_status(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize(NULL);
	v_items jsonb;
BEGIN
	SELECT coalesce(jsonb_agg(flov7.realtime_connection_json(r) ORDER BY r.since, r.instance, r.stream_id), '[]')
	  INTO v_items
	  FROM flov7.realtime_connections r
	 WHERE r.user_id = v_uid AND r.last_seen > now() - interval '30 seconds';
	RETURN jsonb_build_object('user_id', v_uid, 'connections', v_items, 'total', jsonb_array_length(v_items),
		'topics', (SELECT coalesce(jsonb_agg(DISTINCT t), '[]') FROM jsonb_array_elements(v_items) i,
						  LATERAL (SELECT i ->> 'topic' AS t) x));
END
$$;

-- GET /realtime/admin/connections: every open stream (admin), newest first; limit/offset,
-- filters user_id and topic; with counts by topic and by instance.
CREATE FUNCTION flov7_api.realtime_admin_connections(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_uid uuid := flov7.authorize('admin:users');
	v_limit int := flov7.arg_int(args, 'limit', 100, 1, 1000);
	v_offset int := flov7.arg_int(args, 'offset', 0, 0);
	v_user uuid := CASE WHEN args ? 'user_id' THEN flov7.arg_uuid(args, 'user_id') END;
	v_topic text := flov7.arg_enum(args, 'topic', '{workflows,notifications}', false);
	v_items jsonb;
	v_total bigint;
	v_by_topic jsonb;
	v_by_instance jsonb;
BEGIN
	SELECT count(*) INTO v_total FROM flov7.realtime_connections r
	 WHERE r.last_seen > now() - interval '30 seconds'
	   AND (v_user IS NULL OR r.user_id = v_user) AND (v_topic IS NULL OR r.topic = v_topic);
	SELECT coalesce(jsonb_agg(flov7.realtime_connection_json(x) ORDER BY x.since DESC, x.instance, x.stream_id), '[]')
	  INTO v_items
	  FROM (SELECT * FROM flov7.realtime_connections r
			 WHERE r.last_seen > now() - interval '30 seconds'
			   AND (v_user IS NULL OR r.user_id = v_user) AND (v_topic IS NULL OR r.topic = v_topic)
			 ORDER BY r.since DESC, r.instance, r.stream_id LIMIT v_limit OFFSET v_offset) x;
	SELECT coalesce(jsonb_object_agg(t, n), '{}') INTO v_by_topic
	  FROM (SELECT r.topic AS t, count(*) AS n FROM flov7.realtime_connections r
			 WHERE r.last_seen > now() - interval '30 seconds' GROUP BY r.topic) x;
	SELECT coalesce(jsonb_object_agg(i, n), '{}') INTO v_by_instance
	  FROM (SELECT r.instance AS i, count(*) AS n FROM flov7.realtime_connections r
			 WHERE r.last_seen > now() - interval '30 seconds' GROUP BY r.instance) x;
	RETURN jsonb_build_object('items', v_items, 'total', v_total, 'limit', v_limit, 'offset', v_offset,
							  'by_topic', v_by_topic, 'by_instance', v_by_instance);
END
$$;

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('POST', '/api/v1/realtime/notify/workflow-status', 'flov7_api.realtime_notify_workflow_status', 200,
	 'Tell an execution''s owner about its status (also stored as a notification)', 'realtime', false),
	('POST', '/api/v1/realtime/notify/user-notification', 'flov7_api.realtime_notify_user', 200,
	 'Send a notification (to oneself; an admin to anyone)', 'realtime', false),
	('POST', '/api/v1/realtime/broadcast/system-announcement', 'flov7_api.realtime_broadcast', 200,
	 'Announce something to every user (admin)', 'realtime', false),
	('GET', '/api/v1/realtime/events', 'flov7_api.realtime_events', 200,
	 'Events after a position (replay for clients that resume or poll)', 'realtime', true),
	('GET', '/api/v1/realtime/subscriptions/status', 'flov7_api.realtime_subscriptions_status', 200,
	 'The caller''s open WebSocket and SSE streams, on every frontd', 'realtime', true),
	('GET', '/api/v1/realtime/admin/connections', 'flov7_api.realtime_admin_connections', 200,
	 'Every open stream (admin)', 'realtime', true);

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only, stream) VALUES
	('GET', '/api/v1/realtime/ws/workflows/{user_id}', 'flov7_api.realtime_ws_workflows', 200,
	 'WebSocket: a user''s execution events (replay from last_event_id)', 'realtime', false, 'websocket'),
	('GET', '/api/v1/realtime/ws/notifications/{user_id}', 'flov7_api.realtime_ws_notifications', 200,
	 'WebSocket: a user''s notifications and system announcements', 'realtime', false, 'websocket'),
	('GET', '/api/v1/realtime/sse/workflows', 'flov7_api.realtime_ws_workflows', 200,
	 'Server-Sent Events: the caller''s execution events (Last-Event-ID replay)', 'realtime', false, 'sse'),
	('GET', '/api/v1/realtime/sse/notifications', 'flov7_api.realtime_ws_notifications', 200,
	 'Server-Sent Events: the caller''s notifications and system announcements', 'realtime', false, 'sse');

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

-- ---- sql/parts/85_workflow_grants.sql ----
-- 85_workflow_grants.sql: grants of the workflow endpoints and functions (80_grants.sql has
-- already revoked every function from PUBLIC).

GRANT EXECUTE ON FUNCTION
	flov7_api.primitive_list(jsonb), flov7_api.workflow_create(jsonb), flov7_api.workflow_list(jsonb),
	flov7_api.workflow_get(jsonb), flov7_api.workflow_update(jsonb), flov7_api.workflow_delete(jsonb),
	flov7_api.template_list(jsonb), flov7_api.template_use(jsonb)
	TO flov7_user, flov7_admin;

GRANT EXECUTE ON FUNCTION
	flov7.compile_condition(text), flov7.compile_template(text),
	flov7.validate_workflow(jsonb), flov7.check_workflow(jsonb),
	flov7.workflow_to_json(flov7.workflows), flov7.template_to_json(flov7.workflow_templates),
	flov7.primitive_to_json(flov7.primitives), flov7.workflow_checked(jsonb), flov7.validation_json(jsonb),
	flov7.workflow_status(jsonb, text, text), flov7.arg_tags(jsonb), flov7.expected_version(jsonb),
	flov7.check_version(int, int), flov7.like_pattern(text), flov7.template_count_use(uuid)
	TO flov7_user, flov7_admin;

-- ---- sql/parts/86_engine_grants.sql ----
-- 86_engine_grants.sql: grants of the executor (80_grants.sql has already revoked every
-- function from PUBLIC; the update script revokes the new ones itself).

GRANT EXECUTE ON FUNCTION
	flov7_api.workflow_execute(jsonb), flov7_api.execution_list(jsonb), flov7_api.execution_get(jsonb),
	flov7_api.execution_cancel(jsonb), flov7_api.execution_retry(jsonb)
	TO flov7_user, flov7_admin;

-- What the endpoints and a step running as its owner call.
GRANT EXECUTE ON FUNCTION
	flov7.execute(uuid, jsonb, text), flov7.execution_to_json(flov7.workflow_executions),
	flov7.eval_templates(jsonb, jsonb, text[]), flov7.eval_condition(text, jsonb),
	flov7.json_schema_errors(jsonb, jsonb, text), flov7.notify_caller(text, text, text, jsonb),
	flov7.node_items(jsonb, jsonb), flov7.node_run(text, text, jsonb, jsonb, boolean),
	flov7.retry_delay_ms(int, int, int, float8), flov7.step_to_json(flov7.execution_steps),
	flov7.execution_cancel(uuid), flov7.execution_retry(uuid)
	TO flov7_user, flov7_admin;

-- Executions and their steps: read by their owner (and admins) under RLS; written only by
-- SECURITY DEFINER code and the runner.
GRANT SELECT ON flov7.execution_steps, flov7.execution_step_data, flov7.custom_functions, flov7.outbound_requests
	TO flov7_user, flov7_admin;
GRANT INSERT, UPDATE, DELETE ON flov7.custom_functions TO flov7_admin;

-- The background workers' role: the runner and its timer, nothing else.
GRANT USAGE ON SCHEMA flov7 TO flov7_worker;
GRANT EXECUTE ON FUNCTION flov7.run_ready(int), flov7.next_due_ms() TO flov7_worker;
-- ... and, for the outbound worker to come, claiming and completing outside steps.
GRANT EXECUTE ON FUNCTION flov7.outbound_claim(text[], int, int),
	flov7.outbound_complete(uuid, uuid, text, int, bigint, jsonb, text) TO flov7_worker;

-- ---- sql/parts/87_named_refs_grants.sql ----
-- 87_named_refs_grants.sql: grants of the named schemas and message templates (77_named_refs.sql).

GRANT EXECUTE ON FUNCTION
	flov7_api.schema_list(jsonb), flov7_api.schema_get(jsonb), flov7_api.schema_create(jsonb),
	flov7_api.schema_put(jsonb), flov7_api.schema_delete(jsonb),
	flov7_api.message_template_list(jsonb), flov7_api.message_template_get(jsonb),
	flov7_api.message_template_create(jsonb), flov7_api.message_template_put(jsonb),
	flov7_api.message_template_delete(jsonb)
	TO flov7_user, flov7_admin;

GRANT EXECUTE ON FUNCTION
	flov7.named_schema(text), flov7.render_message_template(text, jsonb),
	flov7.json_schema_to_json(flov7.json_schemas), flov7.message_template_to_json(flov7.message_templates),
	flov7.arg_global(jsonb), flov7.check_template_text(text, text),
	flov7.schema_write(jsonb, boolean), flov7.message_template_write(jsonb, boolean)
	TO flov7_user, flov7_admin;

GRANT SELECT, INSERT, UPDATE, DELETE ON flov7.json_schemas, flov7.message_templates TO flov7_user, flov7_admin;

-- ---- sql/parts/88_realtime_grants.sql ----
-- 88_realtime_grants.sql: grants of the event log and the realtime endpoints (80_grants.sql
-- has already revoked every function from PUBLIC; the update script revokes the new ones).

GRANT EXECUTE ON FUNCTION
	flov7_api.realtime_notify_workflow_status(jsonb), flov7_api.realtime_notify_user(jsonb),
	flov7_api.realtime_events(jsonb)
	TO flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION flov7_api.realtime_broadcast(jsonb) TO flov7_admin;

-- What they call, and what frontd and SQL readers call: replay reads run under RLS.
GRANT EXECUTE ON FUNCTION
	flov7.system_stream(), flov7.user_channel(uuid), flov7.event_json(flov7.events),
	flov7.events_since(bigint, text[], uuid, int), flov7.events_head(),
	flov7.notify_user(uuid, text, text, text, jsonb),
	flov7.notify_workflow_status(uuid, uuid, text, text, jsonb)
	TO flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION flov7.broadcast(text, text, text, jsonb) TO flov7_admin;
GRANT SELECT ON flov7.events TO flov7_user, flov7_admin;

-- The workers publish and purge.
GRANT EXECUTE ON FUNCTION flov7.events_publish(int), flov7.events_purge(int) TO flov7_worker;

-- Streams: the subscription is authorized as the caller; frontd reads the feed itself.
GRANT EXECUTE ON FUNCTION
	flov7_api.realtime_ws_workflows(jsonb), flov7_api.realtime_ws_notifications(jsonb),
	flov7.realtime_subscription(text, jsonb)
	TO flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION flov7.events_feed(bigint, uuid, text, bigint, int), flov7.events_head()
	TO flov7_authenticator;

-- The registry and the credential re-check: frontd writes and asks; users read their rows.
GRANT EXECUTE ON FUNCTION flov7.realtime_sync(text, jsonb), flov7.stream_credentials_check(jsonb)
	TO flov7_authenticator;
GRANT EXECUTE ON FUNCTION flov7_api.realtime_subscriptions_status(jsonb),
	flov7.realtime_connection_json(flov7.realtime_connections), flov7.caller_status()
	TO flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION flov7_api.realtime_admin_connections(jsonb) TO flov7_admin;
GRANT SELECT ON flov7.realtime_connections TO flov7_user, flov7_admin;
