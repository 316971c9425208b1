"""Fixtures of the fault suite: each test starts its own frontd process (class Frontd).

Run by test/run.sh with:
  FLOV7_FRONTD_BIN   the frontd binary (plain or sanitizer build)
  FLOV7_AUTH_URI     conninfo of flov7_authenticator
  FLOV7_PGURI        conninfo of the superuser `postgres` (to set up refusals and slow routes)
  FLOV7_PG_RESTART   a shell command that restarts the PostgreSQL cluster (fast, waits)
  FLOV7_PG_STOP      a shell command that stops it (fast, waits)
  FLOV7_PG_START     a shell command that starts it (waits)
  FLOV7_JWT_SECRET   the shared HS256 secret
"""

import os
import signal
import socket
import subprocess
import time
import uuid

import psycopg2
import pytest
import requests

BIN = os.environ.get("FLOV7_FRONTD_BIN", "frontd/frontd")
AUTH_URI = os.environ.get("FLOV7_AUTH_URI", "")
PGURI = os.environ.get("FLOV7_PGURI", "")
SECRET = os.environ.get("FLOV7_JWT_SECRET", "")
TIMEOUT = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Frontd:
    """One frontd process on a free port, its stderr kept for assertions."""

    def __init__(self, *args, env=None, tmp_path=None):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        base = dict(os.environ)
        base.update({
            "FLOV7_DB_URI": AUTH_URI,
            "FLOV7_JWT_SECRET": SECRET,
            "FLOV7_LISTEN": "127.0.0.1:%d" % self.port,
            "FLOV7_POOL_SIZE": "2",
        })
        base.pop("FLOV7_CORS_ORIGINS", None)
        base.update(env or {})
        self.log_path = str(tmp_path / ("frontd-%d.log" % self.port))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, *args], env=base, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait_up(self):
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("frontd exited %s:\n%s" % (self.proc.returncode, self.output()))
            try:
                # /ready, not /health: 200 only once a database connection is up
                if requests.get(self.url + "/ready", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError("frontd did not come up:\n" + self.output())

    def wait_exit(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit()
        assert rc == 0, "frontd exited %s:\n%s" % (rc, self.output())


@pytest.fixture
def frontd(tmp_path):
    started = []

    def start(*args, env=None):
        f = Frontd(*args, env=env, tmp_path=tmp_path)
        started.append(f)
        return f

    yield start
    for f in started:
        if f.proc.poll() is None:
            f.proc.kill()
            f.wait_exit()


@pytest.fixture
def su():
    s = Superuser()
    yield s
    s.forget()


class Superuser:
    """The superuser `postgres` on an autocommit connection, opened on first use, and again
    after forget() (a test that stops the cluster calls it)."""

    def __init__(self):
        self.conn = None

    def cursor(self):
        if self.conn is None or self.conn.closed:
            self.conn = psycopg2.connect(PGURI)
            self.conn.autocommit = True
        return self.conn.cursor()

    def forget(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def register(url):
    email = "fault-%s@flov7.test" % uuid.uuid4().hex[:12]
    r = requests.post(url + "/api/v1/auth/register",
                      json={"email": email, "password": "fault-password-1"}, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


def me(url, token):
    return requests.get(url + "/api/v1/auth/me", headers={"Authorization": "Bearer " + token},
                        timeout=TIMEOUT)


def pg_command(name):
    """Run the cluster command given in environment variable `name` (FLOV7_PG_*)."""
    subprocess.run(os.environ[name], shell=True, check=True, timeout=120, stdout=subprocess.DEVNULL)


def wait_until(what, cond, timeout=TIMEOUT):
    """Poll cond() until it returns something true, and return that; fail after timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def sleeping_backend(su, function, not_pid=0):
    """pid of the frontd backend sleeping (pg_sleep) in `function`, once it is there."""
    def find():
        with su.cursor() as c:
            c.execute("SELECT pid FROM pg_stat_activity WHERE usename = 'flov7_authenticator' "
                      "AND wait_event = 'PgSleep' AND query LIKE %s AND pid <> %s",
                      ("%" + function + "%", not_pid))
            row = c.fetchone()
            return row and row[0]
    return wait_until("a backend sleeping in " + function, find)


@pytest.fixture
def slow_route(su):
    """A route whose function sleeps, added as data and removed after the test."""
    path = "/api/v1/fault/slow-%s" % uuid.uuid4().hex[:8]
    with su.cursor() as c:
        c.execute("""CREATE OR REPLACE FUNCTION flov7_api.fault_slow(args jsonb) RETURNS jsonb
                     LANGUAGE sql AS $$ SELECT pg_sleep(1.5); SELECT '{"slept":true}'::jsonb $$""")
        c.execute("GRANT EXECUTE ON FUNCTION flov7_api.fault_slow(jsonb) TO flov7_anon")
        c.execute("INSERT INTO flov7.routes (method, path, function, status, summary, tag) "
                  "VALUES ('GET', %s, 'flov7_api.fault_slow', 200, 'sleeps', 'test')", (path,))
    yield path
    with su.cursor() as c:
        c.execute("DELETE FROM flov7.routes WHERE path = %s", (path,))
        c.execute("DROP FUNCTION flov7_api.fault_slow(jsonb)")


def wait_route(url, path, method):
    """Wait until frontd has loaded the route METHOD PATH (another method answers 405)."""
    other = "DELETE" if method != "DELETE" else "GET"
    wait_until("route " + path, lambda: requests.request(other, url + path, timeout=TIMEOUT)
               .status_code == 405)
