"""Health (docs/API.md §3): liveness and readiness, public and without Databricks calls."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from dbrx_api.dependencies import SettingsDep
from dbrx_api.errors import ServiceUnavailable
from dbrx_api.monitoring.readiness import Readiness, ReadinessProbe
from dbrx_api.routes.common import operation, problem_responses
from dbrx_api.schemas.common import ResponseModel, Timestamp
from dbrx_api.version import __version__

router = APIRouter(prefix="/health", tags=["Health"])


class Liveness(ResponseModel):
    status: str
    service: str
    version: str
    environment: str
    time: Timestamp


@router.get("", **operation("health_live", None, workspace=False))
def health_live(settings: SettingsDep) -> Liveness:
    """Liveness: the process answers. No I/O."""
    return Liveness(
        status="ok",
        service="deltashare",
        version=__version__,
        environment=settings.environment,
        time=datetime.now(UTC),
    )


_ready_kwargs = operation("health_ready", None, workspace=False)
_ready_kwargs["responses"] |= problem_responses([503])


@router.get("/ready", **_ready_kwargs)
def health_ready(request: Request) -> Readiness:
    """Readiness: configuration, allowlist and (with the workflow) database, migrations and queue."""
    probe: ReadinessProbe = request.app.state.readiness
    result = probe.run()
    if result.status != "ready":
        raise ServiceUnavailable(
            "The service is not ready.",
            code="not_ready",
            checks={k: v.model_dump() for k, v in result.checks.items()},
        )
    return result
