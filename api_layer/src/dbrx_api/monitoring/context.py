"""The request (or job) context every log record carries: request id, principal, route (docs/API.md §1.4).

The request middleware binds a fresh `RequestContext` in the `request_context` variable and resets it at the end;
code that learns more later (the principal after authentication, the route template after routing) updates the
bound object **in place** with `update_request_context`. In-place updates matter: FastAPI runs sync dependencies
in worker threads on a *copy* of the context, so re-binding the variable there would be invisible to the
middleware and to other threads, whereas all copies share the one mutable object.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, fields
from typing import Any

CONTEXT_FIELDS = (
    "request_id",
    "principal_id",
    "principal_name",
    "method",
    "route",
    "path",
    "share_pack_id",
    "run_id",
)


@dataclass(slots=True)
class RequestContext:
    """What is known about the current request or background job; all fields optional."""

    request_id: str | None = None
    principal_id: str | None = None
    principal_name: str | None = None
    method: str | None = None
    route: str | None = None  # the route template (`/shares/{name}`), low cardinality
    path: str | None = None  # the concrete path
    share_pack_id: str | None = None
    run_id: str | None = None


request_context: ContextVar[RequestContext | None] = ContextVar(
    "deltashare_request_context", default=None
)
"""The bound context (None outside requests and jobs)."""

_FIELD_NAMES = frozenset(f.name for f in fields(RequestContext))


def bind_request_context(**values: str | None) -> Token[RequestContext | None]:
    """Bind a new `RequestContext` built from `values`; pass the token to `reset_request_context`."""
    return request_context.set(RequestContext(**values))


def reset_request_context(token: Token[RequestContext | None]) -> None:
    """Restore the context that was bound before `bind_request_context`."""
    request_context.reset(token)


@contextmanager
def request_scope(**values: str | None) -> Iterator[RequestContext]:
    """Bind a context for the duration of a block (worker jobs, tests)."""
    token = bind_request_context(**values)
    try:
        yield request_context.get() or RequestContext()
    finally:
        reset_request_context(token)


def current_request_context() -> RequestContext | None:
    """The bound context, if any."""
    return request_context.get()


def update_request_context(**values: Any) -> None:
    """Set fields of the bound context in place (no-op when nothing is bound).

    Raises:
        TypeError: for a field name `RequestContext` does not have.
    """
    unknown = set(values) - _FIELD_NAMES
    if unknown:
        raise TypeError(f"unknown request context fields: {sorted(unknown)}")
    context = request_context.get()
    if context is None:
        return
    for name, value in values.items():
        setattr(context, name, None if value is None else str(value))
