"""Exit codes (docs/API.md §14.4) and the failures that decide them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The four exit codes of `deltashare`; CI pipelines switch on them."""

    OK = 0
    FAILED = 1  # invalid pack, live-check failure, FAILED/REJECTED/not provisioned, timeout, id not found
    USAGE = 2  # unknown option, missing or unreadable file, bad option value
    UPSTREAM = 3  # service unreachable, 401/403, 5xx, unexpected response


class CliError(Exception):
    """A failure that ends the command with `exit_code`; `kind` names it in JSON output."""

    exit_code: ExitCode = ExitCode.UPSTREAM
    kind: str = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UsageError(CliError):
    """The command line is wrong (exit 2)."""

    exit_code = ExitCode.USAGE
    kind = "usage"


class NetworkError(CliError):
    """The service could not be reached, even after the allowed retries (exit 3)."""

    exit_code = ExitCode.UPSTREAM
    kind = "network"


class AuthError(CliError):
    """No bearer token could be obtained from the client credentials (exit 3)."""

    exit_code = ExitCode.UPSTREAM
    kind = "auth"
