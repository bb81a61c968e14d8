"""AuthOIDCSessionInfoURI (issue 12, point 1): a logged-in browser learns its session as
JSON (sub, provider, selected claims, times, the CSRF token; never a token); no session is a
401 JSON, never a redirect; it counts as activity only with AuthOIDCSessionInfoActivity On."""
import time

from harness import login, new_browser

INFO = "/oidc/session"


def site(make_apache, extra=""):
    return make_apache(oidc={"extra": f"AuthOIDCSessionInfoURI {INFO}\n{extra}"})


def logged_in(apache, op, user="alice"):
    b = new_browser()
    rs = login(b, apache.url("/protected/env"), user, f"{user}-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == user
    return b


def info(b, apache, **kw):
    return b.get(apache.url(INFO), allow_redirects=False, timeout=15, **kw)


def assert_json_own(r):
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_anonymous_gets_401_json_never_a_redirect(make_apache, op):
    apache = site(make_apache)
    b = new_browser()
    for headers in ({"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}, {"Accept": "application/json"}):
        r = info(b, apache, headers=headers)
        assert r.status_code == 401, r.text
        assert "Location" not in r.headers
        assert r.json() == {"error": "unauthenticated"}
        assert_json_own(r)
    # a cookie that names no session is no session either
    b.cookies.set("aoidc_session", "A" * 43, domain="127.0.0.1", path="/")
    r = info(b, apache)
    assert r.status_code == 401 and r.json() == {"error": "unauthenticated"}


def test_logged_in_gets_its_session(make_apache, op, memcached):
    apache = site(make_apache)
    alice = logged_in(apache, op)
    before = int(time.time())
    r = info(alice, apache)
    assert r.status_code == 200, r.text
    assert_json_own(r)
    j = r.json()
    assert j["sub"] == "alice" and j["provider"] == "main"
    assert j["claims"]["email"] == "alice@example.com"
    assert j["claims"]["name"] == "Alice Liddell"
    assert "groups" not in j["claims"]          # not among the default claims
    assert j["created"] <= before + 1 and j["created"] >= before - 60
    assert j["expires"] == j["created"] + 28800
    assert j["created"] < j["idle_expires"] <= j["expires"]
    assert isinstance(j["access_token_expires"], int) and j["access_token_expires"] > before
    assert isinstance(j["csrf_token"], str) and len(j["csrf_token"]) == 43
    # never a token
    assert set(j) == {"sub", "provider", "claims", "created", "expires", "idle_expires",
                      "access_token_expires", "csrf_token"}
    assert "eyJ" not in r.text
    # the CSRF token is stable for the session, and another session has another
    assert info(alice, apache).json()["csrf_token"] == j["csrf_token"]
    bob = logged_in(apache, op, "bob")
    assert info(bob, apache).json()["csrf_token"] != j["csrf_token"]
    # a HEAD has the headers, a POST is not the way to ask
    assert alice.head(apache.url(INFO)).status_code == 200
    r = alice.post(apache.url(INFO), allow_redirects=False)
    assert r.status_code == 405 and r.json() == {"error": "method_not_allowed"}
    # after logout: 401
    alice.get(apache.url("/oidc/logout"), allow_redirects=False)
    assert info(alice, apache).status_code == 401


def test_selected_claims(make_apache, op):
    apache = site(make_apache, "AuthOIDCSessionInfoClaims groups email_verified nosuchclaim")
    j = info(logged_in(apache, op), apache).json()
    assert j["claims"] == {"groups": ["staff", "admins"], "email_verified": "true"}


def _idle_after_pause(apache, op):
    b = logged_in(apache, op)
    first = info(b, apache).json()["idle_expires"]
    time.sleep(2.2)
    return first, info(b, apache).json()["idle_expires"], info(b, apache).json()["idle_expires"]


TIMES = "AuthOIDCSessionInactivityTimeout 60\nAuthOIDCSessionTouchInterval 1"


def test_info_is_no_activity_by_default(make_apache, op):
    apache = site(make_apache, TIMES)
    first, second, third = _idle_after_pause(apache, op)
    assert first == second == third


def test_info_counts_as_activity_when_configured(make_apache, op):
    apache = site(make_apache, TIMES + "\nAuthOIDCSessionInfoActivity On")
    first, second, third = _idle_after_pause(apache, op)
    # the second request wrote the new last-seen time back; the third reads it
    assert third >= first + 2


def test_configuration_errors(make_apache):
    rc, out = make_apache.configtest(oidc={"extra": "AuthOIDCSessionInfoURI /oidc/logout"})
    assert rc != 0 and "AuthOIDCSessionInfoURI" in out and "must differ" in out
    rc, out = make_apache.configtest(oidc={"extra": "AuthOIDCSessionInfoURI oidc/session"})
    assert rc != 0 and "AuthOIDCSessionInfoURI" in out
    rc, out = make_apache.configtest(oidc={"extra": "AuthOIDCSessionInfoClaims bad/claim"})
    assert rc != 0 and "AuthOIDCSessionInfoClaims" in out
    rc, out = make_apache.configtest(oidc={"extra": "AuthOIDCSessionInfoActivity yes"})
    assert rc != 0 and "AuthOIDCSessionInfoActivity" in out
