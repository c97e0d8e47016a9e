"""Shared pieces of the benchmarks: machine description, the emulator and API as real processes, a load generator.

Method: every figure is a ratio of two sides measured in the same run, interleaved
(A B, B A, ...) after a warm-up, reported as medians with the machine description. Servers bind 127.0.0.1, are
bounded in time and stopped by their PID.

The modules of this directory import each other as `bench.<module>` (mypy's view, with `api_layer/` as a package
base); `run_all` puts `api_layer/` on `sys.path` so that `python -m api_layer.bench.run_all` sees them the same way.
"""

from __future__ import annotations

import concurrent.futures
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
EMULATOR_TOKEN = "dapi-bench"  # noqa: S105 - the emulator's PAT, local only
_URL_LINE = re.compile(r"^DBRX_EMULATOR_URL=(\S+)$", re.MULTILINE)


# ---------------------------------------------------------------------------------------------- machine


def _first_match(path: str, pattern: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1).strip() if match else None


def machine_description() -> list[str]:
    """`nproc`, memory, CPU model, OS, Python and the versions that shape the figures."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem_kib = _first_match("/proc/meminfo", r"^MemTotal:\s+(\d+) kB")
    memory = f"{int(mem_kib) / 2**20:.1f} GiB" if mem_kib else "unknown"
    model = _first_match("/proc/cpuinfo", r"^model name\s*:\s*(.+)$") or platform.processor()
    packages = ", ".join(
        f"{name} {version(name)}" for name in ("fastapi", "uvicorn", "databricks-sdk", "requests")
    )
    load = (
        " ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    )
    return [
        f"nproc: {cpus} (load average at start: {load})",
        f"memory: {memory}",
        f"CPU: {model or 'unknown'}",
        f"OS: {platform.platform()}",
        f"Python: {platform.python_implementation()} {platform.python_version()}",
        f"packages: {packages}",
    ]


# ---------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without SDK/Azure/API variables, loopback without proxy, plus `extra`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABRICKS_", "ARM_", "DBRX_API_"))
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


class ServerProcess:
    """A child process whose output goes to a log file; stopped by PID (SIGTERM, then SIGKILL), bounded."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT, close_fds=True
        )

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def log_text(self) -> str:
        """What the process wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def check_alive(self) -> None:
        """Raise with the log tail when the process has exited."""
        if self.process.poll() is not None:
            tail = "\n".join(self.log_text().splitlines()[-20:])
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM to our PID, wait (bounded), then SIGKILL to the same PID."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT_S)
        self._log.close()


def _wait_until(what: str, probe: Callable[[], bool], process: ServerProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not probe():
        process.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {START_TIMEOUT_S:g}s")
        time.sleep(0.1)


@dataclass
class Emulator:
    """The emulator process and a client of its control plane."""

    process: ServerProcess
    url: str
    control: httpx.Client

    def reset(self, seed: dict[str, Any]) -> None:
        """Load an inline seed (clears stats, latency, faults)."""
        self.control.post("/reset", json={"seed": seed}).raise_for_status()

    def set_latency_ms(self, fixed_ms: float) -> None:
        """Fixed latency added to every API call."""
        self.control.post("/latency", json={"fixed_ms": fixed_ms}).raise_for_status()

    def reset_stats(self) -> None:
        """Zero the per-operation call counts."""
        self.control.post("/stats/reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        """`/_emulator/stats`."""
        response = self.control.get("/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def calls_by_operation(self) -> dict[str, int]:
        """Calls per operation id since the last stats reset."""
        return {op: int(entry["count"]) for op, entry in self.stats()["operations"].items()}


def start_emulator(log_dir: Path, *, clock: str = "real") -> Emulator:
    """`dbrx-emulator` on a free loopback port (its own process)."""
    argv = [
        sys.executable,
        "-m",
        "dbrx_emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--token",
        EMULATOR_TOKEN,
        "--clock",
        clock,
        "--seed-file",
        "minimal",
        "--log-level",
        "warning",
    ]
    process = ServerProcess("emulator", argv, clean_environment(), log_dir)
    found: list[str] = []

    def url_printed() -> bool:
        match = _URL_LINE.search(process.log_text())
        if match:
            found.append(match.group(1))
        return bool(match)

    try:
        _wait_until("emulator", url_printed, process)
        url = found[0]
        control = httpx.Client(base_url=f"{url}/_emulator", timeout=120, trust_env=False)
        _wait_until("emulator", lambda: _answers(control, "/health"), process)
    except BaseException:
        process.stop()
        raise
    return Emulator(process=process, url=url, control=control)


def _answers(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Api:
    """The API process (`python -m dbrx_api.serve`, the production entry point)."""

    process: ServerProcess
    url: str
    workers: int


def start_api(log_dir: Path, emulator: Emulator, *, workers: int) -> Api:
    """The API in local mode (authentication disabled) with the emulator as its only workspace."""
    port = free_port()
    workspaces = f'[{{"url": "{emulator.url}", "name": "emulator", "region": "EMEA"}}]'
    env = clean_environment(
        {
            "DBRX_API_ENVIRONMENT": "local",
            "DBRX_API_AUTH__MODE": "disabled",
            "DBRX_API_WORKFLOW__ENABLED": "false",
            "DBRX_API_SERVER__HOST": "127.0.0.1",
            "DBRX_API_SERVER__PORT": str(port),
            "DBRX_API_SERVER__WORKERS": str(workers),
            "DBRX_API_DATABRICKS__WORKSPACES": workspaces,
            "DBRX_API_DATABRICKS__AUTH__MODE": "pat",
            "DBRX_API_DATABRICKS__AUTH__TOKEN": EMULATOR_TOKEN,
        }
    )
    process = ServerProcess("api", [sys.executable, "-m", "dbrx_api.serve"], env, log_dir)
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=5, trust_env=False)
    try:
        _wait_until("API", lambda: _answers(client, "/health"), process)
    except BaseException:
        process.stop()
        raise
    finally:
        client.close()
    return Api(process=process, url=url, workers=workers)


@contextmanager
def servers(*, api_workers: int) -> Iterator[tuple[Emulator, Api]]:
    """The emulator and the API, stopped (by PID) on exit; logs in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="deltashare-bench-") as tmp:
        log_dir = Path(tmp)
        emulator = start_emulator(log_dir)
        try:
            api = start_api(log_dir, emulator, workers=api_workers)
            try:
                yield emulator, api
            finally:
                api.process.stop()
        finally:
            emulator.control.close()
            emulator.process.stop()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # after "pid (comm)"; comm may hold spaces


