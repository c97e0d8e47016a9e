"""The queued sink base: batching, flushing, dropping, failure reporting, isolation; the stdout sink."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

import pytest

from dbrx_api.monitoring.events import LogEvent
from dbrx_api.monitoring.sinks import QueuedSink, SinkStats, StdoutSink

PAT = "dapi0123456789abcdef0123456789abcdef"


class RecordingSink(QueuedSink):
    """Keeps batches in memory; can be made to block or fail."""

    def __init__(self, **kwargs: object) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False
        self.log_from_writer: logging.Logger | None = None
        super().__init__("recording", **kwargs)  # type: ignore[arg-type]

    def write_batch(self, events: list[LogEvent]) -> None:
        self.gate.wait(10)
        if self.log_from_writer is not None:
            self.log_from_writer.warning("logged by the writer thread")
        if self.fail:
            raise ConnectionError(f"endpoint down, key {PAT}")
        self.batches.append([event.fields["message"] for event in events])


def _attach[SinkT: QueuedSink](sink_logger: logging.Logger, sink: SinkT) -> SinkT:
    sink_logger.addHandler(sink)
    return sink


def test_records_are_written_in_order_and_counted(sink_logger: logging.Logger) -> None:
    sink = _attach(sink_logger, RecordingSink())
    for i in range(50):
        sink_logger.info("m%d", i)
    assert sink.flush_queue(5)
    assert [m for batch in sink.batches for m in batch] == [f"m{i}" for i in range(50)]
    assert sink.stats() == SinkStats(emitted=50, dropped=0, queued=0)
    sink.close_sink(2)


def test_linger_collects_one_batch(sink_logger: logging.Logger) -> None:
    sink = _attach(sink_logger, RecordingSink(linger_s=0.3))
    for i in range(20):
        sink_logger.info("m%d", i)
    time.sleep(0.6)
    assert len(sink.batches) == 1
    assert len(sink.batches[0]) == 20
    sink.close_sink(2)


def test_max_batch_splits_batches(sink_logger: logging.Logger) -> None:
    sink = _attach(sink_logger, RecordingSink(linger_s=5, max_batch=10))
    for i in range(25):
        sink_logger.info("m%d", i)
    assert sink.flush_queue(5)
    assert [len(batch) for batch in sink.batches] == [10, 10, 5]
    sink.close_sink(2)


def test_level_filters_records(sink_logger: logging.Logger) -> None:
    sink = _attach(sink_logger, RecordingSink(level=logging.WARNING))
    sink_logger.info("quiet")
    sink_logger.error("loud")
    sink.flush_queue(5)
    assert sink.batches == [["loud"]]
    sink.close_sink(2)


def test_full_queue_drops_without_blocking(sink_logger: logging.Logger) -> None:
    sink = RecordingSink(queue_size=10)
    sink.gate.clear()  # the writer hangs on its first batch
    _attach(sink_logger, sink)
    sink_logger.info("first")
    deadline = time.monotonic() + 5
    while sink.stats().queued:  # wait until the writer took "first" and is blocked on it
        assert time.monotonic() < deadline
        time.sleep(0.01)
    slowest = 0.0
    for i in range(200):
        started = time.perf_counter()
        sink_logger.info("m%d", i)
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 0.05
    stats = sink.stats()
    assert stats.dropped == 190
    assert stats.queued == 10
    sink.gate.set()
    assert sink.flush_queue(5)
    assert sink.stats() == SinkStats(emitted=11, dropped=190, queued=0)
    sink.close_sink(2)


def test_failed_writes_are_dropped_counted_and_reported_once(
    sink_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = RecordingSink()
    sink.fail = True
    _attach(sink_logger, sink)
    for i in range(3):
        sink_logger.info("m%d", i)
        sink.flush_queue(5)
    assert sink.stats().dropped == 3
    warnings = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "WARNING"
    assert "log sink 'recording' is failing (ConnectionError" in warnings[0]["message"]
    assert PAT not in warnings[0]["message"]

    sink.fail = False
    sink_logger.info("back")
    sink.flush_queue(5)
    recovered = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [w["message"] for w in recovered] == [
        "log sink 'recording' recovered; 3 records were dropped"
    ]
    assert sink.stats() == SinkStats(emitted=1, dropped=3, queued=0)
    sink.close_sink(2)


def test_records_logged_by_the_writer_thread_are_ignored(sink_logger: logging.Logger) -> None:
    sink = _attach(sink_logger, RecordingSink())
    sink.log_from_writer = sink_logger
    sink_logger.info("one")
    sink.flush_queue(5)
    sink_logger.info("two")
    sink.flush_queue(5)
    assert [m for batch in sink.batches for m in batch] == ["one", "two"]


def test_close_flushes_and_stops_the_thread(sink_logger: logging.Logger) -> None:
    sink = _attach(sink_logger, RecordingSink(linger_s=30))
    sink_logger.info("pending")
    assert sink.close_sink(5)
    assert sink.batches == [["pending"]]
    assert not sink._thread.is_alive()
    assert sink.close_sink(1)  # twice is fine
    assert sink.flush_queue(1)


def test_close_is_bounded_when_the_writer_hangs(sink_logger: logging.Logger) -> None:
    sink = RecordingSink()
    sink.gate.clear()
    _attach(sink_logger, sink)
    sink_logger.info("stuck")
    started = time.monotonic()
    assert sink.close_sink(0.3) is False
    assert time.monotonic() - started < 2
    sink.gate.set()


def test_stdout_sink_writes_json_lines(sink_logger: logging.Logger) -> None:
    stream = io.StringIO()
    sink = _attach(sink_logger, StdoutSink(stream=stream))
    sink_logger.warning("token %s", PAT, extra={"share": "s1"})
    sink.close_sink(5)
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "token [REDACTED_PAT]"
    assert record["share"] == "s1"
    assert record["level"] == "WARNING"


def test_stdout_sink_plain_text(sink_logger: logging.Logger) -> None:
    stream = io.StringIO()
    sink = _attach(sink_logger, StdoutSink(stream=stream, json_lines=False))
    sink_logger.info("hello", extra={"share": "s1"})
    sink.close_sink(5)
    assert stream.getvalue().rstrip("\n").endswith(f'INFO     {sink_logger.name} hello share="s1"')


def test_stdout_sink_uses_the_current_sys_stdout(
    sink_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = _attach(sink_logger, StdoutSink())
    sink_logger.info("to stdout")
    sink.close_sink(5)
    assert json.loads(capsys.readouterr().out)["message"] == "to stdout"
