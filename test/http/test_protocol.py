"""HTTP/1.1 on raw sockets: keep-alive, pipelining, chunked bodies, request-smuggling shapes,
slow clients, routing (404, 405 + Allow, trailing slash)."""

import json
import time
import uuid

import pytest

from flov7_client import (
    API, assert_error_body, chunked, expect, expect_error, http_request_bytes,
)


def get(path, rid=None, extra=None, host="127.0.0.1"):
    headers = [("X-Request-Id", rid)] if rid else []
    return http_request_bytes("GET", path, host=host, headers=headers + (extra or []))


def assert_json_error(resp, status):
    assert resp is not None, "connection closed with no response"
    assert resp.status == status, resp
    assert (resp.header("Content-Type") or "").startswith("application/json"), resp
    assert resp.header("X-Request-Id"), resp
    assert_error_body(resp.json())


# --------------------------------------------------------------------------- keep-alive, pipelining

def test_keep_alive_two_requests_one_connection(raw):
    c = raw()
    c.send(get("/health", "ka-1"))
    r1 = c.read_response()
    assert r1.status == 200 and r1.header("X-Request-Id") == "ka-1", r1
    # an application-level error does not close the connection either
    c.send(get(API + "/no/such/route", "ka-2"))
    r2 = c.read_response()
    assert_json_error(r2, 404)
    assert r2.header("X-Request-Id") == "ka-2"
    c.send(get("/health", "ka-3"))
    r3 = c.read_response()
    assert r3.status == 200 and r3.header("X-Request-Id") == "ka-3", r3


def test_pipelined_requests_answered_in_order(raw, user):
    c = raw()
    auth = [("Authorization", "Bearer " + user.access)]
    c.send(get(API + "/auth/me", "pipe-1", auth) + get("/health", "pipe-2") +
           get(API + "/nope", "pipe-3") + get(API + "/users/profile", "pipe-4", auth))
    rs = [c.read_response() for _ in range(4)]
    assert [r.header("X-Request-Id") for r in rs] == ["pipe-1", "pipe-2", "pipe-3", "pipe-4"], rs
    assert [r.status for r in rs] == [200, 200, 404, 200], rs
    assert rs[0].json()["id"] == user.id and rs[3].json()["id"] == user.id


