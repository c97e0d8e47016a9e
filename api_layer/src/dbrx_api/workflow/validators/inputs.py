"""Lenient pydantic input models of the share-pack sections (stages 2 and 3, see `lenient`): `DocumentIn` reads the
whole located tree, its metadata, recipients and shares nested sections, and so on down to a partition value.

Each model reads a section's located entries and yields the values of the canonical model (`models.pack`);
defaults of the canonical model (strategy NEW, version 1.0, ...) are left to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from dbrx_api.schemas.recipients import (
    MAX_PROPERTIES,
    MAX_PROPERTY_VALUE,
    property_key_problem,
)
from dbrx_api.workflow.models.issues import SourcePos
from dbrx_api.workflow.models.pack import (
    APPROVER_STATUSES,
    ASSET_TYPES,
    CONTINUOUS,
    HISTORY_STATUSES,
    MAX_ROTATE_BEFORE_EXPIRY_DAYS,
    MAX_ROTATION_GRACE_HOURS,
    PARTITION_OPS,
    RECIPIENT_TYPES,
    REGIONS,
    SCD_TYPES,
    STRATEGIES,
    TABLE_LIKE_TYPES,
    VOLUME_MODEL_TYPES,
)
from dbrx_api.workflow.models.raw import RawMap, RawNode, RawScalar, RawSeq
from dbrx_api.workflow.validators.cron import check_quartz, check_timezone
from dbrx_api.workflow.validators.fields import (
    MAX_IP_ENTRIES,
    AssetName,
    check_ip,
    check_name,
    check_org_id,
    check_principal,
    check_shared_as,
    check_table_name,
    check_tag,
    check_text,
    check_workspace_url,
    name_problem,
    parse_asset_name,
    split_tag,
)
from dbrx_api.workflow.validators.lenient import (
    EMPTY_INDEX,
    Context,
    Failed,
    Located,
    Outcome,
    Rules,
    Section,
    boolean,
    checked,
    empty_declarative,
    entries,
    enum,
    failed_item,
    first_time,
    integer,
    ip_list,
    issue,
    item_text,
    kept_items,
    list_items,
    mappings,
    model_rules,
    name,
    name_text,
    nested,
    placed,
    principals,
    read_items,
    report,
    report_at,
    reported,
    run,
    scalar,
    text,
    warn,
)
from dbrx_api.workflow.validators.lenient import Item as Entry

MAX_DESCRIPTION = 2000
MAX_SHORT_TEXT = 255
MAX_REQUESTORS = 10
MAX_RECIPIENT_EMAILS = 10
MAX_PARTITION_VALUES = 32
MAX_PARTITION_SPECS = 100
MAX_KEY_COLUMNS = 32
MAX_NOTIFICATIONS = 50


Item = Annotated[str, BeforeValidator(failed_item)]
Principals = Annotated[list[Item] | None, WrapValidator(principals(required=True))]
OptionalPrincipals = Annotated[list[Item] | None, WrapValidator(principals(required=False))]
Requestors = Annotated[
    list[Item] | None, WrapValidator(principals(required=True, max_entries=MAX_REQUESTORS))
]
ShortText = Annotated[str | None, BeforeValidator(text(MAX_SHORT_TEXT))]
RequiredShortText = Annotated[str | None, BeforeValidator(text(MAX_SHORT_TEXT, required=True))]
Description = Annotated[str | None, BeforeValidator(text(MAX_DESCRIPTION))]
DescriptionOrComment = Annotated[
    Description, Field(validation_alias=AliasChoices("description", "comment"))
]


def _approver_status(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        warn(
            info,
            "approver_status_defaulted",
            ("approver_status",),
            'approver_status is not set; "pending" is assumed, so this version will not be provisioned.',
            pos_loc=(),
        )
    return value


def _workspace_url(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    allow_local: bool = info.context["allow_local_urls"]  # type: ignore[index]
    return checked(check_workspace_url, value, allow_local=allow_local)


def _given(check: Callable[[str], str]) -> Callable[[str | None], str | None]:
    """An after validator applying `check` to a value that was given."""
    return lambda value: None if value is None else checked(check, value)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    @field_validator("*")  # runs after each field's own (Annotated) validators
    @classmethod
    def _record(cls, value: object, info: ValidationInfo) -> object:
        # The fields that validated, for the checks that still run when a section has errors.
        info.context["values"][info.field_name] = value  # type: ignore[index]
        return value


# ------------------------------------------------------------------------------------------ metadata


class MetadataIn(_Input):
    """docs/SHAREPACK.md §4, as written: governance fields, target workspace and strategy."""

    requestor: Requestors
    project_name: ShortText = None
    business_line: RequiredShortText
    strategy: Annotated[str | None, BeforeValidator(enum(STRATEGIES))] = None
    description: Description = None
    delta_share_region: Annotated[str | None, BeforeValidator(enum(REGIONS, required=True))]
    configurator: Principals
    approver: Principals
    executive_team: Principals
    approver_status: Annotated[
        str | None, BeforeValidator(enum(APPROVER_STATUSES)), AfterValidator(_approver_status)
    ] = Field(None, validate_default=True)
    workspace_url: Annotated[
        str | None, BeforeValidator(text(2048, required=True)), AfterValidator(_workspace_url)
    ]
    servicenow: RequiredShortText = Field(  # type: ignore[pydantic-alias]
        validation_alias=AliasChoices("servicenow", "servicenow_ticket")
    )
    version: Annotated[str | None, BeforeValidator(text(32))] = None
    contact_email: Principals
    client: ShortText = None
    owner: OptionalPrincipals = None
    last_updated: Annotated[str | None, BeforeValidator(text(64))] = None
    destroy_adopted: Annotated[bool | None, BeforeValidator(boolean)] = None


METADATA = Section(
    known=tuple(MetadataIn.model_fields),
    aliases={"servicenow_ticket": "servicenow"},
    explanations={"delta_share_region": f" ({' or '.join(REGIONS)})"},
)


# ------------------------------------------------------------------------------------------ recipients


_PROPERTY_SEPARATORS = re.compile(r"[;\r\n]")
# A key=value pair: where (its key, or its index in a text), key, value (None: no "="), key position.
_Pair = tuple[str | int, str, str | None, SourcePos | None]


def _property_pairs(node: RawScalar) -> list[_Pair]:
    """The text form of recipient properties (an Excel cell): `{}` or a JSON object, else `key=value` pairs
    separated by semicolons or line breaks. Each pair: where, key, value (None: no value), key position."""
    written = node.text.strip()
    if written.startswith("{"):
        try:
            parsed = json.loads(written, object_pairs_hook=list)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list):
            raise issue(
                "recipient_property_invalid",
                'properties written as JSON must be one object, e.g. {"country": "DE"}.',
                input_value=written,
            )
        if any(not isinstance(value, str) for _, value in parsed):
            raise issue(
                "recipient_property_invalid",
                "property values written as JSON must be strings.",
                input_value=written,
            )
        return [(key, key, value, None) for key, value in parsed]
    pairs: list[_Pair] = []
    for index, part in enumerate(p for p in _PROPERTY_SEPARATORS.split(written) if p.strip()):
        key, equals, value = part.partition("=")
        pairs.append((index, key.strip(), value if equals else None, None))
    return pairs


def _property_value(key: str, written: str | None, seen: Collection[str]) -> str:
    """The value of one property pair (`seen`: the keys before it, lower-cased); raises its issue."""
    problem = property_key_problem(key)
    if problem is not None:
        raise issue(problem[0], problem[1], input_value=key)
    if written is None:
        message = f'properties are key=value pairs, got "{key}".'
        raise issue("recipient_property_invalid", message, input_value=key)
    if key.lower() in seen:
        message = f'property "{key}" is given twice (keys are compared ignoring case).'
        raise issue("recipient_property_duplicate", message, input_value=key)
    value = checked(check_text, written.strip())
    if len(value) > MAX_PROPERTY_VALUE:
        message = (
            f'the value of property "{key}" has {len(value)} characters; at most '
            f"{MAX_PROPERTY_VALUE}."
        )
        raise issue("recipient_property_invalid", message, input_value=key)
    return value


def _recipient_properties(
    node: object, handler: ValidatorFunctionWrapHandler
) -> dict[str, str] | None:
    """docs/SHAREPACK.md §5.4 `properties`: a mapping of keys to text values, or its text form (`_property_pairs`). Keys must be
    valid, not reserved and unique ignoring case; `{}` is an empty (managed) map, null not managed."""
    pairs: list[_Pair] = []
    values: dict[str | int, object] = {}
    if isinstance(node, RawMap):
        for key, entry in node.entries.items():
            node_value = entry.value
            if not isinstance(node_value, RawScalar) or node_value.kind in {"null", "invalid"}:
                message = (
                    f'property "{key}" has no value; write "" for an empty value.'
                    if isinstance(node_value, RawScalar) and node_value.kind == "null"
                    else f'the value of property "{key}" must be text.'
                )
                error = issue("recipient_property_invalid", message, input_value=key)
                values[key] = Failed(placed(error, node_value.pos))
                continue
            pairs.append((key, key, node_value.text, entry.key_pos))
    else:
        cell = scalar(node, "a mapping of properties")
        if cell.is_null:
            return None
        pairs = _property_pairs(cell)
    result: dict[str, str] = {}
    seen: set[str] = set()
    for where, key, written, key_pos in pairs:
        try:
            value = _property_value(key, written, seen)
        except PydanticCustomError as exc:
            values[where] = Failed(placed(exc, key_pos) if key_pos else exc)
            continue
        seen.add(key.lower())
        result[key] = value
    handler(values)
    if len(result) > MAX_PROPERTIES:
        raise issue(
            "recipient_property_invalid",
            f"{len(result)} properties; at most {MAX_PROPERTIES}.",
        )
    return result


def _token_rotation(node: object, info: ValidationInfo) -> bool | dict[str, int] | RawMap | None:
    """docs/SHAREPACK.md §5.3 `token_rotation`: true/false (the one-shot rotation), or a policy mapping
    (`TokenRotationIn`), read for a D2O recipient only (on another type the type rules refuse the field)."""
    if not isinstance(node, RawMap):
        return boolean(node)
    if info.data.get("type") != "D2O":
        return node
    policy = nested(info, TokenRotationIn, TOKEN_ROTATION, node, ("token_rotation",))
    if policy.model is None:
        raise reported()
    days = policy.model.rotate_before_expiry_days
    assert days is not None  # noqa: S101 - required by the model
    return {"rotate_before_expiry_days": days, "grace_hours": policy.model.grace_hours or 0}


def _present(value: int | None) -> int:
    if value is None:
        raise issue("empty_value", "must not be empty.")
    return value


def _grace_fits(value: int | None, info: ValidationInfo) -> int | None:
    """The grace must be shorter than the lead time (docs/SHAREPACK.md §5.3)."""
    days = info.data.get("rotate_before_expiry_days")
    if value is not None and days is not None and value >= days * 24:
        raise issue(
            "token_rotation_grace_too_long",
            f"grace_hours {value} must be shorter than the lead time of {days} days ({days * 24} hours): "
            "the old token would still be valid when the next rotation is due.",
            input_value=value,
        )
    return value


class TokenRotationIn(_Input):
    """docs/SHAREPACK.md §5.3, a D2O recipient's rotation policy as written."""

    rotate_before_expiry_days: Annotated[
        int | None,
        BeforeValidator(integer(1, MAX_ROTATE_BEFORE_EXPIRY_DAYS, "days")),
        AfterValidator(_present),
    ]
    grace_hours: Annotated[
        int | None,
        BeforeValidator(integer(0, MAX_ROTATION_GRACE_HOURS, "hours")),
        AfterValidator(_grace_fits),
    ] = None


