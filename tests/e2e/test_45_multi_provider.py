"""The end-to-end suite's multi-provider configuration: two providers on one server.

"main" (the session's op fixture, issuer http://localhost:P, the FIRST provider: locations
without AuthOIDCUseProvider log in there) and "two" (a second OP process, issuer
http://localhost:Q/realms/two, used by AuthOIDCUseProvider two). Both have the clients app
and api-client and the resource https://api.example.test.

A session opens only the locations of its own provider, named or default; a session of the
other provider is no session there (a login with the location's provider follows, no error).
AuthOIDCBearerProviders is about tokens only: an AuthType oidc location with
AuthOIDCAcceptBearer takes the listed providers' tokens and sessions of its login provider.

Subrequests and internal redirects (SSI include virtual, ErrorDocument) take the first
request's verdict only into a location with the same provider and REMOTE_USER claim; into
another one they authenticate on their own.
"""
from __future__ import annotations

import json
import re

import pytest
import requests

import harness
from harness import OP, hops, login, logout

API = "https://api.example.test"
OTHER_API = "https://other-api.example.test"
CGI_PATHS = ("main-app", "main-copy", "main-email", "main-admins", "two-app", "two-admins", "api", "mixed",
             "api-copy", "api-other-aud", "api-main-only")


def conf(op2: OP, docs) -> str:
    cgi = f'"{harness.HTDOCS}/cgi/env.py"'
    aliases = "\n".join(f"ScriptAlias /{p}/env {cgi}" for p in CGI_PATHS)
    return f"""
<AuthOIDCProvider two>
    AuthOIDCIssuer {op2.issuer}
    AuthOIDCClientID app
    AuthOIDCClientSecretFile "{OP.secret_file("app")}"
    AuthOIDCScope "openid email profile groups"
</AuthOIDCProvider>
{aliases}
Alias /main-app/ssi/ "{docs}/"
Alias /api/ssi/ "{docs}/"
<Directory "{docs}">
    Options +Includes
    AddType text/html .shtml
    AddOutputFilter INCLUDES .shtml
    Require all granted
</Directory>

# provider main: the default (first) provider, no AuthOIDCUseProvider
<Location /main-app/>
    AuthType oidc
    Require valid-user
</Location>
<Location /main-app/gone-two/>
    ErrorDocument 404 /two-app/env
</Location>
<Location /main-app/gone-same/>
    ErrorDocument 404 /main-copy/env
</Location>
<Location /main-copy/>
    AuthType oidc
    Require valid-user
</Location>
<Location /main-email/>
    AuthType oidc
    AuthOIDCRemoteUserClaim email
    Require valid-user
</Location>
<Location /main-admins/>
    AuthType oidc
    Require oidc-claim groups:admins
</Location>

# provider two, by name
<Location /two-app/>
    AuthType oidc
    AuthOIDCUseProvider two
    Require valid-user
</Location>
<Location /two-admins/>
    AuthType oidc
    AuthOIDCUseProvider two
    Require oidc-claim groups:admins
</Location>

# tokens of two only; /mixed logs browsers in with main
<Location /api/>
    AuthType oidc-bearer
    AuthOIDCBearerAudience {API}
    AuthOIDCBearerProviders two
    Require valid-user
</Location>
<Location /api-copy/>
    AuthType oidc-bearer
    AuthOIDCBearerAudience {API}
    AuthOIDCBearerProviders two
    Require valid-user
</Location>
<Location /api-other-aud/>
    AuthType oidc-bearer
    AuthOIDCBearerAudience {OTHER_API}
    AuthOIDCBearerProviders two
    Require valid-user
</Location>
<Location /api-main-only/>
    AuthType oidc-bearer
    AuthOIDCBearerAudience {API}
    AuthOIDCBearerProviders main
    Require valid-user
</Location>
<Location /mixed/>
    AuthType oidc
    AuthOIDCAcceptBearer On
    AuthOIDCBearerAudience {API}
    AuthOIDCBearerProviders two
    Require valid-user
</Location>
"""


SSI_PAGES = {
    "other-provider.shtml": 'BEGIN[<!--#include virtual="/two-app/env" -->]END\n',
    "same.shtml": 'BEGIN[<!--#include virtual="/main-copy/env" -->]END\n',
    "email.shtml": 'BEGIN[<!--#include virtual="/main-email/env" -->]END\n',
    "bearer-same.shtml": 'BEGIN[<!--#include virtual="/api-copy/env" -->]END\n',
    "bearer-other-aud.shtml": 'BEGIN[<!--#include virtual="/api-other-aud/env" -->]END\n',
    "bearer-main-only.shtml": 'BEGIN[<!--#include virtual="/api-main-only/env" -->]END\n',
}


@pytest.fixture
def site(make_apache, op, op2, bench_dir, request):
    docs = harness.served_dir(bench_dir / "ssi" / re.sub(r"\W+", "_", request.node.name)[-40:], SSI_PAGES)
    return make_apache(conf(op2, docs), extra_modules=("include",))


def assert_login_redirect(r: requests.Response, at: OP) -> None:
    assert r.status_code == 302, (r.status_code, r.text[:300])
    assert r.headers["Location"].startswith(at.issuer + "/auth?"), r.headers["Location"]


