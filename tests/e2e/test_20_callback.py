"""The redirect URI (callback): forged, replayed and tampered authorization responses,
ID-token attacks, key rotation, return-target safety, client auth and userinfo."""
import re
import time
import urllib.parse

import pytest

import harness
from harness import free_port, login, new_browser, op_login_only

CB = "/oidc/callback"
SCRIPT = "<script>alert(1)</script>"


# ----------------------------------------------------------------- helpers

def set_cookies(resp):
    return resp.raw.headers.getlist("Set-Cookie")


def session_cookies_set(resp):
    """Set-Cookie headers that give the browser a (non-empty) session cookie."""
    return [c for c in set_cookies(resp) if c.startswith("aoidc_session=") and not c.startswith("aoidc_session=;")]


def assert_no_session(resp, browser, memcached):
    assert session_cookies_set(resp) == [], set_cookies(resp)
    assert browser.cookies.get("aoidc_session") is None
    assert memcached.session_keys() == [], "a session record was stored"


def assert_refused(resp, status):
    assert resp.status_code == status, (resp.status_code, resp.headers, resp.text[:300])
    assert "Location" not in resp.headers
    assert "no-store" in resp.headers.get("Cache-Control", "")


def with_query(url, **changes):
    """url with query parameters replaced (value None removes one)."""
    u = urllib.parse.urlsplit(url)
    q = [(k, v) for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True) if k not in changes]
    q += [(k, v) for k, v in changes.items() if v is not None]
    return urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q)))


def qparam(url, name):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)[name][0]


def state_cookie_name(state):
    return "aoidc_state_" + state[:16]


def local_url(apache, url):
    """The callback URL as an Apache URL (op_login_only gives it absolute already)."""
    assert url.startswith(apache.url(CB)), url
    return url


def one_process(snippet=""):
    """One child process, so that its per-process JWKS cache is the one we count."""
    return "StartServers 1\nServerLimit 1\nMaxRequestWorkers 16\n" + snippet


# ----------------------------------------------------------------- forged / replayed / tampered

