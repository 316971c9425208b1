-- 20_helpers.sql: settings, request context, argument readers, shapes.

-- Read a setting; settings are readable by the extension owner only.
CREATE FUNCTION flov7.setting(name text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v text;
BEGIN
	SELECT s.value INTO v FROM flov7.settings s WHERE s.key = name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'flov7 setting "%" is missing', name
			USING ERRCODE = '55000', HINT = 'Reinstall the extension or insert the setting into flov7.settings.';
	END IF;
	RETURN v;
END
$$;

-- Replace the JWT signing secret (superuser only; at least 32 bytes).
CREATE FUNCTION flov7.set_jwt_secret(secret text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) THEN
		RAISE EXCEPTION 'only a superuser may change the jwt secret' USING ERRCODE = '42501';
	END IF;
	IF secret IS NULL OR octet_length(secret) < 32 THEN
		RAISE EXCEPTION 'jwt secret must be at least 32 bytes long'
			USING ERRCODE = '22023', DETAIL = 'HS256 needs a key at least as long as its output.';
	END IF;
	UPDATE flov7.settings SET value = secret, updated_at = now() WHERE key = 'jwt_secret';
END
$$;

-- The peer IP address of the request (GUC request.ip), NULL if unset or not an address.
CREATE FUNCTION flov7.request_ip() RETURNS inet
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v text := nullif(current_setting('request.ip', true), '');
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN v::inet;
EXCEPTION WHEN invalid_text_representation THEN
	RETURN NULL;
END
$$;

-- A request header (GUC request.headers, names lower-cased), NULL if absent.
CREATE FUNCTION flov7.request_header(name text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v text := nullif(current_setting('request.headers', true), '');
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN v::jsonb ->> lower(name);
EXCEPTION WHEN invalid_text_representation THEN
	RETURN NULL;
END
$$;

-- Set the updated_at column of the row being updated.
CREATE FUNCTION flov7.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

-- The readers of API arguments below name the field of the bad one in the error's COLUMN
-- (PG_DIAG_COLUMN_NAME): frontd's original error style (issue 9) answers it as a 422 naming it.

-- Read a text field of an API argument object; 22023 if missing (when required) or not a string.
CREATE FUNCTION flov7.arg_text(args jsonb, name text, required boolean DEFAULT true, max_length int DEFAULT 1000)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
	t text;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		IF required THEN
			RAISE EXCEPTION 'missing required field "%"', name USING ERRCODE = '22023', COLUMN = name;
		END IF;
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'string' THEN
		RAISE EXCEPTION 'field "%" must be a string', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	t := v #>> '{}';
	IF required AND btrim(t) = '' THEN
		RAISE EXCEPTION 'field "%" must not be empty', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	IF length(t) > max_length THEN
		RAISE EXCEPTION 'field "%" is too long', name
			USING ERRCODE = '22023', COLUMN = name, DETAIL = format('At most %s characters are allowed.', max_length);
	END IF;
	RETURN t;
END
$$;

-- Read an integer field (JSON number or numeric string) within [min_value, max_value], and
-- within int's range when a bound is not given.
CREATE FUNCTION flov7.arg_int(args jsonb, name text, default_value int, min_value int DEFAULT NULL, max_value int DEFAULT NULL)
RETURNS int LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
	t text;
	n bigint;
BEGIN
	min_value := coalesce(min_value, -2147483648);
	max_value := coalesce(max_value, 2147483647);
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		RETURN default_value;
	END IF;
	IF jsonb_typeof(v) NOT IN ('number', 'string') THEN
		RAISE EXCEPTION 'field "%" must be an integer', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	t := btrim(v #>> '{}');
	IF t !~ '^[-+]?[0-9]{1,12}$' THEN
		RAISE EXCEPTION 'field "%" must be an integer', name
			USING ERRCODE = '22023', COLUMN = name, DETAIL = format('Got %s.', left(v::text, 40));
	END IF;
	n := t::bigint;
	IF n < min_value OR n > max_value THEN
		RAISE EXCEPTION 'field "%" must be %', name,
			CASE WHEN n < min_value AND max_value = 2147483647 THEN format('at least %s', min_value)
				 WHEN n > max_value AND min_value = -2147483648 THEN format('at most %s', max_value)
				 ELSE format('between %s and %s', min_value, max_value) END
			USING ERRCODE = '22023', COLUMN = name;
	END IF;
	RETURN n::int;
END
$$;

-- Read a boolean field: a JSON boolean, or (unless strict, e.g. query parameters) "true"/"false".
CREATE FUNCTION flov7.arg_bool(args jsonb, name text, default_value boolean DEFAULT NULL, strict boolean DEFAULT false)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		RETURN default_value;
	END IF;
	IF jsonb_typeof(v) = 'boolean' THEN
		RETURN v::boolean;
	END IF;
	IF NOT strict AND jsonb_typeof(v) = 'string' AND lower(v #>> '{}') IN ('true', 'false') THEN
		RETURN lower(v #>> '{}') = 'true';
	END IF;
	RAISE EXCEPTION 'field "%" must be %', name, CASE WHEN strict THEN 'a JSON boolean' ELSE 'true or false' END
		USING ERRCODE = '22023', COLUMN = name;
END
$$;

-- Read a required UUID field; 22P02 naming the field if it is not one.
CREATE FUNCTION flov7.arg_uuid(args jsonb, name text)
RETURNS uuid LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	t text := flov7.arg_text(args, name);
BEGIN
	IF t !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		RAISE EXCEPTION 'field "%" must be a UUID', name
			USING ERRCODE = '22P02', COLUMN = name, DETAIL = format('Got "%s".', left(t, 40));
	END IF;
	RETURN t::uuid;
END
$$;

-- Read a text field restricted to a set of values.
CREATE FUNCTION flov7.arg_enum(args jsonb, name text, allowed text[], required boolean DEFAULT true,
							   default_value text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	t text := flov7.arg_text(args, name, required, 100);
BEGIN
	IF t IS NULL THEN
		RETURN default_value;
	END IF;
	IF NOT t = ANY (allowed) THEN
		RAISE EXCEPTION 'field "%" must be one of: %', name, array_to_string(allowed, ', ')
			USING ERRCODE = '22023', COLUMN = name, DETAIL = format('Got "%s".', left(t, 40));
	END IF;
	RETURN t;
END
$$;

-- Read an optional timestamp field (ISO 8601); 22007 naming the field if malformed.
CREATE FUNCTION flov7.arg_timestamptz(args jsonb, name text)
RETURNS timestamptz LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	t text := flov7.arg_text(args, name, false, 64);
BEGIN
	IF t IS NULL THEN
		RETURN NULL;
	END IF;
	BEGIN
		RETURN t::timestamptz;
	EXCEPTION WHEN data_exception THEN
		RAISE EXCEPTION 'field "%" must be an ISO 8601 timestamp', name
			USING ERRCODE = '22007', COLUMN = name, DETAIL = format('Got "%s".', t);
	END;
END
$$;

-- Read an optional JSON object field (required when asked).
CREATE FUNCTION flov7.arg_object(args jsonb, name text, required boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		IF required THEN
			RAISE EXCEPTION 'missing required field "%"', name USING ERRCODE = '22023', COLUMN = name;
		END IF;
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'object' THEN
		RAISE EXCEPTION 'field "%" must be a JSON object', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	RETURN v;
END
$$;

-- Read an optional array-of-strings field.
CREATE FUNCTION flov7.arg_text_array(args jsonb, name text)
RETURNS text[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	v jsonb := args -> name;
BEGIN
	IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'array'
	   OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
		RAISE EXCEPTION 'field "%" must be an array of strings', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	RETURN ARRAY(SELECT jsonb_array_elements_text(v));
END
$$;

-- Validate and normalise an e-mail address (trimmed, lower-cased).
CREATE FUNCTION flov7.normalize_email(email text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	e text := lower(btrim(email));
BEGIN
	IF e IS NULL OR length(e) > 254 OR e !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' THEN
		RAISE EXCEPTION 'invalid email address' USING ERRCODE = '22023', COLUMN = 'email',
			DETAIL = 'An address looks like name@example.com.';
	END IF;
	RETURN e;
END
$$;

-- Refuse passwords bcrypt cannot take whole, or too short to be worth hashing.
CREATE FUNCTION flov7.check_password(password text, name text DEFAULT 'password') RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	IF password IS NULL OR length(password) < 8 THEN
		RAISE EXCEPTION 'field "%" must be at least 8 characters long', name USING ERRCODE = '22023', COLUMN = name;
	END IF;
	IF octet_length(password) > 72 THEN
		RAISE EXCEPTION 'field "%" must be at most 72 bytes long', name
			USING ERRCODE = '22023', COLUMN = name, DETAIL = 'bcrypt ignores anything past 72 bytes.';
	END IF;
END
$$;

-- The public JSON shape of a user (never a password hash).
CREATE FUNCTION flov7.user_json(u flov7.users) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT jsonb_build_object(
		'id', u.id, 'email', u.email, 'full_name', u.full_name, 'avatar_url', u.avatar_url,
		'is_active', u.is_active, 'is_verified', u.is_verified, 'role', u.role,
		'subscription_plan', u.subscription_plan, 'subscription_expires_at', u.subscription_expires_at,
		'created_at', u.created_at, 'updated_at', u.updated_at, 'last_login', u.last_login)
$$;
