"""AuthOIDCLogoutURI: local session gone from the store, cookie cleared, RP-initiated
logout at the OP, only allowed return targets, store failures."""
import urllib.parse

from harness import decode_jwt, free_port, login, logout, new_browser, parse_forms

LOGOUT = "/oidc/logout"


def set_cookies(resp):
    return resp.raw.headers.getlist("Set-Cookie")


def cleared_session_cookie(resp):
    return [c for c in set_cookies(resp) if c.startswith("aoidc_session=;") and "Max-Age=0" in c]


def logged_in(apache, op, browser, user="alice"):
    rs = login(browser, apache.url("/protected/env"), user, f"{user}-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == user
    return browser.cookies.get("aoidc_session")


def query(url):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)


def test_logout_ends_session_everywhere(apache, op, browser, memcached):
    sid = logged_in(apache, op, browser)
    keys = memcached.session_keys()
    assert len(keys) == 1
    r = browser.get(apache.url(LOGOUT), allow_redirects=False)
    assert r.status_code == 302
    assert "no-store" in r.headers.get("Cache-Control", "")
    # the record is gone from memcached and the cookie is cleared
    assert memcached.session_keys() == []
    assert memcached.get(keys[0]) is None
    assert cleared_session_cookie(r), set_cookies(r)
    assert browser.cookies.get("aoidc_session") is None
    # RP-initiated logout at the OP's end_session_endpoint
    loc = r.headers["Location"]
    end_session = op.discovery()["end_session_endpoint"]
    assert loc.startswith(end_session + "?"), loc
    q = query(loc)
    assert q["post_logout_redirect_uri"] == [apache.url("/loggedout.html")]
    assert q["client_id"] == ["app"]
    hint = q["id_token_hint"][0]
    _, claims = decode_jwt(hint)
    assert claims["sub"] == "alice" and claims["aud"] == "app" and claims["iss"] == op.issuer
    # the old cookie value no longer works, even replayed by hand
    thief = new_browser()
    thief.cookies.set("aoidc_session", sid, domain="127.0.0.1", path="/")
    r = thief.get(apache.url("/protected/env"), allow_redirects=False, headers={"Accept": "text/html"})
    assert r.status_code == 302 and r.headers["Location"].startswith(op.issuer + "/auth?")
    r = thief.get(apache.url("/protected/env"), allow_redirects=False, headers={"Accept": "application/json"})
    assert r.status_code == 401


def test_logout_through_op_lands_on_loggedout_page(apache, op, browser, memcached):
    logged_in(apache, op, browser)
    rs = logout(browser, apache.url(LOGOUT), op=op)
    final = rs[-1]
    assert final.status_code == 200, [(x.url, x.status_code) for x in rs]
    assert urllib.parse.urlsplit(final.url).path == "/loggedout.html"
    assert final.url.startswith(apache.url("/loggedout.html"))
    assert op.stats()["end_session"] >= 1
    assert op.events("end_session.success")
    # the OP session is gone too: the next visit asks for the password again
    r = browser.get(apache.url("/protected/"), allow_redirects=False, headers={"Accept": "text/html"})
    assert r.status_code == 302
    rs = login(browser, apache.url("/protected/env"), "bob", "bob-pw", op=op)
    assert rs[-1].json()["REMOTE_USER"] == "bob"


