#!/usr/bin/python3
"""Runs the demo: memcached, the dev OP with test users, Apache with mod_auth_oidc,
all on 127.0.0.1. Prints the URL and credentials, runs until Ctrl-C, then stops
everything it started (by PID)."""
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import harness  # noqa: E402


def pick(preferred: int) -> int:
    return preferred if not harness.port_open(preferred) else harness.free_port()


def spa_check(s, port: int) -> bool:
    """What the single-page app does, with a logged-in session: who am I, a POST with the
    CSRF token (and one without, refused), the API called with the session's access token."""
    base = f"http://127.0.0.1:{port}"
    page = s.get(base + "/spa/", timeout=15)
    info = s.get(base + "/oidc/session", timeout=15).json()
    hdrs = {"Content-Type": "application/json", "X-CSRF-Token": info["csrf_token"]}
    posted = s.post(base + "/spa/api/notes", data='{"text":"hi"}', headers=hdrs, timeout=15)
    forged = s.post(base + "/spa/api/notes", data='{"text":"hi"}', timeout=15)
    api = s.get(base + "/spa/api/orders", timeout=15)
    return (page.status_code == 200 and "app.js" in page.text and info["sub"] == "alice"
            and posted.status_code == 201 and posted.json()["by"] == "alice" and forged.status_code == 403
            and api.status_code == 200 and api.json()["token_of"] == "alice")


def main() -> int:
    module = os.environ.get("AOIDC_MODULE", str(REPO / "build" / ".libs" / "mod_auth_oidc.so"))
    console_bin = os.environ.get("AOIDC_CONSOLE", str(REPO / "build" / "console" / "oidc-console"))
    work = Path(tempfile.mkdtemp(prefix="aoidc-demo-"))
    work.chmod(0o755)
    mc = harness.Memcached(work, pick(11311))
    op = harness.OP(work, pick(9090))
    # a second provider (another issuer and keys): partners log in there
    op2 = harness.OP(work, pick(9091), path="/realms/partners")
    port = pick(8080)
    key = harness.write_crypto_key(work / "crypto.key")
    # served and run by Apache's children (www-data): a readable copy, wherever the checkout is
    demo_dir = harness.readable_copy(REPO / "conf" / "examples" / "demo", "aoidc-demo-www-")
    snippet = (demo_dir / "demo.conf.in").read_text().replace("@DEMO@", str(demo_dir)).replace(
        "@PORT@", str(port)).replace("@USERINFO@", op.issuer + "/me") \
        .replace("@PARTNERS_ISSUER@", op2.issuer).replace("@SECRET_FILE@", str(harness.OP.secret_file("app")))
    oidc = harness.oidc_config(crypto_key_file=str(key), session_store=f"memcached {mc.address}",
                               issuer=op.issuer, protected=False,
                               provider_extra='AuthOIDCProviderDisplayName "Employees (company login)"',
                               post_logout_redirect=f"http://127.0.0.1:{port}/loggedout.html",
                               extra="AuthOIDCNodeName demo-node\nAuthOIDCBackChannelLogoutURI /oidc/backchannel")
    # oidc-console: same store and key, an admin with a fresh password
    console_port = pick(8089)
    admin_pw = secrets.token_urlsafe(12)
    cdir = work / "console"
    cdir.mkdir()
    ht = subprocess.run(["htpasswd", "-nbB", "admin", admin_pw], capture_output=True, text=True, check=True)
    (cdir / "htpasswd").write_text(ht.stdout.strip() + "\n")
    (cdir / "console.conf").write_text(
        f"store_servers = {mc.address}\ncrypto_key_file = {key}\nadmin_htpasswd = {cdir / 'htpasswd'}\n"
        f"audit_log = {cdir / 'audit.log'}\nlisten = 127.0.0.1:{console_port}\nproviders = main\n")
    console = None
    apache = harness.Apache("demo", work / "apache", port,
                            dict(snippet=snippet, oidc=oidc, module_path=module, loglevel="warn auth_oidc:info",
                                 extra_modules=("proxy", "proxy_http")))
    started = []
    try:
        for part in (mc, op, op2, apache):
            part.start()
            started.append(part)
        op.client("app", backchannel_logout_uri=f"http://127.0.0.1:{port}/oidc/backchannel")
        console = subprocess.Popen([console_bin, "--config", str(cdir / "console.conf"), "serve"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        ready = console.stdout.readline().decode()
        if not ready.startswith("READY"):
            raise harness.HarnessError(f"oidc-console did not start: {ready}")
        print(f"""
mod_auth_oidc demo is running (Ctrl-C stops it).

  Protected page:   http://127.0.0.1:{port}/demo/
  Admins only:      http://127.0.0.1:{port}/admin/   (alice is in groups=admins, bob is not)
  Single-page app:  http://127.0.0.1:{port}/spa/   (session info, CSRF token, an API with the access token)
  Either provider:  http://127.0.0.1:{port}/shared/  (a page to choose: employees or partners)
  Partners only:    http://127.0.0.1:{port}/partners/
  Log in directly:  http://127.0.0.1:{port}/oidc/login?provider=partners&return=/shared/
  Log out:          http://127.0.0.1:{port}/oidc/logout
  OpenID Provider:  {op.issuer}  (discovery: {op.issuer}/.well-known/openid-configuration)
  Partners' OP:     {op2.issuer}  (the same test users, another issuer and keys)
  memcached:        {mc.address}

  Admin console:    http://127.0.0.1:{console_port}/   user admin / password {admin_pw}
  Console CLI:      {console_bin} --config {cdir / 'console.conf'} sessions

  Test users (user / password):""")
        for name, u in harness.USERS.items():
            print(f"    {name:6} / {u['password']:9}  groups: {', '.join(u['groups']) or '-'}")
        print(f"""
  Apache error log: {apache.error_log}
  Config:           {apache.conf_path}
""", flush=True)
        if os.environ.get("AOIDC_DEMO_CHECK"):
            # non-interactive self-check: log in as alice and show the page
            s = harness.new_browser()
            rs = harness.login(s, f"http://127.0.0.1:{port}/demo/", "alice", "alice-pw", op=op)
            print(f"self-check: {rs[-1].status_code} {'alice' in rs[-1].text}")
            # the second provider: the chooser, then bob logs in as a partner
            s2 = harness.new_browser()
            chooser = s2.get(f"http://127.0.0.1:{port}/shared/", allow_redirects=False, timeout=15)
            rs2 = harness.login(s2, f"http://127.0.0.1:{port}/oidc/login?provider=partners&return=/shared/",
                                "bob", "bob-pw", op=op2)
            partners_ok = chooser.status_code == 200 and "Partner companies" in chooser.text and \
                rs2[-1].status_code == 200 and "Hello, bob" in rs2[-1].text
            print(f"partners-check: {chooser.status_code} {rs2[-1].status_code} {partners_ok}")
            listing = subprocess.run([console_bin, "--config", str(cdir / "console.conf"), "--json", "sessions"],
                                     capture_output=True, text=True, timeout=30)
            print(f"console-check: {listing.returncode} {'alice' in listing.stdout}")
            spa_ok = spa_check(s, port)
            print(f"spa-check: {spa_ok}")
            ok = rs[-1].status_code == 200 and "Hello, alice" in rs[-1].text and spa_ok and partners_ok
            return 0 if ok and listing.returncode == 0 and "alice" in listing.stdout else 1
        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(p.running() for p in started):
            time.sleep(1)
        print("a demo process stopped; shutting down")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if console:
            harness.stop_process(console)
        for part in reversed(started):
            part.stop()
        print("demo stopped")


if __name__ == "__main__":
    sys.exit(main())
