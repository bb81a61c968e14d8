"""AuthType oidc-bearer: access tokens for APIs, answered per RFC 6750.

JWT access tokens come from the dev OP's client_credentials grant with the resource
indicator https://api.example.test (typ at+jwt); opaque ones with
https://opaque-api.example.test, checked by introspection as client api-rs."""
import base64
import json
import time

import pytest
import requests

import harness
from harness import OP, sign_jwt

API = "https://api.example.test"
OPAQUE_API = "https://opaque-api.example.test"
OTHER_OPAQUE_API = "https://other-opaque-api.example.test"


def bearer_conf(issuer: str) -> str:
    # one child process: the token cache is per process, and the tests count calls
    return f"""
StartServers 1
ServerLimit 1
MaxRequestWorkers 16
<AuthOIDCProvider rs>
    AuthOIDCIssuer {issuer}
    AuthOIDCClientID api-rs
    AuthOIDCClientSecretFile {OP.secret_file("api-rs")}
</AuthOIDCProvider>
ScriptAlias /api/env "{harness.HTDOCS}/cgi/env.py"
ScriptAlias /api/write "{harness.HTDOCS}/cgi/env.py"
ScriptAlias /api/q "{harness.HTDOCS}/cgi/env.py"
ScriptAlias /opaque/env "{harness.HTDOCS}/cgi/env.py"
ScriptAlias /both/env "{harness.HTDOCS}/cgi/env.py"
ScriptAlias /opaque-other/env "{harness.HTDOCS}/cgi/env.py"
ScriptAlias /opaque-mainonly/env "{harness.HTDOCS}/cgi/env.py"
ScriptAlias /app-api/env "{harness.HTDOCS}/cgi/env.py"
<Location /api>
    AuthType oidc-bearer
    AuthName "test api"
    AuthOIDCBearerAudience {API}
    Require oidc-scope api:read
</Location>
<Location /api/write>
    Require oidc-scope api:read api:write
</Location>
<Location /api/q>
    AuthOIDCBearerQueryParam On
</Location>
<Location /opaque>
    AuthType oidc-bearer
    AuthOIDCUseProvider rs
    AuthOIDCBearerAudience {OPAQUE_API}
    Require valid-user
</Location>
<Location /opaque-other>
    AuthType oidc-bearer
    AuthOIDCUseProvider rs
    AuthOIDCBearerAudience {OTHER_OPAQUE_API}
    Require valid-user
</Location>
<Location /opaque-mainonly>
    AuthType oidc-bearer
    AuthOIDCUseProvider rs
    AuthOIDCBearerProviders main
    AuthOIDCBearerAudience {OPAQUE_API}
    Require valid-user
</Location>
<Location /app-api>
    # an API whose audience is the login client: an ID token of that client names it too
    AuthType oidc-bearer
    AuthOIDCBearerAudience app
    Require valid-user
</Location>
<Location /both>
    AuthType oidc
    AuthOIDCAcceptBearer On
    AuthOIDCBearerAudience {API}
    Require valid-user
</Location>
"""


@pytest.fixture
def api(make_apache, op):
    return make_apache(bearer_conf(op.issuer))


