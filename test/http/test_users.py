"""Users: profile get/put (incl. password change), stats, integrations CRUD, notifications."""

import json
import uuid

import pytest

from conftest import login
from flov7_client import (
    API, INTEGRATION_KEYS, NOTIFICATION_KEYS, assert_list_shape, assert_user_shape, expect,
    expect_401, expect_error,
)


def user_row(q1, uid):
    return q1("SELECT to_jsonb(u)::text FROM flov7.users u WHERE id = %s", (uid,))


# --------------------------------------------------------------------------- profile

def test_profile_get(client, user):
    p = expect(client.get(API + "/users/profile", token=user.access), 200)
    assert_user_shape(p, user.email)
    assert p["id"] == user.id


def test_profile_update(client, user, q1):
    body = {"full_name": "Grace Hopper", "avatar_url": "https://img.example.com/g.png"}
    p = expect(client.put(API + "/users/profile", token=user.access, json_body=body), 200)
    assert_user_shape(p, user.email)
    assert p["full_name"] == "Grace Hopper"
    assert p["avatar_url"] == "https://img.example.com/g.png"
    g = expect(client.get(API + "/users/profile", token=user.access), 200)
    assert g["full_name"] == "Grace Hopper" and g["avatar_url"] == body["avatar_url"]
    assert q1("SELECT full_name FROM flov7.users WHERE id = %s", (user.id,)) == "Grace Hopper"
    # a partial update keeps the other field
    p = expect(client.put(API + "/users/profile", token=user.access,
                          json_body={"full_name": "G. Hopper"}), 200)
    assert p["full_name"] == "G. Hopper" and p["avatar_url"] == body["avatar_url"]


@pytest.mark.parametrize("body", [
    {"avatar_url": "javascript:alert(1)"},
    {"avatar_url": "not a url"},
    {"full_name": "x" * 5000},
    {"full_name": 42},
    {"full_name": ["a"]},
    {"avatar_url": 5},
    {"full_name": {"x": 1}},
])
def test_profile_update_wrong_types_400(client, user, q1, body):
    before = user_row(q1, user.id)
    expect_error(client.put(API + "/users/profile", token=user.access, json_body=body), 400)
    assert user_row(q1, user.id) == before


def test_profile_update_cannot_escalate(client, user, q):
    r = client.put(API + "/users/profile", token=user.access,
                   json_body={"full_name": "Sneaky", "role": "admin", "is_active": True,
                              "is_verified": True, "subscription_plan": "enterprise",
                              "id": str(uuid.uuid4()), "email": "taken-over@example.com"})
    # ignored (200), refused as bad input (400) or as not allowed (403); never applied
    assert r.status_code in (200, 400, 403), r.text
    (role, email, uid), = q("SELECT role::text, email::text, id::text FROM flov7.users WHERE id = %s",
                            (user.id,))
    assert role == "user"
    assert email == user.email
    assert uid == user.id


def test_password_change(client, user):
    new = "new-password-" + uuid.uuid4().hex[:6]
    r = client.put(API + "/users/profile", token=user.access,
                   json_body={"current_password": user.password, "new_password": new})
    p = expect(r, 200)
    assert_user_shape(p, user.email)
    assert new not in r.text and user.password not in r.text
    expect_401(client.post(API + "/auth/login", json_body={"email": user.email, "password": user.password}))
    tok = login(client, user.email, new)
    assert tok["user"]["id"] == user.id


def test_password_change_wrong_current(client, user, q1):
    before = user_row(q1, user.id)
    r = client.put(API + "/users/profile", token=user.access,
                   json_body={"current_password": "not-the-password", "new_password": "whatever-123"})
    # bad input (22023, 400), never a 401: the token is fine, and RFC 6750 clients drop a token on 401
    expect_error(r, 400, "22023")
    assert "WWW-Authenticate" not in r.headers
    assert user_row(q1, user.id) == before
    login(client, user.email, user.password)
    expect_401(client.post(API + "/auth/login", json_body={"email": user.email, "password": "whatever-123"}))


