"""The located document tree that both front ends (YAML and Excel) produce for the validators.

A parser turns the file into `RawMap` / `RawSeq` / `RawScalar` nodes, each with its `SourcePos`, without
interpreting any field. The validators then read this tree once, whatever the file format, so the same content
yields the same canonical model and the same issues (only the positions differ).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from dbrx_api.workflow.models.issues import SourcePos

ScalarKind = Literal["str", "int", "float", "bool", "null", "date", "invalid"]

_LIST_SEPARATORS = re.compile(r"[,\r\n]")


@dataclass(slots=True)
class RawScalar:
    """A leaf value.

    `text` is the value as written: the YAML source text of the scalar, or the text form of an Excel cell
    (integral numbers without `.0`, dates as ISO text). `kind` is how the format typed it. `verbatim` is False
    when `text` was derived from a typed Excel cell (number, boolean, date) rather than typed by the user.
    A scalar of kind `invalid` (an Excel formula or error value, unparsable JSON) carries the issue to report
    in `problem` as `(code, message)`.
    """

    text: str
    kind: ScalarKind
    pos: SourcePos
    verbatim: bool = True
    problem: tuple[str, str] | None = None

    @property
    def is_null(self) -> bool:
        """Null, or a string that is blank after trimming."""
        return self.kind == "null" or (self.kind == "str" and not self.text.strip())


@dataclass(slots=True)
class RawSeq:
    """A sequence (YAML) or a list assembled from workbook rows or list cells."""

    items: list[RawNode]
    pos: SourcePos


@dataclass(slots=True)
class RawEntry:
    """One key of a mapping with the position of the key itself."""

    key: str
    key_pos: SourcePos
    value: RawNode


@dataclass(slots=True)
class RawMap:
    """A mapping in file order; keys are unique (duplicates are rejected by the parsers)."""

    entries: dict[str, RawEntry] = field(default_factory=dict)
    pos: SourcePos = field(default_factory=SourcePos)


RawNode = RawScalar | RawSeq | RawMap


def split_list_text(text: str) -> list[str]:
    """Items of a list written as one string: separated by commas or line breaks, trimmed, empties dropped."""
    return [item.strip() for item in _LIST_SEPARATORS.split(text) if item.strip()]
