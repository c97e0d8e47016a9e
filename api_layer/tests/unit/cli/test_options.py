"""Command-line parsing: synopsis of docs/API.md §14.1, environment defaults, and usage errors (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbrx_api.cli.errors import UsageError
from dbrx_api.cli.options import parse_options, requested_format, safe_url
from dbrx_api.version import __version__
from fixtures.cli import API_URL, PACK_ID, run_cli

ENV = {"DELTASHARE_API_URL": "https://deltashare.example.com/api/"}


def test_environment_defaults_and_explicit_options_win() -> None:
    env = {
        **ENV,
        "DELTASHARE_WORKSPACE_URL": "https://adb-1.1.azuredatabricks.net",
        "DELTASHARE_TOKEN": "from-env",
    }
    options = parse_options(["status", PACK_ID], env)
    assert options.api_url == "https://deltashare.example.com/api"  # trailing slash removed
    assert options.workspace_url == "https://adb-1.1.azuredatabricks.net"
    assert options.token == "from-env"
    assert options.output_format == "text"
    assert options.http_timeout_s == 60
    explicit = parse_options(
        [
            "--api-url",
            "http://127.0.0.1:8000",
            "--token",
            "from-arg",
            "status",
            PACK_ID,
            "--http-timeout",
            "5",
        ],
        env,
    )
    assert explicit.api_url == "http://127.0.0.1:8000"
    assert explicit.token == "from-arg"
    assert explicit.http_timeout_s == 5


def test_global_options_work_before_and_after_the_command() -> None:
    before = parse_options(["--json", "--quiet", "validate", "p.yaml"], ENV)
    after = parse_options(["validate", "p.yaml", "--json", "--quiet"], ENV)
    assert before == after
    assert after.output_format == "json"
    assert after.quiet
    assert after.file == Path("p.yaml")


def test_json_flag_overrides_format() -> None:
    assert (
        parse_options(["--format", "github", "--json", "plan", "p.yaml"], ENV).output_format
        == "json"
    )
    assert parse_options(["--format", "github", "plan", "p.yaml"], ENV).output_format == "github"


def test_command_specific_options() -> None:
    apply = parse_options(
        ["apply", "p.yaml", "--no-wait", "--timeout", "90", "--poll-interval", "0.5"], ENV
    )
    assert (apply.wait, apply.timeout_s, apply.poll_interval_s) == (False, 90, 0.5)
    defaults = parse_options(["apply", "p.yaml"], ENV)
    assert (defaults.wait, defaults.timeout_s, defaults.poll_interval_s) == (True, 1800, 5)
    assert parse_options(["status", PACK_ID], ENV).wait is False
    assert parse_options(["status", PACK_ID, "--wait"], ENV).wait is True
    assert parse_options(["validate", "p.yaml", "--strict"], ENV).strict is True
    assert (
        parse_options(["history", PACK_ID.upper()], ENV).share_pack_id == PACK_ID
    )  # canonical form


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["status", PACK_ID], {}, "DELTASHARE_API_URL"),
        ([], ENV, "a command is required"),
        (["deploy", "p.yaml"], ENV, "invalid choice"),
        (["validate"], ENV, "FILE"),
        (["validate", "p.yaml", "--frobnicate"], ENV, "--frobnicate"),
        (["apply", "p.yaml", "--timeout", "-1"], ENV, "positive number of seconds"),
        (["apply", "p.yaml", "--poll-interval", "soon"], ENV, "number of seconds"),
        (["--api-url", "ftp://x", "status", PACK_ID], {}, "absolute http(s) URL"),
        (
            ["--workspace-url", "adb-1.azuredatabricks.net", "plan", "p.yaml"],
            ENV,
            "absolute http(s) URL",
        ),
        (["status", "not-a-uuid"], ENV, "a UUID"),
    ],
)
def test_usage_errors(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=None) as caught:
        parse_options(argv, env)
    assert message in caught.value.detail


def test_usage_errors_exit_2_with_usage_on_stderr() -> None:
    run = run_cli(["validate", "p.yaml", "--frobnicate"])
    assert run.exit_code == 2
    assert run.stderr.startswith("usage: deltashare")
    assert "unrecognized arguments: --frobnicate" in run.stderr
    assert run.stdout == ""


def test_version_and_help_exit_0() -> None:
    version = run_cli(["--version"])
    assert version.exit_code == 0
    assert version.stdout.strip() == f"deltashare {__version__}"
    help_run = run_cli(["apply", "--help"])
    assert help_run.exit_code == 0
    assert "--no-wait" in help_run.stdout


def test_requested_format_reads_broken_command_lines() -> None:
    assert requested_format(["--json", "bogus"]) == "json"
    assert requested_format(["x", "--format", "github"]) == "github"
    assert requested_format(["--format=json"]) == "json"
    assert requested_format(["--format"]) == "text"


def test_safe_url_drops_credentials_and_query() -> None:
    assert (
        safe_url("https://user:pw@api.example.com:8443/api?sig=abc#x")
        == "https://api.example.com:8443/api"
    )
    assert "pw" not in safe_url("user:pw@host")


def test_api_url_credentials_are_not_echoed_in_errors() -> None:
    run = run_cli(["--api-url", "ftp://user:hunter2@example.com", "status", PACK_ID])
    assert run.exit_code == 2
    assert "hunter2" not in run.stderr
    assert API_URL  # the default URL of the helper is not used here
