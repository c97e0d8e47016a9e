"""Route registration and the request object of emulated API operations.

Every emulated operation is a plain synchronous function registered on an `ApiRouter` with its operation id (the
SDK method name, used by stats, the call log, fault rules and latency settings)::

    router = ApiRouter(prefixes=UC_PREFIXES)      # registered under both UC prefixes

    @router.get("/shares/{name}", "shares.get")
    def get_share(call: ApiCall) -> Json:
        share = call.rt.store.area(SharingState).shares.get(call.params["name"].lower())
        ...
        return {...}                               # 200 JSON; raise ApiError for an error answer

The request pipeline (`pipeline.py`) records the call, authenticates, sleeps, applies fault rules and runs the
handler with the store lock held. Path parameters arrive URL-decoded; a `/` inside a name never matches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from dbrx_emulator.errors import ApiError, invalid

if TYPE_CHECKING:
    from dbrx_emulator.runtime import Runtime

Json = dict[str, Any]
UC_PREFIXES = ("/api/2.1/unity-catalog", "/api/2.0/unity-catalog")


@dataclass
class ApiResponse:
    """A handler answer with a status other than 200, extra headers, or a non-JSON body (`raw`)."""

    body: Json
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Sent instead of `body` (e.g. an HTML page), typed by headers["content-type"].
    raw: bytes | None = None


Handler = Callable[["ApiCall"], "Json | ApiResponse"]


@dataclass(frozen=True)
class Operation:
    """One emulated operation."""

    id: str
    method: str
    path: str  # display template, e.g. /api/2.1/unity-catalog/shares/{name}
    handler: Handler
    public: bool = False  # True: no Authorization header needed


@dataclass(frozen=True)
class _Route:
    operation: Operation
    segments: tuple[str | None, ...]  # literal segment, or None for a parameter
    params: tuple[str, ...]


class ApiRouter:
    """Collects operations of one route module."""

    def __init__(self, prefixes: Sequence[str] = ("",)) -> None:
        self.prefixes = tuple(prefixes)
        self.routes: list[
            tuple[str, str, Operation]
        ] = []  # (method, full path template, operation)

    def route(
        self, method: str, path: str, operation_id: str, *, public: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register `handler` as `operation_id` for `method` and `path` under every prefix."""

        def register(handler: Handler) -> Handler:
            operation = Operation(
                operation_id, method.upper(), self.prefixes[0] + path, handler, public
            )
            for prefix in self.prefixes:
                self.routes.append((method.upper(), prefix + path, operation))
            return handler

        return register

    def get(
        self, path: str, operation_id: str, *, public: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register a GET operation."""
        return self.route("GET", path, operation_id, public=public)

    def post(self, path: str, operation_id: str) -> Callable[[Handler], Handler]:
        """Register a POST operation."""
        return self.route("POST", path, operation_id)

    def patch(self, path: str, operation_id: str) -> Callable[[Handler], Handler]:
        """Register a PATCH operation."""
        return self.route("PATCH", path, operation_id)

    def put(self, path: str, operation_id: str) -> Callable[[Handler], Handler]:
        """Register a PUT operation."""
        return self.route("PUT", path, operation_id)

    def delete(self, path: str, operation_id: str) -> Callable[[Handler], Handler]:
        """Register a DELETE operation."""
        return self.route("DELETE", path, operation_id)


class RouteTable:
    """Matches (method, decoded path segments) to an operation."""

    def __init__(self, routers: Iterable[ApiRouter]) -> None:
        self._by_length: dict[int, list[_Route]] = {}
        self.operations: dict[str, Operation] = {}
        for router in routers:
            for method, template, operation in router.routes:
                parts = template.strip("/").split("/")
                segments = tuple(None if p.startswith("{") else p for p in parts)
                params = tuple(p[1:-1] for p in parts if p.startswith("{"))
                route = _Route(operation, segments, params)
                self._by_length.setdefault(len(segments), []).append(route)
                known = self.operations.get(operation.id)
                if known is not None and known.method != method:
                    raise ValueError(f"operation {operation.id} registered with two methods")
                self.operations.setdefault(operation.id, operation)
        for routes in self._by_length.values():
            # Literal segments win over parameters (e.g. /x/{id}/updates over /x/{id}/{other}).
            routes.sort(key=lambda r: sum(s is None for s in r.segments))

    def match(
        self, method: str, segments: Sequence[str]
    ) -> tuple[Operation, dict[str, str]] | None:
        """The operation and its path parameters, or None (unknown route or method)."""
        for route in self._by_length.get(len(segments), ()):
            if route.operation.method != method:
                continue
            values = []
            for expected, actual in zip(route.segments, segments, strict=True):
                if expected is None:
                    if actual == "":
                        break
                    values.append(actual)
                elif expected != actual:
                    break
            else:
                return route.operation, dict(zip(route.params, values, strict=True))
        return None


class Query:
    """Query parameters (repeated keys kept) with typed, validating getters."""

    def __init__(self, query_string: str) -> None:
        self.pairs = parse_qsl(query_string, keep_blank_values=True)

    def get_list(self, name: str) -> list[str]:
        """Every value of `name` (repeated keys)."""
        return [v for k, v in self.pairs if k == name]

    def get_str(self, name: str) -> str | None:
        """The last value of `name`, or None."""
        values = self.get_list(name)
        return values[-1] if values else None

    def get_int(self, name: str) -> int | None:
        """An integer parameter (400 when not an integer)."""
        value = self.get_str(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise invalid(
                f"Invalid value '{value}' for parameter {name}: expected an integer."
            ) from None

    def get_bool(self, name: str) -> bool | None:
        """A boolean parameter sent as true/false (400 otherwise)."""
        value = self.get_str(name)
        if value is None or value == "":
            return None
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise invalid(f"Invalid value '{value}' for parameter {name}: expected true or false.")
        return lowered == "true"

    def to_json(self) -> dict[str, str | list[str]]:
        """For the call log: single values as strings, repeated keys as lists."""
        out: dict[str, str | list[str]] = {}
        for key, value in self.pairs:
            current = out.get(key)
            if current is None:
                out[key] = value
            elif isinstance(current, list):
                current.append(value)
            else:
                out[key] = [current, value]
        return out


_MISSING = object()


class Body:
    """A JSON request body (an object) with typed, validating getters."""

    def __init__(self, data: Json, where: str = "") -> None:
        self.data = data
        self.where = where

    @staticmethod
    def parse(raw: bytes) -> Body:
        """Parse a request body; an empty body is `{}`; anything but a JSON object is a 400."""
        if not raw.strip():
            return Body({})
        try:
            data = json.loads(raw)
        except ValueError:
            raise ApiError(
                400, "MALFORMED_REQUEST", "Could not parse the request body as JSON."
            ) from None
        if not isinstance(data, dict):
            raise ApiError(400, "MALFORMED_REQUEST", "The request body must be a JSON object.")
        return Body(data)

    def field_name(self, name: str) -> str:
        """`name` qualified with the body's position (for messages)."""
        return f"{self.where}.{name}" if self.where else name

    def has(self, name: str) -> bool:
        """Whether `name` is present (even as null)."""
        return name in self.data

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise invalid(f"Missing required field: {self.field_name(name)}")
            return None
        return value

    def _wrong(self, name: str, value: Any, expected: str) -> ApiError:
        return invalid(f"Invalid value '{value}' for {self.field_name(name)}: expected {expected}.")

    def str_(self, name: str, *, required: bool = False) -> str | None:
        """A string field."""
        value = self._get(name, required)
        if value is not None and not isinstance(value, str):
            raise self._wrong(name, value, "a string")
        return value

    def require_str(self, name: str) -> str:
        """A required string field."""
        value = self.str_(name, required=True)
        assert value is not None  # noqa: S101 - required=True raised otherwise
        return value

    def bool_(self, name: str) -> bool | None:
        """A boolean field."""
        value = self._get(name, False)
        if value is not None and not isinstance(value, bool):
            raise self._wrong(name, value, "a boolean")
        return value

    def int_(self, name: str, *, required: bool = False) -> int | None:
        """An integer field (JSON number or numeric string, as int64 fields are)."""
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool):
            raise self._wrong(name, value, "an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise self._wrong(name, value, "an integer")

    def obj(self, name: str) -> Body | None:
        """A nested object field as a Body."""
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._wrong(name, value, "an object")
        return Body(value, self.field_name(name))

    def list_(self, name: str) -> list[Any] | None:
        """A list field."""
        value = self._get(name, False)
        if value is not None and not isinstance(value, list):
            raise self._wrong(name, value, "a list")
        return value

    def str_list(self, name: str) -> list[str] | None:
        """A list of strings."""
        values = self.list_(name)
        if values is not None and not all(isinstance(v, str) for v in values):
            raise self._wrong(name, values, "a list of strings")
        return values

    def str_map(self, name: str) -> dict[str, str] | None:
        """An object of string values."""
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._wrong(name, value, "an object of strings")
        return value

    def objects(self, name: str) -> list[Body]:
        """A list of objects, each as a Body (missing: empty list)."""
        values = self.list_(name) or []
        out = []
        for index, value in enumerate(values):
            if not isinstance(value, dict):
                raise self._wrong(f"{name}[{index}]", value, "an object")
            out.append(Body(value, f"{self.field_name(name)}[{index}]"))
        return out


@dataclass
class ApiCall:
    """Everything a handler gets about one API call."""

    rt: Runtime
    operation: Operation
    method: str
    path: str
    params: dict[str, str]
    query: Query
    body: Body
    headers: dict[str, str]
    base_url: str
    now_ms: int
    seq: int
    client_ip: str = (
        "127.0.0.1"  # the caller's address (behaviour.trusted_client_ip_header may set it)
    )

    @property
    def principal(self) -> str:
        """The caller (the seeded principal)."""
        return self.rt.principal
