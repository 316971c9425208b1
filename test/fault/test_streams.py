"""Realtime streams under stress, each against its own frontd: server pings and a client that
never answers them, a client that stops reading (max-buffer: closed, memory bounded; a client
that keeps up is not), the per-user socket cap (429 before the upgrade), the largest client
message (flag and environment), SIGTERM (close 1001, exit 0), a PostgreSQL restart under 100
sockets (nothing lost, everyone served after), a JWT that expires while connected (close 4001),
and 1 000 idle sockets that all still get a broadcast.

Events are produced as the superuser (the same triggers the API fires) and published with
flov7.events_publish() to hurry the workers; every wait is bounded."""

import json
import os
import resource
import signal
import socket
import sys
import threading
import time
import uuid

import psycopg2
import pytest
import requests

from conftest import PGURI, SECRET, TIMEOUT, pg_command, register, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
from flov7_client import jwt_parts, jwt_sign  # noqa: E402
from ws_raw import OP_CLOSE, OP_TEXT, Closed, WsConn, collect  # noqa: E402

RT = "/api/v1/realtime"
MB = 1024 * 1024


# --------------------------------------------------------------------------- helpers

def user_of(token):
    return jwt_parts(token)[1]["sub"]


def open_ws(f, topic, token, user_id=None, rcvbuf=None, timeout=TIMEOUT):
    """(WsConn, response) for a handshake on f's socket path; not checked."""
    uid = user_id or user_of(token)
    return WsConn.open("127.0.0.1", f.port, "%s/ws/%s/%s" % (RT, topic, uid),
                       headers=[("Authorization", "Bearer " + token)], rcvbuf=rcvbuf, timeout=timeout)


def connect(f, topic, token, **kw):
    """An upgraded socket past its connection message."""
    ws, resp = open_ws(f, topic, token, **kw)
    assert resp.status == 101, "handshake refused: %r" % resp
    assert ws.accept_ok(), resp
    hello = ws.recv_json(TIMEOUT)
    assert hello.get("type") == "connection", hello
    return ws


def sql(su, statement, args=None):
    with su.cursor() as c:
        c.execute(statement, args)
        return c.fetchall() if c.description else None


def publish(su):
    return sql(su, "SELECT flov7.events_publish()")[0][0]


def announce(su, title):
    """A system announcement, as POST /realtime/broadcast/system-announcement writes it."""
    sql(su, "SELECT flov7.event_add(flov7.system_stream(), 'system', 'system.announcement', %s)",
        (json.dumps({"announcement_type": "info", "title": title, "message": "", "data": {}}),))


def notify_rows(su, user_id, title):
    sql(su, "INSERT INTO flov7.notifications (user_id, title) VALUES (%s, %s)", (user_id, title))


def titled(title):
    return lambda m: isinstance(m, dict) and m.get("title") == title


def vm(pid, field):
    """A /proc/<pid>/status figure in bytes (VmRSS, VmHWM)."""
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s for %d" % (field, pid))


def log_tail(f, lines=15):
    """Whether frontd still runs, and its last log lines other than access-log lines."""
    rc = f.proc.poll()
    state = "frontd is running" if rc is None else "frontd EXITED with status %s" % rc
    return state + "; its log:\n" + "\n".join(
        [ln for ln in f.output().splitlines() if not ln.startswith('{"time"')][-lines:])