def login_ok(browser, url: str, user: str, at: OP, password: str | None = None) -> dict:
    rs = login(browser, url, user, password or harness.USERS[user]["password"], op=at)
    assert rs[0].headers.get("Location", "").startswith(at.issuer + "/auth?"), hops(rs)
    assert rs[-1].status_code == 200, hops(rs)
    return rs[-1].json()


def get(browser, url: str) -> requests.Response:
    return browser.get(url, allow_redirects=False, timeout=15)


# ----------------------------------------------------------------- sessions

def test_each_location_logs_in_with_its_provider(site, op, op2, browser):
    env = login_ok(browser, site.url("/main-app/env"), "alice", op)
    assert env["REMOTE_USER"] == "alice" and env["AUTH_TYPE"] == "oidc"
    b2 = harness.new_browser()
    env = login_ok(b2, site.url("/two-app/env"), "bob", op2)
    assert env["REMOTE_USER"] == "bob"
    # each session keeps working at its own provider's locations, without a provider call
    before, before2 = op.stats(), op2.stats()
    assert get(browser, site.url("/main-app/env")).json()["REMOTE_USER"] == "alice"
    assert get(browser, site.url("/main-copy/env")).json()["REMOTE_USER"] == "alice"
    assert get(b2, site.url("/two-app/env")).json()["REMOTE_USER"] == "bob"
    assert op.stats() == before and op2.stats() == before2


def test_session_of_main_is_no_session_at_a_location_of_two(site, op, op2, browser):
    login_ok(browser, site.url("/main-app/env"), "alice", op)
    assert_login_redirect(get(browser, site.url("/two-app/env")), op2)
    # non-navigational requests get a 401, as without any session
    r = browser.get(site.url("/two-app/env"), headers={"Sec-Fetch-Mode": "cors"}, allow_redirects=False, timeout=15)
    assert r.status_code == 401


def test_session_of_two_is_no_session_at_a_default_location(site, op, op2, browser):
    """The bug: without AuthOIDCUseProvider the provider was not compared at all."""
    login_ok(browser, site.url("/two-app/env"), "bob", op2)
    assert_login_redirect(get(browser, site.url("/main-app/env")), op)
    assert_login_redirect(get(browser, site.url("/main-email/env")), op)
    # logging in with main there replaces the session; now two's locations want a login
    env = login_ok(browser, site.url("/main-app/env"), "bob", op)
    assert env["REMOTE_USER"] == "bob"
    assert_login_redirect(get(browser, site.url("/two-app/env")), op2)


def test_require_claim_sees_only_the_locations_provider(site, op, op2, browser, expect_log):
    """bob is in groups=admins at two only: his session of two must not open main's admin page."""
    expect_log(r"AH01631: user bob: authorization failure for \"/main-admins/", required=True)
    op2.config(claims={"bob": {"groups": ["admins"]}})
    assert login_ok(browser, site.url("/two-admins/env"), "bob", op2)["REMOTE_USER"] == "bob"
    assert_login_redirect(get(browser, site.url("/main-admins/env")), op)
    # after a login at main, main's claims decide: bob is no admin there
    rs = login(browser, site.url("/main-admins/env"), "bob", "bob-pw", op=op)
    assert rs[-1].status_code == 403, hops(rs)
    # and alice, admin at main, is not one at two's admin page without logging in there
    b2 = harness.new_browser()
    assert login_ok(b2, site.url("/main-admins/env"), "alice", op)["REMOTE_USER"] == "alice"
    assert_login_redirect(get(b2, site.url("/two-admins/env")), op2)


def test_logout_of_a_session_of_two(site, op, op2, browser):
    login_ok(browser, site.url("/two-app/env"), "alice", op2)
    before = op.stats()["end_session"]
    rs = logout(browser, site.url("/oidc/logout"), op=op2)
    assert any(r.url.startswith(op2.issuer + "/session/end") for r in rs), hops(rs)
    assert rs[-1].status_code == 200 and rs[-1].url.endswith("/loggedout.html"), hops(rs)
    assert op2.stats()["end_session"] >= 1 and op.stats()["end_session"] == before
    assert_login_redirect(get(browser, site.url("/two-app/env")), op2)
    assert_login_redirect(get(browser, site.url("/main-app/env")), op)


def test_accept_bearer_location_takes_sessions_of_its_login_provider_only(site, op, op2, browser):
    """AuthOIDCBearerProviders two at /mixed/ is about tokens; sessions there are main's."""
    assert login_ok(browser, site.url("/mixed/env"), "alice", op)["REMOTE_USER"] == "alice"
    b2 = harness.new_browser()
    login_ok(b2, site.url("/two-app/env"), "bob", op2)
    assert_login_redirect(get(b2, site.url("/mixed/env")), op)


# ----------------------------------------------------------------- bearer tokens

def get_token(at: OP) -> str:
    r = requests.post(at.url("/token"), auth=("api-client", OP.secret("api-client")),
                      data={"grant_type": "client_credentials", "resource": API, "scope": "api:read"},
                      timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def call(url: str, token: str) -> requests.Response:
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}, allow_redirects=False, timeout=15)


