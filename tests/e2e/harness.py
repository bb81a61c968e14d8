"""End-to-end test bench for mod_auth_oidc: real memcached, a real OP, real Apache.

Everything runs on loopback, on free ports, and is stopped by PID. Only the
standard library and python3-requests are needed (python3-jwt for sign_jwt and
verify_jwt). See tests/e2e/README.md for the API and the headless login steps.
"""
from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import unquote, urljoin, urlsplit

import requests

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parents[1]
OP_DIR = REPO / "tests" / "op"
SOURCE_HTDOCS = E2E_DIR / "htdocs"

APACHE_BIN = os.environ.get("AOIDC_APACHE", "/usr/sbin/apache2")
APACHE_MODULES = os.environ.get("AOIDC_APACHE_MODULES", "/usr/lib/apache2/modules")
MODULE_PATH = os.environ.get("AOIDC_MODULE", str(REPO / ".libs" / "mod_auth_oidc.so"))
MEMCACHED_BIN = os.environ.get("AOIDC_MEMCACHED", "/usr/bin/memcached")
NODE_BIN = os.environ.get("AOIDC_NODE") or shutil.which("node") or "/usr/bin/node"
# The OP's issuer host. "localhost" (default) keeps the OP's cookies apart from
# Apache's on 127.0.0.1, as a browser would with two sites (cookies ignore ports).
OP_HOST = os.environ.get("AOIDC_OP_HOST", "localhost")

START_TIMEOUT = 15.0

# The OP's fixed test users (tests/op/server.mjs): password and the claims it releases.
USERS = {
    "alice": {"password": "alice-pw", "email": "alice@example.com", "name": "Alice Liddell",
              "groups": ["staff", "admins"]},
    "bob": {"password": "bob-pw", "email": "bob@example.com", "name": "Bob Builder", "groups": ["staff"]},
    "carol": {"password": "carol-pw", "email": "carol@example.com", "name": "Carol Danvers", "groups": []},
    "dave": {"password": "dave-pw", "email": "dave@example.com", "name": "D\u00f6rte \u00d1\u00fa\u00f1ez \u65e5\u672c",
             "groups": ["staff", "\u00dcn\u00efcode group"]},
}

# One more OP user, kept out of USERS (which listings print): a sub (= user id) with a
# quote, control characters and a newline, for tests that log lines escape provider text.
MALLORY = 'mallory "q" \u0007\u001b[31m\nnext'
MALLORY_USER = {"password": "mallory-pw", "email": "mallory@example.com", "name": 'Mallory "M"\u0007',
                "groups": ["staff"]}


def new_browser() -> requests.Session:
    """A cookie-keeping client that ignores *_proxy variables from the environment."""
    s = requests.Session()
    s.trust_env = False
    return s


_direct = new_browser()


class HarnessError(Exception):
    """A bench component failed to start, stop or answer."""


# ----------------------------------------------------------------- ports, processes

def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_port(port: int, timeout: float = START_TIMEOUT, alive: Callable[[], bool] | None = None) -> None:
    """Wait until 127.0.0.1:port accepts connections; alive() False aborts early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if alive is not None and not alive():
            raise HarnessError(f"process died before port {port} opened")
        time.sleep(0.01)
    raise HarnessError(f"port {port} did not open within {timeout}s")


def wait_port_closed(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(port):
            return
        time.sleep(0.01)
    raise HarnessError(f"port {port} still open after {timeout}s")


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # a zombie counts as dead
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def child_pids(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(d.name))
    return out


def wait_pid_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.01)
    return not pid_alive(pid)


def kill_pid(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM a child we started, SIGKILL it if it lingers, and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def make_workdir(prefix: str = "aoidc-e2e-") -> Path:
    """A private directory under /tmp that Apache children (www-data) may traverse."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    return d


def readable_copy(src: Path, prefix: str) -> Path:
    """A copy of src that Apache's children (www-data) can read and execute, removed at
    exit. A checkout under /root (mode 0700) is out of their reach, so nothing they serve
    or run is used from the checkout itself."""
    top = make_workdir(prefix)
    dst = top / src.name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    for q in [dst, *dst.rglob("*")]:
        if q.is_dir() or os.access(q, os.X_OK):
            q.chmod(0o755)
        else:
            q.chmod(0o644)
    atexit.register(shutil.rmtree, top, True)
    return dst


# what Apache serves in the tests: tests/e2e/htdocs, copied where www-data can read it
HTDOCS = readable_copy(SOURCE_HTDOCS, "aoidc-htdocs-")


