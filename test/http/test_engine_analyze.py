"""flov7.engine_analyze(): the workers' correction of statistics left far behind by a burst
(extension/plans.c says why: plans made from near-empty statistics stay cached)."""
import time


def stats(cur):
    cur.execute("SELECT c.reltuples, pg_catalog.pg_stat_get_mod_since_analyze(c.oid),"
                "       (SELECT count(*) FROM flov7.events) FROM pg_catalog.pg_class c"
                " WHERE c.oid = 'flov7.events'::regclass")
    return cur.fetchone()


def test_engine_analyze_analyzes_a_table_changed_far_past_its_statistics(db):
    cur = db.cursor()
    cur.execute("DELETE FROM flov7.events WHERE type = 'test.analyze'")
    cur.execute("ANALYZE flov7.events")
    try:
        # a burst past the threshold, more than max(1000, 2 x reltuples) rows changed since:
        # 1 500 new rows, then every row updated twice. Negative positions: already "published",
        # so no worker announces them, and below every position a reader resumes from.
        cur.execute("INSERT INTO flov7.events (user_id, topic, type, payload, pos)"
                    " SELECT '00000000-0000-0000-0000-000000000000', 'system', 'test.analyze', '{}', -g"
                    "   FROM generate_series(1, 1500) g")
        cur.execute("UPDATE flov7.events SET payload = payload")
        cur.execute("UPDATE flov7.events SET payload = payload")
        cur.execute("SELECT pg_catalog.pg_stat_force_next_flush()")
        for _ in range(100):  # this backend's counts reach the shared statistics at its next report
            cur.execute("SELECT 1")
            reltuples, mods, rows = stats(cur)
            if mods > max(1000, 2 * reltuples):
                break
            time.sleep(0.05)
        assert mods > max(1000, 2 * reltuples), (reltuples, mods, rows)
        # the workers may have done it meanwhile (they run it once a second): then nothing is left
        cur.execute("SELECT flov7.engine_analyze()")
        analyzed = cur.fetchone()[0]
        reltuples, mods, rows = stats(cur)
        assert mods < 1000 and abs(reltuples - rows) <= max(10, rows // 10), (analyzed, reltuples, mods, rows)
    finally:
        cur.execute("DELETE FROM flov7.events WHERE type = 'test.analyze'")


def test_engine_analyze_leaves_tables_whose_statistics_hold(db):
    cur = db.cursor()
    cur.execute("ANALYZE flov7.workflow_executions, flov7.execution_steps, flov7.execution_step_data,"
                " flov7.events")
    cur.execute("SELECT flov7.engine_analyze()")
    assert cur.fetchone()[0] == 0


def test_engine_analyze_is_the_workers_only(db):
    cur = db.cursor()
    cur.execute("SELECT r, pg_catalog.has_function_privilege(r, 'flov7.engine_analyze()', 'EXECUTE')"
                "  FROM unnest(ARRAY['flov7_worker', 'flov7_user', 'flov7_admin', 'flov7_anon',"
                "                    'flov7_authenticator']) r")
    assert dict(cur.fetchall()) == {"flov7_worker": True, "flov7_user": False, "flov7_admin": False,
                                    "flov7_anon": False, "flov7_authenticator": False}
