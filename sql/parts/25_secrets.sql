-- 25_secrets.sql: password hashing (pgcrypto) and integration credentials, sealed with keys kept
-- outside the database (extension/credentials.c, extension/credkeys.c).
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

-- Seal integration credentials with the current key of flov7.credentials_key_file (or
-- flov7.credentials_key_command): the key lives outside the database (extension/credkeys.c).
CREATE FUNCTION flov7.credentials_encrypt(credentials jsonb) RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
BEGIN
	IF credentials IS NULL OR jsonb_typeof(credentials) <> 'object' THEN
		RAISE EXCEPTION 'credentials must be a JSON object' USING ERRCODE = '22023';
	END IF;
	RETURN flov7.credentials_seal(credentials::text);
END
$$;

-- Open integration credentials (engine and DBA use only; never granted to API roles).  A value
-- sealed before 0.1.3 has no key id: pgcrypto opens it with the legacy key of flov7.settings,
-- until flov7.rotate_credentials_key() has moved it to the current key.
CREATE FUNCTION flov7.credentials_decrypt(data bytea) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
DECLARE
	legacy text;
BEGIN
	IF flov7.credentials_key_id(data) <> '' THEN
		RETURN flov7.credentials_open(data)::jsonb;
	END IF;
	SELECT s.value INTO legacy FROM flov7.settings s WHERE s.key = 'credentials_key';
	IF legacy IS NULL THEN
		RAISE EXCEPTION 'credentials sealed with the legacy key, which is no longer in flov7.settings'
			USING ERRCODE = '55000',
			HINT = 'Restore the credentials_key row of flov7.settings from a backup, then run flov7.rotate_credentials_key().';
	END IF;
	RETURN pgp_sym_decrypt(data, legacy, 'cipher-algo=aes256')::jsonb;
END
$$;

-- Finding what a rotation has left: the key id of each value.
CREATE INDEX user_integrations_key_idx ON flov7.user_integrations (flov7.credentials_key_id(credentials_encrypted));

-- Re-seal up to batch integrations still sealed with another key than the current one (an
-- older line of the key file, or the legacy key); return how many remain.  Rows locked by a
-- concurrent change are skipped, so call it until it returns 0.  "Another key" is the two ranges
-- around the current id, which the key-id index serves (it cannot serve <>).
CREATE FUNCTION flov7.rotate_credentials_key(batch int DEFAULT 1000) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	current_id text := flov7.credentials_current_key_id();
	remaining bigint;
BEGIN
	IF batch IS NULL OR batch < 1 OR batch > 100000 THEN
		RAISE EXCEPTION 'batch must be between 1 and 100000' USING ERRCODE = '22023';
	END IF;
	-- The batch is chosen once (a CTE): a subquery rescanned by a join would lock new rows each time.
	WITH picked AS MATERIALIZED (
		SELECT o.id FROM flov7.user_integrations o
		 WHERE flov7.credentials_key_id(o.credentials_encrypted) < current_id
			OR flov7.credentials_key_id(o.credentials_encrypted) > current_id
		 LIMIT batch FOR UPDATE SKIP LOCKED)
	UPDATE flov7.user_integrations i
	   SET credentials_encrypted = flov7.credentials_seal(flov7.credentials_decrypt(i.credentials_encrypted)::text)
	  FROM picked
	 WHERE i.id = picked.id;
	SELECT count(*) INTO remaining FROM flov7.user_integrations o
	 WHERE flov7.credentials_key_id(o.credentials_encrypted) < current_id
		OR flov7.credentials_key_id(o.credentials_encrypted) > current_id;
	RETURN remaining;
END
$$;

-- Delete the legacy key of installs made before 0.1.3 from flov7.settings, once no credentials
-- are sealed with it; true if there was one.
CREATE FUNCTION flov7.drop_legacy_credentials_key() RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	left_over bigint;
BEGIN
	SELECT count(*) INTO left_over FROM flov7.user_integrations i
	 WHERE flov7.credentials_key_id(i.credentials_encrypted) = '';
	IF left_over > 0 THEN
		RAISE EXCEPTION '% integrations are still sealed with the legacy key', left_over USING ERRCODE = '55000',
			HINT = 'Run SELECT flov7.rotate_credentials_key(1000) until it returns 0.';
	END IF;
	DELETE FROM flov7.settings WHERE key = 'credentials_key';
	RETURN FOUND;
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
