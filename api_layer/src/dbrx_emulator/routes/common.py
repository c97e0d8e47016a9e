"""Helpers shared by route modules: UC list pages and the page sizes of the UC and permission lists."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dbrx_emulator.api import ApiCall, Json
from dbrx_emulator.errors import invalid
from dbrx_emulator.paging import Key, Pager, SortedIndex

UC_MAX_PAGE = 1000


def _max_results(call: ApiCall) -> int | None:
    value = call.query.get_int("max_results")
    if value is not None and value < 0:
        raise invalid(f"Invalid value {value} for max_results: it must not be negative.")
    return value


def uc_page_size(call: ApiCall) -> int | None:
    """UC lists: `max_results` absent = everything in one page (None), as the API reference says ("if not set, all
    are returned"); 0 = server page size; > 0 = min(value, 1000); < 0 = 400. The SDK sends 0 when unset."""
    value = _max_results(call)
    if value is None:
        return None
    if value == 0:
        return call.rt.behaviour.page_sizes.uc
    return min(value, UC_MAX_PAGE)


def permissions_page_size(call: ApiCall) -> int | None:
    """Permission lists: everything unless `max_results` > 0 or `page_sizes.permissions` is set."""
    value = _max_results(call)
    if not value:
        return call.rt.behaviour.page_sizes.permissions
    return min(value, UC_MAX_PAGE)


def uc_list_page[V](
    call: ApiCall,
    field: str,
    index: SortedIndex[Any, V],
    render: Callable[[V], Json],
    *,
    filters: Mapping[str, object] | None = None,
    bounds: tuple[int, int] | None = None,
    accept: Callable[[Key], bool] | None = None,
) -> Json:
    """One page of a UC list (`{field: [...], next_page_token?}`), by name, with the UC size rules and
    `behaviour.empty_pages`; `filters` bind the page token, `bounds` restrict the index range."""
    pager = Pager(call.operation.id, filters or {})
    lo, hi = bounds if bounds is not None else (0, None)
    keys, token = pager.page(
        index.keys(),
        pager.cursor(call.query.get_str("page_token")),
        uc_page_size(call),
        empty_pages=call.rt.behaviour.empty_pages,
        lo=lo,
        hi=hi,
        accept=accept,
    )
    body: Json = {field: [render(index[key]) for key in keys]}
    if token:
        body["next_page_token"] = token
    return body
