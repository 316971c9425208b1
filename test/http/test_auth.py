"""Auth endpoints: register, login, logout, me, verify, refresh (CONTRACT.md "Endpoints")."""

import time
import uuid

import pytest

from conftest import login
from flov7_client import (
    API, assert_error_body, assert_no_secret_fields, assert_token_shape, assert_user_shape,
    expect, expect_401, expect_error, jwt_parts, jwt_verify_hs256, unique_email,
)


def user_count(q1):
    return q1("SELECT count(*) FROM flov7.users")


# --------------------------------------------------------------------------- register

def test_register_returns_token_and_user(client, secret):
    email = unique_email()
    password = "Secret-" + uuid.uuid4().hex[:10]
    r = client.post(API + "/auth/register",
                    json_body={"email": email, "password": password, "full_name": "Ada Lovelace"})
    tok = expect(r, 201)
    assert_token_shape(tok, email)
    u = tok["user"]
    assert u["full_name"] == "Ada Lovelace"
    assert u["role"] == "user"
    assert u["is_active"] is True
    assert password not in r.text
    assert_no_secret_fields(tok["user"])
    assert jwt_verify_hs256(tok["access_token"], secret)


def test_register_without_full_name(client):
    email = unique_email()
    r = client.post(API + "/auth/register", json_body={"email": email, "password": "password-123"})
    tok = expect(r, 201)
    assert_token_shape(tok, email)


def test_issued_jwt_claims(user, secret):
    hdr, c, _ = jwt_parts(user.access)
    assert hdr["alg"] == "HS256"
    assert jwt_verify_hs256(user.access, secret)
    for k in ("sub", "role", "app_role", "email", "jti", "sid", "iat", "nbf", "exp", "iss"):
        assert k in c, "claim %s missing: %r" % (k, c)
    assert c["sub"] == user.id
    assert c["role"] == "flov7_user"
    assert c["app_role"] == "user"
    assert c["email"] == user.email
    assert c["iss"] == "flov7"
    uuid.UUID(c["jti"])
    uuid.UUID(c["sid"])
    for k in ("iat", "nbf", "exp"):
        assert isinstance(c[k], int), c
    now = time.time()
    assert c["iat"] <= now + 30 and c["nbf"] <= now + 30 and c["exp"] > now
    assert abs((c["exp"] - c["iat"]) - user.token_body["expires_in"]) <= 5, (c, user.token_body)


def test_register_duplicate_email_409(client, user, q1):
    before = user_count(q1)
    r = client.post(API + "/auth/register",
                    json_body={"email": user.email, "password": "another-password"})
    expect_error(r, 409, "23505")
    assert user_count(q1) == before


def test_register_cannot_choose_role(client, q1):
    email = unique_email()
    r = client.post(API + "/auth/register",
                    json_body={"email": email, "password": "password-123", "role": "admin",
                               "is_verified": True, "subscription_plan": "enterprise"})
    assert r.status_code in (201, 400), r.text
    if r.status_code == 201:
        assert r.json()["user"]["role"] == "user"
        assert_token_shape(r.json(), email)
    rows = q1("SELECT count(*) FROM flov7.users WHERE email = %s AND role <> 'user'", (email,))
    assert rows == 0


@pytest.mark.parametrize("email", [
    "not-an-email", "a@", "@example.com", "", "two@@example.com", "sp ace@example.com",
])
def test_register_bad_email_400(client, q1, email):
    before = user_count(q1)
    r = client.post(API + "/auth/register", json_body={"email": email, "password": "password-123"})
    expect_error(r, 400)
    assert user_count(q1) == before


@pytest.mark.parametrize("password", [
    "", "1234567",                     # < 8
    "a" * 73,                          # > 72 bytes
    "\u00e9" * 37,                     # 37 characters but 74 bytes in UTF-8
])
def test_register_bad_password_400(client, q1, password):
    before = user_count(q1)
    r = client.post(API + "/auth/register",
                    json_body={"email": unique_email(), "password": password})
    expect_error(r, 400)
    assert user_count(q1) == before


