"""Workflows, primitives and templates over HTTP: CRUD, validation and drafts, 401/403/404/409/422,
another user's ids, bad query parameters, quotas, the original platform's definitions."""

import copy
import json
import os
import uuid

import pytest

from flov7_client import API, assert_list_shape, expect, expect_401, expect_error

WORKFLOW_KEYS = {
    "id", "user_id", "name", "description", "workflow_json", "tags", "is_template", "status",
    "primitives_count", "estimated_cost", "execution_count", "last_executed_at", "version",
    "created_at", "updated_at",
}
TEMPLATE_KEYS = {
    "id", "name", "description", "category", "difficulty", "estimated_time_minutes", "workflow_json",
    "preview_image_url", "is_featured", "usage_count", "created_by", "created_at",
}
PROBLEM_KEYS = {"severity", "rule", "node", "edge", "message"}

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "examples",
                        "original_workflows.json")

# The original platform's two definitions (shared/examples/original_workflows.json), inlined so
# the suite does not depend on a file outside the repository.
WELCOME = {
    "name": "Welcome Email Workflow",
    "description": "Sends a welcome email when a new user signs up",
    "nodes": [
        {"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100},
         "data": {"label": "User Signup Webhook",
                  "config": {"trigger_type": "webhook", "endpoint": "/webhook/user-signup",
                             "method": "POST"}}},
        {"id": "action_1", "type": "action", "position": {"x": 400, "y": 100},
         "data": {"label": "Send Welcome Email",
                  "config": {"action_type": "email_send", "template": "welcome_email",
                             "to": "{{user.email}}", "subject": "Welcome to our platform!"}}},
    ],
    "edges": [{"id": "edge_1", "source": "trigger_1", "target": "action_1",
               "sourceHandle": "output", "targetHandle": "input"}],
}
PIPELINE = {
    "name": "Data Processing Pipeline",
    "description": "Process incoming data with validation and transformation",
    "nodes": [
        {"id": "trigger_1", "type": "trigger", "position": {"x": 100, "y": 100},
         "data": {"label": "Data Upload", "config": {"trigger_type": "webhook", "endpoint": "/upload"}}},
        {"id": "data_1", "type": "data", "position": {"x": 400, "y": 100},
         "data": {"label": "Validate Data",
                  "config": {"operation_type": "validate", "schema": "user_schema"}}},
        {"id": "condition_1", "type": "condition", "position": {"x": 700, "y": 100},
         "data": {"label": "Check Validity",
                  "config": {"condition_type": "if_else", "condition": "data.valid == true"}}},
        {"id": "data_2", "type": "data", "position": {"x": 1000, "y": 50},
         "data": {"label": "Process Valid Data",
                  "config": {"operation_type": "transform", "transform_type": "normalize"}}},
        {"id": "action_1", "type": "action", "position": {"x": 1000, "y": 150},
         "data": {"label": "Handle Invalid Data",
                  "config": {"action_type": "notification", "type": "error_alert"}}},
    ],
    "edges": [
        {"id": "edge_1", "source": "trigger_1", "target": "data_1"},
        {"id": "edge_2", "source": "data_1", "target": "condition_1"},
        {"id": "edge_3", "source": "condition_1", "target": "data_2"},
        {"id": "edge_4", "source": "condition_1", "target": "action_1"},
    ],
}
TINY = {"nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}}],
        "edges": []}


def node(nid, ntype, sub, **config):
    key = "operation_type" if ntype == "data" else ntype + "_type"
    cfg = {key: sub}
    cfg.update(config)
    return {"id": nid, "type": ntype, "position": {"x": 0, "y": 0}, "data": {"label": nid, "config": cfg}}


def edge(eid, source, target, **extra):
    e = {"id": eid, "source": source, "target": target}
    e.update(extra)
    return e


def assert_workflow_shape(w):
    assert WORKFLOW_KEYS <= set(w), "Workflow lacks %r" % sorted(WORKFLOW_KEYS - set(w))
    uuid.UUID(w["id"])
    assert w["status"] in ("draft", "active", "inactive", "archived"), w
    assert isinstance(w["tags"], list) and isinstance(w["version"], int), w


def assert_validation(v):
    assert set(v) == {"valid", "problems"}, v
    assert isinstance(v["valid"], bool)
    for p in v["problems"]:
        assert set(p) == PROBLEM_KEYS, p
        assert p["severity"] in ("error", "warning"), p


