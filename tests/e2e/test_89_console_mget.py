"""Listings read the store with multi-get: a console listing of many sessions costs a
few memcached round trips (one `get k1 k2 ...` per server and round), not one get per
session, on two memcached servers with replicas, and still lists every session when
one server is down (its keys come from their replicas)."""
from __future__ import annotations

import os
import re
import subprocess
import time

import harness
from harness import Memcached, wait_port
from test_85_console import Console

SESSIONS = 300
# a retrieval command as memcached -vv logs it: "<fd get k1 k2 ..." (or gets)
GET_LINE = re.compile(r"^<\d+ gets? ")


class VerboseMemcached(Memcached):
    """A private memcached that logs every command (-vv) to its log file."""

    def start(self) -> "VerboseMemcached":
        if self.running():
            return self
        cmd = [harness.MEMCACHED_BIN, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64", "-vv"]
        if os.geteuid() == 0:
            cmd += ["-u", "memcache" if harness._user_exists("memcache") else "nobody"]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        wait_port(self.port, alive=self.running)
        return self

    def offset(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def gets_since(self, offset: int) -> tuple[int, int]:
        """(retrieval commands, keys asked) logged since offset."""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            lines = f.read().decode("latin-1").splitlines()
        cmds = [ln for ln in lines if GET_LINE.match(ln)]
        return len(cmds), sum(len(ln.split()) - 1 for ln in cmds)


def test_console_listing_uses_multiget(crypto_key, tmp_path):
    a = VerboseMemcached(tmp_path / "a")
    b = VerboseMemcached(tmp_path / "b")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a.start()
    b.start()
    try:
        con = Console(tmp_path / "c", a, crypto_key, session_window=3600, providers="main",
                      store_servers=f"{a.address} {b.address} replicas=1")
        # servers up for a while: a server that started empty in the last 30 s is
        # suspect, and reads then go key by key to repair its copies
        for mc in (a, b):
            old = str(int(time.time() * 1000) - 600_000)
            assert mc.command(f"set aoidc:epoch 0 0 {len(old)}\r\n{old}", end=(b"STORED\r\n",)) == "STORED\r\n"
        rc, out = con.seed(str(SESSIONS), "--users", str(SESSIONS), "--provider", "main")
        assert rc == 0, out

        offs = (a.offset(), b.offset())
        rc, data = con.cli("sessions", "--all")
        assert rc == 0, (data, con.last_stderr)
        assert data["total"] == SESSIONS, data["total"]
        assert len({s["handle"] for s in data["sessions"]}) == SESSIONS
        (ca, ka), (cb, kb) = a.gets_since(offs[0]), b.gets_since(offs[1])
        # every record was asked for (on its primary) ...
        assert ka + kb >= SESSIONS, (ka, kb)
        # ... in a few multi-gets, not one get per session (that would be > 300)
        assert ca + cb < 40, (ca, cb, ka, kb)
        assert ca >= 2 and cb >= 2, (ca, cb)  # both servers hold primaries

        # one server down: every session is still listed, from the replicas, still batched
        b.stop()
        offs_a = a.offset()
        rc, data = con.cli("sessions", "--all")
        assert rc == 0, (data, con.last_stderr)
        assert data["total"] == SESSIONS, data["total"]
        ca, ka = a.gets_since(offs_a)
        assert ka >= SESSIONS, ka
        assert ca < 40, (ca, ka)
    finally:
        a.stop()
        b.stop()
