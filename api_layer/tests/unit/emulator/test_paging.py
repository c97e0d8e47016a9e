"""Unit tests of keyset paging: tokens, filters, stability, empty pages."""

from __future__ import annotations

import pytest

from dbrx_emulator.errors import ApiError
from dbrx_emulator.paging import Pager, SortedIndex


def _all_pages(
    pager: Pager, index: SortedIndex[str, int], size: int, *, empty_pages: bool = False
) -> list[list[str]]:
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        keys, token = pager.page(index.keys(), pager.cursor(token), size, empty_pages=empty_pages)
        pages.append(list(keys))
        if token is None:
            return pages


def _index(names: list[str]) -> SortedIndex[str, int]:
    index: SortedIndex[str, int] = SortedIndex()
    for i, name in enumerate(names):
        index.put(name, i)
    return index


def test_pages_split_and_last_page_has_no_token() -> None:
    index = _index([f"k{i:02d}" for i in range(5)])
    assert _all_pages(Pager("op", {}), index, 2) == [["k00", "k01"], ["k02", "k03"], ["k04"]]
    assert _all_pages(Pager("op", {}), index, 5) == [["k00", "k01", "k02", "k03", "k04"]]
    assert _all_pages(Pager("op", {}), _index([]), 5) == [[]]


def test_empty_page_is_inserted_once_before_the_last_page() -> None:
    index = _index(["a", "b", "c"])
    assert _all_pages(Pager("op", {}), index, 2, empty_pages=True) == [["a", "b"], [], ["c"]]
    assert _all_pages(Pager("op", {}), index, 5, empty_pages=True) == [[], ["a", "b", "c"]]


def test_tokens_are_bound_to_operation_and_filters() -> None:
    index = _index(["a", "b", "c"])
    _, token = Pager("op", {"f": 1}).page(index.keys(), Pager("op", {"f": 1}).cursor(None), 1)
    assert token
    for other in (Pager("op", {"f": 2}), Pager("other", {"f": 1})):
        with pytest.raises(ApiError, match="does not match"):
            other.cursor(token)
    with pytest.raises(ApiError, match="Invalid page token"):
        Pager("op", {}).cursor("%%%")


def test_keyset_positions_survive_inserts_and_deletes() -> None:
    index = _index(["b", "d", "f", "h"])
    pager = Pager("op", {})
    first, token = pager.page(index.keys(), pager.cursor(None), 2)
    index.put("a", 0)  # before the cursor: not seen
    index.put("e", 0)  # after the cursor: seen
    index.pop("f")
    rest, _ = pager.page(index.keys(), pager.cursor(token), 10)
    assert first + rest == ["b", "d", "e", "h"]


def test_accept_filter_and_bounds() -> None:
    index = _index(["a.1", "a.2", "b.1", "b.2", "b.3"])
    lo, hi = index.prefix_range("b.")
    pager = Pager("op", {})
    keys, token = pager.page(
        index.keys(), pager.cursor(None), 1, lo=lo, hi=hi, accept=lambda k: k != "b.2"
    )
    rest, end = pager.page(
        index.keys(), pager.cursor(token), 5, lo=lo, hi=hi, accept=lambda k: k != "b.2"
    )
    assert (keys, rest, end) == (["b.1"], ["b.3"], None)


def test_tuple_keys_round_trip_through_tokens() -> None:
    index: SortedIndex[tuple[int, int], str] = SortedIndex()
    for start, run in [(-30, -3), (-20, -2), (-10, -1)]:
        index.put((start, run), "x")
    pager = Pager("runs", {})
    first, token = pager.page(index.keys(), pager.cursor(None), 2)
    rest, _ = pager.page(index.keys(), pager.cursor(token), 2)
    assert first + rest == [(-30, -3), (-20, -2), (-10, -1)]
