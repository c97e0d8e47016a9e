"""The garbage collector of a long-running process (API worker, queue worker).

After start-up a process holds about 230,000 objects it keeps until it exits: modules, the Databricks SDK's
classes, settings, pools. A full collection walks all of them: about 100 ms on this project's 2-core test machine,
during which every thread of the process stops. A busy process triggers one every few seconds (a run that records
160 steps did, a third of the time). `settle_startup_heap` collects once and then moves what start-up built to the
collector's permanent generation (`gc.freeze`), so that later full collections walk only what was made since.
"""

from __future__ import annotations

import gc
import threading

_settled = threading.Event()


def settle_startup_heap() -> bool:
    """Collect, then freeze the objects alive now; once per process (True the time it did).

    Call it when start-up is over (the API's lifespan, the worker's `main`). Only the first call freezes: objects
    of a later start-up in the same process (tests build many applications) stay collectable.
    """
    if _settled.is_set():
        return False
    _settled.set()
    gc.collect()
    gc.freeze()
    return True
