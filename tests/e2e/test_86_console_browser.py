"""oidc-console in a real browser: headless Chromium (Debian chromium + chromium-driver,
driven with Debian's python3-selenium) logs in to the web console, revokes a session
from the table and sees it gone. A screenshot is saved under the test's tmp dir.
"""
from __future__ import annotations

import os
import shutil

import pytest

import harness
from harness import login, new_browser
from test_85_console import Console

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
