"""Chaos run (issue 7): share packs through Azurite + PostgreSQL + two worker processes, under faults and SIGKILLs.

    python -m api_layer.bench.chaos [--packs 100] [--kills 5] [--seed 7]          (make chaos)

1. The emulator (its own process, real clock) answers ~20 % of API calls with 429 (Retry-After) or 503, loses the
   response of ~10 % of mutating calls after applying them ("applied but response lost"), and adds latency.
2. Every pack is uploaded through the upload flow (PostgreSQL SCD2 version + Azure Storage Queue message in Azurite).
3. Two `python -m dbrx_api.workflow.worker` processes consume the queue; one of them, chosen at random, is killed
   with SIGKILL at random moments and restarted, `--kills` times.
4. When every version is final: faults off, then the report — packs converged (COMPLETED and `plan` shows no
   change), lost messages (versions never final), duplicate resources in the workspace, duplicate current SCD2
   rows, and the mutating calls of a second pass (every pack re-uploaded identically, i.e. re-run).

All must be 100 / 0 / 0 / 0 / 0; the exit status is 1 otherwise. Servers bind 127.0.0.1 and are stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

API_LAYER = Path(__file__).resolve().parents[1]
for extra_path in (API_LAYER, API_LAYER / "tests"):
    if str(extra_path) not in sys.path:
        sys.path.insert(0, str(extra_path))

from bench.benchlib import (  # noqa: E402 - after the path set-up above
    EMULATOR_TOKEN,
    Emulator,
    ServerProcess,
    clean_environment,
    machine_description,
    start_emulator,
    update_results_section,
)

from dbrx_api.dbrx_auth.principal import Principal  # noqa: E402
from dbrx_api.settings import Settings  # noqa: E402
from dbrx_api.workflow import service as workflow_service  # noqa: E402
from dbrx_api.workflow.orchestrator.plan import plan_pack  # noqa: E402
from dbrx_api.workflow.runtime import WorkflowRuntime, open_workflow  # noqa: E402
from dbrx_api.workflow.sharepack import load_sharepack  # noqa: E402
from fixtures.azurite import AzuriteQueue, start_azurite_queue  # noqa: E402

LIBRARY_PATH = "/Workspace/Shared/deltashare/pipelines/cdf_share_loader.py"
FINAL = {"COMPLETED", "FAILED", "REJECTED", "SUPERSEDED"}
UPLOADER = Principal(
    id="chaos-driver", name="chaos-driver", tenant="local", roles=frozenset({"admin"})
)
SCD2_TABLES = {
    "share_packs": ("pack_key",),
    "recipients": ("workspace_url", "recipient_name"),
    "shares": ("workspace_url", "share_name"),
    "pipelines": ("workspace_url", "pipeline_key"),
}


def pack_text(index: int, workspace_url: str) -> str:
    """A small pack of its own: one D2O recipient, one share with three views or, every fourth pack, a table fed by
    a pipeline with a cron schedule and a view (so jobs, whose names Databricks does not keep unique, are exercised
    too)."""
    n = f"{index:03d}"
    pipeline = ""
    # Tables are shared together with the pipeline that feeds them (docs/SHAREPACK.md §7.4); views need none.
    assets = (
        "[{name: main.sales.v_orders, type: VIEW}, {name: main.finance.v_invoice_summary, type: VIEW},"
        " {name: main.sales.daily_sales, type: MATERIALIZED_VIEW}]"
    )
    if index % 4 == 0:
        assets = "[main.sales.orders, {name: main.sales.v_orders, type: VIEW}]"
        pipeline = f"""
    delta_share:
      ext_catalog_name: share_cat
      ext_schema_name: sales_ext
    pipelines:
      - name_prefix: chaos_pl_{n}
        source_asset: main.sales.orders
        target_asset: chaos_orders_{n}
        scd_type: "2"
        key_columns: order_id
        schedule:
          cron: "0 0 2 * * ?"
          timezone: UTC"""
    return f"""metadata:
  requestor: chaos@example.com
  project_name: chaos-{n}
  business_line: Chaos
  strategy: NEW
  delta_share_region: EMEA
  configurator: platform@example.com
  approver: approver@example.com
  executive_team: exec@example.com
  approver_status: approved
  workspace_url: {workspace_url}
  servicenow: RITM{index:07d}
  contact_email: ops@example.com
recipient:
  - name: chaos_r{n}
    type: D2O
    recipient: ops@example.com
    recipient_ips: [192.0.2.{index % 250}/32]
share:
  - name: chaos_s{n}
    share_assets: {assets}
    recipients: [chaos_r{n}]{pipeline}
