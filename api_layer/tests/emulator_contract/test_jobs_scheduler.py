"""Contract tests: the simulated Quartz scheduler (docs/EMULATOR.md §9.3) and the Quartz rules behind `jobs.create` validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import CronSchedule, JobSettings, NotebookTask, PauseStatus, Task

from dbrx_emulator.clock import parse_rfc3339, rfc3339
from dbrx_emulator.quartz import CronError, parse_cron, parse_timezone
from dbrx_emulator.testing import Emu

pytestmark = pytest.mark.contract

START = "2026-01-01T00:00:00.000Z"  # the session emulator's manual clock start (a Thursday)


def scheduled_job(w: WorkspaceClient, cron: str, tz: str = "UTC", **extra: Any) -> int:
    """A one-task job on a schedule; returns its id."""
    created = w.jobs.create(
        name="scheduled",
        tasks=[Task(task_key="t", notebook_task=NotebookTask(notebook_path="/nb"))],
        schedule=CronSchedule(quartz_cron_expression=cron, timezone_id=tz, **extra),
        max_concurrent_runs=100,
    )
    assert created.job_id
    return created.job_id


def run_starts(w: WorkspaceClient, job_id: int) -> list[str]:
    """Start times of the job's runs, oldest first, as RFC 3339."""
    runs = list(w.jobs.list_runs(job_id=job_id, limit=25))
    return [rfc3339(r.start_time or 0) for r in reversed(runs)]


def fire_times(cron: str, tz: str, after: str, count: int) -> list[str]:
    """The next `count` fire times after `after`, computed by the emulator's Quartz module."""
    schedule, zone = parse_cron(cron), parse_timezone(tz)
    out, at = [], parse_rfc3339(after)
    for _ in range(count):
        nxt = schedule.next_fire_ms(at, zone)
        assert nxt is not None
        out.append(rfc3339(nxt))
        at = nxt
    return out


