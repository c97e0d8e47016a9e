"""Volumes and registered models as share assets (docs/SHAREPACK.md §7): offline rules with codes and locations,
the Excel `type` column, and the stage-5 resolution through `volumes.read` / `registered_models.get`."""

from __future__ import annotations

from collections import Counter

import pytest

from dbrx_api.workflow.models.pack import SharePack
from dbrx_api.workflow.orchestrator.checks import LiveCheckResult, run_live_checks
from fixtures.sharepacks import (
    FakeLiveLookup,
    column_of,
    error_set,
    example_with,
    example_workspace,
    line_of,
    load,
    rejection,
    template_workbook,
    uc_table,
    workbook_bytes,
)

VOLUME = "sales_catalog.curated.landing"
MODEL = "sales_catalog.curated.churn"
# The last declarative entry of sales_share in the docs/SHAREPACK.md §16 example; new entries follow it as share_assets[3], [4].
_ANCHOR = "        comment: Aggregated view\n"


def _with_assets(*entries: str) -> bytes:
    return example_with((_ANCHOR, _ANCHOR + "".join(entries)))


def _volume(extra: str = "") -> str:
    return f"      - name: {VOLUME}\n        type: VOLUME\n{extra}"


def _model(extra: str = "") -> str:
    return f"      - name: {MODEL}\n        type: MODEL\n{extra}"


def test_declared_volumes_and_models_need_no_pipeline_and_keep_their_type() -> None:
    loaded = load("pack.yaml", _with_assets(_volume(), _model("        comment: Churn scores\n")))

    assert isinstance(loaded.model, SharePack)
    assets = {a.name: a for a in loaded.model.share[1].share_assets or []}
    assert assets[VOLUME].type == "VOLUME"
    assert assets[MODEL].type == "MODEL"
    assert assets[MODEL].comment == "Churn scores"
    assert not [w for w in loaded.warnings if w.type == "asset_without_pipeline"]


def test_an_undeclared_volume_is_read_as_a_table_and_needs_a_pipeline() -> None:
    problem = rejection("pack.yaml", _with_assets(f"      - {VOLUME}\n"))

    assert error_set(problem) == {("asset_without_pipeline", "share[0].share_assets[3]")}
    assert "VOLUME/MODEL" in problem.issues[0].msg


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        ("        shared_as: curated.files\n", "shared_as"),
        ("        cdf_enabled: true\n", "cdf_enabled"),
        ("        history_data_sharing_status: ENABLED\n", "history_data_sharing_status"),
        ("        start_version: 3\n", "start_version"),
        (
            "        partitions: [{values: [{name: region, op: EQUAL, value: emea}]}]\n",
            "partitions",
        ),
    ],
)
@pytest.mark.parametrize("kind", ["VOLUME", "MODEL"])
def test_table_options_on_a_volume_or_model_are_located_errors(
    kind: str, extra: str, option: str
) -> None:
    entry = _volume(extra) if kind == "VOLUME" else _model(extra)
    data = _with_assets(entry)
    problem = rejection("pack.yaml", data)

    assert error_set(problem) == {("asset_option_invalid", f"share[0].share_assets[3].{option}")}
    (issue,) = problem.issues
    lines = data.decode().splitlines()
    entry_line = lines.index(entry.splitlines()[0]) + 1
    assert issue.line == entry_line + 2  # name, type, then the option
    assert kind in issue.msg


def test_volume_and_model_types_need_three_part_names() -> None:
    data = example_with(
        (
            "      - finance_catalog.reporting                 # 2 parts: the whole schema\n",
            "      - {name: finance_catalog.reporting, type: VOLUME}\n",
        )
    )
    problem = rejection("pack.yaml", data)

    assert error_set(problem) == {("asset_option_invalid", "share[1].share_assets_to_add[0].type")}
    assert "VOLUME needs catalog.schema.object" in problem.issues[0].msg


