"""Bad input: malformed bodies, wrong shapes, invalid UTF-8, NUL bytes, oversized bodies (413)
and header blocks (431). Every case checks the JSON error shape and that the database is
unchanged."""

import json
import uuid

import pytest

from flov7_client import (
    API, assert_error_body, expect, expect_error, http_request_bytes, unique_email,
)

REGISTER = API + "/auth/register"


def users(q1):
    return q1("SELECT count(*) FROM flov7.users")


def email_exists(q1, email):
    return q1("SELECT count(*) FROM flov7.users WHERE email = %s", (email,)) > 0


# --------------------------------------------------------------------------- body shapes

@pytest.mark.parametrize("data", [
    b'{"email": "EMAIL", "password": "password-123"',        # unterminated
    b'{"email": "EMAIL", "password": }',
    b"{'email': 'EMAIL', 'password': 'password-123'}",      # single quotes
    b'{"email": "EMAIL", "password": "password-123",}',     # trailing comma
    b'not json',
    b'{"email": "EMAIL" "password": "password-123"}',
    b'{"email": "EMAIL", "password": "password-123"} trailing',
])
def test_malformed_json_400(client, q1, data):
    email = unique_email()
    before = users(q1)
    r = client.post(REGISTER, data=data.replace(b"EMAIL", email.encode()))
    body = expect_error(r, 400)
    assert body["code"] == "22P02", body
    assert users(q1) == before and not email_exists(q1, email)


@pytest.mark.parametrize("data", [b'[]', b'[{"email": "a@example.com"}]', b'42', b'"a string"',
                                  b'true', b'null', b'3.14'])
def test_body_not_an_object_400(client, q1, data):
    before = users(q1)
    body = expect_error(client.post(REGISTER, data=data), 400)
    assert body["code"] in ("22023", "22P02"), body
    assert users(q1) == before


def test_non_object_body_on_authenticated_route(client, user, q1):
    before = q1("SELECT to_jsonb(u)::text FROM flov7.users u WHERE id = %s", (user.id,))
    for data in (b'["full_name"]', b'"x"', b'{"full_name": "x"', b'\x00'):
        expect_error(client.put(API + "/users/profile", token=user.access, data=data), 400)
    assert q1("SELECT to_jsonb(u)::text FROM flov7.users u WHERE id = %s", (user.id,)) == before


def test_empty_body_means_missing_fields_400(client, q1):
    before = users(q1)
    r = client.request("POST", REGISTER, headers={"Content-Type": "application/json",
                                                  "Content-Length": "0"})
    expect_error(r, 400)
    expect_error(client.post(REGISTER, data=b"{}"), 400)
    assert users(q1) == before


@pytest.mark.parametrize("bad", [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                                 b"\xc0\xaf"])
def test_invalid_utf8_in_json_string_400(client, q1, bad):
    email = unique_email()
    before = users(q1)
    data = b'{"email": "' + email.encode() + b'", "password": "password-123", "full_name": "A' + \
        bad + b'B"}'
    r = client.post(REGISTER, data=data)
    expect_error(r, 400)
    assert users(q1) == before and not email_exists(q1, email)


def test_nul_bytes_400(client, q1):
    email = unique_email()
    before = users(q1)
    # a raw NUL byte in the body
    raw = b'{"email": "' + email.encode() + b'", "password": "password-123", "full_name": "A\x00B"}'
    expect_error(client.post(REGISTER, data=raw), 400)
    # an escaped \u0000 (jsonb cannot hold it)
    esc = json.dumps({"email": email, "password": "password-123", "full_name": "A\u0000B"})
    assert "\\u0000" in esc
    expect_error(client.post(REGISTER, data=esc), 400)
    assert users(q1) == before and not email_exists(q1, email)


def test_deeply_nested_json_is_not_a_server_error(client, q1):
    email = unique_email()
    depth = 20000
    data = ('{"email": "%s", "password": "password-123", "x": ' % email + "[" * depth +
            "]" * depth + "}").encode()
    before = users(q1)
    r = client.post(REGISTER, data=data)
    # bad input, never a 500 (DESIGN.md); a stack-depth error is a limit (413) or bad input (400)
    assert r.status_code in (400, 413), r.text[:300]
    assert_error_body(r.json())
    assert users(q1) == before and not email_exists(q1, email)


def test_unknown_fields_and_unicode_ok(client):
    email = unique_email()
    r = client.post(REGISTER, json_body={"email": email, "password": "password-123",
                                         "full_name": "Zo\u00eb \u6771\u4eac \U0001F600"})
    tok = expect(r, 201)
    assert tok["user"]["full_name"] == "Zo\u00eb \u6771\u4eac \U0001F600"


