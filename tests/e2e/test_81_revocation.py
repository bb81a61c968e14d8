"""Revocation by user or provider does not depend on the session directory being complete
(issue 7 point 8; README "Revocation guarantee"): revoke-by-user, revoke-by-provider and a sub-only
back-channel logout first raise a revocation epoch in memcached, and a session created at or before
it is refused at its next touch, even when the directory lost it. Here the directory lists are
deleted behind the module's back (as a full list, a failed write or an eviction would lose them)."""
from __future__ import annotations

import hashlib
import time

import pytest

from harness import b64url, login, new_browser
from test_85_console import Console, _csrf

TOUCH = 1  # AuthOIDCSessionTouchInterval: the epochs are read at each touch


def node(make_apache, name, backchannel=False):
    extra = f"AuthOIDCNodeName node-{name}\nAuthOIDCSessionTouchInterval {TOUCH}"
    if backchannel:
        extra += "\nAuthOIDCBackChannelLogoutURI /oidc/backchannel"
    return make_apache(name=name, oidc={"extra": extra})


@pytest.fixture
def console(tmp_path, memcached, crypto_key):
    c = Console(tmp_path / "console", memcached, crypto_key)
    yield c
    c.stop()


def dir_key(prefix: str, a: str, b: str) -> str:
    """A directory key (aoidc_directory.c hash2)."""
    digest = hashlib.sha256(b"aoidc dir v1\0" + a.encode() + b"\0" + b.encode()).digest()
    return prefix + b64url(digest)


def session_key(browser) -> str:
    cookie = browser.cookies.get("aoidc_session")
    return "aoidc:s:" + b64url(hashlib.sha256(b"aoidc session store key v1:" + cookie.encode()).digest())


def status(s, url) -> int:
    return s.get(url, allow_redirects=False, headers={"Accept": "text/html"}).status_code


def lose_user_index(memcached, provider, sub):
    assert memcached.delete(dir_key("aoidc:d:u:", provider, sub))


def past_touch():
    time.sleep(TOUCH + 1.1)  # the next request is due for a touch, and in a later second


def test_revoke_user_ends_a_session_the_index_lost(make_apache, op, memcached, console):
    a = node(make_apache, "a")
    alice, bob = new_browser(), new_browser()
    login(alice, a.url("/protected/"), "alice", "alice-pw", op=op)
    login(bob, a.url("/protected/"), "bob", "bob-pw", op=op)
    lose_user_index(memcached, "main", "alice")
    rc, out = console.cli("revoke", "--user", "alice", "--provider", "main")
    assert out["revoked"] == 0, out          # the walk cannot find it ...
    assert memcached.get(session_key(alice)) is not None
    past_touch()
    assert status(alice, a.url("/protected/")) == 302   # ... the epoch ends it at its touch
    assert memcached.get(session_key(alice)) is None
    assert status(bob, a.url("/protected/")) == 200
    # a login after the revocation is a new session and lives
    again = new_browser()
    login(again, a.url("/protected/"), "alice", "alice-pw", op=op)
    past_touch()
    assert status(again, a.url("/protected/")) == 200


def test_revoke_user_via_web_api(make_apache, op, memcached, console):
    a = node(make_apache, "a")
    alice = new_browser()
    login(alice, a.url("/protected/"), "alice", "alice-pw", op=op)
    lose_user_index(memcached, "main", "alice")
    console.serve()
    s, r = console.api_login()
    assert r.status_code == 200, r.text
    r = s.post(console.url("/api/users/revoke"), json={"provider": "main", "sub": "alice"},
               headers={"X-CSRF-Token": _csrf(s, console)}, timeout=10)
    assert r.status_code == 404, r.text      # no listed session: the epoch is raised all the same
    past_touch()
    assert status(alice, a.url("/protected/")) == 302


def test_revoke_provider_ends_a_session_the_buckets_lost(make_apache, op, memcached, console):
    a = node(make_apache, "a")
    alice = new_browser()
    login(alice, a.url("/protected/"), "alice", "alice-pw", op=op)
    for k in memcached.keys():
        if k.startswith("aoidc:d:p:main:") or k.startswith("aoidc:d:b:") or k.startswith("aoidc:d:u:"):
            memcached.delete(k)
    rc, out = console.cli("revoke", "--provider", "main", "--yes")
    assert out["revoked"] == 0, out
    past_touch()
    assert status(alice, a.url("/protected/")) == 302
    assert memcached.get(session_key(alice)) is None


def test_backchannel_sub_only_ends_a_session_the_index_lost(make_apache, op, memcached):
    a = node(make_apache, "a", backchannel=True)
    op.client("app", backchannel_logout_uri=a.url("/oidc/backchannel"))
    alice, bob = new_browser(), new_browser()
    login(alice, a.url("/protected/"), "alice", "alice-pw", op=op)
    login(bob, a.url("/protected/"), "bob", "bob-pw", op=op)
    lose_user_index(memcached, "main", "alice")
    r = op.backchannel("app", "alice")        # no sid: every session of alice
    assert r.status_code == 200, r.text
    past_touch()
    assert status(alice, a.url("/protected/")) == 302
    assert status(bob, a.url("/protected/")) == 200


@pytest.mark.strict_sessions
def test_untouched_requests_read_no_epoch(make_apache, op, memcached):
    """The hot path stays one get: a request that is not due for a touch reads no epoch."""
    a = make_apache(name="a", oidc={"extra": "AuthOIDCSessionTouchInterval 3600\n"
                                             "AuthOIDCSessionInactivityTimeout 7200"})
    alice = new_browser()
    login(alice, a.url("/protected/"), "alice", "alice-pw", op=op)
    before = int(memcached.stats()["cmd_get"])
    for _ in range(5):
        assert status(alice, a.url("/protected/")) == 200
    assert int(memcached.stats()["cmd_get"]) - before == 5


def test_login_racing_a_revocation_is_refused(make_apache, op, memcached, expect_log):
    """A revocation of the user lands while a login is under way (its epoch is at or after
    the new session's creation): the login ends with a 403 plain page, no session cookie and
    no record left behind, and a login after the revocation's second works."""
    expect_log(r"AOIDC670", required=True)
    a = node(make_apache, "a")
    b = new_browser()
    epoch = int(time.time()) + 2            # "now", as the login will see it
    key = dir_key("aoidc:r:u:", "main", "alice")
    val = str(epoch)
    assert memcached.command(f"set {key} 0 60 {len(val)}\r\n{val}", end=(b"STORED\r\n",)).startswith("STORED")
    rs = login(b, a.url("/protected/"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 403, [(r.status_code, r.url) for r in rs]
    assert "Location" not in rs[-1].headers
    assert b.cookies.get("aoidc_session") is None
    assert [k for k in memcached.keys() if k.startswith("aoidc:s:")] == []
    time.sleep(max(0.0, epoch + 1.1 - time.time()))
    again = new_browser()
    rs = login(again, a.url("/protected/"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200
