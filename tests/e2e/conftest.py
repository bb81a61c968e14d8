"""pytest fixtures for the mod_auth_oidc end-to-end suite (see README.md).

Session-wide: one work directory, one memcached, one OP. Per test: Apache instances
from make_apache(), stopped by PID at teardown, and a check that their error logs hold
no [warn]/[error]/[crit]/... or sanitizer line the test did not declare with expect_log().
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

import harness
from harness import Apache, LogWatch, Memcached, OP, oidc_config, write_crypto_key


def pytest_report_header(config):
    return [f"aoidc: module={harness.MODULE_PATH} apache={harness.APACHE_BIN} node={harness.NODE_BIN}"]


# ----------------------------------------------------------------- session parts

@pytest.fixture(scope="session")
def bench_dir(request) -> Path:
    """Private work directory (/tmp/aoidc-e2e-*), removed at the end unless a test failed
    or AOIDC_KEEP=1."""
    d = harness.make_workdir()
    yield d
    if request.session.testsfailed or os.environ.get("AOIDC_KEEP") == "1":
        print(f"\naoidc e2e work directory kept: {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def crypto_key(bench_dir) -> Path:
    """<bench>/crypto.key: 32 random bytes as 64 hex digits, mode 0600, shared by all
    Apache instances of the session (so two nodes can read each other's sessions)."""
    return write_crypto_key(bench_dir / "crypto.key")


@pytest.fixture(scope="session")
def memcached_server(bench_dir) -> Memcached:
    mc = Memcached(bench_dir).start()
    yield mc
    mc.stop()


@pytest.fixture
def memcached(memcached_server) -> Memcached:
    """The session's memcached, running and flushed at the start of each test.
    Tests may stop()/restart() it; the next test gets it back."""
    memcached_server.start()
    memcached_server.flush_all()
    return memcached_server


@pytest.fixture(scope="session")
def op_server(bench_dir) -> OP:
    op = OP(bench_dir).start()
    yield op
    op.stop()


@pytest.fixture
def op(op_server) -> OP:
    """The session's OP, on keyset a with default settings and cleared /__test state at the
    start of each test. Tests may op.restart(keyset="b"); the next test gets keyset a back."""
    op_server.ensure_default()
    return op_server


@pytest.fixture(scope="module")
def op2_server(bench_dir) -> OP:
    """A second OP with another issuer (its own port and path), for the tests of several
    providers; one per test module (a module may override it with other settings)."""
    second = OP(bench_dir, path="/realms/two").start()
    yield second
    second.stop()


@pytest.fixture
def op2(op2_server) -> OP:
    """The second OP, with default settings at the start of each test."""
    op2_server.ensure_default()
    return op2_server


# ----------------------------------------------------------------- error logs

@pytest.fixture(autouse=True)
def errlog(request):
    """Polices the error logs of the Apache instances this test starts. After the test
    (and after those instances stopped) it fails on any [warn]/[error]/[crit]/[alert]/
    [emerg], AddressSanitizer, 'runtime error:' or 'exit signal' line not declared with
    expect_log()."""
    watch = LogWatch()
    yield watch
    problems = watch.problems()
    if problems:
        pytest.fail("error log check failed:\n" + "\n".join(problems[:50]), pytrace=False)


@pytest.fixture
def expect_log(errlog):
    """expect_log(regex, required=False): declare matching severe log lines as expected;
    with required=True the test also fails if no line matches."""
    return errlog.expect


# ----------------------------------------------------------------- Apache

def _module_available(path: str) -> None:
    if not Path(path).is_file():
        msg = f"mod_auth_oidc not built: {path} (set AOIDC_MODULE)"
        if os.environ.get("AOIDC_REQUIRE_MODULE") == "1":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


def _safe(name: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-limit:].strip("_") or "t"


@pytest.fixture
def make_apache(request, errlog, bench_dir, crypto_key):
    """Factory: make_apache(snippet="", name="a", *, with_module=True, oidc=None,
    start=True, port=None, mpm="event", extra_modules=(), loglevel="warn auth_oidc:debug",
    module_path=None) -> Apache.

    oidc: None -> the standard global block (harness.oidc_config) filled with the OP's
    issuer, the memcached address, the crypto key and this instance's post-logout URL;
    a dict -> the same with those keys overridden (None omits a directive);
    a str -> that text verbatim; False -> no module directives at all.
    Instances are stopped (by PID) at teardown, before the error-log check runs."""
    made: dict[str, Apache] = {}
    test = _safe(request.node.name)

    def oidc_text(oidc, port: int) -> str:
        if oidc is False:
            return ""
        if isinstance(oidc, str):
            return oidc
        op = request.getfixturevalue("op")
        mc = request.getfixturevalue("memcached")
        base = dict(issuer=op.issuer, session_store=f"memcached {mc.address}",
                    crypto_key_file=str(crypto_key),
                    post_logout_redirect=f"http://127.0.0.1:{port}/loggedout.html")
        merged = {**base, **(oidc or {})}
        if request.node.get_closest_marker("strict_sessions"):
            merged["extra"] = "AuthOIDCSessionCacheTTL 0\n" + (merged.get("extra") or "")
        return oidc_config(**merged)

    def factory(snippet: str = "", name: str = "a", *, with_module: bool = True, oidc=None,
                start: bool = True, port: int | None = None, mpm: str = "event",
                extra_modules=(), loglevel: str = "warn auth_oidc:debug",
                module_path: str | None = None) -> Apache:
        if name in made:
            raise ValueError(f"apache instance {name!r} already exists in this test")
        module_path = module_path or harness.MODULE_PATH
        if with_module:
            _module_available(module_path)
        port = port or harness.free_port()
        root = bench_dir / "apache" / f"{test}-{name}"
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        conf_args = dict(snippet=snippet, with_module=with_module, module_path=module_path,
                         oidc=oidc_text(oidc, port) if with_module else "", mpm=mpm,
                         extra_modules=tuple(extra_modules), loglevel=loglevel)
        apache = Apache(name, root, port, conf_args)
        apache.on_output = errlog.add_text
        errlog.watch(apache.error_log)
        made[name] = apache
        if start:
            apache.start()
        return apache

    def configtest(snippet: str = "", **kw) -> tuple[int, str]:
        """Build a throw-away instance (not started) and run apache2 -t on it."""
        n = sum(1 for k in made if k.startswith("configtest")) + 1
        return factory(snippet, name=f"configtest{n}", start=False, **kw).configtest()

    factory.configtest = configtest
    factory.instances = made
    yield factory
    errors = []
    for apache in made.values():
        try:
            apache.stop()
        except Exception as e:  # keep stopping the others
            errors.append(f"{apache.name}: {e}")
    if errors:
        pytest.fail("could not stop apache: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def apache(make_apache) -> Apache:
    """One started instance "a" with the standard config (module + /protected)."""
    return make_apache()


@pytest.fixture
def browser():
    """A fresh cookie jar (requests.Session ignoring proxy variables)."""
    s = harness.new_browser()
    yield s
    s.close()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "strict_sessions: every instance of the test runs without the session cache "
        "(AuthOIDCSessionCacheTTL 0): the test counts memcached operations per request, stops the store "
        "under a session, or checks a revocation at once; the cache's own bound is tests/e2e/test_99")
