"""Quartz cron expressions as Databricks job schedules accept them (docs/SHAREPACK.md §8.2).

`check_quartz` validates and canonicalises (single spaces, upper case). A 5-field Unix expression is refused
with `cron_not_quartz` and, when one exists, its Quartz equivalent as the hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from dbrx_api.workflow.validators.fields import FieldError

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    label: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_SPECS = (
    _FieldSpec("seconds", 0, 59),
    _FieldSpec("minutes", 0, 59),
    _FieldSpec("hours", 0, 23),
    _FieldSpec("day-of-month", 1, 31),
    _FieldSpec("month", 1, 12, _MONTHS),
    _FieldSpec("day-of-week", 1, 7, _DAYS),
    _FieldSpec("year", 1970, 2099),
)
_DOM, _DOW = 3, 5
_STEP = re.compile(r"(?P<base>[^/]+)(?:/(?P<step>[^/]+))?")
_LAST_OFFSET = re.compile(r"L-(\d{1,2})")
_WEEKDAY_NEAREST = re.compile(r"(\d{1,2})W")
_NTH_WEEKDAY = re.compile(r"([A-Z0-9]+)#(\d+)")
_LAST_WEEKDAY = re.compile(r"([A-Z0-9]+)L")


@dataclass(frozen=True, slots=True)
class QuartzCron:
    """A valid Quartz expression in canonical spelling; `high_frequency` when it fires more than once a minute."""

    expression: str
    high_frequency: bool


def _invalid(msg: str, hint: str | None = None) -> FieldError:
    return FieldError("cron_invalid", msg, hint)


def _value(token: str, spec: _FieldSpec) -> int:
    if token.isdigit():
        number = int(token)
    elif token in spec.names:
        number = spec.names.index(token) + 1
    else:
        raise _invalid(f'{spec.label}: "{token}" is not a value ({spec.low}-{spec.high}).')
    if not spec.low <= number <= spec.high:
        raise _invalid(f"{spec.label}: {number} is outside {spec.low}-{spec.high}.")
    return number


def _check_element(element: str, spec: _FieldSpec) -> None:
    match = _STEP.fullmatch(element)
    if match is None:
        raise _invalid(f'{spec.label}: "{element}" is not valid.')
    base, step = match.group("base"), match.group("step")
    if step is not None:
        if not step.isdigit() or int(step) < 1:
            raise _invalid(f'{spec.label}: step "{step}" must be a whole number of at least 1.')
        if int(step) > spec.high:
            raise _invalid(f"{spec.label}: step {step} is larger than {spec.high}.")
    if base == "*":
        return
    if "-" in base:
        start_token, _, end_token = base.partition("-")
        start, end = _value(start_token, spec), _value(end_token, spec)
        if start > end:
            raise _invalid(f'{spec.label}: range "{base}" must be ascending.')
        return
    _value(base, spec)


def _check_special(text: str, index: int) -> bool:
    """Day-field specials (`L`, `L-n`, `nW`, `LW`, `nL`, `n#k`); True when `text` is one and valid."""
    if index == _DOM:
        if text in {"L", "LW"}:
            return True
        if match := _LAST_OFFSET.fullmatch(text):
            if not 1 <= int(match.group(1)) <= 30:
                raise _invalid(f'day-of-month: "{text}" needs an offset of 1-30.')
            return True
        if match := _WEEKDAY_NEAREST.fullmatch(text):
            _value(match.group(1), _SPECS[_DOM])
            return True
    if index == _DOW:
        if text == "L":
            return True
        if match := _NTH_WEEKDAY.fullmatch(text):
            _value(match.group(1), _SPECS[_DOW])
            if not 1 <= int(match.group(2)) <= 5:
                raise _invalid(f'day-of-week: "{text}": the occurrence after "#" must be 1-5.')
            return True
        if match := _LAST_WEEKDAY.fullmatch(text):
            _value(match.group(1), _SPECS[_DOW])
            return True
    return False


def _check_field(text: str, index: int) -> None:
    spec = _SPECS[index]
    if text == "?":
        if index not in (_DOM, _DOW):
            raise _invalid(f'{spec.label}: "?" is only allowed in day-of-month or day-of-week.')
        return
    if _check_special(text, index):
        return
    for element in text.split(","):
        if not element:
            raise _invalid(f'{spec.label}: "{text}" has an empty list item.')
        _check_element(element, spec)


def unix_to_quartz(fields: list[str]) -> str | None:
    """Quartz equivalent of a 5-field Unix expression, or None when both day fields are restricted."""
    minute, hour, dom, month, dow = fields
    if dom != "*" and dow != "*":
        return None
    if dow == "*":
        return f"0 {minute} {hour} {dom} {month} ?"
    return f"0 {minute} {hour} ? {month} {_shift_weekdays(dow)}"


def _shift_weekday(token: str) -> str:
    if token.isdigit():
        return str(int(token) % 7 + 1)  # Unix 0/7 = Sunday -> Quartz 1; Monday 1 -> 2 ...
    return token


def _shift_weekdays(field: str) -> str:
    shifted: list[str] = []
    for element in field.split(","):
        base, slash, step = element.partition("/")
        if "-" in base:
            start, _, end = base.partition("-")
            if start.isdigit() and end.isdigit() and int(end) == 7 and int(start) > 0:
                # Unix "5-7" (Fri..Sun) crosses Quartz's Saturday=7 boundary: Fri..Sat plus Sunday.
                shifted.append(f"{_shift_weekday(start)}-7{slash}{step}")
                shifted.append("1")
                continue
            base = f"{_shift_weekday(start)}-{_shift_weekday(end)}"
        else:
            base = _shift_weekday(base)
        shifted.append(f"{base}{slash}{step}")
    return ",".join(shifted)


@lru_cache(maxsize=1024)  # packs repeat a few schedules across thousands of pipelines
def check_quartz(expression: str) -> QuartzCron:
    """Validate a Quartz cron; raise `cron_not_quartz` / `cron_invalid` (`FieldError`) otherwise."""
    fields = expression.upper().split()
    if len(fields) == 5:
        candidate = unix_to_quartz(fields)
        if candidate is not None:
            try:
                check_quartz(candidate)
            except FieldError:
                candidate = None
        shown = " ".join(expression.split())
        base = (
            f'"{shown}" is a 5-field Unix cron; Databricks schedules use Quartz '
            "(sec min hour day-of-month month day-of-week [year])."
        )
        if candidate is not None:
            raise FieldError(
                "cron_not_quartz", f'{base} Quartz equivalent: "{candidate}".', candidate
            )
        if fields[2] != "*" and fields[4] != "*":
            raise FieldError(
                "cron_not_quartz",
                f"{base} It restricts both day-of-month and day-of-week, which has no single Quartz "
                "equivalent: use one schedule per day rule.",
            )
        raise FieldError("cron_not_quartz", f"{base} It is not a valid Unix cron either.")
    if len(fields) not in (6, 7):
        raise _invalid(
            f"expected 6 or 7 fields (sec min hour day-of-month month day-of-week [year]), got {len(fields)}."
        )
    for index, text in enumerate(fields):
        _check_field(text, index)
    dom_any, dow_any = fields[_DOM] == "?", fields[_DOW] == "?"
    if dom_any == dow_any:
        suggestion = " ".join([*fields[:_DOW], "?", *fields[_DOW + 1 :]]) if not dom_any else None
        if not dom_any:
            raise _invalid(
                'day-of-month and day-of-week are both set; use "?" in one of them'
                + (f', e.g. "{suggestion}".' if suggestion else "."),
                suggestion,
            )
        raise _invalid('day-of-month and day-of-week are both "?"; set one of them (e.g. "*").')
    seconds = fields[0]
    high_frequency = not seconds.isdigit()
    return QuartzCron(expression=" ".join(fields), high_frequency=high_frequency)
