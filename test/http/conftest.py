"""Fixtures of the black-box HTTP suite (run by test/run.sh against a live frontd + PostgreSQL).

The suite is re-runnable against the same running stack: every test registers its own users
with unique emails and never changes the shared admin account.
"""

import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from flov7_client import (  # noqa: E402
    API, Client, RawConn, assert_token_shape, env, expect, unique_email,
)

REQUIRED = ("FLOV7_URL", "FLOV7_HOST", "FLOV7_PORT", "FLOV7_PGURI", "FLOV7_JWT_SECRET",
            "FLOV7_ADMIN_EMAIL", "FLOV7_ADMIN_PASSWORD")


@pytest.fixture(scope="session")
def cfg():
    missing = [k for k in REQUIRED if not os.environ.get(k)]
    if missing:
        pytest.fail("run through test/run.sh; missing environment: %s" % ", ".join(missing))
    return {
        "url": env("FLOV7_URL").rstrip("/"),
        "host": env("FLOV7_HOST"),
        "port": int(env("FLOV7_PORT")),
        "pguri": env("FLOV7_PGURI"),
        "secret": env("FLOV7_JWT_SECRET"),
        "admin_email": env("FLOV7_ADMIN_EMAIL"),
        "admin_password": env("FLOV7_ADMIN_PASSWORD"),
        "max_header": int(env("FLOV7_MAX_HEADER_BYTES", "8192")),
        "max_body": int(env("FLOV7_MAX_BODY_BYTES", "1048576")),
        "header_timeout": float(env("FLOV7_HEADER_TIMEOUT", "2")),
    }


@pytest.fixture(scope="session")
def base_url(cfg):
    return cfg["url"]


@pytest.fixture(scope="session")
def secret(cfg):
    return cfg["secret"]


@pytest.fixture
def ua():
    """A User-Agent unique to the test, to find its audit rows."""
    return "flov7-http-tests/%s" % uuid.uuid4().hex


@pytest.fixture
def client(base_url, ua):
    return Client(base_url, user_agent=ua)


class User:
    """A registered user: credentials, tokens and id."""

    def __init__(self, email, password, token_body):
        self.email = email
        self.password = password
        self.set_tokens(token_body)

    def set_tokens(self, token_body):
        self.token_body = token_body
        self.access = token_body["access_token"]
        self.refresh = token_body["refresh_token"]
        self.id = token_body["user"]["id"]
        self.profile = token_body["user"]

    def __repr__(self):
        return "<User %s %s>" % (self.email, self.id)


def register(client, email=None, password=None, full_name="Test User"):
    email = email or unique_email()
    password = password or "pw-" + uuid.uuid4().hex[:12]
    body = {"email": email, "password": password}
    if full_name is not None:
        body["full_name"] = full_name
    r = client.post(API + "/auth/register", json_body=body)
    tok = expect(r, 201)
    assert_token_shape(tok, email)
    return User(email, password, tok)


def login(client, email, password):
    r = client.post(API + "/auth/login", json_body={"email": email, "password": password})
    return expect(r, 200)


@pytest.fixture
def make_user(client):
    """Factory: make_user() registers a fresh user and returns a User."""
    def make(**kw):
        return register(client, **kw)
    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def admin(client, cfg):
    """The harness's admin, logged in afresh for this test."""
    tok = login(client, cfg["admin_email"], cfg["admin_password"])
    assert_token_shape(tok)
    u = User.__new__(User)
    u.email = cfg["admin_email"]
    u.password = cfg["admin_password"]
    u.set_tokens(tok)
    assert u.profile["role"] == "admin", u.profile
    return u


@pytest.fixture(scope="session")
def db(cfg):
    """A psycopg2 connection as superuser, autocommit."""
    import psycopg2
    conn = psycopg2.connect(cfg["pguri"])
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def q(db):
    """q(sql, args) -> list of rows."""
    def run(sql, args=None):
        with db.cursor() as cur:
            cur.execute(sql, args)
            if cur.description is None:
                return []
            return cur.fetchall()
    return run


@pytest.fixture
def q1(q):
    """q1(sql, args) -> the single value of the single row."""
    def run(sql, args=None):
        rows = q(sql, args)
        assert len(rows) == 1, rows
        return rows[0][0]
    return run


@pytest.fixture
def raw(cfg):
    """raw() opens a RawConn to frontd; all are closed at teardown."""
    conns = []

    def open_conn(timeout=None):
        c = RawConn(cfg["host"], cfg["port"], timeout=timeout or 30)
        conns.append(c)
        return c
    yield open_conn
    for c in conns:
        c.close()


@pytest.fixture
def send_raw(raw):
    """send_raw(bytes) -> (first response or None, closed_afterwards) on a fresh connection."""
    def send(data, expect_close=True, timeout=30):
        c = raw(timeout)
        c.try_send(data)
        resp = c.read_response()
        closed = c.wait_closed(timeout=10) if expect_close else None
        return resp, closed
    return send
