"""The end-to-end suite's .htaccess configuration: a document tree with AllowOverride AuthConfig
whose directories are protected by AuthType oidc, Require and AuthOIDCUseProvider in .htaccess.

.htaccess files are read per request, in the request's thread and pool, long after the
server configuration: a provider name there is checked at once against the request's
server; an unknown one is an error of that file (httpd logs the file and the message and
answers 500, as for any .htaccess error), never a crash or a data race.
"""
from __future__ import annotations

import concurrent.futures
import re

import pytest
import requests

import harness
from harness import hops, login

HTACCESS = {
    "known/.htaccess": "AuthType oidc\nAuthOIDCUseProvider main\nRequire valid-user\n",
    "known/page.html": "<p>known page</p>\n",
    "admins/.htaccess": "AuthType oidc\nAuthOIDCUseProvider main\nRequire oidc-claim groups:admins\n",
    "admins/page.html": "<p>admins page</p>\n",
    "unknown/.htaccess": "AuthType oidc\nAuthOIDCUseProvider nosuch\nRequire valid-user\n",
    "unknown/page.html": "<p>must not be served</p>\n",
    "unknown-bearer/.htaccess": ("AuthType oidc-bearer\nAuthOIDCBearerAudience https://api.example.test\n"
                                 "AuthOIDCBearerProviders main nosuch\nRequire valid-user\n"),
    "unknown-bearer/page.html": "<p>must not be served</p>\n",
    "badname/.htaccess": "AuthType oidc\nAuthOIDCUseProvider \"bad name\"\nRequire valid-user\n",
    "badname/page.html": "<p>must not be served</p>\n",
}

# httpd's own report of a .htaccess error: the file, then our message
HT_ERROR = r"\[core:alert\].*/{dir}/\.htaccess: {msg}"
UNKNOWN = HT_ERROR.format(dir="unknown", msg=r"AuthOIDCUseProvider: 'nosuch' names no <AuthOIDCProvider> of this server")
UNKNOWN_BEARER = HT_ERROR.format(
    dir="unknown-bearer", msg=r"AuthOIDCBearerProviders: 'nosuch' names no <AuthOIDCProvider> of this server")
BADNAME = HT_ERROR.format(dir="badname", msg=r"AuthOIDCUseProvider: 'bad name' is not a provider name")


@pytest.fixture
def site(make_apache, bench_dir, request):
    docs = harness.served_dir(bench_dir / "htaccess" / re.sub(r"\W+", "_", request.node.name)[-40:], HTACCESS)
    # one process with many threads: every .htaccess parse of a test shares its globals
    return make_apache(f"""
StartServers 1
ServerLimit 1
ThreadsPerChild 24
MaxRequestWorkers 24
Alias /ht/ "{docs}/"
<Directory "{docs}">
    AllowOverride AuthConfig
    Require all granted
</Directory>
""")


def get(s, url: str, **kw) -> requests.Response:
    return s.get(url, allow_redirects=False, timeout=20, **kw)


def test_login_in_a_directory_protected_by_htaccess(site, op, browser):
    rs = login(browser, site.url("/ht/known/page.html"), "alice", "alice-pw", op=op)
    assert rs[0].status_code == 302 and rs[0].headers["Location"].startswith(op.issuer + "/auth?"), hops(rs)
    assert rs[-1].status_code == 200 and "known page" in rs[-1].text, hops(rs)
    assert rs[-1].url == site.url("/ht/known/page.html")
    assert "known page" in get(browser, site.url("/ht/known/page.html")).text


def test_require_oidc_claim_from_htaccess(site, op, browser, expect_log):
    expect_log(r"AH01631: user bob: authorization failure for \"/ht/admins/", required=True)
    rs = login(browser, site.url("/ht/admins/page.html"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and "admins page" in rs[-1].text, hops(rs)
    b2 = harness.new_browser()
    rs = login(b2, site.url("/ht/admins/page.html"), "bob", "bob-pw", op=op)
    assert rs[-1].status_code == 403, hops(rs)


@pytest.mark.parametrize("path,pattern", [("unknown", UNKNOWN), ("unknown-bearer", UNKNOWN_BEARER),
                                          ("badname", BADNAME)])
def test_bad_provider_name_in_htaccess_is_an_error_of_that_file(site, op, browser, expect_log, errlog, path,
                                                                pattern):
    expect_log(pattern, required=True)
    r = get(browser, site.url(f"/ht/{path}/page.html"))
    assert r.status_code == 500
    assert "must not be served" not in r.text and "Location" not in r.headers
    # nothing of ours ran for it: no login was started, no provider was asked
    assert not errlog.search(r"AOIDC400|AOIDC403")
    assert op.stats()["authorization"] == 0
    # the server is fine, and the good directories still work
    rs = login(browser, site.url("/ht/known/page.html"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200, hops(rs)


def test_concurrent_htaccess_requests(site, op, browser, expect_log):
    """Many threads of one process parse the .htaccess files at once (known, unknown and
    invalid names): every answer is the right one, and no worker crashes (the error-log
    check fails on 'exit signal' or sanitizer lines)."""
    for pattern in (UNKNOWN, UNKNOWN_BEARER, BADNAME):
        expect_log(pattern, required=True)
    login(browser, site.url("/ht/known/page.html"), "alice", "alice-pw", op=op)
    cookies = browser.cookies.get_dict()
    plan = [("known", 200), ("admins", 200), ("unknown", 500), ("unknown-bearer", 500), ("badname", 500)] * 120
    before = op.stats()

    def one(item):
        path, want = item
        with harness.new_browser() as s:
            s.cookies.update(cookies)
            # a new connection each time (a busy event MPM may close idle keep-alive ones)
            return [(path, want, get(s, site.url(f"/ht/{path}/page.html"), headers={"Connection": "close"}).status_code)
                    for _ in range(3)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        got = [x for batch in pool.map(one, plan) for x in batch]
    wrong = [x for x in got if x[1] != x[2]]
    assert not wrong, wrong[:20]
    assert len(got) == len(plan) * 3
    # the valid session served every request: no provider call
    assert op.stats() == before
    assert site.running()


def test_unknown_provider_names_in_the_server_config_still_fail_configtest(make_apache):
    """The same directives in the server configuration are checked in check_config, which
    names the directive and its line (the references recorded while the config is read)."""
    rc, out = make_apache.configtest("""
<Location /api/>
    AuthType oidc-bearer
    AuthOIDCBearerAudience https://api.example.test
    AuthOIDCBearerProviders main nosuch
    Require valid-user
</Location>
""")
    assert rc != 0 and "Syntax OK" not in out, out
    assert re.search(r"AuthOIDCBearerProviders nosuch at \S*configtest\.conf:\d+ names no <AuthOIDCProvider>", out), out
