-- 23_compat.sql: what the original platform's clients send and expect, in the tables
-- (issue 9): API keys' description and default lifetime, a plan's longest key, the root route,
-- routes' error style and the API profile.

-- A new API key expires this many days from its creation unless it asks otherwise (the
-- original platform's expires_in_days defaulted to 365).
INSERT INTO flov7.settings (key, value) VALUES ('api_key_expiry_days', '365');
ALTER TABLE flov7.settings ADD CONSTRAINT settings_api_key_expiry_days_check
	CHECK (key <> 'api_key_expiry_days' OR value ~ '^[1-9][0-9]{0,4}$');

-- The longest life a plan allows an API key, in days; NULL: no limit, keys that never expire
-- included ("expires_at": null).
ALTER TABLE flov7.plan_quotas ADD COLUMN api_key_max_days int CHECK (api_key_max_days >= 1);
COMMENT ON COLUMN flov7.plan_quotas.api_key_max_days IS
	'the longest life of an API key, in days; NULL: unlimited, including keys that never expire';

ALTER TABLE flov7.api_keys ADD COLUMN description text CHECK (length(description) <= 500);

-- "/" is a route too (GET /: the API's name, version and links).
ALTER TABLE flov7.routes DROP CONSTRAINT routes_path_check,
	ADD CONSTRAINT routes_path_check CHECK (path = '/' OR path ~ '^(/[A-Za-z0-9._~{}-]+)+$');

-- How frontd renders a route's errors: flov7's {"code","message","details","hint"}, or the
-- original platform's {"detail": ...} (frontd/errstyle.c); set by flov7.set_api_profile.
ALTER TABLE flov7.routes ADD COLUMN error_style text NOT NULL DEFAULT 'flov7'
	CHECK (error_style IN ('flov7', 'original'));
COMMENT ON COLUMN flov7.routes.error_style IS
	'flov7: errors as {"code","message","details","hint"}; original: as the original platform''s {"detail": ...}, bad input naming a field as 422';

-- The API profile /api/v1 answers in (flov7.set_api_profile).
INSERT INTO flov7.settings (key, value) VALUES ('api_profile', 'flov7');
ALTER TABLE flov7.settings ADD CONSTRAINT settings_api_profile_check
	CHECK (key <> 'api_profile' OR value IN ('flov7', 'original'));
