"""Migration runner (docs/WORKFLOW.md §5.5) and its CLI: `python -m dbrx_api.workflow.db.migrate apply|status`.

Versioned files `migrations/V<nnnn>__<name>.sql` are applied in order under a session advisory lock (retried until
a deadline so that instances starting together wait for one another), each in its own transaction together with
its `schema_migrations` row. A file whose first line is `-- migrate: no-transaction` runs statement by statement
outside a transaction (for `CREATE INDEX CONCURRENTLY`) and must be idempotent. Applied files are never edited: a
checksum mismatch stops start-up. Versions applied by newer code (no file here) are accepted with a warning.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import logging
import os
import re
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import tuple_row

logger = logging.getLogger(__name__)

# The schema version this code expects (the highest migration file); reported by /workflow/health.
EXPECTED_SCHEMA_VERSION = 7

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
NO_TRANSACTION_MARKER = "-- migrate: no-transaction"
DEFAULT_LOCK_TIMEOUT_S = 120.0
_FILE_NAME = re.compile(r"^V(\d{4,})__([A-Za-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """A migration problem that must stop start-up; `code` is stable (`migration_checksum_mismatch`, …)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    path: Path
    checksum: str
    sql_text: str

    @property
    def transactional(self) -> bool:
        """False when the file opts out of the transaction (first line `-- migrate: no-transaction`)."""
        first_line = self.sql_text.lstrip("\ufeff").split("\n", 1)[0].strip()
        return first_line.lower() != NO_TRANSACTION_MARKER


@dataclass(frozen=True)
class MigrationStatus:
    """Applied, pending, mismatching and unknown (applied by newer code) versions."""

    applied: list[int]
    pending: list[int]
    mismatched: list[int]
    unknown: list[int]

    @property
    def ok(self) -> bool:
        """Nothing pending and no checksum mismatch."""
        return not self.pending and not self.mismatched


@dataclass(frozen=True)
class MigrationReport:
    """What `apply_migrations` did."""

    applied_now: list[int] = field(default_factory=list)
    already_applied: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of `directory` in version order; malformed names or duplicate versions raise."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files are named V<nnnn>__<name>.sql",
                code="migration_invalid",
            )
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(
                f"{path.name}: version {version} is also {migrations[version].path.name}",
                code="migration_invalid",
            )
        data = path.read_bytes()
        migrations[version] = Migration(
            version=version,
            name=match.group(2),
            path=path,
            checksum=hashlib.sha256(data).hexdigest(),
            sql_text=data.decode("utf-8"),
        )
    return [migrations[v] for v in sorted(migrations)]


def split_statements(sql_text: str) -> list[str]:
    """Split a script into statements at top-level `;` (quotes, dollar quotes and comments respected)."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql_text)
    while i < n:
        ch = sql_text[i]
        if sql_text.startswith("--", i):
            end = sql_text.find("\n", i)
            end = n if end == -1 else end
            current.append(sql_text[i:end])
            i = end
        elif sql_text.startswith("/*", i):
            end = sql_text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            current.append(sql_text[i:end])
            i = end
        elif ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql_text[end] == ch:
                    if end + 1 < n and sql_text[end + 1] == ch:  # doubled quote inside the literal
                        end += 2
                        continue
                    break
                end += 1
            current.append(sql_text[i : end + 1])
            i = end + 1
        elif ch == "$" and (tag := re.match(r"\$[A-Za-z_0-9]*\$", sql_text[i:])):
            marker = tag.group(0)
            end = sql_text.find(marker, i + len(marker))
            end = n if end == -1 else end + len(marker)
            current.append(sql_text[i:end])
            i = end
        elif ch == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", "", statement, flags=re.DOTALL)
    return bool(without_comments.strip())


def default_applied_by() -> str:
    """`host:pid` (and the user) of the migrating process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{socket.gethostname()}:{os.getpid()}:{user}"


def _acquire_lock(conn: psycopg.Connection[Any], deadline: float, poll_s: float) -> None:
    # The key equals deltashare.lock_key('migrations', '-'); written out because the function may not exist yet.
    while True:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(hashtextextended('deltashare:migrations:-', 0))"
        ).fetchone()
        if row is not None and row[0]:
            return
        if time.monotonic() >= deadline:
            raise MigrationError(
                "another instance kept the migration lock past the deadline",
                code="migration_lock_timeout",
            )
        time.sleep(poll_s)


def _release_lock(conn: psycopg.Connection[Any]) -> None:
    if not conn.closed:
        conn.execute("SELECT pg_advisory_unlock(hashtextextended('deltashare:migrations:-', 0))")


def _applied(conn: psycopg.Connection[Any]) -> dict[int, str]:
    # Tuple rows whatever the connection's row factory (pool connections return dicts).
    cursor = conn.cursor(row_factory=tuple_row)
    row = cursor.execute(
        "SELECT to_regclass('deltashare.schema_migrations') IS NOT NULL"
    ).fetchone()
    if row is None or not row[0]:
        return {}
    rows = cursor.execute("SELECT version, checksum FROM deltashare.schema_migrations").fetchall()
    return {int(version): str(checksum) for version, checksum in rows}


