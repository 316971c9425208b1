"""The original platform's shapes, endpoint by endpoint (issue 9), in both API profiles: every test
runs once with flov7's profile and once with `original` (flov7.set_api_profile, switched back
after each test), and asserts the shape of its profile: field names and types of the original's
models (shared/DESIGN.md "Resource shapes", the issue's list), its envelopes, list keys, success
statuses and error bodies."""

import time
import uuid

import pytest

from flov7_client import API, ERROR_KEYS, TOKEN_KEYS, USER_KEYS, describe, unique_email

ADMIN = API + "/users/admin/users"

STR, OPT_STR = (str,), (str, type(None))
USER_TYPES = {
    "id": STR, "email": STR, "full_name": OPT_STR, "avatar_url": OPT_STR, "is_active": (bool,),
    "is_verified": (bool,), "role": STR, "subscription_plan": STR, "subscription_expires_at": OPT_STR,
    "created_at": STR, "updated_at": OPT_STR, "last_login": OPT_STR,
}
KEY_TYPES = {
    "id": STR, "name": STR, "description": OPT_STR, "key_preview": STR, "is_active": (bool,),
    "expires_at": OPT_STR, "last_used_at": OPT_STR, "usage_count": (int,), "created_at": STR,
}
INTEGRATION_TYPES = {
    "id": STR, "user_id": STR, "service_name": STR, "service_type": STR, "credentials": (dict,),
    "is_active": (bool,), "last_used_at": OPT_STR, "usage_count": (int,), "created_at": STR,
    "updated_at": OPT_STR,
}
NOTIFICATION_TYPES = {
    "id": STR, "user_id": STR, "type": STR, "title": STR, "message": OPT_STR,
    "data": (dict, list, type(None)), "is_read": (bool,), "read_at": OPT_STR, "created_at": STR,
}


def typed(obj, types, what):
    """obj has every field of types, each of one of its types."""
    assert isinstance(obj, dict), (what, obj)
    missing = sorted(set(types) - set(obj))
    assert not missing, "%s lacks %s: %r" % (what, missing, obj)
    for k, t in types.items():
        v = obj[k]
        # bool is an int in Python: an int field must not be a boolean
        ok = isinstance(v, t) and (bool in t or not isinstance(v, bool))
        assert ok, "%s.%s is %r, wanted %s" % (what, k, v, t)


def answer(r, status):
    assert r.status_code == status, describe(r)
    return r.json() if r.content else None


def unauthenticated_me(client):
    return client.get(API + "/auth/me")


def serving(client, profile):
    """Whether frontd answers with the routes of profile (its table reloads on NOTIFY)."""
    r = unauthenticated_me(client)
    if profile == "original":
        return r.status_code == 403 and r.json() == {"detail": "Not authenticated"}
    return r.status_code == 401 and ERROR_KEYS <= set(r.json())


def switch(q, client, profile):
    q("SELECT flov7.set_api_profile(%s)", (profile,))
    deadline = time.monotonic() + 60
    while not serving(client, profile):
        assert time.monotonic() < deadline, "frontd did not reload its routes for %s" % profile
        time.sleep(0.05)


@pytest.fixture(params=["flov7", "original"])
def profile(request, q, client):
    switch(q, client, request.param)
    yield request.param
    switch(q, client, "flov7")


def orig(profile):
    return profile == "original"


def error(r, status, profile, field=None, where="body"):
    """The error body of the profile; in the original one, a 422 names the field."""
    body = answer(r, status)
    if not orig(profile):
        assert ERROR_KEYS <= set(body), body
        return body["message"]
    assert set(body) == {"detail"}, body
    if field is None:
        assert isinstance(body["detail"], str), body
        return body["detail"]
    d = body["detail"]
    assert isinstance(d, list) and len(d) == 1 and set(d[0]) == {"loc", "msg", "type"}, body
    assert d[0]["loc"] == [where] + field.split("."), body
    assert isinstance(d[0]["msg"], str) and d[0]["type"].startswith(("value_error", "type_error")), body
    return d[0]["msg"]


