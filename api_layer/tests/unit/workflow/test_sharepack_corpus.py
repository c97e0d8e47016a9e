"""Invalid-file corpus beyond docs/SHAREPACK.md §17: every rule of docs/SHAREPACK.md §13 with its code and location, hostile files,
and the Excel-specific failures. Each case is generated here from a small valid pack (`BASE_PACK`) or the
template workbook, and asserts the HTTP status, the problem code and the issues (type and model path, plus the
file position where it matters). No case may raise anything but the share-pack rejection.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from dbrx_api.settings import UploadSettings
from dbrx_api.workflow.models.excel_layout import RECIPIENT_COLUMNS
from dbrx_api.workflow.sharepack_template import build_template_xlsx
from fixtures.sharepacks import (
    LIMITS,
    by_type,
    column_of,
    error_set,
    load,
    mark_encrypted,
    pack_yaml,
    rejection,
    row_of,
    template_workbook,
    workbook_bytes,
    zip_with,
)

P0 = "share[0].pipelines[0]"


@dataclass(frozen=True)
class Case:
    """One corpus file: its name, content, the expected status/code and `(type, loc)` errors."""

    id: str
    filename: str
    data: Callable[[], bytes]
    status: int
    code: str
    errors: set[tuple[str, str]]
    exact: bool = True


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation of the base pack: assign `value` at a dotted path (`share.0.name`)."""

    def mutate(pack: dict[str, Any]) -> None:
        parts = path.split(".")
        target: Any = pack
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


_DELETE = object()


def _yaml(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[], bytes]:
    def build() -> bytes:
        def apply(pack: dict[str, Any]) -> None:
            for mutation in mutations:
                mutation(pack)

        return pack_yaml(apply)

    return build


