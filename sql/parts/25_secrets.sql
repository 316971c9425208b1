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
