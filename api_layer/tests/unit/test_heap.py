"""`settle_startup_heap`: freezes the start-up heap once per process."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap


def test_the_first_call_freezes_what_start_up_built_and_later_calls_do_nothing() -> None:
    # In a fresh interpreter: the test process itself may already have been settled by an application's lifespan.
    script = textwrap.dedent(
        """
        import gc
        import dbrx_api.main  # start-up: the modules the service imports
        from dbrx_api.heap import settle_startup_heap

        before = gc.get_freeze_count()
        assert settle_startup_heap() is True
        frozen = gc.get_freeze_count()
        assert settle_startup_heap() is False
        assert gc.get_freeze_count() == frozen
        print(frozen - before)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50_000
    assert gc.isenabled()