"""


FAULT_RULES: list[dict[str, Any]] = [
    {"id": "throttle", "operation": "*", "kind": "throttle", "rate": 0.1, "retry_after_seconds": 1},
    {
        "id": "unavailable",
        "operation": "*",
        "kind": "unavailable",
        "rate": 0.1,
        "retry_after_seconds": 1,
    },
    *(
        {
            "id": f"lost-{m}",
            "operation": "*",
            "method": m,
            "kind": "applied_response_lost",
            "rate": 0.1,
        }
        for m in ("POST", "PATCH", "PUT", "DELETE")
    ),
]


@dataclass
class Report:
    """The figures the issue asks for."""

    packs: int
    converged: int
    lost_messages: int
    duplicate_resources: int
    duplicate_current_rows: int
    second_pass_mutating_calls: int
    kills: int
    seconds: float
    faults_injected: int

    @property
    def ok(self) -> bool:
        """All invariants hold."""
        return (
            self.converged == self.packs
            and self.lost_messages == 0
            and self.duplicate_resources == 0
            and self.duplicate_current_rows == 0
            and self.second_pass_mutating_calls == 0
        )

    def lines(self) -> list[str]:
        """The printed report."""
        return [
            f"packs converged: {self.converged} / {self.packs}",
            f"lost messages: {self.lost_messages}",
            f"duplicate resources: {self.duplicate_resources}",
            f"duplicate current SCD2 rows: {self.duplicate_current_rows}",
            f"second-pass mutating calls: {self.second_pass_mutating_calls}",
            f"(worker kills: {self.kills}, faults injected: {self.faults_injected}, wall time: {self.seconds:.0f} s)",
        ]


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A fresh database on `DATABASE_URL`'s server (dropped afterwards), else on an embedded pgserver."""
    configured = os.environ.get("DATABASE_URL")
    with ExitStack() as stack:
        if configured:
            admin = make_conninfo(configured, dbname="postgres")
        else:
            from pgserver.postgres_server import get_server

            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-pg-")))
            server = get_server(base / "data", cleanup_mode="delete")
            stack.callback(server.cleanup)
            admin = str(server.get_uri())
        name = f"chaos_{os.getpid()}_{int(time.time())}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_conninfo(admin, dbname=name)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def service_environment(
    emulator: Emulator, database_url: str, queue: AzuriteQueue, config_dir: Path
) -> dict[str, str]:
    """`DBRX_API_*` variables of the driver and the workers: local mode, short leases and backoffs."""
    return clean_environment(
        {
            "DBRX_API_CONFIG_DIR": str(config_dir),
            "DBRX_API_ENVIRONMENT": "local",
            "DBRX_API_AUTH__MODE": "disabled",
            "DBRX_API_LOGGING__LEVEL": "WARNING",
            "DBRX_API_DATABRICKS__AUTH__MODE": "pat",
            "DBRX_API_DATABRICKS__AUTH__TOKEN": EMULATOR_TOKEN,
            "DBRX_API_DATABRICKS__WORKSPACES": json.dumps(
                [{"url": emulator.url, "name": "emulator", "region": "EMEA"}]
            ),
            "DBRX_API_DATABRICKS__PIPELINES__LIBRARY_PATH": LIBRARY_PATH,
            "DBRX_API_WORKFLOW__ENABLED": "true",
            "DBRX_API_WORKFLOW__DATABASE_URL": database_url,
            "DBRX_API_WORKFLOW__QUEUE__CONNECTION_STRING": queue.connection_string,
            "DBRX_API_WORKFLOW__QUEUE__VISIBILITY_TIMEOUT_S": "30",
            "DBRX_API_WORKFLOW__QUEUE__HEARTBEAT_S": "5",
            "DBRX_API_WORKFLOW__QUEUE__MAX_DEQUEUE": "50",
            "DBRX_API_WORKFLOW__QUEUE__POLL_MIN_S": "0.2",
            "DBRX_API_WORKFLOW__QUEUE__POLL_MAX_S": "1",
            "DBRX_API_WORKFLOW__WORKER__INLINE": "false",
            "DBRX_API_WORKFLOW__WORKER__CONCURRENCY": "2",
            "DBRX_API_WORKFLOW__WORKER__RETRY_BASE_S": "1",
            "DBRX_API_WORKFLOW__WORKER__RETRY_CAP_S": "4",
            "DBRX_API_WORKFLOW__WORKER__DEFER_S": "2",
            "DBRX_API_WORKFLOW__WORKER__SDK_RETRY_TIMEOUT_S": "30",
            "DBRX_API_WORKFLOW__WORKER__SHUTDOWN_GRACE_S": "5",
            "DBRX_API_WORKFLOW__SWEEPER__INTERVAL_S": "5",
            "DBRX_API_WORKFLOW__SWEEPER__REQUEUE_GRACE_S": "20",
            "DBRX_API_WORKFLOW__SWEEPER__LEASE_GRACE_S": "10",
        }
    )


