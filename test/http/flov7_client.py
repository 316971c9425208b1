"""Helpers for the black-box HTTP suite of flov7: an HTTP client wrapper, JWT forging
(standard library only), a raw-socket HTTP/1.1 client and the error-body checks.

Everything here talks to a running stack described by the FLOV7_* environment variables
that test/run.sh exports; nothing here knows about frontd's or the extension's internals
beyond frontd/CONTRACT.md.
"""

import base64
import hashlib
import hmac
import json
import os
import select
import socket
import time
import uuid

import requests

# Generous: the harness also runs the suite with frontd under valgrind (~20x slower).
TIMEOUT = 30

API = "/api/v1"

ERROR_KEYS = {"code", "message", "details", "hint"}

# Field names of the User shape (shared/DESIGN.md "Resource shapes").
USER_KEYS = {
    "id", "email", "full_name", "avatar_url", "is_active", "is_verified", "role",
    "subscription_plan", "subscription_expires_at", "created_at", "updated_at", "last_login",
}
TOKEN_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "user"}
API_KEY_KEYS = {
    "id", "name", "permissions", "is_active", "expires_at", "last_used_at", "usage_count",
    "created_at",
}
INTEGRATION_KEYS = {
    "id", "service_name", "service_type", "is_active", "last_used_at", "usage_count",
    "created_at", "updated_at",
}
NOTIFICATION_KEYS = {"id", "type", "title", "message", "data", "is_read", "read_at", "created_at"}
LIST_KEYS = {"items", "total", "limit", "offset"}


def env(name, default=None):
    """An FLOV7_* variable exported by test/run.sh."""
    return os.environ.get(name, default)


def unique_email(tag="u"):
    """A fresh, never-used email address, so tests are independent and re-runnable."""
    return "%s-%s@example.com" % (tag, uuid.uuid4().hex[:16])


# --------------------------------------------------------------------------- HTTP client

class Client:
    """Thin wrapper over requests that knows the base URL, the timeout and auth styles."""

    def __init__(self, base_url, user_agent="flov7-http-tests/1.0"):
        self.base = base_url.rstrip("/")
        self.user_agent = user_agent

    def request(self, method, path, token=None, api_key=None, bearer_key=None, json_body=None,
                data=None, headers=None, params=None, allow_redirects=False):
        h = {"User-Agent": self.user_agent}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if bearer_key is not None:
            h["Authorization"] = "Bearer " + bearer_key
        if api_key is not None:
            h["X-API-Key"] = api_key
        if json_body is not None:
            data = json.dumps(json_body)
        if data is not None:
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        url = path if path.startswith("http") else self.base + path
        return requests.request(method, url, data=data, headers=h, params=params,
                                timeout=TIMEOUT, allow_redirects=allow_redirects)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def describe(r):
    """One line for assertion messages: method, url, status and the start of the body."""
    body = r.text if len(r.text) < 600 else r.text[:600] + "..."
    return "%s %s -> %s %s" % (r.request.method, r.request.url, r.status_code, body)


def expect(r, status):
    """Assert the exact status; return the parsed JSON body (None for an empty body)."""
    assert r.status_code == status, describe(r)
    assert "X-Request-Id" in r.headers, "no X-Request-Id: " + describe(r)
    if status == 204:
        assert r.content == b"", "204 with a body: " + describe(r)
        return None
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), "Content-Type %r: %s" % (ctype, describe(r))
    return r.json()


def assert_error_body(body, code=None):
    """The error shape of the contract: exactly code, message, details, hint."""
    assert isinstance(body, dict), body
    assert set(body) == ERROR_KEYS, "error body keys %r" % sorted(body)
    assert isinstance(body["code"], str) and body["code"], body
    assert isinstance(body["message"], str) and body["message"], body
    assert body["details"] is None or isinstance(body["details"], str), body
    assert body["hint"] is None or isinstance(body["hint"], str), body
    if code is not None:
        assert body["code"] == code, body
    # never a stack trace
    text = json.dumps(body)
    for leak in ("Traceback", "backtrace", " at 0x", ".c:"):
        assert leak not in text, "stack-trace-like text in error: %s" % text


