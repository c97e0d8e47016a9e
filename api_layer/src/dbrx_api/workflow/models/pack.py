"""The canonical share-pack model (docs/SHAREPACK.md §3-§12), its canonical JSON, `record_hash` and pack key.

Both front ends (YAML and Excel) produce these models after validation; the worker reads them back from the
stored canonical JSON with `parse_canonical`. Every model is strict, frozen and rejects unknown keys. Set-like
lists are sorted (and the entry lists ordered by canonical name) by the models themselves, so any instance is
already in canonical form and two packs with the same meaning compare equal and hash equal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Protocol, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Strategy = Literal["NEW", "UPDATE", "DELETE"]
Region = Literal["AM", "EMEA"]
ApproverStatus = Literal["approved", "declined", "request_more_info", "pending"]
RecipientType = Literal["D2D", "D2O"]
AssetType = Literal[
    "TABLE",
    "VIEW",
    "MATERIALIZED_VIEW",
    "STREAMING_TABLE",
    "SCHEMA",
    "NOTEBOOK_FILE",
    "VOLUME",
    "MODEL",
]
HistoryStatus = Literal["ENABLED", "DISABLED"]
ScdType = Literal["1", "2", "full_refresh"]
PartitionOp = Literal["EQUAL", "LIKE"]

STRATEGIES: tuple[str, ...] = get_args(Strategy)
REGIONS: tuple[str, ...] = get_args(Region)
APPROVER_STATUSES: tuple[str, ...] = get_args(ApproverStatus)
RECIPIENT_TYPES: tuple[str, ...] = get_args(RecipientType)
ASSET_TYPES: tuple[str, ...] = get_args(AssetType)
HISTORY_STATUSES: tuple[str, ...] = get_args(HistoryStatus)
SCD_TYPES: tuple[str, ...] = get_args(ScdType)
PARTITION_OPS: tuple[str, ...] = get_args(PartitionOp)
TABLE_LIKE_TYPES: tuple[str, ...] = ("TABLE", "VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE")
# Three-part objects that are not table-like: declared only, never guessed from the name (docs/SHAREPACK.md §7.3).
VOLUME_MODEL_TYPES: tuple[str, ...] = ("VOLUME", "MODEL")
CONTINUOUS = "continuous"
# The value an export writes where the workspace cannot know the answer (requestor, approver, ticket, contacts);
# validation refuses it wherever it stands with `placeholder_unfilled` (docs/SHAREPACK.md §13.4).
PLACEHOLDER = "FILL-ME"


def _sorted_principals(values: list[str]) -> list[str]:
    return sorted(values, key=lambda value: (value.lower(), value))


def _sorted_strings(values: list[str]) -> list[str]:
    return sorted(values)


def _sorted_map(values: dict[str, str]) -> dict[str, str]:
    return dict(sorted(values.items()))


PrincipalList = Annotated[list[str], AfterValidator(_sorted_principals)]
SortedStrings = Annotated[list[str], AfterValidator(_sorted_strings)]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# ------------------------------------------------------------------------------------------ metadata


class Metadata(_Model):
    """Governance, target workspace and strategy (docs/SHAREPACK.md §4)."""

    requestor: PrincipalList = Field(
        description="Who asks for the sharing (emails or group names)."
    )
    project_name: str | None = Field(None, description="Project; part of the pack key.")
    business_line: str = Field(description="Business line (tenant); part of the pack key.")
    strategy: Strategy = Field("NEW", description="Intent of this version.")
    description: str | None = Field(None, description="Free text.")
    delta_share_region: Region = Field(description="Sharing region of the request.")
    configurator: PrincipalList = Field(description="Who configures the sharing.")
    approver: PrincipalList = Field(description="Who approves.")
    executive_team: PrincipalList = Field(description="Accountable executives.")
    approver_status: ApproverStatus = Field(
        "pending", description="Approval gate; only approved is queued."
    )
    workspace_url: str = Field(description="Target Databricks workspace (https://<host>).")
    servicenow: str = Field(
        description="Change/request ticket reference (alias servicenow_ticket)."
    )
    version: str = Field("1.0", description="The team's own document revision label.")
    contact_email: PrincipalList = Field(description="Contact for the request.")
    client: str | None = Field(None, description="Client / consuming organisation.")
    owner: PrincipalList | None = Field(None, description="Data owner.")
    last_updated: str | None = Field(None, description="The team's own last-edit date (text).")
    destroy_adopted: bool | None = Field(
        None,
        description="DELETE only: also delete the resources this pack adopted (by default they are released).",
    )


# ------------------------------------------------------------------------------------------ recipients


MAX_ROTATE_BEFORE_EXPIRY_DAYS = 365
MAX_ROTATION_GRACE_HOURS = 720


class TokenRotationPolicy(_Model):
    """A standing rotation policy of a D2O recipient (docs/SHAREPACK.md §5.3): rotate `rotate_before_expiry_days` before the token
    expires, the old token staying valid `grace_hours` (shorter than the lead time)."""

    rotate_before_expiry_days: int = Field(
        ge=1,
        le=MAX_ROTATE_BEFORE_EXPIRY_DAYS,
        description=f"Rotate this many days before the token expires (1-{MAX_ROTATE_BEFORE_EXPIRY_DAYS}).",
    )
    grace_hours: int = Field(
        0,
        ge=0,
        le=MAX_ROTATION_GRACE_HOURS,
        description=(
            f"Hours the previous token stays valid after the rotation (0-{MAX_ROTATION_GRACE_HOURS}, "
            "less than the lead time)."
        ),
    )


class Recipient(_Model):
    """A Delta Sharing recipient: D2D (authentication DATABRICKS) or D2O (TOKEN) (docs/SHAREPACK.md §5)."""

    name: str = Field(description="Databricks recipient name (lower-case).")
    type: RecipientType = Field(
        description="D2D (another metastore) or D2O (open sharing, bearer token)."
    )
    recipient: PrincipalList = Field(
        description="Contact e-mail address(es) of the receiving party."
    )
    description: str | None = Field(None, description="Recipient comment (alias comment).")
    recipient_databricks_org: str | None = Field(
        None, description="D2D only: <cloud>:<region>:<metastore-uuid> of the receiving metastore."
    )
    recipient_ips: SortedStrings | None = Field(None, description="D2O: the full IP allowlist.")
    recipient_ips_to_add: SortedStrings | None = Field(None, description="D2O: IPs/CIDRs to add.")
    recipient_ips_to_remove: SortedStrings | None = Field(
        None, description="D2O: IPs/CIDRs to remove."
    )
    token_expiry: int | None = Field(
        None,
        description="D2O: days after first provisioning until the recipient expires (0: unmanaged).",
    )
    token_rotation: bool | TokenRotationPolicy | None = Field(
        None,
        description=(
            "D2O: true rotates the token once for this version; a mapping is a standing policy the worker's "
            "sweep applies before each token expires."
        ),
    )
    token_rotation_grace_days: int | None = Field(
        None, description="D2O: days the previous token stays valid after a rotation."
    )
    properties: Annotated[dict[str, str], AfterValidator(_sorted_map)] | None = Field(
        None,
        description=(
            "Custom recipient properties (current_recipient('<key>')); the whole map: {} removes them all, "
            "absent leaves them unmanaged."
        ),
        json_schema_extra={
            "x-text-form": "key=value pairs separated by semicolons or line breaks."
        },
    )


# ------------------------------------------------------------------------------------------ assets


class PartitionValue(_Model):
    """One condition of a partition spec: exactly one of `value` and `recipient_property_key`."""

    name: str
    op: PartitionOp
    value: str | None = None
    recipient_property_key: str | None = None


class PartitionSpec(_Model):
    """Share only the partitions matching all `values`."""

    values: list[PartitionValue]


class Asset(_Model):
    """A shared object (docs/SHAREPACK.md §7). Only `name` given is the same value as the string form."""

    name: str = Field(
        description="catalog.schema.object (table-like, volume, model), catalog.schema (schema) or /workspace/path "
        "(notebook)."
    )
    type: AssetType | None = Field(
        None, description="Declared type; otherwise read from Unity Catalog."
    )
    shared_as: str | None = Field(None, description="Name under which recipients see the object.")
    cdf_enabled: bool | None = Field(None, description="TABLE only: share the change data feed.")
    history_data_sharing_status: HistoryStatus | None = Field(
        None, description="Table-like only: share table history."
    )
    start_version: int | None = Field(
        None, description="Table-like only: lowest readable table version."
    )
    partitions: list[PartitionSpec] | None = Field(
        None, description="TABLE only: share matching partitions."
    )
    comment: str | None = Field(None, description="Comment on the shared object.")

    @property
    def is_name_only(self) -> bool:
        """True when no option is set (the string form)."""
        return self.model_dump(exclude_none=True).keys() == {"name"}


def _sorted_assets(values: list[Asset]) -> list[Asset]:
    return sorted(values, key=lambda asset: asset.name)


AssetList = Annotated[list[Asset], AfterValidator(_sorted_assets)]


# ------------------------------------------------------------------------------------------ pipelines


class CronSchedule(_Model):
    """A triggered pipeline with one schedule job running on a Quartz cron."""

    cron: str = Field(
        description='Quartz cron: "sec min hour day-of-month month day-of-week [year]".'
    )
    timezone: str = Field("UTC", description="IANA time-zone id.")


class Pipeline(_Model):
    """A DLT pipeline copying `source_asset` into the sharing catalog/schema (docs/SHAREPACK.md §8)."""

    name_prefix: str = Field(
        description="The Databricks pipeline name (case kept); job <name>_schedule."
    )
    source_asset: str = Field(description="catalog.schema.table the pipeline reads.")
    target_asset: str = Field(
        description="Target table name (default: last part of source_asset).",
        json_schema_extra={"x-yaml-optional": True},
    )
    scd_type: ScdType = Field("2", description="1, 2 or full_refresh.")
    key_columns: list[str] | None = Field(None, description="Primary-key columns (order kept).")
    serverless: bool | None = Field(
        None, description="Serverless compute (default: deployment setting)."
    )
    schedule: CronSchedule | Literal["continuous"] = Field(
        description='{cron, timezone} or the word "continuous".'
    )
    notification: PrincipalList | None = Field(None, description="Failure alert recipients.")
    tags: dict[str, str] | None = Field(
        None, description="Tags on the pipeline and its schedule job."
    )
    description: str | None = Field(
        None, description="Description of the schedule job (alias comment)."
    )
    ext_catalog_name: str | None = Field(None, description="Per-pipeline target catalog.")
    ext_schema_name: str | None = Field(None, description="Per-pipeline target schema.")

    @property
    def is_continuous(self) -> bool:
        """True for `schedule: continuous` (no schedule job)."""
        return self.schedule == CONTINUOUS


def _sorted_pipelines(values: list[Pipeline]) -> list[Pipeline]:
    return sorted(values, key=lambda pipeline: (pipeline.name_prefix.lower(), pipeline.name_prefix))


# ------------------------------------------------------------------------------------------ shares


class DeltaShare(_Model):
    """Sharing catalog/schema and defaults for a share's pipelines (docs/SHAREPACK.md §6.2)."""

    ext_catalog_name: str = Field(description="Catalog the pipelines write to (must exist).")
    ext_schema_name: str = Field(description="Schema the pipelines write to.")
    tags: SortedStrings | None = Field(
        None, description='Default tags: items "key" or "key=value".'
    )
    create_schema_if_missing: bool = Field(False, description="Create a missing target schema.")


