"""Input from the provider at the back-channel logout URI and in the callback:
a logout_token without `exp` is refused; provider text (sub, error,
error_description) reaches the error log escaped, never as a forged log line.

httpd 2.4 itself escapes control characters of every error-log message (%M), so a raw
newline could not forge a line even without our escaping; the module escapes provider
text with ap_escape_logitem all the same (other ErrorLog providers, and the rule that
provider text is never trusted), which httpd then escapes once more: a newline from the
provider shows as `\\n` (ESCAPED below). The tests check both the outcome (no forged
line) and that the module escaped the value."""
import time
import urllib.parse
import uuid

import pytest
import requests

from harness import login, new_browser, op_login_only, sign_jwt

EVENT = "http://schemas.openid.net/event/backchannel-logout"
BCL = "/oidc/backchannel"
FORGED = "[error] AOIDC999: forged"


def escaped(text):
    """How provider text shows in the error log: ap_escape_logitem, then httpd's own
    escaping of the message (which doubles each backslash)."""
    once = "".join(c if 0x20 <= ord(c) < 0x7f and c not in '"\\' else
                   {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}.get(c, f"\\x{ord(c):02x}")
                   for c in text)
    return once.replace("\\", "\\\\")


@pytest.fixture
def site(make_apache, op):
    a = make_apache(oidc={"extra": f"AuthOIDCBackChannelLogoutURI {BCL}"})
    op.client("app", backchannel_logout_uri=a.url(BCL))
    return a


def logout_token(op, **over):
    now = int(time.time())
    claims = {"iss": op.issuer, "aud": "app", "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex,
              "events": {EVENT: {}}, "sub": "alice"}
    for k, v in over.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return sign_jwt(claims, header={"typ": "logout+jwt"})


def post_token(apache, token):
    return requests.post(apache.url(BCL), data={"logout_token": token}, timeout=10,
                         proxies={"http": None, "https": None})


def logged_in(s, apache):
    r = s.get(apache.url("/protected/env"), allow_redirects=False, headers={"Accept": "application/json"})
    return r.status_code == 200


def no_forged_line(text):
    """No line of the log starts with the forged text (a raw newline would make one)."""
    return not any(ln.startswith(FORGED) or ln.startswith("[error] AOIDC999") for ln in text.splitlines())


@pytest.mark.strict_sessions
def test_logout_token_without_exp_refused(site, op, errlog):
    alice = new_browser()
    login(alice, site.url("/protected/"), "alice", "alice-pw", op=op)
    assert logged_in(alice, site)
    r = post_token(site, logout_token(op, exp=None))
    assert r.status_code == 400 and r.json() == {"error": "invalid_request"}
    assert r.headers["Cache-Control"] == "no-store"
    assert logged_in(alice, site)
    assert errlog.search(r"AOIDC450: back-channel logout refused: exp missing")
    # a non-numeric exp is refused the same way
    r = post_token(site, logout_token(op, exp="tomorrow"))
    assert r.status_code == 400 and logged_in(alice, site)
    # the same token with exp ends the session
    r = post_token(site, logout_token(op))
    assert r.status_code == 200, r.text
    assert not logged_in(alice, site)


def test_backchannel_sub_escaped_in_log(site, op, errlog, expect_log):
    expect_log(r"AOIDC455: .*AOIDC999: forged", required=True)  # our line, quoting the text
    sub = "mallory\n" + FORGED + "\x1b[31m"
    r = post_token(site, logout_token(op, sub=sub))
    assert r.status_code == 200, r.text
    text = errlog.text()
    assert no_forged_line(text), text
    lines = errlog.search(r"AOIDC455: back-channel logout from main")
    assert lines and escaped(sub) in lines[0], (escaped(sub), lines)


def test_login_sub_escaped_in_log(apache, op, browser, errlog, expect_log):
    expect_log(r"AOIDC416: .*AOIDC999: forged", required=True)
    sub = "eve\n" + FORGED
    op.mutate("claims", set={"sub": sub})
    op.config(claims={"alice": {"sub": sub}})  # userinfo (AuthOIDCUserInfo Auto) must agree
    rs = login(browser, apache.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200
    text = errlog.text()
    assert no_forged_line(text), text
    lines = errlog.search(r"AOIDC416: login of ")
    assert lines and escaped(sub) in lines[-1], (escaped(sub), lines)


def test_callback_error_and_description_escaped_in_log(apache, op, browser, errlog, expect_log):
    expect_log(r"AOIDC427: .*AOIDC999: forged", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    u = urllib.parse.urlsplit(cb)
    q = [(k, v) for k, v in urllib.parse.parse_qsl(u.query) if k != "code"]
    error, desc = "access_denied\n" + FORGED, "no\r\n" + FORGED + " <b>x</b>"
    q += [("error", error), ("error_description", desc)]
    r = browser.get(urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q))), allow_redirects=False)
    assert r.status_code == 401
    assert "AOIDC999" not in r.text and "<b>" not in r.text
    text = errlog.text()
    assert no_forged_line(text), text
    lines = errlog.search(r"AOIDC427: provider main refused the login")
    assert lines and escaped(error) in lines[0], (escaped(error), lines)
    assert escaped(desc) in lines[0], (escaped(desc), lines)
