"""Validation issues (docs/SHAREPACK.md §13.2, docs/API.md §10.1) and the source positions they point at."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

Severity = Literal["error", "warning"]

MAX_INPUT_CHARS = 200


class SourcePos(NamedTuple):
    """Where a value sits in the uploaded file: a YAML line/column or an Excel cell.

    YAML positions set `line` and `column` (1-based). Excel positions set `sheet`, `row` (1-based), `header`
    (the normalised column header) and `cell`; `sheet_index` and `column_index` only order issues. (A named
    tuple: tens of thousands are created per workbook, and they are cheap.)
    """

    line: int | None = None
    column: int | None = None
    sheet: str | None = None
    sheet_index: int = 0
    row: int | None = None
    header: str | None = None
    cell: str | None = None
    column_index: int = 0

    def sort_key(self) -> tuple[int, int, int]:
        """Ordering of issues: YAML line and column, or Excel sheet order, row and column."""
        if self.sheet is not None:
            return (self.sheet_index, self.row or 0, self.column_index)
        return (0, self.line or 0, self.column or 0)


NO_POS = SourcePos()


class Issue(BaseModel):
    """One validation finding. `column` is the 1-based column for YAML, the header name for Excel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    severity: Severity
    msg: str
    loc: str
    line: int | None = None
    column: int | str | None = None
    sheet: str | None = None
    row: int | None = None
    cell: str | None = None
    input: str | None = None
    hint: str | None = None

    @classmethod
    def at(
        cls,
        type_: str,
        severity: Severity,
        loc: str,
        msg: str,
        pos: SourcePos = NO_POS,
        *,
        input_value: object = None,
        hint: str | None = None,
    ) -> Issue:
        """Build an issue located at `pos` (YAML or Excel); `input_value` is echoed truncated."""
        text = None if input_value is None else str(input_value)[:MAX_INPUT_CHARS]
        if pos.sheet is not None:
            return cls(
                type=type_,
                severity=severity,
                msg=msg,
                loc=loc,
                sheet=pos.sheet,
                row=pos.row,
                column=pos.header,
                cell=pos.cell,
                input=text,
                hint=hint,
            )
        return cls(
            type=type_,
            severity=severity,
            msg=msg,
            loc=loc,
            line=pos.line,
            column=pos.column,
            input=text,
            hint=hint,
        )

    def where(self) -> str:
        """Human-readable location: `path (line 68)` for YAML, `sheet!H2 (column schedule_cron)` for Excel."""
        if self.sheet is not None:
            place = f"{self.sheet}!{self.cell}" if self.cell else self.sheet
            if self.row is not None and not self.cell:
                place += f" (row {self.row})"
            elif isinstance(self.column, str):
                place += f" (column {self.column})"
            return place
        if self.line is not None:
            return f"{self.loc or 'file'} (line {self.line})"
        return self.loc or "file"

    def display(self) -> str:
        """`<where>: <msg>`, the form used in problem details and CLI output."""
        return f"{self.where()}: {self.msg}"

    def as_problem_member(self) -> dict[str, Any]:
        """The JSON object placed in a problem's `errors`/`warnings` arrays.

        `type`, `severity`, `msg`, `loc`, `input` and `hint` are always present (`null` when unknown); the
        position members of the file's format are present, those of the other format are omitted.
        """
        member: dict[str, Any] = {
            "type": self.type,
            "severity": self.severity,
            "msg": self.msg,
            "loc": self.loc,
        }
        if self.sheet is not None:
            member.update(sheet=self.sheet, row=self.row, column=self.column, cell=self.cell)
        elif self.line is not None:
            member.update(line=self.line, column=self.column)
        member.update(input=self.input, hint=self.hint)
        return member


MAX_ISSUES = 500


class IssueCollector:
    """Errors and warnings of one pack, kept with their position for sorting (docs/SHAREPACK.md §13.1).

    Identical issues (same severity, type, path and place) are kept once. `errors()` and `warnings()` return
    them sorted by position (YAML line and column, or Excel sheet order, row and column), then by code, capped
    at 500 with a final `too_many_issues` saying how many were left out.
    """

    def __init__(self) -> None:
        self._issues: list[tuple[tuple[int, int, int], Issue]] = []
        self._seen: set[tuple[str, str, str, int | None, int | None, str | None]] = set()

    def add(
        self,
        severity: Severity,
        code: str,
        loc: str,
        msg: str,
        pos: SourcePos = NO_POS,
        *,
        input_value: object = None,
        hint: str | None = None,
    ) -> None:
        """Record one issue at model path `loc` and file position `pos`."""
        key = (severity, code, loc, pos.line, pos.row, pos.cell)
        if key in self._seen:
            return
        self._seen.add(key)
        issue = Issue.at(code, severity, loc, msg, pos, input_value=input_value, hint=hint)
        self._issues.append((pos.sort_key(), issue))

    def error(
        self,
        code: str,
        loc: str,
        msg: str,
        pos: SourcePos = NO_POS,
        *,
        input_value: object = None,
        hint: str | None = None,
    ) -> None:
        """Record an error."""
        self.add("error", code, loc, msg, pos, input_value=input_value, hint=hint)

    def warning(
        self,
        code: str,
        loc: str,
        msg: str,
        pos: SourcePos = NO_POS,
        *,
        input_value: object = None,
        hint: str | None = None,
    ) -> None:
        """Record a warning."""
        self.add("warning", code, loc, msg, pos, input_value=input_value, hint=hint)

    def drop_errors(self, covered: Callable[[Issue], bool]) -> None:
        """Forget the errors `covered` says another error already explains (a placeholder's own checks)."""
        self._issues = [
            pair for pair in self._issues if pair[1].severity != "error" or not covered(pair[1])
        ]

    @property
    def has_errors(self) -> bool:
        """True when at least one error was recorded."""
        return any(issue.severity == "error" for _, issue in self._issues)

    def errors(self) -> list[Issue]:
        """The errors, sorted and capped."""
        return self._select("error")

    def warnings(self) -> list[Issue]:
        """The warnings, sorted and capped."""
        return self._select("warning")

    def _select(self, severity: Severity) -> list[Issue]:
        chosen = [pair for pair in self._issues if pair[1].severity == severity]
        chosen.sort(key=lambda pair: (pair[0], pair[1].type, pair[1].loc))
        issues = [issue for _, issue in chosen]
        if len(issues) <= MAX_ISSUES:
            return issues
        left_out = f"{len(issues) - MAX_ISSUES:,}".replace(",", " ")
        noun = "issues" if severity == "error" else "warnings"
        return [
            *issues[:MAX_ISSUES],
            Issue.at("too_many_issues", severity, "", f"{left_out} further {noun} not shown."),
        ]
