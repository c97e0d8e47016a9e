"""Entry point of `deltashare`: parse, authenticate, run one command, return its exit code."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

import httpx

from dbrx_api.cli.auth import TokenAcquirer, acquire_with_msal, resolve_token, tls_verification
from dbrx_api.cli.client import ApiClient
from dbrx_api.cli.commands import COMMANDS, Runtime
from dbrx_api.cli.errors import CliError, ExitCode, UsageError
from dbrx_api.cli.options import OutputFormat, build_parser, parse_options, requested_format
from dbrx_api.cli.output import Console, escape_data
from dbrx_api.cli.progress import Progress

INTERRUPTED = (
    130  # the shell's convention for Ctrl-C; not one of the four outcomes of docs/API.md §14.4
)


def _report_usage(
    error: UsageError, output_format: OutputFormat, stdout: TextIO, stderr: TextIO
) -> int:
    if output_format == "json":
        stdout.write('{"error": "usage", "detail": ' + _json_string(error.detail) + "}\n")
    else:
        stderr.write(build_parser().format_usage())
        stderr.write(f"deltashare: error: {error.detail}\n")
        if output_format == "github":
            stdout.write(f"::error title=deltashare usage::{escape_data(error.detail)}\n")
    return int(ExitCode.USAGE)


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _refuse_requests(request: httpx.Request) -> httpx.Response:
    raise RuntimeError(
        f"validate --offline must not send requests ({request.method} {request.url})"
    )


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    acquire_token: TokenAcquirer = acquire_with_msal,
) -> int:
    """Run `deltashare` with `argv` (default `sys.argv[1:]`) and return the exit code (docs/API.md §14.4).

    The keyword arguments exist for tests: another environment, captured streams, an httpx transport (e.g.
    `httpx.MockTransport`), a fake clock and sleep, and a token acquirer that does not call Entra ID.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    env: Mapping[str, str] = os.environ if environ is None else environ
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    output_format = requested_format(args)
    try:
        with contextlib.redirect_stdout(out):  # --help and --version print through argparse
            options = parse_options(args, env)
    except SystemExit as exc:  # --help, --version
        return int(exc.code) if isinstance(exc.code, int) else 0
    except UsageError as exc:
        return _report_usage(exc, output_format, out, err)

    console = Console(
        options.output_format,
        quiet=options.quiet,
        no_color=options.no_color,
        stdout=out,
        stderr=err,
        environ=env,
    )
    terminal = _is_terminal(err)
    progress = Progress(
        err, enabled=console.human and not options.quiet, terminal=terminal, clock=clock
    )
    try:
        # `validate --offline` talks to no server: no token is looked for, and no request can leave.
        token = None if options.offline else resolve_token(options.token, env, acquire_token)
        if options.offline:
            transport = httpx.MockTransport(_refuse_requests)
        verify = tls_verification(env)
        with ApiClient(
            options.api_url,
            token=token,
            workspace_url=options.workspace_url,
            timeout_s=options.http_timeout_s,
            verify=verify,
            transport=transport,
            sleep=sleep,
            on_retry=lambda message: console.diagnostic(f"retry: {message}"),
        ) as client:
            runtime = Runtime(
                options=options,
                console=console,
                client=client,
                progress=progress,
                sleep=sleep,
                clock=clock,
                terminal=terminal,
            )
            return int(COMMANDS[options.command](runtime))
    except UsageError as exc:
        progress.close()
        return _report_usage(exc, options.output_format, out, err)
    except CliError as exc:
        progress.close()
        console.problem(f"error: {exc.detail}")
        console.annotate("error", exc.detail, title=f"deltashare {exc.kind}")
        if not console.json_written:
            console.document({"error": exc.kind, "detail": exc.detail})
        return int(exc.exit_code)
    except KeyboardInterrupt:
        progress.close()
        console.problem("interrupted")
        return INTERRUPTED
