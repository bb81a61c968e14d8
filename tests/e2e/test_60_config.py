"""`apachectl -t` catches configuration mistakes, naming the directive and, where httpd
knows it, the file and line; a good configuration passes."""
import re
from pathlib import Path

import pytest

from harness import OP


def conf_lines(make_apache):
    """Lines of the config file that the last configtest() checked."""
    name = sorted(k for k in make_apache.instances if k.startswith("configtest"))[-1]
    return (make_apache.instances[name].root / "configtest.conf").read_text().splitlines()


def line_of(lines, needle, nth=-1):
    """1-based number of the nth line containing needle (default: the last)."""
    hits = [i + 1 for i, ln in enumerate(lines) if needle in ln]
    assert hits, f"{needle!r} not in the config"
    return hits[nth]


def check_fails(make_apache, needle, message, snippet="", nth=-1, **kw):
    """configtest must fail, its output must match `message` and name the line holding
    `needle` (a plain 'line N' or the 'file:N' the module writes itself)."""
    rc, out = make_apache.configtest(snippet, **kw)
    assert rc != 0, f"configtest passed:\n{out}"
    assert re.search(message, out), out
    n = line_of(conf_lines(make_apache), needle, nth)
    assert re.search(rf"(line {n}\b|configtest\.conf:{n}\b)", out), f"line {n} not named:\n{out}"
    assert "Syntax OK" not in out
    return out


def test_good_config_passes(make_apache):
    rc, out = make_apache.configtest("""
<Location /app>
    AuthType oidc
    AuthOIDCUseProvider main
    AuthOIDCUnauthAction pass
    AuthOIDCRemoteUserClaim email
    AuthOIDCPassClaimsAs headers
    AuthOIDCClaimPrefix X_OIDC_
    Require oidc-claim groups:admins email:alice@example.com
</Location>
""", oidc={"provider_extra": "AuthOIDCTokenEndpointAuth client_secret_basic\n"
                             "AuthOIDCExtraAudiences other\nAuthOIDCIDTokenAlgorithms RS256 ES256\n"
                             "AuthOIDCUserInfo On\nAuthOIDCJWKSRefreshInterval 0\nAuthOIDCMetadataTTL 3600",
           "extra": "AuthOIDCCookieSameSite Strict\nAuthOIDCSessionInactivityTimeout 600\n"
                    "AuthOIDCSessionMaxLifetime 3600\nAuthOIDCSessionTouchInterval 30\nAuthOIDCClockSkew 10\n"
                    "AuthOIDCHTTPTimeout 3\nAuthOIDCStoreTimeout 200\nAuthOIDCNodeName web-1\n"
                    "AuthOIDCCookieName my_session"})
    assert rc == 0, out
    assert "Syntax OK" in out


def test_default_config_passes(make_apache):
    rc, out = make_apache.configtest()
    assert rc == 0 and "Syntax OK" in out, out


def test_require_claim_without_colon(make_apache):
    check_fails(make_apache, "Require oidc-claim groups", r"oidc-claim.*'groups' is not NAME:VALUE",
                "<Location /app>\n    AuthType oidc\n    Require oidc-claim groups\n</Location>\n")


def test_require_claim_bad_name(make_apache):
    check_fails(make_apache, "Require oidc-claim", r"oidc-claim.*claim name",
                "<Location /app>\n    AuthType oidc\n    Require oidc-claim :admins\n</Location>\n")


def test_require_claim_empty(make_apache):
    check_fails(make_apache, "Require oidc-claim", r"oidc-claim",
                "<Location /app>\n    AuthType oidc\n    Require oidc-claim\n</Location>\n")


def test_unknown_unauth_action(make_apache):
    check_fails(make_apache, "AuthOIDCUnauthAction", r"AuthOIDCUnauthAction: 'redirect' is not auth, 401 or pass",
                "<Location /app>\n    AuthType oidc\n    AuthOIDCUnauthAction redirect\n</Location>\n")


@pytest.mark.parametrize("scope", ["email profile", "openidx email", "OpenID"])
def test_scope_without_openid(make_apache, scope):
    check_fails(make_apache, "AuthOIDCScope", r"AuthOIDCScope: .*openid", oidc={"scope": scope})


def test_missing_client_secret_file(make_apache, bench_dir):
    missing = bench_dir / "no-such-dir" / "app.secret"
    out = check_fails(make_apache, "AuthOIDCClientSecretFile", r"AuthOIDCClientSecretFile: ",
                      oidc={"client_secret_file": str(missing)})
    assert str(missing) in out or "no-such-dir" in out or "No such file" in out


