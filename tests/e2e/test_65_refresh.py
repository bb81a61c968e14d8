"""Server-side refresh (issue 12, point 4): AuthOIDCRefreshBefore refreshes the session's
access token with its refresh token, exactly once per due refresh in the whole cluster (32
parallel requests over two Apache nodes; the dev OP rotates refresh tokens and revokes the
family on reuse, and counts its refresh grants), and the session keeps working with the new
token. A refused refresh ends the session (AuthOIDCRefreshFailure logout: 401 for
non-navigations, a login for navigations) or keeps it (keep)."""
import threading
import time

import pytest

from harness import login, new_browser
from test_97_metrics import scrape
from test_40_authz_backend import RawBackend

ACCESS_TTL = 8       # seconds the OP's access tokens live
BEFORE = 5           # refresh when fewer than this many seconds are left: due 3 s after issue


@pytest.fixture
def backend():
    b = RawBackend()
    yield b
    b.close()


@pytest.fixture
def rotating_op(op):
    op.config(ttl={"AccessToken": ACCESS_TTL}, offline_without_consent=True, rotate_refresh_tokens=True)
    return op


def conf(port):
    return f"""
<Location /metrics>
    SetHandler auth-oidc-metrics
    Require all granted
</Location>
ProxyPass /api http://127.0.0.1:{port}/api
<Location /api>
    AuthType oidc
    AuthOIDCPassAccessToken authorization
    Require valid-user
</Location>
"""


def oidc(extra=""):
    return {"scope": "openid email profile groups offline_access",
            "extra": f"AuthOIDCRefreshBefore {BEFORE}\nAuthOIDCSessionInfoURI /oidc/session\n{extra}"}


def node(make_apache, name, backend, extra=""):
    return make_apache(conf(backend.port), name=name, oidc=oidc(extra), extra_modules=("proxy", "proxy_http"))


def bearer_seen(backend):
    _, hs = backend.last()
    return next(v for n, v in hs if n.lower() == "authorization")


def expiry(b, site):
    return b.get(site.url("/oidc/session"), timeout=15).json()["access_token_expires"]


def wait_until_due(exp):
    time.sleep(max(0.0, exp - BEFORE - time.time()) + 0.6)