def bad_input(profile):
    """The status of bad input naming a field: 400 in flov7's profile, 422 in the original's."""
    return 422 if orig(profile) else 400


def created(profile):
    return 200 if orig(profile) else 201


def register(client, profile):
    email = unique_email("compat")
    r = client.post(API + "/auth/register", json_body={"email": email, "password": "pw-" + uuid.uuid4().hex[:10]})
    tok = answer(r, created(profile))
    assert set(tok) >= TOKEN_KEYS and tok["token_type"] == "bearer" and isinstance(tok["expires_in"], int), tok
    typed(tok["user"], USER_TYPES, "Token.user")
    return tok


# --------------------------------------------------------------------------- auth

def test_auth_me_and_no_credentials(client, profile):
    tok = register(client, profile)
    me = answer(client.get(API + "/auth/me", token=tok["access_token"]), 200)
    if orig(profile):
        assert set(me) == {"user", "status"} and me["status"] == "authenticated", me
        me = me["user"]
    typed(me, USER_TYPES, "User")
    assert set(me) == USER_KEYS, me
    # no credentials: the original's 403 "Not authenticated"; flov7's 401 with a challenge
    r = client.get(API + "/auth/me")
    if orig(profile):
        assert answer(r, 403) == {"detail": "Not authenticated"}
        assert "WWW-Authenticate" not in r.headers
    else:
        error(r, 401, profile)
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    # a bad token is a 401 in both
    assert "token" in error(client.get(API + "/auth/me", token="not.a.token"), 401, profile).lower()


def test_login_refresh_logout(client, profile):
    tok = register(client, profile)
    email = tok["user"]["email"]
    error(client.post(API + "/auth/login", json_body={"email": email, "password": "wrong-password"}), 401, profile)
    error(client.post(API + "/auth/login", json_body={"email": email}), bad_input(profile), profile,
          field="password")
    error(client.post(API + "/auth/register", json_body={"email": "not-an-email", "password": "x" * 8}),
          bad_input(profile), profile, field="email")
    ref = answer(client.post(API + "/auth/refresh", json_body={"refresh_token": tok["refresh_token"]}), 200)
    assert set(ref) >= TOKEN_KEYS, ref
    out = answer(client.post(API + "/auth/logout", token=ref["access_token"], json_body={}), 200)
    assert isinstance(out["message"], str), out


def test_api_keys(client, profile):
    tok = register(client, profile)["access_token"]
    url = API + "/auth/api-keys"
    k = answer(client.post(url, token=tok, json_body={
        "name": "ci", "description": "d", "permissions": {"read": True, "write": False}}), created(profile))
    if orig(profile):
        assert k["success"] is True and isinstance(k["message"], str), k
        k = k["api_key"]
        assert k["permissions"] == {"read": True, "write": False, "execute": False}, k
        assert all(s.endswith(":read") for s in k["scopes"]), k
    else:
        assert all(s.endswith(":read") for s in k["permissions"]), k
    typed(k, KEY_TYPES, "APIKey")
    assert k["key"].startswith(k["key_preview"][:-3]) and k["description"] == "d", k
    listed = answer(client.get(url, token=tok), 200)
    items = listed if orig(profile) else listed["items"]
    assert isinstance(items, list) and [i["id"] for i in items] == [k["id"]], listed
    typed(items[0], KEY_TYPES, "APIKey")
    assert "key" not in items[0]
    gone = client.delete(url + "/" + k["id"], token=tok)
    if orig(profile):
        assert isinstance(answer(gone, 200)["message"], str)
    else:
        assert answer(gone, 204) is None
    # revoked: hidden unless asked for
    assert (answer(client.get(url, token=tok), 200) if orig(profile)
            else answer(client.get(url, token=tok), 200)["items"]) == []
    error(client.post(url, token=tok, json_body={"name": "x", "permissions": {"read": "yes"}}),
          bad_input(profile), profile, field="permissions.read")
    error(client.delete(url + "/" + str(uuid.uuid4()), token=tok), 404, profile)
    error(client.delete(url + "/nope", token=tok), bad_input(profile), profile, field="key_id", where="path")


