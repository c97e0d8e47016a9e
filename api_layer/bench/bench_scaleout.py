"""Scale-out: do more worker processes provision more packs per minute?

    python -m api_layer.bench.bench_scaleout [--packs 40] [--workers 1 2 4] [--latency-ms 50] [--record]

(`make bench` runs it as P6 through run_all.)

For each worker count, on a fresh emulator (real clock, every API call +`--latency-ms`), a fresh Azurite queue and
a throwaway PostgreSQL database (`DATABASE_URL`'s server, else an embedded one): start that many
`python -m dbrx_api.workflow.worker` processes (one consumer thread each, so processes are what scales), wait until
each has polled the empty queue, upload `--packs` small packs through the upload flow (PostgreSQL version + queue
message) at once, and wait until every version is final. Figures, each from that run:

* packs per minute: packs / (last version COMPLETED - first upload); the ratio of the largest worker count to one
  worker, target >= 3 for 4 workers (issue 16, scale-out);
* no pack provisioned twice: every version has exactly one COMPLETED run and no other run that made a mutating call,
  and the workspace holds no duplicate job or pipeline;
* queue pickup: how long a pack waited for an idle consumer — per consumer, the start of each run minus the later
  of its upload and the end of the consumer's previous run (the first run of each consumer is left out: it measures
  process start-up, not the queue); p95 target <= 2 s.

The packs are chaos.py's (one D2O recipient, one share with views, every fourth with a scheduled pipeline), without
faults. Servers bind 127.0.0.1 and are stopped by PID.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from uuid import UUID

API_LAYER = Path(__file__).resolve().parents[1]
for extra_path in (API_LAYER, API_LAYER / "tests"):
    if str(extra_path) not in sys.path:
        sys.path.insert(0, str(extra_path))

from bench.benchlib import (  # noqa: E402 - after the path set-up above
    ServerProcess,
    cpu_seconds,
    machine_description,
    start_emulator,
    update_results_section,
)
from bench.chaos import (  # noqa: E402
    UPLOADER,
    duplicate_resources,
    pack_text,
    service_environment,
    settings_from,
    start_worker,
    throwaway_database,
    wait_final,
)

from dbrx_api.workflow import service as workflow_service  # noqa: E402
from dbrx_api.workflow.runtime import WorkflowRuntime, open_workflow  # noqa: E402
from fixtures.azurite import start_azurite_queue  # noqa: E402

SPEEDUP_TARGET = 3.0
PICKUP_P95_TARGET_S = 2.0


@dataclass
class Round:
    """One worker count's run."""

    workers: int
    packs: int
    completed: int
    seconds: float
    pickups_s: list[float]
    provisioned_twice: int
    duplicate_resources: int
    worker_cpu_s: float
    emulator_cpu_s: float

    @property
    def packs_per_minute(self) -> float:
        """Completed packs per minute of wall time."""
        return 60.0 * self.completed / self.seconds if self.seconds > 0 else 0.0

    @property
    def pickup_p95_s(self) -> float:
        """95th percentile of the queue pickup delays (0 when there is none)."""
        if not self.pickups_s:
            return 0.0
        ordered = sorted(self.pickups_s)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _wait_running(processes: list[ServerProcess], timeout_s: float) -> None:
    """Until every worker logged "worker running" (imports, migrations check and consumer threads done): their
    start-up is not part of the figures."""
    deadline = time.monotonic() + timeout_s
    while not all("worker running" in process.log_text() for process in processes):
        for process in processes:
            process.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not start in time")
        time.sleep(0.2)


def _runs(runtime: WorkflowRuntime) -> list[dict[str, object]]:
    with runtime.context.pool.connection() as conn:
        return list(
            conn.execute(
                "SELECT share_pack_id, version, worker_id, started_at, ended_at, outcome, mutating_calls "
                "FROM deltashare.provisioning_runs ORDER BY worker_id, started_at"
            ).fetchall()
        )


def _pickups(runs: list[dict[str, object]], uploaded: dict[UUID, datetime]) -> list[float]:
    by_worker: dict[str, list[dict[str, object]]] = defaultdict(list)
    for run in runs:
        by_worker[str(run["worker_id"])].append(run)
    delays: list[float] = []
    for worker_runs in by_worker.values():
        for previous, run in pairwise(worker_runs):
            ended = previous["ended_at"]
            started = run["started_at"]
            upload = uploaded.get(UUID(str(run["share_pack_id"])))
            if (
                not isinstance(ended, datetime)
                or not isinstance(started, datetime)
                or upload is None
            ):
                continue
            delays.append(max(0.0, (started - max(ended, upload)).total_seconds()))
    return delays


def _provisioned_twice(runs: list[dict[str, object]]) -> int:
    completed: dict[tuple[str, object], int] = defaultdict(int)
    extra_mutations = 0
    for run in runs:
        key = (str(run["share_pack_id"]), run["version"])
        if run["outcome"] == "COMPLETED":
            completed[key] += 1
        elif int(str(run["mutating_calls"] or 0)) > 0:
            extra_mutations += 1
    return sum(n - 1 for n in completed.values() if n > 1) + extra_mutations