@pytest.mark.strict_sessions
def test_one_refresh_per_due_token_across_two_nodes(make_apache, rotating_op, backend):
    op = rotating_op
    a = node(make_apache, "a", backend)
    b_node = node(make_apache, "b", backend)
    b = new_browser()
    rs = login(b, a.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200
    assert b.get(a.url("/api/x"), timeout=15).status_code == 200
    first_token = bearer_seen(backend)
    assert op.stats()["refresh"] == 0
    for round_ in (1, 2):
        exp = expiry(b, a)
        wait_until_due(exp)
        results = []
        cookies = b.cookies.get_dict()

        def call(i):
            s = new_browser()
            s.cookies.update(cookies)
            site = (a, b_node)[i % 2]
            r = s.get(site.url(f"/api/{round_}/{i}"), headers={"Accept": "application/json"}, timeout=30)
            results.append(r.status_code)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 32, results
        stats = op.stats()
        assert stats["refresh"] == round_, stats        # exactly one refresh per due token
        assert stats["refresh_error"] == 0, op.events("refresh.error")   # never a reused refresh token
        new_exp = expiry(b, b_node)
        assert new_exp > exp
    # the session keeps working with the new token, which the backend gets
    assert b.get(b_node.url("/api/after"), timeout=15).status_code == 200
    assert bearer_seen(backend) != first_token
    assert all(e["rotated"] for e in op.events("refresh.success"))
    # the metrics of the two nodes add up to the refreshes the OP saw
    ok = sum(scrape(n, fresh=True)['aoidc_refreshes_total{result="ok"}'] for n in (a, b_node))
    assert ok == 2


def test_no_refresh_while_not_due(make_apache, rotating_op, backend):
    a = node(make_apache, "a", backend)
    b = new_browser()
    login(b, a.url("/protected/env"), "alice", "alice-pw", op=rotating_op)
    for _ in range(5):
        assert b.get(a.url("/api/x"), timeout=15).status_code == 200
    assert rotating_op.stats()["refresh"] == 0


def test_refused_refresh_ends_the_session(make_apache, rotating_op, backend, memcached):
    op = rotating_op
    a = node(make_apache, "a", backend)
    b = new_browser()
    login(b, a.url("/protected/env"), "alice", "alice-pw", op=op)
    assert b.get(a.url("/api/x"), timeout=15).status_code == 200
    exp = expiry(b, a)
    op.config(refuse_refresh=True)
    wait_until_due(exp)
    r = b.get(a.url("/api/x"), headers={"Accept": "application/json"}, allow_redirects=False, timeout=15)
    assert r.status_code == 401
    assert op.stats()["refresh_error"] == 1
    assert memcached.session_keys() == []
    m = scrape(a, fresh=True)
    assert m['aoidc_refreshes_total{result="refused"}'] == 1 and m['aoidc_refreshes_total{result="ok"}'] == 0
    # a navigation now goes to the login
    r = b.get(a.url("/api/x"), headers={"Accept": "text/html"}, allow_redirects=False, timeout=15)
    assert r.status_code == 302 and r.headers["Location"].startswith(op.issuer)


def test_refused_refresh_keeps_the_session_when_configured(make_apache, rotating_op, backend):
    op = rotating_op
    a = node(make_apache, "a", backend, "AuthOIDCRefreshFailure keep")
    b = new_browser()
    login(b, a.url("/protected/env"), "alice", "alice-pw", op=op)
    exp = expiry(b, a)
    op.config(refuse_refresh=True)
    wait_until_due(exp)
    for _ in range(3):
        r = b.get(a.url("/api/x"), headers={"Accept": "application/json"}, timeout=15)
        assert r.status_code == 200
    # one try per lock period in the cluster, not one per request
    assert op.stats()["refresh_error"] == 1


def test_refresh_before_not_below_the_token_lifetime_is_reported(make_apache, rotating_op, backend, errlog):
    site = make_apache(conf(backend.port), oidc={**oidc(), "extra": oidc()["extra"].replace(
        f"AuthOIDCRefreshBefore {BEFORE}", f"AuthOIDCRefreshBefore {ACCESS_TTL + 2}")},
        extra_modules=("proxy", "proxy_http"))
    b = new_browser()
    login(b, site.url("/protected/env"), "alice", "alice-pw", op=rotating_op)
    for _ in range(2):
        assert b.get(site.url("/api/x"), timeout=15).status_code == 200
    assert rotating_op.stats()["refresh"] >= 2      # what the notice warns about
    lines = errlog.search(r"AOIDC819")
    assert lines and f"AuthOIDCRefreshBefore {ACCESS_TTL + 2}" in lines[0]


def test_refresh_brings_fresh_userinfo_claims(make_apache, rotating_op, backend):
    op = rotating_op
    o = oidc("AuthOIDCSessionInfoClaims groups email")
    site = make_apache(conf(backend.port), oidc={**o, "provider_extra": "AuthOIDCUserInfo On"},
                       extra_modules=("proxy", "proxy_http"))
    b = new_browser()
    login(b, site.url("/protected/env"), "alice", "alice-pw", op=op)
    info = b.get(site.url("/oidc/session"), timeout=15).json()
    assert info["claims"]["groups"] == ["staff", "admins"]
    op.config(claims={"alice": {"groups": ["auditors"]}})
    wait_until_due(info["access_token_expires"])
    assert b.get(site.url("/api/x"), timeout=15).status_code == 200
    assert op.stats()["refresh"] == 1
    info = b.get(site.url("/oidc/session"), timeout=15).json()
    assert info["claims"] == {"groups": "auditors", "email": "alice@example.com"}


def test_configuration_errors(make_apache):
    rc, out = make_apache.configtest(oidc={"extra": "AuthOIDCRefreshBefore 0"})
    assert rc != 0 and "AuthOIDCRefreshBefore" in out
    rc, out = make_apache.configtest(oidc={"extra": "AuthOIDCRefreshFailure maybe"})
    assert rc != 0 and "AuthOIDCRefreshFailure" in out