def test_empty_client_secret_file(make_apache, bench_dir):
    empty = bench_dir / "empty.secret"
    empty.write_text("")
    check_fails(make_apache, "AuthOIDCClientSecretFile", r"AuthOIDCClientSecretFile: ",
                oidc={"client_secret_file": str(empty)})


@pytest.mark.parametrize("content", ["", "abc", "0123456789abcdef0123456789abcde"])
def test_crypto_key_too_short(make_apache, bench_dir, content):
    short = bench_dir / f"short-{len(content)}.key"
    short.write_text(content)
    short.chmod(0o600)
    check_fails(make_apache, "AuthOIDCCryptoKeyFile", r"AuthOIDCCryptoKeyFile: ",
                oidc={"crypto_key_file": str(short)})


def test_crypto_key_missing(make_apache, bench_dir):
    check_fails(make_apache, "AuthOIDCCryptoKeyFile", r"AuthOIDCCryptoKeyFile: ",
                oidc={"crypto_key_file": str(bench_dir / "nope.key")})


@pytest.mark.parametrize("store", ["memcached 127.0.0.1:99999", "memcached 127.0.0.1:abc",
                                   "memcached", "redis 127.0.0.1:6379", "memcached :11211",
                                   "memcached 127.0.0.1;11211", "memcached 127.0.0.1:0"])
def test_bad_session_store(make_apache, store):
    check_fails(make_apache, "AuthOIDCSessionStore", r"AuthOIDCSessionStore: ", oidc={"session_store": store})


@pytest.mark.parametrize("touch,inactivity", [("600", "600"), ("601", "600")])
def test_touch_interval_not_below_inactivity(make_apache, touch, inactivity):
    out = check_fails(make_apache, "AuthOIDCSessionTouchInterval",
                      rf"AuthOIDCSessionTouchInterval {touch} at .* must be below "
                      rf"AuthOIDCSessionInactivityTimeout {inactivity} at ",
                      oidc={"extra": f"AuthOIDCSessionTouchInterval {touch}\n"
                                     f"AuthOIDCSessionInactivityTimeout {inactivity}"})
    n = line_of(conf_lines(make_apache), "AuthOIDCSessionInactivityTimeout")
    assert f"configtest.conf:{n}" in out


def test_touch_interval_against_default_inactivity(make_apache):
    check_fails(make_apache, "AuthOIDCSessionTouchInterval",
                r"AuthOIDCSessionTouchInterval 3600 at .* must be below AuthOIDCSessionInactivityTimeout 3600 "
                r"\(default\)", oidc={"extra": "AuthOIDCSessionTouchInterval 3600"})


def test_use_unknown_provider(make_apache):
    check_fails(make_apache, "AuthOIDCUseProvider", r"AuthOIDCUseProvider other .*names no <AuthOIDCProvider>",
                "<Location /app>\n    AuthType oidc\n    AuthOIDCUseProvider other\n</Location>\n")


def test_samesite_none_needs_secure(make_apache):
    out = check_fails(make_apache, "AuthOIDCCookieSameSite",
                      r"AuthOIDCCookieSameSite None at .* needs AuthOIDCCookieSecure On",
                      oidc={"extra": "AuthOIDCCookieSameSite None"})
    n = line_of(conf_lines(make_apache), "AuthOIDCCookieSecure Off")
    assert f"configtest.conf:{n}" in out


def test_samesite_none_with_secure_passes(make_apache):
    rc, out = make_apache.configtest(oidc={"cookie_secure": "On", "extra": "AuthOIDCCookieSameSite None"})
    assert rc == 0, out


@pytest.mark.parametrize("issuer", ["not-a-url", "ftp://op.example", "http://", "https://op.example/?x=1",
                                    "https://op.example/#frag", "javascript:alert(1)"])
def test_issuer_not_a_url(make_apache, issuer):
    check_fails(make_apache, "AuthOIDCIssuer", r"AuthOIDCIssuer: .*is not an http\(s\) URL",
                oidc={"issuer": issuer})


@pytest.mark.parametrize("target", ["javascript:alert(1)", "data:text/html,x", "//evil.example/", "http://",
                                    "/\\evil.example", "ftp://evil.example/"])
def test_post_logout_redirect_not_http(make_apache, target):
    check_fails(make_apache, "AuthOIDCPostLogoutRedirect", r"AuthOIDCPostLogoutRedirect: ",
                oidc={"post_logout_redirect": target})


