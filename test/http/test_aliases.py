"""What the original platform's clients send and expect, in both API profiles (issue 9): request
aliases (skip, unread_only, include_inactive, is_active as a query parameter, API-key permissions
as an object, description, expires_in_days), additive fields (key_preview, description,
credentials {"configured": true}, user_id, has_more, unread_count, profile stats), the root and
health endpoints, and a PUT with no field to update."""

import datetime
import uuid

import pytest

from flov7_client import API, expect, expect_error

ADMIN = API + "/users/admin/users"


def notify(q, uid, n, read=0):
    """n notifications for uid, titled t1 (newest) .. tn; the first `read` of them read."""
    q("INSERT INTO flov7.notifications (user_id, type, title, is_read, read_at, created_at) "
      "SELECT %s, 'info', 't' || n, n <= %s, CASE WHEN n <= %s THEN now() END, "
      "now() - n * interval '1 second' FROM generate_series(1, %s) n", (uid, read, read, n))


def titles(body):
    return [i["title"] for i in body["items"]]


# --------------------------------------------------------------------------- skip, has_more

def test_skip_is_offset(client, user, q):
    notify(q, user.id, 5)
    url = API + "/users/notifications"
    first = expect(client.get(url, token=user.access, params={"limit": 2}), 200)
    assert titles(first) == ["t1", "t2"] and first["has_more"] is True, first
    page = expect(client.get(url, token=user.access, params={"skip": 1, "limit": 2}), 200)
    assert titles(page) == ["t2", "t3"] and page["offset"] == 1 and page["has_more"] is True, page
    last = expect(client.get(url, token=user.access, params={"skip": 3, "limit": 2}), 200)
    assert titles(last) == ["t4", "t5"] and last["has_more"] is False, last
    # by cursor, too
    nxt = expect(client.get(url, token=user.access, params={"cursor": first["next_cursor"], "limit": 3}), 200)
    assert titles(nxt) == ["t3", "t4", "t5"] and nxt["has_more"] is False, nxt


@pytest.mark.parametrize("params", [{"skip": "-1"}, {"skip": "x"}, {"skip": "1", "offset": "2"}])
def test_bad_skip_400(client, user, params):
    expect_error(client.get(API + "/users/notifications", token=user.access, params=params), 400, "22023")


def test_skip_on_every_list(client, user, admin, q):
    for path, tok in (("/auth/api-keys", user.access), ("/users/integrations", user.access),
                      ("/workflows", user.access), ("/primitives", user.access),
                      ("/workflows/templates", user.access), ("/users/admin/users", admin.access)):
        full = expect(client.get(API + path, token=tok, params={"limit": 3}), 200)
        skipped = expect(client.get(API + path, token=tok, params={"limit": 2, "skip": 1}), 200)
        assert skipped["offset"] == 1 and "has_more" in skipped, (path, skipped)
        assert [i.get("id", i.get("subtype")) for i in skipped["items"]] == \
            [i.get("id", i.get("subtype")) for i in full["items"][1:3]], path


# --------------------------------------------------------------------------- notifications

def test_unread_only_and_unread_count(client, user, q):
    notify(q, user.id, 5, read=2)
    url = API + "/users/notifications"
    body = expect(client.get(url, token=user.access, params={"unread_only": "true"}), 200)
    assert titles(body) == ["t3", "t4", "t5"] and body["total"] == 3, body
    assert body["unread_count"] == 3 and body["unread_count_is_estimate"] is False, body
    every = expect(client.get(url, token=user.access, params={"limit": 1}), 200)
    assert every["total"] == 5 and every["unread_count"] == 3, every
    assert every["items"][0]["user_id"] == user.id, every
    expect_error(client.get(url, token=user.access, params={"unread_only": "true", "is_read": "true"}), 400)
    expect_error(client.get(url, token=user.access, params={"unread_only": "yes"}), 400)


# --------------------------------------------------------------------------- include_inactive

def test_revoked_keys_hidden_unless_include_inactive(client, user):
    url = API + "/auth/api-keys"
    live = expect(client.post(url, token=user.access, json_body={"name": "live"}), 201)
    dead = expect(client.post(url, token=user.access, json_body={"name": "dead"}), 201)
    expect(client.delete(url + "/" + dead["id"], token=user.access), 204)
    ids = [k["id"] for k in expect(client.get(url, token=user.access), 200)["items"]]
    assert ids == [live["id"]], ids
    body = expect(client.get(url, token=user.access, params={"include_inactive": "true"}), 200)
    assert [k["id"] for k in body["items"]] == [dead["id"], live["id"]], body
    assert [k["id"] for k in expect(client.get(url, token=user.access, params={"is_active": "false"}),
                                    200)["items"]] == [dead["id"]]
    expect_error(client.get(url, token=user.access, params={"include_inactive": "2"}), 400)


