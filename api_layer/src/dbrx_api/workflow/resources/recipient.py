"""The recipient kind in one room (docs/SHAREPACK.md §5, §9.1; docs/WORKFLOW.md §9.3-§9.8, §11).

Everything provisioning, plan, DELETE and drift know about a recipient is here:

* its desired state from the canonical pack (`desired_recipient`);
* its managed fields (`RecipientFields`: comment, IP allowlist, expiry, custom properties; None = not managed),
  their normalisers, and the one comparison with a live recipient (`recipient_change`): the diff runs it against
  the desired state, drift against the recorded state (`recorded_fields`);
* its actions in the graph (`plan`: recipient create/update/no-op, the once-per-version token rotation);
* its Databricks calls, all through the `dltshr.recipients` gateway (create, update, rotate, delete);
* its SCD2 row (`record_of`, written with `db.repositories.recipients`);
* its pack entry read back from a live recipient, for the export (`exported_recipient`, docs/WORKFLOW.md §15);
* its live checks before anything is planned (`check_recipient`, run by `orchestrator.checks`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from databricks.sdk.service.sharing import RecipientInfo as SdkRecipientInfo
from databricks.sdk.service.sharing import RecipientTokenInfo

from dbrx_api.dltshr.recipients import iter_share_permissions as recipient_share_permissions
from dbrx_api.dltshr.recipients import (
    recipient_properties,
    sdk_create_d2d_recipient,
    sdk_create_d2o_recipient,
    sdk_delete_recipient,
    sdk_get_recipient,
    sdk_rotate_recipient_token,
    sdk_update_recipient,
)
from dbrx_api.errors import AppError, ConflictError, NotFoundError
from dbrx_api.schemas.common import enum_text, from_epoch_ms, to_epoch_ms
from dbrx_api.schemas.recipients import comparable_ip
from dbrx_api.workflow.db.connection import transaction
from dbrx_api.workflow.db.repositories import recipients, version_actions
from dbrx_api.workflow.db.repositories.provisioning_steps import StepOutcome
from dbrx_api.workflow.db.repositories.recipients import RecipientRecord
from dbrx_api.workflow.db.repositories.records import RecordWrite
from dbrx_api.workflow.models.pack import PLACEHOLDER, Recipient, SharePack, TokenRotationPolicy
from dbrx_api.workflow.orchestrator.actions import (
    Action,
    AnyAction,
    StepType,
    Verb,
    step_key,
)
from dbrx_api.workflow.orchestrator.live import LiveReader, recipient_ips
from dbrx_api.workflow.orchestrator.steps import (
    RunContext,
    StepFailure,
    StepResult,
    already_gone,
    kept,
    kept_recreated,
    record_reason,
)
from dbrx_api.workflow.resources import Warn, deletion_row, own_previous, set_difference, work_of
from dbrx_api.workflow.validators.fields import MAX_IP_ENTRIES

if TYPE_CHECKING:
    from uuid import UUID

    from dbrx_api.settings import Settings
    from dbrx_api.workflow.db.connection import DictConnection
    from dbrx_api.workflow.models.pack import RecipientType
    from dbrx_api.workflow.orchestrator.checks import LiveChecker
    from dbrx_api.workflow.orchestrator.diff import GraphBuilder
    from dbrx_api.workflow.validators.locator import PackLocator

RESOURCE_TYPE = StepType.RECIPIENT
ROTATION = StepType.TOKEN  # the resource type of the rotation action (step key `token:<name>`)
AUTH_TYPES: dict[RecipientType, str] = {"D2D": "DATABRICKS", "D2O": "TOKEN"}
_TYPE_OF_AUTH = {auth: kind for kind, auth in AUTH_TYPES.items()}
EXPIRY_TOLERANCE = timedelta(seconds=60)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ------------------------------------------------------------------------------------------ normalisers


def canonical_ips(values: Iterable[str]) -> list[str]:
    """Canonical, sorted, without duplicates."""
    return sorted({comparable_ip(v) for v in values})


def live_ips(live: SdkRecipientInfo) -> list[str]:
    """The live IP allowlist, canonical."""
    return canonical_ips(recipient_ips(live))


def _exact_ms(moment: datetime) -> int:
    """Epoch milliseconds of a recorded timestamp (integer arithmetic: no float rounding)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _iso(epoch_ms: int | None) -> str | None:
    moment = from_epoch_ms(epoch_ms)
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------ managed fields


@dataclass(frozen=True)
class RecipientFields:
    """The managed fields of a recipient, normalised; None is "not managed" (in a change: "equal")."""

    comment: str | None = None
    ips: list[str] | None = None  # canonical, sorted
    expiration_ms: int | None = None
    properties: Mapping[str, str] | None = None  # the whole custom map ({}: none); sorted

    @property
    def empty(self) -> bool:
        """True when no field is set (a change: nothing differs)."""
        return all(getattr(self, field.name) is None for field in dataclasses.fields(self))