@pytest.mark.parametrize("directive", ["AuthOIDCClientID app", "AuthOIDCIssuer http://localhost:1",
                                       "AuthOIDCScope openid", "AuthOIDCUserInfo On",
                                       "AuthOIDCJWKSRefreshInterval 1",
                                       f"AuthOIDCClientSecretFile {OP.secret_file('app')}"])
def test_provider_directive_outside_section(make_apache, directive):
    name = directive.split()[0]
    check_fails(make_apache, directive, rf"{name} is only allowed inside <AuthOIDCProvider>",
                oidc={"extra": directive})


def test_provider_directive_in_location(make_apache):
    rc, out = make_apache.configtest("<Location /app>\n    AuthOIDCClientID app\n</Location>\n")
    assert rc != 0
    assert "AuthOIDCClientID" in out
    n = line_of(conf_lines(make_apache), "AuthOIDCClientID app")
    assert f"line {n}" in out, out


def test_server_directive_in_location(make_apache):
    check_fails(make_apache, "AuthOIDCCookieName x", r"AuthOIDCCookieName",
                "<Location /app>\n    AuthOIDCCookieName x\n</Location>\n")


def test_duplicate_provider_name(make_apache):
    second = (f"<AuthOIDCProvider main>\n  AuthOIDCIssuer http://localhost:1\n  AuthOIDCClientID app\n"
              f"  AuthOIDCClientSecretFile {OP.secret_file('app')}\n</AuthOIDCProvider>")
    check_fails(make_apache, "<AuthOIDCProvider main>", r"<AuthOIDCProvider main> is defined twice",
                oidc={"extra": second})


def test_incomplete_provider(make_apache):
    check_fails(make_apache, "<AuthOIDCProvider main>",
                r"<AuthOIDCProvider main> needs AuthOIDCIssuer, AuthOIDCClientID and AuthOIDCClientSecretFile",
                oidc={"client_id": None})


def test_missing_required_server_directive(make_apache):
    rc, out = make_apache.configtest(oidc={"session_store": None})
    assert rc != 0
    assert "AuthOIDCSessionStore is required" in out, out


@pytest.mark.parametrize("directive,message", [
    ("AuthOIDCSessionInactivityTimeout 5", r"AuthOIDCSessionInactivityTimeout: '5' is not a whole number"),
    ("AuthOIDCSessionMaxLifetime 99999999", r"AuthOIDCSessionMaxLifetime: "),
    ("AuthOIDCHTTPTimeout 0", r"AuthOIDCHTTPTimeout: "),
    ("AuthOIDCClockSkew -1", r"AuthOIDCClockSkew: "),
    ("AuthOIDCStoreTimeout 1s", r"AuthOIDCStoreTimeout: "),
    ("AuthOIDCCookieSecure maybe", r"AuthOIDCCookieSecure: expected On or Off"),
    ("AuthOIDCCookieSameSite Sometimes", r"AuthOIDCCookieSameSite: "),
    ("AuthOIDCCookieName aoidc_state_x", r"AuthOIDCCookieName: "),
    ("AuthOIDCRedirectURI oidc/callback", r"AuthOIDCRedirectURI: "),
    ("AuthOIDCLogoutURI //evil/logout", r"AuthOIDCLogoutURI: "),
])
def test_bad_server_values(make_apache, directive, message):
    check_fails(make_apache, directive, message, oidc={"extra": directive})


def test_logout_uri_equal_to_redirect_uri(make_apache):
    check_fails(make_apache, "AuthOIDCLogoutURI", r"AuthOIDCLogoutURI at .* must differ from AuthOIDCRedirectURI",
                oidc={"logout_uri": "/oidc/callback"})


@pytest.mark.parametrize("directive,message", [
    ("AuthOIDCIDTokenAlgorithms none", r"AuthOIDCIDTokenAlgorithms: 'none'"),
    ("AuthOIDCIDTokenAlgorithms HS256", r"AuthOIDCIDTokenAlgorithms: 'HS256'"),
    ("AuthOIDCTokenEndpointAuth private_key_jwt", r"AuthOIDCTokenEndpointAuth: "),
    ("AuthOIDCJWKSRefreshInterval -5", r"AuthOIDCJWKSRefreshInterval: "),
])
def test_bad_provider_values(make_apache, directive, message):
    check_fails(make_apache, directive, message, oidc={"provider_extra": directive})
