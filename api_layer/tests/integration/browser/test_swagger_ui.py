"""The Swagger UI at `/`, in headless Chromium: it renders every operation and runs calls from the page.

The API runs in uvicorn on 127.0.0.1 (`fixtures.live_server.LiveServer`, in-process, bounded start and stop) in
local mode against the session emulator. Playwright drives Debian's Chromium (`/usr/bin/chromium`, installed by
`.ci/run`); nothing is downloaded. Every request the page makes is recorded, and any request to another origin is
aborted (this machine has no outside network) and fails the test: the page's assets come from the app itself
(`/docs-assets/...`, from the fastapi-offline package). The pages are served with a strict Content-Security-Policy
(docs/API.md §1.1.1); every console message is recorded and a CSP violation (Chromium logs each one) fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from databricks.sdk import WorkspaceClient
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Route,
    expect,
    sync_playwright,
)

from dbrx_api.main import create_app
from fixtures.api import api_settings_for
from fixtures.live_server import LiveServer
from fixtures.tokens import TokenFactory

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is absent (Debian package `chromium`; .ci/run installs it)",
    ),
]

# As root on a closed network: no sandbox, no GPU, and none of Chromium's own background connections.
CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# A name that is neither `localhost` nor `127.0.0.1`, resolved by Chromium to loopback: the page as a deployed
# service shows it. Swagger UI treats those two names specially (its online-validator badge, which loads an image
# from a public validator, is suppressed on them), so the page is also checked under another name.
PUBLIC_HOST = "deltashare.test"
# On the 2-core CI machine, with the rest of the suite running beside it, ReDoc takes several seconds to lay out
# the whole OpenAPI document: every wait, `expect` included (its own default is 5 s), allows for that.
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)
WORKSPACE_HEADER = "X-Workspace-URL"


def origin_of(url: str) -> str:
    """`scheme://host:port` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class BrowserSession:
    """A Chromium page with a log of every request it made and of those aborted for leaving `origin`."""

    page: Page
    origin: str = ""
    requests: list[Request] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    @property
    def csp_violations(self) -> list[str]:
        """Console messages in which Chromium reports something the Content-Security-Policy refused."""
        return [text for text in self.console if "Content Security Policy" in text]

    def open(self, base_url: str) -> Page:
        """Allow requests to `base_url`'s origin only, then load the Swagger UI at `base_url/`."""
        self.origin = origin_of(base_url)
        self.page.goto(f"{base_url}/")
        return self.page

    def sent(self, method: str, path: str) -> list[Request]:
        """Requests the page sent to `path` (query ignored) with `method`."""
        return [
            request
            for request in self.requests
            if request.method == method and urlsplit(request.url).path == path
        ]

    def record(self, request: Request) -> None:
        """Log a request the page sent."""
        self.requests.append(request)

    def log(self, message: ConsoleMessage) -> None:
        """Log a console message of the page."""
        self.console.append(f"{message.type}: {message.text}")

    def route(self, route: Route) -> None:
        """Let a request to `origin` through; abort and record any other."""
        if origin_of(route.request.url) == self.origin:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserSession]:
    """Headless Chromium with a fresh profile in `tmp_path`; closed (and its process ended) after the test."""
    with sync_playwright() as playwright:
        context: BrowserContext = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=CHROMIUM,
            headless=True,
            chromium_sandbox=False,
            args=[*CHROMIUM_FLAGS, f"--host-resolver-rules=MAP {PUBLIC_HOST} 127.0.0.1"],
            timeout=WAIT_MS,
        )
        try:
            context.set_default_timeout(WAIT_MS)
            context.set_default_navigation_timeout(WAIT_MS)
            page = context.pages[0] if context.pages else context.new_page()
            session = BrowserSession(page)
            context.on("request", session.record)
            context.on("console", session.log)
            context.route("**/*", session.route)
            yield session
        finally:
            context.close()


def live_api(emu: Any, **overrides: Any) -> LiveServer:
    """The API in local mode against the emulator, served on a free 127.0.0.1 port (not started yet)."""
    return LiveServer(create_app(api_settings_for(emu.url, emu.token, **overrides)))


