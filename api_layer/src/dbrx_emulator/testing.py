"""Run the emulator from tests: `EmulatorServer` and the pytest fixtures `emulator_server`, `emu`, `emu_client`.

This module is a pytest plugin (`-p dbrx_emulator.testing` in the project's addopts). It imports neither the
emulator app nor the databricks SDK at import time: both are loaded inside the functions that need them.

Fixtures:

* `emulator_config` (session): the `EmulatorConfig` of the shared emulator (manual clock, `minimal` seed,
  random seed 0, port 0). Override it in a conftest to change the session emulator.
* `emulator_server` (session): a running `EmulatorServer`.
* `emu` (function): an `Emu` bound to the session emulator, reset before the test (state, stats, call log,
  faults, latency, behaviour, clock), with the SDK test hygiene applied to the environment.
* `emu_client` (function): a `WorkspaceClient` for `emu` (PAT, retry budget 5 s, HTTP timeout 5 s).

Unserved operations: after each test that used `emu`, calls the emulator answered 501 `NOT_IMPLEMENTED` (stats
operation `unknown`) are collected; at the end the session fails and lists them, since they mean the code under test
calls an operation the emulator does not emulate (docs/EMULATOR.md §3.2). A test that sends such calls on purpose
carries `@pytest.mark.emulator_unserved_ok`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from dbrx_emulator.config import EmulatorConfig

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from dbrx_emulator.app import EmulatorApp
    from dbrx_emulator.runtime import Runtime
    from dbrx_emulator.server import HttpProtocol, ThreadedServer

CONTROL_TIMEOUT_S = 30.0
# Stats id of calls no emulated operation matched (pipeline.UNKNOWN_OPERATION; not imported: see the docstring).
UNKNOWN_OPERATION = "unknown"
UNSERVED_OK_MARKER = "emulator_unserved_ok"
_ENV_PREFIXES = ("DATABRICKS_", "ARM_")
_LOOPBACK_NO_PROXY = "127.0.0.1,localhost"


class EmulatorServer:
    """An emulator on a free loopback port in a daemon thread; use it as a context manager.

    `config` defaults to a manual clock and the `minimal` seed; its host and port are ignored (`port=` picks one);
    `http` picks uvicorn's HTTP protocol implementation (`auto`, `h11`, `httptools`).

    Attributes: `url`, `token` (the first configured PAT), `control` (an httpx client whose base URL is
    `<url>/_emulator`), `app` and `runtime` (the in-process objects, for white-box assertions).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        port: int = 0,
        log_level: str = "warning",
        http: HttpProtocol = "auto",
    ) -> None:
        base = config or EmulatorConfig(clock="manual", seed_file="minimal")
        # Always loopback, and a free port unless one is asked for (config.port is the CLI's option).
        self.config = base.model_copy(update={"host": "127.0.0.1", "port": port})
        self.token = self.config.tokens[0]
        self._log_level = log_level
        self._http: HttpProtocol = http
        self._server: ThreadedServer | None = None
        self._control: httpx.Client | None = None
        self.app: EmulatorApp | None = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> EmulatorServer:
        """Build the app and start serving (idempotent)."""
        if self._server is not None:
            return self
        from dbrx_emulator.app import create_app
        from dbrx_emulator.server import ThreadedServer

        self.app = create_app(self.config)
        self._server = ThreadedServer(
            self.app, "127.0.0.1", self.config.port, self._log_level, self._http
        ).start()
        headers = {}
        if self.config.control_token:
            headers["Authorization"] = f"Bearer {self.config.control_token}"
        self._control = httpx.Client(
            base_url=f"{self._server.url}/_emulator",
            headers=headers,
            timeout=CONTROL_TIMEOUT_S,
            trust_env=False,
        )
        return self

    def stop(self) -> None:
        """Stop serving and close the control client."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        if self._server is None:
            raise RuntimeError("the emulator server is not running")
        return self._server.url

    @property
    def control(self) -> httpx.Client:
        """httpx client for `/_emulator` (paths relative to it: `control.get("/stats")`)."""
        if self._control is None:
            raise RuntimeError("the emulator server is not running")
        return self._control

    @property
    def runtime(self) -> Runtime:
        """The in-process runtime (take `runtime.lock` when reading state from a test)."""
        if self.app is None:
            raise RuntimeError("the emulator server is not running")
        return self.app.runtime

    def workspace_client(
        self,
        retry_timeout_seconds: int = 5,
        http_timeout_seconds: int = 5,
        *,
        token: str | None = None,
        **config_kwargs: Any,
    ) -> WorkspaceClient:
        """A `WorkspaceClient` authenticated with a PAT (`auth_type="pat"`), with small retry/HTTP budgets."""
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.core import Config

        config = Config(
            host=self.url,
            token=token or self.token,
            auth_type="pat",
            retry_timeout_seconds=retry_timeout_seconds,
            http_timeout_seconds=http_timeout_seconds,
            **config_kwargs,
        )
        return WorkspaceClient(config=config)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise AssertionError(
            f"control plane {response.request.method} {response.request.url.path} -> "
            f"{response.status_code}: {response.text}"
        )
    return response.json()


class Emu:
    """Test helper around a running emulator: control-plane shortcuts used by contract and integration tests."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server

    @property
    def url(self) -> str:
        """Base URL of the emulator."""
        return self.server.url

    @property
    def token(self) -> str:
        """The accepted PAT."""
        return self.server.token

    @property
    def control(self) -> httpx.Client:
        """httpx client for `/_emulator`."""
        return self.server.control

    @property
    def runtime(self) -> Runtime:
        """The in-process runtime."""
        return self.server.runtime

    def workspace_client(
        self, retry_timeout_seconds: int = 5, http_timeout_seconds: int = 5, **kw: Any
    ) -> WorkspaceClient:
        """A new `WorkspaceClient` (each construction costs one host-metadata call)."""
        return self.server.workspace_client(retry_timeout_seconds, http_timeout_seconds, **kw)

    # ------------------------------------------------------------------------------------------ stats, calls

    def stats(self) -> dict[str, Any]:
        """`/_emulator/stats`."""
        result: dict[str, Any] = _check(self.control.get("/stats"))
        return result

    def count(self, operation: str) -> int:
        """Calls of one operation id since the last reset (0 when never called)."""
        entry = self.stats()["operations"].get(operation)
        return int(entry["count"]) if entry else 0

    def mutating_total(self) -> int:
        """Non-GET calls since the last reset."""
        return int(self.stats()["mutating_total"])

    def reset_stats(self) -> None:
        """Zero the counts and clear the call log."""
        _check(self.control.post("/stats/reset"))

    def calls(
        self,
        operation: str | None = None,
        *,
        method: str | None = None,
        since_seq: int | None = None,
    ) -> list[dict[str, Any]]:
        """Call-log entries, oldest first (`operation` may be a glob such as `shares.*`)."""
        params = {
            k: v
            for k, v in {"operation": operation, "method": method, "since_seq": since_seq}.items()
            if v is not None
        }
        result: list[dict[str, Any]] = _check(self.control.get("/calls", params=params))["calls"]
        return result

    # ------------------------------------------------------------------------------------------ faults, latency, behaviour

    def add_fault(self, **rule: Any) -> str:
        """Append one fault rule (fields of docs/EMULATOR.md §10.4); returns its id."""
        ids: list[str] = _check(self.control.post("/faults", json={"rules": [rule]}))["ids"]
        return ids[0]

    def faults(self) -> list[dict[str, Any]]:
        """Rules with their counters (`matched`, `skipped`, `applied`)."""
        rules: list[dict[str, Any]] = _check(self.control.get("/faults"))["rules"]
        return rules

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        _check(self.control.delete("/faults"))

    def set_latency(self, fixed_ms: float = 0, **settings: Any) -> dict[str, Any]:
        """Replace the latency settings (`fixed_ms`, `distribution`, `mean_ms`, …, `per_operation`, `seed`)."""
        result: dict[str, Any] = _check(
            self.control.post("/latency", json={"fixed_ms": fixed_ms, **settings})
        )
        return result

    def set_behaviour(self, **switches: Any) -> dict[str, Any]:
        """Change behaviour switches (docs/EMULATOR.md §8.2); `simulation={...}` changes simulation values."""
        result: dict[str, Any] = _check(self.control.patch("/behaviour", json=switches))
        return result

    def behaviour(self) -> dict[str, Any]:
        """Current behaviour switches and simulation values."""
        result: dict[str, Any] = _check(self.control.get("/behaviour"))
        return result

    # ------------------------------------------------------------------------------------------ state, clock

    def reset(
        self,
        seed: dict[str, Any] | None = None,
        seed_file: str | None = None,
        random_seed: int | None = None,
        **keep: bool,
    ) -> None:
        """Restore a seeded state (inline `seed`, `seed_file`, or the one loaded last); `keep_faults=True` etc."""
        body: dict[str, Any] = {
            "seed": seed,
            "seed_file": seed_file,
            "random_seed": random_seed,
            **keep,
        }
        _check(self.control.post("/reset", json={k: v for k, v in body.items() if v is not None}))

    def state(self) -> dict[str, Any]:
        """Full state dump."""
        result: dict[str, Any] = _check(self.control.get("/state"))
        return result

    def now(self) -> str:
        """Emulator time as RFC 3339."""
        return str(_check(self.control.get("/clock"))["now"])

    def now_ms(self) -> int:
        """Emulator time in epoch ms."""
        return int(_check(self.control.get("/clock"))["now_ms"])

    def advance(self, ms: int) -> int:
        """Move the manual clock forward; returns the new time (epoch ms)."""
        return int(_check(self.control.post("/clock/advance", json={"ms": ms}))["now_ms"])

    def settle(self, max_ms: int | None = None) -> int:
        """Advance until no update or run is active; returns the new time (epoch ms)."""
        body = {"max_ms": max_ms} if max_ms is not None else {}
        return int(_check(self.control.post("/clock/settle", json=body))["now_ms"])

    def activate(self, recipient: str) -> dict[str, Any]:
        """Simulate the recipient downloading its credential; returns the credential."""
        result: dict[str, Any] = _check(self.control.post(f"/recipients/{recipient}/activate"))
        return result