def get_token(op, resource: str, scope: str = "api:read api:write") -> str:
    r = requests.post(op.url("/token"), auth=("api-client", OP.secret("api-client")),
                      data={"grant_type": "client_credentials", "resource": resource, "scope": scope})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def call(url, token=None, headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return requests.get(url, headers=h, allow_redirects=False)


def assert_bearer_error(r, status, error=None):
    assert r.status_code == status, r.text
    assert "Location" not in r.headers
    www = r.headers.get("WWW-Authenticate", "")
    if status in (401, 403):
        assert www.startswith('Bearer realm="test api"') or www.startswith('Bearer realm='), www
    if error:
        assert f'error="{error}"' in www, www
        assert r.json() == {"error": error}
    assert r.headers.get("Content-Type", "").startswith("application/json")


def test_valid_jwt_passes_claims(api, op):
    tok = get_token(op, API)
    header, payload = harness.decode_jwt(tok)
    assert header.get("typ") == "at+jwt"
    r = call(api.url("/api/env"), tok)
    assert r.status_code == 200, r.text
    env = r.json()
    assert env["REMOTE_USER"] == payload["sub"]
    assert env["AUTH_TYPE"] == "oidc-bearer"
    assert env["OIDC_CLAIM_scope"] == "api:read api:write"
    assert env["HTTP_OIDC_CLAIM_CLIENT_ID"] == "api-client"


def test_no_token_is_401_with_challenge(api, expect_log):
    r = call(api.url("/api/env"))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="test api"'
    assert "Location" not in r.headers


def test_navigation_never_redirects(api):
    r = call(api.url("/api/env"), headers={"Accept": "text/html", "Sec-Fetch-Mode": "navigate"})
    assert r.status_code == 401 and "Location" not in r.headers


def forged(op, **over):
    now = int(time.time())
    claims = {"iss": op.issuer, "sub": "svc", "aud": API, "exp": now + 600, "iat": now,
              "scope": "api:read", "client_id": "api-client"}
    for k, v in over.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return claims


@pytest.mark.parametrize("case", ["expired", "wrong_aud", "other_api", "wrong_iss", "not_yet", "no_exp"])
def test_bad_claims_are_invalid_token(api, op, expect_log, case):
    expect_log(r"AOIDC50[24]", required=True)
    now = int(time.time())
    over = {"expired": dict(exp=now - 3600, iat=now - 7200),
            "wrong_aud": dict(aud="https://evil.example"),
            "other_api": dict(aud=OPAQUE_API),
            "wrong_iss": dict(iss="http://evil.example.test"),
            "not_yet": dict(nbf=now + 3600),
            "no_exp": dict(exp=None)}[case]
    tok = sign_jwt(forged(op, **over), header={"typ": "at+jwt"})
    r = call(api.url("/api/env"), tok)
    assert_bearer_error(r, 401, "invalid_token")
    assert tok not in r.text


def test_forged_signatures_refused(api, op, expect_log):
    expect_log(r"AOIDC50[14]", required=True)
    good = sign_jwt(forged(op), header={"typ": "at+jwt"})
    h, p, s = good.split(".")
    bad_sig = f"{h}.{p}.{s[:-4]}{'AAAA' if not s.endswith('AAAA') else 'BBBB'}"
    none_hdr = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "at+jwt"}).encode()).rstrip(b"=").decode()
    alg_none = f"{none_hdr}.{p}."
    # HS256 keyed with the RSA public key (algorithm confusion)
    import hmac, hashlib
    jwk = [k for k in op.jwks()["keys"] if k.get("kid") == "rsa-a"][0]
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
    from cryptography.hazmat.primitives import serialization
    pub = RSAPublicNumbers(int.from_bytes(harness.unb64url(jwk["e"]), "big"),
                           int.from_bytes(harness.unb64url(jwk["n"]), "big")).public_key()
    pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_hdr = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": "rsa-a"}).encode()) \
        .rstrip(b"=").decode()
    mac = hmac.new(pem, f"{hs_hdr}.{p}".encode(), hashlib.sha256).digest()
    hs256 = f"{hs_hdr}.{p}.{harness.b64url(mac)}"
    for tok in (bad_sig, alg_none, hs256):
        assert_bearer_error(call(api.url("/api/env"), tok), 401, "invalid_token")
    # the good one passes
    assert call(api.url("/api/env"), good).status_code == 200


def test_missing_scope_is_403_insufficient_scope(api, op, expect_log):
    expect_log(r"AOIDC530", required=True)
    expect_log(r"AH01631: user api-client: authorization failure", required=True)
    tok = get_token(op, API, scope="api:read")
    assert call(api.url("/api/env"), tok).status_code == 200
    r = call(api.url("/api/write"), tok)
    assert_bearer_error(r, 403, "insufficient_scope")
    assert 'scope="api:read api:write"' in r.headers["WWW-Authenticate"]


# what a provider's text looks like in the error log once we escaped it (ap_escape_logitem: `"` ->
# `\"`, control bytes -> `\xNN`) and httpd escaped our line (every backslash doubled)
SUB_RAW = 'ev"il\x1b[2J\n[error] AOIDC999: forged line'
SUB_LOGGED = 'ev\\\\"il\\\\x1b[2J\\\\n[error] AOIDC999: forged line'


def test_provider_text_escaped_in_log_lines(api, op, errlog, expect_log):
    """The token's sub and scope reach the log line of a missing scope only escaped."""
    expect_log(r"AOIDC530", required=True)
    expect_log(r"AH01631", required=True)
    tok = sign_jwt(forged(op, sub=SUB_RAW, scope='api:read "x'), header={"typ": "at+jwt"})
    assert_bearer_error(call(api.url("/api/write"), tok), 403, "insufficient_scope")
    lines = errlog.search(r"AOIDC530")
    assert lines, "no AOIDC530 line"
    line = lines[-1]
    assert f"token of '{SUB_LOGGED}'" in line, line
    assert "(scope 'api:read \\\\\"x')" in line, line
    assert 'ev"il' not in line and "read \"x" not in line, line
    assert not errlog.search(r"^\[error\] AOIDC999")


