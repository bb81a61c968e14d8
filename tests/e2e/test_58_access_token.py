"""AuthOIDCPassAccessToken (issue 12, point 3): the session's access token reaches a
backend behind ProxyPass as `Authorization: Bearer` (replacing what the client sent) or as
`OIDC-Access-Token` (+ `-Expires`); client headers of that name never reach the backend."""
import time

import pytest
import requests

import harness
from harness import login, new_browser
from test_40_authz_backend import RawBackend


@pytest.fixture
def backend():
    b = RawBackend()
    yield b
    b.close()


def conf(port):
    return f"""
ProxyPass /api http://127.0.0.1:{port}/api
ProxyPass /hdr http://127.0.0.1:{port}/hdr
ProxyPass /none http://127.0.0.1:{port}/none
<Location /api>
    AuthType oidc
    AuthOIDCPassAccessToken authorization
    Require valid-user
</Location>
<Location /hdr>
    AuthType oidc
    AuthOIDCPassAccessToken header
    Require valid-user
</Location>
<Location /none>
    AuthType oidc
    Require valid-user
</Location>
"""


def headers_of(backend):
    line, hs = backend.last()
    out = {}
    for name, value in hs:
        out.setdefault(name.lower(), []).append(value)
    return line, out


def test_access_token_reaches_the_backend(make_apache, op, backend, expect_log):
    expect_log(r"AOIDC100: removed client header 'OIDC[-_]Access[-_]Token", required=True)
    site = make_apache(conf(backend.port), extra_modules=("proxy", "proxy_http"))
    b = new_browser()
    rs = login(b, site.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200
    # Authorization: Bearer, replacing the client's
    r = b.get(site.url("/api/orders"), headers={"Authorization": "Bearer client-chosen"}, timeout=15)
    assert r.status_code == 200 and r.text == "ok"
    line, h = headers_of(backend)
    assert line.startswith("GET /api/orders ")
    assert len(h["authorization"]) == 1 and h["authorization"][0].startswith("Bearer ")
    token = h["authorization"][0][len("Bearer "):]
    assert token != "client-chosen"
    # it is alice's real access token: the OP's userinfo answers it
    me = requests.get(op.discovery()["userinfo_endpoint"], headers={"Authorization": f"Bearer {token}"}, timeout=15)
    assert me.status_code == 200 and me.json()["sub"] == "alice"
    assert "oidc-access-token" not in h
    assert time.time() < int(h["oidc-access-token-expires"][0]) < time.time() + 86400
    # the header style, with its expiry; the client's own headers of that name are gone
    r = b.get(site.url("/hdr/x"), headers={"OIDC-Access-Token": "forged", "OIDC_Access_Token_Expires": "1"},
              timeout=15)
    assert r.status_code == 200
    _, h = headers_of(backend)
    assert h["oidc-access-token"] == [token]
    exp = int(h["oidc-access-token-expires"][0])
    assert time.time() < exp < time.time() + 86400
    assert "oidc_access_token_expires" not in h
    assert "authorization" not in h
    # a location without it passes no token, and scrubs the client's
    b.get(site.url("/none/x"), headers={"OIDC-Access-Token": "forged", "Authorization": "Basic eDp5"}, timeout=15)
    _, h = headers_of(backend)
    assert "oidc-access-token" not in h
    assert h["authorization"] == ["Basic eDp5"]   # not ours to touch there
    # the session cookie never reaches the backend
    assert all("aoidc_session" not in c for c in h.get("cookie", []))


def test_without_session_nothing_reaches_the_backend(make_apache, op, backend):
    site = make_apache(conf(backend.port), extra_modules=("proxy", "proxy_http"))
    r = requests.get(site.url("/api/orders"), headers={"Authorization": "Bearer x", "Accept": "application/json"},
                     allow_redirects=False, timeout=15)
    assert r.status_code == 401 and backend.heads == []


def test_configuration_errors(make_apache):
    rc, out = make_apache.configtest("<Location /x>\nAuthOIDCPassAccessToken cookie\n</Location>")
    assert rc != 0 and "AuthOIDCPassAccessToken" in out
