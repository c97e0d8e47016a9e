"""The five commands of `deltashare` (docs/API.md §14.3) and how their outcomes become exit codes (docs/API.md §14.4)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dbrx_api.cli.client import ApiClient, ApiResponse, PackFile
from dbrx_api.cli.errors import ExitCode, UsageError
from dbrx_api.cli.options import Options, safe_url
from dbrx_api.cli.output import (
    Console,
    count,
    issues_of,
    member,
    objects,
    plan_summary,
    print_history,
    print_issues,
    print_plan_changes,
    print_status,
    rotation_line,
    version_status_in_history,
)
from dbrx_api.cli.progress import Progress
from dbrx_api.schemas.access import AccessView, access_csv

INVALID_PACK_STATUSES = frozenset({413, 415, 422})
FINAL_STATUSES = frozenset(
    {"COMPLETED", "FAILED", "REJECTED", "SUPERSEDED", "PENDING_APPROVAL", "WITHDRAWN"}
)
NOT_PROVISIONED = frozenset({"FAILED", "REJECTED", "SUPERSEDED", "PENDING_APPROVAL", "WITHDRAWN"})
TICK_S = 0.1  # redraw period of the terminal progress line


@dataclass
class Runtime:
    """What a command works with: its options, the console, the API client, and time (replaced in tests)."""

    options: Options
    console: Console
    client: ApiClient
    progress: Progress
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    terminal: bool = False


class UnexpectedResponse(Exception):
    """The API answered something the command cannot use (exit 3 unless the command says otherwise)."""

    def __init__(self, response: ApiResponse) -> None:
        super().__init__(response.status)
        self.response = response


# ------------------------------------------------------------------------------------------ reporting


def _problem_summary(response: ApiResponse) -> str:
    body = response.json_object
    if body is not None and response.code:
        title = body.get("title") or response.code
        text = f"{title} ({response.status} {response.code})"
        if body.get("detail"):
            text += f": {body['detail']}"
        if body.get("request_id"):
            text += f" [request id {body['request_id']}]"
        return text
    snippet = " ".join(response.text.split())[:200]
    return f"unexpected response {response.status}" + (
        f": {snippet}" if snippet else " (no JSON body)"
    )


def _hint_for(response: ApiResponse) -> str | None:
    if response.status == 401:
        return (
            "hint: set DELTASHARE_TOKEN (or DELTASHARE_TENANT_ID, DELTASHARE_CLIENT_ID, "
            "DELTASHARE_CLIENT_SECRET and DELTASHARE_SCOPE) to a token the service accepts"
        )
    if response.code == "not_found":
        return "hint: check --api-url (it must include the service's api_prefix)"
    if response.code == "role_missing":
        return "hint: the token lacks the DeltaShare role this command needs"
    return None


def report_unexpected(rt: Runtime, response: ApiResponse) -> ExitCode:
    """Report a response that is neither success nor an invalid pack: exit 3 (docs/API.md §14.4)."""
    console = rt.console
    summary = _problem_summary(response)
    console.problem(f"error: {summary}")
    hint = _hint_for(response)
    if hint:
        console.diagnostic(hint)
    console.annotate("error", summary, title="deltashare")
    console.document(
        response.body
        if response.body is not None
        else {"error": "unexpected_response", "status": response.status, "detail": summary}
    )
    return ExitCode.UPSTREAM


def report_not_found(rt: Runtime, response: ApiResponse, share_pack_id: str) -> ExitCode:
    """`status`/`history` of an unknown id: exit 1."""
    summary = _problem_summary(response)
    rt.console.problem(f"error: {summary}")
    rt.console.annotate("error", summary, title="sharepack_not_found")
    rt.console.final(f"share pack {share_pack_id}: not found")
    rt.console.document(response.body)
    return ExitCode.FAILED


def _is_not_found(response: ApiResponse) -> bool:
    return response.status == 404 and response.code == "sharepack_not_found"


def report_invalid_pack(rt: Runtime, response: ApiResponse, label: str) -> ExitCode:
    """A 413/415/422 problem for the pack: every issue with its position, exit 1."""
    body = response.json_object or {}
    errors, warnings = issues_of(body, "errors"), issues_of(body, "warnings")
    print_issues(rt.console, label, errors)
    print_issues(rt.console, label, warnings)
    if not errors:
        rt.console.error_line(
            rt.console.paint(f"{label}: error: {_problem_summary(response)}", "red")
        )
        rt.console.annotate(
            "error", _problem_summary(response), file=label, title=response.code or "invalid"
        )
    rt.console.final(
        f"{label}: invalid ({response.code or response.status}): {count(len(errors), 'error')}, "
        f"{count(len(warnings), 'warning')}"
    )
    rt.console.document(response.body)
    return ExitCode.FAILED


# ------------------------------------------------------------------------------------------ validate and plan


def _read_pack(rt: Runtime) -> tuple[PackFile, str]:
    path = rt.options.file
    if path is None:  # the parser makes FILE mandatory; this guards programming errors
        raise ValueError("no FILE given")
    return PackFile.read(path), str(path)


def run_validate(rt: Runtime) -> ExitCode:
    """`validate FILE [--strict] [--offline]`: offline validation, by the server
    (`POST /workflow/sharepack/plan?offline=true`) or, with `--offline`, in this process."""
    pack, label = _read_pack(rt)
    if not rt.options.offline:
        return _report_plan(rt, rt.client.plan(pack, offline=True), label, live=False)
    # Imported here: the loader brings the service's validation code, which no other command needs.
    from dbrx_api.cli.offline import validate_offline

    return _report_plan(rt, validate_offline(pack), label, live=False)


def run_plan(rt: Runtime) -> ExitCode:
    """`plan FILE`: validation plus live checks and the change list, through `POST /workflow/sharepack/plan`."""
    pack, label = _read_pack(rt)
    response = rt.client.plan(pack, offline=False)
    return _report_plan(rt, response, label, live=True)


def _report_plan(rt: Runtime, response: ApiResponse, label: str, *, live: bool) -> ExitCode:
    console = rt.console
    body = response.json_object
    if response.status in INVALID_PACK_STATUSES and response.code:
        return report_invalid_pack(rt, response, label)
    if response.status != 200 or body is None or not isinstance(body.get("valid"), bool):
        return report_unexpected(rt, response)
    errors, warnings = issues_of(body, "errors"), issues_of(body, "warnings")
    pack = member(body, "pack")
    if pack:
        console.detail(
            f"{label}: pack {pack.get('pack_key', '?')}, strategy {pack.get('strategy', '?')}, "
            f"workspace {pack.get('workspace_url', '?')}"
        )
    print_issues(console, label, errors)
    print_issues(console, label, warnings)
    valid = body["valid"] is True and not errors
    if live:
        changes = objects(body, "changes")
        printed = print_plan_changes(console, changes)
        if printed == 0 and valid:
            console.detail("No changes: the workspace already matches the pack.")
        for rotation in objects(body, "token_rotations"):
            console.detail(rotation_line(rotation))
        approval = member(body, "approval")
        if approval and approval.get("required"):
            console.detail(
                f"Needs an approver (policy {approval.get('policy', '?')}, "
                f"plan {approval.get('plan_digest', '?')}):"
            )
            for change in approval.get("destructive_changes") or []:
                console.detail(f"  needs approval: {change}")
        summary = member(body, "summary")
        console.final(plan_summary(summary))
    console.document(body)
    if not valid:
        what = "live checks failed" if live else "invalid"
        console.final(
            f"{label}: {what}: {count(len(errors), 'error')}, {count(len(warnings), 'warning')}"
        )
        return ExitCode.FAILED
    if rt.options.strict and warnings:
        console.final(f"{label}: valid, but --strict fails on {count(len(warnings), 'warning')}")
        return ExitCode.FAILED
    if not live:
        console.final(f"{label}: valid ({count(len(warnings), 'warning')})")
    return ExitCode.OK


# ------------------------------------------------------------------------------------------ following a pack


@dataclass(frozen=True)
class FollowResult:
    """Where following a share pack ended: the last status object, the followed version's status, timeout."""

    doc: dict[str, Any]
    status: str
    timed_out: bool


