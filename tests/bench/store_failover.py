#!/usr/bin/python3
"""Store failover benchmark: three memcached servers, two Apache nodes, the dev OP.

Logs in N sessions (default 100), then runs a bounded load (a fixed number of
requests per second for a fixed time, loopback only) through these phases:

  steady     nothing happens
  one-down   memcached #1 is killed (SIGKILL)
  back-empty memcached #1 starts again, empty
  frozen     memcached #2 is frozen (SIGSTOP): it accepts connections and never answers
  thawed     memcached #2 goes on (SIGCONT)
  rolling    each memcached in turn: stopped for 1 s, started again empty, then (as README
             "Running a cluster" tells operators) a wait until a node logs that it copied back
             to the returned server what the other servers hold for it (AOIDC940), then the
             rest of a 5 s pause
  all-down   every memcached is stopped
  all-back   every memcached starts again, empty

While the load runs, a login thread logs in new sessions at a fixed pace,
alternating nodes; a successful login joins the pool the load draws from.
Requests alternate between the two Apache nodes. A small share of the load
carries no cookie (what a new visitor gets).

Per phase it prints: requests, sessions lost (a live session answered with a
redirect to the provider), 5xx (500 separately), client errors (no answer),
logins ok/failed, p99 latency, and the time to recover (from the phase's start
to the end of its last 5xx, unanswered request or failed login).

    /usr/bin/python3 tests/bench/store_failover.py [--sessions 100] [--rate 80] [--replicas N]

The e2e test tests/e2e/test_97_store_failover.py runs it with its fixtures and
asserts what the module guarantees; this script only prints.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "e2e"))

import harness  # noqa: E402
from harness import Apache, Memcached, OP, HarnessError  # noqa: E402

COOKIE = "aoidc_session"
USERS = ("alice", "bob", "carol", "dave")
PROTECTED = "/protected/index.html"


@dataclass
class Cluster:
    op: OP
    mcs: list[Memcached]
    apaches: list[Apache]


@dataclass
class Phase:
    name: str
    start: Callable[[], None]     # what happens at the phase's start (may take time)
    duration: float               # seconds of load after start() returned
    t0: float = 0.0
    ready: float = 0.0            # when start() returned
    t1: float = 0.0
    used_again: list = field(default_factory=list)  # seconds until a returned server served a get
    resynced: list = field(default_factory=list)    # seconds until a returned server was resynced


@dataclass
class PhaseResult:
    name: str
    seconds: float = 0.0
    requests: int = 0
    ok: int = 0
    lost: int = 0
    s5xx: int = 0
    s500: int = 0
    errors: int = 0
    other: dict = field(default_factory=dict)     # unexpected statuses of session requests
    nosession: dict = field(default_factory=dict)  # status -> count of cookie-less requests
    nosession_ready: dict = field(default_factory=dict)  # the same, sent after the phase's event was over
    login_5xx: dict = field(default_factory=dict)  # status -> count of 5xx hops in logins
    n503: int = 0                 # 503 answers (with or without a cookie)
    retry_after: int = 0          # 503 answers that carried Retry-After
    logins_ok: int = 0
    logins_failed: int = 0
    latencies: list = field(default_factory=list)
    slow: int = 0                 # answers slower than the slow threshold
    last_bad: float | None = None  # seconds after the phase start
    used_again: list = field(default_factory=list)
    resynced: list = field(default_factory=list)

    @property
    def p99_ms(self) -> float:
        if not self.latencies:
            return 0.0
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1000

    @property
    def max_ms(self) -> float:
        return max(self.latencies, default=0.0) * 1000

    @property
    def recover(self) -> float:
        return self.last_bad if self.last_bad is not None else 0.0


# ----------------------------------------------------------------- logins

def login_session(apache: Apache, op: OP, user: str, statuses: list | None = None) -> str | None:
    """One whole headless login on apache; the session cookie value, or None. The
    status of every hop is appended to statuses when given."""
    s = harness.new_browser()
    try:
        responses = harness.login(s, apache.url(PROTECTED), user, harness.USERS[user]["password"], op=op,
                                  timeout=10)
    except harness.FlowError as e:  # a failed login is a result here
        responses = e.responses
    except Exception:  # noqa: BLE001
        responses = []
    finally:
        s.close()
    if statuses is not None:
        statuses.extend(r.status_code for r in responses)
    if not responses or responses[-1].status_code != 200:
        return None
    vals = [c.value for c in s.cookies if c.name == COOKIE and c.domain in ("127.0.0.1", "127.0.0.1.local", "")]
    return vals[0] if vals else None


def login_many(cluster: Cluster, n: int, workers: int = 4, tries: int = 4) -> list[str]:
    """n sessions logged in, a few at a time. A login is tried again when it failed: the
    first logins of a cold Apache child can lose a race for the provider's metadata or
    keys ("another request is fetching"), which is not what this benchmark measures."""
    def one(i: int) -> str | None:
        for t in range(tries):
            got = login_session(cluster.apaches[i % len(cluster.apaches)], cluster.op, USERS[i % len(USERS)])
            if got:
                return got
            time.sleep(0.3 * (t + 1))
        return None
    # warm up: one login per node at a time first, so each child fetches the metadata
    for i in range(2 * len(cluster.apaches)):
        login_session(cluster.apaches[i % len(cluster.apaches)], cluster.op, USERS[0])
    with ThreadPoolExecutor(workers) as ex:
        got = list(ex.map(one, range(n)))
    return [g for g in got if g]


# ----------------------------------------------------------------- memcached events

def kill(mc: Memcached) -> None:
    """SIGKILL, as a crashed server (no orderly close)."""
    if mc.proc is not None:
        mc.proc.send_signal(signal.SIGKILL)
        mc.proc.wait(timeout=5)
        mc.proc = None
        harness.wait_port_closed(mc.port)


def watch_return(mc: Memcached, out: list, timeout: float = 10.0) -> None:
    """In the background: seconds from now until the (just started, empty) server mc
    served its first get, appended to out (None if not within timeout)."""
    t0 = time.monotonic()

    def run() -> None:
        while time.monotonic() - t0 < timeout:
            try:
                if int(mc.stats().get("cmd_get", "0")) > 0:
                    out.append(time.monotonic() - t0)
                    return
            except OSError:
                pass
            time.sleep(0.05)
        out.append(None)
    threading.Thread(target=run, daemon=True).start()


def freeze(mc: Memcached, on: bool) -> None:
    """SIGSTOP/SIGCONT: a server that accepts connections and never answers."""
    if mc.proc is not None:
        mc.proc.send_signal(signal.SIGSTOP if on else signal.SIGCONT)


RESYNCED = "AOIDC940: memcached server {address} resynced"


def wait_resynced(cluster: Cluster, mc: Memcached, since: list[int], timeout: float = 10.0) -> float | None:
    """Seconds until some node's error log (after the offsets in since) says that mc was
    resynced (AOIDC940), or None after timeout."""
    t0 = time.monotonic()
    needle = RESYNCED.format(address=mc.address).encode()
    while time.monotonic() - t0 < timeout:
        for ap, off in zip(cluster.apaches, since):
            with open(ap.error_log, "rb") as f:
                f.seek(off)
                if needle in f.read():
                    return time.monotonic() - t0
        time.sleep(0.05)
    return None


def log_offsets(cluster: Cluster) -> list[int]:
    return [ap.error_log.stat().st_size for ap in cluster.apaches]


def default_phases(cluster: Cluster, *, steady: float = 3, down: float = 5, back: float = 4, frozen: float = 4,
                   thawed: float = 4, rolling_down: float = 1.0, rolling_pause: float = 5.0, all_down: float = 3,
                   all_back: float = 4,
                   rolling_check: Callable[[str], None] | None = None) -> list[Phase]:
    """The rolling restart waits, after each server's return, until a node logs that it
    copied back to it what the other servers hold (wait_resynced; the seconds are kept in
    the phase's resynced list). rolling_check("before") and rolling_check("after") run just
    before the first restart and after the last resync (e.g. a listing of the directory)."""
    mcs = cluster.mcs
    phases: list[Phase] = []

    def back_empty() -> None:
        mcs[0].start()
        watch_return(mcs[0], phases[2].used_again)

    def rolling() -> None:
        if rolling_check:
            rolling_check("before")
        for mc in mcs:
            mc.stop()
            time.sleep(rolling_down)
            since = log_offsets(cluster)
            mc.start()
            t = time.monotonic()
            next(ph for ph in phases if ph.name == "rolling").resynced.append(wait_resynced(cluster, mc, since))
            time.sleep(max(0.0, rolling_pause - (time.monotonic() - t)))
        if rolling_check:
            rolling_check("after")

    def stop_all() -> None:
        for mc in mcs:
            mc.stop()

    def start_all() -> None:
        for mc in mcs:
            mc.start()

    phases += [
        Phase("steady", lambda: None, steady),
        Phase("one-down", lambda: kill(mcs[0]), down),
        Phase("back-empty", back_empty, back),
        Phase("frozen", lambda: freeze(mcs[1], True), frozen),
        Phase("thawed", lambda: freeze(mcs[1], False), thawed),
        Phase("rolling", rolling, 0.5),
        Phase("all-down", stop_all, all_down),
        Phase("all-back", start_all, all_back),
    ]
    return phases


# ----------------------------------------------------------------- the load

class Load:
    def __init__(self, cluster: Cluster, sessions: list[str], rate: float, *, nosession_share: float = 0.05,
                 login_interval: float = 0.4, timeout: float = 5.0, slow: float = 0.25):
        self.c = cluster
        self.pool = list(sessions)
        self.rate = rate
        self.nosession_every = max(1, round(1 / nosession_share)) if nosession_share > 0 else 0
        self.login_interval = login_interval
        self.timeout = timeout
        self.slow = slow
        self.lock = threading.Lock()
        self.phase = -1
        self.phases: list[Phase] = []
        self.results: list[PhaseResult] = []
        self.stop = threading.Event()
        self.next = 0

    # one result, attributed to the phase in which the request started
    def _record(self, idx: int, t_start: float, fn: Callable[[PhaseResult], bool]) -> None:
        if idx < 0:
            return
        with self.lock:
            res = self.results[idx]
            if fn(res):
                rel = time.monotonic() - self.phases[idx].t0
                res.last_bad = rel if res.last_bad is None else max(res.last_bad, rel)

    def _request(self, k: int) -> None:
        idx = self.phase
        node = self.c.apaches[k % len(self.c.apaches)]
        cookie = None
        if not (self.nosession_every and k % self.nosession_every == 0):
            with self.lock:
                if self.pool:
                    cookie = self.pool[self.next % len(self.pool)]
                    self.next += 1
        headers = [f"Cookie: {COOKIE}={cookie}"] if cookie else []
        t = time.monotonic()
        try:
            status, head, _ = harness.raw_http(node.port, PROTECTED, headers, timeout=self.timeout)
        except Exception:  # noqa: BLE001 - no answer is a result
            status, head = 0, ""
        lat = time.monotonic() - t
        ready = idx >= 0 and 0 < self.phases[idx].ready <= t
        retry_after = "\r\nretry-after:" in head.lower()

        def apply(res: PhaseResult) -> bool:
            res.latencies.append(lat)
            res.slow += lat > self.slow
            res.n503 += status == 503
            res.retry_after += status == 503 and retry_after
            if cookie is None:
                res.nosession[status] = res.nosession.get(status, 0) + 1
                if ready:
                    res.nosession_ready[status] = res.nosession_ready.get(status, 0) + 1
                return status == 0 or status >= 500
            res.requests += 1
            if status == 200:
                res.ok += 1
                return False
            if status == 302:
                res.lost += 1
                if cookie in self.pool:   # _record holds the lock
                    self.pool.remove(cookie)
                return False
            if status == 0:
                res.errors += 1
                return True
            if status >= 500:
                res.s5xx += 1
                res.s500 += status == 500
                return True
            res.other[status] = res.other.get(status, 0) + 1
            return False
        self._record(idx, t, apply)

    def _loads(self) -> None:
        ex = ThreadPoolExecutor(max_workers=32)
        t0 = time.monotonic()
        k = 0
        while not self.stop.is_set():
            due = t0 + k / self.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
                continue
            ex.submit(self._request, k)
            k += 1
        ex.shutdown(wait=True)

    def _logins(self) -> None:
        i = 0
        while not self.stop.is_set():
            t = time.monotonic()
            idx = self.phase
            node = self.c.apaches[i % len(self.c.apaches)]
            statuses: list = []
            cookie = login_session(node, self.c.op, USERS[i % len(USERS)], statuses)
            i += 1
            # a login that ran into the next phase (e.g. from the end of the rolling restart
            # into the full outage) met that phase's store: it counts there
            idx = max(idx, self.phase)

            def apply(res: PhaseResult) -> bool:
                for st in statuses:
                    if st >= 500:
                        res.login_5xx[st] = res.login_5xx.get(st, 0) + 1
                if cookie:
                    res.logins_ok += 1
                    return False
                res.logins_failed += 1
                return True
            self._record(idx, t, apply)
            if cookie:
                with self.lock:
                    self.pool.append(cookie)
            rest = self.login_interval - (time.monotonic() - t)
            if rest > 0:
                self.stop.wait(rest)

    def run(self, phases: list[Phase], log: Callable[[str], None] = print) -> list[PhaseResult]:
        self.phases = phases
        self.results = [PhaseResult(p.name) for p in phases]
        threads = [threading.Thread(target=self._loads, daemon=True),
                   threading.Thread(target=self._logins, daemon=True)]
        for th in threads:
            th.start()
        try:
            for i, ph in enumerate(phases):
                ph.t0 = time.monotonic()
                self.phase = i
                log(f"phase {ph.name}")
                ph.start()
                ph.ready = time.monotonic()
                time.sleep(ph.duration)
                ph.t1 = time.monotonic()
        finally:
            self.stop.set()
            for th in threads:
                th.join(timeout=30)
        for ph, res in zip(phases, self.results):
            res.seconds = ph.t1 - ph.t0
            res.used_again = list(ph.used_again)
            res.resynced = list(ph.resynced)
        return self.results


def table(results: list[PhaseResult]) -> str:
    head = (f"{'phase':<11} {'secs':>5} {'reqs':>5} {'lost':>5} {'5xx':>5} {'500':>4} {'noans':>5} "
            f"{'login ok/fail':>13} {'p99 ms':>7} {'max ms':>7} {'slow':>5} {'recover s':>9}  cookie-less answers")
    lines = [head]
    for r in results:
        nos = " ".join(f"{k}:{v}" for k, v in sorted(r.nosession.items()))
        extra = f" other:{r.other}" if r.other else ""
        extra += f" login 5xx:{r.login_5xx}" if r.login_5xx else ""
        lines.append(f"{r.name:<11} {r.seconds:>5.1f} {r.requests:>5} {r.lost:>5} {r.s5xx:>5} {r.s500:>4} "
                     f"{r.errors:>5} {r.logins_ok:>6}/{r.logins_failed:<6} {r.p99_ms:>7.1f} {r.max_ms:>7.1f} {r.slow:>5} "
                     f"{r.recover:>9.2f}  {nos} (503 with Retry-After: {r.retry_after}/{r.n503}){extra}"
                     + (f"; server used again after {r.used_again[0]:.2f}s" if r.used_again and r.used_again[0] is not None
                        else "; server NOT used again" if r.used_again else "")
                     + ("; resynced after " + ", ".join("-" if x is None else f"{x:.1f}s" for x in r.resynced)
                        if r.resynced else ""))
    lines.append("slow: answers slower than 250 ms (half the default AuthOIDCStoreTimeout)")
    return "\n".join(lines)


def scenario(cluster: Cluster, *, sessions: int = 100, rate: float = 80, log: Callable[[str], None] = print,
             phases: list[Phase] | None = None,
             rolling_check: Callable[[str], None] | None = None) -> tuple[int, list[PhaseResult]]:
    """Log in `sessions` sessions, run the phases under load. Returns (sessions logged in, results)."""
    t = time.monotonic()
    pool = login_many(cluster, sessions)
    log(f"{len(pool)}/{sessions} sessions logged in in {time.monotonic() - t:.1f}s")
    load = Load(cluster, pool, rate)
    results = load.run(phases or default_phases(cluster, rolling_check=rolling_check), log=log)
    return len(pool), results


# ----------------------------------------------------------------- standalone

def store_directive(mcs: list[Memcached], replicas: int | None) -> str:
    d = "memcached " + " ".join(m.address for m in mcs)
    return d + (f" replicas={replicas}" if replicas is not None else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--rate", type=float, default=80, help="requests per second (default 80)")
    ap.add_argument("--replicas", type=int, default=None, help="replicas= of AuthOIDCSessionStore (default: none given)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    workdir = harness.make_workdir("aoidc-failover-")
    key = harness.write_crypto_key(workdir / "crypto.key")
    op = OP(workdir)
    mcs = [Memcached(workdir) for _ in range(3)]
    apaches: list[Apache] = []
    rc = 0
    try:
        op.start()
        for mc in mcs:
            mc.start()
        for name in ("n1", "n2"):
            port = harness.free_port()
            oidc = harness.oidc_config(issuer=op.issuer, session_store=store_directive(mcs, a.replicas),
                                       crypto_key_file=str(key),
                                       post_logout_redirect=f"http://127.0.0.1:{port}/loggedout.html")
            root = workdir / "apache" / name
            root.mkdir(parents=True)
            ap_ = Apache(name, root, port, dict(snippet="", with_module=True, module_path=harness.MODULE_PATH,
                                                oidc=oidc, mpm="event", extra_modules=(), loglevel="warn"))
            apaches.append(ap_)
            ap_.start()
        n, results = scenario(Cluster(op, mcs, apaches), sessions=a.sessions, rate=a.rate)
        print(table(results))
    except HarnessError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        rc = 2
    finally:
        for part in (*apaches, op, *mcs):
            try:
                part.stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the others
                print(f"stop: {e}", file=sys.stderr)
        if a.keep or rc:
            print(f"work directory: {workdir}")
        else:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
