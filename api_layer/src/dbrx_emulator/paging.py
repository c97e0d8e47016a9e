"""Opaque keyset page tokens and sorted indexes (docs/EMULATOR.md §6.1).

A token is base64url JSON holding the keyset position (the key of the last item returned), a digest of the
operation and its filters, and flags. Because a page starts *after a key* rather than at an offset, items created
or deleted between pages cause neither duplicates nor skips, and paging a sorted index costs O(log n + page).

Typical use in a list handler::

    pager = Pager("shares.list_shares", {})                 # filters that must stay the same across pages
    cursor = pager.cursor(call.query.get_str("page_token"))
    keys, token = pager.page(index.keys(), cursor, size, empty_pages=behaviour.empty_pages)
    body = {"shares": [render(index[k]) for k in keys]}
    if token:
        body["next_page_token"] = token                     # only when another page exists, never ""
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

from dbrx_emulator.errors import invalid

Key = Any  # str, int or tuple of those; must sort consistently with the index it pages


def _freeze(value: Any) -> Any:
    """JSON lists back to tuples, so a decoded position compares with tuple keys."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after `position` (None: at the beginning)."""

    position: Key | None = None
    empty_served: bool = False


class Pager:
    """Issues and checks page tokens for one operation and one set of filters."""

    def __init__(self, operation: str, filters: Mapping[str, object]) -> None:
        canonical = json.dumps([operation, sorted((k, filters[k]) for k in filters)], default=str)
        self.digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def cursor(self, token: str | None) -> Cursor:
        """Decode `token` (None or absent: first page); 400 when it is malformed or issued for other filters."""
        if token is None or token == "":
            return Cursor()
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            digest, position, flags = data["d"], data["p"], data["f"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise invalid(f"Invalid page token '{token}'.") from None
        if digest != self.digest:
            raise invalid(
                "The page token does not match the request: the filters must be the same as in the request "
                "that issued the token."
            )
        return Cursor(_freeze(position), bool(flags & 1))

    def token(self, position: Key | None, *, empty_served: bool = False) -> str:
        """Encode a token that starts the next page after `position`."""
        raw = json.dumps(
            {"d": self.digest, "p": position, "f": int(empty_served)}, separators=(",", ":")
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def page(
        self,
        keys: Sequence[Key],
        cursor: Cursor,
        size: int | None,
        *,
        empty_pages: bool = False,
        lo: int = 0,
        hi: int | None = None,
        accept: Callable[[Key], bool] | None = None,
    ) -> tuple[list[Key], str | None]:
        """One page of the sorted `keys[lo:hi]` after the cursor, and the next token (None on the last page).

        `size` None returns everything that is left. `accept` filters keys without breaking the keyset order
        (a page may then be shorter than `size`, never longer). `empty_pages` inserts one empty page (with a
        token) before the last page, as the `empty_pages` behaviour switch asks (trap 4).
        """
        end = len(keys) if hi is None else hi
        start = (
            lo if cursor.position is None else max(lo, bisect_right(keys, cursor.position, lo, end))
        )
        chosen: list[Key] = []
        index = start
        while index < end and (size is None or len(chosen) < size):
            key = keys[index]
            if accept is None or accept(key):
                chosen.append(key)
            index += 1
        more = index < end and any(accept is None or accept(keys[i]) for i in range(index, end))
        if not more and empty_pages and not cursor.empty_served:
            return [], self.token(cursor.position, empty_served=True)
        if not more:
            return chosen, None
        return chosen, self.token(
            chosen[-1] if chosen else cursor.position, empty_served=cursor.empty_served
        )


class SortedIndex[K: SupportsRichComparison, V]:
    """A dict that also keeps its keys sorted, for keyset paging without sorting on every request."""

    def __init__(self) -> None:
        self._items: dict[K, V] = {}
        self._keys: list[K] = []

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._keys)

    def get(self, key: K) -> V | None:
        """The value for `key`, or None."""
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        """Insert or replace."""
        if key not in self._items:
            insort(self._keys, key)
        self._items[key] = value

    def pop(self, key: K) -> V:
        """Remove `key` and return its value (KeyError when missing)."""
        value = self._items.pop(key)
        del self._keys[bisect_left(self._keys, key)]
        return value

    def keys(self) -> Sequence[K]:
        """The keys in sorted order (a live view: do not modify)."""
        return self._keys

    def values(self) -> list[V]:
        """The values in key order."""
        return [self._items[k] for k in self._keys]

    def prefix_range(self, prefix: str) -> tuple[int, int]:
        """Index bounds `(lo, hi)` of the string keys starting with `prefix`."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
        return (
            bisect_left(self._keys, prefix),
            bisect_left(self._keys, upper),
        )