def _pause(rt: Runtime, seconds: float) -> None:
    """Sleep `seconds`, redrawing the terminal progress line meanwhile."""
    if not rt.terminal:
        rt.sleep(seconds)
        return
    end = rt.clock() + seconds
    while (remaining := end - rt.clock()) > 0:
        rt.sleep(min(TICK_S, remaining))
        rt.progress.tick()


def _status_of_version(rt: Runtime, doc: Mapping[str, Any], version: int | None) -> str:
    """Status of the followed version; a newer upload makes the status object describe another version."""
    current = doc.get("current_version")
    if version is None or current == version or not isinstance(current, int):
        return str(doc.get("status", "?"))
    history = rt.client.history(str(doc.get("share_pack_id")))
    if history.status != 200 or history.json_object is None:
        raise UnexpectedResponse(history)
    return version_status_in_history(history.json_object, version) or "?"


def follow(
    rt: Runtime, share_pack_id: str, version: int | None, first: ApiResponse | None = None
) -> FollowResult:
    """Poll `GET /workflow/sharepack/{id}` until the followed version is final or `--timeout` expires."""
    deadline = rt.clock() + rt.options.timeout_s
    response = first
    while True:
        if response is None:
            response = rt.client.status(share_pack_id)
        if response.status != 200 or response.json_object is None:
            raise UnexpectedResponse(response)
        doc = response.json_object
        status = _status_of_version(rt, doc, version)
        if version is not None and doc.get("current_version") != version:
            rt.progress.update(
                {
                    "current_version": version,
                    "status": status,
                    "status_detail": f"newer version {doc.get('current_version')} uploaded meanwhile",
                }
            )
        else:
            rt.progress.update(doc)
        if status in FINAL_STATUSES:
            return FollowResult(doc=doc, status=status, timed_out=False)
        remaining = deadline - rt.clock()
        if remaining <= 0:
            return FollowResult(doc=doc, status=status, timed_out=True)
        delay = max(rt.options.poll_interval_s, response.retry_after_s() or 0.0)
        _pause(rt, min(delay, remaining))
        response = None