def _second_pipeline(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(pack: dict[str, Any]) -> None:
        share = pack["share"][0]
        pipeline = {
            "name_prefix": "p2",
            "source_asset": "cat.sch.t2",
            "key_columns": "id",
            "schedule": "continuous",
        }
        pipeline.update(fields)
        share["pipelines"].append(pipeline)

    return mutate


def _explicit_share(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(pack: dict[str, Any]) -> None:
        share = {
            "name": "s2",
            "delta_share": {"ext_catalog_name": "sharing", "ext_schema_name": "ext2"},
        }
        share.update(fields)
        pack["share"].append(share)

    return mutate


def _text(data: str) -> Callable[[], bytes]:
    return lambda: data.encode("utf-8")


def _alias_bomb() -> bytes:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def _deep(levels: int) -> bytes:
    text = "metadata:\n"
    for depth in range(levels):
        text += "  " * (depth + 1) + f"k{depth}:\n"
    return (text + "  " * (levels + 1) + "v: 1\n").encode()


YAML_CASES: list[Case] = [
    Case(
        "unknown-top-level-key",
        "p.yaml",
        _yaml(_set("extra", 1)),
        422,
        "sharepack_invalid",
        {("unknown_field", "extra")},
    ),
    Case(
        "required-field",
        "p.yaml",
        _yaml(_set("metadata.business_line", _DELETE)),
        422,
        "sharepack_invalid",
        {("required", "metadata.business_line")},
    ),
    Case(
        "type-mismatch",
        "p.yaml",
        _yaml(_set("recipient.0.token_expiry", "ninety")),
        422,
        "sharepack_invalid",
        {("type_mismatch", "recipient[0].token_expiry")},
    ),
    Case(
        "empty-required-string",
        "p.yaml",
        _yaml(_set("metadata.servicenow", "   ")),
        422,
        "sharepack_invalid",
        {("empty_value", "metadata.servicenow")},
    ),
    Case(
        "too-long",
        "p.yaml",
        _yaml(_set("share.0.description", "x" * 2001)),
        422,
        "sharepack_invalid",
        {("too_long", "share[0].description")},
    ),
    Case(
        "out-of-range",
        "p.yaml",
        _yaml(_set("recipient.0.token_expiry", 5000)),
        422,
        "sharepack_invalid",
        {("value_out_of_range", "recipient[0].token_expiry")},
    ),
    Case(
        "alias-conflict",
        "p.yaml",
        _yaml(_set("share.0.description", "a"), _set("share.0.comment", "b")),
        422,
        "sharepack_invalid",
        {("alias_conflict", "share[0]")},
    ),
    Case(
        "servicenow-alias-conflict",
        "p.yaml",
        _yaml(_set("metadata.servicenow_ticket", "RITM9")),
        422,
        "sharepack_invalid",
        {("alias_conflict", "metadata")},
    ),
    Case(
        "pack-empty",
        "p.yaml",
        _yaml(_set("recipient", []), _set("share", [])),
        422,
        "sharepack_invalid",
        {("pack_empty", "")},
    ),
    Case(
        "root-not-mapping",
        "p.yaml",
        _text("- a\n- b\n"),
        422,
        "sharepack_invalid",
        {("root_not_mapping", "")},
    ),
    Case(
        "email-only-field",
        "p.yaml",
        _yaml(_set("recipient.0.recipient", "ops-team")),
        422,
        "sharepack_invalid",
        {("email_invalid", "recipient[0].recipient[0]")},
    ),
    Case(
        "principal",
        "p.yaml",
        _yaml(_set("metadata.approver", "john@@example.com")),
        422,
        "sharepack_invalid",
        {("principal_invalid", "metadata.approver[0]")},
    ),
    Case(
        "org-id",
        "p.yaml",
        _yaml(_set("recipient.1.recipient_databricks_org", "westeurope-123")),
        422,
        "sharepack_invalid",
        {("org_id_invalid", "recipient[1].recipient_databricks_org")},
    ),
    Case(
        "org-on-d2o",
        "p.yaml",
        _yaml(
            _set(
                "recipient.0.recipient_databricks_org",
                "aws:us-east-1:0b3c6f8e-1a2b-4c5d-9e8f-123456789abc",
            )
        ),
        422,
        "sharepack_invalid",
        {("field_not_allowed_for_type", "recipient[0].recipient_databricks_org")},
    ),
    Case(
        "schedule-word",
        "p.yaml",
        _yaml(_set("share.0.pipelines.0.schedule", "daily")),
        422,
        "sharepack_invalid",
        {("schedule_invalid", f"{P0}.schedule")},
    ),
    Case(
        "nested-schedule-wrong-key",
        "p.yaml",
        _yaml(_set("share.0.pipelines.0.schedule", {"cat.sch.other": "continuous"})),
        422,
        "sharepack_invalid",
        {("schedule_invalid", f"{P0}.schedule")},
    ),
    Case(
        "cron-step-too-large",
        "p.yaml",
        _yaml(_set("share.0.pipelines.0.schedule.cron", "0 0/75 * * * ?")),
        422,
        "sharepack_invalid",
        {("cron_invalid", f"{P0}.schedule.cron")},
    ),
    Case(
        "share-tag",
        "p.yaml",
        _yaml(_set("share.0.delta_share.tags", ["=gold"])),
        422,
        "sharepack_invalid",
        {("tags_invalid", "share[0].delta_share.tags[0]")},
    ),
    Case(
        "too-many-tags",
        "p.yaml",
        _yaml(
            _set("share.0.delta_share.tags", ["team=a", "env"]),
            _set("share.0.pipelines.0.tags", {f"k{i}": "v" for i in range(24)}),
        ),
        422,
        "sharepack_invalid",
        {("too_many_tags", f"{P0}.tags")},
    ),
    Case(
        "shared-as",
        "p.yaml",
        _yaml(_set("share.0.share_assets", [{"name": "cat.sch.t1", "shared_as": "bad-alias"}])),
        422,
        "sharepack_invalid",
        {("shared_as_invalid", "share[0].share_assets[0].shared_as")},
    ),
    Case(
        "asset-four-parts",
        "p.yaml",
        _yaml(_set("share.0.share_assets_to_add", ["a.b.c.d"])),
        422,
        "sharepack_invalid",
        {("asset_name_invalid", "share[0].share_assets_to_add[0]")},
    ),
    Case(
        "asset-type-does-not-fit-name",
        "p.yaml",
        _yaml(_set("share.0.share_assets_to_add", [{"name": "cat.sch", "type": "TABLE"}])),
        422,
        "sharepack_invalid",
        {("asset_option_invalid", "share[0].share_assets_to_add[0].type")},
    ),
    Case(
        "options-on-removal",
        "p.yaml",
        _yaml(_set("share.0.share_assets_to_remove", [{"name": "cat.sch.t9", "comment": "x"}])),
        422,
        "sharepack_invalid",
        {("asset_option_invalid", "share[0].share_assets_to_remove[0].comment")},
    ),
    Case(
        "cdf-with-history",
        "p.yaml",
        _yaml(
            _set(
                "share.0.share_assets",
                [
                    {
                        "name": "cat.sch.t1",
                        "cdf_enabled": True,
                        "history_data_sharing_status": "ENABLED",
                    }
                ],
            )
        ),
        422,
        "sharepack_invalid",
        {("asset_options_conflict", "share[0].share_assets[0]")},
    ),
    Case(
        "same-asset-different-options",
        "p.yaml",
        _yaml(_set("share.0.share_assets", ["cat.sch.t1", {"name": "CAT.sch.t1", "comment": "x"}])),
        422,
        "sharepack_invalid",
        {("duplicate_entry_conflict", "share[0].share_assets[1]")},
    ),
    Case(
        "default-aliases-clash",
        "p.yaml",
        _yaml(
            _set("share.0.share_assets", ["cat.sch.t1", {"name": "other.sch.t1", "type": "VIEW"}])
        ),
        422,
        "sharepack_invalid",
        {("shared_as_duplicate", "share[0].share_assets[1]")},
    ),
    Case(
        "too-many-notebooks",
        "p.yaml",
        _yaml(_explicit_share(share_assets_to_add=[f"/Workspace/nb/n{i}" for i in range(101)])),
        422,
        "sharepack_invalid",
        {("share_limit_exceeded", "share[1].share_assets_to_add")},
    ),
    Case(
        "pipeline-source-two-parts",
        "p.yaml",
        _yaml(_set("share.0.pipelines.0.source_asset", "cat.t1")),
        422,
        "sharepack_invalid",
        {("pipeline_source_invalid", f"{P0}.source_asset")},
    ),
    Case(
        "pipeline-source-not-shared",
        "p.yaml",
        _yaml(_second_pipeline()),
        422,
        "sharepack_invalid",
        {("pipeline_source_not_in_share", "share[0].pipelines[1].source_asset")},
    ),
    Case(
        "pipeline-source-removed",
        "p.yaml",
        _yaml(
            _explicit_share(
                share_assets_to_remove=["cat.sch.t9"],
                pipelines=[
                    {
                        "name_prefix": "p9",
                        "source_asset": "cat.sch.t9",
                        "scd_type": 1,
                        "schedule": "continuous",
                    }
                ],
            )
        ),
        422,
        "sharepack_invalid",
        {("pipeline_source_removed", "share[1].pipelines[0].source_asset")},
    ),
    Case(
        "asset-removed-and-added",
        "p.yaml",
        _yaml(_set("share.0.share_assets_to_remove", ["cat.sch.t1"])),
        422,
        "sharepack_invalid",
        {
            ("list_overlap", "share[0].share_assets_to_remove[0]"),
            ("pipeline_source_removed", f"{P0}.source_asset"),
        },
    ),
    Case(
        "ip-added-and-removed",
        "p.yaml",
        _yaml(
            _set("recipient.0.recipient_ips_to_add", ["10.9.9.9"]),
            _set("recipient.0.recipient_ips_to_remove", "10.9.9.9"),
        ),
        422,
        "sharepack_invalid",
        {("list_overlap", "recipient[0].recipient_ips_to_remove[0]")},
    ),
    Case(
        "key-columns-repeated",
        "p.yaml",
        _yaml(_set("share.0.pipelines.0.key_columns", "id, ID")),
        422,
        "sharepack_invalid",
        {("key_columns_invalid", f"{P0}.key_columns[1]")},
    ),
    Case(
        "same-target",
        "p.yaml",
        _yaml(
            _set("share.0.share_assets", ["cat.sch.t1", "cat.sch.t2"]),
            _second_pipeline(target_asset="T1"),
        ),
        422,
        "sharepack_invalid",
        {("target_conflict", "share[0].pipelines[1].target_asset")},
    ),
    Case(
        "target-is-source",
        "p.yaml",
        _yaml(
            _set("share.0.pipelines.0.ext_catalog_name", "cat"),
            _set("share.0.pipelines.0.ext_schema_name", "sch"),
        ),
        422,
        "sharepack_invalid",
        {("target_conflict", f"{P0}.target_asset")},
    ),
    Case(
        "pipeline-names-differ-in-case",
        "p.yaml",
        _yaml(
            _set("share.0.share_assets", ["cat.sch.t1", "cat.sch.t2"]),
            _second_pipeline(name_prefix="P1"),
        ),
        422,
        "sharepack_invalid",
        {("duplicate_name", "share[0].pipelines[1].name_prefix")},
    ),
    Case(
        "recipient-names-differ-in-case",
        "p.yaml",
        _yaml(_set("recipient.1.name", "R1")),
        422,
        "sharepack_invalid",
        {("duplicate_name", "recipient[1].name")},
    ),
    Case(
        "recipient-property-key",
        "p.yaml",
        _yaml(_set("recipient.0.properties", {"tier": "gold", "bad key": "x"})),
        422,
        "sharepack_invalid",
        {("recipient_property_invalid", "recipient[0].properties.bad key")},
    ),
    Case(
        "recipient-property-reserved",
        "p.yaml",
        _yaml(_set("recipient.1.properties", {"DataBricks.name": "x"})),
        422,
        "sharepack_invalid",
        {("recipient_property_reserved", "recipient[1].properties.DataBricks.name")},
    ),
    Case(
        "recipient-property-keys-differ-in-case",
        "p.yaml",
        _yaml(_set("recipient.0.properties", {"tier": "a", "TIER": "b"})),
        422,
        "sharepack_invalid",
        {("recipient_property_duplicate", "recipient[0].properties.TIER")},
    ),
    Case(
        "scd-type",
        "p.yaml",
        _yaml(_set("share.0.pipelines.0.scd_type", 3)),
        422,
        "sharepack_invalid",
        {("enum_invalid", f"{P0}.scd_type")},
    ),
    Case(
        "grace-days-on-d2d",
        "p.yaml",
        _yaml(_set("recipient.1.token_rotation_grace_days", 3)),
        422,
        "sharepack_invalid",
        {("field_not_allowed_for_type", "recipient[1].token_rotation_grace_days")},
    ),
    Case(
        "recipient-is-not-a-mapping",
        "p.yaml",
        _yaml(_set("recipient.0", "r1")),
        422,
        "sharepack_invalid",
        {("type_mismatch", "recipient[0]")},
    ),
    Case(
        "notebook-path",
        "p.yaml",
        _yaml(_set("share.0.share_assets_to_add", ["/Workspace//x"])),
        422,
        "sharepack_invalid",
        {("asset_name_invalid", "share[0].share_assets_to_add[0]")},
    ),
    Case(
        "partition-value-and-key",
        "p.yaml",
        _yaml(
            _set(
                "share.0.share_assets",
                [
                    {
                        "name": "cat.sch.t1",
                        "partitions": [
                            {
                                "values": [
                                    {
                                        "name": "c",
                                        "op": "EQUAL",
                                        "value": "1",
                                        "recipient_property_key": "k",
                                    }
                                ]
                            }
                        ],
                    }
                ],
            )
        ),
        422,
        "sharepack_invalid",
        {("asset_option_invalid", "share[0].share_assets[0].partitions[0].values[0]")},
    ),
    Case(
        "control-character-in-text",
        "p.yaml",
        _text('metadata:\n  description: "bell\\a"\n'),
        422,
        "sharepack_invalid",
        {("type_mismatch", "metadata.description")},
        exact=False,
    ),
    # ---- hostile and malformed YAML (stage 1)
    Case(
        "alias-bomb",
        "p.yaml",
        _alias_bomb,
        422,
        "sharepack_invalid",
        {("yaml_alias_forbidden", "a")},
    ),
    Case(
        "python-tag",
        "p.yml",
        _text("metadata: !!python/object:os.system {}\n"),
        422,
        "sharepack_invalid",
        {("yaml_tag_forbidden", "metadata")},
    ),
    Case(
        "binary-tag",
        "p.yaml",
        _text("a: !!binary aGk=\n"),
        422,
        "sharepack_invalid",
        {("yaml_tag_forbidden", "a")},
    ),
    Case(
        "custom-tag",
        "p.yaml",
        _text("a: !env HOME\n"),
        422,
        "sharepack_invalid",
        {("yaml_tag_forbidden", "a")},
    ),
    Case(
        "duplicate-keys",
        "p.yaml",
        _text("metadata:\n  a: 1\nshare: []\nmetadata: {}\n"),
        422,
        "sharepack_invalid",
        {("yaml_duplicate_key", "metadata")},
    ),
    Case(
        "deep-nesting",
        "p.yaml",
        lambda: _deep(25),
        422,
        "sharepack_invalid",
        {
            (
                "yaml_limits_exceeded",
                "metadata.k0.k1.k2.k3.k4.k5.k6.k7.k8.k9.k10.k11.k12.k13.k14.k15.k16.k17.k18",
            )
        },
    ),
    Case(
        "too-many-nodes",
        "p.yaml",
        _text("a:\n" + "".join(f"- {i}\n" for i in range(20_001))),
        422,
        "sharepack_invalid",
        {("yaml_limits_exceeded", "")},
    ),
    Case(
        "huge-scalar",
        "p.yaml",
        _text("a: " + "x" * 10_001 + "\n"),
        422,
        "sharepack_invalid",
        {("yaml_limits_exceeded", "a")},
    ),
    Case(
        "syntax", "p.yaml", _text("a: [1,\nb: 2\n"), 422, "sharepack_invalid", {("yaml_syntax", "")}
    ),
    Case(
        "two-documents",
        "p.yaml",
        _text("a: 1\n---\nb: 2\n"),
        422,
        "sharepack_invalid",
        {("yaml_multiple_documents", "")},
    ),
    Case(
        "latin-1",
        "p.yaml",
        lambda: "a: café\n".encode("latin-1"),
        422,
        "sharepack_invalid",
        {("encoding_invalid", "")},
    ),
    Case("empty-file", "p.yaml", lambda: b"", 422, "sharepack_invalid", {("file_empty", "")}),
    Case(
        "comments-only",
        "p.yaml",
        _text("# nothing here\n\n"),
        422,
        "sharepack_invalid",
        {("file_empty", "")},
    ),
    Case(
        "six-mib",
        "p.yaml",
        lambda: b"a: " + b"x" * (6 * 1024 * 1024),
        413,
        "file_too_large",
        {("file_too_large", "")},
    ),
    Case(
        "json-name",
        "p.json",
        _text("{}"),
        415,
        "file_type_unsupported",
        {("file_type_unsupported", "")},
    ),
    Case(
        "no-extension",
        "pack",
        _text("a: 1"),
        415,
        "file_type_unsupported",
        {("file_type_unsupported", "")},
    ),
    Case(
        "zip-named-yaml",
        "p.yaml",
        lambda: build_template_xlsx(),
        415,
        "file_type_unsupported",
        {("file_type_unsupported", "")},
    ),
    Case(
        "xlsm-name",
        "p.xlsm",
        lambda: build_template_xlsx(),
        415,
        "file_type_unsupported",
        {("file_type_unsupported", "")},
    ),
    Case(
        "ole2-named-yaml",
        "p.yaml",
        lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512,
        415,
        "xls_not_supported",
        {("xls_not_supported", "")},
    ),
    Case(
        "xls-name",
        "P.XLS",
        lambda: b"whatever",
        415,
        "xls_not_supported",
        {("xls_not_supported", "")},
    ),
]


def _xlsx(edit: Callable[[openpyxl.Workbook], None]) -> Callable[[], bytes]:
    def build() -> bytes:
        workbook = template_workbook()
        edit(workbook)
        return workbook_bytes(workbook)

    return build


def _cell(
    sheet: str, key_column: str, key: str, column: str, value: Any
) -> Callable[[openpyxl.Workbook], None]:
    def edit(workbook: openpyxl.Workbook) -> None:
        worksheet = workbook[sheet]
        worksheet.cell(
            row=row_of(worksheet, key_column, key), column=column_of(worksheet, column), value=value
        )

    return edit


def _error_value(workbook: openpyxl.Workbook) -> None:
    sheet = workbook["metadata"]
    cell = sheet.cell(row=row_of(sheet, "field", "client"), column=2)
    cell.value = "#N/A"
    cell.data_type = "e"


def _rename_header(sheet: str, old: str, new: str) -> Callable[[openpyxl.Workbook], None]:
    def edit(workbook: openpyxl.Workbook) -> None:
        worksheet = workbook[sheet]
        worksheet.cell(row=1, column=column_of(worksheet, old), value=new)

    return edit


def _append_header(sheet: str, header: str) -> Callable[[openpyxl.Workbook], None]:
    def edit(workbook: openpyxl.Workbook) -> None:
        worksheet = workbook[sheet]
        worksheet.cell(row=1, column=worksheet.max_column + 1, value=header)

    return edit


def _duplicate_metadata_field(workbook: openpyxl.Workbook) -> None:
    sheet = workbook["metadata"]
    sheet.append(["Approver", "someone.else@example.com"])


def _rename_sheet(old: str, new: str) -> Callable[[openpyxl.Workbook], None]:
    def edit(workbook: openpyxl.Workbook) -> None:
        workbook[old].title = new

    return edit


def _extra_sheets(count: int) -> Callable[[openpyxl.Workbook], None]:
    def edit(workbook: openpyxl.Workbook) -> None:
        for index in range(count):
            workbook.create_sheet(f"extra{index}")

    return edit


def _duplicate_sheet(workbook: openpyxl.Workbook) -> None:
    workbook.create_sheet("Share ")


def _too_many_columns(workbook: openpyxl.Workbook) -> None:
    workbook["recipient"].cell(row=2, column=51, value="x")


def _minimal_zip(members: dict[str, bytes]) -> Callable[[], bytes]:
    return lambda: zip_with(members)


def _many_members() -> bytes:
    members = {f"xl/media/m{i}.txt": b"x" for i in range(201)}
    return zip_with(members, base=build_template_xlsx())


EXCEL_CASES: list[Case] = [
    Case(
        "not-a-zip",
        "p.xlsx",
        lambda: b"PK\x03\x04" + b"\x00garbage" * 50,
        422,
        "sharepack_invalid",
        {("xlsx_corrupt", "")},
    ),
    Case(
        "zip-without-workbook",
        "p.xlsx",
        _minimal_zip({"hello.txt": b"hi"}),
        422,
        "sharepack_invalid",
        {("xlsx_corrupt", "")},
    ),
    Case(
        "encrypted-members",
        "p.xlsx",
        lambda: mark_encrypted(build_template_xlsx()),
        422,
        "sharepack_invalid",
        {("xlsx_corrupt", "")},
    ),
    Case(
        "broken-sheet-xml",
        "p.xlsx",
        lambda: zip_with(
            {"xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row"}, base=build_template_xlsx()
        ),
        422,
        "sharepack_invalid",
        {("xlsx_corrupt", "")},
    ),
    Case(
        "too-many-members",
        "p.xlsx",
        _many_members,
        422,
        "sharepack_invalid",
        {("xlsx_limits_exceeded", "")},
    ),
    Case(
        "macro-content-type",
        "p.xlsx",
        lambda: zip_with(
            {
                "[Content_Types].xml": b'<Types><Override ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/></Types>'
            },
            base=build_template_xlsx(),
        ),
        422,
        "sharepack_invalid",
        {("xlsx_macros_forbidden", "")},
    ),
    Case(
        "external-link",
        "p.xlsx",
        lambda: zip_with(
            {"xl/externalLinks/externalLink1.xml": b"<externalLink/>"}, base=build_template_xlsx()
        ),
        422,
        "sharepack_invalid",
        {("xlsx_external_links_forbidden", "")},
    ),
    Case(
        "wrong-sheet-name",
        "p.xlsx",
        _xlsx(_rename_sheet("metadata", "meta data")),
        422,
        "sharepack_invalid",
        {("xlsx_sheet_missing", "")},
    ),
    Case(
        "sheet-names-equal-after-trimming",
        "p.xlsx",
        _xlsx(_duplicate_sheet),
        422,
        "sharepack_invalid",
        {("xlsx_duplicate_sheet", "share")},
    ),
    Case(
        "too-many-sheets",
        "p.xlsx",
        _xlsx(_extra_sheets(16)),
        422,
        "sharepack_invalid",
        {("xlsx_limits_exceeded", "")},
    ),
    Case(
        "too-many-columns",
        "p.xlsx",
        _xlsx(_too_many_columns),
        422,
        "sharepack_invalid",
        {("xlsx_limits_exceeded", "")},
    ),
    Case(
        "boolean-where-a-name-is-expected",
        "p.xlsx",
        _xlsx(_cell("recipient", "name", "partner_analytics", "name", True)),
        422,
        "sharepack_invalid",
        {("type_mismatch", "recipient[1].name")},
    ),
    Case(
        "recipient-property-cell",
        "p.xlsx",
        _xlsx(
            _cell("recipient", "name", "acme_external", "properties", "tier=gold; databricks.x=1")
        ),
        422,
        "sharepack_invalid",
        {("recipient_property_reserved", "recipient[0].properties[1]")},
    ),
    Case(
        "boolean-where-text-is-expected",
        "p.xlsx",
        _xlsx(_cell("metadata", "field", "client", "value", False)),
        422,
        "sharepack_invalid",
        {("type_mismatch", "metadata.client")},
    ),
    Case(
        "date-where-a-name-is-expected",
        "p.xlsx",
        _xlsx(
            _cell(
                "pipelines",
                "name_prefix",
                "sales_store_dim_pl",
                "target_asset",
                dt.date(2026, 3, 1),
            )
        ),
        422,
        "sharepack_invalid",
        {("type_mismatch", "share[1].pipelines[1].target_asset")},
    ),
    Case(
        "error-value",
        "p.xlsx",
        _xlsx(_error_value),
        422,
        "sharepack_invalid",
        {("type_mismatch", "metadata.client")},
    ),
    Case(
        "number-where-a-boolean-is-expected",
        "p.xlsx",
        _xlsx(_cell("pipelines", "name_prefix", "sales_daily_sales_pl", "serverless", 7)),
        422,
        "sharepack_invalid",
        {("type_mismatch", "share[1].pipelines[0].serverless")},
    ),
    Case(
        "duplicate-column",
        "p.xlsx",
        _xlsx(_append_header("recipient", "Recipient IPs")),
        422,
        "sharepack_invalid",
        {("xlsx_duplicate_column", "recipient")},
    ),
    Case(
        "unknown-column",
        "p.xlsx",
        _xlsx(_append_header("share", "owner")),
        422,
        "sharepack_invalid",
        {("unknown_field", "share")},
    ),
    Case(
        "missing-required-column",
        "p.xlsx",
        _xlsx(_rename_header("pipelines", "name_prefix", "pipeline")),
        422,
        "sharepack_invalid",
        {("xlsx_column_missing", "pipelines"), ("unknown_field", "pipelines")},
        exact=False,
    ),
    Case(
        "duplicate-metadata-field",
        "p.xlsx",
        _xlsx(_duplicate_metadata_field),
        422,
        "sharepack_invalid",
        {("xlsx_duplicate_field", "metadata.approver")},
    ),
    Case(
        "asset-list-name",
        "p.xlsx",
        _xlsx(_cell("assets", "name", "sales_catalog.curated.daily_sales", "list", "share_assetz")),
        422,
        "sharepack_invalid",
        {("enum_invalid", "assets")},
        exact=False,
    ),
    Case(
        "partitions-not-json",
        "p.xlsx",
        _xlsx(
            _cell(
                "assets", "name", "sales_catalog.curated.daily_sales", "partitions", "region=emea"
            )
        ),
        422,
        "sharepack_invalid",
        {("asset_option_invalid", "share[1].share_assets[1].partitions")},
    ),
    Case(
        "timezone-on-continuous",
        "p.xlsx",
        _xlsx(_cell("pipelines", "name_prefix", "sales_store_dim_pl", "schedule_timezone", "UTC")),
        422,
        "sharepack_invalid",
        {("schedule_invalid", "share[1].pipelines[1].schedule.cron")},
    ),
    Case(
        "formula-in-pipeline",
        "p.xlsx",
        _xlsx(_cell("pipelines", "name_prefix", "sales_store_dim_pl", "description", "=1+1")),
        422,
        "sharepack_invalid",
        {("xlsx_formula_forbidden", "share[1].pipelines[1].description")},
    ),
]


ALL_CASES = YAML_CASES + EXCEL_CASES


def test_corpus_is_large_and_covers_every_offline_code() -> None:
    assert len(ALL_CASES) >= 40
    covered = {code for case in ALL_CASES for code, _ in case.errors}
    assert {
        "unknown_field",
        "yaml_alias_forbidden",
        "xlsx_macros_forbidden",
        "xlsx_corrupt",
    } <= covered


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.id for case in ALL_CASES])
def test_corpus_file_is_rejected_with_its_codes_and_locations(case: Case) -> None:
    problem = rejection(case.filename, case.data())
    assert (problem.status_code, problem.code) == (case.status, case.code)
    found = error_set(problem)
    if case.exact:
        assert found == case.errors
    else:
        assert case.errors <= found
    excel = case.filename.endswith(".xlsx") and case.status == 422
    for issue in problem.issues:
        if excel and issue.loc:
            assert issue.sheet is not None, issue
        if excel and "[" in issue.loc:
            assert issue.row is not None, issue