def test_bearer_tokens_of_each_provider(site, op, op2):
    t_main, t_two = get_token(op), get_token(op2)
    for path in ("/api/env", "/mixed/env"):
        r = call(site.url(path), t_two)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        assert r.json()["REMOTE_USER"] == "api-client"
        r = call(site.url(path), t_main)
        assert r.status_code == 401, (path, r.status_code, r.text[:200])
        assert 'error="invalid_token"' in r.headers.get("WWW-Authenticate", "")
        assert "Location" not in r.headers


# ----------------------------------------------------------------- subrequests, internal redirects

def test_ssi_include_into_another_providers_location(site, op, op2, browser, expect_log):
    """include virtual from a page of main into a location of two: not with main's session."""
    expect_log(r"\[include:error\].*unable to include \"/two-app/env\"", required=True)
    login_ok(browser, site.url("/main-app/env"), "alice", op)
    r = get(browser, site.url("/main-app/ssi/other-provider.shtml"))
    assert r.status_code == 200, r.text[:300]
    assert "BEGIN[" in r.text and "]END" in r.text
    assert "REMOTE_USER" not in r.text, r.text


def test_ssi_include_into_a_location_with_another_remote_user_claim(site, op, op2, browser):
    login_ok(browser, site.url("/main-app/env"), "alice", op)
    r = get(browser, site.url("/main-app/ssi/email.shtml"))
    assert r.status_code == 200, r.text[:300]
    env = json.loads(r.text.split("BEGIN[", 1)[1].rsplit("]END", 1)[0])
    assert env["REMOTE_USER"] == "alice@example.com", env


def test_ssi_include_into_a_location_with_the_same_settings_reuses_the_verdict(site, op, op2, browser):
    login_ok(browser, site.url("/main-app/env"), "alice", op)
    r = get(browser, site.url("/main-app/ssi/same.shtml"))
    assert r.status_code == 200, r.text[:300]
    assert '"REMOTE_USER": "alice"' in r.text, r.text


def test_error_document_redirect_into_another_providers_location(site, op, op2, browser, expect_log):
    # an internal redirect copies the first request's headers, claim headers included;
    # the redirect's header_parser scrubs them (quietly: they are ours) before its own verdict
    login_ok(browser, site.url("/main-app/env"), "alice", op)
    r = get(browser, site.url("/main-app/gone-two/nothing-here"))
    assert r.status_code != 200
    assert "REMOTE_USER" not in r.text, r.text
    # the same kind of redirect into a location of main takes the verdict over
    r = get(browser, site.url("/main-app/gone-same/nothing-here"))
    assert r.status_code == 404
    assert '"REMOTE_USER": "alice"' in r.text, r.text


@pytest.mark.parametrize("page", ["bearer-other-aud", "bearer-main-only"])
def test_ssi_include_with_a_token_into_a_location_that_would_refuse_it(site, op, op2, expect_log, page):
    """A token of two for API opens /api/; an include into a location with another audience,
    or one that takes only main's tokens, must not take that verdict over."""
    expect_log(r"\[include:error\].*unable to include \"/api-(other-aud|main-only)/env\"", required=True)
    r = call(site.url(f"/api/ssi/{page}.shtml"), get_token(op2))
    assert r.status_code == 200, r.text[:300]
    assert "BEGIN[" in r.text and "REMOTE_USER" not in r.text, r.text


def test_ssi_include_with_a_token_into_a_location_with_the_same_settings(site, op, op2):
    r = call(site.url("/api/ssi/bearer-same.shtml"), get_token(op2))
    assert r.status_code == 200, r.text[:300]
    env = json.loads(r.text.split("BEGIN[", 1)[1].rsplit("]END", 1)[0])
    assert env["REMOTE_USER"] == "api-client" and env["AUTH_TYPE"] == "oidc-bearer"


# ----------------------------------------------------------------- provider text in log lines

def test_sub_is_escaped_in_log_lines(site, op, op2, browser, errlog, expect_log):
    """A sub with a quote, control characters and a newline (the OP's user harness.MALLORY)
    appears escaped (ap_escape_logitem) in our debug lines."""
    expect_log(r"\[include:error\].*unable to include")
    env = login_ok(browser, site.url("/main-app/env"), harness.MALLORY, op, password="mallory-pw")
    assert env["REMOTE_USER"] == harness.MALLORY
    assert_login_redirect(get(browser, site.url("/two-app/env")), op2)
    get(browser, site.url("/main-app/ssi/other-provider.shtml"))
    # httpd escapes control characters and backslashes of every error-log message
    # itself; ap_escape_logitem also escapes the quotes (and works with any log provider)
    for logno in ("AOIDC307", "AOIDC640"):
        lines = errlog.search(logno + r".*'mallory ")
        assert lines, f"no {logno} line"
        for ln in lines:
            assert '"q"' not in ln, ln
            assert re.search(r"""'mallory \\+"q\\+" \\+x07\\+x1b\[31m\\+nnext'""", ln), ln
            assert "\x1b" not in ln and "\x07" not in ln, ln
