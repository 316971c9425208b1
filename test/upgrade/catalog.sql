-- catalog.sql: a canonical listing of everything extension flov7 owns, one line per fact, so
-- that an updated install and a fresh one can be compared with diff.  Secrets, timestamps and
-- generated ids are left out; seeded rows are listed.
\pset format unaligned
\pset tuples_only on
\pset footer off
SET search_path = pg_catalog;

WITH ext AS (
	SELECT e.oid FROM pg_extension e WHERE e.extname = 'flov7'
), members AS (
	SELECT d.classid, d.objid FROM pg_depend d, ext
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rels AS (
	SELECT c.* FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
)
SELECT line FROM (
	SELECT 'function ' || p.oid::regprocedure || ' returns ' || p.prorettype::regtype
		   || ' lang ' || (SELECT l.lanname FROM pg_language l WHERE l.oid = p.prolang)
		   || ' vol ' || p.provolatile::text || ' par ' || p.proparallel::text || ' strict ' || p.proisstrict
		   || ' secdef ' || p.prosecdef || ' config ' || coalesce(p.proconfig::text, '-')
		   || ' acl ' || coalesce(p.proacl::text, '-') || ' src ' || md5(p.prosrc)
		   || ' comment ' || coalesce(md5(obj_description(p.oid, 'pg_proc')), '-') AS line
	  FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
	UNION ALL
	SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text || ' rls ' || c.relrowsecurity
		   || ' force ' || c.relforcerowsecurity || ' acl ' || coalesce(c.relacl::text, '-')
		   || ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
	  FROM rels c
	UNION ALL
	SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		   || ' notnull ' || a.attnotnull || ' default ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-')
		   || ' acl ' || coalesce(a.attacl::text, '-')
		   || ' comment ' || coalesce(col_description(c.oid, a.attnum), '-')
	  FROM rels c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	 WHERE c.relkind IN ('r', 'v', 'p')
	UNION ALL
	SELECT 'constraint ' || c.conrelid::regclass || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
	  FROM pg_constraint c JOIN rels r ON r.oid = c.conrelid
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	  FROM pg_index i JOIN rels r ON r.oid = i.indrelid
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
	  FROM pg_trigger t JOIN rels r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
	UNION ALL
	SELECT 'policy ' || p.polrelid::regclass || ' ' || p.polname || ' cmd ' || p.polcmd::text
		   || ' permissive ' || p.polpermissive
		   || ' roles ' || (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY 1)
							  FROM unnest(p.polroles) r)
		   || ' using ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '-')
		   || ' check ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-')
	  FROM pg_policy p JOIN rels r ON r.oid = p.polrelid
	UNION ALL
	SELECT 'type ' || t.oid::regtype || ' ' || t.typtype::text
	  FROM pg_type t JOIN members m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
	UNION ALL
	SELECT 'schema ' || n.nspname || ' acl ' || coalesce(n.nspacl::text, '-')
	  FROM pg_namespace n JOIN members m ON m.classid = 'pg_namespace'::regclass AND m.objid = n.oid
	UNION ALL
	SELECT 'config dump ' || u.x::regclass || ' ' || coalesce(u.cond, '-')
	  FROM ext, pg_extension e, unnest(e.extconfig, e.extcondition) AS u (x, cond) WHERE e.oid = ext.oid
	UNION ALL
	SELECT 'route ' || r::text FROM flov7.routes r
	UNION ALL
	SELECT 'permission ' || p::text FROM flov7.permissions p
	UNION ALL
	SELECT 'role_permission ' || p::text FROM flov7.role_permissions p
	UNION ALL
	SELECT 'plan_quota ' || (to_jsonb(q) - 'updated_at')::text FROM flov7.plan_quotas q
	UNION ALL
	SELECT 'primitive ' || p.type || ' ' || p.subtype || ' ' || md5((to_jsonb(p) - ARRAY['id', 'created_at'])::text)
	  FROM flov7.primitives p
	UNION ALL
	SELECT 'template ' || t.name || ' ' || md5((to_jsonb(t) - ARRAY['id', 'created_at', 'updated_at'])::text)
	  FROM flov7.workflow_templates t WHERE t.builtin
	UNION ALL
	-- credentials_key: the legacy key of installs made before 0.1.3, kept by the update until
	-- flov7.drop_legacy_credentials_key() (a fresh install never has one)
	SELECT 'setting ' || s.key FROM flov7.settings s WHERE s.key <> 'credentials_key'
) l
ORDER BY line COLLATE "C";
