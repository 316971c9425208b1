"""Two frontd instances on one database (issue 8): routes reload in both, a token or key issued
through one works on the other and its revocation through one is honoured by the other, and
SIGTERM of one (which drains its own requests in flight) loses no request of the other's clients."""

import signal
import threading
import uuid

import pytest
import requests

from conftest import TIMEOUT, me, register, sleeping_backend, wait_route, wait_until


@pytest.fixture
def two(frontd):
    return frontd().wait_up(), frontd().wait_up()


@pytest.fixture
def echo_route(su):
    """GET route to a function answering {"answer": N}, made and dropped through SQL."""
    path = "/api/v1/fault/two-%s" % uuid.uuid4().hex[:8]
    with su.cursor() as c:
        for n in (1, 2):
            c.execute("""CREATE OR REPLACE FUNCTION flov7_api.fault_two_%d(args jsonb) RETURNS jsonb
                         LANGUAGE sql AS $$ SELECT '{"answer": %d}'::jsonb $$""" % (n, n))
            c.execute("GRANT EXECUTE ON FUNCTION flov7_api.fault_two_%d(jsonb) TO flov7_anon" % n)
    yield path
    with su.cursor() as c:
        c.execute("DELETE FROM flov7.routes WHERE path = %s", (path,))
        for n in (1, 2):
            c.execute("DROP FUNCTION flov7_api.fault_two_%d(jsonb)" % n)


def answer(url, path):
    r = requests.get(url + path, timeout=TIMEOUT)
    return r.status_code, (r.json().get("answer") if r.status_code == 200 else r.json().get("code"))


def test_route_changes_reach_both_instances(two, su, echo_route):
    a, b = two
    with su.cursor() as c:
        c.execute("INSERT INTO flov7.routes (method, path, function, status, summary, tag) "
                  "VALUES ('GET', %s, 'flov7_api.fault_two_1', 200, 'two instances', 'test')", (echo_route,))
    for f in (a, b):
        wait_route(f.url, echo_route, "GET")
        assert answer(f.url, echo_route) == (200, 1)
    with su.cursor() as c:
        c.execute("UPDATE flov7.routes SET function = 'flov7_api.fault_two_2' WHERE path = %s", (echo_route,))
    for f in (a, b):
        assert wait_until("the changed route on " + f.url, lambda: answer(f.url, echo_route) == (200, 2))
    with su.cursor() as c:
        c.execute("DELETE FROM flov7.routes WHERE path = %s", (echo_route,))
    for f in (a, b):
        assert wait_until("the route gone from " + f.url, lambda: answer(f.url, echo_route)[0] == 404)
    a.stop()
    b.stop()


def auth(token):
    return {"Authorization": "Bearer " + token}


def test_tokens_and_revocations_cross_instances(two):
    a, b = two
    email = "two-%s@flov7.test" % uuid.uuid4().hex[:12]
    r = requests.post(a.url + "/api/v1/auth/register", json={"email": email, "password": "two-password-1"},
                      timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    first = r.json()
    assert me(b.url, first["access_token"]).status_code == 200, "a token from A works on B"

    # a refresh token from A rotates on B; presented again on A it is a reuse, which ends the
    # session: the access token B handed out is refused on B as well
    r = requests.post(b.url + "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    second = r.json()
    assert me(b.url, second["access_token"]).status_code == 200
    r = requests.post(a.url + "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}, timeout=TIMEOUT)
    assert r.status_code == 401, r.text
    assert me(b.url, second["access_token"]).status_code == 401, "a reuse seen by A ends the session on B"

    # login on B, logout on A: the token is refused on both, though B verified it before
    r = requests.post(b.url + "/api/v1/auth/login", json={"email": email, "password": "two-password-1"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert me(b.url, token).status_code == 200
    assert requests.post(a.url + "/api/v1/auth/logout", headers=auth(token), timeout=TIMEOUT).status_code == 200
    assert me(b.url, token).status_code == 401, "a logout on A is honoured by B"
    assert me(a.url, token).status_code == 401

    # an API key made on A works on B until revoked on B, then on neither
    r = requests.post(b.url + "/api/v1/auth/login", json={"email": email, "password": "two-password-1"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    r = requests.post(a.url + "/api/v1/auth/api-keys", headers=auth(token),
                      json={"name": "two", "permissions": ["profile:read"]}, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    key = r.json()
    for f in (a, b):
        assert requests.get(f.url + "/api/v1/users/profile", headers={"X-API-Key": key["key"]},
                            timeout=TIMEOUT).status_code == 200
    r = requests.delete(b.url + "/api/v1/auth/api-keys/" + key["id"], headers=auth(token),
                        timeout=TIMEOUT)
    assert r.status_code in (200, 204), r.text
    for f in (a, b):
        assert requests.get(f.url + "/api/v1/users/profile", headers={"X-API-Key": key["key"]},
                            timeout=TIMEOUT).status_code == 401
    a.stop()
    b.stop()


class Clients:
    """Clients that keep sending to one instance (reads and writes, keep-alive) until stopped;
    every answer that is not a 200, and every connection error, is a lost request."""

    def __init__(self, url, token, n=4):
        self.url, self.token = url, token
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.done, self.lost = 0, []
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(n)]
        for t in self.threads:
            t.start()

    def run(self, i):
        s = requests.Session()
        while not self.stop_flag.is_set():
            try:
                if i % 2:
                    r = s.put(self.url + "/api/v1/users/profile", headers=auth(self.token),
                              json={"full_name": "client %d" % i}, timeout=TIMEOUT)
                else:
                    r = s.get(self.url + "/api/v1/auth/me", headers=auth(self.token), timeout=TIMEOUT)
                ok, what = r.status_code == 200, "%d %s" % (r.status_code, r.text[:200])
            except requests.RequestException as e:
                ok, what = False, repr(e)
            with self.lock:
                self.done += 1
                if not ok:
                    self.lost.append(what)

    def count(self):
        with self.lock:
            return self.done

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(TIMEOUT)


def test_sigterm_of_one_loses_nothing_of_the_other(frontd, su, slow_route):
    b = frontd().wait_up()
    wait_route(b.url, slow_route, "GET")
    clients = Clients(b.url, register(b.url))
    try:
        for round_ in range(2):
            a = frontd().wait_up()
            wait_route(a.url, slow_route, "GET")
            result = {}

            def slow():
                r = requests.get(a.url + slow_route, timeout=TIMEOUT)
                result["status"], result["body"] = r.status_code, r.json()

            t = threading.Thread(target=slow)
            t.start()
            sleeping_backend(su, "flov7_api.fault_slow")  # A's request is in the database now
            before = clients.count()
            a.proc.send_signal(signal.SIGTERM)
            t.join(TIMEOUT)
            assert result == {"status": 200, "body": {"slept": True}}, "A drains its request in flight"
            assert a.wait_exit() == 0, a.output()
            with pytest.raises(requests.ConnectionError):
                requests.get(a.url + "/health", timeout=5)
            wait_until("B's clients to go on", lambda: clients.count() > before + 20)
    finally:
        clients.stop()
    assert clients.lost == [], "B's clients lost %d of %d requests: %s" % (
        len(clients.lost), clients.done, clients.lost[:5])
    assert me(b.url, register(b.url)).status_code == 200
    b.stop()
