"""oidc-console in a real browser: headless Chromium (Debian chromium + chromium-driver,
driven with Debian's python3-selenium) logs in to the web console, revokes a session
from the table and sees it gone; then walks every page of a two-node setup with two
providers, reading the rendered text (counts, dates, differing settings highlighted),
searches, sorts and revokes through the confirmation page. Screenshots are saved under
the test's tmp dir.
"""
from __future__ import annotations

import os
import re
import shutil

import pytest

import harness
from harness import login, new_browser
from test_85_console import UNFORMATTED, Console

# console revocations are checked at once here; their bound with the session cache: test_99
pytestmark = pytest.mark.strict_sessions

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def chrome(tmp_path):
    required = os.environ.get("AOIDC_REQUIRE_MODULE") == "1"   # the README's test command installs them
    if required:
        from selenium import webdriver
    else:
        webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if required:
            pytest.fail("Debian chromium and chromium-driver are not installed", pytrace=False)
        pytest.skip("Debian chromium and chromium-driver are not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
              "--window-size=1400,900", f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(20)
    yield drv
    drv.quit()


def _login_user(node, user, op):
    s = new_browser()
    hops = login(s, node.url("/protected/env"), user, harness.USERS[user]["password"], op=op)
    assert hops[-1].status_code == 200
    return s


def test_browser_revokes_a_session_from_the_table(make_apache, op, memcached, crypto_key, tmp_path, chrome):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    a = make_apache(name="a", oidc={"extra": "AuthOIDCNodeName node-a"})
    alice, bob = _login_user(a, "alice", op), _login_user(a, "bob", op)
    console = Console(tmp_path / "console", memcached, crypto_key).serve()
    try:
        chrome.get(console.url("/sessions"))
        assert chrome.current_url.endswith("/login")          # redirected: not logged in
        chrome.find_element(By.ID, "user").send_keys("admin")
        chrome.find_element(By.ID, "password").send_keys("console admin pw")
        chrome.find_element(By.ID, "login-submit").click()
        # a form post navigates: wait for the page it lands on (slow under a loaded machine)
        WebDriverWait(chrome, 20).until(EC.url_contains("/sessions"))
        assert chrome.current_url.endswith("/sessions")

        rows = chrome.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
        users = {r.find_element(By.CSS_SELECTOR, "td.user").text: r for r in rows}
        assert set(users) == {"alice", "bob"}, users.keys()
        handle = users["alice"].get_attribute("data-handle")
        users["alice"].find_element(By.CSS_SELECTOR, "button.revoke").click()

        WebDriverWait(chrome, 20).until(EC.url_contains("revoked="))
        assert "revoked=1" in chrome.current_url
        assert "Revoked 1 session(s)." in chrome.find_element(By.ID, "message").text
        rows = chrome.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
        assert [r.find_element(By.CSS_SELECTOR, "td.user").text for r in rows] == ["bob"]
        assert handle not in chrome.page_source

        shot = tmp_path / "console-after-revoke.png"
        assert chrome.save_screenshot(str(shot))
        print(f"\nconsole screenshot: {shot}")

        # the revoked browser is logged out at the node, the other one is not
        assert alice.get(a.url("/protected/env"), allow_redirects=False, timeout=10).status_code == 302
        assert bob.get(a.url("/protected/env"), allow_redirects=False, timeout=10).status_code == 200
        # and the nodes page renders in the browser too
        chrome.get(console.url("/nodes"))
        assert "node-a" in chrome.find_element(By.ID, "node-list").text
        assert 'action=revoke-session' in console.audit.read_text()
    finally:
        console.stop()


# ----------------------------------------------------------------- every page, two nodes, two providers

@pytest.fixture
def op2(bench_dir):
    """A second OP with another issuer, for the provider "two"."""
    second = harness.OP(bench_dir, path="/realms/two").start()
    second.ensure_default()
    yield second
    second.stop()


def _two_provider_conf(op2) -> str:
    return f"""
<AuthOIDCProvider two>
    AuthOIDCIssuer {op2.issuer}
    AuthOIDCClientID app
    AuthOIDCClientSecretFile "{harness.OP.secret_file("app")}"
    AuthOIDCScope "openid email profile groups"
</AuthOIDCProvider>
ScriptAlias /two-app/env "{harness.HTDOCS}/cgi/env.py"
<Location /two-app/>
    AuthType oidc
    AuthOIDCUseProvider two
    Require valid-user
</Location>
"""


def _text(el) -> str:
    return re.sub(r"\s+", " ", el.text).strip()


def test_browser_walks_every_page_of_two_nodes_with_two_providers(make_apache, op, op2, memcached, crypto_key,
                                                                   tmp_path, chrome):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(name):
        path = shots / f"{name}.png"
        assert chrome.save_screenshot(str(path))
        return path

    def page_ok():
        body = _text(chrome.find_element(By.TAG_NAME, "body"))
        assert not UNFORMATTED.search(body), body
        assert not chrome.find_elements(By.TAG_NAME, "script")
        return body

    conf = _two_provider_conf(op2)
    a = make_apache(conf, name="a", oidc={"extra": "AuthOIDCNodeName node-a\nAuthOIDCSessionInactivityTimeout 3600"})
    b = make_apache(conf, name="b", oidc={"extra": "AuthOIDCNodeName node-b\nAuthOIDCSessionInactivityTimeout 1800"})
    users = {}
    for node, user, prov, path in ((a, "alice", op, "/protected/env"), (b, "bob", op, "/protected/env"),
                                   (a, "carol", op2, "/two-app/env"), (b, "alice", op2, "/two-app/env")):
        s = new_browser()
        hops = login(s, node.url(path), user, harness.USERS[user]["password"], op=prov)
        assert hops[-1].status_code == 200, harness.hops(hops)
        users.setdefault(user, []).append((s, node, path))
    console = Console(tmp_path / "console", memcached, crypto_key).serve()
    wait = WebDriverWait(chrome, 20)
    try:
        chrome.get(console.url("/login"))
        page_ok()
        shot("01-login")
        chrome.find_element(By.ID, "user").send_keys("admin")
        chrome.find_element(By.ID, "password").send_keys("console admin pw")
        chrome.find_element(By.ID, "login-submit").click()
        wait.until(EC.url_contains("/sessions"))

        # sessions: four rows, every column filled as a reader sees it
        body = page_ok()
        assert "Page 1 of 1: 4 session(s) shown, 4 in the directory." in body, body
        rows = chrome.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
        assert len(rows) == 4
        seen = set()
        for r in rows:
            cell = {c: _text(r.find_element(By.CSS_SELECTOR, f"td.{c}"))
                    for c in ("user", "email", "provider", "node", "client", "created", "last-seen", "expires")}
            seen.add((cell["user"], cell["provider"], cell["node"]))
            assert re.fullmatch(r"127\.0\.0\.1 python-requests \d+", cell["client"]), cell
            assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (just now|\d+ s ago|\d+ min ago)$", cell["last-seen"]), cell
            assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ in \d+ (min|h|d)$", cell["expires"]), cell
            assert "@example.com" in cell["email"]
        assert seen == {("alice", "main", "node-a"), ("bob", "main", "node-b"), ("carol", "two", "node-a"),
                        ("alice", "two", "node-b")}, seen
        shot("02-sessions")

        # sort by last seen through the header link
        chrome.find_element(By.LINK_TEXT, "Last seen").click()
        wait.until(EC.url_contains("sort=last_seen"))
        page_ok()
        assert "Last seen" in _text(chrome.find_element(By.CSS_SELECTOR, "th.sorted"))
        shot("03-sessions-by-last-seen")

        # search: a prefix from the index
        box = chrome.find_element(By.CSS_SELECTOR, "#filter input[name=q]")
        box.clear()
        box.send_keys("car")
        chrome.find_element(By.CSS_SELECTOR, "#filter button[type=submit]").click()
        wait.until(EC.url_contains("q=car"))
        page_ok()
        names = [_text(e) for e in chrome.find_elements(By.CSS_SELECTOR, "#sessions td.user")]
        assert names == ["carol"], names
        shot("04-search")

        # one session, then its user
        chrome.get(console.url("/sessions?provider=two"))
        row = next(r for r in chrome.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
                   if _text(r.find_element(By.CSS_SELECTOR, "td.user")) == "alice")
        row.find_element(By.CSS_SELECTOR, "td a code").click()
        wait.until(EC.presence_of_element_located((By.ID, "session")))
        body = page_ok()
        assert re.search(r"Last seen \d{4}-", body) and "Provider two" in body, body
        shot("05-session")
        chrome.get(console.url("/user?provider=two&sub=alice"))
        assert "1 live session(s)." in page_ok()
        shot("06-user")

        # providers: a card each, with the per-node status
        chrome.get(console.url("/providers"))
        page_ok()
        cards = {c.get_attribute("id"): _text(c) for c in chrome.find_elements(By.CSS_SELECTOR, "section.card")}
        assert set(cards) == {"provider-main", "provider-two"}, cards.keys()
        assert "2 live session(s), configured on 2 node(s)." in cards["provider-main"]
        assert "2 live session(s), configured on 2 node(s)." in cards["provider-two"]
        assert "/realms/two" in cards["provider-two"] and "Client ID app" in cards["provider-two"]
        for c in cards.values():
            assert "node-a" in c and "node-b" in c and re.search(r"ok, fetched|not fetched yet", c), c
        shot("07-providers")

        # nodes: only the differing settings, highlighted; then all of them
        chrome.get(console.url("/nodes"))
        body = page_ok()
        assert re.search(r"2 node\(s\), [1-9]\d* differing setting\(s\)\.", body), body
        differing = chrome.find_elements(By.CSS_SELECTOR, "#nodes tbody tr.differs")
        assert differing and len(differing) == len(chrome.find_elements(By.CSS_SELECTOR, "#nodes tbody tr:not(.group)"))
        # the configured difference first, before what the nodes learned from the providers
        assert "session.inactivity" in _text(differing[0]), _text(differing[0])
        cell = chrome.find_element(By.CSS_SELECTOR, "#nodes td.differs")
        assert cell.value_of_css_property("background-color") not in ("rgba(0, 0, 0, 0)", "transparent")
        shot("08-nodes-differing")
        chrome.find_element(By.ID, "toggle").click()
        wait.until(EC.url_contains("all=1"))
        page_ok()
        assert len(chrome.find_elements(By.CSS_SELECTOR, "#nodes tbody tr")) > len(differing)
        shot("09-nodes-all")

        # revoke all of alice at main through the confirmation page
        chrome.get(console.url("/sessions?provider=main"))
        row = next(r for r in chrome.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
                   if _text(r.find_element(By.CSS_SELECTOR, "td.user")) == "alice")
        row.find_element(By.CSS_SELECTOR, "a.revoke-user").click()
        wait.until(EC.presence_of_element_located((By.ID, "confirm-count")))
        assert _text(chrome.find_element(By.ID, "confirm-count")) == "This will end 1 session(s)."
        page_ok()
        shot("10-confirm")
        chrome.find_element(By.ID, "confirm-revoke").click()
        wait.until(EC.url_contains("revoked="))
        assert "Revoked 1 session(s)." in _text(chrome.find_element(By.ID, "message"))
        shot("11-after-revoke")
        s, node, path = users["alice"][0]
        assert s.get(node.url(path), allow_redirects=False, timeout=10).status_code == 302
        s, node, path = users["alice"][1]                       # her session at "two" lives on
        assert s.get(node.url(path), allow_redirects=False, timeout=10).status_code == 200
        print(f"\nconsole screenshots: {shots}")
        assert len(list(shots.glob("*.png"))) == 11
    finally:
        console.stop()
