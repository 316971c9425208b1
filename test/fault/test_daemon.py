"""Fault and lifecycle tests of frontd: each test starts its own frontd process (conftest.py)."""

import os
import signal
import subprocess
import threading
import time
import uuid

import psycopg2
import pytest
import requests

from conftest import BIN, PGURI, TIMEOUT, me, register, sleeping_backend, wait_route


# --- refusing to start -------------------------------------------------------------------------

def test_help_lists_options_with_environment(tmp_path):
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0
    for word in ("--db-uri", "FLOV7_DB_URI", "FLOV7_JWT_SECRET", "FLOV7_LISTEN", "--config"):
        assert word in out.stdout + out.stderr


def test_unknown_option_refused(frontd):
    f = frontd("--no-such-option=1")
    assert f.wait_exit() != 0


@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_short_jwt_secret_refused(frontd, secret):
    f = frontd(env={"FLOV7_JWT_SECRET": secret})
    assert f.wait_exit() != 0
    assert "32" in f.output()


def test_superuser_role_refused(frontd):
    f = frontd(env={"FLOV7_DB_URI": PGURI})
    assert f.wait_exit() != 0
    assert "superuser" in f.output()


def test_bypassrls_role_refused(frontd, su):
    role = "flov7_fault_%s" % uuid.uuid4().hex[:8]
    with su.cursor() as c:
        c.execute("CREATE ROLE %s LOGIN BYPASSRLS PASSWORD 'pw-fault'" % role)
    try:
        uri = PGURI.replace("user=postgres", "user=%s password=pw-fault" % role)
        f = frontd(env={"FLOV7_DB_URI": uri})
        assert f.wait_exit() != 0
        assert "BYPASSRLS" in f.output() or "bypass" in f.output().lower()
    finally:
        with su.cursor() as c:
            c.execute("DROP ROLE %s" % role)


def test_table_owner_role_refused(frontd, su):
    role = "flov7_fault_%s" % uuid.uuid4().hex[:8]
    table = "flov7.fault_owned_%s" % uuid.uuid4().hex[:8]
    with su.cursor() as c:
        c.execute("CREATE ROLE %s LOGIN PASSWORD 'pw-fault'" % role)
        c.execute("CREATE TABLE %s (id int)" % table)
        c.execute("ALTER TABLE %s OWNER TO %s" % (table, role))
    try:
        uri = PGURI.replace("user=postgres", "user=%s password=pw-fault" % role)
        f = frontd(env={"FLOV7_DB_URI": uri})
        assert f.wait_exit() != 0
        assert "owns" in f.output()
    finally:
        with su.cursor() as c:
            c.execute("DROP TABLE %s" % table)
            c.execute("DROP ROLE %s" % role)


# --- PostgreSQL restarts -----------------------------------------------------------------------

def test_reconnects_after_postgres_restart(frontd):
    f = frontd().wait_up()
    token = register(f.url)
    assert me(f.url, token).status_code == 200
    subprocess.run(os.environ["FLOV7_PG_RESTART"], shell=True, check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    # The first request after the restart waits for the pool to reconnect (pool-acquire-timeout)
    # instead of failing.
    r = me(f.url, token)
    assert r.status_code == 200, r.text
    assert requests.get(f.url + "/ready", timeout=TIMEOUT).status_code == 200
    f.stop()


def test_route_reload_survives_postgres_restart(frontd):
    """The LISTEN connection comes back too: a route added after the restart is served."""
    f = frontd().wait_up()
    subprocess.run(os.environ["FLOV7_PG_RESTART"], shell=True, check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and requests.get(f.url + "/ready", timeout=TIMEOUT).status_code != 200:
        time.sleep(0.2)
    path = "/api/v1/fault/after-restart-%s" % uuid.uuid4().hex[:8]
    conn = psycopg2.connect(PGURI)
    conn.autocommit = True
    try:
        # Either the LISTEN connection is back and hears the trigger's NOTIFY, or it reconnects
        # later and reloads the whole table then: both must end with the route served.
        with conn.cursor() as c:
            c.execute("INSERT INTO flov7.routes (method, path, function, status, summary, tag) "
                      "VALUES ('GET', %s, 'flov7_api.auth_me', 200, 'me again', 'test')", (path,))
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            if requests.post(f.url + path, timeout=TIMEOUT).status_code == 405:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("route added after the restart was never loaded:\n" + f.output())
        assert requests.get(f.url + path, timeout=TIMEOUT).status_code == 401
    finally:
        with conn.cursor() as c:
            c.execute("DELETE FROM flov7.routes WHERE path = %s", (path,))
        conn.close()
    f.stop()


# --- signals -----------------------------------------------------------------------------------

def cors_origin(url, origin):
    r = requests.options(url + "/api/v1/auth/me", timeout=TIMEOUT, headers={
        "Origin": origin, "Access-Control-Request-Method": "GET"})
    return r.headers.get("Access-Control-Allow-Origin")


def test_sighup_reloads_config_file(frontd, tmp_path):
    conf = tmp_path / "frontd.conf"
    conf.write_text("# test config\ncors-origins = http://first.example\n")
    f = frontd("--config=%s" % conf).wait_up()
    assert cors_origin(f.url, "http://first.example") == "http://first.example"
    assert cors_origin(f.url, "http://second.example") is None
    conf.write_text("cors-origins = http://second.example\n")
    f.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and cors_origin(f.url, "http://second.example") is None:
        time.sleep(0.1)
    assert cors_origin(f.url, "http://second.example") == "http://second.example"
    assert cors_origin(f.url, "http://first.example") is None
    f.stop()


def test_sigterm_drains_in_flight_requests(frontd, su, slow_route):
    f = frontd().wait_up()
    wait_route(f.url, slow_route, "GET")
    result = {}

    def call():
        r = requests.get(f.url + slow_route, timeout=TIMEOUT)
        result["status"], result["body"] = r.status_code, r.json()

    t = threading.Thread(target=call)
    t.start()
    sleeping_backend(su, "flov7_api.fault_slow")  # the request is in the database now
    f.proc.send_signal(signal.SIGTERM)
    t.join(TIMEOUT)
    assert result == {"status": 200, "body": {"slept": True}}
    assert f.wait_exit() == 0
    # and it no longer accepts connections
    with pytest.raises(requests.ConnectionError):
        requests.get(f.url + "/health", timeout=5)
