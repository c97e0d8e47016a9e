"""The downloadable Excel template and JSON Schema (docs/API.md §12.4, §12.5) and the sample packs.

`build_template_xlsx()` is the canonical workbook layout filled with the complete example of docs/SHAREPACK.md §16
(`sharepack_example.yaml`, shipped with the package), enum drop-downs and a `help` sheet: no formulas, no
macros, and the same bytes on every call. The sample files in `api_layer/sharepack_templates/` are written by
`python -m dbrx_api.workflow.sharepack_template <directory>`; a test checks they are up to date.
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from dbrx_api.settings import UploadSettings
from dbrx_api.workflow.models import excel_layout as layout
from dbrx_api.workflow.models.json_schema import sharepack_json_schema
from dbrx_api.workflow.models.pack import (
    Asset,
    DeltaShare,
    Metadata,
    Pipeline,
    Recipient,
    Share,
    SharePack,
)
from dbrx_api.workflow.parsers.xlsx_writer import build_workbook, save_reproducibly
from dbrx_api.workflow.sharepack import load_sharepack

__all__ = [
    "EXAMPLE_FILE",
    "TEMPLATE_FILE",
    "build_template_xlsx",
    "example_pack",
    "example_yaml",
    "sharepack_json_schema",
    "write_samples",
]

EXAMPLE_FILE = "sharepack_example.yaml"
TEMPLATE_FILE = "sharepack_template.xlsx"
TEMPLATE_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SCHEMA_MEDIA_TYPE = "application/schema+json"


def _literal_values(annotation: Any) -> tuple[str, ...]:
    """The values of a `Literal[...]` or `Literal[...] | None` field type; () for any other type."""
    options = [annotation]
    if get_origin(annotation) in (Union, UnionType):
        options = [option for option in get_args(annotation) if option is not type(None)]
    if len(options) == 1 and get_origin(options[0]) is Literal:
        return get_args(options[0])
    return ()


# The canonical models whose plain fields are the columns of a sheet (models/excel_layout.py).
_SHEET_MODELS = (
    (layout.RECIPIENT_SHEET, Recipient),
    (layout.SHARE_SHEET, Share),
    (layout.SHARE_SHEET, DeltaShare),
    (layout.PIPELINES_SHEET, Pipeline),
    (layout.ASSETS_SHEET, Asset),
)
# (sheet, column) -> allowed values, offered as drop-downs on every data row: each enum (Literal) field.
_COLUMN_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    (sheet, column): values
    for sheet, model in _SHEET_MODELS
    for column, field in model.model_fields.items()
    if (values := _literal_values(field.annotation))
} | {(layout.ASSETS_SHEET, "list"): layout.ASSET_LIST_KEYS}
# metadata field -> allowed values, offered on that field's value cell.
_METADATA_CHOICES: dict[str, tuple[str, ...]] = {
    field: values
    for field, info in Metadata.model_fields.items()
    if (values := _literal_values(info.annotation))
}

_HELP_ROWS: tuple[tuple[str, str], ...] = (
    (
        "DeltaShare share pack",
        "Fill the sheets metadata, recipient, share, pipelines and assets, then upload the "
        "workbook (.xlsx) to POST /workflow/sharepack/upload_and_validate, or check it first with "
        "POST /workflow/sharepack/plan. The example rows show a complete pack; replace them with yours.",
    ),
    (
        "Headers",
        "Row 1 of every sheet holds the column names; data starts in row 2. Sheet and column names are "
        "matched ignoring case and spaces. Other sheets are ignored (this help sheet too).",
    ),
    (
        "metadata",
        "One row per field (columns field, value). Required: requestor, business_line, "
        "delta_share_region, configurator, approver, executive_team, workspace_url, servicenow, contact_email. "
        "Only approver_status = approved is queued for provisioning.",
    ),
    (
        "recipient",
        "One row per recipient. type D2D needs recipient_databricks_org "
        "(<cloud>:<region>:<metastore-uuid>); type D2O may set recipient_ips and the token columns. "
        "properties: the recipient's custom properties as key=value pairs separated by semicolons "
        "(e.g. country=DE; tier=gold), {} to remove them all; an empty cell leaves them as they are. "
        "rotate_before_expiry_days / rotation_grace_hours (D2O): a standing rotation policy instead of the "
        "one-shot token_rotation: the worker rotates the token that many days before it expires, the old one "
        "staying valid rotation_grace_hours (fewer hours than the lead time).",
    ),
    (
        "share",
        "One row per share. share_assets is the full list of objects the share should hold; the "
        "_to_add / _to_remove columns change only what they list. ext_catalog_name, ext_schema_name, tags and "
        "create_schema_if_missing form the share's delta_share defaults for its pipelines.",
    ),
    (
        "pipelines",
        "One row per pipeline; share_name links it to its share. Every table in share_assets needs a "
        "pipeline whose source_asset is that table. schedule_cron holds a Quartz cron "
        "(e.g. 0 0 2 * * ? = 02:00 every day) or the word continuous; schedule_timezone defaults to UTC.",
    ),
    (
        "assets",
        "One row per asset that needs options (shared_as, history, partitions, declared type ...); "
        "share_name and list (share_assets, share_assets_to_add, share_assets_to_remove) link it to its share. "
        "Plain names can stay in the list cells of the share sheet.",
    ),
    ("Lists", "Write several values in one cell separated by commas or line breaks."),
    ("Booleans", "TRUE/FALSE, or yes/no, y/n, on/off, 1/0."),
    (
        "Tags",
        "Pipeline tags: key=value pairs separated by commas. Share tags: key or key=value items.",
    ),
    (
        "Partitions",
        'A JSON array, e.g. [{"values":[{"name":"region","op":"EQUAL","value":"emea"}]}].',
    ),
    (
        "Formulas",
        "Cells must hold values: formulas, macros and links to other workbooks are rejected.",
    ),
)


def example_yaml() -> bytes:
    """The complete example pack of docs/SHAREPACK.md §16.1, as shipped with the package."""
    return resources.files("dbrx_api.workflow").joinpath(EXAMPLE_FILE).read_bytes()


@cache
def example_pack() -> SharePack:
    """The example pack parsed and validated (it is valid; the test suite guards it)."""
    model = load_sharepack(EXAMPLE_FILE, example_yaml(), UploadSettings()).model
    assert isinstance(model, SharePack)  # noqa: S101 - the example uses strategy UPDATE
    return model


def _header_columns(sheet: Any) -> dict[str, int]:
    return {str(cell.value): cell.column for cell in sheet[1] if cell.value is not None}


def _choices(values: tuple[str, ...]) -> DataValidation:
    validation = DataValidation(
        type="list",
        formula1='"' + ",".join(values) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Not a listed value",
        error="Choose one of: " + ", ".join(values),
    )
    return validation


def _add_validations(workbook: Workbook, data_rows: int) -> None:
    last_row = data_rows + 1
    for (sheet_name, column), values in _COLUMN_CHOICES.items():
        sheet = workbook[sheet_name]
        index = _header_columns(sheet)[column]
        letter = get_column_letter(index)
        validation = _choices(values)
        validation.add(f"{letter}2:{letter}{last_row}")
        sheet.add_data_validation(validation)
    metadata = workbook[layout.METADATA_SHEET]
    for row in metadata.iter_rows(min_row=2):
        field = row[0].value
        if isinstance(field, str) and field in _METADATA_CHOICES:
            validation = _choices(_METADATA_CHOICES[field])
            validation.add(f"B{row[0].row}")
            metadata.add_data_validation(validation)


def _add_help(workbook: Workbook) -> None:
    sheet = workbook.create_sheet(layout.HELP_SHEET)
    sheet.column_dimensions["A"].width = 24
    sheet.column_dimensions["B"].width = 110
    for row_number, (topic, text) in enumerate(_HELP_ROWS, start=1):
        topic_cell = sheet.cell(row=row_number, column=1, value=topic)
        topic_cell.font = Font(bold=True)
        topic_cell.alignment = Alignment(vertical="top")
        text_cell = sheet.cell(row=row_number, column=2, value=text)
        text_cell.data_type = "s"
        text_cell.alignment = Alignment(wrap_text=True, vertical="top")


@cache
def _template_bytes() -> bytes:
    workbook = build_workbook(example_pack())
    _add_validations(workbook, UploadSettings().xlsx_max_rows)
    _add_help(workbook)
    return save_reproducibly(workbook)


def build_template_xlsx() -> bytes:
    """The Excel template: canonical layout, the docs/SHAREPACK.md §16 example rows, enum drop-downs and a help sheet.

    No formulas, macros or external links; byte-identical across calls and processes for a given version.
    """
    return _template_bytes()


def write_samples(directory: Path) -> list[Path]:
    """Write the sample packs (the docs/SHAREPACK.md §16 YAML and the template workbook) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / EXAMPLE_FILE, directory / TEMPLATE_FILE]
    written[0].write_bytes(example_yaml())
    written[1].write_bytes(build_template_xlsx())
    return written


def main(argv: list[str] | None = None) -> int:
    """`python -m dbrx_api.workflow.sharepack_template DIR`: regenerate the sample packs."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m dbrx_api.workflow.sharepack_template <directory>\n")
        return 2
    for path in write_samples(Path(args[0])):
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
