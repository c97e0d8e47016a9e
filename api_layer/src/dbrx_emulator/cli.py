"""Console script `dbrx-emulator` (docs/EMULATOR.md §3.1)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from types import FrameType

from pydantic import ValidationError

from dbrx_emulator.config import DEFAULT_START_TIME, DEFAULT_TOKEN, EmulatorConfig
from dbrx_emulator.seed import SeedError

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `dbrx-emulator`."""
    parser = argparse.ArgumentParser(
        prog="dbrx-emulator",
        description="Local Databricks workspace emulator (tests and local development).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="bind address (loopback unless --allow-non-loopback)"
    )
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    parser.add_argument(
        "--seed-file", default="default", help="YAML seed path, or the packaged 'default'/'minimal'"
    )
    parser.add_argument(
        "--random-seed", type=int, default=0, help="master seed of every random stream"
    )
    parser.add_argument("--token", action="append", dest="tokens", help="accepted PAT (repeatable)")
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="fixed latency added to every API call"
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="probability of an injected fault per call"
    )
    parser.add_argument(
        "--fault-kind", default="unavailable", choices=["throttle", "unavailable", "internal"]
    )
    parser.add_argument("--clock", default="real", choices=["real", "manual"])
    parser.add_argument(
        "--start-time", default=DEFAULT_START_TIME.isoformat(), help="manual clock start (ISO)"
    )
    parser.add_argument(
        "--step-ms", type=int, default=None, help="emulator-time length of a simulation step"
    )
    parser.add_argument("--workspace-id", default=None, help="workspace id (default: the seed's)")
    parser.add_argument("--host-metadata", default=None, choices=["full", "minimal", "404"])
    parser.add_argument(
        "--control-token", default=None, help="require this bearer token on /_emulator/*"
    )
    parser.add_argument(
        "--allow-non-loopback", action="store_true", help="allow binding a non-loopback address"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
    )
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """EmulatorConfig from parsed arguments."""
    start = args.start_time.replace("Z", "+00:00").replace("z", "+00:00")
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        seed_file=args.seed_file,
        random_seed=args.random_seed,
        tokens=args.tokens or [DEFAULT_TOKEN],
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        fault_kind=args.fault_kind,
        clock=args.clock,
        start_time=datetime.fromisoformat(start),
        step_ms=args.step_ms,
        workspace_id=args.workspace_id,
        host_metadata=args.host_metadata,
        control_token=args.control_token,
        allow_non_loopback=args.allow_non_loopback,
        log_level=args.log_level,
    )


def _warn(message: str) -> None:
    print(f"dbrx-emulator: {message}", file=sys.stderr)  # noqa: T201 - a console script


def _fail(message: str) -> int:
    _warn(message)
    return EXIT_USAGE


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    # uvicorn re-raises the signal it captured after a graceful shutdown; exit cleanly then.
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator in the foreground until SIGINT/SIGTERM; prints `DBRX_EMULATOR_URL=...` once serving."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except (ValueError, ValidationError) as exc:
        return _fail(f"invalid option: {exc}")
    from dbrx_emulator.server import bind_socket, is_loopback, serve_foreground, url_for

    if not is_loopback(config.host):
        if not config.allow_non_loopback:
            return _fail(
                f"refusing to bind the non-loopback address {config.host}; "
                "pass --allow-non-loopback to do it anyway"
            )
        _warn(
            f"WARNING: binding {config.host}: the emulator is reachable from other machines and "
            "holds no real security"
        )
    from dbrx_emulator.app import create_app

    try:
        app = create_app(config)
    except SeedError as exc:
        return _fail(str(exc))
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        return _fail(f"cannot bind {config.host}:{config.port}: {exc.strerror}")
    print(f"DBRX_EMULATOR_URL={url_for(config.host, sock.getsockname()[1])}", flush=True)  # noqa: T201
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        serve_foreground(app, sock, config.log_level)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
