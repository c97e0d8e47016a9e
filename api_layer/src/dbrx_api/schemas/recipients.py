"""Recipient request and response models (docs/API.md §2.2, §5, §11.2-11.3)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from dbrx_api.schemas.common import INTEGRAL_FLOATS, RequestModel, ResponseModel, Timestamp

MAX_IP_ENTRIES = 100
NO_IP_LIST_WARNING = "no IP access list: the credential is usable from any network"
IMMEDIATE_EXPIRY_WARNING = (
    "the previous token was already activated and expired immediately (existing_token_expire_in_seconds=0): "
    "the recipient has no access until it downloads the new credential; rotate with a grace period "
    "(e.g. 3600) to keep the old token valid meanwhile"
)
_SHARING_IDENTIFIER = re.compile(
    r"^(azure|aws|gcp):[a-z0-9-]+:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    re.IGNORECASE,
)

RecipientType = Literal["D2D", "D2O"]

# Custom recipient properties (docs/API.md §2.2, docs/SHAREPACK.md §5.4): the keys `current_recipient()` reads.
PROPERTY_KEY = re.compile(r"[A-Za-z0-9_.-]{1,255}")
RESERVED_PROPERTY_PREFIX = "databricks."  # Databricks' built-in properties; compared ignoring case
MAX_PROPERTIES = 100
MAX_PROPERTY_VALUE = 1000


def property_key_problem(key: str) -> tuple[str, str] | None:
    """`(code, message)` when `key` cannot be a custom recipient property key, else None."""
    if not PROPERTY_KEY.fullmatch(key):
        return (
            "recipient_property_invalid",
            f'property key "{key}" must be 1-255 characters of letters, digits, "_", "." and "-".',
        )
    if key.lower().startswith(RESERVED_PROPERTY_PREFIX):
        return (
            "recipient_property_reserved",
            f'property key "{key}" starts with "{RESERVED_PROPERTY_PREFIX}", which Databricks reserves for its '
            "built-in recipient properties.",
        )
    return None


def custom_properties(properties: Mapping[str, str] | None) -> dict[str, str]:
    """The custom properties of a recipient as Databricks returns them: its built-in `databricks.*` ones left out."""
    return {
        key: value
        for key, value in sorted((properties or {}).items())
        if not key.lower().startswith(RESERVED_PROPERTY_PREFIX)
    }


def checked_properties(properties: Mapping[str, str]) -> dict[str, str]:
    """Validate a request's property map (keys, reserved prefix, keys equal ignoring case, sizes); sorted."""
    if len(properties) > MAX_PROPERTIES:
        raise PydanticCustomError(
            "recipient_property_invalid",
            "{count} properties; at most {limit}",
            {"count": len(properties), "limit": MAX_PROPERTIES},
        )
    seen: dict[str, str] = {}
    for key, value in properties.items():
        problem = property_key_problem(key)
        if problem is not None:
            raise PydanticCustomError(problem[0], "{reason}", {"reason": problem[1], "key": key})
        if key.lower() in seen:
            raise PydanticCustomError(
                "recipient_property_duplicate",
                'property keys "{first}" and "{key}" differ only in case',
                {"first": seen[key.lower()], "key": key},
            )
        seen[key.lower()] = key
        if len(value) > MAX_PROPERTY_VALUE:
            raise PydanticCustomError(
                "recipient_property_invalid",
                'the value of property "{key}" has {length} characters; at most {limit}',
                {"key": key, "length": len(value), "limit": MAX_PROPERTY_VALUE},
            )
    return dict(sorted(properties.items()))