@pytest.mark.parametrize("body", [
    {"current_password": "CURRENT", "new_password": "short"},
    {"current_password": "CURRENT", "new_password": "a" * 73},
    {"new_password": "a-fine-password"},
    {"current_password": "CURRENT", "new_password": 12345678},
])
def test_password_change_bad_input_400(client, user, q1, body):
    body = {k: (user.password if v == "CURRENT" else v) for k, v in body.items()}
    before = user_row(q1, user.id)
    expect_error(client.put(API + "/users/profile", token=user.access, json_body=body), 400)
    assert user_row(q1, user.id) == before
    login(client, user.email, user.password)


def test_profile_requires_auth(client):
    expect_error(client.get(API + "/users/profile"), 401)
    expect_error(client.put(API + "/users/profile", json_body={"full_name": "x"}), 401)


# --------------------------------------------------------------------------- stats

def test_stats(client, user, q):
    s = expect(client.get(API + "/users/stats", token=user.access), 200)
    assert isinstance(s, dict) and s, s
    expect_error(client.get(API + "/users/stats"), 401)
    # the statistics are the caller's and follow their data (shape not fixed by CONTRACT.md)
    create_integration(client, user)
    s2 = expect(client.get(API + "/users/stats", token=user.access), 200)
    assert s2 != s, "stats unchanged after creating an integration: %r" % s2
    insert_notifications(q, user.id, [("info", False)])
    s3 = expect(client.get(API + "/users/stats", token=user.access), 200)
    assert s3 != s2, "stats unchanged after a new notification: %r" % s3


# --------------------------------------------------------------------------- integrations

def new_secret():
    return "sk-live-" + uuid.uuid4().hex


def create_integration(client, user, secret=None, **over):
    secret = secret or new_secret()
    body = {"service_name": "openai-" + uuid.uuid4().hex[:6], "service_type": "api_key",
            "credentials": {"api_key": secret}}
    body.update(over)
    r = client.post(API + "/users/integrations", token=user.access, json_body=body)
    i = expect(r, 201)
    assert INTEGRATION_KEYS <= set(i), "Integration lacks %r" % sorted(INTEGRATION_KEYS - set(i))
    assert i.get("credentials") == {"configured": True}, i
    assert secret not in r.text
    assert i["service_name"] == body["service_name"]
    assert i["service_type"] == body["service_type"]
    return i, secret


def integ_row(q, iid):
    rows = q("SELECT to_jsonb(i)::text FROM flov7.user_integrations i WHERE id = %s", (iid,))
    return rows[0][0] if rows else None


def test_integration_crud(client, user, q):
    i, secret = create_integration(client, user)
    row = integ_row(q, i["id"])
    assert row is not None and secret not in row, "credentials stored in clear: %s" % row

    lst = client.get(API + "/users/integrations", token=user.access)
    body = expect(lst, 200)
    assert_list_shape(body)
    assert i["id"] in [x["id"] for x in body["items"]]
    assert secret not in lst.text
    for x in body["items"]:
        assert x.get("credentials") == {"configured": True}

    g = client.get(API + "/users/integrations/" + i["id"], token=user.access)
    gi = expect(g, 200)
    assert gi["id"] == i["id"] and gi.get("credentials") == {"configured": True} and secret not in g.text

    secret2 = new_secret()
    u = client.put(API + "/users/integrations/" + i["id"], token=user.access,
                   json_body={"service_name": "renamed", "credentials": {"api_key": secret2},
                              "is_active": False})
    ui = expect(u, 200)
    assert ui["service_name"] == "renamed" and ui["is_active"] is False
    assert ui.get("credentials") == {"configured": True} and secret2 not in u.text
    row2 = integ_row(q, i["id"])
    assert secret2 not in row2 and secret not in row2
    assert row2 != row

    expect(client.delete(API + "/users/integrations/" + i["id"], token=user.access), 204)
    expect_error(client.get(API + "/users/integrations/" + i["id"], token=user.access), 404)
    expect_error(client.delete(API + "/users/integrations/" + i["id"], token=user.access), 404)
    assert integ_row(q, i["id"]) is None


def test_integration_service_types(client, user):
    for t in ("api_key", "oauth", "webhook", "database"):
        i, _ = create_integration(client, user, service_type=t)
        assert i["service_type"] == t


