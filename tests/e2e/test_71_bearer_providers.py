"""AuthType oidc-bearer with several providers: a token is checked by the provider whose
issuer equals its iss (among AuthOIDCBearerProviders, default all), and Require oidc-claim
works on token claims.

Two dev OPs: "main" (the session's op fixture, issuer http://localhost:P) and "two" (a
second process, issuer http://localhost:Q/realms/two). Both have the client api-client and
the resource https://api.example.test (JWT access tokens, RS256). The OP only signs access
tokens with RS256, so the ES256 case signs a token with the OP's own published ec-a key.
"""
from __future__ import annotations

import time

import pytest
import requests

import harness
from harness import OP, sign_jwt

API = "https://api.example.test"
OTHER_API = "https://other-api.example.test"
REALM = "multi api"


@pytest.fixture(scope="module")
def op2(bench_dir):
    """A second OP with another issuer (its own port and path)."""
    second = OP(bench_dir, path="/realms/two").start()
    yield second
    second.stop()


def conf(op2: OP) -> str:
    cgi = f'"{harness.HTDOCS}/cgi/env.py"'
    paths = ("any", "mainonly", "twoonly", "otheraud", "claim-ok", "claim-no", "claim-any")
    aliases = "\n".join(f"ScriptAlias /{p}/env {cgi}" for p in paths)
    # one child process: the token cache is per process, so a token validated at one
    # location is a cache hit at the next one (what the cache tests rely on)
    return f"""
StartServers 1
ServerLimit 1
MaxRequestWorkers 16
<AuthOIDCProvider two>
    AuthOIDCIssuer {op2.issuer}
    AuthOIDCClientID api-client
    AuthOIDCClientSecretFile {OP.secret_file("api-client")}
</AuthOIDCProvider>
{aliases}
<LocationMatch "^/(any|mainonly|twoonly|otheraud|claim-ok|claim-no|claim-any)/">
    AuthType oidc-bearer
    AuthName "{REALM}"
    AuthOIDCBearerAudience {API}
    Require valid-user
</LocationMatch>
<Location /mainonly>
    AuthOIDCBearerProviders main
</Location>
<Location /twoonly>
    AuthOIDCBearerProviders two
</Location>
<Location /otheraud>
    AuthOIDCBearerAudience {OTHER_API}
</Location>
<Location /claim-ok>
    Require oidc-claim client_id:api-client
</Location>
<Location /claim-no>
    Require oidc-claim client_id:other
</Location>
<Location /claim-any>
    Require oidc-claim client_id:other client_id:api-client
</Location>
"""


@pytest.fixture
def api(make_apache, op, op2):
    return make_apache(conf(op2))


def get_token(at: OP, scope: str = "api:read api:write") -> str:
    r = requests.post(at.url("/token"), auth=("api-client", OP.secret("api-client")),
                      data={"grant_type": "client_credentials", "resource": API, "scope": scope}, timeout=10)
    assert r.status_code == 200, r.text
    tok = r.json()["access_token"]
    assert tok.count(".") == 2, "the OP should issue a JWT for this resource"
    return tok


def call(url: str, token: str | None = None) -> requests.Response:
    h = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(url, headers=h, allow_redirects=False, timeout=10)


def assert_ok(r: requests.Response, sub: str = "api-client") -> dict:
    assert r.status_code == 200, (r.status_code, r.headers.get("WWW-Authenticate"), r.text[:300])
    env = r.json()
    assert env["REMOTE_USER"] == sub
    assert env["AUTH_TYPE"] == "oidc-bearer"
    return env


