"""SCD2 mechanics (docs/WORKFLOW.md §5.2): canonical hashing, the serialised writer and point-in-time reads.

A write takes the transaction advisory lock of the key, reads the current row, and either does nothing (equal
hash) or closes the current row and inserts the next version, both stamped with one `clock_timestamp()` taken after
the lock, so that version *n*'s `effective_to` equals version *n+1*'s `effective_from`. The statements are sent
before their results are read, so that in pipeline mode a write costs one round trip when nothing changed and two
when it did; outside pipeline mode they run one after the other, as written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import DictRow

from dbrx_api.workflow.db import adapters, locks
from dbrx_api.workflow.db.values import affected_rows, insert_sql, jsonb, returned, scalar

# Columns managed by the writer; `is_deleted` is content and therefore not listed.
SCD2_COLUMNS = frozenset(
    {
        "record_id",
        "version",
        "effective_from",
        "effective_to",
        "is_current",
        "record_hash",
        "changed_by",
        "change_reason",
    }
)
BOOKKEEPING_COLUMNS = frozenset({"source_version", "source_run_id"})


# ------------------------------------------------------------------------------------------ canonical form


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def canonical_value(value: Any) -> Any:
    """The JSON-ready canonical form of `value` (docs/WORKFLOW.md §5.2).

    Mapping keys become strings and keys whose value is None are dropped; sets are sorted by their canonical JSON;
    datetimes become ISO 8601 UTC with milliseconds and `Z`; UUIDs, enums and decimals become their text.
    Ordinary lists keep their order: the caller sorts set-like lists (share objects, IPs, names) before hashing.
    """
    # Exact built-in types first: a record is mostly str, dict and list, hashed on every recorded step.
    exact = type(value)
    if exact in _PLAIN_TYPES:
        return value
    if exact is dict:
        return {str(k): canonical_value(v) for k, v in value.items() if v is not None}
    if exact is list or exact is tuple:
        return [canonical_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass timezone-aware values")
        if adapters.is_infinity(value):
            return "infinity"
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, Enum):
        return canonical_value(value.value)
    if isinstance(value, Mapping):
        return {str(k): canonical_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, set | frozenset):
        items = [canonical_value(v) for v in value]
        return sorted(items, key=_dumps)
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    raise TypeError(f"cannot put a {type(value).__name__} into canonical JSON")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """Canonical JSON text: sorted keys, compact separators, no None-valued keys (docs/WORKFLOW.md §5.2)."""
    return _dumps(canonical_value(value))


def record_hash(content: Any) -> str:
    """Hex SHA-256 of the canonical JSON of `content`."""
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def sorted_set(values: Sequence[Any] | None) -> list[Any]:
    """A set-like list in canonical order (duplicates removed), for jsonb columns that hold sets."""
    unique = {_dumps(canonical_value(v)): canonical_value(v) for v in values or []}
    return [unique[k] for k in sorted(unique)]


# ------------------------------------------------------------------------------------------ tables


@dataclass(frozen=True)
class Scd2Table:
    """Description of one SCD2 table: its name, business key and jsonb columns (each repository declares its own)."""

    name: str
    key_columns: tuple[str, ...]
    json_columns: frozenset[str] = field(default_factory=frozenset)

    @property
    def identifier(self) -> sql.Composed:
        """`deltashare.<name>` as a composable identifier."""
        return sql.SQL("{}.{}").format(sql.Identifier("deltashare"), sql.Identifier(self.name))

    def lock_kind(self) -> str:
        """Advisory lock kind of this table's writers (`scd2:<table>`)."""
        return f"scd2:{self.name}"

    def key_text(self, key: Mapping[str, Any]) -> str:
        """The lock key of a business key: its value, or the canonical JSON array of a composite key."""
        values = [key[c] for c in self.key_columns]
        if len(values) == 1:
            return str(canonical_value(values[0]))
        return canonical_json(values)

    def key_values(self, key: Mapping[str, Any]) -> list[Any]:
        """The values of the business key's columns, in order (ValueError for another set of columns)."""
        missing = [c for c in self.key_columns if c not in key]
        if missing or len(key) != len(self.key_columns):
            raise ValueError(
                f"{self.name}: the business key is {self.key_columns}, got {tuple(key)}"
            )
        return [key[c] for c in self.key_columns]

    def key_condition(self, key: Mapping[str, Any]) -> tuple[sql.Composed, list[Any]]:
        """`a = %s AND b = %s` for the business key, with its parameters."""
        values = self.key_values(key)
        condition = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in self.key_columns
        )
        return sql.Composed([condition]), values


