"""The commands against a scripted API: what they call, what they print, and their exit codes (docs/API.md §14.4)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from fixtures.cli import (
    HISTORY_PATH,
    PACK_ID,
    PLAN_PATH,
    STATUS_PATH,
    UPLOAD_PATH,
    FakeApi,
    cron_issue,
    group_warning,
    history_body,
    json_response,
    pack_file,
    problem,
    run_cli,
    status_doc,
    upload_body,
)


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    return pack_file(tmp_path)


def offline_body(
    *,
    errors: list[dict[str, object]] | None = None,
    warnings: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    return {
        "valid": not errors,
        "pack": {
            "pack_key": "retail analytics/sales-insights/jane.doe@example.com",
            "strategy": "UPDATE",
            "workspace_url": "https://adb-1.1.azuredatabricks.net",
        },
        "errors": errors or [],
        "warnings": warnings or [],
    }


# ------------------------------------------------------------------------------------------ validate


def test_validate_sends_the_file_to_offline_plan_and_exits_0(pack: Path) -> None:
    api = FakeApi().on(
        "POST", PLAN_PATH, json_response(200, offline_body(warnings=[group_warning()]))
    )
    run = run_cli(["validate", str(pack)], api)
    assert run.exit_code == 0
    request = api.requests[0]
    assert request.url.params["offline"] == "true"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="file"; filename="sharepack.yaml"' in request.content
    assert b"metadata: {}" in request.content
    assert f"{pack}:70:11: warning notification_group_not_delivered:" in run.stdout
    assert run.stdout.rstrip().endswith(f"{pack}: valid (1 warning)")


def test_validate_lists_every_located_error_with_hint_and_exits_1(pack: Path) -> None:
    excel_issue = {
        "type": "unknown_share_reference",
        "severity": "error",
        "loc": "share_name",
        "sheet": "pipelines",
        "row": 2,
        "column": "share_name",
        "cell": "A2",
        "msg": "no share named sales_shar",
        "hint": "sales_share",
    }
    api = FakeApi().on(
        "POST",
        PLAN_PATH,
        problem(
            422,
            "sharepack_invalid",
            "The share pack is invalid.",
            errors=[cron_issue(), excel_issue],
            warnings=[group_warning()],
        ),
    )
    run = run_cli(["validate", str(pack)], api)
    assert run.exit_code == 1
    assert (
        f"{pack}:68:17: error cron_not_quartz: share[0].pipelines[0].schedule.cron: "
        '"0 2 * * *" is a 5-field Unix cron'
    ) in run.stdout
    assert "    hint: 0 0 2 * * ?" in run.stdout
    assert (
        f"{pack}[pipelines!A2]: error unknown_share_reference: share_name: no share named sales_shar"
        in run.stdout
    )
    assert run.stdout.rstrip().endswith(f"{pack}: invalid (sharepack_invalid): 2 errors, 1 warning")


def test_validate_strict_fails_on_warnings(pack: Path) -> None:
    api = FakeApi().on(
        "POST", PLAN_PATH, json_response(200, offline_body(warnings=[group_warning()]))
    )
    assert run_cli(["validate", str(pack), "--strict"], api).exit_code == 1
    clean = FakeApi().on("POST", PLAN_PATH, json_response(200, offline_body()))
    assert run_cli(["validate", str(pack), "--strict"], clean).exit_code == 0


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            problem(
                413,
                "file_too_large",
                errors=[
                    {"type": "file_too_large", "severity": "error", "loc": "file", "msg": "too big"}
                ],
            ),
            1,
        ),
        (
            problem(
                415,
                "xls_not_supported",
                errors=[
                    {
                        "type": "xls_not_supported",
                        "severity": "error",
                        "loc": "file",
                        "msg": "save the workbook as .xlsx",
                    }
                ],
            ),
            1,
        ),
        (
            problem(
                422, "workspace_mismatch", "X-Workspace-URL differs from metadata.workspace_url"
            ),
            1,
        ),
        (problem(401, "auth_missing", "A bearer token is required."), 3),
        (problem(403, "workspace_not_allowed"), 3),
        (problem(404, "workflow_disabled", "The share-pack workflow is disabled."), 3),
        (problem(500, "internal_error"), 3),
        (
            httpx.Response(
                200, text="<html>proxy page</html>", headers={"content-type": "text/html"}
            ),
            3,
        ),
    ],
)
def test_validate_exit_code_per_response(pack: Path, reply: httpx.Response, expected: int) -> None:
    api = FakeApi().on("POST", PLAN_PATH, reply)
    run = run_cli(["validate", str(pack)], api)
    assert run.exit_code == expected
    assert api.calls("POST", PLAN_PATH) == 1  # none of these is retried


def test_unauthenticated_hint_names_the_variables(pack: Path) -> None:
    api = FakeApi().on(
        "POST", PLAN_PATH, problem(401, "auth_missing", "A bearer token is required.")
    )
    run = run_cli(["validate", str(pack)], api)
    assert (
        "Auth missing (401 auth_missing): A bearer token is required. [request id req-1234]"
        in run.stderr
    )
    assert "DELTASHARE_TOKEN" in run.stderr


def test_missing_file_is_a_usage_error_without_any_request(tmp_path: Path) -> None:
    api = FakeApi()
    run = run_cli(["validate", str(tmp_path / "nope.yaml")], api)
    assert run.exit_code == 2
    assert "file not found" in run.stderr
    assert api.requests == []
    directory = run_cli(["plan", str(tmp_path)], api)
    assert directory.exit_code == 2
    assert "not a regular file" in directory.stderr


# ------------------------------------------------------------------------------------------ plan


PLAN_BODY = {
    "valid": True,
    "pack": {
        "pack_key": "k",
        "share_pack_id": PACK_ID,
        "workspace_url": "https://adb-1.1.azuredatabricks.net",
        "strategy": "UPDATE",
        "record_hash": "9b1f",
        "current_version": 2,
        "would_create_version": True,
        "would_queue": True,
    },
    "errors": [],
    "warnings": [],
    "summary": {
        "create": 1,
        "update": 2,
        "delete": 1,
        "no_op": 1,
        "rotate_token": 1,
        "mutating_calls": 7,
    },
    "changes": [
        {
            "seq": 1,
            "action": "create",
            "resource_type": "recipient",
            "name": "acme_external",
            "after": {"type": "D2O", "ip_access_list": ["198.51.100.7"]},
            "calls": 1,
        },
        {
            "seq": 2,
            "action": "update",
            "resource_type": "recipient",
            "name": "partner_analytics",
            "diff": {"comment": {"from": "Partner metastore", "to": "Partner analytics metastore"}},
            "calls": 1,
        },
        {
            "seq": 5,
            "action": "update",
            "resource_type": "share_objects",
            "name": "sales_share",
            "diff": {
                "add": ["sales_catalog.curated.sales_by_region_v"],
                "remove": ["sales_catalog.old.t"],
                "update": [
                    {
                        "name": "sales_catalog.curated.daily_sales",
                        "fields": {
                            "history_data_sharing_status": {"from": "DISABLED", "to": "ENABLED"}
                        },
                    }
                ],
            },
            "calls": 1,
        },
        {
            "seq": 7,
            "action": "rotate_token",
            "resource_type": "recipient",
            "name": "acme_external",
            "calls": 1,
        },
        {
            "seq": 9,
            "action": "delete",
            "resource_type": "pipeline",
            "name": "finance_old_ledger_pl",
            "reason": "source asset removed from finance_share",
            "destructive": True,
            "drops_tables": ["sharing_catalog.finance_ext.old_ledger"],
            "calls": 2,
        },
        {
            "seq": 10,
            "action": "no_op",
            "resource_type": "schedule",
            "name": "sales_daily_sales_pl_schedule",
        },
    ],
    "checked_at": "2026-03-02T06:58:10.400Z",
}


def test_plan_prints_terraform_style_changes_and_summary(pack: Path) -> None:
    api = FakeApi().on("POST", PLAN_PATH, json_response(200, PLAN_BODY))
    run = run_cli(["plan", str(pack)], api)
    assert run.exit_code == 0
    assert api.requests[0].url.params["offline"] == "false"
    lines = run.stdout.splitlines()
    assert "  + recipient acme_external" in lines
    assert '      ip_access_list: ["198.51.100.7"]' in lines
    assert "  ~ recipient partner_analytics" in lines
    assert '      comment: "Partner metastore" -> "Partner analytics metastore"' in lines
    assert "      + sales_catalog.curated.sales_by_region_v" in lines
    assert "      - sales_catalog.old.t" in lines
    assert "      ~ sales_catalog.curated.daily_sales" in lines
    assert '          history_data_sharing_status: "DISABLED" -> "ENABLED"' in lines
    assert "  ↻ recipient acme_external (rotate_token)" in lines
    assert (
        "  - pipeline finance_old_ledger_pl  [destructive: drops sharing_catalog.finance_ext.old_ledger]"
        in lines
    )
    assert not any(
        "sales_daily_sales_pl_schedule" in line for line in lines
    )  # no-ops are not listed
    assert "Plan: 1 to create, 2 to update, 1 to delete (7 mutating calls)." in lines


def test_plan_says_when_the_changes_need_an_approver(pack: Path) -> None:
    body = {
        **PLAN_BODY,
        "approval": {
            "required": True,
            "policy": "destructive",
            "plan_digest": "sha256:" + "b" * 64,
            "destructive_changes": ["create open-sharing recipient acme_external"],
        },
    }
    run = run_cli(["plan", str(pack)], FakeApi().on("POST", PLAN_PATH, json_response(200, body)))
    assert run.exit_code == 0
    assert f"Needs an approver (policy destructive, plan sha256:{'b' * 64}):" in run.stdout
    assert "  needs approval: create open-sharing recipient acme_external" in run.stdout
    quiet = run_cli(
        ["plan", str(pack)], FakeApi().on("POST", PLAN_PATH, json_response(200, PLAN_BODY))
    )
    assert "Needs an approver" not in quiet.stdout


def test_plan_with_failed_live_checks_exits_1(pack: Path) -> None:
    live_error = {
        "type": "table_not_found",
        "severity": "error",
        "loc": "share[0].share_assets[0]",
        "line": 41,
        "column": 11,
        "msg": "sales_catalog.curated.daily_sales does not exist",
    }
    body = {
        **PLAN_BODY,
        "valid": False,
        "errors": [live_error],
        "changes": [],
        "summary": {
            "create": 0,
            "update": 0,
            "delete": 0,
            "no_op": 0,
            "rotate_token": 0,
            "mutating_calls": 0,
        },
    }
    run = run_cli(["plan", str(pack)], FakeApi().on("POST", PLAN_PATH, json_response(200, body)))
    assert run.exit_code == 1
    assert f"{pack}:41:11: error table_not_found:" in run.stdout
    assert "live checks failed: 1 error, 0 warnings" in run.stdout


def test_plan_with_nothing_to_do(pack: Path) -> None:
    body = {
        **PLAN_BODY,
        "changes": [PLAN_BODY["changes"][-1]],  # type: ignore[index]
        "summary": {
            "create": 0,
            "update": 0,
            "delete": 0,
            "no_op": 1,
            "rotate_token": 0,
            "mutating_calls": 0,
        },
    }
    run = run_cli(["plan", str(pack)], FakeApi().on("POST", PLAN_PATH, json_response(200, body)))
    assert run.exit_code == 0
    assert "No changes: the workspace already matches the pack." in run.stdout
    assert "Plan: 0 to create, 0 to update, 0 to delete (0 mutating calls)." in run.stdout


def test_plan_is_retried_on_503_honouring_retry_after(pack: Path) -> None:
    api = FakeApi().on(
        "POST",
        PLAN_PATH,
        problem(503, "upstream_unavailable", headers={"retry-after": "7"}),
        httpx.ConnectError("connection reset"),
        json_response(200, PLAN_BODY),
    )
    run = run_cli(["plan", str(pack)], api)
    assert run.exit_code == 0
    assert api.calls("POST", PLAN_PATH) == 3
    assert run.clock.sleeps == [7.0, 2.0]  # Retry-After, then the second backoff step
    assert "retrying in 7s" in run.stderr


def test_plan_gives_up_after_three_retries(pack: Path) -> None:
    api = FakeApi().on("POST", PLAN_PATH, problem(502, "upstream_error"))
    run = run_cli(["plan", str(pack)], api)
    assert run.exit_code == 3
    assert api.calls("POST", PLAN_PATH) == 4
    assert run.clock.sleeps == [1.0, 2.0, 4.0]


# ------------------------------------------------------------------------------------------ apply


def test_apply_uploads_once_and_follows_until_completed(pack: Path) -> None:
    api = (
        FakeApi()
        .on("POST", UPLOAD_PATH, json_response(202, upload_body()))
        .on(
            "GET",
            STATUS_PATH,
            json_response(200, status_doc("QUEUED")),
            json_response(
                200,
                status_doc(
                    "IN_PROGRESS",
                    detail="step 1 of 4: recipient:acme_external",
                    steps={"total": 4, "succeeded": 0, "noop": 0, "failed": 0, "skipped": 0},
                ),
            ),
            json_response(
                200,
                status_doc(
                    "IN_PROGRESS",
                    detail="step 3 of 4: share_objects:sales_share",
                    steps={"total": 4, "succeeded": 2, "noop": 0, "failed": 0, "skipped": 0},
                ),
            ),
            json_response(
                200,
                status_doc(
                    "COMPLETED",
                    detail="4 steps: 3 succeeded, 1 no-op",
                    steps={"total": 4, "succeeded": 3, "noop": 1, "failed": 0, "skipped": 0},
                ),
            ),
        )
    )
    run = run_cli(["apply", str(pack), "--poll-interval", "2"], api)
    assert run.exit_code == 0
    assert api.calls("POST", UPLOAD_PATH) == 1
    assert api.calls("GET", STATUS_PATH) == 4
    assert run.clock.sleeps == [2.0, 2.0, 2.0]
    assert (
        f"share pack {PACK_ID} version 1: QUEUED (new version; created_version=true, rerun=false"
        in run.stdout
    )
    # progress: one plain line per change, on stderr (not a terminal here)
    progress = [line for line in run.stderr.splitlines() if line.startswith("[")]
    assert [line.split("] ", 1)[1].split("  ")[0] for line in progress] == [
        "QUEUED",
        "IN_PROGRESS",
        "IN_PROGRESS",
        "COMPLETED",
    ]
    assert "step 3 of 4: share_objects:sales_share" in progress[2]
    assert run.stdout.rstrip().endswith(f"share pack {PACK_ID} version 1: COMPLETED")


@pytest.mark.parametrize("final", ["FAILED", "REJECTED", "SUPERSEDED", "PENDING_APPROVAL"])
def test_apply_exits_1_when_the_version_is_not_provisioned(pack: Path, final: str) -> None:
    error = (
        {"code": "cdf_not_enabled", "message": "enable change data feed", "step": "pipeline:x"}
        if final == "FAILED"
        else None
    )
    api = (
        FakeApi()
        .on("POST", UPLOAD_PATH, json_response(202, upload_body()))
        .on("GET", STATUS_PATH, json_response(200, status_doc(final, error=error)))
    )
    run = run_cli(["apply", str(pack)], api)
    assert run.exit_code == 1
    assert run.stdout.rstrip().endswith(f"version 1: {final}")
    if final == "FAILED":
        assert "cdf_not_enabled at step pipeline:x: enable change data feed" in run.stdout


def test_apply_pending_approval_at_upload_does_not_poll(pack: Path) -> None:
    api = FakeApi().on("POST", UPLOAD_PATH, json_response(202, upload_body("PENDING_APPROVAL")))
    run = run_cli(["apply", str(pack)], api)
    assert run.exit_code == 1
    assert api.calls("GET", STATUS_PATH) == 0


def test_apply_no_wait_returns_0_once_accepted(pack: Path) -> None:
    api = FakeApi().on("POST", UPLOAD_PATH, json_response(202, upload_body()))
    run = run_cli(["apply", str(pack), "--no-wait", "--json"], api)
    assert run.exit_code == 0
    assert api.calls("GET", STATUS_PATH) == 0
    assert run.json() == upload_body()


def test_apply_times_out_with_exit_1_and_the_last_status(pack: Path) -> None:
    api = (
        FakeApi()
        .on("POST", UPLOAD_PATH, json_response(202, upload_body()))
        .on("GET", STATUS_PATH, json_response(200, status_doc("IN_PROGRESS", detail="step 2 of 4")))
    )
    run = run_cli(["apply", str(pack), "--timeout", "12", "--poll-interval", "5", "--json"], api)
    assert run.exit_code == 1
    assert run.clock.sleeps == [5.0, 5.0, 2.0]  # never sleeps past the deadline
    assert run.json()["status"] == "IN_PROGRESS"  # JSON: the last status object


def test_apply_honours_retry_after_on_status_reads(pack: Path) -> None:
    api = (
        FakeApi()
        .on("POST", UPLOAD_PATH, json_response(202, upload_body()))
        .on(
            "GET",
            STATUS_PATH,
            json_response(200, status_doc("QUEUED"), headers={"retry-after": "9"}),
            json_response(200, status_doc("COMPLETED")),
        )
    )
    run = run_cli(["apply", str(pack), "--poll-interval", "1"], api)
    assert run.exit_code == 0
    assert run.clock.sleeps == [9.0]


@pytest.mark.parametrize(
    "failure",
    [problem(503, "database_unavailable"), httpx.ConnectError("connection refused")],
    ids=["503", "connection-error"],
)
def test_apply_upload_is_never_retried(pack: Path, failure: httpx.Response | Exception) -> None:
    api = FakeApi().on("POST", UPLOAD_PATH, failure)
    run = run_cli(["apply", str(pack)], api)
    assert run.exit_code == 3
    assert api.calls("POST", UPLOAD_PATH) == 1
    assert run.clock.sleeps == []


def test_apply_of_an_invalid_pack_exits_1_with_issues(pack: Path) -> None:
    api = FakeApi().on(
        "POST", UPLOAD_PATH, problem(422, "sharepack_invalid", errors=[cron_issue()], warnings=[])
    )
    run = run_cli(["apply", str(pack)], api)
    assert run.exit_code == 1
    assert f"{pack}:68:17: error cron_not_quartz" in run.stdout


def test_apply_notices_a_newer_version_and_reports_its_own_outcome(pack: Path) -> None:
    api = (
        FakeApi()
        .on("POST", UPLOAD_PATH, json_response(202, upload_body(version=1)))
        .on("GET", STATUS_PATH, json_response(200, status_doc("QUEUED", version=2)))
        .on(
            "GET",
            HISTORY_PATH,
            json_response(
                200,
                history_body(
                    (1, ["RECEIVED", "VALIDATED", "QUEUED", "SUPERSEDED"]),
                    (2, ["RECEIVED", "VALIDATED", "QUEUED"]),
                ),
            ),
        )
    )
    run = run_cli(["apply", str(pack)], api)
    assert run.exit_code == 1
    assert run.stdout.rstrip().endswith(f"share pack {PACK_ID} version 1: SUPERSEDED")


def test_apply_rerun_of_identical_content_is_followed(pack: Path) -> None:
    api = (
        FakeApi()
        .on(
            "POST",
            UPLOAD_PATH,
            json_response(202, upload_body(version=3, created=False, rerun=True)),
        )
        .on("GET", STATUS_PATH, json_response(200, status_doc("COMPLETED", version=3)))
    )
    run = run_cli(["apply", str(pack)], api)
    assert run.exit_code == 0
    assert "(unchanged, re-run; created_version=false, rerun=true" in run.stdout


def test_apply_progress_redraws_in_place_on_a_terminal(pack: Path) -> None:
    api = (
        FakeApi()
        .on("POST", UPLOAD_PATH, json_response(202, upload_body()))
        .on(
            "GET",
            STATUS_PATH,
            json_response(200, status_doc("IN_PROGRESS")),
            json_response(200, status_doc("COMPLETED")),
        )
    )
    run = run_cli(["apply", str(pack), "--poll-interval", "1"], api, stderr_terminal=True)
    assert run.exit_code == 0
    assert "\r\x1b[2K" in run.stderr  # the live line is redrawn
    assert run.clock.sleeps == pytest.approx(
        [0.1] * 10
    )  # the one-second wait is sliced so the spinner moves


# ------------------------------------------------------------------------------------------ status and history


def test_status_prints_the_status_object(pack: Path) -> None:
    doc = status_doc(
        "IN_PROGRESS",
        detail="step 5 of 11: share_objects:sales_share",
        steps={"total": 11, "succeeded": 3, "noop": 1, "failed": 0, "skipped": 0},
    )
    run = run_cli(["status", PACK_ID], FakeApi().on("GET", STATUS_PATH, json_response(200, doc)))
    assert run.exit_code == 0
    assert "detail        step 5 of 11: share_objects:sales_share" in run.stdout
    assert "4 of 11 steps done (3 succeeded, 1 no-op, 0 failed, 0 skipped)" in run.stdout
    assert run.stdout.rstrip().endswith(f"share pack {PACK_ID}: IN_PROGRESS")


def test_status_of_an_unknown_id_exits_1_but_a_disabled_workflow_exits_3() -> None:
    missing = run_cli(
        ["status", PACK_ID], FakeApi().on("GET", STATUS_PATH, problem(404, "sharepack_not_found"))
    )
    assert missing.exit_code == 1
    assert f"share pack {PACK_ID}: not found" in missing.stdout
    disabled = run_cli(
        ["status", PACK_ID], FakeApi().on("GET", STATUS_PATH, problem(404, "workflow_disabled"))
    )
    assert disabled.exit_code == 3


def test_status_id_must_be_a_uuid() -> None:
    api = FakeApi()
    run = run_cli(["status", "../shares"], api)
    assert run.exit_code == 2
    assert "a UUID" in run.stderr
    assert api.requests == []


def test_status_wait_follows_the_current_version() -> None:
    api = FakeApi().on(
        "GET",
        STATUS_PATH,
        json_response(200, status_doc("QUEUED")),
        json_response(200, status_doc("FAILED", error={"code": "x", "message": "y", "step": None})),
    )
    run = run_cli(["status", PACK_ID, "--wait", "--poll-interval", "3"], api)
    assert run.exit_code == 1
    assert run.clock.sleeps == [3.0]
    completed = FakeApi().on("GET", STATUS_PATH, json_response(200, status_doc("COMPLETED")))
    assert run_cli(["status", PACK_ID, "--wait"], completed).exit_code == 0


def test_status_read_is_retried_on_connection_errors() -> None:
    api = FakeApi().on(
        "GET",
        STATUS_PATH,
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        json_response(200, status_doc("COMPLETED")),
    )
    run = run_cli(["status", PACK_ID], api)
    assert run.exit_code == 0
    assert run.clock.sleeps == [1.0, 2.0]


def test_history_prints_versions_transitions_runs_and_steps() -> None:
    body = history_body((1, ["RECEIVED", "VALIDATED", "QUEUED", "IN_PROGRESS", "COMPLETED"]))
    run = run_cli(["history", PACK_ID], FakeApi().on("GET", HISTORY_PATH, json_response(200, body)))
    assert run.exit_code == 0
    assert "version 1 (current)  NEW, approved" in run.stdout
    assert "IN_PROGRESS -> COMPLETED by 8c1e" in run.stdout
    assert (
        "run 0a7e attempt 1 on host-a:4121:2: COMPLETED, 14 reads, 9 mutating calls" in run.stdout
    )
    assert "    1. create recipient acme_external: SUCCEEDED" in run.stdout
    assert run.stdout.rstrip().endswith(
        f"share pack {PACK_ID}: 1 version, current version 1: COMPLETED"
    )
    missing = run_cli(
        ["history", PACK_ID], FakeApi().on("GET", HISTORY_PATH, problem(404, "sharepack_not_found"))
    )
    assert missing.exit_code == 1


# ------------------------------------------------------------------------------------------ output formats


def test_json_output_is_exactly_one_document_even_on_failure(pack: Path) -> None:
    invalid = run_cli(
        ["--json", "validate", str(pack)],
        FakeApi().on("POST", PLAN_PATH, problem(422, "sharepack_invalid", errors=[cron_issue()])),
    )
    assert invalid.json()["code"] == "sharepack_invalid"
    network = run_cli(
        ["validate", str(pack), "--json"],
        FakeApi().on("POST", PLAN_PATH, httpx.ConnectError("refused")),
    )
    assert network.exit_code == 3
    assert network.json()["error"] == "network"
    usage = run_cli(["--json", "frobnicate"])
    assert usage.exit_code == 2
    assert usage.json()["error"] == "usage"
    html = run_cli(
        ["--json", "status", PACK_ID],
        FakeApi().on("GET", STATUS_PATH, httpx.Response(502, text="Bad gateway")),
    )
    assert html.json() == {
        "error": "unexpected_response",
        "status": 502,
        "detail": "unexpected response 502: Bad gateway",
    }


def test_github_format_emits_one_annotation_per_issue(pack: Path) -> None:
    issue = cron_issue(msg="bad, really: 50%\nsecond line")
    api = FakeApi().on(
        "POST",
        PLAN_PATH,
        problem(422, "sharepack_invalid", errors=[issue], warnings=[group_warning()]),
    )
    run = run_cli(["validate", str(pack), "--format", "github"], api)
    assert run.exit_code == 1
    annotations = [line for line in run.stdout.splitlines() if line.startswith("::")]
    assert annotations == [
        f"::error file={pack},line=68,col=17,title=cron_not_quartz::share[0].pipelines[0].schedule.cron: "
        "bad, really: 50%25%0Asecond line (hint: 0 0 2 * * ?)",
        f"::warning file={pack},line=70,col=11,title=notification_group_not_delivered::"
        "share[0].pipelines[0].notification[1]: data-platform-admins looks like a group; pipeline notifications "
        "go to e-mail addresses only.",
    ]
    assert f"{pack}:68:17: error cron_not_quartz" in run.stdout  # text output is kept


def test_quiet_keeps_errors_and_the_final_line(pack: Path) -> None:
    api = FakeApi().on(
        "POST",
        PLAN_PATH,
        problem(422, "sharepack_invalid", errors=[cron_issue()], warnings=[group_warning()]),
    )
    run = run_cli(["--quiet", "validate", str(pack)], api)
    lines = run.stdout.splitlines()
    assert lines == [
        f'{pack}:68:17: error cron_not_quartz: share[0].pipelines[0].schedule.cron: "0 2 * * *" is a 5-field '
        "Unix cron; Databricks schedules use Quartz.",
        "    hint: 0 0 2 * * ?",
        f"{pack}: invalid (sharepack_invalid): 1 error, 1 warning",
    ]


def test_workspace_url_and_token_headers_are_sent(pack: Path) -> None:
    api = FakeApi().on("POST", PLAN_PATH, json_response(200, offline_body()))
    run = run_cli(
        ["validate", str(pack), "--workspace-url", "https://adb-1.1.azuredatabricks.net"],
        api,
        env={"DELTASHARE_TOKEN": "tok-123"},
    )
    assert run.exit_code == 0
    headers = api.requests[0].headers
    assert headers["authorization"] == "Bearer tok-123"
    assert headers["x-workspace-url"] == "https://adb-1.1.azuredatabricks.net"
    assert headers["user-agent"].startswith("deltashare-cli/")


def test_tokens_never_reach_the_output(pack: Path) -> None:
    secret_token = "eyJhbGciOiJSUzI1NiJ9.secret-token-body.sig"
    for reply in (
        problem(401, "auth_invalid"),
        httpx.ConnectError("refused"),
        problem(500, "internal_error"),
    ):
        api = FakeApi().on("POST", PLAN_PATH, reply)
        for fmt in ("text", "json", "github"):
            run = run_cli(["validate", str(pack), "--format", fmt, "--token", secret_token], api)
            assert secret_token not in run.stdout + run.stderr


# ------------------------------------------------------------------------------------------ approve, decline

APPROVAL_PATH = f"/workflow/sharepack/{PACK_ID}/versions/2/approval"


def test_apply_held_for_approval_names_the_approvers_and_the_destructive_changes(
    pack: Path,
) -> None:
    held = status_doc("PENDING_APPROVAL")
    held["approval_plan"] = {
        "digest": "sha256:" + "a" * 64,
        "destructive_changes": ["create open-sharing recipient acme_external"],
        "changes": [],
    }
    api = (
        FakeApi()
        .on("POST", UPLOAD_PATH, json_response(202, upload_body()))
        .on("GET", STATUS_PATH, json_response(200, held))
    )
    run = run_cli(["apply", str(pack)], api)
    assert run.exit_code == 1
    assert "waiting for approval by john@example.com (not the uploader)" in run.stdout
    assert "needs approval: create open-sharing recipient acme_external" in run.stdout
    assert f"deltashare approve {PACK_ID} --version 1" in run.stdout


@pytest.mark.parametrize("command", ["approve", "decline"])
def test_a_decision_posts_once_and_reports_the_new_status(command: str) -> None:
    status = "QUEUED" if command == "approve" else "REJECTED"
    body = {
        "share_pack_id": PACK_ID,
        "version": 2,
        "decision": command,
        "status": status,
        "decided_by": {"id": "c", "name": "john@example.com"},
        "decided_at": "2026-03-02T07:00:03.511Z",
        "approved_changes": ["remove acme from share_grants sales_share"]
        if command == "approve"
        else [],
    }
    api = FakeApi().on("POST", APPROVAL_PATH, json_response(200, body))
    run = run_cli([command, PACK_ID, "--version", "2", "--comment", "checked with legal"], api)
    assert run.exit_code == 0
    assert api.calls("POST", APPROVAL_PATH) == 1
    sent = api.requests[0]
    assert sent.headers["content-type"] == "application/json"
    assert b'"decision":"' + command.encode() + b'"' in sent.content.replace(b" ", b"")
    assert b"checked with legal" in sent.content
    assert run.stdout.rstrip().endswith(f"share pack {PACK_ID} version 2: {command}d, now {status}")


def test_self_approval_is_reported_and_exits_1_without_retry() -> None:
    api = FakeApi().on(
        "POST",
        APPROVAL_PATH,
        problem(403, "self_approval", "The uploader of a version cannot approve it"),
    )
    run = run_cli(["approve", PACK_ID, "--version", "2"], api)
    assert run.exit_code == 1
    assert api.calls("POST", APPROVAL_PATH) == 1
    assert "self_approval" in run.stdout


def test_a_decision_needs_a_version_number() -> None:
    run = run_cli(["approve", PACK_ID], FakeApi())
    assert run.exit_code == 2


# ------------------------------------------------------------------------------------------ validate --offline

SAMPLE_PACK = (
    Path(__file__).resolve().parents[2] / "integration" / "cli" / "data" / "sharepack.yaml"
)


def test_validate_offline_needs_no_server_url_or_token(tmp_path: Path) -> None:
    pack = tmp_path / "sharepack.yaml"
    pack.write_text(SAMPLE_PACK.read_text(encoding="utf-8"), encoding="utf-8")
    api = FakeApi()
    # No DELTASHARE_API_URL, no token variables: nothing to reach, nothing to sign in to.
    run = run_cli(["validate", "--offline", str(pack)], api, env={"DELTASHARE_API_URL": ""})
    assert run.exit_code == 0, run.stdout + run.stderr
    assert api.requests == []
    assert (
        "warning notification_group_not_delivered: share[0].pipelines[0].notification[1]"
        in run.stdout
    )
    assert run.stdout.rstrip().endswith(f"{pack}: valid (1 warning)")


def test_validate_offline_reports_located_errors_like_the_server(tmp_path: Path) -> None:
    pack = tmp_path / "sharepack.yaml"
    text = SAMPLE_PACK.read_text(encoding="utf-8").replace(
        'cron: "0 0 2 * * ?"', 'cron: "0 2 * * *"'
    )
    pack.write_text(text, encoding="utf-8")
    api = FakeApi()
    run = run_cli(["validate", "--offline", str(pack)], api, env={"DELTASHARE_API_URL": ""})
    assert run.exit_code == 1
    assert api.requests == []
    assert (
        f"{pack}:68:17: error cron_not_quartz: share[0].pipelines[0].schedule.cron:" in run.stdout
    )
    assert "hint: 0 0 2 * * ?" in run.stdout


def test_validate_without_offline_still_needs_the_api_url(tmp_path: Path) -> None:
    run = run_cli(["validate", str(pack_file(tmp_path))], env={"DELTASHARE_API_URL": ""})
    assert run.exit_code == 2
