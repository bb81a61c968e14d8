"""The demo single-page app (conf/examples/demo/spa: one HTML page, one script, CSP-clean) in
headless Chromium (issue 12, point 8): it logs in at the OP, shows the user from the session
info URI, posts with the CSRF token (and is refused without it), and calls an API behind
ProxyPass that gets the session's access token. No CSP violation, no console error."""
from __future__ import annotations

from pathlib import Path

import harness
from test_86_console_browser import chrome  # noqa: F401  (the fixture)

# the demo as scripts/demo.py serves it, in a copy Apache's children can read
DEMO = harness.readable_copy(Path(__file__).resolve().parents[2] / "conf" / "examples" / "demo", "aoidc-spa-demo-")


def demo_site(make_apache, op):
    port = harness.free_port()
    # the demo's partners provider is not used here: an issuer nobody asks (loopback, closed port)
    snippet = (DEMO / "demo.conf.in").read_text().replace("@DEMO@", str(DEMO)).replace(
        "@PORT@", str(port)).replace("@USERINFO@", op.issuer + "/me").replace(
        "@PARTNERS_ISSUER@", "http://127.0.0.1:1/partners").replace(
        "@SECRET_FILE@", str(harness.OP.secret_file("app")))
    return make_apache(snippet, port=port, extra_modules=("proxy", "proxy_http"))


def test_spa_in_a_real_browser(make_apache, op, chrome, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    site = demo_site(make_apache, op)
    # the page is replaced while the login's redirects land: an element found a moment ago may
    # be gone; the wait asks again instead of failing
    wait = WebDriverWait(chrome, 20, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
    chrome.get(site.url("/spa/"))
    # not logged in: the navigation went to the OP's login form
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "form#login")))
    assert chrome.current_url.startswith(op.issuer)
    chrome.find_element(By.NAME, "login").send_keys("alice")
    chrome.find_element(By.NAME, "password").send_keys("alice-pw")
    chrome.find_element(By.CSS_SELECTOR, "form#login button[type=submit]").click()
    # back on the app, which asked /oidc/session who is logged in
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "yes")
    assert chrome.current_url == site.url("/spa/")
    assert chrome.find_element(By.ID, "user").text == "alice"
    assert chrome.find_element(By.ID, "name").text == "Alice Liddell"
    assert chrome.find_element(By.ID, "token-expires").text not in ("", "unknown", "…")

    def result(button, target):
        chrome.execute_script("document.getElementById(arguments[0]).dataset.status = ''", target)
        chrome.find_element(By.ID, button).click()
        wait.until(lambda d: d.find_element(By.ID, target).get_attribute("data-status"))
        return (chrome.find_element(By.ID, target).get_attribute("data-status"),
                chrome.find_element(By.ID, target).text)

    status, text = result("post", "post-result")
    assert status == "201" and '"by": "alice"' in text, text
    status, text = result("post-forged", "post-result")
    assert status == "403" and '"error":"csrf"' in text, text
    status, text = result("call-api", "api-result")
    assert status == "200" and '"token_of": "alice"' in text, text

    # the page is CSP-clean: nothing blocked, nothing thrown
    logs = chrome.get_log("browser")
    bad = [e for e in logs if e["level"] == "SEVERE" and "403" not in e["message"] and "favicon.ico" not in e["message"]]
    assert not bad, bad
    assert not [e for e in logs if "Content Security Policy" in e["message"]], logs
    shot = tmp_path / "spa.png"
    assert chrome.save_screenshot(str(shot))
    print(f"\nSPA screenshot: {shot}")
