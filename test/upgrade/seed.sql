-- seed.sql: data written through the API of a release (each frozen one in turn), before the
-- update walks the chain.  What verify.sql needs later (clear keys, tokens) is kept in public.upgrade_fixture.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
UPDATE flov7.settings SET value = '8' WHERE key = 'bcrypt_cost';
CREATE TABLE public.upgrade_fixture (name text PRIMARY KEY, value text NOT NULL);
GRANT ALL ON public.upgrade_fixture TO PUBLIC;

BEGIN;
SET LOCAL ROLE flov7_anon;
INSERT INTO public.upgrade_fixture
SELECT 'ada_token', flov7_api.auth_register('{"email":"ada@upgrade.test","password":"correct horse 1","full_name":"Ada"}')::text;
INSERT INTO public.upgrade_fixture
SELECT 'bob_token', flov7_api.auth_register('{"email":"bob@upgrade.test","password":"correct horse 2"}')::text;
COMMIT;

SELECT flov7.create_admin('root@upgrade.test', 'correct horse 3', 'Root') IS NOT NULL AS admin;
SELECT id AS ada FROM flov7.users WHERE email = 'ada@upgrade.test' \gset
SELECT id AS bob FROM flov7.users WHERE email = 'bob@upgrade.test' \gset
SELECT id AS root FROM flov7.users WHERE email = 'root@upgrade.test' \gset

-- Ada, by JWT claims: a key, an integration with credentials, her profile.
BEGIN;
SET LOCAL ROLE flov7_user;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'ada', 'role', 'flov7_user', 'jti', gen_random_uuid(),
	   'exp', extract(epoch FROM now() + interval '5 minutes')::bigint)::text, true) IS NOT NULL AS claims;
INSERT INTO public.upgrade_fixture
SELECT 'ada_key', flov7_api.api_key_create('{"name":"ci","permissions":["profile:read","integrations:read"]}') ->> 'key';
INSERT INTO public.upgrade_fixture
SELECT 'ada_integration', flov7_api.integration_create(
	'{"service_name":"github","service_type":"api_key","credentials":{"token":"ghp_upgrade"}}') ->> 'id';
SELECT flov7_api.users_profile_update('{"full_name":"Ada Lovelace"}') IS NOT NULL AS profile;
COMMIT;

-- The admin deactivates Bob; a notification for Ada.
BEGIN;
SET LOCAL ROLE flov7_admin;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'root', 'role', 'flov7_admin', 'jti', gen_random_uuid(),
	   'exp', extract(epoch FROM now() + interval '5 minutes')::bigint)::text, true) IS NOT NULL AS claims;
SELECT flov7_api.admin_user_set_status(json_build_object('id', :'bob', 'is_active', false)::jsonb) IS NOT NULL AS status;
COMMIT;
INSERT INTO flov7.notifications (user_id, type, title, message) VALUES (:'ada', 'info', 'Welcome', 'Hello Ada');
-- 0.1.0 had no workflow API: a workflow written straight into the table, as the original stored them.
WITH w AS (INSERT INTO flov7.workflows (user_id, name, workflow_json, status) VALUES (:'ada', 'Welcome',
	'{"name": "Welcome Email Workflow", "nodes": [{"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100},
	  "data": {"label": "Signup", "config": {"trigger_type": "webhook", "endpoint": "/webhook/user-signup"}}},
	 {"id": "action_1", "type": "action", "position": {"x": 400, "y": 100},
	  "data": {"label": "Send", "config": {"action_type": "email_send", "to": "{{user.email}}", "template": "welcome_email"}}}],
	 "edges": [{"id": "edge_1", "source": "trigger_1", "target": "action_1", "sourceHandle": "output"}]}', 'active')
	RETURNING id)
INSERT INTO public.upgrade_fixture SELECT 'ada_workflow', w.id::text FROM w;
-- ... and one with the table's default definition of 0.1.0, '{}' (written out, so that it is
-- the same whichever release is seeded).
WITH w AS (INSERT INTO flov7.workflows (user_id, name, workflow_json) VALUES (:'ada', 'Legacy', '{}') RETURNING id)
INSERT INTO public.upgrade_fixture SELECT 'ada_legacy_workflow', w.id::text FROM w;

INSERT INTO public.upgrade_fixture
SELECT 'audit_rows', count(*)::text FROM flov7.audit_logs;
