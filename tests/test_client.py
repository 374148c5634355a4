"""The HTTP client's error paths, retries and token handling, with httpx.MockTransport."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from xray_tasks.auth import TokenCache
from xray_tasks.client import XrayClient
from xray_tasks.errors import (
    AuthenticationError,
    ImportUncertainError,
    SettingsError,
    XrayRejectedError,
    XrayUnavailableError,
)
from xray_tasks.plan import build_plan, decide
from xray_tasks.settings import Settings, resolve_settings

SECRET = "very-secret-client-secret-0123456789"


def jwt(exp: float) -> str:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'HS256'})}.{b64({'exp': exp, 'iat': exp - 86400})}.sig"


class App:
    """A recording fake Xray: answers authenticate with a JWT and imports with ``import_answers``."""

    def __init__(self, *import_answers: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(import_answers)
        self.requests: list[httpx.Request] = []
        self.auth_calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.url.path.endswith("/authenticate"):
            self.auth_calls += 1
            return httpx.Response(200, json=jwt(time.time() + 86400))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    @property
    def imports(self) -> list[httpx.Request]:
        return [r for r in self.requests if "/import/" in r.url.path]


def settings(tmp_path: Path, **env: str) -> Settings:
    base = {"XRAY_CLIENT_ID": "cid", "XRAY_CLIENT_SECRET": SECRET, "XRAY_PROJECT_KEY": "DEMO",
            "XRAY_TOKEN_CACHE": str(tmp_path / "tokens.json"), "XRAY_RETRY_BUDGET": "5"}
    return resolve_settings(environ=base | env)


def junit(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text('<testsuite name="s" tests="1"><testcase classname="a.B" name="c"/></testsuite>')
    return path


def client_for(s: Settings, app: App) -> tuple[XrayClient, list[float]]:
    sleeps: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(app))
    return XrayClient(s, http, sleep=sleeps.append), sleeps


def send(tmp_path: Path, app: App, **env: str) -> tuple[object, XrayClient, list[float]]:
    s = settings(tmp_path, **env)
    client, sleeps = client_for(s, app)
    plan = build_plan(s, junit(tmp_path), "junit", decide(s, "junit"))
    return client.send(plan), client, sleeps


OK = httpx.Response(200, json={"id": "10001", "key": "DEMO-5", "self": "https://acme.atlassian.net/rest/api/2/issue/10001"})


def test_standard_junit_import_sends_raw_xml_with_query_and_bearer(tmp_path: Path) -> None:
    """Cloud XML goes as the raw body with projectKey in the query and the token as Bearer."""
    app = App(OK)
    result, _, _ = send(tmp_path, app)
    assert result.key == "DEMO-5"
    assert result.url == "https://acme.atlassian.net/browse/DEMO-5"
    request = app.imports[0]
    assert request.url.path == "/api/v2/import/execution/junit"
    assert request.url.params["projectKey"] == "DEMO"
    assert request.headers["content-type"] == "application/xml"
    assert request.headers["authorization"].startswith("Bearer ey")
    assert request.content.startswith(b"<testsuite")


def test_token_is_cached_on_disk_with_mode_0600_and_reused(tmp_path: Path) -> None:
    """A second client (another process, in effect) uses the cached token: one authentication in all."""
    app = App(OK)
    send(tmp_path, app)
    send(tmp_path, app)
    assert app.auth_calls == 1
    mode = stat.S_IMODE(os.stat(tmp_path / "tokens.json").st_mode)
    assert mode == 0o600
    assert SECRET not in (tmp_path / "tokens.json").read_text()


@pytest.mark.parametrize("answer", ["quoted", "bare", "html"])
def test_authenticate_takes_a_json_string_or_a_bare_token_but_not_a_page(answer: str, tmp_path: Path) -> None:
    """Xray answers a JSON string; a bare token (text/plain) is taken too; an HTML page is not a token."""
    token = jwt(time.time() + 86400)
    bodies = {"quoted": httpx.Response(200, json=token),
              "bare": httpx.Response(200, text=token, headers={"content-type": "text/plain"}),
              "html": httpx.Response(200, text="<html><body>Log in to Jira</body></html>",
                                     headers={"content-type": "text/html"})}
    client, _ = client_for(settings(tmp_path), App(OK))
    client.http = httpx.Client(transport=httpx.MockTransport(lambda _req: bodies[answer]))
    if answer == "html":
        with pytest.raises(XrayRejectedError, match="did not answer with a token"):
            client.authenticate()
        return
    assert client.authenticate().value == token
    assert client.auth_header() == f"Bearer {token}"


def test_world_readable_token_cache_is_refused(tmp_path: Path) -> None:
    """A token cache others can read is a SettingsError telling to chmod it."""
    cache = tmp_path / "tokens.json"
    cache.write_text("{}")
    cache.chmod(0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        TokenCache(cache).get("https://x", "cid")


def test_401_on_a_cached_token_authenticates_again_and_retries_once(tmp_path: Path) -> None:
    """An expired cached token is dropped, a new one fetched, and the import retried once."""
    app = App(OK)
    send(tmp_path, app)
    app.answers = [httpx.Response(401, json={"error": "Expired token"}), OK]
    result, _, _ = send(tmp_path, app)
    assert result.key == "DEMO-5"
    assert app.auth_calls == 2


def test_second_401_is_an_authentication_error(tmp_path: Path) -> None:
    """When even a fresh token is refused the error says so, once."""
    app = App(httpx.Response(401, json={"error": "token revoked"}))
    with pytest.raises(AuthenticationError, match="token revoked"):
        send(tmp_path, app)
    assert app.auth_calls == 2
    assert len(app.imports) == 2


def test_region_answer_gets_a_region_hint(tmp_path: Path) -> None:
    """Xray's 'data is in another region' 401 points at XRAY_REGION."""
    body = {"error": "Xray data is in another region. Contact support to migrate Xray data to current region."}
    app = App(httpx.Response(401, json=body))
    with pytest.raises(AuthenticationError, match="XRAY_REGION"):
        send(tmp_path, app)


