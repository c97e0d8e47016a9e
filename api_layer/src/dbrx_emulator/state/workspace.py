"""Workspace objects (files, notebooks and their implied folders)."""

from __future__ import annotations

from dataclasses import dataclass

from dbrx_emulator.api import Json
from dbrx_emulator.seed import Seed
from dbrx_emulator.store import StateArea

WORKSPACE_PREFIX = "/Workspace"
_FIRST_OBJECT_ID = 1_000_000_000_000_001
_NOTEBOOK_FILE_TYPES = {"PYTHON": "py", "SQL": "sql", "SCALA": "scala", "R": "r"}


def canonical_path(path: str) -> str:
    """The path without the optional `/Workspace` prefix and trailing slashes (both spellings name one object)."""
    trimmed = path.rstrip("/") or "/"
    if trimmed == WORKSPACE_PREFIX:
        return "/"
    if trimmed.startswith(WORKSPACE_PREFIX + "/"):
        return trimmed[len(WORKSPACE_PREFIX) :]
    return trimmed


@dataclass
class WorkspaceObject:
    """A FILE, NOTEBOOK or DIRECTORY."""

    path: str  # canonical path
    object_type: str
    object_id: int
    created_at: int
    modified_at: int
    language: str | None = None
    content: bytes = b""

    def file_type(self) -> str | None:
        """`file_type` of an export in SOURCE format."""
        if self.object_type == "NOTEBOOK":
            return _NOTEBOOK_FILE_TYPES.get(self.language or "PYTHON")
        name = self.path.rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[-1] if "." in name else None

    def to_json(self, requested_path: str) -> Json:
        """ObjectInfo; `path` echoes the spelling the caller used."""
        body: Json = {
            "path": requested_path.rstrip("/") or "/",
            "object_type": self.object_type,
            "object_id": self.object_id,
            "created_at": self.created_at,
            "modified_at": self.modified_at,
        }
        if self.language is not None:
            body["language"] = self.language
        if self.object_type != "DIRECTORY":
            body["size"] = len(self.content)
        return body


class WorkspaceObjects(StateArea):
    """Workspace objects keyed by canonical path."""

    name = "workspace_objects"

    def load_seed(self, seed: Seed) -> None:
        """Objects of the seed plus their parent folders."""
        self.objects: dict[str, WorkspaceObject] = {}
        self._next_id = _FIRST_OBJECT_ID
        for spec in seed.workspace_objects:
            self.put(spec.path, spec.type, spec.content.encode(), spec.language)

    def put(
        self, path: str, object_type: str, content: bytes = b"", language: str | None = None
    ) -> None:
        """Create or replace an object and its missing parent folders."""
        at = self.rt.seed_origin_ms
        canonical = canonical_path(path)
        parts = canonical.strip("/").split("/")
        for depth in range(1, len(parts)):
            folder = "/" + "/".join(parts[:depth])
            if folder not in self.objects:
                self.objects[folder] = WorkspaceObject(folder, "DIRECTORY", self._take_id(), at, at)
        existing = self.objects.get(canonical)
        object_id = existing.object_id if existing else self._take_id()
        self.objects[canonical] = WorkspaceObject(
            canonical, object_type, object_id, at, at, language, content
        )

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def get(self, path: str) -> WorkspaceObject | None:
        """The object at `path` (with or without the `/Workspace` prefix), or None."""
        canonical = canonical_path(path)
        if canonical == "/":
            return WorkspaceObject(
                "/", "DIRECTORY", 0, self.rt.seed_origin_ms, self.rt.seed_origin_ms
            )
        return self.objects.get(canonical)

    def dump(self) -> Json:
        """Every object with its content as text."""
        return {
            "objects": [
                {**obj.to_json(obj.path), "content": obj.content.decode("utf-8", "replace")}
                for _, obj in sorted(self.objects.items())
            ]
        }
