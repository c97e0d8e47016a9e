"""The reviewer console's templates and static files (docs/API.md §17), and the Jinja2 environment that renders them.

Package data only plus the environment: no I/O, no service calls. The routes are in `dbrx_api.routes.console`.
Every page loads `static/console.css` and `static/console.js` from the app itself and carries no inline script or
style, so the console's Content-Security-Policy needs neither a nonce nor 'unsafe-inline'.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

PACKAGE_DIR = Path(str(files(__package__)))
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATES_DIR = PACKAGE_DIR / "templates"

# Terraform-style markers of a plan's actions (docs/API.md §12.3).
ACTION_MARKERS = {
    "create": "+",
    "update": "~",
    "delete": "-",
    "rotate_token": "↻",
    "set_expiry": "~",
    "adopt": "⇐",
    "no_op": "=",
}


def _utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def timestamp(value: Any) -> Markup:
    """A `<time>` element in UTC; console.js rewrites its text in the viewer's time zone (UTC stays on hover)."""
    at = _utc(value)
    if at is None:
        return Markup("—")
    utc = at.astimezone(UTC)
    iso = utc.isoformat(timespec="seconds").replace("+00:00", "Z")
    shown = utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{0}" title="{1}">{1}</time>').format(iso, shown)


def status_class(status: Any) -> str:
    """The CSS class of a status or outcome badge."""
    text = str(status or "").upper()
    if text in {"COMPLETED", "SUCCEEDED", "APPROVE"}:
        return "badge ok"
    if text in {"FAILED", "REJECTED", "DECLINE", "ERROR", "INTERRUPTED", "ABANDONED"}:
        return "badge bad"
    if text in {"PENDING_APPROVAL", "AWAITING_APPROVAL", "QUEUED", "IN_PROGRESS", "RETRY"}:
        return "badge wait"
    return "badge"


def principal_label(value: Any) -> Markup:
    """`name` with the id on hover, for a `{id, name}` principal (object or mapping)."""
    ident = getattr(value, "id", None) if not isinstance(value, dict) else value.get("id")
    name = getattr(value, "name", None) if not isinstance(value, dict) else value.get("name")
    if ident is None:
        return Markup("—")
    return Markup('<span class="who" title="{0}">{1}</span>').format(ident, name or ident)


def build_environment() -> Environment:
    """The Jinja2 environment of the console (autoescaping on; undefined names fail loudly in tests)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ts"] = timestamp
    env.filters["status_class"] = status_class
    env.filters["who"] = principal_label
    env.globals["ACTION_MARKERS"] = ACTION_MARKERS
    env.globals["escape"] = escape
    return env
