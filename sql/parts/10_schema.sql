-- 10_schema.sql: the tables of schema flov7.
--
-- The ten tables of the original platform keep their names and column
-- names; the token, settings, permission, quota and route tables are ours.
-- Constraints make bad states unrepresentable.
-- The indexes that serve the API's lists are in 22_lists.sql, next to the lists' filters.

-- Secrets and tunables.  No role but the owner can read this table.
CREATE TABLE flov7.settings (
	key			text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
	value		text NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (key <> 'jwt_secret' OR octet_length(value) >= 32),
	CHECK (key <> 'credentials_key' OR octet_length(value) >= 32),
	CHECK (key NOT IN ('access_token_ttl', 'refresh_token_ttl') OR value ~ '^[1-9][0-9]{0,8}$'),
	CHECK (key <> 'bcrypt_cost' OR value IN ('8', '9', '10', '11', '12', '13', '14', '15')),
	CONSTRAINT settings_login_throttle_check
		CHECK (key NOT IN ('login_max_failures', 'login_failure_window', 'login_lock_seconds',
						   'login_lock_max_seconds', 'login_lock_reset') OR value ~ '^[1-9][0-9]{0,8}$')
);
COMMENT ON TABLE flov7.settings IS
	'secrets (jwt_secret; credentials_key only on installs made before 0.1.3, until dropped) and tunables; owner only';

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
	last_login				timestamptz,
	tokens_valid_after		timestamptz
);
COMMENT ON TABLE flov7.users IS 'platform users; emails stored lower-cased; no secrets here';
COMMENT ON COLUMN flov7.users.tokens_valid_after IS
	'access tokens issued (iat) before this second are refused; set when the user is deactivated';

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
COMMENT ON TABLE flov7.user_integrations IS
	'external services of a user; credentials sealed with a key kept outside the database (flov7.credentials_key_file)';

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
	action		text NOT NULL CHECK (action IN ('create', 'update', 'delete', 'role_change', 'status_change',
		'login', 'login_failed', 'login_locked', 'refresh', 'refresh_reuse', 'logout', 'password_change')),
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
	parent_id		uuid,
	CHECK (is_active = (revoked_at IS NULL)),
	CONSTRAINT api_keys_id_user_id_key UNIQUE (id, user_id),
	CONSTRAINT api_keys_parent_fkey FOREIGN KEY (parent_id, user_id)
		REFERENCES flov7.api_keys (id, user_id) ON DELETE CASCADE,
	CONSTRAINT api_keys_parent_check CHECK (parent_id <> id)
);
CREATE INDEX api_keys_parent_idx ON flov7.api_keys (parent_id) WHERE parent_id IS NOT NULL;
COMMENT ON TABLE flov7.api_keys IS 'API keys: SHA-256 of the key and a display prefix; the key itself is never stored';
COMMENT ON COLUMN flov7.api_keys.parent_id IS
	'the API key this key was created with (NULL: created with a login); it expires no later than its parent and is revoked with it';

CREATE TABLE flov7.notifications (
	id			uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id		uuid NOT NULL REFERENCES flov7.users (id) ON DELETE CASCADE,
	type		text NOT NULL DEFAULT 'info' CHECK (type ~ '^[a-z][a-z0-9_.]*$' AND length(type) <= 50), -- the length apart: '{0,49}' costs the regex engine 49 states on every row written
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	message		text NOT NULL DEFAULT '' CHECK (length(message) <= 5000),
	data		jsonb NOT NULL DEFAULT '{}',
	is_read		boolean NOT NULL DEFAULT false,
	read_at		timestamptz,
	created_at	timestamptz NOT NULL DEFAULT now(),
	CHECK (is_read = (read_at IS NOT NULL))
);
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

-- Failed logins per email address (known or not, so that answers do not tell which
-- addresses have accounts); see flov7_api.auth_login.  Owner only; not dumped.
CREATE TABLE flov7.login_throttle (
	email			text PRIMARY KEY,
	failures		int NOT NULL DEFAULT 0 CHECK (failures >= 0),
	window_start	timestamptz NOT NULL DEFAULT now(),
	lock_level		int NOT NULL DEFAULT 0 CHECK (lock_level >= 0),
	locked_until	timestamptz,
	last_failure_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_throttle_last_failure_idx ON flov7.login_throttle (last_failure_at);
COMMENT ON TABLE flov7.login_throttle IS
	'failed logins per email within login_failure_window, and the lock they caused (locked_until, lock_level)';

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
