"""`make run-dev` writes the local sample pack for the emulator port it uses, and prints where (issue 12 item 8)."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dbrx_api.settings import UploadSettings
from dbrx_api.workflow.sharepack import load_sharepack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

API_LAYER = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_dev_writes_a_sample_for_its_emulator_port() -> None:
    emulator_port, api_port = _free_port(), _free_port()
    env = {**os.environ, "EMULATOR_PORT": str(emulator_port), "API_PORT": str(api_port)}
    process = subprocess.Popen(
        ["bash", str(API_LAYER / "scripts" / "run-dev.sh")],
        cwd=API_LAYER,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        # Read everything the stack prints, so no process of the group ever blocks on a full pipe (it could then
        # not stop when asked).
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        sample_line = ""
        while not sample_line and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line.startswith("sample:"):
                sample_line = line
        assert sample_line, "run-dev prints where the sample pack is"
        path = Path(sample_line.split()[1])
        assert path == API_LAYER / ".local" / "sharepack_local_emulator.yaml"
        data = path.read_bytes()
        url = f"http://127.0.0.1:{emulator_port}"
        loaded = load_sharepack(path.name, data, UploadSettings(), allow_local_urls=True)
        assert loaded.model.metadata.workspace_url == url
        assert b"8765" not in data
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the script's own session: its emulator and API
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            # Still starting (the embedded PostgreSQL) when asked to stop: end the whole group, by its id.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
