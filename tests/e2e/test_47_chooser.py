"""issue 13 point 1: several providers per location, the chooser page and the login URI.

Two OPs ("main", the default, and "two", another issuer and keys). /both/ names both providers:
a navigation without a session gets our chooser page (escaped display names, no script, the
security headers), whose links go to AuthOIDCLoginURI ?provider=NAME&return=PATH. A session of
either provider opens /both/; /two-app/ and /main-app/ keep taking only their own provider's."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

import harness
from harness import OP, hops, login

HOSTILE = 'Partners <b>&</b> "Co" <script>alert(1)</script>'
HOSTILE_CONF = HOSTILE.replace('"', '\\"')  # inside a quoted directive argument


def conf(op2: OP, extra: str = "") -> str:
    cgi = f'"{harness.HTDOCS}/cgi/env.py"'
    aliases = "\n".join(f"ScriptAlias /{p}/env {cgi}" for p in ("both", "two-app", "main-app"))
    return f"""
<AuthOIDCProvider two>
    AuthOIDCIssuer {op2.issuer}
    AuthOIDCClientID app
    AuthOIDCClientSecretFile "{OP.secret_file("app")}"
    AuthOIDCScope "openid email profile groups"
    AuthOIDCProviderDisplayName "{HOSTILE_CONF}"
</AuthOIDCProvider>
AuthOIDCLoginURI /oidc/login
{extra}
{aliases}
<Location /both/>
    AuthType oidc
    AuthOIDCUseProvider main two
    Require valid-user
</Location>
<Location /two-app/>
    AuthType oidc
    AuthOIDCUseProvider two
    Require valid-user
</Location>
<Location /main-app/>
    AuthType oidc
    AuthOIDCUseProvider main
    Require valid-user
