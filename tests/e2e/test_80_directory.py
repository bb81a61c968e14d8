"""Session directory, node snapshots and back-channel logout across two nodes that
share one memcached (mod_src/aoidc_directory.h, aoidc_node.h)."""
import hashlib
import json
import time
import uuid

import pytest
import requests

from harness import OP, b64url, login, logout, new_browser, sign_jwt

EVENT = "http://schemas.openid.net/event/backchannel-logout"


def node(make_apache, name):
    return make_apache(name=name, oidc={"extra": f"AuthOIDCNodeName node-{name}\n"
                                                  "AuthOIDCBackChannelLogoutURI /oidc/backchannel"})


@pytest.fixture
def two_nodes(make_apache, op):
    a, b = node(make_apache, "a"), node(make_apache, "b")
    op.client("app", backchannel_logout_uri=a.url("/oidc/backchannel"))
    return a, b


def is_logged_in(s, url):
    r = s.get(url, allow_redirects=False, headers={"Accept": "text/html"})
    if r.status_code == 200:
        return True
    assert r.status_code == 302, r.status_code
    return False


def json_keys(o):
    if isinstance(o, dict):
        for k, v in o.items():
            yield k
            yield from json_keys(v)
    elif isinstance(o, list):
        for v in o:
            yield from json_keys(v)


def keys_with(memcached, prefix):
    # lru_crawler metadump answers BUSY (no keys) now and then: take the fullest of a few
    best = []
    for _ in range(5):
        got = [k for k in memcached.keys() if k.startswith(prefix)]
        best = got if len(got) > len(best) else best
        time.sleep(0.05)
    return best


def session_key(browser):
    """The store key of a browser's session (aoidc_session.h: SHA-256 of the cookie)."""
    cookie = browser.cookies.get("aoidc_session")
    digest = hashlib.sha256(b"aoidc session store key v1:" + cookie.encode()).digest()
    return "aoidc:s:" + b64url(digest)


def logout_token(op, **over):
    now = int(time.time())
    claims = {"iss": op.issuer, "aud": "app", "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex,
              "events": {EVENT: {}}, "sub": "alice"}
    for k, v in over.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return sign_jwt(claims, header={"typ": "logout+jwt"})


def post_token(apache, token, **kw):
    return requests.post(apache.url("/oidc/backchannel"), data={"logout_token": token}, timeout=10,
                         proxies={"http": None, "https": None}, **kw)


def test_snapshots_published_without_secrets(two_nodes, memcached, crypto_key, op, browser):
    a, b = two_nodes
    index = json.loads(memcached.get("aoidc:n:index"))
    assert set(index["nodes"]) == {"node-a", "node-b"}
    raw = memcached.get("aoidc:n:node-a")
    snap = json.loads(raw)
    assert snap["node"] == "node-a" and snap["version"]
    assert snap["session"]["max_lifetime"] > 0
    assert snap["uris"]["backchannel_logout"] == "/oidc/backchannel"
    pr = snap["providers"][0]
    assert pr["issuer"] == op.issuer and pr["client_id"] == "app"
    assert "openid" in pr["scope"]
    assert snap["key_id"] == json.loads(memcached.get("aoidc:n:node-b"))["key_id"]
    # secrets never leave the node
    secret = OP.secret("app").encode()
    key = open(crypto_key, "rb").read().strip()
    for k in ("aoidc:n:node-a", "aoidc:n:node-b", "aoidc:n:index"):
        v = memcached.get(k)
        assert secret not in v and key not in v
        assert b"app.secret" not in v                        # not even the secret file's path
        assert not [k for k in json_keys(json.loads(v)) if "secret" in k.lower()]
    # a login fetches discovery and keys: node a republishes what it learnt
    login(browser, a.url("/protected/"), "alice", "alice-pw", op=op)
    deadline = time.time() + 5
    while time.time() < deadline:
        pr = json.loads(memcached.get("aoidc:n:node-a"))["providers"][0]
        if pr["keys"] and pr["discovery"]["fetched"]:
            break
        time.sleep(0.1)
    assert {k["kid"] for k in pr["keys"]} >= {"rsa-a"}
    assert pr["endpoints"]["token"].startswith(op.issuer)
    assert pr["jwks"]["error"] is None and pr["jwks"]["fetched"] > 0
    assert secret not in memcached.get("aoidc:n:node-a")