def test_register_password_boundaries_accepted(client):
    # exactly 8 characters and exactly 72 bytes are both fine
    for pw in ("12345678", "b" * 72, "\u00e9" * 36):
        email = unique_email()
        r = client.post(API + "/auth/register", json_body={"email": email, "password": pw})
        expect(r, 201)
        expect(client.post(API + "/auth/login", json_body={"email": email, "password": pw}), 200)


@pytest.mark.parametrize("body", [
    {},
    {"password": "password-123"},
    {"email": "EMAIL"},
    {"email": 12345, "password": "password-123"},
    {"email": "EMAIL", "password": 12345678},
    {"email": "EMAIL", "password": "password-123", "full_name": 42},
    {"email": None, "password": "password-123"},
    {"email": ["EMAIL"], "password": "password-123"},
    {"email": "EMAIL", "password": {"p": "password-123"}},
])
def test_register_missing_or_wrong_types_400(client, q1, body):
    email = unique_email()
    body = {k: (email if v == "EMAIL" else [email] if v == ["EMAIL"] else v) for k, v in body.items()}
    before = user_count(q1)
    r = client.post(API + "/auth/register", json_body=body)
    expect_error(r, 400)
    assert user_count(q1) == before
    assert q1("SELECT count(*) FROM flov7.users WHERE email = %s", (email,)) == 0


# --------------------------------------------------------------------------- login

def test_login_ok(client, user):
    tok = login(client, user.email, user.password)
    assert_token_shape(tok, user.email)
    assert tok["user"]["id"] == user.id
    assert tok["access_token"] != user.access
    assert tok["refresh_token"] != user.refresh
    assert user.password not in str(tok)


def test_login_wrong_password_and_unknown_email_same_401(client, user):
    r1 = client.post(API + "/auth/login", json_body={"email": user.email, "password": "wrong-password"})
    b1 = expect_401(r1)
    r2 = client.post(API + "/auth/login",
                     json_body={"email": unique_email(), "password": "wrong-password"})
    b2 = expect_401(r2)
    assert b1["message"] == b2["message"], (b1, b2)
    assert b1["code"] == b2["code"], (b1, b2)
    assert b1["details"] == b2["details"], (b1, b2)


@pytest.mark.parametrize("body", [{}, {"email": "x@example.com"}, {"password": "password-123"},
                                  {"email": 1, "password": "password-123"}])
def test_login_missing_fields_400(client, body):
    expect_error(client.post(API + "/auth/login", json_body=body), 400)


# --------------------------------------------------------------------------- me / verify

def test_me(client, user):
    u = expect(client.get(API + "/auth/me", token=user.access), 200)
    assert_user_shape(u, user.email)
    assert u["id"] == user.id
    assert u["full_name"] == "Test User"


def test_me_without_credentials_401(client):
    body = expect_error(client.get(API + "/auth/me"), 401)
    assert body


def test_verify_jwt(client, user):
    v = expect(client.get(API + "/auth/verify", token=user.access), 200)
    assert v["valid"] is True
    assert v["user_id"] == user.id
    assert v["email"] == user.email
    assert v["role"] == "user", v
    assert v["expires_at"] is not None


# --------------------------------------------------------------------------- logout

def test_logout_revokes_access_and_refresh(client, user):
    r = client.post(API + "/auth/logout", token=user.access, json_body={"refresh_token": user.refresh})
    assert expect(r, 200) == {"message": "logged out"}
    expect_401(client.get(API + "/auth/me", token=user.access))
    expect_401(client.post(API + "/auth/refresh", json_body={"refresh_token": user.refresh}))
    # a second logout with the revoked token is refused as well
    expect_401(client.post(API + "/auth/logout", token=user.access, json_body={}))


def test_logout_without_body_revokes_session_family(client, user):
    r = client.post(API + "/auth/logout", token=user.access)
    assert expect(r, 200) == {"message": "logged out"}
    expect_401(client.get(API + "/auth/me", token=user.access))
    # the refresh family (claim sid) is revoked too
    expect_401(client.post(API + "/auth/refresh", json_body={"refresh_token": user.refresh}))


