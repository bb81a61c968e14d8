"""TLS to the provider (private CA, AuthOIDCCAFile, wrong host name), the provider-call
timeout (AuthOIDCHTTPTimeout) and ID token signature algorithms (ES256,
AuthOIDCIDTokenAlgorithms).

The HTTPS OP is tests/op/server.mjs started with --tls-cert/--tls-key; its certificates
come from a throw-away CA made here with the openssl CLI."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

import harness
from harness import OP, login

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


# ----------------------------------------------------------------- a throw-away PKI

def _openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")


def _server_cert(d: Path, name: str, san: str) -> tuple[Path, Path]:
    """A cert for san (e.g. 'DNS:localhost,IP:127.0.0.1') signed by d/ca.pem."""
    key, csr, crt, ext = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem", d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}", cwd=d)
    _openssl("x509", "-req", "-in", str(csr), "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-sha256", "-extfile", str(ext), "-out", str(crt), cwd=d)
    return crt, key


@pytest.fixture(scope="module")
def pki(bench_dir) -> dict[str, Path]:
    """ca.pem (a private root), localhost.pem (SAN DNS:localhost, IP:127.0.0.1, IP:::1)
    and wrongname.pem (SAN DNS:wrong-name.example.test), both signed by it."""
    d = bench_dir / "pki-test25"
    d.mkdir(exist_ok=True)
    d.chmod(0o755)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=aoidc e2e throw-away CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=d)
    good = _server_cert(d, "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1")
    wrong = _server_cert(d, "wrongname", "DNS:wrong-name.example.test")
    for f in d.iterdir():
        f.chmod(0o644)     # Apache children (www-data) read ca.pem
    return {"ca": d / "ca.pem", "good": good, "wrong": wrong}


@pytest.fixture(scope="module")
def tls_op(bench_dir, pki):
    """The dev OP over HTTPS with the localhost certificate (issuer https://localhost:P)."""
    op = OP(bench_dir, tls=pki["good"], ca_file=pki["ca"]).start()
    yield op
    op.stop()


@pytest.fixture
def https_op(tls_op):
    tls_op.reset()
    return tls_op


def tls_browser(ca: Path):
    s = harness.new_browser()
    s.verify = str(ca)
    return s


# ----------------------------------------------------------------- TLS

def test_tls_op_serves_https_only_for_its_ca(https_op, pki):
    """The bench itself: the OP speaks TLS with the private CA's certificate."""
    assert https_op.issuer.startswith("https://localhost:")
    assert https_op.discovery()["issuer"] == https_op.issuer
    assert https_op.discovery()["token_endpoint"].startswith("https://localhost:")
    import requests
    with pytest.raises(requests.exceptions.SSLError):
        harness.new_browser().get(https_op.url("/.well-known/openid-configuration"), timeout=5)


def test_login_over_tls_with_ca_file(make_apache, https_op, pki):
    apache = make_apache(oidc={"issuer": https_op.issuer, "extra": f"AuthOIDCCAFile {pki['ca']}"})
    s = tls_browser(pki["ca"])
    hops = login(s, apache.url("/protected/env"), "alice", "alice-pw", op=https_op)
    assert hops[0].status_code == 302
    assert hops[0].headers["Location"].startswith(https_op.issuer + "/auth?")
    assert hops[-1].status_code == 200, harness.hops(hops)
    assert hops[-1].json()["REMOTE_USER"] == "alice"
    st = https_op.stats()
    # discovery, keys and the code exchange all went over TLS to this OP
    assert st["discovery"] >= 1 and st["jwks"] >= 1 and st["token"] == 1
    assert s.get(apache.url("/protected/"), allow_redirects=False, timeout=10).status_code == 200


def _assert_provider_down(apache, errlog):
    t0 = time.monotonic()
    r = harness.new_browser().get(apache.url("/protected/"), allow_redirects=False, timeout=30)
    assert r.status_code == 502, (r.status_code, r.headers, r.text[:300])
    assert "Location" not in r.headers
    assert time.monotonic() - t0 < 10
    # never a crash: the server still answers, public and protected alike
    assert apache.running()
    assert harness.new_browser().get(apache.url("/"), timeout=10).status_code == 200
    r2 = harness.new_browser().get(apache.url("/protected/"), allow_redirects=False, timeout=30)
    assert r2.status_code == 502
    assert apache.running()


def test_tls_without_ca_file_fails_cleanly(make_apache, https_op, errlog, expect_log):
    """System CAs do not know the private CA: 502 and a logged certificate error."""
    expect_log(r"\[auth_oidc:error\].*AOIDC401.*provider main: request to https://localhost:\d+/"
               r"\.well-known/openid-configuration failed: .*(certificate|SSL)", required=True)
    apache = make_apache(oidc={"issuer": https_op.issuer})
    _assert_provider_down(apache, errlog)
    assert https_op.stats()["discovery"] == 0       # the TLS handshake never completed
    assert errlog.search(r"AOIDC401.*(self.signed|local issuer|unable to get|certificate verify)")


def test_tls_ca_file_but_wrong_host_name(make_apache, bench_dir, pki, errlog, expect_log):
    """The certificate chains to the configured CA but names another host: refused."""
    expect_log(r"\[auth_oidc:error\].*AOIDC401.*request to https://localhost:\d+/.* failed: ", required=True)
    op = OP(bench_dir, tls=pki["wrong"], ca_file=pki["ca"]).start()
    try:
        apache = make_apache(oidc={"issuer": op.issuer, "extra": f"AuthOIDCCAFile {pki['ca']}"})
        _assert_provider_down(apache, errlog)
        assert errlog.search(r"AOIDC401.*(subject name|does not match|alternative certificate|hostname)")
        # the OP itself is up (reached here without the name check) and never got
        # a request: the module stopped at the handshake
        op.verify = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert op.stats()["discovery"] == 0
    finally:
        op.stop()


def test_tls_other_ca_in_ca_file(make_apache, https_op, bench_dir, pki, errlog, expect_log):
    """AuthOIDCCAFile replaces the trust store: a CA file with an unrelated CA refuses
    the OP's certificate."""
    expect_log(r"\[auth_oidc:error\].*AOIDC401.*failed: .*(certificate|SSL)", required=True)
    other = bench_dir / "pki-test25-other"
    other.mkdir(exist_ok=True)
    other.chmod(0o755)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=unrelated CA", cwd=other)
    (other / "ca.pem").chmod(0o644)
    apache = make_apache(oidc={"issuer": https_op.issuer, "extra": f"AuthOIDCCAFile {other / 'ca.pem'}"})
    _assert_provider_down(apache, errlog)


# ----------------------------------------------------------------- timeouts

class _SilentListener:
    """Accepts TCP connections on 127.0.0.1 and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.accepted = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.conns.append(c)

    def close(self):
        self._stop = True
        self.thread.join(timeout=2)
        for c in self.conns:
            c.close()
        self.sock.close()


def test_http_timeout_silent_issuer(make_apache, errlog, expect_log):
    """AuthOIDCHTTPTimeout 1 against an issuer that accepts and never answers: 502
    after about a second, not a hang."""
    expect_log(r"\[auth_oidc:error\].*AOIDC401.*request to http://127\.0\.0\.1:\d+/\.well-known/"
               r"openid-configuration failed: .*(timed out|Timeout)", required=True)
    silent = _SilentListener()
    try:
        apache = make_apache(oidc={"issuer": f"http://127.0.0.1:{silent.port}",
                                   "extra": "AuthOIDCHTTPTimeout 1"})
        t0 = time.monotonic()
        r = harness.new_browser().get(apache.url("/protected/"), allow_redirects=False, timeout=30)
        elapsed = time.monotonic() - t0
        assert r.status_code == 502, (r.status_code, r.text[:300])
        assert 0.8 <= elapsed < 10, elapsed      # it did wait for the provider, and gave up
        assert silent.accepted >= 1
        assert apache.running()
        assert harness.new_browser().get(apache.url("/"), timeout=10).status_code == 200
    finally:
        silent.close()


class _HangingTokenOP:
    """A fake provider: discovery and JWKS answer at once, the token endpoint never does
    (it holds the request until close())."""

    def __init__(self, jwks: dict):
        self.release = threading.Event()
        self.token_calls = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _json(self, obj):
                body = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    self._json({"issuer": outer.issuer, "authorization_endpoint": outer.issuer + "/auth",
                                "token_endpoint": outer.issuer + "/token", "jwks_uri": outer.issuer + "/jwks",
                                "response_types_supported": ["code"],
                                "code_challenge_methods_supported": ["S256"]})
                elif self.path == "/jwks":
                    self._json(jwks)
                else:
                    self.send_error(404)

            def do_POST(self):
                if self.path == "/token":
                    outer.token_calls += 1
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    outer.release.wait(30)
                    return
                self.send_error(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_http_timeout_token_endpoint(make_apache, op, errlog, expect_log):
    """The code exchange itself times out: the callback answers 502 within the bound."""
    expect_log(r"\[auth_oidc:error\].*AOIDC431.*code exchange with main failed: request to "
               r"http://127\.0\.0\.1:\d+/token failed: .*(timed out|Timeout)", required=True)
    fake = _HangingTokenOP(op.jwks())
    try:
        apache = make_apache(oidc={"issuer": fake.issuer, "extra": "AuthOIDCHTTPTimeout 1"})
        s = harness.new_browser()
        r = s.get(apache.url("/protected/"), allow_redirects=False, timeout=30)
        assert r.status_code == 302 and r.headers["Location"].startswith(fake.issuer + "/auth?")
        state = parse_qs(urlsplit(r.headers["Location"]).query)["state"][0]
        t0 = time.monotonic()
        cb = s.get(apache.url(f"/oidc/callback?code=some-code&state={state}"), allow_redirects=False,
                   timeout=30)
        elapsed = time.monotonic() - t0
        assert cb.status_code == 502, (cb.status_code, cb.text[:300])
        assert 0.8 <= elapsed < 10, elapsed
        assert fake.token_calls == 1
        assert apache.running()
    finally:
        fake.close()


# ----------------------------------------------------------------- ID token algorithms

def _es256(extra: str = "") -> dict:
    return {"client_id": "app-es256", "client_secret_file": str(OP.secret_file("app-es256")),
            "provider_extra": extra}


def test_es256_id_token_login(make_apache, op, browser):
    apache = make_apache(oidc=_es256())
    hops = login(browser, apache.url("/protected/env"), "alice", "alice-pw", op=op)
    assert hops[-1].status_code == 200, harness.hops(hops)
    env = hops[-1].json()
    assert env["REMOTE_USER"] == "alice"
    assert env.get("OIDC_CLAIM_email") == "alice@example.com"
    assert op.stats()["token"] == 1
    # the OP really signs this client's ID tokens with ES256 (its discovery says it can)
    assert "ES256" in op.discovery()["id_token_signing_alg_values_supported"]


def test_es256_refused_when_only_rs256_allowed(make_apache, op, browser, expect_log):
    expect_log(r"\[auth_oidc:error\].*AOIDC410.*ID token from main rejected: bad-alg", required=True)
    apache = make_apache(oidc=_es256("AuthOIDCIDTokenAlgorithms RS256"))
    hops = login(browser, apache.url("/protected/env"), "alice", "alice-pw", op=op)
    assert hops[-1].status_code == 401, harness.hops(hops)
    assert hops[-1].request.url.startswith(apache.url("/oidc/callback?"))
    assert op.stats()["token"] == 1
    # no session: the next request goes to the OP again
    r = browser.get(apache.url("/protected/"), allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"].startswith(op.issuer + "/auth?")


def test_rs256_still_accepted_with_rs256_only(make_apache, op, browser):
    """Control for the test above: the restriction refuses ES256, not every login."""
    apache = make_apache(oidc={"provider_extra": "AuthOIDCIDTokenAlgorithms RS256"})
    hops = login(browser, apache.url("/protected/env"), "alice", "alice-pw", op=op)
    assert hops[-1].status_code == 200 and hops[-1].json()["REMOTE_USER"] == "alice"


def test_es256_only_refuses_rs256(make_apache, op, browser, expect_log):
    """And the other way round: ES256 only, an RS256-signing client is refused."""
    expect_log(r"\[auth_oidc:error\].*AOIDC410.*ID token from main rejected: bad-alg", required=True)
    apache = make_apache(oidc={"provider_extra": "AuthOIDCIDTokenAlgorithms ES256"})
    hops = login(browser, apache.url("/protected/env"), "alice", "alice-pw", op=op)
    assert hops[-1].status_code == 401, harness.hops(hops)