def expect_error(r, status, code=None):
    """Assert an error response: exact status, JSON error shape; return the body."""
    assert r.status_code == status, describe(r)
    assert "X-Request-Id" in r.headers, "no X-Request-Id: " + describe(r)
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), "Content-Type %r: %s" % (ctype, describe(r))
    body = r.json()
    assert_error_body(body, code)
    return body


def expect_401(r):
    """401 with a WWW-Authenticate: Bearer challenge and the error shape."""
    body = expect_error(r, 401)
    www = r.headers.get("WWW-Authenticate", "")
    assert www.startswith("Bearer"), "WWW-Authenticate %r: %s" % (www, describe(r))
    return body


def assert_user_shape(u, email=None):
    assert isinstance(u, dict), u
    assert USER_KEYS <= set(u), "User lacks %r" % sorted(USER_KEYS - set(u))
    assert_no_secret_fields(u)
    uuid.UUID(u["id"])
    if email is not None:
        assert u["email"] == email.lower() or u["email"] == email, u
    assert u["role"] in ("user", "premium", "admin"), u
    assert isinstance(u["is_active"], bool), u


def assert_no_secret_fields(obj):
    """No key anywhere named like a password, hash or secret; no bcrypt hash as a value."""
    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                lk = k.lower()
                assert "password" not in lk and "hash" not in lk and "secret" not in lk \
                    and "salt" not in lk and lk != "credentials", "secret-like key %r in %r" % (k, obj)
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
        elif isinstance(o, str):
            assert not o.startswith(("$2a$", "$2b$", "$2y$", "$1$", "$5$", "$6$")), \
                "hash-like value %r" % o
    walk(obj)


def assert_token_shape(t, email=None):
    assert isinstance(t, dict), t
    assert TOKEN_KEYS <= set(t), "Token lacks %r" % sorted(TOKEN_KEYS - set(t))
    assert t["token_type"] == "bearer", t
    assert isinstance(t["expires_in"], int) and t["expires_in"] > 0, t
    assert isinstance(t["access_token"], str) and t["access_token"].count(".") == 2, t
    assert isinstance(t["refresh_token"], str) and len(t["refresh_token"]) >= 16, t
    assert_user_shape(t["user"], email)


def assert_list_shape(body, limit=None, offset=None):
    assert isinstance(body, dict), body
    assert LIST_KEYS <= set(body), "list lacks %r" % sorted(LIST_KEYS - set(body))
    assert isinstance(body["items"], list), body
    assert isinstance(body["total"], int) and body["total"] >= len(body["items"]), body
    if limit is not None:
        assert body["limit"] == limit, body
        assert len(body["items"]) <= limit, body
    if offset is not None:
        assert body["offset"] == offset, body


# --------------------------------------------------------------------------- JWT

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(s):
    s = s + "=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(s.encode("ascii"))


def jwt_parts(token):
    """(header dict, payload dict, signature bytes) of a compact JWT, unverified."""
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), b64url_decode(s)


