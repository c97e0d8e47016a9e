"""The invalid examples of docs/SHAREPACK.md §17, each asserted with its status, codes and locations."""

from __future__ import annotations

import io
import zipfile

import pytest

from dbrx_api.workflow.models.errors import SharePackInvalid
from dbrx_api.workflow.sharepack_template import build_template_xlsx
from fixtures.sharepacks import (
    by_type,
    column_of,
    error_set,
    example_text,
    example_with,
    line_of,
    load,
    rejection,
    row_of,
    template_workbook,
    workbook_bytes,
    zip_bomb,
    zip_with,
)

PIPELINE_0 = "share[0].pipelines[0]"

_STORE_DIM_PIPELINE = (
    "      - name_prefix: sales_store_dim_pl\n"
    "        source_asset: sales_catalog.curated.store_dim\n"
    '        scd_type: "1"                             # SCD 1: key_columns optional\n'
    "        schedule: continuous                      # continuous pipeline, no schedule job\n"
)
_IPS = "      - 203.0.113.0/24\n      - 198.51.100.7\n      - 2001:db8:1234::/48\n"
_DELTA_SHARE = (
    "    delta_share:\n"
    "      ext_catalog_name: sharing_catalog           # must exist\n"
    "      ext_schema_name: sales_ext\n"
    "      tags: [cost_center=cc-1234, confidential]   # default tags for this share's pipelines and jobs\n"
    "      create_schema_if_missing: true\n"
)
_AGGREGATED = "        comment: Aggregated view\n"
_VIEW_TYPE = (
    "        type: VIEW                                # declared view: needs no pipeline\n"
)


def _share_assets_emptied() -> bytes:
    text = example_text()
    start = text.index("    share_assets:   ")
    end = text.index("    recipients:   ")
    return (text[:start] + "    share_assets: []\n" + text[end:]).encode()


def _delete_with_duplicate_recipient() -> bytes:
    text = example_text().replace("strategy: UPDATE", "strategy: DELETE")
    start = text.index("recipient:\n")
    end = text.index("share:\n")
    return (text[:start] + "recipient: [acme_external, acme_external]\n\n" + text[end:]).encode()


