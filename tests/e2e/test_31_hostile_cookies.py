"""Hostile Cookie headers on AuthType oidc locations, before any authentication.

The module strips its own cookies (the session cookie and the aoidc_state_* login
cookies) from the Cookie header in header_parser, for every request of an AuthType oidc
location, with or without credentials. Issue 7 point 1: that rewrite once wrote "; "
between kept cookies into a buffer sized for the input, so a header with bare ";"
separators (`=;=;=;...`) overflowed the heap and crashed the worker. Every variant below
must get a sane answer (the login redirect, a 401, or the page of an open location),
never a 5xx or a dropped connection, and the error log must show no crash (the errlog
fixture fails the test on "exit signal", "Segmentation fault" and sanitizer lines).
"""
from __future__ import annotations

import json

import pytest

import harness
from harness import HTDOCS

SESSION = "aoidc_session"
STATE = "aoidc_state_"
NAV = "Accept: text/html"

# Apache's default LimitRequestFieldSize is 8190 bytes for "Cookie: <value>"
LIMIT = 8000

HOSTILE = {
    "empty-pairs": "=;" * (LIMIT // 2),
    "empty-pairs-no-trailing": ";".join(["="] * (LIMIT // 2 - 1)),
    "tiny-cookies": ";".join(f"{i % 10}=" for i in range(LIMIT // 3)),
    "tiny-values": ";".join(f"a={i % 10}" for i in range(LIMIT // 4)),
    "semicolons": ";" * LIMIT,
    "equals": "=" * LIMIT,
    "ours-among-junk": ";".join(f"=;{SESSION}=x;{STATE}y=z" for _ in range(LIMIT // 40)),
    "blanks": " ; \t;= ;\t=\t;" * (LIMIT // 12),
    "quotes": '="";' * (LIMIT // 4),
}


@pytest.fixture
def site(make_apache):
    snippet = "\n".join([
        f'ScriptAlias /open/env "{HTDOCS}/cgi/env.py"',
        f'ScriptAlias /pass/env "{HTDOCS}/cgi/env.py"',
        "<Location /open>\n    AuthType oidc\n    Require all granted\n</Location>",
        "<Location /pass>\n    AuthType oidc\n    AuthOIDCUnauthAction pass\n    Require valid-user\n</Location>",
        f'ScriptAlias /api/env "{HTDOCS}/cgi/env.py"',
        "<Location /api>\n    AuthType oidc-bearer\n    AuthOIDCBearerAudience https://api.example.test\n"
        "    Require valid-user\n</Location>",
    ])
    return make_apache(snippet)


def send(site, path, cookie, extra=()):
    """(status, head) of a GET with this raw Cookie value; a dropped connection or an
    unparsable answer fails the test."""
    try:
        status, head, body = harness.raw_http(site.port, path, [f"Cookie: {cookie}", *extra], timeout=15)
    except (OSError, ValueError, IndexError) as e:
        pytest.fail(f"{path} with a {len(cookie)}-byte Cookie header: no answer ({e!r})")
    return status, head, body


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_cookie_header_gets_a_sane_answer(site, name):
    cookie = HOSTILE[name]
    # several rounds: a heap overflow does not always crash on the first request
    for _ in range(5):
        status, head, _ = send(site, "/protected/", cookie, [NAV])
        assert status == 302, (name, status, head)
        status, _, _ = send(site, "/protected/env", cookie)
        assert status in (302, 401), (name, status)
        status, _, body = send(site, "/open/env", cookie)
        assert status == 200, (name, status)
        assert SESSION not in json.loads(body).get("HTTP_COOKIE", "")
        status, _, body = send(site, "/pass/env", cookie)
        assert status == 200, (name, status)
        # bearer locations strip our cookies in the same header_parser
        status, head, _ = send(site, "/api/env", cookie)
        assert status == 401 and "WWW-Authenticate: Bearer" in head, (name, status)
    # the module logged nothing about its worker dying and every child is still there
    assert not site.error_log_text().count("exit signal"), site.error_log_tail()


def test_backend_gets_the_other_cookies_in_order_but_not_ours(site):
    cookie = (f"a=1;{SESSION}=secret;=;b=\"two\";;{STATE}abc=st;c=;  d=4=5 ;"
              f"{STATE}=keep;{SESSION}x=keep2;nv;e=5")
    status, _, body = send(site, "/open/env", cookie)
    assert status == 200
    got = json.loads(body)["HTTP_COOKIE"]
    assert "secret" not in got and "abc" not in got and "=st" not in got
    # what is not ours survives, in order: the bare "aoidc_state_" name is not a state
    # cookie and "aoidc_sessionx" is not the session cookie
    # separators: "; " where the removed text left room for it, else the bare ";" sent
    assert got == f"a=1; =;b=\"two\"; c=; d=4=5; {STATE}=keep;{SESSION}x=keep2;nv;e=5", got
    # the same through the unauthenticated pass-through location
    status, _, body = send(site, "/pass/env", cookie)
    assert status == 200 and json.loads(body)["HTTP_COOKIE"] == got


def test_only_our_cookies_means_no_cookie_header_at_all(site):
    status, _, body = send(site, "/open/env", f"{SESSION}=x; {STATE}AAAA=y;;  ")
    assert status == 200
    assert "HTTP_COOKIE" not in json.loads(body)


def test_unchanged_header_passes_byte_for_byte(site):
    cookie = "a=1;b=2;  c = 3 ;d"
    status, _, body = send(site, "/open/env", cookie)
    assert status == 200 and json.loads(body)["HTTP_COOKIE"] == cookie