def test_a_declared_volume_cannot_be_a_pipeline_source() -> None:
    data = example_with(
        (
            "      - sales_catalog.curated.store_dim           # string form; type read from Unity Catalog\n",
            "      - {name: sales_catalog.curated.store_dim, type: VOLUME}\n",
        )
    )
    problem = rejection("pack.yaml", data)

    assert error_set(problem) == {
        ("source_type_unsupported", "share[0].pipelines[1].source_asset"),
    }
    assert problem.issues[0].line == line_of(data, "source_asset: sales_catalog.curated.store_dim")


def test_volumes_and_models_count_against_their_own_share_limits() -> None:
    views = "".join(
        f"      - {{name: sales_catalog.bulk.v{i:04d}, type: VIEW}}\n" for i in range(600)
    )
    volumes = "".join(
        f"      - {{name: sales_catalog.bulk.f{i:04d}, type: VOLUME}}\n" for i in range(600)
    )
    loaded = load("pack.yaml", _with_assets(views, volumes))
    assert isinstance(
        loaded.model, SharePack
    )  # 1 203 table-like + volume objects, but 603 table-like

    too_many = "".join(
        f"      - {{name: sales_catalog.bulk.m{i:04d}, type: MODEL}}\n" for i in range(1001)
    )
    problem = rejection("pack.yaml", _with_assets(too_many))
    assert error_set(problem) == {("share_limit_exceeded", "share[0].share_assets")}
    assert "1 001 models" in problem.issues[0].msg


def test_the_excel_type_column_declares_volumes_and_locates_their_options() -> None:
    workbook = template_workbook()
    assets = workbook["assets"]
    row = assets.max_row + 1
    for header, value in (
        ("share_name", "sales_share"),
        ("list", "share_assets"),
        ("name", VOLUME),
        ("type", "VOLUME"),
    ):
        assets.cell(row=row, column=column_of(assets, header), value=value)
    loaded = load("pack.xlsx", workbook_bytes(workbook))
    assert isinstance(loaded.model, SharePack)
    (sales,) = [s for s in loaded.model.share if s.name == "sales_share"]
    assert {a.name: a.type for a in sales.share_assets or []}[VOLUME] == "VOLUME"

    assets.cell(row=row, column=column_of(assets, "cdf_enabled"), value=True)
    (issue,) = rejection("pack.xlsx", workbook_bytes(workbook)).issues
    assert issue.type == "asset_option_invalid"
    assert (issue.sheet, issue.row, issue.column) == ("assets", row, "cdf_enabled")


# ------------------------------------------------------------------------------------------ live (stage 5)


def _live(lookup: FakeLiveLookup, data: bytes) -> LiveCheckResult:
    loaded = load("pack.yaml", data)
    return run_live_checks(
        loaded.model, lookup, allowed=lookup.workspace_allowed, locator=loaded.locator
    )


def test_declared_volumes_and_models_are_read_once_by_their_own_lookup() -> None:
    lookup = example_workspace()
    lookup.volumes.add(VOLUME)
    lookup.models.add(MODEL)

    result = _live(lookup, _with_assets(_volume(), _model()))

    assert result.valid, result.errors
    assert result.resolved_types[("sales_share", VOLUME)] == "VOLUME"
    assert result.resolved_types[("sales_share", MODEL)] == "MODEL"
    counts = Counter(lookup.calls)
    assert counts[("volume_exists", VOLUME)] == 1
    assert counts[("model_exists", MODEL)] == 1
    assert ("table", VOLUME) not in counts
    assert ("table", MODEL) not in counts


def test_missing_and_mistyped_volumes_and_models() -> None:
    lookup = example_workspace()
    lookup.tables[VOLUME] = uc_table(VOLUME)

    result = _live(lookup, _with_assets(_volume(), _model()))

    assert {(i.type, i.loc) for i in result.errors} == {
        ("asset_type_mismatch", "share[0].share_assets[3].type"),
        ("asset_not_found", "share[0].share_assets[4]"),
    }
    messages = {i.type: i.msg for i in result.errors}
    assert messages["asset_type_mismatch"] == f'declared VOLUME but "{VOLUME}" is a TABLE.'
    assert messages["asset_not_found"] == f'model "{MODEL}" does not exist.'