def create(client, token, **body):
    """POST /workflows; 201 expected."""
    body.setdefault("name", "wf-" + uuid.uuid4().hex[:8])
    return expect(client.post(API + "/workflows", token=token, json_body=body), 201)


def details(body):
    """The details of a PT422: a JSON list of problems, as text."""
    assert isinstance(body["details"], str), body
    problems = json.loads(body["details"])
    assert isinstance(problems, list) and problems, body
    for p in problems:
        assert set(p) == PROBLEM_KEYS, p
    return problems


def make_key(client, user, permissions):
    r = client.post(API + "/auth/api-keys", token=user.access,
                    json_body={"name": "k-" + uuid.uuid4().hex[:6], "permissions": permissions})
    return expect(r, 201)["key"]


# --------------------------------------------------------------------------- the original's definitions

def test_examples_file_matches_inlined_definitions():
    """The inlined definitions are the shared examples, byte for byte (when the file is there)."""
    if not os.path.exists(EXAMPLES):
        pytest.skip("shared/examples not next to the repository")
    with open(EXAMPLES) as f:
        ex = json.load(f)["workflows"]
    assert ex["welcome_email"] == WELCOME and ex["data_processing_pipeline"] == PIPELINE


@pytest.mark.parametrize("definition,warnings", [(WELCOME, []), (PIPELINE, ["implicit_branches"])])
def test_original_definitions_validate_and_come_back_exactly(client, user, definition, warnings):
    doc = copy.deepcopy(definition)
    doc["metadata"] = {"ai_model": "gpt-4", "prompt": "make me a workflow"}
    doc["generated_at"] = "2024-05-01T10:00:00Z"
    doc["nodes"][0]["data"]["config"]["x_custom"] = {"keep": ["me", 1, None]}
    w = create(client, user.access, workflow_json=doc, name=None)
    assert_workflow_shape(w)
    assert w["name"] == definition["name"] and w["description"] == definition["description"]
    assert_validation(w["validation"])
    assert w["validation"]["valid"] is True
    assert [p["rule"] for p in w["validation"]["problems"]] == warnings
    assert w["primitives_count"] == len(definition["nodes"])
    g = expect(client.get(API + "/workflows/" + w["id"], token=user.access), 200)
    assert g["workflow_json"] == doc, "positions, handles and free keys are kept exactly"
    assert g["validation"] == w["validation"]


def test_crud_roundtrip(client, user):
    w = create(client, user.access, name="Round trip", description="d", tags=["a", "b"],
               workflow_json=TINY, status="active", primitives_count=77, estimated_cost=9, version=5)
    assert_workflow_shape(w)
    assert (w["status"], w["version"], w["primitives_count"], w["user_id"]) == ("active", 1, 1, user.id)
    assert float(w["estimated_cost"]) == 0.0
    assert w["validation"] == {"valid": True, "problems": []}

    u = expect(client.put(API + "/workflows/" + w["id"], token=user.access,
                          json_body={"name": "Renamed", "version": 1}), 200)
    assert (u["name"], u["version"], u["description"], u["tags"]) == ("Renamed", 2, "d", ["a", "b"])
    assert u["updated_at"] >= w["updated_at"]

    expect(client.delete(API + "/workflows/" + w["id"], token=user.access), 204)
    expect_error(client.get(API + "/workflows/" + w["id"], token=user.access), 404, "P0002")
    expect_error(client.delete(API + "/workflows/" + w["id"], token=user.access), 404, "P0002")


def test_estimated_cost_from_the_primitives(client, user, q1):
    w = create(client, user.access, workflow_json=PIPELINE)
    want = q1("""SELECT sum(cost_usd)::float8 FROM flov7.primitives WHERE (type, subtype) IN
                 (('trigger','webhook'),('data','validate'),('condition','if_else'),
                  ('data','transform'),('action','notification'))""")
    assert abs(float(w["estimated_cost"]) - want) < 1e-9, (w["estimated_cost"], want)


# --------------------------------------------------------------------------- drafts and 422

