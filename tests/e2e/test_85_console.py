"""oidc-console end to end: two Apache nodes sharing memcached, real logins at the
dev OP, then the console (CLI with --json, and the JSON API of `oidc-console serve`)
lists and revokes those sessions. Also: admin login, CSRF, same-origin, garbage input.

Console is shared with test_86_console_browser.py.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

import harness
from harness import free_port, login, new_browser, wait_port

# console revocations are checked at once here; their bound with the session cache: test_99
pytestmark = pytest.mark.strict_sessions

REPO = harness.REPO
CONSOLE_BIN = os.environ.get("AOIDC_CONSOLE", str(REPO / "console" / "oidc-console"))
# the test-only seeder, built beside the console (build/tests/console/aoidc-seed)
SEED_BIN = os.environ.get("AOIDC_SEED", str(Path(CONSOLE_BIN).resolve().parent.parent / "tests" / "console" /
                                            "aoidc-seed"))
ADMIN, ADMIN_PW = "admin", "console admin pw"


def _need_console():
    if not Path(CONSOLE_BIN).is_file():
        if os.environ.get("AOIDC_REQUIRE_MODULE") == "1":
            pytest.fail(f"oidc-console not built: {CONSOLE_BIN}", pytrace=False)
        pytest.skip(f"oidc-console not built: {CONSOLE_BIN}")


class Console:
    """A console config in a private directory, the CLI, and `serve` on a free port."""

    def __init__(self, root: Path, memcached, crypto_key, **extra):
        _need_console()
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.htpasswd = self.root / "htpasswd"
        r = subprocess.run(["htpasswd", "-nbB", ADMIN, ADMIN_PW], capture_output=True, text=True, check=True)
        self.htpasswd.write_text(r.stdout.strip() + "\n")
        self.audit = self.root / "audit.log"
        conf = {
            "store_servers": memcached.address,
            "crypto_key_file": str(crypto_key),
            "admin_htpasswd": str(self.htpasswd),
            "audit_log": str(self.audit),
            "listen": f"127.0.0.1:{self.port}",
            "login_fail_max": "5",
            "login_fail_window": "300",
            **{k: str(v) for k, v in extra.items()},
        }
        self.conf = self.root / "console.conf"
        self.conf.write_text("".join(f"{k} = {v}\n" for k, v in conf.items()))
        self.proc: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    # --- CLI
    def cli(self, *args: str, json_out: bool = True, conf: Path | None = None) -> tuple[int, object]:
        cmd = [CONSOLE_BIN, "--config", str(conf or self.conf)] + (["--json"] if json_out else []) + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        out: object = r.stdout
        if json_out and r.stdout.strip():
            try:
                out = json.loads(r.stdout)
            except ValueError:
                pass
        self.last_stderr = r.stderr
        return r.returncode, out

    def seed(self, *args: str) -> tuple[int, str]:
        """Synthetic sessions through the test-only seeder (tests/console/aoidc_seed.c)."""
        r = subprocess.run([SEED_BIN, "--config", str(self.conf), *args], capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    # --- web
    def serve(self) -> "Console":
        self.err_path = self.root / "serve.err"
        err = open(self.err_path, "ab")
        self.proc = subprocess.Popen([CONSOLE_BIN, "--config", str(self.conf), "serve"], stdout=subprocess.PIPE,
                                     stderr=err, stdin=subprocess.DEVNULL)
        err.close()
        line = self.proc.stdout.readline().decode()
        assert line.startswith("READY "), f"console did not start: {line!r} {self.err_path.read_text()}"
        wait_port(self.port, alive=lambda: self.proc.poll() is None)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc:
            harness.stop_process(self.proc)
        self.proc = None

    def url(self, path: str) -> str:
        return self.base + path

    def api_login(self, s=None, user=ADMIN, password=ADMIN_PW):
        s = s or new_browser()
        r = s.post(self.url("/api/login"), json={"user": user, "password": password}, timeout=10)
        return s, r


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def page_text(html: str) -> str:
    """What a reader sees of a page: its text, blanks collapsed."""
    t = _Text()
    t.feed(html)
    return re.sub(r"\s+", " ", " ".join(t.parts))


# a printf conversion that was not converted (apr_psprintf knows no %zu, %lld)
UNFORMATTED = re.compile(r"%[-+ #0-9.]*(?:hh|h|ll|l|z|j|t|q|L)?[diouxXsfcpn]")


def assert_rendered(text: str) -> None:
    m = UNFORMATTED.search(text)
    assert not m, f"unrendered format {m.group(0)!r} in: {text[max(0, m.start() - 80):m.end() + 80]}"


@pytest.fixture
def console(tmp_path, memcached, crypto_key):
    c = Console(tmp_path / "console", memcached, crypto_key)
    yield c
    c.stop()


@pytest.fixture
def two_nodes(make_apache):
    a = make_apache(name="a", oidc={"extra": "AuthOIDCNodeName node-a"})
    b = make_apache(name="b", oidc={"extra": "AuthOIDCNodeName node-b"})
    return a, b


def _login(node, user, op):
    s = new_browser()
    hops = login(s, node.url("/protected/env"), user, harness.USERS[user]["password"], op=op)
    assert hops[-1].status_code == 200, harness.hops(hops)
    assert hops[-1].json()["REMOTE_USER"]
    return s


def _ok(s, node) -> bool:
    """Does this browser still have a session at this node?"""
    r = s.get(node.url("/protected/env"), allow_redirects=False, timeout=10)
    if r.status_code == 200:
        return True
    assert r.status_code in (302, 401), r.status_code
    return False


def _subs(listing) -> list[str]:
    return sorted(x["sub"] for x in listing["sessions"])


def _csrf(s, console) -> str:
    return s.get(console.url("/api/whoami"), timeout=10).json()["csrf_token"]


# ----------------------------------------------------------------- listing

def test_console_lists_exactly_the_logged_in_users(two_nodes, op, console):
    a, b = two_nodes
    _login(a, "alice", op)
    _login(b, "bob", op)
    _login(a, "carol", op)

    rc, out = console.cli("sessions")
    assert rc == 0, console.last_stderr
    assert _subs(out) == ["alice", "bob", "carol"]
    assert out["total"] == 3
    by_sub = {x["sub"]: x for x in out["sessions"]}
    assert by_sub["alice"]["node"] == "node-a" and by_sub["bob"]["node"] == "node-b"
    assert by_sub["alice"]["email"] == "alice@example.com" and by_sub["bob"]["name"] == "Bob Builder"
    assert all(x["provider"] == "main" for x in out["sessions"])
    # no token ever leaves the console
    assert "token" not in json.dumps(out).replace("has_", "")

    # filters
    assert _subs(console.cli("sessions", "--user", "bob")[1]) == ["bob"]
    assert _subs(console.cli("sessions", "--email", "CAROL@example.com")[1]) == ["carol"]
    assert _subs(console.cli("sessions", "--name", "Alice Liddell", "--provider", "main")[1]) == ["alice"]
    assert _subs(console.cli("sessions", "--provider", "main")[1]) == ["alice", "bob", "carol"]
    rc, out = console.cli("sessions", "--user", "nobody")
    assert rc == 4 and out["sessions"] == []
    rc, page = console.cli("sessions", "--per-page", "2")
    assert rc == 0 and len(page["sessions"]) == 2 and page["more"] is True
    rc, page2 = console.cli("sessions", "--per-page", "2", "--page", "2")
    assert len(page2["sessions"]) == 1 and page2["more"] is False
    assert {x["handle"] for x in page["sessions"]}.isdisjoint(x["handle"] for x in page2["sessions"])

    # show: detail with claims, still no token
    handle = by_sub["alice"]["handle"]
    rc, one = console.cli("show", handle)
    assert rc == 0 and one["sub"] == "alice" and one["claims"]["email"] == "alice@example.com"
    assert one["has_id_token"] is True and "eyJ" not in json.dumps(one)

    # nodes and providers from the snapshots the module publishes
    rc, nodes = console.cli("nodes")
    assert rc == 0
    assert {n["node"] for n in nodes["nodes"]} >= {"node-a", "node-b"}
    rc, provs = console.cli("providers")
    assert rc == 0 and [p["name"] for p in provs["providers"]] == ["main"]
    assert provs["providers"][0]["sessions"] == 3

    # the JSON API says the same
    console.serve()
    s, r = console.api_login()
    assert r.status_code == 200, r.text
    api = s.get(console.url("/api/sessions"), timeout=10).json()
    assert _subs(api) == ["alice", "bob", "carol"]
    assert _subs(s.get(console.url("/api/sessions?user=carol"), timeout=10).json()) == ["carol"]
    assert s.get(console.url(f"/api/sessions/{handle}"), timeout=10).json()["sub"] == "alice"
    assert [p["name"] for p in s.get(console.url("/api/providers"), timeout=10).json()["providers"]] == ["main"]
    assert {n["node"] for n in s.get(console.url("/api/nodes"), timeout=10).json()["nodes"]} >= {"node-a", "node-b"}
    html = s.get(console.url("/sessions"), timeout=10).text
    assert "alice@example.com" in html and "bob@example.com" in html
    assert s.get(console.url("/nodes"), timeout=10).status_code == 200
    assert s.get(console.url("/providers"), timeout=10).status_code == 200


def test_every_page_renders_its_counts(two_nodes, op, console):
    """The rendered text of every page: counts and dates as a reader sees them."""
    a, b = two_nodes
    _login(a, "alice", op)
    _login(b, "bob", op)
    _login(b, "alice", op)
    console.serve()
    s, r = console.api_login()
    assert r.status_code == 200, r.text

    def text(path):
        r = s.get(console.url(path), timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        t = page_text(r.text)
        assert_rendered(t)
        return r.text, t

    assert_rendered(page_text(new_browser().get(console.url("/login"), timeout=10).text))
    html, t = text("/sessions")
    assert "Page 1 of 1: 3 session(s) shown, 3 in the directory." in t, t
    handle = re.search(r'data-handle="([^"]+)"', html).group(1)
    head = page_text(re.search(r"<thead>.*?</thead>", html, re.S).group(0))
    assert head.split() == "Session User Email, name Provider Node Client Created Last seen Expires ▼ Actions".split(), head
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    rows = re.findall(r"<tr data-handle=.*?</tr>", html, re.S)
    assert len(rows) == 3
    for row in rows:
        cells = {k: page_text(v) for k, v in re.findall(r'<td class="([a-z-]+)">(.*?)</td>', row, re.S)}
        assert cells["user"].split()[0] in ("alice", "bob"), cells
        # client: the address and the summary of the user agent (python-requests here)
        assert re.fullmatch(r"127\.0\.0\.1 python-requests \d+", cells["client"]), cells
        for col in ("created", "last-seen", "expires"):
            assert re.fullmatch(iso + r" (just now|\d+ (s|min) ago|in \d+ (min|h|d))", cells[col]), (col, cells)
        assert cells["node"] in ("node-a", "node-b") and cells["provider"] == "main"
    # sorting by last seen and by created: the header says which, the rows follow it
    for key, col in (("last_seen", "last-seen"), ("created", "created")):
        html, t = text(f"/sessions?sort={key}&provider=main")
        assert re.search(r'<th class="sorted"[^>]*>[^<]*' + ("Last seen" if key == "last_seen" else "Created"), html)
        stamps = re.findall(rf'<td class="{col}"><time datetime="([^"]+)"', html)
        assert len(stamps) == 3 and stamps == sorted(stamps, reverse=True), stamps
        assert "Page 1 of 1: 3 session(s) shown" in t
    # paging keeps the sort and the filter
    html, t = text("/sessions?sort=created&per_page=2")
    assert "Page 1 of 2: 2 session(s) shown, 3 in the directory." in t, t
    assert 'href="/sessions?page=2&amp;sort=created"' in html
    _, t = text("/sessions?sort=created&per_page=2&page=2")
    assert "Page 2 of 2: 1 session(s) shown" in t, t
    _, t = text(f"/sessions/{handle}")
    assert re.search(r"Last seen " + iso, t), t
    _, t = text("/user?provider=main&sub=alice")
    assert "2 live session(s)." in t, t
    _, t = text("/providers")
    assert "3 live session(s), configured on 2 node(s)." in t, t
    _, t = text("/nodes")
    m = re.search(r"(\d+) node\(s\), (\d+) differing setting\(s\)\.", t)
    assert m and m.group(1) == "2", t
    _, t = text("/sessions?revoked=2")
    assert "Revoked 2 session(s)." in t


def test_prefix_search_through_the_index_and_substring_only_on_request(two_nodes, op, console):
    a, b = two_nodes
    _login(a, "alice", op)
    _login(b, "bob", op)
    # the CLI has no index: a prefix is a (bounded) scan there
    rc, out = console.cli("sessions", "--prefix", "ALI")
    assert rc == 0 and _subs(out) == ["alice"], out
    console.serve()
    s, _ = console.api_login()

    def q(query):
        r = s.get(console.url("/api/sessions?" + query), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    deadline = time.time() + 20
    while q("q=ali")["search"] != "index":          # built by a thread at start
        assert time.time() < deadline, "the search index was not built"
        time.sleep(0.2)
    assert _subs(q("q=ali")) == ["alice"]
    assert _subs(q("q=LIDD")) == ["alice"]            # a word of the name
    assert _subs(q("q=bob%40exa")) == ["bob"]         # email
    assert _subs(q("q=b")) == ["bob"]                 # user, email and name "Bob Builder": once
    assert q("q=lic")["sessions"] == []               # a prefix, not a substring...
    r = q("q=lic&scan=1")                             # ...unless a scan is asked for
    assert _subs(r) == ["alice"] and r["search"] == "scan" and r["partial"] is False
    # a login after the index was built is found at once (each search reads the newest buckets)
    _login(a, "carol", op)
    r = q("q=carol")
    assert _subs(r) == ["carol"] and r["search"] == "index"
    assert _subs(q("q=c&provider=main")) == ["carol"]
    # the page says how it searched, and keeps the scan choice across pages
    html = s.get(console.url("/sessions?q=ali"), timeout=10).text
    t = page_text(html)
    assert "Prefix search of user, sub, email and the words of the name (search index)." in t
    assert re.search(r'<input name="q" value="ali"', html)
    html = s.get(console.url("/sessions?q=lic&scan=1"), timeout=10).text
    assert "Substring search: every session was read." in page_text(html)
    assert 'name="scan" value="1" checked' in html
    assert s.get(console.url("/api/sessions?q=x&scan=yes"), timeout=10).status_code == 400


def test_nodes_with_differing_configuration_are_flagged(make_apache, op, console):
    make_apache(name="a", oidc={"extra": "AuthOIDCNodeName node-a\nAuthOIDCSessionInactivityTimeout 3600"})
    make_apache(name="b", oidc={"extra": "AuthOIDCNodeName node-b\nAuthOIDCSessionInactivityTimeout 1800"})
    rc, nodes = console.cli("nodes")
    assert rc == 0, console.last_stderr
    assert any("inactivity" in d for d in nodes["differing"]), nodes["differing"]
    rc, text = console.cli("nodes", json_out=False)
    assert "inactivity" in text and "!" in text
    console.serve()
    s, _ = console.api_login()
    html = s.get(console.url("/nodes"), timeout=10).text
    assert re.search(r'<tr class="differs">.*inactivity', html, re.S)
    # by default only the differing settings, highlighted; a link shows them all
    t = page_text(html)
    assert_rendered(t)
    table = re.search(r'<table class="settings" id="nodes">.*?</table>', html, re.S).group(0)
    rows = [r for r in re.findall(r"<tr[ >].*?</tr>", table.split("<tbody>")[1], re.S)
            if not r.startswith('<tr class="group">')]
    assert rows and all(r.startswith('<tr class="differs') for r in rows), rows
    assert len(rows) == int(re.search(r"(\d+) differing setting", t).group(1))
    # the configured settings come first, what the nodes learned from the providers after
    assert rows[0].startswith('<tr class="differs">') and "session.inactivity" in rows[0], rows[0]
    assert "session.inactivity" in table and "session.cookie_name" not in table
    assert 'href="/nodes?all=1"' in html and "Show all settings" in t
    # the node list: name, version, last snapshot time
    nl = page_text(re.search(r'<table id="node-list">.*?</table>', html, re.S).group(0))
    assert re.search(r"node-a \S+ \d{4}-\d\d-\d\dT\S+ (just now|\d+ s ago)", nl), nl
    html = s.get(console.url("/nodes?all=1"), timeout=10).text
    table = re.search(r'<table class="settings" id="nodes">.*?</table>', html, re.S).group(0)
    assert "session.cookie_name" in table and '<tr class="differs">' in table
    assert 'href="/nodes"' in html
    assert s.get(console.url("/nodes?all=2"), timeout=10).status_code == 400


def test_providers_page_shows_a_card_per_provider(two_nodes, op, console):
    a, b = two_nodes
    _login(a, "alice", op)
    console.serve()
    s, _ = console.api_login()
    html = s.get(console.url("/providers"), timeout=10).text
    t = page_text(html)
    assert_rendered(t)
    card = re.search(r'<section class="card provider" id="provider-main">.*?</section>', html, re.S).group(0)
    ct = page_text(card)
    assert "1 live session(s), configured on 2 node(s)." in ct, ct
    assert re.search(r"Issuer https?://\S+", ct) and "Client ID" in ct and re.search(r"Scopes [^ ]*openid", ct), ct
    assert "Token endpoint" in ct and "JWKS" in ct
    # discovery and JWKS status per node, the keys the node holds
    for node in ("node-a", "node-b"):
        row = page_text(re.search(rf"<tr><th>{node}</th>.*?</tr>", card, re.S).group(0))
        assert re.search(r"(ok, fetched \d{4}-\S+ \S+.*){2}|not fetched yet", row), row
    assert "No problem." in ct or "problem(s) above." in ct
    assert 'href="/providers/revoke?provider=main"' in card


# ----------------------------------------------------------------- two providers: display names, locations

HOSTILE = 'Partners <b>&</b> "Co" <script>alert(1)</script>'
HOSTILE_CONF = HOSTILE.replace('"', '\\"')  # inside a quoted directive argument


@pytest.fixture
def op2(bench_dir):
    """A second OP with another issuer, for the provider "two" (as in test_47_chooser.py)."""
    second = harness.OP(bench_dir, path="/realms/two").start()
    second.ensure_default()
    yield second
    second.stop()


def _two_provider_conf(op2, extra_location: str = "") -> str:
    locs = [("both", "main two"), ("two-app", "two"), ("main-app", "main")] + \
        ([(extra_location, "two")] if extra_location else [])
    return f"""
