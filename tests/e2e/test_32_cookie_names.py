"""The session cookie's name (issue 7 point 12): with AuthOIDCCookieSecure On (the
default) the default name carries the __Host- prefix, so that browsers accept it only
from this host over HTTPS with Path=/ and no Domain, and a sibling subdomain cannot toss
a session cookie in. With Secure Off the default stays aoidc_session; a name set with
AuthOIDCCookieName is used as is.

The tests run over plain http: the jar below also sends Secure cookies there (a real
browser would only do so over https, which is the point of Secure)."""
from __future__ import annotations

import pytest
from requests.cookies import RequestsCookieJar

from harness import login, new_browser

NAV = {"Accept": "text/html"}


class SendSecureOverHttp(RequestsCookieJar):
    """Keeps Secure cookies as plain ones (requests copies the jar for each request,
    so a cookie policy would not survive)."""

    def set_cookie(self, cookie, *args, **kwargs):
        cookie.secure = False
        return super().set_cookie(cookie, *args, **kwargs)


def secure_browser():
    s = new_browser()
    s.cookies = SendSecureOverHttp()
    return s


def session_set_cookies(responses):
    """The Set-Cookie lines of the callback that set a session cookie (not state, not clear)."""
    cb = [r for r in responses if "/oidc/callback" in r.url]
    assert cb, [r.url for r in responses]
    return [c for c in cb[0].raw.headers.getlist("Set-Cookie")
            if not c.startswith("aoidc_state_") and "Max-Age=0" not in c]


def attrs(set_cookie):
    name, _, rest = set_cookie.partition("=")
    parts = [p.strip() for p in rest.split(";")[1:]]
    return name, {p.split("=", 1)[0].lower(): (p.split("=", 1) + [""])[1] for p in parts}


@pytest.mark.parametrize("secure,want", [(None, "__Host-aoidc_session"), ("On", "__Host-aoidc_session"),
                                         ("Off", "aoidc_session")])
def test_default_session_cookie_name(make_apache, op, secure, want):
    a = make_apache(oidc={"cookie_secure": secure})
    s = secure_browser()
    rs = login(s, a.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice"
    sess = session_set_cookies(rs)
    assert len(sess) == 1, sess
    name, at = attrs(sess[0])
    assert name == want
    if want.startswith("__Host-"):
        # RFC 6265bis section 4.1.3.2: Secure, Path=/, no Domain
        assert "secure" in at and at.get("path") == "/" and "domain" not in at, sess[0]
    else:
        assert "secure" not in at
    # the cookie is what the module reads, and it never reaches the backend
    r = s.get(a.url("/protected/env"), allow_redirects=False, timeout=15)
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "alice"
    assert "aoidc_session" not in r.json().get("HTTP_COOKIE", "")
    # logout clears the same name
    r = s.get(a.url("/oidc/logout"), allow_redirects=False, timeout=15)
    cleared = [c for c in r.raw.headers.getlist("Set-Cookie") if "Max-Age=0" in c]
    assert [attrs(c)[0] for c in cleared] == [want], cleared
    assert s.get(a.url("/protected/env"), allow_redirects=False, headers=NAV, timeout=15).status_code == 302


def test_configured_name_is_kept_with_secure_on(make_apache, op):
    a = make_apache(oidc={"cookie_secure": "On", "extra": "AuthOIDCCookieName my_sess"})
    s = secure_browser()
    rs = login(s, a.url("/protected/env"), "bob", "bob-pw", op=op)
    assert rs[-1].status_code == 200
    sess = session_set_cookies(rs)
    assert [attrs(c)[0] for c in sess] == ["my_sess"]
    assert "secure" in attrs(sess[0])[1]


def test_the_old_default_name_is_not_a_session_with_secure_on(make_apache, op):
    """A plain aoidc_session cookie (which any sibling subdomain could set) is just an
    application cookie once the default is __Host-aoidc_session: no session, and it
    reaches the backend untouched."""
    a = make_apache(oidc={"cookie_secure": "On"}, snippet="<Location /open>\n    AuthType oidc\n"
                    "    Require all granted\n</Location>\n"
                    f'ScriptAlias /open/env "{__import__("harness").HTDOCS}/cgi/env.py"')
    s = secure_browser()
    login(s, a.url("/protected/env"), "alice", "alice-pw", op=op)
    sid = s.cookies.get("__Host-aoidc_session")
    assert sid
    r = new_browser().get(a.url("/protected/env"), headers={**NAV, "Cookie": f"aoidc_session={sid}"},
                          allow_redirects=False, timeout=15)
    assert r.status_code == 302
    r = new_browser().get(a.url("/open/env"), headers={"Cookie": f"aoidc_session=x; __Host-aoidc_session={sid}"},
                          timeout=15)
    assert r.status_code == 200 and r.json()["HTTP_COOKIE"] == "aoidc_session=x"


@pytest.mark.parametrize("name", ["__Host-sess", "__Secure-sess", "__host-sess"])
def test_prefixed_name_needs_secure(make_apache, name):
    """A browser drops a __Host-/__Secure- cookie without Secure: refused at configtest."""
    rc, out = make_apache.configtest(oidc={"cookie_secure": "Off", "extra": f"AuthOIDCCookieName {name}"})
    assert rc != 0
    assert f"AuthOIDCCookieName {name} at " in out and "needs AuthOIDCCookieSecure On (Off at " in out, out
    rc, out = make_apache.configtest(oidc={"cookie_secure": "On", "extra": f"AuthOIDCCookieName {name}"})
    assert rc == 0, out
