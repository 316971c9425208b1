"""Audit: changes to integrations, API keys, roles and user status write flov7.audit_logs rows
(user_id = the caller, ip_address, user_agent, request_id from the HTTP request)."""

import json
import uuid

from flov7_client import API, expect
from test_users import create_integration


def audit(q, record_id):
    """Audit rows of one record, as dicts, oldest first."""
    rows = q("SELECT to_jsonb(a) FROM flov7.audit_logs a WHERE record_id = %s "
             "ORDER BY created_at, id", (record_id,))
    return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


def find(rows, action, caller_id, ua, rid=None):
    """Rows with this action by the caller from 127.0.0.1 with the test's User-Agent."""
    out = []
    for row in rows:
        if row.get("action") != action:
            continue
        if row.get("user_id") != caller_id:
            continue
        if str(row.get("ip_address") or "").split("/")[0] != "127.0.0.1":
            continue
        if row.get("user_agent") != ua:
            continue
        if rid is not None and row.get("request_id") != rid:
            continue
        out.append(row)
    return out


def explain(rows):
    return json.dumps(rows, default=str)[:2000]


def test_integration_create_and_delete_audited(client, user, q, ua):
    i, secret = create_integration(client, user)
    rows = audit(q, i["id"])
    assert find(rows, "create", user.id, ua), explain(rows)
    rid = "audit-" + uuid.uuid4().hex
    expect(client.delete(API + "/users/integrations/" + i["id"], token=user.access,
                         headers={"X-Request-Id": rid}), 204)
    rows = audit(q, i["id"])
    deleted = find(rows, "delete", user.id, ua, rid)
    assert deleted, explain(rows)
    assert deleted[0]["table_name"].endswith("user_integrations"), deleted
    assert deleted[0]["owner_id"] == user.id, deleted
    for row in rows:
        assert secret not in json.dumps(row, default=str), "clear credentials in the audit log"


def test_api_key_create_and_delete_audited(client, user, q, ua):
    rid = "audit-" + uuid.uuid4().hex
    k = expect(client.post(API + "/auth/api-keys", token=user.access, json_body={"name": "audited"},
                           headers={"X-Request-Id": rid}), 201)
    rows = audit(q, k["id"])
    created = find(rows, "create", user.id, ua, rid)
    assert created, explain(rows)
    assert created[0]["table_name"].endswith("api_keys"), created
    expect(client.delete(API + "/auth/api-keys/" + k["id"], token=user.access), 204)
    rows = audit(q, k["id"])
    # revocation may be recorded as a delete or as an update (is_active -> false)
    assert find(rows, "delete", user.id, ua) or find(rows, "update", user.id, ua), explain(rows)
    for row in rows:
        text = json.dumps(row, default=str)
        assert k["key"] not in text, "clear API key in the audit log"


def test_admin_role_and_status_changes_audited(client, admin, user, q, ua):
    rid = "audit-" + uuid.uuid4().hex
    expect(client.put(API + "/users/admin/users/%s/role" % user.id, token=admin.access,
                      json_body={"role": "premium"}, headers={"X-Request-Id": rid}), 200)
    rows = audit(q, user.id)
    role = find(rows, "role_change", admin.id, ua, rid)
    assert role, explain(rows)
    assert role[-1]["owner_id"] == user.id
    assert "premium" in json.dumps(role[-1].get("new_data")), role[-1]

    expect(client.put(API + "/users/admin/users/%s/status" % user.id, token=admin.access,
                      json_body={"is_active": False}), 200)
    rows = audit(q, user.id)
    status = find(rows, "status_change", admin.id, ua)
    assert status, explain(rows)
    assert "false" in json.dumps(status[-1].get("new_data")), status[-1]
    expect(client.put(API + "/users/admin/users/%s/status" % user.id, token=admin.access,
                      json_body={"is_active": True}), 200)
    assert len(find(audit(q, user.id), "status_change", admin.id, ua)) == 2
