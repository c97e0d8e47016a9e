"""`deltashare` (the installed console script, in a subprocess) against the running application over real HTTP.

The application runs in uvicorn on 127.0.0.1 (`fixtures.live_server`); the workflow tests enable the share-pack
workflow on a throwaway database and the in-process worker, so `apply` follows a pack to COMPLETED.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dbrx_api.dependencies import WORKSPACE_HEADER
from dbrx_api.main import create_app
from dbrx_api.settings import Settings, deep_merge
from dbrx_api.version import __version__
from fixtures.api import align_emulator_clock, share_table_by_hand
from fixtures.live_server import LiveServer, free_port

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"
PACK_WORKSPACE = (
    "https://adb-1234567890123456.7.azuredatabricks.net"  # replaced by the allowlisted URL
)
UNUSED_WORKSPACE = "http://127.0.0.1:9"  # allowlisted but never called by these tests
CLI_TIMEOUT_S = 180
WORKFLOW_OPERATIONS = (
    ("post", "/workflow/sharepack/plan"),
    ("post", "/workflow/sharepack/upload_and_validate"),
    ("get", "/workflow/sharepack/{id}"),
    ("get", "/workflow/sharepack/{id}/history"),
)


def local_settings(workspace_url: str, token: str = "dapi-unused", **overrides: Any) -> Settings:  # noqa: S107
    """Local-mode settings whose allowlist holds only `workspace_url`."""
    base: dict[str, Any] = {
        "environment": "local",
        "auth": {"mode": "disabled"},
        "workflow": {"enabled": False},
        "databricks": {
            "workspaces": [{"url": workspace_url, "name": "emulator", "region": "EMEA"}],
            "auth": {"mode": "pat", "token": token},
            "sdk": {"http_timeout_s": 5, "retry_timeout_s": 5},
        },
    }
    return Settings(**deep_merge(base, overrides))


def deltashare_command() -> list[str]:
    """The installed console script (falls back to the module when the script is not on disk)."""
    script = Path(sys.executable).parent / "deltashare"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dbrx_api.cli"]


def cli(
    api_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `deltashare args` against `api_url`, bounded in time."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DELTASHARE_")}
    environment.update({"DELTASHARE_API_URL": api_url, "NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [*deltashare_command(), *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=environment,
        check=False,
    )


def pack_for(tmp_path: Path, source: str, workspace_url: str, *changes: tuple[str, str]) -> Path:
    """A copy of a data pack aimed at `workspace_url`, with text replacements."""
    text = (DATA / source).read_text(encoding="utf-8").replace(PACK_WORKSPACE, workspace_url)
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / Path(source).name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ what runs today


@pytest.fixture(scope="module")
def disabled_service() -> Iterator[LiveServer]:
    """The application with the workflow feature off (the default configuration)."""
    with LiveServer(create_app(local_settings(UNUSED_WORKSPACE))) as server:
        yield server


def test_console_script_prints_the_package_version() -> None:
    result = subprocess.run(
        [*deltashare_command(), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"deltashare {__version__}"


def test_validate_against_a_service_without_the_workflow_exits_3(
    disabled_service: LiveServer, tmp_path: Path
) -> None:
    pack = pack_for(tmp_path, "sharepack.yaml", UNUSED_WORKSPACE)
    text = cli(disabled_service.url, "validate", str(pack))
    assert text.returncode == 3
    assert "(404 workflow_disabled)" in text.stderr
    as_json = cli(disabled_service.url, "--json", "validate", str(pack))
    assert as_json.returncode == 3
    problem = json.loads(as_json.stdout)  # exactly one document: the service's problem
    assert problem["code"] == "workflow_disabled"
    assert problem["instance"] == "/workflow/sharepack/plan"
    assert problem["request_id"]


def test_status_and_history_of_a_disabled_workflow_are_upstream_errors_not_not_found(
    disabled_service: LiveServer,
) -> None:
    pack_id = str(uuid.uuid4())
    for command in ("status", "history"):
        result = cli(disabled_service.url, command, pack_id)
        assert result.returncode == 3, result.stderr
        assert "workflow_disabled" in result.stderr


def test_github_format_annotates_service_errors(
    disabled_service: LiveServer, tmp_path: Path
) -> None:
    pack = pack_for(tmp_path, "sharepack.yaml", UNUSED_WORKSPACE)
    result = cli(disabled_service.url, "--format", "github", "plan", str(pack))
    assert result.returncode == 3
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 1
    assert "workflow_disabled" in annotations[0]


def test_a_wrong_api_prefix_is_reported_with_a_hint(tmp_path: Path) -> None:
    settings = local_settings(UNUSED_WORKSPACE, api_prefix="/api")
    with LiveServer(create_app(settings), prefix="/api") as server:
        root_url = server.url.removesuffix("/api")
        result = cli(root_url, "status", str(uuid.uuid4()))
        assert result.returncode == 3
        assert "(404 not_found)" in result.stderr
        assert "api_prefix" in result.stderr
        correct = cli(server.url, "status", str(uuid.uuid4()))
        assert correct.returncode == 3
        assert "workflow_disabled" in correct.stderr


def test_apply_to_an_unreachable_service_fails_fast_without_retrying(tmp_path: Path) -> None:
    pack = pack_for(tmp_path, "sharepack.yaml", UNUSED_WORKSPACE)
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = cli(url, "apply", str(pack), "--no-wait")
    elapsed = time.monotonic() - started
    assert result.returncode == 3
    assert f"cannot reach {url}/workflow/sharepack/upload_and_validate" in result.stderr
    assert "retry" not in result.stderr  # the upload is never retried (reads back off 1+2+4 s)
    assert elapsed < 30


def test_usage_errors_of_the_console_script_exit_2(tmp_path: Path) -> None:
    missing = cli("http://127.0.0.1:9", "validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    assert "file not found" in missing.stderr
    unknown = cli("http://127.0.0.1:9", "--json", "validate", "x.yaml", "--bogus")
    assert unknown.returncode == 2
    assert json.loads(unknown.stdout)["error"] == "usage"


# ------------------------------------------------------------------------------------------ workflow endpoints


@pytest.fixture(scope="module")
def workflow_service(
    emulator_server: Any, make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The application with the workflow on: emulator workspace, throwaway database, inline worker."""
    overrides: dict[str, Any] = {
        "workflow": {
            "enabled": True,
            "worker": {"inline": True, "concurrency": 1},
            "queue": {"poll_min_s": 0.1, "poll_max_s": 0.5},
        }
    }
    overrides["workflow"]["database_url"] = make_database()
    settings = local_settings(emulator_server.url, emulator_server.token, **overrides)
    with LiveServer(create_app(settings)) as server:
        yield server


