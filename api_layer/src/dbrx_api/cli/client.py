"""The HTTP side of the CLI: one httpx client, JSON decoding, and the retry rule of docs/API.md §14.3.

Read-only calls (`GET`, plan, validate) are retried up to three times on connection errors and on 502/503/504,
honouring `Retry-After`. The upload of `apply` is never retried automatically: it is not idempotent from the
client's point of view (a lost response may hide a stored version).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from dbrx_api.cli.errors import NetworkError, UsageError
from dbrx_api.cli.options import safe_url
from dbrx_api.version import __version__

MAX_RETRIES = 3
RETRY_STATUSES = frozenset({502, 503, 504})
BACKOFF_BASE_S = 1.0
MAX_RETRY_AFTER_S = 300.0  # a Retry-After beyond five minutes is capped, not obeyed blindly
WORKFLOW = "/workflow/sharepack"

_MEDIA_TYPES = {
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class PackFile:
    """A share-pack file read into memory (packs are small; the server caps uploads at 5 MiB by default)."""

    name: str
    content: bytes
    media_type: str

    @classmethod
    def read(cls, path: Path) -> PackFile:
        """Read `path`; a missing, unreadable or non-regular file is a usage error (exit 2)."""
        if not path.exists():
            raise UsageError(f"file not found: {path}")
        if not path.is_file():
            raise UsageError(f"not a regular file: {path}")
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from exc
        media_type = _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return cls(name=path.name, content=content, media_type=media_type)


@dataclass(frozen=True)
class ApiResponse:
    """A response of the API: status, headers and the decoded JSON body (`None` when it is not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any
    text: str = field(repr=False)
    content: bytes = field(
        default=b"", repr=False
    )  # the raw body when it is not JSON (an exported workbook)

    @property
    def code(self) -> str | None:
        """The problem `code` of an error response, when the body is a problem document."""
        if isinstance(self.body, dict) and isinstance(self.body.get("code"), str):
            return str(self.body["code"])
        return None

    @property
    def json_object(self) -> dict[str, Any] | None:
        """The body when it is a JSON object."""
        return self.body if isinstance(self.body, dict) else None

    def retry_after_s(
        self, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> float | None:
        """`Retry-After` in seconds (delta-seconds or HTTP-date form), capped; `None` when absent or invalid."""
        return parse_retry_after(self.headers.get("retry-after"), now)


def parse_retry_after(value: str | None, now: Callable[[], datetime]) -> float | None:
    """Seconds to wait according to a `Retry-After` header value."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - now()).total_seconds(), 0.0), MAX_RETRY_AFTER_S)


def _describe_transport_error(exc: httpx.TransportError, url: str) -> str:
    reason = str(exc).strip() or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {url} in time ({type(exc).__name__})"
    return f"cannot reach {url}: {reason}"


class ApiClient:
    """Calls the DeltaShare API; every call returns an `ApiResponse` or raises `NetworkError`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        workspace_url: str | None,
        timeout_s: float,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        headers = {
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"deltashare-cli/{__version__}",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if workspace_url:
            headers["X-Workspace-URL"] = workspace_url
        self.base_url = base_url
        self._sleep = sleep
        self._on_retry = on_retry
        self._http = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=timeout_s,
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------- the workflow endpoints

    def plan(self, pack: PackFile, *, offline: bool) -> ApiResponse:
        """`POST /workflow/sharepack/plan` (read-only, so retried)."""
        params = {"offline": "true"} if offline else {"offline": "false"}
        return self._request("POST", f"{WORKFLOW}/plan", params=params, pack=pack, retry=True)

    def upload(self, pack: PackFile) -> ApiResponse:
        """`POST /workflow/sharepack/upload_and_validate` (never retried automatically)."""
        return self._request("POST", f"{WORKFLOW}/upload_and_validate", pack=pack, retry=False)

    def status(self, share_pack_id: str) -> ApiResponse:
        """`GET /workflow/sharepack/{id}`."""
        return self._request("GET", f"{WORKFLOW}/{quote(share_pack_id, safe='')}", retry=True)

    def history(self, share_pack_id: str) -> ApiResponse:
        """`GET /workflow/sharepack/{id}/history`."""
        return self._request(
            "GET", f"{WORKFLOW}/{quote(share_pack_id, safe='')}/history", retry=True
        )

    def decide(
        self, share_pack_id: str, version: int, decision: str, comment: str | None
    ) -> ApiResponse:
        """`POST /workflow/sharepack/{id}/versions/{version}/approval` (a decision: never retried)."""
        body: dict[str, Any] = {"decision": decision}
        if comment:
            body["comment"] = comment
        path = f"{WORKFLOW}/{quote(share_pack_id, safe='')}/versions/{version}/approval"
        return self._request("POST", path, retry=False, json_body=body)

    def export(self, body: Mapping[str, Any], *, accept: str) -> ApiResponse:
        """`POST /workflow/export` (read-only, so retried); `accept` picks the JSON envelope or the workbook."""
        return self._request(
            "POST", "/workflow/export", retry=True, json_body=body, headers={"Accept": accept}
        )

    def tokens(self, expiring_within: str) -> ApiResponse:
        """`GET /tokens?expiring_within=…` (read-only, so retried)."""
        return self._request(
            "GET", "/tokens", params={"expiring_within": expiring_within}, retry=True
        )

    def access(self, params: Mapping[str, str]) -> ApiResponse:
        """`GET /access` with `recipient`, `object`, `as_of` and `format` as given (read-only, so retried)."""
        return self._request("GET", "/access", params=params, retry=True)

    # ---------------------------------------------------------------------------- transport

    def _request(
        self,
        method: str,
        path: str,
        *,
        retry: bool,
        params: Mapping[str, str] | None = None,
        pack: PackFile | None = None,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        url = f"{safe_url(self.base_url)}{path}"
        attempt = 0
        while True:
            files = (
                {"file": (pack.name, pack.content, pack.media_type)} if pack is not None else None
            )
            try:
                response = self._http.request(
                    method, path, params=params, files=files, json=json_body, headers=headers
                )
            except httpx.TransportError as exc:
                if retry and attempt < MAX_RETRIES:
                    delay = BACKOFF_BASE_S * 2**attempt
                    self._notify(f"{_describe_transport_error(exc, url)}; retrying in {delay:g}s")
                    self._sleep(delay)
                    attempt += 1
                    continue
                raise NetworkError(_describe_transport_error(exc, url)) from exc
            api_response = _decode(response)
            if retry and response.status_code in RETRY_STATUSES and attempt < MAX_RETRIES:
                delay = api_response.retry_after_s()
                if delay is None:
                    delay = BACKOFF_BASE_S * 2**attempt
                what = api_response.code or response.reason_phrase
                self._notify(
                    f"{method} {path}: {response.status_code} {what}; retrying in {delay:g}s"
                )
                self._sleep(delay)
                attempt += 1
                continue
            return api_response

    def _notify(self, message: str) -> None:
        if self._on_retry is not None:
            self._on_retry(message)


def _decode(response: httpx.Response) -> ApiResponse:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    body: Any = None
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
    return ApiResponse(
        status=response.status_code,
        headers=response.headers,
        body=body,
        text=response.text[:500] if body is None else "",
        content=response.content if body is None else b"",
    )