def test_excel_issue_positions() -> None:
    data = _xlsx(_cell("recipient", "name", "partner_analytics", "name", True))()
    (issue,) = rejection("p.xlsx", data).issues
    sheet = template_workbook()["recipient"]
    row = row_of(sheet, "name", "partner_analytics")
    assert (issue.sheet, issue.row, issue.column, issue.cell) == (
        "recipient",
        row,
        "name",
        f"A{row}",
    )
    assert "TRUE/FALSE" in issue.msg


def test_duplicate_column_names_both_columns() -> None:
    (issue,) = rejection("p.xlsx", _xlsx(_append_header("recipient", "Recipient IPs"))()).issues
    assert (
        issue.cell == f"{get_column_letter(len(RECIPIENT_COLUMNS) + 1)}1"
    )  # after the last column
    assert "duplicates column F" in issue.msg


def test_yaml_positions_of_corpus_issues() -> None:
    data = pack_yaml(_set("recipient.0.recipient_ips", ["10.0.0.0/24", "10.0.0.300"]))
    (issue,) = rejection("p.yaml", data).issues
    assert (issue.type, issue.loc) == ("ip_invalid", "recipient[0].recipient_ips[1]")
    lines = data.decode().splitlines()
    assert lines[issue.line - 1].strip() == "- 10.0.0.300"  # type: ignore[operator]
    assert issue.column == 5


