"""AuthOIDCCSRF (issue 12, point 2): on such a location a state-changing request that a
session cookie authenticates needs X-CSRF-Token equal to the session's token (from the
session info URI); cross-site requests (Sec-Fetch-Site, Origin) are refused whatever they
carry; bearer-token requests are not subject to it; safe methods pass. AuthOIDCCSRFCookie
hands the token to scripts in a readable cookie."""
import http.client

import pytest
import requests

import harness
from harness import login, new_browser
from test_70_bearer import get_token

API = "https://api.example.test"   # a resource the dev OP knows
INFO = "/oidc/session"


def conf(extra=""):
    return f"""
ScriptAlias /spa/api/env "{harness.HTDOCS}/cgi/env.py"
ScriptAlias /plain/env "{harness.HTDOCS}/cgi/env.py"
<Location /spa/api>
    AuthType oidc
    AuthOIDCCSRF On
    AuthOIDCAcceptBearer On
    AuthOIDCBearerAudience {API}
    Require valid-user
</Location>
<Location /plain>
    AuthType oidc
    Require valid-user
</Location>
{extra}
"""


@pytest.fixture
def site(make_apache, op):
    return make_apache(conf(), oidc={"extra": f"AuthOIDCSessionInfoURI {INFO}"})


def session(site, op, user="alice"):
    b = new_browser()
    rs = login(b, site.url("/plain/env"), user, f"{user}-pw", op=op)
    assert rs[-1].status_code == 200
    tok = b.get(site.url(INFO)).json()["csrf_token"]
    return b, tok


def post(b, site, path="/spa/api/env", **headers):
    return b.post(site.url(path), data="x=1", headers={"Content-Type": "application/x-www-form-urlencoded",
                                                      **headers}, allow_redirects=False, timeout=15)


def assert_refused(r):
    assert r.status_code == 403, (r.status_code, r.text)
    assert r.json() == {"error": "csrf"}
    assert r.headers["Content-Type"].startswith("application/json")
    assert "Location" not in r.headers
    assert r.headers["Cache-Control"] == "no-store"


def test_token_accepted_and_refused(site, op, expect_log):
    alice, tok = session(site, op)
    bob, bob_tok = session(site, op, "bob")
    origin = site.base_url
    # the right token, same origin: through to the application
    r = post(alice, site, **{"X-CSRF-Token": tok})
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "alice" and r.json()["body"] == "x=1"
    r = post(alice, site, **{"X-CSRF-Token": tok, "Origin": origin, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200
    for method in ("PUT", "PATCH", "DELETE"):
        r = alice.request(method, site.url("/spa/api/env"), headers={"X-CSRF-Token": tok}, timeout=15)
        assert r.status_code == 200, method
        r = alice.request(method, site.url("/spa/api/env"), timeout=15)
        assert_refused(r)
    # missing, wrong, another session's token, a token with extra bytes, two headers
    assert_refused(post(alice, site))
    assert_refused(post(alice, site, **{"X-CSRF-Token": "A" * 43}))
    assert_refused(post(alice, site, **{"X-CSRF-Token": bob_tok}))
    assert_refused(post(alice, site, **{"X-CSRF-Token": tok + "A"}))
    assert_refused(post(alice, site, **{"X-CSRF-Token": tok[:-1]}))
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=15)
    conn.putrequest("POST", "/spa/api/env")
    conn.putheader("Cookie", f"aoidc_session={alice.cookies.get('aoidc_session')}")
    conn.putheader("X-CSRF-Token", tok)
    conn.putheader("X-CSRF-Token", tok)
    conn.putheader("Content-Length", "0")
    conn.endheaders()
    assert conn.getresponse().status == 403
    conn.close()
    # cross-site is refused even with the right token
    assert_refused(post(alice, site, **{"X-CSRF-Token": tok, "Sec-Fetch-Site": "cross-site"}))
    assert_refused(post(alice, site, **{"X-CSRF-Token": tok, "Origin": "https://evil.example"}))
    assert_refused(post(alice, site, **{"X-CSRF-Token": tok, "Origin": "null"}))
    assert_refused(post(alice, site, **{"X-CSRF-Token": tok, "Origin": origin + ".evil.example"}))
    # safe methods need nothing
    assert alice.get(site.url("/spa/api/env")).status_code == 200
    assert alice.head(site.url("/spa/api/env")).status_code == 200
    # a location without AuthOIDCCSRF keeps working as before
    assert post(alice, site, "/plain/env").status_code == 200
    # after refusals the session still works
    assert post(alice, site, **{"X-CSRF-Token": tok}).status_code == 200
    # the refusals are logged, with the reason, never the token
    lines = [ln for ln in open(site.error_log).read().splitlines() if "AOIDC803" in ln]
    assert any("no X-CSRF-Token header" in ln for ln in lines)
    assert any("not this session's" in ln for ln in lines)
    assert any("cross-site" in ln for ln in lines)
    assert not any(tok in ln or bob_tok in ln for ln in lines)


def test_bearer_requests_are_exempt(site, op):
    token = get_token(op, API)
    r = requests.post(site.url("/spa/api/env"), data="x=1", headers={"Authorization": f"Bearer {token}"},
                      allow_redirects=False, timeout=15)
    assert r.status_code == 200, r.text
    r = requests.post(site.url("/spa/api/env"), headers={"Authorization": f"Bearer {token}",
                                                         "Sec-Fetch-Site": "cross-site"}, timeout=15)
    assert r.status_code == 200


def test_no_session_is_not_a_csrf_question(site, op):
    r = requests.post(site.url("/spa/api/env"), data="x=1", allow_redirects=False, timeout=15)
    assert r.status_code == 401


def test_readable_cookie_carries_the_token(make_apache, op):
    site = make_apache(conf(), oidc={"extra": f"AuthOIDCSessionInfoURI {INFO}\nAuthOIDCCSRFCookie XSRF-TOKEN"})
    b, tok = session(site, op)
    r = b.get(site.url("/spa/api/env"), timeout=15)
    assert r.status_code == 200
    cookies = r.raw.headers.getlist("Set-Cookie")
    mine = [c for c in cookies if c.startswith("XSRF-TOKEN=")]
    assert mine == [f"XSRF-TOKEN={tok}; Path=/; SameSite=Strict"], cookies
    assert "HttpOnly" not in mine[0]
    # once the browser holds it, it is not set again
    r = b.get(site.url("/spa/api/env"), timeout=15)
    assert not [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("XSRF-TOKEN=")]
    # the script sends it back in the header: accepted; the cookie alone is not enough
    assert post(b, site, **{"X-CSRF-Token": b.cookies.get("XSRF-TOKEN")}).status_code == 200
    assert_refused(post(b, site))


def test_configuration_errors(make_apache):
    rc, out = make_apache.configtest(oidc={"extra": "AuthOIDCCSRFCookie bad;name"})
    assert rc != 0 and "AuthOIDCCSRFCookie" in out
    rc, out = make_apache.configtest("<Location /x>\nAuthOIDCCSRF maybe\n</Location>")
    assert rc != 0 and "AuthOIDCCSRF" in out
