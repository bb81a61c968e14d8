"""No secret ever reaches Apache's error log, even at `LogLevel debug auth_oidc:trace8`.

Full flows (login, use, logout, API calls with bearer tokens) and failures (bad state,
tampered cookies, a forged ID token, forged bearer tokens) run against an Apache logging
everything; then its error log is searched for every secret the test could see: the
client secrets, the crypto key, session and state cookie values, authorization codes,
state and nonce values, ID and access tokens. What the test cannot see (the PKCE
verifier, the opaque access token of the code flow, the key derived from the crypto
key) is covered by a shape check: every run of 43 or more base64url characters in the
log must be a session handle (SHA-256 of a session id, what the module logs and the
console shows instead of the cookie) or a hex digest; and no JWT-looking string at all.

Only Apache's error log matters: the dev OP's own log (op-<port>.log) is a test tool
that may print whatever it likes and is not searched."""
from __future__ import annotations

import base64
import hashlib
import re
import secrets as pysecrets
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import requests

import harness
from harness import OP, login, logout, new_browser, op_login_only

LOGLEVEL = "debug auth_oidc:trace8"
SESSION = "aoidc_session"
STATE_PREFIX = "aoidc_state_"
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{37,}")
B64URL_RUN_RE = re.compile(r"[A-Za-z0-9_-]{43,}")
HEX_RE = re.compile(r"[0-9a-fA-F]+")
API = "https://api.example.test"
OPAQUE_API = "https://opaque-api.example.test"


def session_handle(session_id: str) -> str:
    """What the module logs for a session: b64url(SHA-256('aoidc session store key v1:' + id))."""
    d = hashlib.sha256(("aoidc session store key v1:" + session_id).encode()).digest()
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


class Seen:
    """Every secret value the test observed, by label."""

    def __init__(self):
        self.values: dict[str, set[str]] = {}
        self.challenges: set[str] = set()   # PKCE S256 challenges: b64url(SHA-256(verifier))

    def add(self, label: str, value: str | None) -> None:
        if value:
            self.values.setdefault(label, set()).add(value)

    def add_cookies(self, resp: requests.Response) -> None:
        """Our cookies set by one response (session and state cookies)."""
        for c in resp.cookies:
            if c.name == SESSION or c.name.startswith(STATE_PREFIX):
                self.add(f"cookie {c.name.split('_')[1]}", c.value)

    def add_login_redirect(self, location: str) -> None:
        q = parse_qs(urlsplit(location).query)
        self.add("state", q["state"][0])
        self.add("nonce", q["nonce"][0])
        self.challenges.add(q["code_challenge"][0])

    def add_callback(self, url: str) -> None:
        q = parse_qs(urlsplit(url).query)
        self.add("authorization code", q.get("code", [None])[0])
        self.add("state", q.get("state", [None])[0])

    def all(self):
        for label, vals in self.values.items():
            for v in vals:
                yield label, v


