"""Sessions: shared store across nodes, encryption at rest, expiry, throttled touch
write-back, hostile cookies, store outage, and the cost of the hot path.

Timing: the module keeps last_seen in whole seconds and the smallest accepted
AuthOIDCSessionInactivityTimeout / AuthOIDCSessionMaxLifetime is 10 s, so the expiry test
sleeps ~12 s and the touch test ~7 s; everything else is sub-second.
"""
from __future__ import annotations

import re
import threading
import time

import pytest

import harness
from harness import new_browser, login, write_crypto_key

SESSION = "aoidc_session"
KEY_RE = re.compile(r"aoidc:s:[A-Za-z0-9_-]{43}")
NAV = {"Accept": "text/html"}
XHR = {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}


# ----------------------------------------------------------------- helpers

def do_login(apache, op, user="alice"):
    """Log a fresh browser in on apache; returns (browser, session id, time of login)."""
    s = new_browser()
    rs = login(s, apache.url("/protected/env"), user, f"{user}-pw", op=op)
    assert rs[-1].status_code == 200, [(r.url, r.status_code) for r in rs]
    assert rs[-1].json()["REMOTE_USER"] == user
    sid = s.cookies.get(SESSION)
    assert sid and re.fullmatch(r"[A-Za-z0-9_-]{43}", sid)
    return s, sid, time.monotonic()


def with_cookie(apache, path, cookie, headers=NAV):
    """One request carrying exactly this Cookie header (no cookie jar)."""
    s = new_browser()
    try:
        return s.get(apache.url(path), headers={**headers, "Cookie": cookie}, allow_redirects=False, timeout=10)
    finally:
        s.close()


def session_keys(memcached):
    return [k for k in memcached.keys() if k.startswith("aoidc:s:")]


def mc_counters(memcached):
    st = memcached.stats()
    return {k: int(st[k]) for k in ("cmd_get", "get_hits", "get_misses", "cmd_set", "cas_hits", "cas_badval",
                                    "cas_misses", "cmd_touch", "delete_hits", "delete_misses")}


def mc_delta(memcached, before):
    after = mc_counters(memcached)
    return {k: after[k] - before[k] for k in after}


def plain_sets(d):
    """Storage commands that were not CAS (memcached counts cas in cmd_set too)."""
    return d["cmd_set"] - d["cas_hits"] - d["cas_badval"] - d["cas_misses"]


def ttl_of(memcached, key):
    """Remaining TTL in seconds of key (meta get `mg <key> t`, memcached >= 1.6)."""
    line = memcached.command(f"mg {key} t", end=(b"\r\n",)).strip()
    m = re.fullmatch(r"HD t(-?\d+)", line)
    assert m, f"mg answered {line!r}"
    return int(m.group(1))


def sleep_until(t0, seconds):
    left = t0 + seconds - time.monotonic()
    if left > 0:
        time.sleep(left)


def assert_logged_out(r, op, what):
    assert r.status_code != 500, what
    assert r.status_code == 302, (what, r.status_code, r.text[:200])
    assert r.headers["Location"].startswith(op.issuer + "/auth?"), what


def raw_get(port, path, header_lines):
    """GET with raw header lines (for repeated headers requests cannot send). Returns (status, head)."""
    status, head, _ = harness.raw_http(port, path, header_lines)
    return status, head


# ----------------------------------------------------------------- shared store, at rest

def test_session_shared_between_nodes(make_apache, op, memcached):
    a = make_apache(name="a")
    b = make_apache(name="b")
    s, sid, _ = do_login(a, op, "bob")
    before = op.stats()
    r = with_cookie(b, "/protected/env", f"{SESSION}={sid}")
    assert r.status_code == 200
    env = r.json()
    assert env["REMOTE_USER"] == "bob"
    assert env["AUTH_TYPE"] == "oidc"
    assert env["OIDC_CLAIM_email"] == "bob@example.com"
    assert op.stats() == before, "node b called the provider for a session of node a"
    # and back on a, the same session still works
    assert s.get(a.url("/protected/env"), allow_redirects=False).json()["REMOTE_USER"] == "bob"


