"""frontd's own errors carry codes of its catalog (FDgnn, frontd/README.md); an error a function
raised keeps its SQLSTATE, so the two are never confused, even at the same status."""

import json
import uuid

import pytest

from flov7_client import API, expect_error


def fd(r, status, code):
    body = expect_error(r, status, code)
    assert body["code"].startswith("FD"), body
    return body


@pytest.fixture
def raising_route(q):
    """A route whose function raises the SQLSTATE given as ?code= (message, detail, hint set)."""
    tag = uuid.uuid4().hex[:10]
    fn, path = "flov7_api.test_raise_%s" % tag, API + "/test-raise-" + tag
    q("""CREATE FUNCTION %s(args jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
         BEGIN
             RAISE EXCEPTION 'raised by the function' USING ERRCODE = args->>'code',
                   DETAIL = 'its detail', HINT = 'its hint';
         END $$""" % fn)
    q("GRANT EXECUTE ON FUNCTION %s(jsonb) TO flov7_anon" % fn)
    q("INSERT INTO flov7.routes (method, path, function, status, summary, tag) "
      "VALUES ('GET', %s, %s, 200, 'raises', 'test')", (path, fn))
    yield path
    q("DELETE FROM flov7.routes WHERE path = %s", (path,))
    q("DROP FUNCTION %s(jsonb)" % fn)


def wait_routed(client, path):
    import time
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = client.get(path, params={"code": "P0001"})
        if r.status_code != 404:
            return
        time.sleep(0.2)
    raise AssertionError("route %s never loaded" % path)


def test_function_503_keeps_its_sqlstate(client, raising_route):
    wait_routed(client, raising_route)
    r = client.get(raising_route, params={"code": "PT503"})
    body = expect_error(r, 503, "PT503")
    assert (body["message"], body["details"], body["hint"]) == \
        ("raised by the function", "its detail", "its hint"), body
    assert r.headers.get("Retry-After") == "1"
    body = expect_error(client.get(raising_route, params={"code": "40001"}), 503, "40001")
    assert not body["code"].startswith("FD")


def test_function_may_not_pass_for_frontd(client, raising_route):
    """SQLSTATE class FD is frontd's: a function raising FD001 gets FD503, its code in details."""
    wait_routed(client, raising_route)
    body = fd(client.get(raising_route, params={"code": "FD001"}), 500, "FD503")
    assert body["details"] == "FD001: raised by the function", body


def test_routing_codes(client):
    fd(client.get(API + "/no-such-endpoint"), 404, "FD210")
    r = client.delete(API + "/auth/me")
    fd(r, 405, "FD211")
    assert "GET" in r.headers.get("Allow", "")
    fd(client.post("/health"), 405, "FD211")


def test_encoding_codes(send_raw):
    """(Raw socket: requests would re-encode the '%'.)"""
    for target, code in ((API + "/auth/%zz", "FD201"), (API + "/auth/me?a=%zz", "FD203"),
                         (API + "/auth/me?a=%ff", "FD204")):
        resp, _ = send_raw(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                           % target.encode())
        assert resp.status == 400 and json.loads(resp.body)["code"] == code, (target, resp.body)


def test_credential_codes(client):
    r = client.get(API + "/auth/me", headers={"Authorization": "Basic dTpw"})
    fd(r, 401, "FD303")
    assert r.headers["WWW-Authenticate"].startswith('Bearer error="invalid_request"'), r.headers
    r = client.get(API + "/auth/me", token="not-a-jwt")
    fd(r, 401, "FD306")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"], r.headers
    fd(client.get(API + "/auth/me", token="x.y.z", api_key="flv7_abc"), 401, "FD301")


def test_framing_code_closes(send_raw):
    resp, closed = send_raw(b"GET /health HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n")
    assert resp.status == 400 and closed
    body = json.loads(resp.body)
    assert body["code"] == "FD109", body
    resp, closed = send_raw(b"GET /health HTTP/3.0\r\nHost: x\r\n\r\n")
    assert resp.status == 505 and json.loads(resp.body)["code"] == "FD101"
