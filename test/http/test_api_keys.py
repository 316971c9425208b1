"""API keys: create (shown once), list (never shown), revoke, use via X-API-Key and Bearer,
scopes (a subset of the owner's permissions)."""

import datetime
import uuid

import pytest

from flov7_client import (
    API, API_KEY_KEYS, assert_error_body, assert_list_shape, expect, expect_401, expect_error,
    http_request_bytes,
)

# Permission names of the extension's RBAC table (scopes): one that allows reading the
# profile and nothing else used below, and one only admins hold.
SCOPE_PROFILE_READ = "profile:read"
SCOPE_ADMIN = "admin:users"


def create_key(client, user, **body):
    body.setdefault("name", "key-" + uuid.uuid4().hex[:8])
    r = client.post(API + "/auth/api-keys", token=user.access, json_body=body)
    k = expect(r, 201)
    assert API_KEY_KEYS <= set(k), "API key lacks %r" % sorted(API_KEY_KEYS - set(k))
    assert isinstance(k["key"], str) and k["key"].startswith("flv7_"), k
    assert len(k["key"]) >= 5 + 20, k
    assert k["name"] == body["name"]
    assert isinstance(k["permissions"], list), k
    assert k["is_active"] is True
    return k


def test_create_list_key_shown_once(client, user, q1):
    k = create_key(client, user)
    lst = expect(client.get(API + "/auth/api-keys", token=user.access), 200)
    assert_list_shape(lst)
    ids = [i["id"] for i in lst["items"]]
    assert k["id"] in ids
    for item in lst["items"]:
        assert "key" not in item, item
        assert API_KEY_KEYS <= set(item), item
        for name, v in item.items():
            assert "hash" not in name.lower(), item
            # a short display prefix (flv7_ + a few characters) is fine, the key is not
            assert not (isinstance(v, str) and v.startswith("flv7_") and len(v) > 5 + 16), item
    assert k["key"] not in client.get(API + "/auth/api-keys", token=user.access).text
    # stored as a hash, not in clear
    row = q1("SELECT to_jsonb(k)::text FROM flov7.api_keys k WHERE id = %s", (k["id"],))
    assert k["key"] not in row
    assert k["key"][5:] not in row


def test_use_key_via_x_api_key_and_bearer(client, user):
    k = create_key(client, user)
    for kw in ({"api_key": k["key"]}, {"bearer_key": k["key"]}):
        me = expect(client.get(API + "/auth/me", **kw), 200)
        assert me["id"] == user.id
        v = expect(client.get(API + "/auth/verify", **kw), 200)
        assert v["valid"] is True and v["user_id"] == user.id
        assert v["expires_at"] is None, v


def test_default_key_can_use_owner_permissions(client, user):
    k = create_key(client, user)
    expect(client.get(API + "/users/integrations", api_key=k["key"]), 200)
    expect(client.get(API + "/users/profile", api_key=k["key"]), 200)


def test_revoke_key(client, user):
    k = create_key(client, user)
    expect(client.get(API + "/auth/me", api_key=k["key"]), 200)
    r = client.delete(API + "/auth/api-keys/" + k["id"], token=user.access)
    expect(r, 204)
    expect_401(client.get(API + "/auth/me", api_key=k["key"]))
    expect_401(client.get(API + "/auth/me", bearer_key=k["key"]))
    lst = expect(client.get(API + "/auth/api-keys", token=user.access), 200)
    for item in lst["items"]:
        if item["id"] == k["id"]:
            assert item["is_active"] is False, item
    # revoking twice: nothing to revoke any more, or idempotent; never a server error
    r = client.delete(API + "/auth/api-keys/" + k["id"], token=user.access)
    assert r.status_code in (204, 404), r.text


def test_revoke_other_users_key_404(client, make_user, q1):
    a, b = make_user(), make_user()
    kb = create_key(client, b)
    before = q1("SELECT to_jsonb(k)::text FROM flov7.api_keys k WHERE id = %s", (kb["id"],))
    expect_error(client.delete(API + "/auth/api-keys/" + kb["id"], token=a.access), 404)
    after = q1("SELECT to_jsonb(k)::text FROM flov7.api_keys k WHERE id = %s", (kb["id"],))
    assert before == after
    expect(client.get(API + "/auth/me", api_key=kb["key"]), 200)
    # and a's list does not show b's key
    lst = expect(client.get(API + "/auth/api-keys", token=a.access), 200)
    assert kb["id"] not in [i["id"] for i in lst["items"]]


def test_revoke_unknown_and_bad_uuid(client, user):
    expect_error(client.delete(API + "/auth/api-keys/" + str(uuid.uuid4()), token=user.access), 404)
    expect_error(client.delete(API + "/auth/api-keys/not-a-uuid", token=user.access), 400)


def test_unknown_key_401(client):
    fake = "flv7_" + uuid.uuid4().hex + uuid.uuid4().hex
    expect_401(client.get(API + "/auth/me", api_key=fake))
    expect_401(client.get(API + "/auth/me", bearer_key=fake))
    expect_401(client.get(API + "/auth/me", api_key="flv7_"))


def test_scoped_key_refused_elsewhere_403(client, user):
    k = create_key(client, user, permissions=[SCOPE_PROFILE_READ])
    assert k["permissions"] == [SCOPE_PROFILE_READ]
    expect(client.get(API + "/users/profile", api_key=k["key"]), 200)
    expect_error(client.get(API + "/users/integrations", api_key=k["key"]), 403, "42501")
    expect_error(client.put(API + "/users/profile", api_key=k["key"],
                            json_body={"full_name": "Changed By Scoped Key"}), 403, "42501")
    expect_error(client.post(API + "/users/integrations", api_key=k["key"],
                             json_body={"service_name": "x", "service_type": "api_key",
                                        "credentials": {"k": "v"}}), 403, "42501")
    prof = expect(client.get(API + "/users/profile", token=user.access), 200)
    assert prof["full_name"] == "Test User"


