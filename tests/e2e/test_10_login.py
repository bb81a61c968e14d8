"""Browser login through Apache with the module, a real memcached and the dev OP."""
import pytest
import re
import urllib.parse

from harness import login, op_login_only


def test_unauthenticated_navigation_redirects_to_op(apache, browser, op):
    r = browser.get(apache.url("/protected/index.html?x=1"), allow_redirects=False,
                    headers={"Accept": "text/html"})
    assert r.status_code == 302
    loc = urllib.parse.urlparse(r.headers["Location"])
    assert loc.netloc == urllib.parse.urlparse(op.issuer).netloc
    q = urllib.parse.parse_qs(loc.query)
    assert q["response_type"] == ["code"]
    assert q["client_id"] == ["app"]
    assert q["code_challenge_method"] == ["S256"]
    assert len(q["code_challenge"][0]) == 43
    assert len(q["state"][0]) == 43 and len(q["nonce"][0]) == 43
    assert q["redirect_uri"] == [apache.url("/oidc/callback")]
    assert "openid" in q["scope"][0].split()
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("aoidc_state_" + q["state"][0][:16] + "=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=600" in cookie
    assert "Domain" not in cookie


def test_login_returns_to_asked_page_and_sets_session(apache, browser, op):
    rs = login(browser, apache.url("/protected/env?a=1&b=2"), "alice", "alice-pw", op=op)
    final = rs[-1]
    assert final.status_code == 200
    assert final.url == apache.url("/protected/env?a=1&b=2")
    env = final.json()
    assert env["REMOTE_USER"] == "alice"
    assert env["AUTH_TYPE"] == "oidc"
    # the callback set a host-only HttpOnly SameSite session cookie with an opaque id
    cb = [r for r in rs if "/oidc/callback" in r.url][0]
    set_cookies = cb.raw.headers.getlist("Set-Cookie")
    sess = [c for c in set_cookies if c.startswith("aoidc_session=")]
    assert len(sess) == 1
    assert "HttpOnly" in sess[0] and "SameSite=Lax" in sess[0] and "Path=/" in sess[0]
    assert "Domain" not in sess[0] and "Max-Age" not in sess[0]
    sid = sess[0].split(";")[0].split("=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sid)
    # the state cookie is consumed
    assert any(c.startswith("aoidc_state_") and "Max-Age=0" in c for c in set_cookies)
    # the session cookie never reaches the backend
    assert "aoidc_session" not in env.get("HTTP_COOKIE", "")


def test_secure_cookie_by_default(make_apache, browser, op):
    a = make_apache(oidc={"cookie_secure": None})
    r = browser.get(a.url("/protected/"), allow_redirects=False, headers={"Accept": "text/html"})
    assert r.status_code == 302
    assert "Secure" in r.headers["Set-Cookie"]


@pytest.mark.strict_sessions
def test_session_reused_without_provider_call(apache, browser, op, memcached):
    login(browser, apache.url("/protected/index.html"), "bob", "bob-pw", op=op)
    before = op.stats()
    gets_before = int(memcached.stats()["cmd_get"])
    for _ in range(5):
        r = browser.get(apache.url("/protected/index.html"), allow_redirects=False)
        assert r.status_code == 200
    after = op.stats()
    assert after == before, "a request with a valid session called the provider"
    assert int(memcached.stats()["cmd_get"]) - gets_before == 5


def test_new_session_id_at_every_login(apache, browser, op):
    login(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    first = browser.cookies.get("aoidc_session")
    # a planted (fixated) cookie value is never adopted: a new login issues a new id
    browser.cookies.set("aoidc_session", first)
    browser.get(apache.url("/oidc/logout"), allow_redirects=False)
    browser.cookies.set("aoidc_session", first, domain="127.0.0.1")
    login(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    assert browser.cookies.get("aoidc_session", domain="127.0.0.1") != first


def test_several_tabs_log_in_at_once(apache, op):
    from harness import new_browser
    s = new_browser()
    # tab 1 and tab 2 start logins; both complete, in reverse order
    cb1 = op_login_only(s, apache.url("/protected/index.html"), "alice", "alice-pw", op=op)
    cb2 = op_login_only(s, apache.url("/protected/other.html"), None, None, op=op)
    r2 = s.get(cb2, allow_redirects=False)
    assert r2.status_code == 302 and r2.headers["Location"] == "/protected/other.html"
    r1 = s.get(cb1, allow_redirects=False)
    assert r1.status_code == 302 and r1.headers["Location"] == "/protected/index.html"


def test_pending_state_cookies_are_bounded(apache, browser, op):
    for _ in range(12):
        r = browser.get(apache.url("/protected/"), allow_redirects=False, headers={"Accept": "text/html"})
        assert r.status_code == 302
    pending = [c for c in browser.cookies if c.name.startswith("aoidc_state_")]
    assert 1 <= len(pending) <= 5


def test_xhr_gets_401_not_redirect(apache, browser):
    for headers in ({"Sec-Fetch-Mode": "cors"}, {"X-Requested-With": "XMLHttpRequest"},
                    {"Accept": "application/json"}):
        r = browser.get(apache.url("/protected/"), allow_redirects=False, headers=headers)
        assert r.status_code == 401, headers
        assert "Location" not in r.headers
    r = browser.post(apache.url("/protected/"), allow_redirects=False, headers={"Accept": "text/html"})
    assert r.status_code == 401


def test_unauth_action_401_and_pass(make_apache, browser, expect_log):
    expect_log(r"AOIDC100: removed client header 'OIDC_CLAIM_email'", required=True)
    a = make_apache("""
<Location /app>
    AuthType oidc
    AuthOIDCUnauthAction pass
    Require valid-user
</Location>
<Location /protected>
    AuthType oidc
    AuthOIDCUnauthAction 401
    Require valid-user
</Location>
""", oidc={"protected": None})
    r = browser.get(a.url("/protected/"), allow_redirects=False, headers={"Accept": "text/html"})
    assert r.status_code == 401
    r = browser.get(a.url("/app/env"), allow_redirects=False, headers={"Accept": "text/html",
                                                                       "OIDC_CLAIM_email": "spoof@x"})
    assert r.status_code == 200
    env = r.json()
    assert env.get("REMOTE_USER", "") == ""
    assert "OIDC_CLAIM_email" not in env and "HTTP_OIDC_CLAIM_EMAIL" not in env