def test_store_key_is_not_the_cookie_and_record_is_encrypted(apache, op, memcached):
    _, sid, _ = do_login(apache, op, "alice")
    keys = memcached.keys()
    skeys = session_keys(memcached)
    assert len(skeys) == 1, keys
    key = skeys[0]
    assert KEY_RE.fullmatch(key), key
    assert not any(sid in k for k in keys), "a store key contains the cookie value"
    value = memcached.get(key)
    assert value is not None and len(value) > 200      # tokens are in there, encrypted
    for secret in (sid.encode(), b"alice", b"Alice", b"example.com", b"admins", b"staff", b"eyJ",
                   op.issuer.encode(), b"main"):
        assert secret not in value, f"{secret!r} readable in the stored session record"
    # nor in anything else the module keeps in memcached (session directory, node
    # snapshots): no user data, no token, no cookie, in keys or values
    for k in keys:
        v = memcached.get(k) or b""
        for secret in (sid, "alice", "Alice", "example.com", "admins", "eyJ"):
            assert secret not in k, (k, secret)
            assert secret.encode() not in v, (k, secret)


# ----------------------------------------------------------------- lifetimes

def test_inactivity_and_absolute_lifetime(make_apache, op, memcached):
    """idle: inactivity 10 s (touch 2 s). life: max lifetime 10 s, inactivity 30 s.
    On idle, an idle browser is logged out after 10 s while an active one stays;
    on life, even an active browser is logged out after 10 s. The memcached TTL
    follows the session: it is the inactivity window, capped by the absolute end."""
    idle = make_apache(name="idle", oidc={"extra": "AuthOIDCSessionInactivityTimeout 10\n"
                                                   "AuthOIDCSessionTouchInterval 2"})
    life = make_apache(name="life", oidc={"extra": "AuthOIDCSessionInactivityTimeout 30\n"
                                                   "AuthOIDCSessionTouchInterval 2\n"
                                                   "AuthOIDCSessionMaxLifetime 10"})
    sleeper, sid_sleeper, t0 = do_login(idle, op, "alice")
    key_sleeper = set(session_keys(memcached))
    active, _, _ = do_login(idle, op, "bob")
    key_active = set(session_keys(memcached)) - key_sleeper
    mortal, _, _ = do_login(life, op, "carol")
    key_mortal = set(session_keys(memcached)) - key_sleeper - key_active
    assert len(key_sleeper) == len(key_active) == len(key_mortal) == 1
    (key_sleeper,), (key_active,), (key_mortal,) = key_sleeper, key_active, key_mortal

    assert 8 <= ttl_of(memcached, key_sleeper) <= 10
    assert 8 <= ttl_of(memcached, key_mortal) <= 10      # capped by the lifetime, not 30

    for t in (3.5, 7):
        sleep_until(t0, t)
        assert active.get(idle.url("/protected/"), allow_redirects=False).status_code == 200
        assert mortal.get(life.url("/protected/"), allow_redirects=False).status_code == 200
        # a touch renews the inactivity window but never the absolute end
        assert 8 <= ttl_of(memcached, key_active) <= 10
        assert ttl_of(memcached, key_mortal) <= 10 - t + 1
    assert ttl_of(memcached, key_sleeper) <= 10 - 7 + 1

    sleep_until(t0, 11.5)
    r = sleeper.get(idle.url("/protected/"), allow_redirects=False, headers=NAV)
    assert_logged_out(r, op, "idle session after the inactivity timeout")
    r = active.get(idle.url("/protected/"), allow_redirects=False)
    assert r.status_code == 200, "an active session died on the inactivity timeout"
    r = mortal.get(life.url("/protected/"), allow_redirects=False, headers=NAV)
    assert_logged_out(r, op, "active session after the absolute lifetime")
    r = mortal.get(life.url("/protected/"), allow_redirects=False, headers=XHR)
    assert r.status_code == 401
    assert memcached.get(key_sleeper) is None and memcached.get(key_mortal) is None
    # the old cookie is no longer accepted after a fresh login elsewhere either
    assert_logged_out(with_cookie(idle, "/protected/", f"{SESSION}={sid_sleeper}"), op, "expired id reused")


