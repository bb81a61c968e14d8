"""The session store under memcached failures (issue 11, point 5): three memcached
servers, two Apache nodes, the dev OP, 100 logged-in sessions and a bounded load
(tests/bench/store_failover.py: fixed requests/s, fixed phase lengths, loopback only).

Phases: steady, one server killed, it returns empty, another one frozen (SIGSTOP) and
thawed, a rolling restart of all three, all of them stopped, all of them back. The table is printed (pytest -s shows it).

With the default of one replica (three servers), a server's loss, its empty return, a
frozen server and a rolling restart lose no session, answer no 5xx and fail no login; a
returned server is used again within 2 s; a frozen one costs at most one store timeout
for a few requests per process and second. A full outage
answers 503 with Retry-After, never 500; after it, service resumes without a restart
(the sessions are gone: every server came back empty)."""
import sys
import time
from pathlib import Path

import pytest

import harness
from harness import Memcached

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import store_failover as sf  # noqa: E402

SESSIONS = 100
RATE = 80           # requests per second, both nodes together
STORE_TIMEOUT_MS = 500   # AuthOIDCStoreTimeout's default


def _all_keys(mc: Memcached) -> list[str]:
    """mc.keys(), waiting while memcached's crawler is busy (a node's resync lists keys too)."""
    from urllib.parse import unquote
    for _ in range(100):
        # item lines end in a bare LF; END, BUSY and ERROR lines in CRLF
        text = mc.command("lru_crawler metadump all", end=(b"\r\n",))
        if not text.startswith("BUSY"):
            assert not text.startswith("ERROR"), text
            return [unquote(line.split(" ", 1)[0][4:]) for line in text.splitlines() if line.startswith("key=")]
        time.sleep(0.1)
    raise AssertionError(f"memcached {mc.address}: crawler busy for 10 s")


@pytest.fixture
def three_memcached(bench_dir):
    mcs = [Memcached(bench_dir).start() for _ in range(3)]
    yield mcs
    for mc in mcs:
        mc.stop()


