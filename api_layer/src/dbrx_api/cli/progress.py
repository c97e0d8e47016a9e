"""Progress while `apply` or `status --wait` follows a share pack.

On a terminal one status line is redrawn in place (spinner, elapsed time, status, step counters) and a permanent
line is left each time the status or its detail changes. Elsewhere (CI logs, pipes) only the changes are printed,
one plain line each, so logs stay readable.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from dbrx_api.cli.output import member, steps_text

_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60:d}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds:d}s"


class Progress:
    """Shows how a share pack advances; `enabled=False` makes every method a no-op."""

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool,
        terminal: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._enabled = enabled
        self._terminal = terminal and enabled
        self._clock = clock
        self._started = clock()
        self._last_key: tuple[Any, ...] | None = None
        self._current = ""
        self._frame = 0
        self._drawn = False

    def update(self, doc: Mapping[str, Any]) -> None:
        """Record the latest status object; prints a line when status, detail or step counters changed."""
        if not self._enabled:
            return
        status = str(doc.get("status", "?"))
        detail = str(doc.get("status_detail") or "")
        run = member(doc, "latest_run")
        steps = steps_text(run.get("steps")) if run else ""
        key = (doc.get("current_version"), status, detail, steps)
        self._current = "  ".join(part for part in (status, detail) if part)
        if key != self._last_key:
            self._last_key = key
            line = f"[{_elapsed(self._clock() - self._started):>6}] {self._current}"
            if steps and steps not in detail:
                line += f"  ({steps})"
            self._print_permanent(line)
        self.tick()

    def tick(self) -> None:
        """Redraw the live line on a terminal (spinner and elapsed time); nothing elsewhere."""
        if not self._terminal or not self._current:
            return
        self._frame = (self._frame + 1) % len(_SPINNER)
        width = shutil.get_terminal_size((100, 20)).columns
        text = f"{_SPINNER[self._frame]} {_elapsed(self._clock() - self._started)}  {self._current}"
        self._stream.write("\r\x1b[2K" + text[: max(width - 1, 10)])
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Clear the live line so that the final report starts on a clean line."""
        if self._terminal and self._drawn:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()
            self._drawn = False

    def _print_permanent(self, line: str) -> None:
        if self._terminal and self._drawn:
            self._stream.write("\r\x1b[2K")
            self._drawn = False
        self._stream.write(line + "\n")
        self._stream.flush()