def test_definition_with_problems_is_a_draft_naming_the_nodes(client, user):
    doc = {"nodes": [node("t", "trigger", "manual"),
                     node("c", "condition", "if_else", condition="data.valid = true"),
                     node("x", "action", "teleport"),
                     node("lost", "action", "transform")],
           "edges": [edge("e1", "t", "c"), edge("e2", "c", "x", branch="maybe"), edge("e3", "x", "ghost")]}
    w = create(client, user.access, workflow_json=doc, status="inactive")
    assert w["status"] == "draft"
    v = w["validation"]
    assert_validation(v)
    assert v["valid"] is False
    got = {(p["rule"], p["node"], p["edge"]) for p in v["problems"]}
    assert ("bad_expression", "c", None) in got
    assert ("unknown_subtype", "x", None) in got
    assert ("invalid_branch", "c", "e2") in got
    assert ("dangling_edge", None, "e3") in got
    assert ("unreachable_node", "lost", None) in got
    assert w["workflow_json"] == doc, "nothing of the editor's work is lost"


@pytest.mark.parametrize("definition,rules", [
    ([1, 2], {"not_an_object"}),
    ("a string", {"not_an_object"}),
    (None, {"not_an_object"}),
    ({"nodes": {}, "edges": "x"}, {"nodes_not_array", "edges_not_array"}),
    ({"nodes": []}, {"edges_not_array"}),
    ({"nodes": [{"id": "n%d" % i} for i in range(501)], "edges": []}, {"too_many_nodes"}),
    ({"nodes": [], "edges": [], "deep": json.loads("[" * 40 + "]" * 40)}, {"too_deep"}),
])
def test_not_a_definition_is_422_with_every_problem(client, user, q1, definition, rules):
    before = q1("SELECT count(*) FROM flov7.workflows WHERE user_id = %s", (user.id,))
    body = expect_error(client.post(API + "/workflows", token=user.access,
                                    json_body={"name": "x", "workflow_json": definition}), 422, "PT422")
    assert {p["rule"] for p in details(body)} == rules
    assert q1("SELECT count(*) FROM flov7.workflows WHERE user_id = %s", (user.id,)) == before


def test_activating_a_workflow_with_problems_is_422(client, user, q1):
    doc = {"nodes": [node("a", "action", "transform"), node("b", "action", "email_send")],
           "edges": [edge("e1", "a", "b"), edge("e2", "b", "a")]}
    body = expect_error(client.post(API + "/workflows", token=user.access,
                                    json_body={"name": "x", "workflow_json": doc, "status": "active"}), 422, "PT422")
    assert {p["rule"] for p in details(body)} >= {"no_trigger", "cycle", "missing_config_field"}

    w = create(client, user.access, workflow_json=doc)
    assert w["status"] == "draft"
    body = expect_error(client.put(API + "/workflows/" + w["id"], token=user.access,
                                   json_body={"status": "active", "name": "changed"}), 422, "PT422")
    assert len(details(body)) == len(w["validation"]["problems"]), "every problem, not only the first"
    assert q1("SELECT name || ' ' || status || ' ' || version FROM flov7.workflows WHERE id = %s",
              (w["id"],)) == "%s draft 1" % w["name"]

    # fixed in the same request, it becomes active
    u = expect(client.put(API + "/workflows/" + w["id"], token=user.access,
                          json_body={"status": "active", "workflow_json": TINY}), 200)
    assert (u["status"], u["validation"]["valid"]) == ("active", True)
    # given problems again, it falls back to a draft
    u = expect(client.put(API + "/workflows/" + w["id"], token=user.access,
                          json_body={"workflow_json": doc}), 200)
    assert (u["status"], u["validation"]["valid"]) == ("draft", False)


def test_update_with_what_is_not_a_definition_is_422(client, user, q1):
    w = create(client, user.access, workflow_json=TINY)
    expect_error(client.put(API + "/workflows/" + w["id"], token=user.access,
                            json_body={"workflow_json": {"nodes": 5, "edges": []}}), 422, "PT422")
    assert q1("SELECT version FROM flov7.workflows WHERE id = %s", (w["id"],)) == 1


# --------------------------------------------------------------------------- versions

def test_stale_version_is_409_and_changes_nothing(client, user, q1):
    w = create(client, user.access, workflow_json=TINY)
    expect(client.put(API + "/workflows/" + w["id"], token=user.access, json_body={"name": "v2"}), 200)
    body = expect_error(client.put(API + "/workflows/" + w["id"], token=user.access,
                                   json_body={"name": "lost update", "version": 1}), 409, "PT409")
    assert "version 2" in body["message"]
    expect_error(client.put(API + "/workflows/" + w["id"], token=user.access, json_body={"name": "lost"},
                            headers={"If-Match": '"1"'}), 409, "PT409")
    expect_error(client.delete(API + "/workflows/" + w["id"], token=user.access,
                               headers={"If-Match": 'W/"1"'}), 409, "PT409")
    assert q1("SELECT name || ' ' || version FROM flov7.workflows WHERE id = %s", (w["id"],)) == "v2 2"
    u = expect(client.put(API + "/workflows/" + w["id"], token=user.access, json_body={"name": "v3"},
                          headers={"If-Match": '"2"'}), 200)
    assert u["version"] == 3
    expect_error(client.put(API + "/workflows/" + w["id"], token=user.access, json_body={"name": "v"},
                            headers={"If-Match": "tomorrow"}), 400)
    expect(client.delete(API + "/workflows/" + w["id"], token=user.access, json_body={"version": 3}), 204)


