-- 87_named_refs_grants.sql: grants of the named schemas and message templates (77_named_refs.sql).

GRANT EXECUTE ON FUNCTION
	flov7_api.schema_list(jsonb), flov7_api.schema_get(jsonb), flov7_api.schema_create(jsonb),
	flov7_api.schema_put(jsonb), flov7_api.schema_delete(jsonb),
	flov7_api.message_template_list(jsonb), flov7_api.message_template_get(jsonb),
	flov7_api.message_template_create(jsonb), flov7_api.message_template_put(jsonb),
	flov7_api.message_template_delete(jsonb)
	TO flov7_user, flov7_admin;

GRANT EXECUTE ON FUNCTION
	flov7.named_schema(text), flov7.render_message_template(text, jsonb),
	flov7.json_schema_to_json(flov7.json_schemas), flov7.message_template_to_json(flov7.message_templates),
	flov7.arg_global(jsonb), flov7.check_template_text(text, text),
	flov7.schema_write(jsonb, boolean), flov7.message_template_write(jsonb, boolean)
	TO flov7_user, flov7_admin;

GRANT SELECT, INSERT, UPDATE, DELETE ON flov7.json_schemas, flov7.message_templates TO flov7_user, flov7_admin;
