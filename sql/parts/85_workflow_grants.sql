-- 85_workflow_grants.sql: grants of the workflow functions (80_grants.sql has already revoked
-- every function from PUBLIC).

GRANT EXECUTE ON FUNCTION
	flov7.compile_condition(text), flov7.compile_template(text),
	flov7.validate_workflow(jsonb), flov7.check_workflow(jsonb)
	TO flov7_user, flov7_admin;