RecipientChange = RecipientFields
"""The differing managed fields of a recipient (one `recipients.update` carries them all)."""


def recipient_change(wanted: RecipientFields, live: SdkRecipientInfo) -> RecipientChange:
    """The one comparison: the managed fields of `live` that differ from `wanted` (desired or recorded)."""
    comment = None
    if wanted.comment is not None and (live.comment or "") != wanted.comment:
        comment = wanted.comment
    ips = None
    if wanted.ips is not None and live_ips(live) != wanted.ips:
        ips = wanted.ips
    expiration = None
    if wanted.expiration_ms is not None:
        live_ms = live.expiration_time
        tolerance_ms = EXPIRY_TOLERANCE.total_seconds() * 1000
        if live_ms is None or abs(live_ms - wanted.expiration_ms) > tolerance_ms:
            expiration = wanted.expiration_ms
    properties = None
    # Databricks' built-in `databricks.*` properties are not ours: `recipient_properties` leaves them out.
    if wanted.properties is not None and recipient_properties(live) != dict(wanted.properties):
        properties = wanted.properties
    return RecipientChange(
        comment=comment, ips=ips, expiration_ms=expiration, properties=properties
    )


def plan_diff(change: RecipientChange, live: SdkRecipientInfo) -> dict[str, Any]:
    """The plan's `diff` of an update: `{field: {from, to}}`, the IP list as `{add, remove}`."""
    diff: dict[str, Any] = {}
    if change.comment is not None:
        diff["comment"] = {"from": live.comment, "to": change.comment}
    if change.ips is not None:
        before = set(live_ips(live))
        diff["ip_access_list"] = {
            "add": sorted(set(change.ips) - before),
            "remove": sorted(before - set(change.ips)),
        }
    if change.expiration_ms is not None:
        diff["expiration_time"] = {
            "from": _iso(live.expiration_time),
            "to": _iso(change.expiration_ms),
        }
    if change.properties is not None:
        held = recipient_properties(live)
        diff["properties"] = {
            "set": {k: v for k, v in change.properties.items() if held.get(k) != v},
            "remove": sorted(set(held) - set(change.properties)),
        }
    return diff


def _update(ws: Any, name: str, change: RecipientChange) -> SdkRecipientInfo:
    # An empty `ips` clears the allowlist (docs/databricks-wire-contract.md trap 10).
    # `properties` replaces the whole custom map; `{}` removes them all.
    return sdk_update_recipient(
        ws,
        name,
        comment=change.comment,
        ips=change.ips,
        expiration_ms=change.expiration_ms,
        properties=change.properties,
    )


# ------------------------------------------------------------------------------------------ desired state


@dataclass(frozen=True)
class DesiredRecipient:
    """A recipient as the pack wants it: identity, managed fields (None: not managed) and rotation."""

    name: str
    type: Literal["D2D", "D2O"]
    org: str | None
    fields: RecipientFields  # ips computed against the live list; expiry T + token_expiry days, not elapsed
    expiry_elapsed: bool
    rotate: bool
    grace_days: int
    policy: TokenRotationPolicy | None = None  # the sweep's standing policy (docs/WORKFLOW.md §9.6)

    @property
    def authentication_type(self) -> str:
        """DATABRICKS (D2D) or TOKEN (D2O)."""
        return AUTH_TYPES[self.type]


def wanted_ips(recipient: Recipient, live: SdkRecipientInfo | None) -> list[str] | None:
    """The D2O allowlist after this version, canonical and sorted: the declared list, else the live one (none when
    the recipient is absent), plus the additions, minus the removals; None when the pack leaves it unmanaged.

    Both sides are canonical, so removing `10.0.0.1` removes a live `10.0.0.1/32` (docs/SHAREPACK.md §5.2).
    """
    keys = (
        recipient.recipient_ips,
        recipient.recipient_ips_to_add,
        recipient.recipient_ips_to_remove,
    )
    if recipient.type != "D2O" or all(value is None for value in keys):
        return None
    base = (
        recipient.recipient_ips
        if recipient.recipient_ips is not None
        else (recipient_ips(live) if live is not None else [])
    )
    wanted = {comparable_ip(ip) for ip in [*base, *(recipient.recipient_ips_to_add or [])]}
    wanted -= {comparable_ip(ip) for ip in recipient.recipient_ips_to_remove or []}
    return sorted(wanted)