# --------------------------------------------------------------------------- users

def test_profile(client, profile):
    tok = register(client, profile)["access_token"]
    p = answer(client.get(API + "/users/profile", token=tok), 200)
    stats = p["stats"]
    if orig(profile):
        assert set(p) == {"user", "stats"}, p
        p = p["user"]
    typed(p, USER_TYPES, "User")
    assert stats == {"workflows_count": 0, "executions_count": 0, "integrations_count": 0}, stats
    u = answer(client.put(API + "/users/profile", token=tok, json_body={"full_name": "Ada"}), 200)
    if orig(profile):
        assert u["success"] is True and isinstance(u["message"], str), u
        u = u["user"]
    typed(u, USER_TYPES, "User")
    assert u["full_name"] == "Ada"
    assert error(client.put(API + "/users/profile", token=tok, json_body={}), 400, profile) == "No fields to update"
    error(client.put(API + "/users/profile", token=tok, json_body={"full_name": 7}), bad_input(profile), profile,
          field="full_name")
    # what the original let users do and flov7 does not, in either profile: set their own role or plan
    answer(client.put(API + "/users/profile", token=tok, json_body={"full_name": "Ada", "role": "admin",
                                                                    "subscription_plan": "enterprise"}), 200)
    me = answer(client.get(API + "/auth/me", token=tok), 200)
    me = me["user"] if orig(profile) else me
    assert me["role"] == "user" and me["subscription_plan"] == "free", me


def test_integrations(client, profile):
    tok = register(client, profile)["access_token"]
    url = API + "/users/integrations"
    secret = "sk-" + uuid.uuid4().hex
    r = client.post(url, token=tok, json_body={"service_name": "gh", "service_type": "api_key",
                                               "credentials": {"token": secret}})
    i = answer(r, created(profile))
    assert secret not in r.text
    if orig(profile):
        assert i["success"] is True and isinstance(i["message"], str), i
        i = i["integration"]
    typed(i, INTEGRATION_TYPES, "Integration")
    assert i["credentials"] == {"configured": True}, i
    lst = answer(client.get(url, token=tok, params={"skip": 0, "limit": 10}), 200)
    if orig(profile):
        assert set(lst) == {"integrations", "total", "skip", "limit", "has_more"}, lst
        items = lst["integrations"]
        assert (lst["skip"], lst["limit"], lst["has_more"]) == (0, 10, False), lst
    else:
        items = lst["items"]
        assert lst["offset"] == 0 and lst["has_more"] is False, lst
    assert lst["total"] == 1 and [x["id"] for x in items] == [i["id"]], lst
    typed(items[0], INTEGRATION_TYPES, "Integration")
    g = answer(client.get(url + "/" + i["id"], token=tok), 200)
    typed(g["integration"] if orig(profile) else g, INTEGRATION_TYPES, "Integration")
    u = answer(client.put(url + "/" + i["id"], token=tok, json_body={"is_active": False}), 200)
    if orig(profile):
        assert u["success"] is True, u
        u = u["integration"]
    assert u["is_active"] is False, u
    assert error(client.put(url + "/" + i["id"], token=tok, json_body={}), 400, profile) == "No fields to update"
    error(client.post(url, token=tok, json_body={"service_name": "x", "service_type": "pigeon",
                                                 "credentials": {}}), bad_input(profile), profile,
          field="service_type")
    error(client.post(url, token=tok, json_body={"service_name": "gh", "service_type": "api_key",
                                                 "credentials": {"k": "v"}}), 409, profile)
    d = client.delete(url + "/" + i["id"], token=tok)
    if orig(profile):
        assert isinstance(answer(d, 200)["message"], str)
    else:
        answer(d, 204)
    error(client.get(url + "/" + i["id"], token=tok), 404, profile)


