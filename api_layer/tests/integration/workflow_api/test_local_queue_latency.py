"""Local mode: a QUEUED version starts within about a second, even after the consumer has idled (docs/WORKFLOW.md §6.3).

The consumer backs off while the queue is empty (poll_min_s doubling up to poll_max_s); the in-process queue
wakes it on every send, so the back-off never delays an upload. Default queue settings on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dbrx_api.main import create_app
from fixtures.api import align_emulator_clock, api_settings_for
from fixtures.orchestrator import sample_pack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IDLE_S = 8.5  # the back-off has reached 4-8 s waits: the old consumer slept at least 3.5 s more
BOUND_S = 1.5


def test_queued_version_starts_within_a_second_after_idling(
    emu: Any, make_database: Callable[..., str]
) -> None:
    align_emulator_clock(emu)
    settings = api_settings_for(
        emu.url,
        emu.token,
        workflow={
            "enabled": True,
            "database_url": make_database(),
            "worker": {"inline": True, "concurrency": 1},
            "sweeper": {"interval_s": 3600},
        },
    )
    assert settings.workflow.queue.poll_min_s == 1
    assert settings.workflow.queue.poll_max_s == 30
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        time.sleep(IDLE_S)
        response = client.post(
            "/workflow/sharepack/upload_and_validate",
            files={"file": ("sales.yaml", sample_pack(emu.url).encode(), "application/x-yaml")},
        )
        assert response.status_code == 202, response.text
        accepted = time.monotonic()
        status_url = response.json()["status_url"]
        while True:
            status = client.get(status_url).json()["status"]
            if status not in {"RECEIVED", "VALIDATED", "QUEUED"}:
                break
            assert time.monotonic() - accepted < BOUND_S, f"still {status} after {BOUND_S} s"
            time.sleep(0.05)
        assert status in {"IN_PROGRESS", "COMPLETED"}
