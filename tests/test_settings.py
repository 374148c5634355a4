"""Settings: one precedence for every value, clear errors for bad ones, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from xray_tasks.errors import SettingsError
from xray_tasks.settings import REGIONS, resolve_settings


def test_precedence_flag_env_dotenv_config_default(tmp_path: Path) -> None:
    """A flag beats XRAY_*, which beats .env, which beats the Invoke config, which beats the default."""
    env_file = tmp_path / ".env"
    env_file.write_text("XRAY_PROJECT_KEY=FROMDOTENV\nXRAY_REVISION=dotenv-rev\nXRAY_FIX_VERSION=dotenv-v\n")
    environ = {"XRAY_ENV_FILE": str(env_file), "XRAY_PROJECT_KEY": "FROMENV", "XRAY_REVISION": "env-rev"}
    config = {"project_key": "FROMCONFIG", "revision": "config-rev", "fix_version": "config-v",
              "test_plan_key": "CFG-1"}
    s = resolve_settings(flags={"project_key": "FROMFLAG"}, config=config, environ=environ)
    assert s.project_key == "FROMFLAG"
    assert s.revision == "env-rev"
    assert s.fix_version == "dotenv-v"
    assert s.test_plan_key == "CFG-1"
    assert s.report_format == "auto"
    assert s.sources["project_key"] == "flag"
    assert s.sources["revision"] == "env XRAY_REVISION"
    assert s.sources["fix_version"].startswith(".env")
    assert s.sources["test_plan_key"] == "invoke config xray.test_plan_key"


def test_dotenv_never_overrides_a_real_environment_variable(tmp_path: Path) -> None:
    """python-dotenv values sit below the process environment."""
    env_file = tmp_path / "custom.env"
    env_file.write_text("XRAY_CLIENT_ID=dotenv-id\nXRAY_VAR_BUILD=7\n")
    s = resolve_settings(environ={"XRAY_ENV_FILE": str(env_file), "XRAY_CLIENT_ID": "real-id"})
    assert s.client_id == "real-id"
    assert s.variables == {"build": "7"}


def test_region_picks_the_regional_host() -> None:
    """XRAY_REGION=eu without XRAY_BASE_URL uses the EU host."""
    assert resolve_settings(environ={"XRAY_REGION": "eu"}).base_url == REGIONS["eu"]
    assert resolve_settings(environ={}).base_url == "https://xray.cloud.getxray.app"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("xray.cloud.getxray.app", "not an http(s) URL"),
        ("https://xray.cloud.getxray.app/api/v2", "set XRAY_BASE_URL=https://xray.cloud.getxray.app"),
        ("https://jira.example.com/rest/raven/2.0", "includes the API path"),
        ("https://xray.cloud.getxray.app/foo", "has a path after the Xray Cloud host"),
    ],
    ids=["no scheme", "api path pasted in", "server api path", "path after cloud host"],
)
def test_bad_base_urls_are_refused_with_the_fix(url: str, expected: str) -> None:
    """Each common base-URL mistake gets a message that says how to write it."""
    with pytest.raises(SettingsError) as info:
        resolve_settings(environ={"XRAY_BASE_URL": url})
    assert expected in str(info.value)


def test_base_url_is_normalised() -> None:
    """Trailing and doubled slashes are removed, a Jira context path is kept."""
    s = resolve_settings(environ={"XRAY_BASE_URL": "https://jira.example.com//jira/", "XRAY_DEPLOYMENT": "server"})
    assert s.base_url == "https://jira.example.com/jira"


def test_bad_number_names_the_variable_and_source() -> None:
    """A non-number timeout is a SettingsError naming XRAY_TIMEOUT, not a ValueError traceback."""
    with pytest.raises(SettingsError, match="XRAY_TIMEOUT"):
        resolve_settings(environ={"XRAY_TIMEOUT": "soon"})


def test_unknown_region_and_on_error_are_refused() -> None:
    """Values outside the allowed sets are refused with the valid choices."""
    with pytest.raises(SettingsError, match="global, us, eu, au"):
        resolve_settings(environ={"XRAY_REGION": "mars"})
    with pytest.raises(SettingsError, match="not one of fail, warn"):
        resolve_settings(environ={"XRAY_ON_ERROR": "ignore"})


def test_api_version_picks_the_api_path_per_deployment() -> None:
    """XRAY_API_VERSION: Cloud 2 (default) or 1; Server/DC 2.0 (default), 1.0 or latest; others refused."""
    assert resolve_settings(environ={}).api_url == "https://xray.cloud.getxray.app/api/v2"
    assert resolve_settings(environ={"XRAY_API_VERSION": "v1"}).api_path == "/api/v1"
    server = {"XRAY_DEPLOYMENT": "server", "XRAY_BASE_URL": "https://jira.example.com/jira"}
    assert resolve_settings(environ=server).api_url == "https://jira.example.com/jira/rest/raven/2.0"
    assert resolve_settings(environ=server | {"XRAY_API_VERSION": "1"}).api_path == "/rest/raven/1.0"
    assert resolve_settings(environ=server | {"XRAY_API_VERSION": "latest"}).api_path == "/rest/raven/latest"
    with pytest.raises(SettingsError, match="use 2 or 1") as caught:
        resolve_settings(environ={"XRAY_API_VERSION": "latest"})
    assert "XRAY_API_VERSION='latest' (env XRAY_API_VERSION)" in str(caught.value)
    with pytest.raises(SettingsError, match=r"2\.0, 1\.0 or latest"):
        resolve_settings(environ=server | {"XRAY_API_VERSION": "3"})


def test_unknown_invoke_config_key_is_refused() -> None:
    """A typo in invoke.yaml's xray section is reported, not ignored."""
    with pytest.raises(SettingsError, match="projet_key"):
        resolve_settings(config={"projet_key": "X"}, environ={})