TOKEN_ROTATION = Section(
    known=tuple(TokenRotationIn.model_fields),
    explanations={"rotate_before_expiry_days": " (days before the token expires, 1-365)"},
)

IP_LISTS = ("recipient_ips", "recipient_ips_to_add", "recipient_ips_to_remove")
D2O_ONLY_FIELDS = (*IP_LISTS, "token_expiry", "token_rotation", "token_rotation_grace_days")
# A D2O recipient's token settings default to "none".
D2O_TOKEN_DEFAULTS = {"token_expiry": 0, "token_rotation": False, "token_rotation_grace_days": 0}


def _recipient_rules(r: Rules) -> None:
    """docs/SHAREPACK.md §5: fields of the other type, the D2D sharing identifier, D2O warnings; then the IP lists."""
    values = r.values
    if values.get("type") == "D2D":
        for key in D2O_ONLY_FIELDS:
            if r.has(key):
                what = "IP allowlists" if key in IP_LISTS else key
                r.fail(
                    (key,), "field_not_allowed_for_type", f"{what} apply to D2O recipients only."
                )
        org = "recipient_databricks_org"
        if not r.has(org) and org not in r.bad:
            r.fail(
                (),
                "d2d_org_required",
                f'D2D recipient "{values.get("name") or r.base}" needs recipient_databricks_org '
                "(<cloud>:<region>:<metastore-uuid>).",
            )
    elif values.get("type") == "D2O":
        for key, default in D2O_TOKEN_DEFAULTS.items():
            if values.get(key) is None:
                r.set(key, default)
        if r.has("recipient_databricks_org"):
            r.fail(
                ("recipient_databricks_org",),
                "field_not_allowed_for_type",
                "recipient_databricks_org applies to D2D recipients only.",
            )
        if isinstance(values.get("token_rotation"), dict) and values.get(
            "token_rotation_grace_days"
        ):
            r.fail(
                ("token_rotation_grace_days",),
                "token_rotation_conflict",
                "token_rotation_grace_days belongs to the one-shot rotation (token_rotation: true); a rotation "
                "policy states its grace as grace_hours.",
            )
        if values.get("token_rotation") is True:
            r.warn(
                "token_rotation_requested",
                ("token_rotation",),
                "the bearer token will be rotated once when this version is first provisioned.",
            )
        if not any(r.has(key) or key in r.bad for key in ("recipient_ips", "recipient_ips_to_add")):
            r.warn(
                "d2o_without_ip_allowlist",
                (),
                "this D2O recipient has no IP allowlist: its bearer token is usable from any network.",
            )
    _ip_rules(r)