def test_store_failover(make_apache, op, three_memcached, expect_log, capsys, crypto_key, tmp_path):
    from test_85_console import Console

    mcs = three_memcached
    store = "memcached " + " ".join(m.address for m in mcs)
    nodes = [make_apache(name=n, oidc={"session_store": store}, loglevel="warn") for n in ("n1", "n2")]
    # the rolling restart as README "Running a cluster" tells operators to do it: after each
    # server returns, wait until a node logs that it copied back to it what the other servers
    # hold (AOIDC940). Before the first restart and after the last one, the directory as the
    # console lists it and the session records on the servers are taken down: none may be lost
    console = Console(tmp_path / "console", _Servers(" ".join(m.address for m in mcs)), crypto_key)
    seen = {}

    def rolling_check(when):
        rc, out = console.cli("sessions", "--per-page", "500")
        listed = {x["handle"] for x in out["sessions"]} if rc == 0 and isinstance(out, dict) else None
        records, lists = set(), set()
        for mc in mcs:
            keys = _all_keys(mc)
            records |= {k[len("aoidc:s:"):] for k in keys if k.startswith("aoidc:s:")}
            lists |= {k for k in keys if k.startswith("aoidc:d:")}
        seen[when] = (rc, listed, records, lists)
    # what a store outage logs (and the cold-process races of the first logins, which
    # login_many retries)
    expect_log(r"\[auth_oidc:warn\].* AOIDC754: memcached server 127\.0\.0\.1:\d+ unusable \(.*\): the copies on "
               r"the other servers serve", required=True)
    for rx in (r"AOIDC303: session store memcached: down", r"AOIDC415: cannot store the new session",
               r"AOIDC660: login of .* refused: the session directory cannot be written",
               r"AOIDC664: callback: cannot mark the login attempt used",
               r"AOIDC839: login refused: the revocation epochs cannot be read",
               r"AOIDC402: cannot create login state", r"AOIDC750: session store memcached is down",
               r"AOIDC961: session cache: the revocation feed cannot be read",
               r"another request is fetching the provider's"):
        expect_log(rx)

    n, results = sf.scenario(sf.Cluster(op, mcs, nodes), sessions=SESSIONS, rate=RATE, rolling_check=rolling_check)
    table = sf.table(results)
    with capsys.disabled():
        print(f"\n{n} sessions, {RATE} requests/s\n{table}")
    by = {r.name: r for r in results}

    assert n == SESSIONS, table
    # the directory through the rolling restart: everything listed before is listed after, and
    # every session record there was before is still there after (in use or not) and listed
    (rc0, listed0, records0, lists0), (rc1, listed1, records1, lists1) = seen["before"], seen["after"]
    assert rc0 == 0 and rc1 == 0 and listed0 and listed1, (rc0, rc1, console.last_stderr)
    # every directory list (users, sids, time buckets, ...), read by someone or not, is still there
    assert not lists0 - lists1, f"{len(lists0 - lists1)} directory lists lost: {sorted(lists0 - lists1)[:5]}\n{table}"
    assert len(records0) >= SESSIONS and len(listed0) >= SESSIONS, (len(records0), len(listed0))
    assert not listed0 - listed1, f"{len(listed0 - listed1)} directory entries lost\n{table}"
    assert not records0 - records1, f"{len(records0 - records1)} session records lost\n{table}"
    assert not records0 - listed1, f"{len(records0 - listed1)} sessions not listed after\n{table}"
    # each returned server was copied back to (AOIDC940) within a few seconds
    resynced = by["rolling"].resynced
    assert len(resynced) == len(mcs) and all(x is not None and x < 5 for x in resynced), table
    # nothing is wrong yet: nothing may fail
    steady = by["steady"]
    assert (steady.lost, steady.s5xx, steady.errors, steady.logins_failed) == (0, 0, 0, 0), table
    assert steady.ok > 0 and steady.logins_ok > 0, table
    # one server down, back empty, frozen and thawed: invisible to users
    for name in ("one-down", "back-empty", "frozen", "thawed"):
        r = by[name]
        assert (r.lost, r.s5xx, r.errors, r.logins_failed) == (0, 0, 0, 0), f"{name}\n{table}"
        assert r.ok > 0 and r.logins_ok > 0, f"{name}\n{table}"
    # the rolling restart: no session lost, no 5xx, no failed login
    rolling = by["rolling"]
    assert (rolling.lost, rolling.s5xx, rolling.errors, rolling.logins_failed) == (0, 0, 0, 0), f"rolling\n{table}"
    assert rolling.ok > 0 and rolling.logins_ok > 0, f"rolling\n{table}"
    # the returned server is used again soon, without an Apache restart
    used = by["back-empty"].used_again
    assert used and used[0] is not None and used[0] <= 2.0, table
    # a frozen server (accepts, never answers) costs one timeout per process and
    # second, not one per request, and never more than one timeout
    frozen = by["frozen"]
    # the requests that touch it before the first timeout tells, then one prober per
    # process and second (measured ~25-40; without the dead-server view, 170 of 304)
    children = sum(len(harness.child_pids(nd.pid)) for nd in nodes)
    allowed = RATE * STORE_TIMEOUT_MS / 1000 + children * frozen.seconds
    assert frozen.slow <= allowed, f"{frozen.slow} slow > {allowed}\n{table}"
    assert frozen.max_ms < STORE_TIMEOUT_MS + 500, table
    assert by["thawed"].slow == 0 or by["thawed"].max_ms < STORE_TIMEOUT_MS + 500, table
    for r in results:
        # no crash, no hung request, never a 500 for a store failure
        assert r.errors == 0, table
        assert r.s500 == 0 and r.nosession.get(500, 0) == 0, table
        assert not r.other, table
        # every 503 says when to come back
        assert r.retry_after == r.n503, table
    # a full outage: requests with a session answer 503
    down = by["all-down"]
    assert down.s5xx > 0, table
    # new visitors get 503 rather than a login that cannot finish (once every server
    # is stopped; while they are being stopped, the remaining ones serve)
    assert down.nosession_ready.get(503, 0) > 0, table
    assert down.nosession_ready.get(302, 0) <= 2, table
    for r in results:
        assert 500 not in r.login_5xx, table
    # and when the servers are back (empty), service resumes within 2 s
    assert by["all-back"].recover <= 2.0, table
    assert by["all-back"].logins_ok > 0, table
    for nd in nodes:
        assert nd.running(), nd.error_log_tail()

    # service is back without a restart: a new login works on both nodes
    for nd in nodes:
        cookie = None
        for _ in range(3):
            cookie = sf.login_session(nd, op, "alice")
            if cookie:
                break
        assert cookie, nd.error_log_tail()
        status, _, _ = harness.raw_http(nd.port, sf.PROTECTED, [f"Cookie: {sf.COOKIE}={cookie}"])
        assert status == 200


