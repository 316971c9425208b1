-- 68_worker.sql: what the background workers (extension/worker.c) need.
--
-- The workers connect as flov7_worker: LOGIN (a background worker connects without a
-- password, through no pg_hba line), neither superuser nor BYPASSRLS, member of nothing.
-- All it may do is call the runner, which runs each step as the step's owner.

DO $worker$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'flov7_worker') THEN
		CREATE ROLE flov7_worker LOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS;
	END IF;
	EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO flov7_worker', pg_catalog.current_database());
END
$worker$;

-- Milliseconds until the earliest ready step or timer is due (0: now; NULL: none).
CREATE FUNCTION flov7.next_due_ms() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
	SELECT CASE WHEN min(s.ready_at) IS NOT NULL
				THEN greatest(0, ceil(extract(epoch FROM min(s.ready_at) - clock_timestamp()) * 1000))::bigint END
	  FROM flov7.execution_steps s
	 WHERE s.state IN ('ready', 'waiting') AND s.ready_at IS NOT NULL
$$;

-- Re-analyze the engine's tables whose statistics are far behind: a burst of executions grows
-- them from empty to many thousand rows a minute before autovacuum looks, and plans made from
-- near-empty statistics (a sequential scan per step, the whole table as a join's outer side)
-- stay cached until then (extension/plans.c).  Only small statistics are corrected: from
-- 100 000 rows on, autovacuum's thresholds are the right ones.  Returns the tables analyzed.
CREATE FUNCTION flov7.engine_analyze() RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, flov7, pg_temp AS $$
DECLARE
	v_rel regclass;
	v_n int := 0;
BEGIN
	FOR v_rel IN
		SELECT c.oid::regclass FROM pg_catalog.pg_class c
		 WHERE c.oid IN ('flov7.workflow_executions'::regclass, 'flov7.execution_steps'::regclass,
						 'flov7.execution_step_data'::regclass, 'flov7.events'::regclass)
		   AND c.reltuples < 100000
		   AND pg_catalog.pg_stat_get_mod_since_analyze(c.oid) > greatest(1000, 2 * c.reltuples)
	LOOP
		-- SKIP_LOCKED: another worker analyzing it does it for both
		EXECUTE pg_catalog.format('ANALYZE (SKIP_LOCKED) %s', v_rel);
		v_n := v_n + 1;
	END LOOP;
	RETURN v_n;
END
$$;

-- Wake a background worker when the current transaction commits (a no-op without workers).
CREATE FUNCTION flov7.wake_workers() RETURNS void
	AS 'MODULE_PATHNAME', 'flov7_wake_workers' LANGUAGE C VOLATILE;