@pytest.fixture
def emulator_url(emulator_server: Any) -> str:
    return str(emulator_server.url)


def test_validate_the_example_pack_exits_0(
    workflow_service: LiveServer, emulator_url: str, tmp_path: Path
) -> None:
    pack = pack_for(tmp_path, "sharepack.yaml", emulator_url)
    result = cli(workflow_service.url, "validate", str(pack))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{pack}: valid (1 warning)" in result.stdout
    assert "notification_group_not_delivered" in result.stdout
    strict = cli(workflow_service.url, "validate", str(pack), "--strict")
    assert strict.returncode == 1


def test_validate_a_broken_pack_exits_1_with_located_errors(
    workflow_service: LiveServer, emulator_url: str, tmp_path: Path
) -> None:
    pack = pack_for(
        tmp_path, "sharepack.yaml", emulator_url, ('cron: "0 0 2 * * ?"', 'cron: "0 2 * * *"')
    )
    result = cli(workflow_service.url, "validate", str(pack))
    assert result.returncode == 1
    assert (
        f"{pack}:68:17: error cron_not_quartz: share[0].pipelines[0].schedule.cron:"
        in result.stdout
    )
    assert "hint: 0 0 2 * * ?" in result.stdout
    github = cli(workflow_service.url, "--format", "github", "validate", str(pack))
    assert f"::error file={pack},line=68,col=17,title=cron_not_quartz::" in github.stdout