SPEC_CASES: list[tuple[str, bytes | None, set[tuple[str, str]]]] = [
    (
        "1-unix-cron",
        example_with(('cron: "0 0 2 * * ?"', 'cron: "0 2 * * *"')),
        {("cron_not_quartz", f"{PIPELINE_0}.schedule.cron")},
    ),
    (
        "2-both-day-fields",
        example_with(('cron: "0 0 2 * * ?"', 'cron: "0 0 2 * * *"')),
        {("cron_invalid", f"{PIPELINE_0}.schedule.cron")},
    ),
    (
        "3-timezone-typo",
        example_with(("timezone: Europe/London", "timezone: Europe/Londn")),
        {("timezone_invalid", f"{PIPELINE_0}.schedule.timezone")},
    ),
    (
        "4-no-key-columns",
        example_with(
            ("        key_columns: sale_id, store_id            # required for SCD 2\n", "")
        ),
        {("key_columns_required", PIPELINE_0)},
    ),
    (
        "6-d2d-with-ips-without-org",
        example_with(
            (
                "    recipient_databricks_org: azure:westeurope:0b3c6f8e-1a2b-4c5d-9e8f-123456789abc\n",
                "    recipient_ips: [10.0.0.1]\n",
            )
        ),
        {
            ("field_not_allowed_for_type", "recipient[0].recipient_ips"),
            ("d2d_org_required", "recipient[0]"),
        },
    ),
    (
        "7-bad-ip",
        example_with((_IPS, "      - 300.1.2.3\n      - 203.0.113.0/24\n")),
        {("ip_invalid", "recipient[1].recipient_ips[0]")},
    ),
    (
        "8-101-ips",
        example_with((_IPS, "".join(f"      - 10.0.{i // 250}.{i % 250}\n" for i in range(101)))),
        {("ip_list_too_long", "recipient[1].recipient_ips")},
    ),
    (
        "9-asset-without-pipeline",
        example_with((_STORE_DIM_PIPELINE, "")),
        {("asset_without_pipeline", "share[0].share_assets[1]")},
    ),
    (
        "10-list-overlap",
        example_with(
            ("recipients_to_remove: [old_partner]", "recipients_to_remove: [partner_analytics]")
        ),
        {("list_overlap", "share[1].recipients_to_remove[0]")},
    ),
    (
        "11-duplicate-share-name",
        (
            example_text()
            + "\n  - name: Sales_Share\n    share_assets_to_add: [finance_catalog.archive]\n"
        ).encode(),
        {("duplicate_name", "share[2].name")},
    ),
    (
        "12-name-with-space",
        example_with(("  - name: finance_share", "  - name: finance share")),
        {("name_invalid", "share[1].name")},
    ),
    (
        # `#` would cut a Databricks URL path short (docs/API.md §1.6)
        "12b-name-with-hash",
        example_with(("  - name: finance_share", "  - name: finance#share")),
        {("name_invalid", "share[1].name")},
    ),
    (
        "13-misspelt-key",
        example_with(("    share_assets:   ", "    share_asset:    ")),
        {("unknown_field", "share[0].share_asset")},
    ),
    (
        "14-schema-and-its-tables",
        example_with(
            (
                "        comment: Aggregated view\n",
                "        comment: Aggregated view\n      - sales_catalog.curated\n",
            )
        ),
        {
            ("asset_schema_overlap", "share[0].share_assets[0]"),
            ("asset_schema_overlap", "share[0].share_assets[1]"),
            ("asset_schema_overlap", "share[0].share_assets[2]"),
        },
    ),
    (
        "15-empty-declarative-list",
        _share_assets_emptied(),
        {("empty_list", "share[0].share_assets")},
    ),
    (
        "16-region",
        example_with(("delta_share_region: EMEA", "delta_share_region: APAC")),
        {("enum_invalid", "metadata.delta_share_region")},
    ),
    (
        "17-http-url",
        example_with(("workspace_url: https://", "workspace_url: http://")),
        {("workspace_url_invalid", "metadata.workspace_url")},
    ),
    (
        "18-no-delta-share",
        example_with((_DELTA_SHARE, "")),
        {("delta_share_required", PIPELINE_0), ("delta_share_required", "share[0].pipelines[1]")},
    ),
    (
        "19-partitions-on-view",
        example_with(
            (
                _VIEW_TYPE,
                _VIEW_TYPE
                + "        partitions: [{values: [{name: region, op: EQUAL, value: emea}]}]\n",
            )
        ),
        {("asset_option_invalid", "share[0].share_assets[2].partitions")},
    ),
    (
        "20-delete-duplicate",
        _delete_with_duplicate_recipient(),
        {("duplicate_name", "recipient[1]")},
    ),
    (
        "33-start-version-on-volume",
        example_with(
            (
                _AGGREGATED,
                _AGGREGATED
                + "      - {name: sales_catalog.curated.landing, type: VOLUME, start_version: 3}\n",
            )
        ),
        {("asset_option_invalid", "share[0].share_assets[3].start_version")},
    ),
    (
        "34-shared-as-on-model",
        example_with(
            (
                _AGGREGATED,
                _AGGREGATED
                + "      - {name: sales_catalog.curated.churn, type: MODEL, shared_as: curated.churn}\n",
            )
        ),
        {("asset_option_invalid", "share[0].share_assets[3].shared_as")},
    ),
    (
        "35-volume-as-pipeline-source",
        example_with(
            (
                "      - sales_catalog.curated.store_dim           # string form; type read from Unity Catalog\n",
                "      - {name: sales_catalog.curated.store_dim, type: VOLUME}\n",
            )
        ),
        {("source_type_unsupported", "share[0].pipelines[1].source_asset")},
    ),
    (
        "36-model-type-on-a-schema",
        example_with(
            (
                "      - finance_catalog.reporting                 # 2 parts: the whole schema\n",
                "      - {name: finance_catalog.reporting, type: MODEL}\n",
            )
        ),
        {("asset_option_invalid", "share[1].share_assets_to_add[0].type")},
    ),
]


