"""Canonical model -> workbook in the canonical Excel layout (docs/SHAREPACK.md §14), byte-for-byte reproducible.

String-form assets go into the list cells of the `share` sheet, mapping-form assets into the `assets` sheet.
Text cells are written as text (number format `@`, never as formulas even when they start with `=`), numbers
as numbers and booleans as TRUE/FALSE. The zip members get a fixed timestamp and the document properties fixed
dates, so the same pack always produces the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from dbrx_api.workflow.models import excel_layout as layout
from dbrx_api.workflow.models.pack import (
    AnySharePack,
    Asset,
    CronSchedule,
    DeleteSharePack,
    DeltaShare,
    Pipeline,
    Share,
    SharePack,
)

# openpyxl writes naive datetimes as UTC.
FIXED_TIMESTAMP = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).replace(tzinfo=None)
_ZIP_DATE = (2026, 1, 1, 0, 0, 0)
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")

CellValue = str | int | bool | None


def _joined(values: Sequence[str] | None) -> str | None:
    return ", ".join(values) if values else None


def _cell(value: Any) -> CellValue:
    """A plain field's cell: a list joined with `, `, a scalar as it is (docs/SHAREPACK.md §14.3)."""
    return _joined(value) if isinstance(value, list) else value


def _set(sheet: Worksheet, row: int, column: int, value: CellValue) -> None:
    if value is None:
        return
    cell = sheet.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str):
        # A text starting with "=" would otherwise be written as a formula.
        cell.data_type = "s"
        cell.number_format = "@"


def write_rows(
    sheet: Worksheet, columns: Sequence[str], rows: Sequence[dict[str, CellValue]]
) -> None:
    """Header row plus one row per dict (keys are column names)."""
    for index, name in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index, value=name)
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        sheet.column_dimensions[get_column_letter(index)].width = max(14, min(48, len(name) + 4))
    sheet.freeze_panes = "A2"
    for row_number, values in enumerate(rows, start=2):
        for index, name in enumerate(columns, start=1):
            _set(sheet, row_number, index, values.get(name))


def _metadata_rows(pack: AnySharePack) -> list[dict[str, CellValue]]:
    data = pack.metadata.model_dump(exclude_none=True)
    rows: list[dict[str, CellValue]] = []
    for field in layout.METADATA_FIELDS:
        if field not in data:
            continue
        value = data[field]
        rows.append({"field": field, "value": _joined(value) if isinstance(value, list) else value})
    return rows


def _asset_fits_cell(asset: Asset) -> bool:
    return asset.is_name_only


def _asset_list_cell(
    share_name: str, key: str, assets: list[Asset], asset_rows: list[dict[str, CellValue]]
) -> str | None:
    """The names of string-form assets for the list cell; the others (and all when too long) go to `asset_rows`."""
    names = [asset.name for asset in assets if _asset_fits_cell(asset)]
    in_cell: set[str] = set(names)
    cell = _joined(names)
    if cell is not None and len(cell) > layout.EXCEL_CELL_MAX_CHARS:
        cell, in_cell = None, set()
    for asset in assets:
        if asset.name not in in_cell:
            asset_rows.append(_asset_row(share_name, key, asset))
    return cell


def _share_rows(share: Share, asset_rows: list[dict[str, CellValue]]) -> dict[str, CellValue]:
    row: dict[str, CellValue] = {}
    for key in Share.model_fields:
        value = getattr(share, key)
        if key in layout.ASSET_LIST_KEYS:
            row[key] = _asset_list_cell(share.name, key, value or [], asset_rows)
        elif isinstance(value, DeltaShare):
            row.update((name, _cell(getattr(value, name))) for name in DeltaShare.model_fields)
        elif key in layout.SHARE_COLUMNS:
            # Not an absent delta_share, nor the pipelines: they have their own sheet.
            row[key] = _cell(value)
    return row


def _asset_row(share_name: str, list_key: str, asset: Asset) -> dict[str, CellValue]:
    row: dict[str, CellValue] = {"share_name": share_name, "list": list_key}
    for key in Asset.model_fields:
        value = getattr(asset, key)
        if key == "partitions" and value is not None:
            value = json.dumps(
                [spec.model_dump(exclude_none=True) for spec in value],
                separators=(",", ":"),
                ensure_ascii=False,
            )
        row[key] = value
    return row


def _pipeline_row(share_name: str, pipeline: Pipeline) -> dict[str, CellValue]:
    row: dict[str, CellValue] = {"share_name": share_name}
    for key in Pipeline.model_fields:
        value = getattr(pipeline, key)
        if isinstance(value, CronSchedule):
            row.update(
                (column, getattr(value, name)) for column, name in layout.SCHEDULE_COLUMNS.items()
            )
        elif key == "schedule":  # the word continuous
            row["schedule_cron"] = value
        elif isinstance(value, dict):  # tags: key=value pairs sorted by key
            row[key] = _joined([f"{name}={value[name]}" for name in sorted(value)])
        else:
            row[key] = _cell(value)
    return row


def _properties_text(properties: dict[str, str]) -> str:
    """A recipient's properties cell (docs/SHAREPACK.md §14): `key=value; ...`, `{}` for an empty map, and a JSON
    object when a value holds a separator (a semicolon or line break)."""
    if any(";" in value or "\n" in value or "\r" in value for value in properties.values()):
        return json.dumps(properties, ensure_ascii=False, separators=(", ", ": "))
    return "; ".join(f"{key}={value}" for key, value in properties.items()) or "{}"


