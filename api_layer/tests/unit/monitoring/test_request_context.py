"""The request context: bind/reset, in-place updates visible across copied contexts (threadpools)."""

from __future__ import annotations

import contextvars
import threading

import pytest

from dbrx_api.monitoring.context import (
    RequestContext,
    bind_request_context,
    current_request_context,
    request_context,
    request_scope,
    reset_request_context,
    update_request_context,
)


def test_bind_and_reset() -> None:
    assert current_request_context() is None
    token = bind_request_context(request_id="r-1", method="GET", path="/shares")
    try:
        assert current_request_context() == RequestContext(
            request_id="r-1", method="GET", path="/shares"
        )
    finally:
        reset_request_context(token)
    assert current_request_context() is None


def test_update_in_a_copied_context_is_seen_by_the_binder() -> None:
    """What FastAPI does with a sync dependency: run it in a thread on a copy of the context."""
    with request_scope(request_id="r-2") as bound:
        copied = contextvars.copy_context()

        def dependency() -> None:
            update_request_context(principal_id="oid-1", principal_name="Jane", route="/x/{y}")

        worker = threading.Thread(target=copied.run, args=(dependency,))
        worker.start()
        worker.join()
        assert bound.principal_id == "oid-1"
        assert request_context.get() is bound
        assert bound.route == "/x/{y}"


def test_rebinding_in_a_copied_context_would_not_be_seen() -> None:
    """Why updates must be in place: a new binding in the copy stays in the copy."""
    with request_scope(request_id="r-3") as bound:
        copied = contextvars.copy_context()
        copied.run(bind_request_context, request_id="other")
        assert request_context.get() is bound


def test_update_without_a_bound_context_is_a_no_op() -> None:
    update_request_context(principal_id="p")
    assert current_request_context() is None


def test_update_rejects_unknown_fields() -> None:
    with request_scope(), pytest.raises(TypeError, match="principal"):
        update_request_context(principal="p")


def test_values_are_stored_as_text() -> None:
    with request_scope() as bound:
        update_request_context(run_id=42, share_pack_id=None)
        assert bound.run_id == "42"
        assert bound.share_pack_id is None
