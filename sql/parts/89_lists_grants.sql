-- 89_lists_grants.sql: grants of what every list shares (22_lists.sql; 80_grants.sql has already
-- revoked every function from PUBLIC; the update script revokes the new ones itself).
-- flov7.cursor_mac is the owner's only: the SECURITY DEFINER cursor functions call it.

GRANT EXECUTE ON FUNCTION
	flov7.list_from(text), flov7.b64url(bytea), flov7.b64url_decode(text),
	flov7.cursor_make(text, text, text, jsonb), flov7.arg_cursor(jsonb, text, text, text, int, text),
	flov7.list_count_pref(jsonb), flov7.list_estimate(text, jsonb), flov7.list_total(text, jsonb, text),
	flov7.response_header_add(text, text), flov7.list_answer(text, text, text, jsonb, jsonb, text, jsonb)
	TO flov7_user, flov7_admin;

-- An admin search's sparse page (60_admin_api.sql).
GRANT EXECUTE ON FUNCTION flov7.admin_user_search(jsonb) TO flov7_admin;
