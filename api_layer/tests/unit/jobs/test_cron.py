"""Quartz validation, the Unix → Quartz suggestion and IANA time zones (docs/API.md §8, docs/SHAREPACK.md §8.2)."""

from __future__ import annotations

import pytest

from dbrx_api.jobs.cron import (
    CRON_INVALID,
    CRON_NOT_QUARTZ,
    TIMEZONE_INVALID,
    CronError,
    cron_equal,
    unix_to_quartz,
    validate_quartz,
    validate_timezone,
)


@pytest.mark.parametrize(
    ("expression", "normalised"),
    [
        ("0 0 2 * * ?", "0 0 2 * * ?"),
        ("  '0  0 2 * * ?' ", "0 0 2 * * ?"),
        ('"0 15 10 ? * mon-fri"', "0 15 10 ? * MON-FRI"),
        ("0 0/15 * ? * 2-6", "0 0/15 * ? * 2-6"),
        ("0 0 12 L * ?", "0 0 12 L * ?"),
        ("0 0 12 L-3 * ?", "0 0 12 L-3 * ?"),
        ("0 0 12 15W * ?", "0 0 12 15W * ?"),
        ("0 0 12 LW * ?", "0 0 12 LW * ?"),
        ("0 0 12 ? * 6#3", "0 0 12 ? * 6#3"),
        ("0 0 12 ? * 6L", "0 0 12 ? * 6L"),
        ("0 0 0 1 JAN-MAR ? 2030", "0 0 0 1 JAN-MAR ? 2030"),
        ("0 0 0 1,15 * ? 2026-2030/2", "0 0 0 1,15 * ? 2026-2030/2"),
        ("*/30 * * * * ?", "*/30 * * * * ?"),
    ],
)
def test_valid_quartz_is_normalised(expression: str, normalised: str) -> None:
    assert validate_quartz(expression) == normalised


@pytest.mark.parametrize(
    ("unix", "quartz"),
    [
        ("0 2 * * 1-5", "0 0 2 ? * 2-6"),
        ("30 2 * * 1-5", "0 30 2 ? * 2-6"),
        ("0 0 * * *", "0 0 0 * * ?"),
        ("*/15 * * * *", "0 */15 * * * ?"),
        ("0 9 * * 0", "0 0 9 ? * 1"),
        ("0 9 * * 7", "0 0 9 ? * 1"),
        ("0 9 * * 5-7", "0 0 9 ? * 6-7,1"),
        ("0 9 * * 0-6", "0 0 9 ? * 1-7"),
        ("0 9 * * 1,3,5", "0 0 9 ? * 2,4,6"),
        ("0 9 * * MON-FRI", "0 0 9 ? * MON-FRI"),
        ("0 6 1 * *", "0 0 6 1 * ?"),
    ],
)
def test_unix_cron_gets_the_quartz_equivalent(unix: str, quartz: str) -> None:
    assert unix_to_quartz(unix) == quartz
    # The suggestion is itself accepted.
    assert validate_quartz(quartz) == quartz
    with pytest.raises(CronError) as caught:
        validate_quartz(unix)
    assert caught.value.error_type == CRON_NOT_QUARTZ
    assert caught.value.suggestion == quartz
    assert f"'{quartz}'" in caught.value.message


def test_unix_cron_restricting_both_day_fields_has_no_equivalent() -> None:
    assert unix_to_quartz("0 0 1 * 1") is None
    with pytest.raises(CronError) as caught:
        validate_quartz("0 0 1 * 1")
    assert caught.value.error_type == CRON_NOT_QUARTZ
    assert caught.value.suggestion is None
    assert "no single Quartz equivalent" in caught.value.message


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("", "0 fields"),
        (
            "0 0 2 * ?",
            None,
        ),  # five fields but not a Unix cron either: still cron_not_quartz (checked below)
        ("0 0 2 * * ? 2030 x", "8 fields"),
        ("0 0 25 * * ?", "hours: 25 is outside 0-23"),
        ("60 0 2 * * ?", "seconds: 60"),
        ("0 0 2 * * *", "exactly one of day-of-month and day-of-week"),
        ("0 0 2 ? * ?", "exactly one of day-of-month and day-of-week"),
        ("0 0 2 ? 13 MON", "month: 13"),
        ("0 0 2 ? * 8", "day-of-week: 8"),
        ("0 0 2 ? * FOO", "'FOO' is not a valid value"),
        ("0 0 2 5-1 * ?", "must be ascending"),
        ("0 */0 * * * ?", "step '0'"),
        ("0 0 2 * * ? 1900", "year: 1900"),
        ("0 0 2 1,,2 * ?", "empty list entry"),
        ("0 0 ? * * MON", "'?' is only allowed"),
        ("0 0 2 ? * 6#6", "day-of-week"),
        ("0 0 2 32W * ?", "day-of-month"),
    ],
)
def test_invalid_quartz(expression: str, fragment: str | None) -> None:
    with pytest.raises(CronError) as caught:
        validate_quartz(expression)
    if fragment is None:
        assert caught.value.error_type == CRON_NOT_QUARTZ
    else:
        assert caught.value.error_type == CRON_INVALID
        assert fragment in caught.value.message


def test_cron_equality_ignores_spacing_quotes_and_case() -> None:
    assert cron_equal("0 0 2 ? * mon", "'0  0 2 ? * MON'")
    assert not cron_equal("0 0 2 * * ?", "0 0 3 * * ?")
    assert not cron_equal(None, "0 0 3 * * ?")


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("Europe/Paris", "Europe/Paris"),
        ("europe/paris", "Europe/Paris"),
        ("UTC", "UTC"),
        (" 'UTC' ", "UTC"),
    ],
)
def test_iana_time_zones_are_canonicalised(value: str, canonical: str) -> None:
    assert validate_timezone(value) == canonical


@pytest.mark.parametrize("value", ["+01:00", "UTC+1", "GMT-05:00", "Mars/Olympus", "CEST", ""])
def test_offsets_and_unknown_zones_are_rejected(value: str) -> None:
    with pytest.raises(CronError) as caught:
        validate_timezone(value)
    assert caught.value.error_type == TIMEZONE_INVALID