def no_quarantine():
    """Environment for a frontd whose memory is measured: an ASan build keeps freed memory in
    quarantine (256 MB by default), which would count as growth; plain builds ignore it."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (opts + ":" if opts else "") + "quarantine_size_mb=0"}


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n:
        pytest.skip("hard open-file limit %d < %d" % (hard, n))
    if soft != resource.RLIM_INFINITY and soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


# --------------------------------------------------------------------------- pings

@pytest.mark.parametrize("how", ["flag", "env"])
def test_server_pings_and_silent_client_is_closed(frontd, how):
    """--ws-ping-interval=300ms (or FLOV7_WS_PING_INTERVAL): the server pings; a client that
    never answers (and sends nothing) is closed within a few intervals; one that answers stays
    open."""
    if how == "flag":
        f = frontd("--ws-ping-interval=300ms").wait_up()
    else:
        f = frontd(env={"FLOV7_WS_PING_INTERVAL": "300ms"}).wait_up()
    token = register(f.url)
    silent = connect(f, "notifications", token)
    silent.auto_pong = False
    live = connect(f, "workflows", token)
    t0 = time.monotonic()
    silent_end = None
    while time.monotonic() - t0 < 3.0:   # 10 intervals: the silent one must be gone by then
        for fr in silent.drain():
            if fr.opcode == OP_CLOSE:
                silent_end = ("close", fr.close_code)
        live.drain()                     # answers the pings
        if silent.eof:
            silent_end = silent_end or ("eof",)
        if silent_end:
            break
        time.sleep(0.02)
    took = time.monotonic() - t0
    assert silent.pings, "no ping reached the silent client in %.1f s (frames %r)" % (took, silent.frames)
    assert all(not fr.masked for fr in silent.frames), silent.frames
    assert silent_end, "a client that never answers pings is still open after %.1f s (%d pings)" % (
        took, len(silent.pings))
    assert silent.wait_eof(TIMEOUT), "TCP left open after %r" % (silent_end,)
    # the answering one: several more intervals, still open and served
    t1 = time.monotonic()
    while time.monotonic() - t1 < 1.5:
        live.drain()
        assert not live.eof, "the client answering pings was closed (frames %r)" % live.frames
        time.sleep(0.02)
    assert len(live.pings) >= 3, live.pings
    assert live.send_json({"type": "ping"})
    assert live.messages_until(lambda m: m.get("type") == "pong", timeout=TIMEOUT)
    f.stop()


# --------------------------------------------------------------------------- slow reader

def big_notifications(cur, uid, tag, batch, count, size):
    """count notifications of about size bytes each for uid in one transaction, published;
    titled <tag>-<batch * 1000 + i>, i from 1."""
    cur.execute("INSERT INTO flov7.notifications (user_id, title, data) "
                "SELECT %s, %s || '-' || (%s * 1000 + i), jsonb_build_object('pad', repeat('x', %s)) "
                "FROM generate_series(1, %s) i", (uid, tag, batch, size, count))
    cur.execute("SELECT flov7.events_publish()")
    return "%s-%d" % (tag, batch * 1000 + count)


def read_until_closed(ws):
    """Read a socket nobody read before: (text messages, ("close", code) | ("eof",) | None)."""
    n, deadline = 0, time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            fr = ws.recv_frame(max(deadline - time.monotonic(), 0.01))
        except Closed:
            return n, ("eof",)
        except socket.timeout:
            return n, None
        if fr.opcode == OP_TEXT:
            n += 1
        elif fr.opcode == OP_CLOSE:
            return n, ("close", fr.close_code)
    return n, None


def test_stalled_reader_closed_memory_bounded(frontd, su):
    """--ws-max-buffer=65536: a client that stops reading while ~60 MB of events are produced
    for its user (1 MB transactions) is closed (1008 or TCP close) before it got them all, and
    frontd's peak RSS grows by less than 50 MB.  Another user's socket, which gets an event
    published after all of them, tells when frontd has fanned them all out."""
    f = frontd("--ws-max-buffer=65536", env=no_quarantine()).wait_up()
    token, other = register(f.url), register(f.url)
    uid = user_of(token)
    stalled = connect(f, "notifications", token, rcvbuf=4096)
    canary = connect(f, "notifications", other)
    rss0 = vm(f.proc.pid, "VmRSS")
    batches, per_batch, size = 60, 100, 10000
    tag = uuid.uuid4().hex[:8]
    with su.cursor() as c:
        for b in range(batches):
            big_notifications(c, uid, tag, b, per_batch, size)
    done = "after-" + tag
    notify_rows(su, user_of(other), done)
    try:
        collect([canary], lambda i, m: any(titled(done)(x) for x in m), timeout=TIMEOUT,
                poke=lambda: publish(su))
    except AssertionError as e:
        raise AssertionError("another user's socket: %s\n%s" % (e, log_tail(f)))
    peak = vm(f.proc.pid, "VmHWM")
    n, end = read_until_closed(stalled)
    assert end is not None, "the stalled client was never closed (read %d messages)" % n
    assert end in (("close", 1008), ("eof",)), end
    assert n < batches * per_batch, "the stalled client got everything (%d) before %r" % (n, end)
    assert peak - rss0 < 50 * MB, "frontd peak RSS grew by %.1f MB" % ((peak - rss0) / MB)
    assert requests.get(f.url + "/health", timeout=TIMEOUT).status_code == 200
    f.stop()


def test_reader_keeping_up_is_kept_stalled_one_closed(frontd, su):
    """--ws-max-buffer=65536, events in ~50 KB transactions, each produced once the reading
    client has had the previous one (so no socket ever owes more than one transaction to a
    client that reads): the reader gets all 10 MB in order and stays open; the stalled client
    of the same user is closed (1008 or TCP close) before it got them all."""
    f = frontd("--ws-max-buffer=65536").wait_up()
    token = register(f.url)
    uid = user_of(token)
    stalled = connect(f, "notifications", token, rcvbuf=4096)
    reader = connect(f, "notifications", token)
    rounds, per_round, size = 200, 5, 10000
    tag = uuid.uuid4().hex[:8]
    titles = []
    with su.cursor() as c:
        for b in range(rounds):
            last = big_notifications(c, uid, tag, b, per_round, size)
            try:
                got = collect([reader], lambda i, m: any(titled(last)(x) for x in m), timeout=TIMEOUT)[0]
            except AssertionError as e:
                raise AssertionError("round %d of %d, after %d events: %s\n%s" % (
                    b, rounds, len(titles), e, log_tail(f)))
            titles += [m["title"] for m in got if isinstance(m, dict) and m.get("type") == "notification"]
    want = ["%s-%d" % (tag, b * 1000 + i) for b in range(rounds) for i in range(1, per_round + 1)]
    assert titles == want, "the reading client got %d of %d, e.g. %r" % (len(titles), len(want), titles[-3:])
    assert reader.send_json({"type": "ping"})
    assert reader.messages_until(lambda m: m.get("type") == "pong", timeout=TIMEOUT)
    n, end = read_until_closed(stalled)
    assert end in (("close", 1008), ("eof",)), "stalled client: %r after %d messages" % (end, n)
    assert n < len(want), n
    f.stop()


# --------------------------------------------------------------------------- per-user cap

@pytest.mark.parametrize("how", ["flag", "env"])
def test_per_user_cap_is_429_before_upgrade(frontd, how):
    """--ws-max-per-user=2 (or FLOV7_WS_MAX_PER_USER=2): a user's third socket, whatever its
    topic, is refused with 429 before the upgrade; another user is not counted; a closed
    socket frees its place."""
    if how == "flag":
        f = frontd("--ws-max-per-user=2").wait_up()
    else:
        f = frontd(env={"FLOV7_WS_MAX_PER_USER": "2"}).wait_up()
    token, other = register(f.url), register(f.url)
    first = connect(f, "workflows", token)
    second = connect(f, "notifications", token)   # kept: a collected socket would close
    ws, resp = open_ws(f, "notifications", token)
    assert resp.status == 429, "third socket of one user: %r" % resp
    assert resp.header("Sec-WebSocket-Accept") is None, resp
    body = resp.json()
    assert set(body) == {"code", "message", "details", "hint"}, body
    others = connect(f, "notifications", other)  # someone else is not counted
    first.send_close(1000)
    assert first.wait_close(TIMEOUT, reply=False) == (1000, True), first.frames[-3:]

    def room():
        w, r = open_ws(f, "notifications", token)
        if r.status == 101:
            return w
        assert r.status == 429, r
        w.close()
        return None
    assert wait_until("a socket after one of the two closed", room)
    assert second.is_open() and others.is_open()
    f.stop()


# --------------------------------------------------------------------------- message size

@pytest.mark.parametrize("how", ["flag", "env"])
def test_max_message_setting(frontd, how):
    """--ws-max-message=1024 (or FLOV7_WS_MAX_MESSAGE): 1 024 bytes are read, 1 025 close 1009."""
    if how == "flag":
        f = frontd("--ws-max-message=1024").wait_up()
    else:
        f = frontd(env={"FLOV7_WS_MAX_MESSAGE": "1024"}).wait_up()
    token = register(f.url)

    def ping_of(size):
        head = '{"type":"ping","pad":"'
        return head + "x" * (size - len(head) - 2) + '"}'

    ws = connect(f, "notifications", token)
    assert ws.send_text(ping_of(1024))
    assert ws.messages_until(lambda m: m.get("type") == "pong", timeout=TIMEOUT)
    assert ws.send_text(ping_of(1025))
    code, tcp_closed = ws.wait_close(TIMEOUT)
    assert code == 1009 and tcp_closed, (code, tcp_closed, ws.frames[-3:])
    f.stop()


# --------------------------------------------------------------------------- shutdown

def test_sigterm_closes_sockets_1001_and_exits_0(frontd):
    f = frontd().wait_up()
    a, b = register(f.url), register(f.url)
    socks = [connect(f, "notifications", a), connect(f, "workflows", a), connect(f, "notifications", b)]
    f.proc.send_signal(signal.SIGTERM)
    for i, ws in enumerate(socks):
        code, tcp_closed = ws.wait_close(TIMEOUT)
        assert code == 1001, "socket %d: close %r, frames %r" % (i, code, ws.frames[-3:])
        assert tcp_closed, "socket %d: TCP open after close 1001" % i
    rc = f.wait_exit()
    assert rc == 0, "frontd exited %s:\n%s" % (rc, f.output()[-3000:])


# --------------------------------------------------------------------------- PostgreSQL restart

def test_postgres_restart_under_100_sockets(frontd, su):
    """100 sockets (10 users x 10).  Announcements are committed one after another until a
    restart of PostgreSQL cuts their producer off (so the feed is being read when the server
    goes); then one more announcement and a notification per user.  Every socket gets every
    announcement that committed, its user's notification, each once and in order."""
    f = frontd("--ws-max-per-user=20", "--max-connections-per-ip=0").wait_up()
    tokens = [register(f.url) for _ in range(10)]
    conns, owner = [], []
    for tok in tokens:
        for _ in range(10):
            conns.append(connect(f, "notifications", tok))
            owner.append(user_of(tok))
    bystander = user_of(register(f.url))
    tag = uuid.uuid4().hex[:8]
    after = "after-" + tag
    started, stop = threading.Event(), threading.Event()

    def produce():
        conn = psycopg2.connect(PGURI)
        conn.autocommit = True
        try:
            with conn.cursor() as c:
                for i in range(100000):
                    if stop.is_set():
                        return
                    c.execute("SELECT flov7.event_add(flov7.system_stream(), 'system', "
                              "'system.announcement', %s)", (json.dumps({
                                  "announcement_type": "info", "title": "pre-%s-%d" % (tag, i),
                                  "message": "", "data": {}}),))
                    # and a bulky event for a user nobody watches: longer feed reads, so the
                    # restart is likelier to cut one
                    c.execute("INSERT INTO flov7.notifications (user_id, title, data) VALUES "
                              "(%s, 'bulk', jsonb_build_object('pad', repeat('x', 200000)))", (bystander,))
                    if i == 20:
                        started.set()
                    time.sleep(0.005)   # pacing: a steady stream, not a flood
        except psycopg2.Error:
            pass    # the restart ended it
        finally:
            started.set()
            conn.close()

    t = threading.Thread(target=produce)
    t.start()
    try:
        assert started.wait(TIMEOUT)
        pg_command("FLOV7_PG_RESTART")
    finally:
        stop.set()
        t.join(TIMEOUT)
    su.forget()
    pre = {r[0] for r in sql(su, "SELECT payload ->> 'title' FROM flov7.events WHERE topic = 'system' "
                                 "AND payload ->> 'title' LIKE %s", ("pre-%s-%%" % tag,))}
    assert len(pre) > 20, pre
    announce(su, after)
    for uid in sorted(set(owner)):
        notify_rows(su, uid, "mine-" + uid)

    def done(i, msgs):
        titles = {m.get("title") for m in msgs if isinstance(m, dict)}
        return pre | {after, "mine-" + owner[i]} <= titles

    try:
        msgs = collect(conns, done, timeout=60, poke=lambda: publish(su))
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, log_tail(f)))
    for i, m in enumerate(msgs):
        evs = [x for x in m if isinstance(x, dict) and x.get("type") != "pong"]
        ids = [x["event_id"] for x in evs]
        assert ids == sorted(set(ids)), "socket %d: event ids %r" % (i, ids)
        mine = [x for x in evs if x.get("type") == "notification"]
        assert [x["title"] for x in mine] == ["mine-" + owner[i]], "socket %d: %r" % (i, evs)
        anns = [x["title"] for x in evs if x.get("type") == "system_announcement"]
        assert len(anns) == len(set(anns)) and set(anns) >= pre, "socket %d: %r" % (i, anns)
    # and a socket opened after the restart works too
    late = connect(f, "notifications", tokens[0])
    announce(su, "late-" + tag)
    collect([late], lambda i, m: any(titled("late-" + tag)(x) for x in m), timeout=TIMEOUT,
            poke=lambda: publish(su))
    f.stop()


