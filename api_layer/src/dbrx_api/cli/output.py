"""Output of the CLI (docs/API.md §14.5): human text, one JSON document, or text plus GitHub annotations.

Text goes to stdout, progress and diagnostics to stderr. In JSON mode stdout carries exactly one document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from dbrx_api.cli.options import OutputFormat

_ANSI = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold": "1", "dim": "2"}


def _stream_is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def color_wanted(stream: TextIO, *, no_color: bool, environ: Mapping[str, str]) -> bool:
    """ANSI colours only on a terminal, and never with `--no-color`, `NO_COLOR` or `TERM=dumb`."""
    if no_color or environ.get("NO_COLOR", "") != "" or environ.get("TERM") == "dumb":
        return False
    return _stream_is_tty(stream)


def escape_data(text: str) -> str:
    """Escape the message part of a GitHub Actions workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value (`file=`, `title=`) of a GitHub Actions workflow command."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Console:
    """Where and how the command writes; every command prints through one of these."""

    def __init__(
        self,
        output_format: OutputFormat,
        *,
        quiet: bool,
        no_color: bool,
        stdout: TextIO,
        stderr: TextIO,
        environ: Mapping[str, str],
    ) -> None:
        self.format = output_format
        self.quiet = quiet
        self.stdout = stdout
        self.stderr = stderr
        self._color_out = color_wanted(stdout, no_color=no_color, environ=environ)
        self._color_err = color_wanted(stderr, no_color=no_color, environ=environ)
        self.json_written = False

    @property
    def human(self) -> bool:
        """True for `text` and `github`, which print human-readable lines."""
        return self.format != "json"

    def paint(self, text: str, style: str, *, stream: TextIO | None = None) -> str:
        """`text` in an ANSI style when the target stream is a colour terminal."""
        enabled = self._color_err if stream is self.stderr else self._color_out
        return f"\x1b[{_ANSI[style]}m{text}\x1b[0m" if enabled else text

    def detail(self, line: str = "") -> None:
        """A line of the human report (suppressed by `--quiet`)."""
        if self.human and not self.quiet:
            self._write(self.stdout, line)

    def error_line(self, line: str) -> None:
        """An error line of the human report (kept with `--quiet`)."""
        if self.human:
            self._write(self.stdout, line)

    def final(self, line: str) -> None:
        """The closing line of the human report (kept with `--quiet`)."""
        if self.human:
            self._write(self.stdout, line)

    def diagnostic(self, line: str) -> None:
        """A message on stderr (retries, hints); not shown with `--quiet`."""
        if not self.quiet:
            self._write(self.stderr, line)

    def problem(self, line: str) -> None:
        """A failure message on stderr, shown in every mode (JSON mode too: stdout stays one document)."""
        self._write(self.stderr, self.paint(line, "red", stream=self.stderr))

    def annotate(
        self,
        level: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        title: str | None = None,
    ) -> None:
        """A GitHub Actions workflow command (`::error …::msg`), in `github` format only."""
        if self.format != "github":
            return
        props = []
        if file:
            props.append(f"file={escape_property(file)}")
        if line is not None:
            props.append(f"line={line}")
        if col is not None:
            props.append(f"col={col}")
        if title:
            props.append(f"title={escape_property(title)}")
        head = f"::{level} " + ",".join(props) if props else f"::{level}"
        self._write(self.stdout, f"{head}::{escape_data(message)}")

    def document(self, body: Any) -> None:
        """The one JSON document of `--format json` (a second call is a programming error)."""
        if self.format != "json":
            return
        if self.json_written:
            raise RuntimeError("JSON output already written")
        self.json_written = True
        self._write(self.stdout, json.dumps(body, indent=2, ensure_ascii=False, sort_keys=False))

    @staticmethod
    def _write(stream: TextIO, line: str) -> None:
        stream.write(line + "\n")
        stream.flush()


# ------------------------------------------------------------------------------------------ issues


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _loc_text(loc: Any) -> str:
    if isinstance(loc, list):
        return ".".join(str(part) for part in loc)
    return str(loc) if loc not in (None, "") else ""


