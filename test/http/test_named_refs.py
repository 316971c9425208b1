"""Named references over HTTP: /workflows/schemas and /workflows/message-templates (CRUD, 401/403/404/
409/422, another user's names, global rows an admin provides), and the original platform's
data_processing_pipeline run end to end with its named schema, and failing, naming it, without."""

import json
import time
import uuid

from flov7_client import API, expect, expect_401, expect_error
from test_workflows import PIPELINE

SCHEMAS = API + "/workflows/schemas"
TEMPLATES = API + "/workflows/message-templates"
USER_SCHEMA = {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}


def pipeline():
    return json.loads(json.dumps(PIPELINE))


def run(client, token, q, q1, definition, input_data):
    w = expect(client.post(API + "/workflows", token=token, json_body={"name": "named refs", "workflow_json": definition}), 201)
    ex = expect(client.post(API + "/workflows/%s/execute" % w["id"], token=token,
                            json_body={"input_data": input_data}), 202)["execution_id"]
    deadline = time.time() + 10
    while time.time() < deadline:
        q("SELECT flov7.run_ready(60)")
        status = q1("SELECT status FROM flov7.workflow_executions WHERE id = %s", (ex,))
        if status in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.01)
    return expect(client.get(API + "/workflows/executions/" + ex, token=token), 200)


def test_schema_crud(client, user):
    t = user.access
    s = expect(client.post(SCHEMAS, token=t, json_body={"name": "user_schema", "schema": USER_SCHEMA,
                                                         "description": "a user"}), 201)
    assert s["name"] == "user_schema" and s["schema"] == USER_SCHEMA and s["global"] is False
    assert {"created_at", "updated_at", "description"} <= set(s)
    expect_error(client.post(SCHEMAS, token=t, json_body={"name": "user_schema", "schema": {}}), 409, "PT409")
    got = expect(client.get(SCHEMAS + "/user_schema", token=t), 200)
    assert got["schema"] == USER_SCHEMA
    put = expect(client.put(SCHEMAS + "/other", token=t, json_body={"schema": {"type": "array"}}), 200)
    assert put["name"] == "other" and put["schema"] == {"type": "array"}
    expect(client.put(SCHEMAS + "/other", token=t, json_body={"schema": {"type": "object"}}), 200)
    assert expect(client.get(SCHEMAS + "/other", token=t), 200)["schema"] == {"type": "object"}
    page = expect(client.get(SCHEMAS + "?limit=1", token=t), 200)
    assert [i["name"] for i in page["items"]] == ["other"] and page["next"] == "other"
    rest = expect(client.get(SCHEMAS + "?after=other", token=t), 200)
    assert "user_schema" in [i["name"] for i in rest["items"]]
    expect(client.delete(SCHEMAS + "/other", token=t), 204)
    expect_error(client.get(SCHEMAS + "/other", token=t), 404, "P0002")
    expect_error(client.delete(SCHEMAS + "/other", token=t), 404, "P0002")


def test_schema_errors_and_isolation(client, make_user):
    a, b = make_user(), make_user()
    expect(client.put(SCHEMAS + "/mine", token=a.access, json_body={"schema": USER_SCHEMA}), 200)
    expect_401(client.get(SCHEMAS))
    expect_401(client.put(SCHEMAS + "/x", json_body={"schema": {}}))
    expect_error(client.get(SCHEMAS + "/mine", token=b.access), 404, "P0002")
    expect_error(client.delete(SCHEMAS + "/mine", token=b.access), 404, "P0002")
    assert "mine" not in [i["name"] for i in expect(client.get(SCHEMAS, token=b.access), 200)["items"]]
    expect_error(client.put(SCHEMAS + "/x", token=a.access, json_body={"schema": [1]}), 400, "22023")
    expect_error(client.put(SCHEMAS + "/x", token=a.access, json_body={}), 400, "22023")
    expect_error(client.post(SCHEMAS, token=a.access, json_body={"name": "bad name", "schema": {}}), 400, "22023")
    expect_error(client.put(SCHEMAS + "/x", token=a.access, json_body={"schema": {}, "global": True}), 403, "42501")
    expect_error(client.get(SCHEMAS + "?limit=0", token=a.access), 400, "22023")
    r = client.post(API + "/auth/api-keys", token=a.access, json_body={"name": "ro", "permissions": ["workflows:read"]})
    ro = expect(r, 201)["key"]
    assert expect(client.get(SCHEMAS + "/mine", api_key=ro), 200)["name"] == "mine"
    expect_error(client.put(SCHEMAS + "/y", api_key=ro, json_body={"schema": {}}), 403, "42501")


