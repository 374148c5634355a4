"""Shared fixtures: a clean environment for every test, and a sandbox over loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloud_api import Cloud
from xray_tasks.sandbox import Sandbox

pytest_plugins = ["tests.runners"]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No XRAY_*/INVOKE_* variable, proxy or .env of the developer's leaks into a test, nor what the CI running
    the suite sets and xray-tasks reads (GitHub Actions' GITHUB_*, GitLab's shard index); the token cache
    lives in a temporary folder."""
    for name in list(os.environ):
        if name.startswith(("XRAY_", "INVOKE_", "GITHUB_", "CI_NODE_")) \
                or name.lower() in ("https_proxy", "http_proxy", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    (cache / "empty.env").write_text("")
    monkeypatch.setenv("XRAY_ENV_FILE", str(cache / "empty.env"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside an empty temporary working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """A fresh sandbox (the local Xray stand-in, both dialects) on a free loopback port, for one test: its
    store holds only what the test sent."""
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sb: Sandbox) -> Sandbox:
    """The same fresh sandbox, under the name the sandbox's own tests use."""
    return sb


@pytest.fixture
def cloud(sandbox: Sandbox) -> Iterator[Cloud]:
    """An authenticated client for the sandbox's Cloud API (GraphQL, imports)."""
    client = Cloud(sandbox)
    try:
        yield client
    finally:
        client.http.close()
