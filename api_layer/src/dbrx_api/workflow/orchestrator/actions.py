"""The action graph's unit (docs/WORKFLOW.md §9.3): one `Action` per resource step, its canonical order and key.

Shared by the diff (which builds actions), the resource kinds of `workflow.resources` (which plan and execute
theirs) and the scheduler in `apply`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Canonical order of resource kinds (§9.3); ties are broken by name.
ORDER = {
    "recipient": 1,
    "token": 2,
    "share": 3,
    "share_objects": 4,
    "share_grants": 5,
    "schema": 6,
    "pipeline": 7,
    "schedule": 8,
    "delete": 9,
}


@dataclass(frozen=True)
class Adoption:
    """Whether a live object that provisioning would otherwise create counts as created by this pack (§9.9)."""

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
class Action:
    """One action on one resource; `key` (`<resource_type>:<name>`) names it in the graph and as a step."""

    resource_type: str  # recipient | token | share | share_objects | share_grants | schema | pipeline | schedule
    name: str
    kind: str  # create | update | delete | rotate_token | noop
    order: int
    work: Any
    deps: set[str] = field(default_factory=set)
    calls: int = 0
    diff: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None
    drops_tables: list[str] | None = None
    plan_kind: str | None = None  # e.g. set_expiry
    adopt: bool = False  # takes over a live object no pack manages (plan action `adopt`)
    step_prefix: str | None = (
        None  # the step type when it is not the resource type, e.g. `delete_pipeline`
    )
    seq: int = 0

    @property
    def step_type(self) -> str:
        """The step key's prefix: the resource type unless the action says otherwise (`delete_pipeline`)."""
        return self.step_prefix or self.resource_type

    @property
    def key(self) -> str:
        """The step key, e.g. `share_objects:sales_share`."""
        return step_key(self.step_type, self.name)

    @property
    def is_noop(self) -> bool:
        """No Databricks call is needed."""
        return self.kind == "noop"

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
