-- 85_workflow_grants.sql: grants of the workflow endpoints and functions (80_grants.sql has
-- already revoked every function from PUBLIC).

GRANT EXECUTE ON FUNCTION
	flov7_api.primitive_list(jsonb), flov7_api.workflow_create(jsonb), flov7_api.workflow_list(jsonb),
	flov7_api.workflow_get(jsonb), flov7_api.workflow_update(jsonb), flov7_api.workflow_delete(jsonb),
	flov7_api.template_list(jsonb), flov7_api.template_use(jsonb)
	TO flov7_user, flov7_admin;

GRANT EXECUTE ON FUNCTION
	flov7.compile_condition(text), flov7.compile_template(text),
	flov7.validate_workflow(jsonb), flov7.check_workflow(jsonb),
	flov7.workflow_to_json(flov7.workflows), flov7.template_to_json(flov7.workflow_templates),
	flov7.primitive_to_json(flov7.primitives), flov7.workflow_checked(jsonb), flov7.validation_json(jsonb),
	flov7.workflow_status(jsonb, text, text), flov7.arg_tags(jsonb), flov7.expected_version(jsonb),
	flov7.check_version(int, int), flov7.like_pattern(text), flov7.template_count_use(uuid)
	TO flov7_user, flov7_admin;
