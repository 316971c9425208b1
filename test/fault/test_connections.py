"""Connection exhaustion: idle floods, the per-address cap, the first-byte deadline, requests in
flight never evicted, running short of descriptors.  Each test starts its own frontd (the fault
suite's harness); floods of thousands of sockets run in their own process (flood.py).
"""

import json
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from conftest import TIMEOUT, wait_route

FLOOD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flood.py")
PROMPT = 1.0  # a normal client's answer, flood or not
REFRESH_RATE = 2000  # reconnects a second; flood.py says why it is paced at all


def bad_login():
    """A refused login (401) for an address never tried before: the database locks an address
    after a few failed logins (429), and these tests send many."""
    return {"email": "nobody-%s@flov7.test" % uuid.uuid4().hex, "password": "not the password"}


class Flood:
    """flood.py in its own process: COUNT idle sockets from 127.0.0.1, held or refreshed (RATE
    reconnects a second)."""

    def __init__(self, port, count, refresh=0):
        args = [sys.executable, FLOOD, str(port), str(count)]
        if refresh:
            args += ["--refresh", str(refresh)]
        self.count = count
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)

    def wait_open(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        assert line.strip() == "open %d" % self.count, "flood did not open its sockets: %r" % line

    def stop(self):
        """Returns how many times it reconnected."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=TIMEOUT)
        m = re.search(r"reconnects (\d+)", out)
        return int(m.group(1)) if m else 0


@pytest.fixture
def flood():
    started = []

    def start(port, count, refresh=0):
        fl = Flood(port, count, refresh)
        started.append(fl)
        fl.wait_open()
        return fl

    yield start
    for fl in started:
        if fl.proc.poll() is None:
            fl.proc.kill()
            fl.proc.communicate()


def metrics(url):
    text = requests.get(url + "/metrics", timeout=TIMEOUT).text
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^(flov7_[a-z_]+) (\S+)$", text, re.M)}


def wait_metric(url, name, pred, what):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        v = metrics(url).get(name)
        if v is not None and pred(v):
            return v
        time.sleep(0.05)
    raise AssertionError("%s never %s (last %s)" % (name, what, metrics(url).get(name)))


def serving(f):
    """f up with its whole pool connected: a test that bounds a request's latency must not
    measure a pool still connecting (a lone connection busy with a slow request makes the
    next request wait for it, which is the pool's job, not admission's)."""
    f.wait_up()
    size = wait_metric(f.url, "flov7_pool_size", lambda v: v > 0, "was reported")
    wait_metric(f.url, "flov7_pool_connected", lambda v: v >= size, "reached the pool size")
    return f


def timed(method, url, **kw):
    t = time.monotonic()
    r = requests.request(method, url, timeout=TIMEOUT, **kw)
    return r, time.monotonic() - t


def assert_served(url):
    """A normal client (127.0.0.1, a new connection per request) gets its answers promptly."""
    times = {}
    for method, path, status, kw in (("GET", "/health", 200, {}),
                                     ("GET", "/ready", 200, {}),
                                     ("POST", "/api/v1/auth/login", 401, {"json": bad_login()})):
        r, took = timed(method, url + path, **kw)
        assert r.status_code == status, (path, r.status_code, r.text)
        assert took < PROMPT, "%s %s took %.3f s" % (method, path, took)
        times[path] = took
    return times


def idle_socket(port, source=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    return s


def closed_by_server(s, timeout=TIMEOUT):
    """Whether frontd closes s (EOF or reset) within timeout, reading nothing else."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def still_open(s):
    readable, _, _ = select.select([s], [], [], 0)
    return not readable


def raw_request(s, head):
    """Send the rest of a request on s (Connection: close) and return (status, body)."""
    s.settimeout(TIMEOUT)
    s.sendall(head)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[-1]


def get(path):
    return ("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path).encode()


def login_body():
    return json.dumps(bad_login(), separators=(",", ":")).encode()


def post_login(body=None, length=None):
    body = login_body() if body is None else body
    return (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (len(body) if length is None else length)) + body


# --- idle floods -------------------------------------------------------------------------------

@pytest.mark.parametrize("per_ip", ["256", "0"], ids=["per-ip-cap", "no-per-ip-cap"])
def test_idle_flood_does_not_lock_out(frontd, flood, per_ip):
    """5 000 sockets from 127.0.0.1 that never send a byte, then the same flood replacing its
    sockets 2 000 times a second: a normal client from the same address still gets /health,
    /ready and the API promptly.  Default max-connections (1 024) and first-byte deadline."""
    f = serving(frontd(env={"FLOV7_MAX_CONNECTIONS_PER_IP": per_ip}))
    fl = flood(f.port, 5000)
    assert_served(f.url)
    fl.stop()
    fl = flood(f.port, 5000, refresh=REFRESH_RATE)
    for _ in range(3):
        assert_served(f.url)
    assert fl.stop() > 0, "the flood never reconnected while the client was served"
    m = metrics(f.url)
    assert m["flov7_http_connections_evicted_total"] > 5000 - 1024
    f.stop()


# --- deadlines ---------------------------------------------------------------------------------

def test_first_byte_deadline_closes_silent_socket(frontd):
    f = frontd("--first-byte-timeout=500ms", "--header-timeout=10s").wait_up()
    silent = idle_socket(f.port)
    started = idle_socket(f.port)
    started.sendall(b"GET /health HTTP/1.1\r\n")  # the first byte counts, not the whole head
    t = time.monotonic()
    assert closed_by_server(silent), "a silent socket was never closed"
    took = time.monotonic() - t
    assert 0.3 < took < 3, "closed after %.2f s, first-byte-timeout is 0.5 s" % took
    assert still_open(started)
    assert raw_request(started, b"Host: t\r\nConnection: close\r\n\r\n")[0] == 200
    f.stop()


def test_first_byte_deadline_never_longer_than_header_timeout(frontd):
    f = frontd("--first-byte-timeout=30s", "--header-timeout=1s").wait_up()
    silent = idle_socket(f.port)
    t = time.monotonic()
    assert closed_by_server(silent, timeout=10)
    assert time.monotonic() - t < 5
    f.stop()


# --- what is never evicted ---------------------------------------------------------------------

def test_requests_in_flight_are_not_evicted(frontd, slow_route):
    """At max-connections, idle sockets make room; a half-sent header, a half-sent body and a
    request waiting on the database do not."""
    f = serving(frontd("--max-connections=8", "--max-connections-per-ip=0"))
    wait_route(f.url, slow_route, "GET")
    result = {}

    def call():
        r = requests.get(f.url + slow_route, timeout=TIMEOUT)
        result["status"], result["body"] = r.status_code, r.json()

    t = threading.Thread(target=call)
    t.start()
    wait_metric(f.url, "flov7_pool_in_flight", lambda v: v >= 1, "showed the slow request")
    head = idle_socket(f.port)
    head.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n")
    body = idle_socket(f.port)
    login = login_body()
    body.sendall(post_login(login[:10], len(login)))
    idle = [idle_socket(f.port) for _ in range(40)]
    # the newcomers took the idle sockets' places: every request is served
    assert_served(f.url)
    assert sum(closed_by_server(s, timeout=0.01) for s in idle) > 20
    assert raw_request(head, b"Connection: close\r\n\r\n")[0] == 200
    assert raw_request(body, login[10:])[0] == 401
    t.join(TIMEOUT)
    assert result == {"status": 200, "body": {"slept": True}}
    f.stop()


def test_nothing_idle_refuses_but_health_answers(frontd):
    """Every connection has a request in flight: a newcomer is refused (503), /health and
    /ready still answer, and the API is back once those connections end."""
    f = frontd("--max-connections=3").wait_up()
    busy = [idle_socket(f.port) for _ in range(3)]
    for s in busy:  # in the kernel's receive queue at once: never evictable, read or not
        s.sendall(b"GET /health HTTP/1.1\r\n")
    r = requests.get(f.url + "/api/v1/auth/me", timeout=TIMEOUT)
    assert r.status_code == 503 and r.json()["code"] == "PT503"
    assert requests.get(f.url + "/health", timeout=TIMEOUT).status_code == 200
    assert requests.get(f.url + "/ready", timeout=TIMEOUT).status_code == 200
    for s in busy:
        assert raw_request(s, b"Host: t\r\nConnection: close\r\n\r\n")[0] == 200
    assert requests.get(f.url + "/api/v1/auth/me", timeout=TIMEOUT).status_code == 401
    f.stop()


# --- per-address cap ---------------------------------------------------------------------------

def test_per_address_cap_evicts_that_address_idle_sockets(frontd):
    f = frontd("--max-connections-per-ip=4").wait_up()
    mine = [idle_socket(f.port, "127.0.0.2") for _ in range(4)]
    others = [idle_socket(f.port, "127.0.0.3") for _ in range(4)]
    wait_metric(f.url, "flov7_http_connections_open", lambda v: v >= 9, "counted the eight")
    newer = [idle_socket(f.port, "127.0.0.2") for _ in range(4)]
    # each newcomer from 127.0.0.2 displaced that address's oldest, in order
    assert all(closed_by_server(s) for s in mine)
    assert metrics(f.url)["flov7_http_connections_evicted_total"] == 4
    assert all(still_open(s) for s in others + newer)
    # and 127.0.0.2 itself is still served
    assert raw_request(idle_socket(f.port, "127.0.0.2"), get("/health"))[0] == 200
    assert raw_request(idle_socket(f.port, "127.0.0.2"), post_login())[0] == 401
    assert all(still_open(s) for s in others)
    f.stop()


def test_per_address_cap_with_nothing_idle_refuses_that_address_only(frontd):
    f = frontd("--max-connections-per-ip=4").wait_up()
    busy = [idle_socket(f.port, "127.0.0.4") for _ in range(4)]
    for s in busy:
        s.sendall(b"GET /health HTTP/1.1\r\n")
    status, body = raw_request(idle_socket(f.port, "127.0.0.4"), post_login())
    assert status == 503 and b"PT503" in body
    assert raw_request(idle_socket(f.port, "127.0.0.4"), get("/health"))[0] == 200
    assert raw_request(idle_socket(f.port, "127.0.0.5"), post_login())[0] == 401
    for s in busy:
        assert raw_request(s, b"Host: t\r\nConnection: close\r\n\r\n")[0] == 200
    f.stop()


# --- descriptors -------------------------------------------------------------------------------

def nofile_soft(pid):
    with open("/proc/%d/limits" % pid) as fh:
        line = next(ln for ln in fh if ln.startswith("Max open files"))
    return int(line.split()[3])


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_soft_fd_limit_raised_for_max_connections(frontd):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip("hard open-file limit %d leaves nothing to raise toward" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # frontd inherits it
    try:
        f = frontd("--max-connections=1024")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    f.wait_up()
    assert nofile_soft(f.proc.pid) >= 1024 + 16
    f.stop()


def test_out_of_descriptors_neither_spins_nor_locks_out(frontd):
    """The open-file limit (64) is far below max-connections: accept fails with EMFILE while
    300 idle sockets knock.  frontd evicts idle ones to take newcomers, stays responsive, and
    does not spin on the readable listening socket."""
    f = serving(frontd("--max-connections=1024", "--max-connections-per-ip=0",
                       "--header-timeout=10s", "--first-byte-timeout=10s"))
    resource.prlimit(f.proc.pid, resource.RLIMIT_NOFILE, (64, 64))
    idle = [idle_socket(f.port) for _ in range(300)]
    assert_served(f.url)
    cpu, t = cpu_seconds(f.proc.pid), time.monotonic()
    window = t + 1.0  # a measurement window: served every 50 ms, and CPU time over it
    while time.monotonic() < window:
        assert requests.get(f.url + "/health", timeout=PROMPT).status_code == 200
        time.sleep(0.05)
    busy = (cpu_seconds(f.proc.pid) - cpu) / (time.monotonic() - t)
    assert busy < 0.5, "frontd used %.0f%% of a CPU" % (busy * 100)
    assert "Too many open files" in f.output()
    for s in idle:
        s.close()
    f.stop()
