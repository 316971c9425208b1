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
	'statement trigger: forget the cached caller after a change to what the authorizer reads, and have the commit move the shared generation on';

-- The authorizer's cache across transactions (extension/authz_cache.c); owner only.
CREATE FUNCTION flov7.authz_cache_stats(OUT enabled boolean, OUT generation bigint, OUT entries integer,
										OUT hits bigint, OUT misses bigint,
										OUT all_hits bigint, OUT all_misses bigint)
	AS 'MODULE_PATHNAME', 'flov7_authz_cache_stats' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION flov7.authz_cache_stats() IS
	'the authorizer''s cross-transaction cache: on in this session (preloaded, flov7.authz_cache_size > 0, not in recovery), the shared generation, this backend''s entries, hits and misses, and all backends'' hits and misses';