def operation_ids_in(openapi: dict[str, Any]) -> set[str]:
    """Swagger UI's DOM ids (`operations-<tag>-<operationId>`) of every operation of an OpenAPI document."""
    ids: set[str] = set()
    for path_item in openapi["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                for tag in operation.get("tags", ["default"]):
                    ids.add(f"operations-{tag}-{operation['operationId']}")
    return ids


def try_out(page: Page, tag: str, operation_id: str) -> Locator:
    """Expand an operation and press "Try it out"; returns the operation's block."""
    block = page.locator(f"#operations-{tag}-{operation_id}")
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    return block


def execute(block: Locator, expected_status: int) -> Any:
    """Press "Execute", wait for the rendered response with `expected_status`, return its parsed body."""
    block.locator("button.execute").click()
    expect(block.locator(".live-responses-table tr.response .response-col_status")).to_have_text(
        str(expected_status), timeout=WAIT_MS
    )
    body = block.locator(".live-responses-table .highlight-code code").first.inner_text()
    return json.loads(body)


def server_openapi(browser: BrowserSession) -> dict[str, Any]:
    """The OpenAPI document the page loaded (read from the browser's own response)."""
    [request] = browser.sent("GET", "/openapi.json")
    response = request.response()
    assert response is not None
    document: dict[str, Any] = response.json()
    return document


def test_swagger_ui_renders_every_operation_and_lists_shares_from_the_page(
    browser: BrowserSession, emu: Any, emu_client: WorkspaceClient
) -> None:
    share_names = ["browser_alpha", "browser_beta"]
    for name in share_names:
        emu_client.shares.create(name=name)

    with live_api(emu) as server:
        page = browser.open(server.url)

        # Every operation of the app's own OpenAPI document renders, under its tag, from the app's own assets.
        expect(page.locator("#operations-Shares-shares_list")).to_be_visible()
        assert browser.blocked == []
        assert browser.sent("GET", "/docs-assets/swagger-ui-bundle.js")
        assert browser.sent("GET", "/docs-assets/swagger-ui.css")
        tags = page.locator(".opblock-tag").all_inner_texts()
        assert {"Shares", "Recipients", "Catalogs"} <= {tag.strip() for tag in tags}
        rendered = set(page.locator(".opblock").evaluate_all("blocks => blocks.map(b => b.id)"))
        openapi = server_openapi(browser)
        assert rendered == operation_ids_in(openapi)

        shares_list = try_out(page, "Shares", "shares_list")

        # The workspace header is pre-filled with the allow-listed workspace (the OpenAPI example) ...
        header = shares_list.locator(f'tr[data-param-name="{WORKSPACE_HEADER}"] input')
        expect(header).to_have_value(emu.url)
        # ... and required: Swagger UI refuses to send the call without it.
        header.fill("")
        shares_list.locator("button.execute").click()
        expect(shares_list.locator(".validation-errors")).to_contain_text(
            f"For '{WORKSPACE_HEADER}': Required field is not provided."
        )
        assert browser.sent("GET", "/shares") == []

        header.fill(emu.url)
        body = execute(shares_list, 200)

    assert sorted(item["name"] for item in body["items"]) == share_names
    assert body["total"] == len(share_names)
    [request] = browser.sent("GET", "/shares")
    assert request.headers[WORKSPACE_HEADER.lower()] == emu.url
    assert browser.blocked == []
    assert browser.csp_violations == []
    assert {origin_of(request.url) for request in browser.requests} == {browser.origin}


def test_authorize_dialog_sends_the_bearer_token(
    browser: BrowserSession, emu: Any, emu_client: WorkspaceClient, token_factory: TokenFactory
) -> None:
    emu_client.shares.create(name="browser_authorized")
    token = token_factory.mint()

    with live_api(emu, auth=token_factory.auth_settings().model_dump()) as server:
        page = browser.open(server.url)
        shares_list = try_out(page, "Shares", "shares_list")
        shares_list.locator(f'tr[data-param-name="{WORKSPACE_HEADER}"] input').fill(emu.url)
        problem = execute(shares_list, 401)
        assert problem["status"] == 401
        assert problem["code"] == "auth_missing"

        page.locator(".scheme-container button.authorize").click()
        dialog = page.locator(".modal-ux")
        dialog.locator("#auth-bearer-value").fill(token)
        dialog.locator(".auth-btn-wrapper button.authorize").click()
        dialog.locator(".auth-btn-wrapper button.btn-done").click()
        expect(dialog).to_be_hidden()

        body = execute(shares_list, 200)
        assert [item["name"] for item in body["items"]] == ["browser_authorized"]

        # persistAuthorization: the token survives loading the page again (without the deep link to the
        # expanded operation, so that the operation starts collapsed as on the first visit).
        page = browser.open(server.url)
        shares_list = try_out(page, "Shares", "shares_list")
        shares_list.locator(f'tr[data-param-name="{WORKSPACE_HEADER}"] input').fill(emu.url)
        execute(shares_list, 200)

    unauthorized, authorized, after_reload = browser.sent("GET", "/shares")
    assert "authorization" not in unauthorized.headers
    assert authorized.headers["authorization"] == f"Bearer {token}"
    assert after_reload.headers["authorization"] == f"Bearer {token}"
    assert browser.blocked == []
    assert browser.csp_violations == []


def test_page_served_under_a_public_host_name_stays_on_its_origin(
    browser: BrowserSession, emu: Any
) -> None:
    with live_api(emu) as server:
        page = browser.open(f"http://{PUBLIC_HOST}:{server.port}")
        expect(page.locator("#operations-Shares-shares_list")).to_be_visible()
        page.wait_for_load_state("networkidle")

    assert browser.sent("GET", "/openapi.json")
    assert browser.blocked == []
    assert browser.csp_violations == []
    assert {origin_of(request.url) for request in browser.requests} == {browser.origin}


def test_redoc_renders_under_its_content_security_policy(browser: BrowserSession, emu: Any) -> None:
    with live_api(emu) as server:
        browser.origin = origin_of(server.url)
        response = browser.page.goto(f"{server.url}/redoc")
        assert response is not None
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        # ReDoc renders the app's OpenAPI document (its styles come from styled-components, under the nonce).
        expect(browser.page.get_by_role("menuitem", name="Shares", exact=True)).to_be_visible()
        tags = browser.page.get_by_role("menuitem").all_inner_texts()
        assert {"Shares", "Recipients", "Catalogs"} <= {tag.strip() for tag in tags}
        browser.page.wait_for_load_state("networkidle")

    assert browser.sent("GET", "/docs-assets/redoc.standalone.js")
    assert browser.sent("GET", "/openapi.json")
    # ReDoc's side menu always loads its vendor's logo from a CDN: the policy refuses it before it reaches the
    # network (the abort-and-record route above never sees it), and nothing else leaves the origin.
    [logo] = browser.csp_violations
    assert "https://cdn.redoc.ly/redoc/logo-mini.svg" in logo
    assert "img-src" in logo
    assert browser.blocked == []
    elsewhere = [
        request for request in browser.requests if origin_of(request.url) != browser.origin
    ]
    assert [request.url for request in elsewhere] == ["https://cdn.redoc.ly/redoc/logo-mini.svg"]
    assert elsewhere[0].failure == "csp"  # Chromium: net::ERR_BLOCKED_BY_CSP
