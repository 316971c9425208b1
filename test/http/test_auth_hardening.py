"""Issue 8 over HTTP: API keys made with a key end with their parent; deactivation ends every
session; logout with an API key is a 400 that says how keys are revoked; authentication events
are audited with IP, User-Agent and request id (failed logins too, although the login is
refused); failed logins are throttled per address in the database (429 + Retry-After); a wrong
current password is a 400, not a 401."""

import datetime
import time
import uuid

from conftest import login
from flov7_client import (
    API, claims_for, expect, expect_401, expect_error, jwt_parts, jwt_sign, unique_email,
)
from test_admin import set_status
from test_audit import audit, explain, find

KEYS = API + "/auth/api-keys"


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def make_key(client, name, token=None, api_key=None, **body):
    body["name"] = name
    return client.post(KEYS, token=token, api_key=api_key, json_body=body)


def me(client, **cred):
    return client.get(API + "/auth/me", **cred)


# --------------------------------------------------------------------------- 1. keys made with keys

def test_key_made_with_key_expires_with_parent_and_dies_with_it(client, user, q1):
    expires = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).isoformat()
    parent = expect(make_key(client, "parent", token=user.access, expires_at=expires,
                             permissions=["api_keys:write", "api_keys:read", "profile:read"]), 201)
    assert parent["parent_id"] is None, parent
    child = expect(make_key(client, "child", api_key=parent["key"],
                            permissions=["api_keys:write", "profile:read"]), 201)
    assert child["parent_id"] == parent["id"], child
    assert ts(child["expires_at"]) == ts(parent["expires_at"]), (child, parent)
    grand = expect(make_key(client, "grand", api_key=child["key"], permissions=["profile:read"]), 201)
    assert grand["parent_id"] == child["id"], grand

    # a child may not outlive its parent: 400, nothing created
    before = q1("SELECT count(*) FROM flov7.api_keys WHERE user_id = %s", (user.id,))
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)).isoformat()
    body = expect_error(make_key(client, "late", api_key=parent["key"], expires_at=later), 400, "22023")
    assert "expires_at" in body["message"], body
    assert q1("SELECT count(*) FROM flov7.api_keys WHERE user_id = %s", (user.id,)) == before

    expect(me(client, api_key=grand["key"]), 200)
    # revoking the parent ends its descendants at their next request
    expect(client.delete(KEYS + "/" + parent["id"], token=user.access), 204)
    for k in (parent, child, grand):
        assert "revoked" in expect_401(me(client, api_key=k["key"]))["message"]
    assert q1("SELECT count(*) FROM flov7.api_keys WHERE id IN (%s, %s, %s) AND NOT is_active",
              (parent["id"], child["id"], grand["id"])) == 3
    # the user's own login is untouched
    expect(me(client, token=user.access), 200)


def test_child_of_expired_key_is_refused(client, user, q):
    # "expires_at": null asks for no expiry (a key expires in 365 days by default)
    parent = expect(make_key(client, "no-expiry", token=user.access,
                             permissions=["api_keys:write", "profile:read"], expires_at=None), 201)
    child = expect(make_key(client, "child", api_key=parent["key"], permissions=["profile:read"],
                            expires_at=None), 201)
    assert parent["expires_at"] is None and child["expires_at"] is None, child
    expect(me(client, api_key=child["key"]), 200)
    q("UPDATE flov7.api_keys SET expires_at = now() - interval '1 minute' WHERE id = %s", (parent["id"],))
    assert "expired" in expect_401(me(client, api_key=child["key"]))["message"]


# --------------------------------------------------------------------------- 2. deactivation, logout

