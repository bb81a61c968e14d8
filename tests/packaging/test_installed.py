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


def _as(user: str, *cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--no-new-privs",
                           "--", *cmd], capture_output=True, text=True, timeout=60, **kw)


def test_console_service_view(make_apache, op, memcached, tmp_path):
    """What oidc-console.service sees, without systemd (not PID 1 here): the console user
    reads the packaged console.conf and htpasswd, the root-only key only through the unit's
    handover (LoadCredential: a private copy owned by the user, BindReadOnlyPaths: mounted
    over the key directory, done here with unshare -m), appends to the audit log, and
    `serve` lists a live session. Nobody else reads any of it."""
    if os.geteuid() != 0:
        pytest.skip("needs root (setpriv, unshare)")
    a = make_apache(oidc={"crypto_key_file": str(KEY)})
    s = new_browser()
    assert login(s, a.url("/protected/env"), "bob", harness.USERS["bob"]["password"], op=op)[-1].status_code == 200

    # the packaged conffile, edited in place (mode and owner stay): test memcached, a free port
    port = harness.free_port()
    conf = CONSOLE_CONF.read_text().splitlines()
    conf = [f"store_servers = {memcached.address}" if ln.startswith("store_servers")
            else f"listen = 127.0.0.1:{port}" if ln.startswith("listen") else ln for ln in conf]
    CONSOLE_CONF.write_text("\n".join(conf) + "\n")
    htpasswd = Path("/etc/oidc-console/htpasswd")
    subprocess.run(["htpasswd", "-bB", str(htpasswd), "admin", "pkg test pw"], check=True, capture_output=True)
    for f, want in ((CONSOLE_CONF, "640 root:oidc-console"), (htpasswd, "640 root:oidc-console"),
                    (Path("/var/log/oidc-console/audit.log"), "640 oidc-console:oidc-console")):
        st = subprocess.run(["stat", "-c", "%a %U:%G", str(f)], capture_output=True, text=True).stdout.strip()
        assert st == want, f"{f}: {st}"

    # root only: neither the console user nor anyone else reads the key; nobody reads the console's files
    r = _as("oidc-console", CONSOLE, "--config", str(CONSOLE_CONF), "check-config")
    assert r.returncode == 2 and "crypto_key_file" in r.stderr, (r.returncode, r.stderr)
    for f in (KEY, CONSOLE_CONF, htpasswd):
        assert _as("nobody", "cat", str(f)).returncode != 0, f"nobody reads {f}"

    # the handover, as the unit does it
    cred = tmp_path / "credentials"
    cred.mkdir()
    (cred / "crypto.key").write_bytes(KEY.read_bytes())
    subprocess.run(["chown", "-R", "oidc-console:oidc-console", str(cred)], check=True)
    os.chmod(cred / "crypto.key", 0o400)
    os.chmod(cred, 0o500)
    script = ('mount --bind "$1" /etc/apache2/auth_oidc && exec setpriv --reuid=oidc-console '
              '--regid=oidc-console --init-groups --no-new-privs -- "$2" --config "$3" serve')
    proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script, "_", str(cred), CONSOLE, str(CONSOLE_CONF)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("READY "), (line, proc.poll())
        harness.wait_port(port, alive=lambda: proc.poll() is None)
        b = new_browser()
        base = f"http://127.0.0.1:{port}"
        assert b.post(base + "/api/login", json={"user": "admin", "password": "pkg test pw"},
                      timeout=10).status_code == 200
        listing = b.get(base + "/api/sessions", timeout=10).json()
        assert [x["sub"] for x in listing["sessions"]] == ["bob"], listing
    finally:
        harness.stop_process(proc)
    assert 'admin="admin" action=login' in Path("/var/log/oidc-console/audit.log").read_text()