def settings_from(env: dict[str, str]) -> Settings:
    """The settings the workers read from `env` (this process's environment is left as it was)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("DBRX_API_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("DBRX_API_")})
    try:
        return Settings()
    finally:
        for key in [k for k in os.environ if k.startswith("DBRX_API_")]:
            del os.environ[key]
        os.environ.update(saved)


def start_worker(index: int, env: dict[str, str], log_dir: Path, generation: int) -> ServerProcess:
    """One standalone worker process."""
    argv = [sys.executable, "-m", "dbrx_api.workflow.worker"]
    return ServerProcess(f"worker{index}-{generation}", argv, env, log_dir)


def statuses(runtime: WorkflowRuntime) -> dict[UUID, str]:
    """Status of the current version of every pack."""
    with runtime.context.pool.connection() as conn:
        rows = conn.execute(
            "SELECT sp.share_pack_id, pvs.status FROM deltashare.share_packs sp "
            "JOIN deltashare.pack_version_status pvs "
            "ON pvs.share_pack_id = sp.share_pack_id AND pvs.version = sp.version WHERE sp.is_current"
        ).fetchall()
    return {row["share_pack_id"]: str(row["status"]) for row in rows}


def wait_final(
    runtime: WorkflowRuntime, expected: int, deadline: float, on_tick: Any = None
) -> dict[UUID, str]:
    """Poll until every pack's current version is final (or the deadline passes); progress goes to stderr."""
    last_progress = 0.0
    while True:
        current = statuses(runtime)
        if time.monotonic() - last_progress > 15:
            last_progress = time.monotonic()
            counts = Counter(current.values())
            print(f"chaos: {dict(sorted(counts.items()))}", file=sys.stderr, flush=True)
        if len(current) >= expected and all(s in FINAL for s in current.values()):
            return current
        if time.monotonic() > deadline:
            return current
        if on_tick is not None:
            on_tick()
        time.sleep(0.5)


def duplicate_current_rows(runtime: WorkflowRuntime) -> int:
    """Keys of the SCD2 tables with more than one current row (the partial unique index forbids them)."""
    total = 0
    with runtime.context.pool.connection() as conn:
        for table, key in SCD2_TABLES.items():
            query = sql.SQL(
                "SELECT count(*) AS n FROM (SELECT 1 FROM deltashare.{} WHERE is_current GROUP BY {} "
                "HAVING count(*) > 1) d"
            ).format(sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in key))
            row = conn.execute(query).fetchone()
            total += int(row["n"]) if row else 0
    return total


def duplicate_resources(emulator: Emulator) -> int:
    """Jobs or pipelines of the chaos packs that exist more than once under one name (names are not unique there)."""
    client = runtime_client(emulator)
    jobs = Counter(j.settings.name for j in client.jobs.list() if j.settings and j.settings.name)
    pipelines = Counter(p.name for p in client.pipelines.list_pipelines() if p.name)
    return sum(n - 1 for n in [*jobs.values(), *pipelines.values()] if n > 1)


