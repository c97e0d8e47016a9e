"""A D2O recipient's token rotation policy read offline from YAML and Excel (docs/SHAREPACK.md §5.1, §5.3, §13, §14)."""

from __future__ import annotations

from typing import Any

import pytest
from openpyxl.utils import get_column_letter

from dbrx_api.workflow.models.pack import SharePack, TokenRotationPolicy, record_hash
from dbrx_api.workflow.parsers.xlsx_writer import export_excel
from fixtures.sharepacks import (
    column_of,
    line_of,
    load,
    load_model,
    pack_yaml,
    rejection,
    row_of,
    template_workbook,
    workbook_bytes,
)

POLICY = "recipient[0].token_rotation"


def _with(policy: Any, *, index: int = 0, **more: Any) -> bytes:
    def mutate(pack: dict[str, Any]) -> None:
        pack["recipient"][index]["token_rotation"] = policy
        pack["recipient"][index].update(more)

    return pack_yaml(mutate)


def test_a_policy_mapping_is_the_canonical_policy() -> None:
    loaded = load("p.yaml", _with({"rotate_before_expiry_days": 14, "grace_hours": 24}))
    assert isinstance(loaded.model, SharePack)
    assert loaded.model.recipient[0].token_rotation == TokenRotationPolicy(
        rotate_before_expiry_days=14, grace_hours=24
    )
    # A standing policy is not the one-shot rotation: no token_rotation_requested warning.
    assert "token_rotation_requested" not in {w.type for w in loaded.warnings}
    default_grace = load_model(_with({"rotate_before_expiry_days": 7}))
    assert default_grace.recipient[0].token_rotation == TokenRotationPolicy(
        rotate_before_expiry_days=7, grace_hours=0
    )


def test_true_and_false_keep_meaning_the_one_shot_rotation() -> None:
    loaded = load("p.yaml", _with(True))
    assert isinstance(loaded.model, SharePack)
    assert loaded.model.recipient[0].token_rotation is True
    assert "token_rotation_requested" in {w.type for w in loaded.warnings}
    assert load_model(_with(False)).recipient[0].token_rotation is False


@pytest.mark.parametrize(
    ("policy", "code", "loc", "needle"),
    [
        (
            {"rotate_before_expiry_days": 0},
            "value_out_of_range",
            "rotate_before_expiry_days",
            "rotate_",
        ),
        (
            {"rotate_before_expiry_days": 366},
            "value_out_of_range",
            "rotate_before_expiry_days",
            "rotate_",
        ),
        (
            {"rotate_before_expiry_days": "soon"},
            "type_mismatch",
            "rotate_before_expiry_days",
            "rotate_",
        ),
        (
            {"rotate_before_expiry_days": 30, "grace_hours": 721},
            "value_out_of_range",
            "grace_hours",
            "grace_hours",
        ),
        (
            {"rotate_before_expiry_days": 30, "grace_hours": -1},
            "value_out_of_range",
            "grace_hours",
            "grace_hours",
        ),
        (
            {"rotate_before_expiry_days": 1, "grace_hours": 24},
            "token_rotation_grace_too_long",
            "grace_hours",
            "grace_hours",
        ),
        (
            {"rotate_before_expiry_days": 7, "grace_hour": 2},
            "unknown_field",
            "grace_hour",
            "grace_hour:",
        ),
        (
            {"rotate_before_expiry_days": None},
            "empty_value",
            "rotate_before_expiry_days",
            "rotate_",
        ),
    ],
)
def test_policy_problems_are_reported_at_their_line(
    policy: dict[str, Any], code: str, loc: str, needle: str
) -> None:
    data = _with(policy)
    (issue,) = rejection("p.yaml", data).issues
    assert (issue.type, issue.loc, issue.line) == (code, f"{POLICY}.{loc}", line_of(data, needle))


def test_a_policy_without_a_lead_time_is_required_at_the_mapping() -> None:
    data = _with({"grace_hours": 2})
    (issue,) = rejection("p.yaml", data).issues
    assert (issue.type, issue.loc) == ("required", f"{POLICY}.rotate_before_expiry_days")
    assert issue.line == line_of(data, "grace_hours")