@pytest.mark.parametrize(
    ("case", "data", "expected"), SPEC_CASES, ids=[case[0] for case in SPEC_CASES]
)
def test_section_17_yaml_cases(case: str, data: bytes, expected: set[tuple[str, str]]) -> None:
    problem = rejection("pack.yaml", data)
    assert problem.status_code == 422
    assert problem.code == "sharepack_invalid"
    assert error_set(problem) == expected
    for issue in problem.issues:
        assert issue.line is not None
        assert issue.sheet is None
    members = problem.extra["errors"]
    assert {(m["type"], m["loc"]) for m in members} == expected
    assert "warnings" in problem.extra


def test_case_1_hint_and_line() -> None:
    data = example_with(('cron: "0 0 2 * * ?"', 'cron: "0 2 * * *"'))
    (issue,) = rejection("pack.yaml", data).issues
    assert issue.hint == "0 0 2 * * ?"
    assert issue.input == "0 2 * * *"
    assert issue.line == line_of(data, "cron:")
    assert issue.column == 17
    assert '"0 0 2 * * ?"' in issue.msg


def test_case_3_suggests_the_zone() -> None:
    (issue,) = rejection(
        "pack.yaml", example_with(("timezone: Europe/London", "timezone: Europe/Londn"))
    ).issues
    assert issue.hint == "Europe/London"


def test_case_5_full_refresh_ignores_key_columns_with_a_warning() -> None:
    data = example_with(('scd_type: "2"', "scd_type: full_refresh"))
    loaded = load("pack.yaml", data)
    (warning,) = by_type(loaded.warnings, "key_columns_ignored")
    assert warning.loc == f"{PIPELINE_0}.key_columns"
    assert warning.line == line_of(data, "key_columns:")
    sales = next(share for share in loaded.model.share if share.name == "sales_share")
    pipeline = next(p for p in sales.pipelines or [] if p.name_prefix == "sales_daily_sales_pl")  # type: ignore[union-attr]
    assert pipeline.key_columns is None  # type: ignore[union-attr]
    assert pipeline.scd_type == "full_refresh"  # type: ignore[union-attr]


def test_case_13_hint_names_the_field() -> None:
    (issue,) = rejection(
        "pack.yaml", example_with(("    share_assets:   ", "    share_asset:    "))
    ).issues
    assert issue.hint == "share_assets"


def test_case_11_message_points_at_the_first_definition() -> None:
    data = (
        example_text()
        + "\n  - name: Sales_Share\n    share_assets_to_add: [finance_catalog.archive]\n"
    ).encode()
    (issue,) = rejection("pack.yaml", data).issues
    assert f"share[0] (line {line_of(data, '  - name: sales_share')})" in issue.msg


# ------------------------------------------------------------------------------------------ YAML-level


def test_case_21_anchor_and_alias() -> None:
    data = b"metadata: &meta\n  requestor: jane.doe@example.com\nshare:\n  - name: s1\n    description: *meta\n"
    problem = rejection("pack.yaml", data)
    assert [(i.type, i.loc, i.line) for i in problem.issues] == [
        ("yaml_alias_forbidden", "metadata", 1)
    ]


def test_case_22_duplicate_key() -> None:
    data = b"metadata:\n  strategy: NEW\n  requestor: jane.doe@example.com\n  strategy: UPDATE\n"
    (issue,) = rejection("pack.yaml", data).issues
    assert (issue.type, issue.loc, issue.line) == ("yaml_duplicate_key", "metadata.strategy", 4)
    assert "first at line 2" in issue.msg


def test_case_23_language_tag() -> None:
    data = b'metadata:\n  description: !!python/object/apply:os.system ["id"]\n'
    (issue,) = rejection("pack.yaml", data).issues
    assert (issue.type, issue.loc, issue.line) == ("yaml_tag_forbidden", "metadata.description", 2)


# ------------------------------------------------------------------------------------------ file and Excel


def test_case_24_xls_extension() -> None:
    problem = rejection("pack.xls", b"anything at all")
    assert (problem.status_code, problem.code) == (415, "xls_not_supported")
    assert problem.issues[0].type == "xls_not_supported"
    assert ".xlsx" in problem.issues[0].msg