def test_query_token_refused_unless_enabled(api, op, expect_log):
    expect_log(r"AOIDC523", required=True)
    tok = get_token(op, API)
    r = requests.get(api.url("/api/env"), params={"access_token": tok}, allow_redirects=False)
    assert_bearer_error(r, 400, "invalid_request")
    assert tok not in r.text
    r = requests.get(api.url("/api/q"), params={"access_token": tok}, allow_redirects=False)
    assert r.status_code == 200
    # header and query at once: refused even where the query is allowed
    r = requests.get(api.url("/api/q"), params={"access_token": tok}, headers={"Authorization": f"Bearer {tok}"},
                     allow_redirects=False)
    assert_bearer_error(r, 400, "invalid_request")


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer a b", "Bearer <script>", "Bearer " + "A" * 20000,
                                   "Bearer \u00e9t\u00e9"])
def test_garbage_authorization_headers(api, expect_log, value):
    expect_log(r"AOIDC5\d\d", required=False)
    r = requests.get(api.url("/api/env"), headers={"Authorization": value.encode("utf-8")}, allow_redirects=False)
    assert r.status_code in (400, 401), r.status_code
    assert "<script>" not in r.text
    assert r.status_code != 500


def test_other_scheme_is_just_unauthenticated(api):
    r = requests.get(api.url("/api/env"), auth=("user", "pw"), allow_redirects=False)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="test api"'


def test_header_spoofing_on_api(api, op, expect_log):
    expect_log(r"AOIDC100", required=True)
    tok = get_token(op, API)
    r = call(api.url("/api/env"), tok, headers={"OIDC_CLAIM_sub": "admin", "OIDC-CLAIM-client-id": "evil"})
    env = r.json()
    assert env["HTTP_OIDC_CLAIM_CLIENT_ID"] == "api-client"
    assert env.get("HTTP_OIDC_CLAIM_SUB") in (None, env["REMOTE_USER"])


def test_opaque_token_introspected_and_cached(api, op, memcached):
    tok = get_token(op, OPAQUE_API, scope="api:read")
    assert "." not in tok
    before = op.stats()["introspection"]
    for _ in range(3):
        r = call(api.url("/opaque/env"), tok)
        assert r.status_code == 200, r.text
    assert op.stats()["introspection"] - before == 1, "the introspection answer was not cached"
    assert any(k.startswith("aoidc:i2:") for k in memcached.keys())
    assert not any(tok in k for k in memcached.keys())


def test_revoked_opaque_token_refused(api, op, expect_log):
    expect_log(r"AOIDC51[14]", required=True)
    tok = get_token(op, OPAQUE_API, scope="api:read")
    r = requests.post(op.url("/token/revocation"), auth=("api-client", OP.secret("api-client")),
                      data={"token": tok})
    assert r.status_code == 200
    assert_bearer_error(call(api.url("/opaque/env"), tok), 401, "invalid_token")
    # the inactive answer is cached too
    before = op.stats()["introspection"]
    assert_bearer_error(call(api.url("/opaque/env"), tok), 401, "invalid_token")
    assert op.stats()["introspection"] == before


def test_opaque_token_does_not_cross_apis(api, make_apache, op, memcached, expect_log):
    """A token introspected for API A (its aud) is refused by API B (another
    AuthOIDCBearerAudience, same provider) from the cached answer, on this node and on a
    second node sharing memcached; A still gets it from the cache on both."""
    expect_log(r"AOIDC511", required=True)
    node2 = make_apache(bearer_conf(op.issuer), name="b")
    tok = get_token(op, OPAQUE_API, scope="api:read")
    before = op.stats()["introspection"]
    assert call(api.url("/opaque/env"), tok).status_code == 200
    for node in (api, node2):
        for _ in range(2):
            assert_bearer_error(call(node.url("/opaque-other/env"), tok), 401, "invalid_token")
    r = call(node2.url("/opaque/env"), tok)
    assert r.status_code == 200, r.text
    assert r.json()["OIDC_CLAIM_scope"] == "api:read"
    # one introspection for all of it: B's refusals came from the cached answer
    assert op.stats()["introspection"] - before == 1