def test_inactive_integrations_hidden_unless_include_inactive(client, user):
    url = API + "/users/integrations"
    on = expect(client.post(url, token=user.access, json_body={
        "service_name": "on", "service_type": "webhook", "credentials": {"u": "v"}}), 201)
    off = expect(client.post(url, token=user.access, json_body={
        "service_name": "off", "service_type": "webhook", "credentials": {"u": "v"}}), 201)
    expect(client.put(url + "/" + off["id"], token=user.access, json_body={"is_active": False}), 200)
    assert [i["id"] for i in expect(client.get(url, token=user.access), 200)["items"]] == [on["id"]]
    body = expect(client.get(url, token=user.access, params={"include_inactive": "true"}), 200)
    assert sorted(i["id"] for i in body["items"]) == sorted([on["id"], off["id"]]), body


# --------------------------------------------------------------------------- API keys

def test_key_permissions_object_description_preview(client, user):
    url = API + "/auth/api-keys"
    k = expect(client.post(url, token=user.access, json_body={
        "name": "ro", "description": "read only", "permissions": {"read": True, "write": False}}), 201)
    assert k["description"] == "read only", k
    assert k["key_preview"] == k["key"][:12] + "...", k
    assert k["permissions"] and all(p.endswith(":read") for p in k["permissions"]), k
    assert "workflows:read" in k["permissions"] and "profile:read" in k["permissions"], k
    # the key can read and cannot write
    expect(client.get(API + "/users/profile", api_key=k["key"]), 200)
    expect_error(client.put(API + "/users/profile", api_key=k["key"], json_body={"full_name": "x"}), 403)
    ex = expect(client.post(url, token=user.access, json_body={
        "name": "ex", "permissions": {"execute": True}}), 201)
    assert ex["permissions"] == ["workflows:execute"], ex
    listed = expect(client.get(url, token=user.access), 200)["items"]
    assert {i["id"]: i["key_preview"] for i in listed}[k["id"]] == k["key_preview"]
    assert all(k["key"] not in str(i) for i in listed)


@pytest.mark.parametrize("body", [
    {"permissions": {"read": False}}, {"permissions": {"admin": True}}, {"permissions": {"read": "yes"}},
    {"permissions": "read"}, {"expires_in_days": 0}, {"expires_in_days": "soon"},
    {"expires_in_days": 5, "expires_at": "2999-01-01T00:00:00Z"}, {"description": 7},
    {"description": "d" * 501},
])
def test_key_bad_input_400(client, user, q, body):
    before = q("SELECT count(*) FROM flov7.api_keys WHERE user_id = %s", (user.id,))
    body = dict(body, name="bad")
    expect_error(client.post(API + "/auth/api-keys", token=user.access, json_body=body), 400, "22023")
    assert q("SELECT count(*) FROM flov7.api_keys WHERE user_id = %s", (user.id,)) == before


def when(k):
    return datetime.datetime.fromisoformat(k["expires_at"])


def test_key_expiry(client, user, q):
    url = API + "/auth/api-keys"
    now = datetime.datetime.now(datetime.timezone.utc)
    default = expect(client.post(url, token=user.access, json_body={"name": "d"}), 201)
    assert abs((when(default) - now) - datetime.timedelta(days=365)) < datetime.timedelta(minutes=1)
    week = expect(client.post(url, token=user.access, json_body={"name": "w", "expires_in_days": 7}), 201)
    assert abs((when(week) - now) - datetime.timedelta(days=7)) < datetime.timedelta(minutes=1)
    never = expect(client.post(url, token=user.access, json_body={"name": "n", "expires_at": None}), 201)
    assert never["expires_at"] is None, never
    # a plan may bound it (flov7.plan_quotas.api_key_max_days): a 403, nothing made
    q("UPDATE flov7.users SET subscription_plan = 'pro' WHERE id = %s", (user.id,))
    q("UPDATE flov7.plan_quotas SET api_key_max_days = 30 WHERE plan = 'pro'")
    try:
        expect_error(client.post(url, token=user.access, json_body={"name": "n2", "expires_at": None}), 403, "53400")
        expect_error(client.post(url, token=user.access, json_body={"name": "n3", "expires_in_days": 31}),
                     403, "53400")
        capped = expect(client.post(url, token=user.access, json_body={"name": "c"}), 201)
        assert abs((when(capped) - now) - datetime.timedelta(days=30)) < datetime.timedelta(minutes=1)
    finally:
        q("UPDATE flov7.plan_quotas SET api_key_max_days = NULL WHERE plan = 'pro'")
    assert q("SELECT count(*) FROM flov7.api_keys WHERE user_id = %s AND name IN ('n2', 'n3')",
             (user.id,))[0][0] == 0