<AuthOIDCProvider two>
    AuthOIDCIssuer {op2.issuer}
    AuthOIDCClientID app
    AuthOIDCClientSecretFile "{harness.OP.secret_file("app")}"
    AuthOIDCScope "openid email profile groups"
    AuthOIDCProviderDisplayName "{HOSTILE_CONF}"
</AuthOIDCProvider>
AuthOIDCLoginURI /oidc/login
""" + "".join(f"""
<Location /{path}/>
    AuthType oidc
    AuthOIDCUseProvider {names}
    Require valid-user
</Location>
""" for path, names in locs)


def test_providers_show_display_names_and_the_locations_using_them(make_apache, op, op2, console):
    """issue 13 point 8: each provider's display name (escaped), and which locations use it on which
    nodes: one list naming the nodes when they agree, a row per node when they do not."""
    for name, extra in (("a", ""), ("b", "b-only")):
        make_apache(_two_provider_conf(op2, extra), name=name,
                    oidc={"extra": f"AuthOIDCNodeName node-{name}",
                          "provider_extra": "AuthOIDCProviderDisplayName Employees"})
    rc, provs = console.cli("providers")
    assert rc == 0, console.last_stderr
    by = {p["name"]: p for p in provs["providers"]}
    assert by["main"]["display_name"] == "Employees" and by["two"]["display_name"] == HOSTILE
    assert by["main"]["locations_same"] is True
    assert by["main"]["locations"] == {n: ["<Location /protected>", "<Location /both/>", "<Location /main-app/>"]
                                       for n in ("node-a", "node-b")}, by["main"]["locations"]
    assert by["two"]["locations_same"] is False
    assert by["two"]["locations"]["node-a"] == ["<Location /both/>", "<Location /two-app/>"]
    assert by["two"]["locations"]["node-b"] == ["<Location /both/>", "<Location /two-app/>",
                                                "<Location /b-only/>"], by["two"]["locations"]
    # the CLI text: the display name as it is (nothing in it a terminal obeys), the locations
    rc, text = console.cli("providers", json_out=False)
    assert rc == 0, console.last_stderr
    assert "  display name: Employees\n" in text and f"  display name: {HOSTILE}\n" in text, text
    assert "  locations (node-a, node-b): <Location /protected>, <Location /both/>, <Location /main-app/>\n" in text, text
    assert "  locations on node-b: <Location /both/>, <Location /two-app/>, <Location /b-only/>\n" in text, text
    # the page: the display name escaped as the card's title, the locations, the difference flagged
    console.serve()
    s, _ = console.api_login()
    html = s.get(console.url("/providers"), timeout=10).text
    assert "<script>" not in html and "<b>" not in html
    assert_rendered(page_text(html))
    main = re.search(r'<section class="card provider" id="provider-main">.*?</section>', html, re.S).group(0)
    mt = page_text(main)
    assert re.search(r"<h2>Employees <small", main) and "Employees main" in mt, mt
    assert "Used by <Location /protected> , <Location /both/> , <Location /main-app/> on node-a, node-b" in mt, mt
    assert "Userinfo at login auto" in mt, mt
    two = re.search(r'<section class="card provider" id="provider-two">.*?</section>', html, re.S).group(0)
    assert "<h2>Partners &lt;b&gt;&amp;&lt;/b&gt; &quot;Co&quot; &lt;script&gt;alert(1)&lt;/script&gt; <small" in two
    tt = page_text(two)
    assert tt.startswith(f"{HOSTILE} two "), tt
    assert "The nodes use it in different locations:" in tt, tt
    assert "node-a <Location /both/> , <Location /two-app/> node-b <Location /both/> , <Location /two-app/> , " \
           "<Location /b-only/>" in tt, tt
    assert "Used by" not in tt


def test_revoke_all_through_the_confirmation_page(two_nodes, op, console):
    a, b = two_nodes
    alice1, alice2, bob = _login(a, "alice", op), _login(b, "alice", op), _login(a, "bob", op)
    console.serve()
    s, _ = console.api_login()
    html = s.get(console.url("/sessions"), timeout=10).text
    link = re.search(r'<a class="revoke-user" href="(/users/revoke\?provider=main&amp;sub=alice)"', html)
    assert link, html
    page = s.get(console.url(link.group(1).replace("&amp;", "&")), timeout=10)
    t = page_text(page.text)
    assert_rendered(t)
    assert "This will end 2 session(s)." in t and "Revoke 2 session(s)" in t, t
    assert _ok(alice1, a) and _ok(alice2, b)       # nothing happened yet
    # a form post without confirm (an old page) only shows the confirmation again
    tok = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = s.post(console.url("/users/revoke"), data={"csrf": tok, "provider": "main", "sub": "alice"},
               allow_redirects=False, timeout=10)
    assert r.status_code == 200 and "This will end 2 session(s)." in page_text(r.text)
    assert _ok(alice1, a)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                           re.search(r'<form method="post" id="confirm".*?</form>', page.text, re.S).group(0)))
    assert form["confirm"] == "yes" and form["sub"] == "alice"
    r = s.post(console.url("/users/revoke"), data=form, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and "revoked=2" in r.headers["Location"], r.text
    assert not _ok(alice1, a) and not _ok(alice2, b) and _ok(bob, a)
    # the provider: the same through its own page
    page = s.get(console.url("/providers/revoke?provider=main"), timeout=10)
    assert "This will end 1 session(s)." in page_text(page.text)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                           re.search(r'<form method="post" id="confirm".*?</form>', page.text, re.S).group(0)))
    r = s.post(console.url("/providers/revoke"), data=form, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and "revoked=1" in r.headers["Location"]
    assert not _ok(bob, a)
    audit = console.audit.read_text()
    assert "action=revoke-user" in audit and "action=revoke-provider" in audit


# ----------------------------------------------------------------- revocation

def test_revoke_one_session_ends_it_on_both_nodes(two_nodes, op, console):
    a, b = two_nodes
    alice, bob, carol = _login(a, "alice", op), _login(b, "bob", op), _login(a, "carol", op)
    for s in (alice, bob, carol):          # one session, valid on either node
        assert _ok(s, a) and _ok(s, b)
    console.serve()
    s, _ = console.api_login()
    handle = s.get(console.url("/api/sessions?user=alice"), timeout=10).json()["sessions"][0]["handle"]
    r = s.post(console.url(f"/api/sessions/{handle}/revoke"), headers={"X-CSRF-Token": _csrf(s, console)},
               timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] == 1
    assert not _ok(alice, b) and not _ok(alice, a)
    for other in (bob, carol):
        assert _ok(other, a) and _ok(other, b)
    assert _subs(s.get(console.url("/api/sessions"), timeout=10).json()) == ["bob", "carol"]
    # again: it is gone
    r = s.post(console.url(f"/api/sessions/{handle}/revoke"), headers={"X-CSRF-Token": _csrf(s, console)},
               timeout=10)
    assert r.status_code == 404
    line = console.audit.read_text().splitlines()[-1]
    assert f'admin="{ADMIN}" action=revoke-session target="handle={handle}" count=1 via=web' in line


def test_revoke_all_sessions_of_a_user(two_nodes, op, console):
    a, b = two_nodes
    alice1, alice2 = _login(a, "alice", op), _login(b, "alice", op)
    bob1, bob2 = _login(a, "bob", op), _login(b, "bob", op)
    carol = _login(b, "carol", op)
    rc, out = console.cli("sessions", "--user", "alice")
    assert rc == 0 and len(out["sessions"]) == 2
    # CLI: all of alice
    rc, out = console.cli("revoke", "--user", "alice", "--provider", "main")
    assert rc == 0, console.last_stderr
    assert out["revoked"] == 2
    assert not _ok(alice1, a) and not _ok(alice2, b)
    assert _ok(bob1, a) and _ok(bob2, b) and _ok(carol, a)
    assert "action=revoke-user" in console.audit.read_text() and "count=2 via=cli" in console.audit.read_text()
    # API: all of bob
    console.serve()
    s, _ = console.api_login()
    r = s.post(console.url("/api/users/revoke"), json={"provider": "main", "sub": "bob"},
               headers={"X-CSRF-Token": _csrf(s, console)}, timeout=10)
    assert r.status_code == 200 and r.json()["revoked"] == 2, r.text
    assert not _ok(bob1, b) and not _ok(bob2, a)
    assert _ok(carol, b)
    rc, out = console.cli("sessions")
    assert _subs(out) == ["carol"]
    # nothing left of alice: not found
    rc, out = console.cli("revoke", "--user", "alice", "--provider", "main")
    assert rc == 4 and out["revoked"] == 0


# ----------------------------------------------------------------- admin auth, CSRF

def test_no_access_without_admin_login(two_nodes, op, console):
    a, _ = two_nodes
    alice = _login(a, "alice", op)
    console.serve()
    anon = new_browser()
    for path in ("/api/sessions", "/api/providers", "/api/nodes", "/api/whoami", "/api/sessions/" + "A" * 43):
        r = anon.get(console.url(path), timeout=10)
        assert r.status_code == 401, path
        assert "alice" not in r.text
    for path in ("/sessions", "/providers", "/nodes", "/user?sub=alice", "/sessions/" + "A" * 43):
        r = anon.get(console.url(path), allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["Location"] == "/login", path
    for path in ("/api/users/revoke", "/api/sessions/" + "A" * 43 + "/revoke", "/users/revoke"):
        assert anon.post(console.url(path), json={"provider": "main", "sub": "alice"}, timeout=10).status_code in (401, 403)
    # a forged cookie is nobody
    anon.cookies.set("oidc_console", "A" * 43)
    assert anon.get(console.url("/api/sessions"), timeout=10).status_code == 401
    assert _ok(alice, a)

    # wrong password, unknown user: 401, no cookie
    s = new_browser()
    for user, pw in ((ADMIN, "wrong"), ("nobody", ADMIN_PW), (ADMIN, "wrong2"), (ADMIN, "")):
        r = s.post(console.url("/api/login"), json={"user": user, "password": pw}, timeout=10)
        assert r.status_code in (400, 401) and "oidc_console" not in r.headers.get("Set-Cookie", "")
    for _ in range(2):   # failures 4 and 5 (the empty password was a 400, not a try)
        r = s.post(console.url("/login"), data={"user": ADMIN, "password": "wrong"}, allow_redirects=False,
                   timeout=10)
        assert r.status_code == 401 and 'id="error"' in r.text
    # login_fail_max = 5 failures from this client within the window: now 429, even with the right password
    r = s.post(console.url("/login"), data={"user": ADMIN, "password": "wrong"}, allow_redirects=False, timeout=10)
    assert r.status_code == 429
    s2, r = console.api_login(new_browser())
    assert r.status_code == 429 and "Retry-After" in r.headers


def _audit_lines(console) -> list[str]:
    return console.audit.read_text().splitlines() if console.audit.exists() else []


def test_console_logins_logouts_and_failures_are_audited(console):
    console.serve()
    s, r = console.api_login()
    assert r.status_code == 200, r.text
    r = s.post(console.url("/api/logout"), headers={"X-CSRF-Token": _csrf(s, console)}, timeout=10)
    assert r.status_code == 200, r.text
    _, r = console.api_login(user="nobody", password="not the password")
    assert r.status_code == 401
    _, r = console.api_login(password="wrong pw")
    assert r.status_code == 401
    lines = _audit_lines(console)
    assert len(lines) == 4, lines
    assert f'admin="{ADMIN}" action=login target=- count=0 via=web client="127.0.0.1"' in lines[0]
    assert f'admin="{ADMIN}" action=logout target=- count=0 via=web client="127.0.0.1"' in lines[1]
    assert 'admin="nobody" action=login-failed' in lines[2] and 'client="127.0.0.1"' in lines[2]
    assert f'admin="{ADMIN}" action=login-failed' in lines[3]
    text = console.audit.read_text()
    assert ADMIN_PW not in text and "not the password" not in text and "wrong pw" not in text


def test_console_login_survives_a_restart_but_not_a_logout(two_nodes, op, console, memcached):
    a, _ = two_nodes
    alice = _login(a, "alice", op)
    console.serve()
    s, r = console.api_login()
    assert r.status_code == 200, r.text
    tok = r.json()["csrf_token"]
    page = s.get(console.url("/sessions"), timeout=10)
    form_tok = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    # the store holds the login under a hash of the cookie, sealed: neither the cookie nor the admin in clear
    cookie = s.cookies.get("oidc_console")
    digest = base64.urlsafe_b64encode(hashlib.sha256(cookie.encode()).digest()).decode().rstrip("=")
    assert f"aoidc:c:{digest}" in memcached.keys()
    stored = memcached.command(f"get aoidc:c:{digest}")
    assert cookie not in stored and ADMIN not in stored
    console.stop()
    console.serve()
    r = s.get(console.url("/api/whoami"), timeout=10)
    assert r.status_code == 200 and r.json() == {"admin": ADMIN, "csrf_token": tok}, r.text
    # a form of a page rendered before the restart still works
    handle = re.search(r'data-handle="([^"]+)"', page.text).group(1)
    r = s.post(console.url(f"/sessions/{handle}/revoke"), data={"csrf": form_tok}, allow_redirects=False,
               timeout=10)
    assert r.status_code == 303 and "revoked=1" in r.headers["Location"], r.text
    assert not _ok(alice, a)
    # logout ends it for good: the cookie, replayed after a restart, is nobody
    assert s.post(console.url("/api/logout"), headers={"X-CSRF-Token": tok}, timeout=10).status_code == 200
    console.stop()
    console.serve()
    replay = new_browser()
    replay.cookies.set("oidc_console", cookie)
    assert replay.get(console.url("/api/whoami"), timeout=10).status_code == 401
    assert replay.get(console.url("/sessions"), allow_redirects=False, timeout=10).status_code == 303
    assert f"aoidc:c:{digest}" not in memcached.keys()


def test_console_login_idle_timeout_holds_for_stored_logins(tmp_path, memcached, crypto_key):
    """login_idle = 30: a login used every 16 s lives past 30 s; left alone for 31 s, it is over."""
    c = Console(tmp_path / "console", memcached, crypto_key, login_idle=30, login_max=3600).serve()
    try:
        s, r = c.api_login()
        assert r.status_code == 200
        for _ in range(2):
            time.sleep(16)
            assert s.get(c.url("/api/whoami"), timeout=10).status_code == 200
        time.sleep(31)
        assert s.get(c.url("/api/whoami"), timeout=10).status_code == 401
    finally:
        c.stop()


def test_parallel_wrong_passwords_cannot_beat_the_limit(tmp_path, memcached, crypto_key):
    import concurrent.futures
    c = Console(tmp_path / "console", memcached, crypto_key, login_fail_max=3)
    # a costlier hash widens the window between the limit check and the bcrypt answer
    r = subprocess.run(["htpasswd", "-nbB", "-C", "10", ADMIN, ADMIN_PW], capture_output=True, text=True, check=True)
    c.htpasswd.write_text(r.stdout.strip() + "\n")
    try:
        c.serve()

        def attempt(_):
            return c.api_login(new_browser(), password="wrong")[1].status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
            codes = list(ex.map(attempt, range(16)))
        assert sorted(set(codes)) == [401, 429], codes
        assert codes.count(401) <= 3, codes      # at most login_fail_max passwords were checked
        failed = [ln for ln in _audit_lines(c) if "action=login-failed" in ln]
        assert len(failed) == codes.count(401)
    finally:
        c.stop()


def _raw_wrong_login(port: int, header_lines: list[str]) -> int:
    """POST /api/login with a wrong password and raw header lines (repeated fields)."""
    import socket
    body = json.dumps({"user": ADMIN, "password": "wrong"}).encode()
    req = (f"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
           + "".join(h + "\r\n" for h in header_lines) + "\r\n").encode() + body
    buf = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(req)
        while chunk := sock.recv(65536):
            buf += chunk
    return int(buf.split(b" ", 2)[1])


def test_forwarded_for_counts_only_from_trusted_proxies(tmp_path, memcached, crypto_key):
    def wrong(c, xff):
        return c.api_login(new_browser(), password="wrong") if xff is None else \
            (lambda s: (s, s.post(c.url("/api/login"), json={"user": ADMIN, "password": "wrong"},
                                  headers={"X-Forwarded-For": xff}, timeout=10)))(new_browser())

    behind = Console(tmp_path / "behind", memcached, crypto_key, login_fail_max=2, trusted_proxies="127.0.0.1 ::1")
    direct = Console(tmp_path / "direct", memcached, crypto_key, login_fail_max=2)
    try:
        behind.serve()
        # behind a trusted proxy each client has its own budget, keyed on the right-most untrusted address
        assert wrong(behind, "198.51.100.1")[1].status_code == 401
        assert wrong(behind, "203.0.113.66, 198.51.100.1")[1].status_code == 401   # a spoofed left part
        assert wrong(behind, "198.51.100.1")[1].status_code == 429
        assert wrong(behind, "198.51.100.99, 198.51.100.1")[1].status_code == 429  # cannot escape the limit
        assert wrong(behind, "198.51.100.2")[1].status_code == 401                 # another client
        # a proxy that adds its own line after the client's: the last line counts
        assert _raw_wrong_login(behind.port, ["X-Forwarded-For: 203.0.113.5",
                                              "X-Forwarded-For: 198.51.100.1"]) == 429
        assert _raw_wrong_login(behind.port, ["X-Forwarded-For: 198.51.100.1",
                                              "x-forwarded-for: 203.0.113.6"]) == 401
        s = new_browser()
        r = s.post(behind.url("/api/login"), json={"user": ADMIN, "password": ADMIN_PW},
                   headers={"X-Forwarded-For": "198.51.100.3"}, timeout=10)
        assert r.status_code == 200
        lines = _audit_lines(behind)
        assert sum('client="198.51.100.1"' in ln for ln in lines) == 2, lines
        assert sum('client="203.0.113.6"' in ln for ln in lines) == 1, lines
        assert 'action=login ' in lines[-1] and 'client="198.51.100.3"' in lines[-1]
        behind.stop()

        direct.serve()
        # no trusted proxy: the header is the client's own word and is ignored
        assert wrong(direct, "198.51.100.1")[1].status_code == 401
        assert wrong(direct, "198.51.100.2")[1].status_code == 401
        assert wrong(direct, "198.51.100.3")[1].status_code == 429
        assert all('client="127.0.0.1"' in ln for ln in _audit_lines(direct))
    finally:
        behind.stop()
        direct.stop()


def test_login_cookie_and_security_headers(console):
    console.serve()
    s = new_browser()
    r = s.post(console.url("/login"), data={"user": ADMIN, "password": ADMIN_PW}, allow_redirects=False,
               timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/sessions"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("oidc_console=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie            # plain HTTP on loopback
    page = s.get(console.url("/sessions"), timeout=10)
    assert page.status_code == 200
    h = page.headers
    assert "default-src 'self'" in h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert "script-src 'none'" in h["Content-Security-Policy"]
    assert h["Referrer-Policy"] == "no-referrer" and h["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in page.text
    # logout needs the CSRF token too, then the cookie is worthless
    tok = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert s.post(console.url("/logout"), data={}, allow_redirects=False, timeout=10).status_code == 403
    old = s.cookies.get("oidc_console")
    r = s.post(console.url("/logout"), data={"csrf": tok}, allow_redirects=False, timeout=10)
    assert r.status_code == 303
    s3 = new_browser()
    s3.cookies.set("oidc_console", old)
    assert s3.get(console.url("/api/sessions"), timeout=10).status_code == 401


def test_state_change_needs_csrf_token_and_same_origin(two_nodes, op, console):
    a, _ = two_nodes
    alice = _login(a, "alice", op)
    console.serve()
    s, _ = console.api_login()
    handle = s.get(console.url("/api/sessions"), timeout=10).json()["sessions"][0]["handle"]
    other, _ = console.api_login(new_browser())
    foreign = _csrf(other, console)              # another admin's token is no good here
    revoke = console.url(f"/api/sessions/{handle}/revoke")
    for headers, body in (({}, None), ({"X-CSRF-Token": ""}, None), ({"X-CSRF-Token": "x" * 43}, None),
                          ({"X-CSRF-Token": foreign}, None), ({}, {"csrf_token": foreign})):
        r = s.post(revoke, headers=headers, json=body, timeout=10)
        assert r.status_code == 403, (headers, body, r.text)
    # form post from the HTML page without the field
    assert s.post(console.url(f"/sessions/{handle}/revoke"), data={}, allow_redirects=False,
                  timeout=10).status_code == 403
    # right token, but a cross-site request
    tok = _csrf(s, console)
    for hdr in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"},
                {"Origin": "null", "Sec-Fetch-Site": "same-site"},
                {"Origin": f"http://localhost:{console.port + 1}"}):
        r = s.post(revoke, headers={"X-CSRF-Token": tok, **hdr}, timeout=10)
        assert r.status_code == 403, hdr
    # a foreign Host (DNS rebinding)
    assert s.post(revoke, headers={"X-CSRF-Token": tok, "Host": "evil.example"}, timeout=10).status_code == 421
    assert _ok(alice, a)
    assert not console.audit.exists() or "revoke" not in console.audit.read_text()
    # the token in the form field works from the page, same origin
    r = s.post(console.url(f"/sessions/{handle}/revoke"), data={"csrf": tok},
               headers={"Origin": console.base, "Sec-Fetch-Site": "same-origin"}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and "revoked=1" in r.headers["Location"]
    assert not _ok(alice, a)


# ----------------------------------------------------------------- garbage

def test_garbage_input_gets_4xx(two_nodes, op, console):
    a, _ = two_nodes
    alice = _login(a, "alice", op)
    console.serve()
    s, _ = console.api_login()
    tok = _csrf(s, console)
    H = {"X-CSRF-Token": tok}
    h43 = "A" * 43
    raw = [  # (method, path, kwargs)
        ("GET", "/api/sessions?page=0", {}), ("GET", "/api/sessions?page=-1", {}),
        ("GET", "/api/sessions?page=1e3", {}), ("GET", "/api/sessions?page=99999999999999999999", {}),
        ("GET", "/api/sessions?per_page=100000", {}), ("GET", "/api/sessions?user=a&user=b", {}),
        ("GET", "/api/sessions?user=%00", {}),
        ("GET", "/api/sessions?user=" + "x" * 5000, {}), ("GET", "/api/sessions?bogus=1", {}),
        ("GET", "/api/sessions?email=%0d%0aX:%20y", {}), ("GET", "/api/sessions/short", {}),
        ("GET", "/api/sessions/" + "A" * 42 + "%2F", {}), ("GET", "/api/sessions/../../etc/passwd", {}),
        ("GET", "/api/sessions/" + h43, {}), ("GET", "/api/sessions/" + h43 + "/x", {}),
        ("GET", "/api/nope", {}), ("GET", "//api/sessions", {}), ("GET", "/api/sessions/%00", {}),
        ("DELETE", "/api/sessions", {}), ("PUT", "/api/users/revoke", {}), ("GET", "/api/users/revoke", {}),
        ("POST", "/api/sessions", {}), ("GET", "/api/providers?x=1", {}), ("GET", "/api/nodes?page=2", {}),
        ("POST", "/api/sessions/" + h43 + "/revoke", {"headers": H}),                # no such session
        ("POST", "/api/sessions/not-a-handle/revoke", {"headers": H}),
        ("POST", "/api/users/revoke", {"headers": H, "data": "{not json"}),
        ("POST", "/api/users/revoke", {"headers": {**H, "Content-Type": "application/json"}, "data": "{not json"}),
        ("POST", "/api/users/revoke", {"headers": {**H, "Content-Type": "application/json"}, "data": "[1,2]"}),
        ("POST", "/api/users/revoke", {"headers": H, "json": {"provider": "main"}}),
        ("POST", "/api/users/revoke", {"headers": H, "json": {"provider": "main", "sub": 42}}),
        ("POST", "/api/users/revoke", {"headers": H, "json": {"provider": "main", "sub": "a\u0000b"}}),
        ("POST", "/api/users/revoke", {"headers": H, "json": {"provider": "main", "sub": "x" * 3000}}),
        ("POST", "/api/users/revoke", {"headers": {**H, "Content-Type": "application/json"},
                                       "data": '{"sub":"alice","sub":"bob"}'}),
        ("POST", "/api/users/revoke", {"headers": {**H, "Content-Type": "text/plain"}, "data": "sub=alice"}),
        ("POST", "/api/users/revoke", {"headers": H, "data": b"sub=alice&sub=bob",}),
        ("POST", "/api/users/revoke", {"headers": {**H, "Content-Type": "application/json"},
                                       "data": "x" * 20000}),
        ("POST", "/api/providers/revoke", {"headers": H, "json": {"provider": "main"}}),   # no confirm
        ("POST", "/api/login", {"json": {"user": ["admin"], "password": ADMIN_PW}}),
        ("POST", "/api/login", {"data": "\x00\x01\x02", "headers": {"Content-Type": "application/json"}}),
        ("POST", "/login", {"data": {"user": "a\nb", "password": "x"}}),
        ("GET", "/user", {}), ("GET", "/user?sub=%ff%fe&provider=main&provider=x", {}),
        ("GET", "/sessions?page=x", {}), ("GET", "/login?x=<script>", {}),
        ("GET", "/static/../../etc/passwd", {}), ("GET", "/sessions/" + h43, {}),
    ]
    for method, path, kw in raw:
        headers = kw.pop("headers", {})
        # requests would normalise some paths: send them as they are
        req = s.prepare_request(__import__("requests").Request(method, console.url("/"), headers=headers, **kw))
        req.url = console.base + path
        r = s.send(req, allow_redirects=False, timeout=10)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text[:200])
        assert console.alive(), (method, path)
        assert "<script>" not in r.text
    # raw bytes no HTTP client would send (requests/urllib3 would repair some of them)
    import socket
    cookie = f"oidc_console={s.cookies.get('oidc_console')}"
    for target in ("/api/sessions?user=%zz", "/api/sessions?user=%4", "/api/sessions?q=%", "/api/sessions/%41%41",
                   "/api/sessions?user=a%00b", "/api/sessions?user=%0a", "/sessions?email=%e0%80%80%zz"):
        with socket.create_connection(("127.0.0.1", console.port), timeout=5) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{console.port}\r\nCookie: {cookie}\r\n"
                         "Connection: close\r\n\r\n".encode())
            data = sock.recv(200)
        assert re.match(rb"HTTP/1\.[01] 4\d\d", data), (target, data)
    for junk in (b"GET /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                 b"GET /" + b"A" * 10000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                 b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        with socket.create_connection(("127.0.0.1", console.port), timeout=5) as sock:
            sock.sendall(junk)
            try:
                data = sock.recv(200)
            except (socket.timeout, ConnectionResetError):
                data = b""
        assert not data or re.match(rb"HTTP/1\.[01] 4\d\d", data), (junk[:40], data)
        assert console.alive()
    # still working, nothing revoked
    assert _subs(s.get(console.url("/api/sessions"), timeout=10).json()) == ["alice"]
    assert _ok(alice, a)


# ----------------------------------------------------------------- CLI exit codes

def test_cli_exit_codes(console, tmp_path, memcached):
    assert console.cli("bogus-command")[0] == 1
    assert console.cli("sessions", "--page", "0")[0] == 1
    assert console.cli("revoke")[0] == 1
    assert console.cli("revoke", "--provider", "main")[0] == 1        # needs --yes
    assert console.cli("show", "not/a/handle")[0] == 1
    assert console.cli("sessions", conf=tmp_path / "missing.conf")[0] == 2
    bad = tmp_path / "bad.conf"
    bad.write_text("store_servers = 127.0.0.1:1\nnonsense\n")
    rc, out = console.cli("sessions", conf=bad)
    assert rc == 2 and ":2:" in out["error"]
    down = tmp_path / "down.conf"
    down.write_text(console.conf.read_text().replace(memcached.address, f"127.0.0.1:{free_port()}"))
    rc, out = console.cli("sessions", conf=down)
    assert rc == 3 and "unreachable" in out["error"]
    assert console.cli("show", "A" * 43)[0] == 4
    assert console.cli("revoke", "A" * 43)[0] == 4
    assert console.cli("sessions")[0] == 0
    assert console.cli("check-config")[0] == 0
    rc, text = console.cli("--help", json_out=False)
    assert rc == 0 and "exit codes" in text
