"""The provider's keys rotate and the provider goes down (issue 7, points 5 and 6).

Key rotation: a token with a new kid triggers a JWKS refetch even right after a fetch;
unknown kids are throttled per kid and globally (a flood of random kids costs a bounded
number of fetches). Outage: after a failed fetch the module backs off, only one thread
per process ever waits on the provider (the others get 502/503 at once), the last good
metadata keeps serving, and logins work again once the provider is back."""
import os
import signal
import threading
import time

import requests

import harness
from harness import OP, FrozenProvider, login, new_browser, sign_jwt

API = "https://api.example.test"
# mirrors mod_src/aoidc_provider.h
REFETCH_BUDGET = 4          # AOIDC_JWKS_REFETCH_BUDGET
BACKOFF_MIN = 2             # AOIDC_PROVIDER_BACKOFF_MIN (s)


def one_process(snippet: str = "") -> str:
    """One child process: provider state is per process, and the tests count fetches."""
    return "StartServers 1\nServerLimit 1\nMaxRequestWorkers 16\n" + snippet


BEARER = f"""
<Location /api>
    AuthType oidc-bearer
    AuthOIDCBearerAudience {API}
    Require valid-user
</Location>
ScriptAlias /api/env "{harness.HTDOCS}/cgi/env.py"
"""


def at_jwt(op: OP, kid: str) -> str:
    now = int(time.time())
    return sign_jwt({"iss": op.issuer, "sub": "svc", "aud": API, "iat": now, "exp": now + 300,
                     "client_id": "api-client", "scope": "api:read"},
                    kid="rsa-a", header={"kid": kid, "typ": "at+jwt"})


def login_start(url: str, timeout: float = 15) -> requests.Response:
    """A navigation to a protected page by a new browser: the start of a login."""
    return new_browser().get(url, headers={"Accept": "text/html"}, allow_redirects=False, timeout=timeout)


def concurrent(n: int, fn) -> list:
    """Run fn() n times at once; the results (an exception counts as a result)."""
    out: list = [None] * n
    go = threading.Event()

    def run(i):
        go.wait()
        try:
            out[i] = fn()
        except Exception as e:  # a client timeout is an answer too: the test asserts on it
            out[i] = e
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    go.set()
    for t in ts:
        t.join()
    return out


def assert_plain_failure(r):
    assert isinstance(r, requests.Response), r
    assert r.status_code in (502, 503), (r.status_code, r.headers)
    assert "Location" not in r.headers
    assert "Set-Cookie" not in r.headers
    assert "localhost" not in r.text and "127.0.0.1" not in r.text.replace(r.url, "")


# ----------------------------------------------------------------- key rotation (point 5)

