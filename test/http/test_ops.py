"""Ops endpoints (/health, /ready, /metrics, /openapi.json), X-Request-Id and CORS."""

import uuid

from flov7_client import API, ROUTES, expect, expect_error, parse_prometheus

ALLOWED_ORIGIN = "http://allowed.example"    # test/run.sh starts frontd with it
OTHER_ORIGIN = "http://evil.example"


def test_health_and_ready(client):
    for path in ("/health", "/ready"):
        r = client.get(path)
        assert r.status_code == 200, r.text
        assert r.headers.get("X-Request-Id")


# --------------------------------------------------------------------------- metrics

def metrics(client):
    r = client.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    return parse_prometheus(r.text), r.text


def counter_value(types, samples, route_suffix, status):
    """Sum of counter samples labelled with a route ending in route_suffix and the status."""
    total = 0.0
    found = False
    for name, labels, value in samples:
        family = name[:-len("_total")] if name.endswith("_total") else name
        if types.get(family) != "counter" and types.get(name) != "counter":
            continue
        vals = list(labels.values())
        if any(v.endswith(route_suffix) for v in vals) and str(status) in vals:
            total += value
            found = True
    return total if found else 0.0


def test_metrics_request_counters_by_route_and_status(client):
    (types, samples), _ = metrics(client)
    before = counter_value(types, samples, "/auth/me", 401)
    for _ in range(3):
        assert client.get(API + "/auth/me").status_code == 401
    (types, samples), _ = metrics(client)
    after = counter_value(types, samples, "/auth/me", 401)
    assert after >= before + 3, (before, after)


def test_metrics_label_routes_not_raw_paths(client, user):
    rid = str(uuid.uuid4())
    expect_error(client.get(API + "/users/integrations/" + rid, token=user.access), 404)
    (types, samples), text = metrics(client)
    assert rid not in text, "raw path (unbounded label values) in /metrics"
    assert counter_value(types, samples, "/users/integrations/{id}", 404) >= 1, \
        [s for s in samples if "integrations" in str(s[1])][:10]


def test_metrics_latency_histogram_and_pool_gauges(client):
    client.get("/health")
    (types, samples), _ = metrics(client)
    hists = [n for n, t in types.items() if t == "histogram"]
    assert hists, "no histogram family: %r" % types
    h = hists[0]
    buckets = [(l, v) for n, l, v in samples if n == h + "_bucket"]
    assert buckets and any(l.get("le") == "+Inf" for l, _ in buckets), buckets[:5]
    assert any(n == h + "_sum" for n, _, _ in samples)
    assert any(n == h + "_count" for n, _, _ in samples)
    # cumulative buckets never decrease within one label set
    by_series = {}
    for l, v in buckets:
        key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
        le = float("inf") if l["le"] == "+Inf" else float(l["le"])
        by_series.setdefault(key, []).append((le, v))
    for series in by_series.values():
        vals = [v for _, v in sorted(series)]
        assert vals == sorted(vals), series
    pool = [n for n, t in types.items() if t == "gauge" and "pool" in n]
    assert pool, "no pool gauge: %r" % types
    assert any(n in pool for n, _, _ in samples)


# --------------------------------------------------------------------------- openapi