def runtime_client(emulator: Emulator) -> Any:
    """A plain SDK client of the emulator (faults are off when it is used)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    return WorkspaceClient(
        config=Config(
            host=emulator.url, token=EMULATOR_TOKEN, auth_type="pat", retry_timeout_seconds=30
        )
    )


def converged(runtime: WorkflowRuntime, texts: dict[str, str], final: dict[UUID, str]) -> int:
    """Packs whose version is COMPLETED and whose plan against the live workspace has no mutating call left."""
    count = 0
    for name, text in texts.items():
        loaded = load_sharepack(
            name, text.encode(), runtime.context.settings.upload, allow_local_urls=True
        )
        plan = plan_pack(runtime.context, loaded, principal_id=UPLOADER.id)
        share_pack_id = plan.pack.get("share_pack_id")
        status = final.get(UUID(str(share_pack_id))) if share_pack_id else None
        if (
            status == "COMPLETED"
            and plan.summary is not None
            and plan.summary["mutating_calls"] == 0
        ):
            count += 1
        else:
            print(f"  not converged: {name} status={status} plan={plan.summary}")
    return count


def run(packs: int, kills: int, seed: int, timeout_s: float, log_dir: Path) -> Report:
    """The whole chaos run; returns the report."""
    rng = random.Random(seed)
    started = time.monotonic()
    with ExitStack() as stack:
        emulator = start_emulator(log_dir)
        stack.callback(emulator.process.stop)
        emulator.control.patch(
            "/behaviour", json={"simulation": {"step_ms": 200}}
        ).raise_for_status()
        queue = start_azurite_queue(log_dir)
        stack.callback(queue.stop)
        database_url = stack.enter_context(throwaway_database())
        config_dir = log_dir / "config"
        config_dir.mkdir(exist_ok=True)
        env = service_environment(emulator, database_url, queue, config_dir)
        runtime = open_workflow(settings_from(env))
        stack.callback(runtime.close)

        texts = {f"chaos-{i:03d}.yaml": pack_text(i, emulator.url) for i in range(packs)}
        emulator.control.post("/latency", json={"fixed_ms": 5}).raise_for_status()
        emulator.control.post(
            "/faults", json={"rules": FAULT_RULES, "seed": seed}
        ).raise_for_status()
        for name, text in texts.items():
            workflow_service.upload_sharepack(
                runtime.context,
                principal=UPLOADER,
                request_id=f"chaos-{name}",
                filename=name,
                data=text.encode(),
            )

        generations = [0, 0]
        workers = [start_worker(i, env, log_dir, 0) for i in range(2)]

        def stop_workers() -> None:
            for worker in workers:
                worker.stop()

        stack.callback(stop_workers)
        kills_done = 0
        next_kill = time.monotonic() + rng.uniform(3, 10)

        def maybe_kill() -> None:
            nonlocal kills_done, next_kill
            if kills_done >= kills or time.monotonic() < next_kill:
                return
            victim = rng.randrange(2)
            os.kill(workers[victim].pid, signal.SIGKILL)
            workers[victim].process.wait(10)
            workers[victim].stop()
            generations[victim] += 1
            workers[victim] = start_worker(victim, env, log_dir, generations[victim])
            kills_done += 1
            next_kill = time.monotonic() + rng.uniform(5, 15)

        deadline = time.monotonic() + timeout_s
        wait_final(runtime, packs, deadline, on_tick=maybe_kill)
        while (
            kills_done < kills and time.monotonic() < deadline
        ):  # kills are part of the run even if it was fast
            maybe_kill()
            time.sleep(0.5)
        final = wait_final(runtime, packs, deadline)
        faults = int(emulator.stats()["faults_total"])
        emulator.control.delete("/faults").raise_for_status()
        lost = sum(1 for s in final.values() if s not in FINAL) + max(0, packs - len(final))

        report_converged = converged(runtime, texts, final)
        duplicates = duplicate_resources(emulator)
        duplicate_rows = duplicate_current_rows(runtime)

        emulator.reset_stats()
        for name, text in texts.items():
            workflow_service.upload_sharepack(
                runtime.context,
                principal=UPLOADER,
                request_id=f"rerun-{name}",
                filename=name,
                data=text.encode(),
            )
        time.sleep(1)
        wait_final(runtime, packs, time.monotonic() + timeout_s)
        second_pass = int(emulator.stats()["mutating_total"])
        return Report(
            packs=packs,
            converged=report_converged,
            lost_messages=lost,
            duplicate_resources=duplicates,
            duplicate_current_rows=duplicate_rows,
            second_pass_mutating_calls=second_pass,
            kills=kills_done,
            seconds=time.monotonic() - started,
            faults_injected=faults,
        )


def main(argv: list[str] | None = None) -> int:
    """Command line: print the machine, the report, and exit 1 when an invariant fails."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packs", type=int, default=100)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds to wait for convergence"
    )
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        report = run(args.packs, args.kills, args.seed, args.timeout, Path(tmp))
    machine = machine_description()
    for line in machine:
        print(f"# {line}")
    for line in report.lines():
        print(line)
    if args.packs >= 100 and not args.no_results:
        arguments = " ".join(argv if argv is not None else sys.argv[1:])
        update_results_section(
            "chaos",
            [
                "## Chaos run",
                "",
                f"- when: {started.isoformat(timespec='seconds')}",
                f"- command: `make chaos` (`python -m api_layer.bench.chaos {arguments}`)".replace(
                    " `)", "`)"
                ),
                *[f"- {line}" for line in machine],
                "- faults: ~20 % of API calls answered 429 (Retry-After 1 s) or 503, ~10 % of mutating calls",
                "  applied with the response lost, 5 ms latency; two worker processes, SIGKILLed and restarted",
                "",
                "```text",
                *report.lines(),
                "```",
            ],
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
