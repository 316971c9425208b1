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