def test_missing_key_points_at_the_parent_mapping() -> None:
    data = pack_yaml(_set("share.0.pipelines.0.schedule", _DELETE))
    (issue,) = rejection("p.yaml", data).issues
    assert (issue.type, issue.loc) == ("required", f"{P0}.schedule")
    assert data.decode().splitlines()[issue.line - 1].strip() == "- name_prefix: p1"  # type: ignore[operator]


def test_all_problems_are_reported_at_once_sorted_by_line() -> None:
    data = pack_yaml(
        lambda pack: (
            pack["metadata"].update(delta_share_region="APAC", approver="a@@b"),
            pack["recipient"][0].update(token_expiry=-1),
            pack["share"][0]["pipelines"][0]["schedule"].update(cron="* * * * *"),
        )
    )
    problem = rejection("p.yaml", data)
    assert [issue.type for issue in problem.issues] == [
        "enum_invalid",
        "principal_invalid",
        "value_out_of_range",
        "cron_not_quartz",
    ]
    lines = [issue.line or 0 for issue in problem.issues]
    assert lines == sorted(lines)


def test_too_many_issues_are_capped_at_500() -> None:
    def many_bad(pack: dict[str, Any]) -> None:
        pack["recipient"] = [
            {"name": f"bad name {i}", "type": "D2D", "recipient": "a@example.com"}
            for i in range(600)
        ]

    problem = rejection("p.yaml", pack_yaml(many_bad))
    assert len(problem.issues) == 501
    last = problem.issues[-1]
    assert (last.type, last.msg) == ("too_many_issues", "700 further issues not shown.")


