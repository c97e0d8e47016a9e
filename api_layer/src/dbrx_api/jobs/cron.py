"""Quartz cron and IANA time-zone validation, and the Unix → Quartz suggestion (docs/API.md §8, docs/SHAREPACK.md §8.2).

Databricks schedules use Quartz cron (6 or 7 fields, seconds first). Users often paste a 5-field Unix cron; it is
rejected with error type `cron_not_quartz` and, when one exists, the Quartz equivalent in the message.
These functions are pure so that the REST services and the share-pack validators share one definition.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

CRON_NOT_QUARTZ = "cron_not_quartz"
CRON_INVALID = "cron_invalid"
TIMEZONE_INVALID = "timezone_invalid"

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class CronError(ValueError):
    """An invalid cron expression or time zone; `error_type` is the stable validation error type."""

    def __init__(self, error_type: str, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.suggestion = suggestion


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # symbolic values, the first one worth `low`


_SECONDS = _Field("seconds", 0, 59)
_MINUTES = _Field("minutes", 0, 59)
_HOURS = _Field("hours", 0, 23)
_DAY_OF_MONTH = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTHS)
_DAY_OF_WEEK = _Field("day-of-week", 1, 7, _DAYS)
_YEAR = _Field("year", 1970, 2099)

_DOM_SPECIAL = re.compile(r"^(L(-([1-9]|[12][0-9]|30))?|LW|([1-9]|[12][0-9]|3[01])W)$")
_DOW_LAST = re.compile(r"^([1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)L$")
_DOW_NTH = re.compile(r"^([1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)#([1-5])$")
_UTC_OFFSET = re.compile(r"^(UTC|GMT)?\s*[+-]\d{1,2}(:?\d{2})?$", re.IGNORECASE)


def normalize_cron(expression: str) -> str:
    """Strip surrounding whitespace and quotes, collapse inner whitespace, upper-case names."""
    text = expression.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return " ".join(text.split()).upper()


def _value(field: _Field, token: str) -> int:
    if token.isdigit():
        number = int(token)
    elif token in field.names:
        number = field.low + field.names.index(token)
    else:
        raise CronError(CRON_INVALID, f"{field.name}: '{token}' is not a valid value")
    if not field.low <= number <= field.high:
        raise CronError(
            CRON_INVALID,
            f"{field.name}: {number} is outside {field.low}-{field.high}",
        )
    return number


def _check_item(field: _Field, item: str) -> None:
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) < 1):
        raise CronError(CRON_INVALID, f"{field.name}: step '{step}' must be an integer >= 1")
    if base == "*":
        return
    low_text, dash, high_text = base.partition("-")
    if not low_text:
        raise CronError(CRON_INVALID, f"{field.name}: '{item}' is not a valid value")
    low = _value(field, low_text)
    if dash:
        high = _value(field, high_text)
        if high < low:
            raise CronError(
                CRON_INVALID, f"{field.name}: range '{base}' must be ascending ({low}-{high})"
            )


def _check_field(field: _Field, text: str) -> None:
    if text == "?":
        if field not in (_DAY_OF_MONTH, _DAY_OF_WEEK):
            raise CronError(CRON_INVALID, f"{field.name}: '?' is only allowed in the day fields")
        return
    if field is _DAY_OF_MONTH and _DOM_SPECIAL.match(text):
        return
    if field is _DAY_OF_WEEK and (text == "L" or _DOW_LAST.match(text) or _DOW_NTH.match(text)):
        return
    for item in text.split(","):
        if not item:
            raise CronError(CRON_INVALID, f"{field.name}: empty list entry in '{text}'")
        _check_item(field, item)


def validate_quartz(expression: str) -> str:
    """Validate a Quartz cron expression and return its normalised text.

    Raises:
        CronError: `cron_not_quartz` for a 5-field Unix cron (with the Quartz equivalent in the message when one
            exists), `cron_invalid` for anything else that is not a valid Quartz expression.
    """
    text = normalize_cron(expression)
    fields = text.split(" ") if text else []
    if len(fields) == 5:
        suggestion = unix_to_quartz(text)
        if suggestion is not None:
            message = (
                f"'{text}' is a 5-field Unix cron; Databricks needs a Quartz expression "
                f"(seconds first, 6 or 7 fields). Quartz equivalent: '{suggestion}'"
            )
        else:
            message = (
                f"'{text}' is a 5-field Unix cron; Databricks needs a Quartz expression "
                "(seconds first, 6 or 7 fields). It restricts both day-of-month and day-of-week, "
                "which has no single Quartz equivalent"
            )
        raise CronError(CRON_NOT_QUARTZ, message, suggestion)
    if len(fields) not in (6, 7):
        raise CronError(
            CRON_INVALID,
            f"'{text}' has {len(fields)} fields; Quartz needs 6 or 7 "
            "(seconds minutes hours day-of-month month day-of-week [year])",
        )
    specs = (_SECONDS, _MINUTES, _HOURS, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK, _YEAR)
    for field, part in zip(specs, fields, strict=False):
        _check_field(field, part)
    if (fields[3] == "?") == (fields[5] == "?"):
        raise CronError(
            CRON_INVALID,
            f"'{text}': exactly one of day-of-month and day-of-week must be '?'",
        )
    return text


def _shift_day_of_week(text: str) -> str | None:
    """Unix day-of-week (0/7 = Sunday) to Quartz (1 = Sunday); None when it cannot be expressed."""
    converted: list[str] = []
    for item in text.split(","):
        base, slash, step = item.partition("/")
        suffix = f"/{step}" if slash else ""
        if base == "*":
            converted.append(item)
            continue
        low_text, dash, high_text = base.partition("-")
        if not low_text.isdigit() or (dash and not high_text.isdigit()):
            if low_text in _DAYS and (not dash or high_text in _DAYS):
                converted.append(item)  # names mean the same day in both dialects
                continue
            return None
        low = int(low_text)
        if not dash:
            if low > 7:
                return None
            converted.append(f"{low % 7 + 1}{suffix}")
            continue
        high = int(high_text)
        if not 0 <= low <= high <= 7:
            return None
        if high == 7 and low > 0:
            if slash:
                return None
            # Unix 5-7 is Friday..Sunday; Quartz has Sunday at 1, so the range wraps.
            converted.append(f"{low + 1}-7,1")
        else:
            converted.append(f"{low + 1}-{min(high + 1, 7)}{suffix}")
    return ",".join(converted)


def unix_to_quartz(expression: str) -> str | None:
    """The Quartz equivalent of a 5-field Unix cron, or None when there is no single equivalent."""
    fields = normalize_cron(expression).split(" ")
    if len(fields) != 5:
        return None
    minute, hour, day_of_month, month, day_of_week = fields
    dom_restricted = day_of_month not in ("*", "?")
    dow_restricted = day_of_week not in ("*", "?")
    if dom_restricted and dow_restricted:
        return None
    if dow_restricted:
        shifted = _shift_day_of_week(day_of_week)
        if shifted is None:
            return None
        candidate = f"0 {minute} {hour} ? {month} {shifted}"
    else:
        candidate = f"0 {minute} {hour} {day_of_month if dom_restricted else '*'} {month} ?"
    try:
        return validate_quartz(candidate)
    except CronError:
        return None


def cron_equal(left: str | None, right: str | None) -> bool:
    """Whether two cron expressions are the same text after normalisation."""
    if left is None or right is None:
        return left is right
    return normalize_cron(left) == normalize_cron(right)


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {zone.lower(): zone for zone in zoneinfo.available_timezones()}


def validate_timezone(value: str) -> str:
    """Canonical IANA time-zone id for `value` (matched case-insensitively); `timezone_invalid` otherwise."""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    if _UTC_OFFSET.match(text):
        raise CronError(
            TIMEZONE_INVALID,
            f"'{text}' is a UTC offset; use an IANA time-zone id such as 'Europe/Paris' or 'UTC'",
        )
    canonical = _zones().get(text.lower())
    if canonical is None:
        raise CronError(
            TIMEZONE_INVALID,
            f"'{text}' is not an IANA time-zone id (for example 'Europe/Paris' or 'UTC')",
        )
    return canonical
