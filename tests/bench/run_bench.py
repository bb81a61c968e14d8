#!/usr/bin/python3
"""Throughput benchmark of mod_auth_oidc's hot path (see tests/bench/README.md).

One command starts memcached, the dev OP and two Apaches (event MPM, access log off,
LogLevel warn) with the module on the same memcached: the main one with the default
configuration (session cache on) and a strict one (AuthOIDCSessionCacheTTL 0). It logs
in once headlessly, then runs wrk one scenario after another (one Apache under load at
a time) with the same duration/threads/connections:

  a  static    GET /static/bench.html     unprotected file (baseline)
  b  session   GET /protected/bench.html  same-sized file, AuthType oidc, session cookie,
                                          default config: served from the session cache
  s  strict    GET /protected/bench.html  the same on the strict Apache: one memcached get
                                          per request
  d  bearer    GET /api/bench.html        AuthType oidc-bearer, a JWT access token
  c  redirect  GET /protected/bench.html  no cookie -> 302 to the OP (login start)
  e  replicated GET /protected/bench.html on a third Apache whose store is three
               memcached servers with replicas=1, strict (only with --replicated)

With --replicated it also counts the memcached operations of a login and a logout on
both configurations (what replicas cost per login, touch and logout).

It prints requests/s, the ratio to the baseline, memcached operations per request
(stats deltas / wrk's request count), Apache and memcached CPU per request, and
checks that (b), (s), (d) and (e) made no call to the OP. Then (unless --no-memory) it
measures the memory of the session cache holding 10,000 sessions in one Apache process
(see measure_memory). Exit status is non-zero only on a setup error; the goals (b/a >=
0.85, s/a >= 0.53, gets/request of b < 0.01, d/a >= 0.85) are reported, not enforced.
Every process is stopped by PID.

    /usr/bin/python3 tests/bench/run_bench.py [--rounds 3] [--duration 5] [--no-memory]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "e2e"))

import harness  # noqa: E402
from harness import Apache, Memcached, OP, HarnessError  # noqa: E402

GOAL = 0.85              # b/a: a valid session served from the session cache
STRICT_GOAL = 0.53       # s/a: strict mode, one memcached get per request (issue 8: "no slower than today")
CACHE_GETS_MAX = 0.01    # memcached gets per request of (b)
BEARER_GOAL = 0.85
GOALS = {"b": GOAL, "s": STRICT_GOAL, "d": BEARER_GOAL}
WRK = os.environ.get("AOIDC_WRK", shutil.which("wrk") or "/usr/bin/wrk")
# the test-only seeder (tests/console/aoidc_seed.c), built beside the module
SEED = os.environ.get("AOIDC_SEED", str(Path(harness.MODULE_PATH).resolve().parent.parent / "tests" / "console" /
                                        "aoidc-seed"))
STRICT = "AuthOIDCSessionCacheTTL 0"

# MPM sizing for a small (2-core) box: two processes of 32 threads started up
# front and never reaped (spare-thread limits cover all of them), so no process
# churn during a run; unlimited keep-alive requests so that no scenario pays
# for reconnects; no .htaccess lookups (AllowOverride None on /, as Debian's
# apache2.conf has). EnableMMAP/EnableSendfile stay at httpd's defaults.
MPM_TUNING = {
    "StartServers": "2",
    "ServerLimit": "2",
    "ThreadsPerChild": "32",
    "MaxRequestWorkers": "64",
    "MinSpareThreads": "32",
    "MaxSpareThreads": "64",
}
# The memory measurement: one process, so that its VmRSS holds the whole cache.
MEM_MPM = {
    "StartServers": "1",
    "ServerLimit": "1",
    "ThreadsPerChild": "32",
    "MaxRequestWorkers": "32",
    "MinSpareThreads": "1",
    "MaxSpareThreads": "64",
}
MEM_CLIENT_THREADS = 4
MEM_WARMUP = 2000        # requests with one session before the first VmRSS reading
EXTRA_GLOBAL = """\
MaxConnectionsPerChild 0
MaxKeepAliveRequests 0
KeepAliveTimeout 15
<Directory />
    AllowOverride None
</Directory>
"""

MC_COUNTERS = ("cmd_get", "get_hits", "get_misses", "cmd_set", "cas_hits", "cas_misses", "cas_badval",
               "cmd_touch", "delete_hits", "delete_misses")


class SetupError(Exception):
    pass


# ----------------------------------------------------------------- Apache for the bench

class BenchApache(Apache):
    """harness.Apache with the bench's MPM sizing (or `mpm`) and without the access log."""

    def __init__(self, name: str, root: Path, port: int, conf_args: dict, mpm: dict | None = None):
        self.mpm = mpm or MPM_TUNING
        super().__init__(name, root, port, conf_args)

    def write_conf(self, path: Path | None = None, **overrides) -> Path:
        path = super().write_conf(path, **overrides)
        path.write_text(tune_conf(path.read_text(), self.mpm))
        return path