def test_wrong_credentials_are_one_clear_line_without_the_secret(tmp_path: Path) -> None:
    """Xray's own text is kept; the secret never appears."""
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "Authentication failed. Invalid client credentials!"})

    s = settings(tmp_path)
    client, _ = client_for(s, App())
    client.http = httpx.Client(transport=httpx.MockTransport(refuse))
    with pytest.raises(AuthenticationError) as info:
        client.authenticate()
    message = str(info.value)
    assert "Invalid client credentials" in message
    assert SECRET not in message
    assert "\n" not in message


def test_429_waits_retry_after_then_succeeds(tmp_path: Path) -> None:
    """429 with Retry-After is waited for and retried; the import lands once."""
    app = App(httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "slow down"}), OK)
    result, _, sleeps = send(tmp_path, app)
    assert result.key == "DEMO-5"
    assert sleeps == [2.0]
    assert len(app.imports) == 2


def test_503_is_retried_with_backoff_then_gives_up(tmp_path: Path) -> None:
    """503 is retried up to XRAY_MAX_RETRIES times, then one error naming the attempts."""
    app = App(httpx.Response(503, text="<html><body><h1>Service Unavailable</h1></body></html>"))
    with pytest.raises(XrayUnavailableError) as info:
        send(tmp_path, app, XRAY_MAX_RETRIES="2")
    assert "Service Unavailable" in str(info.value)
    assert "tried 3 times" in str(info.value)
    assert len(app.imports) == 3


def test_max_retries_zero_disables_retries(tmp_path: Path) -> None:
    """XRAY_MAX_RETRIES=0 sends exactly once."""
    app = App(httpx.Response(503, json={"error": "down"}))
    with pytest.raises(XrayUnavailableError):
        send(tmp_path, app, XRAY_MAX_RETRIES="0")
    assert len(app.imports) == 1


def test_500_on_a_creating_import_is_not_retried(tmp_path: Path) -> None:
    """A 500 may have created the execution: no blind retry, an ImportUncertainError instead."""
    app = App(httpx.Response(500, json={"error": "An internal error occurred when importing execution results"}))
    with pytest.raises(ImportUncertainError, match="internal error"):
        send(tmp_path, app)
    assert len(app.imports) == 1