@pytest.mark.parametrize("body", [
    {"service_name": "x", "service_type": "carrier-pigeon", "credentials": {"k": "v"}},
    {"service_type": "api_key", "credentials": {"k": "v"}},
    {"service_name": "x", "credentials": {"k": "v"}},
    {"service_name": 7, "service_type": "api_key", "credentials": {"k": "v"}},
    {"service_name": "x", "service_type": "api_key", "credentials": "plain-string"},
    {"service_name": "x", "service_type": "api_key", "credentials": ["a"]},
])
def test_integration_create_bad_input_400(client, user, q1, body):
    before = q1("SELECT count(*) FROM flov7.user_integrations")
    expect_error(client.post(API + "/users/integrations", token=user.access, json_body=body), 400)
    assert q1("SELECT count(*) FROM flov7.user_integrations") == before


def test_integration_update_bad_input_400(client, user, q):
    i, _ = create_integration(client, user)
    before = integ_row(q, i["id"])
    for body in ({"service_type": "nope"}, {"is_active": "yes"}, {"service_name": 1},
                 {"credentials": "x"}):
        expect_error(client.put(API + "/users/integrations/" + i["id"], token=user.access,
                                json_body=body), 400)
    assert integ_row(q, i["id"]) == before


def test_integration_duplicate_service_name_409(client, user, q1):
    i, _ = create_integration(client, user)
    before = q1("SELECT count(*) FROM flov7.user_integrations WHERE user_id = %s", (user.id,))
    r = client.post(API + "/users/integrations", token=user.access,
                    json_body={"service_name": i["service_name"], "service_type": "oauth",
                               "credentials": {"token": "t"}})
    expect_error(r, 409, "23505")
    assert q1("SELECT count(*) FROM flov7.user_integrations WHERE user_id = %s", (user.id,)) == before


def test_integration_quota_403(client, user, q1):
    """Plan quotas (flov7.plan_quotas) are enforced with 53400 -> 403."""
    limit = q1("SELECT max_integrations FROM flov7.plan_quotas p JOIN flov7.users u "
               "ON u.subscription_plan = p.plan WHERE u.id = %s", (user.id,))
    if limit is None or limit > 20:
        pytest.skip("the user's plan has no small integration quota")
    for _ in range(limit):
        create_integration(client, user)
    r = client.post(API + "/users/integrations", token=user.access,
                    json_body={"service_name": "one-too-many", "service_type": "api_key",
                               "credentials": {"k": "v"}})
    expect_error(r, 403, "53400")
    assert q1("SELECT count(*) FROM flov7.user_integrations WHERE user_id = %s", (user.id,)) == limit


def test_integration_unknown_and_bad_uuid(client, user):
    nid = str(uuid.uuid4())
    expect_error(client.get(API + "/users/integrations/" + nid, token=user.access), 404)
    expect_error(client.put(API + "/users/integrations/" + nid, token=user.access,
                            json_body={"service_name": "x"}), 404)
    expect_error(client.delete(API + "/users/integrations/" + nid, token=user.access), 404)
    for bad in ("not-a-uuid", "1234", "%7Bid%7D"):
        expect_error(client.get(API + "/users/integrations/" + bad, token=user.access), 400)


def test_integration_path_param_percent_decoded(client, user):
    i, _ = create_integration(client, user)
    enc = i["id"].replace("-", "%2D")
    g = expect(client.get(API + "/users/integrations/" + enc, token=user.access), 200)
    assert g["id"] == i["id"]


def test_integration_list_pagination(client, user):
    made = [create_integration(client, user)[0]["id"] for _ in range(3)]
    all_ = expect(client.get(API + "/users/integrations", token=user.access), 200)
    assert all_["total"] == 3 and all_["limit"] == 20 and all_["offset"] == 0
    p1 = expect(client.get(API + "/users/integrations", token=user.access,
                           params={"limit": 2, "offset": 0}), 200)
    assert_list_shape(p1, 2, 0)
    assert len(p1["items"]) == 2 and p1["total"] == 3
    p2 = expect(client.get(API + "/users/integrations", token=user.access,
                           params={"limit": 2, "offset": 2}), 200)
    assert_list_shape(p2, 2, 2)
    assert len(p2["items"]) == 1 and p2["total"] == 3
    seen = [x["id"] for x in p1["items"] + p2["items"]]
    assert sorted(seen) == sorted(made)


# --------------------------------------------------------------------------- notifications