@pytest.mark.strict_sessions
def test_logins_on_two_nodes_are_listed_and_logout_unlists(two_nodes, memcached, op):
    a, b = two_nodes
    users = [("alice", a), ("bob", b), ("carol", a)]
    browsers = []
    for user, n in users:
        s = new_browser()
        login(s, n.url("/protected/"), user, f"{user}-pw", op=op)
        browsers.append(s)
    assert len(keys_with(memcached, "aoidc:s:")) == 3
    assert len(keys_with(memcached, "aoidc:d:u:")) == 3       # one list per user
    assert len(keys_with(memcached, "aoidc:d:sid:")) == 3     # the OP sends sid
    assert keys_with(memcached, "aoidc:d:b:") and keys_with(memcached, "aoidc:d:p:main:")
    assert len(keys_with(memcached, "aoidc:d:m:")) == 3       # by email
    # lists are encrypted: no user name in them
    for k in keys_with(memcached, "aoidc:d:"):
        v = memcached.get(k)
        assert b"alice" not in v and b"bob" not in v
    # the hot path still does one get per request and no directory write
    sets_before = int(memcached.stats()["cmd_set"])
    gets_before = int(memcached.stats()["cmd_get"])
    for _ in range(3):
        assert browsers[0].get(b.url("/protected/"), allow_redirects=False).status_code == 200
    assert int(memcached.stats()["cmd_get"]) - gets_before == 3
    assert int(memcached.stats()["cmd_set"]) == sets_before
    for s in browsers:
        s.close()


@pytest.mark.strict_sessions
def test_backchannel_logout_from_op_ends_session_on_both_nodes(two_nodes, op):
    a, b = two_nodes
    alice, bob = new_browser(), new_browser()
    login(alice, a.url("/protected/"), "alice", "alice-pw", op=op)
    login(bob, b.url("/protected/"), "bob", "bob-pw", op=op)
    assert is_logged_in(alice, a.url("/protected/")) and is_logged_in(alice, b.url("/protected/"))
    # the user logs out at the OP: the OP posts a logout token (with sid) to node a
    logout(alice, op.url("/session/end"), op=op)
    ev = op.events("backchannel.success")
    assert ev and ev[-1]["sub"] == "alice" and ev[-1]["sid"]
    assert not is_logged_in(alice, a.url("/protected/"))
    assert not is_logged_in(alice, b.url("/protected/"))
    assert is_logged_in(bob, b.url("/protected/")) and is_logged_in(bob, a.url("/protected/"))


def test_backchannel_sub_only_ends_every_session_of_the_user(two_nodes, op, memcached):
    a, b = two_nodes
    s1, s2, bob = new_browser(), new_browser(), new_browser()
    login(s1, a.url("/protected/"), "alice", "alice-pw", op=op)
    login(s2, b.url("/protected/"), "alice", "alice-pw", op=op)
    login(bob, a.url("/protected/"), "bob", "bob-pw", op=op)
    r = op.backchannel("app", "alice")            # no sid: every session of alice at this OP
    assert r.status_code == 200, r.text
    assert not is_logged_in(s1, b.url("/protected/"))
    assert not is_logged_in(s2, a.url("/protected/"))
    assert is_logged_in(bob, b.url("/protected/"))
    assert memcached.get(session_key(s1)) is None and memcached.get(session_key(s2)) is None
    assert memcached.get(session_key(bob)) is not None