def test_logout_return_not_allowed(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC440", required=True)
    logged_in(apache, op, browser)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example",
                   apache.url("/loggedout.html") + ".evil.example",
                   apache.url("/loggedout.html?x=1"), "javascript:alert(1)", "<script>x</script>"):
        r = browser.get(apache.url(LOGOUT) + "?" + urllib.parse.urlencode({"return": target}),
                        allow_redirects=False)
        assert r.status_code == 400, target
        assert "Location" not in r.headers
        assert "evil.example" not in r.text and "<script" not in r.text.lower()
    # a repeated return parameter is refused too, even when one copy is allowed
    good = urllib.parse.quote(apache.url("/loggedout.html"), safe="")
    r = browser.get(apache.url(LOGOUT) + f"?return={good}&return=https%3A%2F%2Fevil.example%2F",
                    allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers


def test_logout_return_second_allowed_url(make_apache, op, browser, memcached):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    a = make_apache(port=port, oidc={"post_logout_redirect": f"{base}/loggedout.html {base}/"})
    logged_in(a, op, browser)
    target = a.url("/")
    r = browser.get(a.url(LOGOUT) + "?" + urllib.parse.urlencode({"return": target}), allow_redirects=False)
    assert r.status_code == 302
    assert query(r.headers["Location"])["post_logout_redirect_uri"] == [target]
    assert memcached.session_keys() == []
    rs = logout(browser, r.headers["Location"], op=op)
    assert rs[-1].status_code == 200 and urllib.parse.urlsplit(rs[-1].url).path == "/"
    assert rs[-1].url.startswith(target)


def test_logout_without_session_redirects_to_default(apache, op, browser, memcached):
    r = browser.get(apache.url(LOGOUT), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == apache.url("/loggedout.html")
    assert op.stats()["end_session"] == 0
    # an unknown or malformed cookie is the same as none
    for value in ("A" * 43, "garbage!", ""):
        s = new_browser()
        s.cookies.set("aoidc_session", value, domain="127.0.0.1", path="/")
        r = s.get(apache.url(LOGOUT), allow_redirects=False)
        assert r.status_code == 302 and r.headers["Location"] == apache.url("/loggedout.html"), value


def test_logout_without_session_default_is_local_root(make_apache, op, browser, memcached):
    a = make_apache(oidc={"post_logout_redirect": None})
    r = browser.get(a.url(LOGOUT), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == a.url("/")


def test_logout_twice(apache, op, browser, memcached):
    logged_in(apache, op, browser)
    r1 = browser.get(apache.url(LOGOUT), allow_redirects=False)
    assert r1.headers["Location"].startswith(op.discovery()["end_session_endpoint"])
    r2 = browser.get(apache.url(LOGOUT), allow_redirects=False)
    assert r2.status_code == 302 and r2.headers["Location"] == apache.url("/loggedout.html")


def test_logout_other_user_unaffected(apache, op, browser, memcached):
    logged_in(apache, op, browser, "alice")
    other = new_browser()
    logged_in(apache, op, other, "bob")
    assert len(memcached.session_keys()) == 2
    browser.get(apache.url(LOGOUT), allow_redirects=False)
    assert len(memcached.session_keys()) == 1
    r = other.get(apache.url("/protected/env"), allow_redirects=False)
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "bob"


def test_logout_with_memcached_down(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC441: logout: session store", required=True)
    logged_in(apache, op, browser)
    memcached.stop()
    try:
        r = browser.get(apache.url(LOGOUT), allow_redirects=False)
        assert r.status_code == 503
        assert "Location" not in r.headers
        assert r.headers.get("Retry-After")
        # the session cannot be ended: do not tell the browser it was
        assert not cleared_session_cookie(r), set_cookies(r)
        assert op.stats()["end_session"] == 0
    finally:
        memcached.start()
    assert apache.running()


# ----------------------------------------------------------------- cross-site logout (CSRF)

def is_logged_in(apache, browser):
    r = browser.get(apache.url("/protected/env"), allow_redirects=False, headers={"Accept": "application/json"})
    return r.status_code == 200


def test_cross_site_get_asks_first_and_post_logs_out(apache, op, browser, memcached):
    """An image tag on another site: the GET ends nothing and answers a page whose form
    POSTs the logout; the POST from our own origin ends the session."""
    logged_in(apache, op, browser)
    r = browser.get(apache.url(LOGOUT), allow_redirects=False,
                    headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors",
                             "Sec-Fetch-Dest": "image", "Referer": "https://evil.example/page"})
    assert r.status_code == 200, (r.status_code, r.headers)
    assert r.headers["Content-Type"].startswith("text/html")
    assert "no-store" in r.headers.get("Cache-Control", "")
    assert "frame-ancestors 'none'" in r.headers.get("Content-Security-Policy", "")
    assert "Location" not in r.headers
    assert not cleared_session_cookie(r), set_cookies(r)
    assert "Log out of this site?" in r.text
    forms = parse_forms(r.text)
    assert len(forms) == 1 and forms[0]["method"] == "post" and forms[0]["action"] == LOGOUT, forms
    assert "evil.example" not in r.text
    # the session survived the cross-site GET
    assert len(memcached.session_keys()) == 1 and is_logged_in(apache, browser)
    assert op.stats()["end_session"] == 0
    # the user submits the form: a same-origin POST
    r = browser.post(apache.url(forms[0]["action"]), allow_redirects=False,
                     headers={"Origin": apache.base_url, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 302, (r.status_code, r.text[:200])
    assert r.headers["Location"].startswith(op.discovery()["end_session_endpoint"] + "?")
    assert cleared_session_cookie(r)
    assert memcached.session_keys() == []
    assert not is_logged_in(apache, browser)


def test_cross_site_get_keeps_return_target_in_form(make_apache, op, browser, memcached):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    a = make_apache(port=port, oidc={"post_logout_redirect": f"{base}/loggedout.html {base}/?a=1&b=<2>"})
    logged_in(a, op, browser)
    target = f"{base}/?a=1&b=<2>"
    r = browser.get(a.url(LOGOUT) + "?" + urllib.parse.urlencode({"return": target}), allow_redirects=False,
                    headers={"Sec-Fetch-Site": "same-site"})
    assert r.status_code == 200
    assert "<2>" not in r.text          # escaped in the page
    action = parse_forms(r.text)[0]["action"]
    assert query(action) == {"return": [target]}, action
    r = browser.post(a.url(action), allow_redirects=False, headers={"Origin": base})
    assert r.status_code == 302
    assert query(r.headers["Location"])["post_logout_redirect_uri"] == [target]
    assert memcached.session_keys() == []


def test_cross_site_post_refused(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC667", required=False)
    logged_in(apache, op, browser)
    for headers in ({"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
                    {"Origin": "https://evil.example"},
                    {"Origin": "null"},
                    {"Origin": apache.base_url + ".evil.example"},
                    {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.127.0.0.1:1"},
                    {"Referer": "https://evil.example/" + apache.base_url}):
        r = browser.post(apache.url(LOGOUT), allow_redirects=False, headers=headers)
        assert r.status_code == 403, (headers, r.status_code)
        assert "Location" not in r.headers
        assert not cleared_session_cookie(r)
    assert len(memcached.session_keys()) == 1 and is_logged_in(apache, browser)


def test_same_origin_and_legacy_requests_log_out_directly(apache, op, memcached):
    """What is not cross-site keeps working with a plain GET: a same-origin link, a
    cross-site GET with our own Referer or Origin, a typed URL, and browsers that send no
    Sec-Fetch-Site at all."""
    cases = [{},
             {"Sec-Fetch-Site": "same-origin"},
             {"Sec-Fetch-Site": "none"},
             {"Sec-Fetch-Site": "cross-site", "Referer": apache.url("/protected/")},
             {"Sec-Fetch-Site": "cross-site", "Origin": apache.base_url},
             {"Referer": "https://elsewhere.example/"}]          # old browser, link from elsewhere
    for headers in cases:
        s = new_browser()
        logged_in(apache, op, s)
        r = s.get(apache.url(LOGOUT), allow_redirects=False, headers=headers)
        assert r.status_code == 302, (headers, r.status_code)
        assert cleared_session_cookie(r), headers
        assert not is_logged_in(apache, s), headers
    # a same-origin POST without Sec-Fetch-Site (older browser) works too
    s = new_browser()
    logged_in(apache, op, s)
    r = s.post(apache.url(LOGOUT), allow_redirects=False, headers={"Origin": apache.base_url})
    assert r.status_code == 302 and not is_logged_in(apache, s)
