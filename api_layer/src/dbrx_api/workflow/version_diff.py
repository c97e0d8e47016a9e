"""Differences between two stored versions of a share pack (docs/API.md §12.3.4): the canonical documents, and
the plans the versions waited with when both have one. Pure functions over stored JSON; no I/O.

Lists of named entries (shares, recipients, objects, pipelines ...) are compared by name, lists of plain values
as sets, so that a reordered file shows no difference and an added share shows as one `added` entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The key that names an entry of a list, in the order they are tried (canonical model, docs/SHAREPACK.md).
_NAME_KEYS = ("name", "asset", "recipient", "share", "id")


def _entry_name(item: Any) -> str | None:
    if not isinstance(item, Mapping):
        return None
    for key in _NAME_KEYS:
        value = item.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """`{name: entry}` when every entry is named and names are unique; None otherwise."""
    keyed: dict[str, Any] = {}
    for item in items:
        name = _entry_name(item)
        if name is None or name in keyed:
            return None
        keyed[name] = item
    return keyed


def _walk(path: str, old: Any, new: Any, out: list[dict[str, Any]]) -> None:
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append({"path": child, "change": "added", "from": None, "to": new[key]})
            elif key not in new:
                out.append({"path": child, "change": "removed", "from": old[key], "to": None})
            else:
                _walk(child, old[key], new[key], out)
        return
    if isinstance(old, list) and isinstance(new, list):
        old_keyed, new_keyed = _keyed(old), _keyed(new)
        if old_keyed is not None and new_keyed is not None:
            _walk_named(path, old_keyed, new_keyed, out)
            return
        if all(not isinstance(v, Mapping | list) for v in [*old, *new]):
            for value in sorted({str(v) for v in new} - {str(v) for v in old}):
                out.append({"path": path, "change": "added", "from": None, "to": value})
            for value in sorted({str(v) for v in old} - {str(v) for v in new}):
                out.append({"path": path, "change": "removed", "from": value, "to": None})
            return
    out.append({"path": path, "change": "changed", "from": old, "to": new})


def _walk_named(
    path: str, old: dict[str, Any], new: dict[str, Any], out: list[dict[str, Any]]
) -> None:
    for name in sorted(set(old) | set(new)):
        child = f"{path}[{name}]"
        if name not in old:
            out.append({"path": child, "change": "added", "from": None, "to": new[name]})
        elif name not in new:
            out.append({"path": child, "change": "removed", "from": old[name], "to": None})
        else:
            _walk(child, old[name], new[name], out)


def document_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`{"changes": [{path, change, from, to}], "count"}` from the `old` to the `new` canonical document.

    `change` is `added`, `removed` or `changed`; a path names mapping keys with dots and list entries by their
    name in brackets (`shares[sales_share].objects[main.sales.orders].history`).
    """
    changes: list[dict[str, Any]] = []
    _walk("", dict(old), dict(new), changes)
    return {"changes": changes, "count": len(changes)}


def _plan_key(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('action')} {entry.get('resource_type')} {entry.get('name')}"


def plan_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """How the plan of the newer version differs from the older one's (both `approval_plan` objects).

    Entries are keyed by `<action> <resource_type> <name>`: `added` (only the newer plan does it), `removed`
    (only the older did), `changed` (both, differently); plus the destructive changes each side has alone.
    """
    old_entries = {_plan_key(e): e for e in old.get("changes") or () if isinstance(e, Mapping)}
    new_entries = {_plan_key(e): e for e in new.get("changes") or () if isinstance(e, Mapping)}
    entries: list[dict[str, Any]] = []
    for key in sorted(set(old_entries) | set(new_entries)):
        before, after = old_entries.get(key), new_entries.get(key)
        if before == after:
            continue
        change = "added" if before is None else "removed" if after is None else "changed"
        entries.append({"key": key, "change": change, "from": before, "to": after})
    old_destructive = set(old.get("destructive_changes") or ())
    new_destructive = set(new.get("destructive_changes") or ())
    return {
        "from_digest": old.get("digest"),
        "to_digest": new.get("digest"),
        "changes": entries,
        "destructive_added": sorted(new_destructive - old_destructive),
        "destructive_removed": sorted(old_destructive - new_destructive),
    }
