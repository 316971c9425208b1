-- flov7 0.1.2 -> 0.1.3.
-- Hand-written; a fresh 0.1.3 install (sql/parts/) must end up with the same catalog
-- (test/upgrade/run.sh compares them).  Each change names its issue and the part it mirrors.
\echo Use "ALTER EXTENSION flov7 UPDATE TO '0.1.3'" to load this file. \quit

-- ======== issue 8, the authorizer's cache across transactions (sql/parts/05_c_functions.sql, sql/parts/35_triggers.sql) ========
COMMENT ON FUNCTION flov7.authz_invalidate() IS
	'statement trigger: forget the cached caller after a change to what the authorizer reads, and have the commit move the shared generation on';

CREATE FUNCTION flov7.authz_cache_stats(OUT enabled boolean, OUT generation bigint, OUT entries integer,
										OUT hits bigint, OUT misses bigint,
										OUT all_hits bigint, OUT all_misses bigint)
	AS 'MODULE_PATHNAME', 'flov7_authz_cache_stats' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION flov7.authz_cache_stats() IS
	'the authorizer''s cross-transaction cache: on in this session (preloaded, flov7.authz_cache_size > 0, not in recovery), the shared generation, this backend''s entries, hits and misses, and all backends'' hits and misses';
REVOKE ALL ON FUNCTION flov7.authz_cache_stats() FROM PUBLIC;

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

-- ======== issue 8, GET /auth/me and /users/profile in PL/pgSQL, written out (sql/parts/40_auth_api.sql, sql/parts/50_users_api.sql) ========
CREATE OR REPLACE FUNCTION flov7_api.auth_me(args jsonb) RETURNS jsonb
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

CREATE OR REPLACE FUNCTION flov7_api.users_profile_get(args jsonb) RETURNS jsonb
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
