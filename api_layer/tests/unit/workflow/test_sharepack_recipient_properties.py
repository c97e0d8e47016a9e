"""A recipient's `properties` read offline from YAML and Excel (docs/SHAREPACK.md §5.1, §13, §14)."""

from __future__ import annotations

from typing import Any

import pytest
from openpyxl.utils import get_column_letter

from dbrx_api.workflow.models.pack import canonical_json, record_hash
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

PROPS = "recipient[0].properties"


def _with(properties: Any) -> bytes:
    def mutate(pack: dict[str, Any]) -> None:
        pack["recipient"][0]["properties"] = properties

    return pack_yaml(mutate)


def test_a_mapping_is_read_with_values_as_their_text() -> None:
    model = load_model(_with({"tier": "gold", "level": 2, "ratio": 0.5, "vip": True, "note": ""}))
    assert model.recipient[0].properties == {
        "level": "2",
        "note": "",
        "ratio": "0.5",
        "tier": "gold",
        "vip": "true",
    }


def test_absent_is_not_managed_and_empty_is_managed() -> None:
    absent = load_model(pack_yaml())
    empty = load_model(_with({}))
    assert absent.recipient[0].properties is None
    assert empty.recipient[0].properties == {}
    # A pack without properties keeps its canonical content (and hash); {} is a different version.
    assert "properties" not in canonical_json(absent)
    assert record_hash(absent) != record_hash(empty)
    assert load_model(_with(None)).recipient[0].properties is None


def test_the_text_form_splits_on_semicolons_and_line_breaks() -> None:
    model = load_model(_with("country=DE; tier = gold\nformula=a=b;  empty="))
    assert model.recipient[0].properties == {
        "country": "DE",
        "empty": "",
        "formula": "a=b",
        "tier": "gold",
    }
    assert load_model(_with("{}")).recipient[0].properties == {}
    assert load_model(_with('{"list": "a;b"}')).recipient[0].properties == {"list": "a;b"}


@pytest.mark.parametrize(
    ("properties", "code", "loc", "needle"),
    [
        ({"bad key": "x"}, "recipient_property_invalid", f"{PROPS}.bad key", "bad key:"),
        ({"k" * 256: "x"}, "recipient_property_invalid", f"{PROPS}.{'k' * 256}", "kkk"),
        (
            {"databricks.name": "x"},
            "recipient_property_reserved",
            f"{PROPS}.databricks.name",
            "databricks.name:",
        ),
        (
            {"DataBricks.Tier": "x"},
            "recipient_property_reserved",
            f"{PROPS}.DataBricks.Tier",
            "DataBricks.Tier:",
        ),
        ({"tier": None}, "recipient_property_invalid", f"{PROPS}.tier", "tier:"),
        ({"tier": "x" * 1001}, "recipient_property_invalid", f"{PROPS}.tier", "tier:"),
    ],
)
def test_a_bad_key_or_value_is_reported_at_its_line(
    properties: dict[str, Any], code: str, loc: str, needle: str
) -> None:
    data = _with(properties)
    (issue,) = rejection("p.yaml", data).issues
    assert (issue.type, issue.loc, issue.line) == (code, loc, line_of(data, needle))


def test_keys_equal_ignoring_case_are_refused() -> None:
    data = _with({"tier": "a", "Tier": "b"})
    (issue,) = rejection("p.yaml", data).issues
    assert (issue.type, issue.loc, issue.line) == (
        "recipient_property_duplicate",
        f"{PROPS}.Tier",
        line_of(data, "Tier: b"),
    )
    (text_issue,) = rejection("p.yaml", _with("tier=a; tier=b")).issues
    assert (text_issue.type, text_issue.loc) == ("recipient_property_duplicate", f"{PROPS}[1]")


@pytest.mark.parametrize(
    ("written", "code", "loc"),
    [
        ("tier", "recipient_property_invalid", f"{PROPS}[0]"),
        ("tier=gold; databricks.x=1", "recipient_property_reserved", f"{PROPS}[1]"),
        ('{"tier": 1}', "recipient_property_invalid", PROPS),
        ("{tier: gold", "recipient_property_invalid", PROPS),
        (["tier=gold"], "type_mismatch", PROPS),
    ],
)
def test_text_form_problems(written: Any, code: str, loc: str) -> None:
    (issue,) = rejection("p.yaml", _with(written)).issues
    assert (issue.type, issue.loc) == (code, loc)


def _template_with_properties(value: str) -> bytes:
    workbook = template_workbook()
    sheet = workbook["recipient"]
    sheet.cell(
        row=row_of(sheet, "name", "acme_external"),
        column=column_of(sheet, "properties"),
        value=value,
    )
    return workbook_bytes(workbook)


def test_excel_cell_form() -> None:
    model = load_model(_template_with_properties("country=DE; tier=gold"), "p.xlsx")
    acme = next(r for r in model.recipient if r.name == "acme_external")
    partner = next(r for r in model.recipient if r.name == "partner_analytics")
    assert (acme.properties, partner.properties) == ({"country": "DE", "tier": "gold"}, None)
    emptied = load_model(_template_with_properties("{}"), "p.xlsx")
    assert next(r for r in emptied.recipient if r.name == "acme_external").properties == {}


def test_excel_cell_errors_name_the_cell() -> None:
    sheet = template_workbook()["recipient"]
    cell = f"{get_column_letter(column_of(sheet, 'properties'))}{row_of(sheet, 'name', 'acme_external')}"
    data = _template_with_properties("country=DE; Databricks.Region=x; country=FR")
    issues = rejection("p.xlsx", data).issues
    assert {(i.type, i.loc, i.sheet, i.cell) for i in issues} == {
        ("recipient_property_reserved", "recipient[0].properties[1]", "recipient", cell),
        ("recipient_property_duplicate", "recipient[0].properties[2]", "recipient", cell),
    }


def test_excel_export_round_trips_properties() -> None:
    model = load_model(_with({"tier": "gold", "list": "a;b", "text": 'say "hi"\nthen'}))
    for pack in (model, load_model(_with({})), load_model(_with({"tier": "gold"}))):
        again = load_model(export_excel(pack), "p.xlsx")
        assert again == pack
        assert record_hash(again) == record_hash(pack)


def test_delete_packs_ignore_properties() -> None:
    def mutate(pack: dict[str, Any]) -> None:
        pack["metadata"]["strategy"] = "DELETE"
        pack["recipient"] = [{"name": "r1", "properties": {"databricks.x": "1"}}]
        pack["share"] = ["s1"]

    loaded = load("p.yaml", pack_yaml(mutate))
    assert [(w.type, w.loc) for w in loaded.warnings] == [
        ("ignored_in_delete", "recipient[0].properties")
    ]
