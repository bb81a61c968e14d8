"""oidc-console serve over TLS (tls_cert/tls_key): HTTPS verified against a throwaway
self-signed certificate, no plain HTTP on that port, a Secure cookie, HSTS, an https
origin check; and unusable certificate/key files stop check-config and serve with exit
code 2 and a message naming the setting."""
from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import requests

import harness
from harness import login, new_browser
from test_85_console import ADMIN, ADMIN_PW, CONSOLE_BIN, Console, _need_console
from test_85_console import console  # noqa: F401  (fixture)

# console revocations are checked at once here; their bound with the session cache: test_99
pytestmark = pytest.mark.strict_sessions


def make_cert(d: Path, cn: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1 and localhost, valid one day."""
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not installed")
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / "tls.crt", d / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    key.chmod(0o600)
    return cert, key


@pytest.fixture
def tls_files(tmp_path):
    return make_cert(tmp_path / "tls")


@pytest.fixture
def tls_console(tmp_path, memcached, crypto_key, tls_files):
    cert, key = tls_files
    c = Console(tmp_path / "console", memcached, crypto_key, tls_cert=cert, tls_key=key)
    c.base = f"https://127.0.0.1:{c.port}"
    c.cert = cert
    yield c
    c.stop()


def https(console) -> requests.Session:
    s = new_browser()
    s.verify = str(console.cert)
    return s


def set_cookie_attrs(header: str) -> set[str]:
    return {a.strip().split("=", 1)[0].lower() for a in header.split(";")[1:]}


# ----------------------------------------------------------------- serving TLS

def test_https_login_and_sessions_with_secure_cookie_and_hsts(tls_console, make_apache, op):
    node = make_apache(oidc={"extra": "AuthOIDCNodeName node-tls"})
    alice = new_browser()
    hops = login(alice, node.url("/protected/env"), "alice", "alice-pw", op=op)
    assert hops[-1].status_code == 200, harness.hops(hops)

    console = tls_console
    console.serve()
    s = https(console)
    r = s.get(console.url("/login"), timeout=10)
    assert r.status_code == 200 and r.url.startswith("https://")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(r.headers["Strict-Transport-Security"].split("=", 1)[1].split(";")[0]) >= 86400

    s, r = console.api_login(s)
    assert r.status_code == 200, r.text
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("oidc_console=")
    assert {"secure", "httponly", "samesite"} <= set_cookie_attrs(cookie), cookie
    assert "SameSite=Strict" in cookie
    assert "Strict-Transport-Security" in r.headers

    r = s.get(console.url("/api/sessions"), timeout=10)
    assert r.status_code == 200, r.text
    assert "Strict-Transport-Security" in r.headers
    listing = r.json()
    assert [x["sub"] for x in listing["sessions"]] == ["alice"]
    assert listing["sessions"][0]["node"] == "node-tls"
    page = s.get(console.url("/sessions"), timeout=10)
    assert page.status_code == 200 and "alice@example.com" in page.text
    assert "Strict-Transport-Security" in page.headers

    # the HTML form login sets a Secure cookie too
    r = https(console).post(console.url("/login"), data={"user": ADMIN, "password": ADMIN_PW},
                            allow_redirects=False, timeout=10)
    assert r.status_code == 303
    assert "secure" in set_cookie_attrs(r.headers["Set-Cookie"]), r.headers["Set-Cookie"]

    # a state change over HTTPS: the same-origin check expects the https origin
    handle = listing["sessions"][0]["handle"]
    csrf = s.get(console.url("/api/whoami"), timeout=10).json()["csrf_token"]
    revoke = console.url(f"/api/sessions/{handle}/revoke")
    for origin in (f"http://127.0.0.1:{console.port}", "https://evil.example"):
        r = s.post(revoke, headers={"X-CSRF-Token": csrf, "Origin": origin}, timeout=10)
        assert r.status_code == 403, (origin, r.status_code)
    assert alice.get(node.url("/protected/env"), allow_redirects=False, timeout=10).status_code == 200
    r = s.post(revoke, headers={"X-CSRF-Token": csrf, "Origin": console.base, "Sec-Fetch-Site": "same-origin"},
               timeout=10)
    assert r.status_code == 200 and r.json()["revoked"] == 1, r.text
    assert alice.get(node.url("/protected/env"), allow_redirects=False, timeout=10).status_code != 200


def test_certificate_served_is_the_configured_one(tls_console, tmp_path):
    console = tls_console.serve()
    pem = ssl.get_server_certificate(("127.0.0.1", console.port))
    assert ssl.PEM_cert_to_DER_cert(pem) == ssl.PEM_cert_to_DER_cert(console.cert.read_text())
    # verified against that certificate (hostname 127.0.0.1 in the SAN): fine
    assert https(console).get(console.url("/login"), timeout=10).status_code == 200
    # verified against another certificate (or the system CAs): the handshake fails
    other, _ = make_cert(tmp_path / "other")
    for verify in (str(other), True):
        s = new_browser()
        s.verify = verify
        with pytest.raises(requests.exceptions.SSLError):
            s.get(console.url("/login"), timeout=10)


def test_plain_http_on_the_tls_port_fails(tls_console):
    console = tls_console.serve()
    plain = f"http://127.0.0.1:{console.port}"
    for path in ("/login", "/api/sessions"):
        try:
            r = new_browser().get(plain + path, allow_redirects=False, timeout=10)
        except requests.exceptions.RequestException:
            continue                      # connection closed/reset: what we expect
        # any answer in clear text must not be a page of the console
        assert r.status_code >= 400 and "oidc_console" not in r.headers.get("Set-Cookie", ""), \
            (path, r.status_code, r.text[:200])
    # a clear-text login attempt never yields a cookie
    try:
        r = new_browser().post(plain + "/api/login", json={"user": ADMIN, "password": ADMIN_PW},
                               allow_redirects=False, timeout=10)
        assert r.status_code >= 400 and "Set-Cookie" not in r.headers
    except requests.exceptions.RequestException:
        pass
    # raw: a clear-text request gets no HTTP answer
    with socket.create_connection(("127.0.0.1", console.port), timeout=5) as sock:
        sock.sendall(f"GET /login HTTP/1.1\r\nHost: 127.0.0.1:{console.port}\r\nConnection: close\r\n\r\n".encode())
        try:
            data = sock.recv(200)
        except (socket.timeout, ConnectionResetError):
            data = b""
    assert not data.startswith(b"HTTP/1.1 200") and not data.startswith(b"HTTP/1.0 200"), data
    # and the console still serves HTTPS afterwards
    assert console.alive()
    assert https(console).get(console.url("/login"), timeout=10).status_code == 200


def test_plain_console_sends_no_hsts(console):
    """Without a certificate: plain HTTP, no HSTS, no Secure cookie (the contrast case)."""
    console.serve()
    s, r = console.api_login()
    assert r.status_code == 200
    assert "Strict-Transport-Security" not in r.headers
    assert "secure" not in set_cookie_attrs(r.headers["Set-Cookie"])


# ----------------------------------------------------------------- unusable files

def run_console(conf: Path, *args: str, timeout: float = 15, split: bool = False):
    """Run the console -> (rc, stdout + stderr), or (rc, stdout, stderr) with split.
    A serve that starts anyway is killed at the timeout (rc None)."""
    try:
        r = subprocess.run([CONSOLE_BIN, "--config", str(conf), *args], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = None, (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(errors="replace")
    return (rc, out, err) if split else (rc, out + err)


def bad_files(tmp_path: Path, cert: Path, key: Path) -> dict[str, tuple[str, Path]]:
    """case -> (the setting it breaks, the path given for that setting)."""
    d = tmp_path / "bad"
    d.mkdir()
    empty = d / "empty.pem"
    empty.write_text("")
    garbage = d / "garbage.pem"
    garbage.write_text("this is not a PEM file\n")
    unreadable = d / "unreadable.pem"
    shutil.copy(cert, unreadable)
    unreadable.chmod(0o000)
    cases = {
        "cert-missing": ("tls_cert", d / "no-such.crt"),
        "key-missing": ("tls_key", d / "no-such.key"),
        "cert-directory": ("tls_cert", d),
        "key-directory": ("tls_key", d),
        "cert-empty": ("tls_cert", empty),
        "key-empty": ("tls_key", empty),
        "cert-garbage": ("tls_cert", garbage),
        "key-garbage": ("tls_key", garbage),
    }
    if os.geteuid() != 0:               # root reads a mode 000 file anyway
        cases["cert-mode-000"] = ("tls_cert", unreadable)
        cases["key-mode-000"] = ("tls_key", unreadable)
    return cases


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_unusable_certificate_or_key_is_a_config_error(tmp_path, memcached, crypto_key, tls_files, command):
    _need_console()
    cert, key = tls_files
    for case, (setting, path) in bad_files(tmp_path, cert, key).items():
        c = Console(tmp_path / f"c-{case}", memcached, crypto_key,
                    tls_cert=path if setting == "tls_cert" else cert,
                    tls_key=path if setting == "tls_key" else key)
        for json_out in (False, True):
            args = (["--json"] if json_out else []) + [command]
            rc, out, err = run_console(c.conf, *args, split=True)
            assert rc == 2, (case, args, rc, out, err)
            assert setting in err and str(path) in err, (case, args, err)
            assert "READY" not in out, (case, out)
            if json_out:
                assert setting in json.loads(out)["error"], (case, out)
        assert not harness.port_open(c.port), case


def test_good_files_pass_check_config(tmp_path, memcached, crypto_key, tls_files):
    _need_console()
    cert, key = tls_files
    c = Console(tmp_path / "ok", memcached, crypto_key, tls_cert=cert, tls_key=key)
    rc, out = run_console(c.conf, "check-config")
    assert rc == 0, out
    # half a pair is refused, naming both settings
    half = Console(tmp_path / "half", memcached, crypto_key, tls_cert=cert)
    for cmd in ("check-config", "serve"):
        rc, out = run_console(half.conf, cmd)
        assert rc == 2 and "tls_cert" in out and "tls_key" in out, (cmd, rc, out)


def test_key_of_another_certificate_stops_serve(tmp_path, memcached, crypto_key, tls_files):
    """A readable pair that does not belong together passes check-config (it only reads
    the files) but serve refuses to start (documented: exit code 5, the TLS library's
    reason on stderr) and never listens."""
    _need_console()
    cert, _ = tls_files
    _, other_key = make_cert(tmp_path / "other")
    c = Console(tmp_path / "mismatch", memcached, crypto_key, tls_cert=cert, tls_key=other_key)
    rc, out, err = run_console(c.conf, "serve", split=True)
    assert rc == 5, (rc, out, err)
    assert "READY" not in out and "TLS" in err, err
    assert not harness.port_open(c.port)