def _compare(files: Sequence[Migration], applied: dict[int, str]) -> MigrationStatus:
    by_version = {m.version: m for m in files}
    return MigrationStatus(
        applied=sorted(applied),
        pending=[m.version for m in files if m.version not in applied],
        mismatched=sorted(
            v for v, c in applied.items() if v in by_version and by_version[v].checksum != c
        ),
        unknown=sorted(v for v in applied if v not in by_version),
    )


def migration_status(conninfo: str, *, directory: Path = MIGRATIONS_DIR) -> MigrationStatus:
    """Compare the database with the migration files (read-only)."""
    files = discover(directory)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return _compare(files, _applied(conn))


def schema_version(conn: psycopg.Connection[Any]) -> int | None:
    """Highest applied migration version, or None before the first migration (health check)."""
    applied = _applied(conn)
    return max(applied) if applied else None


def apply_migrations(
    conninfo: str,
    *,
    directory: Path = MIGRATIONS_DIR,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    applied_by: str | None = None,
    poll_s: float = 0.25,
) -> MigrationReport:
    """Apply the pending migrations (docs/WORKFLOW.md §5.5); safe to call from several instances at once.

    Raises:
        MigrationError: `migration_checksum_mismatch` (an applied file changed), `migration_lock_timeout`,
            `migration_invalid` (bad file names). A failing migration's SQL error propagates after its
            transaction rolled back.
    """
    files = discover(directory)
    who = applied_by or default_applied_by()
    with psycopg.connect(conninfo, autocommit=True, application_name="deltashare-migrate") as conn:
        _acquire_lock(conn, time.monotonic() + lock_timeout_s, poll_s)
        try:
            conn.execute("CREATE SCHEMA IF NOT EXISTS deltashare")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS deltashare.schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT clock_timestamp(), applied_by text NOT NULL)"
            )
            status = _compare(files, _applied(conn))
            if status.mismatched:
                raise MigrationError(
                    f"applied migrations {status.mismatched} differ from their files; applied files must never "
                    "be edited (add a new migration instead)",
                    code="migration_checksum_mismatch",
                )
            if status.unknown:
                logger.warning(
                    "the database has migrations this code does not know (newer release?)",
                    extra={"unknown_versions": status.unknown},
                )
            applied_now = []
            for migration in files:
                if migration.version in status.applied:
                    continue
                _apply_one(conn, migration, who)
                applied_now.append(migration.version)
                logger.info(
                    "migration applied",
                    extra={"version": migration.version, "migration": migration.name},
                )
            return MigrationReport(
                applied_now=applied_now,
                already_applied=[v for v in status.applied if v not in status.unknown],
                unknown=status.unknown,
            )
        finally:
            _release_lock(conn)


def _apply_one(conn: psycopg.Connection[Any], migration: Migration, applied_by: str) -> None:
    record = "INSERT INTO deltashare.schema_migrations (version, name, checksum, applied_by) VALUES (%s, %s, %s, %s)"
    params = (migration.version, migration.name, migration.checksum, applied_by)
    if migration.transactional:
        with conn.transaction():
            conn.execute(migration.sql_text.encode("utf-8"))
            conn.execute(record, params)
        return
    for statement in split_statements(migration.sql_text):
        conn.execute(statement.encode("utf-8"))
    conn.execute(record, params)


# ------------------------------------------------------------------------------------------ CLI


def _database_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    for variable in ("DBRX_API_WORKFLOW__DATABASE_URL", "DATABASE_URL"):
        value = os.environ.get(variable)
        if value:
            return value
    from dbrx_api.settings import get_settings
    from dbrx_api.workflow.db.connection import resolve_database_url

    return resolve_database_url(get_settings().workflow)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (status: 1 when anything is pending or mismatching)."""
    parser = argparse.ArgumentParser(
        prog="python -m dbrx_api.workflow.db.migrate", description="Workflow database migrations."
    )
    parser.add_argument("command", choices=("apply", "status"))
    parser.add_argument("--database-url", help="DSN (default: settings / DATABASE_URL)")
    parser.add_argument(
        "--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT_S, metavar="SECONDS"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from dbrx_api.settings import SettingsError

    try:
        conninfo = _database_url(args.database_url)
    except SettingsError as exc:
        sys.stderr.write(f"error: no database URL (--database-url, DATABASE_URL) and {exc}\n")
        return 2
    out = sys.stdout
    try:
        if args.command == "apply":
            report = apply_migrations(conninfo, lock_timeout_s=args.lock_timeout, applied_by=None)
            out.write(f"applied: {report.applied_now or 'nothing'}\n")
            if report.unknown:
                out.write(f"warning: database has newer migrations {report.unknown}\n")
            return 0
        status = migration_status(conninfo)
    except MigrationError as exc:
        sys.stderr.write(f"error ({exc.code}): {exc}\n")
        return 1
    out.write(f"applied:    {status.applied}\n")
    out.write(f"pending:    {status.pending}\n")
    out.write(f"mismatched: {status.mismatched}\n")
    if status.unknown:
        out.write(f"unknown (newer code): {status.unknown}\n")
    out.write(f"expected schema version: {EXPECTED_SCHEMA_VERSION}\n")
    return 0 if status.ok else 1


if __name__ == "__main__":
    sys.exit(main())
