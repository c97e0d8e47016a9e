"""The target-schema kind in one room: the Unity Catalog schema a share's pipelines write into
(docs/SHAREPACK.md §6.2; docs/WORKFLOW.md §9.3).

Its action is `schema:<catalog.schema>`: created when missing and the share asks for it
(`delta_share.create_schema_if_missing`), otherwise a no-op that pipelines depend on. Schemas are not recorded:
a DELETE pack leaves them, and drift has nothing to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbrx_api.jobs.pipelines import sdk_create_schema
from dbrx_api.workflow.db.repositories.provisioning_steps import StepOutcome
from dbrx_api.workflow.models.pack import SharePack
from dbrx_api.workflow.orchestrator.actions import Action, AnyAction, StepType, Verb
from dbrx_api.workflow.orchestrator.live import LiveReader
from dbrx_api.workflow.orchestrator.steps import RunContext, StepResult
from dbrx_api.workflow.resources.pipeline import pipeline_target

if TYPE_CHECKING:
    from uuid import UUID

    from dbrx_api.settings import Settings
    from dbrx_api.workflow.db.connection import DictConnection
    from dbrx_api.workflow.db.repositories.records import AnyRecord
    from dbrx_api.workflow.orchestrator.diff import GraphBuilder
    from dbrx_api.workflow.validators.locator import PackLocator

RESOURCE_TYPE = StepType.SCHEMA  # step key `schema:<catalog.schema>`
SCHEMA_COMMENT = "Created by DeltaShare"


@dataclass
class SchemaWork:
    """Executor data of a target-schema action."""

    catalog: str
    schema: str


class SchemaKind:
    """The target schema as a `ResourceKind`."""

    resource_type = RESOURCE_TYPE
    action_types = frozenset({RESOURCE_TYPE})

    def plan(self, graph: GraphBuilder) -> None:
        """One action per target schema of the pack's pipelines."""
        schemas: dict[str, tuple[str, str, bool]] = {}
        for share in graph.i.pack.share:
            create = bool(share.delta_share and share.delta_share.create_schema_if_missing)
            for pipeline in share.pipelines or []:
                target = pipeline_target(share, pipeline)
                known = schemas.get(target.schema_full_name)
                schemas[target.schema_full_name] = (
                    target.catalog,
                    target.schema,
                    create or (known[2] if known else False),
                )
        for full_name, (catalog, schema, create) in sorted(schemas.items()):
            exists = graph.reader.schema_exists(full_name)
            missing = not exists and create
            graph.add(
                Action(
                    RESOURCE_TYPE,
                    full_name,
                    Verb.CREATE if missing else Verb.NOOP,
                    SchemaWork(catalog, schema),
                    calls=1 if missing else 0,
                )
            )

    def leftovers(self, graph: GraphBuilder) -> None:
        """Nothing: schemas are never removed by a pack."""

    def execute(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """Create a missing target schema; "already exists" counts as done. The catalog is never created."""
        work: SchemaWork = action.work
        if action.kind == Verb.NOOP:
            return StepResult(StepOutcome.NOOP)
        full_name = f"{work.catalog}.{work.schema}"
        sdk_create_schema(ctx.workspace.client, work.catalog, work.schema, comment=SCHEMA_COMMENT)
        ctx.reader.put(RESOURCE_TYPE, full_name, True)
        return StepResult(StepOutcome.SUCCEEDED, calls=1, audit_action="schema.create")

    def delete(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """A DELETE pack leaves schemas in place."""
        del ctx
        raise ValueError(f"no DELETE-pack action: {action.key}")

    def locate(self, action: AnyAction, locator: PackLocator) -> str:
        """No pack entry of its own ("")."""
        del action, locator
        return ""

    def read(self, reader: LiveReader, name: str) -> bool | None:
        """True when the schema `catalog.schema` exists, None when absent."""
        return reader.schema_exists(name) or None

    def drift(
        self, row: AnyRecord, pack: SharePack | None, live: Any, settings: Settings
    ) -> list[dict[str, Any]]:
        """Nothing is recorded, so nothing drifts."""
        del row, pack, live, settings
        return []

    def recorded(
        self, conn: DictConnection, workspace_url: str, share_pack_id: UUID | None
    ) -> list[AnyRecord]:
        """Schemas are not recorded."""
        del conn, workspace_url, share_pack_id
        return []

    def drift_target(self, row: AnyRecord, settings: Settings) -> tuple[str, str] | None:
        """Never called: no row is recorded."""
        del row, settings
        return None


SCHEMA = SchemaKind()
