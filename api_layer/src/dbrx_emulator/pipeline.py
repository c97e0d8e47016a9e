"""The request pipeline of emulated API calls (docs/EMULATOR.md §2).

Order: call recording -> authentication -> latency -> fault rule (before) -> handler (under the store lock) ->
fault rule (after) -> JSON response. The pipeline is plain ASGI so it can close a connection without writing a
byte: it returns `CONNECTION_DROPPED` (a non-None value) without starting a response, and uvicorn then closes the
transport (both the h11 and httptools protocols); a bare `return` would make uvicorn answer 500 instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import Any
from urllib.parse import unquote

from dbrx_emulator.api import ApiCall, ApiResponse, Body, Json, Operation, Query, RouteTable
from dbrx_emulator.clock import rfc3339
from dbrx_emulator.errors import ApiError, not_implemented
from dbrx_emulator.faults import AFTER_KINDS, FaultRule
from dbrx_emulator.runtime import Runtime
from dbrx_emulator.stats import BODY_LOG_LIMIT

logger = logging.getLogger(__name__)

UNKNOWN_OPERATION = "unknown"
HOST_METADATA = "meta.host_metadata"

Scope = dict[str, Any]
Message = dict[str, Any]


class _ConnectionDropped:
    """Returned by the ASGI callable to make uvicorn close the connection without a response."""

    def __repr__(self) -> str:
        return "<dbrx-emulator: connection dropped on purpose>"


CONNECTION_DROPPED = _ConnectionDropped()


class _DroppedConnectionLogFilter(logging.Filter):
    """Hides uvicorn's error line for connections the emulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(arg is CONNECTION_DROPPED for arg in args)


def install_log_filter() -> None:
    """Install the filter on uvicorn's error logger once."""
    uvicorn_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DroppedConnectionLogFilter) for f in uvicorn_logger.filters):
        uvicorn_logger.addFilter(_DroppedConnectionLogFilter())