def served_dir(path: Path | str, files: dict[str, str | bytes]) -> Path:
    """A directory (created, or emptied) holding files {relative name: content} that
    Apache's children (www-data) can read, for tests that need their own document
    tree (.htaccess files, SSI pages). Put it under bench_dir, never in the checkout."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    path.chmod(0o755)
    for name, content in files.items():
        f = path / name
        f.parent.mkdir(parents=True, exist_ok=True)
        for d in [f.parent, *f.parent.parents]:
            if d == path.parent:
                break
            d.chmod(0o755)
        if isinstance(content, bytes):
            f.write_bytes(content)
        else:
            f.write_text(content)
        f.chmod(0o644)
    return path


def raw_http(port: int, target: str | bytes, header_lines=(), timeout: float = 10.0) -> tuple[int, str, bytes]:
    """GET target with raw header lines, for what requests cannot send (repeated headers,
    names differing only in case or '-' versus '_', undecoded request targets).
    Returns (status, head as text, body with chunked transfer coding removed)."""
    t = target.encode("latin-1") if isinstance(target, str) else target
    req = b"GET " + t + f" HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n".encode()
    req += b"".join((h.encode("latin-1") if isinstance(h, str) else h) + b"\r\n" for h in header_lines) + b"\r\n"
    buf = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(req)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size, rest = rest.split(b"\r\n", 1)
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    text = head.decode("latin-1")
    return int(text.split(" ", 2)[1]), text, body


def write_crypto_key(path: Path | str, nbytes: int = 32) -> Path:
    """Write nbytes random bytes as hex (no trailing newline), mode 0600."""
    path = Path(path)
    path.write_text(secrets.token_hex(nbytes))
    path.chmod(0o600)
    return path


# ----------------------------------------------------------------- memcached

class Memcached:
    """A private memcached on 127.0.0.1:port (-U 0 -m 64)."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / f"memcached-{self.port}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def session_keys(self) -> list[str]:
        """Keys of session records (aoidc:s:...), leaving out the directory,
        node snapshots and caches the module also keeps in the store."""
        return [k for k in self.keys() if k.startswith("aoidc:s:")]

    def start(self) -> "Memcached":
        if self.running():
            return self
        cmd = [MEMCACHED_BIN, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64"]
        if os.geteuid() == 0:
            cmd += ["-u", "memcache" if _user_exists("memcache") else "nobody"]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        wait_port(self.port, alive=self.running)
        return self

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and wait until the port is closed."""
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None
        wait_port_closed(self.port)

    def restart(self) -> "Memcached":
        """Stop and start again on the same port: the cache comes back empty."""
        self.stop()
        return self.start()

    def command(self, line: str, end: Iterable[bytes] = (b"END\r\n",)) -> str:
        """Send one text-protocol command and read until one of the end markers."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(line.encode() + b"\r\n")
            buf = b""
            ends = tuple(end)
            while not buf.endswith(ends):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            return buf.decode("latin-1")

    def stats(self, group: str = "") -> dict[str, str]:
        """`stats [group]` as a dict of strings (e.g. stats()["curr_items"])."""
        text = self.command(f"stats {group}".strip())
        out = {}
        for line in text.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[0] == "STAT":
                out[parts[1]] = parts[2]
        return out

    def keys(self) -> list[str]:
        """All keys currently stored (lru_crawler metadump all)."""
        text = self.command("lru_crawler metadump all", end=(b"END\r\n", b"BUSY\r\n", b"ERROR\r\n"))
        keys = []
        for line in text.splitlines():
            if line.startswith("key="):
                keys.append(unquote(line.split(" ", 1)[0][4:]))
        return keys

    def get(self, key: str) -> bytes | None:
        """Raw value of key, or None."""
        text = self.command(f"get {key}").encode("latin-1")
        if not text.startswith(b"VALUE "):
            return None
        header, rest = text.split(b"\r\n", 1)
        length = int(header.split()[3])
        return rest[:length]

    def flush_all(self) -> None:
        self.command("flush_all", end=(b"OK\r\n",))

    def delete(self, key: str) -> bool:
        """Delete one key behind the module's back; True when it existed."""
        return self.command(f"delete {key}", end=(b"DELETED\r\n", b"NOT_FOUND\r\n")).startswith("DELETED")


def _user_exists(name: str) -> bool:
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# ----------------------------------------------------------------- the OP

class OP:
    """tests/op/server.mjs (oidc-provider 8.8.1) on 127.0.0.1:port."""

    def __init__(self, workdir: Path, port: int | None = None, host: str = OP_HOST, path: str = "",
                 tls: tuple[str | Path, str | Path] | None = None, ca_file: str | Path | None = None):
        """path: an issuer path such as "/realms/test" (the OP is then mounted there).
        tls=(cert.pem, key.pem): serve HTTPS, issuer https://host:port; ca_file: the CA
        that the harness's own calls (op.stats(), op.mutate(), ...) trust (default: the
        system CAs)."""
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.host = host
        self.tls = (str(tls[0]), str(tls[1])) if tls else None
        self.verify: str | bool = str(ca_file) if ca_file else True
        self.scheme = "https" if self.tls else "http"
        self.issuer = f"{self.scheme}://{host}:{self.port}{path.rstrip('/')}"
        self.keyset = "a"
        self.env: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / f"op-{self.port}.log"
        self._reader: threading.Thread | None = None

    # --- lifecycle
    @staticmethod
    def npm_ci(force: bool = False) -> None:
        """`npm ci` in tests/op unless node_modules is already there."""
        if (OP_DIR / "node_modules" / "oidc-provider").is_dir() and not force:
            return
        npm = shutil.which("npm")
        if not npm:
            raise HarnessError("npm not found; install nodejs/npm or run npm ci in tests/op")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=OP_DIR,
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise HarnessError(f"npm ci failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, keyset: str | None = None, env: dict[str, str] | None = None) -> "OP":
        """Start (if not running) and wait for the READY line."""
        if self.running():
            return self
        if keyset is not None:
            self.keyset = keyset
        if env is not None:
            self.env = dict(env)
        self.npm_ci()
        cmd = [NODE_BIN, str(OP_DIR / "server.mjs"), "--port", str(self.port),
               "--keyset", self.keyset, "--issuer", self.issuer]
        if self.tls:
            cmd += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        log = open(self.log_path, "ab")
        log.write(f"=== start {' '.join(cmd)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                     env={**os.environ, **self.env}, cwd=OP_DIR)
        ready = threading.Event()
        proc = self.proc

        def reader():
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                if line.startswith("READY "):
                    ready.set()
                log.write(raw)
                log.flush()
            log.close()

        self._reader = threading.Thread(target=reader, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.wait(0.02):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise HarnessError(f"OP did not become ready; log {self.log_path}:\n{self.log_tail()}")
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc)
        if self._reader:
            self._reader.join(timeout=2)
        self.proc = None
        wait_port_closed(self.port)

    def restart(self, keyset: str | None = None, env: dict[str, str] | None = None) -> "OP":
        """Restart on the same port/issuer, optionally with another keyset ("a", "b", "ab")
        or extra environment (OP_REDIRECT_URIS, ...). All OP sessions and tokens are lost."""
        self.stop()
        return self.start(keyset=keyset, env=env)

    def ensure_default(self) -> None:
        """Back to keyset a, default env, running, control state reset (used between tests)."""
        if not self.running() or self.keyset != "a" or self.env:
            self.stop()
            self.start(keyset="a", env={})
        self.reset()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # --- URLs and metadata
    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.issuer + path

    def discovery(self) -> dict:
        return self._json("GET", "/.well-known/openid-configuration")

    def jwks(self) -> dict:
        return self._json("GET", "/jwks")

    @staticmethod
    def secret(client_id: str) -> str:
        return (OP_DIR / "secrets" / f"{client_id}.secret").read_text().strip()

    @staticmethod
    def secret_file(client_id: str) -> Path:
        return OP_DIR / "secrets" / f"{client_id}.secret"

    @staticmethod
    def private_jwk(kid: str) -> dict:
        """The private JWK with this kid from tests/op/keys (rsa-a, ec-a, rsa-b, rogue)."""
        for f in sorted((OP_DIR / "keys").glob("*.json")):
            for k in json.loads(f.read_text())["keys"]:
                if k["kid"] == kid:
                    return k
        raise KeyError(kid)

    # --- test-control API
    def _json(self, method: str, path: str, body: dict | None = None) -> dict | list:
        r = _direct.request(method, self.url(path), json=body, timeout=10, verify=self.verify)
        if r.status_code >= 400:
            raise HarnessError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()

    def mutate(self, mode: str | None, set: dict | None = None) -> dict:  # noqa: A002
        """Alter the id_token of the NEXT token-endpoint response. Modes: bad_sig, wrong_nonce,
        wrong_aud, wrong_iss, expired, missing_sub, alg_none, hs256_pubkey,
        hs256_client_secret, unknown_kid, claims (with set={claim: value|None})."""
        body = {"next_id_token": mode}
        if set is not None:
            body["set"] = set
        return self._json("POST", "/__test/mutate", body)

    def reset(self) -> dict:
        """Clear mutation, ttl/claims/config knobs, client overrides, stats and events."""
        return self._json("POST", "/__test/reset", {})

    def stats(self) -> dict[str, int]:
        return self._json("GET", "/__test/stats")

    def events(self, type: str | None = None) -> list[dict]:  # noqa: A002
        ev = self._json("GET", "/__test/events")
        return [e for e in ev if type is None or e["type"] == type]

    def config(self, **kw) -> dict:
        """ttl={"IdToken": 5, ...}, offline_without_consent=True, claims={"alice": {...}},
        rotate_refresh_tokens=True (a reused refresh token revokes the grant), token_delay_ms=N
        (refresh grants answer N ms later), refuse_refresh=True (refresh grants get invalid_grant)."""
        return self._json("POST", "/__test/config", kw)

    def client(self, client_id: str, **kw) -> dict:
        """Change redirect_uris / post_logout_redirect_uris / backchannel_logout_uri of a client."""
        return self._json("POST", "/__test/client", {"client_id": client_id, **kw})

    def backchannel(self, client_id: str, sub: str, sid: str | None = None) -> requests.Response:
        """Send a back-channel logout token for sub/sid to the client's backchannel_logout_uri."""
        return _direct.post(self.url("/__test/backchannel"),
                             json={"client_id": client_id, "sub": sub, "sid": sid}, timeout=15,
                             verify=self.verify)


class FrozenProvider:
    """A "provider" that accepts TCP connections on 127.0.0.1:port and never answers: a
    frozen or hung OP whose connection attempts can be counted (`accepted`). Its issuer uses
    OP_HOST like the OP's, so an OP started later on the same port has the same issuer.
    Only 127.0.0.1 listens: a ::1 attempt is refused at once, so one fetch is one accept."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.issuer = f"http://{OP_HOST}:{self.port}"
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> "FrozenProvider":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        s.settimeout(0.1)
        self._sock = s

        def loop():
            while self._sock is not None:
                try:
                    c, _ = s.accept()
                except (socket.timeout, OSError):
                    continue
                with self._lock:
                    self.accepted += 1
                    self._conns.append(c)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def count(self) -> int:
        with self._lock:
            return self.accepted

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if self._thread:
            self._thread.join(timeout=2)
        if sock:
            sock.close()
        with self._lock:
            for c in self._conns:
                c.close()
            self._conns.clear()
        if sock:
            wait_port_closed(self.port)


# ----------------------------------------------------------------- JWT helpers

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = b64url(secrets.token_bytes(32))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def decode_jwt(token: str) -> tuple[dict, dict]:
    """(header, payload) of a JWS, NOT verified."""
    h, p = token.split(".")[:2]
    return json.loads(unb64url(h)), json.loads(unb64url(p))


def sign_jwt(payload: dict, kid: str = "rsa-a", alg: str | None = None, header: dict | None = None) -> str:
    """Sign payload with a key from tests/op/keys (needs python3-jwt). Use it to forge
    logout tokens or callbacks signed by the OP's real key."""
    import jwt  # python3-jwt
    jwk = OP.private_jwk(kid)
    alg = alg or jwk.get("alg") or ("RS256" if jwk["kty"] == "RSA" else "ES256")
    key = jwt.algorithms.get_default_algorithms()[alg].from_jwk(json.dumps(jwk))
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, **(header or {})})


def verify_jwt(token: str, jwks: dict, audience: str | None = None, issuer: str | None = None) -> dict:
    """Verify a JWS against a JWKS (needs python3-jwt); returns the payload or raises."""
    import jwt  # python3-jwt
    header = jwt.get_unverified_header(token)
    jwk = next(k for k in jwks["keys"] if k.get("kid") == header.get("kid"))
    key = jwt.algorithms.get_default_algorithms()[header["alg"]].from_jwk(json.dumps(jwk))
    return jwt.decode(token, key, algorithms=[jwk.get("alg", header["alg"])], audience=audience,
                      issuer=issuer, options={"verify_aud": audience is not None})


# ----------------------------------------------------------------- Apache

STD_MODULES = ("authn_core", "authz_core", "authz_user", "mime", "env", "headers", "cgid", "alias", "dir")

BASE_TEMPLATE = """\
# generated by tests/e2e/harness.py for instance {name}
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/run/httpd.pid"
DefaultRuntimeDir "{root}/run"
ErrorLog "{root}/logs/error.log"
LogLevel {loglevel}
LogFormat "%h %l %u %t \\"%r\\" %>s %b %D \\"%{{Location}}o\\"" aoidc
CustomLog "{root}/logs/access.log" aoidc
{user}
LoadModule mpm_{mpm}_module {moddir}/mod_mpm_{mpm}.so
{modules}
{module_line}
StartServers 2
ServerLimit 4
ThreadsPerChild 16
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 64
Timeout 30
KeepAlive On
TypesConfig /etc/mime.types
ScriptSock "{root}/run/cgid.sock"
DocumentRoot "{htdocs}"
<Directory "{htdocs}">
    Require all granted
</Directory>
DirectoryIndex index.html
ScriptAlias /app/env "{htdocs}/cgi/env.py"
ScriptAlias /protected/env "{htdocs}/cgi/env.py"
ScriptAlias /cgi/ "{htdocs}/cgi/"

{oidc}
# ---- test snippet
{snippet}
"""

OIDC_DEFAULTS = dict(
    crypto_key_file=None,          # filled by the factory
    session_store=None,            # "memcached 127.0.0.1:<port>", filled by the factory
    cookie_secure="Off",
    provider_name="main",
    issuer=None,                   # filled by the factory
    client_id="app",
    client_secret_file=str(OP_DIR / "secrets" / "app.secret"),
    scope="openid email profile groups",
    provider_extra="",             # extra lines inside <AuthOIDCProvider>
    redirect_uri="/oidc/callback",
    logout_uri="/oidc/logout",
    post_logout_redirect=None,     # default http://127.0.0.1:<port>/loggedout.html
    extra="",                      # extra global lines after the standard ones
    protected=True,                # the <Location /protected> block
)


def _q(value: str) -> str:
    """Quote a directive argument when it has blanks."""
    return f'"{value}"' if any(c.isspace() for c in value) else value


def oidc_config(**kw) -> str:
    """The module's global directives. Every key of OIDC_DEFAULTS may be given; a value of
    None omits that directive (handy for configtest checks of missing directives)."""
    unknown = set(kw) - set(OIDC_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown oidc_config keys: {sorted(unknown)}")
    c = {**OIDC_DEFAULTS, **kw}
    lines = []
    if c["crypto_key_file"] is not None:
        lines.append(f"AuthOIDCCryptoKeyFile {_q(str(c['crypto_key_file']))}")
    if c["session_store"] is not None:
        lines.append(f"AuthOIDCSessionStore {c['session_store']}")
    if c["cookie_secure"] is not None:
        lines.append(f"AuthOIDCCookieSecure {c['cookie_secure']}")
    if c["provider_name"] is not None:
        lines.append(f"<AuthOIDCProvider {c['provider_name']}>")
        if c["issuer"] is not None:
            lines.append(f"    AuthOIDCIssuer {c['issuer']}")
        if c["client_id"] is not None:
            lines.append(f"    AuthOIDCClientID {c['client_id']}")
        if c["client_secret_file"] is not None:
            lines.append(f"    AuthOIDCClientSecretFile {_q(str(c['client_secret_file']))}")
        if c["scope"] is not None:
            lines.append(f'    AuthOIDCScope "{c["scope"]}"')
        for extra in c["provider_extra"].splitlines():
            if extra.strip():
                lines.append(f"    {extra.strip()}")
        lines.append("</AuthOIDCProvider>")
    if c["redirect_uri"] is not None:
        lines.append(f"AuthOIDCRedirectURI {c['redirect_uri']}")
    if c["logout_uri"] is not None:
        lines.append(f"AuthOIDCLogoutURI {c['logout_uri']}")
    if c["post_logout_redirect"] is not None:
        lines.append(f"AuthOIDCPostLogoutRedirect {c['post_logout_redirect']}")
    if c["extra"]:
        lines.append(c["extra"].rstrip("\n"))
    if c["protected"]:
        lines += ["<Location /protected>", "    AuthType oidc", "    Require valid-user", "</Location>"]
    return "\n".join(lines) + "\n"


def build_conf(*, name: str, root: Path, port: int, snippet: str = "", with_module: bool = True,
               module_path: str = MODULE_PATH, oidc: str = "", mpm: str = "event",
               extra_modules: Iterable[str] = (), loglevel: str = "warn auth_oidc:debug",
               htdocs: Path = HTDOCS) -> str:
    """The whole httpd.conf text for one instance. `oidc` is the text from oidc_config()
    (or "" for none)."""
    mods = []
    for m in (*STD_MODULES, *extra_modules):
        so = "mod_cgid.so" if m == "cgid" else f"mod_{m}.so"
        mods.append(f"LoadModule {m}_module {APACHE_MODULES}/{so}")
    user = "User www-data\nGroup www-data" if os.geteuid() == 0 else ""
    if not with_module and "auth_oidc:" in loglevel:
        loglevel = " ".join(w for w in loglevel.split() if not w.startswith("auth_oidc:"))
    return BASE_TEMPLATE.format(
        name=name, root=root, port=port, loglevel=loglevel, user=user, mpm=mpm,
        moddir=APACHE_MODULES, modules="\n".join(mods),
        module_line=f"LoadModule auth_oidc_module {module_path}" if with_module else "# (mod_auth_oidc not loaded)",
        htdocs=htdocs, oidc=oidc, snippet=snippet)


class ApacheStartError(HarnessError):
    def __init__(self, msg: str, output: str = "", error_log: str = ""):
        super().__init__(f"{msg}\n--- output:\n{output}\n--- error.log:\n{error_log}")
        self.output = output
        self.error_log = error_log


class Apache:
    """One private httpd: $workdir/<name>/{httpd.conf,logs/,run/}."""

    def __init__(self, name: str, root: Path, port: int, conf_args: dict):
        self.name = name
        self.root = Path(root)
        self.port = port
        self.conf_args = conf_args   # kwargs of build_conf except name/root/port
        self.start_output = ""       # stdout+stderr of the last -k start / graceful
        self.on_output: Callable[[str, str], None] | None = None   # (label, text) of each start
        for d in ("logs", "run"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
            (self.root / d).chmod(0o755)
        self.root.chmod(0o755)
        self.conf_path = self.root / "httpd.conf"
        self.error_log = self.root / "logs" / "error.log"
        self.access_log = self.root / "logs" / "access.log"
        self.error_log.touch()
        self.write_conf()

    # --- config
    def write_conf(self, path: Path | None = None, **overrides) -> Path:
        path = path or self.conf_path
        path.write_text(build_conf(name=self.name, root=self.root, port=self.port,
                                   **{**self.conf_args, **overrides}))
        return path

    @property
    def conf_text(self) -> str:
        return self.conf_path.read_text()

    def reconfigure(self, snippet: str | None = None, **overrides) -> None:
        """Change the snippet (and/or other build_conf args) for the next start/restart."""
        if snippet is not None:
            overrides["snippet"] = snippet
        self.conf_args.update(overrides)
        self.write_conf()

    def configtest(self, snippet: str | None = None, **overrides) -> tuple[int, str]:
        """`apache2 -t` on this instance's config with another snippet: (rc, output)."""
        if snippet is not None:
            overrides["snippet"] = snippet
        path = self.write_conf(self.root / "configtest.conf", **overrides)
        r = subprocess.run([APACHE_BIN, "-t", "-f", str(path)], capture_output=True, text=True,
                           env=self._env(), timeout=30)
        self.last_configtest_output = r.stdout + r.stderr
        return r.returncode, r.stdout + r.stderr

    # --- lifecycle
    def _env(self) -> dict:
        run = str(self.root / "run")
        env = {**os.environ, "APACHE_RUN_DIR": run, "APACHE_PID_FILE": run + "/httpd.pid",
               "APACHE_LOCK_DIR": run, "APACHE_LOG_DIR": str(self.root / "logs"),
               "APACHE_RUN_USER": "www-data", "APACHE_RUN_GROUP": "www-data"}
        # the sanitizer run: httpd itself is not instrumented, so the ASan
        # runtime is preloaded into Apache only (never into pytest)
        if os.environ.get("AOIDC_APACHE_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["AOIDC_APACHE_PRELOAD"]
        return env

    def _ctl(self, action: str) -> subprocess.CompletedProcess:
        return subprocess.run([APACHE_BIN, "-f", str(self.conf_path), "-k", action],
                              capture_output=True, text=True, env=self._env(), timeout=30)

    @property
    def pid_file(self) -> Path:
        return self.root / "run" / "httpd.pid"

    @property
    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid
        return pid is not None and pid_alive(pid)

    def start(self) -> "Apache":
        if self.running():
            return self
        r = self._ctl("start")
        self.start_output = r.stdout + r.stderr
        if self.on_output:
            self.on_output(f"apache {self.name} -k start", self.start_output)
        if r.returncode != 0:
            raise ApacheStartError(f"apache {self.name}: -k start rc={r.returncode}", self.start_output,
                                   self.error_log_tail())
        deadline = time.monotonic() + START_TIMEOUT
        while self.pid is None and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            wait_port(self.port, alive=self.running)
        except HarnessError as e:
            raise ApacheStartError(f"apache {self.name}: {e}", self.start_output, self.error_log_tail()) from None
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """-k stop, then SIGKILL by PID (parent and its children) if it lingers."""
        pid = self.pid
        if pid is None or not pid_alive(pid):
            self._clear_pidfile()
            return
        kids = child_pids(pid)
        r = self._ctl("stop")
        if r.returncode != 0:
            kill_pid(pid, signal.SIGTERM)
        if not wait_pid_gone(pid, timeout):
            for k in child_pids(pid) + [pid]:
                kill_pid(k)
            wait_pid_gone(pid, 2)
        for k in kids:   # a killed parent can leave children behind
            if pid_alive(k):
                kill_pid(k)
        self._clear_pidfile()
        wait_port_closed(self.port)

    def _clear_pidfile(self) -> None:
        try:
            self.pid_file.unlink()
        except FileNotFoundError:
            pass

    def restart(self, snippet: str | None = None, **overrides) -> "Apache":
        """Hard restart (stop + start on the same port), optionally with a new config."""
        if snippet is not None or overrides:
            self.reconfigure(snippet, **overrides)
        self.stop()
        return self.start()

    def graceful(self, snippet: str | None = None, timeout: float = 10.0, **overrides) -> "Apache":
        """-k graceful (optionally with a new config); waits for the new generation."""
        if snippet is not None or overrides:
            self.reconfigure(snippet, **overrides)
        before = self.error_log.stat().st_size
        r = self._ctl("graceful")
        self.start_output = r.stdout + r.stderr
        if self.on_output:
            self.on_output(f"apache {self.name} -k graceful", self.start_output)
        if r.returncode != 0:
            raise ApacheStartError(f"apache {self.name}: -k graceful rc={r.returncode}", self.start_output,
                                   self.error_log_tail())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.error_log, "rb") as f:
                f.seek(before)
                if b"resuming normal operations" in f.read():
                    return self
            if not self.running():
                raise ApacheStartError(f"apache {self.name} died on graceful", self.start_output,
                                       self.error_log_tail())
            time.sleep(0.01)
        raise ApacheStartError(f"apache {self.name}: no new generation after graceful", self.start_output,
                               self.error_log_tail())

    # --- access
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def error_log_text(self) -> str:
        return self.error_log.read_text(errors="replace")

    def error_log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.error_log_text().splitlines()[-n:])
        except OSError:
            return ""

    def access_log_lines(self) -> list[str]:
        try:
            return self.access_log.read_text(errors="replace").splitlines()
        except OSError:
            return []


# ----------------------------------------------------------------- error-log policing

# "[auth_oidc:error]", "[:warn]", "[core:crit]", "[emerg]"...
SEVERE_RE = re.compile(r"\[(?:[\w.-]*:)?(?:warn|error|crit|alert|emerg)\]")
SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|"
                          r"exit signal|Segmentation fault|double free|stack smashing")


def severe_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if SEVERE_RE.search(ln) or SANITIZER_RE.search(ln)]


