"""The complete example of docs/SHAREPACK.md §16: valid in both formats, same model and hash, canonical form."""

from __future__ import annotations

import json

from dbrx_api.workflow.models.pack import (
    CronSchedule,
    DeleteSharePack,
    SharePack,
    canonical_json,
    pack_key,
    parse_canonical,
    record_hash,
)
from dbrx_api.workflow.parsers import export_excel, export_yaml
from dbrx_api.workflow.sharepack_template import build_template_xlsx, example_yaml
from fixtures.sharepacks import (
    column_of,
    example_text,
    example_with,
    line_of,
    load,
    row_of,
    template_workbook,
    workbook_bytes,
)


def test_example_yaml_is_valid_with_the_one_documented_warning() -> None:
    data = example_yaml()
    loaded = load("pack.yaml", data)
    assert [(w.type, w.loc) for w in loaded.warnings] == [
        ("notification_group_not_delivered", "share[0].pipelines[0].notification[1]")
    ]
    warning = loaded.warnings[0]
    assert warning.line == line_of(data, "notification: [retail-data@example.com")
    assert warning.input == "data-platform-admins"
    assert loaded.file_format == "yaml"
    assert loaded.file_size == len(data)


def test_example_canonical_model_matches_the_spec() -> None:
    model = load("pack.yaml", example_yaml()).model
    assert isinstance(model, SharePack)
    metadata = model.metadata
    assert metadata.version == "2.1"
    assert metadata.last_updated == "2026-03-01"
    assert metadata.executive_team == ["cfo.office@example.com", "retail-executives"]
    assert metadata.workspace_url == "https://adb-1234567890123456.7.azuredatabricks.net"
    assert [r.name for r in model.recipient] == ["acme_external", "partner_analytics"]
    acme = model.recipient[0]
    assert acme.description == "External consumer, token based"  # alias `comment` resolved
    assert acme.recipient_ips == ["198.51.100.7", "2001:db8:1234::/48", "203.0.113.0/24"]
    assert (acme.token_expiry, acme.token_rotation, acme.token_rotation_grace_days) == (
        90,
        False,
        0,
    )
    assert model.recipient[1].token_expiry is None  # D2O defaults never reach a D2D recipient
    sales = next(share for share in model.share if share.name == "sales_share")
    assert sales.share_assets is not None
    assert [asset.name for asset in sales.share_assets] == [
        "sales_catalog.curated.daily_sales",
        "sales_catalog.curated.sales_by_region_v",
        "sales_catalog.curated.store_dim",
    ]
    assert sales.delta_share is not None
    assert sales.delta_share.tags == [
        "confidential",
        "cost_center=cc-1234",
    ]
    pipelines = {p.name_prefix: p for p in sales.pipelines or []}
    daily = pipelines["sales_daily_sales_pl"]
    assert daily.key_columns == ["sale_id", "store_id"]  # order kept
    assert daily.schedule == CronSchedule(cron="0 0 2 * * ?", timezone="Europe/London")
    assert daily.tags == {"domain": "sales", "tier": "gold"}
    store = pipelines["sales_store_dim_pl"]
    assert store.schedule == "continuous"
    assert store.target_asset == "store_dim"  # default: last part of the source
    assert store.serverless is None  # deployment default stays absent


def test_pack_key_follows_section_4_2() -> None:
    loaded = load("pack.yaml", example_yaml())
    assert loaded.pack_key == "retail analytics/sales-insights/jane.doe@example.com"
    changed = load(
        "pack.yaml",
        example_with(
            ("requestor: jane.doe@example.com", "requestor: Zed@Example.com, jane.doe@example.com"),
            ("project_name: sales-insights  ", "# no project  "),
            ("business_line: Retail Analytics", "business_line: '  Retail    Analytics '"),
        ),
    )
    assert changed.pack_key == "retail analytics/default/jane.doe@example.com,zed@example.com"
    assert pack_key(changed.model.metadata) == changed.pack_key


def test_hash_ignores_order_comments_and_format_but_not_meaning() -> None:
    original = load("pack.yaml", example_yaml())
    reordered = example_with(
        (
            "      - 203.0.113.0/24\n      - 198.51.100.7\n",
            "      - 198.51.100.7   # moved\n      - 203.0.113.0/24\n",
        ),
        (
            "      - partner_analytics\n      - acme_external\n",
            "      - acme_external\n      - partner_analytics\n",
        ),
    )
    assert load("pack.yaml", reordered).record_hash == original.record_hash
    changed = example_with(("token_expiry: 90", "token_expiry: 91"))
    assert load("pack.yaml", changed).record_hash != original.record_hash