def report_waiting_for_approval(rt: Runtime, doc: Mapping[str, Any], which: str) -> None:
    """Who may approve, and the destructive changes the approval is about (docs/GOVERNANCE.md §1)."""
    governance = doc.get("governance") or {}
    approvers = ", ".join(str(a) for a in governance.get("approver") or []) or "an approver"
    plan = doc.get("approval_plan") or {}
    rt.console.detail(f"{which}: waiting for approval by {approvers} (not the uploader)")
    for change in plan.get("destructive_changes") or []:
        rt.console.detail(f"  needs approval: {change}")
    if plan.get("digest"):
        rt.console.detail(
            f"  approve with: deltashare approve {doc.get('share_pack_id')} "
            f"--version {doc.get('current_version')}"
        )


def _report_followed(
    rt: Runtime, result: FollowResult, share_pack_id: str, version: int | None
) -> ExitCode:
    rt.progress.close()
    console = rt.console
    print_status(console, result.doc)
    console.document(result.doc)
    which = f"share pack {share_pack_id}" + (f" version {version}" if version is not None else "")
    if result.timed_out:
        console.annotate(
            "error", f"{which}: timed out waiting (last status {result.status})", title="timeout"
        )
        console.final(
            f"{which}: timed out after {rt.options.timeout_s:g}s, last status {result.status}"
        )
        return ExitCode.FAILED
    if result.status == "PENDING_APPROVAL":
        report_waiting_for_approval(rt, result.doc, which)
    console.final(f"{which}: {result.status}")
    if result.status == "COMPLETED":
        return ExitCode.OK
    console.annotate("error", f"{which}: {result.status}", title=result.status.lower())
    return ExitCode.FAILED


# ------------------------------------------------------------------------------------------ apply, status, history


def run_apply(rt: Runtime) -> ExitCode:
    """`apply FILE`: upload (never retried), then follow the version unless `--no-wait`."""
    pack, label = _read_pack(rt)
    rt.console.diagnostic(f"uploading {label} to {safe_url(rt.client.base_url)}")
    response = rt.client.upload(pack)
    body = response.json_object
    if response.status in INVALID_PACK_STATUSES and response.code:
        return report_invalid_pack(rt, response, label)
    if response.status not in (200, 202) or body is None or not body.get("share_pack_id"):
        return report_unexpected(rt, response)
    share_pack_id = str(body["share_pack_id"])
    version = body.get("version") if isinstance(body.get("version"), int) else None
    status = str(body.get("status", "?"))
    print_issues(rt.console, label, issues_of(body, "warnings"))
    what = "new version" if body.get("created_version") else "unchanged"
    if body.get("rerun"):
        what += ", re-run"
    rt.console.detail(
        f"{label}: share pack {share_pack_id} version {version}: {status} "
        f"({what}; created_version={str(bool(body.get('created_version'))).lower()}, "
        f"rerun={str(bool(body.get('rerun'))).lower()}, enqueue {body.get('enqueue', '?')})"
    )
    if body.get("enqueue") == "deferred":
        rt.console.diagnostic(
            "note: the queue send was deferred; the service's sweeper will send it"
        )
    if not rt.options.wait or status in NOT_PROVISIONED:
        rt.console.document(body)
        rt.console.final(f"share pack {share_pack_id} version {version}: {status}")
        if status in NOT_PROVISIONED:
            rt.console.annotate(
                "error",
                f"share pack {share_pack_id} version {version}: {status}",
                title=status.lower(),
            )
            return ExitCode.FAILED
        return ExitCode.OK
    try:
        result = follow(rt, share_pack_id, version)
    except UnexpectedResponse as exc:
        rt.progress.close()
        return report_unexpected(rt, exc.response)
    return _report_followed(rt, result, share_pack_id, version)


