"""issue 13 point 7: `apachectl -t` checks how locations and providers fit together.

An AuthType oidc (or oidc-bearer) location on a server without any <AuthOIDCProvider> fails the
check, naming the AuthType's file and line and its section; a provider name must be one of the
location's own server (a provider of another virtual host is unknown there); an http: issuer on a
host other than the loopback gets a start-up warning naming the provider and its line."""
import re

from harness import OP
from test_60_config import check_fails, conf_lines, line_of


def provider(name: str, issuer: str = "http://localhost:1") -> str:
    return (f"<AuthOIDCProvider {name}>\n    AuthOIDCIssuer {issuer}\n    AuthOIDCClientID app\n"
            f"    AuthOIDCClientSecretFile {OP.secret_file('app')}\n</AuthOIDCProvider>\n")


def test_authtype_oidc_without_any_provider(make_apache):
    out = check_fails(make_apache, "AuthType oidc", r"AuthType oidc at .* on a server without any <AuthOIDCProvider>",
                      oidc={"provider_name": None})
    n = line_of(conf_lines(make_apache), "<Location /protected>")
    assert re.search(rf"<Location /protected> at .*configtest\.conf:{n}\b", out), out


def test_authtype_bearer_without_any_provider(make_apache):
    check_fails(make_apache, "AuthType oidc-bearer",
                r"AuthType oidc-bearer at .* on a server without any <AuthOIDCProvider>",
                "<Location /api>\n    AuthType oidc-bearer\n    AuthOIDCBearerAudience x\n    Require valid-user\n"
                "</Location>\n", oidc={"provider_name": None, "protected": False})


def test_quoted_authtype_in_a_virtual_host_without_provider(make_apache):
    """The main server's provider is inherited by a virtual host; the check sees the vhost."""
    snippet = ('<VirtualHost 127.0.0.1:9>\n    ServerName other.test\n    <Location /x>\n'
               '        AuthType "OIDC"\n        Require valid-user\n    </Location>\n</VirtualHost>\n')
    rc, out = make_apache.configtest(snippet)
    assert rc == 0, out
    check_fails(make_apache, 'AuthType "OIDC"', r"AuthType OIDC at .* without any <AuthOIDCProvider>", snippet,
                oidc={"provider_name": None, "protected": False})


def test_provider_of_another_virtual_host_is_unknown(make_apache):
    snippet = ('<VirtualHost 127.0.0.1:9>\n    ServerName one.test\n' + provider("vh1") + '</VirtualHost>\n'
               '<VirtualHost 127.0.0.1:9>\n    ServerName two.test\n    <Location /x>\n        AuthType oidc\n'
               '        AuthOIDCUseProvider vh1\n        Require valid-user\n    </Location>\n</VirtualHost>\n')
    check_fails(make_apache, "AuthOIDCUseProvider vh1",
                r"AuthOIDCUseProvider vh1 at .*names no <AuthOIDCProvider> of its server", snippet)


def test_provider_of_own_virtual_host_passes(make_apache):
    snippet = ('<VirtualHost 127.0.0.1:9>\n    ServerName one.test\n' + provider("vh1") +
               '    <Location /x>\n        AuthType oidc\n        AuthOIDCUseProvider vh1\n'
               '        Require valid-user\n    </Location>\n</VirtualHost>\n')
    rc, out = make_apache.configtest(snippet)
    assert rc == 0 and "Syntax OK" in out, out


def test_http_issuer_off_loopback_warns(make_apache):
    rc, out = make_apache.configtest(oidc={"issuer": "http://op.example.test/realms/x"})
    assert rc == 0, out
    n = line_of(conf_lines(make_apache), "<AuthOIDCProvider main>")
    assert re.search(rf":warn\].*AOIDC831: .*<AuthOIDCProvider main> at .*configtest\.conf:{n}: AuthOIDCIssuer "
                     r"http://op\.example\.test/realms/x is plain http", out), out


def test_http_issuer_on_loopback_and_https_do_not_warn(make_apache):
    for issuer in ("http://localhost:1", "http://127.0.0.1:1/x", "http://[::1]:1", "https://op.example.test"):
        rc, out = make_apache.configtest(oidc={"issuer": issuer})
        assert rc == 0 and "AOIDC831" not in out, (issuer, out)


def test_provider_redirect_uri_must_not_shadow_the_logout_uri(make_apache):
    rc, out = make_apache.configtest(oidc={"provider_extra": "AuthOIDCRedirectURI /oidc/logout"})
    assert rc != 0, out
    n = line_of(conf_lines(make_apache), "<AuthOIDCProvider main>")
    assert re.search(rf"AOIDC843: .*AuthOIDCRedirectURI /oidc/logout of <AuthOIDCProvider main> at "
                     rf".*configtest\.conf:{n} must differ", out), out
    rc, out = make_apache.configtest(oidc={"provider_extra": "AuthOIDCRedirectURI /oidc/main-callback"})
    assert rc == 0, out
