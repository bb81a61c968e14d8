"""The installed packages at work (run by tests/packaging/run.sh after it installed the
.debs; the e2e fixtures come from tests/e2e/conftest.py, see conftest.py here).

A private Apache (the e2e harness: its own config, never /etc/apache2) loads the INSTALLED
module (AOIDC_MODULE=/usr/lib/apache2/modules/mod_auth_oidc.so) with the crypto key the
package generated; a browser logs in and an API client sends a bearer token; then the
INSTALLED oidc-console, with the packaged console.conf (only store_servers pointed at the
test memcached), lists that session."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

import harness
from harness import OP, login, new_browser

MODULE = "/usr/lib/apache2/modules/mod_auth_oidc.so"
CONSOLE = "/usr/bin/oidc-console"
KEY = Path(os.environ.get("AOIDC_PKG_KEY", "/etc/apache2/auth_oidc/crypto.key"))
CONSOLE_CONF = Path("/etc/oidc-console/console.conf")
API = "https://api.example.test"


@pytest.fixture(autouse=True)
def _installed():
    if harness.MODULE_PATH != MODULE or os.environ.get("AOIDC_CONSOLE") != CONSOLE:
        pytest.fail(f"run with AOIDC_MODULE={MODULE} AOIDC_CONSOLE={CONSOLE} (tests/packaging/run.sh)",
                    pytrace=False)
    for f in (MODULE, CONSOLE, KEY, CONSOLE_CONF):
        assert Path(f).is_file(), f"{f}: not installed"


def _snippet() -> str:
    return f"""
ScriptAlias /api/env "{harness.HTDOCS}/cgi/env.py"
<Location /api>
    AuthType oidc-bearer
    AuthName "packaged api"
    AuthOIDCBearerAudience {API}
    Require oidc-scope api:read
</Location>
"""


def test_login_bearer_and_console_through_the_installed_packages(make_apache, op, memcached, tmp_path):
    a = make_apache(_snippet(), oidc={"crypto_key_file": str(KEY), "extra": "AuthOIDCNodeName pkg-node"})

    # a browser login through the installed module, with the package's key
    s = new_browser()
    hops = login(s, a.url("/protected/env"), "alice", harness.USERS["alice"]["password"], op=op)
    assert hops[-1].status_code == 200, harness.hops(hops)
    assert hops[-1].json()["REMOTE_USER"] == "alice"
    again = s.get(a.url("/protected/env"), allow_redirects=False, timeout=10)
    assert again.status_code == 200 and again.json()["REMOTE_USER"] == "alice"

    # a bearer request: a JWT access token for the API, and none
    r = requests.post(op.url("/token"), auth=("api-client", OP.secret("api-client")),
                      data={"grant_type": "client_credentials", "resource": API, "scope": "api:read"}, timeout=10)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    ok = requests.get(a.url("/api/env"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert ok.status_code == 200, ok.text
    assert ok.json()["AUTH_TYPE"] == "oidc-bearer" and ok.json()["REMOTE_USER"]
    none = requests.get(a.url("/api/env"), allow_redirects=False, timeout=10)
    assert none.status_code == 401 and none.headers["WWW-Authenticate"].startswith("Bearer")

    # the installed console, with the packaged config, lists alice's session
    conf = tmp_path / "console.conf"
    lines = CONSOLE_CONF.read_text().splitlines()
    assert f"crypto_key_file = {KEY}" in lines, "the packaged console.conf names the package's key"
    conf.write_text("".join((f"store_servers = {memcached.address}" if ln.startswith("store_servers")
                             else ln) + "\n" for ln in lines))
    out = subprocess.run([CONSOLE, "--config", str(conf), "--json", "sessions"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    assert [x["sub"] for x in listing["sessions"]] == ["alice"], listing
    assert listing["sessions"][0]["node"] == "pkg-node"