def test_scheduler_fires_at_quartz_times(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.set_behaviour(simulation={"scheduler": True})
    job_id = scheduled_job(emu_client, "0 0/10 * * * ?")

    emu.advance(3_600_000)

    starts = run_starts(emu_client, job_id)
    assert starts == [f"2026-01-01T00:{m:02d}:00.000Z" for m in (10, 20, 30, 40, 50)] + [
        "2026-01-01T01:00:00.000Z"
    ]
    emu.settle()
    runs = list(emu_client.jobs.list_runs(job_id=job_id))
    assert all(r.trigger is not None and r.trigger.value == "PERIODIC" for r in runs)
    assert all(
        r.state and r.state.result_state and r.state.result_state.value == "SUCCESS" for r in runs
    )


def test_scheduler_honours_time_zones(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.set_behaviour(simulation={"scheduler": True})
    paris = scheduled_job(emu_client, "0 30 2 ? * MON-FRI", "Europe/Paris")

    emu.control.post("/clock/advance", json={"to": "2026-01-06T12:00:00Z"})

    # Thursday 1st, Friday 2nd, (weekend skipped), Monday 5th, Tuesday 6th at 02:30 in Paris (UTC+1 in winter).
    assert run_starts(emu_client, paris) == [
        "2026-01-01T01:30:00.000Z",
        "2026-01-02T01:30:00.000Z",
        "2026-01-05T01:30:00.000Z",
        "2026-01-06T01:30:00.000Z",
    ]


def test_catch_up_is_capped_and_paused_jobs_do_not_fire(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu.set_behaviour(simulation={"scheduler": True, "max_catchup_runs": 3})
    every_minute = scheduled_job(emu_client, "0 * * * * ?")
    paused = scheduled_job(emu_client, "0 * * * * ?", pause_status=PauseStatus.PAUSED)

    emu.advance(3_600_000)  # one clock move: at most 3 catch-up runs per job

    assert len(run_starts(emu_client, every_minute)) == 3
    assert run_starts(emu_client, paused) == []
    emu.advance(60_000)  # the missed fires were skipped; the schedule goes on from now
    assert run_starts(emu_client, every_minute)[-1] == "2026-01-01T01:01:00.000Z"
    emu_client.jobs.update(
        paused,
        new_settings=JobSettings(
            schedule=CronSchedule(
                quartz_cron_expression="0 * * * * ?",
                timezone_id="UTC",
                pause_status=PauseStatus.UNPAUSED,
            )
        ),
    )
    emu.advance(60_000)
    assert run_starts(emu_client, paused) == ["2026-01-01T01:02:00.000Z"]


def test_scheduler_is_off_with_the_manual_clock_by_default(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    job_id = scheduled_job(emu_client, "0 * * * * ?")

    emu.advance(600_000)
    assert run_starts(emu_client, job_id) == []
    fired = emu.control.post(f"/jobs/{job_id}/fire")
    assert fired.status_code == 200, fired.text
    emu.settle()

    runs = list(emu_client.jobs.list_runs(job_id=job_id))
    assert [r.run_id for r in runs] == [fired.json()["run_id"]]
    assert runs[0].trigger is not None
    assert runs[0].trigger.value == "PERIODIC"
    assert emu.control.post("/jobs/424242/fire").status_code == 404
    # Turning the scheduler on does not replay the fires missed while it was off.
    emu.set_behaviour(simulation={"scheduler": True})
    emu.advance(60_000)
    assert len(list(emu_client.jobs.list_runs(job_id=job_id))) == 2


def test_schedules_the_simulator_cannot_fire_are_counted(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu.set_behaviour(simulation={"scheduler": True})
    nth = scheduled_job(emu_client, "0 0 2 ? * MON#1")
    weekday = scheduled_job(emu_client, "0 0 2 15W * ?")

    emu.advance(40 * 86_400_000)

    assert run_starts(emu_client, nth) == []
    assert run_starts(emu_client, weekday) == []
    assert emu.stats()["meta"]["schedules_not_simulated"] == 2


@pytest.mark.parametrize(
    ("cron", "tz", "after", "expected"),
    [
        ("0 0 2 * * ?", "UTC", START, ["2026-01-01T02:00:00.000Z", "2026-01-02T02:00:00.000Z"]),
        ("0 0 12 L * ?", "UTC", START, ["2026-01-31T12:00:00.000Z", "2026-02-28T12:00:00.000Z"]),
        ("0 0 12 L-2 * ?", "UTC", START, ["2026-01-29T12:00:00.000Z", "2026-02-26T12:00:00.000Z"]),
        ("15/20 * * * * ?", "UTC", START, ["2026-01-01T00:00:15.000Z", "2026-01-01T00:00:35.000Z"]),
        (
            "0 0 0 ? * FRI-MON",
            "UTC",
            START,
            ["2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"],
        ),
        ("0 0 22-2 * * ?", "UTC", START, ["2026-01-01T01:00:00.000Z", "2026-01-01T02:00:00.000Z"]),
        (
            "0 0 9 1 JAN,JUL ? 2027",
            "UTC",
            START,
            ["2027-01-01T09:00:00.000Z", "2027-07-01T09:00:00.000Z"],
        ),
        # 02:30 does not exist in Paris on 29 March 2026 (clocks jump from 02:00 to 03:00).
        (
            "0 30 2 * * ?",
            "Europe/Paris",
            "2026-03-28T02:00:00Z",
            ["2026-03-29T01:30:00.000Z", "2026-03-30T00:30:00.000Z"],
        ),
        (
            "0 0 8 * * ?",
            "America/New_York",
            START,
            ["2026-01-01T13:00:00.000Z", "2026-01-02T13:00:00.000Z"],
        ),
    ],
)
def test_quartz_next_fire_times(cron: str, tz: str, after: str, expected: list[str]) -> None:
    assert fire_times(cron, tz, after, len(expected)) == expected


def test_quartz_never_again() -> None:
    assert parse_cron("0 0 0 30 FEB ?").next_fire_ms(0, parse_timezone("UTC")) is None
    assert (
        parse_cron("0 0 0 1 1 ? 2020").next_fire_ms(parse_rfc3339(START), parse_timezone("UTC"))
        is None
    )


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("0 2 * * 1-5", "5 fields"),
        ("0 0 2 * *", "5 fields"),
        ("0 0 2 * * ? 2026 x", "8 fields"),
        ("0 0 * * * *", "exactly one of day-of-month and day-of-week"),
        ("0 0 2 ? * ?", "exactly one of day-of-month and day-of-week"),
        ("0 60 2 * * ?", "minutes: 60 is outside 0-59"),
        ("0 0 2 32 * ?", "day-of-month: 32"),
        ("0 0 2 * 13 ?", "month: 13"),
        ("0 0 2 ? * 8", "day-of-week: 8"),
        ("0 0 2 ? * MON#6", "#6"),
        ("0 0/0 2 * * ?", "invalid step"),
        ("? 0 2 * * ?", "'?' is allowed only"),
        ("0 0 2 * FOO ?", "'FOO' is not a valid value"),
    ],
)
def test_quartz_rejections(cron: str, fragment: str) -> None:
    with pytest.raises(CronError, match=fragment):
        parse_cron(cron)


def test_time_zone_ids_are_exact() -> None:
    assert parse_timezone("Europe/Paris").key == "Europe/Paris"
    assert parse_timezone("UTC").utcoffset(datetime(2026, 1, 1, tzinfo=UTC)) is not None
    for bad in ("europe/paris", "CET+1", "", "Mars/Olympus"):
        with pytest.raises(CronError):
            parse_timezone(bad)