def _s256(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def leaks(log: str, seen: Seen, fixed: dict[str, str], allowed_runs: set[str]) -> list[str]:
    """Every way the log shows a secret: [description]."""
    out = []
    for label, v in list(seen.all()) + list(fixed.items()):
        for form in {v, quote(v, safe=""), quote(v, safe="/:")}:
            if len(form) >= 8 and form in log:
                out.append(f"{label} ({form[:12]}...) appears in the error log")
    # partial leaks of the key and client secret: any 16-character window
    for label, v in fixed.items():
        for i in range(0, max(1, len(v) - 15)):
            w = v[i:i + 16]
            if len(w) == 16 and w in log:
                out.append(f"16 characters of the {label} appear in the error log")
                break
    for m in JWT_RE.finditer(log):
        out.append(f"a JWT-looking string appears in the error log: {m.group()[:24]}...")
    seen_values = {v for _, v in seen.all()}
    for m in B64URL_RUN_RE.finditer(log):
        run = m.group()
        if _s256(run) in seen.challenges:
            out.append(f"a PKCE code verifier appears in the error log: {run[:12]}...")
        elif run in seen_values or any(v in run for v in seen_values if len(v) >= 16):
            out.append(f"a seen cookie/token/code appears as a base64url run: {run[:12]}...")
        elif run not in allowed_runs and not HEX_RE.fullmatch(run):
            out.append(f"an unexplained base64url run of {len(run)} characters (a verifier or "
                       f"token?) appears in the error log: {run[:12]}...")
    return out


def fixed_secrets(crypto_key) -> dict[str, str]:
    return {
        "client secret of app": OP.secret("app"),
        "client secret of app-post": OP.secret("app-post"),
        "client secret of api-rs": OP.secret("api-rs"),
        "client secret of api-client": OP.secret("api-client"),
        "crypto key": crypto_key.read_text().strip(),
    }


def assert_no_leaks(apache, seen: Seen, crypto_key, allowed_runs: set[str]):
    assert f"LogLevel {LOGLEVEL}" in apache.conf_text
    log = apache.error_log_text()
    # the test really ran at trace level (otherwise it proves nothing)
    assert "[auth_oidc:trace" in log or "[auth_oidc:debug]" in log, "nothing logged at debug/trace"
    problems = leaks(log, seen, fixed_secrets(crypto_key), allowed_runs)
    assert not problems, "\n".join(problems)


def bearer_snippet(issuer: str) -> str:
    return f"""
<AuthOIDCProvider rs>
    AuthOIDCIssuer {issuer}
    AuthOIDCClientID api-rs
    AuthOIDCClientSecretFile {OP.secret_file("api-rs")}
</AuthOIDCProvider>
ScriptAlias /api/env "{harness.HTDOCS}/cgi/env.py"
ScriptAlias /opaque/env "{harness.HTDOCS}/cgi/env.py"
ScriptAlias /spa/env "{harness.HTDOCS}/cgi/env.py"
<Location /api>
    AuthType oidc-bearer
    AuthName "test api"
    AuthOIDCBearerAudience {API}
    Require oidc-scope api:read
</Location>
<Location /opaque>
    AuthType oidc-bearer
    AuthOIDCUseProvider rs
    AuthOIDCBearerAudience {OPAQUE_API}
    Require valid-user
</Location>
<Location /spa>
    AuthType oidc
    AuthOIDCAcceptBearer On
    AuthOIDCBearerAudience {API}
    Require valid-user
</Location>
"""


# ----------------------------------------------------------------- the browser flows

def test_login_use_logout_failures_leave_no_secret_in_log(make_apache, op, crypto_key, expect_log):
    expect_log(r"\[auth_oidc:error\].*AOIDC410", required=True)     # the forged ID token
    expect_log(r"\[auth_oidc:error\].*AOIDC431", required=True)     # the refused code
    apache = make_apache(loglevel=LOGLEVEL)
    seen = Seen()
    allowed: set[str] = set()

    # --- login, step by step, recording every value on the way
    s = new_browser()
    cb_url, rs = op_login_only(s, apache.url("/protected/env"), "alice", "alice-pw", op=op,
                               return_responses=True)
    start = rs[0]
    assert start.status_code == 302
    seen.add_login_redirect(start.headers["Location"])
    seen.add_cookies(start)
    seen.add_callback(cb_url)
    cb = s.get(cb_url, allow_redirects=False, timeout=15)
    assert cb.status_code in (302, 303), cb.text[:300]
    seen.add_cookies(cb)
    sid = s.cookies.get(SESSION)
    assert sid
    allowed.add(session_handle(sid))
    page = s.get(apache.url("/protected/env"), allow_redirects=False, timeout=15)
    assert page.status_code == 200 and page.json()["REMOTE_USER"] == "alice"
    for k, v in page.json().items():        # tokens the backend got (none of it may be logged)
        if isinstance(v, str):
            for m in list(JWT_RE.finditer(v)) + list(B64URL_RUN_RE.finditer(v)):
                seen.add(f"token given to the backend in {k}", m.group())

    # --- use
    for path in ("/protected/", "/protected/other.html", "/protected/env?x=1"):
        assert s.get(apache.url(path), allow_redirects=False, timeout=15).status_code == 200

    # --- a replayed callback (code and state already used): refused, values not logged
    replay = s.get(cb_url, allow_redirects=False, timeout=15)
    assert replay.status_code >= 300

    # --- logout: the redirect to the OP carries the ID token as id_token_hint
    hops = logout(s, apache.url("/oidc/logout"), op=op)
    to_op = next(r for r in hops if r.headers.get("Location", "").startswith(op.issuer + "/session/end"))
    id_token = parse_qs(urlsplit(to_op.headers["Location"]).query)["id_token_hint"][0]
    assert id_token.startswith("eyJ")
    seen.add("ID token", id_token)
    for r in hops:
        seen.add_cookies(r)
    assert s.get(apache.url("/protected/"), allow_redirects=False, timeout=15).status_code == 302

    # --- failures
    # 1. bad state: a made-up state, and a real state with a made-up code and no cookie
    fake_state, fake_code = pysecrets.token_urlsafe(32), pysecrets.token_urlsafe(32)
    seen.add("state", fake_state)
    seen.add("authorization code", fake_code)
    b = new_browser()
    r = b.get(apache.url(f"/oidc/callback?code={fake_code}&state={fake_state}&iss={quote(op.issuer)}"),
              allow_redirects=False, timeout=15)
    assert r.status_code == 400
    b2 = new_browser()
    r = b2.get(apache.url("/protected/"), allow_redirects=False, timeout=15)
    seen.add_login_redirect(r.headers["Location"])
    seen.add_cookies(r)
    real_state = parse_qs(urlsplit(r.headers["Location"]).query)["state"][0]
    r = new_browser().get(apache.url(f"/oidc/callback?code={fake_code}&state={real_state}&iss={quote(op.issuer)}"),
                          allow_redirects=False, timeout=15)
    assert r.status_code == 400

    # 2. tampered cookies: session (one character flipped, and garbage) and state
    s2 = new_browser()
    hops2 = login(s2, apache.url("/protected/env"), "bob", "bob-pw", op=op)
    assert hops2[-1].status_code == 200
    for h in hops2:
        seen.add_cookies(h)
        if h.request.url.startswith(apache.url("/oidc/callback")):
            seen.add_callback(h.request.url)
    sid2 = s2.cookies.get(SESSION)
    allowed.add(session_handle(sid2))
    flipped = sid2[:-1] + ("A" if sid2[-1] != "A" else "B")
    garbage = pysecrets.token_urlsafe(60)
    seen.add("cookie session (tampered)", flipped)
    seen.add("cookie session (garbage)", garbage)
    for value in (flipped, garbage):
        t = new_browser()
        r = t.get(apache.url("/protected/"), headers={"Cookie": f"{SESSION}={value}"},
                  allow_redirects=False, timeout=15)
        assert r.status_code == 302 and r.headers["Location"].startswith(op.issuer + "/auth?")
        seen.add_login_redirect(r.headers["Location"])
        seen.add_cookies(r)
    t = new_browser()
    r = t.get(apache.url("/protected/"), allow_redirects=False, timeout=15)
    seen.add_login_redirect(r.headers["Location"])
    seen.add_cookies(r)
    st_state = parse_qs(urlsplit(r.headers["Location"]).query)["state"][0]
    (name, value), = [(c.name, c.value) for c in r.cookies if c.name.startswith(STATE_PREFIX)]
    bad_value = value[:20] + ("x" if value[20] != "x" else "y") + value[21:]
    seen.add("cookie state (tampered)", bad_value)
    r = new_browser().get(apache.url(f"/oidc/callback?code={fake_code}&state={st_state}"),
                          headers={"Cookie": f"{name}={bad_value}"}, allow_redirects=False, timeout=15)
    assert r.status_code == 400

    # 3. a code the OP refuses (the real state and cookie, another code): the exchange
    #    fails at the OP and the module logs why, without the code or the secret
    s4 = new_browser()
    cb4, rs4 = op_login_only(s4, apache.url("/protected/"), "dave", "dave-pw", op=op, return_responses=True)
    seen.add_login_redirect(rs4[0].headers["Location"])
    seen.add_cookies(rs4[0])
    seen.add_callback(cb4)
    wrong_code = pysecrets.token_urlsafe(32)
    seen.add("authorization code", wrong_code)
    q4 = parse_qs(urlsplit(cb4).query)
    r = s4.get(apache.url(f"/oidc/callback?code={wrong_code}&state={q4['state'][0]}&iss={quote(q4['iss'][0])}"),
               allow_redirects=False, timeout=15)
    assert r.status_code == 401, r.text[:300]

    # 4. a forged ID token (signature bytes flipped): refused with 401
    op.mutate("bad_sig")
    s3 = new_browser()
    cb3, rs3 = op_login_only(s3, apache.url("/protected/"), "carol", "carol-pw", op=op, return_responses=True)
    seen.add_login_redirect(rs3[0].headers["Location"])
    seen.add_cookies(rs3[0])
    seen.add_callback(cb3)
    r = s3.get(cb3, allow_redirects=False, timeout=15)
    assert r.status_code == 401
    assert op.stats()["mutations_applied"] == 1

    # the flows really produced what we look for
    for label in ("state", "nonce", "authorization code", "cookie session", "cookie state", "ID token"):
        assert seen.values.get(label), f"the test saw no {label}"
    assert_no_leaks(apache, seen, crypto_key, allowed)


def test_bearer_tokens_leave_no_secret_in_log(make_apache, op, crypto_key):
    """API calls with JWT and opaque access tokens, good and forged, at trace8."""
    apache = make_apache(bearer_snippet(op.issuer), loglevel=LOGLEVEL)
    seen = Seen()

    def token(resource, scope="api:read api:write"):
        r = requests.post(op.url("/token"), auth=("api-client", OP.secret("api-client")),
                          data={"grant_type": "client_credentials", "resource": resource, "scope": scope},
                          timeout=15)
        assert r.status_code == 200, r.text
        tok = r.json()["access_token"]
        seen.add("access token", tok)
        return tok

    def call(path, tok):
        return new_browser().get(apache.url(path), headers={"Authorization": f"Bearer {tok}"},
                                 allow_redirects=False, timeout=15)

    jwt_tok = token(API)
    assert jwt_tok.startswith("eyJ")
    assert call("/api/env", jwt_tok).status_code == 200
    assert call("/api/env", jwt_tok).status_code == 200          # from the process cache
    assert call("/spa/env", jwt_tok).status_code == 200
    h, p, sig = jwt_tok.split(".")
    forged = f"{h}.{p}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"
    seen.add("access token (forged)", forged)
    assert call("/api/env", forged).status_code == 401
    assert call("/api/env", "not-a-token-" + pysecrets.token_urlsafe(40)).status_code == 401
    # a token for another API, and a read-only opaque one introspected, then revoked
    assert call("/opaque/env", jwt_tok).status_code == 401
    opaque = token(OPAQUE_API, scope="api:read")
    assert call("/opaque/env", opaque).status_code == 200
    rv = requests.post(op.url("/token/revocation"), auth=("api-client", OP.secret("api-client")),
                       data={"token": opaque}, timeout=15)
    assert rv.status_code == 200
    opaque2 = token(OPAQUE_API, scope="api:read")
    requests.post(op.url("/token/revocation"), auth=("api-client", OP.secret("api-client")),
                  data={"token": opaque2}, timeout=15)
    assert call("/opaque/env", opaque2).status_code == 401
    # in the query string (refused here) it must not be logged either
    r = new_browser().get(apache.url(f"/api/env?access_token={jwt_tok}"), allow_redirects=False, timeout=15)
    assert r.status_code in (400, 401)
    assert_no_leaks(apache, seen, crypto_key, set())


# ----------------------------------------------------------------- the check itself

def test_leak_check_catches_each_kind_of_secret(crypto_key):
    """The search above is not blind: each kind of secret, put in a log, is reported."""
    verifier, challenge = harness.pkce_pair()
    sid = pysecrets.token_urlsafe(32)
    seen = Seen()
    seen.add("cookie session", sid)
    seen.add("state", pysecrets.token_urlsafe(32))
    seen.add("nonce", pysecrets.token_urlsafe(32))
    seen.add("authorization code", pysecrets.token_urlsafe(32))
    seen.add("ID token", "eyJhbGciOiJSUzI1NiJ9." + pysecrets.token_urlsafe(60) + "." + pysecrets.token_urlsafe(60))
    seen.challenges.add(challenge)
    fixed = fixed_secrets(crypto_key)
    line = "[auth_oidc:debug] [client 127.0.0.1:1] AOIDC999: something: {}"
    clean = "\n".join([line.format("login of 'alice'"), line.format(session_handle(sid)),
                       line.format(hashlib.sha256(b"x").hexdigest())])
    assert leaks(clean, seen, fixed, {session_handle(sid)}) == []
    cases = {label: v for label, v in seen.all()}
    cases.update(fixed)
    cases["crypto key (part)"] = fixed["crypto key"][10:30]
    cases["url-encoded secret"] = quote(OP.secret("app") + "/+=", safe="")
    cases["PKCE verifier"] = verifier
    cases["an opaque token"] = pysecrets.token_urlsafe(32)
    cases["a JWT"] = "eyJ" + pysecrets.token_urlsafe(40)
    for label, value in cases.items():
        found = leaks(clean + "\n" + line.format(value), seen, fixed, {session_handle(sid)})
        assert found, f"{label} in the log was not reported"


def test_leak_check_reads_apache_log(make_apache, op, crypto_key):
    """End to end: a session cookie that does reach the error log (httpd core logs the
    path of a missing file at info) is reported by the same check."""
    apache = make_apache(loglevel=LOGLEVEL)
    s = new_browser()
    assert login(s, apache.url("/protected/env"), "alice", "alice-pw", op=op)[-1].status_code == 200
    sid = s.cookies.get(SESSION)
    seen = Seen()
    seen.add("cookie session", sid)
    assert_no_leaks(apache, seen, crypto_key, {session_handle(sid)})
    assert new_browser().get(apache.url(f"/missing-{sid}.html"), timeout=15).status_code == 404
    with pytest.raises(AssertionError, match="cookie session"):
        assert_no_leaks(apache, seen, crypto_key, {session_handle(sid)})