@pytest.mark.strict_sessions
def test_forged_token_with_the_op_key_works_once(two_nodes, op):
    a, b = two_nodes
    s = new_browser()
    login(s, a.url("/protected/"), "alice", "alice-pw", op=op)
    tok = logout_token(op)
    r = post_token(b, tok)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert not is_logged_in(s, a.url("/protected/"))
    # the same jti again, at either node: refused
    for n in (a, b):
        r = post_token(n, tok)
        assert r.status_code == 400
        assert r.json() == {"error": "invalid_request"}


def test_unknown_user_is_still_200(two_nodes, op):
    a, _ = two_nodes
    assert post_token(a, logout_token(op, sub="nobody")).status_code == 200
    assert post_token(a, logout_token(op, sub=None, sid="no-such-sid")).status_code == 200


@pytest.mark.parametrize("case", [
    "garbage", "alg_none", "wrong_aud", "nonce", "no_events", "events_not_object", "no_sid_no_sub",
    "no_jti", "wrong_iss", "expired", "old_iat", "future_iat", "rogue_key", "hs256", "empty_sub",
])
def test_malformed_logout_tokens_are_400(two_nodes, op, case):
    a, _ = two_nodes
    now = int(time.time())
    tokens = {
        "garbage": lambda: "not.a.jwt",
        "alg_none": lambda: "eyJhbGciOiJub25lIn0." + sign_jwt({"x": 1}).split(".")[1] + ".",
        "wrong_aud": lambda: logout_token(op, aud="other-client"),
        "nonce": lambda: logout_token(op, nonce="n-0S6_WzA2Mj"),
        "no_events": lambda: logout_token(op, events=None),
        "events_not_object": lambda: logout_token(op, events={EVENT: "yes"}),
        "no_sid_no_sub": lambda: logout_token(op, sub=None),
        "no_jti": lambda: logout_token(op, jti=None),
        "wrong_iss": lambda: logout_token(op, iss="http://evil.example.test"),
        "expired": lambda: logout_token(op, iat=now - 300, exp=now - 200),
        "old_iat": lambda: logout_token(op, iat=now - 7200, exp=None),
        "future_iat": lambda: logout_token(op, iat=now + 3600),
        "rogue_key": lambda: sign_jwt({"iss": op.issuer, "aud": "app", "iat": now, "jti": "x",
                                       "events": {EVENT: {}}, "sub": "alice"}, kid="rogue"),
        "hs256": lambda: __import__("jwt").encode({"iss": op.issuer, "aud": "app", "iat": now, "jti": "y",
                                                   "events": {EVENT: {}}, "sub": "alice"},
                                                  OP.secret("app"), algorithm="HS256"),
        "empty_sub": lambda: logout_token(op, sub=""),
    }
    alice = new_browser()
    login(alice, a.url("/protected/"), "alice", "alice-pw", op=op)
    r = post_token(a, tokens[case]())
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_request"}
    assert r.headers["Cache-Control"] == "no-store"
    assert is_logged_in(alice, a.url("/protected/"))


def test_bad_requests_are_400_not_500(two_nodes, op):
    a, _ = two_nodes
    url = a.url("/oidc/backchannel")
    nop = {"http": None, "https": None}
    tok = logout_token(op)
    cases = [
        requests.get(url, timeout=10, proxies=nop),
        requests.post(url, data=json.dumps({"logout_token": tok}), timeout=10, proxies=nop,
                      headers={"Content-Type": "application/json"}),
        requests.post(url, data="", timeout=10, proxies=nop,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}),
        requests.post(url, data=f"logout_token={tok}&logout_token={tok}", timeout=10, proxies=nop,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}),
        requests.post(url, data="logout_token=" + "A" * 20000, timeout=10, proxies=nop,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}),
        requests.post(url, data="logout_token=%00%zz", timeout=10, proxies=nop,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    for r in cases:
        assert r.status_code == 400, (r.request.method, r.status_code)
        assert r.json() == {"error": "invalid_request"}
    # the token was never consumed by the refused requests
    assert post_token(a, tok).status_code == 200
