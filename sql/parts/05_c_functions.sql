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

-- Sealing integration credentials with keys kept outside the database (extension/credentials.c,
-- extension/credkeys.c).  Owner only: flov7.credentials_encrypt and flov7.credentials_decrypt
-- (25_secrets.sql) are the doors; no function ever returns a key.
CREATE FUNCTION flov7.credentials_seal(plaintext text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'flov7_credentials_seal' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION flov7.credentials_seal(text) IS
	'seal a plaintext with the current key of flov7.credentials_key_file (or _command): AES-256-GCM';
CREATE FUNCTION flov7.credentials_open(data bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'flov7_credentials_open' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION flov7.credentials_open(bytea) IS
	'open a value sealed by credentials_seal, with whichever configured key sealed it';
CREATE FUNCTION flov7.credentials_key_id(data bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'flov7_credentials_key_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.credentials_key_id(bytea) IS
	'the id of the key that sealed a value; empty for a value sealed before 0.1.3 (the legacy key)';
CREATE FUNCTION flov7.credentials_current_key_id() RETURNS text
	AS 'MODULE_PATHNAME', 'flov7_credentials_current_key_id' LANGUAGE C STABLE;
COMMENT ON FUNCTION flov7.credentials_current_key_id() IS
	'the id of the key that seals now (the first line of the key file or command)';
