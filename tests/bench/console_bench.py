#!/usr/bin/env python3
"""oidc-console at scale (a benchmark, not a test).

Starts a private memcached, fills it with N live sessions through the test-only seeder
tests/console/aoidc-seed (built beside the console, never installed; records and directory
lists written with the same libaoidc calls the module uses), then prints how long the console takes to list the first page, to find one
user, and to revoke a user's sessions -- from the CLI and from the JSON API of `serve` --
and the console's memory (max RSS).

    /usr/bin/python3 tests/bench/console_bench.py [--sessions 100000] [--users 25000]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONSOLE = os.environ.get("AOIDC_CONSOLE", str(REPO / "console" / "oidc-console"))
SEED = os.environ.get("AOIDC_SEED", str(Path(CONSOLE).resolve().parent.parent / "tests" / "console" / "aoidc-seed"))
MEMCACHED = os.environ.get("AOIDC_MEMCACHED", "/usr/bin/memcached")
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from harness import free_port, stop_process, wait_port  # noqa: E402


def run(conf: Path, *args: str) -> tuple[float, int, dict | str, int]:
    """Run the CLI once: (seconds, exit code, parsed JSON or text, max RSS in KiB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen([CONSOLE, "--config", str(conf), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    dt = time.perf_counter() - t0
    # communicate() reaped it; wait4 is no longer possible, so read the children's peak
    rss = _child_maxrss()
    try:
        data = json.loads(out)
    except ValueError:
        data = out.decode(errors="replace") + err.decode(errors="replace")
    return dt, p.returncode, data, rss


def _child_maxrss() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def timed_cli(conf: Path, *args: str, repeat: int = 3):
    """Best of `repeat` runs, with the max RSS of a fresh process measured by /usr/bin/time
    when available (RUSAGE_CHILDREN only grows)."""
    best = None
    for _ in range(repeat):
        dt, rc, data, _ = run(conf, *args)
        best = dt if best is None or dt < best else best
    rss = None
    if shutil.which("time") or Path("/usr/bin/time").exists():
        r = subprocess.run(["/usr/bin/time", "-f", "%M", CONSOLE, "--config", str(conf), *args],
                           capture_output=True, text=True)
        try:
            rss = int(r.stderr.strip().splitlines()[-1])
        except (ValueError, IndexError):
            rss = None
    return best, rc, data, rss


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=25_000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    if not Path(CONSOLE).is_file():
        print(f"build the console first: {CONSOLE}", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="aoidc-console-bench-"))
    mc_port, web_port = free_port(), free_port()
    mc = subprocess.Popen([MEMCACHED, "-l", "127.0.0.1", "-p", str(mc_port), "-U", "0", "-m", "2048", "-t", "2"]
                          + (["-u", "nobody"] if os.geteuid() == 0 else []),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serve = None
    try:
        wait_port(mc_port)
        key = work / "crypto.key"
        key.write_text(secrets.token_hex(32))
        key.chmod(0o600)
        htp = work / "htpasswd"
        htp.write_text(subprocess.run(["htpasswd", "-nbB", "admin", "bench"], capture_output=True, text=True,
                                      check=True).stdout)
        conf = work / "console.conf"
        conf.write_text(f"store_servers = 127.0.0.1:{mc_port}\ncrypto_key_file = {key}\n"
                        f"admin_htpasswd = {htp}\naudit_log = {work / 'audit.log'}\n"
                        f"listen = 127.0.0.1:{web_port}\nproviders = bench\nper_page = 50\n")

        print(f"== seeding {a.sessions} sessions for {a.users} users ({a.threads} threads)")
        t0 = time.perf_counter()
        r = subprocess.run([SEED, "--config", str(conf), str(a.sessions), "--users", str(a.users),
                            "--threads", str(a.threads), "--provider", "bench"], capture_output=True, text=True)
        print(f"   {r.stdout.strip()} (wall {time.perf_counter() - t0:.1f}s, rc {r.returncode})")
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        with socket.create_connection(("127.0.0.1", mc_port), timeout=5) as sk:
            sk.sendall(b"stats\r\n")
            buf = b""
            while not buf.endswith(b"END\r\n"):
                buf += sk.recv(65536)
        st = dict(ln.split()[1:3] for ln in buf.decode().splitlines() if ln.startswith("STAT "))
        print(f"   memcached: {st.get('curr_items')} items, {int(st.get('bytes', 0)) // 1048576} MiB")

        rows = []

        def cli(label, *args):
            dt, rc, data, rss = timed_cli(conf, "--json", *args)
            extra = ""
            if isinstance(data, dict):
                if "sessions" in data:
                    extra = f"{len(data['sessions'])} shown of {data.get('total')}"
                elif "revoked" in data:
                    extra = f"{data['revoked']} revoked"
            rows.append((f"CLI  {label}", dt, rss, rc, extra))
            return data

        user = "user%07d" % (a.users // 2)
        cli("list first page (50)", "sessions")
        cli("list page 1000 (50)", "sessions", "--page", "1000")
        cli("list first page of provider", "sessions", "--provider", "bench")
        cli("find user (--user --provider)", "sessions", "--user", user, "--provider", "bench")
        cli("find user (--user, providers from config)", "sessions", "--user", user)
        cli("find user by email", "sessions", "--email", f"{user}@bench.example")
        cli("search substring (bounded scan)", "sessions", "--search", user)
        cli("prefix (CLI: no index, bounded scan)", "sessions", "--prefix", user)
        # revoke: one run only (the second would find nothing)
        dt, rc, data, _ = run(conf, "--json", "revoke", "--user", user, "--provider", "bench")
        rows.append(("CLI  revoke user's sessions", dt, None, rc,
                     f"{data.get('revoked')} revoked" if isinstance(data, dict) else str(data)[:60]))

        # the web console: same operations over the JSON API
        import requests
        serve = subprocess.Popen([CONSOLE, "--config", str(conf), "serve"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
        assert serve.stdout.readline().startswith(b"READY")
        s = requests.Session()
        s.trust_env = False
        base = f"http://127.0.0.1:{web_port}"
        tok = s.post(base + "/api/login", json={"user": "admin", "password": "bench"}, timeout=30).json()["csrf_token"]

        def api(label, method, path, **kw):
            best = None
            n = 1 if method == "POST" else 3
            for _ in range(n):
                t0 = time.perf_counter()
                resp = s.request(method, base + path, timeout=120, **kw)
                dt = time.perf_counter() - t0
                best = dt if best is None or dt < best else best
            j = resp.json()
            extra = (f"{len(j['sessions'])} shown of {j['total']}" if "sessions" in j
                     else f"{j.get('revoked')} revoked" if "revoked" in j else "")
            if "search" in j and ("q=" in path):
                extra += f" ({j['search']}{', partial' if j.get('partial') else ''})"
            rows.append((f"API  {label}", best, None, resp.status_code, extra))

        user2 = "user%07d" % (a.users // 3)
        # the prefix search index is built by a thread at start: wait for it
        t0 = time.perf_counter()
        while s.get(base + "/api/sessions?q=zz", timeout=120).json().get("search") != "index":
            if time.perf_counter() - t0 > 600:
                break
            time.sleep(0.5)
        rows.append(("serve: search index built (after start)", time.perf_counter() - t0, None, 0, ""))
        api(f"GET /api/sessions?q={user2[:-1]} (prefix, index)", "GET", f"/api/sessions?q={user2[:-1]}")
        name2 = "Bench%20User%20" + user2[4:-1]
        api(f"GET /api/sessions?q={name2} (name, index)", "GET", f"/api/sessions?q={name2}")
        api("GET /api/sessions?q=user00 (broad prefix, index)", "GET", "/api/sessions?q=user00")
        api(f"GET /api/sessions?q={user2[4:]}&scan=1 (substring)", "GET", f"/api/sessions?q={user2[4:]}&scan=1")
        api("GET /api/sessions (first page)", "GET", "/api/sessions")
        api("GET /api/sessions?user=&provider=", "GET", f"/api/sessions?user={user2}&provider=bench")
        api("GET /api/sessions?email=", "GET", f"/api/sessions?email={user2}@bench.example")
        api("POST /api/users/revoke", "POST", "/api/users/revoke", json={"provider": "bench", "sub": user2},
            headers={"X-CSRF-Token": tok})
        api("GET /api/providers (counts sessions)", "GET", "/api/providers")
        t0 = time.perf_counter()
        html = s.get(base + "/sessions", timeout=60)
        rows.append(("HTML GET /sessions (first page)", time.perf_counter() - t0, None, html.status_code,
                     f"{len(html.content)} bytes"))
        with open(f"/proc/{serve.pid}/status") as f:
            hwm = next((ln.split()[1] for ln in f if ln.startswith("VmHWM")), "?")

        print(f"\n== oidc-console with {a.sessions} live sessions ({a.users} users)")
        print(f"{'operation':60} {'seconds':>9} {'max RSS':>10}  {'rc':>4}  result")
        for label, dt, rss, rc, extra in rows:
            print(f"{label:60} {dt:9.3f} {(str(rss) + ' KiB') if rss else '':>10}  {rc:>4}  {extra}")
        print(f"{'serve process peak RSS (VmHWM)':60} {'':9} {hwm + ' KiB':>10}")
        return 0
    finally:
        if serve:
            stop_process(serve)
        stop_process(mc)
        if a.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