@pytest.mark.parametrize("store, error", [
    ("memcached 127.0.0.1:1 replicas=1", "replicas=1 needs at least 2 servers"),
    ("memcached 127.0.0.1:1 127.0.0.1:2 replicas=x", "replicas= takes a number"),
    ("memcached 127.0.0.1:1 127.0.0.1:1", "listed twice"),
])
def test_store_directive_refuses(make_apache, store, error):
    rc, out = make_apache.configtest(oidc={"session_store": store})
    assert rc != 0 and "AuthOIDCSessionStore" in out and error in out, out


def test_store_directive_replicas(make_apache):
    rc, out = make_apache.configtest(oidc={"session_store": "memcached 127.0.0.1:1 [::1]:2 host3 replicas=2"})
    assert rc == 0, out


ONE_PROCESS = "StartServers 1\nServerLimit 1\nMaxRequestWorkers 16\n"   # one health view


@pytest.mark.strict_sessions
def test_full_outage_answers_503_and_recovers(make_apache, memcached, op, expect_log):
    """Every memcached down (issue 11, point 3): a request with a session, one without
    (no redirect into a login that cannot finish) and a callback all get 503 with
    Retry-After; back within 2 s of the store's return, without a restart."""
    expect_log(r"AOIDC303: session store memcached: down")
    expect_log(r"AOIDC750: session store memcached is down: 503 instead of a login", required=True)
    expect_log(r"AOIDC415: cannot store the new session: down")
    expect_log(r"AOIDC4\d\d: .*(down|store)")
    expect_log(r"AOIDC66[04]: ")
    node = make_apache(ONE_PROCESS)
    cookie = None
    for _ in range(3):
        cookie = sf.login_session(node, op, "alice")
        if cookie:
            break
    assert cookie, node.error_log_tail()
    pending = harness.new_browser()
    callback = harness.op_login_only(pending, node.url(sf.PROTECTED), "bob", "bob-pw", op=op)
    page = [f"Cookie: {sf.COOKIE}={cookie}", "Accept: text/html"]

    memcached.stop()
    status, head, _ = harness.raw_http(node.port, sf.PROTECTED, page)
    assert status == 503 and "\r\nretry-after:" in head.lower(), head
    # a new visitor: 503, not a redirect to the provider (the view is already known,
    # and the answer costs no store timeout)
    t = time.monotonic()
    status, head, _ = harness.raw_http(node.port, sf.PROTECTED, ["Accept: text/html"])
    assert status == 503 and "\r\nretry-after:" in head.lower(), head
    assert "location:" not in head.lower()
    assert time.monotonic() - t < 0.25
    # a callback that arrives now
    r = pending.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 503 and "Retry-After" in r.headers, r.status_code

    memcached.start()
    t0 = time.monotonic()
    while True:
        status, head, _ = harness.raw_http(node.port, sf.PROTECTED, ["Accept: text/html"])
        if status == 302 or time.monotonic() - t0 > 5:
            break
        time.sleep(0.05)
    back = time.monotonic() - t0
    assert status == 302 and back <= 2.0, (status, back)
    assert sf.login_session(node, op, "carol"), node.error_log_tail()