def test_concurrent_updates_of_one_version_one_wins(client, user, q1):
    """Two writers of version 1 at once: one 200, one 409, and the loser's change is nowhere."""
    import threading
    w = create(client, user.access, workflow_json=TINY)
    results = []
    lock = threading.Lock()

    def put(name):
        r = client.put(API + "/workflows/" + w["id"], token=user.access,
                       json_body={"name": name, "version": 1})
        with lock:
            results.append((r.status_code, name))
    threads = [threading.Thread(target=put, args=("writer-%d" % i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(s for s, _ in results) == [200, 409, 409, 409], results
    winner = [n for s, n in results if s == 200][0]
    assert q1("SELECT name || ' ' || version FROM flov7.workflows WHERE id = %s", (w["id"],)) == winner + " 2"


# --------------------------------------------------------------------------- lists

def test_list_filters_sort_and_pagination(client, make_user):
    u = make_user()
    names = ["Cherry report", "apple sync", "Banana 100% pipeline"]
    made = [create(client, u.access, name=n, workflow_json=TINY, tags=[n.split()[0].lower()],
                   status="active" if i == 0 else "draft") for i, n in enumerate(names)]
    body = expect(client.get(API + "/workflows", token=u.access), 200)
    assert_list_shape(body, limit=20, offset=0)
    assert body["total"] == 3
    for w in body["items"]:
        assert_workflow_shape(w)
        assert "validation" not in w
    assert [w["id"] for w in body["items"]] == [m["id"] for m in reversed(made)], "newest first"

    def listed(**params):
        return expect(client.get(API + "/workflows", token=u.access, params=params), 200)

    assert [w["name"] for w in listed(sort_by="name", sort_order="asc")["items"]] == \
        ["apple sync", "Banana 100% pipeline", "Cherry report"]
    page = listed(sort_by="name", sort_order="desc", limit=1, offset=1)
    assert (page["total"], [w["name"] for w in page["items"]]) == (3, ["Banana 100% pipeline"])
    assert listed(status="active")["items"][0]["name"] == "Cherry report"
    assert listed(tag="apple")["total"] == 1
    assert listed(search="SYNC")["items"][0]["name"] == "apple sync"
    assert listed(search="100%")["total"] == 1 and listed(search="%")["total"] == 1
    assert listed(search="_")["total"] == 0
    assert listed(sort_by="updated_at", sort_order="asc")["items"][0]["id"] == made[0]["id"]
    assert listed(sort_by="last_executed_at")["total"] == 3


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"offset": "-1"}, {"sort_by": "id"},
    {"sort_by": "name; DROP TABLE x"}, {"sort_order": "sideways"}, {"status": "running"},
    {"tag": "x" * 51},
])
def test_list_bad_query_parameters_400(client, user, params):
    expect_error(client.get(API + "/workflows", token=user.access, params=params), 400)


@pytest.mark.parametrize("path,params", [
    ("/primitives", {"type": "robot"}), ("/primitives", {"limit": "x"}),
    ("/workflows/templates", {"difficulty": "expert"}), ("/workflows/templates", {"is_featured": "maybe"}),
    ("/workflows/templates", {"offset": "-5"}),
])
def test_other_lists_bad_query_parameters_400(client, user, path, params):
    expect_error(client.get(API + path, token=user.access, params=params), 400)


@pytest.mark.parametrize("body", [
    {"name": ""}, {"name": 5}, {"name": "x" * 201}, {"tags": "a,b"}, {"tags": [1]}, {"tags": [""]},
    {"status": "running"}, {"is_template": "yes"}, {"description": ["d"]},
])
def test_create_bad_fields_400(client, user, body):
    body = dict({"name": "ok", "workflow_json": TINY}, **body)
    expect_error(client.post(API + "/workflows", token=user.access, json_body=body), 400)


