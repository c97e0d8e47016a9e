"""Validation shared by the seed loader and the routes: UC names, enums, column types, IP addresses."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection

from dbrx_emulator.errors import ApiError, invalid

MAX_UC_NAME = 255
_FORBIDDEN_IN_NAME = re.compile(r"[ ./\x00-\x1f\x7f]")
_TYPE_BASE = re.compile(r"\s*([A-Za-z_]+)")
_DECIMAL_ARGS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")

# Spark SQL type keyword -> UC `type_name` (ColumnTypeName) as Databricks reports it.
TYPE_NAMES = {
    "BIGINT": "LONG",
    "LONG": "LONG",
    "INT": "INT",
    "INTEGER": "INT",
    "SMALLINT": "SHORT",
    "SHORT": "SHORT",
    "TINYINT": "BYTE",
    "BYTE": "BYTE",
    "STRING": "STRING",
    "VARCHAR": "STRING",
    "CHAR": "CHAR",
    "BOOLEAN": "BOOLEAN",
    "DOUBLE": "DOUBLE",
    "FLOAT": "FLOAT",
    "REAL": "FLOAT",
    "DECIMAL": "DECIMAL",
    "DEC": "DECIMAL",
    "NUMERIC": "DECIMAL",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "TIMESTAMP_LTZ": "TIMESTAMP",
    "TIMESTAMP_NTZ": "TIMESTAMP_NTZ",
    "BINARY": "BINARY",
    "ARRAY": "ARRAY",
    "MAP": "MAP",
    "STRUCT": "STRUCT",
    "VARIANT": "VARIANT",
    "INTERVAL": "INTERVAL",
    "GEOGRAPHY": "GEOGRAPHY",
    "GEOMETRY": "GEOMETRY",
}


def is_valid_uc_name(name: str) -> bool:
    """UC names: 1..255 characters, no `.`, space, `/`, control character or DEL."""
    return 0 < len(name) <= MAX_UC_NAME and _FORBIDDEN_IN_NAME.search(name) is None


def invalid_name_error(name: str, rpc: str, field: str) -> ApiError:
    """The wire-contract error for an invalid UC name."""
    return invalid(
        f'Invalid input: RPC {rpc} Field {field}: name "{name}" is not a valid name. Valid names cannot '
        "contain spaces, periods, forward slashes, or control characters."
    )


def check_uc_name(name: str, rpc: str, field: str) -> str:
    """Validate a UC name and return it lower-cased (400 with the UC message when invalid)."""
    if not is_valid_uc_name(name):
        raise invalid_name_error(name, rpc, field)
    return name.lower()


def parse_enum(value: object, allowed: Collection[str], field: str, *, strict: bool) -> str:
    """An enum value of a request: exact case when `strict`, otherwise normalised to upper case."""
    if isinstance(value, str):
        if value in allowed:
            return value
        if not strict and value.upper() in allowed:
            return value.upper()
    raise invalid(f"Invalid value '{value}' for {field}")


def column_type(type_text: str) -> tuple[str, int | None, int | None]:
    """`(type_name, precision, scale)` of a column type such as `DECIMAL(10,2)`; ValueError when unknown."""
    match = _TYPE_BASE.match(type_text)
    base = match.group(1).upper() if match else ""
    type_name = TYPE_NAMES.get(base)
    if type_name is None:
        raise ValueError(f"unknown column type '{type_text}'")
    if type_name != "DECIMAL":
        return type_name, None, None
    args = _DECIMAL_ARGS.search(type_text)
    if args is None:
        return type_name, 10, 0
    return type_name, int(args.group(1)), int(args.group(2) or 0)


def ip_problem(value: object) -> str | None:
    """None when `value` is an IPv4/IPv6 address or CIDR, else the error message."""
    if isinstance(value, str):
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            pass
        else:
            return None
    return f"Invalid IP address or CIDR '{value}'."