def tune_conf(text: str, mpm: dict = MPM_TUNING) -> str:
    text, n = re.subn(r"^CustomLog .*$", "# CustomLog: off for the benchmark", text, flags=re.M)
    if n != 1:
        raise SetupError("harness config template changed: no single CustomLog line to drop")
    for key, value in mpm.items():
        text, n = re.subn(rf"^{key} .*$", f"{key} {value}", text, flags=re.M)
        if n != 1:
            raise SetupError(f"harness config template changed: no single {key} line")
    text, n = re.subn(r"^KeepAlive On$", "KeepAlive On\n" + EXTRA_GLOBAL.rstrip("\n"), text, flags=re.M)
    if n != 1:
        raise SetupError("harness config template changed: no 'KeepAlive On' line")
    return text


def make_docroot(workdir: Path, size: int) -> Path:
    root = workdir / "htdocs"
    body = ("<!doctype html><title>bench</title>\n<p>" + "x" * size)[: size - 5] + "</p>\n"
    body = body.encode()
    assert len(body) == size, (len(body), size)
    for sub in ("static", "protected", "api"):
        (root / sub).mkdir(parents=True)
        (root / sub / "bench.html").write_bytes(body)
        (root / sub / "index.html").write_bytes(body)
    (root / "index.html").write_text("<!doctype html><title>bench</title>\n")
    (root / "loggedout.html").write_text("<!doctype html><title>bye</title>\n")
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return root


# ----------------------------------------------------------------- measurements

def proc_cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])      # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def cpu_snapshot(pids: list[int]) -> dict[int, int]:
    out = {}
    for pid in pids:
        t = proc_cpu_ticks(pid)
        if t is not None:
            out[pid] = t
    return out


def cpu_seconds(before: dict[int, int], after: dict[int, int]) -> float:
    hz = os.sysconf("SC_CLK_TCK")
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / hz


def parse_wrk(text: str) -> dict:
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m or not rps:
        raise SetupError(f"cannot parse wrk output:\n{text}")
    res = {"requests": int(m.group(1)), "rps": float(rps.group(1)), "non_2xx_3xx": 0,
           "socket_errors": 0, "p50": "", "p99": ""}
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if n:
        res["non_2xx_3xx"] = int(n.group(1))
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if e:
        res["socket_errors"] = sum(int(x) for x in e.groups())
    for pct, key in (("50", "p50"), ("99", "p99")):
        lm = re.search(rf"^\s+{pct}%\s+(\S+)", text, flags=re.M)
        if lm:
            res[key] = lm.group(1)
    rd = re.search(r"requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read", text)
    if rd:
        mult = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[rd.group(2)]
        res["bytes_per_req"] = float(rd.group(1)) * mult / max(res["requests"], 1)
    return res