def test_login_right_after_key_rotation(make_apache, op, memcached):
    """The first login fetches the keys; the provider rotates; a login seconds later (well
    within the default 60 s AuthOIDCJWKSRefreshInterval) refetches once and succeeds."""
    a = make_apache(one_process())
    rs = login(new_browser(), a.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice"
    assert op.stats()["jwks"] == 1
    op.restart(keyset="b")                  # rsa-b signs now; rsa-a and ec-a are gone
    rs = login(new_browser(), a.url("/protected/env"), "bob", "bob-pw", op=op)
    assert rs[-1].status_code == 200, harness.hops(rs)
    assert rs[-1].json()["REMOTE_USER"] == "bob"
    assert op.stats()["jwks"] == 1          # (stats restart with the OP) exactly one refetch
    rs = login(new_browser(), a.url("/protected/env"), "carol", "carol-pw", op=op)
    assert rs[-1].status_code == 200
    assert op.stats()["jwks"] == 1          # a known kid never refetches


def test_random_kid_flood_bounded(make_apache, op, memcached):
    """Tokens with random kids: at most REFETCH_BUDGET JWKS fetches per interval in all,
    and a kid that was just looked up is not looked up again."""
    a = make_apache(one_process(BEARER))
    r = requests.get(a.url("/api/env"), headers={"Authorization": f"Bearer {at_jwt(op, 'rsa-a')}"})
    assert r.status_code == 200, r.text
    assert op.stats()["jwks"] == 1
    for i in range(3):                      # the same unknown kid: one refetch
        r = requests.get(a.url("/api/env"), headers={"Authorization": f"Bearer {at_jwt(op, 'new-kid')}"})
        assert r.status_code == 401
    assert op.stats()["jwks"] == 2
    for i in range(40):
        r = requests.get(a.url("/api/env"), headers={"Authorization": f"Bearer {at_jwt(op, f'rnd-{i}')}"})
        assert r.status_code == 401
    assert op.stats()["jwks"] == 1 + REFETCH_BUDGET, op.stats()
    # the keys the module holds still work
    r = requests.get(a.url("/api/env"), headers={"Authorization": f"Bearer {at_jwt(op, 'rsa-a')}"})
    assert r.status_code == 200


# ----------------------------------------------------------------- outage (point 6)

def test_frozen_provider_one_waiting_thread(make_apache, op, memcached, bench_dir, expect_log):
    """No metadata yet and a provider that accepts connections but never answers: of N
    concurrent login starts one connects (and waits for AuthOIDCHTTPTimeout); the others
    get 502/503 at once. Within the backoff nothing connects again. When the provider is
    back, logins work after the backoff."""
    expect_log(r"AOIDC401", required=True)
    fp = FrozenProvider().start()
    real = None
    try:
        a = make_apache(one_process("AuthOIDCHTTPTimeout 3\n"), oidc={"issuer": fp.issuer})
        n = 12
        wave1 = concurrent(n, lambda: login_start(a.url("/protected/"), timeout=10))
        for r in wave1:
            assert_plain_failure(r)
        # one attempt in the whole wave; without the fix the threads queue on the fetch
        # mutex and each one connects in turn
        assert fp.count() == 1, fp.count()
        t_end = time.monotonic()
        wave2 = concurrent(n, lambda: login_start(a.url("/protected/"), timeout=10))
        for r in wave2:
            assert_plain_failure(r)
        if time.monotonic() - t_end < BACKOFF_MIN:
            assert fp.count() == 1, fp.count()   # backed off: no new attempt
        else:                                    # (a very slow machine) one per window
            assert fp.count() <= 2, fp.count()
        # the provider comes back on the same address
        fp.stop()
        real = OP(bench_dir, port=fp.port).start()
        assert real.issuer == fp.issuer
        deadline = time.monotonic() + 3 * BACKOFF_MIN + 10
        r = login_start(a.url("/protected/"))
        while r.status_code != 302 and time.monotonic() < deadline:
            assert_plain_failure(r)
            time.sleep(0.5)
            r = login_start(a.url("/protected/"))
        assert r.status_code == 302 and r.headers["Location"].startswith(real.url("/auth")), r.status_code
        rs = login(new_browser(), a.url("/protected/env"), "alice", "alice-pw", op=real)
        assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice"
    finally:
        fp.stop()
        if real:
            real.stop()


def test_frozen_op_keeps_serving_cached_metadata(make_apache, op, memcached):
    """Metadata and keys loaded, then the OP freezes (SIGSTOP): login starts still redirect
    and a token with a known key is still accepted, all without waiting."""
    a = make_apache(one_process(BEARER))
    r = login_start(a.url("/protected/"))
    assert r.status_code == 302 and r.headers["Location"].startswith(op.url("/auth"))
    assert requests.get(a.url("/api/env"), headers={"Authorization": f"Bearer {at_jwt(op, 'rsa-a')}"}
                        ).status_code == 200
    token = at_jwt(op, "rsa-a")
    os.kill(op.proc.pid, signal.SIGSTOP)
    try:
        starts = concurrent(8, lambda: login_start(a.url("/protected/"), timeout=5))
        for r in starts:
            assert isinstance(r, requests.Response), r
            assert r.status_code == 302 and r.headers["Location"].startswith(op.url("/auth"))
        calls = concurrent(8, lambda: requests.get(a.url("/api/env"), timeout=5,
                                                   headers={"Authorization": f"Bearer {token}"}))
        for r in calls:
            assert isinstance(r, requests.Response), r
            assert r.status_code == 200
    finally:
        os.kill(op.proc.pid, signal.SIGCONT)
        op.stop()                            # the next test starts a fresh one


def test_callback_without_keys_is_502_not_401(make_apache, op, memcached, expect_log):
    """The provider answers but its key set cannot be had (first use, so no keys are
    loaded): the callback is the provider's fault (502 plain page, no session, nothing
    said to the user about a bad login), and the next login works once the keys are back."""
    expect_log(r"AOIDC668", required=True)
    expect_log(r"AOIDC6[23]\d|jwks|key set", required=False)
    a = make_apache(one_process())
    b = new_browser()
    cb = harness.op_login_only(b, a.url("/protected/"), "alice", "alice-pw", op=op)
    op.config(jwks_down=True)
    try:
        r = b.get(cb, allow_redirects=False)
        assert r.status_code == 502, (r.status_code, r.headers)
        assert "Location" not in r.headers
        # the login attempt is used up (its state cookie cleared); no session is given
        for c in r.raw.headers.getlist("Set-Cookie"):
            assert "Max-Age=0" in c and c.split("=", 1)[0].startswith("aoidc_state_"), c
        assert "localhost" not in r.text
        assert memcached.session_keys() == []
    finally:
        op.config(jwks_down=False)
    time.sleep(BACKOFF_MIN + 0.5)           # the failed fetch backs off, then retries
    rs = login(new_browser(), a.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice"


def test_backchannel_logout_without_keys_is_502(make_apache, op, memcached, expect_log):
    """A back-channel logout token that cannot be checked for want of keys is deferred
    with a 502 (the provider may retry), not refused as invalid (400)."""
    expect_log(r"AOIDC669", required=True)
    expect_log(r"AOIDC6[23]\d|jwks|key set|AOIDC45\d", required=False)
    a = make_apache(one_process("AuthOIDCBackChannelLogoutURI /oidc/backchannel\n"))
    op.config(jwks_down=True)
    try:
        now = int(time.time())
        tok = sign_jwt({"iss": op.issuer, "aud": "app", "iat": now, "exp": now + 120,
                        "jti": f"j{now}", "sub": "alice",
                        "events": {"http://schemas.openid.net/event/backchannel-logout": {}}},
                       kid="rsa-a", header={"typ": "logout+jwt"})
        r = requests.post(a.url("/oidc/backchannel"), data={"logout_token": tok}, allow_redirects=False)
        assert r.status_code == 502, (r.status_code, r.text[:200])
    finally:
        op.config(jwks_down=False)


def test_bearer_token_without_keys_is_503_not_401(make_apache, op, memcached, expect_log):
    """A JWT access token at a fresh node while the provider's key set cannot be had: the
    client is told to retry (503 temporarily_unavailable), not that its token is invalid."""
    expect_log(r"AOIDC780", required=True)
    expect_log(r"AOIDC6[23]\d|jwks|key set", required=False)
    a = make_apache(one_process(BEARER))
    op.config(jwks_down=True)
    try:
        r = requests.get(a.url("/api/env"), headers={"Authorization": f"Bearer {at_jwt(op, 'rsa-a')}"})
        assert r.status_code == 503, (r.status_code, r.text[:200])
        assert r.json()["error"] == "temporarily_unavailable"
        assert "Retry-After" in r.headers
    finally:
        op.config(jwks_down=False)
    time.sleep(BACKOFF_MIN + 0.5)
    r = requests.get(a.url("/api/env"), headers={"Authorization": f"Bearer {at_jwt(op, 'rsa-a')}"})
    assert r.status_code == 200
