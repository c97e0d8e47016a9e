"""The chaos run at CI size: a few packs, two worker processes, one SIGKILL, 20 % faults (issue 7)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.chaos import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_small_chaos_run_converges(tmp_path: Path) -> None:
    report = run(packs=6, kills=1, seed=11, timeout_s=240, log_dir=tmp_path)
    print("\n".join(report.lines()))  # noqa: T201 - the figures belong in the CI log
    assert report.converged == report.packs
    assert report.lost_messages == 0
    assert report.duplicate_resources == 0
    assert report.duplicate_current_rows == 0
    assert report.second_pass_mutating_calls == 0
    assert report.kills == 1
    assert report.faults_injected > 0
