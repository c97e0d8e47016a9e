"""Safe Excel front end (docs/SHAREPACK.md §14-§15): .xlsx bytes -> the same located tree as the YAML front end.

The archive is inspected with `zipfile` before the workbook library sees it (member count, sizes, compression
ratio, encryption, macros, external links). The workbook is then read with openpyxl in read-only mode,
formulas unevaluated, links and VBA dropped, with the hardened XML parser (defusedxml) required. Only the
first `xlsx_max_columns + 1` columns and at most `xlsx_max_rows` data rows per sheet are read.

Rows become mappings keyed by the normalised header; the `pipelines` and `assets` sheets are attached to their
share through `share_name`, so the validators see exactly the YAML structure, with every value located by
sheet, row, column and cell.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openpyxl
from openpyxl.cell.read_only import EMPTY_CELL
from openpyxl.utils import get_column_letter

from dbrx_api.settings import UploadSettings
from dbrx_api.workflow.models import excel_layout as layout
from dbrx_api.workflow.models.errors import SharePackInvalid, SharePackRejected
from dbrx_api.workflow.models.issues import Issue, IssueCollector, SourcePos
from dbrx_api.workflow.models.raw import (
    RawEntry,
    RawMap,
    RawNode,
    RawScalar,
    RawSeq,
    ScalarKind,
    split_list_text,
)
from dbrx_api.workflow.models.suggest import closest

EXCEL_MAX_ROWS = 1_048_576
_MACRO_CONTENT_MARKERS = (
    b"macroenabled",
    b"vbaproject",
    b"ms-excel.macrosheet",
    b"ms-excel.intlmacrosheet",
)
_EXTERNAL_LINK_MARKER = b"externallink"


class HardenedXmlMissing(RuntimeError):
    """openpyxl is not using defusedxml: the service must not read workbooks (checked at start-up)."""


def ensure_hardened_xml() -> None:
    """Refuse to go on unless openpyxl parses XML through defusedxml (call at service start-up)."""
    if not getattr(openpyxl, "DEFUSEDXML", False):
        raise HardenedXmlMissing(
            "openpyxl is not using defusedxml; install defusedxml so workbooks are parsed safely."
        )


def _fatal(code: str, msg: str, loc: str = "", pos: SourcePos | None = None) -> SharePackInvalid:
    return SharePackInvalid([Issue.at(code, "error", loc, msg, pos or SourcePos())])


@dataclass(slots=True)
class XlsxDocument:
    """The located tree of a workbook plus the issues found while reading it (errors and warnings)."""

    root: RawMap
    issues: IssueCollector


# ------------------------------------------------------------------------------------------ archive checks


def inspect_archive(data: bytes, limits: UploadSettings) -> None:
    """Zip-level checks without extracting anything but `[Content_Types].xml`.

    Raises:
        SharePackInvalid: `xlsx_corrupt`, `xlsx_limits_exceeded`, `xlsx_macros_forbidden` or
            `xlsx_external_links_forbidden`.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_members(infos, limits)
            names = {info.filename.lower(): info for info in infos}
            content_types = names.get("[content_types].xml")
            if content_types is None or "xl/workbook.xml" not in names:
                raise _fatal(
                    "xlsx_corrupt",
                    "the workbook cannot be read as .xlsx (it is a zip archive without the workbook parts).",
                )
            types_xml = archive.read(content_types).lower()
    except SharePackRejected:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
    ):
        raise _fatal(
            "xlsx_corrupt", "the workbook cannot be read as .xlsx (damaged zip archive)."
        ) from None
    if any(marker in types_xml for marker in _MACRO_CONTENT_MARKERS):
        raise _fatal("xlsx_macros_forbidden", "workbooks with macros are not accepted.")
    if _EXTERNAL_LINK_MARKER in types_xml:
        raise _fatal(
            "xlsx_external_links_forbidden",
            "the workbook links to external workbooks; remove the links.",
        )