# ------------------------------------------------------------------------------------------ writer


@dataclass(frozen=True)
class Scd2Result:
    """What a write did: `changed` is False for an equal-hash no-op (then `row` is the untouched current row)."""

    changed: bool
    row: dict[str, Any]
    at: datetime
    previous_record_id: int | None = None

    @property
    def record_id(self) -> int:
        """Surrogate id of the current row."""
        return int(self.row["record_id"])

    @property
    def version(self) -> int:
        """Version number of the current row."""
        return int(self.row["version"])

    @property
    def record_hash(self) -> str:
        """Hash of the current row's content."""
        return str(self.row["record_hash"])


def lock_key(conn: psycopg.Connection[Any], table: Scd2Table, key_text: str) -> None:
    """Serialise the writers of one key (`pg_advisory_xact_lock(lock_key('scd2:<table>', key))`)."""
    locks.xact_lock(conn, table.lock_kind(), key_text)


def clock(conn: psycopg.Connection[Any]) -> datetime:
    """`clock_timestamp()`: the single timestamp of a write, taken after the lock."""
    ts: datetime = scalar(conn, "SELECT clock_timestamp()")
    return ts


def _current_rows_cursor(
    conn: psycopg.Connection[DictRow], table: Scd2Table, keys: Sequence[Mapping[str, Any]]
) -> psycopg.Cursor[DictRow]:
    """`SELECT … FOR UPDATE` of the current rows of `keys`, sent; the caller fetches."""
    return conn.execute(
        _current_rows_sql(table, len(keys)),
        [value for key in keys for value in table.key_values(key)],
    )


@lru_cache(maxsize=256)
def _current_rows_sql(table: Scd2Table, count: int) -> bytes:
    """The text of `_current_rows_cursor` for `count` keys (composed once: a step writes one key at a time)."""
    one_key = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(table.key_columns)))
    return (
        sql.SQL("SELECT * FROM {} WHERE ({}) IN ({}) AND is_current FOR UPDATE")
        .format(
            table.identifier,
            sql.SQL(", ").join(map(sql.Identifier, table.key_columns)),
            sql.SQL(", ").join([one_key] * count),
        )
        .as_bytes(None)
    )


def current_row(
    conn: psycopg.Connection[DictRow],
    table: Scd2Table,
    key: Mapping[str, Any],
    *,
    for_update: bool = False,
) -> dict[str, Any] | None:
    """The current row of `key` (deleted or not), or None when the key was never written."""
    condition, params = table.key_condition(key)
    query = sql.SQL("SELECT * FROM {} WHERE {} AND is_current{}").format(
        table.identifier, condition, sql.SQL(" FOR UPDATE") if for_update else sql.SQL("")
    )
    return conn.execute(query, params).fetchone()


def _close_row(
    conn: psycopg.Connection[Any], table: Scd2Table, record_id: int, at: datetime
) -> psycopg.Cursor[Any]:
    """Send the closing of the current row `record_id` at `at` (the only UPDATE the SCD2 guard trigger allows);
    `_closed` checks it once its result is back."""
    return conn.execute(_close_sql(table), (at, record_id))


@lru_cache(maxsize=16)
def _close_sql(table: Scd2Table) -> bytes:
    return (
        sql.SQL(
            "UPDATE {} SET effective_to = %s, is_current = false WHERE record_id = %s AND is_current"
        )
        .format(table.identifier)
        .as_bytes(None)
    )