# --------------------------------------------------------------------------- 413

def big_register_body(email, total):
    head = ('{"email": "%s", "password": "password-123", "pad": "' % email).encode()
    tail = b'"}'
    return head + b"a" * (total - len(head) - len(tail)) + tail


def read_or_push(conn, body, step=65536, wait=5):
    """Wait for an early answer; if none, push the body (stopping at an answer) and read."""
    if not conn.readable(wait):
        for i in range(0, len(body), step):
            if conn.readable(0):
                break
            if not conn.try_send(body[i:i + step]):
                break
    return conn.read_response()


def test_oversized_body_content_length_413(raw, cfg, q1):
    email = unique_email()
    body = big_register_body(email, cfg["max_body"] + 1)
    before = users(q1)
    c = raw()
    c.send(http_request_bytes("POST", REGISTER, headers=[
        ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]))
    resp = read_or_push(c, body)
    assert resp is not None, "connection closed with no response"
    assert resp.status == 413, resp
    assert resp.header("X-Request-Id")
    assert_error_body(resp.json())
    assert users(q1) == before and not email_exists(q1, email)


def test_oversized_body_huge_content_length_413(raw, q1):
    before = users(q1)
    c = raw()
    c.send(http_request_bytes("POST", REGISTER, headers=[
        ("Content-Type", "application/json"), ("Content-Length", str(10 ** 12))]) + b'{"email":')
    resp = c.read_response()
    assert resp is not None and resp.status == 413, resp
    assert_error_body(resp.json())
    assert users(q1) == before


def test_oversized_body_chunked_413(raw, cfg, q1):
    email = unique_email()
    before = users(q1)
    c = raw()
    c.send(http_request_bytes("POST", REGISTER, headers=[
        ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]))
    body = big_register_body(email, cfg["max_body"] + 65536)
    step = 32768
    for i in range(0, len(body), step):
        if c.readable(0):
            break
        piece = body[i:i + step]
        if not c.try_send(b"%x\r\n" % len(piece) + piece + b"\r\n"):
            break
    else:
        c.try_send(b"0\r\n\r\n")
    resp = c.read_response()
    assert resp is not None, "connection closed with no response"
    assert resp.status == 413, resp
    assert_error_body(resp.json())
    assert users(q1) == before and not email_exists(q1, email)


def test_body_just_under_the_limit_is_accepted(client, cfg, q1):
    email = unique_email()
    body = big_register_body(email, cfg["max_body"] - 1024)
    r = client.post(API + "/auth/login", data=body)
    # reaches the database: unknown email -> 401, not 413
    expect_error(r, 401)


# --------------------------------------------------------------------------- 431

@pytest.mark.parametrize("shape", ["one-big-header", "many-headers"])
def test_oversized_header_block_431(raw, cfg, q1, shape):
    email = unique_email()
    body = json.dumps({"email": email, "password": "password-123"}).encode()
    if shape == "one-big-header":
        extra = [("X-Pad", "a" * (cfg["max_header"] + 100))]
    else:
        extra = [("X-Pad-%d" % i, "b" * 60) for i in range(cfg["max_header"] // 60 + 10)]
    before = users(q1)
    c = raw()
    c.send(http_request_bytes("POST", REGISTER, body=body,
                              headers=[("Content-Type", "application/json")] + extra))
    resp = c.read_response()
    assert resp is not None, "connection closed with no response"
    assert resp.status == 431, resp
    assert_error_body(resp.json())
    assert users(q1) == before and not email_exists(q1, email)


def test_unterminated_oversized_header_block_431_without_waiting(raw, cfg):
    c = raw()
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (cfg["max_header"] + 100)
    c.send(head)
    # answered on the size alone (a 408 here means frontd buffers headers without bound
    # until the header timeout)
    resp = c.read_response()
    assert resp is not None, "connection closed with no response"
    assert resp.status == 431, resp


def test_header_block_under_the_limit_ok(client, cfg):
    r = client.get("/health", headers={"X-Pad": "c" * (cfg["max_header"] - 1024)})
    assert r.status_code == 200, r.text


def test_bad_uuid_in_path_400(client, user):
    for path in ("/users/integrations/123", "/users/notifications/xyz/read",
                 "/auth/api-keys/" + "g" * 36):
        method = "PUT" if path.endswith("/read") else "GET" if "integrations" in path else "DELETE"
        expect_error(client.request(method, API + path, token=user.access), 400)
    # a valid uuid that names nothing is 404
    expect_error(client.get(API + "/users/integrations/" + str(uuid.uuid4()), token=user.access), 404)