class LogWatch:
    """Collects the error logs (and start output) of every Apache a test starts and reports
    severe lines that no expect() pattern covers."""

    def __init__(self):
        self._sources: dict[Path, int] = {}     # log path -> offset at registration
        self._extra: list[tuple[str, str]] = []  # (label, text) e.g. start stderr
        self.expected: list[tuple[re.Pattern, bool]] = []
        self._hits: dict[int, int] = {}

    def watch(self, path: Path) -> None:
        path = Path(path)
        if path not in self._sources:
            self._sources[path] = path.stat().st_size if path.exists() else 0

    def add_text(self, label: str, text: str) -> None:
        if text.strip():
            self._extra.append((label, text))

    def expect(self, regex: str, required: bool = False) -> None:
        """Severe lines matching regex are expected. required=True: fail if none shows up."""
        self.expected.append((re.compile(regex), required))

    def text(self) -> str:
        """Everything the watched logs got since the test began (plus start output)."""
        parts = []
        for path, off in self._sources.items():
            try:
                with open(path, "rb") as f:
                    f.seek(off)
                    parts.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        parts += [t for _, t in self._extra]
        return "\n".join(parts)

    def search(self, regex: str) -> list[str]:
        """All log lines (any level) since the test began that match regex."""
        rx = re.compile(regex)
        return [ln for ln in self.text().splitlines() if rx.search(ln)]

    @staticmethod
    def _shutdown_noise(lines: list[str]) -> set[int]:
        """Indexes of mpm_event lines that an ungraceful stop causes, not the module: when
        the parent kills its children (it logs AH00491 "caught SIGTERM" only after they
        are reaped), a worker that is just putting a keep-alive connection back into the
        child's pollset, already closed, logs AH03093 with EBADF. Such a line counts as
        noise only when a shutdown line follows it in the same log."""
        noise, stop_seen = set(), False
        for i in range(len(lines) - 1, -1, -1):
            if "AH00491" in lines[i]:
                stop_seen = True
            elif "AH03093" in lines[i] and stop_seen:
                noise.add(i)
        return noise

    def problems(self) -> list[str]:
        """Human-readable failures: unexpected severe lines, required patterns never seen."""
        out = []
        seen = [False] * len(self.expected)
        lines = self.text().splitlines()
        noise = self._shutdown_noise(lines)
        for ln in (ln for i, ln in enumerate(lines) if i not in noise and severe_lines(ln)):
            matched = False
            for i, (rx, _) in enumerate(self.expected):
                if rx.search(ln):
                    seen[i] = matched = True
            if not matched:
                out.append(f"unexpected log line: {ln}")
        for i, (rx, required) in enumerate(self.expected):
            if required and not seen[i] and not self.search(rx.pattern):
                out.append(f"expected log line never appeared: /{rx.pattern}/")
        return out


