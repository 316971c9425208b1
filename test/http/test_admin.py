"""Admin routes: list users, set role, set status, stats; refusals for non-admins; role and
status changes take effect on existing credentials (the authorizer re-checks the tables)."""

import uuid

import pytest

from conftest import login, register
from flov7_client import (
    API, assert_list_shape, assert_no_secret_fields, assert_user_shape, expect, expect_error, jwt_parts, unique_email,
)

ADMIN = API + "/users/admin"


def set_role(client, admin, uid, role):
    r = client.put("%s/users/%s/role" % (ADMIN, uid), token=admin.access, json_body={"role": role})
    body = expect(r, 200)
    assert isinstance(body, dict), body
    return body


def set_status(client, admin, uid, active):
    r = client.put("%s/users/%s/status" % (ADMIN, uid), token=admin.access,
                   json_body={"is_active": active})
    body = expect(r, 200)
    assert isinstance(body, dict), body
    return body


def db_user(q, uid):
    (role, active), = q("SELECT role::text, is_active FROM flov7.users WHERE id = %s", (uid,))
    return role, active


def test_admin_list_users_filters_and_pagination(client, admin, q):
    tag = uuid.uuid4().hex[:10]
    users = [register(client, email="adm-%s-%d@example.com" % (tag, n), full_name="Person %d" % n)
             for n in range(3)]
    named = register(client, email=unique_email(), full_name="Zed Name%s" % tag[::-1])
    set_role(client, admin, users[0].id, "premium")
    set_status(client, admin, users[1].id, False)

    url = ADMIN + "/users"
    r = client.get(url, token=admin.access, params={"search": tag})
    body = expect(r, 200)
    assert_list_shape(body)
    assert body["total"] == 3
    assert sorted(u["id"] for u in body["items"]) == sorted(u.id for u in users)
    for u in body["items"]:
        assert_user_shape(u)
        assert_no_secret_fields(u)
    for u in users:
        assert u.password not in r.text

    body = expect(client.get(url, token=admin.access, params={"search": tag[::-1]}), 200)
    assert [u["id"] for u in body["items"]] == [named.id]

    body = expect(client.get(url, token=admin.access, params={"search": tag, "role": "premium"}), 200)
    assert body["total"] == 1 and body["items"][0]["id"] == users[0].id
    assert body["items"][0]["role"] == "premium"
    body = expect(client.get(url, token=admin.access, params={"search": tag, "role": "user"}), 200)
    assert body["total"] == 2
    body = expect(client.get(url, token=admin.access, params={"search": tag, "is_active": "false"}), 200)
    assert body["total"] == 1 and body["items"][0]["id"] == users[1].id
    assert body["items"][0]["is_active"] is False
    body = expect(client.get(url, token=admin.access, params={"search": tag, "is_active": "true"}), 200)
    assert body["total"] == 2

    p1 = expect(client.get(url, token=admin.access, params={"search": tag, "limit": 2}), 200)
    assert_list_shape(p1, 2, 0)
    assert len(p1["items"]) == 2 and p1["total"] == 3
    p2 = expect(client.get(url, token=admin.access,
                           params={"search": tag, "limit": 2, "offset": 2}), 200)
    assert_list_shape(p2, 2, 2)
    assert len(p2["items"]) == 1
    assert len({u["id"] for u in p1["items"] + p2["items"]}) == 3

    # without filters the admin sees everybody (at least these and itself)
    body = expect(client.get(url, token=admin.access, params={"limit": 100}), 200)
    assert body["total"] >= 5


@pytest.mark.parametrize("params", [{"role": "emperor"}, {"is_active": "sometimes"},
                                    {"limit": "1000"}, {"offset": "-5"}])
def test_admin_list_users_bad_filters_400(client, admin, params):
    expect_error(client.get(ADMIN + "/users", token=admin.access, params=params), 400)


def test_admin_set_role(client, admin, user, q):
    for role in ("premium", "admin", "user"):
        set_role(client, admin, user.id, role)
        assert db_user(q, user.id)[0] == role
        body = expect(client.get(ADMIN + "/users", token=admin.access,
                                 params={"search": user.email}), 200)
        assert body["items"][0]["role"] == role


def test_premium_token_claims(client, admin, user):
    set_role(client, admin, user.id, "premium")
    # the old token still works, and /auth/me tells the role from the table, not the token
    me = expect(client.get(API + "/auth/me", token=user.access), 200)
    assert me["role"] == "premium", me
    tok = login(client, user.email, user.password)
    c = jwt_parts(tok["access_token"])[1]
    assert c["role"] == "flov7_user" and c["app_role"] == "premium"
    assert tok["user"]["role"] == "premium"


@pytest.mark.parametrize("body", [{"role": "emperor"}, {}, {"role": 1}, {"role": None},
                                  {"role": ["admin"]}])
def test_admin_set_role_bad_input_400(client, admin, user, q, body):
    before = db_user(q, user.id)
    expect_error(client.put("%s/users/%s/role" % (ADMIN, user.id), token=admin.access,
                            json_body=body), 400)
    assert db_user(q, user.id) == before


@pytest.mark.parametrize("body", [{"is_active": "no"}, {}, {"is_active": 0},
                                  {"is_active": None}])
