"""`python -m dbrx_api.serve`: options derived from settings and the App Service environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dbrx_api.serve import available_cpus, resolve_options
from dbrx_api.settings import Settings, SettingsError, deep_merge

REPO_ROOT = Path(__file__).resolve().parents[3]


def local_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "environment": "local",
        "auth": {"mode": "disabled"},
        "databricks": {
            "workspaces": [{"url": "http://127.0.0.1:8765", "name": "emulator", "region": "EMEA"}],
            "auth": {"mode": "pat", "token": "dapi-test"},
        },
    }
    return Settings(**deep_merge(base, overrides))


def test_outside_app_service_the_settings_decide() -> None:
    settings = local_settings(server={"workers": 3, "port": 9001, "graceful_timeout_s": 7})
    options = resolve_options(settings, {})
    assert (options.host, options.port, options.workers) == ("127.0.0.1", 9001, 3)
    assert options.timeout_graceful_shutdown == 7
    assert options.forwarded_allow_ips is None  # uvicorn's default: trust loopback proxies only
    assert options.proxy_headers is True
    assert options.access_log is False  # the request middleware logs every request already
    assert options.on_app_service is False


@pytest.mark.parametrize(
    ("environ", "port"),
    [
        ({"PORT": "8181"}, 8181),
        ({"WEBSITES_PORT": "8282"}, 8282),
        ({"PORT": "8181", "WEBSITES_PORT": "8282"}, 8181),
        ({"WEBSITE_SITE_NAME": "deltashare-dev"}, 9001),
    ],
)
def test_on_app_service_bind_all_interfaces_on_the_platform_port(
    environ: dict[str, str], port: int
) -> None:
    options = resolve_options(local_settings(server={"port": 9001}), environ)
    assert options.host == "0.0.0.0"  # noqa: S104 - what App Service needs
    assert options.port == port
    assert options.forwarded_allow_ips == "*"
    assert options.on_app_service is True


def test_workers_default_to_one_per_available_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_options(local_settings(), {}).workers == available_cpus()
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 5}, raising=False)
    assert resolve_options(local_settings(), {}).workers == 4
    assert resolve_options(local_settings(server={"workers": 2}), {}).workers == 2


def test_a_bad_platform_port_stops_start_up() -> None:
    with pytest.raises(SettingsError, match="PORT must be a TCP port number"):
        resolve_options(local_settings(), {"PORT": "http"})


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DBRX_API_", "WEBSITE"))}
    clean.pop("PORT", None)
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "dbrx_api.serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean,
        cwd=REPO_ROOT,
        check=False,
    )


def test_print_config_reads_the_repository_configuration() -> None:
    result = _serve(
        {
            "DBRX_API_ENVIRONMENT": "local",
            "DBRX_API_DATABRICKS__AUTH__TOKEN": "dapi-x",
            "DBRX_API_SERVER__WORKERS": "5",
        },
        "--print-config",
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["workers"] == 5
    assert printed["host"] == "127.0.0.1"


def test_invalid_configuration_exits_2_without_echoing_input_values() -> None:
    # a secret pasted into the wrong variable must not be printed back by the error message
    result = _serve(
        {
            "DBRX_API_ENVIRONMENT": "local",
            "DBRX_API_DATABRICKS__AUTH__TOKEN": "dapi-x",
            "DBRX_API_SERVER__WORKERS": "VerySecret-client-secret",
        },
        "--print-config",
    )
    assert result.returncode == 2
    assert "server.workers: Input should be a valid integer" in result.stderr
    assert "VerySecret" not in result.stderr + result.stdout
