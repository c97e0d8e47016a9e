"""Lenient pydantic input models of the share-pack sections moved off the hand-built readers (see `lenient`).

Each model reads a section's located entries and yields the values of the canonical model (`models.pack`);
defaults of the canonical model (strategy NEW, version 1.0, ...) are left to it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WrapValidator,
    field_validator,
)

from dbrx_api.workflow.models.pack import APPROVER_STATUSES, REGIONS, STRATEGIES
from dbrx_api.workflow.validators.fields import FieldError, check_workspace_url
from dbrx_api.workflow.validators.lenient import (
    Section,
    enum,
    failed_item,
    field_issue,
    principals,
    text,
    warn,
)

MAX_DESCRIPTION = 2000
MAX_SHORT_TEXT = 255
MAX_REQUESTORS = 10


Item = Annotated[str, BeforeValidator(failed_item)]
Principals = Annotated[list[Item] | None, WrapValidator(principals(required=True))]
OptionalPrincipals = Annotated[list[Item] | None, WrapValidator(principals(required=False))]
Requestors = Annotated[
    list[Item] | None, WrapValidator(principals(required=True, max_entries=MAX_REQUESTORS))
]
ShortText = Annotated[str | None, BeforeValidator(text(MAX_SHORT_TEXT))]
RequiredShortText = Annotated[str | None, BeforeValidator(text(MAX_SHORT_TEXT, required=True))]
Description = Annotated[str | None, BeforeValidator(text(MAX_DESCRIPTION))]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


# ------------------------------------------------------------------------------------------ metadata


class MetadataIn(_Input):
    """§4, as written: governance fields, target workspace and strategy."""

    requestor: Requestors
    project_name: ShortText = None
    business_line: RequiredShortText
    strategy: Annotated[str | None, BeforeValidator(enum(STRATEGIES))] = None
    description: Description = None
    delta_share_region: Annotated[str | None, BeforeValidator(enum(REGIONS, required=True))]
    configurator: Principals
    approver: Principals
    executive_team: Principals
    approver_status: Annotated[str | None, BeforeValidator(enum(APPROVER_STATUSES))] = Field(
        None, validate_default=True
    )
    workspace_url: Annotated[str | None, BeforeValidator(text(2048, required=True))]
    servicenow: RequiredShortText = Field(  # type: ignore[pydantic-alias]
        validation_alias=AliasChoices("servicenow", "servicenow_ticket")
    )
    version: Annotated[str | None, BeforeValidator(text(32))] = None
    contact_email: Principals
    client: ShortText = None
    owner: OptionalPrincipals = None
    last_updated: Annotated[str | None, BeforeValidator(text(64))] = None

    @field_validator("strategy")
    @classmethod
    def _remember_strategy(cls, value: str | None, info: ValidationInfo) -> str | None:
        # The strategy decides how the rest of the document is read, even when metadata has other errors.
        info.context["strategy"] = value  # type: ignore[index]
        return value

    @field_validator("approver_status")
    @classmethod
    def _approver_status(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            warn(
                info,
                "approver_status_defaulted",
                ("approver_status",),
                'approver_status is not set; "pending" is assumed, so this version will not be provisioned.',
                pos_loc=(),
            )
        return value

    @field_validator("workspace_url")
    @classmethod
    def _workspace_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        try:
            return check_workspace_url(value, allow_local=info.context["allow_local_urls"])  # type: ignore[index]
        except FieldError as exc:
            raise field_issue(exc, value) from None


METADATA = Section(
    known=tuple(MetadataIn.model_fields),
    aliases={"servicenow_ticket": "servicenow"},
    explanations={"delta_share_region": f" ({' or '.join(REGIONS)})"},
)