def insert_notifications(q, uid, specs):
    """specs: list of (type, is_read); returns the ids, oldest first."""
    ids = []
    for n, (typ, is_read) in enumerate(specs):
        rows = q("INSERT INTO flov7.notifications (user_id, type, title, message, data, is_read, read_at) "
                 "VALUES (%s, %s, %s, %s, %s::jsonb, %s, CASE WHEN %s THEN now() END) RETURNING id::text",
                 (uid, typ, "title %d" % n, "message %d" % n, json.dumps({"n": n}), is_read, is_read))
        ids.append(rows[0][0])
    return ids


def test_notifications_list_filters_pagination(client, user, q):
    ids = insert_notifications(q, user.id, [("info", False), ("info", True), ("warning", False),
                                            ("info", False), ("error", True)])
    url = API + "/users/notifications"
    all_ = expect(client.get(url, token=user.access), 200)
    assert_list_shape(all_, 20, 0)
    assert all_["total"] == 5
    assert sorted(x["id"] for x in all_["items"]) == sorted(ids)
    for x in all_["items"]:
        assert NOTIFICATION_KEYS <= set(x), "Notification lacks %r" % sorted(NOTIFICATION_KEYS - set(x))

    unread = expect(client.get(url, token=user.access, params={"is_read": "false"}), 200)
    assert unread["total"] == 3 and all(x["is_read"] is False for x in unread["items"])
    read = expect(client.get(url, token=user.access, params={"is_read": "true"}), 200)
    assert read["total"] == 2 and all(x["is_read"] is True for x in read["items"])
    info = expect(client.get(url, token=user.access, params={"type": "info"}), 200)
    assert info["total"] == 3 and all(x["type"] == "info" for x in info["items"])
    both = expect(client.get(url, token=user.access, params={"type": "info", "is_read": "false"}), 200)
    assert both["total"] == 2

    p1 = expect(client.get(url, token=user.access, params={"limit": 2}), 200)
    assert_list_shape(p1, 2, 0)
    assert len(p1["items"]) == 2 and p1["total"] == 5
    p3 = expect(client.get(url, token=user.access, params={"limit": 2, "offset": 4}), 200)
    assert_list_shape(p3, 2, 4)
    assert len(p3["items"]) == 1 and p3["total"] == 5
    p2 = expect(client.get(url, token=user.access, params={"limit": 2, "offset": 2}), 200)
    assert len({x["id"] for x in p1["items"] + p2["items"] + p3["items"]}) == 5

    # a repeated query key keeps its last value (CONTRACT.md)
    rep = expect(client.get(url + "?limit=1&limit=3", token=user.access), 200)
    assert rep["limit"] == 3 and len(rep["items"]) == 3


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "101"}, {"limit": "abc"}, {"offset": "-1"}, {"offset": "x"},
    {"is_read": "maybe"},
])
def test_notifications_bad_query_400(client, user, params):
    expect_error(client.get(API + "/users/notifications", token=user.access, params=params), 400)


def test_notification_read_and_read_all(client, user, q, q1):
    ids = insert_notifications(q, user.id, [("info", False), ("info", False), ("alert", False)])
    r = client.put(API + "/users/notifications/%s/read" % ids[0], token=user.access)
    n = expect(r, 200)
    assert n["id"] == ids[0] and n["is_read"] is True and n["read_at"] is not None
    assert q1("SELECT is_read FROM flov7.notifications WHERE id = %s", (ids[0],)) is True
    assert q1("SELECT count(*) FROM flov7.notifications WHERE user_id = %s AND NOT is_read",
              (user.id,)) == 2

    unread = expect(client.get(API + "/users/notifications", token=user.access,
                               params={"is_read": "false"}), 200)
    assert unread["total"] == 2

    expect(client.put(API + "/users/notifications/read-all", token=user.access), 200)
    assert q1("SELECT count(*) FROM flov7.notifications WHERE user_id = %s AND NOT is_read",
              (user.id,)) == 0
    unread = expect(client.get(API + "/users/notifications", token=user.access,
                               params={"is_read": "false"}), 200)
    assert unread["total"] == 0 and unread["items"] == []


def test_notification_unknown_and_bad_uuid(client, user):
    expect_error(client.put(API + "/users/notifications/%s/read" % uuid.uuid4(), token=user.access), 404)
    expect_error(client.put(API + "/users/notifications/bogus/read", token=user.access), 400)


def test_notifications_require_auth(client):
    expect_error(client.get(API + "/users/notifications"), 401)
    expect_error(client.put(API + "/users/notifications/read-all"), 401)
