"""A worker process SIGKILLed in the middle of provisioning: redelivery converges with no duplicates (issue 5)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from uuid import UUID

import pytest
from bench.benchlib import start_emulator
from bench.chaos import (
    UPLOADER,
    duplicate_current_rows,
    runtime_client,
    service_environment,
    settings_from,
    start_worker,
    statuses,
    throwaway_database,
    wait_final,
)

from dbrx_api.workflow import service as workflow_service
from dbrx_api.workflow.runtime import open_workflow
from fixtures.azurite import start_azurite_queue
from fixtures.orchestrator import sample_pack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sigkill_mid_provisioning_then_redelivery_converges(tmp_path: Path) -> None:
    with ExitStack() as stack:
        emulator = start_emulator(tmp_path)
        stack.callback(emulator.process.stop)
        queue = start_azurite_queue(tmp_path)
        stack.callback(queue.stop)
        database_url = stack.enter_context(throwaway_database())
        (tmp_path / "config").mkdir()
        env = service_environment(emulator, database_url, queue, tmp_path / "config")
        env["DBRX_API_WORKFLOW__QUEUE__VISIBILITY_TIMEOUT_S"] = "9"
        env["DBRX_API_WORKFLOW__QUEUE__HEARTBEAT_S"] = "3"
        env["DBRX_API_WORKFLOW__SWEEPER__LEASE_GRACE_S"] = "3"
        runtime = open_workflow(settings_from(env))
        stack.callback(runtime.close)
        text = sample_pack(emulator.url)
        uploaded = workflow_service.upload_sharepack(
            runtime.context,
            principal=UPLOADER,
            request_id="kill",
            filename="pack.yaml",
            data=text.encode(),
        ).response
        pack_id = UUID(str(uploaded.share_pack_id))

        # Slow calls make the run long enough to be caught in the middle.
        emulator.control.post("/latency", json={"fixed_ms": 150}).raise_for_status()
        first = start_worker(1, env, tmp_path, 0)
        stack.callback(first.stop)
        deadline = time.monotonic() + 60
        while not (
            statuses(runtime).get(pack_id) == "IN_PROGRESS"
            and emulator.stats()["mutating_total"] >= 3
        ):
            first.check_alive()
            assert time.monotonic() < deadline, "the run never got under way"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.process.wait(10)
        mutating_before_kill = emulator.stats()["mutating_total"]
        assert statuses(runtime)[pack_id] == "IN_PROGRESS"  # the kill left the run unfinished

        emulator.control.post("/latency", json={"fixed_ms": 0}).raise_for_status()
        second = start_worker(2, env, tmp_path, 0)
        stack.callback(second.stop)
        final = wait_final(runtime, 1, time.monotonic() + 120)
        assert final[pack_id] == "COMPLETED"

        client = runtime_client(emulator)
        jobs = Counter(j.settings.name for j in client.jobs.list() if j.settings)
        pipelines = Counter(p.name for p in client.pipelines.list_pipelines())
        assert all(count == 1 for count in [*jobs.values(), *pipelines.values()]), (jobs, pipelines)
        assert set(pipelines) == {"sales_orders_pl", "sales_order_items_pl"}
        assert {r.name for r in client.recipients.list()} == {"partner_analytics", "acme_external"}
        objects = client.shares.get("sales_share", include_shared_data=True).objects or []
        assert {o.name for o in objects} == {
            "main.sales.orders",
            "main.sales.order_items",
            "main.sales.v_orders",
        }
        assert duplicate_current_rows(runtime) == 0
        history = workflow_service.get_history(runtime.context, str(pack_id), include_config=False)
        runs = history.versions[0].runs
        assert len(runs) >= 2  # the killed run and the one that finished it
        assert mutating_before_kill >= 3
