"""TLS and proxies over loopback: the sandbox behind a certificate from a private CA (trustme), and a
CONNECT proxy that counts the tunnels it opens."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import assert_one_clean_line, sandbox_env, xray_tasks
from tests.servers import ConnectProxy, TricklingServer
from xray_tasks.sandbox import Sandbox

trustme = pytest.importorskip("trustme", reason="trustme is not installed: pip install trustme")

JUNIT = '<testsuite name="tls" tests="1"><testcase classname="tls.Check" name="test_it"/></testsuite>'


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_sb(ca: trustme.CA) -> Iterator[Sandbox]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with Sandbox(tls=context) as sandbox:
        yield sandbox


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT, encoding="utf-8")
    return path


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def imported(proc: subprocess.CompletedProcess[str], sb: Sandbox) -> str:
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip().splitlines()[-1].split(" into ")[1].split(":")[0]
    assert sb.store.execution(key) is not None
    return key


def test_an_untrusted_certificate_is_refused_and_nothing_is_sent(tls_sb: Sandbox, report: Path,
                                                                 tmp_path: Path) -> None:
    """Verification is on by default: a certificate from an unknown CA ends the run with the fix."""
    proc = xray_tasks("import-results", "--report", str(report),
                      env=sandbox_env(tls_sb, tmp_path, XRAY_MAX_RETRIES="3"))
    line = assert_one_clean_line(proc, tls_sb.config.client_secret)
    assert proc.returncode == 17
    assert "not trusted" in line and "XRAY_CA_BUNDLE" in line
    assert "retrying" not in proc.stderr and "tried" not in line  # the same certificate would come back
    assert tls_sb.store.requests() == []


def test_ca_bundle_makes_the_private_ca_trusted(tls_sb: Sandbox, report: Path, ca_file: Path,
                                                tmp_path: Path) -> None:
    env = sandbox_env(tls_sb, tmp_path, XRAY_CA_BUNDLE=str(ca_file))
    proc = xray_tasks("import-results", "--report", str(report), env=env)
    imported(proc, tls_sb)
    assert "warning" not in proc.stderr


def test_turning_verification_off_works_only_explicitly_and_warns(tls_sb: Sandbox, report: Path,
                                                                 tmp_path: Path) -> None:
    env = sandbox_env(tls_sb, tmp_path, XRAY_VERIFY_TLS="false")
    proc = xray_tasks("import-results", "--report", str(report), "--quiet", env=env)
    imported(proc, tls_sb)
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "XRAY_VERIFY_TLS=false" in warnings[0], proc.stderr


def test_a_missing_ca_bundle_file_is_a_settings_error(tls_sb: Sandbox, report: Path, tmp_path: Path) -> None:
    env = sandbox_env(tls_sb, tmp_path, XRAY_CA_BUNDLE=str(tmp_path / "nope.pem"))
    proc = xray_tasks("import-results", "--report", str(report), env=env)
    line = assert_one_clean_line(proc, tls_sb.config.client_secret)
    assert proc.returncode == 11 and "XRAY_CA_BUNDLE" in line


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    p = ConnectProxy()
    yield p
    p.close()


@pytest.mark.parametrize("how", ["HTTPS_PROXY", "XRAY_PROXY"])
def test_requests_go_through_the_proxy(how: str, tls_sb: Sandbox, report: Path, ca_file: Path,
                                       proxy: ConnectProxy, tmp_path: Path) -> None:
    """HTTPS_PROXY (the environment) and XRAY_PROXY (the setting) both tunnel authenticate and import."""
    env = sandbox_env(tls_sb, tmp_path, XRAY_CA_BUNDLE=str(ca_file), **{how: proxy.url})
    imported(xray_tasks("import-results", "--report", str(report), env=env), tls_sb)
    target = tls_sb.url.removeprefix("https://")
    assert proxy.targets == [target, target]  # authenticate, then the import


def test_no_proxy_bypasses_the_proxy(tls_sb: Sandbox, report: Path, ca_file: Path, proxy: ConnectProxy,
                                     tmp_path: Path) -> None:
    env = sandbox_env(tls_sb, tmp_path, XRAY_CA_BUNDLE=str(ca_file), HTTPS_PROXY=proxy.url, NO_PROXY="127.0.0.1")
    imported(xray_tasks("import-results", "--report", str(report), env=env), tls_sb)
    assert proxy.targets == []


def test_the_deadline_cuts_a_trickling_tls_server(ca: trustme.CA, ca_file: Path, report: Path,
                                                  tmp_path: Path) -> None:
    """The request deadline also ends a TLS connection that trickles inside the read timeout."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = TricklingServer(tls=context)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")} | {
            "XRAY_BASE_URL": server.url, "XRAY_DEPLOYMENT": "server", "XRAY_SERVER_TOKEN": "pat-secret-0123456789",
            "XRAY_PROJECT_KEY": "DEMO", "XRAY_CA_BUNDLE": str(ca_file), "XRAY_TIMEOUT": "1", "XRAY_DEADLINE": "2",
            "XRAY_MAX_RETRIES": "0", "XRAY_ENV_FILE": os.devnull,
            "XRAY_STATE_FILE": str(tmp_path / "run.json")}
        started = time.monotonic()
        proc = xray_tasks("import-results", "--report", str(report), env=env, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    line = assert_one_clean_line(proc, "pat-secret-0123456789")
    assert proc.returncode == 18 and "XRAY_DEADLINE=2s" in line
    assert server.connections == 1 and elapsed < 7, elapsed


def test_doctor_warns_when_verification_is_off(tls_sb: Sandbox, ca_file: Path, tmp_path: Path) -> None:
    """doctor: TLS OK with XRAY_CA_BUNDLE, WARN with XRAY_VERIFY_TLS=false (and still passes)."""
    trusted = xray_tasks("doctor", env=sandbox_env(tls_sb, tmp_path, XRAY_CA_BUNDLE=str(ca_file)))
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert any(line.startswith("OK") and " TLS " in line and "XRAY_CA_BUNDLE" in line
               for line in trusted.stdout.splitlines()), trusted.stdout
    unverified = xray_tasks("doctor", env=sandbox_env(tls_sb, tmp_path, XRAY_VERIFY_TLS="false"))
    assert unverified.returncode == 0, unverified.stdout + unverified.stderr
    warned = [line for line in unverified.stdout.splitlines() if line.startswith("WARN") and " TLS " in line]
    assert len(warned) == 1 and "NOT verified" in warned[0] and "XRAY_CA_BUNDLE" in warned[0]