def sdk_test_environment(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """SDK test hygiene (docs/databricks-wire-contract.md §1.3): no DATABRICKS_*/ARM_* variables, NO_PROXY loopback, empty HOME."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", _LOOPBACK_NO_PROXY)
    monkeypatch.setenv("no_proxy", _LOOPBACK_NO_PROXY)
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture(scope="session")
def emulator_config() -> EmulatorConfig:
    """Configuration of the session emulator (override in a conftest to change it)."""
    return EmulatorConfig(
        clock="manual", seed_file="minimal", random_seed=0, port=0, log_level="warning"
    )


@pytest.fixture(scope="session")
def emulator_server(emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    """The session's emulator (manual clock, `minimal` seed)."""
    with EmulatorServer(emulator_config) as server:
        yield server


# Unserved calls seen in this session: (test node id, "METHOD path"). Module state, as the pytest hooks that
# report it get no fixture values.
_unserved_calls: list[tuple[str, str]] = []


def unserved_calls(emu: Emu) -> list[str]:
    """`METHOD path` of every call since the last stats reset that no emulated operation served (501)."""
    if not emu.count(UNKNOWN_OPERATION):
        return []
    return [f"{c['method']} {c['path']}" for c in emu.calls(UNKNOWN_OPERATION)]


def unserved_report(calls: list[tuple[str, str]]) -> str:
    """The session-end failure text: which test made which unserved call."""
    lines = [
        f"dbrx-emulator: {len(calls)} call(s) reached no emulated operation (501 NOT_IMPLEMENTED, "
        f"stats operation '{UNKNOWN_OPERATION}'). Emulate the operation (docs/EMULATOR.md §7) or mark a test "
        f"that calls it on purpose with @pytest.mark.{UNSERVED_OK_MARKER}:"
    ]
    lines += [f"  {nodeid}: {call}" for nodeid, call in calls]
    return "\n".join(lines)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of tests that call unserved operations on purpose."""
    config.addinivalue_line(
        "markers",
        f"{UNSERVED_OK_MARKER}: the test calls operations the emulator does not serve on purpose",
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the unserved calls of the session (the session fails in `pytest_sessionfinish`)."""
    if _unserved_calls:
        terminalreporter.section("dbrx-emulator unserved operations", sep="=", red=True)
        terminalreporter.line(unserved_report(_unserved_calls))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail an otherwise green session that made unserved calls."""
    if _unserved_calls and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def emu(
    emulator_server: EmulatorServer,
    emulator_config: EmulatorConfig,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Emu]:
    """The session emulator, reset to its seed (state, stats, call log, faults, latency, behaviour, clock)."""
    sdk_test_environment(monkeypatch, tmp_path_factory.mktemp("sdk-home"))
    helper = Emu(emulator_server)
    helper.reset(seed_file=emulator_config.seed_file, random_seed=emulator_config.random_seed)
    yield helper
    if request.node.get_closest_marker(UNSERVED_OK_MARKER) is None:
        _unserved_calls.extend((request.node.nodeid, call) for call in unserved_calls(helper))


@pytest.fixture
def emu_client(emu: Emu) -> WorkspaceClient:
    """A `WorkspaceClient` bound to `emu` (PAT, retry budget 5 s, HTTP timeout 5 s)."""
    return emu.workspace_client()
