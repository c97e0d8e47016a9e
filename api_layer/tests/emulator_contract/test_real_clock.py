"""With the real clock (make run-dev), simulated activity catches up on any API call, not only pipeline reads."""

from __future__ import annotations

import time

import pytest
from databricks.sdk.errors import NotFound

from dbrx_emulator.config import EmulatorConfig
from dbrx_emulator.testing import EmulatorServer

pytestmark = pytest.mark.contract


def test_target_table_visible_to_a_bare_tables_get() -> None:
    config = EmulatorConfig(
        clock="real", seed_file="minimal", step_ms=20, port=0, log_level="warning"
    )
    with EmulatorServer(config) as server:
        client = server.workspace_client()
        created = client.pipelines.create(
            name="rt",
            catalog="share_cat",
            schema="sales_ext",
            libraries=[],
            configuration={
                "pipelines.source_table": "main.sales.orders",
                "pipelines.target_table": "orders_rt",
                "pipelines.scd_type": "full_refresh",
            },
        )
        assert created.pipeline_id
        client.pipelines.start_update(created.pipeline_id)
        with pytest.raises(NotFound):
            client.tables.get("share_cat.sales_ext.orders_rt")
        deadline = time.monotonic() + 5
        while True:
            try:
                table = client.tables.get("share_cat.sales_ext.orders_rt")
                break
            except NotFound:
                assert time.monotonic() < deadline, "the update never completed on the real clock"
                time.sleep(0.05)
        assert table.pipeline_id == created.pipeline_id
