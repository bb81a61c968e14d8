"""issue 13 point 4: re-authentication after revocation, and AuthOIDCMaxAuthAge (step-up).

After an admin revokes a user, that user's next login must really ask for the password: the
provider's own session would otherwise log them straight back in. The callback compares the ID
token's auth_time with the revocation epoch; an authentication from before it (or none stated)
makes the module ask again with prompt=login&max_age=0, and an answer that is still not fresh is
refused. A location with AuthOIDCMaxAuthAge N sends max_age=N and takes only sessions whose user
authenticated within N seconds (+ clock skew)."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

import harness
from harness import hops, login, op_login_only
from test_85_console import Console

SKEW = 5


@pytest.fixture
def console(tmp_path, memcached, crypto_key):
    c = Console(tmp_path / "console", memcached, crypto_key)
    yield c
    c.stop()


def site(make_apache):
    cgi = f'"{harness.HTDOCS}/cgi/env.py"'
    return make_apache(f"""
ScriptAlias /fresh/env {cgi}
<Location /fresh/>
    AuthType oidc
    AuthOIDCMaxAuthAge 30
    Require valid-user
</Location>
""", oidc={"extra": f"AuthOIDCClockSkew {SKEW}"})


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def auth_redirects(rs, op) -> list[dict]:
    return [query(r.headers["Location"]) for r in rs
            if r.status_code == 302 and r.headers.get("Location", "").startswith(op.issuer + "/auth?")]


def revoke(console, sub: str) -> None:
    rc, out = console.cli("revoke", "--user", sub, "--provider", "main")
    assert rc == 0, out
    time.sleep(1.1)  # a login in the revocation's own second counts as revoked


def test_revoked_user_must_type_the_password_again(make_apache, op, console, browser):
    a = site(make_apache)
    assert login(browser, a.url("/protected/env"), "alice", "alice-pw", op=op)[-1].status_code == 200
    revoke(console, "alice")
    # the provider still has alice's session: without the check she would be back without a password
    events = len(op.events())
    rs = login(browser, a.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice", hops(rs)
    asked = auth_redirects(rs, op)
    assert len(asked) == 2, hops(rs)
    assert "prompt" not in asked[0] and "max_age" not in asked[0]
    assert asked[1]["prompt"] == "login" and asked[1]["max_age"] == "0"
    # and the provider did ask: its login form was posted again
    assert [e for e in op.events()[events:] if e["type"] == "login.success"], op.events()[events:]
    # a user who was not revoked logs in without any of that
    b = harness.new_browser()
    login(b, a.url("/protected/env"), "bob", "bob-pw", op=op)
    b.cookies.clear(domain="127.0.0.1")  # our session gone, the provider's kept
    rs = login(b, a.url("/protected/env"), "bob", "bob-pw", op=op)
    assert rs[-1].json()["REMOTE_USER"] == "bob"
    asked = auth_redirects(rs, op)
    assert len(asked) == 1 and "prompt" not in asked[0], hops(rs)


def test_stale_auth_time_after_revocation_is_refused(make_apache, op, console, browser, memcached, expect_log):
    expect_log(r"AOIDC841: login of 'alice' at main refused: auth_time", required=True)
    a = site(make_apache)
    login(browser, a.url("/protected/env"), "alice", "alice-pw", op=op)
    revoke(console, "alice")
    # the first answer reuses the old authentication: we ask again with prompt=login ...
    cb = op_login_only(browser, a.url("/protected/env"), "alice", "alice-pw", op=op)
    r = browser.get(cb, allow_redirects=False, timeout=15)
    assert r.status_code == 302, (r.status_code, r.text[:200])
    again = query(r.headers["Location"])
    assert again["prompt"] == "login" and again["max_age"] == "0"
    # ... and a provider that ignores it (auth_time still from before the revocation) is refused
    cb = op_login_only(browser, r.headers["Location"], "alice", "alice-pw", op=op)
    op.mutate("claims", set={"auth_time": int(time.time()) - 3600})
    r = browser.get(cb, allow_redirects=False, timeout=15)
    assert r.status_code == 403 and "Location" not in r.headers
    assert "aoidc_session" not in r.headers.get("Set-Cookie", "")


def test_max_auth_age_forces_a_fresh_login(make_apache, op, browser, expect_log):
    expect_log(r"AOIDC841: login of 'alice' at main refused", required=True)
    a = site(make_apache)
    # a session whose authentication is an hour old opens /protected/ but not /fresh/
    cb = op_login_only(browser, a.url("/protected/env"), "alice", "alice-pw", op=op)
    op.mutate("claims", set={"auth_time": int(time.time()) - 3600})
    assert browser.get(cb, allow_redirects=False, timeout=15).status_code == 302
    assert browser.get(a.url("/protected/env"), timeout=15).json()["REMOTE_USER"] == "alice"
    r = browser.get(a.url("/fresh/env"), allow_redirects=False, timeout=15)
    assert r.status_code == 302 and r.headers["Location"].startswith(op.issuer + "/auth?")
    assert query(r.headers["Location"])["max_age"] == "30"
    # the provider's answer must bring an auth_time within 30 s (+ skew): a stale one is refused
    cb = op_login_only(browser, r.headers["Location"], "alice", "alice-pw", op=op)
    op.mutate("claims", set={"auth_time": int(time.time()) - 3600})
    r2 = browser.get(cb, allow_redirects=False, timeout=15)
    assert r2.status_code == 403
    # a fresh one opens /fresh/
    rs = login(browser, a.url("/fresh/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice", hops(rs)
    assert browser.get(a.url("/fresh/env"), allow_redirects=False, timeout=15).status_code == 200


def test_max_auth_age_range(make_apache):
    from test_60_config import check_fails
    check_fails(make_apache, "AuthOIDCMaxAuthAge", r"AuthOIDCMaxAuthAge: '5' is not a whole number from 30",
                "<Location /app>\n    AuthType oidc\n    AuthOIDCMaxAuthAge 5\n</Location>\n")
