"""Command-line parsing (docs/API.md §14.1) and the resolved options of one invocation.

Global options are accepted before and after the command (`deltashare --json status ID` and
`deltashare status ID --json` mean the same), because CI scripts are written both ways.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn
from urllib.parse import urlsplit

from dbrx_api.cli.errors import UsageError
from dbrx_api.version import __version__

OutputFormat = Literal["text", "json", "github"]
Command = Literal[
    "validate",
    "plan",
    "apply",
    "status",
    "history",
    "approve",
    "decline",
    "tokens",
    "access",
    "export",
]

ENV_API_URL = "DELTASHARE_API_URL"
ENV_WORKSPACE_URL = "DELTASHARE_WORKSPACE_URL"
ENV_TOKEN = "DELTASHARE_TOKEN"  # noqa: S105 - the variable's name, not a secret
ENV_CA_BUNDLE = "DELTASHARE_CA_BUNDLE"

OFFLINE_API_URL = (
    "http://offline.invalid"  # `validate --offline` sends nothing; a reserved name, never resolved
)
DEFAULT_HTTP_TIMEOUT_S = 60.0
DEFAULT_WAIT_TIMEOUT_S = 1800.0
DEFAULT_POLL_INTERVAL_S = 5.0

_GLOBAL_HELP = {
    "api_url": f"service base URL including api_prefix (default ${ENV_API_URL})",
    "workspace_url": f"sent as X-Workspace-URL; must equal the pack's metadata.workspace_url "
    f"(default ${ENV_WORKSPACE_URL})",
    "token": f"bearer token (default ${ENV_TOKEN}; prefer the variable: arguments leak into process lists)",
    "format": "output format (default text)",
    "json": "same as --format json",
    "http_timeout": f"per-request timeout in seconds (default {DEFAULT_HTTP_TIMEOUT_S:g})",
    "quiet": "text output: print only errors and the final line",
    "no_color": "no ANSI colours (NO_COLOR is honoured too)",
}


@dataclass(frozen=True)
class Options:
    """Everything one invocation needs, with environment defaults applied."""

    command: Command
    api_url: str
    workspace_url: str | None
    token: str | None
    output_format: OutputFormat
    http_timeout_s: float
    quiet: bool
    no_color: bool
    file: Path | None = None
    share_pack_id: str | None = None
    strict: bool = False
    wait: bool = True
    timeout_s: float = DEFAULT_WAIT_TIMEOUT_S
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    version: int | None = None
    comment: str | None = None
    offline: bool = False
    expiring_within: str | None = None
    export_shares: tuple[str, ...] = ()
    export_recipients: tuple[str, ...] = ()
    all_shares: bool = False
    include_pipelines: bool = True
    output: Path | None = None
    access_recipient: str | None = None
    access_object: str | None = None
    as_of: str | None = None
    fail_if_any: bool = False


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing and exiting, so `main` decides the output format."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _version_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a version number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a version number >= 1, got {text!r}")
    return value


def _add_global_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    # After the command the defaults are SUPPRESS so that a value given before the command survives.
    def default(value: object) -> object:
        return argparse.SUPPRESS if after_command else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--api-url", metavar="URL", default=default(None), help=_GLOBAL_HELP["api_url"]
    )
    group.add_argument(
        "--workspace-url", metavar="URL", default=default(None), help=_GLOBAL_HELP["workspace_url"]
    )
    group.add_argument(
        "--token", metavar="TOKEN", default=default(None), help=_GLOBAL_HELP["token"]
    )
    group.add_argument(
        "--format",
        dest="output_format",
        choices=("text", "json", "github"),
        default=default(None),
        help=_GLOBAL_HELP["format"],
    )
    group.add_argument(
        "--json",
        dest="json_output",
        action="store_true",
        default=default(False),
        help=_GLOBAL_HELP["json"],
    )
    group.add_argument(
        "--http-timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=default(None),
        help=_GLOBAL_HELP["http_timeout"],
    )
    group.add_argument(
        "--quiet", action="store_true", default=default(False), help=_GLOBAL_HELP["quiet"]
    )
    group.add_argument(
        "--no-color", action="store_true", default=default(False), help=_GLOBAL_HELP["no_color"]
    )


def _add_wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=DEFAULT_WAIT_TIMEOUT_S,
        help=f"give up waiting after this long (exit 1; default {DEFAULT_WAIT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--poll-interval",
        metavar="SECONDS",
        type=_positive_seconds,
        default=DEFAULT_POLL_INTERVAL_S,
        help=f"seconds between status reads (default {DEFAULT_POLL_INTERVAL_S:g}; Retry-After is honoured)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The `deltashare` argument parser (synopsis of docs/API.md §14.1)."""
    parser = _Parser(
        prog="deltashare",
        description="Validate, plan, apply and follow DeltaShare share packs through the DeltaShare API.",
        epilog="Exit codes: 0 ok, 1 invalid or failed, 2 usage error, 3 upstream or network error.",
    )
    parser.add_argument("--version", action="version", version=f"deltashare {__version__}")
    _add_global_options(parser, after_command=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    validate = commands.add_parser(
        "validate", help="validate a share pack offline (no Databricks call)"
    )
    validate.add_argument("file", metavar="FILE", help="share pack (.yaml, .yml or .xlsx)")
    validate.add_argument("--strict", action="store_true", help="treat warnings as failure")
    validate.add_argument(
        "--offline",
        action="store_true",
        help="validate in this process: no server, no API URL or token needed",
    )

    plan = commands.add_parser(
        "plan", help="validate and diff a share pack against the live workspace"
    )
    plan.add_argument("file", metavar="FILE", help="share pack (.yaml, .yml or .xlsx)")

    apply = commands.add_parser("apply", help="upload a share pack and follow it to a final status")
    apply.add_argument("file", metavar="FILE", help="share pack (.yaml, .yml or .xlsx)")
    apply.add_argument("--no-wait", action="store_true", help="return once the upload is accepted")
    _add_wait_options(apply)

    status = commands.add_parser("status", help="show a share pack's current status")
    status.add_argument("share_pack_id", metavar="ID", help="share-pack id (UUID)")
    status.add_argument("--wait", action="store_true", help="poll until the status is final")
    _add_wait_options(status)

    history = commands.add_parser("history", help="show every version, transition, run and step")
    history.add_argument("share_pack_id", metavar="ID", help="share-pack id (UUID)")

    decisions = []
    for name, verb in (("approve", "approve (queue)"), ("decline", "decline (reject)")):
        decision = commands.add_parser(
            name, help=f"{verb} a PENDING_APPROVAL version (approver role; not its uploader)"
        )
        decision.add_argument("share_pack_id", metavar="ID", help="share-pack id (UUID)")
        decision.add_argument(
            "--version",
            dest="pack_version",
            metavar="N",
            type=_version_number,
            required=True,
            help="the version to decide on",
        )
        decision.add_argument("--comment", metavar="TEXT", help="why (kept in the pack's history)")
        decisions.append(decision)

    tokens = commands.add_parser(
        "tokens",
        help="report the open-sharing recipients' tokens; exit 1 when one expires inside the window",
    )
    tokens.add_argument(
        "--expiring-within",
        metavar="WINDOW",
        required=True,
        help="look-ahead window: 30d, 12h, 30 (days) or an ISO 8601 duration such as P30D",
    )

    access = commands.add_parser(
        "access",
        help="show who can read what (live, or at a past instant with --as-of); CSV with -o",
    )
    access.add_argument(
        "--recipient", dest="access_recipient", metavar="NAME", help="only this recipient's access"
    )
    access.add_argument(
        "--object",
        dest="access_object",
        metavar="CATALOG.SCHEMA.TABLE",
        help="only the shares exposing this table (itself or its whole schema)",
    )
    access.add_argument(
        "--as-of",
        dest="as_of",
        metavar="TIMESTAMP",
        help="answer from history at this instant (RFC 3339 with offset, e.g. 2026-03-01T10:00:00Z)",
    )
    access.add_argument(
        "--fail-if-any",
        action="store_true",
        help="exit 1 when any access is found (a CI guard, e.g. with --object on a restricted table)",
    )
    access.add_argument(
        "-o", "--output", metavar="FILE", help="also write the answer as CSV to FILE"
    )

    export = commands.add_parser(
        "export",
        help="describe live shares, recipients and pipelines as a share pack to adopt (reads only)",
    )
    export.add_argument(
        "--share",
        dest="export_shares",
        metavar="NAME",
        action="append",
        default=[],
        help="a share to export (repeat for more)",
    )
    export.add_argument(
        "--recipient",
        dest="export_recipients",
        metavar="NAME",
        action="append",
        default=[],
        help="a recipient to export besides the exported shares' grantees (repeat for more)",
    )
    export.add_argument("--all-shares", action="store_true", help="export every share")
    export.add_argument(
        "--no-pipelines", action="store_true", help="leave the shared tables' pipelines out"
    )
    export.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        required=True,
        help="where to write the pack: .xlsx for the workbook, otherwise YAML",
    )

    for sub in (validate, plan, apply, status, history, *decisions, tokens, access, export):
        _add_global_options(sub, after_command=True)
    return parser


