"""The authorizer's cache across transactions, seen through frontd's pool (issue 8).

Each PostgreSQL backend of the pool keeps the callers it has resolved.  Every test warms the
pool first (bursts of concurrent requests, so that each pool connection answers some, while the
database counts cache hits), makes one change through the API, and then checks that the very
next burst of concurrent requests -- whichever pool connections serve them -- all see it.
"""

import concurrent.futures
import uuid

import pytest

from flov7_client import API, expect, expect_error

ADMIN = API + "/users/admin"
BURST = 24  # requests per burst, 8 at a time: more than the pool's connections


def burst(fn, n=BURST):
    """n calls of fn() in 8 threads; their HTTP status codes."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        return [r.status_code for r in ex.map(lambda _: fn(), range(n))]


def all_hits(q1):
    """Cache hits of all the cluster's backends so far (frontd's pool connections among them)."""
    return q1("SELECT all_hits FROM flov7.authz_cache_stats()")


def warm(q1, fn, expected=200):
    """Warm the pool: two bursts all answered `expected`, and the database counts at least a
    burst's worth of cache hits meanwhile (each pool connection misses once at most)."""
    before = all_hits(q1)
    for _ in range(2):
        codes = burst(fn)
        assert codes == [expected] * len(codes), codes
    assert all_hits(q1) - before >= BURST, "the pool's backends did not answer from their caches"


def test_revoked_key_refused_on_every_pool_connection(client, user, q1):
    k = expect(client.post(API + "/auth/api-keys", token=user.access,
                           json_body={"name": "cache-" + uuid.uuid4().hex[:8]}), 201)
    warm(q1, lambda: client.get(API + "/auth/me", api_key=k["key"]))
    expect(client.delete(API + "/auth/api-keys/" + k["id"], token=user.access), 204)
    codes = burst(lambda: client.get(API + "/auth/me", api_key=k["key"]))
    assert codes == [401] * BURST, codes


def test_logged_out_token_refused_on_every_pool_connection(client, user, q1):
    warm(q1, lambda: client.get(API + "/auth/me", token=user.access))
    expect(client.post(API + "/auth/logout", token=user.access,
                       json_body={"refresh_token": user.refresh}), 200)
    codes = burst(lambda: client.get(API + "/auth/me", token=user.access))
    assert codes == [401] * BURST, codes


def test_deactivated_user_refused_on_every_pool_connection(client, admin, make_user, q1):
    u = make_user()
    k = expect(client.post(API + "/auth/api-keys", token=u.access,
                           json_body={"name": "cache-" + uuid.uuid4().hex[:8]}), 201)
    warm(q1, lambda: client.get(API + "/auth/me", token=u.access))
    warm(q1, lambda: client.get(API + "/auth/me", api_key=k["key"]))
    expect(client.put("%s/users/%s/status" % (ADMIN, u.id), token=admin.access,
                      json_body={"is_active": False}), 200)
    # deactivation ends the token's session (401); the key is refused as the owner's (403)
    assert burst(lambda: client.get(API + "/auth/me", token=u.access)) == [401] * BURST
    assert burst(lambda: client.get(API + "/auth/me", api_key=k["key"])) == [403] * BURST
    expect(client.put("%s/users/%s/status" % (ADMIN, u.id), token=admin.access,
                      json_body={"is_active": True}), 200)
    # reactivated: the key works again on every connection; the ended session does not come back
    assert burst(lambda: client.get(API + "/auth/me", api_key=k["key"])) == [200] * BURST
    assert burst(lambda: client.get(API + "/auth/me", token=u.access)) == [401] * BURST


def test_demoted_admin_refused_on_every_pool_connection(client, admin, make_user, q1):
    from conftest import login
    u = make_user()
    expect(client.put("%s/users/%s/role" % (ADMIN, u.id), token=admin.access,
                      json_body={"role": "admin"}), 200)
    tok = login(client, u.email, u.password)["access_token"]
    warm(q1, lambda: client.get(ADMIN + "/stats", token=tok))
    expect(client.put("%s/users/%s/role" % (ADMIN, u.id), token=admin.access,
                      json_body={"role": "user"}), 200)
    codes = burst(lambda: client.get(ADMIN + "/stats", token=tok))
    assert codes == [403] * BURST, codes
