"""Schedules of a share pack: Quartz cron and time zone (docs/SHAREPACK.md §8.2).

The rules and their wording are the service's one validator, `dbrx_api.jobs.cron`; this adapter reports its
`CronError` as the `FieldError` the share-pack validators collect (same codes `cron_not_quartz`, `cron_invalid`,
`timezone_invalid`; the suggestion becomes the issue's hint).
"""

from __future__ import annotations

from dbrx_api.jobs.cron import CronError, QuartzCron, parse_quartz, parse_timezone
from dbrx_api.workflow.validators.fields import FieldError

__all__ = ["QuartzCron", "check_quartz", "check_timezone"]


def _field_error(exc: CronError) -> FieldError:
    return FieldError(exc.error_type, exc.message, exc.suggestion)


def check_quartz(expression: str) -> QuartzCron:
    """A valid Quartz cron in canonical spelling; `FieldError` `cron_not_quartz` / `cron_invalid` otherwise."""
    try:
        return parse_quartz(expression)
    except CronError as exc:
        raise _field_error(exc) from None


def check_timezone(value: str) -> str:
    """The canonical IANA time-zone id; `FieldError` `timezone_invalid` (hint: the closest id) otherwise."""
    try:
        return parse_timezone(value)
    except CronError as exc:
        raise _field_error(exc) from None
