-- 90_compat_grants.sql: grants of issue 9's functions and columns (80_grants.sql has already
-- revoked every function from PUBLIC; the update script revokes the new ones itself).

-- Anyone may ask what the API is and whether it is up.
GRANT EXECUTE ON FUNCTION
	flov7_api.api_root(jsonb), flov7_api.service_health(jsonb), flov7_api.health_database(jsonb)
	TO flov7_anon, flov7_user, flov7_admin;
GRANT EXECUTE ON FUNCTION flov7.arg_text(jsonb, text, boolean, int) TO flov7_anon;

-- Page arguments, API-key scopes and expiry, profile counts.
GRANT EXECUTE ON FUNCTION
	flov7.arg_offset(jsonb), flov7.api_key_scopes(jsonb, text[]), flov7.api_key_default_days(),
	flov7.api_key_expiry(jsonb, uuid, timestamptz), flov7.user_counts(uuid)
	TO flov7_user, flov7_admin;
GRANT SELECT (description), INSERT (description) ON flov7.api_keys TO flov7_user, flov7_admin;
