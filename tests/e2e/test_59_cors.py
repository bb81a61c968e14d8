"""CORS preflights (issue 12, point 6): an OPTIONS request with Origin and
Access-Control-Request-Method (which browsers send without credentials) on a protected
location reaches the application instead of a login redirect or a 401, unless
AuthOIDCPassCORSPreflight Off. Nothing else gets through that way."""
import pytest
import requests

from test_40_authz_backend import RawBackend

PREFLIGHT = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "x-csrf-token, content-type"}


@pytest.fixture
def backend():
    b = RawBackend()
    yield b
    b.close()


def conf(port):
    return f"""
ProxyPass /api http://127.0.0.1:{port}/api
ProxyPass /bapi http://127.0.0.1:{port}/bapi
ProxyPass /off http://127.0.0.1:{port}/off
<Location /api>
    AuthType oidc
    AuthOIDCCSRF On
    Require oidc-claim groups:admins
</Location>
<Location /bapi>
    AuthType oidc-bearer
    AuthOIDCBearerAudience https://api.example.test
    Require oidc-scope api:read
</Location>
<Location /off>
    AuthType oidc
    AuthOIDCPassCORSPreflight Off
    Require valid-user
</Location>
<Location /hdrs>
    # the answer of mod_headers + a rewrite, no application at all
    AuthType oidc
    Require valid-user
    Header always set Access-Control-Allow-Origin "https://app.example"
    Header always set Access-Control-Allow-Methods "GET, POST"
    Header always set Access-Control-Allow-Headers "X-CSRF-Token, Content-Type"
</Location>
"""


def options(site, path, headers):
    return requests.options(site.url(path), headers=headers, allow_redirects=False, timeout=15)


def test_preflight_reaches_the_application(make_apache, op, backend):
    site = make_apache(conf(backend.port), extra_modules=("proxy", "proxy_http"))
    for path in ("/api/orders", "/bapi/orders"):
        r = options(site, path, {**PREFLIGHT, "Cookie": "aoidc_session=" + "A" * 43})
        assert r.status_code == 200 and r.text == "ok", (path, r.status_code, r.text)
        line, hs = backend.last()
        assert line.startswith(f"OPTIONS {path} ")
        names = {n.lower(): v for n, v in hs}
        assert names["origin"] == "https://app.example"
        assert "aoidc_session" not in names.get("cookie", "")
    # mod_headers' answer for a location without an application behind it
    r = options(site, "/hdrs/x", PREFLIGHT)
    assert r.status_code != 401 and "Location" not in r.headers
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_only_real_preflights_pass(make_apache, op, backend):
    site = make_apache(conf(backend.port), extra_modules=("proxy", "proxy_http"))
    # OPTIONS without the preflight headers, other methods with them: authentication as usual
    for method, headers in (("OPTIONS", {"Origin": "https://app.example"}),
                            ("OPTIONS", {"Access-Control-Request-Method": "POST"}),
                            ("OPTIONS", {}),
                            ("POST", PREFLIGHT), ("GET", PREFLIGHT)):
        r = requests.request(method, site.url("/api/orders"), headers=headers, allow_redirects=False, timeout=15)
        assert r.status_code in (302, 401), (method, headers, r.status_code)   # login or 401 as usual
    r = requests.get(site.url("/bapi/orders"), headers=PREFLIGHT, timeout=15)
    assert r.status_code == 401
    assert backend.heads == []


def test_preflight_pass_can_be_turned_off(make_apache, op, backend):
    site = make_apache(conf(backend.port), extra_modules=("proxy", "proxy_http"))
    r = options(site, "/off/x", PREFLIGHT)
    assert r.status_code == 401
    assert backend.heads == []