def run_status(rt: Runtime) -> ExitCode:
    """`status ID [--wait]`."""
    share_pack_id = rt.options.share_pack_id or ""
    response = rt.client.status(share_pack_id)
    if _is_not_found(response):
        return report_not_found(rt, response, share_pack_id)
    if response.status != 200 or response.json_object is None:
        return report_unexpected(rt, response)
    if not rt.options.wait:
        doc = response.json_object
        print_status(rt.console, doc)
        rt.console.document(doc)
        rt.console.final(f"share pack {share_pack_id}: {doc.get('status', '?')}")
        return ExitCode.OK
    try:
        result = follow(rt, share_pack_id, None, first=response)
    except UnexpectedResponse as exc:
        rt.progress.close()
        if _is_not_found(exc.response):
            return report_not_found(rt, exc.response, share_pack_id)
        return report_unexpected(rt, exc.response)
    return _report_followed(rt, result, share_pack_id, None)


def run_history(rt: Runtime) -> ExitCode:
    """`history ID`."""
    share_pack_id = rt.options.share_pack_id or ""
    response = rt.client.history(share_pack_id)
    if _is_not_found(response):
        return report_not_found(rt, response, share_pack_id)
    doc = response.json_object
    if response.status != 200 or doc is None:
        return report_unexpected(rt, response)
    print_history(rt.console, doc)
    rt.console.document(doc)
    versions = objects(doc, "versions")
    current = next((v for v in versions if v.get("is_current")), versions[-1] if versions else None)
    if current is None:
        rt.console.final(f"share pack {share_pack_id}: no versions")
        return ExitCode.OK
    number = current.get("version")
    status = version_status_in_history(doc, number) if isinstance(number, int) else None
    rt.console.final(
        f"share pack {share_pack_id}: {count(len(versions), 'version')}, current version "
        f"{number if number is not None else '?'}: {status or '?'}"
    )
    return ExitCode.OK


def run_decision(rt: Runtime) -> ExitCode:
    """`approve|decline ID --version N [--comment TEXT]`: an approver's decision (docs/GOVERNANCE.md §1.4)."""
    share_pack_id = rt.options.share_pack_id or ""
    version = rt.options.version or 0
    decision = "approve" if rt.options.command == "approve" else "decline"
    response = rt.client.decide(share_pack_id, version, decision, rt.options.comment)
    if _is_not_found(response):
        return report_not_found(rt, response, share_pack_id)
    doc = response.json_object
    which = f"share pack {share_pack_id} version {version}"
    if response.status in (403, 409) and doc is not None:
        rt.console.document(doc)
        rt.console.annotate("error", f"{which}: {_problem_summary(response)}", title=response.code)
        rt.console.final(f"{which}: not {decision}d ({_problem_summary(response)})")
        return ExitCode.FAILED
    if response.status != 200 or doc is None:
        return report_unexpected(rt, response)
    rt.console.document(doc)
    for change in doc.get("approved_changes") or []:
        rt.console.detail(f"  approved: {change}")
    rt.console.final(f"{which}: {decision}d, now {doc.get('status', '?')}")
    return ExitCode.OK


def run_tokens(rt: Runtime) -> ExitCode:
    """`tokens --expiring-within WINDOW`: the expiring-token report; exit 1 when a token expires in the window."""
    window = rt.options.expiring_within or ""
    response = rt.client.tokens(window)
    doc = response.json_object
    if response.status == 422 and doc is not None:
        rt.console.document(doc)
        rt.console.final(f"tokens: {_problem_summary(response)}")
        return ExitCode.FAILED
    if response.status != 200 or doc is None:
        return report_unexpected(rt, response)
    rt.console.document(doc)
    items = objects(doc, "items")
    for item in items:
        message = (
            f"recipient {item.get('recipient')}: token {item.get('token_id')} expires "
            f"{item.get('expiration_time')} ({item.get('days_left')} days left"
            f"{', activation pending' if item.get('activated') is False else ''}); "
            f"shares: {', '.join(item.get('shares') or []) or 'none'}"
        )
        rt.console.detail(f"  {message}")
        rt.console.annotate("warning", message, title="token_expiring")
    if not items:
        rt.console.final(f"tokens: none expires within {window}")
        return ExitCode.OK
    verb = "expires" if len(items) == 1 else "expire"
    rt.console.final(f"tokens: {count(len(items), 'token')} {verb} within {window}")
    return ExitCode.FAILED