def test_notifications(client, profile, q):
    tok = register(client, profile)
    uid = tok["user"]["id"]
    q("INSERT INTO flov7.notifications (user_id, type, title, data, created_at) "
      "SELECT %s, 'info', 'n' || n, '{}', now() - n * interval '1 second' FROM generate_series(1, 3) n", (uid,))
    url = API + "/users/notifications"
    lst = answer(client.get(url, token=tok["access_token"], params={"skip": 1, "limit": 1, "unread_only": "true"}), 200)
    if orig(profile):
        assert set(lst) == {"notifications", "total", "skip", "limit", "has_more", "unread_count"}, lst
        items = lst["notifications"]
        assert lst["skip"] == 1
    else:
        items = lst["items"]
        assert lst["offset"] == 1
    assert lst["total"] == 3 and lst["unread_count"] == 3 and lst["has_more"] is True, lst
    assert [n["title"] for n in items] == ["n2"], lst
    typed(items[0], NOTIFICATION_TYPES, "Notification")
    n = answer(client.put(url + "/" + items[0]["id"] + "/read", token=tok["access_token"]), 200)
    if orig(profile):
        assert n["success"] is True, n
        n = n["notification"]
    assert n["is_read"] is True, n
    a = answer(client.put(url + "/read-all", token=tok["access_token"]), 200)
    assert a["updated"] == 2 and isinstance(a["message"], str) and (a.get("success") is True) == orig(profile), a
    error(client.get(url, token=tok["access_token"], params={"skip": "x"}), bad_input(profile), profile,
          field="skip", where="query")


def test_stats(client, profile):
    tok = register(client, profile)["access_token"]
    s = answer(client.get(API + "/users/stats", token=tok), 200)
    assert s["workflows"]["total"] == 0 and s["integrations"]["total"] == 0, s


# --------------------------------------------------------------------------- admin

def test_admin(client, admin, profile):
    tok = register(client, profile)
    uid = tok["user"]["id"]
    lst = answer(client.get(ADMIN, token=admin.access, params={"search": tok["user"]["email"]}), 200)
    if orig(profile):
        assert set(lst) == {"users", "total", "skip", "limit", "has_more"}, lst
        items = lst["users"]
    else:
        items = lst["items"]
    assert [u["id"] for u in items] == [uid], lst
    typed(items[0], USER_TYPES, "User")
    r = answer(client.put("%s/%s/role" % (ADMIN, uid), token=admin.access, json_body={"role": "premium"}), 200)
    s = answer(client.put("%s/%s/status?is_active=false" % (ADMIN, uid), token=admin.access), 200)
    if orig(profile):
        assert r["success"] is True and s["success"] is True, (r, s)
        r, s = r["user"], s["user"]
    assert r["role"] == "premium" and s["is_active"] is False, (r, s)
    error(client.put("%s/%s/role" % (ADMIN, uid), token=admin.access, json_body={"role": "god"}),
          bad_input(profile), profile, field="role")
    error(client.put("%s/%s/status?is_active=perhaps" % (ADMIN, uid), token=admin.access),
          bad_input(profile), profile, field="is_active", where="query")
    error(client.get(ADMIN, token=tok["access_token"]), 403, profile)
    assert isinstance(answer(client.get(API + "/users/admin/stats", token=admin.access), 200)["users"], dict)


# --------------------------------------------------------------------------- not copied / the same in both

def test_workflows_keep_flov7_shapes(client, profile):
    """Workflows are not in the original profile yet: flov7's shapes and errors in both."""
    tok = register(client, profile)["access_token"]
    w = answer(client.post(API + "/workflows", token=tok, json_body={"name": "w"}), 201)
    assert w["name"] == "w" and "validation" in w, w
    body = answer(client.get(API + "/workflows/" + str(uuid.uuid4()), token=tok), 404)
    assert ERROR_KEYS <= set(body), body


def test_root_and_health(client, profile):
    assert answer(client.get(API + "/"), 200)["name"] == "flov7"
    assert answer(client.get("/health"), 200)["status"] == "healthy"
    assert answer(client.get(API + "/auth/health"), 200)["status"] == "healthy"
