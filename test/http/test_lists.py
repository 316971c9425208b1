"""Lists that cost by the page, over HTTP: total_is_estimate, Content-Range and Preference-Applied
(PostgREST's Prefer: count=exact), next_cursor round trips, and 400s for bad cursors and page
arguments (tampered, malformed, another user's, another list's or sort's, mixed with offset)."""

import base64
import json
import uuid

from flov7_client import API, expect, expect_error

ALLOWED_ORIGIN = "http://allowed.example"    # test/run.sh starts frontd with it


def notifications(q, user_id, n, same_instant=0):
    """n notifications for user_id; the first same_instant of them share one created_at."""
    q("INSERT INTO flov7.notifications (user_id, type, title, created_at)"
      " SELECT %s, CASE WHEN g %% 2 = 0 THEN 'even' ELSE 'odd' END, 'n' || g,"
      "        CASE WHEN g <= %s THEN timestamptz '2024-01-01' ELSE timestamptz '2024-01-01' + g * interval '1 ms' END"
      "   FROM generate_series(1, %s) g", (user_id, same_instant, n))


def page(client, user, path, **params):
    return client.get(API + path, token=user.access, params=params)


def test_small_list_exact_total_and_headers(client, user, q):
    notifications(q, user.id, 5)
    r = page(client, user, "/users/notifications", limit=2)
    body = expect(r, 200)
    assert set(body) >= {"items", "total", "total_is_estimate", "limit", "offset", "next_cursor"}, body
    assert (body["total"], body["total_is_estimate"], body["limit"], body["offset"]) == (5, False, 2, 0), body
    assert r.headers.get("Content-Range") == "0-1/5", r.headers
    assert "Preference-Applied" not in r.headers, r.headers
    last = expect(page(client, user, "/users/notifications", limit=2, offset=4), 200)
    assert last["next_cursor"] is None and len(last["items"]) == 1, last


def test_large_list_estimate_unless_count_exact(client, user, q):
    notifications(q, user.id, 1205)
    q("ANALYZE flov7.notifications")
    r = page(client, user, "/users/notifications", limit=10)
    body = expect(r, 200)
    assert body["total_is_estimate"] is True and body["total"] > 1000, body
    assert r.headers.get("Content-Range") == "0-9/*", r.headers

    r = client.get(API + "/users/notifications", token=user.access, params={"limit": 10},
                   headers={"Prefer": "count=exact"})
    body = expect(r, 200)
    assert (body["total"], body["total_is_estimate"]) == (1205, False), body
    assert r.headers.get("Content-Range") == "0-9/1205", r.headers
    assert r.headers.get("Preference-Applied") == "count=exact", r.headers


def test_cursor_round_trip_over_equal_sort_keys(client, user, q):
    notifications(q, user.id, 250, same_instant=120)
    want = [str(r[0]) for r in q("SELECT id FROM flov7.notifications WHERE user_id = %s"
                                 " ORDER BY created_at DESC, id DESC", (user.id,))]
    got, cursor, pages = [], None, 0
    while True:
        params = {"limit": 40}
        if cursor:
            params["cursor"] = cursor
        r = page(client, user, "/users/notifications", **params)
        body = expect(r, 200)
        if cursor:
            assert "Content-Range" not in r.headers, r.headers
        got += [n["id"] for n in body["items"]]
        cursor = body["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 7
    assert got == want


def test_bad_cursors_are_400(client, make_user, q):
    a, b = make_user(), make_user()
    notifications(q, a.id, 3)
    cursor = expect(page(client, a, "/users/notifications", limit=1), 200)["next_cursor"]
    payload, mac = cursor.split(".")

    def bad(user, path, message, **params):
        body = expect_error(page(client, user, path, **params), 400, "22023")
        assert message in body["message"], body
        return body

    bad(a, "/users/notifications", 'not a cursor', cursor="not-a-cursor")
    bad(a, "/users/notifications", 'not a cursor of this list', cursor=payload + "." + "A" * 22)
    # A payload of the client's choosing with the MAC of a real one.
    forged = base64.urlsafe_b64encode(json.dumps(
        {"k": ["2099-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"],
         "l": "notifications", "s": "created_at.desc"}).encode()).decode().rstrip("=")
    bad(a, "/users/notifications", 'not a cursor of this list', cursor=forged + "." + mac)
    bad(b, "/users/notifications", 'not a cursor of this list', cursor=cursor)
    bad(a, "/users/notifications", 'not both', cursor=cursor, offset=0)
    bad(a, "/workflows", 'cursor of another list', cursor=cursor)

    for name in ("one", "two", "three"):
        expect(client.post(API + "/workflows", token=a.access, json_body={"name": name}), 201)
    wc = expect(page(client, a, "/workflows", limit=1, sort_by="name", sort_order="asc"), 200)["next_cursor"]
    body = bad(a, "/workflows", 'another sort order', cursor=wc, sort_by="created_at")
    assert body["hint"] and "sort_by" in body["hint"], body
    more = expect(page(client, a, "/workflows", limit=1, sort_by="name", sort_order="asc", cursor=wc), 200)
    assert [w["name"] for w in more["items"]] == ["three"], more


def test_bad_page_arguments_are_400(client, user):
    for params in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1}, {"offset": 99999999999}, {"count": "most"},
                   {"sort_by": "password"}, {"sort_order": "up"}):
        expect_error(page(client, user, "/workflows", **params), 400)
    for path in ("/users/notifications", "/auth/api-keys", "/users/integrations", "/workflows/templates", "/primitives"):
        expect_error(page(client, user, path, limit=1000), 400, "22023")


def test_executions_and_steps_by_cursor(client, user, q):
    wf = expect(client.post(API + "/workflows", token=user.access, json_body={"name": "many runs"}), 201)["id"]
    q("INSERT INTO flov7.workflow_executions (user_id, workflow_id, status, created_at, completed_at)"
      " SELECT %s, %s, 'completed', timestamptz '2024-03-01' + (g / 3) * interval '1 s', now()"
      "   FROM generate_series(1, 25) g", (user.id, wf))
    seen, cursor = [], None
    while True:
        params = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = expect(page(client, user, "/workflows/%s/executions" % wf, **params), 200)
        seen += [e["id"] for e in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 25
    assert body["total"] == 25 and body["total_is_estimate"] is False, body

    ex = seen[0]
    steps = expect(page(client, user, "/workflows/executions/%s/steps" % ex), 200)
    assert steps["items"] == [] and steps["total"] == 0, steps
    expect_error(page(client, user, "/workflows/executions/%s/steps" % "00000000-0000-0000-0000-000000000000"), 404)


def test_admin_search_sparse_is_exact(client, admin, make_user):
    name = "Quirinus " + uuid.uuid4().hex     # the suite runs three times on one database
    u = make_user(full_name=name)
    body = expect(page(client, admin, "/users/admin/users", search=name.upper()), 200)
    assert [x["id"] for x in body["items"]] == [u.id], body
    assert (body["total"], body["total_is_estimate"]) == (1, False), body


def test_cors_lets_browsers_read_the_list_headers(client, user):
    r = client.get(API + "/users/notifications", token=user.access, headers={"Origin": ALLOWED_ORIGIN})
    expect(r, 200)
    exposed = r.headers.get("Access-Control-Expose-Headers", "")
    assert "Content-Range" in exposed and "Preference-Applied" in exposed, r.headers
    pre = client.request("OPTIONS", API + "/users/notifications", headers={
        "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, prefer"})
    assert pre.status_code in (200, 204), pre.text
    assert "prefer" in pre.headers.get("Access-Control-Allow-Headers", "").lower(), pre.headers