def test_deactivation_ends_every_session_for_good(client, admin, user, secret):
    other = login(client, user.email, user.password)
    # an access token without sid (flov7 never issues one; a holder of the secret may), issued earlier
    now = int(time.time())
    claims = claims_for(user.id, email=user.email, iat=now - 5, nbf=now - 5)
    del claims["sid"]
    nosid = jwt_sign(claims, secret)
    for tok in (user.access, other["access_token"], nosid):
        expect(me(client, token=tok), 200)

    set_status(client, admin, user.id, False)
    set_status(client, admin, user.id, True)

    # reactivation brings none of them back
    for tok in (user.access, other["access_token"], nosid):
        expect_401(me(client, token=tok))
    for rt in (user.refresh, other["refresh_token"]):
        expect_401(client.post(API + "/auth/refresh", json_body={"refresh_token": rt}))
    fresh = login(client, user.email, user.password)
    expect(me(client, token=fresh["access_token"]), 200)


def test_logout_with_api_key_is_400_and_revokes_nothing(client, user):
    k = expect(make_key(client, "ci", token=user.access), 201)
    for cred in ({"api_key": k["key"]}, {"bearer_key": k["key"]}):
        r = client.post(API + "/auth/logout", json_body={"refresh_token": user.refresh}, **cred)
        body = expect_error(r, 400, "22023")
        assert "DELETE /api/v1/auth/api-keys/{key_id}" in body["message"], body
        assert "WWW-Authenticate" not in r.headers, r.headers
    expect(me(client, api_key=k["key"]), 200)
    expect(me(client, token=user.access), 200)
    expect(client.post(API + "/auth/refresh", json_body={"refresh_token": user.refresh}), 200)


# --------------------------------------------------------------------------- 3. audit

def test_failed_login_audited_although_refused(client, user, q, ua):
    rid = "audit-" + uuid.uuid4().hex
    expect_401(client.post(API + "/auth/login", json_body={"email": user.email, "password": "wrong-pw"},
                           headers={"X-Request-Id": rid}))
    rows = audit(q, user.id)
    failed = find(rows, "login_failed", None, ua, rid)
    assert failed, explain(rows)
    assert failed[0]["owner_id"] == user.id, failed
    assert failed[0]["new_data"]["reason"] == "invalid_credentials", failed

    ghost = unique_email()
    rid = "audit-" + uuid.uuid4().hex
    expect_401(client.post(API + "/auth/login", json_body={"email": ghost, "password": "wrong-pw"},
                           headers={"X-Request-Id": rid}))
    (n,), = q("SELECT count(*) FROM flov7.audit_logs WHERE action = 'login_failed' AND owner_id IS NULL "
              "AND new_data ->> 'email' = %s AND request_id = %s AND user_agent = %s "
              "AND host(ip_address) = '127.0.0.1'", (ghost, rid, ua))
    assert n == 1


def test_authentication_events_audited(client, user, q, ua):
    def one(action, actor, rid, **match):
        rows = find(audit(q, user.id), action, actor, ua, rid)
        assert len(rows) == 1, explain(audit(q, user.id))
        for k, v in match.items():
            assert rows[0]["new_data"].get(k) == v, rows[0]
        return rows[0]

    rid = "audit-" + uuid.uuid4().hex
    tok = expect(client.post(API + "/auth/login", json_body={"email": user.email, "password": user.password},
                             headers={"X-Request-Id": rid}), 200)
    sid = jwt_parts(tok["access_token"])[1]["sid"]
    one("login", user.id, rid, session_id=sid)

    rid = "audit-" + uuid.uuid4().hex
    expect(client.post(API + "/auth/refresh", json_body={"refresh_token": tok["refresh_token"]},
                       headers={"X-Request-Id": rid}), 200)
    one("refresh", user.id, rid, session_id=sid)
    rid = "audit-" + uuid.uuid4().hex
    expect_401(client.post(API + "/auth/refresh", json_body={"refresh_token": tok["refresh_token"]},
                           headers={"X-Request-Id": rid}))
    one("refresh_reuse", None, rid, session_id=sid)

    rid = "audit-" + uuid.uuid4().hex
    expect(client.post(API + "/auth/logout", token=user.access, headers={"X-Request-Id": rid}), 200)
    one("logout", user.id, rid, session_id=jwt_parts(user.access)[1]["sid"])

    again = login(client, user.email, user.password)
    rid = "audit-" + uuid.uuid4().hex
    expect(client.put(API + "/users/profile", token=again["access_token"], headers={"X-Request-Id": rid},
                      json_body={"current_password": user.password, "new_password": "new-pw-" + uuid.uuid4().hex}), 200)
    one("password_change", user.id, rid)