def jwt_sign(payload, secret, alg="HS256", header=None, raw_payload=None):
    """A compact JWS. alg HS256/HS384/HS512 signs with secret; alg 'none' leaves it unsigned."""
    hdr = {"alg": alg, "typ": "JWT"} if header is None else header
    h = b64url(json.dumps(hdr, separators=(",", ":")).encode())
    if raw_payload is not None:
        p = b64url(raw_payload)
    else:
        p = b64url(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = (h + "." + p).encode()
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    if alg in digest:
        key = secret.encode() if isinstance(secret, str) else secret
        sig = b64url(hmac.new(key, signing_input, digest[alg]).digest())
    else:
        sig = ""
    return h + "." + p + "." + sig


def jwt_verify_hs256(token, secret):
    h, p, s = token.split(".")
    mac = hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest()
    return hmac.compare_digest(mac, b64url_decode(s))


def claims_for(user_id, email="nobody@example.com", role="flov7_user", app_role="user",
               lifetime=600, **over):
    """A complete claim set like the extension issues (CONTRACT.md "JWT claims")."""
    now = int(time.time())
    c = {"sub": str(user_id), "role": role, "app_role": app_role, "email": email,
         "jti": str(uuid.uuid4()), "sid": str(uuid.uuid4()), "iat": now, "nbf": now,
         "exp": now + lifetime, "iss": "flov7"}
    c.update(over)
    return c


# --------------------------------------------------------------------------- raw sockets

class RawResponse:
    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value)
        self.body = body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<RawResponse %s %s %r %r>" % (self.status, self.reason, self.headers,
                                               self.body[:300])


