"""Security headers on every response the module itself generates (issue 12, point 7):
error pages, login redirects, the logout confirmation form, bearer JSON errors, the
403 of an authorization failure. The application's own pages keep their own headers."""
from harness import login

NAV = {"Accept": "text/html"}
OWN = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def assert_own_page(r):
    for name, value in OWN.items():
        assert r.headers.get(name) == value, (r.status_code, name, dict(r.headers))
    csp = r.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, csp
    assert "script-src" not in csp and "unsafe" not in csp, csp


SNIPPET = """
<Location /admins>
    AuthType oidc
    Require oidc-claim groups:nobody-has-this
</Location>
ScriptAlias /admins/env "{htdocs}/cgi/env.py"
<Location /api>
    AuthType oidc-bearer
    AuthOIDCBearerAudience app
    Require valid-user
</Location>
"""


def test_module_pages_carry_security_headers(make_apache, op, browser, expect_log):
    import harness
    expect_log(r"AH01631", required=True)
    apache = make_apache(SNIPPET.format(htdocs=harness.HTDOCS))
    get = lambda path, **kw: browser.get(apache.url(path), allow_redirects=False, timeout=15, **kw)  # noqa: E731
    # 401 for a non-navigation without a session
    r = get("/protected/env", headers={"Accept": "application/json"})
    assert r.status_code == 401
    assert_own_page(r)
    # the login redirect
    r = get("/protected/env", headers=NAV)
    assert r.status_code == 302
    assert_own_page(r)
    # 400 for a callback that is garbage
    r = get("/oidc/callback?state=x&state=y")
    assert r.status_code == 400
    assert_own_page(r)
    # bearer JSON error
    r = get("/api/x", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and r.headers["Content-Type"].startswith("application/json")
    assert_own_page(r)
    # logged in: the application's page is the application's, with no header of ours
    rs = login(browser, apache.url("/protected/env"), "bob", "bob-pw", op=op)
    app = rs[-1]
    assert app.status_code == 200 and app.json()["REMOTE_USER"] == "bob"
    assert "Content-Security-Policy" not in app.headers
    assert "Referrer-Policy" not in app.headers
    # the 403 of an authorization failure
    r = get("/admins/env", headers=NAV)
    assert r.status_code == 403
    assert_own_page(r)
    # the logout confirmation form of a cross-site GET
    r = get("/oidc/logout", headers={**NAV, "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200 and "<form" in r.text
    assert_own_page(r)
    assert "form-action 'self'" in r.headers["Content-Security-Policy"]
    # the logout redirect
    r = get("/oidc/logout", headers={**NAV, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 302
    assert_own_page(r)
