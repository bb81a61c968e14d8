"""SetHandler auth-oidc-health (issue 11, point 4): 200 and a small JSON body when the
session store answers and every provider's metadata is usable; 503 with the reason and
Retry-After otherwise; recovers without a restart; behind Require ip like any handler."""
import json
import time

import harness
from harness import Memcached, OP

HEALTH = """
<Location /health>
    SetHandler auth-oidc-health
    Require ip 127.0.0.1
</Location>
<Location /health-closed>
    SetHandler auth-oidc-health
    Require ip 192.0.2.1
</Location>
"""


def get(node, path="/health"):
    s = harness.new_browser()
    return s.get(node.url(path), allow_redirects=False, timeout=10)


def test_health_ok_store_down_and_back(make_apache, memcached, expect_log):
    expect_log(r"AOIDC753: health: 503: session store down", required=True)
    expect_log(r"AH01630: client denied by server configuration: .*/health-closed", required=True)
    node = make_apache(HEALTH, extra_modules=("authz_host",))
    r = get(node)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("Cache-Control") == "no-store"
    body = r.json()
    assert body["status"] == "ok"
    assert body["store"] == {"state": "ok", "servers": 1, "up": 1, "replicas": 0}
    assert body["providers"] == {"main": "ok"}
    # the handler is not reachable from elsewhere when Require says so
    assert get(node, "/health-closed").status_code == 403
    # GET only
    assert harness.new_browser().post(node.url("/health"), timeout=10).status_code == 405

    memcached.stop()
    r = get(node)
    assert r.status_code == 503 and r.headers.get("Retry-After"), r.text
    body = r.json()
    assert body["status"] == "unavailable" and body["reason"] == "session store down"
    assert body["store"]["state"] == "down" and body["store"]["up"] == 0

    memcached.start()
    t0 = time.monotonic()
    while get(node).status_code != 200:
        assert time.monotonic() - t0 < 2.0, "health not back within 2 s of the store's return"
        time.sleep(0.05)


def test_health_provider_unavailable(make_apache, memcached, expect_log):
    expect_log(r"AOIDC752: health: provider gone: ", required=True)
    expect_log(r"AOIDC753: health: 503: provider gone metadata unavailable", required=True)
    dead = f"http://127.0.0.1:{harness.free_port()}"
    node = make_apache(HEALTH + f"""
<AuthOIDCProvider gone>
    AuthOIDCIssuer {dead}
    AuthOIDCClientID app
    AuthOIDCClientSecretFile {OP.secret_file("app")}
</AuthOIDCProvider>
""", extra_modules=("authz_host",))
    r = get(node)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["reason"] == "provider gone metadata unavailable"
    assert body["providers"] == {"main": "ok", "gone": "unavailable"}
    assert body["store"]["state"] == "ok"


def test_health_degraded_store_is_200(make_apache, bench_dir, expect_log):
    expect_log(r"AOIDC751: health: 2 of 3 memcached servers answer \(replicas=1\)", required=True)
    expect_log(r"AOIDC754: memcached server 127\.0\.0\.1:\d+ unusable", required=True)
    mcs = [Memcached(bench_dir).start() for _ in range(3)]
    try:
        store = "memcached " + " ".join(m.address for m in mcs)
        node = make_apache(HEALTH, extra_modules=("authz_host",), oidc={"session_store": store})
        assert get(node).json()["store"] == {"state": "ok", "servers": 3, "up": 3, "replicas": 1}
        mcs[1].stop()
        r = get(node)
        # every key still has a live copy: the node can serve
        assert r.status_code == 200, r.text
        assert r.json()["store"] == {"state": "degraded", "servers": 3, "up": 2, "replicas": 1}
    finally:
        for m in mcs:
            m.stop()