class Share(_Model):
    """A share, its assets, grants and pipelines (docs/SHAREPACK.md §6)."""

    name: str = Field(description="Databricks share name (lower-case).")
    description: str | None = Field(None, description="Share comment (alias comment).")
    share_assets: AssetList | None = Field(None, description="Declarative asset set.")
    share_assets_to_add: AssetList | None = Field(None, description="Assets to add.")
    share_assets_to_remove: AssetList | None = Field(
        None, description="Assets to remove (name only)."
    )
    recipients: SortedStrings | None = Field(
        None, description="Declarative grant set (recipient names)."
    )
    recipients_to_add: SortedStrings | None = Field(None, description="Grants to add.")
    recipients_to_remove: SortedStrings | None = Field(None, description="Grants to remove.")
    delta_share: DeltaShare | None = Field(
        None, description="Sharing catalog/schema for the pipelines."
    )
    pipelines: Annotated[list[Pipeline], AfterValidator(_sorted_pipelines)] | None = Field(
        None, description="Pipelines feeding this share's assets."
    )


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def _sorted_by_name[T: _Named](values: list[T]) -> list[T]:
    return sorted(values, key=lambda entry: entry.name)


class SharePack(_Model):
    """A NEW or UPDATE share pack: the desired state of recipients, shares and pipelines."""

    metadata: Metadata
    recipient: Annotated[list[Recipient], AfterValidator(_sorted_by_name)] = Field(
        default_factory=list
    )
    share: Annotated[list[Share], AfterValidator(_sorted_by_name)] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------ DELETE shape