def test_warnings_of_a_valid_pack() -> None:
    def warn(pack: dict[str, Any]) -> None:
        metadata = pack["metadata"]
        del metadata["approver_status"]
        metadata["configurator"] = ["platform-admins", "Platform-Admins"]
        first = pack["recipient"][0]
        first["recipient_ips"] = ["10.0.0.9/24"]
        first["token_rotation"] = "yes"
        pack["recipient"].append({"name": "r3", "type": "d2o", "recipient": "x@example.com"})
        share = pack["share"][0]
        share["recipients_to_add"] = ["ghost"]
        share["pipelines"][0]["schedule"] = {"cat.sch.t1": {"cron": "*/30 * * * * ?"}}
        share["pipelines"][0]["prefix_assetname"] = "old"
        pack["share"].append(
            {
                "name": "s2",
                "share_assets_to_add": ["cat2.reporting", "cat2.reporting"],
                "delta_share": {"ext_catalog_name": "c", "ext_schema_name": "s"},
            }
        )

    loaded = load("p.yaml", pack_yaml(warn))
    assert {(w.type, w.loc) for w in loaded.warnings} == {
        ("approver_status_defaulted", "metadata.approver_status"),
        ("duplicate_entry", "metadata.configurator[1]"),
        ("ip_normalised", "recipient[0].recipient_ips[0]"),
        ("token_rotation_requested", "recipient[0].token_rotation"),
        ("d2o_without_ip_allowlist", "recipient[2]"),
        ("recipient_unused", "recipient[2]"),
        ("recipient_not_in_pack", "share[0].recipients_to_add[0]"),
        ("schedule_nested_shape", f"{P0}.schedule"),
        ("cron_high_frequency", f"{P0}.schedule.cat.sch.t1.cron"),
        ("field_deprecated", f"{P0}.prefix_assetname"),
        ("duplicate_entry", "share[1].share_assets_to_add[1]"),
        ("delta_share_unused", "share[1].delta_share"),
    }
    model = loaded.model
    assert model.metadata.approver_status == "pending"
    assert model.recipient[0].recipient_ips == ["10.0.0.0/24"]  # type: ignore[union-attr]
    assert model.recipient[2].type == "D2O"  # type: ignore[union-attr]
    assert model.metadata.configurator == ["platform-admins"]