</Location>
"""


@pytest.fixture
def site(make_apache, op, op2):
    return make_apache(conf(op2), oidc={"provider_extra": "AuthOIDCProviderDisplayName Employees"})


def get(browser, url: str, **kw):
    return browser.get(url, allow_redirects=False, timeout=15, **kw)


def links(page: str) -> list[tuple[str, str]]:
    """(href, text) of each link, unescaped."""
    return [(html.unescape(h), html.unescape(t)) for h, t in re.findall(r'<a href="([^"]*)">([^<]*)</a>', page)]


def test_chooser_page(site, browser):
    r = get(browser, site.url("/both/env?q=%3Cscript%3E"))
    assert r.status_code == 200, (r.status_code, r.headers, r.text[:300])
    assert r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in r.headers["Cache-Control"]
    assert "Location" not in r.headers and "Set-Cookie" not in r.headers
    body = r.text
    # the provider's display name and the request target arrive escaped only
    assert "<script" not in body and "<b>" not in body
    assert "Partners &lt;b&gt;&amp;&lt;/b&gt; &#34;Co&#34; &lt;script&gt;" in body
    assert "src=" not in body and "http" not in body.replace("http-equiv", "")  # nothing external
    got = links(body)
    assert got == [("/oidc/login?provider=main&return=%2Fboth%2Fenv%3Fq%3D%253Cscript%253E", "Employees"),
                   ("/oidc/login?provider=two&return=%2Fboth%2Fenv%3Fq%3D%253Cscript%253E", HOSTILE)], got
    # machines get 401, as without any chooser
    r = get(browser, site.url("/both/env"), headers={"Sec-Fetch-Mode": "cors"})
    assert r.status_code == 401
    # a location with one provider goes straight there
    r = get(browser, site.url("/two-app/env"))
    assert r.status_code == 302 and "provider" not in r.headers["Location"].split("?")[0]


def test_either_providers_session_opens_the_shared_location(site, op, op2, browser):
    page = get(browser, site.url("/both/env")).text
    href = dict((t, h) for h, t in links(page))[HOSTILE]
    rs = login(browser, site.url(href), "bob", harness.USERS["bob"]["password"], op=op2)
    assert rs[0].status_code == 302 and rs[0].headers["Location"].startswith(op2.issuer + "/auth?"), hops(rs)
    assert rs[-1].status_code == 200 and rs[-1].url == site.url("/both/env"), hops(rs)
    assert rs[-1].json()["REMOTE_USER"] == "bob"
    assert get(browser, site.url("/two-app/env")).json()["REMOTE_USER"] == "bob"
    # a session of two is none at main's own location: straight to main, no chooser
    r = get(browser, site.url("/main-app/env"))
    assert r.status_code == 302 and r.headers["Location"].startswith(op.issuer + "/auth?"), r.headers
    # and a session of main opens /both/ too, but not /two-app/
    b2 = harness.new_browser()
    page = get(b2, site.url("/both/env")).text
    href = dict((t, h) for h, t in links(page))["Employees"]
    rs = login(b2, site.url(href), "alice", harness.USERS["alice"]["password"], op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice", hops(rs)
    assert get(b2, site.url("/both/env")).json()["REMOTE_USER"] == "alice"
    r = get(b2, site.url("/two-app/env"))
    assert r.status_code == 302 and r.headers["Location"].startswith(op2.issuer + "/auth?")


def test_login_uri_starts_a_login_with_the_named_provider(site, op2, browser):
    r = get(browser, site.url("/oidc/login?provider=two&return=%2Ftwo-app%2Fenv&login_hint=bob%40example.com"
                              "&prompt=login"))
    assert r.status_code == 302, (r.status_code, r.text[:200])
    loc = r.headers["Location"]
    assert loc.startswith(op2.issuer + "/auth?")
    q = parse_qs(urlsplit(loc).query)
    assert q["login_hint"] == ["bob@example.com"] and q["prompt"] == ["login"]
    assert q["redirect_uri"] == [site.url("/oidc/callback")]
    rs = login(browser, site.url("/oidc/login?provider=two&return=/two-app/env"), "bob",
               harness.USERS["bob"]["password"], op=op2)
    assert rs[-1].status_code == 200 and rs[-1].url == site.url("/two-app/env"), hops(rs)
    # without return: back to /
    r = get(browser, site.url("/oidc/login?provider=main"))
    assert r.status_code == 302 and "login_hint" not in r.headers["Location"]


@pytest.mark.parametrize("query", [
    "provider=two&return=https%3A%2F%2Fevil.example%2F", "provider=two&return=%2F%2Fevil.example",
    "provider=two&return=/%5Cevil.example", "provider=two&return=javascript:alert(1)",
    "provider=nosuch", "provider=%3Cscript%3E", "provider=two&provider=main", "return=/", "",
    "provider=two&prompt=none+login", "provider=two&login_hint=a%0d%0aX:1",
])
def test_login_uri_refuses_bad_input(site, browser, query):
    r = get(browser, site.url("/oidc/login?" + query))
    assert r.status_code == 400, (query, r.status_code, r.headers)
    assert "Location" not in r.headers and "aoidc_state" not in r.headers.get("Set-Cookie", "")
    assert "evil" not in r.text and "<script" not in r.text
    r = browser.post(site.url("/oidc/login?provider=two"), allow_redirects=False, timeout=15)
    assert r.status_code == 400


def test_chooser_template(make_apache, op, op2, browser, bench_dir):
    tmpl = bench_dir / "chooser.html"
    tmpl.write_text("<!DOCTYPE html><title>ACME</title><h1>ACME sign-in</h1>{{providers}}<footer>x</footer>\n")
    site = make_apache(conf(op2, f'AuthOIDCChooserTemplate "{tmpl}"'))
    r = get(browser, site.url("/both/env"))
    assert r.status_code == 200 and r.text.startswith("<!DOCTYPE html><title>ACME</title><h1>ACME sign-in</h1><ul>")
    assert r.text.endswith("</ul>\n<footer>x</footer>\n")
    assert [t for _, t in links(r.text)] == ["main", HOSTILE]
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]


def test_chooser_uri(make_apache, op, op2, browser):
    site = make_apache(conf(op2, "AuthOIDCChooserURI /choose.html"))
    r = get(browser, site.url("/both/env?a=1"))
    assert r.status_code == 302
    assert r.headers["Location"] == "/choose.html?providers=main%20two&return=%2Fboth%2Fenv%3Fa%3D1"


def test_several_providers_need_a_login_uri(make_apache, op2):
    from test_60_config import check_fails
    snippet = conf(op2).replace("AuthOIDCLoginURI /oidc/login\n", "")
    check_fails(make_apache, "AuthOIDCUseProvider main two",
                r"AuthOIDCUseProvider at .* names 2 providers: the chooser needs AuthOIDCLoginURI", snippet)


def test_login_uri_must_not_shadow_the_redirect_uri(make_apache, op2):
    rc, out = make_apache.configtest(conf(op2).replace("AuthOIDCLoginURI /oidc/login", "AuthOIDCLoginURI /oidc/callback"))
    assert rc != 0 and "AuthOIDCLoginURI /oidc/callback must differ" in out, out


def test_node_snapshot_names_display_names_and_locations(make_apache, op, op2, memcached):
    """For the console (issue 13 point 8): each provider's display name, userinfo mode and the
    sections that use it, in the node's configuration snapshot."""
    import json
    make_apache(conf(op2), oidc={"provider_extra": "AuthOIDCProviderDisplayName Employees",
                                 "extra": "AuthOIDCNodeName multi-node"})
    snap = json.loads(memcached.get("aoidc:n:multi-node"))
    provs = {p["name"]: p for p in snap["providers"]}
    assert provs["main"]["display_name"] == "Employees" and provs["two"]["display_name"] == HOSTILE
    assert provs["main"]["userinfo_mode"] == "auto"
    main_locs = " ".join(provs["main"]["locations"])
    two_locs = " ".join(provs["two"]["locations"])
    assert "<Location /both/>" in main_locs and "<Location /main-app/>" in main_locs
    assert "<Location /protected>" in main_locs  # no AuthOIDCUseProvider: the first provider
    assert "<Location /both/>" in two_locs and "<Location /two-app/>" in two_locs
    assert "/main-app/" not in two_locs and "/protected" not in two_locs
    # the same configuration on two nodes gives the same snapshot: no file names
    assert " at " not in main_locs and ".conf" not in main_locs


def test_chooser_links_carry_max_auth_age(make_apache, op, op2, browser):
    """AuthOIDCMaxAuthAge with several providers: the chooser's links ask for max_age too, so
    the login they start brings a session that opens the location (no loop back to the chooser)."""
    snippet = conf(op2).replace("    AuthOIDCUseProvider main two\n",
                                "    AuthOIDCUseProvider main two\n    AuthOIDCMaxAuthAge 120\n")
    site = make_apache(snippet)
    page = get(browser, site.url("/both/env")).text
    hrefs = [h for h, _ in links(page)]
    assert hrefs and all(h.endswith("&max_age=120") for h in hrefs), hrefs
    r = get(browser, site.url(hrefs[1]))
    assert r.status_code == 302 and parse_qs(urlsplit(r.headers["Location"]).query)["max_age"] == ["120"]
    rs = login(browser, site.url(hrefs[1]), "bob", harness.USERS["bob"]["password"], op=op2)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "bob", hops(rs)
    assert get(browser, site.url("/both/env")).status_code == 200