def _ip_rules(r: Rules) -> None:
    """docs/SHAREPACK.md §5.2, §9.2: at most MAX_IP_ENTRIES networks; none removed that is also added or declared."""
    # list -> canonical network -> index of its first occurrence
    ips: dict[str, dict[str, int]] = {}
    for key in IP_LISTS:
        if r.values.get(key) is None or key in r.bad:
            continue
        ips[key] = {}
        for index, node in enumerate(list_items(r.data[key]) or []):
            written = item_text(node, "")
            if written:
                ips[key].setdefault(check_ip(written)[0], index)
    declared, to_add = ips.get("recipient_ips"), ips.get("recipient_ips_to_add")
    union = {*(declared or {}), *(to_add or {})}
    if len(union) > MAX_IP_ENTRIES:
        key = "recipient_ips" if declared is not None else "recipient_ips_to_add"
        message = f"{len(union)} entries; Databricks allows at most {MAX_IP_ENTRIES}."
        r.fail((key,), "ip_list_too_long", message)
    for network, index in ips.get("recipient_ips_to_remove", {}).items():
        for other, key in ((to_add, "recipient_ips_to_add"), (declared, "recipient_ips")):
            if other is not None and network in other:
                message = f'"{network}" is also in {key}.'
                r.fail(
                    ("recipient_ips_to_remove", index), "list_overlap", message, input_value=network
                )
                break


class RecipientIn(_Input):
    """docs/SHAREPACK.md §5, one recipient entry of a NEW/UPDATE pack as written, with the per-type rules."""

    name: Annotated[str, BeforeValidator(name())]
    type: Annotated[str | None, BeforeValidator(enum(RECIPIENT_TYPES, required=True))]
    recipient: Annotated[
        list[Item] | None,
        WrapValidator(
            principals(required=True, emails_only=True, max_entries=MAX_RECIPIENT_EMAILS)
        ),
    ]
    description: DescriptionOrComment = None
    recipient_databricks_org: Annotated[ShortText, AfterValidator(_given(check_org_id))] = None
    recipient_ips: Annotated[list[Item] | None, WrapValidator(ip_list(declarative=True))] = None
    recipient_ips_to_add: Annotated[
        list[Item] | None, WrapValidator(ip_list(declarative=False))
    ] = None
    recipient_ips_to_remove: Annotated[
        list[Item] | None, WrapValidator(ip_list(declarative=False))
    ] = None
    token_expiry: Annotated[int | None, BeforeValidator(integer(0, 3650, "days"))] = None
    token_rotation: Annotated[
        bool | dict[str, int] | RawMap | None, BeforeValidator(_token_rotation)
    ] = None
    token_rotation_grace_days: Annotated[int | None, BeforeValidator(integer(0, 30, "days"))] = None
    properties: Annotated[dict[str | int, Item] | None, WrapValidator(_recipient_properties)] = None

    _rules = model_rules(_recipient_rules)


RECIPIENT = Section(
    name="name",
    known=tuple(RecipientIn.model_fields),
    aliases={"comment": "description"},
    explanations={"name": " (the recipient name)", "type": f" ({' or '.join(RECIPIENT_TYPES)})"},
)


# ------------------------------------------------------------------------------------------ delta_share


