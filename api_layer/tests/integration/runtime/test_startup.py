"""`api_layer/startup.sh`: the production start command, run for real on 127.0.0.1.

Each test starts the script in its own process group, talks to it over HTTP, sends SIGTERM to the PID it
started and checks that everything stops in time with the right status. The queue worker of the `all` role is a
stub module (`STARTUP_WORKER_MODULE`), so these tests only depend on the start script and `dbrx_api.serve`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.live_server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STARTUP = Path(__file__).resolve().parents[3] / "startup.sh"
START_TIMEOUT_S = 40.0
STOP_TIMEOUT_S = 30.0

STUB_WORKER = '''
"""A stand-in queue worker: writes its state to $STUB_MARKER, stops on SIGTERM, or exits when $STUB_EXIT_FILE
appears (with status $STUB_EXIT_STATUS)."""
import os, pathlib, signal, sys, time

marker = pathlib.Path(os.environ["STUB_MARKER"])
exit_file = pathlib.Path(os.environ.get("STUB_EXIT_FILE", "/nonexistent/exit"))
marker.write_text("started")

def stop(signum, frame):
    marker.write_text("stopped")
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
deadline = time.monotonic() + 120
while time.monotonic() < deadline and not exit_file.exists():
    time.sleep(0.05)
marker.write_text("exited")
sys.exit(int(os.environ.get("STUB_EXIT_STATUS", "0")))
'''


def startup_environment(port: int, **extra: str) -> dict[str, str]:
    """A clean environment: local settings, no App Service variables (so the server binds 127.0.0.1)."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DBRX_API_", "WEBSITE", "STARTUP_"))
        and k not in ("PORT", "WEBSITES_PORT")
    }
    environment.update(
        {
            "PYTHON": sys.executable,
            "DBRX_API_ENVIRONMENT": "local",
            "DBRX_API_DATABRICKS__AUTH__TOKEN": "dapi-startup-test",
            "DBRX_API_SERVER__PORT": str(port),
            "DBRX_API_SERVER__WORKERS": "2",
            "DBRX_API_SERVER__GRACEFUL_TIMEOUT_S": "3",
            **extra,
        }
    )
    return environment


class Started:
    """A start-script process, its log file and port."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, port: int) -> None:
        self.process = process
        self.log = log
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_healthy(self) -> httpx.Response:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"start script exited early ({self.process.returncode}):\n{self.output()}"
                )
            try:
                response = httpx.get(f"{self.url}/health", timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            if response.status_code == 200:
                return response
        raise AssertionError(f"no healthy answer within {START_TIMEOUT_S:g}s:\n{self.output()}")

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT_S)


Launcher = Callable[..., Started]


@pytest.fixture
def start(tmp_path: Path, make_database: Callable[[], str]) -> Iterator[Launcher]:
    """Start `startup.sh ROLE` with an environment; everything left running is killed by its group id.

    The app gets a throwaway database: without one, local mode starts the embedded server of the developer's
    `api_layer/.local/pgdata`, which outlived the test.
    """
    started: list[Started] = []
    database_url = make_database()

    def launch(role: str, port: int, **extra: str) -> Started:
        log = tmp_path / f"startup-{role}-{len(started)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", str(STARTUP), role],
                env=startup_environment(port, DATABASE_URL=database_url, **extra),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so cleanup reaches its children
            )
        result = Started(process, log, port)
        started.append(result)
        return result

    yield launch
    for item in started:
        if item.process.poll() is None:
            os.killpg(item.process.pid, signal.SIGKILL)
            item.process.wait(timeout=STOP_TIMEOUT_S)


def _children(pid: int) -> list[str]:
    """Command lines of the direct children of `pid` (from /proc, not `ps`, whose output width varies)."""
    child_ids: list[str] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        child_ids += (task / "children").read_text().split()
    commands = []
    for child in child_ids:
        try:
            raw = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:  # exited meanwhile
            continue
        commands.append(raw.replace(b"\0", b" ").decode(errors="replace").strip())
    return commands


def _port_closed(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
    except httpx.TransportError:
        return True
    return False


def test_api_role_serves_with_the_configured_workers_and_stops_gracefully(start: Launcher) -> None:
    launched = start("api", free_port())
    response = launched.wait_healthy()
    assert response.json()["environment"] == "local"
    # the script exec's the server: the PID we started is uvicorn's supervisor, with two worker processes
    workers = [args for args in _children(launched.process.pid) if "spawn_main" in args]
    assert len(workers) == 2
    deadline = time.monotonic() + START_TIMEOUT_S  # both workers finish their lifespan start-up
    while launched.output().count("Application startup complete.") < 2:
        assert time.monotonic() < deadline, launched.output()
        time.sleep(0.1)
    assert launched.terminate() == 0
    output = launched.output()
    assert output.count("Application shutdown complete.") == 2
    assert '"GET /health HTTP/1.1" 200' not in output  # no uvicorn access log next to the app's own
    assert _port_closed(launched.port)


def test_all_role_forwards_sigterm_to_the_api_and_the_workers(
    start: Launcher, tmp_path: Path
) -> None:
    (tmp_path / "stub_worker.py").write_text(STUB_WORKER, encoding="utf-8")
    marker = tmp_path / "worker.state"
    launched = start(
        "all",
        free_port(),
        PYTHONPATH=str(tmp_path),
        STARTUP_WORKER_MODULE="stub_worker",
        STUB_MARKER=str(marker),
        DBRX_API_SERVER__WORKERS="1",
    )
    launched.wait_healthy()
    deadline = time.monotonic() + 10
    while not (marker.exists() and marker.read_text() == "started"):
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.05)
    assert launched.terminate() == 0
    assert marker.read_text() == "stopped"
    assert _port_closed(launched.port)


def test_all_role_stops_the_api_when_a_worker_dies(start: Launcher, tmp_path: Path) -> None:
    (tmp_path / "stub_worker.py").write_text(STUB_WORKER, encoding="utf-8")
    launched = start(
        "all",
        free_port(),
        PYTHONPATH=str(tmp_path),
        STARTUP_WORKER_MODULE="stub_worker",
        STUB_MARKER=str(tmp_path / "worker.state"),
        STUB_EXIT_FILE=str(tmp_path / "worker.exit"),
        STUB_EXIT_STATUS="3",
        DBRX_API_SERVER__WORKERS="1",
    )
    launched.wait_healthy()
    (tmp_path / "worker.exit").touch()  # the worker now dies with status 3
    assert launched.process.wait(timeout=STOP_TIMEOUT_S) == 3
    assert "a child process exited (status 3); stopping the others" in launched.output()
    assert _port_closed(launched.port)


def test_invalid_configuration_stops_start_up_with_status_2(start: Launcher) -> None:
    launched = start("api", free_port(), DBRX_API_SERVER__WORKERS="0")
    assert launched.process.wait(timeout=STOP_TIMEOUT_S) == 2
    assert "invalid configuration: server.workers" in launched.output()


def test_unknown_role_is_a_usage_error(start: Launcher) -> None:
    launched = start("scheduler", free_port())
    assert launched.process.wait(timeout=STOP_TIMEOUT_S) == 2
    assert "usage: startup.sh [api|worker|all]" in launched.output()