def test_opaque_token_refused_by_other_api_first_still_works_at_its_api(api, make_apache, op, memcached,
                                                                        expect_log):
    """An answer learnt at the wrong API is cached as what it says, not as a refusal: the
    right API (here on another node) accepts the token from that cached answer."""
    expect_log(r"AOIDC511", required=True)
    node2 = make_apache(bearer_conf(op.issuer), name="b")
    tok = get_token(op, OPAQUE_API, scope="api:read")
    before = op.stats()["introspection"]
    assert_bearer_error(call(api.url("/opaque-other/env"), tok), 401, "invalid_token")
    assert call(node2.url("/opaque/env"), tok).status_code == 200
    assert call(api.url("/opaque/env"), tok).status_code == 200
    assert op.stats()["introspection"] - before == 1


def test_opaque_token_of_a_provider_the_location_does_not_accept(api, op, expect_log):
    """Opaque tokens are introspected at AuthOIDCUseProvider; a location whose
    AuthOIDCBearerProviders leaves that provider out accepts none of them."""
    expect_log(r"AOIDC690", required=True)
    tok = get_token(op, OPAQUE_API, scope="api:read")
    assert call(api.url("/opaque/env"), tok).status_code == 200
    assert_bearer_error(call(api.url("/opaque-mainonly/env"), tok), 401, "invalid_token")


def real_id_token(op, user="alice", password="alice-pw") -> str:
    """An ID token of the client app from a real code flow at the dev OP (Python as the RP)."""
    from urllib.parse import parse_qs, urlencode, urlsplit
    redirect_uri = f"http://127.0.0.1:{harness.free_port()}/oidc/callback"
    verifier, challenge = harness.pkce_pair()
    q = dict(client_id="app", response_type="code", scope="openid email", redirect_uri=redirect_uri,
             state="st-" + harness.b64url(__import__("os").urandom(8)), nonce="n-" + str(time.time_ns()),
             code_challenge=challenge, code_challenge_method="S256")
    browser = harness.new_browser()
    cb = harness.op_login_only(browser, op.url("/auth?" + urlencode(q)), user, password, op=op)
    code = parse_qs(urlsplit(cb).query)["code"][0]
    r = harness.new_browser().post(op.url("/token"), auth=("app", OP.secret("app")), timeout=10,
                                   data=dict(grant_type="authorization_code", code=code, redirect_uri=redirect_uri,
                                             code_verifier=verifier))
    assert r.status_code == 200, r.text
    return r.json()["id_token"]


def test_id_token_is_not_an_access_token(api, op, expect_log):
    """A genuine ID token (signed by the provider, our issuer, aud = the location's audience,
    unexpired) carries a nonce: it is refused as a bearer token."""
    expect_log(r"AOIDC504.*bad-nonce", required=True)
    tok = real_id_token(op)
    header, claims = harness.decode_jwt(tok)
    assert claims["aud"] == "app" and claims.get("nonce") and claims["iss"] == op.issuer
    assert header.get("typ") in (None, "JWT")
    for _ in range(2):  # never from the process cache either
        r = call(api.url("/app-api/env"), tok)
        assert_bearer_error(r, 401, "invalid_token")
    # the same location takes an access token naming it
    now = int(time.time())
    at = sign_jwt({"iss": op.issuer, "sub": "svc", "aud": "app", "exp": now + 600, "iat": now,
                   "client_id": "api-client"}, header={"typ": "at+jwt"})
    assert call(api.url("/app-api/env"), at).status_code == 200


def test_jwt_for_opaque_api_refused(api, op, expect_log):
    """A valid token for another API is not valid here."""
    expect_log(r"AOIDC504", required=True)
    tok = get_token(op, API)
    r = call(api.url("/opaque/env"), tok)
    assert_bearer_error(r, 401, "invalid_token")


def test_jwt_hot_path_cached_no_provider_no_memcached(api, op, memcached, make_apache):
    tok = get_token(op, API)
    assert call(api.url("/api/env"), tok).status_code == 200
    st, gets = op.stats(), int(memcached.stats()["cmd_get"])
    for _ in range(20):
        assert call(api.url("/api/env"), tok).status_code == 200
    assert op.stats() == st
    assert int(memcached.stats()["cmd_get"]) == gets


def test_location_accepts_session_and_bearer(api, op, browser):
    tok = get_token(op, API)
    r = call(api.url("/both/env"), tok)
    assert r.status_code == 200 and r.json()["AUTH_TYPE"] == "oidc"
    rs = harness.login(browser, api.url("/both/env"), "alice", "alice-pw", op=op)
    assert rs[-1].json()["REMOTE_USER"] == "alice"
    # a bad bearer token on such a location is a 401, never a login redirect
    r = call(api.url("/both/env"), "garbage.token.here")
    assert r.status_code == 401 and "Location" not in r.headers
