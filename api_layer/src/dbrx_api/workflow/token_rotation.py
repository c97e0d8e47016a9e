"""The token rotation sweep: standing rotation policies applied on time, once per token (docs/WORKFLOW.md §9.6).

`sweep_token_rotations` looks at every current D2O recipient with a recorded policy whose pack's current version is
COMPLETED. For each one it reads the recipient once (`recipients.get`) and, when the newest active token is inside
its rotation window, claims the token in PostgreSQL (a committed row keyed by workspace, recipient and token id)
before calling `recipients.rotate_token`, then records the rotation (claim done, a new recipients SCD2 version with
`token_rotated_at`, an audit row) in one transaction. No transaction is open during a Databricks call.

Crash safety, as for the one-shot rotation: the claim's first time is kept; a worker that takes over the expired
lease of a crashed claimer finds a token created at or after it and records `already_rotated` without a call. Two
active tokens → blocked: logged and counted, no call (Databricks allows two). The activation link of the new token
is never stored or logged: the writer fetches it with `GET /recipients/{name}?include_activation_link=true`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from databricks.sdk.service.sharing import RecipientInfo as SdkRecipientInfo

from dbrx_api.dltshr.recipients import sdk_get_recipient, sdk_rotate_recipient_token
from dbrx_api.errors import AppError, NotFoundError
from dbrx_api.monitoring.metrics import AlertType
from dbrx_api.schemas.common import from_epoch_ms, to_epoch_ms
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.connection import transaction
from dbrx_api.workflow.db.repositories import audit_trail, recipients, token_rotation_claims
from dbrx_api.workflow.db.repositories.recipients import PolicyHolder, RecipientRecord
from dbrx_api.workflow.orchestrator.prepare import counted_workspace
from dbrx_api.workflow.resources.recipient import rotation_schedule

logger = logging.getLogger(__name__)

CLAIM_LEASE_S = (
    300.0  # a claimer that died mid-rotation is taken over after this (docs/WORKFLOW.md §9.6)
)
AUDIT_ACTOR = "deltashare:token-rotation-policy"
METRIC = "token_rotation.sweep"
# Outcomes a person may want to see in Datadog's event stream (a monitor can page on `error`): alert type, title.
_EVENTS: dict[str, tuple[AlertType, str]] = {
    "rotated": ("success", "DeltaShare rotated a recipient token"),
    "blocked": ("warning", "DeltaShare could not rotate a recipient token: two active tokens"),
    "lead_exceeds_lifetime": (
        "warning",
        "DeltaShare will not rotate a recipient token: the policy's lead time is not shorter than the token's life",
    ),
    "failed": ("error", "DeltaShare token rotation failed"),
}


@dataclass
class RotationSweepReport:
    """What one sweep saw, by recipient name (`workspace_url/recipient`)."""

    checked: int = 0
    not_due: list[str] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)
    already_rotated: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    lead_exceeds_lifetime: list[str] = field(default_factory=list)
    claimed_elsewhere: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def sweep_token_rotations(ctx: WorkflowContext, *, performed_by: str) -> RotationSweepReport:
    """One rotation sweep over every recipient with a policy; `performed_by` names this worker in the claims."""
    report = RotationSweepReport()
    with transaction(ctx.pool) as conn:
        holders = recipients.list_rotation_policies(conn)
    for holder in holders:
        rec = holder.recipient
        report.checked += 1
        where = f"{rec.workspace_url}/{rec.recipient_name}"
        try:
            outcome = _sweep_one(ctx, holder, performed_by)
        except Exception:  # one recipient's failure never stops the sweep; the next sweep retries
            logger.exception(
                "token rotation failed",
                extra={"recipient": rec.recipient_name, "workspace_url": rec.workspace_url},
            )
            outcome = "failed"
        getattr(report, outcome).append(where)
        if outcome != "not_due":
            ctx.metrics.increment(METRIC, tags={"result": outcome})
        if outcome in _EVENTS:
            alert_type, title = _EVENTS[outcome]
            # Names and the pack are not secrets; the token id stays out (the log redaction treats it as one).
            ctx.metrics.event(
                title,
                f"recipient {rec.recipient_name} in {rec.workspace_url}, share pack "
                f"{rec.share_pack_id}: {outcome} under the pack's rotation policy",
                alert_type=alert_type,
                tags={"result": outcome},
            )
    return report


def _sweep_one(ctx: WorkflowContext, holder: PolicyHolder, performed_by: str) -> str:
    """The outcome for one recipient: a field name of `RotationSweepReport`."""
    rec = holder.recipient
    name, url = rec.recipient_name, rec.workspace_url
    log = {"recipient": name, "workspace_url": url, "share_pack_id": str(rec.share_pack_id)}
    workspace = ctx.clients.resolve(url)
    counted = counted_workspace(
        ctx.clients.client_for(workspace),
        workspace_url=workspace.url,
        settings=ctx.settings,
        before_mutation=lambda: None,
    )
    try:
        # The one read of this recipient in this sweep.
        live = sdk_get_recipient(counted.client, name)
    except NotFoundError:
        logger.warning("token rotation: recorded recipient is gone", extra=log)
        return "skipped"
    read_ms = to_epoch_ms(ctx.clock()) or 0
    recorded_id = rec.databricks_recipient_id
    if recorded_id is not None and live.id != recorded_id:
        logger.warning("token rotation: the recipient was recreated outside the pack", extra=log)
        return "skipped"
    if _settle_open_claims(ctx, holder, live, read_ms, performed_by):
        return "already_rotated"  # the newest token is the one just recorded; the next sweep looks at it
    schedule = rotation_schedule(holder.policy, live, read_ms)
    if schedule is None or not schedule.due or schedule.token_id is None:
        return "not_due"
    if schedule.due_when_issued and _issued_by_the_policy(rec, schedule.created_ms):
        # Rotating it would issue a token due at once again: a rotation every sweep, each one cutting the partner
        # off after the grace (docs/WORKFLOW.md §9.6). Said once per sweep until the policy or lifetime changes.
        logger.warning(
            "token rotation refused: the lead time is not shorter than the token's life",
            extra=log,
        )
        return "lead_exceeds_lifetime"
    if schedule.blocked:
        logger.warning(
            "token rotation blocked: the recipient already has two active tokens",
            extra={**log, "token_id": schedule.token_id},
        )
        return "blocked"
    with transaction(ctx.pool) as conn:
        claim = token_rotation_claims.claim(
            conn,
            workspace_url=url,
            recipient_name=name,
            token_id=schedule.token_id,
            share_pack_id=rec.share_pack_id,
            token_expires_at=from_epoch_ms(schedule.expires_ms),
            claimed_by=performed_by,
            lease_s=CLAIM_LEASE_S,
        )
    if claim is None:
        return "claimed_elsewhere"
    keys = {"workspace_url": url, "recipient_name": name, "token_id": schedule.token_id}
    first_claim_ms = to_epoch_ms(claim.claimed_at) or 0
    if claim.attempts > 1:
        # A takeover of a crashed claimer: its rotation may have happened (docs/WORKFLOW.md §9.6 step 4).
        # Claimed after this read: the read cannot tell; the next sweep reads again.
        if first_claim_ms > read_ms:
            _release(ctx, keys, performed_by)
            return "claimed_elsewhere"
        after_claim = [t for t in live.tokens or [] if (t.created_at or 0) >= first_claim_ms]
        if after_claim:
            newest = max(after_claim, key=lambda t: t.created_at or 0)
            _record(ctx, holder, keys, live, newest.id, "already_rotated", performed_by)
            return "already_rotated"
    try:
        # Sent once through the counted workspace: a replay would rotate twice (dbrx_api.once).
        rotated = sdk_rotate_recipient_token(
            counted.client,
            name,
            existing_token_expire_in_seconds=schedule.grace_s,
            sender=counted,
        )
    except AppError as exc:
        _release(ctx, keys, performed_by)
        if exc.code == "recipient_token_limit":  # a token appeared since the read
            logger.warning("token rotation blocked by Databricks", extra={**log, "code": exc.code})
            return "blocked"
        raise
    except Exception:
        # Unknown outcome (e.g. a lost response): the claim's first time lets the next claimer find out.
        _release(ctx, keys, performed_by)
        raise
    newest_token = max(rotated.tokens or [], key=lambda t: t.created_at or 0, default=None)
    _record(
        ctx,
        holder,
        keys,
        rotated,
        newest_token.id if newest_token else None,
        "rotated",
        performed_by,
    )
    logger.info(
        "token rotated by policy",
        extra={**log, "token_id": schedule.token_id, "grace_s": schedule.grace_s},
    )
    return "rotated"


def _issued_by_the_policy(rec: RecipientRecord, token_created_ms: int) -> bool:
    """Whether the token was issued by this policy's last recorded rotation (`token_rotated_at` is the new token's
    creation time, so a token created since then is that one)."""
    rotated_at = rec.token_rotated_at
    if rotated_at is None:
        return False
    return token_created_ms >= (to_epoch_ms(rotated_at) or 0) - 1000


def _settle_open_claims(
    ctx: WorkflowContext,
    holder: PolicyHolder,
    live: SdkRecipientInfo,
    read_ms: int,
    performed_by: str,
) -> bool:
    """Record the rotations a crashed claimer made but did not record (docs/WORKFLOW.md §9.6 crash safety): an open claim whose lease
    expired, older than the read, and a token created at or after its first claim. True when one was recorded."""
    url, name = holder.recipient.workspace_url, holder.recipient.recipient_name
    with transaction(ctx.pool) as conn:
        stale = token_rotation_claims.list_open(conn, url, name, lease_expired=True)
    settled = False
    for old in stale:
        first_ms = to_epoch_ms(old.claimed_at) or 0
        after = [t for t in live.tokens or [] if (t.created_at or 0) >= first_ms]
        if first_ms > read_ms or not after:
            continue  # not rotated (the due path claims it again) or claimed after this read
        keys = {"workspace_url": url, "recipient_name": name, "token_id": old.token_id}
        with transaction(ctx.pool) as conn:
            taken = token_rotation_claims.claim(
                conn,
                **keys,
                share_pack_id=old.share_pack_id,
                token_expires_at=old.token_expires_at,
                claimed_by=performed_by,
                lease_s=CLAIM_LEASE_S,
            )
        if taken is None:
            continue
        newest = max(after, key=lambda t: t.created_at or 0)
        _record(ctx, holder, keys, live, newest.id, "already_rotated", performed_by)
        settled = True
    return settled


def _release(ctx: WorkflowContext, keys: Mapping[str, str], performed_by: str) -> None:
    with transaction(ctx.pool) as conn:
        token_rotation_claims.release(conn, **keys, claimed_by=performed_by)


def _record(
    ctx: WorkflowContext,
    holder: PolicyHolder,
    keys: Mapping[str, str],
    live: SdkRecipientInfo,
    new_token_id: str | None,
    outcome: str,
    performed_by: str,
) -> None:
    """Claim done, the recipient's new SCD2 version (`token_rotated_at`) and the audit row, in one transaction.

    `live` is the recipient as last seen (the rotation's answer, or the read that found the rotation done); the
    previous token's expiry is the one it shows (a token past its grace is no longer listed: null)."""
    new_token = next((t for t in live.tokens or [] if t.id == new_token_id), None)
    old_token = next((t for t in live.tokens or [] if t.id == keys["token_id"]), None)
    result = {
        "outcome": outcome,
        "token_id": new_token_id,
        "token_expiration_time": _iso(new_token.expiration_time if new_token else None),
        "previous_token_id": keys["token_id"],
        "previous_token_expiration_time": _iso(
            old_token.expiration_time if old_token is not None else None
        ),
        "policy": dict(holder.policy),
    }
    rotated_at = from_epoch_ms(new_token.created_at if new_token is not None else None)
    with transaction(ctx.pool) as conn:
        if not token_rotation_claims.finish(conn, **keys, result=result):
            return  # recorded already (cannot happen while the lease is ours; kept idempotent)
        current = recipients.get_current(conn, keys["workspace_url"], keys["recipient_name"])
        if current is not None and current.share_pack_id == holder.recipient.share_pack_id:
            record = dataclasses.replace(current, token_rotated_at=rotated_at or ctx.clock())
            recipients.record(
                conn,
                record,
                changed_by=AUDIT_ACTOR,
                reason="token_rotated",
                source_version=current.source_version,
            )
        audit_trail.record(
            conn,
            audit_trail.AuditEntry(
                actor_id=AUDIT_ACTOR,
                actor_name=f"token rotation policy of pack {holder.pack_key}",
                actor_kind="system",
                source="workflow",
                action="recipient.rotate_token",
                entity_type="recipient",
                entity_key=keys["recipient_name"],
                outcome="succeeded",
                workspace_url=keys["workspace_url"],
                share_pack_id=holder.recipient.share_pack_id,
                version=current.source_version if current is not None else None,
                new_values={**result, "performed_by": performed_by},
            ),
        )


def _iso(epoch_ms: int | None) -> str | None:
    moment = from_epoch_ms(epoch_ms)
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
