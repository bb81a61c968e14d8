"""Authorization on claims (Require oidc-claim) and what the backend gets: claims as
headers and/or environment, REMOTE_USER, scrubbed client headers, stripped cookies.

Two backends: the CGI env.py (what an application behind Apache sees; note Apache 2.4
drops request headers whose names contain '_' from a CGI environment), and a raw
HTTP listener behind mod_proxy_http that records the request head byte for byte, so
that headers with '_' in their names and the exact Cookie header are visible too.

Authz failure statuses: when Require denies an authenticated user, Apache's
mod_authz_core answers 401 (it asks the client to authenticate again) unless
`AuthzSendForbiddenOnFailure On` is set for the location. When the denial comes from
our own `Require oidc-claim`, the module turns that 401 into 403 (a logged-in user
who lacks a claim cannot fix it by logging in again); both settings give 403.
"""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

import harness
from harness import HTDOCS, new_browser, login

SESSION = "aoidc_session"
NAV = {"Accept": "text/html"}

# <Location /NAME>: AuthType oidc plus these lines. /NAME/env is the CGI, /NAME/raw the
# raw listener behind mod_proxy.
LOCATIONS = {
    "admins": "Require oidc-claim groups:admins",
    "admins403": "Require oidc-claim groups:admins\nAuthzSendForbiddenOnFailure On",
    "bobonly": "Require oidc-claim email:bob@example.com",
    "anyof": "Require oidc-claim email:nobody@example.com groups:admins email:carol@example.com",
    "all": "<RequireAll>\n    Require valid-user\n    Require oidc-claim groups:staff\n</RequireAll>",
    "unicode": 'Require oidc-claim "groups:\u00dcn\u00efcode group"',
    "hdr": "Require valid-user\nAuthOIDCPassClaimsAs headers",
    "envonly": "Require valid-user\nAuthOIDCPassClaimsAs environment",
    "none": "Require valid-user\nAuthOIDCPassClaimsAs none",
    "prefix": "Require valid-user\nAuthOIDCClaimPrefix X_USER_\n"
              'RequestHeader set X-Env-Email "%{X_USER_email}e"\n'
              'RequestHeader set X-Env-Old "%{OIDC_CLAIM_email}e"',
    "pass": "Require valid-user\nAuthOIDCUnauthAction pass",
    "open": "Require all granted",
    "ruemail": "Require valid-user\nAuthOIDCRemoteUserClaim email",
    "rumissing": "Require valid-user\nAuthOIDCRemoteUserClaim employee_id",
}


# ----------------------------------------------------------------- raw backend