def test_plan_then_apply_to_completed_then_status_and_history(
    workflow_service: LiveServer, emu: Any, tmp_path: Path
) -> None:
    emulator_url = str(emu.url)  # `emu` starts the test from the freshly seeded emulator state
    pack = pack_for(tmp_path, "apply.yaml", emulator_url)
    plan = cli(workflow_service.url, "plan", str(pack))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "  + recipient cli_partner" in plan.stdout
    assert "Plan: " in plan.stdout

    apply = cli(
        workflow_service.url,
        "--json",
        "apply",
        str(pack),
        "--poll-interval",
        "0.2",
        "--timeout",
        "120",
    )
    assert apply.returncode == 0, apply.stdout + apply.stderr
    final = json.loads(apply.stdout)
    assert final["status"] == "COMPLETED"
    pack_id = final["share_pack_id"]

    again = cli(workflow_service.url, "plan", str(pack))
    assert again.returncode == 0
    assert "Plan: 0 to create, 0 to update, 0 to delete (0 mutating calls)." in again.stdout

    status = cli(workflow_service.url, "status", pack_id)
    assert status.returncode == 0
    assert status.stdout.rstrip().endswith(f"share pack {pack_id}: COMPLETED")
    history = cli(workflow_service.url, "history", pack_id)
    assert history.returncode == 0
    assert "QUEUED -> IN_PROGRESS" in history.stdout
    assert history.stdout.rstrip().endswith("current version 1: COMPLETED")


def test_status_and_history_of_an_unknown_id_exit_1(workflow_service: LiveServer) -> None:
    pack_id = str(uuid.uuid4())
    for command in ("status", "history"):
        result = cli(workflow_service.url, command, pack_id)
        assert result.returncode == 1, result.stderr
        assert "sharepack_not_found" in result.stderr


def test_authentication_failures_exit_3_and_a_valid_token_passes(
    emulator_server: Any, token_factory: Any, tmp_path: Path
) -> None:
    settings = local_settings(
        emulator_server.url,
        emulator_server.token,
        auth=token_factory.auth_settings().model_dump(),
        workflow={"enabled": True},
    )
    pack = pack_for(tmp_path, "sharepack.yaml", str(emulator_server.url))
    with LiveServer(create_app(settings)) as server:
        anonymous = cli(server.url, "validate", str(pack))
        assert anonymous.returncode == 3
        assert "auth_missing" in anonymous.stderr
        token = token_factory.mint(roles=["DeltaShare.Reader"])
        reader = cli(server.url, "validate", str(pack), env={"DELTASHARE_TOKEN": token})
        assert reader.returncode == 0, reader.stderr
        assert token not in reader.stdout + reader.stderr
        forbidden = cli(
            server.url, "apply", str(pack), "--no-wait", env={"DELTASHARE_TOKEN": token}
        )
        assert forbidden.returncode == 3
        assert "role_missing" in forbidden.stderr


# ------------------------------------------------------------------------------------------ token hygiene


@pytest.fixture
def sharing_service(emu: Any) -> Iterator[LiveServer]:
    """The application aimed at the freshly seeded emulator (workflow off: the report needs no database)."""
    with LiveServer(create_app(local_settings(str(emu.url), emu.token))) as server:
        yield server


def test_tokens_exits_1_when_a_token_expires_inside_the_window(
    sharing_service: LiveServer, emu: Any, emu_client: Any
) -> None:
    from databricks.sdk.service.sharing import AuthenticationType

    align_emulator_clock(emu)  # the report measures expiry against the wall clock
    soon = emu.now_ms() + 5 * 86_400_000
    emu_client.recipients.create("acme", AuthenticationType.TOKEN, expiration_time=soon)
    env = {"DELTASHARE_WORKSPACE_URL": str(emu.url)}

    quiet_month = cli(sharing_service.url, "tokens", "--expiring-within", "2d", env=env)
    assert quiet_month.returncode == 0, quiet_month.stdout + quiet_month.stderr
    assert "none expires within 2d" in quiet_month.stdout

    due = cli(
        sharing_service.url, "--format", "github", "tokens", "--expiring-within", "30d", env=env
    )
    assert due.returncode == 1, due.stdout + due.stderr
    assert "::warning title=token_expiring::recipient acme: token" in due.stdout
    report = cli(sharing_service.url, "--json", "tokens", "--expiring-within", "P30D", env=env)
    assert [i["recipient"] for i in json.loads(report.stdout)["items"]] == ["acme"]

    bad = cli(sharing_service.url, "tokens", "--expiring-within", "soon", env=env)
    assert bad.returncode == 1
    assert "expiring_within" in bad.stdout