def measure(workers: int, packs: int, latency_ms: float, timeout_s: float, log_dir: Path) -> Round:
    """One run with `workers` worker processes."""
    with ExitStack() as stack:
        emulator = start_emulator(log_dir)
        stack.callback(emulator.process.stop)
        queue = start_azurite_queue(log_dir)
        stack.callback(queue.stop)
        database_url = stack.enter_context(throwaway_database())
        config_dir = log_dir / f"config-{workers}"
        config_dir.mkdir(exist_ok=True)
        env = service_environment(emulator, database_url, queue, config_dir)
        env["DBRX_API_WORKFLOW__WORKER__CONCURRENCY"] = "1"
        env["DBRX_API_LOGGING__LEVEL"] = (
            "INFO"  # the workers say "worker running" when they are ready
        )
        runtime = open_workflow(settings_from(env))
        stack.callback(runtime.close)
        processes = [start_worker(i, env, log_dir, workers) for i in range(workers)]

        def stop_workers() -> None:
            for process in processes:
                process.stop()

        stack.callback(stop_workers)
        _wait_running(processes, timeout_s=120)
        emulator.control.post("/latency", json={"fixed_ms": latency_ms}).raise_for_status()

        texts = {f"scale-{i:03d}.yaml": pack_text(i, emulator.url) for i in range(packs)}
        worker_pids = [process.pid for process in processes]
        worker_cpu, emulator_cpu = cpu_seconds(worker_pids), cpu_seconds([emulator.process.pid])
        uploaded: dict[UUID, datetime] = {}
        first_upload = time.monotonic()
        for name, text in texts.items():
            result = workflow_service.upload_sharepack(
                runtime.context,
                principal=UPLOADER,
                request_id=f"scale-{name}",
                filename=name,
                data=text.encode(),
            )
            uploaded[UUID(str(result.response.share_pack_id))] = datetime.now(UTC)
        final = wait_final(runtime, packs, time.monotonic() + timeout_s)
        seconds = time.monotonic() - first_upload
        worker_cpu = cpu_seconds(worker_pids) - worker_cpu
        emulator_cpu = cpu_seconds([emulator.process.pid]) - emulator_cpu
        runs = _runs(runtime)
        emulator.control.post("/latency", json={"fixed_ms": 0}).raise_for_status()
        return Round(
            workers=workers,
            packs=packs,
            completed=sum(1 for status in final.values() if status == "COMPLETED"),
            seconds=seconds,
            pickups_s=_pickups(runs, uploaded),
            provisioned_twice=_provisioned_twice(runs),
            duplicate_resources=duplicate_resources(emulator),
            worker_cpu_s=worker_cpu,
            emulator_cpu_s=emulator_cpu,
        )


def report(rounds: list[Round]) -> list[str]:
    """The figures, each with its target and met/missed."""
    lines = [
        f"P6 scale-out: {rounds[0].packs} small packs through Azurite + PostgreSQL, one consumer thread per "
        "worker process"
    ]
    for r in rounds:
        lines.append(
            f"P6   {r.workers} worker(s): {r.completed}/{r.packs} COMPLETED in {r.seconds:.1f} s = "
            f"{r.packs_per_minute:.1f} packs/min; pickup p95 {r.pickup_p95_s:.2f} s over "
            f"{len(r.pickups_s)} pickups; provisioned twice {r.provisioned_twice}; duplicate resources "
            f"{r.duplicate_resources}; CPU per pack: workers {1000 * r.worker_cpu_s / r.packs:.0f} ms, "
            f"emulator {1000 * r.emulator_cpu_s / r.packs:.0f} ms (of {os.cpu_count()} cores)"
        )
    one, most = rounds[0], rounds[-1]
    ratio = most.packs_per_minute / one.packs_per_minute if one.packs_per_minute else 0.0
    lines.append(
        f"P6 packs/min ratio {most.workers} workers / {one.workers}: {ratio:.2f} "
        f"(target >= {SPEEDUP_TARGET:g}: {'met' if ratio >= SPEEDUP_TARGET else 'MISSED'})"
    )
    worst = max(r.pickup_p95_s for r in rounds)
    lines.append(
        f"P6 queue pickup p95 (worst round): {worst:.2f} s "
        f"(target <= {PICKUP_P95_TARGET_S:g} s: {'met' if worst <= PICKUP_P95_TARGET_S else 'MISSED'})"
    )
    twice = sum(r.provisioned_twice + r.duplicate_resources for r in rounds)
    incomplete = sum(r.packs - r.completed for r in rounds)
    lines.append(
        f"P6 provisioned twice or duplicated: {twice}; not completed: {incomplete} "
        f"(target 0 and 0: {'met' if twice == 0 and incomplete == 0 else 'MISSED'})"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command line: run every worker count, print the figures, record them in RESULTS.md."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packs", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the figures to RESULTS.md (run_all records its own)",
    )
    args = parser.parse_args(argv)
    machine = machine_description()
    for line in machine:
        print(line)
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="deltashare-scaleout-") as tmp:
        for count in sorted(args.workers):
            log_dir = Path(tmp) / f"w{count}"
            log_dir.mkdir()
            rounds.append(measure(count, args.packs, args.latency_ms, args.timeout_s, log_dir))
            print(report(rounds)[len(rounds)], flush=True)
    lines = report(rounds)
    for line in lines:
        print(line)
    if args.record:
        update_results_section("scaleout", [*machine, *lines])
    return 0 if all(r.completed == r.packs for r in rounds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
