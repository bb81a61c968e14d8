"""SetHandler auth-oidc-metrics: the Prometheus text format, counter deltas around a login,
failed logins and a store outage, counts of several child processes adding up, and counters
that survive a graceful restart."""
import pytest
import concurrent.futures
import re
import time

import requests

from harness import OP, login, new_browser, op_login_only

NAV = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}

METRICS = """\
<Location /metrics>
    SetHandler auth-oidc-metrics
    Require ip 127.0.0.1 ::1
</Location>
LogFormat "%P %>s %U" pidlog
CustomLog "logs/pid.log" pidlog
"""

SAMPLE_RE = re.compile(r'^([a-z_]+)(\{[a-z_]+="[^"\\\n]*"(?:,[a-z_]+="[^"\\\n]*")*\})? ([0-9]+(?:\.[0-9]+)?)$')


def scrape(apache, fresh: bool = False) -> dict[str, float]:
    """The samples of one scrape: {'name{labels}': value}. Checks every line's grammar and
    that each family is typed once before its samples."""
    get = requests.get if fresh else _SESSION.get
    r = get(apache.url("/metrics"), headers={"Connection": "close"} if fresh else {}, timeout=10)
    assert r.status_code == 200, r.status_code
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "no-store" in r.headers.get("Cache-Control", "")
    samples, typed, seen_types = {}, None, set()
    assert r.text.endswith("\n")
    for line in r.text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in seen_types, line
            seen_types.add(name)
            typed = name
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert typed and line.startswith(typed), line
        key = m.group(1) + (m.group(2) or "")
        assert key not in samples, line
        samples[key] = float(m.group(3))
    return samples


_SESSION = requests.Session()
_SESSION.trust_env = False


def delta(before: dict, after: dict) -> dict[str, float]:
    """Only the samples that changed."""
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def store_ops(d: dict) -> float:
    return sum(v for k, v in d.items() if k.startswith("aoidc_store_operations_total"))


def pid_lines(apache) -> list[tuple[int, int, str]]:
    path = apache.root / "logs" / "pid.log"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        pid, status, uri = line.split(" ", 2)
        out.append((int(pid), int(status), uri))
    return out


def test_text_format_and_access(make_apache, browser, expect_log):
    expect_log(r"\[authz_core:error\].*AH01630: client denied by server configuration: .*/metrics-elsewhere",
               required=True)
    a = make_apache(METRICS + """
<Location /metrics-elsewhere>
    SetHandler auth-oidc-metrics
    Require ip 192.0.2.1
</Location>
""", extra_modules=("authz_host",))
    s = scrape(a)
    # every family is there, from zero, with its labels
    for key in ("aoidc_logins_started_total", "aoidc_logins_completed_total",
                'aoidc_logins_failed_total{reason="client"}', 'aoidc_logins_failed_total{reason="store"}',
                "aoidc_sessions_validated_total", 'aoidc_sessions_refused_total{reason="revoked"}',
                'aoidc_revocations_applied_total{via="epoch"}', "aoidc_bearer_accepted_total",
                'aoidc_bearer_refused_total{reason="invalid"}', 'aoidc_provider_fetches_total{document="jwks"}',
                'aoidc_store_operations_total{op="get"}', 'aoidc_store_errors_total{op="get",kind="down"}',
                'aoidc_store_latency_seconds_bucket{le="+Inf"}', "aoidc_store_latency_seconds_count",
                "aoidc_metrics_reset_time_seconds"):
        assert key in s, key
    assert s["aoidc_logins_started_total"] == 0
    assert abs(s["aoidc_metrics_reset_time_seconds"] - time.time()) < 120
    # HEAD works, other methods do not; Require ip is the admin's protection
    assert browser.head(a.url("/metrics")).status_code == 200
    assert browser.post(a.url("/metrics"), data="x").status_code == 405
    assert browser.get(a.url("/metrics-elsewhere")).status_code == 403