class RawBackend:
    """Answers every request with 200 "ok" and keeps the request heads (bytes)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.heads: list[bytes] = []
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                buf = b""
                try:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    self.heads.append(buf.split(b"\r\n\r\n", 1)[0])
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                                 b"Connection: close\r\n\r\nok")
                except OSError:
                    pass

    def last(self) -> tuple[str, list[tuple[str, str]]]:
        """(request line, [(name, value)]) of the last request, decoded as latin-1."""
        lines = self.heads[-1].decode("latin-1").split("\r\n")
        return lines[0], [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:]]

    def close(self):
        self._stop = True
        self.sock.close()


@pytest.fixture
def raw_backend():
    b = RawBackend()
    yield b
    b.close()


# ----------------------------------------------------------------- helpers

@pytest.fixture
def site(make_apache, raw_backend):
    parts = []
    for name, body in LOCATIONS.items():
        parts.append(f'ScriptAlias /{name}/env "{HTDOCS}/cgi/env.py"')
        parts.append(f"ProxyPass /{name}/raw http://127.0.0.1:{raw_backend.port}/{name}/raw")
        inner = "\n".join("    " + ln for ln in body.splitlines())
        parts.append(f"<Location /{name}>\n    AuthType oidc\n{inner}\n</Location>")
    parts.append(f"ProxyPass /protected/raw http://127.0.0.1:{raw_backend.port}/protected/raw")
    return make_apache("\n".join(parts), extra_modules=("proxy", "proxy_http"))


def session_for(site, op, user):
    """A browser logged in as user (through /protected, which every user may see)."""
    s = new_browser()
    rs = login(s, site.url("/protected/env"), user, f"{user}-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == user
    return s


def get(s, site, path, **kw):
    return s.get(site.url(path), allow_redirects=False, timeout=15, **kw)


def raw_request(port, path, header_lines):
    """GET with raw header lines: several headers whose names differ only in case or
    in '-' versus '_' (requests would merge them). Returns (status, body bytes)."""
    status, _, body = harness.raw_http(port, path, header_lines, timeout=15)
    return status, body


# ----------------------------------------------------------------- Require oidc-claim

def test_require_group_claim_is_403_for_a_user_without_it(site, op, expect_log):
    """bob lacks groups:admins: 403 with or without AuthzSendForbiddenOnFailure On (AH01631
    is logged at error level by httpd itself), a plain page, no login restart."""
    expect_log(r"AH01631: user bob: authorization failure for \"/admins", required=True)
    alice = session_for(site, op, "alice")
    bob = session_for(site, op, "bob")
    r = get(alice, site, "/admins/env")
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "alice"
    assert get(alice, site, "/admins403/env").status_code == 200
    r = get(bob, site, "/admins/env", headers=NAV)
    assert r.status_code == 403
    assert "Forbidden" in r.text and "WWW-Authenticate" not in r.headers
    assert "Location" not in r.headers, "an authorization failure must not restart the login"
    assert "bob@example.com" not in r.text
    r = get(bob, site, "/admins403/env", headers=NAV)
    assert r.status_code == 403
    assert "Location" not in r.headers


def test_require_email_claim_and_any_of_several(site, op, errlog, expect_log):
    expect_log(r"AH01631: user (alice|bob|carol): authorization failure", required=True)
    alice, bob, carol = (session_for(site, op, u) for u in ("alice", "bob", "carol"))
    assert get(bob, site, "/bobonly/env").json()["REMOTE_USER"] == "bob"
    assert get(alice, site, "/bobonly/env").status_code == 403
    assert get(carol, site, "/bobonly/env").status_code == 403
    # several NAME:VALUE pairs on one line: any one grants
    assert get(alice, site, "/anyof/env").status_code == 200      # groups:admins
    assert get(carol, site, "/anyof/env").status_code == 200      # email:carol@example.com
    assert get(bob, site, "/anyof/env").status_code == 403        # neither
    denials = errlog.search(r"AOIDC200: user '(alice|carol|bob)' lacks the claims")
    assert any("'bob'" in ln and "anyof" not in ln for ln in denials), denials


def test_require_all_valid_user_and_claim(site, op, browser, expect_log):
    expect_log(r"AH01631: user carol: authorization failure", required=True)
    alice, bob, carol = (session_for(site, op, u) for u in ("alice", "bob", "carol"))
    assert get(alice, site, "/all/env").status_code == 200
    assert get(bob, site, "/all/env").status_code == 200
    assert get(carol, site, "/all/env").status_code == 403          # groups: []
    # no session at all: the login starts, as for valid-user
    r = get(browser, site, "/all/env", headers=NAV)
    assert r.status_code == 302 and r.headers["Location"].startswith(op.issuer + "/auth?")


def test_non_ascii_claims_pass_and_match(site, op, raw_backend, expect_log):
    expect_log(r"AH01631: user alice: authorization failure for \"/unicode", required=True)
    dave = session_for(site, op, "dave")
    r = get(dave, site, "/protected/env")
    assert r.status_code == 200
    env = r.json()
    assert env["OIDC_CLAIM_name"] == "D\u00f6rte \u00d1\u00fa\u00f1ez \u65e5\u672c"
    assert env["OIDC_CLAIM_groups"] == "staff,\u00dcn\u00efcode group"
    assert env["HTTP_OIDC_CLAIM_NAME"] == "D\u00f6rte \u00d1\u00fa\u00f1ez \u65e5\u672c"
    assert env["OIDC_CLAIM_family_name"] == "\u00d1\u00fa\u00f1ez"
    assert get(dave, site, "/unicode/env").status_code == 200
    assert get(session_for(site, op, "alice"), site, "/unicode/env").status_code == 403
    # the raw bytes on the wire to a proxied backend are UTF-8
    assert get(dave, site, "/protected/raw").status_code == 200
    _, headers = raw_backend.last()
    assert ("OIDC-CLAIM-name", "D\u00f6rte \u00d1\u00fa\u00f1ez \u65e5\u672c".encode().decode("latin-1")) in headers


# ----------------------------------------------------------------- claims to the backend

def test_claims_reach_backend_as_env_and_headers(site, op):
    alice = session_for(site, op, "alice")
    env = get(alice, site, "/protected/env").json()
    assert env["REMOTE_USER"] == "alice"
    assert env["OIDC_CLAIM_sub"] == "alice"
    assert env["OIDC_CLAIM_email"] == "alice@example.com"
    assert env["HTTP_OIDC_CLAIM_EMAIL"] == "alice@example.com"
    assert env["OIDC_CLAIM_groups"] == "staff,admins"
    assert env["HTTP_OIDC_CLAIM_GROUPS"] == "staff,admins"
    assert env["OIDC_CLAIM_email_verified"] == "true"
    assert env["HTTP_OIDC_CLAIM_NAME"] == "Alice Liddell"
    # claims about the token, not the user, are not passed
    for c in ("iss", "aud", "exp", "iat", "nonce", "at_hash", "sid", "auth_time"):
        assert f"OIDC_CLAIM_{c}" not in env and f"HTTP_OIDC_CLAIM_{c.upper()}" not in env, c


def test_pass_claims_as_each_mode(site, op):
    alice = session_for(site, op, "alice")
    hdr = get(alice, site, "/hdr/env").json()
    assert hdr["REMOTE_USER"] == "alice"
    assert hdr["HTTP_OIDC_CLAIM_EMAIL"] == "alice@example.com"
    assert not [k for k in hdr if k.startswith("OIDC_")], hdr
    env = get(alice, site, "/envonly/env").json()
    assert env["REMOTE_USER"] == "alice"
    assert env["OIDC_CLAIM_email"] == "alice@example.com"
    assert not [k for k in env if k.startswith("HTTP_OIDC")], env
    none = get(alice, site, "/none/env").json()
    assert none["REMOTE_USER"] == "alice"
    assert not [k for k in none if "OIDC" in k and not k.startswith("AUTH_OIDC")], none


def test_claim_prefix_changes_names(site, op):
    alice = session_for(site, op, "alice")
    env = get(alice, site, "/prefix/env").json()
    assert env["HTTP_X_USER_EMAIL"] == "alice@example.com"
    assert env["HTTP_X_ENV_EMAIL"] == "alice@example.com"        # the X_USER_email variable
    assert env.get("HTTP_X_ENV_OLD", "") in ("", "(null)")       # no OIDC_CLAIM_email variable
    assert not [k for k in env if k.startswith(("OIDC_", "HTTP_OIDC"))], env


def test_remote_user_claim_email(site, op):
    alice = session_for(site, op, "alice")
    env = get(alice, site, "/ruemail/env").json()
    assert env["REMOTE_USER"] == "alice@example.com"
    assert env["OIDC_CLAIM_sub"] == "alice"
    # the access log line is written after the response went out
    deadline = time.monotonic() + 3
    while not any(" alice@example.com [" in ln and "/ruemail/env" in ln for ln in site.access_log_lines()):
        assert time.monotonic() < deadline, "REMOTE_USER is not the email in the access log"
        time.sleep(0.05)


def test_remote_user_claim_missing_is_403(site, op, expect_log):
    expect_log(r"\[auth_oidc:error\].*AOIDC308: session has no claim 'employee_id'", required=True)
    alice = session_for(site, op, "alice")
    r = get(alice, site, "/rumissing/env", headers=NAV)
    assert r.status_code == 403
    assert "Location" not in r.headers
    assert "alice" not in r.text
    # the session itself is fine elsewhere
    assert get(alice, site, "/protected/env").status_code == 200


# ----------------------------------------------------------------- spoofing, cookies, injection

SPOOF = ["OIDC_CLAIM_email: SPOOF1@evil.test", "OIDC-CLAIM-email: SPOOF2@evil.test",
         "oidc_claim_EMAIL: SPOOF3@evil.test", "OIDC-CLAIM-role: SPOOF4", "Oidc-Claim-Groups: admins,SPOOF5",
         "OIDC_CLAIM_sub: SPOOF6"]


def test_client_claim_headers_never_reach_backend(site, op, raw_backend, errlog, expect_log):
    """Client-sent headers named like our claims are removed on a protected location
    (any PassClaimsAs mode), on a pass-through location and on `Require all granted`."""
    expect_log(r"\[auth_oidc:warn\].*AOIDC100: removed client header", required=True)
    alice = session_for(site, op, "alice")
    cookie = f"Cookie: {SESSION}={alice.cookies.get(SESSION)}"
    cases = [
        ("/protected", [cookie], "alice"),
        ("/envonly", [cookie], "alice"),
        ("/none", [cookie], "alice"),
        ("/pass", [], ""),
        ("/pass", [cookie], "alice"),
        ("/open", [], None),
        ("/open", [cookie], None),
    ]
    for loc, extra, user in cases:
        status, body = raw_request(site.port, loc + "/raw", SPOOF + extra)
        assert status == 200, (loc, status)
        head = raw_backend.heads[-1].decode("latin-1")
        assert "SPOOF" not in head, (loc, head)
        status, body = raw_request(site.port, loc + "/env", SPOOF + extra)
        assert status == 200, (loc, status)
        assert b"SPOOF" not in body, (loc, body)
        env = json.loads(body)
        if user is not None:
            assert env.get("REMOTE_USER", "") == user, (loc, env)
    # the real claims still arrive where they should
    status, _ = raw_request(site.port, "/protected/raw", SPOOF + [cookie])
    _, headers = raw_backend.last()
    assert ("OIDC-CLAIM-email", "alice@example.com") in headers
    assert len(errlog.search(r"AOIDC100: removed client header")) >= len(SPOOF) * len(cases)


def test_our_cookies_never_reach_backend(site, op, raw_backend):
    alice = session_for(site, op, "alice")
    sid = alice.cookies.get(SESSION)
    jar = f"theme=dark; {SESSION}={sid}; aoidc_state_0123456789abcdef=xyz; zz=1"
    for loc in ("/protected", "/pass", "/open"):
        r = new_browser().get(site.url(loc + "/env"), headers={"Cookie": jar}, allow_redirects=False)
        assert r.status_code == 200, loc
        assert r.json().get("HTTP_COOKIE") == "theme=dark; zz=1", (loc, r.json().get("HTTP_COOKIE"))
        r = new_browser().get(site.url(loc + "/raw"), headers={"Cookie": jar}, allow_redirects=False)
        assert r.status_code == 200, loc
        cookies = [v for n, v in raw_backend.last()[1] if n.lower() == "cookie"]
        assert cookies == ["theme=dark; zz=1"], (loc, cookies)
    # without a session (pass-through): the state cookie is still ours and still stripped
    r = new_browser().get(site.url("/pass/env"), headers={"Cookie": "a=1; aoidc_state_0123456789abcdef=xyz"})
    assert r.json().get("HTTP_COOKIE") == "a=1"
    # only our cookies: no Cookie header at all
    r = new_browser().get(site.url("/protected/env"), headers={"Cookie": f"{SESSION}={sid}"})
    assert "HTTP_COOKIE" not in r.json()


def test_crlf_in_claims_cannot_inject_headers(site, op, raw_backend):
    op.config(claims={"alice": {"name": "Alice\r\nX-Injected: evil", "family_name": "L\nX-Injected2: evil",
                                "given_name": "A\rX-Injected3: evil"}})
    alice = session_for(site, op, "alice")
    env = get(alice, site, "/protected/env").json()
    for k in env:
        assert not k.startswith("HTTP_X_INJECTED"), k
    for k in ("HTTP_OIDC_CLAIM_NAME", "HTTP_OIDC_CLAIM_FAMILY_NAME", "HTTP_OIDC_CLAIM_GIVEN_NAME"):
        assert "\r" not in env[k] and "\n" not in env[k], (k, env[k])
        assert "X-Injected" in env[k]           # the text is kept, the line break is not
    assert get(alice, site, "/protected/raw").status_code == 200
    head = raw_backend.heads[-1]
    lines = head.split(b"\r\n")
    assert not [ln for ln in lines if ln.lower().startswith(b"x-injected")], head
    assert b"\n" not in head.replace(b"\r\n", b""), head
    assert b"\r" not in head.replace(b"\r\n", b""), head