def process_tree(pid: int) -> list[int]:
    """`pid` and its direct children (uvicorn's worker processes), from /proc (Linux); [pid] elsewhere."""
    children = []
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if entry.name.isdigit():
                fields = _stat_fields(int(entry.name))
                if fields is not None and fields[1] == str(pid):
                    children.append(int(entry.name))
    return [pid, *children]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by `pids` (0 for a pid that is gone or without /proc)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def command_line(pid: int) -> str:
    """The process's command line from /proc (arguments joined by spaces); "" when it is gone."""
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set size (`VmHWM` in /proc), in MiB; None when it is gone or without /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return None


# ---------------------------------------------------------------------------------------------- load


@dataclass
class LoadResult:
    """Latencies (seconds) of completed calls, wall time and failures of one closed-loop run."""

    latencies_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        """Median latency in milliseconds."""
        return statistics.median(self.latencies_s) * 1000

    @property
    def throughput(self) -> float:
        """Completed calls per second."""
        return len(self.latencies_s) / self.elapsed_s if self.elapsed_s else 0.0


def closed_loop(
    call: Callable[[], None],
    *,
    concurrency: int,
    duration_s: float | None = None,
    calls: int | None = None,
) -> LoadResult:
    """`concurrency` threads each calling `call()` back to back until `duration_s` passed or `calls` were made.

    A thread pool in this process is the generator for both sides of a figure, so each side pays the same
    client costs (requests' HTTP stack, JSON decoding) except what differs by design.
    """
    if (duration_s is None) == (calls is None):
        raise ValueError("give exactly one of duration_s and calls")
    result = LoadResult()
    lock = threading.Lock()
    remaining = [calls if calls is not None else -1]
    started = time.perf_counter()
    deadline = started + (duration_s if duration_s is not None else 3600.0)

    def worker() -> None:
        while time.perf_counter() < deadline:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            begin = time.perf_counter()
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                with lock:
                    result.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            elapsed = time.perf_counter() - begin
            with lock:
                result.latencies_s.append(elapsed)

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
        for future in futures:
            future.result()
    result.elapsed_s = time.perf_counter() - started
    return result


def median(values: list[float]) -> float:
    """The median of `values`."""
    return statistics.median(values)


RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"


def update_results_section(name: str, lines: list[str]) -> None:
    """Replace the `name` section of RESULTS.md (between its markers), keeping every other section."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = "\n".join([begin, *lines, end])
    text = (
        RESULTS_PATH.read_text(encoding="utf-8")
        if RESULTS_PATH.exists()
        else "# Benchmark results\n"
    )
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS_PATH.write_text(text, encoding="utf-8")