class _Servers:
    """What test_85's Console reads of its memcached: the store_servers value."""

    def __init__(self, address: str):
        self.address = address


@pytest.mark.strict_sessions
def test_directory_and_console_across_node_loss(make_apache, op, three_memcached, crypto_key, tmp_path,
                                                expect_log):
    """The session directory (CAS lists) with replicas: entries made while a server is down,
    after it returned empty, and through a rolling restart with logins in between, are all
    listed by oidc-console (which reads the same copies: same server list and replicas=);
    a session revoked while a server is down does not come back with that server."""
    from test_85_console import Console, _login, _ok, _subs

    expect_log(r"AOIDC754: memcached server .* unusable", required=True)
    mcs = three_memcached
    servers = " ".join(m.address for m in mcs) + " replicas=1"
    node = make_apache(oidc={"session_store": f"memcached {servers}"})
    console = Console(tmp_path / "console", _Servers(servers), crypto_key)

    def listed() -> list[str]:
        rc, out = console.cli("sessions")
        assert rc == 0, console.last_stderr
        return _subs(out)

    browsers = [_login(node, u, op) for u in ("alice", "bob", "carol", "alice")]
    assert listed() == ["alice", "alice", "bob", "carol"]

    sf.kill(mcs[0])
    browsers += [_login(node, u, op) for u in ("alice", "bob", "dave")]
    assert listed() == ["alice", "alice", "alice", "bob", "bob", "carol", "dave"]
    # revoked while a server is down: every live copy goes
    rc, out = console.cli("revoke", "--user", "carol", "--provider", "main")
    assert rc == 0 and out["revoked"] == 1, console.last_stderr

    mcs[0].start()   # empty
    browsers += [_login(node, u, op) for u in ("bob", "dave")]
    expected = ["alice", "alice", "alice", "bob", "bob", "bob", "dave", "dave"]
    assert listed() == expected
    assert not _ok(browsers[2], node)   # carol stays revoked

    # rolling restart; each user logs in again between two restarts (the lists are in use)
    for mc in mcs:
        mc.restart()
        time.sleep(1.2)    # the dead-server view lets the server in again
        browsers += [_login(node, u, op) for u in ("alice", "bob", "dave")]
        expected = sorted(expected + ["alice", "bob", "dave"])
        assert listed() == expected
    live = [b for i, b in enumerate(browsers) if i != 2]
    assert all(_ok(b, node) for b in live)


def test_directory_copies_agree_under_concurrent_logins(make_apache, op, three_memcached, expect_log):
    """Many logins of one user at once on two nodes: every update of the user's directory
    list is a CAS on one copy followed by a set on the other. Afterwards both copies of
    every directory list must be the same (a replica left with an older list would lose
    entries once it becomes the only copy)."""
    mcs = three_memcached
    store = "memcached " + " ".join(m.address for m in mcs)
    nodes = [make_apache(name=n, oidc={"session_store": store}) for n in ("n1", "n2")]
    expect_log(r"another request is fetching the provider's")
    sf.login_many(sf.Cluster(op, mcs, nodes), 4, workers=1)      # warm up both nodes
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(12) as ex:
        got = list(ex.map(lambda i: sf.login_session(nodes[i % 2], op, "alice"), range(48)))
    assert sum(1 for g in got if g) >= 40
    time.sleep(0.5)
    copies: dict[str, list[bytes]] = {}
    for mc in mcs:
        for k in mc.keys():
            if k.startswith("aoidc:d:"):
                copies.setdefault(k, []).append(mc.get(k))
    assert copies
    differ = [k for k, v in copies.items() if len(v) == 2 and v[0] != v[1]]
    assert all(len(v) == 2 for v in copies.values()), {k: len(v) for k, v in copies.items()}
    assert not differ, f"{len(differ)} of {len(copies)} directory lists differ between their copies: {differ}"
