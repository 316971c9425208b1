"""Isolation: user A never sees nor changes user B's rows; B's rows are unchanged in the DB."""

import uuid

from flov7_client import API, expect, expect_error
from test_users import create_integration, insert_notifications


def row_text(q, table, rid):
    rows = q("SELECT to_jsonb(t)::text FROM flov7.%s t WHERE id = %%s" % table, (rid,))
    return rows[0][0] if rows else None


def test_integrations_of_another_user(client, make_user, q):
    a, b = make_user(), make_user()
    ib, secret = create_integration(client, b)
    before = row_text(q, "user_integrations", ib["id"])
    url = API + "/users/integrations/" + ib["id"]
    expect_error(client.get(url, token=a.access), 404, "P0002")
    expect_error(client.put(url, token=a.access,
                            json_body={"service_name": "stolen", "credentials": {"k": "v"},
                                       "is_active": False}), 404, "P0002")
    expect_error(client.delete(url, token=a.access), 404, "P0002")
    # and through an API key of A as well
    ka = expect(client.post(API + "/auth/api-keys", token=a.access, json_body={"name": "a"}), 201)
    expect_error(client.get(url, api_key=ka["key"]), 404)
    expect_error(client.delete(url, api_key=ka["key"]), 404)
    assert row_text(q, "user_integrations", ib["id"]) == before
    lst = expect(client.get(API + "/users/integrations", token=a.access), 200)
    assert lst["total"] == 0 and lst["items"] == []
    # B still has it, unchanged
    g = expect(client.get(url, token=b.access), 200)
    assert g["service_name"] == ib["service_name"] and g["is_active"] is True


def test_notifications_of_another_user(client, make_user, q):
    a, b = make_user(), make_user()
    (nb,) = insert_notifications(q, b.id, [("info", False)])
    insert_notifications(q, a.id, [("info", False)])
    before = row_text(q, "notifications", nb)
    expect_error(client.put(API + "/users/notifications/%s/read" % nb, token=a.access), 404, "P0002")
    expect(client.put(API + "/users/notifications/read-all", token=a.access), 200)
    assert row_text(q, "notifications", nb) == before
    la = expect(client.get(API + "/users/notifications", token=a.access), 200)
    assert nb not in [x["id"] for x in la["items"]] and la["total"] == 1
    lb = expect(client.get(API + "/users/notifications", token=b.access,
                           params={"is_read": "false"}), 200)
    assert [x["id"] for x in lb["items"]] == [nb]


def test_api_keys_of_another_user(client, make_user, q):
    a, b = make_user(), make_user()
    kb = expect(client.post(API + "/auth/api-keys", token=b.access, json_body={"name": "b"}), 201)
    before = row_text(q, "api_keys", kb["id"])
    expect_error(client.delete(API + "/auth/api-keys/" + kb["id"], token=a.access), 404, "P0002")
    la = expect(client.get(API + "/auth/api-keys", token=a.access), 200)
    assert kb["id"] not in [k["id"] for k in la["items"]]
    assert row_text(q, "api_keys", kb["id"]) == before
    me = expect(client.get(API + "/auth/me", api_key=kb["key"]), 200)
    assert me["id"] == b.id


def test_body_cannot_override_path_or_owner(client, make_user, q):
    """flov7.args merges query || body || path (path wins): an `id` or `user_id` in the body
    does not redirect the call to another row or owner."""
    a, b = make_user(), make_user()
    ia, _ = create_integration(client, a)
    ib, _ = create_integration(client, b)
    before_b = row_text(q, "user_integrations", ib["id"])
    r = client.put(API + "/users/integrations/" + ia["id"], token=a.access,
                   json_body={"id": ib["id"], "user_id": b.id, "service_name": "mine"})
    assert r.status_code in (200, 400), r.text
    assert row_text(q, "user_integrations", ib["id"]) == before_b
    owner = q("SELECT user_id::text FROM flov7.user_integrations WHERE id = %s", (ia["id"],))[0][0]
    assert owner == a.id
    # query string id does not beat the path either
    r = client.get(API + "/users/integrations/" + ia["id"], token=a.access, params={"id": ib["id"]})
    assert expect(r, 200)["id"] == ia["id"]
    # creating "for" someone else lands on the caller (or is refused)
    r = client.post(API + "/users/integrations", token=a.access,
                    json_body={"service_name": "gift-" + uuid.uuid4().hex[:6], "service_type": "api_key",
                               "credentials": {"k": "v"}, "user_id": b.id})
    assert r.status_code in (201, 400), r.text
    if r.status_code == 201:
        owner = q("SELECT user_id::text FROM flov7.user_integrations WHERE id = %s",
                  (r.json()["id"],))[0][0]
        assert owner == a.id
    lb = expect(client.get(API + "/users/integrations", token=b.access), 200)
    assert lb["total"] == 1
