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
	('access_token_ttl', '3600'),
	('refresh_token_ttl', '2592000'),
	('bcrypt_cost', '10'),
	('login_max_failures', '5'),
	('login_failure_window', '900'),
	('login_lock_seconds', '60'),
	('login_lock_max_seconds', '3600'),
	('login_lock_reset', '86400');
