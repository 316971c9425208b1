-- 71_service_routes.sql: the routes of 63_service_api.sql, public and read only.

INSERT INTO flov7.routes (method, path, function, status, summary, tag, read_only) VALUES
	('GET', '/', 'flov7_api.api_root', 200, 'The API''s name, version and links', 'service', true),
	('GET', '/api/v1', 'flov7_api.api_root', 200, 'The API''s name, version and links', 'service', true),
	('GET', '/api/v1/auth/health', 'flov7_api.service_health', 200, 'Health of the auth service', 'service', true),
	('GET', '/api/v1/users/health', 'flov7_api.service_health', 200, 'Health of the users service', 'service', true),
	('GET', '/api/v1/workflows/health', 'flov7_api.service_health', 200, 'Health of the workflows service', 'service', true),
	('GET', '/api/v1/realtime/health', 'flov7_api.service_health', 200, 'Health of the realtime service', 'service', true),
	('GET', '/api/v1/health/database', 'flov7_api.health_database', 200, 'Database reachability and latency', 'service', true);