def run_access(rt: Runtime) -> ExitCode:
    """`access [--recipient R] [--object C.S.T] [--as-of TS] [-o FILE.csv] [--fail-if-any]`: who can read what
    (docs/API.md §16.2); exit 1 with `--fail-if-any` when any access is found."""
    options = rt.options
    params = {
        key: value
        for key, value in (
            ("recipient", options.access_recipient),
            ("object", options.access_object),
            ("as_of", options.as_of),
        )
        if value
    }
    response = rt.client.access(params)
    doc = response.json_object
    if response.status in (404, 409, 422) and doc is not None:
        rt.console.document(doc)
        rt.console.final(f"access: {_problem_summary(response)}")
        return ExitCode.FAILED
    if response.status != 200 or doc is None:
        return report_unexpected(rt, response)
    entries = objects(doc, "entries")
    if options.output is not None:
        # The CSV of the answer just read, as `format=csv` would serve it (the same writer): asking again would
        # read the workspace a second time, and could describe another moment.
        view = AccessView.model_validate(doc)
        options.output.write_bytes(access_csv(view).encode("utf-8"))
    rt.console.document(doc)
    for entry in entries:
        via = f", via its {entry.get('via')}" if entry.get("via") == "schema" else ""
        rt.console.detail(
            f"  {entry.get('recipient')} <- {entry.get('share')}: {entry.get('object')} "
            f"({str(entry.get('type') or '').lower()}, seen as {entry.get('shared_as')}{via})"
        )
        if options.fail_if_any:
            rt.console.annotate(
                "error",
                f"recipient {entry.get('recipient')} can read {entry.get('object')} "
                f"through share {entry.get('share')}",
                title="access_found",
            )
    when = f" as of {doc.get('as_of')} (recorded)" if doc.get("as_of") else ""
    recipients = len({entry.get("recipient") for entry in entries})
    written = f"; wrote {options.output}" if options.output is not None else ""
    rt.console.final(
        f"access{when}: {len(entries)} {'entry' if len(entries) == 1 else 'entries'}, "
        f"{count(recipients, 'recipient')}{written}"
    )
    return ExitCode.FAILED if options.fail_if_any and entries else ExitCode.OK


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def run_export(rt: Runtime) -> ExitCode:
    """`export --share A --share B -o pack.yaml`: the live resources as a share pack (docs/API.md §14.3)."""
    options = rt.options
    if not (options.export_shares or options.export_recipients or options.all_shares):
        raise UsageError("export needs --share, --recipient or --all-shares")
    body = {
        "shares": list(options.export_shares),
        "recipients": list(options.export_recipients),
        "all_shares": options.all_shares,
        "include_pipelines": options.include_pipelines,
    }
    target = options.output
    as_excel = target is not None and target.suffix.lower() == ".xlsx"
    response = rt.client.export(body, accept=XLSX_MEDIA_TYPE if as_excel else "application/json")
    if response.status != 200:
        return report_unexpected(rt, response)
    if as_excel and target is not None:
        target.write_bytes(response.content)
        warnings = int(response.headers.get("x-export-warnings", "0") or 0)
        if warnings:
            rt.console.detail(
                f"  {count(warnings, 'warning')}: export to .yaml or use --json to read them"
            )
        rt.console.document({"output": str(target), "warnings": warnings})
        rt.console.final(f"export: wrote {target} ({count(warnings, 'warning')})")
        return ExitCode.OK
    doc = response.json_object
    if doc is None:
        return report_unexpected(rt, response)
    document = str(doc.get("document", ""))
    warnings_list = objects(doc, "warnings")
    for warning in warnings_list:
        line = f"{warning.get('loc') or 'pack'}: {warning.get('msg')}"
        rt.console.detail(f"  warning {warning.get('type')}: {line}")
        rt.console.annotate("warning", line, title=str(warning.get("type")))
    if target is None:
        raise UsageError("export needs -o FILE")
    target.write_text(document, encoding="utf-8")
    rt.console.document({key: value for key, value in doc.items() if key != "document"})
    rt.console.final(
        f"export: wrote {target} ({count(len(warnings_list), 'warning')}); "
        "replace every FILL-ME before uploading"
    )
    return ExitCode.OK


COMMANDS: dict[str, Callable[[Runtime], ExitCode]] = {
    "validate": run_validate,
    "plan": run_plan,
    "apply": run_apply,
    "status": run_status,
    "history": run_history,
    "approve": run_decision,
    "decline": run_decision,
    "tokens": run_tokens,
    "access": run_access,
    "export": run_export,
}
