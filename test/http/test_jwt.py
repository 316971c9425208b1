"""JWT verification by frontd (HS256 pinned, integer exp required, exp/nbf/iat with 30 s leeway,
role claim limited to flov7_user/flov7_admin) and by the extension (unknown user, revoked jti).

Each attack starts from the claims of a real, working token, so that only the attacked part
differs; the control tests show that the same claims re-signed correctly are accepted."""

import json
import time
import uuid

import pytest

from conftest import register
from flov7_client import (
    API, Client, b64url, b64url_decode, claims_for, expect, expect_401, jwt_parts, jwt_sign,
)

ME = API + "/auth/me"


@pytest.fixture(scope="module")
def victim(base_url):
    """One registered user whose real token the attacks start from (not logged out here)."""
    return register(Client(base_url))


def claims_of(victim, **over):
    c = dict(jwt_parts(victim.access)[1])
    for k, v in over.items():
        if v is DROP:
            c.pop(k, None)
        else:
            c[k] = v
    return c


DROP = object()


def frontd_401(r):
    """A 401 decided by frontd's verifier: Bearer challenge with error="invalid_token"."""
    expect_401(r)
    www = r.headers["WWW-Authenticate"]
    assert 'error="invalid_token"' in www, www


# --------------------------------------------------------------------------- controls

def test_control_resigned_real_claims_accepted(client, victim, secret):
    tok = jwt_sign(claims_of(victim, exp=int(time.time()) + 300), secret)
    me = expect(client.get(ME, token=tok), 200)
    assert me["id"] == victim.id


def test_control_within_leeway_accepted(client, victim, secret):
    now = int(time.time())
    tok = jwt_sign(claims_of(victim, exp=now - 5), secret)
    expect(client.get(ME, token=tok), 200)
    tok = jwt_sign(claims_of(victim, nbf=now + 10, iat=now + 10), secret)
    expect(client.get(ME, token=tok), 200)


# --------------------------------------------------------------------------- signature / alg

@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_unsigned(client, victim, alg):
    c = claims_of(victim)
    tok = jwt_sign(c, None, alg=alg, header={"alg": alg, "typ": "JWT"})
    frontd_401(client.get(ME, token=tok))
    frontd_401(client.get(ME, token=tok.rstrip(".")))


def test_wrong_key(client, victim):
    tok = jwt_sign(claims_of(victim), "x" * 32 + "-definitely-not-the-secret")
    frontd_401(client.get(ME, token=tok))


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_right_secret(client, victim, secret, alg):
    tok = jwt_sign(claims_of(victim), secret, alg=alg)
    frontd_401(client.get(ME, token=tok))


def test_header_says_hs256_but_signed_hs512(client, victim, secret):
    good = jwt_sign(claims_of(victim), secret, alg="HS512")
    h, p, s = good.split(".")
    h256 = b64url(b'{"alg":"HS256","typ":"JWT"}')
    frontd_401(client.get(ME, token=h256 + "." + p + "." + s))


def test_tampered_payload_keeps_signature(client, make_user):
    a, b = make_user(), make_user()
    # a's real token is used first, so a verification cache (if any) knows it
    assert expect(client.get(ME, token=a.access), 200)["id"] == a.id
    h, p, s = a.access.split(".")
    c = claims_of(a, sub=b.id, email=b.email)
    p2 = b64url(json.dumps(c, separators=(",", ":")).encode())
    frontd_401(client.get(ME, token=h + "." + p2 + "." + s))
    # flipping one bit of the signature is refused as well
    sig = bytearray(b64url_decode(s))
    sig[0] ^= 1
    frontd_401(client.get(ME, token=h + "." + p + "." + b64url(bytes(sig))))


def test_truncated_signature(client, victim):
    frontd_401(client.get(ME, token=victim.access[:-4]))
    h, p, _ = victim.access.split(".")
    frontd_401(client.get(ME, token=h + "." + p + "."))


# --------------------------------------------------------------------------- time claims

def test_expired_beyond_leeway(client, victim, secret):
    now = int(time.time())
    frontd_401(client.get(ME, token=jwt_sign(claims_of(victim, exp=now - 120, iat=now - 900,
                                                       nbf=now - 900), secret)))


def test_nbf_in_future(client, victim, secret):
    now = int(time.time())
    frontd_401(client.get(ME, token=jwt_sign(claims_of(victim, nbf=now + 600), secret)))


