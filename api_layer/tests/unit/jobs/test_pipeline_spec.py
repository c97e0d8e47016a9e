"""`build_pipeline_spec` / `spec_arguments`: the sharing pipeline specification shared by the API and share packs."""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk.service.pipelines import PipelineSpec

from dbrx_api.errors import AppError
from dbrx_api.jobs.pipelines import build_pipeline_spec, spec_arguments
from dbrx_api.settings import PipelineDefaults

DEFAULTS = PipelineDefaults(library_path="/Workspace/Shared/deltashare/cdf_share_loader.py")


def _spec(**overrides: Any) -> PipelineSpec:
    values: dict[str, Any] = {
        "name": "orders_pl",
        "catalog": "share_cat",
        "schema": "sales_ext",
        "source_table": "main.sales.orders",
        "target_table": "orders",
        "scd_type": "2",
        "key_columns": ["order_id", "line_no"],
        "continuous": False,
        "serverless": None,
        "notifications": ["ops@example.com"],
        "tags": {"domain": "sales"},
        "defaults": DEFAULTS,
    }
    values.update(overrides)
    return build_pipeline_spec(**values)


def test_scd_pipelines_sequence_and_delete_by_the_change_feed() -> None:
    spec = _spec()

    assert spec.configuration == {
        "pipelines.source_table": "main.sales.orders",
        "pipelines.target_table": "orders",
        "pipelines.scd_type": "2",
        "pipelines.keys": "order_id,line_no",
        "pipelines.sequence_by": "_commit_version",
        "pipelines.delete_expr": "_change_type = 'delete'",
    }
    assert spec.serverless is True  # the configured default
    assert spec.clusters is None
    assert spec.libraries is not None
    assert spec.libraries[0].file is not None
    assert spec.libraries[0].file.path == DEFAULTS.library_path


def test_full_refresh_has_no_keys_nor_change_feed_settings() -> None:
    spec = _spec(scd_type="full_refresh", key_columns=[])

    assert set(spec.configuration or {}) == {
        "pipelines.source_table",
        "pipelines.target_table",
        "pipelines.scd_type",
    }


def test_classic_compute_takes_the_cluster_defaults_and_cluster_tags() -> None:
    spec = _spec(
        serverless=False,
        cluster_tags={"cost_center": "cc-1"},
        notification_alerts=["on-update-failure"],
    )

    assert spec.clusters is not None
    assert spec.notifications is not None
    (cluster,) = spec.clusters
    assert cluster.custom_tags == {"cost_center": "cc-1"}
    assert cluster.autoscale is not None
    assert cluster.autoscale.max_workers == DEFAULTS.cluster.autoscale.max_workers
    assert spec.notifications[0].alerts == ["on-update-failure"]


def test_no_library_path_configured_is_an_internal_error() -> None:
    with pytest.raises(AppError):
        _spec(defaults=PipelineDefaults())


def test_spec_arguments_carry_every_set_field_and_nothing_unset() -> None:
    arguments = spec_arguments(_spec())

    assert arguments["name"] == "orders_pl"
    assert arguments["catalog"] == "share_cat"
    assert "clusters" not in arguments
    assert "id" not in arguments
