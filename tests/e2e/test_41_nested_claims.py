"""issue 13 point 5: nested claims by dotted path (Keycloak's realm_access.roles and
resource_access.<client>.roles) in Require oidc-claim, AuthOIDCRemoteUserClaim and the claims
passed to the backend; a claim whose own name has a dot is reached as name\\.with\\.dots."""
from __future__ import annotations

import harness
from harness import hops, op_login_only

NESTED = {
    "realm_access": {"roles": ["realm-admin", "offline"]},
    "resource_access": {"app": {"roles": ["editor"]}, "other": {"roles": ["viewer"]}},
    "dotted.name": "dv",
    "org": {"unit": {"code": "U-7"}},
}


def conf() -> str:
    cgi = f'"{harness.HTDOCS}/cgi/env.py"'
    locs = {
        "realm": "Require oidc-claim realm_access.roles:realm-admin",
        "client": "Require oidc-claim resource_access.app.roles:editor",
        "wrong-client": "Require oidc-claim resource_access.other.roles:editor",
        "dotted": "Require oidc-claim dotted\\.name:dv",
        "dotted-as-path": "Require oidc-claim dotted.name:dv",
        "user": "AuthOIDCRemoteUserClaim org.unit.code\n    Require valid-user",
    }
    out = []
    for name, body in locs.items():
        out.append(f"ScriptAlias /{name}/env {cgi}\n<Location /{name}/>\n    AuthType oidc\n    {body}\n</Location>")
    return "\n".join(out) + "\n"


def logged_in(make_apache, op, browser):
    a = make_apache(conf())
    cb = op_login_only(browser, a.url("/realm/env"), "alice", "alice-pw", op=op)
    op.mutate("claims", set=NESTED)
    r = browser.get(cb, allow_redirects=False, timeout=15)
    assert r.status_code == 302, hops([r])
    return a


def test_nested_claims(make_apache, op, browser, expect_log):
    expect_log(r"AH01631: user alice: authorization failure for \"/(wrong-client|dotted-as-path)/", required=True)
    a = logged_in(make_apache, op, browser)
    env = browser.get(a.url("/realm/env"), timeout=15).json()
    assert env["REMOTE_USER"] == "alice"
    # the backend gets the leaves by path (env names: CGI turns '.' into '_'), the object as JSON too
    assert env["OIDC_CLAIM_realm_access_roles"] == "realm-admin,offline"
    assert env["HTTP_OIDC_CLAIM_RESOURCE_ACCESS_APP_ROLES"] == "editor"
    assert env["OIDC_CLAIM_realm_access"] == '{"roles":["realm-admin","offline"]}'
    assert env["OIDC_CLAIM_dotted_name"] == "dv"
    assert browser.get(a.url("/client/env"), timeout=15).status_code == 200
    assert browser.get(a.url("/dotted/env"), timeout=15).status_code == 200
    # a path that is not there, and a dotted name that is not a path, refuse
    assert browser.get(a.url("/wrong-client/env"), timeout=15).status_code == 403
    assert browser.get(a.url("/dotted-as-path/env"), timeout=15).status_code == 403
    assert browser.get(a.url("/user/env"), timeout=15).json()["REMOTE_USER"] == "U-7"


def test_bad_paths_fail_configtest(make_apache):
    from test_60_config import check_fails
    for arg in ("a..b:x", ".a:x", "a\\b:x"):
        check_fails(make_apache, "Require oidc-claim", r"oidc-claim.*claim name",
                    f"<Location /app>\n    AuthType oidc\n    Require oidc-claim {arg}\n</Location>\n")
    check_fails(make_apache, "AuthOIDCRemoteUserClaim", r"AuthOIDCRemoteUserClaim: 'a\.' is not a claim name",
                "<Location /app>\n    AuthType oidc\n    AuthOIDCRemoteUserClaim a.\n</Location>\n")
