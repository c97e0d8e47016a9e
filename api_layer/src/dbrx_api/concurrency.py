"""Bounded fan-out of independent upstream reads inside one request (docs/API.md §1.10)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

DEFAULT_MAX_PARALLEL = 8


def bounded_map[T, R](
    fn: Callable[[T], R], items: Iterable[T], max_parallel: int = DEFAULT_MAX_PARALLEL
) -> list[R]:
    """Apply `fn` to every item with at most `max_parallel` calls in flight; results keep the input order.

    The first exception raised by `fn` propagates (after in-flight calls finish); a single item runs inline.
    """
    work = list(items)
    if len(work) <= 1 or max_parallel <= 1:
        return [fn(item) for item in work]
    # Log records of the fan-out calls keep the request's context (request id, principal).
    parent = contextvars.copy_context()

    def call(item: T) -> R:
        return parent.copy().run(fn, item)

    with ThreadPoolExecutor(
        max_workers=min(max_parallel, len(work)), thread_name_prefix="fanout"
    ) as pool:
        return list(pool.map(call, work))