def network_text(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """The canonical text of an IP network: a single host without `/32` or `/128`, else `address/prefix`.

    The one form in which the direct API and share packs write and compare allowlists (docs/SHAREPACK.md §5.2).
    """
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return network.with_prefixlen


def comparable_ip(value: str) -> str:
    """An allowlist entry as compared (a live one included): its `network_text`, host bits cleared; unparsable
    text as written, stripped."""
    text = value.strip()
    try:
        return network_text(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return text


def canonical_ip(value: str) -> str:
    """Canonical text of an IPv4/IPv6 address or CIDR; raises ValueError with a corrective message."""
    text = value.strip()
    try:
        if "/" in text:
            try:
                return network_text(ipaddress.ip_network(text, strict=True))
            except ValueError:
                corrected = ipaddress.ip_network(text, strict=False)
                raise ValueError(
                    f"'{text}' has host bits set; did you mean '{corrected}'?"
                ) from None
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        if "host bits" in str(exc):
            raise
        raise ValueError(f"'{text}' is not an IPv4/IPv6 address or CIDR") from None


def canonical_ip_list(values: list[str]) -> list[str]:
    """Canonicalise, de-duplicate (keeping first occurrence order) and validate an IP list."""
    result: list[str] = []
    for index, value in enumerate(values):
        try:
            ip = canonical_ip(value)
        except ValueError as exc:
            raise PydanticCustomError(
                "ip_invalid", "entry {index}: {reason}", {"index": index, "reason": str(exc)}
            ) from None
        if ip not in result:
            result.append(ip)
    return result


Properties = Annotated[
    dict[str, str],
    AfterValidator(checked_properties),
    Field(
        description=(
            "Custom recipient properties (`current_recipient('<key>')`): keys of 1-255 letters, digits, `_`, `.` "
            "and `-`, not starting with `databricks.`; string values up to 1000 characters."
        ),
        examples=[{"country": "DE", "tier": "gold"}],
        # What a JSON Schema can state; the reserved prefix and keys equal ignoring case are checked beyond it.
        json_schema_extra={
            "propertyNames": {"pattern": f"^{PROPERTY_KEY.pattern}$"},
            "maxProperties": MAX_PROPERTIES,
            "additionalProperties": {"type": "string", "maxLength": MAX_PROPERTY_VALUE},
        },
    ),
]


class D2DRecipientCreate(RequestModel):
    recipient_identifier: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=1000)
    sharing_code: str | None = Field(None, max_length=1000, json_schema_extra={"writeOnly": True})
    properties: Properties | None = None

    @field_validator("recipient_identifier")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _SHARING_IDENTIFIER.match(value):
            raise PydanticCustomError(
                "identifier_invalid",
                "recipient_identifier must be the recipient metastore's sharing identifier "
                "<cloud>:<region>:<uuid> with cloud azure, aws or gcp",
            )
        return value.lower()


class D2ORecipientCreate(RequestModel):
    description: str | None = Field(None, max_length=1000)
    ip_access_list: list[str] = Field(default_factory=list)
    expiration_days: Annotated[int, Field(ge=1, le=3650), INTEGRAL_FLOATS] | None = None
    properties: Properties | None = None

    @field_validator("ip_access_list")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        canonical = canonical_ip_list(value)
        if len(canonical) > MAX_IP_ENTRIES:
            raise PydanticCustomError(
                "too_long", "at most {limit} IP entries", {"limit": MAX_IP_ENTRIES}
            )
        return canonical


class IpList(RequestModel):
    """Body of `PUT /recipients/{name}/ipaddress/add|revoke`."""

    ip_access_list: list[str] = Field(min_length=1, max_length=MAX_IP_ENTRIES)

    @field_validator("ip_access_list")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        return canonical_ip_list(value)


class RotateToken(RequestModel):
    """Body of `POST /recipients/{name}/tokens/rotate` (docs/API.md §5.8)."""

    existing_token_expire_in_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=10 * 365 * 24 * 3600,
            description=(
                "Grace period: how many seconds the current token stays valid after the rotation, so the "
                "partner can download the new credential before the old one stops working. Default 0: the "
                "current token expires immediately (an activated partner is cut off at once; the response then "
                "carries a warning). Can only shorten the current token's life."
            ),
            examples=[3600],
        ),
        INTEGRAL_FLOATS,
    ] = 0


class DescriptionUpdate(RequestModel):
    description: str = Field(min_length=1, max_length=1200)

    @field_validator("description")
    @classmethod
    def _trim(cls, value: str) -> str:
        trimmed = value.strip()
        if len(trimmed) >= 2 and trimmed[0] == trimmed[-1] and trimmed[0] in "\"'":
            trimmed = trimmed[1:-1].strip()
        if not 1 <= len(trimmed) <= 1000:
            raise PydanticCustomError(
                "string_too_long" if trimmed else "string_too_short",
                "description must be 1-1000 characters after trimming spaces and quotes",
            )
        return trimmed


class ExpirationUpdate(RequestModel):
    expiration_days: Annotated[int, Field(ge=1, le=3650), INTEGRAL_FLOATS]


class PropertiesUpdate(RequestModel):
    """Body of `PUT /recipients/{name}/properties`: the whole new map (`{}` removes every custom property)."""

    properties: Properties


# ------------------------------------------------------------------------------------------ responses


class TokenInfo(ResponseModel):
    id: str | None = None
    created_at: Timestamp | None = None
    created_by: str | None = None
    updated_at: Timestamp | None = None
    expiration_time: Timestamp | None = None
    active: bool
    activation_url: str | None = None


class RecipientSummary(ResponseModel):
    name: str
    type: RecipientType
    authentication_type: str
    owner: str | None = None
    comment: str | None = None
    activated: bool | None = None
    data_recipient_global_metastore_id: str | None = None
    cloud: str | None = None
    region: str | None = None
    ip_access_list: list[str] = Field(default_factory=list)
    properties: dict[str, str] = Field(
        default_factory=dict,
        description="Custom recipient properties (Databricks' built-in `databricks.*` ones are not shown).",
    )
    expiration_time: Timestamp | None = None
    tokens: list[TokenInfo] = Field(default_factory=list)
    created_at: Timestamp | None = None
    created_by: str | None = None
    updated_at: Timestamp | None = None
    updated_by: str | None = None


class RecipientShare(ResponseModel):
    share: str
    privileges: list[str] = Field(default_factory=list)


class RecipientDetail(RecipientSummary):
    # null and [] must not look alike: [] claims "no grants", which only a read of the grants may say (docs/API.md §2.2).
    shares: list[RecipientShare] | None = Field(
        description=(
            "Shares granted to the recipient. `[]`: none granted (read from the workspace, or a recipient just "
            "created). `null`: not read by this response (GET with `include_shares=false`, token rotation); "
            "GET /recipients/{name} shows them."
        ),
    )
    activation_link: str | None = None
    warnings: list[str] = Field(default_factory=list)


class RecipientChanged(RecipientSummary):
    """A recipient after a setter; like every RecipientSummary it has no `shares` field (docs/API.md §2.2)."""

    changed: bool


class RecipientList(ResponseModel):
    items: list[RecipientSummary]
    count: int
    total: int
    next_offset: int | None = None


class IpsAdded(ResponseModel):
    recipient: str
    added: list[str]
    already_present: list[str]
    ip_access_list: list[str]
    warnings: list[str] = Field(default_factory=list)


class IpsRemoved(ResponseModel):
    recipient: str
    removed: list[str]
    not_present: list[str]
    ip_access_list: list[str]
    warnings: list[str] = Field(default_factory=list)