def desired_recipient(
    recipient: Recipient, live: SdkRecipientInfo | None, *, reference_time: datetime, now: datetime
) -> DesiredRecipient:
    """Desired state of a declared recipient (docs/SHAREPACK.md §5, §9.1; docs/WORKFLOW.md §9.6 expiry)."""
    ips = wanted_ips(recipient, live)
    expiration_ms: int | None = None
    elapsed = False
    days = recipient.token_expiry or 0
    if recipient.type == "D2O" and days > 0:
        target = reference_time + timedelta(days=days)
        if target <= now:
            elapsed = True
        else:
            expiration_ms = to_epoch_ms(target)
    return DesiredRecipient(
        name=recipient.name,
        type=recipient.type,
        org=recipient.recipient_databricks_org,
        fields=RecipientFields(
            comment=recipient.description,
            ips=ips,
            expiration_ms=expiration_ms,
            properties=recipient.properties,
        ),
        expiry_elapsed=elapsed,
        rotate=recipient.token_rotation is True and recipient.type == "D2O",
        grace_days=recipient.token_rotation_grace_days or 0,
        policy=recipient.token_rotation
        if isinstance(recipient.token_rotation, TokenRotationPolicy) and recipient.type == "D2O"
        else None,
    )


def _create_after(desired: DesiredRecipient, recipient: Recipient) -> dict[str, Any]:
    """The plan's `after` of a create."""
    after: dict[str, Any] = {"type": recipient.type}
    if desired.fields.comment is not None:
        after["comment"] = desired.fields.comment
    if recipient.type == "D2D":
        after["recipient_databricks_org"] = desired.org
    if desired.fields.ips is not None:
        after["ip_access_list"] = desired.fields.ips
    if desired.fields.expiration_ms is not None:
        after["expiration"] = f"T+{recipient.token_expiry}d"
    if desired.fields.properties is not None:
        after["properties"] = dict(desired.fields.properties)
    return after


# ------------------------------------------------------------------------------------------ live checks


def check_recipient(checker: LiveChecker, recipient: Recipient, strategy: str) -> None:
    """Stage-5 checks of a declared recipient (docs/SHAREPACK.md §13.4): presence against the strategy, the
    immutable type and metastore, the D2O allowlist after this version."""
    path = checker.locator.recipient(recipient.name)
    live = checker.recipient(recipient.name, path)
    org = recipient.recipient_databricks_org
    if live is None:
        if strategy == "UPDATE":
            checker.add(
                "warning",
                "update_created_missing",
                path,
                f'recipient "{recipient.name}" does not exist; it will be created.',
            )
        if org is not None:
            lookup = checker.lookup
            users = checker.call(
                "recipients_with_org", org, path, lambda: lookup.recipients_with_org(org)
            )
            others = [name for name in users or [] if name != recipient.name]
            if others:
                checker.add(
                    "error",
                    "recipient_org_in_use",
                    f"{path}.recipient_databricks_org",
                    f'already used by recipient "{others[0]}".',
                    input_value=org,
                )
        return
    if strategy == "NEW":
        checker.add(
            "warning",
            "new_on_existing",
            path,
            f'recipient "{recipient.name}" already exists; it will be updated.',
        )
    authentication = (enum_text(live.authentication_type) or "").upper()
    if authentication != AUTH_TYPES[recipient.type]:
        other = "D2D" if authentication == "DATABRICKS" else "D2O"
        checker.add(
            "error",
            "recipient_type_immutable",
            f"{path}.type",
            f'recipient "{recipient.name}" exists as {other}; the type cannot change.',
        )
        return
    if org is not None and (live.data_recipient_global_metastore_id or "").lower() != org:
        checker.add(
            "error",
            "recipient_org_immutable",
            f"{path}.recipient_databricks_org",
            f'recipient "{recipient.name}" is bound to another metastore.',
            input_value=org,
        )
    if recipient.type == "D2O":
        wanted = wanted_ips(recipient, live)
        effective = wanted if wanted is not None else live_ips(live)
        if len(effective) > MAX_IP_ENTRIES:
            checker.add(
                "error",
                "ip_list_too_long",
                f"{path}.recipient_ips_to_add"
                if recipient.recipient_ips is None
                else f"{path}.recipient_ips",
                f"the allowlist would hold {len(effective)} entries; Databricks allows at most {MAX_IP_ENTRIES}.",
            )
        managed = recipient.recipient_ips is not None or recipient.recipient_ips_to_add is not None
        if not effective and (managed or recipient.recipient_ips_to_remove):
            checker.add(
                "warning",
                "d2o_without_ip_allowlist",
                path,
                "after this version the recipient has no IP allowlist: its token is usable from any network.",
            )


# ------------------------------------------------------------------------------------------ export


