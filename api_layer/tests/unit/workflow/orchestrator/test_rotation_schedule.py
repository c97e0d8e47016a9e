"""When the rotation sweep rotates a token under a policy (docs/WORKFLOW.md §9.6 steps 4, 5 and 7)."""

from __future__ import annotations

from databricks.sdk.service.sharing import RecipientInfo, RecipientTokenInfo

from dbrx_api.workflow.resources.recipient import rotation_schedule

DAY_MS = 86_400_000
NOW = 1_800_000_000_000
POLICY = {"rotate_before_expiry_days": 14, "grace_hours": 48}


def _recipient(*tokens: tuple[str, int, int | None]) -> RecipientInfo:
    return RecipientInfo(
        name="acme",
        tokens=[RecipientTokenInfo(id=i, created_at=c, expiration_time=e) for i, c, e in tokens],
    )


def test_the_newest_active_token_is_due_from_its_expiry_minus_the_lead_time() -> None:
    live = _recipient(("t1", NOW - 80 * DAY_MS, NOW + 20 * DAY_MS))
    schedule = rotation_schedule(POLICY, live, NOW)
    assert schedule is not None
    assert (schedule.token_id, schedule.due, schedule.blocked) == ("t1", False, False)
    assert schedule.rotate_at_ms == NOW + 6 * DAY_MS
    later = rotation_schedule(POLICY, live, NOW + 6 * DAY_MS)
    assert later is not None
    assert later.due
    assert later.grace_s == 48 * 3600


def test_the_grace_is_capped_by_the_remaining_life() -> None:
    live = _recipient(("t1", NOW - 89 * DAY_MS, NOW + 3_600_000))
    schedule = rotation_schedule(POLICY, live, NOW)
    assert schedule is not None
    assert (schedule.due, schedule.grace_s) == (True, 3600)


def test_two_active_tokens_block_and_the_newest_decides() -> None:
    live = _recipient(
        ("old", NOW - 90 * DAY_MS, NOW + 3_600_000), ("new", NOW - DAY_MS, NOW + 89 * DAY_MS)
    )
    schedule = rotation_schedule(POLICY, live, NOW)
    assert schedule is not None
    assert (schedule.token_id, schedule.due, schedule.blocked) == ("new", False, True)


def test_no_active_token_or_one_that_never_expires_has_no_schedule() -> None:
    assert (
        rotation_schedule(POLICY, _recipient(("t1", NOW - 91 * DAY_MS, NOW - DAY_MS)), NOW) is None
    )
    assert rotation_schedule(POLICY, _recipient(("t1", NOW - DAY_MS, None)), NOW) is None
    assert rotation_schedule(POLICY, _recipient(), NOW) is None
