"""Jobs operations and their control-plane helpers (reserved: filled in by the jobs work).

Add API operations to `router` (an `ApiRouter`; see DEVELOPING.md) and `/_emulator/jobs/...` helpers to
`control_router` (a FastAPI router mounted under `/_emulator`). Both are already wired into `create_app`.
"""

from __future__ import annotations

from fastapi import APIRouter

from dbrx_emulator.api import ApiRouter

router = ApiRouter()
control_router = APIRouter()
