"""Rendering helpers: issue positions, plan diffs, GitHub workflow-command escaping, colours."""

from __future__ import annotations

import io

import pytest

from dbrx_api.cli.output import (
    Console,
    color_wanted,
    diff_lines,
    escape_data,
    escape_property,
    issue_line,
    issue_position,
    plan_summary,
    rotation_line,
)
from fixtures.cli import TerminalIO


def test_issue_positions_for_yaml_and_excel() -> None:
    assert issue_position("p.yaml", {"line": 68, "column": 17}) == "p.yaml:68:17"
    assert issue_position("p.yaml", {"line": 4}) == "p.yaml:4"
    assert issue_position("p.yaml", {}) == "p.yaml"
    assert issue_position(
        "p.xlsx", {"sheet": "pipelines", "cell": "H2", "column": "schedule_cron", "row": 2}
    ) == ("p.xlsx[pipelines!H2]")
    assert issue_position("p.xlsx", {"sheet": "share", "row": 3}) == "p.xlsx[share!row 3]"


def test_issue_line_accepts_validation_items_with_list_locations() -> None:
    item = {
        "loc": ["query", "offline"],
        "msg": "Input should be a valid boolean",
        "type": "bool_parsing",
    }
    assert (
        issue_line("p.yaml", item)
        == "p.yaml: error bool_parsing: query.offline: Input should be a valid boolean"
    )


def test_diff_lines_for_scalars_sets_and_nested_fields() -> None:
    assert diff_lines({"from": 1, "to": 2}, "") == ["1 -> 2"]
    assert diff_lines({"cron": {"from": "0 0 1 * * ?", "to": "0 0 2 * * ?"}}, "  ") == [
        '  cron: "0 0 1 * * ?" -> "0 0 2 * * ?"'
    ]
    assert diff_lines({"add": ["a"], "remove": ["b"], "update": []}, "") == ["+ a", "- b"]
    assert diff_lines({"ip_access_list": {"add": ["192.0.2.0/24"], "remove": []}}, "") == [
        "ip_access_list:",
        "    + 192.0.2.0/24",
    ]


def test_plan_summary_wording() -> None:
    assert plan_summary({"create": 3, "update": 2, "delete": 1, "mutating_calls": 7}) == (
        "Plan: 3 to create, 2 to update, 1 to delete (7 mutating calls)."
    )
    assert plan_summary({}) == "Plan: 0 to create, 0 to update, 0 to delete (0 mutating calls)."


def test_workflow_command_escaping() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a,b:c") == "a%2Cb%3Ac"


def test_colour_only_on_terminals_and_never_with_no_color() -> None:
    assert color_wanted(TerminalIO(), no_color=False, environ={}) is True
    assert color_wanted(io.StringIO(), no_color=False, environ={}) is False
    assert color_wanted(TerminalIO(), no_color=True, environ={}) is False
    assert color_wanted(TerminalIO(), no_color=False, environ={"NO_COLOR": "1"}) is False
    assert color_wanted(TerminalIO(), no_color=False, environ={"TERM": "dumb"}) is False
    console = Console(
        "text", quiet=False, no_color=False, stdout=TerminalIO(), stderr=io.StringIO(), environ={}
    )
    assert console.paint("x", "red") == "\x1b[31mx\x1b[0m"
    assert console.paint("x", "red", stream=console.stderr) == "x"


def test_json_console_refuses_a_second_document() -> None:
    console = Console(
        "json", quiet=False, no_color=True, stdout=io.StringIO(), stderr=io.StringIO(), environ={}
    )
    console.detail("ignored in json mode")
    console.document({"a": 1})
    with pytest.raises(RuntimeError):
        console.document({"b": 2})
    assert console.stdout.getvalue() == '{\n  "a": 1\n}\n'  # type: ignore[attr-defined]


def test_rotation_lines_of_the_plan() -> None:
    upcoming = {
        "recipient": "acme",
        "token_id": "t1",
        "expires_at": "2027-03-01T00:00:00.000Z",
        "rotate_at": "2027-02-15T00:00:00.000Z",
        "due": False,
        "blocked": False,
    }
    assert rotation_line(upcoming) == (
        "  token rotation policy: acme: token t1 expires 2027-03-01T00:00:00.000Z, "
        "rotates from 2027-02-15T00:00:00.000Z"
    )
    assert rotation_line({**upcoming, "due": True, "blocked": True}).endswith(
        "due now (blocked: two active tokens)"
    )
    assert rotation_line({"recipient": "new", "token_id": None}) == (
        "  token rotation policy: new: no token yet"
    )
