"""Production entry point of the API: `python -m dbrx_api.serve` (called by `api_layer/startup.sh`).

Reads `Settings` once (so a bad configuration stops here, before any worker process starts) and runs uvicorn
with `server.workers` processes (default: one per CPU available to the process), each building the app with
`dbrx_api.main:create_app`.

Bind address: on Azure App Service (Linux) the platform forwards traffic to the port in `PORT` (or
`WEBSITES_PORT`) and the process must listen on all interfaces, so `0.0.0.0:$PORT` is used whenever one of those
variables or `WEBSITE_SITE_NAME` is present. Everywhere else the settings decide (`server.host`, default
`127.0.0.1`, and `server.port`).

Behind App Service's front end, `X-Forwarded-*` headers are trusted from any peer (`--proxy-headers`,
`forwarded_allow_ips="*"`): the container is reachable only through that front end. Elsewhere only loopback
proxies are trusted unless `FORWARDED_ALLOW_IPS` says otherwise.

Shutdown: on SIGTERM uvicorn stops accepting connections, lets in-flight requests finish for at most
`server.graceful_timeout_s`, then runs the application's lifespan shutdown (where an inline queue worker stops
within `workflow.worker.shutdown_grace_s`, docs/WORKFLOW.md §8.8).

uvicorn's own access log is off: the request middleware already writes one structured record per request.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from pydantic import ValidationError

from dbrx_api.settings import Settings, SettingsError, get_settings

APP_FACTORY = "dbrx_api.main:create_app"
APP_SERVICE_PORT_VARIABLES = ("PORT", "WEBSITES_PORT")
APP_SERVICE_MARKER = "WEBSITE_SITE_NAME"


@dataclass(frozen=True)
class ServeOptions:
    """The uvicorn options derived from the settings and the platform's environment variables."""

    host: str
    port: int
    workers: int
    timeout_graceful_shutdown: int
    forwarded_allow_ips: str | None
    log_level: str
    on_app_service: bool
    proxy_headers: bool = True
    access_log: bool = False
    server_header: bool = False


def on_app_service(environ: Mapping[str, str]) -> bool:
    """True inside an Azure App Service container (the platform sets these variables)."""
    return any(environ.get(name) for name in (*APP_SERVICE_PORT_VARIABLES, APP_SERVICE_MARKER))


def _platform_port(environ: Mapping[str, str]) -> int | None:
    for name in APP_SERVICE_PORT_VARIABLES:
        value = environ.get(name, "").strip()
        if not value:
            continue
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise SettingsError(f"{name} must be a TCP port number, got {value!r}")
        return int(value)
    return None


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform says, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def resolve_options(settings: Settings, environ: Mapping[str, str]) -> ServeOptions:
    """How to run the server for `settings` in the environment `environ`."""
    app_service = on_app_service(environ)
    if app_service:
        host = "0.0.0.0"  # noqa: S104 - App Service forwards to the container's interface, not loopback
        port = _platform_port(environ) or settings.server.port
        forwarded: str | None = "*"
    else:
        host = settings.server.host
        port = settings.server.port
        forwarded = None  # uvicorn then reads FORWARDED_ALLOW_IPS, default 127.0.0.1
    return ServeOptions(
        host=host,
        port=port,
        # One process per CPU unless configured: a worker's Python code runs on one core at a time (the GIL).
        workers=settings.server.workers or min(available_cpus(), 64),
        timeout_graceful_shutdown=settings.server.graceful_timeout_s,
        forwarded_allow_ips=forwarded,
        log_level=settings.logging.level.lower(),
        on_app_service=app_service,
    )


def run(options: ServeOptions) -> None:
    """Run uvicorn in this process (it forks `workers` processes when there is more than one)."""
    import uvicorn

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.workers,
        proxy_headers=options.proxy_headers,
        forwarded_allow_ips=options.forwarded_allow_ips,
        timeout_graceful_shutdown=options.timeout_graceful_shutdown,
        access_log=options.access_log,
        server_header=options.server_header,
        log_level=options.log_level,
        lifespan="on",
    )


def configuration_problems(exc: ValidationError) -> str:
    """The settings errors without their input values (an input may be a secret)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error.get("loc", ())) or "settings"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Validate the settings, then serve; `--print-config` only prints the resolved options as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m dbrx_api.serve", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved server options and exit"
    )
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        settings = get_settings()
        options = resolve_options(settings, env)
    except ValidationError as exc:
        sys.stderr.write(f"deltashare: invalid configuration: {configuration_problems(exc)}\n")
        return 2
    except SettingsError as exc:
        sys.stderr.write(f"deltashare: invalid configuration: {exc}\n")
        return 2
    if args.print_config:
        sys.stdout.write(json.dumps(asdict(options), sort_keys=True) + "\n")
        return 0
    run(options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