# ----------------------------------------------------------------- browser flows

class FlowError(HarnessError):
    """A browser flow went somewhere unexpected; .responses holds every hop."""

    def __init__(self, msg: str, responses: list[requests.Response]):
        hops = "\n".join(f"  {r.request.method} {r.url} -> {r.status_code} {r.headers.get('Location', '')}"
                         for r in responses)
        super().__init__(f"{msg}\n{hops}")
        self.responses = responses


class LoginError(FlowError):
    """The OP rejected the credentials (login form shown again with HTTP 401)."""


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._cur: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._cur = {"id": a.get("id"), "action": a.get("action") or "",
                         "method": (a.get("method") or "get").lower(), "fields": {}}
            self.forms.append(self._cur)
        elif tag == "input" and self._cur is not None and a.get("name"):
            self._cur["fields"][a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._cur = None


def parse_forms(html: str) -> list[dict]:
    """[{id, action, method, fields{name: value}}] of every <form> in html."""
    p = _Forms()
    p.feed(html)
    return p.forms


def find_form(html: str, form_id: str) -> dict | None:
    return next((f for f in parse_forms(html) if f["id"] == form_id), None)


def _origin(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}".lower()


REDIRECTS = (301, 302, 303, 307, 308)


def browse(s: requests.Session, url: str, *, op_origin: str, user: str | None = None,
           password: str | None = None, stop_on_leaving_op: bool = False, method: str = "GET",
           data=None, logout_confirm: bool = True, max_hops: int = 25,
           timeout: float = 15) -> tuple[list[requests.Response], str | None]:
    """Act as a browser without following redirects automatically.

    Follows redirects one hop at a time, submits the OP login form (user/password) and
    the OP logout confirmation form when they appear. With stop_on_leaving_op, stops at
    the first redirect that leaves the OP after visiting it and returns that URL instead
    of requesting it. Returns (responses, stopped_url)."""
    responses: list[requests.Response] = []
    r = s.request(method, url, data=data, allow_redirects=False, timeout=timeout)
    responses.append(r)
    visited_op = _origin(url) == op_origin
    logged_in = False
    while True:
        if len(responses) > max_hops:
            raise FlowError(f"more than {max_hops} hops", responses)
        at_op = _origin(r.url) == op_origin
        visited_op = visited_op or at_op
        if r.status_code in REDIRECTS and "Location" in r.headers:
            nxt = urljoin(r.url, r.headers["Location"])
            if stop_on_leaving_op and visited_op and _origin(nxt) != op_origin:
                return responses, nxt
            r = s.get(nxt, allow_redirects=False, timeout=timeout)
            responses.append(r)
            continue
        if at_op and "text/html" in r.headers.get("Content-Type", ""):
            form = find_form(r.text, "login")
            if form is not None:
                if r.status_code == 401:
                    raise LoginError(f"OP rejected the login of {user!r}", responses)
                if user is None or logged_in:
                    raise FlowError("OP asks for a login and none is to be given", responses)
                fields = {**form["fields"], "login": user, "password": password or ""}
                r = s.post(urljoin(r.url, form["action"]), data=fields, allow_redirects=False, timeout=timeout)
                responses.append(r)
                logged_in = True
                continue
            form = find_form(r.text, "op.logoutForm")
            if form is not None:
                fields = dict(form["fields"])
                if logout_confirm:
                    fields["logout"] = "yes"
                r = s.post(urljoin(r.url, form["action"]), data=fields, allow_redirects=False, timeout=timeout)
                responses.append(r)
                continue
        return responses, None


def login(s: requests.Session, start_url: str, user: str, password: str, *, op: OP | str,
          **kw) -> list[requests.Response]:
    """The whole login: GET start_url on Apache -> OP authorize -> login form -> POST ->
    ... -> Apache callback -> Apache's redirect -> the final page. Returns every hop's
    response (the last is the final page, or whatever the callback answered).
    Raises LoginError if the OP refuses the password."""
    responses, _ = browse(s, start_url, op_origin=_op_origin(op), user=user, password=password, **kw)
    return responses


def op_login_only(s: requests.Session, start_url: str, user: str, password: str, *, op: OP | str,
                  return_responses: bool = False, **kw):
    """Like login() but stops right before the callback: returns the callback URL
    (redirect_uri?code=...&state=...&iss=...) without requesting it
    (or (url, responses) with return_responses=True). start_url may be an Apache URL or
    an OP authorization URL."""
    responses, url = browse(s, start_url, op_origin=_op_origin(op), user=user, password=password,
                            stop_on_leaving_op=True, **kw)
    if url is None:
        raise FlowError("the flow never left the OP towards a callback", responses)
    return (url, responses) if return_responses else url


def logout(s: requests.Session, url: str, *, op: OP | str, confirm: bool = True, **kw) -> list[requests.Response]:
    """GET url (e.g. Apache's /oidc/logout) and follow through the OP's end-session page,
    confirming it (logout=yes) unless confirm=False. Returns every hop."""
    responses, _ = browse(s, url, op_origin=_op_origin(op), logout_confirm=confirm, **kw)
    return responses


def _op_origin(op: OP | str) -> str:
    return _origin(op.origin if isinstance(op, OP) else op)


def hops(responses: list[requests.Response]) -> list[tuple[str, str, int, str]]:
    """[(method, url, status, location)] for assertions and failure messages."""
    return [(r.request.method, r.url, r.status_code, r.headers.get("Location", "")) for r in responses]
