"""A raw-socket WebSocket client (RFC 6455) for the black-box tests, standard library only.

It does the opening handshake by hand (so a test can send any header, or leave one out), masks
its frames like a browser, and can build any frame at all, including the ones a server must
refuse (unmasked, RSV bits, reserved opcodes, fragmented or oversized control frames, bad close
codes, invalid UTF-8).  It reads frames as they are, and reads the server's close code.

    ws, resp = WsConn.open(host, port, path, headers=[("Authorization", "Bearer ...")])
    assert resp.status == 101
    hello = ws.recv_json()
    ws.send_json({"type": "ping"})
"""

import base64
import hashlib
import json
import os
import select
import socket
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

TIMEOUT = 30  # generous: the suites also run frontd under valgrind and ASan


def readable(socks, wait):
    """The sockets of socks with something to read within wait seconds.  poll(), not select():
    select() refuses descriptors above 1023, which a test holding a thousand sockets reaches."""
    p = select.poll()
    by_fd = {}
    for s in socks:
        p.register(s, select.POLLIN)
        by_fd[s.fileno()] = s
    return [by_fd[fd] for fd, _ in p.poll(max(wait, 0) * 1000)]


def accept_for(key):
    """The Sec-WebSocket-Accept a server must answer for key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def new_key():
    return base64.b64encode(os.urandom(16)).decode("ascii")


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None, length=None):
    """Bytes of one frame.  rsv: the three RSV bits as a number 0..7 (4 = RSV1); mask_key 4
    bytes (random by default); length: the length to announce (default: the payload's)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return head + key + apply_mask(payload, key)


def apply_mask(data, key):
    if not data:
        return b""
    # XOR with the key repeated, fast enough for a few MiB
    whole = (key * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(whole, "big")).to_bytes(len(data), "big")


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def close_code(self):
        """The status code of a close frame (None when it has no payload)."""
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self):
        return self.payload[2:]

    def __repr__(self):
        p = self.payload if len(self.payload) <= 200 else self.payload[:200] + b"..."
        return "<Frame op=%#x fin=%d rsv=%d masked=%d %r>" % (self.opcode, self.fin, self.rsv,
                                                              self.masked, p)


class HandshakeResponse:
    """The server's answer to the opening handshake (101, or a refusal with a body)."""

    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<HTTP %s %s %r body=%r>" % (self.status, self.reason, self.headers, self.body[:400])


class Closed(Exception):
    """The connection ended (EOF or reset) where a frame was expected."""