def _check_members(infos: list[zipfile.ZipInfo], limits: UploadSettings) -> None:
    if len(infos) > limits.xlsx_max_members:
        raise _fatal(
            "xlsx_limits_exceeded",
            f"the archive has {len(infos)} members (limit {limits.xlsx_max_members}).",
        )
    total = 0
    for info in infos:
        name = info.filename.lower()
        if info.flag_bits & 0x1:
            raise _fatal(
                "xlsx_corrupt", "the workbook cannot be read as .xlsx (encrypted archive)."
            )
        if name.rsplit("/", 1)[-1] in {
            "vbaproject.bin",
            "vbaprojectsignature.bin",
        } or name.startswith("xl/macrosheets/"):
            raise _fatal("xlsx_macros_forbidden", "workbooks with macros are not accepted.")
        if name.startswith("xl/externallinks/"):
            raise _fatal(
                "xlsx_external_links_forbidden",
                "the workbook links to external workbooks; remove the links.",
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.xlsx_max_ratio:
            raise _fatal(
                "xlsx_limits_exceeded",
                f'member "{info.filename}" expands {ratio:.0f}x (limit {limits.xlsx_max_ratio}).',
            )
        total += info.file_size
    if total > limits.xlsx_max_uncompressed_bytes:
        raise _fatal(
            "xlsx_limits_exceeded",
            f"the workbook expands to {total:,} bytes (limit {limits.xlsx_max_uncompressed_bytes:,}).".replace(
                ",", " "
            ),
        )


# ------------------------------------------------------------------------------------------ cells


class _JsonNumber:
    __slots__ = ("kind", "text")

    def __init__(self, kind: ScalarKind, text: str) -> None:
        self.kind = kind
        self.text = text


def _cell_scalar(value: object, data_type: str, pos: SourcePos) -> RawScalar | None:
    """Convert one cell; None when it is empty or blank."""
    if data_type == "f":
        text = str(value)
        return RawScalar(
            text=text,
            kind="invalid",
            pos=pos,
            verbatim=False,
            problem=(
                "xlsx_formula_forbidden",
                f'cells may not contain formulas ("{text[:60]}"); type the value.',
            ),
        )
    if data_type == "e":
        return RawScalar(
            text=str(value),
            kind="invalid",
            pos=pos,
            verbatim=False,
            problem=("type_mismatch", f"the cell holds the error value {value}; type the value."),
        )
    if value is None:
        return None
    if isinstance(value, str):
        return RawScalar(text=value, kind="str", pos=pos) if value.strip() else None
    if isinstance(value, bool):
        return RawScalar(text="true" if value else "false", kind="bool", pos=pos, verbatim=False)
    if isinstance(value, int):
        return RawScalar(text=str(value), kind="int", pos=pos, verbatim=False)
    if isinstance(value, float):
        if value.is_integer():
            return RawScalar(text=str(int(value)), kind="int", pos=pos, verbatim=False)
        return RawScalar(text=repr(value), kind="float", pos=pos, verbatim=False)
    if isinstance(value, dt.datetime):
        text = value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
        return RawScalar(text=text, kind="date", pos=pos, verbatim=False)
    if isinstance(value, dt.date | dt.time):
        return RawScalar(text=value.isoformat(), kind="date", pos=pos, verbatim=False)
    return RawScalar(
        text=str(value),
        kind="invalid",
        pos=pos,
        verbatim=False,
        problem=(
            "type_mismatch",
            f"unsupported cell value {str(value)[:40]!r}; type the value as text.",
        ),
    )


def _json_cell(scalar: RawScalar, max_depth: int) -> RawNode:
    """Parse a `partitions` cell: a JSON array in the YAML shape; every node is located at the cell."""
    if scalar.kind != "str":
        return scalar

    def reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    try:
        parsed = json.loads(
            scalar.text,
            object_pairs_hook=reject_duplicates,
            parse_int=lambda text: _JsonNumber("int", text),
            parse_float=lambda text: _JsonNumber("float", text),
            parse_constant=lambda text: _JsonNumber("invalid", text),
        )
        return _json_to_raw(parsed, scalar.pos, max_depth)
    except (ValueError, RecursionError):
        return RawScalar(
            text=scalar.text,
            kind="invalid",
            pos=scalar.pos,
            verbatim=True,
            problem=(
                "asset_option_invalid",
                'partitions must be a JSON array such as [{"values":[{"name":"region","op":"EQUAL",'
                '"value":"emea"}]}].',
            ),
        )


def _json_to_raw(value: object, pos: SourcePos, depth_left: int) -> RawNode:
    if depth_left <= 0:
        raise ValueError("nested too deeply")
    if isinstance(value, dict):
        node = RawMap(pos=pos)
        for key, item in value.items():
            node.entries[key] = RawEntry(
                key=key, key_pos=pos, value=_json_to_raw(item, pos, depth_left - 1)
            )
        return node
    if isinstance(value, list):
        return RawSeq(items=[_json_to_raw(item, pos, depth_left - 1) for item in value], pos=pos)
    if isinstance(value, _JsonNumber):
        if value.kind == "invalid":
            raise ValueError("not a number")
        return RawScalar(text=value.text, kind=value.kind, pos=pos)
    if isinstance(value, bool):
        return RawScalar(text="true" if value else "false", kind="bool", pos=pos)
    if value is None:
        return RawScalar(text="", kind="null", pos=pos)
    return RawScalar(text=str(value), kind="str", pos=pos)


# ------------------------------------------------------------------------------------------ sheets


@dataclass(slots=True)
class _Column:
    index: int  # 1-based
    name: str  # normalised header
    cell: str

    @property
    def letter(self) -> str:
        """Column letter (`A`, `B`, ...)."""
        return self.cell[:-1]


@dataclass(slots=True)
class _Row:
    number: int
    cells: dict[str, RawScalar]  # normalised header -> value (non-empty cells of known columns)
    pos: SourcePos


@dataclass(slots=True)
class _Sheet:
    title: str
    index: int
    columns: list[_Column]
    rows: list[_Row]


class _WorkbookReader:
    def __init__(self, limits: UploadSettings) -> None:
        self.limits = limits
        self.issues = IssueCollector()

    def issue(
        self,
        code: str,
        loc: str,
        msg: str,
        pos: SourcePos,
        *,
        severity: str = "error",
        input_value: object = None,
        hint: str | None = None,
    ) -> None:
        self.issues.add(
            "warning" if severity == "warning" else "error",
            code,
            loc,
            msg,
            pos,
            input_value=input_value,
            hint=hint,
        )

    # ---------------------------------------------------------------- rows

    def iter_sheet_rows(self, worksheet: Any, title: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """(row number, cells) of non-empty rows; identical filler rows for gaps are skipped cheaply."""
        filler: tuple[Any, ...] | None = None
        width = self.limits.xlsx_max_columns + 1
        for number, row in enumerate(worksheet.iter_rows(min_row=1, max_col=width), start=1):
            if number > EXCEL_MAX_ROWS:
                raise _fatal("xlsx_corrupt", f'sheet "{title}" has more rows than Excel allows.')
            if row is filler:
                continue
            if all(cell is EMPTY_CELL or _is_blank(cell) for cell in row):
                filler = row
                continue
            yield number, row

    def read_sheet(self, worksheet: Any, title: str, index: int, sheet: str) -> _Sheet:
        known = set(layout.SHEET_COLUMNS[sheet]) | set(layout.COLUMN_ALIASES[sheet])
        known |= layout.DEPRECATED_COLUMNS[sheet]
        max_columns = self.limits.xlsx_max_columns
        columns: dict[int, _Column] = {}
        read: list[tuple[int, _Column]] = []  # (0-based position, column) of known columns
        unnamed: list[int] = list(range(max_columns))  # 0-based positions without a header
        unnamed_with_data: set[int] = set()
        rows: list[_Row] = []
        data_rows = 0
        for number, cells in self.iter_sheet_rows(worksheet, title):
            if len(cells) > max_columns and not _is_blank(cells[max_columns]):
                raise _fatal(
                    "xlsx_limits_exceeded",
                    f'sheet "{title}" has more than {max_columns} columns.',
                )
            if number == 1:
                columns = self._header(cells, title, index, sheet, known)
                read = [(p - 1, c) for p, c in sorted(columns.items()) if c.name in known]
                unnamed = [p for p in range(max_columns) if p + 1 not in columns]
                continue
            data_rows += 1
            if data_rows > self.limits.xlsx_max_rows:
                raise _fatal(
                    "xlsx_limits_exceeded",
                    f'sheet "{title}" has more than {self.limits.xlsx_max_rows:,} data rows.'.replace(
                        ",", " "
                    ),
                )
            width = len(cells)
            for position in unnamed:
                if (
                    position < width
                    and cells[position] is not EMPTY_CELL
                    and not _is_blank(cells[position])
                ):
                    unnamed_with_data.add(position + 1)
            values: dict[str, RawScalar] = {}
            for position, column in read:
                if position >= width:
                    break
                cell = cells[position]
                if cell is EMPTY_CELL or _is_blank(cell):
                    continue
                pos = SourcePos(
                    sheet=title,
                    sheet_index=index,
                    row=number,
                    header=column.name,
                    cell=f"{column.letter}{number}",
                    column_index=column.index,
                )
                scalar = _cell_scalar(cell.value, cell.data_type, pos)
                if scalar is not None:
                    values[column.name] = scalar
            if values:
                rows.append(
                    _Row(
                        number=number,
                        cells=values,
                        pos=SourcePos(sheet=title, sheet_index=index, row=number),
                    )
                )
        for position in sorted(unnamed_with_data):
            letter = get_column_letter(position)
            self.issue(
                "unknown_field",
                sheet,
                f"column {letter} holds values but has no header; add the header or clear the column.",
                SourcePos(
                    sheet=title, sheet_index=index, row=1, cell=f"{letter}1", column_index=position
                ),
            )
        if rows:
            present = {column.name for column in columns.values()}
            for required in layout.REQUIRED_COLUMNS[sheet]:
                if required not in present:
                    self.issue(
                        "xlsx_column_missing",
                        sheet,
                        f'required column "{required}" is missing.',
                        SourcePos(sheet=title, sheet_index=index, row=1),
                    )
        return _Sheet(title=title, index=index, columns=list(columns.values()), rows=rows)

    def _header(
        self, cells: tuple[Any, ...], title: str, index: int, sheet: str, known: set[str]
    ) -> dict[int, _Column]:
        columns: dict[int, _Column] = {}
        seen: dict[str, str] = {}
        for position, cell in enumerate(cells[: self.limits.xlsx_max_columns], start=1):
            if _is_blank(cell):
                continue
            letter = get_column_letter(position)
            pos = SourcePos(
                sheet=title, sheet_index=index, row=1, cell=f"{letter}1", column_index=position
            )
            if cell.data_type in {"f", "e"}:
                self.issue(
                    "xlsx_formula_forbidden" if cell.data_type == "f" else "type_mismatch",
                    sheet,
                    "header cells must hold the column name as text.",
                    pos,
                    input_value=cell.value,
                )
                continue
            name = layout.normalise_header(str(cell.value))
            pos = SourcePos(
                sheet=title,
                sheet_index=index,
                row=1,
                header=name,
                cell=f"{letter}1",
                column_index=position,
            )
            canonical = layout.COLUMN_ALIASES[sheet].get(name, name)
            if canonical in seen:
                self.issue(
                    "xlsx_duplicate_column",
                    sheet,
                    f'column "{cell.value}" duplicates column {seen[canonical]}.',
                    pos,
                    input_value=cell.value,
                )
                continue
            seen[canonical] = letter
            if name not in known:
                suggestion = closest(name, layout.SHEET_COLUMNS[sheet])
                self.issue(
                    "unknown_field",
                    sheet,
                    f'unknown column "{cell.value}"'
                    + (f'; did you mean "{suggestion}"?' if suggestion else ".")
                    + f" Columns of sheet {sheet}: {', '.join(layout.SHEET_COLUMNS[sheet])}.",
                    pos,
                    input_value=cell.value,
                    hint=suggestion,
                )
            columns[position] = _Column(index=position, name=name, cell=f"{letter}1")
        return columns

    # ---------------------------------------------------------------- tree

    def metadata_map(self, sheet: _Sheet) -> RawMap:
        node = RawMap(pos=SourcePos(sheet=sheet.title, sheet_index=sheet.index, row=1))
        first_row: dict[str, int] = {}
        for row in sheet.rows:
            field_cell = row.cells.get("field")
            value = row.cells.get("value")
            if field_cell is None:
                if value is not None:
                    self.issue(
                        "unknown_field",
                        "metadata",
                        "this row has a value but no field name.",
                        value.pos,
                        input_value=value.text,
                    )
                continue
            if field_cell.kind == "invalid" and field_cell.problem is not None:
                self.issue(field_cell.problem[0], "metadata", field_cell.problem[1], field_cell.pos)
                continue
            name = layout.normalise_header(field_cell.text)
            if name in first_row:
                self.issue(
                    "xlsx_duplicate_field",
                    f"metadata.{name}",
                    f'field "{name}" already given in row {first_row[name]}.',
                    field_cell.pos,
                    input_value=field_cell.text,
                )
                continue
            first_row[name] = row.number
            if value is None:
                continue
            node.entries[name] = RawEntry(key=name, key_pos=field_cell.pos, value=value)
        return node

    def entry_map(self, row: _Row, skip: tuple[str, ...] = ()) -> RawMap:
        node = RawMap(pos=row.pos)
        for name, scalar in row.cells.items():
            if name not in skip:
                node.entries[name] = RawEntry(key=name, key_pos=scalar.pos, value=scalar)
        return node

    def recipient_map(self, row: _Row, index: int) -> RawMap:
        """A recipient row; the policy columns become the `token_rotation` mapping (docs/SHAREPACK.md §5.3, §14)."""
        columns = layout.TOKEN_ROTATION_POLICY_COLUMNS
        node = self.entry_map(row, skip=tuple(columns))
        policy_cells = {
            key: row.cells[column] for column, key in columns.items() if column in row.cells
        }
        if not policy_cells:
            return node
        first = min(policy_cells.values(), key=lambda scalar: scalar.pos.column_index)
        policy = RawMap(pos=first.pos)
        for key, scalar in policy_cells.items():
            policy.entries[key] = RawEntry(key=key, key_pos=scalar.pos, value=scalar)
        one_shot = node.entries.get("token_rotation")
        if one_shot is not None and not _says_false(one_shot.value):
            self.issue(
                "token_rotation_conflict",
                f"recipient[{index}].token_rotation",
                "token_rotation and the policy columns rotate_before_expiry_days/rotation_grace_hours exclude "
                "each other: a policy replaces the one-shot rotation; clear token_rotation.",
                one_shot.value.pos,
                input_value=one_shot.value.text if isinstance(one_shot.value, RawScalar) else None,
            )
        node.entries["token_rotation"] = RawEntry(
            key="token_rotation", key_pos=first.pos, value=policy
        )
        return node

    def share_map(self, row: _Row) -> RawMap:
        node = self.entry_map(row, skip=layout.DELTA_SHARE_COLUMNS)
        for name in layout.ASSET_LIST_KEYS:
            entry = node.entries.get(name)
            if (
                entry is not None
                and isinstance(entry.value, RawScalar)
                and entry.value.kind == "str"
            ):
                cell = entry.value
                entry.value = RawSeq(
                    items=[
                        RawScalar(text=item, kind="str", pos=cell.pos)
                        for item in split_list_text(cell.text)
                    ],
                    pos=cell.pos,
                )
        delta_cells = {
            name: row.cells[name] for name in layout.DELTA_SHARE_COLUMNS if name in row.cells
        }
        if delta_cells:
            first = min(delta_cells.values(), key=lambda scalar: scalar.pos.column_index)
            delta = RawMap(pos=first.pos)
            for name, scalar in delta_cells.items():
                delta.entries[name] = RawEntry(key=name, key_pos=scalar.pos, value=scalar)
            node.entries["delta_share"] = RawEntry(
                key="delta_share", key_pos=first.pos, value=delta
            )
        return node

    def pipeline_map(self, row: _Row) -> RawMap:
        node = self.entry_map(row, skip=("share_name", *layout.SCHEDULE_COLUMNS))
        cron = row.cells.get("schedule_cron")
        timezone = row.cells.get("schedule_timezone")
        if cron is not None and timezone is None:
            node.entries["schedule"] = RawEntry(key="schedule", key_pos=cron.pos, value=cron)
        elif timezone is not None:
            anchor = cron or timezone
            schedule = RawMap(pos=anchor.pos)
            if cron is not None:
                schedule.entries["cron"] = RawEntry(key="cron", key_pos=cron.pos, value=cron)
            if timezone is not None:
                schedule.entries["timezone"] = RawEntry(
                    key="timezone", key_pos=timezone.pos, value=timezone
                )
            node.entries["schedule"] = RawEntry(key="schedule", key_pos=anchor.pos, value=schedule)
        return node

    def asset_map(self, row: _Row) -> RawMap:
        node = self.entry_map(row, skip=("share_name", "list"))
        partitions = node.entries.get("partitions")
        if partitions is not None and isinstance(partitions.value, RawScalar):
            partitions.value = _json_cell(partitions.value, self.limits.yaml_max_depth)
        return node

    def share_for(
        self, row: _Row, sheet: str, shares: dict[str, RawMap], names: list[str]
    ) -> RawMap | None:
        reference = row.cells.get("share_name")
        if reference is None:
            self.issue(
                "required",
                sheet,
                "share_name is required: the name of the share (sheet share) this row belongs to.",
                row.pos,
            )
            return None
        if reference.kind == "invalid" and reference.problem is not None:
            self.issue(
                reference.problem[0],
                sheet,
                reference.problem[1],
                reference.pos,
                input_value=reference.text,
            )
            return None
        key = reference.text.strip().lower()
        share = shares.get(key)
        if share is None:
            suggestion = closest(key, names)
            # The row is still read, as part of the share the hint names: its own problems are reported and
            # the share's checks do not fail merely because this row is not attached.
            share = shares.get(suggestion) if suggestion else None
            self.issue(
                "unknown_share_reference",
                sheet,
                f'no share "{reference.text.strip()}" in sheet share'
                + (f'; did you mean "{suggestion}"?' if suggestion else "."),
                reference.pos,
                input_value=reference.text,
                hint=suggestion,
            )
        return share

    def asset_list_name(self, row: _Row) -> str | None:
        cell = row.cells.get("list")
        if cell is None:
            return "share_assets"
        if cell.kind == "invalid" and cell.problem is not None:
            self.issue(cell.problem[0], "assets", cell.problem[1], cell.pos, input_value=cell.text)
            return None
        name = layout.normalise_header(cell.text)
        if name not in layout.ASSET_LIST_KEYS:
            self.issue(
                "enum_invalid",
                "assets",
                f'"{cell.text.strip()}" is not one of {", ".join(layout.ASSET_LIST_KEYS)}.',
                cell.pos,
                input_value=cell.text,
            )
            return None
        return name


def _is_blank(cell: Any) -> bool:
    value = cell.value
    return value is None or (isinstance(value, str) and not value.strip() and cell.data_type != "f")


def _append_to_list(share: RawMap, list_name: str, asset: RawMap) -> None:
    entry = share.entries.get(list_name)
    if entry is None:
        share.entries[list_name] = RawEntry(
            key=list_name, key_pos=asset.pos, value=RawSeq(items=[asset], pos=asset.pos)
        )
    elif isinstance(entry.value, RawSeq):
        entry.value.items.append(asset)
    else:
        entry.value = RawSeq(items=[entry.value, asset], pos=entry.value.pos)


# ------------------------------------------------------------------------------------------ entry point


def parse_xlsx(data: bytes, limits: UploadSettings) -> XlsxDocument:
    """Parse a share-pack workbook into the located tree (plus non-fatal reader issues).

    Raises:
        SharePackInvalid: for stage-1 problems (`xlsx_corrupt`, `xlsx_limits_exceeded`,
            `xlsx_macros_forbidden`, `xlsx_external_links_forbidden`, `xlsx_sheet_missing`).
        HardenedXmlMissing: openpyxl is not using defusedxml (a deployment fault, never the upload's).
    """
    ensure_hardened_xml()
    inspect_archive(data, limits)
    reader = _WorkbookReader(limits)
    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=False, keep_links=False, keep_vba=False
        )
    except Exception:  # noqa: BLE001 - any failure of the library on hostile bytes is a corrupt workbook
        raise _fatal(
            "xlsx_corrupt", "the workbook cannot be read as .xlsx (damaged workbook parts)."
        ) from None
    try:
        root = _read_workbook(workbook, reader, limits)
    except SharePackRejected:
        raise
    except Exception:  # noqa: BLE001 - same: malformed sheet XML surfaces while iterating rows
        raise _fatal(
            "xlsx_corrupt", "the workbook cannot be read as .xlsx (damaged worksheet)."
        ) from None
    finally:
        workbook.close()
    return XlsxDocument(root=root, issues=reader.issues)


def _read_workbook(workbook: Any, reader: _WorkbookReader, limits: UploadSettings) -> RawMap:
    titles: list[str] = list(workbook.sheetnames)
    if len(titles) > limits.xlsx_max_sheets:
        raise _fatal(
            "xlsx_limits_exceeded",
            f"the workbook has {len(titles)} sheets (limit {limits.xlsx_max_sheets}).",
        )
    found: dict[str, tuple[int, str]] = {}
    for index, raw_title in enumerate(titles):
        title = raw_title.strip()
        name = layout.normalise_sheet_name(raw_title)
        pos = SourcePos(sheet=title, sheet_index=index)
        if name in found:
            reader.issue(
                "xlsx_duplicate_sheet",
                name,
                f'sheet "{raw_title}" has the same name as sheet "{titles[found[name][0]]}"; merge or rename one.',
                pos,
            )
            continue
        if name in layout.CANONICAL_SHEETS:
            found[name] = (index, raw_title)
        elif name != layout.HELP_SHEET:
            reader.issue(
                "xlsx_sheet_ignored",
                name,
                f'sheet "{title}" is not part of the share-pack layout and was ignored.',
                pos,
                severity="warning",
            )
    if layout.METADATA_SHEET not in found:
        raise _fatal("xlsx_sheet_missing", f'required sheet "{layout.METADATA_SHEET}" is missing.')

    sheets: dict[str, _Sheet] = {}
    for name, (index, raw_title) in found.items():
        worksheet = workbook[raw_title]
        if not hasattr(worksheet, "iter_rows"):
            raise _fatal(
                "xlsx_corrupt", f'sheet "{raw_title.strip()}" is a chart, not a worksheet.'
            )
        # Read-only sheets trust the <dimension> element, which some writers get wrong: read what is there.
        worksheet.reset_dimensions()
        sheets[name] = reader.read_sheet(worksheet, raw_title.strip(), index, name)

    root = RawMap(pos=SourcePos(sheet=sheets[layout.METADATA_SHEET].title))
    metadata = reader.metadata_map(sheets[layout.METADATA_SHEET])
    root.entries["metadata"] = RawEntry(key="metadata", key_pos=metadata.pos, value=metadata)

    if layout.RECIPIENT_SHEET in sheets:
        sheet = sheets[layout.RECIPIENT_SHEET]
        items: list[RawNode] = [
            reader.recipient_map(row, index) for index, row in enumerate(sheet.rows)
        ]
        if items:
            pos = SourcePos(sheet=sheet.title, sheet_index=sheet.index, row=1)
            root.entries["recipient"] = RawEntry(
                key="recipient", key_pos=pos, value=RawSeq(items=items, pos=pos)
            )

    shares: dict[str, RawMap] = {}
    share_items: list[RawNode] = []
    if layout.SHARE_SHEET in sheets:
        sheet = sheets[layout.SHARE_SHEET]
        for row in sheet.rows:
            share = reader.share_map(row)
            share_items.append(share)
            name_cell = row.cells.get("name")
            if name_cell is not None and name_cell.kind != "invalid":
                shares.setdefault(name_cell.text.strip().lower(), share)
        if share_items:
            pos = SourcePos(sheet=sheet.title, sheet_index=sheet.index, row=1)
            root.entries["share"] = RawEntry(
                key="share", key_pos=pos, value=RawSeq(items=share_items, pos=pos)
            )
    share_names = list(shares)

    if layout.PIPELINES_SHEET in sheets:
        for row in sheets[layout.PIPELINES_SHEET].rows:
            owner = reader.share_for(row, layout.PIPELINES_SHEET, shares, share_names)
            if owner is None:
                continue
            pipeline = reader.pipeline_map(row)
            entry = owner.entries.get("pipelines")
            if entry is None:
                owner.entries["pipelines"] = RawEntry(
                    key="pipelines", key_pos=row.pos, value=RawSeq(items=[pipeline], pos=row.pos)
                )
            else:
                assert isinstance(entry.value, RawSeq)  # noqa: S101 - only this loop creates it
                entry.value.items.append(pipeline)

    if layout.ASSETS_SHEET in sheets:
        for row in sheets[layout.ASSETS_SHEET].rows:
            target = reader.share_for(row, layout.ASSETS_SHEET, shares, share_names)
            list_name = reader.asset_list_name(row)
            if target is None or list_name is None:
                continue
            _append_to_list(target, list_name, reader.asset_map(row))
    return root


def _says_false(node: RawNode) -> bool:
    """A one-shot `token_rotation` cell that turns the rotation off (FALSE, no, 0, ...), which a policy may sit beside."""
    return isinstance(node, RawScalar) and node.text.strip().lower() in {
        "false",
        "no",
        "n",
        "off",
        "0",
    }