def test_iat_in_future(client, victim, secret):
    now = int(time.time())
    frontd_401(client.get(ME, token=jwt_sign(claims_of(victim, iat=now + 600), secret)))


def test_missing_exp(client, victim, secret):
    frontd_401(client.get(ME, token=jwt_sign(claims_of(victim, exp=DROP), secret)))


@pytest.mark.parametrize("bad_exp", ["STR", "FLOAT", None, True, [1], {"t": 1}])
def test_non_integer_exp(client, victim, secret, bad_exp):
    now = int(time.time())
    if bad_exp == "STR":
        exp = str(now + 600)
    elif bad_exp == "FLOAT":
        exp = now + 600.5
    else:
        exp = bad_exp
    frontd_401(client.get(ME, token=jwt_sign(claims_of(victim, exp=exp), secret)))


# --------------------------------------------------------------------------- role claim

@pytest.mark.parametrize("role", ["postgres", "flov7_authenticator", "flov7_anon", "",
                                  "FLOV7_USER", "flov7_user ", None, 1, DROP])
def test_role_claim_not_allowed(client, victim, secret, role):
    frontd_401(client.get(ME, token=jwt_sign(claims_of(victim, role=role), secret)))


def test_forged_admin_role_for_normal_user_refused(client, victim, secret):
    """The secret-holder case: a flov7_admin token for a user whose table role is 'user'. The
    authorizer re-checks the role from the table: 42501 -> 403."""
    tok = jwt_sign(claims_of(victim, role="flov7_admin", app_role="admin"), secret)
    r = client.get(API + "/users/admin/stats", token=tok)
    assert r.status_code == 403, r.text


# --------------------------------------------------------------------------- garbage

@pytest.mark.parametrize("auth", [
    "Bearer garbage",
    "Bearer a.b.c",
    "Bearer ...",
    "Bearer ..",
    "Bearer .eyJzdWIiOiJ4In0.c2ln",              # empty header segment
    "Bearer eyJhbGciOiJIUzI1NiJ9..c2ln",         # empty payload segment
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln.extra",
    "Bearer =.=.=",
    "Bearer eyJhbGciOiJIUzI1NiJ9.!!!!.c2ln",     # not base64url
    "Bearer eyJhbGciOiJIUzI1NiJ9",
    "Bearer " + "A" * 2000,
    "Bearer ",
    "Bearer",
    "Basic dXNlcjpwYXNz",
    "Digest username=x",
    "Token abc",
    "garbage",
])
def test_garbage_authorization(client, auth):
    r = client.get(ME, headers={"Authorization": auth})
    expect_401(r)


def test_non_json_payload(client, secret):
    tok = jwt_sign(None, secret, raw_payload=b"not json at all")
    frontd_401(client.get(ME, token=tok))
    tok = jwt_sign(None, secret, raw_payload=b"[1,2,3]")
    frontd_401(client.get(ME, token=tok))


# --------------------------------------------------------------------------- extension side

def test_valid_token_for_unknown_user(client, secret):
    tok = jwt_sign(claims_for(uuid.uuid4(), email="ghost-%s@example.com" % uuid.uuid4().hex[:8]),
                   secret)
    expect_401(client.get(ME, token=tok))


def test_valid_token_with_non_uuid_sub(client, secret):
    tok = jwt_sign(claims_for("not-a-uuid"), secret)
    expect_401(client.get(ME, token=tok))


def test_revoked_after_logout(client, user, secret):
    expect(client.post(API + "/auth/logout", token=user.access, json_body={}), 200)
    expect_401(client.get(ME, token=user.access))
    # the same jti re-signed with a fresh exp is still revoked
    tok = jwt_sign(claims_of(user, exp=int(time.time()) + 300), secret)
    expect_401(client.get(ME, token=tok))


def test_expiry_honoured_after_first_use(client, victim, secret):
    """A token accepted once (and perhaps cached by frontd) is refused once it expires."""
    validity = 6
    exp = int(time.time()) - 30 + validity      # valid (with the 30 s leeway) for ~6 s more
    tok = jwt_sign(claims_of(victim, exp=exp, iat=exp - 600, nbf=exp - 600), secret)
    expect(client.get(ME, token=tok), 200)
    time.sleep(max(0.0, exp + 30 + 2 - time.time()))
    frontd_401(client.get(ME, token=tok))
