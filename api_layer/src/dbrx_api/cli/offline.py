"""`deltashare validate --offline`: the service's own offline validation, run in-process with no server.

The pack goes through the same `load_sharepack` the upload uses (stages 1-4 of docs/SHAREPACK.md: safe parsing and
every offline rule; no live check, no database, no network), and the outcome is shaped as the answer of
`POST /workflow/sharepack/plan?offline=true` would be, so one printer serves both paths. This module is the only
part of the CLI allowed to import the workflow package (import-linter: the share-pack loader does no I/O).
"""

from __future__ import annotations

from typing import Any

from dbrx_api.cli.client import ApiResponse, PackFile
from dbrx_api.settings import UploadSettings
from dbrx_api.workflow.models.errors import SharePackRejected
from dbrx_api.workflow.sharepack import load_sharepack


def validate_offline(pack: PackFile) -> ApiResponse:
    """Validate `pack` locally; a 200 offline-plan body when it is valid, the 4xx problem otherwise."""
    try:
        # Local URLs (the emulator) are allowed: which workspaces a service accepts is checked by that service.
        loaded = load_sharepack(pack.name, pack.content, UploadSettings(), allow_local_urls=True)
    except SharePackRejected as rejected:
        body: dict[str, Any] = {
            "type": f"urn:deltashare:problem:{rejected.code}",
            "title": rejected.title,
            "status": rejected.status_code,
            "detail": rejected.detail,
            "code": rejected.code,
            **rejected.extra,
        }
        return ApiResponse(status=rejected.status_code, headers={}, body=body, text="")
    metadata = loaded.model.metadata
    body = {
        "valid": True,
        "pack": {
            "pack_key": loaded.pack_key,
            "strategy": metadata.strategy,
            "workspace_url": metadata.workspace_url,
        },
        "errors": [],
        "warnings": loaded.warning_members,
    }
    return ApiResponse(status=200, headers={}, body=body, text="")
