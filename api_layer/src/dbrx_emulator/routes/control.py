"""Control plane `/_emulator/*` (docs/EMULATOR.md §10.1): never recorded, faulted or delayed.

Bodies are JSON; errors answer `{"error": "<text>", "problems": [...]}` with 400 (invalid input), 404 or 409.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dbrx_emulator.clock import ClockError, parse_rfc3339, rfc3339
from dbrx_emulator.config import merge_model
from dbrx_emulator.errors import ApiError
from dbrx_emulator.faults import FaultRuleSpec
from dbrx_emulator.latency import LatencySettings
from dbrx_emulator.runtime import DEFAULT_SETTLE_MS, Runtime
from dbrx_emulator.seed import SeedError
from dbrx_emulator.state.shares import SharingState


def runtime_of(request: Request) -> Runtime:
    """The runtime of the app serving `request`."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def check_control_token(request: Request) -> None:
    expected = runtime_of(request).config.control_token
    if expected is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), expected):
        raise ControlError(401, "the control plane needs 'Authorization: Bearer <control token>'")


router = APIRouter(
    prefix="/_emulator", tags=["control"], dependencies=[Depends(check_control_token)]
)
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


class ControlError(Exception):
    """An error answer of the control plane."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []


def control_error_response(_: Request, exc: Exception) -> JSONResponse:
    """Render a ControlError."""
    assert isinstance(exc, ControlError)  # noqa: S101 - registered for ControlError only
    return JSONResponse({"error": exc.message, "problems": exc.problems}, status_code=exc.status)


def _problems(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in err['loc']) or '<body>'}: {err['msg']}" for err in exc.errors()
    ]


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise ControlError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data


def _validate[M: BaseModel](model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ControlError(400, f"invalid {model.__name__}", _problems(exc)) from None


def _clock_json(rt: Runtime) -> dict[str, Any]:
    now = rt.now_ms()
    return {"mode": rt.clock.mode, "now": rfc3339(now), "now_ms": now}


def _seed_label(rt: Runtime) -> str:
    return rt.seed_source if isinstance(rt.seed_source, str) else "inline"


# ---------------------------------------------------------------------------------------------- health, stats, calls


@router.get("/health")
def health(rt: RuntimeDep) -> dict[str, Any]:
    """Liveness, version, seed and clock."""
    with rt.lock:
        return {
            "ok": True,
            "version": rt.version,
            "seed": _seed_label(rt),
            "random_seed": rt.random_seed,
            "clock": _clock_json(rt),
        }


@router.get("/stats")
def stats(rt: RuntimeDep, reset: bool = False) -> dict[str, Any]:
    """Call counts; `?reset=true` zeroes them after reading."""
    with rt.lock:
        body = rt.stats.to_json()
        if reset:
            rt.stats.reset(rt.now_ms())
        return body


@router.post("/stats/reset")
def reset_stats(rt: RuntimeDep) -> dict[str, Any]:
    """Zero the counts and clear the call log."""
    with rt.lock:
        rt.stats.reset(rt.now_ms())
        rt.calls.clear()
        return {"ok": True}


@router.get("/calls")
def calls(
    rt: RuntimeDep,
    operation: str | None = None,
    method: str | None = None,
    since_seq: int | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The call log, oldest first; `operation` may be a glob, `since_seq` is exclusive."""
    with rt.lock:
        return {
            "calls": rt.calls.query(operation, method, since_seq, limit),
            "last_seq": rt.calls.seq,
        }


# ---------------------------------------------------------------------------------------------- reset, state


class ResetRequest(BaseModel):
    """Body of `POST /_emulator/reset`."""

    model_config = ConfigDict(extra="forbid")

    seed_file: str | None = None
    seed: dict[str, Any] | None = None
    random_seed: int | None = None
    keep_faults: bool = False
    keep_latency: bool = False
    keep_behaviour: bool = False