class RawConn:
    """A raw TCP connection to frontd: send bytes, parse HTTP/1.1 responses, detect close."""

    def __init__(self, host, port, timeout=TIMEOUT):
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.reset = False
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """Send, returning False instead of raising if the peer has closed/reset."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            return False

    def _fill(self, deadline):
        """Read more bytes into buf; False at EOF/reset; raises socket.timeout at deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            self.eof = True
            self.reset = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def readable(self, wait):
        """True if data (or EOF) is available within wait seconds."""
        if self.buf or self.eof:
            return True
        r, _, _ = select.select([self.sock], [], [], wait)
        return bool(r)

    def read_response(self, timeout=None, head=False):
        """Parse one response; None if the connection closed before any byte of it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                if not self.buf:
                    return None
                raise AssertionError("connection closed inside a response head: %r" % self.buf)
        head_bytes, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head_bytes.split(b"\r\n")
        status_line = lines[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        assert len(parts) >= 2 and parts[0].startswith("HTTP/1."), "bad status line %r" % status_line
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            k, _, v = line.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        self.buf = rest
        resp = RawResponse(version, status, reason, headers, b"")
        if head or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        if "chunked" in te:
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    if not self._fill(deadline):
                        raise AssertionError("closed inside chunked body")
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while b"\r\n" not in self.buf:
                        if not self._fill(deadline):
                            break
                    # trailers are not expected; consume the final CRLF
                    if self.buf.startswith(b"\r\n"):
                        self.buf = self.buf[2:]
                    break
                while len(self.buf) < size + 2:
                    if not self._fill(deadline):
                        raise AssertionError("closed inside a chunk")
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
            resp.body = body
        elif cl is not None:
            n = int(cl)
            while len(self.buf) < n:
                if not self._fill(deadline):
                    raise AssertionError("closed inside a body: got %d of %d" % (len(self.buf), n))
            resp.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            while self._fill(deadline):
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def wait_closed(self, timeout=None):
        """True if the peer closes (EOF or reset) within timeout with no more bytes sent."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while self._fill(deadline):
                pass
        except socket.timeout:
            return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http_request_bytes(method, path, host="127.0.0.1", headers=None, body=None, version="HTTP/1.1"):
    """Bytes of a well-formed request; headers a list of (name, value)."""
    lines = ["%s %s %s" % (method, path, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    for k, v in headers or []:
        lines.append("%s: %s" % (k, v))
    if body is not None and not any(k.lower() in ("content-length", "transfer-encoding")
                                    for k, _ in headers or []):
        lines.append("Content-Length: %d" % len(body))
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return raw + (body or b"")


def chunked(body, size=1024):
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


# --------------------------------------------------------------------------- Prometheus text

def parse_prometheus(text):
    """{family: type} and [(name, {label: value}, value)] from the text exposition format."""
    types = {}
    samples = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(None, 3)
            types[name] = typ.strip()
            continue
        if line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels_s, value_s = rest.rsplit("}", 1)
            labels = {}
            i = 0
            while i < len(labels_s):
                eq = labels_s.index("=", i)
                k = labels_s[i:eq].strip().lstrip(",").strip()
                assert labels_s[eq + 1] == '"', line
                j = eq + 2
                v = ""
                while labels_s[j] != '"':
                    if labels_s[j] == "\\":
                        j += 1
                        v += {"n": "\n"}.get(labels_s[j], labels_s[j])
                    else:
                        v += labels_s[j]
                    j += 1
                labels[k] = v
                i = j + 1
                while i < len(labels_s) and labels_s[i] in ", ":
                    i += 1
            value = float(value_s.split()[0])
        else:
            name, value_s = line.split(None, 1)
            labels = {}
            value = float(value_s.split()[0])
        samples.append((name.strip(), labels, value))
    return types, samples


# --------------------------------------------------------------------------- the route table

# CONTRACT.md "Endpoints of this release": (method, path under /api/v1, success status)
ROUTES = [
    ("POST", "/auth/register", 201),
    ("POST", "/auth/login", 200),
    ("POST", "/auth/refresh", 200),
    ("POST", "/auth/logout", 200),
    ("GET", "/auth/me", 200),
    ("GET", "/auth/verify", 200),
    ("POST", "/auth/api-keys", 201),
    ("GET", "/auth/api-keys", 200),
    ("DELETE", "/auth/api-keys/{key_id}", 204),
    ("GET", "/users/profile", 200),
    ("PUT", "/users/profile", 200),
    ("GET", "/users/stats", 200),
    ("POST", "/users/integrations", 201),
    ("GET", "/users/integrations", 200),
    ("GET", "/users/integrations/{id}", 200),
    ("PUT", "/users/integrations/{id}", 200),
    ("DELETE", "/users/integrations/{id}", 204),
    ("GET", "/users/notifications", 200),
    ("PUT", "/users/notifications/{id}/read", 200),
    ("PUT", "/users/notifications/read-all", 200),
    ("GET", "/users/admin/users", 200),
    ("PUT", "/users/admin/users/{id}/role", 200),
    ("PUT", "/users/admin/users/{id}/status", 200),
    ("GET", "/users/admin/stats", 200),
    ("GET", "/primitives", 200),
    ("POST", "/workflows", 201),
    ("GET", "/workflows", 200),
    ("GET", "/workflows/{id}", 200),
    ("PUT", "/workflows/{id}", 200),
    ("DELETE", "/workflows/{id}", 204),
    ("GET", "/workflows/templates", 200),
    ("POST", "/workflows/templates/{id}/use", 201),
    ("POST", "/workflows/{id}/execute", 202),
    ("GET", "/workflows/{id}/executions", 200),
    ("GET", "/workflows/executions/{id}", 200),
    ("POST", "/workflows/executions/{id}/cancel", 200),
    ("POST", "/workflows/executions/{id}/retry", 200),
    ("GET", "/workflows/schemas", 200),
    ("POST", "/workflows/schemas", 201),
    ("GET", "/workflows/schemas/{name}", 200),
    ("PUT", "/workflows/schemas/{name}", 200),
    ("DELETE", "/workflows/schemas/{name}", 204),
    ("GET", "/workflows/message-templates", 200),
    ("POST", "/workflows/message-templates", 201),
    ("GET", "/workflows/message-templates/{name}", 200),
    ("PUT", "/workflows/message-templates/{name}", 200),
    ("DELETE", "/workflows/message-templates/{name}", 204),
    ("POST", "/realtime/notify/workflow-status", 200),
    ("POST", "/realtime/notify/user-notification", 200),
    ("POST", "/realtime/broadcast/system-announcement", 200),
    ("GET", "/realtime/events", 200),
    ("GET", "/realtime/ws/workflows/{user_id}", 101),
    ("GET", "/realtime/ws/notifications/{user_id}", 101),
    ("GET", "/realtime/sse/workflows", 200),
    ("GET", "/realtime/sse/notifications", 200),
]