def test_http10_closes_after_response(raw):
    c = raw()
    c.send(b"GET /health HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200, r
    assert c.wait_closed(10)


def test_connection_close_honoured(raw):
    c = raw()
    c.send(get("/health", extra=[("Connection", "close")]))
    r = c.read_response()
    assert r.status == 200, r
    assert c.wait_closed(10)


# --------------------------------------------------------------------------- chunked bodies

def test_chunked_request_body_accepted(raw, user):
    body = json.dumps({"email": user.email, "password": user.password}).encode()
    c = raw()
    c.send(http_request_bytes("POST", API + "/auth/login", headers=[
        ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]) + chunked(body, 7))
    r = c.read_response()
    assert r.status == 200, r
    assert r.json()["user"]["id"] == user.id
    # and the connection is still usable
    c.send(get("/health"))
    assert c.read_response().status == 200


def test_chunked_with_extension_and_split_utf8(raw, user):
    name = "J\u00fcrgen \u6771\u4eac"
    body = json.dumps({"full_name": name}, ensure_ascii=False).encode()
    # split inside a multi-byte character, with a chunk extension on the first chunk
    cut = body.index("\u00fc".encode()) + 1
    payload = (b"%x;ext=1\r\n" % cut + body[:cut] + b"\r\n" +
               b"%x\r\n" % (len(body) - cut) + body[cut:] + b"\r\n0\r\n\r\n")
    c = raw()
    c.send(http_request_bytes("PUT", API + "/users/profile", headers=[
        ("Authorization", "Bearer " + user.access), ("Content-Type", "application/json"),
        ("Transfer-Encoding", "chunked")]) + payload)
    r = c.read_response()
    assert r.status == 200, r
    assert r.json()["full_name"] == name


# --------------------------------------------------------------------------- smuggling shapes

SMUGGLE_BODY = b'{"email":"x@example.com","password":"password-123"}'
SECOND = b"GET " + API.encode() + b"/no-such-thing HTTP/1.1\r\nHost: x\r\n\r\n"

SMUGGLING = {
    "cl-and-te": b"POST " + API.encode() + b"/auth/login HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 4\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SECOND,
    "te-and-cl": b"POST " + API.encode() + b"/auth/login HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n0\r\n\r\n" + SECOND,
    "two-content-lengths": b"POST " + API.encode() + b"/auth/login HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                           b"Content-Length: %d\r\n\r\n" % (len(SMUGGLE_BODY), len(SMUGGLE_BODY) + 5)
                           + SMUGGLE_BODY + SECOND,
    "content-length-list": b"POST " + API.encode() + b"/auth/login HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 5, 6\r\n\r\nabcdef",
    "negative-content-length": b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "plus-content-length": b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
    "hex-content-length": b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc",
    "space-before-colon-te": b"POST " + API.encode() + b"/auth/login HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + SECOND,
    "space-before-colon-cl": b"POST " + API.encode() + b"/auth/login HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length : 4\r\n\r\nabcd",
    "space-before-colon-other": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Thing : 1\r\n\r\n",
    "nul-in-header-value": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Thing: a\x00b\r\n\r\n",
    "nul-in-header-name": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Th\x00ing: ab\r\n\r\n",
    "nul-in-request-line": b"GET /hea\x00lth HTTP/1.1\r\nHost: x\r\n\r\n",
    "bare-lf": b"GET /health HTTP/1.1\nHost: x\n\n",
    "bare-lf-mixed": b"GET /health HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
    "missing-host-http11": b"GET /health HTTP/1.1\r\nUser-Agent: t\r\n\r\n",
    "two-hosts": b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "te-not-chunked-last": b"POST " + API.encode() + b"/auth/login HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "bad-chunk-size": b"POST " + API.encode() + b"/auth/login HTTP/1.1\r\nHost: x\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "header-without-colon": b"GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "garbage-request-line": b"HELLO THERE\r\n\r\n",
    "bad-version": b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_shapes_400_and_closed(raw, name):
    c = raw()
    c.try_send(SMUGGLING[name])
    r = c.read_response()
    assert r is not None, "closed without a response"
    if name == "bad-version":
        assert r.status in (400, 505), r
    elif name == "te-not-chunked-last":
        assert r.status in (400, 501), r
    else:
        assert r.status == 400, r
    assert r.header("X-Request-Id"), r
    assert_error_body(r.json())
    assert c.wait_closed(10), "connection left open after a framing error"
    assert c.buf == b"", "a second (smuggled) response followed: %r" % c.buf[:200]


def test_smuggled_request_not_executed(raw, make_user, q1):
    """A register smuggled behind a CL+TE request must not run."""
    email = "smuggled-%s@example.com" % uuid.uuid4().hex[:12]
    inner = json.dumps({"email": email, "password": "password-123"}).encode()
    second = http_request_bytes("POST", API + "/auth/register",
                                headers=[("Content-Type", "application/json")], body=inner)
    first = (b"POST " + API.encode() + b"/auth/login HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: application/json\r\nContent-Length: %d\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (5 + len(second)))
    c = raw()
    c.try_send(first + second)
    r = c.read_response()
    assert r is not None and r.status == 400, r
    c.wait_closed(10)
    time.sleep(0.5)
    assert q1("SELECT count(*) FROM flov7.users WHERE email = %s", (email,)) == 0


# --------------------------------------------------------------------------- slow clients

def test_slow_headers_timed_out(raw, cfg):
    c = raw()
    c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    time.sleep(cfg["header_timeout"] + 1)
    r = c.read_response(timeout=cfg["header_timeout"] + 30)
    if r is not None:
        assert r.status == 408, r
        assert c.wait_closed(10)
    # either a 408 or a plain close; the connection is gone well before our patience ends
    assert time.monotonic() - t0 < cfg["header_timeout"] + 30


def test_slowloris_trickle_is_cut(raw, cfg):
    """The header timeout is a deadline for the whole head, not an idle timer."""
    c = raw()
    c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    deadline = time.monotonic() + cfg["header_timeout"] * 3 + 10
    cut = False
    while time.monotonic() < deadline:
        if c.readable(0.3):
            cut = True
            break
        if not c.try_send(b"X-A: b\r\n"):
            cut = True
            break
    assert cut, "frontd kept reading a trickled header block past %ss" % cfg["header_timeout"]
    r = c.read_response() if not c.reset else None
    if r is not None:
        assert r.status in (408, 431), r


def test_idle_keepalive_connection_does_not_block_others(raw, client):
    idle = raw()
    idle.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finished
    assert client.get("/health").status_code == 200


# --------------------------------------------------------------------------- routing

def test_unknown_path_404(client):
    for path in (API + "/nothing-here", "/nope", API + "/auth/me/extra", API + "/users/integrations/a/b/c"):
        body = expect_error(client.get(path), 404, "FD210")
        assert body


@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", API + "/auth/me", {"GET"}),
    ("POST", API + "/auth/me", {"GET"}),
    ("GET", API + "/auth/login", {"POST"}),
    ("PATCH", API + "/users/profile", {"GET", "PUT"}),
    ("POST", API + "/users/integrations/00000000-0000-0000-0000-000000000000", {"GET", "PUT", "DELETE"}),
    ("GET", API + "/auth/api-keys/00000000-0000-0000-0000-000000000000", {"DELETE"}),
    ("GET", API + "/users/notifications/read-all", {"PUT"}),
    ("POST", "/health", {"GET"}),
])
def test_wrong_method_405_with_allow(client, method, path, allowed):
    r = client.request(method, path, json_body={} if method in ("POST", "PUT", "PATCH") else None)
    expect_error(r, 405, "FD211")
    allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert allowed <= allow, (allow, allowed)
    unexpected = allow - allowed - {"HEAD", "OPTIONS"}
    assert not unexpected, allow


def test_trailing_slash_equivalence(client, user):
    a = expect(client.get(API + "/auth/me", token=user.access), 200)
    b = expect(client.get(API + "/auth/me/", token=user.access), 200)
    assert a == b
    expect(client.get(API + "/users/integrations/", token=user.access), 200)
    r = client.post(API + "/auth/login/", json_body={"email": user.email, "password": user.password})
    expect(r, 200)


def test_query_string_does_not_break_routing(client, user):
    expect(client.get(API + "/auth/me?x=1&y=%20z", token=user.access), 200)
    expect(client.get(API + "/auth/me/?", token=user.access), 200)


# --------------------------------------------------------------------------- more framing

def test_expect_100_continue(raw, user):
    """curl sends Expect: 100-continue for larger bodies: answer 100 (or the final status) and
    read the body, never hang or refuse."""
    body = json.dumps({"email": user.email, "password": user.password}).encode()
    c = raw()
    c.send(http_request_bytes("POST", API + "/auth/login", headers=[
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        ("Expect", "100-continue")]))
    if c.readable(3):
        interim = c.read_response(head=True)
        assert interim is not None and interim.status == 100, interim
    c.send(body)
    r = c.read_response()
    assert r.status == 200, r
    assert r.json()["user"]["id"] == user.id


def test_long_request_target_refused(raw, cfg):
    c = raw()
    c.try_send(b"GET /health?" + b"q" * (cfg["max_header"] + 500) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    r = c.read_response()
    assert r is not None and r.status in (400, 414, 431), r


def test_head_health(raw):
    c = raw()
    c.send(http_request_bytes("HEAD", "/health"))
    r = c.read_response(head=True)
    assert r.status == 200, r
    # no body follows: the next response on the connection parses cleanly
    c.send(get("/health", "after-head"))
    r2 = c.read_response()
    assert r2.status == 200 and r2.header("X-Request-Id") == "after-head", r2


def test_bad_percent_encoding(raw, user):
    """Malformed or non-UTF-8 percent-encoding in the path or the query: 400, not 500.
    (Raw socket: requests would re-encode the '%'.)"""
    auth = [("Authorization", "Bearer " + user.access)]
    targets = [API + "/users/integrations/%ZZ", API + "/users/integrations/%",
               API + "/users/integrations/%FF%FE", API + "/users/notifications?type=%FF",
               API + "/users/notifications?type=%ZZ", API + "/users/notifications?limit=%",
               API + "/users/notifications?type=%C3%28"]
    c = raw()
    for target in targets:
        c.send(get(target, extra=auth))
        r = c.read_response()
        assert_json_error(r, 400)
        if c.eof:
            c = raw()


def test_concurrent_requests_all_answered(base_url, user):
    """More clients than pool connections (FLOV7_POOL_SIZE=4 in the harness)."""
    import threading
    import requests
    results = []
    lock = threading.Lock()

    def worker():
        with requests.Session() as s:
            for _ in range(3):
                r = s.get(base_url + API + "/auth/me",
                          headers={"Authorization": "Bearer " + user.access}, timeout=60)
                with lock:
                    results.append((r.status_code, r.json().get("id")))
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 24, results
    assert all(s == 200 and i == user.id for s, i in results), results