@router.post("/reset")
async def reset(request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """Restore the seeded state; also clears stats and the call log and resets the clock."""
    body = _validate(ResetRequest, await _json(request))
    try:
        rt.reset(**body.model_dump())
    except SeedError as exc:
        raise ControlError(400, f"invalid seed ({exc.source})", exc.problems) from None
    with rt.lock:
        return {
            "ok": True,
            "seed": _seed_label(rt),
            "random_seed": rt.random_seed,
            "clock": _clock_json(rt),
        }


@router.get("/state")
def state(rt: RuntimeDep) -> dict[str, Any]:
    """Everything the emulator holds (tokens included: this is a test tool)."""
    with rt.lock:
        return {
            "clock": _clock_json(rt),
            "workspace": rt.workspace.model_dump(),
            "behaviour": rt.behaviour.model_dump(),
            "simulation": rt.simulation.model_dump(),
            **rt.store.dump(),
        }


# ---------------------------------------------------------------------------------------------- faults, latency


class FaultsRequest(BaseModel):
    """Body of `POST /_emulator/faults` (a bare rule object is accepted too)."""

    model_config = ConfigDict(extra="forbid")

    rules: list[FaultRuleSpec] = Field(default_factory=list)
    seed: int | None = None
    mode: Literal["append", "replace"] = "append"


@router.get("/faults")
def list_faults(rt: RuntimeDep) -> dict[str, Any]:
    """Rules with their counters."""
    with rt.lock:
        return rt.faults.to_json()


@router.post("/faults")
async def add_faults(request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """Append (or replace) fault rules."""
    data = await _json(request)
    body = _validate(FaultsRequest, {"rules": [data]} if "kind" in data else data)
    with rt.lock:
        ids = rt.faults.add(body.rules, seed=body.seed, replace=body.mode == "replace")
        return {"ids": ids, **rt.faults.to_json()}


@router.delete("/faults")
def clear_faults(rt: RuntimeDep) -> dict[str, Any]:
    """Remove every rule."""
    with rt.lock:
        rt.faults.clear()
        return rt.faults.to_json()


@router.get("/latency")
def get_latency(rt: RuntimeDep) -> dict[str, Any]:
    """Latency settings."""
    with rt.lock:
        return rt.latency.to_json()


@router.post("/latency")
async def set_latency(request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """Replace the latency settings."""
    settings = _validate(LatencySettings, await _json(request))
    with rt.lock:
        rt.latency.configure(settings)
        return rt.latency.to_json()


@router.delete("/latency")
def clear_latency(rt: RuntimeDep) -> dict[str, Any]:
    """No latency."""
    with rt.lock:
        rt.latency.configure(LatencySettings())
        return rt.latency.to_json()


# ---------------------------------------------------------------------------------------------- behaviour, clock


def _behaviour_json(rt: Runtime) -> dict[str, Any]:
    return {**rt.behaviour.model_dump(), "simulation": rt.simulation.model_dump()}


@router.get("/behaviour")
def get_behaviour(rt: RuntimeDep) -> dict[str, Any]:
    """Behaviour switches (docs/EMULATOR.md §8.2) plus `simulation`."""
    with rt.lock:
        return _behaviour_json(rt)


@router.patch("/behaviour")
async def patch_behaviour(request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """Change some switches; `simulation` values go in a nested `simulation` object."""
    data = await _json(request)
    simulation_patch = data.pop("simulation", None) or {}
    if not isinstance(simulation_patch, dict):
        raise ControlError(400, "simulation must be an object")
    with rt.lock:
        try:
            behaviour = merge_model(rt.behaviour, data)
            simulation = merge_model(rt.simulation, simulation_patch)
        except ValidationError as exc:
            raise ControlError(400, "invalid behaviour", _problems(exc)) from None
        rt.behaviour, rt.simulation = behaviour, simulation
        return _behaviour_json(rt)


class AdvanceRequest(BaseModel):
    """Body of `POST /_emulator/clock/advance`: exactly one of `ms` and `to`."""

    model_config = ConfigDict(extra="forbid")

    ms: int | None = Field(default=None, ge=0)
    to: str | None = None


class SettleRequest(BaseModel):
    """Body of `POST /_emulator/clock/settle`."""

    model_config = ConfigDict(extra="forbid")

    max_ms: int = Field(default=DEFAULT_SETTLE_MS, ge=0)


@router.get("/clock")
def get_clock(rt: RuntimeDep) -> dict[str, Any]:
    """Clock mode and time."""
    with rt.lock:
        return _clock_json(rt)


@router.post("/clock/advance")
async def advance_clock(request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """Move the manual clock (409 for the real clock)."""
    body = _validate(AdvanceRequest, await _json(request))
    if (body.ms is None) == (body.to is None):
        raise ControlError(400, "give exactly one of 'ms' and 'to'")
    with rt.lock:
        try:
            if body.to is not None:
                try:
                    target = parse_rfc3339(body.to)
                except ValueError:
                    raise ControlError(400, f"'to' is not an RFC 3339 time: {body.to}") from None
                rt.move_clock_to(target)
            else:
                rt.advance_clock(body.ms or 0)
        except ClockError as exc:
            raise ControlError(409 if rt.clock.mode == "real" else 400, str(exc)) from None
        return _clock_json(rt)


@router.post("/clock/settle")
async def settle_clock(request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """Advance until no simulated update or run is active (409 for the real clock)."""
    body = _validate(SettleRequest, await _json(request))
    with rt.lock:
        if rt.clock.mode == "real":
            raise ControlError(409, "the real clock cannot be moved")
        rt.settle(body.max_ms)
        return _clock_json(rt)


# ---------------------------------------------------------------------------------------------- simulation helpers


@router.post("/recipients/{name}/activate")
def activate_recipient(name: str, request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """Simulate the recipient downloading its credential (as `activation.retrieve`)."""
    with rt.lock:
        sharing = rt.store.area(SharingState)
        now = rt.now_ms()
        try:
            recipient = sharing.require_recipient(name)
        except ApiError as exc:
            raise ControlError(404, exc.message) from None
        code = sharing.newest_pending_code(recipient, now)
        if code is None:
            raise ControlError(
                409, f"recipient '{recipient.name}' has no token waiting for activation"
            )
        return sharing.retrieve(code, now, str(request.base_url).rstrip("/"))