def test_case_25_six_mib_yaml() -> None:
    problem = rejection("pack.yaml", b"# " + b"x" * (6 * 1024 * 1024))
    assert (problem.status_code, problem.code) == (413, "file_too_large")
    assert problem.extra["errors"][0]["type"] == "file_too_large"
    assert "warnings" not in problem.extra


def test_case_26_formula_cell() -> None:
    workbook = template_workbook()
    workbook["share"]["C2"] = '=A1&","&B1'
    problem = rejection("pack.xlsx", workbook_bytes(workbook))
    assert (problem.status_code, problem.code) == (422, "sharepack_invalid")
    (issue,) = problem.issues
    assert (issue.type, issue.sheet, issue.row, issue.column, issue.cell) == (
        "xlsx_formula_forbidden",
        "share",
        2,
        "share_assets",
        "C2",
    )
    assert issue.loc == "share[0].share_assets"
    assert issue.display().startswith(
        "share!C2 (column share_assets): cells may not contain formulas"
    )


def test_case_27_unknown_share_reference() -> None:
    workbook = template_workbook()
    workbook["pipelines"]["A2"] = "sales_shar"
    problem = rejection("pack.xlsx", workbook_bytes(workbook))
    (issue,) = problem.issues
    assert (issue.type, issue.sheet, issue.cell, issue.column) == (
        "unknown_share_reference",
        "pipelines",
        "A2",
        "share_name",
    )
    assert issue.hint == "sales_share"


def test_case_30_macro_workbook_named_xlsx() -> None:
    data = zip_with({"xl/vbaProject.bin": b"\x00" * 64}, base=build_template_xlsx())
    problem = rejection("pack.xlsx", data)
    assert (problem.status_code, problem.issues[0].type) == (422, "xlsx_macros_forbidden")


def test_case_31_zip_bomb() -> None:
    data = zip_bomb(200)
    assert len(data) < 400_000
    problem = rejection("pack.xlsx", data)
    assert (problem.status_code, problem.issues[0].type) == (422, "xlsx_limits_exceeded")
    assert "expands" in problem.issues[0].msg


def test_case_32_no_metadata_sheet() -> None:
    workbook = template_workbook()
    del workbook["metadata"]
    problem = rejection("pack.xlsx", workbook_bytes(workbook))
    assert [(i.type, i.msg) for i in problem.issues] == [
        ("xlsx_sheet_missing", 'required sheet "metadata" is missing.')
    ]


def test_problem_is_a_422_app_error_with_issue_members() -> None:
    problem = rejection(
        "pack.yaml", example_with(("delta_share_region: EMEA", "delta_share_region: APAC"))
    )
    assert isinstance(problem, SharePackInvalid)
    (member,) = problem.extra["errors"]
    assert set(member) == {"type", "severity", "msg", "loc", "line", "column", "input", "hint"}
    assert member["severity"] == "error"
    assert member["input"] == "APAC"
    assert problem.extra["warnings"][0]["type"] == "notification_group_not_delivered"
    assert problem.detail.startswith(
        "The share pack was rejected: metadata.delta_share_region (line"
    )


def test_stored_template_is_a_plain_zip() -> None:
    with zipfile.ZipFile(io.BytesIO(build_template_xlsx())) as archive:
        names = archive.namelist()
    assert not [name for name in names if "vba" in name.lower() or "externallink" in name.lower()]


def test_excel_positions_use_sheet_row_column_and_cell() -> None:
    workbook = template_workbook()
    pipelines = workbook["pipelines"]
    row = row_of(pipelines, "name_prefix", "sales_daily_sales_pl")
    pipelines.cell(row=row, column=column_of(pipelines, "schedule_cron"), value="0 2 * * *")
    (issue,) = rejection("pack.xlsx", workbook_bytes(workbook)).issues
    assert issue.type == "cron_not_quartz"
    assert (issue.sheet, issue.row, issue.column) == ("pipelines", row, "schedule_cron")
    assert issue.cell == f"H{row}"
    assert issue.line is None
    assert issue.as_problem_member()["column"] == "schedule_cron"