def build_workbook(pack: AnySharePack) -> Workbook:
    """An openpyxl workbook holding the pack in the canonical layout (no help sheet)."""
    workbook = Workbook()
    metadata = workbook.active
    assert metadata is not None  # noqa: S101 - a new workbook has one sheet
    metadata.title = layout.METADATA_SHEET
    write_rows(metadata, layout.METADATA_COLUMNS, _metadata_rows(pack))
    metadata.column_dimensions["B"].width = 60

    recipient_rows: list[dict[str, CellValue]] = []
    share_rows: list[dict[str, CellValue]] = []
    pipeline_rows: list[dict[str, CellValue]] = []
    asset_rows: list[dict[str, CellValue]] = []
    if isinstance(pack, DeleteSharePack):
        recipient_rows = [{"name": recipient.name} for recipient in pack.recipient]
        for ref in pack.share:
            share_rows.append({"name": ref.name})
            pipeline_rows.extend(
                {"share_name": ref.name, "name_prefix": name} for name in ref.pipelines or []
            )
    else:
        assert isinstance(pack, SharePack)  # noqa: S101
        for recipient in pack.recipient:
            data: dict[str, Any] = recipient.model_dump(exclude_none=True)
            policy = data.get("token_rotation")
            if isinstance(policy, dict):  # the policy columns (docs/SHAREPACK.md §14)
                del data["token_rotation"]
                for column, key in layout.TOKEN_ROTATION_POLICY_COLUMNS.items():
                    data[column] = policy[key]
            recipient_rows.append(
                {
                    key: _joined(value)
                    if isinstance(value, list)
                    else _properties_text(value)
                    if isinstance(value, dict)
                    else value
                    for key, value in data.items()
                }
            )
        for share in pack.share:
            share_rows.append(_share_rows(share, asset_rows))
            pipeline_rows.extend(
                _pipeline_row(share.name, pipeline) for pipeline in share.pipelines or []
            )
    for title, columns, rows in (
        (layout.RECIPIENT_SHEET, layout.RECIPIENT_COLUMNS, recipient_rows),
        (layout.SHARE_SHEET, layout.SHARE_COLUMNS, share_rows),
        (layout.PIPELINES_SHEET, layout.PIPELINE_COLUMNS, pipeline_rows),
        (layout.ASSETS_SHEET, layout.ASSET_COLUMNS, asset_rows),
    ):
        write_rows(workbook.create_sheet(title), columns, rows)
    return workbook


def save_reproducibly(workbook: Workbook) -> bytes:
    """Serialise with fixed document dates and zip timestamps, so equal workbooks give equal bytes."""
    workbook.properties.creator = "DeltaShare"
    workbook.properties.lastModifiedBy = None
    workbook.properties.created = FIXED_TIMESTAMP
    workbook.properties.modified = FIXED_TIMESTAMP
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        # ExcelWriter, unlike openpyxl.save_workbook, keeps `modified` as set above.
        ExcelWriter(workbook, archive).save()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as source:
        members = {info.filename: source.read(info.filename) for info in source.infolist()}
    members = _with_shared_strings(members)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, content in members.items():
            member = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o600 << 16
            target.writestr(member, content, compresslevel=9)
    return out.getvalue()


_INLINE_STRING = re.compile(
    r'<c r="(?P<ref>[A-Z]+[0-9]+)"(?P<style> s="[0-9]+")? t="inlineStr"><is>'
    r"<t(?P<space> xml:space=\"preserve\")?>(?P<text>[^<]*)</t></is></c>"
)
_SST_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _with_shared_strings(members: dict[str, bytes]) -> dict[str, bytes]:
    """Move openpyxl's inline strings into a shared-strings part, as Excel itself stores text.

    openpyxl always writes text as inline strings, which take readers (openpyxl included) noticeably longer
    to parse than Excel's shared strings; the exported workbook is read back on every upload.
    """
    table: dict[tuple[str, bool], int] = {}
    references = 0

    def share(match: re.Match[str]) -> str:
        nonlocal references
        key = (match.group("text"), match.group("space") is not None)
        index = table.setdefault(key, len(table))
        references += 1
        return f'<c r="{match.group("ref")}"{match.group("style") or ""} t="s"><v>{index}</v></c>'

    result = dict(members)
    for name, content in members.items():
        if name.startswith("xl/worksheets/sheet") and name.endswith(".xml"):
            result[name] = _INLINE_STRING.sub(share, content.decode("utf-8")).encode("utf-8")
    if not table:
        return members
    items = "".join(
        f"<si><t{' xml:space=' + chr(34) + 'preserve' + chr(34) if preserve else ''}>{text}</t></si>"
        for text, preserve in table
    )
    result["xl/sharedStrings.xml"] = (
        f'<sst xmlns="{_SST_NS}" count="{references}" uniqueCount="{len(table)}">{items}</sst>'
    ).encode()
    types = result["[Content_Types].xml"].decode("utf-8")
    result["[Content_Types].xml"] = types.replace(
        "</Types>",
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SST_TYPE}" /></Types>',
    ).encode("utf-8")
    relations = result["xl/_rels/workbook.xml.rels"].decode("utf-8")
    result["xl/_rels/workbook.xml.rels"] = relations.replace(
        "</Relationships>",
        f'<Relationship Type="{_SST_REL}" Target="sharedStrings.xml" Id="rIdSharedStrings" /></Relationships>',
    ).encode("utf-8")
    return result


def export_excel(pack: AnySharePack) -> bytes:
    """The pack as an .xlsx workbook in the canonical layout."""
    return save_reproducibly(build_workbook(pack))