def _json_bytes(body: Json) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _token_id(token: str) -> str:
    """A short fingerprint of a bearer token: lets tests tell tokens apart without logging them."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _logged_body(raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw) > BODY_LOG_LIMIT:
        return raw[:BODY_LOG_LIMIT].decode("utf-8", "replace")
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def bearer_token(headers: dict[str, str]) -> str | None:
    """The token of an `Authorization: Bearer …` header (lower-cased header names), None without one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class _Outcome:
    """What will be sent for one call."""

    def __init__(
        self,
        status: int,
        body: Json,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.raw = raw

    def encode(self) -> tuple[list[tuple[bytes, bytes]], bytes]:
        payload = self.raw if self.raw is not None else _json_bytes(self.body)
        extra = {k.lower(): v for k, v in self.headers.items()}
        content_type = extra.pop("content-type", "application/json")
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        return headers, payload


class ApiPipeline:
    """ASGI callable for everything outside `/_emulator`."""

    def __init__(self, rt: Runtime, routes: RouteTable) -> None:
        self.rt = rt
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> object | None:
        rt = self.rt
        method = str(scope["method"]).upper()
        raw_path = scope.get("raw_path") or str(scope["path"]).encode()
        segments = [
            unquote(part) for part in raw_path.decode("latin-1").split("?")[0].split("/")[1:]
        ]
        path = "/" + "/".join(segments)
        matched = self.routes.match(method, segments)
        operation, params = matched if matched else (None, {})
        op_id = operation.id if operation else UNKNOWN_OPERATION
        raw_body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = Query(scope.get("query_string", b"").decode("latin-1"))
        bearer = bearer_token(headers)
        started = time.perf_counter()

        with rt.lock:
            entry = rt.calls.start(
                {
                    "at": rfc3339(rt.now_ms()),
                    "wall_ms": int(time.time() * 1000),
                    "operation": op_id,
                    "method": method,
                    "path": path,
                    "query": query.to_json(),
                    "body": _logged_body(raw_body),
                    "status": None,
                    "fault": None,
                    "applied": False,
                    "headers": {
                        "user_agent": headers.get("user-agent"),
                        "workspace_id": headers.get("x-databricks-workspace-id"),
                        "token_id": _token_id(bearer) if bearer else None,
                    },
                }
            )
            seq = entry["seq"]
            if op_id == HOST_METADATA:
                rt.stats.bump("host_metadata")
            sent_id = headers.get("x-databricks-workspace-id")
            if sent_id is not None and sent_id != rt.workspace.workspace_id:
                rt.stats.bump("workspace_id_mismatch")

        def finish(status: int | None, fault: str | None, applied: bool) -> None:
            with rt.lock:
                entry.update(status=status, fault=fault, applied=applied)
                entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
                display = operation.path if operation else path
                rt.stats.record(op_id, method, display, status, fault)

        denied = self._authenticate(operation, path, bearer)
        if denied is not None:
            finish(denied.status, None, False)
            await self._send(send, denied)
            return None

        with rt.lock:
            delay_ms = rt.latency.delay_ms(op_id)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)

        rule: FaultRule | None = None
        if operation is not None:
            with rt.lock:
                rule = rt.faults.choose(op_id, method, path, rt.now_ms())
        if rule is not None and rule.kind not in AFTER_KINDS:
            if rule.kind == "drop_before_apply":
                finish(None, rule.kind, False)
                return CONNECTION_DROPPED
            error = rule.error()
            outcome = _Outcome(error.status, error.body(rt.request_id(seq)), error.headers)
            finish(outcome.status, rule.kind, False)
            await self._send(send, outcome)
            return None

        if operation is None:
            error = not_implemented(method, path)
            outcome = _Outcome(error.status, error.body(rt.request_id(seq)))
        else:
            outcome = self._run(
                operation, params, method, path, query, raw_body, headers, scope, seq
            )

        fault = rule.kind if rule is not None else None
        if fault == "applied_response_lost":
            finish(None, fault, True)
            return CONNECTION_DROPPED
        if fault == "timeout" and rule is not None:
            await asyncio.sleep(rule.spec.delay_ms / 1000)
        if fault == "truncated_response":
            response_headers, payload = outcome.encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": outcome.status,
                    "headers": response_headers,
                }
            )
            await send(
                {
                    "type": "http.response.body",
                    "body": payload[: len(payload) // 2],
                    "more_body": True,
                }
            )
            finish(None, fault, True)
            return CONNECTION_DROPPED
        finish(outcome.status, fault, operation is not None)
        await self._send(send, outcome)
        return None

    def _authenticate(
        self, operation: Operation | None, path: str, bearer: str | None
    ) -> _Outcome | None:
        if operation is not None and operation.public:
            return None
        if operation is None and not path.startswith("/api/"):
            return None
        if bearer is None:
            return _Outcome(
                401,
                {
                    "error_code": "UNAUTHENTICATED",
                    "message": "Credential was not sent or was of an unsupported type for this API.",
                },
            )
        if bearer not in self.rt.config.tokens:
            return _Outcome(403, {"error_code": 403, "message": "Invalid access token."})
        return None

    def _run(
        self,
        operation: Operation,
        params: dict[str, str],
        method: str,
        path: str,
        query: Query,
        raw_body: bytes,
        headers: dict[str, str],
        scope: Scope,
        seq: int,
    ) -> _Outcome:
        rt = self.rt
        try:
            body = Body.parse(raw_body) if method != "GET" else Body({})
            with rt.lock:
                rt.catch_up_real_clock()
                call = ApiCall(
                    rt=rt,
                    operation=operation,
                    method=method,
                    path=path,
                    params=params,
                    query=query,
                    body=body,
                    headers=headers,
                    base_url=self._base_url(scope, headers),
                    now_ms=rt.now_ms(),
                    seq=seq,
                    client_ip=self._client_ip(scope, headers),
                )
                result = operation.handler(call)
        except ApiError as exc:
            return _Outcome(exc.status, exc.body(rt.request_id(seq)), exc.headers)
        except Exception as exc:
            logger.exception("handler of %s failed", operation.id)
            error = ApiError(
                500, "INTERNAL_ERROR", f"Emulator bug in {operation.id}: {type(exc).__name__}"
            )
            return _Outcome(500, error.body(rt.request_id(seq)))
        if isinstance(result, ApiResponse):
            return _Outcome(result.status, result.body, result.headers, result.raw)
        return _Outcome(200, result)

    def _client_ip(self, scope: Scope, headers: dict[str, str]) -> str:
        """The caller's address: the connection's, or the first address of the trusted header when one is set."""
        trusted = self.rt.behaviour.trusted_client_ip_header
        forwarded = headers.get(trusted.lower(), "") if trusted else ""
        if forwarded.strip():
            return forwarded.split(",")[0].strip()
        client = scope.get("client") or ("127.0.0.1", 0)
        return str(client[0])

    @staticmethod
    def _base_url(scope: Scope, headers: dict[str, str]) -> str:
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}"

    @staticmethod
    async def _send(send: Any, outcome: _Outcome) -> None:
        response_headers, payload = outcome.encode()
        await send(
            {"type": "http.response.start", "status": outcome.status, "headers": response_headers}
        )
        await send({"type": "http.response.body", "body": payload})