def _share_tags(
    node: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> list[str] | None:
    """delta_share.tags: items `key` or `key=value`, canonical; a key given twice with different values fails."""
    seen: set[str] = set()
    keys: set[str] = set()

    def read(index: int, item: RawNode) -> str:
        written = item_text(item, "a tag")
        if not written:
            return ""
        key, value = checked(lambda tag: check_tag(*split_tag(tag)), written)
        canonical = key if value is None else f"{key}={value}"
        if canonical in seen:
            message = f'tag "{canonical}" is listed twice.'
            warn(info, "duplicate_entry", ("tags", index), message, input_value=written)
            return ""
        if key in keys:
            message = f'tag key "{key}" is given twice with different values.'
            raise issue("tags_invalid", message, input_value=written)
        seen.add(canonical)
        keys.add(key)
        return canonical

    return kept_items(node, handler, read) or None


class DeltaShareIn(_Input):
    """docs/SHAREPACK.md §6.2, a share's delta_share mapping as written."""

    ext_catalog_name: Annotated[str, BeforeValidator(name())]
    ext_schema_name: Annotated[str, BeforeValidator(name())]
    tags: Annotated[list[Item] | None, WrapValidator(_share_tags)] = None
    create_schema_if_missing: Annotated[bool | None, BeforeValidator(boolean)] = None


DELTA_SHARE = Section(
    known=tuple(DeltaShareIn.model_fields),
    explanations={
        "ext_catalog_name": " (the catalog name)",
        "ext_schema_name": " (the schema name)",
    },
)


# ------------------------------------------------------------------------------------------ schedule


def _cron(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    if value.lower() == CONTINUOUS:
        raise issue(
            "schedule_invalid",
            "a continuous pipeline takes no time zone; write schedule: continuous (and leave the time zone empty).",
            input_value=value,
        )
    cron = checked(check_quartz, value)
    if cron.high_frequency:
        warn(
            info,
            "cron_high_frequency",
            ("cron",),
            f'"{cron.expression}" fires more than once a minute.',
            input_value=value,
        )
    return cron.expression


class ScheduleIn(_Input):
    """docs/SHAREPACK.md §8.2, a pipeline's {cron, timezone} schedule as written (the time zone defaults to UTC)."""

    cron: Annotated[RequiredShortText, AfterValidator(_cron)]
    timezone: Annotated[ShortText, AfterValidator(_given(check_timezone))] = None


SCHEDULE = Section(
    known=tuple(ScheduleIn.model_fields), explanations={"cron": ' (Quartz, e.g. "0 0 2 * * ?")'}
)


# ------------------------------------------------------------------------------------------ partitions


class PartitionValueIn(_Input):
    """docs/SHAREPACK.md §7.2, one condition of a partition spec as written."""

    name: RequiredShortText
    op: Annotated[str | None, BeforeValidator(enum(PARTITION_OPS, required=True))]
    value: ShortText = None
    recipient_property_key: ShortText = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PartitionValueIn:
        if (self.value is None) == (self.recipient_property_key is None):
            raise issue(
                "asset_option_invalid", "give exactly one of value and recipient_property_key."
            )
        return self


PARTITION_VALUE = Section(
    known=tuple(PartitionValueIn.model_fields),
    explanations={"name": " (the partition column)", "op": f" ({' or '.join(PARTITION_OPS)})"},
)


def _spec_values(
    node: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> list[dict[str, Any]]:
    """The 1-32 values of a partition spec, each a mapping read as a nested `PartitionValueIn`."""
    items = list_items(node) if node is not None else None
    if not items or len(items) > MAX_PARTITION_VALUES:
        raise issue(
            "asset_option_invalid", f"a partition spec needs 1-{MAX_PARTITION_VALUES} values."
        )

    def read(index: int, item: RawNode) -> dict[str, Any]:
        if not isinstance(item, RawMap):
            raise issue(
                "asset_option_invalid",
                "a partition value is a mapping {name, op, value} or {name, op, recipient_property_key}.",
            )
        value = nested(info, PartitionValueIn, PARTITION_VALUE, item, ("values", index))
        if value.model is None:
            raise reported()
        dumped: dict[str, Any] = value.model.model_dump(exclude_none=True)
        return dumped

    result: list[dict[str, Any]] = handler(read_items(node, read))
    return result


class PartitionSpecIn(_Input):
    """docs/SHAREPACK.md §7.2, one partition spec as written: its 1-32 values."""

    values: Annotated[
        list[Annotated[object, BeforeValidator(failed_item)]] | None, WrapValidator(_spec_values)
    ] = Field(None, validate_default=True)


PARTITION_SPEC = Section(known=tuple(PartitionSpecIn.model_fields))


# ------------------------------------------------------------------------------------------ assets


def _asset_name(node: object) -> AssetName:
    return checked(parse_asset_name, name_text(node))


def _option(
    convert: Callable[[object], object],
) -> Callable[[object, ValidationInfo], object]:
    """An asset option, read only once the name is valid (an invalid name ends the entry); an entry of
    share_assets_to_remove carries its name only."""

    def validate(node: object, info: ValidationInfo) -> object:
        if not isinstance(info.data.get("name"), AssetName):
            return None
        if info.context["removal"]:  # type: ignore[index]
            raise issue(
                "asset_option_invalid", "entries in share_assets_to_remove carry name only."
            )
        return convert(node)

    return validate


def _raw(node: object) -> object:
    """The node itself unless null (the partition specs are read after the model)."""
    return None if isinstance(node, RawScalar) and node.is_null else node


def _applies(what: str, *, tables_only: bool) -> Callable[[object, ValidationInfo], object]:
    """An option of tables (TABLE or undeclared table-like names) or of all table-like objects (docs/SHAREPACK.md §7.2)."""

    def check(value: object, info: ValidationInfo) -> object:
        if value is None:
            return None
        info.context["options"][info.field_name] = value  # type: ignore[index]
        asset: AssetName = info.data["name"]
        declared = info.data.get("type")
        if (
            asset.kind == "table"
            and declared not in VOLUME_MODEL_TYPES
            and (not tables_only or declared in (None, "TABLE"))
        ):
            return value
        kinds = {"table": "table-like object", "schema": "SCHEMA", "notebook": "NOTEBOOK_FILE"}
        raise issue(
            "asset_option_invalid",
            f"{what} only; this asset is a {declared or kinds[asset.kind]}.",
            sweep=info.field_name == "partitions",
        )

    return check


def _partition_specs(node: object, info: ValidationInfo) -> list[dict[str, Any]] | None:
    """docs/SHAREPACK.md §7.2: 1-100 partition specs, each a mapping read as a nested `PartitionSpecIn`."""
    if node is None:
        return None
    specs = list_items(node) or []
    if not specs or len(specs) > MAX_PARTITION_SPECS:
        raise issue(
            "asset_option_invalid",
            "partitions must list at least one partition spec."
            if not specs
            else f"{len(specs)} partition specs; at most {MAX_PARTITION_SPECS}.",
        )
    result: list[dict[str, Any]] = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, RawMap):
            message = "a partition spec is a mapping {values: [{name, op, value}]}."
            report_at(info, issue("asset_option_invalid", message), ("partitions", index), spec)
            continue
        read = nested(info, PartitionSpecIn, PARTITION_SPEC, spec, ("partitions", index))
        if read.model is not None:
            result.append({"values": read.model.values})
    if len(result) < len(specs):
        raise reported()
    return result


def _type_fits(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    asset: AssetName = info.data["name"]
    if value in TABLE_LIKE_TYPES:
        kind, needed = "table", "table-like types need catalog.schema.object"
    elif value in VOLUME_MODEL_TYPES:
        kind, needed = "table", f"{value} needs catalog.schema.object"
    elif value == "SCHEMA":
        kind, needed = "schema", "SCHEMA needs catalog.schema"
    else:
        kind, needed = "notebook", "NOTEBOOK_FILE needs a workspace path starting with /"
    if asset.kind != kind:
        message = f'type {value} does not fit "{asset.name}": {needed}.'
        raise issue("asset_option_invalid", message, input_value=value)
    return value


def _shared_as(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    declared = info.data.get("type")
    if declared in VOLUME_MODEL_TYPES:
        # Databricks names a volume or a model `<schema>.<name>` for recipients; shared_as is the table alias.
        raise issue(
            "asset_option_invalid",
            f"shared_as applies to tables, schemas and notebooks; this asset is a {declared} (recipients see it "
            "as schema.name).",
        )
    return checked(check_shared_as, value, info.data["name"].kind)


def _asset_rules(r: Rules) -> None:
    """docs/SHAREPACK.md §7.2: cdf_enabled and history_data_sharing_status exclude each other."""
    options = r.context["options"]  # every option given, whether it applies or not
    if (
        options.get("cdf_enabled") is not None
        and options.get("history_data_sharing_status") is not None
    ):
        r.fail(
            (),
            "asset_options_conflict",
            "set either cdf_enabled or history_data_sharing_status, not both.",
        )


class AssetIn(_Input):
    """docs/SHAREPACK.md §7.2, a share asset written as a mapping: the name (its form gives the kind), the declared type and the
    options of that kind (its partition specs nested `PartitionSpecIn`s)."""

    name: Annotated[AssetName, BeforeValidator(_asset_name)]
    type: Annotated[
        str | None, BeforeValidator(_option(enum(ASSET_TYPES))), AfterValidator(_type_fits)
    ] = None
    shared_as: Annotated[
        str | None, BeforeValidator(_option(text(MAX_SHORT_TEXT))), AfterValidator(_shared_as)
    ] = None
    cdf_enabled: Annotated[
        bool | None,
        BeforeValidator(_option(boolean)),
        AfterValidator(_applies("cdf_enabled applies to tables", tables_only=True)),
    ] = None
    history_data_sharing_status: Annotated[
        str | None,
        BeforeValidator(_option(enum(HISTORY_STATUSES))),
        AfterValidator(
            _applies("history_data_sharing_status applies to table-like objects", tables_only=False)
        ),
    ] = None
    start_version: Annotated[
        int | None,
        BeforeValidator(_option(integer(0, None))),
        AfterValidator(_applies("start_version applies to table-like objects", tables_only=False)),
    ] = None
    partitions: Annotated[
        object,
        BeforeValidator(_option(_raw)),
        AfterValidator(_applies("partitions apply to tables", tables_only=True)),
        AfterValidator(_partition_specs),
    ] = None
    comment: Annotated[str | None, BeforeValidator(_option(text(MAX_DESCRIPTION)))] = None

    _rules = model_rules(_asset_rules)


ASSET = Section(known=tuple(AssetIn.model_fields), explanations={"name": " (the asset name)"})


# ------------------------------------------------------------------------------------------ pipelines


def _optional(convert: Callable[[object], str]) -> Callable[[object], str | None]:
    return lambda node: None if isinstance(node, RawScalar) and node.is_null else convert(node)


def _source(node: object) -> str:
    return checked(check_table_name, name_text(node))


def _schedule(node: object, info: ValidationInfo) -> dict[str, str] | str:
    """docs/SHAREPACK.md §8.2: {cron, timezone} (`ScheduleIn`, the time zone UTC by default), "continuous", or the
    deprecated per-asset shape {<source_asset>: ...}, rewritten with a warning."""
    if isinstance(node, RawScalar) and node.is_null:
        raise issue("empty_value", "must not be empty.")
    loc: tuple[str, ...] = ("schedule",)
    source = info.data.get("source_asset")
    key = _nested_schedule_key(node)
    if isinstance(node, RawMap) and key is not None and source is not None:
        entry = node.entries[key]
        if key.strip().lower() != source:
            error = issue(
                "schedule_invalid",
                'expected {cron, timezone} or "continuous"; a nested schedule key must equal source_asset '
                f'"{source}", got "{key}".',
                input_value=key,
            )
            raise placed(error, entry.key_pos)
        warn(
            info,
            "schedule_nested_shape",
            loc,
            f"the per-asset schedule shape {{{key}: ...}} was rewritten to the pipeline's own schedule.",
            pos=entry.key_pos,
        )
        node, loc = entry.value, (*loc, key)
    if isinstance(node, RawMap):
        schedule = nested(info, ScheduleIn, SCHEDULE, node, loc)
        if schedule.bad:
            raise reported()
        return {
            "cron": schedule.values["cron"],
            "timezone": schedule.values.get("timezone") or "UTC",
        }
    assert isinstance(node, RawScalar | RawSeq)  # noqa: S101 - the index only holds located nodes
    try:
        written = None if isinstance(node, RawSeq) else scalar(node, "a schedule").text.strip()
        if written is not None and written.lower() == CONTINUOUS:
            return CONTINUOUS
        got = "a list" if written is None else f'"{written}"'
        message = f'expected {{cron, timezone}} or "continuous", got {got}.'
        raise issue("schedule_invalid", message, input_value=written)
    except PydanticCustomError as exc:  # reported at the value, which is deeper in the nested shape
        report_at(info, exc, loc, node)
        raise reported() from None


def _nested_schedule_key(node: object) -> str | None:
    """The single key of the per-asset shape `{<source_asset>: ...}`, or None for any other shape."""
    if not isinstance(node, RawMap) or len(node.entries) != 1:
        return None
    (key,) = node.entries
    return None if key in {"cron", "timezone"} else key


def _pipeline_rules(r: Rules) -> None:
    """docs/SHAREPACK.md §8.1: the target defaults to the source's table name, scd_type to 2 (which needs key_columns);
    a full_refresh pipeline ignores key_columns."""
    values = r.values
    source = values.get("source_asset")
    if values.get("target_asset") is None and source is not None and not r.has("target_asset"):
        r.set("target_asset", source.rsplit(".", 1)[-1])
    if values.get("scd_type") is None and not r.has("scd_type") and "scd_type" not in r.bad:
        r.set("scd_type", "2")
    if (
        values.get("scd_type") == "2"
        and values.get("key_columns") is None
        and "key_columns" not in r.bad
    ):
        r.fail((), "key_columns_required", "scd_type 2 needs key_columns.")
    if values.get("scd_type") == "full_refresh" and values.get("key_columns") is not None:
        r.warn(
            "key_columns_ignored",
            ("key_columns",),
            "key_columns are ignored for a full_refresh pipeline.",
        )
        r.set("key_columns", None)


def _key_columns(node: object, handler: ValidatorFunctionWrapHandler) -> list[str] | None:
    seen: set[str] = set()

    def read(_: int, item: RawNode) -> str:
        written = item_text(item, "a column name", names=True)
        problem = name_problem(written, allow_dot=True) if written else None
        if problem:
            message = f'"{written}" is not a valid column name: {problem}.'
        elif written and written.lower() in seen:
            message = f'column "{written}" is listed twice.'
        else:
            seen.add(written.lower())
            return written
        raise issue("key_columns_invalid", message, input_value=written)

    kept = kept_items(node, handler, read)
    if kept and len(kept) > MAX_KEY_COLUMNS:
        raise issue("key_columns_invalid", f"{len(kept)} key columns; at most {MAX_KEY_COLUMNS}.")
    return kept or None


_notification_list = principals(required=False, max_entries=MAX_NOTIFICATIONS)


def _notification(
    node: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> list[str] | None:
    """Principals; a group is kept with a warning (Databricks alerts reach email addresses only)."""
    kept = _notification_list(node, handler, info)
    seen: set[str] = set()
    for index, item in enumerate(list_items(node) or []):
        written = item_text(item, "")
        canonical, is_email = check_principal(written) if written else ("", True)
        if canonical.lower() in seen or is_email:
            continue
        seen.add(canonical.lower())
        warn(
            info,
            "notification_group_not_delivered",
            ("notification", index),
            f'"{canonical}" is a group: it is recorded, but Databricks sends alerts to email addresses only.',
            input_value=canonical,
        )
    return kept


def _pipeline_tags(
    node: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> dict[str, str] | None:
    """Pipeline tags: a mapping, or (as in Excel) text of `key=value` pairs; a key given twice with different
    values fails."""
    pairs: list[_Pair] = []
    values: dict[str | int, object] = {}
    if isinstance(node, RawMap):
        for key, entry in node.entries.items():
            try:
                if not isinstance(entry.value, RawScalar):
                    raise issue("tags_invalid", "tag values must be text.")
                cell = scalar(entry.value, "a tag value")
            except PydanticCustomError as exc:
                values[key] = Failed(placed(exc, entry.value.pos))
                continue
            pairs.append((key, key, "" if cell.is_null else cell.text, entry.key_pos))
    else:
        for index, item in enumerate(list_items(node) or []):
            try:
                written = item_text(item, "a key=value tag")
                tag_key, tag_value = split_tag(written)
                if written and tag_value is None:
                    message = f'pipeline tags are key=value pairs, got "{written}".'
                    raise issue("tags_invalid", message, input_value=written)
            except PydanticCustomError as exc:
                values[index] = Failed(exc)
                continue
            if written:
                pairs.append((index, tag_key, tag_value, None))
    result: dict[str, str] = {}
    for where, raw_key, raw_value, key_pos in pairs:
        try:
            key, value = checked(check_tag, raw_key, raw_value)
            if key in result and result[key] != (value or ""):
                message = f'tag key "{key}" is given twice with different values.'
                raise issue("tags_invalid", message, input_value=key)
        except PydanticCustomError as exc:
            values[where] = Failed(placed(exc, key_pos) if key_pos else exc)
            continue
        if key in result:
            message = f'tag "{key}" is listed twice.'
            warn(info, "duplicate_entry", ("tags", where), message, pos=key_pos, input_value=key)
        else:
            result[key] = value or ""
    handler(values)
    return result or None


class PipelineIn(_Input):
    """docs/SHAREPACK.md §8.1, one pipeline of a share as written, its schedule a nested `ScheduleIn`."""

    name_prefix: Annotated[str, BeforeValidator(name(lower=False))]
    source_asset: Annotated[str, BeforeValidator(_source)]
    target_asset: Annotated[str | None, BeforeValidator(_optional(name()))] = None
    scd_type: Annotated[str | None, BeforeValidator(enum(SCD_TYPES))] = None
    key_columns: Annotated[list[Item] | None, WrapValidator(_key_columns)] = None
    serverless: Annotated[bool | None, BeforeValidator(boolean)] = None
    schedule: Annotated[dict[str, str] | str, BeforeValidator(_schedule)]
    notification: Annotated[list[Item] | None, WrapValidator(_notification)] = None
    tags: Annotated[dict[str | int, Item] | None, WrapValidator(_pipeline_tags)] = None
    description: DescriptionOrComment = None
    ext_catalog_name: Annotated[str | None, BeforeValidator(_optional(name()))] = None
    ext_schema_name: Annotated[str | None, BeforeValidator(_optional(name()))] = None

    _rules = model_rules(_pipeline_rules)


PIPELINE = Section(
    name="name_prefix",
    known=tuple(PipelineIn.model_fields),
    aliases={"comment": "description"},
    explanations={
        "name_prefix": " (the pipeline name)",
        "source_asset": " (catalog.schema.table)",
        "schedule": ' ({cron, timezone} or "continuous")',
    },
    deprecated=("prefix_assetname",),
)


# ------------------------------------------------------------------------------------------ shares


def _names(
    *, declarative: bool
) -> Callable[[object, ValidatorFunctionWrapHandler, ValidationInfo], list[str] | None]:
    """Wrap validator of a list of recipient names (rule N, lower-cased); duplicates dropped with a warning; a
    declarative list may not be empty."""

    def validate(
        node: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> list[str] | None:
        seen: set[str] = set()

        def read(index: int, item: RawNode) -> str:
            written = item_text(item, "a recipient name", names=True)
            value = checked(check_name, written).lower() if written else ""
            if value and not first_time(info, seen, value, (str(info.field_name), index), value):
                return ""
            return value

        kept = kept_items(node, handler, read)
        if declarative and kept == []:
            raise empty_declarative(str(info.field_name))
        return kept

    return validate


def _delta_share(node: object, info: ValidationInfo) -> Outcome[DeltaShareIn] | None:
    """The delta_share mapping, a nested `DeltaShareIn`."""
    if isinstance(node, RawMap):
        return nested(info, DeltaShareIn, DELTA_SHARE, node, ("delta_share",))
    if isinstance(node, RawScalar) and node.is_null:
        return None
    raise issue(
        "type_mismatch", "expected a mapping with ext_catalog_name and ext_schema_name.", sweep=True
    )


def asset_of(asset: Outcome[AssetIn]) -> AssetName:
    """The name of a read asset entry."""
    name: AssetName = asset.values["name"]
    return name


def asset_data(asset: Outcome[AssetIn]) -> dict[str, Any]:
    """The canonical values of a read asset entry (the options given)."""
    given = {key: value for key, value in asset.values.items() if value is not None}
    return {**given, "name": asset_of(asset).name}


def _asset(ctx: Context, item: Entry, *, removal: bool) -> Outcome[AssetIn] | None:
    """docs/SHAREPACK.md §7.2: an asset name, or a mapping read by `AssetIn`; None when it was reported."""
    node = item.node
    if isinstance(node, RawScalar):
        try:
            written = item_text(node, "an asset name", names=True)
            asset = checked(parse_asset_name, written) if written else None
        except PydanticCustomError as exc:
            report(ctx, exc, item.path, node)
            return None
        if asset is None:
            return None
        ctx.remember(item.path, item.pos)
        return Outcome.scalar({"name": asset}, Located(asset.name, item.path, item.pos))
    if isinstance(node, RawSeq):
        ctx.error(
            "type_mismatch", item.path, "expected an asset name or mapping, got a list.", item.pos
        )
        return None
    read = run(ctx, AssetIn, ASSET, node, item.path, {"removal": removal, "options": {}})
    if read.model is None:
        return None
    # Kept for the whole document: its values only (AssetIn has no alias, so paths need no index; P4 memory).
    return Outcome(read.model, read.values, read.bad, EMPTY_INDEX, {}, read.path, read.pos)


def _assets(node: object, info: ValidationInfo) -> list[Outcome[AssetIn]] | None:
    """An asset list (docs/SHAREPACK.md §7.2): a name listed twice is dropped with a warning when its options agree, an
    error otherwise; a list with an entry in error fails as a whole."""
    key = str(info.field_name)
    found = entries(info, node, key)
    if found is None:
        return None
    result: list[Outcome[AssetIn]] = []
    by_name: dict[str, dict[str, Any]] = {}
    ok = True
    ctx: Context = info.context["ctx"]  # type: ignore[index]
    for item in found:
        asset = _asset(ctx, item, removal=key == "share_assets_to_remove")
        if asset is None:
            ok = ok and isinstance(item.node, RawScalar) and item.node.is_null
            continue
        name, data = asset_of(asset).name, asset_data(asset)
        earlier = by_name.setdefault(name, data)
        if earlier is data:
            result.append(asset)
        elif earlier == data:
            message = f'"{name}" is listed twice; the duplicate was dropped.'
            ctx.warning("duplicate_entry", asset.path, message, asset.pos, input_value=name)
        else:
            message = f'"{name}" is listed twice with different options.'
            ctx.error("duplicate_entry_conflict", asset.path, message, asset.pos, input_value=name)
            ok = False
    if not ok:
        raise reported()
    if key == "share_assets" and not result:
        raise empty_declarative(key)
    return result


def _pipelines(node: object, info: ValidationInfo) -> list[Outcome[PipelineIn]] | None:
    """docs/SHAREPACK.md §8.1: the pipelines of a share, each a nested `PipelineIn` (an entry that is no mapping makes
    the list bad; the others are still checked)."""
    return mappings(info, node, "pipeline", PipelineIn, PIPELINE, bad=True)


Names = Annotated[list[Item] | None, WrapValidator(_names(declarative=False))]
Assets = Annotated[object, BeforeValidator(_assets)]


class ShareIn(_Input):
    """docs/SHAREPACK.md §6, one share entry of a NEW/UPDATE pack as written: its assets (`AssetIn`), delta_share
    (`DeltaShareIn`) and pipelines (`PipelineIn`) nested."""

    name: Annotated[str, BeforeValidator(name())]
    description: DescriptionOrComment = None
    share_assets: Assets = None
    share_assets_to_add: Assets = None
    share_assets_to_remove: Assets = None
    recipients: Annotated[list[Item] | None, WrapValidator(_names(declarative=True))] = None
    recipients_to_add: Names = None
    recipients_to_remove: Names = None
    delta_share: Annotated[object, BeforeValidator(_delta_share)] = None
    pipelines: Annotated[object, BeforeValidator(_pipelines)] = None


SHARE = Section(
    name="name",
    known=tuple(ShareIn.model_fields),
    aliases={"comment": "description"},
    explanations={"name": " (the share name)"},
)


ASSET_LISTS = ("share_assets", "share_assets_to_add", "share_assets_to_remove")
GRANT_LISTS = ("recipients", "recipients_to_add", "recipients_to_remove")


def share_assets(share: Outcome[ShareIn], key: str) -> list[Outcome[AssetIn]] | None:
    """An asset list of a read share (None when absent or in error)."""
    assets: list[Outcome[AssetIn]] | None = share.values.get(key)
    return assets


def share_pipelines(share: Outcome[ShareIn]) -> list[Outcome[PipelineIn]]:
    """The pipelines of a read share that are mappings."""
    pipelines: list[Outcome[PipelineIn]] = share.values.get("pipelines") or []
    return pipelines


def share_delta(share: Outcome[ShareIn]) -> Outcome[DeltaShareIn] | None:
    """The delta_share of a read share."""
    delta: Outcome[DeltaShareIn] | None = share.values.get("delta_share")
    return delta


def grants(share: Outcome[ShareIn], key: str) -> list[Located] | None:
    """The names of a valid grant list with the path and position of their first occurrence."""
    if share.values.get(key) is None:
        return None
    result: list[Located] = []
    list_path = share.path_of(key)
    for index, node in enumerate(list_items(share.index.nodes[list_path]) or []):
        value = item_text(node, "").lower()
        if value and all(name.value != value for name in result):
            result.append(Located(value, f"{list_path}[{index}]", node.pos))
    return result


# ------------------------------------------------------------------------------------------ DELETE shape
# docs/SHAREPACK.md §10.2: only names are read; the other fields of an entry are warned about (`ignored_in_delete`) and left.


def _item_name(ctx: Context, item: Entry, what: str, *, lower: bool = True) -> Located | None:
    """A list item that is a name (rule N); None when blank or reported."""
    try:
        written = item_text(item.node, f"a {what} name", names=True)
        name = checked(check_name, written) if written else None
    except PydanticCustomError as exc:
        report(ctx, exc, item.path, item.node)
        return None
    if name is None:
        return None
    return Located(name.lower() if lower else name, item.path, item.pos)


def _ref[M: BaseModel](
    ctx: Context, item: Entry, what: str, model: type[M], section: Section, *, lower: bool = True
) -> Outcome[M] | None:
    """An entry of the DELETE shape: a name, or a mapping of which only the name is read."""
    if isinstance(item.node, RawMap):
        return run(ctx, model, section, item.node, item.path)
    found = _item_name(ctx, item, what, lower=lower)
    if found is None:
        return None
    ctx.remember(item.path, item.pos)
    return Outcome.scalar({}, found)


def _pipeline_names(node: object, info: ValidationInfo) -> list[Located] | None:
    """The names of the pipelines a deleted share is expected to have (a repeated name warns)."""
    found = entries(info, node, "pipelines")
    if found is None:
        return None
    ctx: Context = info.context["ctx"]  # type: ignore[index]
    result: list[Located] = []
    for item in found:
        read = _ref(ctx, item, "pipeline", PipelineRefIn, PIPELINE_REF, lower=False)
        name = read.name if read is not None else None
        if name is None:
            continue
        if any(earlier.value.lower() == name.value.lower() for earlier in result):
            message = f'pipeline "{name.value}" is listed twice.'
            ctx.warning("duplicate_entry", name.path, message, name.pos)
            continue
        result.append(name)
    return result


class RecipientRefIn(_Input):
    name: Annotated[str, BeforeValidator(name())]


class PipelineRefIn(_Input):
    name_prefix: Annotated[str, BeforeValidator(name(lower=False))]


class ShareRefIn(_Input):
    """A share with the names of the pipelines expected to be removed (names or mappings of which only
    `name_prefix` is read)."""

    name: Annotated[str, BeforeValidator(name())]
    pipelines: Annotated[object, BeforeValidator(_pipeline_names)] = None


RECIPIENT_REF = replace(RECIPIENT, ignored=RECIPIENT.known[1:])
PIPELINE_REF = replace(PIPELINE, ignored=PIPELINE.known[1:])
SHARE_REF = replace(
    SHARE, ignored=tuple(key for key in SHARE.known if key not in {"name", "pipelines"})
)


# ------------------------------------------------------------------------------------------ document


def _metadata(node: object, info: ValidationInfo) -> Outcome[MetadataIn]:
    """The metadata mapping, a nested `MetadataIn`."""
    if isinstance(node, RawMap):
        context = {"allow_local_urls": info.context["allow_local_urls"]}  # type: ignore[index]
        return nested(info, MetadataIn, METADATA, node, ("metadata",), context)
    if isinstance(node, RawScalar) and node.is_null:
        raise issue("empty_value", "must not be empty.")
    raise issue("type_mismatch", "expected a mapping of metadata fields.")


def is_delete(document: Mapping[str, Any]) -> bool:
    """True when the read fields of a document (its metadata) give the DELETE shape."""
    metadata = document.get("metadata")
    return metadata is not None and metadata.values.get("strategy") == "DELETE"


def _entries_of[M: BaseModel, R: BaseModel](
    node: object,
    info: ValidationInfo,
    full: tuple[type[M], Section],
    ref: tuple[type[R], Section],
) -> list[Outcome[Any]] | None:
    """The entries of the document list being validated: `full` sections, or in the DELETE shape names or `ref`
    sections."""
    what = str(info.field_name)
    if not is_delete(info.data):
        return mappings(info, node, what, *full)
    ctx: Context = info.context["ctx"]  # type: ignore[index]
    found = entries(info, node, what)
    refs = [_ref(ctx, item, what, *ref) for item in found or []]
    return None if found is None else [read for read in refs if read is not None]


def _recipients(node: object, info: ValidationInfo) -> list[Outcome[Any]] | None:
    """The recipients: `RecipientIn`s, or in the DELETE shape names or `RecipientRefIn`s."""
    return _entries_of(node, info, (RecipientIn, RECIPIENT), (RecipientRefIn, RECIPIENT_REF))


def _shares(node: object, info: ValidationInfo) -> list[Outcome[Any]] | None:
    """The shares: `ShareIn`s, or in the DELETE shape names or `ShareRefIn`s."""
    return _entries_of(node, info, (ShareIn, SHARE), (ShareRefIn, SHARE_REF))


class DocumentIn(_Input):
    """The document root: the metadata mapping and the recipient and share lists, all nested."""

    metadata: Annotated[object, BeforeValidator(_metadata)]
    recipient: Annotated[object, BeforeValidator(_recipients)] = None
    share: Annotated[object, BeforeValidator(_shares)] = None


DOCUMENT = Section(known=tuple(DocumentIn.model_fields))