# --------------------------------------------------------------------------- JWT expiry

def test_jwt_expiring_while_connected_closes_4001(frontd):
    """A token valid for 3 more seconds (no leeway): the socket works, then ends with close
    4001 once the token has expired (not before)."""
    f = frontd("--jwt-leeway=0").wait_up()
    real = register(f.url)
    exp = int(time.time()) + 3
    short = jwt_sign(dict(jwt_parts(real)[1], exp=exp), SECRET)
    ws = connect(f, "notifications", short)
    assert ws.send_json({"type": "ping"})
    assert ws.messages_until(lambda m: m.get("type") == "pong", timeout=TIMEOUT)
    code, tcp_closed = ws.wait_close(15)
    ended = time.time()
    assert code == 4001, "expected close 4001, got %r (frames %r)" % (code, ws.frames[-3:])
    assert ended >= exp - 1, "closed %.1f s before the token's exp" % (exp - ended)
    assert tcp_closed
    # a socket with a real token of the same user is unaffected
    ok = connect(f, "notifications", real)
    assert ok.send_json({"type": "ping"})
    assert ok.messages_until(lambda m: m.get("type") == "pong", timeout=TIMEOUT)
    f.stop()


# --------------------------------------------------------------------------- many sockets

def test_1000_idle_sockets_all_get_a_broadcast(frontd, su):
    """1 000 WebSockets (10 users x 100) opened and left idle: all accepted, /health still
    answers, and every one of them gets an announcement."""
    n_users, per_user = 10, 100
    raise_nofile(n_users * per_user + 256)
    f = frontd("--max-connections=4096", "--max-connections-per-ip=0",
               "--ws-max-per-user=%d" % per_user).wait_up()
    tokens = [register(f.url) for _ in range(n_users)]
    conns = [connect(f, "notifications", tok) for tok in tokens for _ in range(per_user)]
    assert requests.get(f.url + "/health", timeout=TIMEOUT).status_code == 200
    title = "to-all-" + uuid.uuid4().hex[:8]
    announce(su, title)
    msgs = collect(conns, lambda i, m: any(titled(title)(x) for x in m), timeout=60,
                   poke=lambda: publish(su))
    assert len(msgs) == n_users * per_user
    for c in conns:
        c.close()
    f.stop()
