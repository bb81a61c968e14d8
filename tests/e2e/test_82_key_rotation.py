"""Rolling the crypto key (issue 7 point 11; README "Rolling the crypto key"):
`AuthOIDCCryptoKeyFile new old` writes records, state cookies and directory lists under the new key
and reads them under either, so a node moves from key A to key B with a graceful restart and no
one is logged out; once A is dropped, what is still under A reads as "no session" (never a 500)."""
from __future__ import annotations

import hashlib

import pytest

from harness import b64url, login, new_browser, op_login_only, write_crypto_key
from test_85_console import Console


def session_key(browser) -> str:
    cookie = browser.cookies.get("aoidc_session")
    return "aoidc:s:" + b64url(hashlib.sha256(b"aoidc session store key v1:" + cookie.encode()).digest())


def status(s, url) -> int:
    return s.get(url, allow_redirects=False, headers={"Accept": "text/html"}).status_code


def with_keys(apache, *paths) -> None:
    """Rewrite the AuthOIDCCryptoKeyFile line for the next (graceful) restart."""
    lines = [f"AuthOIDCCryptoKeyFile {' '.join(str(p) for p in paths)}"
             if line.startswith("AuthOIDCCryptoKeyFile") else line
             for line in apache.conf_args["oidc"].splitlines()]
    apache.reconfigure(oidc="\n".join(lines) + "\n")


@pytest.fixture
def keys(bench_dir):
    return write_crypto_key(bench_dir / "rotation-A.key"), write_crypto_key(bench_dir / "rotation-B.key")


def test_roll_key_without_logging_anyone_out(make_apache, op, memcached, keys, expect_log, tmp_path):
    key_a, key_b = keys
    a = make_apache(oidc={"crypto_key_file": str(key_a)})
    alice, late = new_browser(), new_browser()
    login(alice, a.url("/protected/"), "alice", "alice-pw", op=op)
    assert status(alice, a.url("/protected/")) == 200
    under_a = memcached.get(session_key(alice))[0]
    # a login that is under way (its state cookie is under A) across the restart
    callback = op_login_only(late, a.url("/protected/"), "carol", "carol-pw", op=op)

    with_keys(a, key_b, key_a)
    a.graceful()
    assert status(alice, a.url("/protected/")) == 200          # A's session survives
    r = late.get(callback, allow_redirects=False)
    assert r.status_code in (302, 303), r.status_code           # A's state cookie too
    assert status(late, a.url("/protected/")) == 200
    bob = new_browser()
    login(bob, a.url("/protected/"), "bob", "bob-pw", op=op)
    under_b = memcached.get(session_key(bob))[0]                # new records are under B
    assert memcached.get(session_key(late))[0] == under_b
    if under_a == under_b:
        pytest.skip("the two random keys share a key id (1 in 254)")

    # the console with both keys lists the sessions of both keys (directory lists under A and B)
    console = Console(tmp_path / "console", memcached, key_b, previous_crypto_key_file=key_a)
    rc, out = console.cli("sessions")
    assert rc == 0, console.last_stderr
    subs = sorted(s["sub"] for s in out["sessions"])
    assert subs == ["alice", "bob", "carol"], out

    # A dropped: what is still under A is no session (a login), never a 500
    expect_log(r"AOIDC305")
    with_keys(a, key_b)
    a.graceful()
    assert status(alice, a.url("/protected/")) == 302
    assert status(bob, a.url("/protected/")) == 200
    assert status(late, a.url("/protected/")) == 200


def test_previous_key_equal_to_current_is_a_config_error(make_apache, keys):
    key_a, _ = keys
    a = make_apache(oidc={"crypto_key_file": str(key_a)}, start=False)
    with_keys(a, key_a, key_a)
    rc, out = a.configtest()
    assert rc != 0 and "AuthOIDCCryptoKeyFile" in out and "same key" in out, out
    with_keys(a, key_a, "/nonexistent/old.key")
    rc, out = a.configtest()
    assert rc != 0 and "previous key" in out, out
