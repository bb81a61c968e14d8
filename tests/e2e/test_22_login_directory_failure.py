"""A login whose session directory entry cannot be written is refused (503) and its
session record deleted: no session may exist that revocation by user, provider or
back-channel logout could miss (aoidc_dir_add fails -> create_session undoes the login).

The failure is real, not simulated: a private memcached with -M (refuse instead of
evicting) and a 2 MB limit, whose slab class of the user-list values (items of about
200 bytes) is filled up first. memcached always grants a slab class its first page, so
the login's other writes (attempt marker, session record, time-bucket lists) still land
and only the per-user list (and sid list) fails: exactly a partial directory write."""
import os
import subprocess

import pytest

import harness
from harness import Memcached, login, new_browser, wait_port

FILL_VALUE = 140   # with a 11-byte key: a 208-byte item, the slab class of a user list (193..240)


class FullMemcached(Memcached):
    """-M -m 2: out of memory errors instead of evictions once over 2 MB."""

    def start(self):
        cmd = [harness.MEMCACHED_BIN, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-M", "-m", "2"]
        if os.geteuid() == 0:
            cmd += ["-u", "memcache" if harness._user_exists("memcache") else "nobody"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port, alive=self.running)
        return self

    def fill_class(self, limit=100000):
        """Store FILL_VALUE-byte items until memcached refuses one; returns how many fit."""
        with __import__("socket").create_connection(("127.0.0.1", self.port), timeout=5) as s:
            f = s.makefile("rb")
            for n in range(limit):
                s.sendall(f"set fill:{n:06d} 0 3600 {FILL_VALUE}\r\n".encode() + b"x" * FILL_VALUE + b"\r\n")
                line = f.readline()
                if line != b"STORED\r\n":
                    assert b"out of memory" in line, line
                    return n
        return None


@pytest.fixture
def full_memcached(bench_dir):
    mc = FullMemcached(bench_dir).start()
    yield mc
    mc.stop()


def test_login_refused_when_directory_cannot_be_written(make_apache, op, full_memcached, expect_log):
    expect_log(r"AOIDC660: login of 'alice' refused: the session directory cannot be written \(record deleted\)",
               required=True)
    mc = full_memcached
    n = mc.fill_class()
    if n is None:
        pytest.skip("this memcached never refused an item with -M -m 2")
    line = mc.command("me fill:000000", end=(b"\r\n",))
    assert "cls=5" in line, line       # the class the user list lands in (checked below)
    a = make_apache(oidc={"session_store": f"memcached {mc.address}"})
    b = new_browser()
    rs = login(b, a.url("/protected/env"), "alice", "alice-pw", op=op)
    r = rs[-1]
    assert "/oidc/callback" in r.url, harness.hops(rs)
    assert r.status_code == 503, harness.hops(rs)
    assert r.headers.get("Retry-After")
    assert "no-store" in r.headers.get("Cache-Control", "")
    assert not [c for c in r.raw.headers.getlist("Set-Cookie")
                if c.startswith("aoidc_session=") and not c.startswith("aoidc_session=;")]
    assert b.cookies.get("aoidc_session") is None
    keys = mc.keys()
    # the partial write: the bucket list landed, the user list did not, the record is gone
    assert any(k.startswith("aoidc:d:b:") for k in keys), keys
    assert not any(k.startswith("aoidc:d:u:") for k in keys), keys
    assert not any(k.startswith("aoidc:s:") for k in keys), keys
    # the browser has no session: the next visit starts a login again
    r = b.get(a.url("/protected/env"), allow_redirects=False, headers={"Accept": "text/html"})
    assert r.status_code == 302 and r.headers["Location"].startswith(op.issuer + "/auth?")