def objects(doc: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """The JSON objects of the list under `key` (anything else is ignored)."""
    value = doc.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def member(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The JSON object under `key`, or an empty one."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def issue_position(file_label: str, issue: Mapping[str, Any]) -> str:
    """`sharepack.yaml:68:17` for YAML issues, `pack.xlsx[pipelines!H2]` for Excel ones, else the file."""
    sheet = issue.get("sheet")
    if isinstance(sheet, str) and sheet:
        cell = issue.get("cell")
        if not cell:
            row = _int(issue.get("row"))
            cell = f"row {row}" if row is not None else ""
        return f"{file_label}[{sheet}!{cell}]" if cell else f"{file_label}[{sheet}]"
    line = _int(issue.get("line"))
    if line is None:
        return file_label
    column = _int(issue.get("column"))
    return f"{file_label}:{line}:{column}" if column is not None else f"{file_label}:{line}"


def issue_line(file_label: str, issue: Mapping[str, Any]) -> str:
    """One issue as `<position>: <severity> <type>: <loc>: <msg>`."""
    severity = str(issue.get("severity") or "error")
    code = str(issue.get("type") or "issue")
    loc = _loc_text(issue.get("loc"))
    msg = str(issue.get("msg") or "").strip()
    where = f"{loc}: " if loc else ""
    return f"{issue_position(file_label, issue)}: {severity} {code}: {where}{msg}"


def print_issues(console: Console, file_label: str, issues: Iterable[Mapping[str, Any]]) -> None:
    """Every issue with its position and hint, plus GitHub annotations in `github` format."""
    for issue in issues:
        severity = str(issue.get("severity") or "error")
        text = issue_line(file_label, issue)
        style = "red" if severity == "error" else "yellow"
        if severity == "error":
            console.error_line(console.paint(text, style))
        else:
            console.detail(console.paint(text, style))
        hint = issue.get("hint")
        if hint:
            line = f"    hint: {hint}"
            (console.error_line if severity == "error" else console.detail)(line)
        sheet = issue.get("sheet")
        loc = _loc_text(issue.get("loc"))
        message = str(issue.get("msg") or "").strip()
        if loc:
            message = f"{loc}: {message}"
        if isinstance(sheet, str) and sheet:
            message = f"{issue_position('', issue).strip('[]')}: {message}"
        if hint:
            message = f"{message} (hint: {hint})"
        console.annotate(
            "error" if severity == "error" else "warning",
            message,
            file=file_label,
            line=None if sheet else _int(issue.get("line")),
            col=None if sheet else _int(issue.get("column")),
            title=str(issue.get("type") or "issue"),
        )


def issues_of(body: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """The issue list under `key` (`errors` or `warnings`), ignoring anything that is not an object."""
    value = body.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def count(n: int, noun: str) -> str:
    """`1 warning`, `2 warnings`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# ------------------------------------------------------------------------------------------ plan

_SYMBOLS = {
    "create": "+",
    "update": "~",
    "delete": "-",
    "rotate_token": "↻",
    "set_expiry": "↻",
    "adopt": "⇐",
    "release": "⇒",
    "no_op": " ",
}
_STYLES = {
    "create": "green",
    "update": "yellow",
    "delete": "red",
    "rotate_token": "cyan",
    "set_expiry": "cyan",
}


def _scalar(value: Any) -> str:
    return (
        json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value)
    )


def _is_change(value: Any) -> bool:
    return isinstance(value, dict) and set(value) <= {"from", "to"} and bool(value)


def _is_set_diff(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= {"add", "remove", "update"}


def diff_lines(diff: Any, indent: str) -> list[str]:
    """Nested lines of a plan `diff`: `field: "a" -> "b"`, `+ item`, `- item`, `~ item` with field changes."""
    lines: list[str] = []
    if _is_change(diff):
        lines.append(f"{indent}{_scalar(diff.get('from'))} -> {_scalar(diff.get('to'))}")
    elif _is_set_diff(diff):
        for item in diff.get("add") or []:
            lines.append(f"{indent}+ {item if isinstance(item, str) else _scalar(item)}")
        for item in diff.get("remove") or []:
            lines.append(f"{indent}- {item if isinstance(item, str) else _scalar(item)}")
        for item in diff.get("update") or []:
            if isinstance(item, dict):
                lines.append(f"{indent}~ {item.get('name', '?')}")
                lines.extend(diff_lines(item.get("fields") or {}, indent + "    "))
            else:
                lines.append(f"{indent}~ {item}")
    elif isinstance(diff, dict):
        for field_name, change in diff.items():
            if _is_change(change):
                lines.append(
                    f"{indent}{field_name}: {_scalar(change.get('from'))} -> {_scalar(change.get('to'))}"
                )
            else:
                lines.append(f"{indent}{field_name}:")
                lines.extend(diff_lines(change, indent + "    "))
    elif diff is not None:
        lines.append(f"{indent}{_scalar(diff)}")
    return lines


def change_lines(change: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The heading and nested lines of one plan change."""
    action = str(change.get("action") or "")
    symbol = _SYMBOLS.get(action, "?")
    resource = f"{change.get('resource_type', '?')} {change.get('name', '?')}"
    suffix = f" ({action})" if action in ("rotate_token", "set_expiry", "adopt", "release") else ""
    heading = f"  {symbol} {resource}{suffix}"
    nested: list[str] = []
    if change.get("destructive"):
        dropped = change.get("drops_tables") or []
        heading += (
            "  [destructive" + (f": drops {', '.join(map(str, dropped))}" if dropped else "") + "]"
        )
    if change.get("reason"):
        nested.append(f"      reason: {change['reason']}")
    after = change.get("after")
    if isinstance(after, dict):
        for key, value in after.items():
            nested.append(f"      {key}: {value if isinstance(value, str) else _scalar(value)}")
    if "diff" in change:
        nested.extend(diff_lines(change.get("diff"), "      "))
    return heading, nested


def rotation_line(rotation: Mapping[str, Any]) -> str:
    """One upcoming token rotation of the plan (docs/WORKFLOW.md §10)."""
    name = rotation.get("recipient", "?")
    if not rotation.get("token_id"):
        return f"  token rotation policy: {name}: no token yet"
    when = "due now" if rotation.get("due") else f"rotates from {rotation.get('rotate_at', '?')}"
    blocked = " (blocked: two active tokens)" if rotation.get("blocked") else ""
    return (
        f"  token rotation policy: {name}: token {rotation['token_id']} expires "
        f"{rotation.get('expires_at', '?')}, {when}{blocked}"
    )


def plan_summary(summary: Mapping[str, Any]) -> str:
    """`Plan: 3 to create, 2 to update, 1 to delete (7 mutating calls).`"""

    def number(key: str) -> int:
        value = summary.get(key)
        return value if isinstance(value, int) else 0

    return (
        f"Plan: {number('create')} to create, {number('update')} to update, {number('delete')} to delete "
        f"({number('mutating_calls')} mutating calls)."
    )


def print_plan_changes(console: Console, changes: Iterable[Mapping[str, Any]]) -> int:
    """Print every change except no-ops, Terraform-style; returns how many were printed."""
    printed = 0
    for change in changes:
        action = str(change.get("action") or "")
        if action == "no_op":
            continue
        heading, nested = change_lines(change)
        console.detail(console.paint(heading, _STYLES.get(action, "bold")))
        for line in nested:
            console.detail(line)
        if change.get("destructive"):
            console.annotate(
                "warning",
                heading.strip(),
                title=f"destructive {change.get('resource_type', 'change')}",
            )
        printed += 1
    return printed


# ------------------------------------------------------------------------------------------ status and history


def steps_text(steps: Any) -> str:
    """`3 of 11 steps done (1 no-op, 0 failed, 0 skipped)` from a run's step counters."""
    if not isinstance(steps, dict):
        return ""
    total = _int(steps.get("total")) or 0
    done = sum(_int(steps.get(key)) or 0 for key in ("succeeded", "noop", "failed", "skipped"))
    return (
        f"{done} of {total} steps done ({_int(steps.get('succeeded')) or 0} succeeded, "
        f"{_int(steps.get('noop')) or 0} no-op, {_int(steps.get('failed')) or 0} failed, "
        f"{_int(steps.get('skipped')) or 0} skipped)"
    )


def status_lines(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value pairs describing a status object (docs/API.md §10.3)."""
    rows: list[tuple[str, str]] = [
        ("share pack", str(doc.get("share_pack_id", "?"))),
        ("pack key", str(doc.get("pack_key", "?"))),
        ("workspace", str(doc.get("workspace_url", "?"))),
    ]
    version = f"{doc.get('current_version', '?')}"
    if doc.get("last_completed_version") is not None:
        version += f" (last completed: {doc['last_completed_version']})"
    rows += [
        ("version", version),
        ("strategy", str(doc.get("strategy", "?"))),
        ("status", str(doc.get("status", "?"))),
    ]
    if doc.get("status_detail"):
        rows.append(("detail", str(doc["status_detail"])))
    rows.append(("attempts", str(doc.get("attempts", 0))))
    requested_by = doc.get("requested_by")
    if isinstance(requested_by, dict):
        rows.append(
            ("requested by", f"{requested_by.get('name') or '?'} ({requested_by.get('id') or '?'})")
        )
    for key, label in (("created_at", "created"), ("updated_at", "updated")):
        if doc.get(key):
            rows.append((label, str(doc[key])))
    governance = doc.get("governance")
    if isinstance(governance, dict):
        approver = governance.get("approver")
        approver_text = (
            ", ".join(map(str, approver)) if isinstance(approver, list) else str(approver or "-")
        )
        rows.append(
            (
                "governance",
                f"{governance.get('approver_status', '?')} by {approver_text}"
                + (f", {governance['servicenow']}" if governance.get("servicenow") else ""),
            )
        )
    error = doc.get("error")
    if isinstance(error, dict):
        step = f" at step {error['step']}" if error.get("step") else ""
        rows.append(("error", f"{error.get('code', '?')}{step}: {error.get('message', '')}"))
    run = doc.get("latest_run")
    if isinstance(run, dict):
        text = (
            f"{run.get('run_id', '?')} attempt {run.get('attempt', '?')}: {run.get('outcome', '?')}"
        )
        if run.get("started_at"):
            text += f", started {run['started_at']}"
        if run.get("ended_at"):
            text += f", ended {run['ended_at']}"
        steps = steps_text(run.get("steps"))
        if steps:
            text += f"; {steps}"
        rows.append(("latest run", text))
    return rows


def print_status(console: Console, doc: Mapping[str, Any]) -> None:
    """The status object as aligned `label  value` lines, then its warnings."""
    rows = status_lines(doc)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        if label == "error":
            console.error_line(console.paint(f"{label:<{width}}  {value}", "red"))
        else:
            console.detail(f"{label:<{width}}  {value}")
    for warning in issues_of(doc, "warnings"):
        console.detail(
            console.paint(
                f"warning {warning.get('type', '?')}: {_loc_text(warning.get('loc'))}: "
                f"{warning.get('msg', '')}",
                "yellow",
            )
        )


def print_history(console: Console, doc: Mapping[str, Any]) -> None:
    """Every version with its transitions, runs and steps (docs/API.md §12.2)."""
    console.detail(f"share pack {doc.get('share_pack_id', '?')}  ({doc.get('pack_key', '?')})")
    versions = objects(doc, "versions")
    for version in versions:
        current = " (current)" if version.get("is_current") else ""
        requested = member(version, "requested_by")
        file_info = member(version, "file")
        console.detail("")
        console.detail(
            console.paint(f"version {version.get('version', '?')}{current}", "bold")
            + f"  {version.get('strategy', '?')}, {version.get('approver_status', '?')}, "
            f"{version.get('effective_from', '?')} -> {version.get('effective_to') or 'now'}"
        )
        if file_info:
            console.detail(
                f"  file {file_info.get('name', '?')} ({file_info.get('format', '?')}, "
                f"{file_info.get('size', '?')} bytes, sha256 {str(file_info.get('sha256', '?'))[:12]})"
                f" by {requested.get('name') or requested.get('id') or '?'}"
            )
        for warning in issues_of(version, "warnings"):
            console.detail(f"  warning {warning.get('type', '?')}: {warning.get('msg', '')}")
        transitions = objects(version, "transitions")
        for transition in transitions:
            source = transition.get("from_status") or "-"
            reason = f" ({transition['reason']})" if transition.get("reason") else ""
            actor = f" by {transition['actor']}" if transition.get("actor") else ""
            console.detail(
                f"  {transition.get('at', '?')}  {source} -> {transition.get('to_status', '?')}{reason}{actor}"
            )
        runs = objects(version, "runs")
        for run in runs:
            error = (
                f", {run['error_code']}: {run.get('error_message') or ''}"
                if run.get("error_code")
                else ""
            )
            console.detail(
                f"  run {run.get('run_id', '?')} attempt {run.get('attempt', '?')} on {run.get('worker_id', '?')}: "
                f"{run.get('outcome', '?')}, {run.get('read_calls', 0)} reads, "
                f"{run.get('mutating_calls', 0)} mutating calls{error}"
            )
            steps = objects(run, "steps")
            for step in steps:
                step_error = (
                    f" - {step['error_code']}: {step.get('error_message') or ''}"
                    if step.get("error_code")
                    else ""
                )
                console.detail(
                    f"    {step.get('seq', '?')}. {step.get('action', '?')} {step.get('resource_type', '?')} "
                    f"{step.get('resource_name', '?')}: {step.get('outcome', '?')}{step_error}"
                )


def version_status_in_history(doc: Mapping[str, Any], version: int) -> str | None:
    """The latest status of `version` according to a history document (None when unknown)."""
    for entry in objects(doc, "versions"):
        if entry.get("version") == version:
            transitions = objects(entry, "transitions")
            return str(transitions[-1].get("to_status")) if transitions else None
    return None
