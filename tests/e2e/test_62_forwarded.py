"""issue 13 point 6: behind a reverse proxy. Forwarded / X-Forwarded-Proto / X-Forwarded-Host
shape the redirect URI (and post-logout targets) only when the TCP peer is among
AuthOIDCTrustedProxies; from anyone else they are ignored. A callback without its state cookie gets
a page naming the common causes and a log line naming the likely ones."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

import harness

STATE = "A" * 43
HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.test", "Accept": "text/html"}


def redirect_uri(a, headers) -> str:
    r = harness.new_browser().get(a.url("/protected/"), headers=headers, allow_redirects=False, timeout=15)
    assert r.status_code == 302, (r.status_code, r.text[:200])
    return parse_qs(urlsplit(r.headers["Location"]).query)["redirect_uri"][0]


def test_trusted_proxy_headers_shape_the_redirect_uri(make_apache):
    a = make_apache(oidc={"extra": "AuthOIDCTrustedProxies 10.0.0.0/8 127.0.0.1/32 ::1"})
    assert redirect_uri(a, HEADERS) == "https://app.example.test/oidc/callback"
    # the value the last hop (our proxy) added counts, not one the client sent ahead of it
    assert redirect_uri(a, {"X-Forwarded-Proto": "http, https",
                            "X-Forwarded-Host": "evil.example, app.example.test"}) == \
        "https://app.example.test/oidc/callback"
    # RFC 7239 Forwarded wins over X-Forwarded-*
    assert redirect_uri(a, {**HEADERS, "Forwarded": 'for=192.0.2.1;proto=https;host="app.example.test:8443"'}) == \
        "https://app.example.test:8443/oidc/callback"
    # invalid values are ignored, never used
    own = f"http://127.0.0.1:{a.port}/oidc/callback"
    assert redirect_uri(a, {"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.example/x"}) == own
    assert redirect_uri(a, {"X-Forwarded-Host": "evil.example@x"}) == own
    assert redirect_uri(a, {}) == own


@pytest.mark.parametrize("extra", ["", "AuthOIDCTrustedProxies 10.0.0.0/8 192.0.2.7"])
def test_untrusted_peer_headers_are_ignored(make_apache, extra):
    a = make_apache(oidc={"extra": extra})
    assert redirect_uri(a, {**HEADERS, "Forwarded": "proto=https;host=evil.example"}) == \
        f"http://127.0.0.1:{a.port}/oidc/callback"


def test_post_logout_target_from_a_trusted_proxy(make_apache, op, browser):
    a = make_apache(oidc={"extra": "AuthOIDCTrustedProxies 127.0.0.1", "post_logout_redirect": "/bye.html"})
    harness.login(browser, a.url("/protected/"), "alice", "alice-pw", op=op)
    r = browser.get(a.url("/oidc/logout"), headers=HEADERS, allow_redirects=False, timeout=15)
    assert r.status_code in (302, 303), (r.status_code, r.text[:200])
    target = parse_qs(urlsplit(r.headers["Location"]).query).get("post_logout_redirect_uri", [r.headers["Location"]])[0]
    assert target == "https://app.example.test/bye.html"


@pytest.mark.parametrize("value", ["nonsense", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/40", "/8"])
def test_bad_trusted_proxies(make_apache, value):
    from test_60_config import check_fails
    check_fails(make_apache, "AuthOIDCTrustedProxies", r"AuthOIDCTrustedProxies: .* is not an IP address",
                oidc={"extra": f"AuthOIDCTrustedProxies {value}"})


def test_missing_state_cookie_names_the_causes(make_apache):
    port = harness.free_port()
    a = make_apache(port=port, oidc={"redirect_uri": f"http://localhost:{port}/oidc/callback"})
    s = harness.new_browser()
    r = s.get(a.url(f"/oidc/callback?state={STATE}&code=abc"), allow_redirects=False, timeout=15)
    assert r.status_code == 400 and "Location" not in r.headers
    assert "did not send back the cookie" in r.text and "cookies are blocked" in r.text
    assert "abc" not in r.text and STATE not in r.text
    log = a.error_log.read_text()
    line = [ln for ln in log.splitlines() if "AOIDC423" in ln][-1]
    assert "sent no cookies" in line, line
    assert "host '127.0.0.1' but AuthOIDCRedirectURI names 'localhost'" in line, line
    # with other cookies (an expired attempt of its own), the log says so
    s.cookies.set("aoidc_state_BBBBBBBBBBBBBBBB", "x", domain="127.0.0.1")
    r = s.get(a.url(f"/oidc/callback?state={STATE}&code=abc"), allow_redirects=False, timeout=15)
    assert r.status_code == 400
    line = [ln for ln in a.error_log.read_text().splitlines() if "AOIDC423" in ln][-1]
    assert "1 other login attempt" in line, line
