"""Security headers and redirects (docs/API.md §1.1.1): nothing takes its host from the request.

A forged `Host` must never reach a `Location` (Starlette's trailing-slash redirect used to build one from it, and
a 307 replays a POST body to wherever it points), and every response carries the headers that stop sniffing,
framing and `Referer` leaks; the documentation pages get a Content-Security-Policy that allows only their own code.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fixtures.workflow_api import example_pack

pytestmark = pytest.mark.integration

EVIL = {"Host": "evil.example.com"}
DOCS_PAGES = ("/", "/docs", "/redoc")


def csp_directives(response: Any) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: [sources]}."""
    directives: dict[str, list[str]] = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_common_security_headers(response: Any) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert csp_directives(response)["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_trailing_slash_is_a_404_problem_not_a_redirect_to_the_request_host(
    api: TestClient, emu: Any, method: str
) -> None:
    emu.reset_stats()
    response = api.request(
        method,
        "/shares/",
        headers={**EVIL, "Content-Type": "application/json"},
        content=b'{"name": "s1"}' if method in {"POST", "PUT"} else None,
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "not_found"
    assert problem["detail"] == "No route matches /shares/ (paths take no trailing '/')."
    assert "evil" not in response.text
    assert emu.stats()["total"] == 0


def test_no_route_redirects_under_a_hostile_host(api: TestClient) -> None:
    for path in (
        *DOCS_PAGES,
        "/openapi.json",
        "/health",
        "/shares",
        "/docs/",
        "/redoc/",
        "/docs-assets",
        "/docs-assets/",
        "/health/",
        "/shares/nope/",
    ):
        response = api.get(path, headers=EVIL, follow_redirects=False)
        assert response.status_code in {200, 404}, path
        assert "location" not in response.headers, path


def test_documentation_is_served_at_the_prefix_with_and_without_slash(make_api: Any) -> None:
    api = make_api(api_prefix="/api")
    for path in ("/api", "/api/"):
        response = api.get(path, headers=EVIL, follow_redirects=False)
        assert response.status_code == 200, path
        assert "/api/openapi.json" in response.text
        assert "evil" not in response.text


def test_created_resource_location_is_a_relative_path_under_a_hostile_host(
    api: TestClient,
) -> None:
    created = api.post("/shares", json={"name": "hdr_share"}, headers=EVIL)
    assert created.status_code == 201
    assert created.headers["location"] == "/shares/hdr_share"


def test_share_pack_upload_location_is_a_relative_path_under_a_hostile_host(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    client = workflow_api()
    response = client.post(
        "/workflow/sharepack/upload_and_validate",
        files={"file": ("sales.yaml", example_pack(emu.url).encode(), "application/x-yaml")},
        headers=EVIL,
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"/workflow/sharepack/{body['share_pack_id']}"
    assert "evil" not in response.text


def test_json_and_problem_responses_are_not_cached_nor_sniffed(api: TestClient) -> None:
    for response in (api.get("/shares"), api.get("/shares/nope"), api.get("/openapi.json")):
        assert response.headers["cache-control"] == "no-store"
        assert_common_security_headers(response)
        # JSON is never a document: it may load nothing at all.
        assert csp_directives(response)["default-src"] == ["'none'"]


def test_static_documentation_assets_are_not_sniffed(api: TestClient) -> None:
    response = api.get("/docs-assets/swagger-ui-bundle.js")
    assert response.status_code == 200
    assert_common_security_headers(response)


def test_swagger_ui_policy_allows_its_own_assets_and_its_one_inline_script(
    api: TestClient,
) -> None:
    for path in ("/", "/docs"):
        response = api.get(path)
        assert response.status_code == 200
        assert_common_security_headers(response)
        csp = csp_directives(response)
        assert csp["default-src"] == ["'none'"]
        assert csp["connect-src"] == ["'self'"]
        assert csp["style-src"] == ["'self'"]
        assert csp["base-uri"] == ["'none'"]
        [inline] = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert csp["script-src"] == ["'self'", f"'sha256-{digest}'"]
        assert 'src="/docs-assets/swagger-ui-bundle.js"' in response.text
        assert 'href="/docs-assets/swagger-ui.css"' in response.text
        assert "unsafe" not in response.headers["content-security-policy"]
        assert "cache-control" not in response.headers  # an HTML page, not an API answer


def test_redoc_policy_uses_a_fresh_nonce_per_response(api: TestClient) -> None:
    nonces = []
    for _ in range(2):
        response = api.get("/redoc")
        assert response.status_code == 200
        assert_common_security_headers(response)
        csp = csp_directives(response)
        assert "unsafe" not in response.headers["content-security-policy"]
        [nonce] = {source for source in csp["script-src"] if source.startswith("'nonce-")}
        assert nonce in csp["style-src"]
        value = nonce.removeprefix("'nonce-").removesuffix("'")
        assert response.text.count(f'nonce="{value}"') == 2  # the page's <style> and <script>
        assert 'src="/docs-assets/redoc.standalone.js"' in response.text
        assert csp["worker-src"] == ["blob:"]
        nonces.append(value)
    assert nonces[0] != nonces[1]