def exported_recipient(name: str, live: SdkRecipientInfo, warn: Warn) -> Recipient | None:
    """The pack entry of the live recipient `name` (docs/WORKFLOW.md §15): its type and managed fields as they are
    live, its contacts a placeholder; None (with a warning) for an authentication type a pack cannot declare.

    A live expiry stays unmanaged, with a warning: `token_expiry` counts days from provisioning, not a fixed date.
    """
    auth = enum_text(live.authentication_type) or ""
    kind = _TYPE_OF_AUTH.get(auth)
    if kind is None:
        warn(
            "export_unrepresentable",
            f'recipient "{name}" uses authentication type {auth or "unknown"}; a pack declares D2D or D2O only.',
        )
        return None
    if live.expiration_time:
        warn(
            "export_expiry_unmanaged",
            f'recipient "{name}" expires at epoch ms {live.expiration_time}; token_expiry counts days from '
            "provisioning and cannot state a fixed date, so the expiry is left unmanaged.",
        )
    d2d = kind == "D2D"
    return Recipient(
        name=name,
        type=kind,
        recipient=[PLACEHOLDER],
        description=live.comment or None,
        recipient_databricks_org=(live.data_recipient_global_metastore_id or "").lower()
        if d2d
        else None,
        recipient_ips=None if d2d else live_ips(live) or None,
        properties=recipient_properties(live) or None,
    )


# ------------------------------------------------------------------------------------------ rotation policy


@dataclass(frozen=True)
class RotationSchedule:
    """When the sweep rotates a recipient's token under its policy (docs/WORKFLOW.md §9.6), seen at `now_ms`.

    The token is the newest active one; `due` once `now` reaches `rotate_at_ms` (its expiry minus the lead time);
    `blocked` when a second token is still active (Databricks allows two: the rotation would be refused);
    `grace_s` the old token's remaining validity after a rotation now (the grace, capped by its remaining life);
    `due_when_issued` when the token's whole life is not longer than the lead time (the metastore's token lifetime
    is shorter than the policy asks): every token issued by a rotation would be due at once.
    """

    token_id: str | None
    created_ms: int
    expires_ms: int
    rotate_at_ms: int
    due: bool
    blocked: bool
    grace_s: int
    due_when_issued: bool


def _active_tokens(live: SdkRecipientInfo, now_ms: int) -> list[RecipientTokenInfo]:
    return [t for t in live.tokens or [] if t.expiration_time is None or t.expiration_time > now_ms]


def _newest(tokens: Iterable[RecipientTokenInfo]) -> RecipientTokenInfo | None:
    """The most recently created token, None when there is none."""
    return max(tokens, key=lambda t: _token_ms(t.created_at), default=None)


