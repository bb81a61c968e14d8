"""Self-test of the e2e bench: memcached, the dev OP (acting as the RP from Python) and a
private Apache without mod_auth_oidc. None of this needs the module to be built."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

import harness
from harness import LoginError, LogWatch, decode_jwt, op_login_only, pkce_pair

jwt = pytest.importorskip("jwt")  # python3-jwt, used to verify what the OP signs


# ----------------------------------------------------------------- (a) memcached

def test_memcached_stats_and_restart(memcached):
    st = memcached.stats()
    assert int(st["pid"]) == memcached.pid
    assert st["limit_maxbytes"] == str(64 * 1024 * 1024)
    assert memcached.command("set k1 0 0 2\r\nhi", end=(b"STORED\r\n",)) == "STORED\r\n"
    assert memcached.get("k1") == b"hi"
    # the keys, not curr_items: flush_all drops items lazily, so curr_items still counts
    # what earlier tests left when this file does not run first
    assert memcached.keys() == ["k1"]
    port = memcached.port
    memcached.stop()
    assert not harness.port_open(port)
    memcached.start()
    assert memcached.port == port and memcached.get("k1") is None


def test_memcached_is_flushed_between_tests(memcached):
    assert memcached.get("k1") is None
    assert memcached.keys() == []


# ----------------------------------------------------------------- (b) the OP's metadata

def test_op_discovery_and_jwks(op):
    d = op.discovery()
    assert d["issuer"] == op.issuer
    for ep in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
               "end_session_endpoint", "introspection_endpoint", "revocation_endpoint"):
        assert d[ep].startswith(op.issuer + "/"), ep
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert d["backchannel_logout_supported"] is True
    assert d["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "email", "profile", "groups", "offline_access"} <= set(d["scopes_supported"])
    keys = op.jwks()["keys"]
    assert [(k["kid"], k["kty"]) for k in keys] == [("rsa-a", "RSA"), ("ec-a", "EC")]
    assert all("d" not in k for k in keys), "private parts must not be published"
    st = op.stats()
    assert st["discovery"] == 1 and st["jwks"] == 1 and st["token"] == 0


# ----------------------------------------------------------------- (c) code flow, Python as the RP

REDIRECT_PATH = "/oidc/callback"


class PyRP:
    """Just enough of a relying party to drive the OP: authorization URL, callback parsing,
    token exchange. The redirect URI is a free loopback port where nothing listens."""

    def __init__(self, op, browser, client_id="app", auth="basic"):
        self.op, self.browser, self.client_id, self.auth = op, browser, client_id, auth
        self.redirect_uri = f"http://127.0.0.1:{harness.free_port()}{REDIRECT_PATH}"
        self.secret = op.secret(client_id)

    def authorize_url(self, scope="openid email profile groups", **extra):
        self.state, self.nonce = harness.b64url(b"s" * 8 + time.time_ns().to_bytes(8, "big")), "n-" + str(time.time_ns())
        self.verifier, challenge = pkce_pair()
        q = dict(client_id=self.client_id, response_type="code", scope=scope, redirect_uri=self.redirect_uri,
                 state=self.state, nonce=self.nonce, code_challenge=challenge, code_challenge_method="S256")
        q.update(extra)
        return self.op.url("/auth?" + urlencode({k: v for k, v in q.items() if v is not None}))

    def login(self, user, password, **extra) -> dict:
        cb = op_login_only(self.browser, self.authorize_url(**extra), user, password, op=self.op)
        assert cb.startswith(self.redirect_uri + "?"), cb
        return {k: v[0] for k, v in parse_qs(urlsplit(cb).query).items()}

    def token(self, **form):
        kw = {}
        if self.auth == "basic":
            kw["auth"] = (self.client_id, self.secret)
        else:
            form.update(client_id=self.client_id, client_secret=self.secret)
        return harness.new_browser().post(self.op.url("/token"), data=form, timeout=10, **kw)

    def exchange(self, params) -> dict:
        assert params["state"] == self.state and params["iss"] == self.op.issuer
        r = self.token(grant_type="authorization_code", code=params["code"], redirect_uri=self.redirect_uri,
                       code_verifier=self.verifier)
        assert r.status_code == 200, r.text
        return r.json()


def verify_id_token(op, rp, id_token):
    return harness.verify_jwt(id_token, op.jwks(), audience=rp.client_id, issuer=op.issuer)


def test_code_flow_with_pkce(op, browser):
    rp = PyRP(op, browser)
    tokens = rp.exchange(rp.login("alice", "alice-pw"))
    claims = verify_id_token(op, rp, tokens["id_token"])
    header = decode_jwt(tokens["id_token"])[0]
    assert header["alg"] == "RS256" and header["kid"] == "rsa-a"
    assert claims["sub"] == "alice" and claims["nonce"] == rp.nonce
    assert claims["email"] == "alice@example.com" and claims["name"] == "Alice Liddell"
    assert claims["groups"] == ["staff", "admins"] and "sid" in claims
    assert "refresh_token" not in tokens
    ui = harness.new_browser().get(op.url("/me"), headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert ui.status_code == 200 and ui.json()["groups"] == ["staff", "admins"]
    # the OP session is kept: a second authorization needs no password
    tokens2 = rp.exchange(rp.login(None, None))
    assert verify_id_token(op, rp, tokens2["id_token"])["sub"] == "alice"
    st = op.stats()
    assert st["token"] == 2 and st["userinfo"] == 1 and st["authorization"] >= 2


def test_wrong_password_and_unknown_user_fail(op, browser):
    rp = PyRP(op, browser)
    with pytest.raises(LoginError) as e:
        rp.login("alice", "bob-pw")
    assert e.value.responses[-1].status_code == 401
    with pytest.raises(LoginError):
        PyRP(op, harness.new_browser()).login("mallory", "x")
    assert op.stats()["login_failed"] == 2


def test_pkce_and_redirect_uri_enforced(op, browser):
    rp = PyRP(op, browser)
    r = browser.get(rp.authorize_url(code_challenge=None, code_challenge_method=None), allow_redirects=False)
    assert r.status_code == 303 and "error=invalid_request" in r.headers["Location"]
    r = browser.get(rp.authorize_url(redirect_uri="http://127.0.0.1:1/elsewhere"), allow_redirects=False)
    assert r.status_code == 400 and "redirect_uri did not match" in r.text
    r = browser.get(rp.authorize_url(redirect_uri="http://evil.example/oidc/callback"), allow_redirects=False)
    assert r.status_code == 400
    # a code is bound to its verifier
    params = rp.login("bob", "bob-pw")
    r = rp.token(grant_type="authorization_code", code=params["code"], redirect_uri=rp.redirect_uri,
                 code_verifier=pkce_pair()[0])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_client_secret_post_and_es256_clients(op, browser):
    rp = PyRP(op, browser, client_id="app-post", auth="post")
    assert verify_id_token(op, rp, rp.exchange(rp.login("carol", "carol-pw"))["id_token"])["groups"] == []
    rp = PyRP(op, harness.new_browser(), client_id="app-es256")
    tok = rp.exchange(rp.login("bob", "bob-pw"))["id_token"]
    assert decode_jwt(tok)[0]["alg"] == "ES256"
    assert verify_id_token(op, rp, tok)["sub"] == "bob"


MUTATION_CHECKS = {
    "bad_sig": lambda h, p, ok: not ok and h["alg"] == "RS256",
    "wrong_nonce": lambda h, p, ok: ok and p["nonce"] == "not-the-nonce-you-sent",
    "wrong_aud": lambda h, p, ok: p["aud"] == "some-other-client",
    "wrong_iss": lambda h, p, ok: p["iss"] == "http://evil.example.test",
    "expired": lambda h, p, ok: not ok and p["exp"] < time.time(),
    "missing_sub": lambda h, p, ok: "sub" not in p,
    "alg_none": lambda h, p, ok: h["alg"] == "none",
    "hs256_pubkey": lambda h, p, ok: h["alg"] == "HS256" and h["kid"] == "rsa-a",
    "hs256_client_secret": lambda h, p, ok: h["alg"] == "HS256" and "kid" not in h,
    "unknown_kid": lambda h, p, ok: h["kid"] == "rogue",
}


@pytest.mark.parametrize("mode", sorted(MUTATION_CHECKS))
def test_mutate_next_id_token(op, browser, mode):
    rp = PyRP(op, browser)
    op.mutate(mode)
    tok = rp.exchange(rp.login("alice", "alice-pw"))["id_token"]
    h, p = decode_jwt(tok)
    try:
        verify_id_token(op, rp, tok)
        ok = True
    except Exception:
        ok = False
    if mode in ("wrong_nonce", "wrong_aud", "missing_sub"):
        # validly signed by rsa-a (PyJWT's aud check aside): only claim checks catch these
        assert ok or mode == "wrong_aud"
    assert MUTATION_CHECKS[mode](h, p, ok), (h, p, ok)
    if mode == "hs256_pubkey":  # really keyed with the PEM of the public RSA key
        import hashlib
        import hmac

        from cryptography.hazmat.primitives import serialization
        pem = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(op.jwks()["keys"][0])).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        signing_input = tok.rsplit(".", 1)[0].encode()
        assert harness.b64url(hmac.new(pem, signing_input, hashlib.sha256).digest()) == tok.rsplit(".", 1)[1]
    # only the next response is altered
    tok2 = rp.exchange(rp.login(None, None))["id_token"]
    assert verify_id_token(op, rp, tok2)["nonce"] == rp.nonce
    assert op.stats()["mutations_applied"] == 1


def test_mutate_custom_claims_and_reset(op, browser):
    rp = PyRP(op, browser)
    op.mutate("claims", set={"aud": ["app", "other"], "email": None})
    p = verify_id_token(op, rp, rp.exchange(rp.login("bob", "bob-pw"))["id_token"])
    assert p["aud"] == ["app", "other"] and "email" not in p
    op.mutate("bad_sig")
    op.reset()
    verify_id_token(op, rp, rp.exchange(rp.login(None, None))["id_token"])
    assert op.stats()["mutations_applied"] == 0


def test_refresh_token_needs_offline_access_and_consent(op, browser):
    rp = PyRP(op, browser)
    tokens = rp.exchange(rp.login("alice", "alice-pw", scope="openid email offline_access", prompt="consent"))
    assert "refresh_token" in tokens
    r = rp.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert r.status_code == 200, r.text
    assert verify_id_token(op, rp, r.json()["id_token"])["sub"] == "alice"
    # the knob that adds prompt=consent for RPs that do not send it
    op.config(offline_without_consent=True)
    tokens = rp.exchange(rp.login(None, None, scope="openid offline_access"))
    assert "refresh_token" in tokens


def test_client_credentials_jwt_access_token_and_introspection(op, browser):
    s = harness.new_browser()
    r = s.post(op.url("/token"), auth=("api-client", op.secret("api-client")),
               data=dict(grant_type="client_credentials", resource="https://api.example.test", scope="api:read"))
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    h, p = decode_jwt(at)
    assert h["typ"] == "at+jwt" and h["kid"] == "rsa-a"
    assert p["aud"] == "https://api.example.test" and p["client_id"] == "api-client" and p["scope"] == "api:read"
    harness.verify_jwt(at, op.jwks(), audience="https://api.example.test", issuer=op.issuer)
    # opaque tokens: the resource server introspects them
    r = s.post(op.url("/token"), auth=("api-client", op.secret("api-client")),
               data=dict(grant_type="client_credentials", resource="https://opaque-api.example.test",
                         scope="api:read api:write"))
    opaque = r.json()["access_token"]
    assert opaque.count(".") == 0
    intro = s.post(op.url("/token/introspection"), auth=("api-rs", op.secret("api-rs")), data={"token": opaque}).json()
    assert intro["active"] is True and intro["client_id"] == "api-client" and intro["scope"] == "api:read api:write"
    # a user's access token from the code flow, too
    rp = PyRP(op, browser)
    uat = rp.exchange(rp.login("bob", "bob-pw"))["access_token"]
    intro = s.post(op.url("/token/introspection"), auth=("api-rs", op.secret("api-rs")), data={"token": uat}).json()
    assert intro["active"] is True and intro["sub"] == "bob"
    s.post(op.url("/token/revocation"), auth=("app", op.secret("app")), data={"token": uat})
    assert s.post(op.url("/token/introspection"), auth=("api-rs", op.secret("api-rs")),
                  data={"token": uat}).json() == {"active": False}
    assert op.stats()["introspection"] == 3


class _Sink(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(parse_qs(body.decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_rp_initiated_and_backchannel_logout(op, browser):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    _Sink.received = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        bc_uri = f"http://127.0.0.1:{srv.server_port}/oidc/backchannel"
        op.client("app", backchannel_logout_uri=bc_uri)
        rp = PyRP(op, browser)
        id_token = rp.exchange(rp.login("alice", "alice-pw"))["id_token"]
        sid = decode_jwt(id_token)[1]["sid"]
        plr = f"http://127.0.0.1:{harness.free_port()}/loggedout.html"
        end = op.url("/session/end?" + urlencode(dict(id_token_hint=id_token, post_logout_redirect_uri=plr,
                                                       state="bye")))
        resps, stopped = harness.browse(browser, end, op_origin=op.issuer, stop_on_leaving_op=True)
        assert stopped == plr + "?state=bye", harness.hops(resps)
        deadline = time.time() + 5
        while not _Sink.received and time.time() < deadline:
            time.sleep(0.02)
        assert len(_Sink.received) == 1
        lt = _Sink.received[0]["logout_token"][0]
        claims = harness.verify_jwt(lt, op.jwks(), audience="app", issuer=op.issuer)
        assert claims["sub"] == "alice" and claims["sid"] == sid and "nonce" not in claims
        assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
        assert op.stats()["backchannel_success"] == 1
        # OP-initiated, no browser
        assert op.backchannel("app", "bob", "some-sid").status_code == 200
        assert len(_Sink.received) == 2
        # the OP session is gone: a new authorization asks for the password again
        with pytest.raises(harness.FlowError):
            rp.login(None, None)
    finally:
        srv.shutdown()
        srv.server_close()


def test_key_rotation_restart_keeps_issuer(op, browser):
    issuer = op.issuer
    op.restart(keyset="b")
    assert op.issuer == issuer and [k["kid"] for k in op.jwks()["keys"]] == ["rsa-b"]
    rp = PyRP(op, browser)
    tok = rp.exchange(rp.login("alice", "alice-pw"))["id_token"]
    assert decode_jwt(tok)[0]["kid"] == "rsa-b"
    verify_id_token(op, rp, tok)
    op.restart(keyset="ab")
    assert [k["kid"] for k in op.jwks()["keys"]] == ["rsa-b", "rsa-a", "ec-a"]


def test_issuer_with_path(bench_dir, browser):
    other = harness.OP(bench_dir, path="/realms/test").start()
    try:
        assert other.discovery()["token_endpoint"] == other.issuer + "/token"
        rp = PyRP(other, browser)
        assert verify_id_token(other, rp, rp.exchange(rp.login("bob", "bob-pw"))["id_token"])["iss"] == other.issuer
    finally:
        other.stop()


def test_keyset_is_back_to_a(op):
    assert [k["kid"] for k in op.jwks()["keys"]] == ["rsa-a", "ec-a"]


def test_sign_jwt_helper_uses_the_op_keys(op):
    tok = harness.sign_jwt({"iss": op.issuer, "aud": "app", "sub": "x"}, kid="rsa-a")
    assert harness.verify_jwt(tok, op.jwks(), audience="app")["sub"] == "x"


# ----------------------------------------------------------------- (d) Apache without the module

def test_apache_static_and_cgi(make_apache, browser):
    t0 = time.monotonic()
    a = make_apache(with_module=False)
    started = time.monotonic() - t0
    r = browser.get(a.url("/"))
    assert r.status_code == 200 and 'id="public"' in r.text
    r = browser.get(a.url("/protected/"))
    assert r.status_code == 200 and 'id="protected"' in r.text  # nothing protects it without the module
    r = browser.get(a.url("/app/env?x=1"), headers={"X-Test": "v1", "OIDC-CLAIM-email": "forged"})
    assert r.status_code == 200
    env = r.json()
    assert env["HTTP_X_TEST"] == "v1" and env["QUERY_STRING"] == "x=1"
    assert "REMOTE_USER" not in env
    r = browser.post(a.url("/protected/env"), data={"a": "b"})
    assert r.json()["body"] == "a=b" and r.json()["REQUEST_METHOD"] == "POST"
    t0 = time.monotonic()
    a.stop()
    stopped = time.monotonic() - t0
    assert not harness.port_open(a.port)
    assert started < 1.0 and stopped < 1.0, (started, stopped)


def test_apache_two_instances_restart_and_snippet(make_apache, browser):
    a = make_apache('Header always set X-Node "a"', name="a", with_module=False)
    b = make_apache('Header always set X-Node "b"', name="b", with_module=False)
    assert browser.get(a.url("/")).headers["X-Node"] == "a"
    assert browser.get(b.url("/")).headers["X-Node"] == "b"
    old = a.pid
    t0 = time.monotonic()
    a.restart('Header always set X-Node "a2"')
    assert time.monotonic() - t0 < 1.5
    assert a.pid != old and browser.get(a.url("/")).headers["X-Node"] == "a2"
    b.graceful('Header always set X-Node "b2"')
    assert browser.get(b.url("/")).headers["X-Node"] == "b2"
    assert "127.0.0.1" in a.access_log_lines()[0]


def test_apache_configtest(make_apache):
    a = make_apache(with_module=False, start=False)
    rc, out = a.configtest("Header always set X-Ok 1")
    assert rc == 0 and "Syntax OK" in out
    rc, out = a.configtest("NoSuchDirective on")
    assert rc != 0 and "NoSuchDirective" in out
    rc, out = make_apache.configtest("<Location /x>\nRequire bogus-provider\n</Location>", with_module=False)
    assert rc != 0 and "bogus-provider" in out


def test_expected_log_lines_are_accepted(make_apache, browser, expect_log):
    a = make_apache(with_module=False)
    # a missing CGI script is a genuine [cgid:error] line
    expect_log(r"\[cgid:error\].*AH01264: .*no-such-script.py: script not found", required=True)
    assert browser.get(a.url("/cgi/no-such-script.py")).status_code == 404


def test_log_checker_logic(tmp_path):
    log = tmp_path / "error.log"
    log.write_text("old [core:error] line before the test\n")
    w = LogWatch()
    w.watch(log)
    with open(log, "a") as f:
        f.write("[Sun Nov 29 21:00:00.1 2026] [auth_oidc:debug] [pid 1] fine\n"
                "[Sun Nov 29 21:00:00.2 2026] [auth_oidc:error] [pid 1] AH99999: bad state\n"
                "[Sun Nov 29 21:00:00.3 2026] [core:notice] [pid 1] AH00052: child pid 7 exit signal Segmentation fault (11)\n"
                "==12==ERROR: AddressSanitizer: heap-use-after-free\n"
                "[Sun Nov 29 21:00:00.4 2026] [mpm_event:warn] [pid 1] something\n")
    assert len(w.problems()) == 4
    w.expect(r"AH99999")
    w.expect(r"\[mpm_event:warn\]")
    assert [p.split(":", 1)[0] for p in w.problems()] == ["unexpected log line"] * 2
    w.expect(r"never-logged", required=True)
    assert any("never appeared" in p for p in w.problems())
    assert w.search(r"auth_oidc:debug")
    w.add_text("start", "AH00558: apache2: Could not reliably determine [core:warn]\n")
    assert len(w.problems()) == 4


def test_log_checker_shutdown_noise(tmp_path):
    """AH03093 (a keep-alive connection put back into a pollset that an ungraceful stop
    closed) is noise only when the stop follows it in the same log."""
    log = tmp_path / "error.log"
    log.write_text("")
    w = LogWatch()
    w.watch(log)
    ebadf = ("[Sat Dec 05 13:30:53.632286 2026] [mpm_event:error] [pid 2:tid 3] (9)Bad file descriptor: "
             "AH03093: process_socket: apr_pollset_add failure for keep alive\n")
    with open(log, "a") as f:
        f.write(ebadf)
    assert len(w.problems()) == 1            # alone: a real problem (e.g. a closed socket)
    with open(log, "a") as f:
        f.write("[Sat Dec 05 13:30:53.641071 2026] [mpm_event:notice] [pid 1:tid 1] AH00491: caught SIGTERM, "
                "shutting down\n")
    assert w.problems() == []
    with open(log, "a") as f:
        f.write(ebadf)                       # after the stop line: not covered
    assert len(w.problems()) == 1


def test_module_config_template():
    text = harness.oidc_config(issuer="http://localhost:1", session_store="memcached 127.0.0.1:2",
                               crypto_key_file="/tmp/k", post_logout_redirect="http://127.0.0.1:3/loggedout.html",
                               provider_extra="AuthOIDCFoo bar", scope=None)
    assert "AuthOIDCIssuer http://localhost:1" in text and "    AuthOIDCFoo bar" in text
    assert "AuthOIDCScope" not in text and "<Location /protected>" in text
    with pytest.raises(TypeError):
        harness.oidc_config(bogus=1)
