"""issue 13 point 2: mix-up defence with two providers (RFC 9207, OAuth security BCP 4.4).

The state binds the provider a login started with; a callback's iss must be that provider's; a
code is only ever sent to the token endpoint of the state's provider. A provider that sends no iss
(no authorization_response_iss_parameter_supported) is protected by a redirect URI of its own
(AuthOIDCRedirectURI inside its <AuthOIDCProvider>): an answer for one provider's login that
arrives at another provider's redirect URI is refused."""
from __future__ import annotations

import pytest

import harness
from harness import OP, hops, login, op_login_only
from test_20_callback import assert_refused, qparam, with_query

PW = {u: harness.USERS[u]["password"] for u in ("alice", "bob")}


OP2_ENV = {"OP_REDIRECT_URIS": "http://127.0.0.1/oidc/two-callback,http://localhost/oidc/two-callback"}


@pytest.fixture(scope="module")
def op2_server(bench_dir):
    second = OP(bench_dir, path="/realms/two").start(env=OP2_ENV)
    yield second
    second.stop()


@pytest.fixture
def op2(op2_server) -> OP:
    """two, with its own redirect URI registered too (ensure_default would drop it)."""
    if not op2_server.running() or op2_server.keyset != "a" or op2_server.env != OP2_ENV:
        op2_server.restart(keyset="a", env=OP2_ENV)
    op2_server.reset()
    return op2_server


def conf(op2: OP, own_redirect: bool = False) -> str:
    cgi = f'"{harness.HTDOCS}/cgi/env.py"'
    own = "    AuthOIDCRedirectURI /oidc/two-callback\n" if own_redirect else ""
    return f"""
<AuthOIDCProvider two>
    AuthOIDCIssuer {op2.issuer}
    AuthOIDCClientID app
    AuthOIDCClientSecretFile "{OP.secret_file("app")}"
{own}</AuthOIDCProvider>
ScriptAlias /main-app/env {cgi}
ScriptAlias /two-app/env {cgi}
<Location /main-app/>
    AuthType oidc
    AuthOIDCUseProvider main
    Require valid-user
</Location>
<Location /two-app/>
    AuthType oidc
    AuthOIDCUseProvider two
    Require valid-user
</Location>
"""


def start(browser, url: str) -> str:
    """GET a protected URL: the state of the login it starts."""
    r = browser.get(url, allow_redirects=False, timeout=15)
    assert r.status_code == 302, (r.status_code, r.text[:200])
    return qparam(r.headers["Location"], "state")


def tokens(op: OP) -> int:
    return op.stats()["token"]


def test_callback_with_the_other_providers_iss(make_apache, op, op2, browser, memcached, expect_log):
    expect_log(r"AOIDC429: callback iss parameter does not match provider two", required=True)
    site = make_apache(conf(op2))
    cb = op_login_only(browser, site.url("/two-app/env"), "bob", PW["bob"], op=op2)
    assert qparam(cb, "iss") == op2.issuer
    r = browser.get(with_query(cb, iss=op.issuer), allow_redirects=False, timeout=15)
    assert_refused(r, 400)
    assert tokens(op) == 0 and tokens(op2) == 0
    assert memcached.session_keys() == []


def test_mixup_code_of_the_honest_provider_never_reaches_the_other(make_apache, op, op2, browser, memcached,
                                                                   expect_log):
    """The user picked main (the attacker's provider here), main sent them on to two, two answered
    with its code and iss: the code must not go to main's token endpoint."""
    expect_log(r"AOIDC429: callback iss parameter does not match provider main", required=True)
    site = make_apache(conf(op2))
    state_main = start(browser, site.url("/main-app/env"))
    other = harness.new_browser()
    cb_two = op_login_only(other, site.url("/two-app/env"), "bob", PW["bob"], op=op2)
    r = browser.get(with_query(cb_two, state=state_main), allow_redirects=False, timeout=15)
    assert_refused(r, 400)
    assert tokens(op) == 0 and tokens(op2) == 0
    assert memcached.session_keys() == []


def test_code_of_the_other_provider_with_a_forged_iss(make_apache, op, op2, browser, memcached, expect_log):
    """A code of two injected into a login at main, iss forged to main's: the code goes to main's
    token endpoint only (which refuses it), never to two's."""
    expect_log(r"AOIDC431: code exchange with main failed", required=True)
    site = make_apache(conf(op2))
    state_main = start(browser, site.url("/main-app/env"))
    cb_two = op_login_only(harness.new_browser(), site.url("/two-app/env"), "bob", PW["bob"], op=op2)
    r = browser.get(with_query(cb_two, state=state_main, iss=op.issuer), allow_redirects=False, timeout=15)
    assert r.status_code == 401 and "Location" not in r.headers, hops([r])
    assert tokens(op2) == 0 and tokens(op) == 1
    assert memcached.session_keys() == []


def test_provider_without_iss_has_its_own_redirect_uri(make_apache, op, op2, browser, memcached, expect_log):
    expect_log(r"AOIDC838: callback for a login at provider main arrived at another redirect URI", required=True)
    op2.config(no_iss=True)
    op.config(no_iss=True)  # neither provider sends iss: only the redirect URIs tell them apart
    site = make_apache(conf(op2, own_redirect=True))
    assert "authorization_response_iss_parameter_supported" not in op2.discovery()
    # a login at two uses two's own redirect URI, and works without iss
    r = browser.get(site.url("/two-app/env"), allow_redirects=False, timeout=15)
    assert qparam(r.headers["Location"], "redirect_uri") == site.url("/oidc/two-callback")
    rs = login(browser, site.url("/two-app/env"), "bob", PW["bob"], op=op2)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "bob", hops(rs)
    cb = [x.url for x in rs if "/oidc/two-callback?" in x.url][0]
    assert "iss=" not in cb
    # main still uses the server's redirect URI
    b = harness.new_browser()
    r = b.get(site.url("/main-app/env"), allow_redirects=False, timeout=15)
    assert qparam(r.headers["Location"], "redirect_uri") == site.url("/oidc/callback")
    # mix-up: a login at main, two's answer (no iss) arrives at two's redirect URI: refused
    state_main = qparam(r.headers["Location"], "state")
    cb_two = op_login_only(harness.new_browser(), site.url("/two-app/env"), "bob", PW["bob"], op=op2)
    assert "/oidc/two-callback?" in cb_two and "iss=" not in cb_two
    before = tokens(op), tokens(op2)
    r = b.get(with_query(cb_two, state=state_main), allow_redirects=False, timeout=15)
    assert_refused(r, 400)
    assert (tokens(op), tokens(op2)) == before
    assert "aoidc_session" not in r.headers.get("Set-Cookie", "")
