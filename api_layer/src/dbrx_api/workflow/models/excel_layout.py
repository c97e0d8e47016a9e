"""The canonical Excel layout of a share pack (docs/SHAREPACK.md §14), shared by the reader and the template."""

from __future__ import annotations

import re

METADATA_SHEET = "metadata"
RECIPIENT_SHEET = "recipient"
SHARE_SHEET = "share"
PIPELINES_SHEET = "pipelines"
ASSETS_SHEET = "assets"
HELP_SHEET = "help"

CANONICAL_SHEETS: tuple[str, ...] = (
    METADATA_SHEET,
    RECIPIENT_SHEET,
    SHARE_SHEET,
    PIPELINES_SHEET,
    ASSETS_SHEET,
)

METADATA_FIELDS: tuple[str, ...] = (
    "requestor",
    "project_name",
    "business_line",
    "strategy",
    "description",
    "delta_share_region",
    "configurator",
    "approver",
    "executive_team",
    "approver_status",
    "workspace_url",
    "servicenow",
    "version",
    "contact_email",
    "client",
    "owner",
    "last_updated",
    "destroy_adopted",
)
METADATA_COLUMNS: tuple[str, ...] = ("field", "value")

RECIPIENT_COLUMNS: tuple[str, ...] = (
    "name",
    "type",
    "recipient",
    "description",
    "recipient_databricks_org",
    "recipient_ips",
    "recipient_ips_to_add",
    "recipient_ips_to_remove",
    "token_expiry",
    "token_rotation",
    "token_rotation_grace_days",
    "properties",
    "rotate_before_expiry_days",
    "rotation_grace_hours",
)
# Columns of the recipient sheet that together form the recipient's `token_rotation` policy mapping (column -> key).
TOKEN_ROTATION_POLICY_COLUMNS: dict[str, str] = {
    "rotate_before_expiry_days": "rotate_before_expiry_days",
    "rotation_grace_hours": "grace_hours",
}

SHARE_COLUMNS: tuple[str, ...] = (
    "name",
    "description",
    "share_assets",
    "share_assets_to_add",
    "share_assets_to_remove",
    "recipients",
    "recipients_to_add",
    "recipients_to_remove",
    "ext_catalog_name",
    "ext_schema_name",
    "tags",
    "create_schema_if_missing",
)
# Columns of the share sheet that together form the share's `delta_share` mapping.
DELTA_SHARE_COLUMNS: tuple[str, ...] = (
    "ext_catalog_name",
    "ext_schema_name",
    "tags",
    "create_schema_if_missing",
)
ASSET_LIST_KEYS: tuple[str, ...] = ("share_assets", "share_assets_to_add", "share_assets_to_remove")

PIPELINE_COLUMNS: tuple[str, ...] = (
    "share_name",
    "name_prefix",
    "source_asset",
    "target_asset",
    "scd_type",
    "key_columns",
    "serverless",
    "schedule_cron",
    "schedule_timezone",
    "notification",
    "tags",
    "description",
    "ext_catalog_name",
    "ext_schema_name",
)

ASSET_COLUMNS: tuple[str, ...] = (
    "share_name",
    "list",
    "name",
    "type",
    "shared_as",
    "cdf_enabled",
    "history_data_sharing_status",
    "start_version",
    "partitions",
    "comment",
)

# Accepted alternative headers (alias -> canonical column), per sheet.
COLUMN_ALIASES: dict[str, dict[str, str]] = {
    METADATA_SHEET: {},
    RECIPIENT_SHEET: {"comment": "description"},
    SHARE_SHEET: {"comment": "description"},
    PIPELINES_SHEET: {"comment": "description"},
    ASSETS_SHEET: {},
}
# Deprecated columns that are ignored with warning `field_deprecated`.
DEPRECATED_COLUMNS: dict[str, frozenset[str]] = {
    METADATA_SHEET: frozenset(),
    RECIPIENT_SHEET: frozenset(),
    SHARE_SHEET: frozenset(),
    PIPELINES_SHEET: frozenset({"prefix_assetname"}),
    ASSETS_SHEET: frozenset(),
}

SHEET_COLUMNS: dict[str, tuple[str, ...]] = {
    METADATA_SHEET: METADATA_COLUMNS,
    RECIPIENT_SHEET: RECIPIENT_COLUMNS,
    SHARE_SHEET: SHARE_COLUMNS,
    PIPELINES_SHEET: PIPELINE_COLUMNS,
    ASSETS_SHEET: ASSET_COLUMNS,
}
# Columns a sheet with data rows must have (`xlsx_column_missing`).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    METADATA_SHEET: ("field", "value"),
    RECIPIENT_SHEET: ("name",),
    SHARE_SHEET: ("name",),
    PIPELINES_SHEET: ("share_name", "name_prefix"),
    ASSETS_SHEET: ("share_name", "name"),
}

# Maximum characters Excel keeps in one cell; longer list cells are written as rows of the assets sheet.
EXCEL_CELL_MAX_CHARS = 32_767

_HEADER_SEPARATORS = re.compile(r"[ \-]+")


def normalise_header(text: str) -> str:
    """Trim, lower-case and turn each run of spaces or hyphens into `_` (`Share Name` -> `share_name`)."""
    return _HEADER_SEPARATORS.sub("_", text.strip().lower())


def normalise_sheet_name(text: str) -> str:
    """Sheet names are matched case-insensitively after trimming."""
    return text.strip().lower()
