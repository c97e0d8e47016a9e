"""Quartz validation, the Unix → Quartz suggestion and IANA time zones (docs/API.md §8, docs/SHAREPACK.md §8.2)."""

from __future__ import annotations

from collections.abc import Callable

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
from dbrx_api.workflow.validators.cron import check_quartz, check_timezone
from dbrx_api.workflow.validators.fields import FieldError


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
    assert f'Quartz equivalent: "{quartz}".' in caught.value.message


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
        ("", "got 0"),
        (
            "0 0 2 * ?",
            None,
        ),  # five fields but not a Unix cron either: still cron_not_quartz (checked below)
        ("0 0 2 * * ? 2030 x", "expected 6 or 7 fields"),
        ("0 0 25 * * ?", "hours: 25 is outside 0-23"),
        ("60 0 2 * * ?", "seconds: 60"),
        ("0 0 2 * * *", "day-of-month and day-of-week are both set"),
        ("0 0 2 ? * ?", 'day-of-month and day-of-week are both "?"'),
        ("0 0 2 ? 13 MON", "month: 13"),
        ("0 0 2 ? * 8", "day-of-week: 8"),
        ("0 0 2 ? * FOO", 'day-of-week: "FOO" is not a value (1-7)'),
        ("0 0 2 5-1 * ?", "must be ascending"),
        ("0 */0 * * * ?", 'step "0" must be a whole number of at least 1'),
        ("0 0 2 * * ? 1900", "year: 1900"),
        ("0 0 2 1,,2 * ?", "empty list item"),
        ("0 0 ? * * MON", '"?" is only allowed'),
        ("0 0 2 ? * 6#6", 'the occurrence after "#" must be 1-5'),
        ("0 0 2 32W * ?", "day-of-month: 32 is outside 1-31"),
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


def test_utc_offsets_are_named_as_such() -> None:
    with pytest.raises(CronError) as caught:
        validate_timezone("+02:00")
    assert caught.value.message == (
        '"+02:00" is a UTC offset, not a time zone (use an IANA id such as Europe/London or UTC).'
    )


# ------------------------------------------------------------------------------------------ one rule set, two callers
# The REST schedule routes (`validate_quartz`, `validate_timezone`) and the share-pack validators (`check_quartz`,
# `check_timezone`) run the same engine: over one table they accept the same values, refuse the others with the
# same code, message and suggestion (hint). Cases come from both former rule sets; the stricter rule won.