def run_wrk(url: str, *, duration: float, threads: int, connections: int, headers: list[str],
            latency: bool = True) -> dict:
    cmd = [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s", "--timeout", "5s"]
    if latency:
        cmd.append("--latency")
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if r.returncode != 0:
        raise SetupError(f"wrk failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    res = parse_wrk(r.stdout)
    res["raw"] = r.stdout
    return res


# ----------------------------------------------------------------- the run

class Bench:
    def __init__(self, args):
        self.args = args
        self.workdir = harness.make_workdir("aoidc-bench-")
        self.mc: Memcached | None = None
        self.op: OP | None = None
        self.apache: BenchApache | None = None
        self.mcs_r: list[Memcached] = []          # --replicated: the two extra servers
        self.apache_s: BenchApache | None = None  # strict mode (AuthOIDCSessionCacheTTL 0), same store
        self.apache_r: BenchApache | None = None  # --replicated: the node on all three (strict)
        self.mem_nodes: list[BenchApache] = []    # the one-process nodes of measure_memory
        self.perf: subprocess.Popen | None = None

    # --- setup
    def start(self) -> None:
        a = self.args
        if not Path(harness.MODULE_PATH).is_file():
            raise SetupError(f"module not built: {harness.MODULE_PATH} (run make, or set AOIDC_MODULE)")
        if not os.access(WRK, os.X_OK):
            raise SetupError(f"wrk not found at {WRK}")
        self.key = harness.write_crypto_key(self.workdir / "crypto.key")
        self.docroot = make_docroot(self.workdir, a.size)
        self.mc = Memcached(self.workdir).start()
        self.op = OP(self.workdir).start(env={"OP_QUIET": "1"})
        self.apache = self.node("bench", f"memcached {self.mc.address}").start()
        if "s" in a.scenarios:
            self.apache_s = self.node("bench-s", f"memcached {self.mc.address}", [STRICT]).start()
            self.protected_url_s = self.apache_s.url("/protected/bench.html")
        if a.replicated:
            self.mcs_r = [Memcached(self.workdir).start() for _ in range(2)]
            store = " ".join(m.address for m in (self.mc, *self.mcs_r))
            self.apache_r = self.node("bench-r", f"memcached {store} replicas=1", [STRICT]).start()
            self.protected_url_r = self.apache_r.url("/protected/bench.html")
        time.sleep(0.3)   # let the children come up
        self.base = self.apache.base_url
        self.static_url = self.apache.url("/static/bench.html")
        self.protected_url = self.apache.url("/protected/bench.html")
        self.api_url = self.apache.url("/api/bench.html")

    def node(self, name: str, store: str, extra_lines: list[str] = (), mpm: dict | None = None) -> BenchApache:
        """An Apache (not started) with the module, the bench's locations and `store`; every node
        shares the crypto key, so a session cookie of one is valid on the others of its store."""
        port = harness.free_port()
        extra = ["<Location /api>\n    AuthType oidc-bearer\n    AuthOIDCBearerAudience https://api.example.test\n"
                 "    Require oidc-scope api:read\n</Location>", *extra_lines]
        if self.args.pass_claims:
            extra.append(f"<Location /protected>\n    AuthOIDCPassClaimsAs {self.args.pass_claims}\n</Location>")
        oidc = harness.oidc_config(issuer=self.op.issuer, session_store=store, crypto_key_file=str(self.key),
                                   post_logout_redirect=f"http://127.0.0.1:{port}/loggedout.html",
                                   extra="\n".join(extra))
        root = self.workdir / name
        root.mkdir()
        conf_args = dict(snippet="", with_module=True, module_path=harness.MODULE_PATH, oidc=oidc,
                         mpm="event", extra_modules=(), loglevel="warn", htdocs=self.docroot)
        return BenchApache(name, root, port, conf_args, mpm)

    def apaches(self) -> list[BenchApache]:
        return [x for x in (self.apache, self.apache_s, self.apache_r, *self.mem_nodes) if x]

    def login(self) -> None:
        s = harness.new_browser()
        try:
            responses = harness.login(s, self.protected_url, "alice", "alice-pw", op=self.op)
        except HarnessError as e:
            raise SetupError(f"headless login failed: {e}\n{self.apache.error_log_tail()}") from None
        last = responses[-1]
        if last.status_code != 200 or len(last.content) != self.args.size:
            raise SetupError(f"login ended with {last.status_code} ({len(last.content)} bytes) at {last.url}")
        jar = [c for c in s.cookies if c.domain in ("127.0.0.1", "127.0.0.1.local", "")]
        name = "aoidc_session"
        got = [c for c in jar if c.name == name]
        if not got:
            raise SetupError(f"no {name} cookie after login; cookies: {[(c.domain, c.name) for c in s.cookies]}")
        self.cookie = f"{name}={got[0].value}"
        if self.apache_r:
            s = harness.new_browser()
            responses = harness.login(s, self.protected_url_r, "alice", "alice-pw", op=self.op)
            got = [c for c in s.cookies if c.name == name and c.domain in ("127.0.0.1", "127.0.0.1.local", "")]
            if responses[-1].status_code != 200 or not got:
                raise SetupError(f"login on the replicated node ended with {responses[-1].status_code}")
            self.cookie_r = f"{name}={got[0].value}"
        # a JWT access token for scenario d (client_credentials, resource indicator)
        r = harness.new_browser().post(self.op.url("/token"), auth=("api-client", OP.secret("api-client")),
                                       data={"grant_type": "client_credentials",
                                             "resource": "https://api.example.test", "scope": "api:read"},
                                       timeout=10)
        if r.status_code != 200:
            raise SetupError(f"no access token from the OP: {r.status_code} {r.text[:200]}")
        self.bearer = r.json()["access_token"]
        # preflight: each scenario answers what it should
        d = harness.new_browser()
        r = d.get(self.static_url, allow_redirects=False, timeout=10)
        if r.status_code != 200 or len(r.content) != self.args.size:
            raise SetupError(f"static: {r.status_code} {len(r.content)} bytes")
        r = d.get(self.protected_url, headers={"Cookie": self.cookie}, allow_redirects=False, timeout=10)
        if r.status_code != 200 or len(r.content) != self.args.size:
            raise SetupError(f"protected with cookie: {r.status_code} {len(r.content)} bytes")
        r = d.get(self.api_url, headers={"Authorization": f"Bearer {self.bearer}"}, allow_redirects=False, timeout=10)
        if r.status_code != 200 or len(r.content) != self.args.size:
            raise SetupError(f"api with bearer token: {r.status_code} {len(r.content)} bytes")
        if self.apache_s:
            r = d.get(self.protected_url_s, headers={"Cookie": self.cookie}, allow_redirects=False, timeout=10)
            if r.status_code != 200 or len(r.content) != self.args.size:
                raise SetupError(f"strict node, protected with cookie: {r.status_code} {len(r.content)} bytes")
        r = d.get(self.protected_url, allow_redirects=False, timeout=10)
        if r.status_code != 302 or not r.headers.get("Location", "").startswith(self.op.issuer + "/auth?"):
            raise SetupError(f"protected without cookie: {r.status_code} {r.headers.get('Location')}")

    # --- scenarios
    def all_mcs(self) -> list[Memcached]:
        return [self.mc, *self.mcs_r]

    def mc_stats(self) -> dict[str, int]:
        """The counters summed over every memcached server of the run."""
        out: dict[str, int] = {}
        for m in self.all_mcs():
            for k, v in m.stats().items():
                if k in MC_COUNTERS:
                    out[k] = out.get(k, 0) + int(v)
        return out

    def settle_replicas(self, timeout: float = 45.0) -> None:
        """Wait until a valid session on the replicated node costs no write: for 30 s after a
        server is first found empty (AOIDC_STORE_SUSPECT_MS, aoidc_store_memcached.c) every read
        adds its value to that server's copy (read repair), a second round trip that (e) would
        otherwise measure in its first round."""
        t0 = time.monotonic()
        d = harness.new_browser()
        while True:
            before = self.mc_stats()["cmd_set"]
            for _ in range(20):
                d.get(self.protected_url_r, headers={"Cookie": self.cookie_r}, allow_redirects=False, timeout=10)
            if self.mc_stats()["cmd_set"] == before:
                break
            if time.monotonic() - t0 > timeout:
                print(f"  e) still writing on every read after {timeout:.0f}s (read repair); measuring anyway")
                return
            time.sleep(1)
        if time.monotonic() - t0 > 1:
            print(f"  e) waited {time.monotonic() - t0:.0f}s for the end of read repair (a server that started "
                  "empty is suspect for 30 s: each read adds a copy there)")

    def scenario(self, key: str, label: str, url: str, headers: list[str], apache=None) -> dict:
        a = self.args
        apache = apache or self.apache
        op_before = self.op.stats()
        if a.warmup > 0:
            run_wrk(url, duration=a.warmup, threads=a.threads, connections=a.connections, headers=headers,
                    latency=False)
            time.sleep(0.3)   # requests in flight when wrk stopped
        mc_before = self.mc_stats()
        apids = [apache.pid, *harness.child_pids(apache.pid)]
        mpids = [m.pid for m in self.all_mcs()]
        cpu_a0, cpu_m0 = cpu_snapshot(apids), cpu_snapshot(mpids)
        if a.perf and key in a.perf_scenarios:
            self.start_perf(key, apids)
        t0 = time.monotonic()
        res = run_wrk(url, duration=a.duration, threads=a.threads, connections=a.connections, headers=headers)
        wall = time.monotonic() - t0
        self.stop_perf()
        time.sleep(0.3)
        apids_after = [apache.pid, *harness.child_pids(apache.pid)]
        cpu_a1, cpu_m1 = cpu_snapshot(apids_after), cpu_snapshot(mpids)
        mc_after = self.mc_stats()
        op_after = self.op.stats()
        n = max(res["requests"], 1)
        res.update(key=key, label=label, wall=wall,
                   mc={c: (int(mc_after.get(c, 0)) - int(mc_before.get(c, 0))) / n for c in MC_COUNTERS},
                   apache_us=cpu_seconds(cpu_a0, cpu_a1) * 1e6 / n,
                   memcached_us=cpu_seconds(cpu_m0, cpu_m1) * 1e6 / n,
                   op_delta={k: op_after.get(k, 0) - op_before.get(k, 0) for k in op_after
                             if op_after.get(k, 0) != op_before.get(k, 0)},
                   apache_children=len(apids_after) - 1)
        if a.verbose:
            print(res["raw"])
        return res

    # --- memory of the session cache
    def measure_memory(self) -> dict:
        """VmRSS of one Apache process (event MPM, 32 threads) before and after its session cache
        took --memory-sessions sessions, against a strict twin fed the same requests.

        Two one-process Apaches on the bench's memcached: `bench-mem` (the cache, with
        AuthOIDCSessionCacheEntries --memory-entries) and `bench-mem0` (AuthOIDCSessionCacheTTL 0).
        Both get MEM_WARMUP requests with the logged-in session (worker threads, pools and TLS
        of the library warm), then VmRSS is read; aoidc-seed writes the sessions (last seen now,
        ids to a file); each node gets every session once (pass 1: all must answer 200), VmRSS,
        and once more (pass 2: the cached node must answer from its cache, i.e. almost no
        memcached get), VmRSS. The cache's memory is the cached node's growth minus the strict
        node's (what the same requests cost without a cache). AuthOIDCSessionTouchInterval 1800
        on both keeps the sessions clear of a write-back (a session due for one is not cached)
        however slow the machine."""
        a = self.args
        if not Path(SEED).is_file():
            raise SetupError(f"aoidc-seed not built: {SEED} (scripts/build.sh builds it beside the module; "
                             "or set AOIDC_SEED)")
        store = f"memcached {self.mc.address}"
        common = ["AuthOIDCSessionTouchInterval 1800"]
        cached = self.node("bench-mem", store, [*common, f"AuthOIDCSessionCacheEntries {a.memory_entries}"],
                           MEM_MPM)
        strict = self.node("bench-mem0", store, [*common, STRICT], MEM_MPM)
        self.mem_nodes += [cached, strict]
        nodes = {"cache": cached, "strict": strict}
        for x in nodes.values():
            x.start()
        child = {k: one_child(x) for k, x in nodes.items()}
        real = sorted(len(self.mc.get(k) or b"") for k in self.mc.session_keys())
        out = {"sessions": a.memory_sessions, "entries": a.memory_entries, "real_record": real, "rss": {},
               "pass": {}}
        alice = self.cookie.split("=", 1)[1]
        for k, x in nodes.items():
            res = hit_all(x.port, [alice] * MEM_WARMUP, a.size)
            if res["ok"] != MEM_WARMUP:
                raise SetupError(f"memory warm-up on {x.name}: {res['status']}")
        time.sleep(0.3)
        out["rss"]["warm"] = {k: vm_rss_kib(pid) for k, pid in child.items()}
        ids_file = self.workdir / "seed-ids.txt"   # live session ids: the work directory is private
        conf = self.workdir / "seed.conf"
        conf.write_text(f"store_servers = {self.mc.address}\ncrypto_key_file = {self.key}\n")
        t0 = time.monotonic()
        # records the size of the logged-in session's (a real login at the dev OP)
        size = ["--record-bytes", str(real[len(real) // 2])] if real and real[len(real) // 2] >= 512 else []
        r = subprocess.run([SEED, "--config", str(conf), str(a.memory_sessions), "--provider", "main", "--fresh",
                            "--ids-file", str(ids_file), "--threads", "2", *size], capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise SetupError(f"aoidc-seed failed ({r.returncode}): {r.stdout} {r.stderr}")
        out["seed"] = json.loads(r.stdout)
        out["seed_wall"] = time.monotonic() - t0
        ids = ids_file.read_text().split()
        if len(ids) != a.memory_sessions:
            raise SetupError(f"aoidc-seed wrote {len(ids)} ids, not {a.memory_sessions}")
        for k, x in nodes.items():
            for pas in (1, 2):
                g0 = int(self.mc.stats()["cmd_get"])
                res = hit_all(x.port, ids, a.size)
                res["gets"] = int(self.mc.stats()["cmd_get"]) - g0
                if res["ok"] != len(ids):
                    raise SetupError(f"memory pass {pas} on {x.name}: not every session answered 200: "
                                     f"{res['status']}\n{x.error_log_tail()}")
                out["pass"][(k, pas)] = res
                time.sleep(0.3)
                out["rss"].setdefault(pas, {})[k] = vm_rss_kib(child[k])
        if any(one_child(x) != child[k] for k, x in nodes.items()):
            raise SetupError("an Apache child of the memory measurement was replaced during it")
        return out

    def start_perf(self, key: str, pids: list[int]) -> None:
        out = self.workdir / f"perf-{key}.data"
        cmd = ["perf", "record", "-F", str(self.args.perf_freq), "-o", str(out), "-p",
               ",".join(str(p) for p in pids[1:])]
        cmd += ["--call-graph", self.args.perf] if self.args.perf != "none" else []
        self.perf = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.workdir / "perf.log", "ab"))
        time.sleep(0.5)
        print(f"perf recording scenario {key} into {out}")

    def stop_perf(self) -> None:
        if self.perf is None:
            return
        self.perf.send_signal(signal.SIGINT)
        try:
            self.perf.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.perf.kill()
            self.perf.wait()
        self.perf = None

    # --- teardown
    def stop(self) -> list[str]:
        errors = []
        self.stop_perf()
        parts = [(x.name, x) for x in self.apaches()] + [("op", self.op), ("memcached", self.mc)]
        parts += [("memcached", m) for m in self.mcs_r]
        for name, part in parts:
            if part is None:
                continue
            try:
                part.stop()
            except Exception as e:  # keep stopping the others
                errors.append(f"{name}: {e}")
        return errors


def one_child(apache: Apache, timeout: float = 10.0) -> int:
    """The pid of the only worker process of a one-process Apache (the children with threads:
    mod_cgid's daemon is a child too)."""
    deadline = time.monotonic() + timeout
    while True:
        kids = [k for k in harness.child_pids(apache.pid) if threads_of(k) > 1]
        if len(kids) == 1:
            return kids[0]
        if time.monotonic() > deadline:
            raise SetupError(f"{apache.name}: {len(kids)} children, expected one")
        time.sleep(0.05)


def threads_of(pid: int) -> int:
    try:
        m = re.search(r"^Threads:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), flags=re.M)
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


def vm_rss_kib(pid: int) -> int:
    m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), flags=re.M)
    if not m:
        raise SetupError(f"no VmRSS for pid {pid}")
    return int(m.group(1))


def hit_all(port: int, session_ids: list[str], size: int, threads: int = MEM_CLIENT_THREADS) -> dict:
    """GET /protected/bench.html once per session id (cookie aoidc_session), over `threads`
    keep-alive connections; counts the answers that are a 200 with the whole file."""
    status: dict[str, int] = {}
    lock = threading.Lock()

    def worker(chunk: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        seen: dict[str, int] = {}
        try:
            for sid in chunk:
                try:
                    conn.request("GET", "/protected/bench.html", headers={"Cookie": f"aoidc_session={sid}"})
                    resp = conn.getresponse()
                    body = resp.read()
                    k = "200" if resp.status == 200 and len(body) == size else str(resp.status)
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    k = type(e).__name__
                seen[k] = seen.get(k, 0) + 1
        finally:
            conn.close()
            with lock:
                for k, v in seen.items():
                    status[k] = status.get(k, 0) + v

    t0 = time.monotonic()
    workers = [threading.Thread(target=worker, args=(session_ids[i::threads],)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return {"ok": status.get("200", 0), "status": status, "seconds": time.monotonic() - t0}


def print_memory(m: dict) -> None:
    n, mib = m["sessions"], 1024.0
    seed = m["seed"]
    print(f"\n=== memory of the session cache: {n} sessions in one Apache process (event MPM, 32 threads, "
          f"AuthOIDCSessionCacheEntries {m['entries']}), against a strict twin fed the same requests")
    real = m["real_record"]
    print(f"seeded {seed['seeded']} sessions in {m['seed_wall']:.1f}s (aoidc-seed --fresh --record-bytes): "
          f"a record is {seed['record_bytes']} B as stored"
          + (f", as large as the logged-in session's ({real[len(real) // 2]} B, a real login at the dev OP)"
             if real else ""))
    for (node, pas), r in m["pass"].items():
        note = ""
        if node == "cache" and pas == 2:
            note = (f" -> {n - r['gets']} of {n} sessions answered from the cache "
                    f"(feed reads count too; {m['pass'][('strict', 2)]['gets']} gets on the strict twin)")
        print(f"  pass {pas} on the {node:<6} node: {r['ok']} x 200 in {r['seconds']:.1f}s, "
              f"memcached gets {r['gets']}{note}")
    rss = m["rss"]
    print(f"  {'VmRSS of the child (MiB)':<26} {'warm':>8} {'pass 1':>8} {'pass 2':>8} {'growth':>8}")
    for node in ("cache", "strict"):
        print(f"  {node + ' node':<26} {rss['warm'][node] / mib:>8.1f} {rss[1][node] / mib:>8.1f} "
              f"{rss[2][node] / mib:>8.1f} {(rss[2][node] - rss['warm'][node]) / mib:>+8.1f}")
    grow = (rss[2]["cache"] - rss["warm"]["cache"]) - (rss[2]["strict"] - rss["warm"]["strict"])
    fixed = rss["warm"]["cache"] - rss["warm"]["strict"]
    print(f"MEMORY of the session cache holding {n} sessions: {grow / mib:.1f} MiB per process = "
          f"{grow * 1024 / n:.0f} B per session (growth of the cache node minus the strict node's), "
          f"plus {fixed / mib:+.1f} MiB already at start (the slot array for {m['entries']} entries; "
          f"the two nodes' VmRSS after the warm-up)")
    print("  (VmRSS counts pages and malloc arenas: expect +-0.2 MiB from run to run)")


def op_costs(bench: "Bench", apache: Apache, n: int) -> dict[str, dict[str, float]]:
    """memcached operations (summed over every server) per login and per logout on apache."""
    out = {}
    browsers = []
    before = bench.mc_stats()
    for i in range(n):
        s = harness.new_browser()
        last = harness.login(s, apache.url("/protected/bench.html"), "bob", "bob-pw", op=bench.op)[-1]
        if last.status_code != 200:
            raise SetupError(f"cost login on {apache.name}: {last.status_code}")
        browsers.append(s)
    mid = bench.mc_stats()
    for s in browsers:
        harness.logout(s, apache.url("/oidc/logout"), op=bench.op)
    after = bench.mc_stats()
    for label, a, b in (("login", before, mid), ("logout", mid, after)):
        d = {k: (b.get(k, 0) - a.get(k, 0)) / n for k in MC_COUNTERS}
        cas = d["cas_hits"] + d["cas_misses"] + d["cas_badval"]
        # memcached's cmd_set counts set, add and cas alike
        out[label] = {"get": d["cmd_get"], "set/add": d["cmd_set"] - cas, "cas": cas,
                      "delete": d["delete_hits"] + d["delete_misses"]}
    return out


def print_costs(costs: dict[str, dict]) -> None:
    print("\nmemcached operations per login / logout (summed over all servers)")
    for conf, c in costs.items():
        for what, d in c.items():
            print(f"  {conf:<22} {what:<7} " + " ".join(f"{k}={v:.1f}" for k, v in d.items()))
    print("  a touch (once per AuthOIDCSessionTouchInterval) is 1 cas on one server, plus 1 set per replica")


def verdict(ok: bool) -> str:
    return "REACHED" if ok else "NOT reached"


def goal_lines(ratios: dict[str, float], gets_b: float | None, how: str) -> list[str]:
    """The goal lines for the ratios to (a) of b, s, d (and e) and the gets per request of b."""
    out = []
    labels = {"b": "session with the cache/static", "s": "session, strict mode/static", "d": "bearer/static"}
    for key in "bsd":
        if key in ratios:
            out.append(f"GOAL {verdict(ratios[key] >= GOALS[key])}: {labels[key]} = {ratios[key]:.3f} "
                       f"(goal >= {GOALS[key]}){how}")
    if gets_b is not None:
        out.append(f"GOAL {verdict(gets_b < CACHE_GETS_MAX)}: memcached gets per request with the cache = "
                   f"{gets_b:.5f} (goal < {CACHE_GETS_MAX}){how}")
    if "e" in ratios:
        line = f"replicated (3 servers, replicas=1, strict)/static = {ratios['e']:.3f}"
        if "s" in ratios:
            line += f"; replicated/single-server (both strict) = {ratios['e'] / ratios['s']:.3f}"
        out.append(line + how)
    return out


def report(results: list[dict], args) -> None:
    base = next((r for r in results if r["key"] == "a"), None)
    print()
    print(f"wrk: {args.threads} thread(s), {args.connections} connections, {args.duration:g}s per scenario "
          f"(+{args.warmup:g}s warm-up), file size {args.size} B")
    print(f"{'scenario':<30} {'req/s':>10} {'ratio':>6} {'p50':>8} {'p99':>8} {'apache':>9} {'memcd':>8}"
          f"  memcached ops/request")
    for r in results:
        ratio = f"{r['rps'] / base['rps']:.3f}" if base else "-"
        mc = r["mc"]
        ops = (f"get={mc['cmd_get']:.4f} hit={mc['get_hits']:.4f} set={mc['cmd_set']:.4f} "
               f"cas={mc['cas_hits'] + mc['cas_misses'] + mc['cas_badval']:.4f}")
        if mc["delete_hits"] + mc["delete_misses"] or mc["cmd_touch"]:
            ops += f" del={mc['delete_hits'] + mc['delete_misses']:.4f} touch={mc['cmd_touch']:.4f}"
        print(f"{r['key'] + ') ' + r['label']:<30} {r['rps']:>10.0f} {ratio:>6} {r['p50']:>8} {r['p99']:>8} "
              f"{r['apache_us']:>7.1f}us {r['memcached_us']:>6.1f}us  {ops}")
    print("(apache/memcd: CPU time per request of the Apache processes / of memcached)")
    for r in results:
        notes = []
        if r["non_2xx_3xx"]:
            notes.append(f"{r['non_2xx_3xx']} non-2xx/3xx responses")
        if r["socket_errors"]:
            notes.append(f"{r['socket_errors']} socket errors")
        if r["key"] in "bsde":
            notes.append(f"OP calls during ({r['key']}): " + ("none" if not r["op_delta"] else str(r["op_delta"])))
        elif r["op_delta"]:
            notes.append(f"OP calls: {r['op_delta']}")
        if r["key"] in "se" and abs(r["mc"]["get_hits"] - 1) > 0.02:
            notes.append(f"WARNING get_hits/request {r['mc']['get_hits']:.3f}, expected 1 (session lost?)")
        if r["key"] in "bse" and r["mc"]["cmd_set"] > 0.01:
            notes.append(f"WARNING set/request {r['mc']['cmd_set']:.3f}: writes on the hot path")
        if notes:
            print(f"  {r['key']}) " + "; ".join(notes))
    if base:
        ratios = {r["key"]: r["rps"] / base["rps"] for r in results if r["key"] in "bsde"}
        b = next((r for r in results if r["key"] == "b"), None)
        print()
        print("\n".join(goal_lines(ratios, b["mc"]["cmd_get"] if b else None, "")))


def summary(rounds: list[list[dict]]) -> None:
    """Median over rounds: req/s per scenario and the ratio of each round, then the goal lines."""
    print(f"\n=== {len(rounds)} rounds: median (min-max)")
    keys = [r["key"] for r in rounds[0]]
    med_ratio: dict[str, float] = {}
    for i, r0 in enumerate(rounds[0]):
        rps = [rnd[i]["rps"] for rnd in rounds]
        cpu = [rnd[i]["apache_us"] for rnd in rounds]
        gets = [rnd[i]["mc"]["cmd_get"] for rnd in rounds]
        line = (f"{r0['key'] + ') ' + r0['label']:<30} {statistics.median(rps):>8.0f} req/s "
                f"({min(rps):.0f}-{max(rps):.0f})")
        if r0["key"] != "a" and "a" in keys:
            ai = keys.index("a")
            ratios = [rnd[i]["rps"] / rnd[ai]["rps"] for rnd in rounds]
            med_ratio[r0["key"]] = statistics.median(ratios)
            line += f"   ratio {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"
        else:
            line += " " * 29
        line += f"   apache {statistics.median(cpu):5.1f}us/req   get/req {statistics.median(gets):.4f}"
        print(line)
    if "a" in keys:
        gets_b = statistics.median(rnd[keys.index("b")]["mc"]["cmd_get"] for rnd in rounds) if "b" in keys else None
        print()
        print("\n".join(goal_lines(med_ratio, gets_b, f" (median of {len(rounds)} rounds)")))
        # the same comparison by Apache CPU per request: steadier than req/s when other jobs share
        # the cores (it leaves out wrk's own CPU, which every scenario pays alike)
        cpu = {k: statistics.median(rnd[i]["apache_us"] for rnd in rounds) for i, k in enumerate(keys)}
        print("Apache CPU per request (median): " + ", ".join(
            f"{k} {cpu[k]:.1f}us" + (f" (a/{k} {cpu['a'] / cpu[k]:.2f})" if k != "a" and cpu[k] else "")
            for k in keys))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per scenario (default 5)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up seconds before each scenario (default 2)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="repeat the scenario sequence N times and print medians (default 3)")
    ap.add_argument("--size", type=int, default=1024, help="bytes of the static file (default 1024)")
    ap.add_argument("--scenarios", default=None,
                    help="which of a (static), b (session, cache), s (session, strict mode), d (bearer JWT), "
                         "c (redirect), e (session on the replicated store, strict, needs --replicated), in "
                         "this order; default absdc, absdce with --replicated; '' for none (--memory only)")
    ap.add_argument("--replicated", action="store_true",
                    help="also run (e): another Apache on three memcached servers with replicas=1 (strict "
                         "mode), and count the memcached operations of a login and a logout on it and on the "
                         "main one")
    ap.add_argument("--no-memory", dest="memory", action="store_false",
                    help="skip the memory measurement (the session cache holding --memory-sessions sessions "
                         "in one Apache process, ~30 s)")
    ap.add_argument("--memory-sessions", type=int, default=10000, help="sessions for the memory measurement "
                    "(default 10000)")
    ap.add_argument("--memory-entries", type=int, default=None,
                    help="AuthOIDCSessionCacheEntries of the memory measurement (default: as many as sessions)")
    ap.add_argument("--cost-logins", type=int, default=10, help="logins/logouts counted with --replicated (10)")
    ap.add_argument("--pass-claims", choices=("none", "headers", "environment", "both"),
                    help="AuthOIDCPassClaimsAs for /protected (default: not set, i.e. the module default, both)")
    ap.add_argument("--perf", metavar="CALLGRAPH",
                    help="perf record the Apache children during the scenarios of --perf-scenarios "
                         "(CALLGRAPH: fp, dwarf, lbr or none); keeps the work directory")
    ap.add_argument("--perf-scenarios", default="b", help="scenarios to record with --perf (default b)")
    ap.add_argument("--perf-freq", type=int, default=999, help="perf sampling frequency (default 999)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory /tmp/aoidc-bench-*")
    ap.add_argument("-v", "--verbose", action="store_true", help="print wrk's full output")
    args = ap.parse_args()
    if args.threads > args.connections:
        ap.error("--threads must not exceed --connections")
    if args.scenarios is None:
        args.scenarios = "absdce" if args.replicated else "absdc"
    if "e" in args.scenarios and not args.replicated:
        ap.error("scenario e needs --replicated")
    if set(args.scenarios) - set("absdce"):
        ap.error(f"unknown scenario(s) in {args.scenarios!r}")
    if args.memory_entries is None:
        args.memory_entries = args.memory_sessions
    if not args.scenarios and not args.memory:
        ap.error("nothing to do: no scenario and --no-memory")

    bench = Bench(args)
    keep = args.keep or bool(args.perf)
    rc = 0

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        t0 = time.monotonic()
        bench.start()
        bench.login()
        print(f"setup ok in {time.monotonic() - t0:.1f}s: apache {bench.base} (pid {bench.apache.pid}), "
              f"memcached {bench.mc.address}, OP {bench.op.issuer}; module {harness.MODULE_PATH}")
        plan = {
            "a": ("static (baseline)", bench.static_url, [], None),
            "b": ("session, cache (default)", bench.protected_url, [f"Cookie: {bench.cookie}"], None),
            "c": ("protected, no cookie -> 302", bench.protected_url, [], None),
            "d": ("api + bearer JWT", bench.api_url, [f"Authorization: Bearer {bench.bearer}"], None),
        }
        if bench.apache_s:
            plan["s"] = ("session, strict (TTL 0)", bench.protected_url_s, [f"Cookie: {bench.cookie}"],
                         bench.apache_s)
        if bench.apache_r:
            plan["e"] = ("session, 3 mc replicas=1", bench.protected_url_r, [f"Cookie: {bench.cookie_r}"],
                         bench.apache_r)
        rounds = []
        for rnd in range(args.rounds if args.scenarios else 0):
            results = []
            for key in args.scenarios:
                label, url, headers, node = plan[key]
                if key == "e" and rnd == 0:
                    bench.settle_replicas()
                res = bench.scenario(key, label, url, headers, apache=node)
                results.append(res)
                print(f"  {key}) {label}: {res['rps']:.0f} req/s")
            if args.rounds > 1:
                print(f"\n=== round {rnd + 1} of {args.rounds}")
            report(results, args)
            rounds.append(results)
        if len(rounds) > 1:
            summary(rounds)
        if bench.apache_r:
            print_costs({"single server (cache)": op_costs(bench, bench.apache, args.cost_logins),
                         "3 servers, replicas=1": op_costs(bench, bench.apache_r, args.cost_logins)})
        if args.memory:
            print_memory(bench.measure_memory())
        severe = harness.severe_lines("".join(x.error_log_text() for x in bench.apaches()))
        if severe:
            print(f"\nApache logged {len(severe)} warning/error line(s), e.g.:\n  " + "\n  ".join(severe[:5]))
    except (SetupError, HarnessError, subprocess.TimeoutExpired, OSError) as e:
        print(f"SETUP ERROR: {e}", file=sys.stderr)
        rc = 2
        keep = True
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        rc = 130
    finally:
        errors = bench.stop()
        if errors:
            print("could not stop: " + "; ".join(errors), file=sys.stderr)
            rc = rc or 3
        if keep:
            print(f"work directory kept: {bench.workdir}")
        else:
            shutil.rmtree(bench.workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
