"""Stage-3 rules for single values (docs/SHAREPACK.md §2.3, §2.4, §4.1, §5, §7, §8): each returns the canonical value
or raises `FieldError` with the stable issue code, a message and, when one exists, a suggested fix.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from dbrx_api.schemas.recipients import MAX_IP_ENTRIES as MAX_IP_ENTRIES  # one Databricks limit
from dbrx_api.schemas.recipients import network_text

MAX_NAME_CHARS = 255
MAX_NOTEBOOK_PATH_CHARS = 1024
MAX_EMAIL_CHARS = 254
MAX_TAG_CHARS = 255  # of a tag key and of a tag value

AssetKind = Literal["table", "schema", "notebook"]

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}")
_GROUP = re.compile(r"[^\W_][\w .\-()&]{1,255}")
_ORG_ID = re.compile(
    r"(azure|aws|gcp):[a-z0-9-]+:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_WORKSPACE_HOST = re.compile(
    r"(?:[a-z0-9-]+\.)+(?:azuredatabricks\.net|databricks\.azure\.us|databricks\.azure\.cn|"
    r"cloud\.databricks\.com|gcp\.databricks\.com)"
)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
_ALIAS_PART = re.compile(r"[A-Za-z0-9_]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
URL_QUERY_FRAGMENT_ESCAPE = "?#%"
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


class FieldError(ValueError):
    """A value breaks a field rule; `code` is the issue type, `hint` a suggested replacement."""

    def __init__(self, code: str, msg: str, hint: str | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.hint = hint


# ------------------------------------------------------------------------------------------ text and names


def check_text(value: str) -> str:
    """Free text may hold tabs and line breaks but no other control character (they cannot be stored in a
    workbook or sent to Databricks)."""
    match = _TEXT_CONTROL.search(value)
    if match:
        raise FieldError(
            "type_mismatch", f"control character U+{ord(match.group()):04X} is not allowed in text."
        )
    return value


def name_problem(value: str, *, allow_dot: bool = False, limit: int = MAX_NAME_CHARS) -> str | None:
    """Why `value` breaks rule N (docs/SHAREPACK.md §2.3), or None."""
    if not value:
        return "it is empty"
    if len(value) > limit:
        return f"it has {len(value)} characters (limit {limit})"
    if " " in value:
        return "spaces are not allowed"
    if "." in value and not allow_dot:
        return '"." is not allowed inside a name'
    if value in (".", ".."):
        return f'"{value}" alone is a URL dot segment'
    if "/" in value:
        return '"/" is not allowed'
    if "," in value:
        return "commas are not allowed"
    control = _CONTROL.search(value)
    if control:
        return f"control character U+{ord(control.group()):04X} is not allowed"
    # `?` starts a query, `#` a fragment and `%` an escape: a name holding one would address another object in a
    # Databricks URL path (docs/SHAREPACK.md §2.3, docs/API.md §1.6).
    for char in URL_QUERY_FRAGMENT_ESCAPE:
        if char in value:
            return f'"{char}" is not allowed'
    return None


def check_name(value: str) -> str:
    """Rule N; returns the value unchanged (callers lower-case Unity Catalog names)."""
    problem = name_problem(value)
    if problem:
        raise FieldError("name_invalid", f'"{value}" is not a valid name: {problem}.')
    return value


# ------------------------------------------------------------------------------------------ principals


def is_email(value: str) -> bool:
    """Email address of docs/SHAREPACK.md §2.4 (at most 254 characters)."""
    return len(value) <= MAX_EMAIL_CHARS and _EMAIL.fullmatch(value) is not None


def check_email(value: str) -> str:
    """An email address, lower-cased; `email_invalid` otherwise."""
    if not is_email(value):
        raise FieldError("email_invalid", f'"{value}" is not an email address.')
    return value.lower()


@lru_cache(maxsize=4096)  # the same people and groups recur across entries
def check_principal(value: str) -> tuple[str, bool]:
    """An email (lower-cased) or a directory group name (case kept); returns (canonical, is_email)."""
    if "@" in value:
        if is_email(value):
            return value.lower(), True
    elif _GROUP.fullmatch(value):
        return value, False
    raise FieldError(
        "principal_invalid", f'"{value}" is neither an email address nor a group name.'
    )


# ------------------------------------------------------------------------------------------ workspace, org, IPs


def check_workspace_url(value: str, *, allow_local: bool = False) -> str:
    """`https://<databricks host>` (no path, query, fragment, user info, port other than 443) -> canonical."""

    def invalid(reason: str) -> FieldError:
        return FieldError("workspace_url_invalid", f'"{value}" {reason}.')

    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise invalid("is not a valid URL") from None
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        raise invalid("must not contain user information")
    if parts.query or parts.fragment or value.rstrip().endswith(("?", "#")):
        raise invalid("must not have a query or fragment")
    if parts.path not in ("", "/"):
        raise invalid("must not have a path; give the workspace address only")
    scheme = parts.scheme.lower()
    if scheme == "http" and host in _LOOPBACK_HOSTS and allow_local:
        if port is None:
            raise invalid("needs a port (http://127.0.0.1:<port>)")
        return f"http://{host}:{port}"
    if scheme != "https":
        raise invalid("must use https")
    if port not in (None, 443):
        raise invalid("must not use a port other than 443")
    if not _WORKSPACE_HOST.fullmatch(host):
        raise invalid(
            "is not a Databricks workspace host (*.azuredatabricks.net, *.databricks.azure.us, "
            "*.databricks.azure.cn, *.cloud.databricks.com or *.gcp.databricks.com)"
        )
    return f"https://{host}"


def check_org_id(value: str) -> str:
    """D2D sharing identifier `<cloud>:<region>:<metastore-uuid>`, lower-cased."""
    lowered = value.strip().lower()
    if not _ORG_ID.fullmatch(lowered):
        raise FieldError(
            "org_id_invalid",
            f'expected <cloud>:<region>:<metastore-uuid> (cloud azure, aws or gcp), got "{value}".',
        )
    return lowered


def check_ip(value: str) -> tuple[str, bool]:
    """IPv4/IPv6 address or CIDR -> (canonical form, whether host bits were cleared)."""
    invalid = FieldError("ip_invalid", f'"{value}" is not an IP address or CIDR.')
    if "%" in value or not value or value != value.strip():
        raise invalid
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise invalid from None
    normalised = False
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        normalised = True
    return network_text(network), normalised


# ------------------------------------------------------------------------------------------ assets


@dataclass(frozen=True, slots=True)
class AssetName:
    """A parsed asset name: its kind and canonical spelling."""

    kind: AssetKind
    name: str

    @property
    def schema_of_table(self) -> str | None:
        """`catalog.schema` of a table-like asset."""
        return self.name.rsplit(".", 1)[0] if self.kind == "table" else None


@lru_cache(maxsize=8192)
def parse_asset_name(value: str) -> AssetName:
    """String form of docs/SHAREPACK.md §7.1: 3 parts (table-like), 2 parts (schema) or a workspace path (notebook).

    Cached (the result is immutable): a run keys every asset of a share each time it records the share.
    """
    if value.startswith("/"):
        if len(value) > MAX_NOTEBOOK_PATH_CHARS:
            reason = f"has {len(value)} characters (limit {MAX_NOTEBOOK_PATH_CHARS})"
        elif _CONTROL.search(value):
            reason = "contains a control character"
        elif "," in value:
            reason = "contains a comma"
        elif "//" in value:
            reason = 'contains "//"'
        elif value.endswith("/"):
            reason = 'ends with "/"'
        else:
            return AssetName("notebook", value)
        raise FieldError("asset_name_invalid", f'notebook path "{value}" {reason}.')
    parts = value.split(".")
    if len(parts) not in (2, 3):
        raise FieldError(
            "asset_name_invalid",
            f'"{value}" has {len(parts)} part{"s" if len(parts) != 1 else ""}; use catalog.schema.object, '
            "catalog.schema or a /Workspace/... notebook path.",
        )
    for part in parts:
        problem = name_problem(part)
        if problem:
            raise FieldError(
                "asset_name_invalid", f'"{value}" is not a valid asset name: {problem}.'
            )
    return AssetName("table" if len(parts) == 3 else "schema", value.lower())


def check_table_name(value: str) -> str:
    """A 3-part `catalog.schema.table` (pipeline source), lower-cased; `pipeline_source_invalid` otherwise."""
    try:
        parsed = parse_asset_name(value)
    except FieldError as exc:
        raise FieldError(
            "pipeline_source_invalid", f'"{value}" must be catalog.schema.table ({exc.msg})'
        ) from None
    if parsed.kind != "table":
        raise FieldError("pipeline_source_invalid", f'"{value}" must be catalog.schema.table.')
    return parsed.name


def check_shared_as(value: str, kind: AssetKind) -> str:
    """`shared_as` for the asset kind (docs/SHAREPACK.md §7.2); table and schema aliases are lower-cased."""
    if kind == "table":
        parts = value.split(".")
        if len(parts) != 2 or not all(_ALIAS_PART.fullmatch(part) for part in parts):
            raise FieldError(
                "shared_as_invalid", 'table aliases are "schema.table" of letters, digits and "_".'
            )
        return value.lower()
    if kind == "schema":
        if not _ALIAS_PART.fullmatch(value):
            raise FieldError(
                "shared_as_invalid", 'schema aliases are one word of letters, digits and "_".'
            )
        return value.lower()
    problem = name_problem(value, allow_dot=True)
    if problem:
        raise FieldError(
            "shared_as_invalid", f'"{value}" is not a valid notebook file name: {problem}.'
        )
    return value


# Databricks limits on one share's objects, by asset kind or volume/model type: (limit, label).
SHARE_LIMITS: dict[str, tuple[int, str]] = {
    "table": (1000, "table-like objects"),
    "VOLUME": (1000, "volumes"),
    "MODEL": (1000, "models"),
    "schema": (500, "schemas"),
    "notebook": (100, "notebooks"),
}


def schema_overlaps(assets: Collection[AssetName]) -> list[tuple[AssetName, str]]:
    """Table-like assets whose schema is in the same set, each with that schema (docs/SHAREPACK.md §7.4)."""
    schemas = {asset.name for asset in assets if asset.kind == "schema"}
    return [
        (asset, schema)
        for asset in assets
        if (schema := asset.schema_of_table) is not None and schema in schemas
    ]


def share_limit_problems(
    assets: Collection[AssetName], types: Mapping[str, str | None] | None = None
) -> list[tuple[int, int, str]]:
    """(count, limit, label) for every kind of object above its per-share limit; `types` (asset name -> declared
    or live type) counts volumes and models apart from table-like objects."""
    known = types or {}
    counts = Counter(
        found if (found := known.get(asset.name)) in ("VOLUME", "MODEL") else asset.kind
        for asset in assets
    )
    return [
        (counts[kind], limit, label)
        for kind, (limit, label) in SHARE_LIMITS.items()
        if counts[kind] > limit
    ]


def default_shared_as(asset: AssetName) -> str:
    """The name Databricks shows recipients when `shared_as` is not given."""
    if asset.kind == "table":
        return ".".join(asset.name.split(".")[1:])
    if asset.kind == "schema":
        return asset.name.split(".")[1]
    return asset.name.rsplit("/", 1)[-1]


# ------------------------------------------------------------------------------------------ tags


def _tag_part(what: str, written: str, forbidden: str) -> str:
    """A tag key or value, trimmed: at most 255 characters, none of `forbidden` and no control character."""
    part = written.strip()
    if len(part) > MAX_TAG_CHARS:
        message = f"tag {what} has {len(part)} characters (limit {MAX_TAG_CHARS})."
        raise FieldError("tags_invalid", message)
    if any(char in part for char in forbidden):
        shown = " or ".join(f'"{char}"' for char in forbidden)
        raise FieldError("tags_invalid", f'tag {what} "{part}" must not contain {shown}.')
    if _CONTROL.search(part):
        raise FieldError("tags_invalid", f'tag {what} "{part}" contains a control character.')
    return part


def check_tag(key: str, value: str | None) -> tuple[str, str | None]:
    """Tag key (1-255, no `,`/`=`) and value (≤ 255, no `,`), trimmed; `tags_invalid` otherwise."""
    key = _tag_part("key", key, ",=")
    if not key:
        raise FieldError("tags_invalid", "tag key must not be empty.")
    return key, None if value is None else _tag_part("value", value, ",")


def split_tag(item: str) -> tuple[str, str | None]:
    """`key` or `key=value`, split at the first `=`."""
    if "=" in item:
        key, value = item.split("=", 1)
        return key, value
    return item, None
