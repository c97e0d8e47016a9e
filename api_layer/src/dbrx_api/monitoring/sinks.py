"""The non-blocking sink base and the stdout sink.

Every sink is a `logging.Handler` whose `emit` only captures the record (see `events.capture`) and puts it on a
bounded queue with `put_nowait`: the logging thread never does I/O and never waits. A background thread per sink
drains the queue in batches and writes them. A full queue or a failed write drops records and counts them; a
failing sink prints one warning line to stdout per failure streak (and one when it recovers).

Records logged *by* a sink's own thread (the storage SDK, psycopg, httpx…) are ignored by every sink, so a sink
can never feed on its own failures.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Final

from dbrx_api.monitoring.events import LogEvent, RedactionFilter, capture, format_timestamp
from dbrx_api.monitoring.redaction import redact

_sink_thread = threading.local()


def in_sink_thread() -> bool:
    """True inside a sink's writer thread."""
    return bool(getattr(_sink_thread, "active", False))


@dataclass(frozen=True, slots=True)
class SinkStats:
    """Counters of one sink: records written, records dropped, records waiting in the queue."""

    emitted: int
    dropped: int
    queued: int


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP: Final = object()


class QueuedSink(logging.Handler):
    """Base class: bounded queue + writer thread; subclasses implement `write_batch`."""

    def __init__(
        self,
        name: str,
        *,
        level: int | str = logging.NOTSET,
        queue_size: int = 10_000,
        linger_s: float = 0.0,
        max_batch: int = 1_000,
    ) -> None:
        super().__init__(level)
        self.sink_name = name
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._linger_s = linger_s
        self._max_batch = max_batch
        self._counter_lock = threading.Lock()
        self._emitted = 0
        self._dropped = 0
        self._failing_since_drops: int | None = None
        self._stopped = False
        self.addFilter(RedactionFilter())
        self._thread = threading.Thread(target=self._run, name=f"log-sink-{name}", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------------- logging thread side

    def handle(self, record: logging.LogRecord) -> bool:
        """Ignore records produced by sink threads; otherwise filter (redact) and emit."""
        if in_sink_thread():
            return False
        return bool(super().handle(record))

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the captured record; never blocks, never raises."""
        try:
            self._queue.put_nowait(capture(record))
        except queue.Full:
            self._count(dropped=1)
        except Exception:  # noqa: BLE001 - logging must never fail the caller
            self._count(dropped=1)

    def stats(self) -> SinkStats:
        """Current counters."""
        with self._counter_lock:
            return SinkStats(self._emitted, self._dropped, self._queue.qsize())

    def flush_queue(self, timeout_s: float = 5.0) -> bool:
        """Write everything queued before this call; False if that did not finish within `timeout_s`."""
        if self._stopped:
            return self._queue.empty()
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout_s)
        except queue.Full:
            return False
        return marker.done.wait(timeout_s)

    def close_sink(self, timeout_s: float = 5.0) -> bool:
        """Flush, stop the writer thread and detach; True when everything was written in time."""
        deadline = time.monotonic() + timeout_s
        if not self._stopped:
            self._stopped = True
            # A full queue means the writer is busy draining; the join below bounds the wait anyway.
            with contextlib.suppress(queue.Full):
                self._queue.put(_STOP, timeout=max(deadline - time.monotonic(), 0.01))
        self._thread.join(max(deadline - time.monotonic(), 0.01))
        finished = not self._thread.is_alive()
        if finished:
            self.close_resources()
        super().close()
        return finished

    def close(self) -> None:
        """`logging.shutdown()` calls this at exit: stop with a short deadline."""
        self.close_sink(timeout_s=2.0)

    # -------------------------------------------------------------------- writer thread side

    def write_batch(self, events: list[LogEvent]) -> None:
        """Write `events`; raise on failure (the whole batch is then counted as dropped)."""
        raise NotImplementedError

    def close_resources(self) -> None:
        """Release clients and files once the writer thread has stopped."""

    def _run(self) -> None:
        _sink_thread.active = True
        batch: list[LogEvent] = []
        deadline = 0.0
        while True:
            item = self._next_item(batch, deadline)
            if isinstance(item, LogEvent):
                if not batch:
                    deadline = time.monotonic() + self._linger_s
                batch.append(item)
                if len(batch) < self._max_batch:
                    continue
            if batch:
                self._write(batch)
                batch = []
            if isinstance(item, _Flush):
                item.done.set()
            elif item is _STOP:
                return

    def _next_item(self, batch: list[LogEvent], deadline: float) -> object | None:
        """The next queued item; None when the current batch is due to be written."""
        if not batch:
            return self._queue.get()
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                return self._queue.get_nowait()
            return self._queue.get(timeout=remaining)
        except queue.Empty:
            return None

    def _write(self, batch: list[LogEvent]) -> None:
        try:
            self.write_batch(batch)
        except Exception as exc:  # noqa: BLE001 - any sink failure means: drop, count, warn once
            self._report_failure(exc)  # first: it notes the drop count before this batch
            self._count(dropped=len(batch))
        else:
            self._count(emitted=len(batch))
            self._report_recovery()

    def _count(self, *, emitted: int = 0, dropped: int = 0) -> None:
        with self._counter_lock:
            self._emitted += emitted
            self._dropped += dropped

    def _report_failure(self, exc: BaseException) -> None:
        if self._failing_since_drops is not None:
            return
        with self._counter_lock:
            self._failing_since_drops = self._dropped
        reason = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])[:300]
        _warn_stdout(
            f"log sink '{self.sink_name}' is failing ({reason}); "
            "its records are dropped until it recovers"
        )

    def _report_recovery(self) -> None:
        if self._failing_since_drops is None:
            return
        with self._counter_lock:
            lost = self._dropped - self._failing_since_drops
            self._failing_since_drops = None
        _warn_stdout(f"log sink '{self.sink_name}' recovered; {lost} records were dropped")


def _warn_stdout(message: str) -> None:
    """One JSON line on stdout, bypassing logging (which may be what is broken)."""
    line = {
        "timestamp": format_timestamp(time.time()),
        "level": "WARNING",
        "logger": "dbrx_api.monitoring",
        "message": message,
    }
    try:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
    except Exception:  # noqa: BLE001, S110 - nowhere left to report to
        pass


class StdoutSink(QueuedSink):
    """JSON lines (or plain text) on the process's stdout (or `stream`)."""

    def __init__(
        self,
        *,
        json_lines: bool = True,
        stream: IO[str] | None = None,
        level: int | str = logging.NOTSET,
        queue_size: int = 10_000,
    ) -> None:
        self._json_lines = json_lines
        self._stream = stream
        super().__init__("stdout", level=level, queue_size=queue_size)

    def write_batch(self, events: list[LogEvent]) -> None:
        """One write and one flush per batch."""
        stream = self._stream or sys.stdout  # resolved late: test runners swap sys.stdout
        render = LogEvent.json_line if self._json_lines else LogEvent.text_line
        stream.write("".join(render(event) + "\n" for event in events))
        stream.flush()