def test_bad_ids_400(client, user):
    expect_error(client.get(API + "/workflows/not-a-uuid", token=user.access), 400, "22P02")
    expect_error(client.put(API + "/workflows/123", token=user.access, json_body={}), 400, "22P02")
    expect_error(client.post(API + "/workflows/templates/zzz/use", token=user.access), 400, "22P02")


# --------------------------------------------------------------------------- who may

ENDPOINTS = [
    ("GET", "/primitives"), ("GET", "/workflows"), ("POST", "/workflows"),
    ("GET", "/workflows/{id}"), ("PUT", "/workflows/{id}"), ("DELETE", "/workflows/{id}"),
    ("GET", "/workflows/templates"), ("POST", "/workflows/templates/{id}/use"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_401_without_credentials(client, method, path):
    r = client.request(method, API + path.replace("{id}", str(uuid.uuid4())),
                       json_body={"name": "x"} if method in ("POST", "PUT") else None)
    expect_401(r)


@pytest.mark.parametrize("method,path,scope", [
    ("GET", "/primitives", "workflows:read"), ("GET", "/workflows", "workflows:read"),
    ("GET", "/workflows/{id}", "workflows:read"), ("GET", "/workflows/templates", "workflows:read"),
    ("POST", "/workflows", "workflows:write"), ("PUT", "/workflows/{id}", "workflows:write"),
    ("DELETE", "/workflows/{id}", "workflows:write"),
    ("POST", "/workflows/templates/{id}/use", "workflows:write"),
])
def test_403_api_key_without_the_scope(client, user, q1, method, path, scope):
    w = create(client, user.access, workflow_json=TINY)
    tid = q1("SELECT id::text FROM flov7.workflow_templates ORDER BY name LIMIT 1")
    other = "workflows:write" if scope == "workflows:read" else "workflows:read"
    key = make_key(client, user, ["profile:read", other])
    target = path.replace("{id}", tid if "templates" in path else w["id"])
    body = expect_error(client.request(method, API + target, api_key=key,
                                       json_body={"name": "k"} if method in ("POST", "PUT") else None), 403, "42501")
    assert scope in body["message"]
    # the same key with the scope may
    ok = make_key(client, user, [scope])
    r = client.request(method, API + target, api_key=ok,
                       json_body={"name": "k"} if method in ("POST", "PUT") else None)
    assert r.status_code in (200, 201, 204), r.text


def test_another_users_workflow_is_404(client, make_user, q1):
    a, b = make_user(), make_user()
    w = create(client, a.access, workflow_json=TINY)
    expect_error(client.get(API + "/workflows/" + w["id"], token=b.access), 404, "P0002")
    expect_error(client.put(API + "/workflows/" + w["id"], token=b.access, json_body={"name": "mine"}), 404, "P0002")
    expect_error(client.delete(API + "/workflows/" + w["id"], token=b.access), 404, "P0002")
    assert expect(client.get(API + "/workflows", token=b.access), 200)["total"] == 0
    assert q1("SELECT name || ' ' || version FROM flov7.workflows WHERE id = %s", (w["id"],)) == w["name"] + " 1"
    # the body cannot point the update at another row or owner
    mine = create(client, b.access, workflow_json=TINY)
    u = expect(client.put(API + "/workflows/" + mine["id"], token=b.access,
                          json_body={"id": w["id"], "user_id": a.id, "name": "still mine"}), 200)
    assert (u["id"], u["user_id"]) == (mine["id"], b.id)


def test_admin_lists_only_own_workflows(client, user, admin):
    create(client, user.access, workflow_json=TINY)
    body = expect(client.get(API + "/workflows", token=admin.access), 200)
    assert all(w["user_id"] == admin.id for w in body["items"])


def test_quota_is_403_naming_the_limit(client, make_user, q1):
    u = make_user()
    tid = q1("SELECT id::text FROM flov7.workflow_templates ORDER BY name LIMIT 1")
    limit = q1("SELECT max_workflows FROM flov7.plan_quotas WHERE plan = 'free'")
    for i in range(limit - 1):
        create(client, u.access, name="q%d" % i)
    expect(client.post(API + "/workflows/templates/%s/use" % tid, token=u.access), 201)
    body = expect_error(client.post(API + "/workflows", token=u.access, json_body={"name": "over"}), 403, "53400")
    assert "at most %d workflows" % limit in body["message"]
    expect_error(client.post(API + "/workflows/templates/%s/use" % tid, token=u.access), 403, "53400")


# --------------------------------------------------------------------------- primitives

def test_primitives_list(client, user):
    body = expect(client.get(API + "/primitives", token=user.access, params={"limit": 100}), 200)
    assert_list_shape(body, limit=100, offset=0)
    assert body["total"] == 38 and len(body["items"]) == 38
    by_type = {}
    for p in body["items"]:
        assert {"type", "subtype", "name", "description", "category", "config_schema", "input_schema",
                "output_schema", "branches", "cost_usd"} <= set(p)
        by_type.setdefault(p["type"], set()).add(p["subtype"])
    assert by_type == {
        "trigger": {"webhook", "schedule", "database", "manual", "api", "email", "sms", "iot"},
        "action": {"ai_process", "api_call", "email_send", "db_query", "notification", "transform", "wait", "custom"},
        "connection": {"gmail", "slack", "hubspot", "database", "api", "webhook", "oauth", "api_key"},
        "condition": {"if_else", "filter", "switch", "loop", "compare", "regex", "json_path"},
        "data": {"mapping", "transform", "filter", "merge", "split", "enrich", "validate"},
    }
    cond = expect(client.get(API + "/primitives", token=user.access, params={"type": "condition"}), 200)
    assert cond["total"] == 7 and all(p["type"] == "condition" for p in cond["items"])
    ifelse = [p for p in cond["items"] if p["subtype"] == "if_else"][0]
    assert ifelse["branches"] == ["true", "false"] and "condition" in ifelse["config_schema"]["required"]
    logic = expect(client.get(API + "/primitives", token=user.access, params={"category": "logic"}), 200)
    assert logic["total"] > 0 and all(p["category"] == "logic" for p in logic["items"])


# --------------------------------------------------------------------------- templates

def test_templates_list(client, user):
    body = expect(client.get(API + "/workflows/templates", token=user.access), 200)
    assert_list_shape(body, limit=20, offset=0)
    assert body["total"] >= 6
    for t in body["items"]:
        assert TEMPLATE_KEYS <= set(t), sorted(TEMPLATE_KEYS - set(t))
    # the trailing slash of the original's route works, and "templates" is not taken for an {id}
    slash = expect(client.get(API + "/workflows/templates/", token=user.access), 200)
    assert slash["total"] == body["total"]
    feat = expect(client.get(API + "/workflows/templates", token=user.access, params={"is_featured": "true"}), 200)
    assert feat["total"] >= 1 and all(t["is_featured"] for t in feat["items"])
    adv = expect(client.get(API + "/workflows/templates", token=user.access, params={"difficulty": "advanced"}), 200)
    assert all(t["difficulty"] == "advanced" for t in adv["items"])
    routing = expect(client.get(API + "/workflows/templates", token=user.access, params={"category": "routing"}), 200)
    assert routing["total"] >= 1 and all(t["category"] == "routing" for t in routing["items"])
    found = expect(client.get(API + "/workflows/templates", token=user.access, params={"search": "reminder"}), 200)
    assert [t["name"] for t in found["items"]] == ["Reminder after a delay"]


def test_every_template_validates_and_can_be_used(client, make_user, q1):
    u = make_user()
    templates = expect(client.get(API + "/workflows/templates", token=u.access, params={"limit": 100}), 200)["items"]
    assert len(templates) >= 6
    for t in templates[:10]:
        before = q1("SELECT usage_count FROM flov7.workflow_templates WHERE id = %s", (t["id"],))
        w = expect(client.post(API + "/workflows/templates/%s/use" % t["id"], token=u.access,
                               json_body={"name": "from " + t["name"]}), 201)
        assert_workflow_shape(w)
        assert (w["user_id"], w["status"], w["name"]) == (u.id, "draft", "from " + t["name"])
        assert w["workflow_json"] == t["workflow_json"]
        assert w["validation"] == {"valid": True, "problems": []}, (t["name"], w["validation"])
        assert w["template_id"] == t["id"]
        assert q1("SELECT usage_count FROM flov7.workflow_templates WHERE id = %s", (t["id"],)) == before + 1
        # and the new workflow can be activated as it is
        a = expect(client.put(API + "/workflows/" + w["id"], token=u.access, json_body={"status": "active"}), 200)
        assert a["status"] == "active"
        expect(client.delete(API + "/workflows/" + w["id"], token=u.access), 204)


def test_use_unknown_template_404(client, user):
    expect_error(client.post(API + "/workflows/templates/%s/use" % uuid.uuid4(), token=user.access), 404, "P0002")