def test_excel_extra_sheet_is_ignored_with_a_warning() -> None:
    loaded = load("p.xlsx", _xlsx(_extra_sheets(1))())
    (warning,) = by_type(loaded.warnings, "xlsx_sheet_ignored")
    assert warning.sheet == "extra0"


def test_row_limit_uses_the_setting() -> None:
    limits = UploadSettings(xlsx_max_rows=3)
    problem = rejection("p.xlsx", build_template_xlsx(), limits)
    assert problem.issues[0].type == "xlsx_limits_exceeded"
    assert "more than 3 data rows" in problem.issues[0].msg
    assert load("p.xlsx", build_template_xlsx(), LIMITS).record_hash


def test_yaml_bom_and_crlf_are_accepted() -> None:
    data = pack_yaml()
    assert (
        load("p.yaml", b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")).record_hash
        == load("p.yaml", data).record_hash
    )


def test_local_workspace_url_only_when_allowed() -> None:
    data = pack_yaml(_set("metadata.workspace_url", "http://127.0.0.1:8765/"))
    assert error_set(rejection("p.yaml", data)) == {
        ("workspace_url_invalid", "metadata.workspace_url")
    }
    assert (
        load("p.yaml", data, allow_local_urls=True).model.metadata.workspace_url
        == "http://127.0.0.1:8765"
    )


def test_numbers_where_text_is_expected_are_their_text() -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(build_template_xlsx()))
    sheet = workbook["metadata"]
    sheet.cell(row=row_of(sheet, "field", "business_line"), column=2, value=2024)
    sheet.cell(row=row_of(sheet, "field", "last_updated"), column=2, value=dt.date(2026, 3, 1))
    sheet.cell(row=row_of(sheet, "field", "version"), column=2, value=2.5)
    metadata = load("p.xlsx", workbook_bytes(workbook)).model.metadata
    assert (metadata.business_line, metadata.last_updated, metadata.version) == (
        "2024",
        "2026-03-01",
        "2.5",
    )


def test_garbage_collector_is_restored_after_every_load() -> None:
    assert gc.isenabled()
    load("p.yaml", pack_yaml())
    assert gc.isenabled()
    rejection("p.yaml", b"a: [")
    assert gc.isenabled()
    gc.disable()
    try:
        load("p.yaml", pack_yaml())
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()


def test_concurrent_loads_share_one_gc_pause() -> None:
    data = build_template_xlsx()
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashes = set(pool.map(lambda _: load("p.xlsx", data).record_hash, range(8)))
    assert len(hashes) == 1
    assert gc.isenabled()
