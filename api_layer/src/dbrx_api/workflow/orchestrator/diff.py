"""Desired vs live state → the action graph of a NEW/UPDATE run (docs/WORKFLOW.md §9.3), shared by provisioning and plan.

`build_graph` compares the pack with the live objects (read through the run's `LiveReader`) and the recorded
rows, and returns one `Action` per resource: what would be done (`create`, `update`, `delete`, `rotate_token`,
`noop`), the dependencies between actions, the number of mutating calls, a readable diff for `plan`, and the data
its kind's executor (`workflow.resources`) needs. Actions are numbered in the canonical order (recipients, tokens, shares, share
objects, share grants, target schemas, pipelines, schedules, deletions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from dbrx_api.settings import DatabricksSettings
from dbrx_api.workflow.db.repositories.records import AnyRecord
from dbrx_api.workflow.models.issues import Issue
from dbrx_api.workflow.models.pack import SharePack
from dbrx_api.workflow.orchestrator.actions import (
    AdoptionLookup,
    AnyAction,
    no_adoption,
)
from dbrx_api.workflow.orchestrator.live import LiveReader
from dbrx_api.workflow.orchestrator.records import Recorded
from dbrx_api.workflow.resources import KINDS
from dbrx_api.workflow.validators.locator import PackLocator

# ------------------------------------------------------------------------------------------ graph


@dataclass
class ActionGraph:
    """Actions in canonical order (seq 1..n) and the warnings found while diffing."""

    actions: list[AnyAction]
    warnings: list[Issue]

    def by_key(self) -> dict[str, AnyAction]:
        """Actions by step key."""
        return {action.key: action for action in self.actions}

    @property
    def mutating_calls(self) -> int:
        """Mutating calls the graph needs when everything goes as read."""
        return sum(action.calls for action in self.actions)

    def dependants(self, key: str) -> set[str]:
        """Every action that depends, directly or not, on `key`."""
        reverse: dict[str, set[str]] = {}
        for action in self.actions:
            for dep in action.deps:
                reverse.setdefault(dep, set()).add(action.key)
        found: set[str] = set()
        stack = [key]
        while stack:
            for child in reverse.get(stack.pop(), ()):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found


# ------------------------------------------------------------------------------------------ inputs


@dataclass
class DiffInputs:
    """Everything `build_graph` needs; `reader` holds the run's live reads (docs/WORKFLOW.md §9.2)."""

    pack: SharePack
    reader: LiveReader
    recorded: Recorded
    resolved_types: dict[tuple[str, str], str]
    databricks: DatabricksSettings
    reference_time: datetime
    now: datetime
    locator: PackLocator
    adoption: AdoptionLookup = no_adoption


class GraphBuilder:
    """Builds the graph; resource kinds (`workflow.resources`) add their actions through it."""

    def __init__(self, inputs: DiffInputs) -> None:
        self.i = inputs
        self.reader = inputs.reader
        self.recorded = inputs.recorded
        self.actions: list[AnyAction] = []
        self.warnings: list[Issue] = []
        self.strategy = inputs.pack.metadata.strategy

    def warn(self, code: str, path: str, msg: str) -> None:
        self.warnings.append(Issue.at(code, "warning", path, msg, self.i.locator.position(path)))

    def add(self, action: AnyAction) -> AnyAction:
        self.actions.append(action)
        return action

    def adopting(self, action: AnyAction, row: AnyRecord | None, created: bool | None) -> None:
        """Mark the action on an existing object as an adoption when no pack records it (docs/WORKFLOW.md §9.10)."""
        unmanaged = row is None or row.share_pack_id is None
        action.adopt = unmanaged and not created

    def presence_warning(self, kind: str, name: str, path: str, *, exists: bool) -> None:
        """NEW on an existing resource, UPDATE creating a missing one (docs/SHAREPACK.md §10.1)."""
        if exists and self.strategy == "NEW":
            self.warn(
                "new_on_existing", path, f'{kind} "{name}" already exists; it will be updated.'
            )
        if not exists and self.strategy == "UPDATE":
            self.warn(
                "update_created_missing",
                path,
                f'{kind} "{name}" does not exist; it will be created.',
            )

    def other_pack(self, row: AnyRecord | None, kind: str, name: str, path: str) -> None:
        if row is not None and row.share_pack_id not in (None, self.recorded.share_pack_id):
            self.warn(
                "resource_managed_by_other_pack",
                path,
                f'{kind} "{name}" is recorded as managed by share pack {row.share_pack_id}; '
                "its step fails (a resource has one managing pack).",
            )

    def no_longer_in_pack(
        self, kind: str, declared: Iterable[str], rows: Mapping[str, AnyRecord]
    ) -> None:
        """Warn about recorded resources an earlier version of the pack managed and this one no longer lists."""
        names = set(declared)
        for name, row in sorted(rows.items()):
            if name not in names and self.recorded.owned(row):
                self.warn(
                    "resource_no_longer_in_pack",
                    kind,
                    f'{kind} "{name}" was managed by an earlier version of this pack; it is left in place.',
                )

    def build(self) -> ActionGraph:
        for kind in KINDS:
            kind.plan(self)
        for kind in KINDS:
            kind.leftovers(self)
        self.actions.sort(key=lambda action: (action.order, action.name.lower(), action.key))
        keys = {action.key for action in self.actions}
        for seq, action in enumerate(self.actions, start=1):
            action.seq = seq
            action.deps &= keys
        return ActionGraph(self.actions, self.warnings)


def build_graph(inputs: DiffInputs) -> ActionGraph:
    """The action graph of a NEW/UPDATE pack against the live state (reads go through `inputs.reader`)."""
    return GraphBuilder(inputs).build()
