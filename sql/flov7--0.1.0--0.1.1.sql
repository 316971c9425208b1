-- flov7 0.1.0 -> 0.1.1: pg_temp last in every pinned search_path, endpoints that are never
-- inlined (so their EXECUTE grant is checked in cached plans), read-only routes.
\echo Use "ALTER EXTENSION flov7 UPDATE TO '0.1.1'" to load this file. \quit

-- Routes say whether frontd may run them again after a lost connection.
ALTER TABLE flov7.routes
	ADD COLUMN read_only boolean NOT NULL DEFAULT false CHECK (NOT read_only OR method = 'GET');
COMMENT ON COLUMN flov7.routes.read_only IS
	'the function changes nothing, so frontd may run it again on another connection when its connection dies before the answer';
UPDATE flov7.routes SET read_only = true
 WHERE method = 'GET' AND function IN (
	'flov7_api.auth_me', 'flov7_api.auth_verify', 'flov7_api.api_key_list', 'flov7_api.users_profile_get',
	'flov7_api.users_stats', 'flov7_api.integration_list', 'flov7_api.integration_get',
	'flov7_api.notification_list', 'flov7_api.admin_user_list', 'flov7_api.admin_stats');
