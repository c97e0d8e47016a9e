"""Names are safe (docs/API.md §1.6): hostile names never reach, or redirect, a Databricks URL path.

Every route with a path parameter is taken from the app's OpenAPI document (so a new route is covered without
editing this file) and driven with names holding URL-reserved characters, dot segments, control characters and
edge whitespace. Each must be refused with a 4xx problem, 422 `name_invalid` naming the offending character, before
any upstream call; valid Unicode look-alikes are accepted and address exactly the object named.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound

from dbrx_api.main import create_app
from dbrx_api.schemas.paths import path_segment
from fixtures.api import api_settings_for
from fixtures.live_server import LiveServer

pytestmark = pytest.mark.integration


# A real server (uvicorn decodes the path once, as in production): Starlette's TestClient unquotes the path that
# httpx already decoded, so `%2523` would arrive as `#` instead of `%23`.
@pytest.fixture(scope="module")
def live_url(emulator_server: Any) -> Iterator[str]:
    app = create_app(api_settings_for(emulator_server.url, emulator_server.token))
    with LiveServer(app) as server:
        yield server.url


@pytest.fixture
def api(live_url: str, emu: Any) -> Iterator[httpx.Client]:
    """A client of the live API aimed at the emulator workspace (reset before each test by `emu`)."""
    with httpx.Client(
        base_url=live_url, headers={"X-Workspace-URL": emu.url}, timeout=60
    ) as client:
        yield client


HOST_METADATA = "meta.host_metadata"
BENIGN = "benign_name"

# name -> the fragment the problem detail must contain (the offending character, as docs/API.md §1.6 names it)
REFUSED: dict[str, str] = {
    "victim#x": "'#'",
    "victim%23x": "'%'",
    "demo_share?x=1": "'?'",
    "a/b": "'/'",
    "..": "'..'",
    ".": "'.'",
    "%2e%2e": "'%'",
    "x%00": "'%'",
    "x\x00": "U+0000",
    " lead": "whitespace",
    "trail ": "whitespace",
    "a\tb": "U+0009",
    "x\x7f": "U+007F",
}
# Look-alikes of the reserved characters that are ordinary characters: accepted, and addressed exactly.
LOOK_ALIKES = ["victim\uff03x", "demo_share\uff1fx\uff1d1", "a\u2215b", "caf\u00e9_\u00fc"]


def encode(name: str) -> str:
    """The raw path text of `name`: every reserved byte escaped, dots too (else `..` is a dot segment client-side)."""
    return quote(name, safe="").replace(".", "%2E")


def path_routes(api: httpx.Client) -> list[tuple[str, str, list[str]]]:
    """(method, path template, path parameter names) of every documented operation with a path parameter."""
    document = api.get("/openapi.json").json()
    routes: list[tuple[str, str, list[str]]] = []
    for template, item in document["paths"].items():
        params = re.findall(r"\{(\w+)\}", template)
        if not params:
            continue
        routes.extend(
            (method.upper(), template, params)
            for method in item
            if method in {"get", "post", "put", "patch", "delete"}
        )
    assert len(routes) >= 30, routes  # shares, recipients, catalogs, pipelines, schedules, metrics
    return routes


def fill(template: str, param: str, raw: str) -> str:
    path = template.replace("{" + param + "}", raw)
    return re.sub(r"\{\w+\}", BENIGN, path)


def send(api: httpx.Client, method: str, path: str) -> Any:
    body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
    return api.request(method, path, json=body)


def upstream_calls(emu: Any, since: int) -> list[dict[str, Any]]:
    return [c for c in emu.calls(since_seq=since) if c["operation"] != HOST_METADATA]


def last_seq(emu: Any) -> int:
    calls = emu.calls()
    return int(calls[-1]["seq"]) if calls else 0


def test_every_path_parameter_refuses_hostile_names(api: httpx.Client, emu: Any) -> None:
    api.get(
        "/shares"
    )  # builds the cached WorkspaceClient (its host-metadata probe is not under test)
    since = last_seq(emu)
    failures: list[str] = []
    for method, template, params in path_routes(api):
        for param in params:
            for name, fragment in REFUSED.items():
                path = fill(template, param, encode(name))
                response = send(api, method, path)
                problem = response.json()
                where = f"{method} {path} ({name!r})"
                if response.status_code != 422 or problem.get("code") != "name_invalid":
                    failures.append(f"{where}: {response.status_code} {problem.get('code')}")
                elif fragment not in problem["detail"]:
                    failures.append(f"{where}: detail {problem['detail']!r} lacks {fragment}")
                elif name != "a/b" and f"path parameter '{param}'" not in problem["detail"]:
                    failures.append(f"{where}: detail {problem['detail']!r} does not say where")
                elif not response.headers["content-type"].startswith("application/problem+json"):
                    failures.append(f"{where}: not a problem document")
        calls = upstream_calls(emu, since)
        if calls:
            failures.append(f"{method} {template}: upstream calls {[c['path'] for c in calls]}")
            since = max(c["seq"] for c in calls)
    assert not failures, "\n".join(failures)


def _truncations(name: str, calls: list[dict[str, Any]]) -> list[str]:
    """Path segments of upstream calls that are a cut-short `name` (what `#`/`?` did to an unencoded path)."""
    return [
        call["path"]
        for call in calls
        for segment in call["path"].split("/")
        if segment and segment != name and name.startswith(segment)
    ]


def test_look_alikes_are_accepted_and_address_exactly_that_name(
    api: httpx.Client, emu: Any
) -> None:
    api.get("/shares")
    since = last_seq(emu)
    failures: list[str] = []
    for method, template, params in path_routes(api):
        for param in params:
            for name in LOOK_ALIKES:
                path = fill(template, param, encode(name))
                response = send(api, method, path)
                if response.status_code >= 500:
                    failures.append(f"{method} {path}: {response.status_code}")
                elif response.status_code >= 400 and response.json()["code"] == "name_invalid":
                    failures.append(f"{method} {path}: valid name refused")
                calls = upstream_calls(emu, since)
                if calls:
                    since = max(c["seq"] for c in calls)
                cut = _truncations(name, calls)
                if cut:
                    failures.append(f"{method} {path}: upstream addressed {cut}")
    assert not failures, "\n".join(failures)


def test_post_share_with_reserved_character_is_422_without_upstream_calls(
    api: httpx.Client, emu: Any
) -> None:
    api.get("/shares")
    since = last_seq(emu)
    response = api.post("/shares", json={"name": "q?x"})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "name_invalid"
    assert (
        problem["detail"] == "Invalid name in body field 'name': share name must not contain '?'."
    )
    assert problem["errors"][0]["type"] == "name_invalid"
    assert upstream_calls(emu, since) == []


def test_fragment_in_delete_does_not_delete_the_prefix(
    api: httpx.Client, emu: Any, emu_client: WorkspaceClient
) -> None:
    assert api.post("/shares", json={"name": "victim"}).status_code == 201
    since = last_seq(emu)
    response = api.delete("/shares/victim%23x")
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "Invalid name in path parameter 'name': name must not contain '#'."
    )
    assert upstream_calls(emu, since) == []
    assert emu_client.shares.get("victim").name == "victim"


def test_smuggled_query_string_is_refused(api: httpx.Client, emu: Any) -> None:
    api.get("/shares")
    since = last_seq(emu)
    response = api.get("/shares/demo_share%3Fx%3D1")
    assert (response.status_code, response.json()["code"]) == (422, "name_invalid")
    assert upstream_calls(emu, since) == []


def test_encoded_slash_cannot_reach_another_route(api: httpx.Client, emu: Any) -> None:
    # Decoded, this is `DELETE /pipelines/x/schedules`: every schedule of pipeline `x`.
    api.get("/shares")
    since = last_seq(emu)
    response = api.delete("/pipelines/x%2Fschedules")
    assert (response.status_code, response.json()["code"]) == (422, "name_invalid")
    assert "'/'" in response.json()["detail"]
    assert upstream_calls(emu, since) == []


def test_unicode_name_round_trips_plain(api: httpx.Client, emu: Any) -> None:
    name = "caf\u00e9_\u00fc\uff03"
    created = api.post("/shares", json={"name": name})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == name
    since = last_seq(emu)
    detail = api.get("/shares/" + quote(name, safe=""))
    assert detail.status_code == 200, detail.text
    assert detail.json()["name"] == name
    paths = {c["path"] for c in upstream_calls(emu, since)}
    assert (
        f"/api/2.1/unity-catalog/shares/{name}" in paths
    )  # the emulator decoded the escaped segment
    deleted = api.delete("/shares/" + quote(name, safe=""))
    assert deleted.json() == {"name": name, "deleted": True}


def test_emulator_decodes_escaped_segments(emu: Any, emu_client: WorkspaceClient) -> None:
    name = "caf\u00e9"
    emu_client.shares.create(name)
    assert emu_client.shares.get(path_segment(name)).name == name
    # An encoded space reaches the emulator's handler as a space (the emulator refuses such share names on create,
    # so the not-found message is what shows the decoding).
    with pytest.raises(NotFound, match="with space"):
        emu_client.shares.get(path_segment("with space"))
    paths = [c["path"] for c in emu.calls("shares.get")]
    assert paths[-2:] == [
        f"/api/2.1/unity-catalog/shares/{name}",
        "/api/2.1/unity-catalog/shares/with space",
    ]
