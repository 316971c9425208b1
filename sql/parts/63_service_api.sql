-- 63_service_api.sql: what the API says about itself, to anyone: GET / and GET /api/v1 (name,
-- version, links), each service's health, and the database's (issue 9; the original platform
-- answered these).  frontd's own /health and /ready are frontd's (frontd/ops.c).

-- GET / and GET /api/v1: the API's name, version and where to read more.  flov7 serves no HTML
-- documentation: the OpenAPI document is the documentation (load it into any OpenAPI viewer).
CREATE FUNCTION flov7_api.api_root(args jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT jsonb_build_object(
		'name', 'flov7',
		'message', 'flov7 API',
		'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'flov7'),
		'api', '/api/v1',
		'openapi_url', '/openapi.json',
		'docs_url', '/openapi.json',
		'health_url', '/health',
		'status', 'running')
$$;

-- GET /api/v1/{auth,users,workflows,realtime}/health: the service is up when the database
-- answers for it.  The service is the route's (request.path), or "service" from psql.
CREATE FUNCTION flov7_api.service_health(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_service text := coalesce(flov7.arg_text(args, 'service', false, 50),
							   (regexp_match(coalesce(current_setting('request.path', true), ''),
											 '^/api/v1/([a-z]+)/health/?$'))[1]);
BEGIN
	IF v_service IS NULL OR v_service NOT IN ('auth', 'users', 'workflows', 'realtime') THEN
		RAISE EXCEPTION 'no such service "%"', coalesce(v_service, '') USING ERRCODE = 'P0002',
			HINT = 'Services: auth, users, workflows, realtime.';
	END IF;
	RETURN jsonb_build_object('status', 'healthy', 'service', v_service,
		'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'flov7'),
		'timestamp', now());
END
$$;

-- GET /api/v1/health/database: the database is reachable (this answer comes from it) and how
-- long the request took inside it, from its transaction's start (statement_timestamp of the
-- first statement of frontd's pipeline) to now, in milliseconds.
CREATE FUNCTION flov7_api.health_database(args jsonb) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT jsonb_build_object('status', 'healthy', 'database', jsonb_build_object(
		'status', 'connected', 'reachable', true,
		'latency_ms', round((extract(epoch FROM clock_timestamp() - now()) * 1000)::numeric, 3)),
		'timestamp', now())
$$;
