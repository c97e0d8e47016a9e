"""Unit tests of the seed loader: validation with paths, references, relative times, `extends`."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbrx_emulator.clock import resolve_time, to_ms
from dbrx_emulator.config import DEFAULT_START_TIME
from dbrx_emulator.seed import SeedError, load_seed, parse_seed


def _problems(raw: dict[str, object]) -> list[str]:
    with pytest.raises(SeedError) as caught:
        parse_seed(raw)
    return caught.value.problems


def test_packaged_seeds_hold_what_the_spec_lists() -> None:
    minimal = load_seed("minimal")
    main = {c.name: c for c in minimal.catalogs}["main"]
    schemas = {s.name: s for s in main.schemas}
    tables = [t for s in schemas.values() for t in s.tables]
    types = {t.table_type for t in tables}
    assert set(schemas) == {"sales", "finance"}
    assert {"MANAGED", "VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE", "METRIC_VIEW"} <= types
    managed = [t for t in tables if t.table_type == "MANAGED"]
    assert any(t.properties.get("delta.enableChangeDataFeed") == "true" for t in managed)
    assert any("delta.enableChangeDataFeed" not in t.properties for t in managed)
    assert any(not t.owner_can_select for t in tables)
    assert any("_" in t.name for t in tables)
    share_cat = {c.name: c for c in minimal.catalogs}["share_cat"]
    assert [(s.name, s.tables) for s in share_cat.schemas] == [("sales_ext", [])]
    paths = {o.path: o.type for o in minimal.workspace_objects}
    assert paths["/Workspace/Shared/deltashare/pipelines/cdf_share_loader.py"] == "FILE"
    assert "NOTEBOOK" in paths.values()
    assert len(minimal.external_locations) == 1
    assert len(minimal.workspace.known_metastores) == 2
    assert (minimal.shares, minimal.recipients, minimal.pipelines, minimal.jobs) == ([], [], [], [])

    default = load_seed("default")
    assert [s.name for s in default.shares] == ["demo_share"]
    assert {r.authentication_type for r in default.recipients} == {"TOKEN", "DATABRICKS"}
    assert {p.name for p in default.pipelines} == {
        "sales_orders_share",
        "salesXorders_share",
        "sales_orders_share_old",
    }
    assert [j.name for j in default.jobs] == ["sales_orders_share_schedule"]
    assert default.catalogs == minimal.catalogs


def test_unknown_keys_and_bad_values_are_reported_with_their_path() -> None:
    problems = _problems(
        {
            "catalogs": [
                {
                    "name": "c",
                    "schemas": [
                        {
                            "name": "s",
                            "tables": [
                                {"name": "t", "table_type": "TABLE", "columns": ["id NOPE"]},
                                {"name": "bad name", "colour": "red"},
                            ],
                        }
                    ],
                }
            ],
            "workspace": {"current_user": {"nick": "x"}},
            "recipients": [
                {"name": "r", "authentication_type": "TOKEN", "tokens": [{"created": "yesterday"}]}
            ],
        }
    )
    joined = "\n".join(problems)
    assert "catalogs[0].schemas[0].tables[0].table_type:" in joined
    assert "catalogs[0].schemas[0].tables[0].columns[0]" in joined
    assert "unknown column type 'NOPE'" in joined
    assert "catalogs[0].schemas[0].tables[1].name:" in joined
    assert "catalogs[0].schemas[0].tables[1].colour: Extra inputs are not permitted" in joined
    assert "workspace.current_user.nick: Extra inputs are not permitted" in joined
    assert "recipients[0].tokens[0].created:" in joined


def test_broken_references_are_reported_with_their_path() -> None:
    problems = _problems(
        {
            "catalogs": [
                {"name": "c", "schemas": [{"name": "s", "tables": [{"name": "t"}]}]},
                {"name": "C"},
            ],
            "shares": [
                {
                    "name": "sh",
                    "objects": [
                        {"name": "c.s.missing"},
                        {"name": "c.nope", "data_object_type": "SCHEMA"},
                    ],
                    "grants": [{"principal": "ghost"}],
                }
            ],
            "recipients": [
                {
                    "name": "d",
                    "authentication_type": "DATABRICKS",
                    "data_recipient_global_metastore_id": "aws:us-east-1:00000000-0000-4000-8000-000000000000",
                }
            ],
            "jobs": [
                {
                    "name": "j",
                    "settings": {
                        "tasks": [{"task_key": "t", "pipeline_task": {"pipeline": "nope"}}]
                    },
                }
            ],
        }
    )
    assert problems == [
        "catalogs[1].name: duplicate catalog 'c'",
        "recipients[0].data_recipient_global_metastore_id: 'aws:us-east-1:00000000-0000-4000-8000-000000000000' "
        "is not in workspace.known_metastores",
        "shares[0].objects[0].name: table 'c.s.missing' is not in the seed",
        "shares[0].objects[1].name: schema 'c.nope' is not in the seed",
        "shares[0].grants[0].principal: recipient 'ghost' is not in the seed",
        "jobs[0].settings.tasks[0].pipeline_task.pipeline: pipeline 'nope' is not in the seed",
    ]


def test_names_are_lower_cased_and_columns_parsed() -> None:
    seed = parse_seed(
        {
            "catalogs": [
                {
                    "name": "Main",
                    "schemas": [
                        {
                            "name": "Sales",
                            "tables": [
                                {
                                    "name": "Orders",
                                    "columns": [
                                        "amount DECIMAL(10,2) NOT NULL",
                                        {"name": "id", "type": "BIGINT"},
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    table = seed.catalogs[0].schemas[0].tables[0]
    assert (seed.catalogs[0].name, seed.catalogs[0].schemas[0].name, table.name) == (
        "main",
        "sales",
        "orders",
    )
    assert [(c.name, c.type, c.nullable) for c in table.columns] == [
        ("amount", "DECIMAL(10,2)", False),
        ("id", "BIGINT", True),
    ]


def test_relative_and_absolute_times() -> None:
    origin = to_ms(DEFAULT_START_TIME)
    assert resolve_time("-2d", origin) == origin - 2 * 86_400_000
    assert resolve_time("+80d", origin) == origin + 80 * 86_400_000
    assert resolve_time("-90m", origin) == origin - 90 * 60_000
    assert resolve_time("-45s", origin) == origin - 45_000
    assert resolve_time("2026-01-02T00:00:00Z", origin) == origin + 86_400_000


def test_extends_merges_sections_and_appends_lists(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text(
        "extends: minimal\n"
        "workspace: {metastore_admin: true}\n"
        "behaviour: {page_sizes: {uc: 5}}\n"
        "catalogs: [{name: extra}]\n"
    )
    seed = load_seed(str(child))
    assert seed.workspace.metastore_admin is True
    assert len(seed.workspace.known_metastores) == 2
    assert seed.behaviour.page_sizes.uc == 5
    assert [c.name for c in seed.catalogs] == ["main", "share_cat", "extra"]


def test_duplicate_yaml_keys_and_missing_files_are_errors(tmp_path: Path) -> None:
    duplicated = tmp_path / "dup.yaml"
    duplicated.write_text("workspace: {}\nworkspace: {}\n")
    with pytest.raises(SeedError, match="duplicate key 'workspace'"):
        load_seed(str(duplicated))
    with pytest.raises(SeedError, match="does not exist"):
        load_seed(str(tmp_path / "missing.yaml"))


def test_seeded_shares_may_hold_more_objects_than_one_patch() -> None:
    from dbrx_emulator.app import create_app
    from dbrx_emulator.config import EmulatorConfig
    from dbrx_emulator.state.shares import SharingState

    tables = [{"name": f"t{i:03d}"} for i in range(150)]
    seed = {
        "catalogs": [{"name": "c", "schemas": [{"name": "s", "tables": tables}]}],
        "shares": [{"name": "big", "objects": [{"name": f"c.s.t{i:03d}"} for i in range(150)]}],
    }
    app = create_app(EmulatorConfig(clock="manual", seed_file="minimal"))
    app.runtime.reset(seed=seed)

    share = app.runtime.store.area(SharingState).shares["big"]
    assert len(share.objects) == 150


def test_seeded_share_objects_follow_the_api_rules() -> None:
    from dbrx_emulator.app import create_app
    from dbrx_emulator.config import EmulatorConfig

    app = create_app(EmulatorConfig(clock="manual", seed_file="minimal"))
    bad = {
        "extends": "minimal",
        "shares": [{"name": "s", "objects": [{"name": "main.sales.v_orders"}]}],
    }

    with pytest.raises(
        SeedError, match=r"shares\[0\].objects: main.sales.v_orders is a VIEW and not a Table"
    ):
        app.runtime.reset(seed=bad)
    assert app.runtime.seed_source == "minimal"
