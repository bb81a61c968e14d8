"""Every login attempt is single-use on the server (a marker in memcached keyed by a hash
of the state): a copied callback URL plus state cookie does not log in elsewhere and the
code reaches the token endpoint once; a second callback of the browser that completed
that login goes to the return target without redeeming anything."""
import base64
import hashlib

from harness import login, new_browser, op_login_only
from test_20_callback import (assert_no_session, assert_refused, qparam, session_cookies_set,
                              state_cookie_name)


def marker_key(state):
    d = hashlib.sha256(b"aoidc state v1\0" + state.encode()).digest()
    return "aoidc:l:" + base64.urlsafe_b64encode(d).decode().rstrip("=")


def complete(browser, cb):
    r = browser.get(cb, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/protected/", (r.status_code, r.headers)
    assert browser.cookies.get("aoidc_session")
    return r


def test_replay_with_stolen_state_cookie_refused_before_token_endpoint(apache, op, browser, memcached,
                                                                        expect_log):
    expect_log(r"AOIDC663", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    state = qparam(cb, "state")
    saved = browser.cookies.get(state_cookie_name(state))
    complete(browser, cb)
    assert op.stats()["token"] == 1
    thief = new_browser()
    thief.cookies.set(state_cookie_name(state), saved, domain="127.0.0.1", path="/")
    r = thief.get(cb, allow_redirects=False)
    assert_refused(r, 400)
    assert r.headers.get("Content-Type", "").startswith("text/"), r.headers
    assert "<script" not in r.text.lower() and state not in r.text
    assert_no_session_for(r, thief)
    assert len(memcached.session_keys()) == 1
    # the code was not sent to the token endpoint a second time
    assert op.stats()["token"] == 1


def assert_no_session_for(resp, browser):
    assert session_cookies_set(resp) == []
    assert browser.cookies.get("aoidc_session") is None


def test_replay_before_the_first_callback_finishes_is_refused(apache, op, browser, memcached, expect_log):
    """The thief comes first with the copied URL and cookie: it gets the session (it holds
    everything the browser holds), the browser's own callback is then refused: once only."""
    expect_log(r"AOIDC663", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    state = qparam(cb, "state")
    thief = new_browser()
    thief.cookies.set(state_cookie_name(state), browser.cookies.get(state_cookie_name(state)),
                      domain="127.0.0.1", path="/")
    complete(thief, cb)
    r = browser.get(cb, allow_redirects=False)
    assert_refused(r, 400)
    assert_no_session_for(r, browser)
    assert op.stats()["token"] == 1 and len(memcached.session_keys()) == 1


def test_marker_expires_with_the_state(apache, op, browser, memcached):
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    state = qparam(cb, "state")
    complete(browser, cb)
    key = marker_key(state)
    assert key in memcached.keys()
    # a completed login's marker names its session handle and return target, no secret
    val = memcached.get(key).decode()
    handle = memcached.session_keys()[0][len("aoidc:s:"):]
    assert val == f"S {handle} /protected/", val
    assert browser.cookies.get("aoidc_session") not in val
    line = memcached.command(f"me {key}", end=(b"\r\n",))
    # seconds left (memcached 1.6.18 prints them negated): the state's 600 at most,
    # where the session record has its hour
    exp = abs(int(line.split("exp=")[1].split()[0]))
    assert 0 < exp <= 600, line


def test_second_callback_of_same_browser_goes_to_target(apache, op, browser, memcached):
    """Two tabs answered with one state: the second callback arrives after the first
    completed and cleared the state cookie. The user holds the session: no error page."""
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    complete(browser, cb)
    sid = browser.cookies.get("aoidc_session")
    r = browser.get(cb, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/protected/", (r.status_code, r.text[:200])
    assert session_cookies_set(r) == []
    assert browser.cookies.get("aoidc_session") == sid
    assert op.stats()["token"] == 1 and len(memcached.session_keys()) == 1
    r = browser.get(apache.url("/protected/env"), allow_redirects=False)
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "alice"


def test_second_callback_racing_with_state_cookie_goes_to_target(apache, op, browser, memcached):
    """Same, but the second callback still carries the state cookie (both tabs' requests
    left before the first answer arrived)."""
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    state = qparam(cb, "state")
    saved = browser.cookies.get(state_cookie_name(state))
    complete(browser, cb)
    browser.cookies.set(state_cookie_name(state), saved, domain="127.0.0.1", path="/")
    r = browser.get(cb, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/protected/", (r.status_code, r.text[:200])
    assert session_cookies_set(r) == []
    assert op.stats()["token"] == 1 and len(memcached.session_keys()) == 1


def test_replay_by_another_logged_in_browser_refused(apache, op, browser, memcached, expect_log):
    """A thief with a session of its own (another login) and the stolen state cookie: its
    session is not the one that login created."""
    expect_log(r"AOIDC663", required=True)
    thief = new_browser()
    rs = login(thief, apache.url("/protected/env"), "bob", "bob-pw", op=op)
    assert rs[-1].json()["REMOTE_USER"] == "bob"
    victim = new_browser()
    cb = op_login_only(victim, apache.url("/protected/"), "alice", "alice-pw", op=op)
    state = qparam(cb, "state")
    saved = victim.cookies.get(state_cookie_name(state))
    complete(victim, cb)
    tokens = op.stats()["token"]
    thief.cookies.set(state_cookie_name(state), saved, domain="127.0.0.1", path="/")
    r = thief.get(cb, allow_redirects=False)
    assert_refused(r, 400)
    assert session_cookies_set(r) == []
    assert op.stats()["token"] == tokens
    r = thief.get(apache.url("/protected/env"), allow_redirects=False)
    assert r.json()["REMOTE_USER"] == "bob"
    # without the state cookie (the refusal cleared it): no redirect for a session that is
    # not that login's
    assert thief.cookies.get(state_cookie_name(state)) is None
    r = thief.get(cb, allow_redirects=False)
    assert_refused(r, 400)


def test_marker_from_the_store_is_not_trusted_for_a_redirect(apache, op, browser, memcached, expect_log):
    """A marker that names a session but an off-site target (store tampering) is not
    followed."""
    expect_log(r"AOIDC663", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    state = qparam(cb, "state")
    saved = browser.cookies.get(state_cookie_name(state))
    complete(browser, cb)
    key = marker_key(state)
    handle = memcached.session_keys()[0][len("aoidc:s:"):]
    bad = f"S {handle} //evil.example/".encode()
    assert memcached.command(f"set {key} 0 600 {len(bad)}\r\n{bad.decode()}", end=(b"STORED\r\n",)) == "STORED\r\n"
    browser.cookies.set(state_cookie_name(state), saved, domain="127.0.0.1", path="/")
    r = browser.get(cb, allow_redirects=False)
    assert_refused(r, 400)
    assert op.stats()["token"] == 1


def test_store_down_before_redeeming(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC664: callback: cannot mark the login attempt used", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    memcached.stop()
    try:
        r = browser.get(cb, allow_redirects=False)
        assert_refused(r, 503)
        assert r.headers.get("Retry-After")
        assert session_cookies_set(r) == []
        assert op.stats()["token"] == 0, "the code was redeemed although the attempt could not be marked"
    finally:
        memcached.start()
    assert apache.running()
    assert_no_session(r, browser, memcached)
