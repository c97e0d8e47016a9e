"""The benchmark suite (issue 7): one line per figure, each a ratio measured side by side in this run.

    cd <repo root> && api_layer/.venv/bin/python -m api_layer.bench.run_all [--only P1,P5] [--no-results]

* P1 `GET /shares` through the API vs the SDK call direct to the emulator (`bench_shares`);
* P2/P3 provisioning (`bench_provisioning`, the orchestrator's), P4 parse + validate (`bench_parse`): run through
  their `main()` when the modules exist, reported "missing" otherwise;
* P5 upstream calls of the metrics endpoint against their bound (`bench_metrics`);
* P6 scale-out: packs per minute with 1, 2 and 4 worker processes through Azurite + PostgreSQL (`bench_scaleout`).

The figures, the command and the machine description are written to `api_layer/bench/RESULTS.md` (unless
`--no-results` or `--only`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

# The bench modules import each other as `bench.<module>` (mypy sees `api_layer/` as a package base); make
# `python -m api_layer.bench.run_all` from the repository root see them the same way.
BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

from bench import bench_metrics, bench_shares, benchlib  # noqa: E402 - after the path set-up above

RESULTS = BENCH_DIR / "RESULTS.md"
FIGURES = ("P1", "P2", "P3", "P4", "P5", "P6")
# Modules of other engineers, run through their own `main()`: figure label -> module name.
EXTERNAL = {"P2/P3": "bench_provisioning", "P4": "bench_parse", "P6": "bench_scaleout"}


NOTES = [
    "- P1: the emulator (own process, 1,000 shares, 5 ms added to every call, 20 upstream pages per listing) and",
    "  the API (`python -m dbrx_api.serve`, local mode, authentication disabled, 2 uvicorn workers) on 127.0.0.1,",
    "  both stopped by PID. One Python thread-pool generator drives both sides with the same HTTP stack",
    "  (requests): `list(w.shares.list_shares())` on one shared `WorkspaceClient` vs `GET /shares` with the body",
    "  decoded. wrk/hey were not used: they cannot make the multi-page SDK call, and the two sides must share",
    "  one generator. Rounds alternate the order of the sides (A B, B A, ...); figures are medians.",
    "- P1 CPU line: CPU milliseconds per call at concurrency 32 of each process, from /proc. Generator, API and",
    "  emulator share the machine's cores, so every millisecond the API adds per call lowers its throughput.",
    "- P5: the emulator's per-operation call counts for one metrics request after a warm-up (deterministic).",
]


class Report:
    """Prints each line as it comes and keeps it for RESULTS.md."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        """Print and record."""
        for line in lines:
            print(line, flush=True)
            self.lines.append(line)


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    """Run another module's argparse-based `main()` with its default options, not ours."""
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


def run_external(label: str, module_name: str, report: Report) -> None:
    """Import `bench.<module_name>` lazily and run its `main()`, capturing what it prints."""
    try:
        module = importlib.import_module(f"bench.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"bench.{module_name}":
            raise
        report.add(f"{label}: missing (api_layer/bench/{module_name}.py does not exist yet)")
        return
    entry: Callable[[], object] | None = getattr(module, "main", None)
    if entry is None:
        report.add(f"{label}: missing ({module_name} has no main())")
        return
    output: list[str] = []
    started = time.monotonic()
    try:
        with _argv([module_name]), _captured_stdout(output):
            entry()
    except BaseException as exc:  # noqa: BLE001 - one failing figure must not hide the others
        report.add(*_prefixed(label, "".join(output)))
        report.add(f"{label}: FAILED ({type(exc).__name__}: {exc})")
        traceback.print_exc()
        return
    report.add(*_prefixed(label, "".join(output)))
    report.add(f"   ({module_name} took {time.monotonic() - started:.0f} s)")


@contextlib.contextmanager
def _captured_stdout(sink: list[str]) -> Iterator[None]:
    """Capture file descriptor 1, so the output of a module's child processes is kept too (bench_parse measures
    in a fresh process)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            capture.seek(0)
            sink.append(capture.read().decode("utf-8", errors="replace"))


def _prefixed(label: str, text: str) -> list[str]:
    return [f"{label} | {line}" for line in text.splitlines() if line.strip()]


def write_results(report: Report, command: str, machine: list[str], started: datetime) -> None:
    """RESULTS.md: the latest figures with the command and the machine description."""
    lines = [
        "Written by `run_all` (issue 7). Each figure is a ratio of two sides measured in the same run",
        "(interleaved rounds, medians) or a deterministic count; no test asserts absolute numbers.",
        "",
        f"- when: {started.isoformat(timespec='seconds')}",
        f"- command: `{command}`",
        *[f"- {line}" for line in machine],
        "",
        "## Figures",
        "",
        "```text",
        *report.lines,
        "```",
        "",
        "## How P1 and P5 are measured",
        "",
        *NOTES,
    ]
    benchlib.update_results_section("benchmarks", lines)


def main(argv: list[str] | None = None) -> int:
    """Run the selected figures; 0 even when a target is missed (the lines say so), 1 on a crash."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated figures, e.g. P1,P5")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of P1")
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="length of a P1 throughput round"
    )
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn workers of the API")
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    selected = {part.strip().upper() for part in args.only.split(",") if part.strip()} or set(
        FIGURES
    )
    started = datetime.now(UTC)
    command = "python -m api_layer.bench.run_all " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    machine = benchlib.machine_description()
    report = Report()
    for line in machine:
        print(line)
    crashed = False
    if selected & {"P1", "P5"}:
        try:
            with benchlib.servers(api_workers=args.api_workers) as (emulator, api):
                if "P1" in selected:
                    options = bench_shares.P1Options(
                        rounds=args.rounds, throughput_seconds=args.seconds
                    )
                    report.add(*bench_shares.measure(emulator, api, options))
                if "P5" in selected:
                    report.add(*bench_metrics.measure(emulator, api))
        except Exception as exc:  # noqa: BLE001 - reported as a failed figure; the others still run
            report.add(f"P1/P5: FAILED ({type(exc).__name__}: {exc})")
            traceback.print_exc()
            crashed = True
    for label, module_name in EXTERNAL.items():
        if set(label.split("/")) & selected:
            run_external(label, module_name, report)
    if not args.no_results and not args.only:
        write_results(report, command.strip(), machine, started)
        print(f"written: {RESULTS.relative_to(BENCH_DIR.parent.parent)}")
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