def test_canonical_json_is_sorted_compact_and_round_trips_through_storage() -> None:
    model = load("pack.yaml", example_yaml()).model
    text = canonical_json(model)
    assert text == json.dumps(
        json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert "null" not in text
    restored = parse_canonical(json.loads(text))
    assert restored == model
    assert record_hash(restored) == record_hash(model)


def test_yaml_and_excel_give_the_same_model_and_hash() -> None:
    from_yaml = load("pack.yaml", example_yaml())
    from_excel = load("pack.xlsx", build_template_xlsx())
    assert from_excel.file_format == "xlsx"
    assert from_excel.model == from_yaml.model
    assert from_excel.record_hash == from_yaml.record_hash
    warning = from_excel.warnings[0]
    assert (warning.type, warning.sheet, warning.column) == (
        "notification_group_not_delivered",
        "pipelines",
        "notification",
    )
    assert warning.cell is not None
    assert warning.cell.startswith("J")


def test_exporters_round_trip_the_example() -> None:
    model = load("pack.yaml", example_yaml()).model
    assert load("again.yaml", export_yaml(model).encode()).model == model
    assert load("again.xlsx", export_excel(model)).model == model
    assert export_excel(model) == export_excel(model)


def test_excel_case_28_sheet_and_header_names_ignore_case_and_spaces() -> None:
    workbook = template_workbook()
    metadata = workbook["metadata"]
    metadata.title = "Metadata "
    metadata["A1"] = "Field"
    metadata["B1"] = " VALUE"
    share = workbook["share"]
    share.cell(row=1, column=column_of(share, "ext_catalog_name"), value="Ext-Catalog Name")
    loaded = load("pack.xlsx", workbook_bytes(workbook))
    assert loaded.record_hash == load("pack.yaml", example_yaml()).record_hash


def test_excel_case_29_typed_cells_are_read_by_convention() -> None:
    workbook = template_workbook()
    pipelines = workbook["pipelines"]
    row = row_of(pipelines, "name_prefix", "sales_daily_sales_pl")
    pipelines.cell(row=row, column=column_of(pipelines, "serverless"), value=True)
    pipelines.cell(row=row, column=column_of(pipelines, "scd_type"), value=2)
    recipients = workbook["recipient"]
    acme = row_of(recipients, "name", "acme_external")
    recipients.cell(row=acme, column=column_of(recipients, "token_expiry"), value=90.0)
    metadata = workbook["metadata"]
    servicenow = row_of(metadata, "field", "servicenow")
    metadata.cell(row=servicenow, column=2, value=12345)
    model = load("pack.xlsx", workbook_bytes(workbook)).model
    assert isinstance(model, SharePack)
    sales = next(share for share in model.share if share.name == "sales_share")
    daily = next(p for p in sales.pipelines or [] if p.name_prefix == "sales_daily_sales_pl")
    assert (daily.serverless, daily.scd_type) == (True, "2")
    assert model.recipient[0].token_expiry == 90
    assert model.metadata.servicenow == "12345"  # a number where text is expected is its text


def test_delete_pack_reads_names_only() -> None:
    data = example_with(("strategy: UPDATE", "strategy: delete"))
    loaded = load("pack.yaml", data)
    assert isinstance(loaded.model, DeleteSharePack)
    assert [r.name for r in loaded.model.recipient] == ["acme_external", "partner_analytics"]
    sales = next(share for share in loaded.model.share if share.name == "sales_share")
    assert sales.pipelines == ["sales_daily_sales_pl", "sales_store_dim_pl"]
    ignored = {w.loc for w in loaded.warnings if w.type == "ignored_in_delete"}
    assert "recipient[0].type" in ignored
    assert "share[0].share_assets" in ignored
    assert "share[0].pipelines[0].source_asset" in ignored
    assert load("pack.xlsx", export_excel(loaded.model)).model == loaded.model


def test_example_text_is_the_spec_block() -> None:
    text = example_text()
    assert text.startswith("# Sales insights shared with one partner metastore")
    assert "recipients_to_remove: [old_partner]" in text
