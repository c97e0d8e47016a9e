"""Workspace objects (docs/EMULATOR.md §7.3)."""

from __future__ import annotations

import base64

from dbrx_emulator.api import ApiCall, ApiRouter, Json
from dbrx_emulator.errors import invalid, resource_does_not_exist
from dbrx_emulator.state.workspace import WorkspaceObject, WorkspaceObjects

router = ApiRouter()


def _lookup(call: ApiCall) -> tuple[str, WorkspaceObject]:
    path = call.query.get_str("path")
    if not path:
        raise invalid("Missing required parameter: path")
    found = call.rt.store.area(WorkspaceObjects).get(path)
    if found is None:
        raise resource_does_not_exist(f"Path ({path}) doesn't exist.")
    return path, found


@router.get("/api/2.0/workspace/get-status", "workspace.get_status")
def get_status(call: ApiCall) -> Json:
    """ObjectInfo of a file, notebook or folder."""
    path, found = _lookup(call)
    return found.to_json(path)


@router.get("/api/2.0/workspace/export", "workspace.export")
def export(call: ApiCall) -> Json:
    """Base64 content in SOURCE format (the only format emulated)."""
    path, found = _lookup(call)
    export_format = call.query.get_str("format") or "SOURCE"
    if export_format != "SOURCE":
        raise invalid(
            f"Export format {export_format} is not supported by the emulator; use SOURCE."
        )
    if found.object_type == "DIRECTORY":
        raise invalid(f"Path ({path}) is a directory; only files and notebooks can be exported.")
    body: Json = {"content": base64.b64encode(found.content).decode()}
    file_type = found.file_type()
    if file_type:
        body["file_type"] = file_type
    return body