class RecipientRef(_Model):
    """A recipient listed for deletion."""

    name: str


class ShareRef(_Model):
    """A share listed for deletion, with the pipelines the requester expects to be removed with it."""

    name: str
    pipelines: Annotated[list[str], AfterValidator(_sorted_principals)] | None = None


class DeleteSharePack(_Model):
    """A DELETE share pack (docs/SHAREPACK.md §10.2): names only."""

    metadata: Metadata
    recipient: Annotated[list[RecipientRef], AfterValidator(_sorted_by_name)] = Field(
        default_factory=list
    )
    share: Annotated[list[ShareRef], AfterValidator(_sorted_by_name)] = Field(default_factory=list)


AnySharePack = SharePack | DeleteSharePack


# ------------------------------------------------------------------------------------------ canonical form

_WHITESPACE_RUN = re.compile(r"\s+")


def canonical_config(pack: AnySharePack) -> dict[str, Any]:
    """The canonical JSON-ready content of a pack (absent optional fields omitted), as stored in `config`."""
    return pack.model_dump(mode="json", exclude_none=True)


def canonical_json(pack: AnySharePack) -> str:
    """UTF-8 canonical JSON: keys sorted, no insignificant whitespace, nulls omitted (docs/WORKFLOW.md §5.2)."""
    return json.dumps(
        canonical_config(pack), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def record_hash(pack: AnySharePack) -> str:
    """Hex SHA-256 of the canonical JSON: equal for the same content in YAML or Excel, in any order."""
    return hashlib.sha256(canonical_json(pack).encode("utf-8")).hexdigest()


def _norm_key_part(value: str) -> str:
    return _WHITESPACE_RUN.sub(" ", value.strip().lower())


def pack_key(metadata: Metadata) -> str:
    """`business_line/project_name/requestors` normalised (docs/SHAREPACK.md §4.2); identifies a pack across uploads."""
    requestors = ",".join(sorted(_norm_key_part(p) for p in metadata.requestor))
    project = metadata.project_name or "default"
    return f"{_norm_key_part(metadata.business_line)}/{_norm_key_part(project)}/{requestors}"


def parse_canonical(config: Mapping[str, Any]) -> AnySharePack:
    """Rebuild a model from stored canonical content (the `config` column); DELETE packs by strategy."""
    metadata = config.get("metadata")
    strategy = metadata.get("strategy") if isinstance(metadata, Mapping) else None
    if strategy == "DELETE":
        return DeleteSharePack.model_validate(config)
    return SharePack.model_validate(config)
