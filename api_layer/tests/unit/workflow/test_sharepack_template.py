"""The Excel template, the sample packs on disk and the JSON Schema of the YAML form."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema_rs
import openpyxl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from dbrx_api.workflow.models.json_schema import sharepack_json_schema
from dbrx_api.workflow.models.pack import AnySharePack, SharePack
from dbrx_api.workflow.parsers import export_yaml
from dbrx_api.workflow.sharepack_template import (
    EXAMPLE_FILE,
    TEMPLATE_FILE,
    build_template_xlsx,
    example_yaml,
    main,
)
from fixtures.sharepack_strategies import share_packs
from fixtures.sharepacks import example_with, load, pack_yaml, rejection

SAMPLES = Path(__file__).resolve().parents[3] / "sharepack_templates"


class _Yaml12Loader(yaml.SafeLoader):
    """Reads scalars as YAML 1.2 editors do: dates stay text (what yaml-language-server validates)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _validator() -> Any:
    return jsonschema_rs.Draft202012Validator(sharepack_json_schema())


def _doc(data: bytes | str) -> Any:
    return yaml.load(data, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


# ------------------------------------------------------------------------------------------ template


def test_template_is_byte_identical_across_processes() -> None:
    here = build_template_xlsx()
    assert here == build_template_xlsx()
    script = "import sys; from dbrx_api.workflow.sharepack_template import build_template_xlsx as b; sys.stdout.buffer.write(b())"
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, timeout=120
    ).stdout
    assert other == here


def test_template_members_have_fixed_dates_and_no_macros() -> None:
    with zipfile.ZipFile(io.BytesIO(build_template_xlsx())) as archive:
        infos = archive.infolist()
        core = archive.read("docProps/core.xml").decode()
    assert {info.date_time for info in infos} == {(2026, 1, 1, 0, 0, 0)}
    assert not [
        info.filename
        for info in infos
        if "vba" in info.filename.lower() or "external" in info.filename.lower()
    ]
    assert "2026-01-01T00:00:00Z" in core


def test_template_layout_dropdowns_and_no_formulas() -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(build_template_xlsx()))
    assert workbook.sheetnames == ["metadata", "recipient", "share", "pipelines", "assets", "help"]
    assert [c.value for c in workbook["pipelines"][1]][:3] == [
        "share_name",
        "name_prefix",
        "source_asset",
    ]
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate}"
    choices = {
        (sheet.title, validation.formula1)
        for sheet in workbook.worksheets
        for validation in sheet.data_validations.dataValidation
    }
    assert choices == {
        ("recipient", '"D2D,D2O"'),
        ("pipelines", '"1,2,full_refresh"'),
        (
            "assets",
            '"TABLE,VIEW,MATERIALIZED_VIEW,STREAMING_TABLE,SCHEMA,NOTEBOOK_FILE,VOLUME,MODEL"',
        ),
        ("assets", '"ENABLED,DISABLED"'),
        ("assets", '"share_assets,share_assets_to_add,share_assets_to_remove"'),
        ("metadata", '"NEW,UPDATE,DELETE"'),
        ("metadata", '"AM,EMEA"'),
        ("metadata", '"approved,declined,request_more_info,pending"'),
    }
    recipient_type = next(v for v in workbook["recipient"].data_validations.dataValidation)
    assert str(recipient_type.sqref) == "B2:B5001"
    assert "Quartz" in " ".join(str(c.value) for c in workbook["help"]["B"])


def test_text_is_stored_as_shared_strings_like_excel_does() -> None:
    with zipfile.ZipFile(io.BytesIO(build_template_xlsx())) as archive:
        sheets = [archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/")]
        strings = archive.read("xl/sharedStrings.xml").decode()
        types = archive.read("[Content_Types].xml").decode()
    assert not [sheet for sheet in sheets if b"inlineStr" in sheet]
    assert "<si><t>sales_daily_sales_pl</t></si>" in strings
    assert "sharedStrings+xml" in types


def test_template_parses_to_the_example() -> None:
    assert (
        load("t.xlsx", build_template_xlsx()).record_hash
        == load("e.yaml", example_yaml()).record_hash
    )


def test_sample_files_are_up_to_date() -> None:
    assert (SAMPLES / EXAMPLE_FILE).read_bytes() == example_yaml()
    assert (SAMPLES / TEMPLATE_FILE).read_bytes() == build_template_xlsx(), (
        "regenerate with: python -m dbrx_api.workflow.sharepack_template api_layer/sharepack_templates"
    )


def test_regeneration_command(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / TEMPLATE_FILE).read_bytes() == build_template_xlsx()
    assert main([]) == 2


# ------------------------------------------------------------------------------------------ JSON Schema


def test_schema_header() -> None:
    schema = sharepack_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {
        "Metadata",
        "Recipient",
        "Share",
        "Pipeline",
        "Asset",
        "RecipientRef",
        "ShareRef",
    } <= set(schema["$defs"])
    jsonschema_rs.Draft202012Validator(schema)  # a valid schema
    schema["title"] = "changed"
    assert sharepack_json_schema()["title"] == "DeltaShare share pack"  # callers get a copy


def test_schema_accepts_the_example_and_every_accepted_spelling() -> None:
    validator = _validator()
    assert list(validator.iter_errors(_doc(example_yaml()))) == []
    variants = example_with(
        ("type: D2D", "type: d2d"),
        ("token_rotation: false", "token_rotation: no"),
        ("token_expiry: 90", 'token_expiry: "90"'),
        ("servicenow: RITM0012345", "servicenow_ticket: RITM0012345"),
        ("schedule: continuous", "schedule: {sales_catalog.curated.store_dim: continuous}"),
    )
    assert list(validator.iter_errors(_doc(variants))) == []
    delete = example_with(("strategy: UPDATE", "strategy: Delete"))
    assert list(validator.iter_errors(_doc(delete))) == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("    share_assets:   ", "    share_asset:    "), "share_asset"),
        (("delta_share_region: EMEA", "delta_share_region: APAC"), "APAC"),
        (("token_expiry: 90", "token_expiry: ninety"), "ninety"),
        (("  servicenow: RITM0012345\n", ""), "metadata"),
    ],
)
def test_schema_rejects_what_the_service_rejects(change: tuple[str, str], fragment: str) -> None:
    data = example_with(change)
    assert rejection("p.yaml", data).issues  # the service rejects it ...
    errors = list(_validator().iter_errors(_doc(data)))
    assert errors  # ... and so does an editor using the schema
    assert fragment in " ".join(f"{error.message} {list(error.instance_path)}" for error in errors)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(share_packs())
def test_schema_accepts_every_generated_pack(pack: AnySharePack) -> None:
    text = export_yaml(pack)
    assert list(_validator().iter_errors(_doc(text))) == []


def test_schema_accepts_the_small_base_pack() -> None:
    assert list(_validator().iter_errors(_doc(pack_yaml()))) == []
    assert isinstance(load("p.yaml", pack_yaml()).model, SharePack)