def test_500_importing_into_an_existing_execution_is_retried(tmp_path: Path) -> None:
    """Importing into a given key cannot duplicate anything, so a 500 is retried."""
    app = App(httpx.Response(500, json={"error": "hiccup"}), OK)
    result, _, _ = send(tmp_path, app, XRAY_TEST_EXEC_KEY="DEMO-9")
    assert result.key == "DEMO-5"
    assert len(app.imports) == 2


def test_read_timeout_after_sending_a_creating_import_is_not_retried(tmp_path: Path) -> None:
    """A read timeout after the body went out ends in ImportUncertainError, sent once."""
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    app = App(slow)
    with pytest.raises(ImportUncertainError, match="may have created"):
        send(tmp_path, app)
    assert len(app.imports) == 1


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    """A connect error (nothing sent) is retried, then one line naming the host."""
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    s = settings(tmp_path, XRAY_MAX_RETRIES="1")
    client, sleeps = client_for(s, App())
    client.http = httpx.Client(transport=httpx.MockTransport(refused))
    with pytest.raises(XrayUnavailableError, match="connection refused"):
        client.authenticate()
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("status", "body", "expected", "hint"),
    [
        (400, {"error": "Error retrieving Project from Jira with key \"NOPE\": No project could be found"},
         "No project could be found", "XRAY_PROJECT_KEY"),
        (403, {"error": "no permission"}, "403 Forbidden: no permission", "permission"),
        (404, {"error": "not here"}, "404 Not Found", "XRAY_BASE_URL"),
        (413, "Payload Too Large", "too large", "XRAY_MAX_REQUEST_MB"),
    ],
    ids=["400 unknown project", "403", "404", "413"],
)
def test_4xx_answers_keep_xray_text_and_give_a_hint(tmp_path: Path, status: int, body: object, expected: str,
                                                     hint: str) -> None:
    """Each 4xx is one XrayRejectedError carrying Xray's words and what to do."""
    answer = httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)
    app = App(answer)
    with pytest.raises(XrayRejectedError) as info:
        send(tmp_path, app)
    assert expected in str(info.value)
    assert hint in str(info.value)


def test_non_json_success_body_is_an_error(tmp_path: Path) -> None:
    """A 200 that is not a Test Execution (e.g. a login page) is not taken for success."""
    app = App(httpx.Response(200, text="<html>Log in to Jira</html>"))
    with pytest.raises(XrayRejectedError, match="not with a Test Execution"):
        send(tmp_path, app)


def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    """Credentials never go over http:// to anything but loopback unless allowed."""
    s = settings(tmp_path, XRAY_BASE_URL="http://xray.example.com")
    with pytest.raises(SettingsError, match="plain http"):
        XrayClient(s)
    XrayClient(settings(tmp_path, XRAY_BASE_URL="http://127.0.0.1:9")).close()


@pytest.mark.parametrize(("message", "hint"), [
    ("Error assembling issue data: project is required", "set XRAY_PROJECT_KEY"),
    ('Error retrieving Project from Jira with key "NOPE": No project could be found', "existing Jira project key"),
    ("Status 'PASSED' does not exist", "PASS/FAIL"),
])
def test_xrays_400_text_is_kept_and_gets_a_hint(message: str, hint: str, tmp_path: Path) -> None:
    app = App(httpx.Response(400, json={"error": message}))
    with pytest.raises(XrayRejectedError) as caught:
        send(tmp_path, app)
    assert message in str(caught.value) and hint in (caught.value.hint or "")


def test_a_token_cache_that_cannot_be_written_only_warns(tmp_path: Path) -> None:
    """The token just issued still serves the run when the cache file cannot be written."""

    class ReadOnlyCache(TokenCache):
        def put(self, *args: object, **kwargs: object) -> None:
            raise SettingsError(f"cannot write the token cache {self.path}: Read-only file system",
                                "set XRAY_TOKEN_CACHE to a writable file")

    app = App(OK)
    logged: list[str] = []
    s = settings(tmp_path)
    client = XrayClient(s, httpx.Client(transport=httpx.MockTransport(app)), cache=ReadOnlyCache(tmp_path / "t.json"),
                        log=logged.append)
    result = client.send(build_plan(s, junit(tmp_path), "junit", decide(s, "junit")))
    assert result.key == "DEMO-5" and app.auth_calls == 1
    assert len(logged) == 1 and "Read-only file system; the token is used for this run only" in logged[0]
