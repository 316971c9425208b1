"""Issue 8, points 4 (frontd's half) and 7: rate limits per client address and per credential,
trusted proxies, the /openapi.json servers URL, /metrics on its own address or behind a token.

The suite's main frontd has none of these options (its behaviour must not change), so these
tests start frontds of their own on free ports, with the binary and wrapper the suite runs under
(FLOV7_FRONTD_CMD: plain, ASan, valgrind), and check that each exits cleanly.  Distinct client
addresses are distinct loopback addresses (127.0.0.x): a client socket is bound to one.
"""

import http.client
import json
import math
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import uuid

import pytest

from flov7_client import API, unique_email

TIMEOUT = 120  # a frontd under valgrind starts slowly
IP_RATE, IP_BURST = 2, 6  # rate-limit-ip = 2/s,6
CRED_RATE, CRED_BURST = 2, 3  # rate-limit-credential = 2/s,3
PROXY = "127.0.0.9"
METRICS_TOKEN = "metrics-" + uuid.uuid4().hex
SERVER_URL = "https://api.flov7.example/"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s %r>" % (self.status, dict(self.headers), self.body[:200])


def call(port, path, method="GET", src="127.0.0.1", headers=None, body=None):
    """One request on its own connection, from the loopback address src."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(src, 0))
    try:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = dict(headers or {})
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return Response(r.status, r.headers, r.read().decode("utf-8", "replace"))
    finally:
        conn.close()


class Frontd:
    """A frontd of this test module, on a free port, under the suite's wrapper."""

    def __init__(self, tmp, name, env):
        self.port = free_port()
        cmd = shlex.split(os.environ.get("FLOV7_FRONTD_CMD", "frontd/frontd"))
        e = dict(os.environ)
        e.update({
            "FLOV7_DB_URI": os.environ["FLOV7_AUTH_URI"],
            "FLOV7_LISTEN": "127.0.0.1:%d" % self.port,
            "FLOV7_POOL_SIZE": "2",
        })
        e.pop("FLOV7_CORS_ORIGINS", None)
        e.update(env)
        self.log_path = str(tmp / ("frontd-%s.log" % name))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, env=e, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("frontd exited %s:\n%s" % (self.proc.returncode, self.output()))
            try:
                if call(self.port, "/ready").status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise AssertionError("frontd did not come up:\n" + self.output())
            time.sleep(0.1)

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        """SIGTERM; it must exit 0 (valgrind and ASan make errors and leaks a non-zero exit)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        assert rc == 0, "frontd exited %s:\n%s" % (rc, self.output()[-4000:])


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """Rate limits, a trusted proxy, a configured servers URL and a metrics token."""
    f = Frontd(tmp_path_factory.mktemp("limited"), "limited", {
        "FLOV7_RATE_LIMIT_IP": "%d/s,%d" % (IP_RATE, IP_BURST),
        "FLOV7_RATE_LIMIT_CREDENTIAL": "%d/s,%d" % (CRED_RATE, CRED_BURST),
        "FLOV7_RATE_LIMIT_MAX_ENTRIES": "1000",
        "FLOV7_TRUSTED_PROXIES": PROXY,
        "FLOV7_SERVER_URL": SERVER_URL,
        "FLOV7_METRICS_TOKEN": METRICS_TOKEN,
    })
    yield f
    f.stop()


@pytest.fixture(scope="module")
def split_metrics(tmp_path_factory):
    """/metrics on its own address, no token."""
    mport = free_port()
    f = Frontd(tmp_path_factory.mktemp("metrics"), "metrics",
               {"FLOV7_METRICS_LISTEN": "127.0.0.1:%d" % mport})
    f.metrics_port = mport
    yield f
    f.stop()


_next_ip = [10]


def fresh_ip():
    """A loopback address no other test of the module has used: a bucket of its own."""
    _next_ip[0] += 1
    assert _next_ip[0] < 250
    return "127.0.0.%d" % _next_ip[0]


def register(port, src):
    r = call(port, API + "/auth/register", "POST", src,
             body={"email": unique_email(), "password": "pw-" + uuid.uuid4().hex[:12]})
    assert r.status == 201, r
    return r.json()["access_token"]


def rl_fields(r):
    return {k: r.headers.get("RateLimit-" + k) for k in ("Limit", "Remaining", "Reset", "Policy")}


def until_refused(port, path, src, headers=None, most=50):
    """Requests until the first 429; returns (answers before it, the 429, seconds taken)."""
    t0 = time.monotonic()
    answers = []
    for _ in range(most):
        r = call(port, path, src=src, headers=headers)
        if r.status == 429:
            return answers, r, time.monotonic() - t0
        answers.append(r)
    raise AssertionError("no 429 in %d requests: %r" % (most, answers[-1]))


def assert_allowed_count(n, burst, rate, seconds):
    """The bucket allows its burst, plus what refilled while the requests ran, not more."""
    assert burst <= n <= burst + math.ceil(seconds * rate) + 1, (n, burst, seconds)


def expect_429(r, code):
    assert r.status == 429, r
    body = r.json()
    assert body["code"] == code, body
    ra = r.headers.get("Retry-After")
    assert ra and ra.isdigit() and int(ra) >= 1, r.headers
    return int(ra)


# --------------------------------------------------------------------------- per address

def test_burst_then_429_with_ratelimit_fields(limited):
    src = fresh_ip()
    answers, refused, took = until_refused(limited.port, API + "/auth/me", src)
    assert_allowed_count(len(answers), IP_BURST, IP_RATE, took)
    first = rl_fields(answers[0])
    assert first == {"Limit": str(IP_BURST), "Remaining": str(IP_BURST - 1), "Reset": "1",
                     "Policy": "%d;w=%d" % (IP_BURST, math.ceil(IP_BURST / IP_RATE))}, first
    # every answer on a limited route carries them, also the route's own errors (401 here)
    assert all(a.status == 401 and a.headers.get("RateLimit-Limit") == str(IP_BURST)
               for a in answers), answers
    remaining = [int(a.headers["RateLimit-Remaining"]) for a in answers]
    assert remaining == sorted(remaining, reverse=True), remaining
    ra = expect_429(refused, "FD007")
    # one token at 2/s is at most 500 ms away: rounded up, 1 s
    assert ra == 1, refused.headers
    f = rl_fields(refused)
    assert f["Limit"] == str(IP_BURST) and f["Remaining"] == "0", f
    assert 1 <= int(f["Reset"]) <= math.ceil(IP_BURST / IP_RATE), f
    assert "too many requests from this address" in refused.json()["message"]


def test_recovers_after_refill(limited):
    src = fresh_ip()
    _, refused, _ = until_refused(limited.port, API + "/auth/me", src)
    wait = expect_429(refused, "FD007")
    refused_at = time.monotonic()
    # the token is due within Retry-After: poll until then, and no longer
    deadline = refused_at + wait + 0.5
    while True:
        r = call(limited.port, API + "/auth/me", src=src)
        if r.status != 429:
            break
        assert time.monotonic() < deadline, "still 429 after Retry-After: %r" % r
        time.sleep(0.05)
    assert r.status == 401 and r.headers.get("RateLimit-Remaining") == "0", r


def test_health_and_ready_never_limited(limited):
    src = fresh_ip()
    until_refused(limited.port, API + "/auth/me", src)
    for path in ("/health", "/ready") * 15:
        r = call(limited.port, path, src=src)
        assert r.status == 200, r
        assert "RateLimit-Limit" not in r.headers, r.headers
    assert call(limited.port, API + "/auth/me", src=src).status == 429


def test_refused_before_routing_not_counted(limited):
    src = fresh_ip()
    # unknown paths (404) and refused methods (405) are answered before any bucket
    for _ in range(3 * IP_BURST):
        assert call(limited.port, API + "/no/such/thing", src=src).status == 404
        assert call(limited.port, API + "/auth/me", "DELETE", src=src).status == 405
    r = call(limited.port, API + "/auth/me", src=src)
    assert r.status == 401 and r.headers["RateLimit-Remaining"] == str(IP_BURST - 1), r


def test_refused_request_changes_nothing(limited, q):
    src = fresh_ip()
    emails = []
    for _ in range(IP_BURST + 20):
        email = unique_email()
        r = call(limited.port, API + "/auth/register", "POST", src,
                 body={"email": email, "password": "pw-" + uuid.uuid4().hex[:12]})
        emails.append((email, r.status))
        if r.status == 429:
            expect_429(r, "FD007")
            break
        assert r.status == 201, r
    assert emails[-1][1] == 429, emails
    refused = emails[-1][0]
    (n,), = q("SELECT count(*) FROM flov7.users WHERE email = %s", (refused,))
    assert n == 0, "a refused registration reached the database"
    (n,), = q("SELECT count(*) FROM flov7.audit_logs WHERE new_data ->> 'email' = %s", (refused,))
    assert n == 0
    created = [e for e, s in emails if s == 201]
    (n,), = q("SELECT count(*) FROM flov7.users WHERE email = ANY(%s)", (created,))
    assert n == len(created)


def test_openapi_and_metrics_count_too(limited):
    src = fresh_ip()
    r = call(limited.port, "/openapi.json", src=src)
    assert r.status == 200 and r.headers["RateLimit-Remaining"] == str(IP_BURST - 1), r
    r = call(limited.port, "/metrics", src=src, headers={"Authorization": "Bearer " + METRICS_TOKEN})
    assert r.status == 200 and r.headers["RateLimit-Remaining"] == str(IP_BURST - 2), r


# --------------------------------------------------------------------------- per credential

def test_credential_limit_independent_of_address(limited):
    a, b = fresh_ip(), fresh_ip()
    token = register(limited.port, fresh_ip())
    auth = {"Authorization": "Bearer " + token}
    answers, refused, took = until_refused(limited.port, API + "/auth/me", a, headers=auth)
    assert_allowed_count(len(answers), CRED_BURST, CRED_RATE, took)
    assert all(x.status == 200 for x in answers), answers
    expect_429(refused, "FD008")
    assert "with this credential" in refused.json()["message"]
    # the credential's fields are reported: the bucket nearest its limit
    assert refused.headers["RateLimit-Limit"] == str(CRED_BURST), refused.headers
    # the same token from another address: still refused (the bucket is the token's) ...
    r = call(limited.port, API + "/auth/me", src=b, headers=auth)
    expect_429(r, "FD008")
    # ... while that address, and the first one, are not limited without it
    for src in (a, b):
        r = call(limited.port, API + "/auth/me", src=src)
        assert r.status == 401, r
    # and another user's token from the first address is its own bucket
    other = register(limited.port, fresh_ip())
    r = call(limited.port, API + "/auth/me", src=a, headers={"Authorization": "Bearer " + other})
    assert r.status == 200, r


def test_api_key_has_its_own_bucket(limited):
    token = register(limited.port, fresh_ip())
    r = call(limited.port, API + "/auth/api-keys", "POST", fresh_ip(),
             headers={"Authorization": "Bearer " + token}, body={"name": "rl"})
    assert r.status == 201, r
    key = r.json()["key"]
    answers, refused, took = until_refused(limited.port, API + "/auth/me", fresh_ip(),
                                           headers={"X-API-Key": key})
    assert_allowed_count(len(answers), CRED_BURST, CRED_RATE, took)
    expect_429(refused, "FD008")
    r = call(limited.port, API + "/auth/me", src=fresh_ip(), headers={"Authorization": "Bearer " + token})
    assert r.status == 200, r


def test_metrics_count_refusals(limited):
    src = fresh_ip()
    until_refused(limited.port, API + "/auth/me", src)
    text = call(limited.port, "/metrics", src=fresh_ip(),
                headers={"Authorization": "Bearer " + METRICS_TOKEN}).body
    m = re.search(r"^flov7_rate_limited_ip_total (\d+)$", text, re.M)
    assert m and int(m.group(1)) >= 1, text
    assert re.search(r"^flov7_rate_limit_buckets \d+$", text, re.M)


# --------------------------------------------------------------------------- trusted proxies

def test_trusted_proxy_names_the_client(limited, q):
    client = "198.51.100.%d" % (uuid.uuid4().int % 200 + 1)
    fwd = {"X-Forwarded-For": "203.0.113.66, " + client}
    _, refused, _ = until_refused(limited.port, API + "/auth/me", PROXY, headers=fwd)
    expect_429(refused, "FD007")
    # another client behind the same proxy has its own bucket
    other = {"X-Forwarded-For": "198.51.100.250"}
    assert call(limited.port, API + "/auth/me", src=PROXY, headers=other).status == 401
    # what the client wrote to the left of the proxy's entry is not believed
    spoof = {"X-Forwarded-For": "198.51.100.251, " + client}
    assert call(limited.port, API + "/auth/me", src=PROXY, headers=spoof).status == 429
    # the database sees the client's address too (request.ip, in the audit log)
    rid = "rl-" + uuid.uuid4().hex
    r = call(limited.port, API + "/auth/login", "POST", PROXY,
             headers={"X-Forwarded-For": "192.0.2.77", "X-Request-Id": rid},
             body={"email": unique_email(), "password": "not-the-password"})
    assert r.status == 401, r
    (ip,), = q("SELECT host(ip_address) FROM flov7.audit_logs WHERE request_id = %s", (rid,))
    assert ip == "192.0.2.77"


def test_forwarded_for_ignored_from_untrusted_peer(limited):
    src = fresh_ip()
    answers = 0
    for i in range(50):
        r = call(limited.port, API + "/auth/me", src=src,
                 headers={"X-Forwarded-For": "198.51.100.%d" % (i + 1)})
        if r.status == 429:
            break
        answers += 1
    assert r.status == 429 and answers < IP_BURST + 10, (answers, r)


# --------------------------------------------------------------------------- /openapi.json

def servers_of(r):
    assert r.status == 200, r
    return [s["url"] for s in r.json().get("servers", [])]


def test_openapi_servers_from_configuration(limited):
    r = call(limited.port, "/openapi.json", src=fresh_ip(), headers={"Host": "evil.example"})
    assert servers_of(r) == [SERVER_URL]
    assert "evil.example" not in r.body


def test_openapi_ignores_host_header_unconfigured(base_url, cfg):
    # the suite's frontd has no server-url: the servers URL is relative, never the Host
    r = call(cfg["port"], "/openapi.json", headers={"Host": "evil.example:8443"})
    assert servers_of(r) == ["/"]
    assert "evil.example" not in r.body
    assert "RateLimit-Limit" not in r.headers  # and no limit is on by default


# --------------------------------------------------------------------------- /metrics

def test_metrics_token(limited):
    src = fresh_ip()
    r = call(limited.port, "/metrics", src=src)
    assert r.status == 401 and r.json()["code"] == "FD317", r
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers
    assert "flov7_" not in r.body
    r = call(limited.port, "/metrics", src=src, headers={"Authorization": "Bearer wrong-" + METRICS_TOKEN})
    assert r.status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"], r
    r = call(limited.port, "/metrics", src=src, headers={"Authorization": "Bearer " + METRICS_TOKEN[:-1]})
    assert r.status == 401, r
    r = call(limited.port, "/metrics", src=src, headers={"Authorization": "Bearer " + METRICS_TOKEN})
    assert r.status == 200 and "flov7_http_requests_total" in r.body, r


def test_metrics_on_its_own_address(split_metrics):
    main, mport = split_metrics.port, split_metrics.metrics_port
    r = call(main, "/metrics")
    assert r.status == 404 and r.json()["code"] == "FD210", r
    r = call(mport, "/metrics")
    assert r.status == 200 and "flov7_http_requests_total" in r.body, r
    assert call(mport, "/health").status == 200
    # the metrics address serves nothing else
    for path in ("/ready", "/openapi.json", API + "/auth/me"):
        r = call(mport, path)
        assert r.status == 404, (path, r)
    assert call(main, "/health").status == 200
    assert call(main, API + "/auth/me").status == 401


# --------------------------------------------------------------------------- reload

def test_reload_changes_the_limit(tmp_path):
    conf = tmp_path / "frontd.conf"
    conf.write_text("rate-limit-ip = 1/m,2\n")
    f = Frontd(tmp_path, "reload", {"FLOV7_CONFIG": str(conf)})
    try:
        src = fresh_ip()
        answers, refused, _ = until_refused(f.port, API + "/auth/me", src)
        assert len(answers) == 2, answers
        # a token a minute: the wait is a minute, rounded up from what is left of it
        assert 58 <= expect_429(refused, "FD007") <= 60, refused.headers
        conf.write_text("rate-limit-ip = 100/s,50\n")
        f.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + TIMEOUT
        while True:  # the reload is asynchronous: poll until the new limit answers
            r = call(f.port, API + "/auth/me", src=src)
            if r.headers.get("RateLimit-Limit") == "50":
                break
            assert time.time() < deadline, r
            time.sleep(0.05)
        assert r.status == 401 and r.headers["RateLimit-Remaining"] == "49", r  # afresh
        conf.write_text("rate-limit-ip = 0\n")
        f.proc.send_signal(signal.SIGHUP)
        while "RateLimit-Limit" in call(f.port, API + "/auth/me", src=src).headers:
            assert time.time() < deadline
            time.sleep(0.05)
    finally:
        f.stop()