def test_lists_split_on_semicolons_and_commas_but_keep_spaces() -> None:
    """Xray separates environments with ';'; commas work too; names and paths keep their spaces."""
    s = resolve_settings(environ={"XRAY_TEST_ENVIRONMENTS": "chrome; linux,arm64",
                                  "XRAY_REPORT": "test results/junit.xml; other dir/*.xml"})
    assert s.test_environments == ("chrome", "linux", "arm64")
    assert s.report == ("test results/junit.xml", "other dir/*.xml")
    assert resolve_settings(environ={"XRAY_TEST_ENVIRONMENTS": "Chrome 120;Windows 11"}).test_environments == \
        ("Chrome 120", "Windows 11")


def test_deployment_is_inferred_from_server_credentials() -> None:
    """A PAT and a Jira URL, with no Cloud credentials, mean Server/DC."""
    s = resolve_settings(environ={"XRAY_BASE_URL": "https://jira.example.com", "XRAY_SERVER_TOKEN": "pat-123"})
    assert s.deployment == "server"
    assert resolve_settings(environ={"XRAY_CLIENT_ID": "x"}).deployment == "cloud"


def test_secrets_are_hidden_in_repr_and_describe() -> None:
    """The client secret shows in neither repr() nor the settings table."""
    s = resolve_settings(environ={"XRAY_CLIENT_ID": "id-1", "XRAY_CLIENT_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(s)
    table = s.describe()
    assert "s3cr3t-value" not in str(table)
    assert ("client_secret", "(set, hidden)", "env XRAY_CLIENT_SECRET") in table


@pytest.mark.parametrize(("section", "expected"), [
    (["project_key", "CALC"], "is a list, not a mapping"), ("CALC", "is a str, not a mapping"),
    ({"variables": ["a", "b"]}, "'variables'"), ({"project_key": ["A", "B"]}, "is a list; it takes one value"),
    ({"timeout": {"read": 1}}, "is a mapping; it takes one value")],
    ids=["xray is a list", "xray is a string", "variables is a list", "a scalar given a list", "a scalar given a map"])
def test_an_invoke_yaml_of_the_wrong_shape_is_one_clear_error(section: object, expected: str) -> None:
    """invoke.yaml's xray: section must be a mapping of settings; anything else is a SettingsError."""
    with pytest.raises(SettingsError, match=expected):
        resolve_settings(config=section, environ={})  # type: ignore[arg-type]


def test_a_region_the_base_url_overrides_gets_a_note() -> None:
    """--region eu with XRAY_BASE_URL set: the base URL wins, and a note says so."""
    s = resolve_settings(flags={"region": "eu"}, environ={"XRAY_BASE_URL": "https://xray.cloud.getxray.app"})
    assert s.base_url == "https://xray.cloud.getxray.app"
    assert any("XRAY_REGION=eu (flag) is not used" in n for n in s.notes)
    assert resolve_settings(flags={"region": "eu"}, environ={}).notes == ()


def test_the_nearest_env_file_upwards_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like Invoke finds tasks.py, a run from a sub-folder finds the project's .env."""
    (tmp_path / ".env").write_text("XRAY_PROJECT_KEY=FROMPARENT\n")
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "tests" / "unit")
    s = resolve_settings(environ={})
    assert s.project_key == "FROMPARENT" and str(tmp_path / ".env") in s.sources["project_key"]


def test_settings_table_is_derived_from_the_dataclass() -> None:
    """SETTINGS, the secret list and the environment names all come from Settings' fields."""
    from dataclasses import fields

    from xray_tasks.settings import SECRET_SETTINGS, SETTINGS, Settings

    names = [f.name for f in fields(Settings) if "help" in f.metadata]
    assert [s.name for s in SETTINGS] == names
    assert {"client_secret", "server_token", "server_password"} == SECRET_SETTINGS
    assert all(s.env == "XRAY_" + s.name.upper() for s in SETTINGS)
