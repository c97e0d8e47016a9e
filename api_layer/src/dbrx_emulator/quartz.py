"""Quartz cron expressions: validation and next-fire computation (docs/EMULATOR.md §7.7, §9.3).

Databricks job schedules use Quartz syntax: 6 or 7 whitespace-separated fields — seconds, minutes, hours,
day-of-month, month, day-of-week and an optional year — and exactly one of day-of-month and day-of-week must be `?`.
Each field accepts numbers, names (`JAN`-`DEC`, `SUN`-`SAT`, case-insensitive), `*`, `,` lists, `a-b` ranges
(wrapping around when `a > b`, as Quartz allows) and `/` steps. Day-of-month also takes `L`, `L-n`, `nW` and `LW`;
day-of-week takes `L`, `nL` and `n#k`.

Every valid expression is accepted; the simulator fires those it can compute. `W` in day-of-month and `L`/`#` in
day-of-week are stored but never fire (`CronSchedule.simulated` is False), as the spec allows.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MAX_YEAR = 2099


class CronError(ValueError):
    """An invalid cron expression or time zone; the message says what is wrong."""


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_SECOND = _FieldSpec("seconds", 0, 59)
_MINUTE = _FieldSpec("minutes", 0, 59)
_HOUR = _FieldSpec("hours", 0, 23)
_DAY_OF_MONTH = _FieldSpec("day-of-month", 1, 31)
_MONTH = _FieldSpec("month", 1, 12, MONTH_NAMES)
_DAY_OF_WEEK = _FieldSpec("day-of-week", 1, 7, DAY_NAMES)
_YEAR = _FieldSpec("year", 1970, MAX_YEAR)

_LAST_OFFSET = re.compile(r"^L-(\d{1,2})$")
_NEAREST_WEEKDAY = re.compile(r"^(\d{1,2})W$")
_DOW_LAST = re.compile(r"^([A-Z]{3}|\d)L$")
_DOW_NTH = re.compile(r"^([A-Z]{3}|\d)#(\d)$")


@dataclass(frozen=True)
class CronSchedule:
    """A parsed Quartz expression.

    `days_of_month`/`days_of_week` are None when the field is `?`. `last_day_offset` is set for `L` (0) or `L-n`.
    `simulated` is False for the forms the simulator does not fire (`W`, day-of-week `L` and `#`).
    """

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int] | None
    last_day_offset: int | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None
    years: frozenset[int] | None
    simulated: bool

    def next_fire_ms(self, after_ms: int, zone: ZoneInfo) -> int | None:
        """The first fire time strictly after `after_ms` (epoch ms) in `zone`; None when it never fires again."""
        if not self.simulated:
            return None
        first_second = after_ms // 1000 + 1
        start = datetime.fromtimestamp(first_second, zone).replace(tzinfo=None)
        day = start.date()
        earliest = (start.hour, start.minute, start.second)
        while day.year <= MAX_YEAR:
            if self.years is not None and day.year not in self.years:
                later = [y for y in self.years if y > day.year]
                if not later:
                    return None
                day, earliest = date(min(later), 1, 1), (0, 0, 0)
                continue
            if day.month not in self.months:
                day, earliest = _first_of_next_month(day), (0, 0, 0)
                continue
            if self._day_matches(day):
                for hour, minute, second in self._times_from(earliest):
                    local = datetime(
                        day.year, day.month, day.day, hour, minute, second, tzinfo=zone
                    )
                    fire_ms = int(local.timestamp()) * 1000
                    if fire_ms > after_ms:
                        return fire_ms
            day, earliest = day + timedelta(days=1), (0, 0, 0)
        return None

    def _day_matches(self, day: date) -> bool:
        if self.days_of_week is not None:
            return _quartz_weekday(day) in self.days_of_week
        if self.last_day_offset is not None:
            last = calendar.monthrange(day.year, day.month)[1]
            return day.day == last - self.last_day_offset
        return self.days_of_month is not None and day.day in self.days_of_month

    def _times_from(self, earliest: tuple[int, int, int]) -> Iterator[tuple[int, int, int]]:
        """Times of day (h, m, s) in order, not before `earliest` (lazily: the first match usually wins)."""
        for hour in self.hours:
            if hour < earliest[0]:
                continue
            for minute in self.minutes:
                if (hour, minute) < earliest[:2]:
                    continue
                for second in self.seconds:
                    if (hour, minute, second) >= earliest:
                        yield hour, minute, second


def _first_of_next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _quartz_weekday(day: date) -> int:
    """Quartz numbering: 1 = Sunday … 7 = Saturday."""
    return (day.weekday() + 1) % 7 + 1


def _value(spec: _FieldSpec, token: str) -> int:
    if token.isdigit():
        number = int(token)
    elif token in spec.names:
        number = spec.low + spec.names.index(token)
    else:
        raise CronError(f"{spec.name}: '{token}' is not a valid value")
    if not spec.low <= number <= spec.high:
        raise CronError(f"{spec.name}: {number} is outside {spec.low}-{spec.high}")
    return number


def _item_values(spec: _FieldSpec, item: str) -> set[int]:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) < 1:
            raise CronError(f"{spec.name}: '{item}' has an invalid step")
        step = int(step_text)
    if base == "*":
        start, end = spec.low, spec.high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _value(spec, first), _value(spec, last)
    else:
        start = _value(spec, base)
        end = spec.high if slash else start
    span = spec.high - spec.low + 1
    length = (end - start) % span + 1 if end < start else end - start + 1
    return {spec.low + (start - spec.low + offset) % span for offset in range(0, length, step)}


def _plain_field(spec: _FieldSpec, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{spec.name}: empty list item in '{text}'")
        values |= _item_values(spec, item)
    return frozenset(values)


def _day_of_month(text: str) -> tuple[frozenset[int] | None, int | None, bool]:
    """(days, last-day offset, simulated) of the day-of-month field."""
    if text == "L":
        return None, 0, True
    if text == "LW":
        return None, None, False
    offset = _LAST_OFFSET.match(text)
    if offset:
        value = int(offset.group(1))
        if value > 30:
            raise CronError(f"day-of-month: offset from last day must be at most 30, not {value}")
        return None, value, True
    nearest = _NEAREST_WEEKDAY.match(text)
    if nearest:
        _value(_DAY_OF_MONTH, nearest.group(1))
        return None, None, False
    return _plain_field(_DAY_OF_MONTH, text), None, True


def _day_of_week(text: str) -> tuple[frozenset[int], bool]:
    """(days, simulated) of the day-of-week field."""
    if text == "L":
        return frozenset({7}), True
    last = _DOW_LAST.match(text)
    if last:
        _value(_DAY_OF_WEEK, last.group(1))
        return frozenset(), False
    nth = _DOW_NTH.match(text)
    if nth:
        _value(_DAY_OF_WEEK, nth.group(1))
        if not 1 <= int(nth.group(2)) <= 5:
            raise CronError(f"day-of-week: '#{nth.group(2)}' must be between 1 and 5")
        return frozenset(), False
    return _plain_field(_DAY_OF_WEEK, text), True


@lru_cache(maxsize=4096)
def parse_cron(expression: str) -> CronSchedule:
    """Parse and validate a Quartz expression (CronError says why it is invalid)."""
    fields = expression.upper().split()
    if len(fields) == 5:
        raise CronError(
            "it has 5 fields (a Unix cron); Quartz needs 6 or 7: seconds minutes hours "
            "day-of-month month day-of-week [year]"
        )
    if len(fields) not in (6, 7):
        raise CronError(f"it has {len(fields)} fields; Quartz needs 6 or 7")
    second, minute, hour, dom, month, dow = fields[:6]
    for spec, text in ((_SECOND, second), (_MINUTE, minute), (_HOUR, hour), (_MONTH, month)):
        if text == "?":
            raise CronError(f"{spec.name}: '?' is allowed only in day-of-month and day-of-week")
    seconds = tuple(sorted(_plain_field(_SECOND, second)))
    minutes = tuple(sorted(_plain_field(_MINUTE, minute)))
    hours = tuple(sorted(_plain_field(_HOUR, hour)))
    months = _plain_field(_MONTH, month)
    if (dom == "?") == (dow == "?"):
        raise CronError("exactly one of day-of-month and day-of-week must be '?'")
    days_of_month: frozenset[int] | None = None
    last_day_offset: int | None = None
    days_of_week: frozenset[int] | None = None
    simulated = True
    if dom != "?":
        days_of_month, last_day_offset, simulated = _day_of_month(dom)
    else:
        days_of_week, simulated = _day_of_week(dow)
    years = None
    if len(fields) == 7 and fields[6] != "*":
        years = _plain_field(_YEAR, fields[6])
    return CronSchedule(
        expression=expression,
        seconds=seconds,
        minutes=minutes,
        hours=hours,
        days_of_month=days_of_month,
        last_day_offset=last_day_offset,
        months=months,
        days_of_week=days_of_week,
        years=years,
        simulated=simulated,
    )


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC", "GMT"})


@lru_cache(maxsize=1024)
def parse_timezone(timezone_id: str) -> ZoneInfo:
    """The zone of a Java/IANA time-zone id (exact spelling); CronError when unknown."""
    if timezone_id not in _known_zones():
        raise CronError(f"'{timezone_id}' is not a known time-zone id")
    try:
        return ZoneInfo(timezone_id)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"'{timezone_id}' is not a known time-zone id") from None
