-- 06_workflow_c_functions.sql: SQL declarations of the validator and the expression compiler (C).

-- Expressions (extension/expr.c): compiled to jsonpath text, evaluated later against a step's
-- context {"input": ..., "nodes": {"<id>": {"output": ...}}, "data": <data flowing in>}.
CREATE FUNCTION flov7.compile_condition(condition text) RETURNS jsonpath
	AS 'MODULE_PATHNAME', 'flov7_compile_condition_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.compile_condition(text) IS
	'compile a condition ("data.valid == true and not (x < 3)") into a jsonpath predicate (22P02 if malformed)';

CREATE FUNCTION flov7.compile_template(template text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'flov7_compile_template_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION flov7.compile_template(text) IS
	'compile a template ("Hi {{ user.name }}") into an array of literal strings and {"path": <jsonpath>} (22P02 if malformed)';

-- The validator (extension/validate.c).  It reads flov7.primitives (active rows) as the caller,
-- and parses jsonpath fields under a subtransaction (so it is parallel unsafe).
CREATE FUNCTION flov7.validate_workflow(definition jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'flov7_validate_workflow' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION flov7.validate_workflow(jsonb) IS
	'the problems of a workflow definition: [{"severity","rule","node","edge","message"}], [] when none';

CREATE FUNCTION flov7.check_workflow(definition jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'flov7_check_workflow' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION flov7.check_workflow(jsonb) IS
	'{"valid","is_definition","problems","primitives_count","estimated_cost"} of a workflow definition';
