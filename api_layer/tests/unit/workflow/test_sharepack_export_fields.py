"""Offline rules the export relies on (docs/WORKFLOW.md §15): `FILL-ME` is refused where it stands
(`placeholder_unfilled`, docs/SHAREPACK.md §13.4), and `metadata.destroy_adopted` (docs/SHAREPACK.md §4.1) reads from
YAML and Excel."""

from __future__ import annotations

from typing import Any

import yaml

from dbrx_api.workflow.models.pack import PLACEHOLDER, AnySharePack, DeleteSharePack
from dbrx_api.workflow.parsers.xlsx_writer import export_excel
from dbrx_api.workflow.parsers.yaml_writer import export_yaml
from fixtures.sharepacks import line_of, load, pack_yaml, rejection


def _with(**fields: Any) -> bytes:
    def mutate(pack: dict[str, Any]) -> None:
        pack["metadata"].update(fields)

    return pack_yaml(mutate)


def test_placeholders_are_one_located_error_each_instead_of_the_fields_own_errors() -> None:
    def mutate(pack: dict[str, Any]) -> None:
        pack["metadata"].update(servicenow=PLACEHOLDER, requestor=[PLACEHOLDER])
        pack["recipient"][0]["recipient"] = (
            PLACEHOLDER  # not an e-mail either: only the placeholder counts
        )

    data = pack_yaml(mutate)
    issues = rejection("p.yaml", data).issues
    assert sorted((i.type, i.loc) for i in issues) == [
        ("placeholder_unfilled", "metadata.requestor"),
        ("placeholder_unfilled", "metadata.servicenow"),
        ("placeholder_unfilled", "recipient[0].recipient"),
    ]
    servicenow = next(i for i in issues if i.loc == "metadata.servicenow")
    assert servicenow.line == line_of(data, f"servicenow: {PLACEHOLDER}")
    assert servicenow.input == PLACEHOLDER


def test_a_placeholder_inside_a_comma_list_is_refused_and_filled_values_pass() -> None:
    issues = rejection("p.yaml", _with(approver=f"john@example.com, {PLACEHOLDER}")).issues
    assert [(i.type, i.loc) for i in issues] == [("placeholder_unfilled", "metadata.approver")]
    # The word inside other text is no placeholder.
    assert load("p.yaml", _with(description=f"replace {PLACEHOLDER}-style values")).model


def _delete_pack(destroy: object) -> bytes:
    def mutate(pack: dict[str, Any]) -> None:
        pack["metadata"].update(strategy="DELETE", destroy_adopted=destroy)
        pack["recipient"] = [{"name": r["name"]} for r in pack["recipient"]]
        pack["share"] = [{"name": s["name"]} for s in pack["share"]]

    return pack_yaml(mutate)


def _round_trip(model: AnySharePack) -> tuple[AnySharePack, AnySharePack]:
    from_yaml = load("p.yaml", export_yaml(model).encode()).model
    from_xlsx = load("p.xlsx", export_excel(model)).model
    return from_yaml, from_xlsx


def test_destroy_adopted_reads_from_yaml_and_excel_and_is_absent_by_default() -> None:
    model = load("p.yaml", _delete_pack(True)).model
    assert isinstance(model, DeleteSharePack)
    assert model.metadata.destroy_adopted is True
    assert _round_trip(model) == (model, model)
    assert load("p.yaml", _delete_pack("no")).model.metadata.destroy_adopted is False
    plain = load("p.yaml", pack_yaml()).model
    assert plain.metadata.destroy_adopted is None
    assert "destroy_adopted" not in yaml.safe_load(export_yaml(plain))["metadata"]
    issues = rejection("p.yaml", _delete_pack("maybe")).issues
    assert [i.loc for i in issues] == ["metadata.destroy_adopted"]
