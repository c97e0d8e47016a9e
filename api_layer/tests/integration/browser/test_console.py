"""The reviewer console at `/console` (docs/API.md §17) in headless Chromium, against the live app.

The app runs in uvicorn on 127.0.0.1 with the workflow on real PostgreSQL (a fresh database), the in-process
worker, the emulator behind the real databricks-sdk, approval policy `destructive`, and Entra-style tokens minted
by the local JWKS (as the API governance tests do). Each person is a browser context sending their bearer token
(the console accepts it exactly as the API does), so two people use the console side by side. Every request
leaving the app's origin is aborted and fails the test, and so does any Content-Security-Policy violation.

With `DELTASHARE_SCREENSHOTS=1` the test writes a screenshot of each page to `docs/console/`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    expect,
    sync_playwright,
)

from dbrx_api.main import create_app
from fixtures.api import align_emulator_clock, api_settings_for
from fixtures.live_server import LiveServer
from fixtures.orchestrator import sample_pack
from fixtures.tokens import TokenFactory

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[4] / "docs" / "console"
WAIT_MS = 30_000
CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
UPLOAD = "/workflow/sharepack/upload_and_validate"
WRITER, APPROVER = "DeltaShare.Writer", "DeltaShare.Approver"
# The UTC text every `<time>` keeps in its title once console.js showed it in the viewer's zone.
UTC_TITLE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent"),
]
expect.set_options(timeout=WAIT_MS)


@dataclass
class Person:
    """One signed-in person: a browser context sending their token, and a log of what it saw."""

    name: str
    oid: str
    email: str
    headers: dict[str, str]
    context: BrowserContext | None = None
    origin: str = ""
    blocked: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    @property
    def csp_violations(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]

    def route(self, route: Route) -> None:
        parts = urlsplit(route.request.url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def log(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def page(self) -> Page:
        assert self.context is not None
        page = self.context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # the confirm() of Decline / Withdraw
        return page


def without_order_items(text: str) -> str:
    """The sample pack without `main.sales.order_items` and the pipeline that feeds it (a destructive version)."""
    start = text.index("      - name_prefix: sales_order_items_pl")
    end = text.index("\n\n", start)
    text = text[:start].rstrip("\n") + text[end:]
    line = "      - main.sales.order_items\n"
    assert text.count(line) == 1
    return text.replace(line, "")


def screenshot(page: Page, name: str) -> None:
    """`docs/console/<name>.png` when DELTASHARE_SCREENSHOTS=1 (committed; linked from the README)."""
    if os.environ.get("DELTASHARE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            chromium_sandbox=False,
            args=list(CHROMIUM_FLAGS),
            timeout=WAIT_MS,
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def console_server(
    emu: Any, make_database: Callable[[], str], token_factory: TokenFactory
) -> Iterator[LiveServer]:
    align_emulator_clock(emu)
    settings = api_settings_for(
        emu.url,
        emu.token,
        auth=token_factory.auth_settings().model_dump(),
        workflow={
            "enabled": True,
            "database_url": make_database(),
            "worker": {"inline": True, "concurrency": 1},
            "queue": {"poll_min_s": 0.05, "poll_max_s": 0.2},
            "sweeper": {"interval_s": 3600},
            "approval": {"required_for": "destructive"},
        },
    )
    with LiveServer(create_app(settings)) as server:
        yield server


@pytest.fixture
def people(
    token_factory: TokenFactory, chromium: Browser, console_server: LiveServer
) -> Iterator[dict[str, Person]]:
    def person(name: str, oid: str, email: str, *roles: str) -> Person:
        token = token_factory.mint(oid=oid, sub=oid, preferred_username=email, roles=list(roles))
        who = Person(name, oid, email, {"Authorization": f"Bearer {token}"})
        who.origin = console_server.url
        who.context = chromium.new_context(
            extra_http_headers=who.headers,
            viewport={"width": 1366, "height": 900},
            timezone_id="Europe/Paris",
        )
        who.context.set_default_timeout(WAIT_MS)
        who.context.route("**/*", who.route)
        who.context.on("console", who.log)
        return who

    everyone = {
        # Ann uploads and holds the approver role too: only "not the uploader" stops her approving her own.
        "ann": person(
            "ann", "00000000-0000-4000-8000-0000000000a1", "ann@example.com", WRITER, APPROVER
        ),
        # John is the pack's listed approver (metadata.approver of the sample pack).
        "john": person(
            "john", "00000000-0000-4000-8000-0000000000c1", "john.smith@example.com", APPROVER
        ),
    }
    yield everyone
    for who in everyone.values():
        assert who.context is not None
        who.context.close()


def api(server: LiveServer, who: Person) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=who.headers, timeout=30)


def wait_status(
    client: httpx.Client, pack_id: str, version: int, wanted: set[str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        status = dict(client.get(f"/workflow/sharepack/{pack_id}").json())
        if status["current_version"] == version and status["status"] in wanted:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def test_an_approver_approves_a_destructive_pack_in_the_console_and_the_uploader_withdraws_the_next(
    console_server: LiveServer, people: dict[str, Person], emu: Any
) -> None:
    ann, john = people["ann"], people["john"]
    base = console_server.url
    with api(console_server, ann) as as_ann, api(console_server, john) as as_john:
        # Ann submits a destructive pack (it creates an open-sharing recipient): the worker holds it.
        accepted = as_ann.post(
            UPLOAD,
            files={"file": ("sales.yaml", sample_pack(emu.url).encode(), "application/x-yaml")},
        )
        assert accepted.status_code == 202, accepted.text
        pack_id = accepted.json()["share_pack_id"]
        held = wait_status(as_ann, pack_id, 1, {"PENDING_APPROVAL", "FAILED", "COMPLETED"})
        assert held["status"] == "PENDING_APPROVAL", held
        destructive = held["approval_plan"]["destructive_changes"]
        assert "create open-sharing recipient acme_external" in destructive
        pack_key = held["pack_key"]

        # Ann sees her upload, but the page refuses her own approval (the API's rule, shown before she tries).
        page = ann.page()
        page.goto(f"{base}/console")
        expect(page.locator("#mine")).to_contain_text(pack_key)
        expect(page.locator("#waiting")).to_have_count(0)
        expect(page.locator("#others")).to_contain_text("self_approval")
        page.locator("#mine").get_by_role("link", name=pack_key).click()
        expect(page.locator("#pack-status")).to_have_text("PENDING_APPROVAL")
        expect(page.locator("#approve")).to_be_disabled()
        expect(page.locator("#decline")).to_be_disabled()
        expect(page.locator("#decision-refused")).to_contain_text("self_approval")
        # The times are the viewer's (Europe/Paris), UTC on hover.
        first_time = page.locator("time[data-localised=true]").first
        expect(first_time).to_have_attribute("title", UTC_TITLE)
        page.close()

        # John's inbox lists the version; the pack page shows the plan, destructive changes highlighted.
        page = john.page()
        page.goto(f"{base}/console")
        expect(page.locator("#waiting")).to_contain_text(pack_key)
        screenshot(page, "inbox")
        page.locator("#waiting").get_by_role("link", name=pack_key).click()
        expect(page.locator("#destructive")).to_contain_text(
            "create open-sharing recipient acme_external"
        )
        expect(page.locator("#plan li.destructive").first).to_be_visible()
        expect(page.locator("#approve")).to_be_enabled()
        screenshot(page, "pack_pending")
        # Keyboard only: the comment field, then Tab to Approve, Enter.
        page.get_by_label("Comment for the record").fill("Partner contract signed")
        page.keyboard.press("Tab")
        expect(page.locator("#approve")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#done")).to_contain_text("approved")

        # The run completes; the timeline shows the upload by Ann and the approval by John.
        done = wait_status(as_john, pack_id, 1, {"COMPLETED", "FAILED", "PENDING_APPROVAL"})
        assert done["status"] == "COMPLETED", done
        # No reload by the test: the page follows a queued or running version by itself.
        expect(page.locator("#pack-status")).to_have_text("COMPLETED")
        expect(page.locator("#pack-status")).to_have_attribute("data-live", "false")
        timeline = page.locator("#version-1")
        expect(timeline).to_contain_text("version 1 uploaded")
        expect(timeline.locator(".event-upload .who")).to_have_text("ann@example.com")
        expect(timeline.locator(".event-decision")).to_contain_text("approved")
        expect(timeline.locator(".event-decision .who")).to_have_text("john.smith@example.com")
        expect(timeline.locator(".event-decision")).to_contain_text("Partner contract signed")
        expect(timeline.locator(".event-run table.steps").last).to_contain_text("SUCCEEDED")
        screenshot(page, "pack_completed")
        page.locator("#drift-link").click()
        expect(page.locator("#drift")).to_contain_text("acme_external")
        expect(page.locator("#drift .badge.bad")).to_have_count(
            0
        )  # just provisioned: everything in sync
        screenshot(page, "drift")
        page.close()

        record = as_ann.get(f"/workflow/sharepack/{pack_id}/history").json()["versions"][0]
        assert [(a["decision"], a["decided_by"]["id"]) for a in record["approvals"]] == [
            ("approve", john.oid)
        ]
        assert "approved by john.smith@example.com" in [t["reason"] for t in record["transitions"]]

        # Ann uploads version 2, which stops sharing the order items and drops their pipeline: the worker holds
        # it with its plan; she thinks better of it and withdraws it in the console.
        text = without_order_items(sample_pack(emu.url))
        second = as_ann.post(
            UPLOAD, files={"file": ("sales.yaml", text.encode(), "application/x-yaml")}
        )
        assert second.status_code == 202, second.text
        held = wait_status(as_ann, pack_id, 2, {"PENDING_APPROVAL", "FAILED", "COMPLETED"})
        assert held["status"] == "PENDING_APPROVAL", held
        assert (
            "drop table share_cat.sales_ext.order_items (pipeline sales_order_items_pl)"
            in (held["approval_plan"]["destructive_changes"])
        )
        page = ann.page()
        page.goto(f"{base}/console/packs/{pack_id}")
        expect(page.locator("#pack-status")).to_have_text("PENDING_APPROVAL")
        expect(page.locator("#destructive")).to_contain_text("delete pipeline sales_order_items_pl")
        deletion = page.locator("#plan li.action-delete.destructive")
        expect(deletion).to_contain_text("sales_order_items_pl")
        expect(deletion.locator(".drops")).to_contain_text("share_cat.sales_ext.order_items")
        expect(page.locator("#plan li.destructive .remove")).to_contain_text(
            "main.sales.order_items"
        )
        expect(page.locator("#decision-refused")).to_contain_text("self_approval")
        screenshot(page, "pack_destructive")
        page.get_by_role("link", name="changes since version 1").click()
        expect(page.locator("#document-diff")).to_contain_text("main.sales.order_items")
        expect(page.locator("#plan-diff")).to_contain_text("delete pipeline sales_order_items_pl")
        screenshot(page, "diff")
        page.go_back()
        page.get_by_label("Why withdraw (optional)").fill("wrong window")
        page.locator("#withdraw").click()
        expect(page.locator("#done")).to_contain_text("withdrawn")
        expect(page.locator("#pack-status")).to_have_text("WITHDRAWN")
        expect(page.locator("#version-2 .event-transition").last).to_contain_text("WITHDRAWN")
        expect(page.locator("#withdraw-refused")).to_contain_text("not_withdrawable")
        page.close()
        assert as_ann.get(f"/workflow/sharepack/{pack_id}").json()["status"] == "WITHDRAWN"

        # John cannot decide on the withdrawn version any more.
        page = john.page()
        page.goto(f"{base}/console/packs/{pack_id}")
        expect(page.locator("#approve")).to_be_disabled()
        expect(page.locator("#decision-refused")).to_contain_text("not_pending_approval")
        page.close()

    for who in (ann, john):
        assert who.blocked == []
        assert who.csp_violations == []


def test_tokens_and_access_pages_match_the_api(
    console_server: LiveServer, people: dict[str, Person], emu: Any
) -> None:
    ann, john = people["ann"], people["john"]
    base = console_server.url
    with api(console_server, ann) as as_ann, api(console_server, john) as as_john:
        accepted = as_ann.post(
            UPLOAD,
            files={"file": ("sales.yaml", sample_pack(emu.url).encode(), "application/x-yaml")},
        )
        pack_id = accepted.json()["share_pack_id"]
        wait_status(as_ann, pack_id, 1, {"PENDING_APPROVAL"})
        approved = as_john.post(
            f"/workflow/sharepack/{pack_id}/versions/1/approval", json={"decision": "approve"}
        )
        assert approved.status_code == 200, approved.text
        wait_status(as_ann, pack_id, 1, {"COMPLETED"})

        workspace = {"X-Workspace-URL": emu.url}
        tokens = as_john.get("/tokens", headers=workspace).json()
        access = as_john.get("/access", headers=workspace).json()
        access_csv = as_john.get("/access", params={"format": "csv"}, headers=workspace).text
        assert tokens["items"]
        assert access["entries"]

        page = john.page()
        page.goto(f"{base}/console/tokens")
        rows = page.locator("#tokens tbody tr")
        expect(rows).to_have_count(len(tokens["items"]))
        for row, item in zip(rows.all(), tokens["items"], strict=True):
            cells = row.locator("td").all_inner_texts()
            assert cells[0] == item["recipient"]
            assert cells[1] == (item["token_id"] or "—")
            assert cells[6] == ", ".join(item["shares"])
        screenshot(page, "tokens")
        page.get_by_label("Expiring within").fill("nonsense")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_role("alert")).to_contain_text("expiring_within")
        page.get_by_label("Expiring within").fill("")
        page.get_by_label("Recipient").fill("nobody_here")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_role("alert")).to_contain_text("recipient_not_found")
        expect(page.get_by_label("Recipient")).to_have_value("nobody_here")
        page.get_by_label("Recipient").fill("")
        page.get_by_label("Activation").select_option("false")
        page.get_by_role("button", name="Show").click()
        pending = [item for item in tokens["items"] if not item["activated"]]
        expect(page.locator("#tokens tbody tr")).to_have_count(max(1, len(pending)))

        page.goto(f"{base}/console/access")
        rows = page.locator("#access tbody tr")
        expect(rows).to_have_count(len(access["entries"]))
        seen = sorted(tuple(r.locator("td").all_inner_texts()[:3]) for r in rows.all())
        assert seen == sorted((e["recipient"], e["share"], e["object"]) for e in access["entries"])
        expect(page.locator("#access-source")).to_have_text("live")
        screenshot(page, "access")
        href = page.locator("#csv-link").get_attribute("href")
        assert href is not None
        assert john.context is not None
        download = john.context.request.get(f"{base}{href.removeprefix(urlsplit(base).path)}")
        assert download.status == 200
        assert download.text() == access_csv

        # As of a past instant, from the packs' records: the same form, another source.
        page.get_by_label("As of (optional)").fill(
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        )
        page.get_by_role("button", name="Show").click()
        expect(page.locator("#access-source")).to_have_text("recorded")
        page.close()

    assert john.blocked == []
    assert john.csp_violations == []