def assert_error(r: requests.Response, status: int, error: str, scope: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert "Location" not in r.headers
    www = r.headers.get("WWW-Authenticate", "")
    expected = f'Bearer realm="{REALM}", error="{error}"'
    if scope is not None:
        expected += f', scope="{scope}"'
    assert www == expected, www
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert r.json() == {"error": error}


def forged(iss: str, **over) -> dict:
    now = int(time.time())
    claims = {"iss": iss, "sub": "svc-forged", "aud": API, "exp": now + 600, "iat": now,
              "scope": "api:read", "client_id": "api-client", "jti": harness.b64url(__import__("os").urandom(9))}
    claims.update(over)
    return claims


# ----------------------------------------------------------------- selection by iss

def test_tokens_of_both_providers_accepted(api, op, op2):
    assert op.issuer != op2.issuer
    t1, t2 = get_token(op), get_token(op2)
    assert harness.decode_jwt(t1)[1]["iss"] == op.issuer
    assert harness.decode_jwt(t2)[1]["iss"] == op2.issuer
    for tok in (t1, t2):
        env = assert_ok(call(api.url("/any/env"), tok))
        assert env["OIDC_CLAIM_client_id"] == "api-client"
        assert env["HTTP_OIDC_CLAIM_CLIENT_ID"] == "api-client"
        assert env["OIDC_CLAIM_scope"] == "api:read api:write"
    # each was checked against its own OP's keys: both OPs served their JWKS at most once
    assert op.stats()["jwks"] <= 1 and op2.stats()["jwks"] <= 1


def test_bearer_providers_restricts_by_issuer(api, op, op2, expect_log):
    expect_log(r"AOIDC502", required=True)
    t1, t2 = get_token(op), get_token(op2)
    assert_ok(call(api.url("/mainonly/env"), t1))
    assert_error(call(api.url("/mainonly/env"), t2), 401, "invalid_token")
    assert_ok(call(api.url("/twoonly/env"), t2))
    assert_error(call(api.url("/twoonly/env"), t1), 401, "invalid_token")
    assert len([ln for ln in harness_log_lines(api) if "AOIDC502" in ln]) == 2


def test_cached_token_still_bound_to_the_location(api, op, op2, expect_log):
    """A token validated (and cached) where every provider and its audience are accepted
    must not pass, from the cache, where its provider or audience is not accepted."""
    expect_log(r"AOIDC50[24]")
    t1, t2 = get_token(op), get_token(op2)
    for tok in (t1, t2):
        assert_ok(call(api.url("/any/env"), tok))
        assert_ok(call(api.url("/any/env"), tok))          # now a cache hit
    assert_error(call(api.url("/mainonly/env"), t2), 401, "invalid_token")
    assert_error(call(api.url("/twoonly/env"), t1), 401, "invalid_token")
    assert_error(call(api.url("/otheraud/env"), t1), 401, "invalid_token")
    assert_error(call(api.url("/otheraud/env"), t2), 401, "invalid_token")
    # and the accepted combinations still work after the refusals
    assert_ok(call(api.url("/mainonly/env"), t1))
    assert_ok(call(api.url("/twoonly/env"), t2))
    assert_ok(call(api.url("/any/env"), t2))


def test_token_of_unconfigured_issuer_refused(api, op, op2, expect_log):
    expect_log(r"AOIDC502", required=True)
    # signed by a key both OPs publish, so only the iss is wrong
    for iss in ("http://evil.example.test", op.issuer + "/", op2.issuer + "x", op.origin + "/realms/two",
                op2.origin):
        tok = sign_jwt(forged(iss), header={"typ": "at+jwt"})
        assert_error(call(api.url("/any/env"), tok), 401, "invalid_token")
    # no iss at all
    claims = forged(op.issuer)
    del claims["iss"]
    assert_error(call(api.url("/any/env"), sign_jwt(claims, header={"typ": "at+jwt"})), 401, "invalid_token")
    # the same claims with the real issuers pass (the forgery above only differs by iss)
    assert_ok(call(api.url("/any/env"), sign_jwt(forged(op.issuer), header={"typ": "at+jwt"})), "svc-forged")
    assert_ok(call(api.url("/any/env"), sign_jwt(forged(op2.issuer), header={"typ": "at+jwt"})), "svc-forged")


def test_token_signed_by_a_key_its_issuer_does_not_publish(make_apache, op, op2, expect_log):
    """iss picks the provider, and only that provider's keys count: the second OP on
    keyset b does not publish rsa-a, so an rsa-a token naming it is refused while the
    same token naming main passes."""
    expect_log(r"AOIDC50[14]", required=True)
    op2.restart(keyset="b")
    try:
        api = make_apache(conf(op2))
        tok_two = sign_jwt(forged(op2.issuer), kid="rsa-a", header={"typ": "at+jwt"})
        assert_error(call(api.url("/any/env"), tok_two), 401, "invalid_token")
        assert_ok(call(api.url("/any/env"), sign_jwt(forged(op.issuer), kid="rsa-a", header={"typ": "at+jwt"})),
                  "svc-forged")
        # a real token of the second OP (now rsa-b) passes
        assert_ok(call(api.url("/any/env"), get_token(op2)))
    finally:
        op2.restart(keyset="a")


# ----------------------------------------------------------------- Require oidc-claim on tokens

def test_require_oidc_claim_grants_on_token_claims(api, op, op2):
    for tok in (get_token(op), get_token(op2)):
        assert_ok(call(api.url("/claim-ok/env"), tok))
        assert_ok(call(api.url("/claim-any/env"), tok))


def test_require_oidc_claim_denies_with_403(api, op, op2, expect_log):
    """README: a valid token that fails one of our Require lines gets 403, not 401; for
    a token the answer is RFC 6750 insufficient_scope (no scope= here: no scope is
    missing)."""
    expect_log(r"AH01631: user (api-client|svc-forged): authorization failure", required=True)
    expect_log(r"AOIDC200", required=True)
    for tok in (get_token(op), get_token(op2)):
        r = call(api.url("/claim-no/env"), tok)
        assert_error(r, 403, "insufficient_scope")
        assert tok not in r.text
    # without a token it is still the plain challenge, not a 403
    r = call(api.url("/claim-no/env"))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == f'Bearer realm="{REALM}"'
    # a forged token with the wanted claim value but an unknown issuer: 401, never 200
    expect_log(r"AOIDC502")
    bad = sign_jwt(forged("http://evil.example.test", client_id="other"), header={"typ": "at+jwt"})
    assert_error(call(api.url("/claim-no/env"), bad), 401, "invalid_token")
    # a real-issuer token carrying client_id other is granted there (the claim is what counts)
    good = sign_jwt(forged(op2.issuer, client_id="other"), header={"typ": "at+jwt"})
    assert_ok(call(api.url("/claim-no/env"), good), "svc-forged")
    assert_error(call(api.url("/claim-ok/env"), good), 403, "insufficient_scope")


def test_require_oidc_claim_denial_logs_the_user_escaped(api, op, errlog, expect_log):
    """The user named in the AOIDC200 line is the provider's text: escaped
    (ap_escape_logitem, then httpd doubles every backslash)."""
    expect_log(r"AH01631", required=True)
    expect_log(r"AOIDC200", required=True)
    tok = sign_jwt(forged(op.issuer, sub='ev"il\x07\n[error] forged'), header={"typ": "at+jwt"})
    assert_error(call(api.url("/claim-no/env"), tok), 403, "insufficient_scope")
    line = errlog.search(r"AOIDC200")[-1]
    assert "user 'ev\\\\\"il\\\\x07\\\\n[error] forged' lacks" in line, line
    assert 'ev"il' not in line, line


# ----------------------------------------------------------------- algorithms

@pytest.mark.parametrize("which", ["main", "two"])
def test_es256_access_token(api, op, op2, which, expect_log):
    """The dev OP signs access tokens with RS256 only (server.mjs getResourceServerInfo);
    an ES256 token signed with its published ec-a key stands in for one it would issue.
    There is no Ed25519 key in tests/op/keys, so EdDSA is not covered here."""
    expect_log(r"AOIDC50[14]", required=True)
    iss = op.issuer if which == "main" else op2.issuer
    tok = sign_jwt(forged(iss), kid="ec-a", header={"typ": "at+jwt"})
    assert harness.decode_jwt(tok)[0]["alg"] == "ES256"
    assert_ok(call(api.url("/any/env"), tok), "svc-forged")
    # the signature matters: flip a byte in the middle of it
    h, p, s = tok.split(".")
    mid = len(s) // 2
    bad = f"{h}.{p}.{s[:mid]}{'A' if s[mid] != 'A' else 'B'}{s[mid + 1:]}"
    assert_error(call(api.url("/any/env"), bad), 401, "invalid_token")
    # ES256 header with an RSA key id: the key type must match the algorithm
    wrong = sign_jwt(forged(iss), kid="ec-a", header={"typ": "at+jwt", "kid": "rsa-a"})
    assert_error(call(api.url("/any/env"), wrong), 401, "invalid_token")


def harness_log_lines(apache) -> list[str]:
    return apache.error_log_text().splitlines()
