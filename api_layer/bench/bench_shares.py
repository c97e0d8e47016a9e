"""P1: `GET /shares` through the API vs the same SDK call made directly against the emulator.

Setup: the emulator (its own process) holds 1,000 shares and adds 5 ms to every call; the API runs as a real
uvicorn server (`python -m dbrx_api.serve`, local mode) on 127.0.0.1. Both sides are driven by the same thread-pool
generator in this process with the same HTTP stack (requests):

* SDK direct: `list(w.shares.list_shares())` with one shared `WorkspaceClient` (every upstream page);
* API: `GET /shares` with `X-Workspace-URL`, body decoded (`total` checked), on one shared `requests.Session`.

Figures (issue 16): p50 latency ratio API / SDK at concurrency 1 (target <= 1.05, ratio of the medians of
interleaved rounds), throughput ratio API / SDK at concurrency 32 (target >= 1.2 in every round: the worst round's
ratio is the figure) and the API's CPU per call at concurrency 32 (target <= 10 ms, median of the rounds). Run alone
with `cd api_layer && .venv/bin/python -m bench.bench_shares` or `python -m api_layer.bench.run_all --only P1`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import requests
from bench import benchlib
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from requests.adapters import HTTPAdapter

SHARES = 1_000
LATENCY_MS = 5
LATENCY_TARGET = 1.05
THROUGHPUT_TARGET = 1.2  # in every round (issue 16)
API_CPU_TARGET_MS = 10.0  # API CPU per call at the throughput concurrency (issue 16)
PEAK_RSS_TARGET_MB = 200.0  # per API worker process (issue 16)


@dataclass(frozen=True)
class P1Options:
    """Sizes of one P1 measurement."""

    rounds: int = 3
    latency_calls: int = 25
    throughput_concurrency: int = 32
    throughput_seconds: float = 6.0


def shares_seed(count: int = SHARES) -> dict[str, object]:
    """An inline emulator seed with `count` shares (no objects, no grants)."""
    return {
        "shares": [
            {"name": f"bench_share_{index:04d}", "comment": f"Benchmark share {index}"}
            for index in range(count)
        ]
    }


def _sdk_call(emulator: benchlib.Emulator) -> Callable[[], None]:
    client = WorkspaceClient(
        config=Config(host=emulator.url, token=benchlib.EMULATOR_TOKEN, auth_type="pat")
    )

    def call() -> None:
        shares = list(client.shares.list_shares())
        if len(shares) != SHARES:
            raise AssertionError(f"SDK listed {len(shares)} shares")

    return call


def _api_call(api: benchlib.Api, emulator: benchlib.Emulator, pool: int) -> Callable[[], None]:
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=pool))
    url = f"{api.url}/shares"
    headers = {"X-Workspace-URL": emulator.url}

    def call() -> None:
        response = session.get(url, headers=headers, timeout=120)
        response.raise_for_status()
        if response.json()["total"] != SHARES:
            raise AssertionError("the API listed another number of shares")

    return call


def _format(value: float, target: float, *, at_most: bool) -> str:
    met = value <= target if at_most else value >= target
    sign = "<=" if at_most else ">="
    return f"{value:.2f} (target {sign} {target}: {'met' if met else 'MISSED'})"


def measure(emulator: benchlib.Emulator, api: benchlib.Api, options: P1Options) -> list[str]:
    """Seed, warm up, run the interleaved rounds; one line per figure (plus a detail line each)."""
    emulator.reset(shares_seed())
    emulator.set_latency_ms(LATENCY_MS)
    sides = {
        "sdk": _sdk_call(emulator),
        "api": _api_call(api, emulator, options.throughput_concurrency),
    }
    for call in sides.values():  # warm-up: connections, the API's workspace client, imports
        benchlib.closed_loop(call, concurrency=4, calls=8)

    p50: dict[str, list[float]] = {"sdk": [], "api": []}
    rps: dict[str, list[float]] = {"sdk": [], "api": []}
    # CPU milliseconds per call at the throughput concurrency: where each side's work lands.
    processes = {
        "emulator": [emulator.process.pid],
        "API": benchlib.process_tree(api.process.pid),
        "generator": [os.getpid()],
    }
    cpu: dict[str, dict[str, list[float]]] = {
        side: {name: [] for name in processes} for side in sides
    }
    errors: list[str] = []
    for round_index in range(options.rounds):
        order = ["sdk", "api"] if round_index % 2 == 0 else ["api", "sdk"]
        for side in order:
            result = benchlib.closed_loop(sides[side], concurrency=1, calls=options.latency_calls)
            p50[side].append(result.p50_ms)
            errors += result.errors
        for side in order:
            before = {name: benchlib.cpu_seconds(pids) for name, pids in processes.items()}
            result = benchlib.closed_loop(
                sides[side],
                concurrency=options.throughput_concurrency,
                duration_s=options.throughput_seconds,
            )
            calls = max(len(result.latencies_s), 1)
            for name, pids in processes.items():
                used = benchlib.cpu_seconds(pids) - before[name]
                cpu[side][name].append(used * 1000 / calls)
            rps[side].append(result.throughput)
            errors += result.errors
    if errors:
        raise RuntimeError(f"{len(errors)} failed calls, e.g. {errors[0]}")

    # Peak RSS of each uvicorn worker (the children of the API's main process, multiprocessing's resource
    # tracker left out) after every round.
    peaks = [
        peak
        for pid in benchlib.process_tree(api.process.pid)[1:] or [api.process.pid]
        if "resource_tracker" not in benchlib.command_line(pid)
        and (peak := benchlib.peak_rss_mb(pid)) is not None
    ]
    latency = {side: benchlib.median(values) for side, values in p50.items()}
    throughput = {side: benchlib.median(values) for side, values in rps.items()}
    latency_ratio = latency["api"] / latency["sdk"]
    throughput_ratio = throughput["api"] / throughput["sdk"]
    # Rounds interleave the sides, so round i of each side ran under the same machine load.
    round_ratios = [api / sdk for api, sdk in zip(rps["api"], rps["sdk"], strict=True) if sdk]
    worst_round = min(round_ratios, default=0.0)
    api_cpu = benchlib.median(cpu["api"]["API"])
    setup = (
        f"{SHARES:,} shares, {LATENCY_MS} ms emulator latency, API workers {api.workers}, "
        f"medians of {options.rounds} interleaved rounds"
    )
    return [
        f"P1 GET /shares p50 latency ratio API/SDK at concurrency 1: "
        f"{_format(latency_ratio, LATENCY_TARGET, at_most=True)}",
        f"   API p50 {latency['api']:.1f} ms vs SDK direct p50 {latency['sdk']:.1f} ms "
        f"({options.latency_calls} sequential calls per round; {setup})",
        f"P1 GET /shares throughput ratio API/SDK at concurrency {options.throughput_concurrency}, "
        f"worst round: {_format(worst_round, THROUGHPUT_TARGET, at_most=False)}",
        f"   rounds: {', '.join(f'{ratio:.2f}' for ratio in round_ratios)}; ratio of the medians "
        f"{throughput_ratio:.2f}: API {throughput['api']:.1f} calls/s vs SDK direct "
        f"{throughput['sdk']:.1f} calls/s ({options.throughput_seconds:g} s per round; {setup})",
        f"P1 API CPU ms per GET /shares at concurrency {options.throughput_concurrency} "
        f"(median of the rounds): {_format(api_cpu, API_CPU_TARGET_MS, at_most=True)}",
        f"   CPU ms per call at concurrency {options.throughput_concurrency}: "
        + "; ".join(
            f"{'API' if side == 'api' else 'SDK direct'}: "
            + ", ".join(
                f"{name} {benchlib.median(values):.1f}"
                for name, values in cpu[side].items()
                if not (side == "sdk" and name == "API")
            )
            for side in ("api", "sdk")
        ),
        f"P1 peak RSS per API worker in MiB after the rounds (concurrency "
        f"{options.throughput_concurrency}, {SHARES:,} shares): "
        f"{_format(max(peaks, default=0.0), PEAK_RSS_TARGET_MB, at_most=True)}",
        f"   workers: {', '.join(f'{peak:.0f} MiB' for peak in peaks)}",
    ]


def main() -> None:
    """P1 alone: `cd api_layer && .venv/bin/python -m bench.bench_shares` (RESULTS.md is not written)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=P1Options.rounds)
    parser.add_argument("--seconds", type=float, default=P1Options.throughput_seconds)
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn workers of the API")
    args = parser.parse_args()
    for line in benchlib.machine_description():
        print(line)
    options = P1Options(rounds=args.rounds, throughput_seconds=args.seconds)
    with benchlib.servers(api_workers=args.api_workers) as (emulator, api):
        for line in measure(emulator, api, options):
            print(line, flush=True)


if __name__ == "__main__":
    main()