class WsConn:
    """One TCP connection: the handshake, then frames both ways."""

    def __init__(self, host, port, timeout=TIMEOUT, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.reset = False
        self.key = None
        self.response = None
        self.frames = []        # the last frames received, in order (for assertion messages)
        self.auto_pong = True   # answer the server's pings while waiting for messages
        self.pings = []         # payloads of the server's pings seen

    # ------------------------------------------------------------------ handshake

    @classmethod
    def open(cls, host, port, path, headers=None, key=None, upgrade=True, timeout=TIMEOUT,
             rcvbuf=None):
        """Connect and send the opening handshake; returns (conn, HandshakeResponse)."""
        c = cls(host, port, timeout=timeout, rcvbuf=rcvbuf)
        resp = c.handshake(path, headers=headers, key=key, upgrade=upgrade)
        return c, resp

    def handshake(self, path, headers=None, key=None, upgrade=True, host="127.0.0.1"):
        """Send a GET with the upgrade headers (unless upgrade is False; a header given in headers
        with value None is left out, one given with a value replaces the default) and read the
        answer's head (and its body when it is not 101)."""
        self.key = new_key() if key is None else key
        default = [("Host", host)]
        if upgrade:
            default += [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                        ("Sec-WebSocket-Key", self.key), ("Sec-WebSocket-Version", "13")]
        given = {k.lower(): (k, v) for k, v in headers or []}
        lines = ["GET %s HTTP/1.1" % path]
        for k, v in default:
            if k.lower() in given:
                k2, v2 = given.pop(k.lower())
                if v2 is not None:
                    lines.append("%s: %s" % (k2, v2))
            else:
                lines.append("%s: %s" % (k, v))
        for k, v in headers or []:
            if k.lower() in given and v is not None:
                lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.response = self._read_http()
        return self.response

    def _read_http(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise Closed("closed before a whole response head: %r" % self.buf)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1."), "bad status line %r" % lines[0]
        status = int(parts[1])
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        resp = HandshakeResponse(status, parts[2] if len(parts) > 2 else "", headers, b"")
        if status == 101:
            return resp
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        if "chunked" in te:
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    if not self._fill(deadline):
                        raise Closed("closed inside a chunked body")
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    if not self._fill(deadline):
                        raise Closed("closed inside a chunk")
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
            resp.body = body
        elif cl is not None:
            while len(self.buf) < int(cl):
                if not self._fill(deadline):
                    raise Closed("closed inside a body")
            resp.body, self.buf = self.buf[:int(cl)], self.buf[int(cl):]
        return resp

    def accept_ok(self):
        return self.response is not None and \
            self.response.header("Sec-WebSocket-Accept") == accept_for(self.key)

    # ------------------------------------------------------------------ bytes

    def fileno(self):
        return self.sock.fileno()

    def _fill(self, deadline):
        """Read more bytes into buf; False at EOF/reset; raises socket.timeout at deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(262144)
        except (ConnectionResetError, ConnectionAbortedError):
            self.eof = self.reset = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def feed(self):
        """Read what is there now, without waiting (for select loops over many sockets)."""
        if self.eof:
            return False
        self.sock.setblocking(False)
        try:
            chunk = self.sock.recv(262144)
            if chunk:
                self.buf += chunk
                return True
            self.eof = True
        except BlockingIOError:
            return False
        except (ConnectionResetError, ConnectionAbortedError):
            self.eof = self.reset = True
        finally:
            self.sock.setblocking(True)
        return False

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """Send, returning False instead of raising when the server has closed or reset."""
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ frames out

    def send_frame(self, opcode, payload=b"", **kw):
        return self.try_send(encode_frame(opcode, payload, **kw))

    def send_text(self, text, **kw):
        return self.send_frame(OP_TEXT, text.encode("utf-8") if isinstance(text, str) else text, **kw)

    def send_json(self, obj):
        return self.send_text(json.dumps(obj))

    def send_ping(self, payload=b""):
        return self.send_frame(OP_PING, payload)

    def send_close(self, code=None, reason=b""):
        return self.send_frame(OP_CLOSE, close_payload(code, reason))

    # ------------------------------------------------------------------ frames in

    def parse_frame(self):
        """One whole frame from buf, or None when it is not all there yet."""
        b = self.buf
        if len(b) < 2:
            return None
        fin, rsv, op = b[0] >> 7, (b[0] >> 4) & 7, b[0] & 0xF
        masked, n = b[1] >> 7, b[1] & 0x7F
        i = 2
        if n == 126:
            if len(b) < 4:
                return None
            n, i = struct.unpack("!H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, i = struct.unpack("!Q", b[2:10])[0], 10
        key = b""
        if masked:
            if len(b) < i + 4:
                return None
            key, i = b[i:i + 4], i + 4
        if len(b) < i + n:
            return None
        payload = b[i:i + n]
        if masked:
            payload = apply_mask(payload, key)
        self.buf = b[i + n:]
        f = Frame(bool(fin), rsv, op, bool(masked), payload)
        self.frames.append(f)
        if len(self.frames) > 64:
            del self.frames[:-16]
        return f

    def recv_frame(self, timeout=None):
        """The next frame; raises Closed at EOF, socket.timeout when none comes in time."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            f = self.parse_frame()
            if f is not None:
                return f
            if not self._fill(deadline):
                raise Closed("connection closed (reset=%s) with %d bytes left: %r"
                             % (self.reset, len(self.buf), self.buf[:100]))

    def recv_message(self, timeout=None):
        """(opcode, payload) of the next data message, reassembled; the server's pings are
        answered (auto_pong) and recorded; pongs skipped.  A close frame is returned as
        (OP_CLOSE, payload)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        parts, first = [], None
        while True:
            f = self.recv_frame(max(deadline - time.monotonic(), 0.001))
            if f.opcode == OP_PING:
                self.pings.append(f.payload)
                if self.auto_pong:
                    self.send_frame(OP_PONG, f.payload)
                continue
            if f.opcode == OP_PONG:
                continue
            if f.opcode == OP_CLOSE:
                return OP_CLOSE, f.payload
            if first is None:
                first = f.opcode
            parts.append(f.payload)
            if f.fin:
                return first, b"".join(parts)

    def recv_json(self, timeout=None):
        """The next text message as JSON; fails on anything else (a close frame included)."""
        op, payload = self.recv_message(timeout)
        assert op == OP_TEXT, "expected a text message, got opcode %#x %r (frames %r)" % (
            op, payload[:300], self.frames[-5:])
        return json.loads(payload.decode("utf-8"))

    def messages_until(self, pred, timeout=TIMEOUT, poke=None, poke_every=0.25):
        """Read JSON messages until pred(msg) is true for one; returns every message read, that
        one last.  poke() is called every poke_every seconds while waiting (to hurry the
        producers along).  Fails with what was read when time runs out or the socket ends."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %.1f s; messages so far: %r" % (timeout, got))
            try:
                msg = self.recv_json(min(left, poke_every) if poke else left)
            except socket.timeout:
                if poke:
                    poke()
                continue
            except Closed as e:
                raise AssertionError("socket ended (%s); messages so far: %r" % (e, got))
            got.append(msg)
            if pred(msg):
                return got

    def wait_close(self, timeout=TIMEOUT, reply=True):
        """Read until the server's close frame; returns (close code, tcp_closed).  The code is
        None when the TCP connection ended (or the time ran out) with no close frame, or when
        the close frame had no code (self.close_frame tells which).  Data frames before it are
        skipped.  When reply, a close frame with the same code is sent back, as a client must.
        tcp_closed: the server closed TCP within the remaining time."""
        deadline = time.monotonic() + timeout
        self.close_frame = None
        try:
            while True:
                f = self.recv_frame(max(deadline - time.monotonic(), 0.001))
                if f.opcode == OP_CLOSE:
                    self.close_frame = f
                    break
        except Closed:
            return None, True
        except socket.timeout:
            return None, False
        if reply:
            self.send_close(f.close_code if f.close_code not in (None, 1005, 1006, 1015) else 1000)
        return f.close_code, self.wait_eof(max(deadline - time.monotonic(), 0.001))

    def wait_eof(self, timeout=TIMEOUT):
        """True if the server closes the TCP connection within timeout (bytes read are kept)."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
        except socket.timeout:
            return False
        return True

    def is_open(self, wait=0.0):
        """No EOF and nothing unexpected pending within wait seconds (pings are fine)."""
        if self.eof:
            return False
        if not readable([self.sock], wait):
            return True
        return self.feed() or not self.eof

    def drain(self):
        """Read what has arrived and return the complete frames in it, without waiting; the
        server's pings are answered (auto_pong) and recorded."""
        self.feed()
        out = []
        while True:
            f = self.parse_frame()
            if f is None:
                return out
            if f.opcode == OP_PING:
                self.pings.append(f.payload)
                if self.auto_pong:
                    self.send_frame(OP_PONG, f.payload)
            out.append(f)


def collect(conns, done, timeout=TIMEOUT, poke=None, poke_every=0.25):
    """Read many sockets at once until done(i, messages of conns[i]) is true for every i.
    Messages are parsed JSON text messages (unfragmented), or ("close", code) for a close
    frame, or ("eof",) when the connection ended.  poke() is called now and then while
    waiting.  Returns the list of message lists; fails naming the sockets not done (or one
    that ended before it was done)."""
    msgs = [[] for _ in conns]
    pending = {i for i in range(len(conns)) if not done(i, msgs[i])}
    deadline = time.monotonic() + timeout
    last_poke = time.monotonic()
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            some = sorted(pending)[:3]
            raise AssertionError("%d of %d sockets not done after %.0f s; e.g. %r" % (
                len(pending), len(conns), timeout, [(i, msgs[i][-5:]) for i in some]))
        ready = readable([conns[i].sock for i in pending], min(left, poke_every))
        by_fd = {conns[i].sock.fileno(): i for i in pending}
        for s in ready:
            i = by_fd[s.fileno()]
            c = conns[i]
            for f in c.drain():
                if f.opcode == OP_TEXT:
                    msgs[i].append(json.loads(f.payload.decode("utf-8")))
                elif f.opcode == OP_CLOSE:
                    msgs[i].append(("close", f.close_code))
            if c.eof:
                msgs[i].append(("eof",))
            if done(i, msgs[i]):
                pending.discard(i)
            elif c.eof:
                raise AssertionError("socket %d of %d ended before it was done: %r" % (
                    i, len(conns), msgs[i][-5:]))
        if poke and time.monotonic() - last_poke >= poke_every:
            poke()
            last_poke = time.monotonic()
    return msgs
