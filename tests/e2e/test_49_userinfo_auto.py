"""issue 13 point 3: AuthOIDCUserInfo defaults to Auto: a provider with a userinfo endpoint is
asked at login, so claims it puts only there (email, name) arrive; its sub must match the ID
token's; the hot path never calls it. Off and On stay."""
from __future__ import annotations

import harness
from harness import hops, login, op_login_only
from test_20_callback import assert_no_session, assert_refused


def test_auto_by_default_merges_claims_only_in_userinfo(apache, op, browser):
    op.config(userinfo_only=["email", "name", "groups"])
    rs = login(browser, apache.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200, hops(rs)
    env = rs[-1].json()
    assert env["OIDC_CLAIM_email"] == "alice@example.com"
    assert env["OIDC_CLAIM_name"] == "Alice Liddell"
    assert env["OIDC_CLAIM_groups"] == "staff,admins"
    assert op.stats()["userinfo"] == 1
    # the hot path asks nobody
    before = op.stats()
    assert browser.get(apache.url("/protected/env"), timeout=15).json()["OIDC_CLAIM_email"] == "alice@example.com"
    assert op.stats() == before


def test_explicit_auto_and_on(make_apache, op, browser):
    op.config(userinfo_only=["email"])
    for value in ("Auto", "On"):
        a = make_apache(oidc={"provider_extra": f"AuthOIDCUserInfo {value}"}, name=value)
        b = harness.new_browser()
        rs = login(b, a.url("/protected/env"), "alice", "alice-pw", op=op)
        assert rs[-1].json()["OIDC_CLAIM_email"] == "alice@example.com", (value, hops(rs))


def test_off_leaves_userinfo_alone(make_apache, op, browser):
    op.config(userinfo_only=["email"])
    a = make_apache(oidc={"provider_extra": "AuthOIDCUserInfo Off"})
    rs = login(browser, a.url("/protected/env"), "alice", "alice-pw", op=op)
    assert "OIDC_CLAIM_email" not in rs[-1].json()
    assert op.stats()["userinfo"] == 0


def test_auto_userinfo_sub_must_match(apache, op, browser, memcached, expect_log):
    expect_log(r"AOIDC412: userinfo sub differs", required=True)
    cb = op_login_only(browser, apache.url("/protected/"), "alice", "alice-pw", op=op)
    op.config(claims={"alice": {"sub": "mallory"}})
    op.mutate("claims", set={"sub": "alice"})
    r = browser.get(cb, allow_redirects=False, timeout=15)
    assert op.stats()["userinfo"] == 1
    assert_refused(r, 401)
    assert_no_session(r, browser, memcached)


def test_userinfo_keyword_checked(make_apache):
    from test_60_config import check_fails
    check_fails(make_apache, "AuthOIDCUserInfo", r"AuthOIDCUserInfo: 'maybe' is not Auto, On or Off",
                oidc={"provider_extra": "AuthOIDCUserInfo maybe"})
