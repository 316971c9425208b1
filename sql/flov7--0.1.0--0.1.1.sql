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

-- A search_path without pg_temp searches the session's temporary schema first for types and
-- tables, so any role with TEMP could plant pg_temp.text and run code as the function's owner.
-- pg_temp goes last in every search_path the extension pins (SECURITY DEFINER or not: an
-- invoker function called from a definer runs with the definer's rights).
DO $pin$
DECLARE
	f record;
BEGIN
	FOR f IN
		SELECT p.oid::regprocedure AS fn, substr(c.setting, length('search_path=') + 1) AS path
		  FROM pg_catalog.pg_depend d
		  JOIN pg_catalog.pg_proc p ON p.oid = d.objid
		 CROSS JOIN LATERAL unnest(p.proconfig) AS c(setting)
		 WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
		   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'flov7')
		   AND d.deptype = 'e'
		   AND c.setting LIKE 'search\_path=%'
		   AND c.setting NOT LIKE '%pg\_temp'
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = %s, pg_temp', f.fn, f.path);
	END LOOP;
END
$pin$;

-- LANGUAGE sql endpoints were inlined into the caller's plan, where a cached plan never checks
-- their EXECUTE grant again; a SET clause makes a function non-inlinable.
ALTER FUNCTION flov7_api.auth_me(jsonb) SET search_path = pg_catalog, flov7, pg_temp;
ALTER FUNCTION flov7_api.users_profile_get(jsonb) SET search_path = pg_catalog, flov7, pg_temp;