# --------------------------------------------------------------------------- 4. throttling

def fail(client, email, password="wrong-password", **kw):
    return client.post(API + "/auth/login", json_body={"email": email, "password": password}, **kw)


def expect_429(r):
    body = expect_error(r, 429, "PT429")
    ra = r.headers.get("Retry-After", "")
    assert ra.isdigit() and 0 < int(ra) <= 60, r.headers
    assert "WWW-Authenticate" not in r.headers, r.headers
    return body, int(ra)


def test_login_locked_after_failures_429_retry_after(client, user, q, q1, ua):
    for _ in range(4):
        expect_401(fail(client, user.email))
    body, _ = expect_429(fail(client, user.email.upper(), headers={"Origin": "http://allowed.example"}))
    assert body["message"] == "too many failed logins", body
    # the right password is refused while the address is locked; no session is made
    sessions = q1("SELECT count(*) FROM flov7.refresh_tokens WHERE user_id = %s", (user.id,))
    r = fail(client, user.email, user.password, headers={"Origin": "http://allowed.example"})
    expect_429(r)
    assert "Retry-After" in r.headers.get("Access-Control-Expose-Headers", ""), r.headers
    assert "access_token" not in r.text
    assert q1("SELECT count(*) FROM flov7.refresh_tokens WHERE user_id = %s", (user.id,)) == sessions
    assert find(audit(q, user.id), "login_locked", None, ua), explain(audit(q, user.id))
    # the state is in the database: every connection (every frontd instance) sees the lock
    q("BEGIN")
    try:
        q("SET LOCAL ROLE flov7_anon")
        (code, status), = q("SELECT r ->> 'code', current_setting('response.status', true) "
                            "FROM flov7_api.auth_login(%s::jsonb) r",
                            ('{"email": "%s", "password": "%s"}' % (user.email, user.password),))
    finally:
        q("COMMIT")
    assert (status, code) == ("429", "PT429")
    # once the lock is over, the right password logs in
    q("UPDATE flov7.login_throttle SET locked_until = now() - interval '1 second' WHERE email = %s",
      (user.email.lower(),))
    tok = login(client, user.email, user.password)
    expect(me(client, token=tok["access_token"]), 200)
    assert q1("SELECT count(*) FROM flov7.login_throttle WHERE email = %s", (user.email.lower(),)) == 0


def test_unknown_address_throttled_the_same_way(client, user):
    ghost = unique_email()
    known, unknown = [], []
    for _ in range(5):
        known.append(fail(client, user.email))
        unknown.append(fail(client, ghost))
    for rk, ru in zip(known, unknown):
        assert rk.status_code == ru.status_code, (rk.text, ru.text)
        assert rk.json()["code"] == ru.json()["code"] and rk.json()["message"] == ru.json()["message"]
    expect_429(known[-1])
    expect_429(unknown[-1])


# --------------------------------------------------------------------------- 5. password change

def test_wrong_current_password_is_400_and_keeps_the_token(client, user, q1):
    before = q1("SELECT password_hash FROM flov7.user_passwords WHERE user_id = %s", (user.id,))
    r = client.put(API + "/users/profile", token=user.access,
                   json_body={"full_name": "Changed", "current_password": "not-it", "new_password": "whatever-123"})
    body = expect_error(r, 400, "22023")
    assert body["message"] == "current password is incorrect", body
    assert "WWW-Authenticate" not in r.headers, r.headers
    assert q1("SELECT password_hash FROM flov7.user_passwords WHERE user_id = %s", (user.id,)) == before
    assert expect(me(client, token=user.access), 200)["full_name"] == "Test User"