def test_global_schema_from_an_admin(client, admin, user):
    name = "g_" + uuid.uuid4().hex[:12]
    g = expect(client.put(SCHEMAS + "/" + name, token=admin.access,
                          json_body={"schema": {"type": "object"}, "global": True}), 200)
    assert g["global"] is True
    try:
        assert expect(client.get(SCHEMAS + "/" + name, token=user.access), 200)["global"] is True
        expect_error(client.delete(SCHEMAS + "/" + name, token=user.access), 404, "P0002")
        own = expect(client.put(SCHEMAS + "/" + name, token=user.access, json_body={"schema": {"type": "array"}}), 200)
        assert own["global"] is False
        assert expect(client.get(SCHEMAS + "/" + name, token=user.access), 200)["schema"] == {"type": "array"}
    finally:
        expect(client.delete(SCHEMAS + "/" + name, token=admin.access), 204)


def test_message_template_crud(client, make_user):
    a, b = make_user(), make_user()
    t = expect(client.post(TEMPLATES, token=a.access, json_body={
        "name": "welcome_email", "subject": "Welcome {{ $.input.name }}", "body": "Hi {{name}}"}), 201)
    assert t["subject"] == "Welcome {{ $.input.name }}" and t["body"] == "Hi {{name}}" and t["global"] is False
    expect_error(client.post(TEMPLATES, token=a.access, json_body={"name": "welcome_email", "body": "x"}), 409, "PT409")
    expect_error(client.put(TEMPLATES + "/bad", token=a.access, json_body={"body": "{{ $.input. }}"}), 422, "PT422")
    expect_error(client.put(TEMPLATES + "/nobody", token=a.access, json_body={"subject": "s"}), 400, "22023")
    expect(client.put(TEMPLATES + "/welcome_email", token=a.access, json_body={"body": "Hello {{name}}"}), 200)
    assert expect(client.get(TEMPLATES + "/welcome_email", token=a.access), 200)["body"] == "Hello {{name}}"
    assert [i["name"] for i in expect(client.get(TEMPLATES, token=a.access), 200)["items"]] == ["welcome_email"]
    expect_error(client.get(TEMPLATES + "/welcome_email", token=b.access), 404, "P0002")
    expect_401(client.get(TEMPLATES))
    expect(client.delete(TEMPLATES + "/welcome_email", token=a.access), 204)
    expect_error(client.delete(TEMPLATES + "/welcome_email", token=a.access), 404, "P0002")


def test_pipeline_runs_with_its_schema_and_fails_naming_it_without(client, make_user, q, q1):
    a, b = make_user(), make_user()
    expect(client.put(SCHEMAS + "/user_schema", token=a.access, json_body={"schema": USER_SCHEMA}), 200)
    ok = run(client, a.access, q, q1, pipeline(), {"email": " Ada@Example.com ", "Name": "Ada"})
    assert ok["status"] == "completed", ok
    states = {s["node_id"]: s["state"] for s in ok["steps"]}
    assert states["data_2"] == "completed" and states["action_1"] == "skipped", states
    bad = run(client, a.access, q, q1, pipeline(), {"name": "no email"})
    assert bad["status"] == "completed", bad
    states = {s["node_id"]: s["state"] for s in bad["steps"]}
    assert states["data_2"] == "skipped" and states["action_1"] == "completed", states
    missing = run(client, b.access, q, q1, pipeline(), {"email": "x@example.com"})
    assert missing["status"] == "failed"
    assert missing["error_message"] == 'node "data_1" failed: schema "user_schema" not found', missing


def test_notification_renders_its_template(client, user, q, q1):
    expect(client.put(TEMPLATES + "/hello", token=user.access,
                      json_body={"subject": "Hi {{ $.input.who }}", "body": "Plan: {{plan}}"}), 200)
    d = {"nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}},
                   {"id": "n", "type": "action",
                    "data": {"config": {"action_type": "notification", "type": "hello", "template": "hello"}}}],
         "edges": [{"id": "e", "source": "t", "target": "n"}]}
    ex = run(client, user.access, q, q1, d, {"who": "Ada", "plan": "pro"})
    assert ex["status"] == "completed", ex
    notes = expect(client.get(API + "/users/notifications?type=hello", token=user.access), 200)["items"]
    assert [(n["title"], n["message"]) for n in notes] == [("Hi Ada", "Plan: pro")]
    d["nodes"][1]["data"]["config"]["template"] = "nope"
    ex = run(client, user.access, q, q1, d, {})
    assert ex["status"] == "failed" and ex["error_message"] == 'node "n" failed: message template "nope" not found'