def requested_format(argv: Sequence[str]) -> OutputFormat:
    """The output format asked for on a command line that may not parse (usage errors honour `--json`)."""
    fmt: OutputFormat = "text"
    for index, arg in enumerate(argv):
        if arg == "--json":
            return "json"
        value = None
        if arg == "--format" and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--format="):
            value = arg.split("=", 1)[1]
        if value in ("text", "json", "github"):
            fmt = value  # type: ignore[assignment]  # narrowed by the membership test
    return fmt


def _check_url(value: str, what: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what} must be an absolute http(s) URL, got {safe_url(value)!r}")
    return value.strip()


def safe_url(url: str) -> str:
    """`url` without user-info, query or fragment, for messages (they may carry credentials)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    netloc = parts.hostname
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def parse_options(argv: Sequence[str], environ: Mapping[str, str]) -> Options:
    """Parse `argv` and apply the `DELTASHARE_*` environment defaults; raises `UsageError`."""
    args = build_parser().parse_args(list(argv))
    if not args.command:
        raise UsageError(
            "a command is required: validate, plan, apply, status, history, approve, decline, tokens, "
            "access or export"
        )
    offline = bool(getattr(args, "offline", False))
    api_url = args.api_url or environ.get(ENV_API_URL, "").strip()
    if not api_url and offline:
        api_url = OFFLINE_API_URL
    if not api_url:
        raise UsageError(f"the API URL is required: pass --api-url or set {ENV_API_URL}")
    api_url = _check_url(api_url, "--api-url").rstrip("/")
    workspace_url = args.workspace_url or environ.get(ENV_WORKSPACE_URL, "").strip() or None
    if workspace_url:
        workspace_url = _check_url(workspace_url, "--workspace-url")
    token = (args.token or environ.get(ENV_TOKEN, "")).strip() or None
    output_format: OutputFormat = "json" if args.json_output else (args.output_format or "text")
    share_pack_id = getattr(args, "share_pack_id", None)
    if share_pack_id is not None:
        try:
            share_pack_id = str(uuid.UUID(share_pack_id))
        except ValueError:
            raise UsageError(
                f"ID must be a share-pack id (a UUID), got {share_pack_id!r}"
            ) from None
    file_arg = getattr(args, "file", None)
    return Options(
        command=args.command,
        api_url=api_url,
        workspace_url=workspace_url,
        token=token,
        output_format=output_format,
        http_timeout_s=args.http_timeout or DEFAULT_HTTP_TIMEOUT_S,
        quiet=bool(args.quiet),
        no_color=bool(args.no_color),
        file=Path(file_arg) if file_arg is not None else None,
        share_pack_id=share_pack_id,
        strict=bool(getattr(args, "strict", False)),
        wait=not getattr(args, "no_wait", False)
        if args.command == "apply"
        else bool(getattr(args, "wait", False)),
        timeout_s=getattr(args, "timeout", DEFAULT_WAIT_TIMEOUT_S),
        poll_interval_s=getattr(args, "poll_interval", DEFAULT_POLL_INTERVAL_S),
        version=getattr(args, "pack_version", None),
        comment=getattr(args, "comment", None),
        offline=offline,
        expiring_within=getattr(args, "expiring_within", None),
        export_shares=tuple(getattr(args, "export_shares", ())),
        export_recipients=tuple(getattr(args, "export_recipients", ())),
        all_shares=bool(getattr(args, "all_shares", False)),
        include_pipelines=not getattr(args, "no_pipelines", False),
        output=Path(args.output) if getattr(args, "output", None) else None,
        access_recipient=getattr(args, "access_recipient", None),
        access_object=getattr(args, "access_object", None),
        as_of=getattr(args, "as_of", None),
        fail_if_any=bool(getattr(args, "fail_if_any", False)),
    )
