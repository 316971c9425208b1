"""Audit: changes to integrations, API keys, roles and user status write flov7.audit_logs rows
carrying the caller's user id, IP (127.0.0.1) and the User-Agent the test sent."""

import json

from flov7_client import API, expect
from test_admin import set_role, set_status
from test_users import create_integration


def audit_rows(q, needle):
    """Audit rows (as dicts) whose JSON text mentions needle (a resource or user id)."""
    rows = q("SELECT to_jsonb(a) FROM flov7.audit_logs a WHERE to_jsonb(a)::text LIKE %s",
             ("%" + needle + "%",))
    return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


def values(row):
    out = []

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif v is not None:
            out.append(str(v))
    walk(row)
    return out


def by_caller(rows, caller_id, ua):
    """Rows that name the caller, the loopback IP and the test's User-Agent."""
    good = []
    for row in rows:
        uid = row.get("user_id", row.get("actor_id"))
        ip = str(row.get("ip_address", row.get("ip", "")))
        agent = row.get("user_agent")
        if uid == caller_id and ip.split("/")[0] == "127.0.0.1" and agent == ua:
            good.append(row)
    return good


def assert_audited(q, needle, caller_id, ua, at_least=1, what=""):
    rows = audit_rows(q, needle)
    good = by_caller(rows, caller_id, ua)
    assert len(good) >= at_least, "%s: want %d audit row(s) by %s from 127.0.0.1 with UA %s; got %s" % (
        what, at_least, caller_id, ua, json.dumps(rows, default=str)[:1500])
    return good


def test_integration_create_and_delete_audited(client, user, q, ua):
    i, secret = create_integration(client, user)
    created = assert_audited(q, i["id"], user.id, ua, 1, "integration create")
    for row in created:
        assert secret not in json.dumps(row, default=str), "clear credentials in the audit log"
    expect(client.delete(API + "/users/integrations/" + i["id"], token=user.access), 204)
    rows = assert_audited(q, i["id"], user.id, ua, 2, "integration delete")
    assert len(rows) > len(created)
    for row in rows:
        assert secret not in json.dumps(row, default=str), "clear credentials in the audit log"


def test_api_key_create_and_delete_audited(client, user, q, ua):
    k = expect(client.post(API + "/auth/api-keys", token=user.access, json_body={"name": "audited"}), 201)
    created = assert_audited(q, k["id"], user.id, ua, 1, "api key create")
    for row in created:
        assert k["key"] not in json.dumps(row, default=str), "clear API key in the audit log"
    expect(client.delete(API + "/auth/api-keys/" + k["id"], token=user.access), 204)
    rows = assert_audited(q, k["id"], user.id, ua, 2, "api key delete")
    assert len(rows) > len(created)
    for row in rows:
        assert k["key"] not in json.dumps(row, default=str), "clear API key in the audit log"


def test_admin_role_and_status_changes_audited(client, admin, user, q, ua):
    before = len(by_caller(audit_rows(q, user.id), admin.id, ua))
    set_role(client, admin, user.id, "premium")
    after_role = by_caller(audit_rows(q, user.id), admin.id, ua)
    assert len(after_role) > before, "no audit row for the role change"
    assert any("premium" in values(r) or "premium" in json.dumps(r) for r in after_role), after_role
    set_status(client, admin, user.id, False)
    after_status = by_caller(audit_rows(q, user.id), admin.id, ua)
    assert len(after_status) > len(after_role), "no audit row for the status change"
    set_status(client, admin, user.id, True)
    assert len(by_caller(audit_rows(q, user.id), admin.id, ua)) > len(after_status)