def test_openapi(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200, r.text[:300]
    assert "json" in r.headers.get("Content-Type", ""), r.headers
    doc = r.json()
    assert isinstance(doc.get("openapi"), str) and doc["openapi"].startswith("3."), doc.get("openapi")
    assert isinstance(doc.get("info"), dict) and doc["info"].get("title") and doc["info"].get("version")
    paths = doc.get("paths")
    assert isinstance(paths, dict) and paths
    servers = [s.get("url", "") for s in doc.get("servers", [])]
    prefixed = any(s.rstrip("/").endswith(API) for s in servers)

    def item(path):
        if API + path in paths:
            return paths[API + path]
        if prefixed and path in paths:
            return paths[path]
        return None

    missing = ["%s %s" % (m, p) for m, p, _ in ROUTES
               if item(p) is None or m.lower() not in item(p)]
    assert not missing, "routes missing from /openapi.json: %s" % missing
    # path parameters are declared
    it = item("/users/integrations/{id}")
    params = it["get"].get("parameters", []) + it.get("parameters", [])
    assert any(p.get("name") == "id" and p.get("in") == "path" for p in params), it


# --------------------------------------------------------------------------- request ids

def test_request_id_echoed_when_sane(client, user):
    for rid in ("req-" + uuid.uuid4().hex, "A1b2-C3_d4." + uuid.uuid4().hex[:8]):
        for path, tok, status in (("/health", None, 200), (API + "/auth/me", user.access, 200),
                                  (API + "/auth/me", None, 401), (API + "/nowhere", None, 404)):
            r = client.get(path, token=tok, headers={"X-Request-Id": rid})
            assert r.status_code == status, r.text
            assert r.headers.get("X-Request-Id") == rid, (path, r.headers)


def test_request_id_generated_and_unique(client):
    ids = set()
    for _ in range(3):
        r = client.get("/health")
        rid = r.headers.get("X-Request-Id")
        assert rid and len(rid) >= 8, r.headers
        ids.add(rid)
    assert len(ids) == 3, ids


def test_request_id_not_echoed_when_insane(client):
    for bad in ("x" * 1000, 'id with "quotes" and spaces', "<script>alert(1)</script>"):
        r = client.get("/health", headers={"X-Request-Id": bad})
        assert r.status_code == 200
        rid = r.headers.get("X-Request-Id")
        assert rid and rid != bad, rid[:100]


# --------------------------------------------------------------------------- CORS

def test_cors_preflight_allowed_origin(client):
    r = client.request("OPTIONS", API + "/auth/login", headers={
        "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert r.status_code in (200, 204), r.text
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN, r.headers
    methods = r.headers.get("Access-Control-Allow-Methods", "").upper()
    assert "POST" in methods, r.headers
    allowed_headers = r.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers, r.headers


def test_cors_echoed_origin_varies_on_origin(client):
    """An echoed (not '*') Access-Control-Allow-Origin must come with Vary: Origin, or a
    shared cache hands one origin's answer to another."""
    r = client.get("/health", headers={"Origin": ALLOWED_ORIGIN})
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN, r.headers
    assert "origin" in r.headers.get("Vary", "").lower(), r.headers


def test_cors_preflight_disallowed_origin(client):
    r = client.request("OPTIONS", API + "/auth/login", headers={
        "Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in r.headers, r.headers
    assert r.status_code < 500


def test_cors_simple_request(client, user):
    r = client.get(API + "/auth/me", token=user.access, headers={"Origin": ALLOWED_ORIGIN})
    expect(r, 200)
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN, r.headers
    r = client.get(API + "/auth/me", token=user.access, headers={"Origin": OTHER_ORIGIN})
    expect(r, 200)
    assert "Access-Control-Allow-Origin" not in r.headers, r.headers
    # an error response to an allowed origin carries the header too (the browser needs it to read it)
    r = client.get(API + "/auth/me", headers={"Origin": ALLOWED_ORIGIN})
    expect_error(r, 401)
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN, r.headers


# --------------------------------------------------------------------------- routes are data

def poll_status(client, path, token, want, seconds=60):
    import time
    deadline = time.monotonic() + seconds
    r = None
    while time.monotonic() < deadline:
        r = client.get(path, token=token)
        if r.status_code == want:
            return r
        time.sleep(0.2)
    raise AssertionError("still %s after %ss, want %s: %s" % (r.status_code, seconds, want, r.text[:200]))


def test_route_table_reloaded_on_notify(client, user, q):
    """A route inserted into flov7.routes is served without a restart (NOTIFY flov7_routes),
    appears in /openapi.json, and disappears when deleted."""
    path = API + "/test-reload-" + uuid.uuid4().hex[:12]
    expect_error(client.get(path, token=user.access), 404, "FD210")
    q("INSERT INTO flov7.routes (method, path, function, status, summary, tag) "
      "VALUES ('GET', %s, 'flov7_api.auth_verify', 200, 'reload test', 'test')", (path,))
    try:
        r = poll_status(client, path, user.access, 200)
        assert r.json()["user_id"] == user.id
        doc = client.get("/openapi.json").json()
        assert path in doc["paths"] or path[len(API):] in doc["paths"]
        expect_error(client.delete(path, token=user.access), 405)
    finally:
        q("DELETE FROM flov7.routes WHERE path = %s", (path,))
    poll_status(client, path, user.access, 404)
