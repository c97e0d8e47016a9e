"""The one Quartz cron and IANA time-zone validator (docs/API.md §8, docs/SHAREPACK.md §8.2).

Databricks schedules use Quartz cron (6 or 7 fields, seconds first). A pasted 5-field Unix cron is refused with
`cron_not_quartz` and, when one exists, its Quartz equivalent as the suggestion; anything else that is not Quartz is
`cron_invalid`; a time zone that is not an IANA id is `timezone_invalid`. Every message has one wording here: the REST
schedule services report `CronError` as it is, the share-pack validators translate it to `FieldError`
(`workflow/validators/cron.py`). Pure and free of I/O (the share-pack "no I/O" import contract covers its callers).
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

CRON_NOT_QUARTZ = "cron_not_quartz"
CRON_INVALID = "cron_invalid"
TIMEZONE_INVALID = "timezone_invalid"

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELD_NAMES = "(sec min hour day-of-month month day-of-week [year])"


class CronError(ValueError):
    """An invalid cron expression or time zone; `error_type` is the stable validation error type, `suggestion` a
    replacement that is valid (the Quartz equivalent, the nearest time zone) when there is one."""

    def __init__(self, error_type: str, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.suggestion = suggestion


@dataclass(frozen=True, slots=True)
class QuartzCron:
    """A valid Quartz expression in canonical spelling; `high_frequency` when it fires more than once a minute."""

    expression: str
    high_frequency: bool


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # symbolic values, the first one worth `low`


_FIELDS = (
    _Field("seconds", 0, 59),
    _Field("minutes", 0, 59),
    _Field("hours", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 1, 7, _DAYS),
    _Field("year", 1970, 2099),
)
_DOM, _DOW = 3, 5
# Day-field specials. Numbers in them are written without leading zeros (`L-5`, `15W`, `6L`, `6#3`).
_LAST_OFFSET = re.compile(r"L-(0|[1-9][0-9]?)")
_NEAREST_WEEKDAY = re.compile(r"([1-9][0-9]?)W")
_NTH_WEEKDAY = re.compile(r"([1-9]|[A-Z]{3})#([0-9]+)")
_LAST_WEEKDAY = re.compile(r"([1-9]|[A-Z]{3})L")
_UTC_OFFSET = re.compile(r"(UTC|GMT)?\s*[+-]\d{1,2}(:?\d{2})?", re.IGNORECASE)


def _invalid(message: str, suggestion: str | None = None) -> CronError:
    return CronError(CRON_INVALID, message, suggestion)


def _unquote(value: str) -> str:
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def normalize_cron(expression: str) -> str:
    """Strip surrounding whitespace and quotes, collapse inner whitespace, upper-case names."""
    return " ".join(_unquote(expression).split()).upper()


# ------------------------------------------------------------------------------------------ Quartz fields


def _is_number(token: str) -> bool:
    return token.isascii() and token.isdigit()


def _value(field: _Field, token: str) -> int:
    if _is_number(token):
        number = int(token)
    elif token in field.names:
        number = field.low + field.names.index(token)
    else:
        raise _invalid(f'{field.name}: "{token}" is not a value ({field.low}-{field.high}).')
    if not field.low <= number <= field.high:
        raise _invalid(f"{field.name}: {number} is outside {field.low}-{field.high}.")
    return number


def _check_item(field: _Field, item: str) -> None:
    base, slash, step = item.partition("/")
    if not base or (slash and (not step or "/" in step)):
        raise _invalid(f'{field.name}: "{item}" is not valid.')
    if slash:
        if not _is_number(step) or int(step) < 1:
            raise _invalid(f'{field.name}: step "{step}" must be a whole number of at least 1.')
        if int(step) > field.high:
            raise _invalid(f"{field.name}: step {int(step)} is larger than {field.high}.")
    if base == "*":
        return
    start_text, dash, end_text = base.partition("-")
    start = _value(field, start_text)
    if dash and _value(field, end_text) < start:
        raise _invalid(f'{field.name}: range "{base}" must be ascending.')


def _is_special(index: int, text: str) -> bool:
    """Day-field specials (`L`, `L-n`, `nW`, `LW`; `L`, `nL`, `n#k`); True when `text` is one and valid."""
    if index == _DOM:
        if text in ("L", "LW"):
            return True
        if match := _LAST_OFFSET.fullmatch(text):
            if not 1 <= int(match.group(1)) <= 30:
                raise _invalid(f'day-of-month: "{text}" needs an offset of 1-30.')
            return True
        if match := _NEAREST_WEEKDAY.fullmatch(text):
            _value(_FIELDS[_DOM], match.group(1))
            return True
    if index == _DOW:
        if text == "L":
            return True
        if match := _NTH_WEEKDAY.fullmatch(text):
            _value(_FIELDS[_DOW], match.group(1))
            if match.group(2) not in ("1", "2", "3", "4", "5"):
                raise _invalid(f'day-of-week: "{text}": the occurrence after "#" must be 1-5.')
            return True
        if match := _LAST_WEEKDAY.fullmatch(text):
            _value(_FIELDS[_DOW], match.group(1))
            return True
    return False


def _check_field(index: int, text: str) -> None:
    field = _FIELDS[index]
    if text == "?":
        if index not in (_DOM, _DOW):
            raise _invalid(f'{field.name}: "?" is only allowed in day-of-month or day-of-week.')
        return
    if _is_special(index, text):
        return
    for item in text.split(","):
        if not item:
            raise _invalid(f'{field.name}: "{text}" has an empty list item.')
        _check_item(field, item)


def _check_day_fields(fields: list[str]) -> None:
    """Exactly one of day-of-month and day-of-week is `?`; the suggestion keeps the restricted one."""
    dom, dow = fields[_DOM], fields[_DOW]
    if dom == "?" and dow == "?":
        raise _invalid('day-of-month and day-of-week are both "?"; set one of them (e.g. "*").')
    if dom != "?" and dow != "?":
        # The unrestricted day field takes the "?"; with both restricted there is no single fix.
        free = _DOW if dow == "*" else _DOM if dom == "*" else None
        suggestion = None if free is None else " ".join([*fields[:free], "?", *fields[free + 1 :]])
        raise _invalid(
            'day-of-month and day-of-week are both set; use "?" in one of them'
            + (f', e.g. "{suggestion}".' if suggestion else "."),
            suggestion,
        )


# ------------------------------------------------------------------------------------------ expressions


def _unix_message(shown: str, fields: list[str], suggestion: str | None) -> str:
    base = f'"{shown}" is a 5-field Unix cron; Databricks schedules use Quartz {_FIELD_NAMES}.'
    if suggestion is not None:
        return f'{base} Quartz equivalent: "{suggestion}".'
    if fields[2] not in ("*", "?") and fields[4] not in ("*", "?"):
        return (
            f"{base} It restricts both day-of-month and day-of-week, which has no single Quartz equivalent: "
            "use one schedule per day rule."
        )
    return f"{base} It is not a valid Unix cron either."


@lru_cache(maxsize=1024)  # packs repeat a few schedules across thousands of pipelines
def parse_quartz(expression: str) -> QuartzCron:
    """Validate a Quartz cron and return it in canonical spelling (single spaces, upper case).

    Raises:
        CronError: `cron_not_quartz` for a 5-field Unix cron (suggestion: the Quartz equivalent when one exists),
            `cron_invalid` for anything else that is not Quartz (suggestion: a fix of the day fields when one is
            obvious).
    """
    fields = expression.upper().split()
    if len(fields) == 5:
        suggestion = unix_to_quartz(expression)
        shown = " ".join(expression.split())
        raise CronError(CRON_NOT_QUARTZ, _unix_message(shown, fields, suggestion), suggestion)
    if len(fields) not in (6, 7):
        raise _invalid(f"expected 6 or 7 fields {_FIELD_NAMES}, got {len(fields)}.")
    for index, text in enumerate(fields):
        _check_field(index, text)
    _check_day_fields(fields)
    return QuartzCron(expression=" ".join(fields), high_frequency=not _is_number(fields[0]))


def validate_quartz(expression: str) -> str:
    """`parse_quartz` of a REST body value, whose surrounding quotes are stripped first (docs/API.md §8)."""
    return parse_quartz(_unquote(expression)).expression


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
        if not _is_number(low_text) or (dash and not _is_number(high_text)):
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
    """The Quartz equivalent of a 5-field Unix cron, or None when there is no single valid equivalent."""
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
        return parse_quartz(candidate).expression
    except CronError:
        return None


def cron_equal(left: str | None, right: str | None) -> bool:
    """Whether two cron expressions are the same text after normalisation."""
    if left is None or right is None:
        return left is right
    return normalize_cron(left) == normalize_cron(right)


# ------------------------------------------------------------------------------------------ time zones


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {zone.lower(): zone for zone in zoneinfo.available_timezones()}


def parse_timezone(value: str) -> str:
    """Canonical IANA time-zone id for `value` (matched case-insensitively).

    Raises:
        CronError: `timezone_invalid` for a UTC offset (even one with an IANA alias such as `GMT+0`) or an unknown
            id (suggestion: the closest id, when one is close).
    """
    if _UTC_OFFSET.fullmatch(value):
        raise CronError(
            TIMEZONE_INVALID,
            f'"{value}" is a UTC offset, not a time zone (use an IANA id such as Europe/London or UTC).',
        )
    zones = _zones()
    canonical = zones.get(value.lower())
    if canonical is not None:
        return canonical
    matches = difflib.get_close_matches(value.lower(), list(zones), n=1, cutoff=0.8)
    hint = zones[matches[0]] if matches else None
    if hint is not None:
        raise CronError(
            TIMEZONE_INVALID, f'"{value}" is not a known time zone; did you mean "{hint}"?', hint
        )
    raise CronError(
        TIMEZONE_INVALID,
        f'"{value}" is not a known time zone (use an IANA id such as Europe/London or UTC).',
    )


def validate_timezone(value: str) -> str:
    """`parse_timezone` of a REST body value, whose surrounding whitespace and quotes are stripped first."""
    return parse_timezone(_unquote(value))
