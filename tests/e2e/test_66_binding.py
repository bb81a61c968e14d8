"""AuthOIDCSessionBinding (issue 12, point 5): a session used from another User-Agent than
the one that logged in is refused (the request counts as unauthenticated: 401 or a login;
the session itself lives on for its browser) and logged; with
AuthOIDCSessionBindingAction log it is only logged. Off by default."""
from harness import login, new_browser

UA = "Mozilla/5.0 (X11; Linux x86_64) the-real-browser"


def site(make_apache, extra):
    return make_apache(oidc={"extra": f"AuthOIDCSessionInfoURI /oidc/session\n{extra}"})


def logged_in(apache, op):
    b = new_browser()
    b.headers["User-Agent"] = UA
    rs = login(b, apache.url("/protected/env"), "alice", "alice-pw", op=op)
    assert rs[-1].status_code == 200 and rs[-1].json()["REMOTE_USER"] == "alice"
    return b


def thief_of(b, ua):
    t = new_browser()
    t.headers["User-Agent"] = ua
    t.cookies.update(b.cookies.get_dict())
    return t


def get(b, apache, path, nav=False):
    return b.get(apache.url(path), headers={"Accept": "text/html" if nav else "application/json"},
                 allow_redirects=False, timeout=15)


def test_changed_user_agent_is_refused(make_apache, op, errlog):
    apache = site(make_apache, "AuthOIDCSessionBinding user-agent")
    b = logged_in(apache, op)
    thief = thief_of(b, "curl/8.0")
    assert get(thief, apache, "/protected/env").status_code == 401
    r = get(thief, apache, "/protected/env", nav=True)
    assert r.status_code == 302 and r.headers["Location"].startswith(op.issuer)
    assert get(thief, apache, "/oidc/session").status_code == 401
    # a User-Agent that only starts like the real one is another one
    assert get(thief_of(b, UA + " extra"), apache, "/protected/env").status_code == 401
    # the session lives on for the browser that logged in
    r = get(b, apache, "/protected/env")
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "alice"
    assert get(b, apache, "/oidc/session").json()["sub"] == "alice"
    lines = errlog.search(r"AOIDC818")
    assert lines and all("alice" in ln and "refused" in ln for ln in lines)
    assert not any("curl" in ln for ln in lines)


def test_same_client_with_ua_and_ip(make_apache, op):
    apache = site(make_apache, "AuthOIDCSessionBinding ua+ip")
    b = logged_in(apache, op)
    assert get(b, apache, "/protected/env").status_code == 200
    assert get(thief_of(b, "curl/8.0"), apache, "/protected/env").status_code == 401


def test_log_only(make_apache, op, errlog):
    apache = site(make_apache, "AuthOIDCSessionBinding user-agent\nAuthOIDCSessionBindingAction log")
    b = logged_in(apache, op)
    r = get(thief_of(b, "curl/8.0"), apache, "/protected/env")
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "alice"
    assert any("AuthOIDCSessionBindingAction log" in ln for ln in errlog.search(r"AOIDC818"))


def test_off_by_default(make_apache, op, errlog):
    apache = site(make_apache, "")
    b = logged_in(apache, op)
    assert get(thief_of(b, "curl/8.0"), apache, "/protected/env").status_code == 200
    assert not errlog.search(r"AOIDC818")


def test_configuration_errors(make_apache):
    rc, out = make_apache.configtest(oidc={"extra": "AuthOIDCSessionBinding ip"})
    assert rc != 0 and "AuthOIDCSessionBinding" in out
    rc, out = make_apache.configtest(oidc={"extra": "AuthOIDCSessionBindingAction warn"})
    assert rc != 0 and "AuthOIDCSessionBindingAction" in out