def test_forged_callback_without_state_cookie(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC423", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    forger = new_browser()              # the victim's browser never started this login
    r = forger.get(cb, allow_redirects=False)
    assert_refused(r, 400)
    assert_no_session(r, forger, memcached)
    assert op.stats()["token"] == 0, "a forged callback reached the token endpoint"


def test_replayed_callback(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC663", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    state = qparam(cb, "state")
    saved = browser.cookies.get(state_cookie_name(state))
    r1 = browser.get(cb, allow_redirects=False)
    assert r1.status_code == 302 and r1.headers["Location"] == "/protected/"
    first = browser.cookies.get("aoidc_session")
    assert first and len(memcached.session_keys()) == 1
    # the same browser again (its state cookie is used up): it holds the session that
    # login created, so it goes to the target; nothing is redeemed or created
    r2 = browser.get(cb, allow_redirects=False)
    assert r2.status_code == 302 and r2.headers["Location"] == "/protected/"
    assert session_cookies_set(r2) == []
    assert len(memcached.session_keys()) == 1
    assert op.stats()["token"] == 1
    # an attacker who also kept the state cookie: the attempt is used up on the server,
    # the code never reaches the token endpoint again (test_21_callback_single_use.py)
    thief = new_browser()
    thief.cookies.set(state_cookie_name(state), saved, domain="127.0.0.1", path="/")
    r3 = thief.get(cb, allow_redirects=False)
    assert_refused(r3, 400)
    assert session_cookies_set(r3) == []
    assert len(memcached.session_keys()) == 1
    assert op.stats()["token"] == 1


def test_state_cookie_of_another_attempt(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC424", required=True)
    cb1 = op_login_only(browser, apache.url("/protected/index.html"), "alice", "alice-pw", op=op)
    cb2 = op_login_only(browser, apache.url("/protected/other.html"), None, None, op=op)
    n1, n2 = state_cookie_name(qparam(cb1, "state")), state_cookie_name(qparam(cb2, "state"))
    v2 = browser.cookies.get(n2)
    attacker = new_browser()
    # attempt 2's (valid) state cookie presented under attempt 1's name
    attacker.cookies.set(n1, v2, domain="127.0.0.1", path="/")
    r = attacker.get(cb1, allow_redirects=False)
    assert_refused(r, 400)
    assert_no_session(r, attacker, memcached)
    assert op.stats()["token"] == 0


def test_tampered_state_cookie(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC424", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    name = state_cookie_name(qparam(cb, "state"))
    v = browser.cookies.get(name)
    flipped = v[:20] + ("A" if v[20] != "A" else "B") + v[21:]
    for bad in (flipped, v[:-4], v + "AAAA", "%%%", "x" * 5000):
        s = new_browser()
        s.cookies.set(name, bad, domain="127.0.0.1", path="/")
        r = s.get(cb, allow_redirects=False)
        assert_refused(r, 400)
        assert_no_session(r, s, memcached)
    assert op.stats()["token"] == 0


def test_state_param_for_another_cookie(apache, op, browser, memcached, expect_log):
    """Same 16-character cookie prefix, different state: the cookie is not for this state."""
    expect_log(r"AOIDC424", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    state = qparam(cb, "state")
    other = state[:16] + ("A" if state[16] != "A" else "B") + state[17:]
    r = browser.get(with_query(cb, state=other), allow_redirects=False)
    assert_refused(r, 400)
    assert_no_session(r, browser, memcached)


@pytest.mark.parametrize("bad", ["", "short", "A" * 42, "A" * 44, "A" * 42 + "!", "A" * 42 + "=",
                                 "../../../../../etc/passwd" + "A" * 18])
def test_malformed_state_param(apache, op, browser, memcached, bad, expect_log):
    expect_log(r"AOIDC422", required=True)
    r = browser.get(apache.url(CB) + "?" + urllib.parse.urlencode({"state": bad, "code": "x"}),
                    allow_redirects=False)
    assert_refused(r, 400)
    assert_no_session(r, browser, memcached)


def test_missing_state_param(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC422", required=True)
    r = browser.get(apache.url(CB) + "?code=abc", allow_redirects=False)
    assert_refused(r, 400)
    r = browser.get(apache.url(CB), allow_redirects=False)
    assert_refused(r, 400)
    assert_no_session(r, browser, memcached)


@pytest.mark.parametrize("dup", ["state", "code", "iss"])
def test_duplicated_parameters(apache, op, browser, memcached, dup, expect_log):
    expect_log(r"AOIDC421", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    value = qparam(cb, dup)
    r = browser.get(cb + "&" + urllib.parse.urlencode({dup: value}), allow_redirects=False)
    assert_refused(r, 400)
    assert_no_session(r, browser, memcached)
    assert op.stats()["token"] == 0


def test_post_to_callback_refused(apache, op, browser, memcached):
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    u = urllib.parse.urlsplit(cb)
    r = browser.post(apache.url(CB), data=u.query, allow_redirects=False,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_refused(r, 400)
    assert_no_session(r, browser, memcached)


# ----------------------------------------------------------------- errors from the OP

def _start_and_abort(apache, op, browser, path="/protected/"):
    """Start a login and cancel it at the OP's login page: the OP's error callback URL."""
    r = browser.get(apache.url(path), allow_redirects=False, headers={"Accept": "text/html"})
    assert r.status_code == 302
    r = browser.get(r.headers["Location"], allow_redirects=False)
    assert r.status_code == 303 and "/interaction/" in r.headers["Location"]
    inter = urllib.parse.urljoin(r.url, r.headers["Location"])
    r = browser.get(inter + "/abort", allow_redirects=False)
    assert r.status_code in (302, 303)
    nxt = urllib.parse.urljoin(r.url, r.headers["Location"])
    while not nxt.startswith(apache.url(CB)):
        r = browser.get(nxt, allow_redirects=False)
        assert r.status_code in (302, 303), (r.status_code, r.text[:200])
        nxt = urllib.parse.urljoin(r.url, r.headers["Location"])
    return nxt


def test_access_denied_from_op(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC427: provider main refused the login: access_denied", required=True)
    cb = _start_and_abort(apache, op, browser)
    assert qparam(cb, "error") == "access_denied"
    r = browser.get(cb, allow_redirects=False)
    assert_refused(r, 401)
    assert_no_session(r, browser, memcached)
    assert op.stats()["token"] == 0
    # the attempt is used up: the state cookie is cleared
    assert any(c.startswith("aoidc_state_") and "Max-Age=0" in c for c in set_cookies(r))


def test_error_param_markup_not_reflected(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC427", required=True)
    cb = _start_and_abort(apache, op, browser)
    evil = with_query(cb, error=SCRIPT, error_description=SCRIPT, error_uri="javascript:alert(1)")
    r = browser.get(evil, allow_redirects=False)
    assert_refused(r, 401)
    assert "<script" not in r.text.lower() and "alert(1)" not in r.text and "javascript:" not in r.text
    assert_no_session(r, browser, memcached)
    # and without a valid state (400)
    r = browser.get(apache.url(CB) + "?" + urllib.parse.urlencode({"error": SCRIPT, "state": SCRIPT}),
                    allow_redirects=False)
    assert_refused(r, 400)
    assert "<script" not in r.text.lower() and "alert(1)" not in r.text


def test_iss_mismatch(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC429: callback iss parameter does not match provider main", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    assert qparam(cb, "iss") == op.issuer
    for iss in ("http://evil.example.test", op.issuer + "/", ""):
        s = new_browser()
        s.cookies.update(browser.cookies)
        r = s.get(with_query(cb, iss=iss), allow_redirects=False)
        assert_refused(r, 400)
        assert_no_session(r, s, memcached)
    assert op.stats()["token"] == 0


def test_error_response_with_wrong_iss(apache, op, browser, memcached, expect_log):
    """RFC 9207: iss is checked on error responses too (a mixed-up error is not the OP's word)."""
    expect_log(r"AOIDC429: callback iss parameter does not match provider main", required=True)
    cb = _start_and_abort(apache, op, browser)
    r = browser.get(with_query(cb, iss="http://evil.example.test"), allow_redirects=False)
    assert_refused(r, 400)
    assert_no_session(r, browser, memcached)
    assert not [ln for ln in apache.error_log_text().splitlines() if "AOIDC427" in ln]


def test_missing_iss_when_op_promises_it(apache, op, browser, memcached, expect_log):
    """RFC 9207 2.4: the OP's metadata says authorization_response_iss_parameter_supported,
    so a response without iss is refused (mix-up defence)."""
    expect_log(r"AOIDC4\d\d:.*iss", required=True)
    assert op.discovery().get("authorization_response_iss_parameter_supported") is True
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    r = browser.get(with_query(cb, iss=None), allow_redirects=False)
    assert_refused(r, 400)
    assert_no_session(r, browser, memcached)
    assert op.stats()["token"] == 0


@pytest.mark.parametrize("code", [None, "", "x" * 2049])
def test_unusable_code(apache, op, browser, memcached, code, expect_log):
    expect_log(r"AOIDC428", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    if code is None:
        url = with_query(cb, code=None)
    else:
        url = with_query(cb, code=code)
    r = browser.get(url, allow_redirects=False)
    assert_refused(r, 400)
    assert_no_session(r, browser, memcached)
    assert op.stats()["token"] == 0


# ----------------------------------------------------------------- ID token attacks

MUTATIONS = {
    "bad_sig": r"signature",
    "wrong_nonce": r"nonce",
    "wrong_aud": r"aud",
    "wrong_iss": r"iss",
    "expired": r"exp",
    "missing_sub": r"sub|missing-claim",
    "alg_none": r"alg|none",
    "hs256_pubkey": r"alg|HS256",
    "hs256_client_secret": r"alg|HS256",
    "unknown_kid": r"kid|key",
}


@pytest.mark.parametrize("mode", list(MUTATIONS))
def test_id_token_mutation_rejected(apache, op, browser, memcached, mode, expect_log):
    expect_log(r"AOIDC410: ID token from main rejected", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    op.mutate(mode)
    r = browser.get(cb, allow_redirects=False)
    assert op.stats()["mutations_applied"] == 1
    assert_refused(r, 401)
    assert_no_session(r, browser, memcached)
    lines = [ln for ln in apache.error_log_text().splitlines() if "AOIDC410" in ln]
    assert lines and re.search(MUTATIONS[mode], lines[-1], re.I), lines
    assert not re.search(r"eyJ[\w-]{10,}", "\n".join(lines)), "a token reached the log"
    # and the user is not logged in afterwards
    r = browser.get(apache.url("/protected/"), allow_redirects=False, headers={"Accept": "text/html"})
    assert r.status_code == 302 and r.headers["Location"].startswith(op.issuer + "/auth?")


def test_good_login_after_a_rejected_one(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC410", required=True)
    op.mutate("bad_sig")
    rs = login(browser, apache.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 401
    rs = login(browser, apache.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice"


# ----------------------------------------------------------------- keys

def test_key_rotation_without_restart(make_apache, op, memcached):
    a = make_apache(one_process(), oidc={"provider_extra": "AuthOIDCJWKSRefreshInterval 0"})
    s1 = new_browser()
    rs = login(s1, a.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice"
    op.restart(keyset="b")
    s2 = new_browser()
    rs = login(s2, a.url("/protected/env"), "bob", "bob-pw", op=op)
    assert rs[-1].status_code == 200, [(r.url, r.status_code) for r in rs]
    assert rs[-1].json()["REMOTE_USER"] == "bob"
    assert op.stats()["jwks"] >= 1            # the new key set was fetched
    # the old session still works: sessions do not depend on the provider's keys
    assert s1.get(a.url("/protected/"), allow_redirects=False).status_code == 200


def test_key_rotation_with_refresh_interval(make_apache, op, memcached):
    a = make_apache(one_process(), oidc={"provider_extra": "AuthOIDCJWKSRefreshInterval 1"})
    rs = login(new_browser(), a.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200
    op.restart(keyset="b")
    time.sleep(1.1)
    rs = login(new_browser(), a.url("/protected/env"), "bob", "bob-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "bob"


def test_jwks_refetch_rate_limited(make_apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC410: ID token from main rejected", required=True)
    a = make_apache(one_process(), oidc={"provider_extra": "AuthOIDCJWKSRefreshInterval 1"})
    rs = login(browser, a.url("/protected/"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200
    assert op.stats()["jwks"] == 1
    time.sleep(1.1)
    for i in range(4):
        s = new_browser()
        cb = op_login_only(s, a.url("/protected/"), "alice" if i == 0 else "alice",
                           "alice-pw", op=op)
        op.mutate("unknown_kid")
        r = s.get(cb, allow_redirects=False)
        assert_refused(r, 401)
        assert session_cookies_set(r) == []
    # one refetch for the first forged kid after the interval, none for the rest
    assert op.stats()["jwks"] == 2, op.stats()
    assert len(memcached.session_keys()) == 1


def test_jwks_no_refetch_within_interval(make_apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC410: ID token from main rejected", required=True)
    a = make_apache(one_process())       # default interval (60 s)
    rs = login(browser, a.url("/protected/"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and op.stats()["jwks"] == 1
    for _ in range(3):
        s = new_browser()
        cb = op_login_only(s, a.url("/protected/"), "alice", "alice-pw", op=op)
        op.mutate("unknown_kid")
        assert_refused(s.get(cb, allow_redirects=False), 401)
    # the new kid ("rogue") is looked up once at once (key rotation must not wait for the
    # interval, issue 7 point 5); its repeats within the interval are not
    assert op.stats()["jwks"] == 2


# ----------------------------------------------------------------- return target safety

def raw_get(port, target: bytes, extra=b""):
    """Send a request line as raw bytes; (status, {header: [values]})."""
    lines = [b"Accept: text/html"] + [ln for ln in extra.split(b"\r\n") if ln]
    status, head, _ = harness.raw_http(port, target, lines)
    headers = {}
    for ln in head.split("\r\n")[1:]:
        k, v = ln.split(":", 1)
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status, headers


# NoDecode: encoded slashes reach the module instead of a 404 from httpd
ALL_PROTECTED = """
AllowEncodedSlashes NoDecode
<Location />
    AuthType oidc
    Require valid-user
</Location>
"""

EVIL_TARGETS = [
    b"//evil.example/",
    b"//evil.example/%2F..",
    b"/\\evil.example/",
    b"/%2F%2Fevil.example/",
    b"/%2f/evil.example",
    b"/%5Cevil.example",
    b"/%5c%5cevil.example",
    b"/%09/evil.example",
    b"/\t/evil.example",
    b"/\\/evil.example",
    b"///evil.example",
    b"/./\\evil.example",
]


def _browser_would_leave(apache, location):
    """True if a browser following this Location would go to another origin."""
    # browsers drop tabs/newlines and read '\' as '/' in special URLs
    norm = re.sub(r"[\t\r\n]", "", location).replace("\\", "/")
    target = urllib.parse.urlsplit(urllib.parse.urljoin(apache.url("/x/y"), norm))
    return (target.scheme, target.netloc) != ("http", f"127.0.0.1:{apache.port}")


@pytest.mark.parametrize("target", EVIL_TARGETS, ids=lambda t: t.decode("latin-1").replace("\t", "TAB"))
def test_return_target_stays_local(make_apache, op, browser, memcached, target):
    a = make_apache(ALL_PROTECTED, oidc={"protected": False})
    status, h = raw_get(a.port, target)
    if status == 400:
        # refused by httpd itself (a raw tab): nothing to return to
        assert "location" not in h
        return
    assert status == 302, (status, h)
    auth_url = h["location"][0]
    assert auth_url.startswith(op.issuer + "/auth?"), auth_url
    for c in h.get("set-cookie", []):
        name, value = c.split(";", 1)[0].split("=", 1)
        if name.startswith("aoidc_state_") and value:
            browser.cookies.set(name, value, domain="127.0.0.1", path="/")
    cb = op_login_only(browser, auth_url, "alice", "alice-pw", op=op)
    r = browser.get(cb, allow_redirects=False)
    assert r.status_code == 302
    loc = r.headers["Location"]
    assert loc.startswith("/") and not re.match(r"/[/\\]", loc), loc
    assert not re.search(r"[\x00-\x20\x7f\\]", loc), loc
    assert not _browser_would_leave(a, loc), loc
    assert loc in ("/", target.decode("latin-1")), loc
    assert session_cookies_set(r)


def test_normal_return_targets_kept(apache, op, browser):
    for path in ("/protected/index.html?a=1&b=%2F%2Fx", "/protected/other.html", "/protected/a%20b.html"):
        s = new_browser()
        cb = op_login_only(s, apache.url(path), "alice", "alice-pw", op=op)
        r = s.get(cb, allow_redirects=False)
        assert r.status_code == 302 and r.headers["Location"] == path


# ----------------------------------------------------------------- client auth, userinfo

def test_client_secret_post(make_apache, op, browser, memcached):
    from harness import OP
    a = make_apache(oidc={"client_id": "app-post", "client_secret_file": str(OP.secret_file("app-post")),
                          "provider_extra": "AuthOIDCTokenEndpointAuth client_secret_post"})
    rs = login(browser, a.url("/protected/env"), "bob", "bob-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "bob"
    assert qparam(rs[1].url, "client_id") == "app-post"
    assert op.stats()["token"] == 1


def test_userinfo_claims_merged(make_apache, op, browser, memcached):
    a = make_apache(oidc={"provider_extra": "AuthOIDCUserInfo On"})
    # the ID token lacks email; userinfo supplies it
    cb = op_login_only(browser, a.url("/protected/env"), "alice", "alice-pw", op=op)
    op.mutate("claims", set={"email": None, "name": "ID Token Name"})
    r = browser.get(cb, allow_redirects=False)
    assert r.status_code == 302, r.status_code
    env = browser.get(a.url("/protected/env")).json()
    assert env["REMOTE_USER"] == "alice"
    assert env["OIDC_CLAIM_email"] == "alice@example.com"
    # the signed ID token wins over userinfo where both have a claim
    assert env["OIDC_CLAIM_name"] == "ID Token Name"
    assert op.stats()["userinfo"] == 1


def test_userinfo_off(make_apache, op, browser, memcached):
    apache = make_apache(oidc={"provider_extra": "AuthOIDCUserInfo Off"})
    cb = op_login_only(browser, apache.url("/protected/env"), "alice", "alice-pw", op=op)
    op.mutate("claims", set={"email": None})
    assert browser.get(cb, allow_redirects=False).status_code == 302
    env = browser.get(apache.url("/protected/env")).json()
    assert "OIDC_CLAIM_email" not in env
    assert op.stats()["userinfo"] == 0


def test_userinfo_sub_mismatch(make_apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC412: userinfo sub differs", required=True)
    a = make_apache(oidc={"provider_extra": "AuthOIDCUserInfo On"})
    cb = op_login_only(browser, a.url("/protected/"), "alice", "alice-pw", op=op)
    # userinfo answers for "mallory"; the ID token is re-signed for alice
    op.config(claims={"alice": {"sub": "mallory"}})
    op.mutate("claims", set={"sub": "alice"})
    r = browser.get(cb, allow_redirects=False)
    assert op.stats()["userinfo"] == 1
    assert_refused(r, 401)
    assert_no_session(r, browser, memcached)


# ----------------------------------------------------------------- provider down

def test_op_unreachable_at_first_login(make_apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC401: provider main: ", required=True)
    dead = f"http://localhost:{free_port()}"
    a = make_apache(oidc={"issuer": dead})
    r = browser.get(a.url("/protected/"), allow_redirects=False, headers={"Accept": "text/html"})
    assert r.status_code == 502
    assert "Location" not in r.headers
    assert not [c for c in set_cookies(r) if c.startswith("aoidc_state_")], "state cookie for a login never started"
    assert a.running()
    # public pages still served, the same request again gives 502 again (no crash, no hang)
    assert browser.get(a.url("/")).status_code == 200
    t0 = time.monotonic()
    assert browser.get(a.url("/protected/"), allow_redirects=False,
                       headers={"Accept": "text/html"}).status_code == 502
    assert time.monotonic() - t0 < 5
    assert a.running()


def test_op_down_at_code_exchange(apache, op, browser, memcached, expect_log):
    """The provider went away between the login page and the callback: 502, not a 401
    that tells the user the login failed."""
    expect_log(r"AOIDC431: code exchange with main failed", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    op.stop()                       # the next test gets it back (fixture op)
    r = browser.get(cb, allow_redirects=False)
    assert_refused(r, 502)
    assert_no_session(r, browser, memcached)
    assert apache.running()