def test_logout_leaves_other_sessions(client, user):
    other = login(client, user.email, user.password)
    expect(client.post(API + "/auth/logout", token=user.access,
                       json_body={"refresh_token": user.refresh}), 200)
    expect(client.get(API + "/auth/me", token=other["access_token"]), 200)
    t = expect(client.post(API + "/auth/refresh",
                           json_body={"refresh_token": other["refresh_token"]}), 200)
    assert_token_shape(t, user.email)


def test_logout_requires_auth(client):
    expect_error(client.post(API + "/auth/logout", json_body={}), 401)


# --------------------------------------------------------------------------- refresh

def test_refresh_rotates_and_reuse_revokes_family(client, user):
    r1 = user.refresh
    t2 = expect(client.post(API + "/auth/refresh", json_body={"refresh_token": r1}), 200)
    assert_token_shape(t2, user.email)
    assert t2["user"]["id"] == user.id
    r2 = t2["refresh_token"]
    assert r2 != r1
    assert jwt_parts(t2["access_token"])[1]["sid"] == jwt_parts(user.access)[1]["sid"]
    expect(client.get(API + "/auth/me", token=t2["access_token"]), 200)

    # the new refresh token works (and rotates again)
    t3 = expect(client.post(API + "/auth/refresh", json_body={"refresh_token": r2}), 200)
    r3 = t3["refresh_token"]
    assert r3 not in (r1, r2)

    # reusing an already-rotated token is refused and revokes the whole family
    b = expect_401(client.post(API + "/auth/refresh", json_body={"refresh_token": r1}))
    assert b["code"] == "28000", b
    expect_401(client.post(API + "/auth/refresh", json_body={"refresh_token": r3}))
    expect_401(client.post(API + "/auth/refresh", json_body={"refresh_token": r2}))


def test_refresh_garbage_401(client):
    expect_401(client.post(API + "/auth/refresh",
                           json_body={"refresh_token": "not-a-refresh-token-" + uuid.uuid4().hex}))


@pytest.mark.parametrize("body", [{}, {"refresh_token": 5}, {"refresh_token": None}])
def test_refresh_bad_input_400(client, body):
    expect_error(client.post(API + "/auth/refresh", json_body=body), 400)


def test_refresh_token_of_one_user_is_not_a_jwt_for_another(client, user):
    # a refresh token is not an access token
    r = client.get(API + "/auth/me", token=user.refresh)
    expect_401(r)
    assert_error_body(r.json())


def test_email_is_case_insensitive(client, q1):
    local = "MiXeD-" + uuid.uuid4().hex[:10]
    email = local + "@Example.COM"
    tok = expect(client.post(API + "/auth/register",
                             json_body={"email": email, "password": "password-123"}), 201)
    assert tok["user"]["email"] == email.lower()
    expect_error(client.post(API + "/auth/register",
                             json_body={"email": email.lower(), "password": "password-456"}), 409)
    assert q1("SELECT count(*) FROM flov7.users WHERE lower(email) = %s", (email.lower(),)) == 1
    t = login(client, email.upper(), "password-123")
    assert t["user"]["id"] == tok["user"]["id"]


def test_login_records_last_login(client, user):
    login(client, user.email, user.password)
    me = expect(client.get(API + "/auth/me", token=user.access), 200)
    assert me["last_login"] is not None, me


def test_expired_refresh_token_refused(client, user, q):
    q("UPDATE flov7.refresh_tokens SET expires_at = now() - interval '1 minute' WHERE user_id = %s",
      (user.id,))
    expect_401(client.post(API + "/auth/refresh", json_body={"refresh_token": user.refresh}))


def test_logout_with_someone_elses_refresh_token(client, make_user):
    a, b = make_user(), make_user()
    r = client.post(API + "/auth/logout", token=a.access, json_body={"refresh_token": b.refresh})
    assert r.status_code in (200, 400, 401, 403, 404), r.text
    # b's session is untouched
    expect(client.get(API + "/auth/me", token=b.access), 200)
    t = expect(client.post(API + "/auth/refresh", json_body={"refresh_token": b.refresh}), 200)
    assert t["user"]["id"] == b.id
