"""Settings precedence, per-environment merge, secret hygiene and fail-fast validation (docs/API.md §15)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dbrx_api.settings import Settings

LOCAL_WORKSPACES = [{"url": "http://127.0.0.1:8765", "name": "emulator", "region": "EMEA"}]


def build(**kwargs: Any) -> Settings:
    return Settings(**kwargs)


def write_config(directory: Path, **files: object) -> None:
    for name, content in files.items():
        (directory / f"{name}.json").write_text(json.dumps(content), encoding="utf-8")


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(__import__("os").environ):
        if key.startswith("DBRX_API_") or key in {"DATABASE_URL", "DD_API_KEY"}:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DBRX_API_CONFIG_DIR", str(tmp_path))
    write_config(
        tmp_path,
        config={"app_name": "DeltaShare", "environment": "local", "api_prefix": ""},
        apilayer_config={
            "default": {"server": {"workers": 3}, "auth": {"mode": "entra"}},
            "local": {"auth": {"mode": "disabled"}, "server": {"threadpool_size": 16}},
            "prd": {"server": {"workers": 8}},
        },
        databricks_config={
            "default": {"auth": {"mode": "azure_sp"}, "sdk": {"http_timeout_s": 30}},
            "local": {"auth": {"mode": "pat"}, "workspaces": LOCAL_WORKSPACES},
        },
    )
    monkeypatch.setenv("DBRX_API_DATABRICKS__AUTH__TOKEN", "dapi-local")
    return tmp_path


def test_environment_section_is_deep_merged_over_default(config_dir: Path) -> None:
    settings = Settings()
    assert settings.environment == "local"
    assert settings.server.workers == 3  # from default
    assert settings.server.threadpool_size == 16  # from local
    assert settings.auth.mode == "disabled"
    assert settings.databricks.auth.mode == "pat"
    assert settings.databricks.sdk.http_timeout_s == 30
    assert settings.databricks.workspaces[0].url == "http://127.0.0.1:8765"


def test_environment_variables_override_files(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBRX_API_SERVER__WORKERS", "5")
    monkeypatch.setenv("DBRX_API_API_PREFIX", "/api")
    monkeypatch.setenv(
        "DBRX_API_DATABRICKS__WORKSPACES",
        json.dumps([{"url": "http://127.0.0.1:9999", "name": "other", "region": "AM"}]),
    )
    settings = Settings()
    assert settings.server.workers == 5
    assert settings.api_prefix == "/api"
    assert [w.url for w in settings.databricks.workspaces] == ["http://127.0.0.1:9999"]


def test_dotenv_sits_between_environment_and_files(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config_dir / ".env").write_text("DBRX_API_SERVER__WORKERS=6\nDBRX_API_APP_NAME=FromDotenv\n")
    monkeypatch.setenv("DBRX_API_APP_NAME", "FromEnv")
    settings = Settings()
    assert settings.server.workers == 6
    assert settings.app_name == "FromEnv"


def test_init_arguments_win(config_dir: Path) -> None:
    assert build(server={"workers": 9}).server.workers == 9


def test_environment_variable_selects_the_section(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBRX_API_ENVIRONMENT", "prd")
    with pytest.raises(ValidationError) as failure:
        Settings()
    message = str(failure.value)
    # prd takes auth.mode=entra from default (needs tenants and audiences) and not the local allowlist
    assert "tenant_ids" in message
    assert "allowlist) is empty" in message


def test_secret_in_json_file_stops_startup(config_dir: Path) -> None:
    write_config(config_dir, databricks_config={"local": {"auth": {"client_secret": "s3cr3t"}}})
    with pytest.raises(ValueError, match="looks like a secret"):
        Settings()


def test_database_url_fallback_variable(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://fallback/db")
    assert Settings().workflow.database_url is not None
    assert Settings().workflow.database_url.get_secret_value() == "postgresql://fallback/db"  # type: ignore[union-attr]
    monkeypatch.setenv("DBRX_API_WORKFLOW__DATABASE_URL", "postgresql://primary/db")
    assert Settings().workflow.database_url.get_secret_value() == "postgresql://primary/db"  # type: ignore[union-attr]


def test_unknown_key_is_an_error(config_dir: Path) -> None:
    write_config(config_dir, config={"environment": "local", "wokflow": {"enabled": True}})
    with pytest.raises(ValidationError, match="wokflow"):
        Settings()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"auth": {"mode": "disabled"}, "environment": "dev"}, "auth.mode = 'disabled'"),
        ({"databricks": {"workspaces": []}}, "allowlist) is empty"),
        (
            {
                "databricks": {
                    "workspaces": [{"url": "https://example.com", "name": "x", "region": "AM"}]
                }
            },
            "not a Databricks workspace host",
        ),
    ],
)
def test_startup_validation(config_dir: Path, overrides: dict[str, object], expected: str) -> None:
    with pytest.raises(ValidationError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        build(**overrides)


def test_placeholder_secret_refused_outside_local(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBRX_API_DATABRICKS__AUTH__CLIENT_SECRET", "<secret>")
    with pytest.raises(ValidationError, match="CLIENT_SECRET is missing or a placeholder"):
        build(
            environment="dev",
            auth={"mode": "entra", "tenant_ids": ["t"], "audiences": ["a"]},
            databricks={
                "auth": {"mode": "azure_sp", "tenant_id": "t", "client_id": "c"},
                "workspaces": [
                    {"url": "https://adb-1.2.azuredatabricks.net", "name": "w", "region": "AM"}
                ],
                "pipelines": {"library_path": "/Workspace/x.py"},
            },
        )


def test_repository_config_files_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped JSON files load in local mode (the `make run-dev` configuration)."""
    monkeypatch.delenv("DBRX_API_CONFIG_DIR", raising=False)
    monkeypatch.setenv("DBRX_API_ENVIRONMENT", "local")
    monkeypatch.setenv("DBRX_API_DATABRICKS__AUTH__TOKEN", "dapi-emulator")
    settings = Settings()
    assert settings.auth.mode == "disabled"
    assert settings.databricks.workspaces