def test_access_lists_who_reads_what_writes_csv_and_guards_a_table_in_ci(
    sharing_service: LiveServer, emu: Any, emu_client: Any, tmp_path: Path
) -> None:
    share_table_by_hand(emu_client, "cli_access", "main.sales.orders", "acme")
    env = {"DELTASHARE_WORKSPACE_URL": str(emu.url)}
    target = tmp_path / "access.csv"

    emu.reset_stats()
    listed = cli(sharing_service.url, "access", "-o", str(target), env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "acme <- cli_access: main.sales.orders (table" in listed.stdout
    assert "1 entry, 1 recipient" in listed.stdout
    # One answer, read once: the file is the CSV of the view printed, not of a second request.
    assert emu.count("shares.list_shares") == 1
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("recipient,share,object,type,shared_as,via")
    assert lines[1].startswith("acme,cli_access,main.sales.orders,TABLE,")
    served = httpx.get(
        f"{sharing_service.url}/access",
        params={"format": "csv"},
        headers={WORKSPACE_HEADER: str(emu.url)},
        timeout=30,
    )
    assert served.status_code == 200, served.text
    assert target.read_bytes() == served.content  # byte for byte what `format=csv` serves

    # The CI guard: nobody may read the table; acme can, so the step fails and says who and how.
    guard = cli(
        sharing_service.url,
        "--format",
        "github",
        "access",
        "--object",
        "main.sales.orders",
        "--fail-if-any",
        env=env,
    )
    assert guard.returncode == 1, guard.stdout + guard.stderr
    assert (
        "::error title=access_found::recipient acme can read main.sales.orders through share "
        "cli_access" in guard.stdout
    )
    untouched = cli(
        sharing_service.url, "access", "--object", "main.hr.salaries", "--fail-if-any", env=env
    )
    assert untouched.returncode == 0, untouched.stdout + untouched.stderr
    assert "0 entries, 0 recipients" in untouched.stdout

    as_json = cli(sharing_service.url, "--json", "access", "--recipient", "acme", env=env)
    assert [e["share"] for e in json.loads(as_json.stdout)["entries"]] == ["cli_access"]
    unknown = cli(sharing_service.url, "access", "--recipient", "nobody", env=env)
    assert unknown.returncode == 1
    assert "recipient_not_found" in unknown.stdout
    # History needs the workflow database, which this service runs without.
    past = cli(sharing_service.url, "access", "--as-of", "2026-01-01T00:00:00Z", env=env)
    assert past.returncode == 1
    assert "history_unavailable" in past.stdout


def test_export_writes_yaml_and_excel_packs_with_their_warnings(
    workflow_service: LiveServer, emu: Any, emu_client: Any, tmp_path: Path
) -> None:
    from databricks.sdk.service.sharing import AuthenticationType

    # A name no other test of this module records: the module's packs stay recorded in its database, and an
    # export of a share a pack manages says so (`export_managed_by_pack`).
    emu_client.shares.create("cli_export_share", comment="made by hand")
    emu_client.recipients.create(
        "cli_token", AuthenticationType.TOKEN, expiration_time=emu.now_ms() + 86_400_000
    )
    env = {"DELTASHARE_WORKSPACE_URL": str(emu.url)}
    target = tmp_path / "pack.yaml"

    result = cli(
        workflow_service.url,
        "export",
        "--share",
        "cli_export_share",
        "--recipient",
        "cli_token",
        "-o",
        str(target),
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = target.read_text(encoding="utf-8")
    assert "name: cli_export_share" in text
    assert "name: cli_token" in text
    assert "FILL-ME" in text
    assert "warning export_expiry_unmanaged: recipient[0]:" in result.stdout
    assert f"export: wrote {target} (1 warning); replace every FILL-ME" in result.stdout, (
        result.stdout
    )

    workbook = tmp_path / "pack.xlsx"
    excel = cli(
        workflow_service.url, "export", "--share", "cli_export_share", "-o", str(workbook), env=env
    )
    assert excel.returncode == 0, excel.stdout + excel.stderr
    assert workbook.read_bytes()[:2] == b"PK"

    nothing = cli(workflow_service.url, "export", "-o", str(target), env=env)
    assert nothing.returncode == 2
