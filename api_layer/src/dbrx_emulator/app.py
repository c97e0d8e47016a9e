"""`create_app(config)`: the emulator as an ASGI application (see DEVELOPING.md for the architecture).

`EmulatorApp` is a FastAPI application whose ASGI entry point sends every request outside `/_emulator` through
the emulator's own request pipeline (`pipeline.ApiPipeline`), which may return `CONNECTION_DROPPED` to make
uvicorn close the connection without a response. The control plane is ordinary FastAPI routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from dbrx_emulator.api import ApiRouter, RouteTable
from dbrx_emulator.config import EmulatorConfig
from dbrx_emulator.pipeline import ApiPipeline, install_log_filter
from dbrx_emulator.routes import (
    activation,
    control,
    jobs,
    meta,
    open_sharing,
    pipelines,
    scim,
    sharing,
    uc,
    workspace,
)
from dbrx_emulator.runtime import Runtime
from dbrx_emulator.state.jobs import JobsState
from dbrx_emulator.state.pipelines import PipelinesState
from dbrx_emulator.state.shares import SharingState
from dbrx_emulator.state.uc import UcState
from dbrx_emulator.state.workspace import WorkspaceObjects
from dbrx_emulator.store import StateArea

# State areas, built and seeded in this order on every reset (later areas may read earlier ones).
STATE_AREAS: tuple[type[StateArea], ...] = (
    UcState,
    WorkspaceObjects,
    SharingState,
    PipelinesState,
    JobsState,
)

# Route modules of emulated operations.
API_ROUTERS: tuple[ApiRouter, ...] = (
    meta.router,
    scim.router,
    uc.router,
    workspace.router,
    sharing.router,
    activation.router,
    activation.page_router,
    open_sharing.router,
    pipelines.router,
    jobs.router,
)

CONTROL_PREFIX = "/_emulator"


class EmulatorApp(FastAPI):
    """FastAPI app whose non-control requests go through the emulator pipeline."""

    def __init__(self, runtime: Runtime, routes: RouteTable) -> None:
        super().__init__(
            title="dbrx-emulator control plane",
            version=runtime.version,
            docs_url=f"{CONTROL_PREFIX}/docs",
            redoc_url=None,
            openapi_url=f"{CONTROL_PREFIX}/openapi.json",
        )
        self.state.runtime = runtime
        self.runtime = runtime
        self.routes_table = routes
        self.api_pipeline = ApiPipeline(runtime, routes)

    # Returning a value is the whole point: uvicorn closes the connection when the ASGI callable returns
    # something other than None without having started a response (fault kinds that drop connections).
    async def __call__(self, scope: Any, receive: Any, send: Any) -> object | None:  # type: ignore[override]
        """ASGI entry point."""
        if scope["type"] == "http":
            path = str(scope["path"])
            if path != CONTROL_PREFIX and not path.startswith(CONTROL_PREFIX + "/"):
                return await self.api_pipeline(scope, receive, send)
        await super().__call__(scope, receive, send)
        return None


def create_app(
    config: EmulatorConfig | None = None,
    *,
    areas: tuple[type[StateArea], ...] = STATE_AREAS,
    routers: tuple[ApiRouter, ...] = API_ROUTERS,
) -> EmulatorApp:
    """Build an emulator application (raises `SeedError` when the seed is invalid)."""
    install_log_filter()
    runtime = Runtime(config or EmulatorConfig(), areas)
    app = EmulatorApp(runtime, RouteTable(routers))
    app.add_exception_handler(control.ControlError, control.control_error_response)
    app.include_router(control.router)
    for extra in (pipelines.control_router, jobs.control_router):
        app.include_router(
            extra, prefix=CONTROL_PREFIX, dependencies=[Depends(control.check_control_token)]
        )
    return app
