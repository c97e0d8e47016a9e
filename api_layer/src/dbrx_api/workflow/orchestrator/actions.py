"""The action graph's unit (docs/WORKFLOW.md §9.3): one `Action` per resource step, its canonical order and key.

Shared by the diff (which builds actions), the resource kinds of `workflow.resources` (which plan and execute
theirs) and the scheduler in `apply`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class StepType(StrEnum):
    """What an action works on; the prefix of its step key (`share_objects:sales_share`)."""

    RECIPIENT = "recipient"
    TOKEN = "token"  # noqa: S105 - the step type of a rotation, not a secret
    SHARE = "share"
    SHARE_OBJECTS = "share_objects"
    SHARE_GRANTS = "share_grants"
    SCHEMA = "schema"
    PIPELINE = "pipeline"
    SCHEDULE = "schedule"
    DELETE_PIPELINE = "delete_pipeline"


class Verb(StrEnum):
    """What an action does (the plan shows `no_op` for NOOP, `adopt` for an adoption)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ROTATE_TOKEN = "rotate_token"  # noqa: S105 - a verb, not a secret
    NOOP = "noop"


# Canonical order of the step types (docs/WORKFLOW.md §9.3); deletions of a DELETE pack come last; ties are broken by name.
ORDER: dict[StepType | str, int] = {
    StepType.RECIPIENT: 1,
    StepType.TOKEN: 2,
    StepType.SHARE: 3,
    StepType.SHARE_OBJECTS: 4,
    StepType.SHARE_GRANTS: 5,
    StepType.SCHEMA: 6,
    StepType.PIPELINE: 7,
    StepType.SCHEDULE: 8,
    "delete": 9,
}


@dataclass(frozen=True)
class Adoption:
    """Whether a live object that provisioning would otherwise create counts as created by this pack (docs/WORKFLOW.md §9.9)."""

    created_by_pack: bool
    this_version: bool = (
        False  # the create intent belongs to a run of the version being provisioned
    )
    intent_at: datetime | None = None


AdoptionLookup = Callable[[str, str, "str | None"], Adoption]
"""`(resource_type, name, live creator) -> Adoption` (provisioning checks create intents; plan answers no)."""


def no_adoption(_resource_type: str, _name: str, _creator: str | None) -> Adoption:
    """The lookup of read-only flows: nothing is recorded, so ownership does not matter."""
    return Adoption(created_by_pack=False)


def step_key(resource_type: str, name: str) -> str:
    """The step key of an action, e.g. `recipient:acme` (dependencies name actions by it)."""
    return f"{resource_type}:{name}"


@dataclass
class Action[W]:
    """One action on one resource; `key` (`<step type>:<name>`) names it in the graph and as a step.

    `work` is the kind's executor data (its `*Work` dataclass, a `Deletion` for a DELETE pack).
    """

    resource_type: (
        StepType  # the resource it changes; the step type too unless `step_prefix` says otherwise
    )
    name: str
    kind: Verb
    work: W
    order: int = 0  # position in the canonical order; 0: `ORDER` of the step type (`__post_init__`)
    deps: set[str] = field(default_factory=set)
    calls: int = 0
    diff: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None
    drops_tables: list[str] | None = None
    plan_kind: str | None = None  # e.g. set_expiry
    adopt: bool = False  # takes over a live object no pack manages (plan action `adopt`)
    step_prefix: StepType | None = None  # e.g. DELETE_PIPELINE for a pipeline deletion
    seq: int = 0

    def __post_init__(self) -> None:
        if not self.order:
            self.order = ORDER[self.step_type]

    @property
    def step_type(self) -> StepType:
        """The step key's prefix: the resource type unless the action says otherwise (`delete_pipeline`)."""
        return self.step_prefix or self.resource_type

    @property
    def key(self) -> str:
        """The step key, e.g. `share_objects:sales_share`."""
        return step_key(self.step_type, self.name)

    @property
    def is_noop(self) -> bool:
        """No Databricks call is needed."""
        return self.kind == Verb.NOOP

    def plan_entry(self) -> dict[str, Any]:
        """The `changes[]` item of the plan response (docs/API.md §12.3)."""
        action = (
            "adopt" if self.adopt else "no_op" if self.is_noop else (self.plan_kind or self.kind)
        )
        entry: dict[str, Any] = {
            "seq": self.seq,
            "action": action,
            "resource_type": self.resource_type,
            "name": self.name,
        }
        if self.diff:
            entry["diff"] = self.diff
        if self.after:
            entry["after"] = self.after
        if self.reason:
            entry["reason"] = self.reason
        elif self.adopt:
            entry["reason"] = "exists and no pack manages it; this pack adopts it"
        if self.drops_tables is not None:
            entry["destructive"] = True
            entry["drops_tables"] = self.drops_tables
        if not self.is_noop:
            entry["calls"] = self.calls
        return entry


AnyAction = Action[Any]
"""An action of any kind, as the generic engine (graph, scheduler, steps) holds it."""
