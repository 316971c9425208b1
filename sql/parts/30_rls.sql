-- 30_rls.sql: row level security, forced on every table holding user data.
--
-- The caller comes from flov7.caller_id() and admin rights from
-- flov7.caller_is_admin(), both resolved once per transaction by the C
-- authorizer.  They are wrapped in scalar subqueries so that the planner
-- evaluates them once per query (an initplan), not once per row.
-- Tables with no policy below are readable by their owner only.

ALTER TABLE flov7.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_self_or_admin ON flov7.users
	USING (id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.workflows ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.workflows FORCE ROW LEVEL SECURITY;
CREATE POLICY workflows_owner_or_admin ON flov7.workflows
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.workflow_executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.workflow_executions FORCE ROW LEVEL SECURITY;
CREATE POLICY workflow_executions_owner_or_admin ON flov7.workflow_executions
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.user_integrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.user_integrations FORCE ROW LEVEL SECURITY;
CREATE POLICY user_integrations_owner_or_admin ON flov7.user_integrations
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_owner_or_admin ON flov7.api_keys
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY notifications_owner_or_admin ON flov7.notifications
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.deployments FORCE ROW LEVEL SECURITY;
CREATE POLICY deployments_owner_or_admin ON flov7.deployments
	USING (user_id = (SELECT flov7.caller_id()) OR (SELECT flov7.caller_is_admin()));

-- A user sees what they did and what was done to their records; admins see all.
ALTER TABLE flov7.audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.audit_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_logs_read ON flov7.audit_logs FOR SELECT
	USING (user_id = (SELECT flov7.caller_id()) OR owner_id = (SELECT flov7.caller_id())
		   OR (SELECT flov7.caller_is_admin()));

-- Shared catalogues: everyone reads, admins write.
ALTER TABLE flov7.workflow_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.workflow_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY workflow_templates_read ON flov7.workflow_templates FOR SELECT USING (true);
CREATE POLICY workflow_templates_admin ON flov7.workflow_templates
	USING ((SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.primitives ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.primitives FORCE ROW LEVEL SECURITY;
CREATE POLICY primitives_read ON flov7.primitives FOR SELECT
	USING (is_active OR (SELECT flov7.caller_is_admin()));
CREATE POLICY primitives_admin ON flov7.primitives
	USING ((SELECT flov7.caller_is_admin()));

ALTER TABLE flov7.plan_quotas ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.plan_quotas FORCE ROW LEVEL SECURITY;
CREATE POLICY plan_quotas_read ON flov7.plan_quotas FOR SELECT USING (true);
CREATE POLICY plan_quotas_admin ON flov7.plan_quotas
	USING ((SELECT flov7.caller_is_admin()));

-- Secrets and tokens: no policy, so nobody but the owner (SECURITY DEFINER code).
ALTER TABLE flov7.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.settings FORCE ROW LEVEL SECURITY;
ALTER TABLE flov7.user_passwords ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.user_passwords FORCE ROW LEVEL SECURITY;
ALTER TABLE flov7.refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.refresh_tokens FORCE ROW LEVEL SECURITY;
ALTER TABLE flov7.revoked_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.revoked_tokens FORCE ROW LEVEL SECURITY;
ALTER TABLE flov7.login_throttle ENABLE ROW LEVEL SECURITY;
ALTER TABLE flov7.login_throttle FORCE ROW LEVEL SECURITY;