def _closed(
    conn: psycopg.Connection[Any], table: Scd2Table, record_id: int, cursor: psycopg.Cursor[Any]
) -> None:
    if affected_rows(conn, cursor) != 1:
        raise RuntimeError(f"{table.name}: record {record_id} is not current any more")


def insert_row(
    conn: psycopg.Connection[DictRow], table: Scd2Table, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Insert one version row (`values` holds every column but `record_id`) and return it."""
    params = {c: jsonb(v) if c in table.json_columns else v for c, v in values.items()}
    return returned(conn.execute(insert_sql(table.name, params, "*"), params).fetchone())


def scd2_write(
    conn: psycopg.Connection[DictRow],
    table: Scd2Table,
    key: Mapping[str, Any],
    content: Mapping[str, Any],
    *,
    changed_by: str,
    reason: str,
    bookkeeping: Mapping[str, Any] | None = None,
) -> Scd2Result:
    """Write a new version of `key` unless its content is unchanged (docs/WORKFLOW.md §5.2; `changed=False`). Never commits.

    `content` (with `is_deleted`, default False) is hashed together with the key; `bookkeeping`
    (`source_version`, `source_run_id`) is stored but not hashed.
    """
    (result,) = scd2_write_many(
        conn, table, [Scd2Write(key, content, changed_by, reason, bookkeeping)]
    )
    return result


@dataclass(frozen=True)
class Scd2Write:
    """One write of `scd2_write_many`: the arguments of `scd2_write`."""

    key: Mapping[str, Any]
    content: Mapping[str, Any]
    changed_by: str
    reason: str
    bookkeeping: Mapping[str, Any] | None = None


def scd2_write_many(
    conn: psycopg.Connection[DictRow], table: Scd2Table, writes: Sequence[Scd2Write]
) -> list[Scd2Result]:
    """`scd2_write` of every entry (results in the same order), their reads sent together. Never commits.

    Three statements for the lot, sent before any result is read: the locks of every key (in key order), their
    current rows (`FOR UPDATE`), and one `clock_timestamp()`. In pipeline mode that is one round trip, plus one per
    row that changed: recording 150 unchanged resources went from 450 statements to three. A key written twice is
    written in two rounds, in the given order.
    """
    results: list[Scd2Result | None] = [None] * len(writes)
    for batch in _rounds_by_key(table, writes):
        entries = sorted(
            (table.key_text(writes[index].key), index, _write_values(table, writes[index]))
            for index in batch
        )
        locks.xact_lock_all(conn, table.lock_kind(), [key_text for key_text, _, _ in entries])
        reads = _current_rows_cursor(conn, table, [writes[index].key for _, index, _ in entries])
        now = conn.execute("SELECT clock_timestamp()")
        current = {
            table.key_text({c: row[c] for c in table.key_columns}): row for row in reads.fetchall()
        }
        ts: datetime = returned(now.fetchone())["clock_timestamp"]
        for key_text, index, (values, digest) in entries:
            write = writes[index]
            results[index] = next_version(
                conn,
                table,
                current.get(key_text),
                values,
                digest=digest,
                changed_by=write.changed_by,
                reason=write.reason,
                at=ts,
            )
    return [returned(result) for result in results]


def _rounds_by_key(table: Scd2Table, writes: Sequence[Scd2Write]) -> list[list[int]]:
    """Indexes of `writes` in rounds: round *r* holds the *r*-th write of each key, so no key repeats in a round."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for index, write in enumerate(writes):
        key = table.key_text(write.key)
        round_number = seen.get(key, 0)
        seen[key] = round_number + 1
        if round_number == len(rounds):
            rounds.append([])
        rounds[round_number].append(index)
    return rounds


def _write_values(table: Scd2Table, write: Scd2Write) -> tuple[dict[str, Any], str]:
    """The row values (key, content, bookkeeping) of a write and the hash of its key and content."""
    overlap = (SCD2_COLUMNS | set(table.key_columns)) & set(write.content)
    if overlap:
        raise ValueError(f"{table.name}: content must not contain {sorted(overlap)}")
    unknown_bookkeeping = set(write.bookkeeping or {}) - BOOKKEEPING_COLUMNS
    if unknown_bookkeeping:
        raise ValueError(f"{table.name}: {sorted(unknown_bookkeeping)} are not bookkeeping columns")
    full_content = {**write.key, "is_deleted": False, **write.content}
    return {**full_content, **(write.bookkeeping or {})}, record_hash(full_content)


def next_version(
    conn: psycopg.Connection[DictRow],
    table: Scd2Table,
    current: Mapping[str, Any] | None,
    values: Mapping[str, Any],
    *,
    digest: str,
    changed_by: str,
    reason: str,
    at: datetime | None = None,
) -> Scd2Result:
    """Under the key's lock, with `current` read `FOR UPDATE`: nothing when its hash is `digest`, else close it
    and insert `values` (key, content and bookkeeping) as the next version, both at one `clock_timestamp()` (`at`
    when the caller took it after the lock)."""
    ts = at if at is not None else clock(conn)
    if current is not None and current["record_hash"] == digest:
        return Scd2Result(changed=False, row=dict(current), at=ts)
    previous_id: int | None = current["record_id"] if current is not None else None
    closing = _close_row(conn, table, previous_id, ts) if previous_id is not None else None
    row = insert_row(
        conn,
        table,
        {
            **values,
            "version": (current["version"] + 1) if current is not None else 1,
            "effective_from": ts,
            "is_current": True,
            "record_hash": digest,
            "changed_by": changed_by,
            "change_reason": reason,
        },
    )
    if previous_id is not None and closing is not None:
        _closed(conn, table, previous_id, closing)
    return Scd2Result(changed=True, row=row, at=ts, previous_record_id=previous_id)


def content_of(table: Scd2Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """The content columns of a stored row (without key, SCD2 and bookkeeping columns)."""
    excluded = SCD2_COLUMNS | BOOKKEEPING_COLUMNS | set(table.key_columns)
    return {k: v for k, v in row.items() if k not in excluded}


def soft_delete(
    conn: psycopg.Connection[DictRow],
    table: Scd2Table,
    key: Mapping[str, Any],
    *,
    changed_by: str,
    reason: str = "deleted",
    bookkeeping: Mapping[str, Any] | None = None,
) -> Scd2Result | None:
    """Write a version marking `key` deleted (content otherwise unchanged); None when nothing was recorded.

    Deleting an already deleted key is a no-op (`changed = False`).
    """
    lock_key(conn, table, table.key_text(key))
    current = current_row(conn, table, key, for_update=True)
    if current is None:
        return None
    content = {**content_of(table, current), "is_deleted": True}
    return scd2_write(
        conn, table, key, content, changed_by=changed_by, reason=reason, bookkeeping=bookkeeping
    )


# ------------------------------------------------------------------------------------------ reads


def history(
    conn: psycopg.Connection[DictRow], table: Scd2Table, key: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Every version of `key`, oldest first."""
    condition, params = table.key_condition(key)
    query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY version").format(
        table.identifier, condition
    )
    return conn.execute(query, params).fetchall()


def as_of(
    conn: psycopg.Connection[DictRow],
    table: Scd2Table,
    at: datetime,
    *,
    where: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The non-deleted rows valid at instant `at` (half-open ranges), filtered by equality on `where` columns.

    Example: `as_of(conn, SHARES, t, where={"workspace_url": url})` is "what was shared in that workspace at t".
    """
    filters: list[sql.Composable] = [
        sql.SQL("effective_from <= %s AND %s < effective_to AND NOT is_deleted")
    ]
    params: list[Any] = [at, at]
    for column, value in (where or {}).items():
        filters.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
        params.append(value)
    query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY {}").format(
        table.identifier,
        sql.SQL(" AND ").join(filters),
        sql.SQL(", ").join(sql.Identifier(c) for c in table.key_columns),
    )
    return conn.execute(query, params).fetchall()