def rotation_schedule(
    policy: Mapping[str, int], live: SdkRecipientInfo, now_ms: int
) -> RotationSchedule | None:
    """The schedule of the newest active token; None without one, or when it never expires."""
    active = _active_tokens(live, now_ms)
    newest = _newest(active)
    if newest is None or newest.expiration_time is None:
        return None
    expires_ms = int(newest.expiration_time)
    created_ms = _token_ms(newest.created_at)
    lead_ms = int(policy["rotate_before_expiry_days"]) * 86_400_000
    rotate_at_ms = expires_ms - lead_ms
    remaining_s = max(0, (expires_ms - now_ms) // 1000)
    return RotationSchedule(
        token_id=newest.id,
        created_ms=created_ms,
        expires_ms=expires_ms,
        rotate_at_ms=rotate_at_ms,
        due=now_ms >= rotate_at_ms,
        blocked=len(active) >= 2,
        grace_s=min(int(policy.get("grace_hours", 0)) * 3600, remaining_s),
        due_when_issued=newest.created_at is not None and expires_ms - created_ms <= lead_ms,
    )


def upcoming_rotations(actions: Iterable[AnyAction], now: datetime) -> list[dict[str, Any]]:
    """The plan's `token_rotations`: for each recipient with a policy, the token the sweep will rotate and when
    (docs/WORKFLOW.md §10). A recipient this version creates has no token yet (`token_id` null)."""
    now_ms = to_epoch_ms(now) or 0
    entries: list[dict[str, Any]] = []
    for action in actions:
        if action.resource_type != RESOURCE_TYPE or not isinstance(action.work, RecipientWork):
            continue
        policy = action.work.desired.policy
        if policy is None:
            continue
        entry: dict[str, Any] = {
            "recipient": action.name,
            "policy": policy.model_dump(),
            "token_id": None,
            "expires_at": None,
            "rotate_at": None,
            "due": False,
            "blocked": False,
            "lead_exceeds_lifetime": False,
        }
        live = action.work.live
        schedule = rotation_schedule(policy.model_dump(), live, now_ms) if live else None
        if schedule is not None:
            entry.update(
                token_id=schedule.token_id,
                expires_at=_iso(schedule.expires_ms),
                rotate_at=_iso(max(schedule.rotate_at_ms, now_ms)),
                due=schedule.due,
                blocked=schedule.blocked,
                lead_exceeds_lifetime=schedule.due_when_issued,
            )
        entries.append(entry)
    return entries


# ------------------------------------------------------------------------------------------ recorded state


def record_of(
    ctx: RunContext, work: RecipientWork, info: SdkRecipientInfo, created_by_pack: bool
) -> RecipientRecord:
    """The SCD2 row of an applied recipient (`deltashare.recipients`)."""
    previous = own_previous(work.previous, ctx.share_pack_id)
    # The applied expiry as Databricks holds it (within the 60 s tolerance of T + N days): a later version, whose
    # T differs by seconds, then records no change.
    expiry = None
    if work.desired.fields.expiration_ms is not None:
        expiry = from_epoch_ms(info.expiration_time or work.desired.fields.expiration_ms)
    return RecipientRecord(
        workspace_url=ctx.workspace_url,
        recipient_name=work.recipient.name,
        recipient_type=work.recipient.type,
        created_by_pack=created_by_pack,
        share_pack_id=ctx.share_pack_id,
        databricks_recipient_id=info.id,
        global_metastore_id=(info.data_recipient_global_metastore_id or "").lower() or None,
        description=work.desired.fields.comment,
        ip_access_list=tuple(live_ips(info)),
        expiration_time=expiry,
        token_rotated_at=previous.token_rotated_at if previous else None,
        properties=dict(work.desired.fields.properties)
        if work.desired.fields.properties is not None
        else None,
        token_rotation_policy=work.desired.policy.model_dump()
        if work.desired.policy is not None
        else None,
    )


def recorded_fields(row: RecipientRecord, spec: Recipient | None) -> RecipientFields:
    """The managed fields a recorded row holds, as the recording pack version managed them (None: compare all)."""
    ips_managed = spec is None or any(
        value is not None
        for value in (spec.recipient_ips, spec.recipient_ips_to_add, spec.recipient_ips_to_remove)
    )
    expiry = row.expiration_time
    return RecipientFields(
        comment=row.description,
        ips=canonical_ips(row.ip_access_list or [])
        if row.recipient_type == "D2O" and ips_managed
        else None,
        expiration_ms=_exact_ms(expiry) if expiry is not None else None,
        properties=row.properties,
    )


def _write(ctx: RunContext, record: RecipientRecord, reason: str) -> RecordWrite:
    return recipients.write_of(record, changed_by=ctx.actor, reason=reason, **ctx.bookkeeping())


def _mark_rotation(ctx: RunContext, name: str, result: dict[str, Any]) -> Callable[[Any], object]:
    def write(conn: Any) -> object:
        return version_actions.mark_done(
            conn,
            share_pack_id=ctx.share_pack_id,
            version=ctx.version,
            action_key=version_actions.rotate_token_key(name),
            result=result,
            run_id=ctx.run_id,
        )

    return write


# ------------------------------------------------------------------------------------------ actions


@dataclass
class RecipientWork:
    """Executor data of a recipient action."""

    recipient: Recipient
    desired: DesiredRecipient
    live: SdkRecipientInfo | None
    change: RecipientChange | None
    created_by_pack: bool
    created_this_version: bool
    previous: RecipientRecord | None


@dataclass
class TokenWork:
    """Executor data of a rotation action: `rotate`, `skip_new` (recipient new in this version) or `done`."""

    recipient: Recipient
    state: Literal["rotate", "skip_new", "done"]


def _plan_one(graph: GraphBuilder, recipient: Recipient) -> None:
    inputs = graph.i
    path = inputs.locator.recipient(recipient.name)
    live = graph.reader.recipient(recipient.name)
    desired = desired_recipient(
        recipient, live, reference_time=inputs.reference_time, now=inputs.now
    )
    row = graph.recorded.recipients.get(recipient.name)
    graph.other_pack(row, RESOURCE_TYPE, recipient.name, path)
    if desired.expiry_elapsed:
        graph.warn(
            "token_expiry_elapsed",
            f"{path}.token_expiry",
            f'the expiry of recipient "{recipient.name}" ({recipient.token_expiry} days after the version '
            "was first provisioned) is already past; it is not applied.",
        )
    if live is None:
        work = RecipientWork(recipient, desired, None, None, True, True, row)
        graph.add(
            Action(
                RESOURCE_TYPE,
                recipient.name,
                Verb.CREATE,
                work,
                calls=1,
                after=_create_after(desired, recipient),
            )
        )
    else:
        change = recipient_change(desired.fields, live)
        same_object = row is not None and row.databricks_recipient_id in (None, live.id)
        if graph.recorded.created(row) and same_object:
            owned, this_version = True, False
        else:
            adoption = inputs.adoption(RESOURCE_TYPE, recipient.name, live.created_by)
            owned, this_version = adoption.created_by_pack, adoption.this_version
        work = RecipientWork(recipient, desired, live, change, owned, this_version, row)
        diff = plan_diff(change, live)
        only_expiry = set(diff) == {"expiration_time"}
        action = graph.add(
            Action(
                RESOURCE_TYPE,
                recipient.name,
                Verb.NOOP if change.empty else Verb.UPDATE,
                work,
                calls=0 if change.empty else 1,
                diff=diff or None,
                plan_kind="set_expiry" if only_expiry else None,
            )
        )
        graph.adopting(action, row, owned)
    if desired.rotate:
        _plan_token(graph, recipient, work)


def _plan_token(graph: GraphBuilder, recipient: Recipient, work: RecipientWork) -> None:
    state: Literal["rotate", "skip_new", "done"]
    reason: str | None
    if graph.recorded.rotation_done(recipient.name):
        state, reason = "done", "already rotated"
    elif work.live is None or work.created_this_version:
        state, reason = "skip_new", "new recipient"
    else:
        state, reason = "rotate", None
    rotate = state == "rotate"
    graph.add(
        Action(
            ROTATION,
            recipient.name,
            Verb.ROTATE_TOKEN if rotate else Verb.NOOP,
            TokenWork(recipient, state),
            deps={step_key(RESOURCE_TYPE, recipient.name)},
            calls=1 if rotate else 0,
            reason=reason,
        )
    )


# ------------------------------------------------------------------------------------------ executors


def _create(ctx: RunContext, desired: DesiredRecipient) -> SdkRecipientInfo:
    ws = ctx.workspace.client
    try:
        if desired.type == "D2D":
            return sdk_create_d2d_recipient(
                ws,
                desired.name,
                metastore_id=desired.org,
                comment=desired.fields.comment,
                properties=desired.fields.properties,
            )
        # The response carries the activation link: it is dropped here, never logged or stored.
        return sdk_create_d2o_recipient(
            ws,
            desired.name,
            comment=desired.fields.comment,
            ips=desired.fields.ips,
            expiration_ms=desired.fields.expiration_ms,
            properties=desired.fields.properties,
        )
    except AppError as exc:
        if exc.code == "recipient_identifier_in_use":
            raise StepFailure("recipient_org_in_use", exc.detail) from exc
        if exc.code == "recipient_identifier_invalid":
            raise StepFailure(
                "recipient_org_unresolvable", "Databricks cannot resolve this metastore id."
            ) from exc
        raise


def run_recipient(ctx: RunContext, action: AnyAction) -> StepResult:
    """Create (one call with comment, IP list, expiry and properties), update (one call with the differing fields)
    or record."""
    work = work_of(action, RecipientWork, "recipient")
    desired = work.desired
    ws = ctx.workspace.client
    calls = 0
    created_by_pack = work.created_by_pack
    created_now = work.created_this_version
    detail: dict[str, Any] = {}
    if action.kind == Verb.CREATE:
        try:
            info = _create(ctx, desired)
            calls += 1
            detail["activation_link_issued"] = desired.type == "D2O"
        except ConflictError as exc:
            if exc.code != "recipient_already_exists":
                raise
            calls += 1
            # A replayed create whose first response was lost, or a concurrent creator: read and verify.
            info = sdk_get_recipient(ws, desired.name)
            if (
                info.authentication_type.value if info.authentication_type else ""
            ) != desired.authentication_type:
                raise StepFailure(
                    "recipient_type_immutable",
                    f'recipient "{desired.name}" exists with another type.',
                ) from exc
            if (
                desired.org is not None
                and (info.data_recipient_global_metastore_id or "").lower() != desired.org
            ):
                raise StepFailure(
                    "recipient_org_immutable",
                    f'recipient "{desired.name}" is bound to another metastore.',
                ) from exc
            created_by_pack = (info.created_by or "") == ctx.reader.identity()
            created_now = created_by_pack
            detail["adopted_after_conflict"] = True
            # The plan computed the allowlist against no recipient; on the one found, the checks' and the plan's rule
            # for an existing recipient applies (live + additions - removals), else its live entries would be dropped.
            fields = dataclasses.replace(desired.fields, ips=wanted_ips(work.recipient, info))
            change = recipient_change(fields, info)
            if not change.empty:
                info = _update(ws, desired.name, change)
                calls += 1
    elif action.kind == Verb.UPDATE:
        change = work.change or recipient_change(desired.fields, work.live or SdkRecipientInfo())
        info = _update(ws, desired.name, change)
        calls += 1
        detail["fields"] = sorted(action.diff or {})
    else:
        info = work.live or SdkRecipientInfo()
    ctx.reader.put(RESOURCE_TYPE, desired.name, info)
    record = record_of(ctx, work, info, created_by_pack)
    ctx.remember(RESOURCE_TYPE, desired.name, record)
    writes: list[Callable[[Any], object]] = [
        _write(ctx, record, record_reason(created_by_pack, work.previous, ctx.share_pack_id))
    ]
    if created_now and desired.rotate:
        writes.append(_mark_rotation(ctx, desired.name, {"outcome": "skipped_new_recipient"}))
    return StepResult.after(
        calls,
        ids={"recipient_id": info.id} if info.id else None,
        detail=detail,
        writes=writes,
        audit_action=f"recipient.{action.kind}",
    )


def _token_ms(value: int | None) -> int:
    return int(value or 0)


def run_token(ctx: RunContext, action: AnyAction) -> StepResult:
    """Rotate once per version (docs/WORKFLOW.md §9.6): intent committed first, then read-before-write, then one call."""
    work = work_of(action, TokenWork, "rotation")
    name = work.recipient.name
    if work.state == "done":
        return StepResult(StepOutcome.NOOP, detail={"outcome": "already_done"})
    if work.state == "skip_new":
        return StepResult(
            StepOutcome.NOOP,
            detail={"outcome": "skipped_new_recipient"},
            writes=[_mark_rotation(ctx, name, {"outcome": "skipped_new_recipient"})],
        )
    with transaction(ctx.pool) as conn:
        intent = version_actions.record_intent(
            conn,
            share_pack_id=ctx.share_pack_id,
            version=ctx.version,
            action_key=version_actions.rotate_token_key(name),
            run_id=ctx.run_id,
        )
    if intent.done_at is not None:
        return StepResult(StepOutcome.NOOP, detail={"outcome": "already_done"})
    intent_ms = int(intent.intent_at.timestamp() * 1000)  # Databricks keeps milliseconds
    info = ctx.reader.recipient(name) or SdkRecipientInfo()
    after_intent = [t for t in info.tokens or [] if _token_ms(t.created_at) >= intent_ms]
    record = ctx.recalled(RESOURCE_TYPE, name, RecipientRecord)
    if after_intent:
        newest = _newest(after_intent)
        return _rotation_recorded(ctx, name, record, newest, "already_rotated", calls=0)
    now_ms = int(ctx.now().timestamp() * 1000)
    active = _active_tokens(info, now_ms)
    if len(active) >= 2:
        raise StepFailure(
            "rotation_blocked",
            f'recipient "{name}" already has two active tokens; wait for the older one to expire.',
        )
    grace_s = (work.recipient.token_rotation_grace_days or 0) * 86_400
    newest_active = _newest(active)
    if newest_active is not None and newest_active.expiration_time is not None:
        remaining_s = max(0, (newest_active.expiration_time - now_ms) // 1000)
        grace_s = min(grace_s, remaining_s)
    try:
        # Sent once through the counted workspace: a replay would rotate twice (dbrx_api.once).
        rotated = sdk_rotate_recipient_token(
            ctx.workspace.client,
            name,
            existing_token_expire_in_seconds=int(grace_s),
            sender=ctx.workspace,
        )
    except AppError as exc:
        if exc.code == "recipient_token_limit":  # a token appeared since the read
            raise StepFailure("rotation_blocked", exc.detail) from exc
        raise
    ctx.reader.put(RESOURCE_TYPE, name, rotated)
    return _rotation_recorded(ctx, name, record, _newest(rotated.tokens or []), "rotated", calls=1)


def _rotation_recorded(
    ctx: RunContext,
    name: str,
    record: RecipientRecord | None,
    token: RecipientTokenInfo | None,
    outcome: str,
    *,
    calls: int,
) -> StepResult:
    token_id = token.id if token is not None else None
    created = from_epoch_ms(token.created_at if token is not None else None)
    expires = from_epoch_ms(token.expiration_time if token is not None else None)
    result = {
        "outcome": outcome,
        "token_id": token_id,
        "token_expiration_time": expires.isoformat() if expires else None,
    }
    writes = [_mark_rotation(ctx, name, result)]
    if record is not None:
        rotated = dataclasses.replace(record, token_rotated_at=created or ctx.now())
        ctx.remember(RESOURCE_TYPE, name, rotated)
        writes.append(_write(ctx, rotated, "token_rotated"))
    return StepResult.after(
        calls,
        ids={"token_id": token_id} if token_id else None,
        detail={"outcome": outcome},
        writes=writes,
        audit_action="recipient.rotate_token",
    )


# ------------------------------------------------------------------------------------------ the kind


class RecipientKind:
    """The recipient as a `ResourceKind`: its actions are `recipient:<name>` and `token:<name>`."""

    resource_type = RESOURCE_TYPE
    action_types = frozenset({RESOURCE_TYPE, ROTATION})

    def plan(self, graph: GraphBuilder) -> None:
        """The recipient (and rotation) actions of every declared recipient, in pack order."""
        for recipient in graph.i.pack.recipient:
            _plan_one(graph, recipient)

    def leftovers(self, graph: GraphBuilder) -> None:
        """Warn about recipients an earlier version of the pack managed and this one no longer lists."""
        graph.no_longer_in_pack(
            RESOURCE_TYPE,
            (recipient.name for recipient in graph.i.pack.recipient),
            graph.recorded.recipients,
        )

    def execute(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """Run a NEW/UPDATE action of this kind."""
        return (
            run_token(ctx, action)
            if action.resource_type == ROTATION
            else run_recipient(ctx, action)
        )

    def delete(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """DELETE pack: identity (recipient id) and remaining grants are checked before `recipients.delete`."""
        row = deletion_row(action, RecipientRecord)
        name = action.name
        ws = ctx.workspace.client
        soft_delete = ctx.deletion_write(recipients.soft_delete, name)
        live = ctx.reader.recipient(name)
        if live is None:
            return already_gone({RESOURCE_TYPE: name}, soft_delete)
        recorded_id = row.databricks_recipient_id
        if recorded_id is not None and recorded_id != live.id:
            return kept_recreated(ctx, RESOURCE_TYPE, name)
        granted = {
            p.share_name.lower() for p in recipient_share_permissions(ws, name) if p.share_name
        }
        remaining = sorted(granted - ctx.deleted_names(StepType.SHARE))
        if remaining:
            return kept(
                ctx,
                "recipient_still_granted",
                f"recipient[{name}]",
                f'recipient "{name}" is still granted on {", ".join(remaining)}; it is kept.',
            )
        with contextlib.suppress(NotFoundError):  # already gone counts as deleted
            sdk_delete_recipient(ws, name)
        return StepResult(
            StepOutcome.SUCCEEDED, calls=1, writes=[soft_delete], audit_action="recipient.delete"
        )

    def locate(self, action: AnyAction, locator: PackLocator) -> str:
        """The recipient's entry (its token rotation included)."""
        return locator.recipient(action.name)

    def read(self, reader: LiveReader, name: str) -> SdkRecipientInfo | None:
        """The live object (None when absent)."""
        return reader.recipient(name)

    def drift(
        self,
        row: RecipientRecord,
        pack: SharePack | None,
        live: SdkRecipientInfo,
        settings: Settings,
    ) -> list[dict[str, Any]]:
        """Recorded vs live (docs/WORKFLOW.md §11): the identity, then the managed fields that differ."""
        del settings
        found: list[dict[str, Any]] = []
        if row.databricks_recipient_id and live.id != row.databricks_recipient_id:
            found.append({"field": "id", "recorded": row.databricks_recipient_id, "live": live.id})
        name = row.recipient_name
        spec = next((r for r in pack.recipient if r.name == name), None) if pack else None
        recorded = recorded_fields(row, spec)
        change = recipient_change(recorded, live)
        if change.ips is not None:
            difference = set_difference("ip_access_list", change.ips, live_ips(live))
            if difference:
                found.append(difference)
        if change.comment is not None:
            found.append({"field": "comment", "recorded": row.description, "live": live.comment})
        if change.properties is not None:
            found.append(
                {
                    "field": "properties",
                    "recorded": dict(change.properties),
                    "live": recipient_properties(live),
                }
            )
        if change.expiration_ms is not None:
            live_expiry = from_epoch_ms(live.expiration_time)
            found.append(
                {
                    "field": "expiration_time",
                    "recorded": row.expiration_time.isoformat() if row.expiration_time else None,
                    "live": live_expiry.isoformat() if live_expiry else None,
                }
            )
        return found

    def recorded(
        self, conn: DictConnection, workspace_url: str, share_pack_id: UUID | None
    ) -> list[RecipientRecord]:
        """Current recorded recipients."""
        return recipients.list_current(
            conn, workspace_url=workspace_url, share_pack_id=share_pack_id
        )

    def drift_target(self, row: RecipientRecord, settings: Settings) -> tuple[str, str] | None:
        """A recipient is read by its name."""
        del settings
        return row.recipient_name, row.recipient_name


RECIPIENT = RecipientKind()
