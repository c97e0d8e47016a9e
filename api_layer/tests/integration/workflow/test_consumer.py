"""The consumer loop (docs/WORKFLOW.md §8) with real PostgreSQL, on `InProcessQueue` and on Azurite."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from uuid import UUID

import psycopg
import pytest

from dbrx_api.errors import ServiceUnavailable, ValidationFailed
from dbrx_api.settings import WorkflowSettings
from dbrx_api.workflow.db import operations
from dbrx_api.workflow.db.connection import Pool
from dbrx_api.workflow.db.operations import RunFigures
from dbrx_api.workflow.db.repositories import provisioning_runs, status_transitions, version_status
from dbrx_api.workflow.db.repositories.provisioning_runs import RunRecord
from dbrx_api.workflow.queue.azure import AzureStorageQueue
from dbrx_api.workflow.queue.base import Queue, Received, StaleReceipt
from dbrx_api.workflow.queue.consumer import Consumer, Disposition
from dbrx_api.workflow.queue.in_process import InProcessQueue
from dbrx_api.workflow.queue.messages import WorkMessage
from dbrx_api.workflow.queue.run import Outcome, RunCancelled, RunControl
from fixtures.azurite import AzuriteQueue
from fixtures.postgres import StoredPack, pack_input, store_pack_version

pytestmark = pytest.mark.integration

Handler = Callable[[UUID, int, threading.Event], Outcome]


class Recorder:
    """A handler that returns a scripted outcome and records how it was called."""

    def __init__(self, outcome: Outcome | Callable[[UUID, int, threading.Event], Outcome]) -> None:
        self.outcome = outcome
        self.calls: list[tuple[UUID, int, RunControl]] = []
        self.intervals: list[tuple[float, float]] = []
        self._guard = threading.Lock()

    def __call__(self, share_pack_id: UUID, version: int, cancel: threading.Event) -> Outcome:
        assert isinstance(cancel, RunControl)
        started = time.monotonic()
        try:
            if callable(self.outcome):
                return self.outcome(share_pack_id, version, cancel)
            return self.outcome
        finally:
            with self._guard:
                self.calls.append((share_pack_id, version, cancel))
                self.intervals.append((started, time.monotonic()))


def _status(pool: Pool, pack: StoredPack) -> version_status.VersionStatus:
    with pool.connection() as conn:
        row = version_status.get(conn, pack.share_pack_id, pack.version)
    assert row is not None
    return row


def _runs(pool: Pool, pack: StoredPack) -> list[RunRecord]:
    with pool.connection() as conn:
        return provisioning_runs.list_for_version(conn, pack.share_pack_id, pack.version)


def _send(queue: Queue, pack: StoredPack, attempt: int = 1) -> str:
    return queue.send(
        WorkMessage(pack.share_pack_id, pack.version, attempt, request_id="req-1").to_json()
    )


def _drain(consumer: Consumer, limit: int = 20) -> list[Disposition]:
    dispositions: list[Disposition] = []
    for _ in range(limit):
        got = consumer.poll_once("host:1:1")
        if not got:
            break
        dispositions.extend(got)
    return dispositions


@pytest.fixture
def in_process_queue() -> InProcessQueue:
    return InProcessQueue("work")


@pytest.fixture
def make_consumer(
    pg_pool: Pool, workflow_settings: WorkflowSettings, in_process_queue: InProcessQueue
) -> Iterator[Callable[..., Consumer]]:
    consumers: list[Consumer] = []

    def factory(
        handler: Handler, *, queue: Queue | None = None, settings: WorkflowSettings | None = None
    ) -> Consumer:
        consumer = Consumer(
            pool=pg_pool,
            queue=queue or in_process_queue,
            handler=handler,
            settings=settings or workflow_settings,
            host="host",
        )
        consumers.append(consumer)
        return consumer

    yield factory
    for consumer in consumers:
        consumer.stop(grace_s=5)


def test_completed_run(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    in_process_queue: InProcessQueue,
) -> None:
    pack = store_pack()
    handler = Recorder(
        Outcome.completed(summary={"created": 2, "unchanged": 1}, read_calls=5, mutating_calls=2)
    )
    consumer = make_consumer(handler)
    _send(in_process_queue, pack)
    assert _drain(consumer) == ["completed"]
    assert in_process_queue.approximate_counts() == (0, 0)
    status = _status(pg_pool, pack)
    assert status.status == "COMPLETED"
    assert status.status_detail == "created 2, unchanged 1"
    [run] = _runs(pg_pool, pack)
    assert (run.outcome, run.read_calls, run.mutating_calls, run.worker_id) == (
        "COMPLETED",
        5,
        2,
        "host:1:1",
    )
    assert run.dequeue_count == 1
    assert run.queue_message_id
    [(called_id, called_version, control)] = handler.calls
    assert (called_id, called_version) == (pack.share_pack_id, pack.version)
    assert control.claim is not None
    assert control.claim.run_id == run.run_id
    assert control.claim.request_id == "req-1"
    assert control.lock is not None
    assert not control.lock.held


def test_always_retriable_failure_ends_in_poison_after_n_deliveries(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    in_process_queue: InProcessQueue,
) -> None:
    pack = store_pack()
    consumer = make_consumer(
        Recorder(Outcome.retry("upstream_unavailable", "Databricks answered 503"))
    )
    _send(in_process_queue, pack)
    assert _drain(consumer) == ["retry", "retry", "poisoned"]  # max_dequeue = 3
    status = _status(pg_pool, pack)
    assert status.status == "FAILED"
    assert status.attempts == 3
    assert (status.error or {})["code"] == "retries_exhausted"
    assert "upstream_unavailable: Databricks answered 503" in (status.error or {})["message"]
    assert [r.outcome for r in _runs(pg_pool, pack)] == ["RETRY", "RETRY", "FAILED"]
    assert in_process_queue.approximate_counts() == (0, 1)
    poison = json.loads(in_process_queue.peek_poison()[0])
    assert poison["reason"] == "retries_exhausted"
    assert poison["dequeue_count"] == 3
    assert poison["original"]["share_pack_id"] == str(pack.share_pack_id)


def test_non_retriable_failure_and_handler_exceptions(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    in_process_queue: InProcessQueue,
) -> None:
    failing = store_pack()
    consumer = make_consumer(
        Recorder(Outcome.failed("asset_not_found", "c.s.t does not exist", step="share_objects:s"))
    )
    _send(in_process_queue, failing)
    assert _drain(consumer) == ["failed"]
    assert _status(pg_pool, failing).error == {
        "code": "asset_not_found",
        "message": "c.s.t does not exist",
        "step": "share_objects:s",
    }

    def explode(share_pack_id: UUID, version: int, cancel: threading.Event) -> Outcome:
        raise KeyError("bug")

    crashing = store_pack()
    _send(in_process_queue, crashing)
    assert _drain(make_consumer(explode)) == ["failed"]
    assert (_status(pg_pool, crashing).error or {})["code"] == "internal_error"

    def unavailable(share_pack_id: UUID, version: int, cancel: threading.Event) -> Outcome:
        raise ServiceUnavailable("throttled")

    throttled = store_pack()
    own_queue = InProcessQueue("throttled")  # its retried message must not reach the next consumer
    _send(own_queue, throttled)
    assert _drain(make_consumer(unavailable, queue=own_queue), limit=1) == ["retry"]
    assert _status(pg_pool, throttled).status == "QUEUED"
    assert [r.error_code for r in _runs(pg_pool, throttled)] == ["upstream_unavailable"]

    def invalid(share_pack_id: UUID, version: int, cancel: threading.Event) -> Outcome:
        raise ValidationFailed("bad", code="sharepack_invalid")

    rejected = store_pack()
    _send(in_process_queue, rejected)
    assert _drain(make_consumer(invalid)) == ["failed"]
    assert (_status(pg_pool, rejected).error or {})["code"] == "sharepack_invalid"


def test_malformed_and_stale_messages(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    in_process_queue: InProcessQueue,
) -> None:
    handler = Recorder(Outcome.completed())
    consumer = make_consumer(handler)
    in_process_queue.send("{not json")
    assert _drain(consumer) == ["malformed"]
    assert json.loads(in_process_queue.peek_poison()[0])["original"] == "{not json"

    unknown = WorkMessage(uuid.uuid4(), 1)
    in_process_queue.send(unknown.to_json())
    pending = store_pack(approver_status="pending")
    _send(in_process_queue, pending)
    assert _drain(consumer) == ["dropped", "dropped"]

    key = f"retail/{uuid.uuid4().hex[:8]}/jane.doe@example.com"
    old = store_pack_version(pg_pool, pack_input(pack_key=key, config={"n": 1}))
    _send(in_process_queue, old)
    new = store_pack_version(pg_pool, pack_input(pack_key=key, config={"n": 2}))
    assert _status(pg_pool, old).status == "SUPERSEDED"  # the upload superseded it already
    _send(in_process_queue, new)
    _send(in_process_queue, new)  # duplicate copy
    assert _drain(consumer) == ["dropped", "completed", "dropped"]
    assert handler.calls
    assert all(c[0] == new.share_pack_id for c in handler.calls)
    assert in_process_queue.approximate_counts()[0] == 0


def test_queued_version_with_a_newer_version_is_superseded_by_the_worker(
    make_consumer: Callable[..., Consumer], pg_pool: Pool, in_process_queue: InProcessQueue
) -> None:
    key = f"retail/{uuid.uuid4().hex[:8]}/jane.doe@example.com"
    old = store_pack_version(pg_pool, pack_input(pack_key=key, config={"n": 1}))
    with pg_pool.connection() as conn, conn.transaction():
        claim = operations.claim_version(
            conn, old.share_pack_id, old.version, worker_id="w:1:1", run_id=uuid.uuid4(), lease_s=60
        ).claim
    assert claim is not None
    # v2 arrives while v1 runs (an upload never supersedes a running version); v1 then fails retriably.
    new = store_pack_version(pg_pool, pack_input(pack_key=key, config={"n": 2}))
    with pg_pool.connection() as conn, conn.transaction():
        assert operations.retry_run(
            conn, claim, backoff_s=0, error={"code": "e", "message": "m"}, figures=RunFigures()
        )
    handler = Recorder(Outcome.completed())
    _send(in_process_queue, old)
    assert _drain(make_consumer(handler)) == ["superseded"]
    assert handler.calls == []
    assert _status(pg_pool, old).status == "SUPERSEDED"
    assert _status(pg_pool, new).status == "QUEUED"


def test_dequeue_limit_exceeded_at_receive_fails_the_version(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    in_process_queue: InProcessQueue,
) -> None:
    pack = store_pack()
    _send(in_process_queue, pack)
    for _ in range(3):  # three workers died right after receiving it
        assert in_process_queue.receive(1, 0)
    handler = Recorder(Outcome.completed())
    assert _drain(make_consumer(handler)) == ["poisoned"]
    assert handler.calls == []
    status = _status(pg_pool, pack)
    assert status.status == "FAILED"
    assert (status.error or {})["code"] == "poison_message"
    assert "delivered 4 times" in (status.error or {})["message"]
    poison = json.loads(in_process_queue.peek_poison()[0])
    assert (poison["reason"], poison["dequeue_count"]) == ("max_dequeue_exceeded", 4)
    with pg_pool.connection() as conn:
        last = status_transitions.list_for_version(conn, pack.share_pack_id, pack.version)[-1]
    assert (last.from_status, last.to_status) == ("QUEUED", "FAILED")
    assert last.actor.startswith("worker:host:")


def test_lock_contention_defers_without_using_the_dequeue_budget(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    in_process_queue: InProcessQueue,
    pg_url: str,
) -> None:
    pack = store_pack()
    _send(in_process_queue, pack)
    handler = Recorder(Outcome.completed())
    consumer = make_consumer(handler)
    with psycopg.connect(pg_url, autocommit=True) as other_worker:
        other_worker.execute(
            "SELECT pg_advisory_lock(deltashare.lock_key('provision', %s))",
            (str(pack.share_pack_id),),
        )
        assert _drain(consumer, limit=1) == ["deferred"]
        assert handler.calls == []
    status = _status(pg_pool, pack)
    assert status.status == "QUEUED"
    assert status.next_visible_at is not None
    assert status.next_visible_at > status.updated_at
    assert in_process_queue.receive(1, 30) == []  # the copy is delayed (defer_s = 1, jittered)
    time.sleep(1.3)
    copy = in_process_queue.receive(1, 30)[0]
    assert copy.dequeue_count == 1  # a fresh message: the deferral cost no budget
    in_process_queue.extend(copy, 0)
    assert _drain(consumer) == ["completed"]


def test_heartbeat_keeps_message_and_lease(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    workflow_settings: WorkflowSettings,
) -> None:
    pack = store_pack()
    queue = InProcessQueue("hb")
    settings = workflow_settings.model_copy(
        update={
            "queue": workflow_settings.queue.model_copy(
                update={"visibility_timeout_s": 3, "heartbeat_s": 1}
            )
        }
    )
    leases: list[datetime] = []

    def slow(share_pack_id: UUID, version: int, cancel: threading.Event) -> Outcome:
        for _ in range(4):
            time.sleep(1.1)
            assert queue.receive(1, 3) == []  # still invisible: the heartbeat extended it past V
            lease = _status(pg_pool, pack).lease_expires_at
            assert lease is not None
            leases.append(lease)
        assert not cancel.is_set()
        return Outcome.completed()

    _send(queue, pack)
    assert _drain(make_consumer(slow, queue=queue, settings=settings)) == ["completed"]
    assert leases == sorted(leases)
    assert leases[-1] > leases[0]


class LosingQueue(InProcessQueue):
    """Extends fail once `lose` is set (the message was deleted by an operator)."""

    lose = False

    def extend(self, received: Received, visibility_timeout_s: float) -> Received:
        if self.lose:
            raise StaleReceipt("message gone")
        return super().extend(received, visibility_timeout_s)


def test_lost_message_interrupts_the_run_and_requeues(
    make_consumer: Callable[..., Consumer], store_pack: Callable[..., StoredPack], pg_pool: Pool
) -> None:
    pack = store_pack()
    queue = LosingQueue("lose")

    def until_cancelled(share_pack_id: UUID, version: int, cancel: threading.Event) -> Outcome:
        queue.lose = True
        assert cancel.wait(10)
        assert isinstance(cancel, RunControl)
        assert cancel.reason == "message_lost"
        with pytest.raises(RunCancelled):
            cancel.check_before_mutation()
        return Outcome.interrupted()

    _send(queue, pack)
    assert _drain(make_consumer(until_cancelled, queue=queue), limit=1) == ["interrupted"]
    status = _status(pg_pool, pack)
    assert status.status == "QUEUED"
    assert status.lease_owner is None
    [run] = _runs(pg_pool, pack)
    assert run.outcome == "INTERRUPTED"
    assert run.error_message == "message_lost"
    fresh = queue.receive(32, 30)
    assert len(fresh) == 1
    assert fresh[0].dequeue_count == 1


def test_graceful_shutdown_interrupts_and_resends(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    in_process_queue: InProcessQueue,
) -> None:
    pack = store_pack()
    started = threading.Event()

    def long_run(share_pack_id: UUID, version: int, cancel: threading.Event) -> Outcome:
        started.set()
        cancel.wait(30)
        return Outcome.retry("interrupted", "stopped at an action boundary")

    consumer = make_consumer(long_run)
    _send(in_process_queue, pack)
    consumer.start(2)
    assert started.wait(10)
    assert consumer.active_runs == 1
    assert consumer.stop(grace_s=10)
    status = _status(pg_pool, pack)
    assert status.status == "QUEUED"
    assert [r.outcome for r in _runs(pg_pool, pack)] == ["INTERRUPTED"]
    fresh = in_process_queue.receive(32, 30)
    assert len(fresh) == 1
    assert fresh[0].dequeue_count == 1


def test_two_consumers_never_run_one_pack_concurrently(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    in_process_queue: InProcessQueue,
    workflow_settings: WorkflowSettings,
) -> None:
    pack = store_pack()
    settings = workflow_settings.model_copy(
        update={"worker": workflow_settings.worker.model_copy(update={"defer_s": 0.2})}
    )

    def slow(share_pack_id: UUID, version: int, cancel: threading.Event) -> Outcome:
        time.sleep(0.5)
        return Outcome.completed()

    handler = Recorder(slow)
    for _ in range(4):
        _send(in_process_queue, pack)
    consumer = make_consumer(handler, settings=settings)
    consumer.start(2)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and in_process_queue.approximate_counts()[0] > 0:
        time.sleep(0.1)
    assert consumer.stop(grace_s=5)
    assert in_process_queue.approximate_counts() == (0, 0)
    assert _status(pg_pool, pack).status == "COMPLETED"
    assert len(handler.calls) == 1  # duplicates were deferred, then dropped as stale


@pytest.fixture
def azure_work_queue(
    azurite_queue: AzuriteQueue, azurite_queue_name: str
) -> Iterator[AzureStorageQueue]:
    queue = AzureStorageQueue(azurite_queue_name, connection_string=azurite_queue.connection_string)
    queue.ensure_queues()
    yield queue
    queue.close()


def test_azurite_always_failing_message_ends_in_poison_queue(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    azure_work_queue: AzureStorageQueue,
) -> None:
    pack = store_pack()
    handler = Recorder(Outcome.retry("upstream_unavailable", "Databricks answered 503"))
    consumer = make_consumer(handler, queue=azure_work_queue)
    _send(azure_work_queue, pack)
    consumer.start(1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _status(pg_pool, pack).status != "FAILED":
        time.sleep(0.2)
    consumer.stop(grace_s=5)
    status = _status(pg_pool, pack)
    assert status.status == "FAILED"
    assert (status.error or {})["code"] == "retries_exhausted"
    assert "Databricks answered 503" in (status.error or {})["message"]
    assert len(handler.calls) == 3
    assert azure_work_queue.approximate_counts() == (0, 1)
    [poison] = [json.loads(b) for b in azure_work_queue.peek_poison()]
    assert poison["reason"] == "retries_exhausted"
    assert poison["dequeue_count"] == 3
    assert poison["original"] == {
        "v": 1,
        "share_pack_id": str(pack.share_pack_id),
        "version": pack.version,
        "attempt": 1,
        "request_id": "req-1",
    }


def test_azurite_redelivery_after_a_crashed_worker_is_taken_over(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    azure_work_queue: AzureStorageQueue,
) -> None:
    pack = store_pack()
    _send(azure_work_queue, pack)
    dead = make_consumer(Recorder(Outcome.completed()), queue=azure_work_queue)
    received = azure_work_queue.receive(1, 1)[0]
    # The first worker claims, then dies without a heartbeat: its lock session closes, the message reappears.
    with pg_pool.connection() as conn, conn.transaction():
        claim = operations.claim_version(
            conn,
            pack.share_pack_id,
            pack.version,
            worker_id="dead:1:1",
            run_id=uuid.uuid4(),
            lease_s=1,
        )
    assert claim.claim is not None
    del dead, received
    time.sleep(1.2)
    handler = Recorder(Outcome.completed())
    survivor = make_consumer(handler, queue=azure_work_queue)
    deadline = time.monotonic() + 10
    dispositions: list[Disposition] = []
    while time.monotonic() < deadline and not dispositions:
        dispositions = survivor.poll_once("alive:1:1")
    assert dispositions == ["completed"]
    assert [r.outcome for r in _runs(pg_pool, pack)] == ["ABANDONED", "COMPLETED"]
    assert _status(pg_pool, pack).attempts == 2


def test_poisoned_copy_of_a_dead_run_fails_the_version_but_a_live_run_keeps_it(
    make_consumer: Callable[..., Consumer],
    store_pack: Callable[..., StoredPack],
    pg_pool: Pool,
    in_process_queue: InProcessQueue,
    pg_url: str,
) -> None:
    live, dead = store_pack(), store_pack()
    for pack in (live, dead):
        with pg_pool.connection() as conn, conn.transaction():
            claimed = operations.claim_version(
                conn,
                pack.share_pack_id,
                pack.version,
                worker_id="w:9:1",
                run_id=uuid.uuid4(),
                lease_s=60,
            )
        assert claimed.claim is not None
        _send(in_process_queue, pack)
    for _ in range(3):  # both messages exceed the dequeue limit
        assert len(in_process_queue.receive(2, 0)) == 2
    consumer = make_consumer(Recorder(Outcome.completed()))
    with psycopg.connect(pg_url, autocommit=True) as live_worker:
        live_worker.execute(
            "SELECT pg_advisory_lock(deltashare.lock_key('provision', %s))",
            (str(live.share_pack_id),),
        )
        dispositions = _drain(consumer)
    assert sorted(dispositions) == ["dropped", "poisoned"]
    assert _status(pg_pool, live).status == "IN_PROGRESS"  # that run owns the version
    dead_status = _status(pg_pool, dead)
    assert dead_status.status == "FAILED"
    assert (dead_status.error or {})["code"] == "poison_message"
    assert [r.outcome for r in _runs(pg_pool, dead)] == ["ABANDONED"]
    poisoned = [json.loads(b) for b in in_process_queue.peek_poison()]
    assert [p["original"]["share_pack_id"] for p in poisoned] == [str(dead.share_pack_id)]
    assert in_process_queue.approximate_counts() == (0, 1)
