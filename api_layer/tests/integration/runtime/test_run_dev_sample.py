"""`make run-dev` writes the local sample pack for the emulator port it uses, and prints where (issue 12 item 8)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
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
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        sample_line = ""
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("sample:"):
                sample_line = line
                break
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
        process.wait(timeout=30)