_VALID = "valid"
SHARED_CRON_CASES: list[tuple[str, str, str | None]] = [
    # (expression, code or "valid", suggestion, or the canonical expression when valid)
    ("0 0 2 * * ?", _VALID, "0 0 2 * * ?"),
    ("0  15 10 ? * mon-fri", _VALID, "0 15 10 ? * MON-FRI"),
    ("0 0/15 * ? * 2-6", _VALID, "0 0/15 * ? * 2-6"),
    ("0 0 12 1/5 * ?", _VALID, "0 0 12 1/5 * ?"),
    ("0 0 12 L * ?", _VALID, "0 0 12 L * ?"),
    ("0 0 12 L-3 * ?", _VALID, "0 0 12 L-3 * ?"),
    ("0 0 12 L-30 * ?", _VALID, "0 0 12 L-30 * ?"),
    ("0 0 12 15W * ?", _VALID, "0 0 12 15W * ?"),
    ("0 0 12 LW * ?", _VALID, "0 0 12 LW * ?"),
    ("0 0 12 ? * 6#3", _VALID, "0 0 12 ? * 6#3"),
    ("0 15 10 ? * FRI#3", _VALID, "0 15 10 ? * FRI#3"),
    ("0 0 12 ? * 6L", _VALID, "0 0 12 ? * 6L"),
    ("0 0 12 ? * L", _VALID, "0 0 12 ? * L"),
    ("0 0 0 1 JAN-MAR ? 2030", _VALID, "0 0 0 1 JAN-MAR ? 2030"),
    ("0 0 0 ? JAN,JUL 2 2027", _VALID, "0 0 0 ? JAN,JUL 2 2027"),
    ("0 0 0 1,15 * ? 2026-2030/2", _VALID, "0 0 0 1,15 * ? 2026-2030/2"),
    ("0 0/59 * * * ?", _VALID, "0 0/59 * * * ?"),
    ("*/30 * * * * ?", _VALID, "*/30 * * * * ?"),
    ("0,30 * * * * ?", _VALID, "0,30 * * * * ?"),
    # 5-field Unix cron
    ("0 2 * * 1-5", CRON_NOT_QUARTZ, "0 0 2 ? * 2-6"),
    ("30 2 * * 1-5", CRON_NOT_QUARTZ, "0 30 2 ? * 2-6"),
    ("0 0 * * *", CRON_NOT_QUARTZ, "0 0 0 * * ?"),
    ("*/15 * * * *", CRON_NOT_QUARTZ, "0 */15 * * * ?"),
    ("0 9 * * 0", CRON_NOT_QUARTZ, "0 0 9 ? * 1"),
    ("0 9 * * 7", CRON_NOT_QUARTZ, "0 0 9 ? * 1"),
    ("0 9 * * 5-7", CRON_NOT_QUARTZ, "0 0 9 ? * 6-7,1"),
    ("0 9 * * MON-FRI", CRON_NOT_QUARTZ, "0 0 9 ? * MON-FRI"),
    ("0 9 1 * *", CRON_NOT_QUARTZ, "0 0 9 1 * ?"),
    ("0 9 1 * 1", CRON_NOT_QUARTZ, None),  # both day fields restricted
    ("0 99 * * *", CRON_NOT_QUARTZ, None),  # not a valid Unix cron either
    ("0 9 * * 5-7/2", CRON_NOT_QUARTZ, None),  # the Sunday wrap cannot keep a step
    # field counts
    ("", CRON_INVALID, None),
    ("0 0", CRON_INVALID, None),
    ("0 0 0 * * ? 2026 1", CRON_INVALID, None),
    # values, names, ranges, steps, lists
    ("0 0 24 * * ?", CRON_INVALID, None),
    ("60 0 0 * * ?", CRON_INVALID, None),
    ("0 0 0 0 * ?", CRON_INVALID, None),
    ("0 0 0 ? 13 *", CRON_INVALID, None),
    ("0 0 0 ? * 8", CRON_INVALID, None),
    ("0 0 2 ? * FOO", CRON_INVALID, None),
    ("0 0 0 * * ? 1969", CRON_INVALID, None),
    ("0 0 10-5 * * ?", CRON_INVALID, None),
    ("0 0/0 * * * ?", CRON_INVALID, None),
    ("0 0/60 * * * ?", CRON_INVALID, None),  # step above the field's high value (was pack-only)
    ("0 */5/2 * * * ?", CRON_INVALID, None),
    ("0 /5 * * * ?", CRON_INVALID, None),
    ("0 0 0 ,1 * ?", CRON_INVALID, None),
    ("0 0 2 1,,2 * ?", CRON_INVALID, None),
    ("0 \u0663 * * * ?", CRON_INVALID, None),  # a non-ASCII digit (was accepted by both)
    # "?" and the day fields
    ("0 0 ? * * ?", CRON_INVALID, None),
    ("0 0 2 * * *", CRON_INVALID, "0 0 2 * * ?"),
    ("0 0 2 * * MON", CRON_INVALID, "0 0 2 ? * MON"),  # the restricted day field is kept
    ("0 0 2 1 * MON", CRON_INVALID, None),  # both restricted: no single fix
    ("0 0 2 ? * ?", CRON_INVALID, None),
    # day-field specials
    ("0 0 0 L-0 * ?", CRON_INVALID, None),  # L offsets are 1-30 (was pack-only)
    ("0 0 0 L-31 * ?", CRON_INVALID, None),
    ("0 0 0 L-05 * ?", CRON_INVALID, None),  # no leading zeros in specials (was REST-only)
    ("0 0 0 05W * ?", CRON_INVALID, None),
    ("0 0 0 ? * 06L", CRON_INVALID, None),
    ("0 0 0 ? * 6#03", CRON_INVALID, None),
    ("0 0 0 32W * ?", CRON_INVALID, None),
    ("0 0 0 5L * ?", CRON_INVALID, None),
    ("0 0 0 ? * MON#6", CRON_INVALID, None),
    ("0 0 0 ? * 6#0", CRON_INVALID, None),
    ("0 0 0 ? * 8L", CRON_INVALID, None),
]


# (code or "valid", suggestion or the canonical value, message)
Outcome = tuple[str, str | None, str | None]


def _rest(validate: Callable[[str], str], value: str) -> Outcome:
    try:
        return _VALID, validate(value), None
    except CronError as exc:
        return exc.error_type, exc.suggestion, exc.message


def _pack(check: Callable[[str], str], value: str) -> Outcome:
    try:
        return _VALID, check(value), None
    except FieldError as exc:
        return exc.code, exc.hint, exc.msg


@pytest.mark.parametrize(("expression", "code", "suggestion"), SHARED_CRON_CASES)
def test_rest_and_pack_cron_validators_agree(
    expression: str, code: str, suggestion: str | None
) -> None:
    rest = _rest(validate_quartz, expression)
    pack = _pack(lambda text: check_quartz(text).expression, expression)
    assert rest == pack
    assert rest[:2] == (code, suggestion)
    if rest[2] is not None:  # one sentence, ready for the REST detail and the pack line
        assert rest[2].endswith((".", "?"))


SHARED_TIMEZONE_CASES: list[tuple[str, str, str | None]] = [
    # (value, code or "valid", suggestion, or the canonical id when valid)
    ("Europe/Paris", _VALID, "Europe/Paris"),
    ("europe/london", _VALID, "Europe/London"),
    ("UTC", _VALID, "UTC"),
    ("Etc/GMT+5", _VALID, "Etc/GMT+5"),
    ("+01:00", TIMEZONE_INVALID, None),
    ("UTC+1", TIMEZONE_INVALID, None),
    ("GMT-05:00", TIMEZONE_INVALID, None),
    ("GMT+0", TIMEZONE_INVALID, None),  # an IANA alias, but written as an offset (was REST-only)
    ("Mars/Olympus", TIMEZONE_INVALID, None),
    ("Europe/Londn", TIMEZONE_INVALID, "Europe/London"),  # "did you mean" (was pack-only)
    ("", TIMEZONE_INVALID, None),
]


@pytest.mark.parametrize(("value", "code", "suggestion"), SHARED_TIMEZONE_CASES)
def test_rest_and_pack_timezone_validators_agree(
    value: str, code: str, suggestion: str | None
) -> None:
    rest, pack = _rest(validate_timezone, value), _pack(check_timezone, value)
    assert rest == pack
    assert rest[:2] == (code, suggestion)
