"""Helpers shared by route modules: page sizes of the UC and permission lists."""

from __future__ import annotations

from dbrx_emulator.api import ApiCall
from dbrx_emulator.errors import invalid

UC_MAX_PAGE = 1000


def _max_results(call: ApiCall) -> int | None:
    value = call.query.get_int("max_results")
    if value is not None and value < 0:
        raise invalid(f"Invalid value {value} for max_results: it must not be negative.")
    return value


def uc_page_size(call: ApiCall) -> int:
    """UC lists: `max_results` 0 or absent = server page size; > 0 = min(value, 1000); < 0 = 400."""
    value = _max_results(call)
    if not value:
        return call.rt.behaviour.page_sizes.uc
    return min(value, UC_MAX_PAGE)


def permissions_page_size(call: ApiCall) -> int | None:
    """Permission lists: everything unless `max_results` > 0 or `page_sizes.permissions` is set."""
    value = _max_results(call)
    if not value:
        return call.rt.behaviour.page_sizes.permissions
    return min(value, UC_MAX_PAGE)