def test_admin_set_status_bad_input_400(client, admin, user, q, body):
    before = db_user(q, user.id)
    expect_error(client.put("%s/users/%s/status" % (ADMIN, user.id), token=admin.access,
                            json_body=body), 400)
    assert db_user(q, user.id) == before


def test_admin_unknown_user_404_bad_uuid_400(client, admin):
    nid = str(uuid.uuid4())
    expect_error(client.put("%s/users/%s/role" % (ADMIN, nid), token=admin.access,
                            json_body={"role": "premium"}), 404)
    expect_error(client.put("%s/users/%s/status" % (ADMIN, nid), token=admin.access,
                            json_body={"is_active": False}), 404)
    expect_error(client.put("%s/users/not-a-uuid/role" % ADMIN, token=admin.access,
                            json_body={"role": "premium"}), 400)
    expect_error(client.put("%s/users/not-a-uuid/status" % ADMIN, token=admin.access,
                            json_body={"is_active": False}), 400)


def test_admin_stats(client, admin):
    s = expect(client.get(ADMIN + "/stats", token=admin.access), 200)
    assert isinstance(s, dict) and s, s
    # platform-wide: another user's registration changes them
    register(client)
    s2 = expect(client.get(ADMIN + "/stats", token=admin.access), 200)
    assert s2 != s, "admin stats unchanged after a registration: %r" % s2


def admin_calls(victim_id):
    return [
        ("GET", ADMIN + "/users", None),
        ("PUT", "%s/users/%s/role" % (ADMIN, victim_id), {"role": "admin"}),
        ("PUT", "%s/users/%s/status" % (ADMIN, victim_id), {"is_active": False}),
        ("GET", ADMIN + "/stats", None),
    ]


def test_non_admin_refused_403_everywhere(client, make_user, q):
    u, victim = make_user(), make_user()
    for method, path, body in admin_calls(victim.id):
        expect_error(client.request(method, path, token=u.access, json_body=body), 403, "42501")
    assert db_user(q, victim.id) == ("user", True)
    assert db_user(q, u.id) == ("user", True)


def test_anonymous_refused_401_everywhere(client, user, q):
    for method, path, body in admin_calls(user.id):
        expect_error(client.request(method, path, json_body=body), 401)
    assert db_user(q, user.id) == ("user", True)


def test_promoted_user_old_token_vs_new_login(client, admin, user):
    """Promotion: the old token still says role flov7_user, and flov7_user has no EXECUTE on
    the admin functions, so it keeps getting 403; a new login issues a flov7_admin token."""
    set_role(client, admin, user.id, "admin")
    expect_error(client.get(ADMIN + "/stats", token=user.access), 403)
    tok = login(client, user.email, user.password)
    c = jwt_parts(tok["access_token"])[1]
    assert c["role"] == "flov7_admin" and c["app_role"] == "admin"
    expect(client.get(ADMIN + "/stats", token=tok["access_token"]), 200)
    expect(client.get(ADMIN + "/users", token=tok["access_token"], params={"limit": 1}), 200)

    # demoted again: the flov7_admin token still verifies in frontd, but the authorizer
    # re-checks the role from the table and refuses (42501 -> 403)
    set_role(client, admin, user.id, "user")
    expect_error(client.get(ADMIN + "/stats", token=tok["access_token"]), 403, "42501")
    expect_error(client.get(ADMIN + "/users", token=tok["access_token"]), 403, "42501")
    # ordinary user routes still work with either token
    expect(client.get(API + "/auth/me", token=user.access), 200)


def test_deactivated_user_refused_everywhere(client, admin, user, q):
    kr = client.post(API + "/auth/api-keys", token=user.access, json_body={"name": "before-ban"})
    key = expect(kr, 201)["key"]
    expect(client.get(API + "/auth/me", api_key=key), 200)

    set_status(client, admin, user.id, False)
    assert db_user(q, user.id) == ("user", False)
    # deactivation ended the user's sessions: their access tokens are revoked (28000 -> 401)
    expect_error(client.get(API + "/auth/me", token=user.access), 401, "28000")
    expect_error(client.get(API + "/users/profile", token=user.access), 401, "28000")
    # an API key is kept, but its inactive owner is refused: 42501 -> 403 (credentials given)
    expect_error(client.get(API + "/auth/me", api_key=key), 403, "42501")
    expect_error(client.get(API + "/users/integrations", bearer_key=key), 403, "42501")
    # anonymous calls for an inactive account -> 401
    expect_error(client.post(API + "/auth/login",
                             json_body={"email": user.email, "password": user.password}), 401)
    expect_error(client.post(API + "/auth/refresh", json_body={"refresh_token": user.refresh}), 401)

    set_status(client, admin, user.id, True)
    assert db_user(q, user.id) == ("user", True)
    tok = login(client, user.email, user.password)
    expect(client.get(API + "/auth/me", token=tok["access_token"]), 200)
    expect(client.get(API + "/auth/me", api_key=key), 200)


def test_deactivated_admin_token_refused(client, admin, make_user):
    other = make_user()
    set_role(client, admin, other.id, "admin")
    tok = login(client, other.email, other.password)
    set_status(client, admin, other.id, False)
    expect_error(client.get(ADMIN + "/stats", token=tok["access_token"]), 401, "28000")
    expect_error(client.post(API + "/auth/login",
                             json_body={"email": other.email, "password": other.password}), 401)
    set_status(client, admin, other.id, True)
    set_role(client, admin, other.id, "user")