@pytest.mark.strict_sessions
def test_touch_write_back_is_throttled(make_apache, op, memcached):
    """Touch interval 3 s: no write within it, exactly one after it, and one CAS winner
    among parallel requests."""
    a = make_apache(oidc={"extra": "AuthOIDCSessionInactivityTimeout 10\nAuthOIDCSessionTouchInterval 3"})
    s, sid, t_login = do_login(a, op, "alice")
    (key,) = session_keys(memcached)

    before = mc_counters(memcached)
    for _ in range(10):
        assert s.get(a.url("/protected/"), allow_redirects=False).status_code == 200
    d = mc_delta(memcached, before)
    assert time.monotonic() - t_login < 2, "too slow to test the touch interval"
    assert d["cmd_get"] == 10 and d["get_hits"] == 10
    assert d["cmd_set"] == 0 and d["cas_hits"] == d["cas_badval"] == 0, d
    assert d["cmd_touch"] == 0

    sleep_until(t_login, 3.1)
    ttl_before = ttl_of(memcached, key)
    before = mc_counters(memcached)
    assert s.get(a.url("/protected/"), allow_redirects=False).status_code == 200
    d = mc_delta(memcached, before)
    assert d["cmd_set"] == 1 and d["cas_hits"] == 1 and plain_sets(d) == 0, d
    assert ttl_of(memcached, key) > ttl_before          # the write renewed the TTL
    before = mc_counters(memcached)
    for _ in range(5):
        assert s.get(a.url("/protected/"), allow_redirects=False).status_code == 200
    d = mc_delta(memcached, before)
    assert d["cmd_set"] == 0, f"writes right after a touch: {d}"

    # many parallel requests after the interval: exactly one successful write
    t_touch = time.monotonic()
    n = 16
    barrier = threading.Barrier(n)
    statuses = []
    browsers = []
    for _ in range(n):
        b = new_browser()
        b.cookies.set(SESSION, sid)
        b.get(a.url("/index.html"))   # open the connection now
        browsers.append(b)
    sleep_until(t_touch, 3.1)
    before = mc_counters(memcached)

    def hit(b):
        barrier.wait()
        statuses.append(b.get(a.url("/protected/"), allow_redirects=False).status_code)

    threads = [threading.Thread(target=hit, args=(b,)) for b in browsers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    d = mc_delta(memcached, before)
    assert statuses == [200] * n
    # one get of the record each; the requests due for the touch also read the two
    # revocation epochs (absent here: misses) before their CAS (README: revocation guarantee)
    epoch_reads = d["cmd_get"] - n
    assert d["get_hits"] == n and d["get_misses"] == epoch_reads, d
    assert 2 <= epoch_reads <= 2 * n and epoch_reads % 2 == 0, d
    assert d["cas_hits"] == 1, d
    assert plain_sets(d) == 0 and d["cas_misses"] == 0, d
    assert d["cmd_set"] == 1 + d["cas_badval"], d
    for b in browsers:
        b.close()


# ----------------------------------------------------------------- hostile cookies

def test_bad_cookies_mean_logged_out(apache, op, memcached):
    """Tampered, truncated, oversized, garbage and foreign session cookies: never a 500;
    navigation goes to the OP, XHR gets 401; the store is left alone."""
    _, sid, _ = do_login(apache, op, "alice")
    flipped = sid[:10] + ("A" if sid[10] != "A" else "B") + sid[11:]
    cases = {
        "tampered": f"{SESSION}={flipped}",
        "truncated": f"{SESSION}={sid[:-1]}",
        "extended": f"{SESSION}={sid}A",
        "oversized": f"{SESSION}={'A' * 8000}",
        "garbage": f"{SESSION}=%00%0d%0a<script>!@#$%^&*()",
        "quotes": f'{SESSION}="{sid[:20]}"',
        "empty": f"{SESSION}=",
        "foreign": f"{SESSION}={'Q' * 43}",
        "name-case": f"AOIDC_SESSION={sid}",
    }
    for what, cookie in cases.items():
        assert_logged_out(with_cookie(apache, "/protected/", cookie), op, what)
    # XHR: 401, and the store is only read (measured here: a navigation starts a login,
    # whose discovery fetch may publish the node snapshot to memcached)
    before = mc_counters(memcached)
    for what, cookie in cases.items():
        r = with_cookie(apache, "/protected/", cookie, headers=XHR)
        assert r.status_code == 401, (what, r.status_code)
    d = mc_delta(memcached, before)
    assert d["cmd_set"] == 0 and d["delete_hits"] == 0 and d["delete_misses"] == 0, d
    # the genuine cookie still works: nothing above harmed the session
    r = with_cookie(apache, "/protected/env", f"{SESSION}={sid}")
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "alice"


def test_duplicate_session_cookies(apache, op, memcached):
    """Several aoidc_session cookies in one request (we only ever set one, so the others
    are stale or planted, e.g. tossed from a sibling domain with a longer Path, which
    browsers send first). The module never just takes the first: exactly one live
    session among them is used; two live ones (whose user would that be?), none, or
    more than four cookies mean logged out. Refusing every duplicate would loop the
    login forever while a planted cookie the server cannot clear stays in the browser."""
    _, alice, _ = do_login(apache, op, "alice")
    _, bob, _ = do_login(apache, op, "bob")
    dead = "Q" * 43
    ok = {
        "live-first": f"{SESSION}={alice}; {SESSION}={dead}",
        "live-last": f"{SESSION}={dead}; {SESSION}=junk; {SESSION}={alice}",
        "same-twice": f"{SESSION}={alice}; {SESSION}={alice}",
    }
    for what, cookie in ok.items():
        r = with_cookie(apache, "/protected/env", cookie)
        assert r.status_code == 200, (what, r.status_code)
        assert r.json()["REMOTE_USER"] == "alice", what
    logged_out = {
        "two-live": f"{SESSION}={alice}; {SESSION}={bob}",
        "two-live-reversed": f"{SESSION}={bob}; {SESSION}={alice}",
        "two-dead": f"{SESSION}={dead}; {SESSION}={dead[:-1]}R",
        "too-many": "; ".join([f"{SESSION}={dead}"] * 4 + [f"{SESSION}={alice}"]),
    }
    for what, cookie in logged_out.items():
        assert_logged_out(with_cookie(apache, "/protected/", cookie), op, what)
        assert with_cookie(apache, "/protected/", cookie, headers=XHR).status_code == 401, what
    # two Cookie header lines (clients must not send that): httpd joins them with ", ",
    # which is no cookie separator, so the value is malformed: logged out, never a 500
    for first, second in ((alice, bob), (dead, bob), (bob, bob)):
        status, head = raw_get(apache.port, "/protected/", ["Accept: text/html", f"Cookie: {SESSION}={first}",
                                                            f"Cookie: {SESSION}={second}"])
        assert status == 302 and f"Location: {op.issuer}/auth?" in head


def test_cookie_from_another_crypto_key(make_apache, op, memcached, bench_dir, expect_log):
    expect_log(r"\[auth_oidc:warn\].*AOIDC305: session record does not decrypt", required=True)
    a = make_apache(name="a")
    other_key = write_crypto_key(bench_dir / "other-crypto.key")
    b = make_apache(name="b", oidc={"crypto_key_file": str(other_key)})
    _, sid, _ = do_login(a, op, "alice")
    (key,) = session_keys(memcached)
    value = memcached.get(key)
    assert_logged_out(with_cookie(b, "/protected/", f"{SESSION}={sid}"), op, "cookie from another key")
    assert with_cookie(b, "/protected/", f"{SESSION}={sid}", headers=XHR).status_code == 401
    # b neither deleted nor rewrote a's record, and a still serves it
    assert memcached.get(key) == value
    r = with_cookie(a, "/protected/env", f"{SESSION}={sid}")
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "alice"


# ----------------------------------------------------------------- store outage

@pytest.mark.strict_sessions
def test_memcached_down_gives_503_then_recovers(apache, op, memcached, expect_log):
    expect_log(r"\[auth_oidc:error\].*AOIDC303: session store memcached: (down|error)", required=True)
    s, sid, _ = do_login(apache, op, "alice")
    memcached.stop()
    try:
        marker = "MARKER" + "x9q7"
        for headers in (NAV, XHR):
            r = s.get(apache.url(f"/protected/env?{marker}=<b>{marker}</b>"), allow_redirects=False,
                      headers={**headers, "X-Probe": marker})
            assert r.status_code == 503, r.status_code
            assert r.headers.get("Retry-After", "").isdigit()
            assert "no-store" in r.headers.get("Cache-Control", "")
            assert "Location" not in r.headers
            assert marker not in r.text and "<b>" not in r.text
            assert not re.search(r"memcach|libmemcached|AOIDC|Traceback|\.c:\d+", r.text, re.I)
            assert r.headers.get("Content-Type", "").startswith("text/html")
        assert apache.running()
    finally:
        memcached.start()
    # Connections that failed stay "temporarily disabled" for the store's retry
    # timeout (1 s, counted in whole seconds: at most 2 s); after that every request
    # works again. The restarted memcached is empty: the old session is gone.
    time.sleep(2.2)
    for _ in range(10):
        r = s.get(apache.url("/protected/"), allow_redirects=False, headers=NAV)
        assert_logged_out(r, op, "session of a restarted memcached")
    s2, _, _ = do_login(apache, op, "bob")
    assert s2.get(apache.url("/protected/env")).json()["REMOTE_USER"] == "bob"


@pytest.mark.strict_sessions
def test_memcached_restart_while_idle_is_invisible(apache, op, memcached):
    """memcached restarts between two requests: the pooled connections are stale, and
    the first operation on each fails; the store retries once on a fresh connection,
    so no request gets a 503 (the sessions are gone, as memcached lost them)."""
    sessions = [do_login(apache, op, u)[0] for u in ("alice", "bob", "carol")]
    # open several pooled connections in both Apache children
    barrier = threading.Barrier(len(sessions) * 3)

    def hit(b):
        barrier.wait()
        b.get(apache.url("/protected/"), allow_redirects=False)

    threads = [threading.Thread(target=hit, args=(b,)) for b in sessions * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    memcached.restart()
    for i in range(12):
        b = sessions[i % len(sessions)]
        r = b.get(apache.url("/protected/"), allow_redirects=False, headers=NAV)
        assert r.status_code != 503, f"request {i} after the restart: 503"
        assert_logged_out(r, op, "session lost by the restart")
    s, _, _ = do_login(apache, op, "dave")
    assert s.get(apache.url("/protected/"), allow_redirects=False).status_code == 200


# ----------------------------------------------------------------- hot path

@pytest.mark.strict_sessions
def test_hot_path_is_one_get_and_nothing_else(apache, op, memcached):
    s, _, _ = do_login(apache, op, "bob")
    op_before = op.stats()
    before = mc_counters(memcached)
    for path in ("/protected/", "/protected/other.html", "/protected/env"):
        r = s.get(apache.url(path), allow_redirects=False)
        assert r.status_code == 200
    d = mc_delta(memcached, before)
    assert d["cmd_get"] == 3 and d["get_hits"] == 3, d
    assert d["cmd_set"] == 0 and d["cmd_touch"] == 0, d
    assert d["delete_hits"] == 0 and d["delete_misses"] == 0, d
    assert op.stats() == op_before, "a request with a valid session called the provider"
