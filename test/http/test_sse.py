"""Realtime over Server-Sent Events: GET /realtime/sse/workflows and /sse/notifications answer
200 text/event-stream (no-cache), first an `event: connection`, then every event the caller may
see as `id: <event_id>` / `event: <message type>` / `data: <the WebSocket message>`; replay from
Last-Event-ID (header or ?last_event_id) with no gap and no duplicate; refusals as plain HTTP
errors; an admin may watch a user with ?user_id=.  Read with a raw socket (bounded waits); comment
lines (`: ping`) are skipped."""

import json
import socket
import threading
import time
import uuid

import pytest

from conftest import login, register
from flov7_client import Client, assert_error_body, expect
from test_websocket import (
    ANNOUNCEMENT_KEYS, NOTIFICATION_KEYS, RT, WAIT, WORKFLOW_KEYS, api_key,
    concurrent_notifications, db_message, db_positions, make_execution, notify, poker, publish,
)

CONNECTION_KEYS = {"type", "status", "channel", "timestamp", "event_id"}


# --------------------------------------------------------------------------- an SSE client

class SseConn:
    """GET a stream on a raw socket: the response head, then events parsed as they come
    (chunked or not).  Non-200 answers are read whole (self.body)."""

    def __init__(self, host, port, path, headers=(), timeout=WAIT):
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.timeout = timeout
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Accept: text/event-stream"]
        lines += ["%s: %s" % kv for kv in headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.raw = b""        # bytes as received (possibly chunked)
        self.text = b""       # the body, de-chunked, not yet parsed into events
        self.eof = False
        self.events = []      # every event parsed, in order (for assertion messages)
        self.comments = 0
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            if not self._fill(deadline):
                raise AssertionError("closed before a response head: %r" % self.raw)
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        hl = head.decode("latin-1").split("\r\n")
        self.status = int(hl[0].split(" ", 2)[1])
        self.headers = [(k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in hl[1:])]
        self.chunked = "chunked" in (self.header("Transfer-Encoding") or "").lower()
        self.body = b""
        if self.status != 200:
            n = int(self.header("Content-Length") or 0) if not self.chunked else None
            while True:
                self._dechunk()
                if n is not None and len(self.text) >= n:
                    break
                if not self._fill(deadline):
                    break
            self.body = self.text

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def close(self):
        self.sock.close()

    def _fill(self, deadline):
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.raw += chunk
        return True

    def _dechunk(self):
        if not self.chunked:
            self.text += self.raw
            self.raw = b""
            return
        while b"\r\n" in self.raw:
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            self.text += rest[:size]
            self.raw = rest[size + 2:]
            if size == 0:
                self.eof = True
                return

    def _parse_one(self):
        """One dispatched event from text, or None when no blank line has come yet."""
        t = self.text.replace(b"\r\n", b"\n")
        while b"\n\n" in t:
            block, t = t.split(b"\n\n", 1)
            self.text = t
            ev = {"id": None, "event": "message", "data": None}
            data = []
            for line in block.decode("utf-8").split("\n"):
                if line.startswith(":"):
                    self.comments += 1
                    continue
                field, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if field == "data":
                    data.append(value)
                elif field in ("id", "event", "retry"):
                    ev[field] = value
            if not data:
                continue     # a comment-only block (keep-alive)
            ev["data"] = "\n".join(data)
            self.events.append(ev)
            return ev
        self.text = t
        return None

    def next_event(self, timeout=WAIT):
        """{"id","event","data"(parsed JSON)}; socket.timeout if none in time; AssertionError at EOF."""
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            ev = self._parse_one()
            if ev is not None:
                ev = dict(ev, data=json.loads(ev["data"]))
                return ev
            if not self._fill(deadline):
                raise AssertionError("stream ended; events so far %r" % self.events)

    def events_until(self, pred, timeout=WAIT, poke=None):
        """Events until pred(event) holds for one (that one last); poke() called while waiting."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out; events so far %r" % got)
            try:
                ev = self.next_event(min(left, 0.25) if poke else left)
            except socket.timeout:
                if poke:
                    poke()
                continue
            got.append(ev)
            if pred(ev):
                return got


@pytest.fixture
def sse(cfg):
    """sse(path, token=None, headers=[...]) -> SseConn; closed at teardown."""
    conns = []

    def open_(path, token=None, headers=()):
        h = list(headers)
        if token is not None:
            h.append(("Authorization", "Bearer " + token))
        c = SseConn(cfg["host"], cfg["port"], path, h)
        conns.append(c)
        return c
    yield open_
    for c in conns:
        c.close()


def sse_path(topic, **qs):
    path = RT + "/sse/" + topic
    if qs:
        path += "?" + "&".join("%s=%s" % kv for kv in qs.items())
    return path


def stream(sse, topic, who, token=None, headers=(), **qs):
    """An open stream of who's events past its connection event: (conn, connection message)."""
    s = sse(sse_path(topic, **qs), token=token, headers=headers)
    assert s.status == 200, "refused: %s %r %r" % (s.status, s.headers, s.body[:400])
    ctype = s.header("Content-Type") or ""
    assert ctype.split(";")[0].strip() == "text/event-stream", s.headers
    assert "no-cache" in (s.header("Cache-Control") or ""), s.headers
    ev = s.next_event()
    assert ev["event"] == "connection", ev
    hello = ev["data"]
    assert set(hello) == CONNECTION_KEYS and hello["type"] == "connection", hello
    assert hello["status"] == "connected" and hello["channel"] == "%s:%s" % (topic, who), hello
    assert isinstance(hello["event_id"], int), hello
    return s, hello


def check_event(ev, q1):
    """id is the event_id, event the message type, data the database's message."""
    d = ev["data"]
    assert ev["id"] == str(d["event_id"]), ev
    assert ev["event"] == d["type"], ev
    assert d == db_message(q1, d["event_id"]), ev
    return d


def refused(s, status):
    assert s.status == status, "expected %d: %s %r %r" % (status, s.status, s.headers, s.body[:400])
    assert s.header("X-Request-Id"), s.headers
    assert (s.header("Content-Type") or "").startswith("application/json"), s.headers
    body = s.json()
    assert_error_body(body)
    if status == 401:
        assert (s.header("WWW-Authenticate") or "").startswith("Bearer"), s.headers
    return body


@pytest.fixture(scope="module")
def pair(base_url):
    c = Client(base_url)
    return register(c), register(c)


@pytest.fixture(scope="module")
def boss(base_url, cfg):
    return login(Client(base_url), cfg["admin_email"], cfg["admin_password"])["access_token"]


# --------------------------------------------------------------------------- tests

@pytest.mark.parametrize("topic", ["workflows", "notifications"])
def test_stream_head_and_connection_event(sse, user, topic, q1):
    before = publish(q1)
    s, hello = stream(sse, topic, user.id, user.access)
    assert before <= hello["event_id"] <= q1("SELECT flov7.events_head()"), hello


@pytest.mark.parametrize("how", ["x-api-key", "bearer-api-key", "query-jwt", "query-api-key"])
def test_other_credential_styles(sse, client, user, how):
    key = api_key(client, user.access)
    qs, headers = {
        "x-api-key": ({}, [("X-API-Key", key)]),
        "bearer-api-key": ({}, [("Authorization", "Bearer " + key)]),
        "query-jwt": ({"token": user.access}, []),
        "query-api-key": ({"token": key}, []),
    }[how]
    stream(sse, "notifications", user.id, headers=headers, **qs)


def test_notification_event(sse, client, user, q1):
    s, hello = stream(sse, "notifications", user.id, user.access)
    n = notify(client, user.access, "sse hello", message="m", data={"a": 1})
    got = s.events_until(lambda e: e["data"].get("notification_id") == n["id"], poke=lambda: publish(q1))
    d = check_event(got[-1], q1)
    assert set(d) == NOTIFICATION_KEYS and d["event"] == "notification.created", d
    assert (d["title"], d["message"], d["data"]) == ("sse hello", "m", {"a": 1}), d
    assert d["event_id"] > hello["event_id"]
    assert [e["event"] for e in got] == ["notification"], got


def test_workflow_events(sse, client, user, q, q1):
    s, _ = stream(sse, "workflows", user.id, user.access)
    wf, ex = make_execution(client, user.access)
    got = s.events_until(lambda e: e["data"].get("event") == "execution.completed", poke=poker(q, q1))
    assert [e["data"]["event"] for e in got] == ["execution.created", "execution.started",
                                                 "step.completed", "execution.completed"], got
    for e in got:
        d = check_event(e, q1)
        assert set(d) == WORKFLOW_KEYS and d["execution_id"] == ex and d["workflow_id"] == wf, d
        assert e["event"] == "workflow_status", e
    ids = [int(e["id"]) for e in got]
    assert ids == sorted(set(ids)), ids


def test_announcement_on_notifications_stream(sse, client, admin, make_user, q1):
    a, b = make_user(), make_user()
    sa, _ = stream(sse, "notifications", a.id, a.access)
    sb, _ = stream(sse, "notifications", b.id, b.access)
    title = "sse-ann-" + uuid.uuid4().hex[:8]
    expect(client.post(RT + "/broadcast/system-announcement", token=admin.access,
                       json_body={"title": title, "announcement_type": "info"}), 200)
    for s in (sa, sb):
        e = s.events_until(lambda e: e["data"].get("title") == title, poke=lambda: publish(q1))[-1]
        d = check_event(e, q1)
        assert set(d) == ANNOUNCEMENT_KEYS and e["event"] == "system_announcement", e


def test_isolation_and_admin_watch(sse, client, make_user, admin, q1):
    """b's events never reach a's stream; the admin's ?user_id=a stream carries a's."""
    a, b = make_user(), make_user()
    sa, _ = stream(sse, "notifications", a.id, a.access)
    sadm, _ = stream(sse, "notifications", a.id, admin.access, user_id=a.id)
    nb = notify(client, b.access, "b's")
    na = notify(client, a.access, "a's")
    for s in (sa, sadm):
        got = s.events_until(lambda e: e["data"].get("notification_id") == na["id"], poke=lambda: publish(q1))
        assert [e["data"]["notification_id"] for e in got] == [na["id"]], (got, nb["id"])


REFUSALS = {
    # name: (status, (pair, admin token) -> (query, headers))
    "no-credentials": (401, lambda p, a: ({}, [])),
    "garbage-bearer": (401, lambda p, a: ({}, [("Authorization", "Bearer garbage")])),
    "garbage-query-token": (401, lambda p, a: ({"token": "garbage"}, [])),
    "unknown-api-key": (401, lambda p, a: ({}, [("X-API-Key", "flv7_" + "y" * 40)])),
    "another-users-id": (403, lambda p, a: ({"user_id": p[1].id}, [("Authorization", "Bearer " + p[0].access)])),
    "admin-unknown-user": (404, lambda p, a: ({"user_id": str(uuid.uuid4())}, [("Authorization", "Bearer " + a)])),
    "user-id-not-uuid": (400, lambda p, a: ({"user_id": "nope"}, [("Authorization", "Bearer " + p[0].access)])),
    "bad-last-event-id-query": (400, lambda p, a: ({"last_event_id": "x1"}, [("Authorization", "Bearer " + p[0].access)])),
    "bad-last-event-id-header": (400, lambda p, a: ({}, [("Authorization", "Bearer " + p[0].access),
                                                         ("Last-Event-ID", "seven")])),
}


@pytest.mark.parametrize("topic", ["workflows", "notifications"])
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals(sse, pair, boss, topic, case):
    status, build = REFUSALS[case]
    qs, headers = build(pair, boss)
    refused(sse(sse_path(topic, **qs), headers=headers), status)


def test_scoped_key_refused_other_topic(sse, client, user):
    key = api_key(client, user.access, permissions=["notifications:read"])
    stream(sse, "notifications", user.id, headers=[("X-API-Key", key)])
    refused(sse(sse_path("workflows"), headers=[("X-API-Key", key)]), 403)


@pytest.mark.parametrize("how", ["header", "query"])
def test_replay_after_disconnect(sse, client, user, q, q1, how):
    """Last-Event-ID (header) or ?last_event_id: every event after N the stream may see, in
    order, then live ones; each id line is the event's position."""
    s, hello = stream(sse, "notifications", user.id, user.access)
    n0 = hello["event_id"]
    s.close()
    for i in range(3):
        notify(client, user.access, "offline %d" % i)
    publish(q1)
    if how == "header":
        s, _ = stream(sse, "notifications", user.id, user.access, headers=[("Last-Event-ID", str(n0))])
    else:
        s, _ = stream(sse, "notifications", user.id, user.access, last_event_id=n0)
    sentinel = notify(client, user.access, "live")["id"]
    got = s.events_until(lambda e: e["data"].get("notification_id") == sentinel, poke=lambda: publish(q1))
    ids = [check_event(e, q1)["event_id"] for e in got]
    want = db_positions(q, n0, ids[-1], user.id, "notifications")
    assert ids == want, "got %r, database says %r" % (ids, want)
    assert [e["data"]["title"] for e in got if e["event"] == "notification"] == \
        ["offline 0", "offline 1", "offline 2", "live"], got


def test_replay_while_events_are_produced(sse, client, user, q, q1):
    n0 = publish(q1)
    started = threading.Event()
    t, errors = concurrent_notifications(client, user.access, 40, started)
    assert started.wait(WAIT)
    s, _ = stream(sse, "notifications", user.id, user.access, headers=[("Last-Event-ID", str(n0))])
    t.join(60)
    assert not errors, errors
    sentinel = notify(client, user.access, "sentinel")["id"]
    got = s.events_until(lambda e: e["data"].get("notification_id") == sentinel, poke=lambda: publish(q1))
    ids = [int(e["id"]) for e in got]
    want = db_positions(q, n0, ids[-1], user.id, "notifications")
    assert ids == want, "got %r\nwant %r" % (ids, want)
    assert len([e for e in got if e["event"] == "notification"]) == 41, got