@pytest.mark.strict_sessions
def test_deltas_login_failed_logins_and_store_outage(make_apache, op, memcached, expect_log):
    expect_log(r"\[auth_oidc:error\].*AOIDC303: session store memcached: (down|error)", required=True)
    expect_log(r"\[auth_oidc:error\].*AOIDC(664|415|660): ", required=True)
    expect_log(r"\[auth_oidc:error\].*AOIDC410: ID token from main rejected", required=True)
    a = make_apache(METRICS, extra_modules=("authz_host",))

    # a login: started, completed, the landing page validated by the new session
    s0 = scrape(a)
    b = new_browser()
    rs = login(b, a.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice"
    s1 = scrape(a)
    d = delta(s0, s1)
    assert d["aoidc_logins_started_total"] == 1
    assert d["aoidc_logins_completed_total"] == 1
    assert d["aoidc_sessions_validated_total"] == 1
    assert not any(k.startswith(("aoidc_logins_failed", "aoidc_sessions_refused", "aoidc_store_errors"))
                   for k in d), d
    # the callback marked its state (add), stored the session (add or set), the page read it (get)
    assert d['aoidc_store_operations_total{op="get"}'] >= 1
    assert d.get('aoidc_store_operations_total{op="add"}', 0) >= 1
    # every store operation is in the latency histogram once
    assert d["aoidc_store_latency_seconds_count"] == store_ops(d)
    assert d['aoidc_store_latency_seconds_bucket{le="+Inf"}'] == store_ops(d)
    # the first login fetched discovery and keys
    assert d.get('aoidc_provider_fetches_total{document="discovery"}', 0) >= 1
    assert d.get('aoidc_provider_fetches_total{document="jwks"}', 0) >= 1

    # failed login 1: a callback with a state that is not ours (client class)
    r = new_browser().get(a.url("/oidc/callback?code=x&state=" + "A" * 43), allow_redirects=False)
    assert r.status_code == 400
    # failed login 2: the provider's ID token has a bad signature (rejected class)
    op.mutate("bad_sig")
    rs = login(new_browser(), a.url("/protected/"), "bob", "bob-pw", op=op)
    assert rs[-1].status_code == 401
    s2 = scrape(a)
    d = delta(s1, s2)
    assert d['aoidc_logins_failed_total{reason="client"}'] == 1
    assert d['aoidc_logins_failed_total{reason="rejected"}'] == 1
    assert d["aoidc_logins_started_total"] == 1
    assert "aoidc_logins_completed_total" not in d

    # a store outage: the session request gets 503 and a login callback fails (store class)
    b3 = new_browser()
    cb_url = op_login_only(b3, a.url("/protected/"), "carol", "carol-pw", op=op)
    memcached.stop()
    try:
        r = b.get(a.url("/protected/env"), allow_redirects=False, headers=NAV)
        assert r.status_code == 503
        r = b3.get(cb_url, allow_redirects=False)
        assert r.status_code == 503
        s3 = scrape(a)  # the handler itself needs no store
    finally:
        memcached.start()
    d = delta(s2, s3)
    assert d['aoidc_sessions_refused_total{reason="store_down"}'] == 1
    assert d['aoidc_logins_failed_total{reason="store"}'] == 1
    assert d['aoidc_store_errors_total{op="get",kind="down"}'] == 1
    assert d['aoidc_store_errors_total{op="add",kind="down"}'] == 1
    assert "aoidc_sessions_validated_total" not in d
    assert d["aoidc_store_latency_seconds_count"] == store_ops(d)


def test_two_children_add_up(make_apache, op):
    """Requests served by different child processes (the access log's %P) are counted in
    one total, and every child's scrape shows that same total."""
    a = make_apache(METRICS, extra_modules=("authz_host",))
    b = new_browser()
    login(b, a.url("/protected/"), "dave", "dave-pw", op=op)
    cookie = b.cookies.get("aoidc_session")
    before = scrape(a)["aoidc_sessions_validated_total"]
    # the login's own last request (/protected/ -> index.html) is logged just after its
    # answer: wait for its line, so that it is not counted below
    deadline = time.monotonic() + 5
    while not any(uri == "/protected/index.html" for _, _, uri in pid_lines(a)) and time.monotonic() < deadline:
        time.sleep(0.05)
    start = len(pid_lines(a))

    def one(_):
        r = requests.get(a.url("/protected/index.html"), cookies={"aoidc_session": cookie},
                         headers={"Connection": "close"}, allow_redirects=False, timeout=10)
        return r.status_code

    sent = 0
    pids: set[int] = set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        for _ in range(20):  # rounds of parallel fresh connections until two children served
            assert set(pool.map(one, range(24))) == {200}
            sent += 24
            pids = {pid for pid, st, uri in pid_lines(a)[start:] if uri == "/protected/index.html"}
            if len(pids) >= 2:
                break
    # access log lines are written just after the answers: wait for all of them
    deadline = time.monotonic() + 5
    while True:
        served = [p for p, st, uri in pid_lines(a)[start:] if uri == "/protected/index.html" and st == 200]
        if len(served) >= sent or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(served) == sent
    assert len(set(served)) >= 2, f"all {sent} requests went to one child; cannot show the sum"
    # scrapes on fresh connections until two different children answered: same total
    totals, scrapers = {}, set()
    for _ in range(60):
        n = len(pid_lines(a))
        total = scrape(a, fresh=True)["aoidc_sessions_validated_total"]
        time.sleep(0.02)  # the log line is written after the answer
        new = [p for p, st, uri in pid_lines(a)[n:] if uri == "/metrics"]
        if new:
            scrapers.add(new[0])
            totals[new[0]] = total
        if len(scrapers) >= 2:
            break
    assert all(t == before + sent for t in totals.values()), (totals, before, sent)
    per_child = {p: served.count(p) for p in set(served)}
    assert sum(per_child.values()) == sent and len(per_child) >= 2, per_child


def test_counters_survive_graceful_restart(make_apache, op):
    a = make_apache(METRICS, extra_modules=("authz_host",))
    login(new_browser(), a.url("/protected/"), "alice", "alice-pw", op=op)
    s1 = scrape(a)
    assert s1["aoidc_logins_completed_total"] == 1
    a.graceful()
    time.sleep(0.5)
    s2 = scrape(a, fresh=True)
    assert s2["aoidc_metrics_reset_time_seconds"] == s1["aoidc_metrics_reset_time_seconds"]
    assert s2["aoidc_logins_completed_total"] == 1
    assert s2["aoidc_logins_started_total"] == s1["aoidc_logins_started_total"]
    # the new generation counts on in the same counters
    login(new_browser(), a.url("/protected/"), "bob", "bob-pw", op=op)
    assert scrape(a, fresh=True)["aoidc_logins_completed_total"] == 2
    # -k restart (SIGHUP: the parent stays, every child is replaced) keeps them too
    size = a.error_log.stat().st_size
    assert a._ctl("restart").returncode == 0
    deadline = time.monotonic() + 10
    while b"resuming normal operations" not in a.error_log.read_bytes()[size:]:
        assert time.monotonic() < deadline, "no new generation after -k restart"
        time.sleep(0.05)
    time.sleep(0.3)
    s3 = scrape(a, fresh=True)
    assert s3["aoidc_logins_completed_total"] == 2
    assert s3["aoidc_metrics_reset_time_seconds"] == s1["aoidc_metrics_reset_time_seconds"]
    # a full stop and start begins from zero
    a.stop()
    a.start()
    assert scrape(a, fresh=True)["aoidc_logins_completed_total"] == 0


def test_bearer_deltas(make_apache, op):
    api = "https://api.example.test"
    a = make_apache(METRICS + f"""
StartServers 1
ServerLimit 1
MaxRequestWorkers 16
<Location /api>
    AuthType oidc-bearer
    AuthOIDCBearerAudience {api}
    Require valid-user
</Location>
""", extra_modules=("authz_host",))
    r = requests.post(op.url("/token"), auth=("api-client", OP.secret("api-client")),
                      data={"grant_type": "client_credentials", "resource": api, "scope": "api:read"})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    s0 = scrape(a)
    for _ in range(2):  # the second answer comes from the process's token cache
        r = requests.get(a.url("/api/index.html"), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code in (200, 404), r.status_code  # authenticated: no such file is fine
    r = requests.get(a.url("/api/index.html"), headers={"Authorization": "Bearer " + token[:-8] + "AAAAAAAA"})
    assert r.status_code == 401
    # a token in the header and in the query at once: a malformed request (400)
    r = requests.get(a.url("/api/index.html?access_token=x"), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400
    d = delta(s0, scrape(a))
    assert d["aoidc_bearer_accepted_total"] == 2
    assert d["aoidc_bearer_cache_hits_total"] == 1
    assert d['aoidc_bearer_refused_total{reason="invalid"}'] == 1
    assert d['aoidc_bearer_refused_total{reason="malformed"}'] == 1
    assert not any(k.startswith(("aoidc_logins_", "aoidc_sessions_")) for k in d), d


def test_revocation_applied_at_touch(make_apache, op, memcached, tmp_path, crypto_key):
    """A revoked user's session that the directory lost is ended by the revocation epoch at
    its next write-back: counted as refused (revoked) and as a revocation applied."""
    from test_81_revocation import lose_user_index, past_touch, TOUCH
    from test_85_console import Console
    a = make_apache(METRICS, extra_modules=("authz_host",),
                    oidc={"extra": f"AuthOIDCSessionTouchInterval {TOUCH}"})
    alice = new_browser()
    login(alice, a.url("/protected/"), "alice", "alice-pw", op=op)
    lose_user_index(memcached, "main", "alice")
    console = Console(tmp_path / "console", memcached, crypto_key)
    try:
        console.cli("revoke", "--user", "alice", "--provider", "main")
    finally:
        console.stop()
    s0 = scrape(a)
    past_touch()
    r = alice.get(a.url("/protected/"), allow_redirects=False, headers=NAV)
    assert r.status_code == 302  # logged out: a new login
    d = delta(s0, scrape(a))
    assert d['aoidc_sessions_refused_total{reason="revoked"}'] == 1
    assert d['aoidc_revocations_applied_total{via="epoch"}'] == 1
    assert d["aoidc_logins_started_total"] == 1
    assert "aoidc_sessions_validated_total" not in d


@pytest.mark.strict_sessions
def test_backchannel_logout_counted(make_apache, op):
    """Two sessions of one user ended by one back-channel logout (sub only): two revocations."""
    a = make_apache(METRICS, extra_modules=("authz_host",),
                    oidc={"extra": "AuthOIDCBackChannelLogoutURI /oidc/backchannel"})
    op.client("app", backchannel_logout_uri=a.url("/oidc/backchannel"))
    alice1, alice2, bob = new_browser(), new_browser(), new_browser()
    login(alice1, a.url("/protected/"), "alice", "alice-pw", op=op)
    login(alice2, a.url("/protected/"), "alice", "alice-pw", op=op)
    login(bob, a.url("/protected/"), "bob", "bob-pw", op=op)
    s0 = scrape(a)
    r = op.backchannel("app", "alice")  # no sid: every session of alice
    assert r.status_code == 200, r.text
    d = delta(s0, scrape(a))
    assert d['aoidc_revocations_applied_total{via="backchannel"}'] == 2
    assert alice1.get(a.url("/protected/"), allow_redirects=False, headers=NAV).status_code == 302
    assert bob.get(a.url("/protected/"), allow_redirects=False, headers=NAV).status_code == 200


def test_session_cache_counted(make_apache, op):
    """aoidc_session_cache_total: every request with a session asks the per-process cache
    once; on one keep-alive connection (one child) it misses about once, then hits."""
    a = make_apache(METRICS, extra_modules=("authz_host",))
    b = new_browser()
    rs = login(b, a.url("/protected/env"), "carol", "carol-pw", op=op)
    assert rs[-1].status_code == 200
    time.sleep(1.2)   # the child's feed thread has read the feed: its cache is trusted
    s0 = scrape(a)
    for _ in range(20):
        assert b.get(a.url("/protected/env"), allow_redirects=False, timeout=10).status_code == 200
    d = delta(s0, scrape(a))
    hits = d.get('aoidc_session_cache_total{result="hit"}', 0)
    misses = d.get('aoidc_session_cache_total{result="miss"}', 0)
    assert d["aoidc_sessions_validated_total"] == 20, d
    assert hits + misses == 20, d
    assert hits >= 15, d