def test_a_policy_on_a_d2d_recipient_is_refused() -> None:
    data = _with({"rotate_before_expiry_days": 7}, index=1)
    (issue,) = rejection("p.yaml", data).issues
    assert (issue.type, issue.loc) == ("field_not_allowed_for_type", "recipient[1].token_rotation")
    assert issue.line == line_of(data, "rotate_before_expiry_days")  # the mapping's first line


def test_a_policy_with_the_one_shot_grace_days_is_a_conflict() -> None:
    data = _with({"rotate_before_expiry_days": 7}, token_rotation_grace_days=2)
    (issue,) = rejection("p.yaml", data).issues
    assert (issue.type, issue.loc, issue.line) == (
        "token_rotation_conflict",
        "recipient[0].token_rotation_grace_days",
        line_of(data, "token_rotation_grace_days"),
    )


def test_a_scalar_that_is_neither_boolean_nor_mapping_is_a_type_mismatch() -> None:
    (issue,) = rejection("p.yaml", _with("weekly")).issues
    assert (issue.type, issue.loc) == ("type_mismatch", POLICY)


# ---------------------------------------------------------------------------------------------- Excel


def _template_with(**cells: Any) -> tuple[bytes, Any]:
    workbook = template_workbook()
    sheet = workbook["recipient"]
    row = row_of(sheet, "name", "acme_external")
    for column, value in cells.items():
        sheet.cell(row=row, column=column_of(sheet, column), value=value)
    return workbook_bytes(workbook), sheet


def _cell(sheet: Any, column: str) -> str:
    return f"{get_column_letter(column_of(sheet, column))}{row_of(sheet, 'name', 'acme_external')}"


def test_excel_policy_columns() -> None:
    data, _ = _template_with(
        token_rotation=None, rotate_before_expiry_days=10, rotation_grace_hours=12
    )
    model = load_model(data, "p.xlsx")
    acme = next(r for r in model.recipient if r.name == "acme_external")
    assert acme.token_rotation == TokenRotationPolicy(rotate_before_expiry_days=10, grace_hours=12)
    # A FALSE one-shot cell may stay beside the policy columns.
    data, _ = _template_with(token_rotation=False, rotate_before_expiry_days=10)
    acme = next(r for r in load_model(data, "p.xlsx").recipient if r.name == "acme_external")
    assert acme.token_rotation == TokenRotationPolicy(rotate_before_expiry_days=10, grace_hours=0)


def test_excel_policy_errors_name_the_cell() -> None:
    data, sheet = _template_with(
        token_rotation=None, rotate_before_expiry_days=2, rotation_grace_hours=48
    )
    (issue,) = rejection("p.xlsx", data).issues
    assert (issue.type, issue.loc, issue.sheet, issue.cell) == (
        "token_rotation_grace_too_long",
        "recipient[0].token_rotation.grace_hours",
        "recipient",
        _cell(sheet, "rotation_grace_hours"),
    )
    data, sheet = _template_with(token_rotation=None, rotate_before_expiry_days=400)
    (issue,) = rejection("p.xlsx", data).issues
    assert (issue.type, issue.cell) == (
        "value_out_of_range",
        _cell(sheet, "rotate_before_expiry_days"),
    )


def test_excel_one_shot_true_beside_a_policy_is_a_conflict() -> None:
    data, sheet = _template_with(token_rotation=True, rotate_before_expiry_days=10)
    (issue,) = rejection("p.xlsx", data).issues
    assert (issue.type, issue.loc, issue.cell) == (
        "token_rotation_conflict",
        "recipient[0].token_rotation",
        _cell(sheet, "token_rotation"),
    )


def test_excel_export_round_trips_the_policy() -> None:
    for policy in ({"rotate_before_expiry_days": 30, "grace_hours": 48}, True, False):
        pack = load_model(_with(policy))
        again = load_model(export_excel(pack), "p.xlsx")
        assert again == pack
        assert record_hash(again) == record_hash(pack)
