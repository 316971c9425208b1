"""The database pool across outages: requests wait for a connection (pool-acquire-timeout)
instead of failing while PostgreSQL is down or restarting, and a read-only request whose
connection dies before its answer runs once more; a write never runs twice."""

import collections
import re
import signal
import socket
import struct
import threading
import time
import uuid

import pytest
import requests

from conftest import TIMEOUT, me, pg_command, register, sleeping_backend, wait_route, wait_until

GETS = ("/api/v1/users/profile", "/api/v1/auth/me")
TERMINATE_ALL = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 "WHERE usename = 'flov7_authenticator'")


def metric(url, name):
    text = requests.get(url + "/metrics", timeout=TIMEOUT).text
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, "%s not in /metrics" % name
    return int(m.group(1))


@pytest.fixture
def pg_ctl(su):
    """Stop and start the cluster; whatever the test does, it is running again afterwards."""
    state = {"down": False}

    class Ctl:
        def stop(self):
            state["down"] = True
            su.forget()
            pg_command("FLOV7_PG_STOP")

        def start(self):
            pg_command("FLOV7_PG_START")
            state["down"] = False

    yield Ctl()
    if state["down"]:
        pg_command("FLOV7_PG_START")


class Call(threading.Thread):
    """One request in a thread: status, body, headers and when it was answered."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.response = self.error = self.answered = None
        self.start()

    def run(self):
        try:
            self.response = self.fn()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        self.answered = time.time()

    def result(self):
        self.join(TIMEOUT + 5)
        assert not self.is_alive(), "request never answered"
        assert self.error is None, self.error
        return self.response


class GetLoad:
    """Keep-alive clients, each in its own thread, sending GETs with a valid token one after the
    other until stopped; every answer that is not a 200 is a failure."""

    def __init__(self, url, token, clients=6):
        self.url, self.token = url, token
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.answers = [0] * clients
        self.statuses = collections.Counter()
        self.failures = []
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True)
                        for i in range(clients)]

    def client(self, i):
        s = requests.Session()
        s.headers["Authorization"] = "Bearer " + self.token
        n = 0
        while not self.stopping.is_set():
            path = GETS[n % len(GETS)]
            n += 1
            try:
                r = s.get(self.url + path, timeout=TIMEOUT)
                status, body = r.status_code, r.text[:300]
            except requests.RequestException as e:
                status, body = "error", repr(e)
            with self.lock:
                self.answers[i] += 1
                self.statuses[status] += 1
                if status != 200:
                    self.failures.append((path, status, body))
        s.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(TIMEOUT + 5)

    def wait_answers(self, n):
        """Wait until every client has n more answers: whatever it had in flight is over."""
        with self.lock:
            target = [a + n for a in self.answers]

        def done():
            with self.lock:
                return all(a >= t for a, t in zip(self.answers, target))
        wait_until("%d more answers per client (so far %s)" % (n, self.statuses), done)

    def report(self):
        return "%d answers %s; failures: %s" % (sum(self.answers), dict(self.statuses),
                                                  self.failures[:5])


# --- waiting for a connection ------------------------------------------------------------------

def test_requests_wait_while_postgres_is_down(frontd, pg_ctl):
    """Sent while PostgreSQL is stopped, answered 200 once it is back within the timeout."""
    f = frontd(env={"FLOV7_POOL_ACQUIRE_TIMEOUT": "60s"}).wait_up()
    token = register(f.url)
    pg_ctl.stop()
    calls = [Call(lambda: me(f.url, token)) for _ in range(4)]
    # they are held, not answered: frontd counts them as waiting for a connection
    wait_until("4 requests waiting", lambda: any(c.answered for c in calls)
               or metric(f.url, "flov7_pool_waiting") == 4)
    assert not any(c.answered for c in calls), [c.result().status_code for c in calls if c.answered]
    assert requests.get(f.url + "/ready", timeout=TIMEOUT).status_code == 503
    started = time.time()
    pg_ctl.start()
    for c in calls:
        r = c.result()
        assert r.status_code == 200, r.text
        assert c.answered >= started
    f.stop()


def test_acquire_timeout_answers_503_while_postgres_stays_down(frontd, pg_ctl):
    f = frontd(env={"FLOV7_POOL_ACQUIRE_TIMEOUT": "1s"}).wait_up()
    token = register(f.url)
    pg_ctl.stop()
    t0 = time.monotonic()
    r = me(f.url, token)
    waited = time.monotonic() - t0
    assert r.status_code == 503, r.text
    assert r.headers.get("Retry-After") == "1"
    assert r.json()["code"] == "FD001"
    assert "pool-acquire-timeout" in r.json()["message"]
    # it waited for the timeout (the janitor checks it every 250 ms), and no longer
    assert 0.9 <= waited < 5, waited
    pg_ctl.start()
    wait_until("/ready", lambda: requests.get(f.url + "/ready", timeout=TIMEOUT).status_code == 200)
    assert me(f.url, token).status_code == 200
    f.stop()


def test_sigterm_answers_requests_waiting_for_a_database_that_is_down(frontd, pg_ctl):
    """No connection will come during a drain: a waiting request gets its 503 at once."""
    f = frontd(env={"FLOV7_POOL_ACQUIRE_TIMEOUT": "60s"}).wait_up()
    token = register(f.url)
    pg_ctl.stop()
    call = Call(lambda: me(f.url, token))
    wait_until("a request waiting", lambda: call.answered
               or metric(f.url, "flov7_pool_waiting") == 1)
    assert not call.answered, call.result().text
    t0 = time.monotonic()
    f.proc.send_signal(signal.SIGTERM)
    r = call.result()
    assert r.status_code == 503, r.text
    assert r.headers.get("Retry-After") == "1"
    assert r.json()["code"] == "FD000", r.text
    assert f.wait_exit() == 0
    assert time.monotonic() - t0 < 5
    pg_ctl.start()


# --- a connection dies under a request ---------------------------------------------------------

@pytest.fixture
def counted_route(su):
    """make(method, sleeps) adds a route whose function counts its runs in a sequence (which a
    rollback does not undo), then sleeps on its first `sleeps` runs (0: on every run) until
    terminated.  Returns (path, runs(), sleeper(not_pid=0)), sleeper giving the pid of the
    backend sleeping in it."""
    made = []

    def make(method, sleeps):
        tag = uuid.uuid4().hex[:8]
        fn, seq = "flov7_api.fault_counted_%s" % tag, "public.fault_runs_%s" % tag
        path = "/api/v1/fault/counted-%s" % tag
        cond = "true" if sleeps == 0 else "n <= %d" % sleeps
        with su.cursor() as c:
            c.execute("CREATE SEQUENCE %s" % seq)
            c.execute("""CREATE FUNCTION %s(args jsonb) RETURNS jsonb LANGUAGE plpgsql
                         SECURITY DEFINER SET search_path = pg_catalog AS $$
                         DECLARE n bigint := nextval('%s');
                         BEGIN
                             IF %s THEN PERFORM pg_sleep(60); END IF;
                             RETURN jsonb_build_object('run', n);
                         END $$""" % (fn, seq, cond))
            c.execute("GRANT EXECUTE ON FUNCTION %s(jsonb) TO flov7_anon" % fn)
            c.execute("INSERT INTO flov7.routes (method, path, function, status, summary, tag, "
                      "read_only) VALUES (%s, %s, %s, 200, 'counts its runs', 'test', %s)",
                      (method, path, fn, method == "GET"))
        made.append((path, fn, seq))

        def runs():
            with su.cursor() as c:
                c.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM " + seq)
                return c.fetchone()[0]

        return path, runs, lambda not_pid=0: sleeping_backend(su, fn, not_pid)

    yield make
    with su.cursor() as c:
        for path, fn, seq in made:
            c.execute("DELETE FROM flov7.routes WHERE path = %s", (path,))
            c.execute("DROP FUNCTION %s(jsonb)" % fn)
            c.execute("DROP SEQUENCE %s" % seq)


def terminate(su, pid):
    with su.cursor() as c:
        c.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert c.fetchone()[0]


def test_read_only_get_runs_again_when_its_connection_dies(frontd, su, counted_route):
    path, runs, sleeper = counted_route("GET", sleeps=1)
    f = frontd().wait_up()
    wait_route(f.url, path, "GET")
    call = Call(lambda: requests.get(f.url + path, timeout=TIMEOUT))
    terminate(su, sleeper())
    r = call.result()
    assert r.status_code == 200, r.text
    assert r.json() == {"run": 2}
    assert runs() == 2
    assert metric(f.url, "flov7_db_retries_total") == 1
    f.stop()


def test_read_only_get_runs_at_most_twice(frontd, su, counted_route):
    path, runs, sleeper = counted_route("GET", sleeps=0)
    f = frontd().wait_up()
    wait_route(f.url, path, "GET")
    call = Call(lambda: requests.get(f.url + path, timeout=TIMEOUT))
    first = sleeper()
    terminate(su, first)
    wait_until("the second run", lambda: runs() == 2)
    terminate(su, sleeper(not_pid=first))
    r = call.result()
    assert r.status_code == 503, r.text
    assert r.headers.get("Retry-After") == "1"
    assert runs() == 2
    f.stop()


def test_post_is_not_run_again_when_its_connection_dies(frontd, su, counted_route):
    """The write is lost (503) and never repeated; a GET behind it on the one pooled connection
    (pipelined behind it, or waiting for the connection) is served once the connection is
    back."""
    path, runs, sleeper = counted_route("POST", sleeps=1)
    f = frontd(env={"FLOV7_POOL_SIZE": "1"}).wait_up()
    wait_route(f.url, path, "POST")
    token = register(f.url)
    post = Call(lambda: requests.post(f.url + path, json={}, timeout=TIMEOUT))
    pid = sleeper()
    get = Call(lambda: me(f.url, token))
    wait_until("the GET in the pool", lambda: get.answered or metric(
        f.url, "flov7_pool_waiting") + metric(f.url, "flov7_pool_in_flight") == 2)
    assert not get.answered, get.result().text
    terminate(su, pid)
    r = post.result()
    assert r.status_code == 503, r.text
    assert runs() == 1
    assert get.result().status_code == 200, get.result().text
    assert runs() == 1
    f.stop()


def send_then_reset(url, path):
    """Send a GET on a raw socket; the returned function closes it with a TCP reset (the client
    going away while frontd still holds its request)."""
    host, port = url.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())

    def reset():
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    return reset


def only_this_client(url):
    return metric(url, "flov7_http_connections_open") == 1  # the /metrics request itself


def test_client_gone_while_its_retry_waits(frontd, su, counted_route, pg_ctl):
    """The owner of a retry waiting for the database goes away: it leaves the queue."""
    # (pg_ctl last: torn down first, so the cluster is up again when the route is removed)
    path, runs, sleeper = counted_route("GET", sleeps=0)
    f = frontd(env={"FLOV7_POOL_ACQUIRE_TIMEOUT": "60s"}).wait_up()
    wait_route(f.url, path, "GET")
    reset = send_then_reset(f.url, path)
    sleeper()
    pg_ctl.stop()  # terminates the backend: the request waits to run again
    wait_until("the retry waiting", lambda: metric(f.url, "flov7_pool_waiting") == 1)
    assert metric(f.url, "flov7_db_retries_total") == 1
    reset()
    wait_until("the client gone", lambda: only_this_client(f.url))
    assert metric(f.url, "flov7_pool_waiting") == 0
    pg_ctl.start()
    wait_until("/ready", lambda: requests.get(f.url + "/ready", timeout=TIMEOUT).status_code == 200)
    assert runs() == 1
    assert requests.get(f.url + "/api/v1/auth/me", timeout=TIMEOUT).status_code == 401
    f.stop()


def test_client_gone_while_its_retry_runs(frontd, su, counted_route):
    """The owner of a retry in flight goes away, then that connection dies too: the retry's
    results (none) are absorbed, nothing runs a third time, the pool carries on."""
    path, runs, sleeper = counted_route("GET", sleeps=0)
    f = frontd().wait_up()
    wait_route(f.url, path, "GET")
    reset = send_then_reset(f.url, path)
    first = sleeper()
    terminate(su, first)
    second = sleeper(not_pid=first)
    reset()
    wait_until("the client gone", lambda: only_this_client(f.url))
    terminate(su, second)
    wait_until("nothing in flight", lambda: metric(f.url, "flov7_pool_in_flight") == 0
               and metric(f.url, "flov7_pool_connected") == 2)
    assert runs() == 2
    assert metric(f.url, "flov7_db_retries_total") == 1
    token = register(f.url)
    assert me(f.url, token).status_code == 200
    f.stop()


# --- under load --------------------------------------------------------------------------------

def test_gets_survive_terminating_every_backend(frontd, su):
    """pg_terminate_backend on every frontd backend, several times, under GET load."""
    f = frontd().wait_up()
    token = register(f.url)
    waves = 6
    with GetLoad(f.url, token) as load:
        load.wait_answers(20)
        full = metric(f.url, "flov7_pool_connected")
        for _ in range(waves):
            # a request is retried once: the next wave comes after the pool is whole again and
            # more answers came back, so that no retry of this wave is caught by the next one
            wait_until("the pool reconnected", lambda: metric(f.url, "flov7_pool_connected") >= full)
            load.wait_answers(20)
            with su.cursor() as c:
                c.execute(TERMINATE_ALL)
                assert c.fetchone()[0] >= 1
            load.wait_answers(20)
    assert not load.failures, load.report()
    assert metric(f.url, "flov7_db_retries_total") > 0, load.report()
    f.stop()


def test_gets_survive_postgres_restart(frontd):
    f = frontd().wait_up()
    token = register(f.url)
    with GetLoad(f.url, token) as load:
        load.wait_answers(20)
        pg_command("FLOV7_PG_RESTART")
        load.wait_answers(20)
    assert not load.failures, load.report()
    f.stop()
