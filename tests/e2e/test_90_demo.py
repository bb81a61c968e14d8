"""The README's demo: scripts/demo.py starts memcached, the OP and Apache, and the
protected claims page works for a test user (AOIDC_DEMO_CHECK logs in as alice)."""
import os
import subprocess
import sys
from pathlib import Path

import harness

REPO = Path(__file__).resolve().parents[2]


def test_demo_starts_and_serves_claims_page():
    console = os.environ.get("AOIDC_CONSOLE", str(REPO / "console" / "oidc-console"))
    env = {**os.environ, "AOIDC_DEMO_CHECK": "1", "AOIDC_MODULE": harness.MODULE_PATH, "AOIDC_CONSOLE": console}
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py")], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Protected page:   http://127.0.0.1:" in r.stdout
    assert "alice  / alice-pw" in r.stdout
    assert "self-check: 200 True" in r.stdout
    assert "Single-page app:  http://127.0.0.1:" in r.stdout
    assert "spa-check: True" in r.stdout
    assert "Either provider:  http://127.0.0.1:" in r.stdout and "Partners' OP:" in r.stdout
    assert "partners-check: 200 200 True" in r.stdout
    assert "Admin console:    http://127.0.0.1:" in r.stdout and "user admin / password " in r.stdout
    assert "console-check: 0 True" in r.stdout
    assert "demo stopped" in r.stdout