# --------------------------------------------------------------------------- integrations, profile

def test_integration_credentials_configured_and_user_id(client, user):
    secret = "sk-" + uuid.uuid4().hex
    r = client.post(API + "/users/integrations", token=user.access, json_body={
        "service_name": "gh", "service_type": "api_key", "credentials": {"token": secret}})
    i = expect(r, 201)
    assert i["credentials"] == {"configured": True} and i["user_id"] == user.id, i
    assert secret not in r.text
    g = client.get(API + "/users/integrations/" + i["id"], token=user.access)
    assert expect(g, 200)["credentials"] == {"configured": True} and secret not in g.text


def test_profile_stats(client, user):
    expect(client.post(API + "/users/integrations", token=user.access, json_body={
        "service_name": "s", "service_type": "webhook", "credentials": {"u": "v"}}), 201)
    expect(client.post(API + "/workflows", token=user.access, json_body={"name": "w"}), 201)
    p = expect(client.get(API + "/users/profile", token=user.access), 200)
    s = expect(client.get(API + "/users/stats", token=user.access), 200)
    assert p["id"] == user.id and p["email"] == user.email, p
    assert p["stats"] == {"workflows_count": s["workflows"]["total"],
                          "executions_count": s["executions"]["total"],
                          "integrations_count": s["integrations"]["total"]}, (p, s)
    assert p["stats"]["workflows_count"] == 1 and p["stats"]["integrations_count"] == 1


# --------------------------------------------------------------------------- PUT with nothing to update

def test_put_with_no_field_400(client, user, q):
    i = expect(client.post(API + "/users/integrations", token=user.access, json_body={
        "service_name": "s", "service_type": "webhook", "credentials": {"u": "v"}}), 201)
    w = expect(client.post(API + "/workflows", token=user.access, json_body={"name": "w"}), 201)
    before = q("SELECT updated_at FROM flov7.users WHERE id = %s", (user.id,))
    for path, body in (("/users/profile", {}), ("/users/profile", {"current_password": "x"}),
                       ("/users/integrations/" + i["id"], {}), ("/workflows/" + w["id"], {"version": 1})):
        err = expect_error(client.put(API + path, token=user.access, json_body=body), 400, "22023")
        assert err["message"] == "No fields to update", err
    assert q("SELECT updated_at FROM flov7.users WHERE id = %s", (user.id,)) == before
    assert expect(client.get(API + "/workflows/" + w["id"], token=user.access), 200)["version"] == 1


# --------------------------------------------------------------------------- admin status

def test_status_is_active_as_query_parameter(client, admin, user):
    url = "%s/%s/status" % (ADMIN, user.id)
    assert expect(client.put(url + "?is_active=false", token=admin.access), 200)["is_active"] is False
    expect_error(client.get(API + "/auth/me", token=user.access), 401)
    assert expect(client.put(url, token=admin.access, params={"is_active": "true"}), 200)["is_active"] is True
    assert expect(client.put(url, token=admin.access, json_body={"is_active": False}), 200)["is_active"] is False
    expect_error(client.put(url + "?is_active=maybe", token=admin.access), 400, "22023")


# --------------------------------------------------------------------------- root and health

@pytest.mark.parametrize("path", ["/", API, API + "/"])
def test_root(client, q1, path):
    body = expect(client.get(path), 200)
    assert body["name"] == "flov7" and body["openapi_url"] == "/openapi.json" and body["docs_url"], body
    assert body["version"] == q1("SELECT extversion FROM pg_extension WHERE extname = 'flov7'")
    assert client.get(body["openapi_url"]).status_code == 200


@pytest.mark.parametrize("service", ["auth", "users", "workflows", "realtime"])
def test_service_health(client, service):
    body = expect(client.get(API + "/%s/health" % service), 200)
    assert body["status"] == "healthy" and body["service"] == service, body


def test_database_health(client):
    body = expect(client.get(API + "/health/database"), 200)
    db = body["database"]
    assert body["status"] == "healthy" and db["reachable"] is True and db["status"] == "connected", body
    assert isinstance(db["latency_ms"], (int, float)) and 0 <= db["latency_ms"] < 10000, body


def test_frontd_health_says_healthy(client):
    body = expect(client.get("/health"), 200)
    assert body == {"status": "healthy", "ready": True}, body