def test_scope_not_held_by_owner_400(client, user, q1):
    before = q1("SELECT count(*) FROM flov7.api_keys")
    r = client.post(API + "/auth/api-keys", token=user.access,
                    json_body={"name": "escalate", "permissions": [SCOPE_ADMIN]})
    expect_error(r, 400)
    r = client.post(API + "/auth/api-keys", token=user.access,
                    json_body={"name": "unknown", "permissions": ["no-such:scope"]})
    expect_error(r, 400)
    assert q1("SELECT count(*) FROM flov7.api_keys") == before


@pytest.mark.parametrize("body", [
    {},
    {"name": 5},
    {"name": ""},
    {"name": "x", "permissions": "profile:read"},
    {"name": "x", "permissions": [1, 2]},
    {"name": "x", "expires_at": "not-a-date"},
])
def test_create_bad_input_400(client, user, q1, body):
    before = q1("SELECT count(*) FROM flov7.api_keys")
    expect_error(client.post(API + "/auth/api-keys", token=user.access, json_body=body), 400)
    assert q1("SELECT count(*) FROM flov7.api_keys") == before


def test_expires_at_round_trips(client, user):
    when = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)).replace(microsecond=0)
    k = create_key(client, user, expires_at=when.isoformat())
    got = datetime.datetime.fromisoformat(k["expires_at"].replace("Z", "+00:00"))
    assert abs((got - when).total_seconds()) < 2, k
    expect(client.get(API + "/auth/me", api_key=k["key"]), 200)


def test_api_keys_require_auth(client):
    expect_error(client.get(API + "/auth/api-keys"), 401)
    expect_error(client.post(API + "/auth/api-keys", json_body={"name": "x"}), 401)


def test_admin_api_key_is_a_user_role_on_admin_routes(client, admin):
    """CONTRACT.md: any API key runs as flov7_user; admin functions are granted to flov7_admin
    only, so even an admin's key gets 403 on an admin route."""
    k = create_key(client, admin)
    expect_error(client.get(API + "/users/admin/stats", api_key=k["key"]), 403)
    expect(client.delete(API + "/auth/api-keys/" + k["id"], token=admin.access), 204)


def test_api_key_quota_403(client, user, q1):
    """Plan quotas (flov7.plan_quotas) are enforced with 53400 -> 403."""
    limit = q1("SELECT max_api_keys FROM flov7.plan_quotas p JOIN flov7.users u "
               "ON u.subscription_plan = p.plan WHERE u.id = %s", (user.id,))
    if limit is None or limit > 20:
        pytest.skip("the user's plan has no small API key quota")
    for _ in range(limit):
        create_key(client, user)
    r = client.post(API + "/auth/api-keys", token=user.access, json_body={"name": "one-too-many"})
    expect_error(r, 403, "53400")
    assert q1("SELECT count(*) FROM flov7.api_keys WHERE user_id = %s AND is_active", (user.id,)) == limit


def test_authentication_only_routes_accept_any_scope(client, user):
    """auth_verify and auth_logout authenticate without naming a permission (CONTRACT.md)."""
    k = create_key(client, user, permissions=["integrations:read"])
    expect_error(client.get(API + "/users/profile", api_key=k["key"]), 403, "42501")
    v = expect(client.get(API + "/auth/verify", api_key=k["key"]), 200)
    assert v["user_id"] == user.id and v["expires_at"] is None


def test_both_jwt_and_api_key_401(client, user):
    k = create_key(client, user)
    r = client.get(API + "/auth/me", token=user.access, api_key=k["key"])
    expect_401(r)
    r = client.get(API + "/auth/me", bearer_key=k["key"], api_key=k["key"])
    expect_401(r)


def test_duplicate_credential_headers_400(raw, user, client):
    k = create_key(client, user)
    cases = [
        [("Authorization", "Bearer " + user.access), ("Authorization", "Bearer " + user.access)],
        [("X-API-Key", k["key"]), ("X-API-Key", k["key"])],
    ]
    for headers in cases:
        c = raw()
        c.send(http_request_bytes("GET", API + "/auth/me", headers=headers))
        r = c.read_response()
        assert r is not None and r.status == 400, r
        assert_error_body(r.json())


def test_expired_key_refused(client, user, q):
    k = create_key(client, user)
    expect(client.get(API + "/auth/me", api_key=k["key"]), 200)
    q("UPDATE flov7.api_keys SET expires_at = now() - interval '1 minute' WHERE id = %s", (k["id"],))
    expect_401(client.get(API + "/auth/me", api_key=k["key"]))
    expect_401(client.get(API + "/auth/me", bearer_key=k["key"]))


def test_key_usage_recorded(client, user):
    k = create_key(client, user)
    assert k["usage_count"] == 0 and k["last_used_at"] is None, k
    for _ in range(2):
        expect(client.get(API + "/auth/me", api_key=k["key"]), 200)
    lst = expect(client.get(API + "/auth/api-keys", token=user.access), 200)
    (item,) = [i for i in lst["items"] if i["id"] == k["id"]]
    assert item["usage_count"] >= 2 and item["last_used_at"] is not None, item


def test_deleted_user_credentials_refused(client, user, q):
    k = create_key(client, user)
    q("DELETE FROM flov7.users WHERE id = %s", (user.id,))
    expect_401(client.get(API + "/auth/me", token=user.access))
    expect_401(client.get(API + "/auth/me", api_key=k["key"]))
    expect_401(client.post(API + "/auth/refresh", json_body={"refresh_token": user.refresh}))
