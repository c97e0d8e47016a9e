"""Safe YAML front end (docs/SHAREPACK.md §15): bytes -> located document tree.

The document is never *constructed* by PyYAML. The tree is built directly from the parser's event stream
(libyaml's C parser when available), which lets one pass reject what the safe loader would not: anchors and
aliases (before anything is expanded, so alias bombs cost nothing), explicit tags, duplicate keys, more than
one document, and documents beyond the depth, node-count and scalar-length limits. Every node keeps its
line and column. Scalars keep their source text; their YAML type comes from the standard implicit resolver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.resolver import Resolver

from dbrx_api.settings import UploadSettings
from dbrx_api.workflow.models.errors import SharePackInvalid
from dbrx_api.workflow.models.issues import Issue, SourcePos
from dbrx_api.workflow.models.raw import RawEntry, RawMap, RawNode, RawScalar, RawSeq, ScalarKind

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_UTF8_BOM = b"\xef\xbb\xbf"
_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
_KIND_BY_TAG: dict[str, ScalarKind] = {
    "tag:yaml.org,2002:str": "str",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "date",
}
_RESOLVER = Resolver()


class _Stop(Exception):
    """Ends the scan after a stage-1 problem that makes going on pointless or unsafe."""


@dataclass(slots=True)
class _Frame:
    node: RawMap | RawSeq
    path: str
    pending_key: tuple[str, SourcePos] | None = None
    key_lines: dict[str, int] = field(default_factory=dict)


def _child_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _pos(mark: Any) -> SourcePos:
    return SourcePos(line=mark.line + 1, column=mark.column + 1)


def _spell_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG_PREFIX) :] if tag.startswith(_YAML_TAG_PREFIX) else tag


def decode_yaml_bytes(data: bytes) -> str:
    """Decode UTF-8 (a BOM is allowed) or raise `encoding_invalid` naming the line and byte."""
    body = data.removeprefix(_UTF8_BOM)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        byte = body[exc.start]
        issue = Issue.at(
            "encoding_invalid",
            "error",
            "",
            f"invalid UTF-8 byte 0x{byte:02X}; save the file as UTF-8.",
            SourcePos(line=line),
        )
        raise SharePackInvalid([issue]) from None


class _TreeBuilder:
    """Consumes parser events, enforcing the limits and safety rules, and builds the raw tree."""

    def __init__(self, limits: UploadSettings) -> None:
        self.limits = limits
        self.issues: list[Issue] = []
        self.stack: list[_Frame] = []
        self.root: RawNode | None = None
        self.documents = 0
        self.nodes = 0

    def fail(
        self, code: str, loc: str, msg: str, pos: SourcePos, input_value: str | None = None
    ) -> None:
        self.issues.append(Issue.at(code, "error", loc, msg, pos, input_value=input_value))

    def build(self, text: str) -> RawNode | None:
        try:
            for event in yaml.parse(text, Loader=_Loader):
                self._on_event(event)
        except _Stop:
            pass
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            pos = _pos(mark) if mark is not None else SourcePos()
            problem = exc.problem or exc.context or "the document is not valid YAML"
            self.fail("yaml_syntax", "", f"{problem}.", pos)
        except yaml.reader.ReaderError as exc:
            line = text[: exc.position].count("\n") + 1
            self.fail(
                "yaml_syntax",
                "",
                f"unacceptable character #x{exc.character:04x} ({exc.reason}).",
                SourcePos(line=line),
            )
        except yaml.YAMLError as exc:
            self.fail(
                "yaml_syntax",
                "",
                f"the document is not valid YAML ({type(exc).__name__}).",
                SourcePos(),
            )
        return self.root

    # ------------------------------------------------------------------ events

    def _on_event(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.fail(
                    "yaml_multiple_documents",
                    "",
                    "only one YAML document is allowed.",
                    _pos(event.start_mark),
                )
                raise _Stop
        elif isinstance(event, yaml.AliasEvent):
            self._forbid_anchor(event, self._slot_path())
        elif isinstance(event, yaml.ScalarEvent):
            self._on_scalar(event)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._on_collection_start(event)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            frame = self.stack.pop()
            self._attach(frame.node)

    def _slot_path(self) -> str:
        if not self.stack:
            return ""
        frame = self.stack[-1]
        if isinstance(frame.node, RawSeq):
            return f"{frame.path}[{len(frame.node.items)}]"
        if frame.pending_key is None:
            return frame.path
        return _child_path(frame.path, frame.pending_key[0])

    def _expecting_key(self) -> bool:
        return (
            bool(self.stack)
            and isinstance(self.stack[-1].node, RawMap)
            and self.stack[-1].pending_key is None
        )

    def _forbid_anchor(self, event: yaml.NodeEvent, path: str) -> None:
        self.fail(
            "yaml_alias_forbidden",
            path,
            "YAML anchors and aliases are not allowed; write the values out.",
            _pos(event.start_mark),
        )
        raise _Stop

    def _check_node(self, event: yaml.NodeEvent, path: str) -> None:
        if event.anchor is not None:
            self._forbid_anchor(event, path)
        tag = getattr(event, "tag", None)
        if tag is not None:
            self.fail(
                "yaml_tag_forbidden",
                path,
                f'YAML tags are not allowed ("{_spell_tag(tag)}").',
                _pos(event.start_mark),
                input_value=_spell_tag(tag),
            )
        self.nodes += 1
        if self.nodes > self.limits.yaml_max_nodes:
            self.fail(
                "yaml_limits_exceeded",
                "",
                f"more than {self.limits.yaml_max_nodes:,} YAML nodes.".replace(",", " "),
                _pos(event.start_mark),
            )
            raise _Stop

    def _on_scalar(self, event: yaml.ScalarEvent) -> None:
        path = self._slot_path()
        self._check_node(event, path)
        pos = _pos(event.start_mark)
        value: str = event.value
        if len(value) > self.limits.yaml_max_scalar_chars:
            self.fail(
                "yaml_limits_exceeded",
                path,
                f"a value of {len(value):,} characters exceeds the {self.limits.yaml_max_scalar_chars:,}-character "
                "limit.".replace(",", " "),
                pos,
            )
            raise _Stop
        if self._expecting_key():
            self._on_key(value, pos)
            return
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, event.implicit)  # type: ignore[no-untyped-call]
        self._attach(RawScalar(text=value, kind=_KIND_BY_TAG.get(tag, "str"), pos=pos))

    def _on_key(self, key: str, pos: SourcePos) -> None:
        frame = self.stack[-1]
        first_line = frame.key_lines.get(key)
        if first_line is not None:
            self.fail(
                "yaml_duplicate_key",
                _child_path(frame.path, key),
                f'duplicate key "{key}" (first at line {first_line}).',
                pos,
                input_value=key,
            )
        else:
            frame.key_lines[key] = pos.line or 0
        frame.pending_key = (key, pos)

    def _on_collection_start(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> None:
        pos = _pos(event.start_mark)
        if self._expecting_key():
            self.fail(
                "yaml_syntax",
                self.stack[-1].path,
                "mapping keys must be plain words, not mappings or lists.",
                pos,
            )
            raise _Stop
        path = self._slot_path()
        self._check_node(event, path)
        if len(self.stack) + 1 > self.limits.yaml_max_depth:
            self.fail(
                "yaml_limits_exceeded",
                path,
                f"nesting deeper than {self.limits.yaml_max_depth} levels.",
                pos,
            )
            raise _Stop
        node: RawMap | RawSeq = (
            RawMap(pos=pos)
            if isinstance(event, yaml.MappingStartEvent)
            else RawSeq(items=[], pos=pos)
        )
        self.stack.append(_Frame(node=node, path=path))

    def _attach(self, node: RawNode) -> None:
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        if isinstance(frame.node, RawSeq):
            frame.node.items.append(node)
            return
        assert frame.pending_key is not None  # noqa: S101 - values always follow a key event
        key, key_pos = frame.pending_key
        frame.pending_key = None
        if key not in frame.node.entries:
            frame.node.entries[key] = RawEntry(key=key, key_pos=key_pos, value=node)


def parse_yaml(data: bytes, limits: UploadSettings) -> RawMap:
    """Parse share-pack YAML into a located tree.

    Raises:
        SharePackInvalid: `encoding_invalid`, `yaml_syntax`, `yaml_alias_forbidden`, `yaml_tag_forbidden`,
            `yaml_duplicate_key`, `yaml_multiple_documents`, `yaml_limits_exceeded`, `file_empty` or
            `root_not_mapping` (stage 1: nothing else is validated).
    """
    text = decode_yaml_bytes(data)
    builder = _TreeBuilder(limits)
    root = builder.build(text)
    if builder.issues:
        raise SharePackInvalid(builder.issues)
    if root is None or (isinstance(root, RawScalar) and root.is_null):
        raise SharePackInvalid([Issue.at("file_empty", "error", "", "the file is empty.")])
    if not isinstance(root, RawMap):
        raise SharePackInvalid(
            [
                Issue.at(
                    "root_not_mapping",
                    "error",
                    "",
                    "the document must be a mapping with keys metadata, recipient, share.",
                    root.pos,
                )
            ]
        )
    return root
