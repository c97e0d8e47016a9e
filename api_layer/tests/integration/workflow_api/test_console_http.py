"""The reviewer console over HTTP (docs/API.md §17): who is viewing, CSRF, headers, and refusals that are the API's.

Entra-style tokens of the local JWKS, real PostgreSQL, consumers off. The browser tests
(`tests/integration/browser/test_console.py`) drive the same pages in Chromium.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dbrx_api.dbrx_auth import console_signin
from dbrx_api.dbrx_auth.principal import Principal
from dbrx_api.routes.console import CONSOLE_CSP, CSRF_COOKIE
from fixtures.api import share_table_by_hand
from fixtures.orchestrator import sample_pack
from fixtures.tokens import TokenFactory

pytestmark = pytest.mark.integration

ANN = "00000000-0000-4000-8000-0000000000a1"
JOHN = "00000000-0000-4000-8000-0000000000c1"
SESSION_SECRET = "k" * 48


def bearer(factory: TokenFactory, oid: str, email: str, *roles: str) -> dict[str, str]:
    token = factory.mint(oid=oid, sub=oid, preferred_username=email, roles=list(roles))
    return {"Authorization": f"Bearer {token}"}


def held_pack(client: TestClient, headers: dict[str, str], url: str) -> str:
    text = sample_pack(url).replace("approver_status: approved", "approver_status: pending")
    response = client.post(
        "/workflow/sharepack/upload_and_validate",
        files={"file": ("sales.yaml", text.encode(), "application/x-yaml")},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING_APPROVAL"
    return str(response.json()["share_pack_id"])


def test_pages_send_the_console_policy_and_a_csrf_cookie_and_forms_need_the_token(
    workflow_api: Callable[..., TestClient], token_factory: TokenFactory, emu: Any
) -> None:
    client = workflow_api(auth=True, approval="destructive")
    ann = bearer(token_factory, ANN, "ann@example.com", "DeltaShare.Writer", "DeltaShare.Approver")
    john = bearer(token_factory, JOHN, "john.smith@example.com", "DeltaShare.Approver")
    pack_id = held_pack(client, ann, emu.url)

    page = client.get(f"/console/packs/{pack_id}", headers=john)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONSOLE_CSP
    assert "unsafe-inline" not in CONSOLE_CSP
    assert "<script>" not in page.text
    assert "style=" not in page.text
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=lax", "Path=/console"):
        assert attribute in cookie
    csrf = page.cookies[CSRF_COOKIE]
    assert f'value="{csrf}"' in page.text

    # Without the token (a form posted from elsewhere): 403 csrf_invalid, and nothing was decided.
    client.cookies.clear()
    forged = client.post(
        f"/console/packs/{pack_id}/versions/1/decision",
        files={"decision": (None, "approve")},
        headers=john,
    )
    assert (forged.status_code, forged.json()["code"]) == (403, "csrf_invalid")
    wrong = client.post(
        f"/console/packs/{pack_id}/versions/1/decision",
        files={"decision": (None, "approve"), "csrf_token": (None, "not-the-cookie")},
        headers=john,
        cookies={CSRF_COOKIE: csrf},
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "csrf_invalid")
    assert (
        client.get(f"/workflow/sharepack/{pack_id}", headers=john).json()["status"]
        == "PENDING_APPROVAL"
    )

    # The uploader's own decision, forced through the form, is refused by the API's rule, in the page.
    own = client.post(
        f"/console/packs/{pack_id}/versions/1/decision",
        files={"decision": (None, "approve"), "csrf_token": (None, csrf)},
        headers=ann,
        cookies={CSRF_COOKIE: csrf},
        follow_redirects=False,
    )
    assert own.status_code == 403
    assert "self_approval" in own.text
    assert own.headers["content-type"].startswith("text/html")

    # The listed approver's decision goes through and lands on the pack page.
    decided = client.post(
        f"/console/packs/{pack_id}/versions/1/decision",
        files={
            "decision": (None, "decline"),
            "comment": (None, "no ticket"),
            "csrf_token": (None, csrf),
        },
        headers=john,
        cookies={CSRF_COOKIE: csrf},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert decided.headers["location"] == f"/console/packs/{pack_id}?done=declined"
    history = client.get(f"/workflow/sharepack/{pack_id}/history", headers=john).json()
    [decision] = history["versions"][0]["approvals"]
    assert (decision["decision"], decision["decided_by"]["id"], decision["comment"]) == (
        "decline",
        JOHN,
        "no ticket",
    )


def test_without_a_token_the_console_asks_to_sign_in_and_a_session_cookie_is_a_viewer(
    workflow_api: Callable[..., TestClient], token_factory: TokenFactory
) -> None:
    client = workflow_api(auth=True, console={"session_secret": SESSION_SECRET})
    redirect = client.get("/console/tokens?recipient=x", follow_redirects=False)
    assert redirect.status_code == 303
    assert (
        redirect.headers["location"]
        == "/console/signin?return_to=%2Fconsole%2Ftokens%3Frecipient%3Dx"
    )

    # The app has no console app registration: the sign-in page says so instead of redirecting anywhere.
    unavailable = client.get("/console/signin", follow_redirects=False)
    assert unavailable.status_code == 401
    assert "signin_unavailable" in unavailable.text

    settings = client.app.state.settings  # type: ignore[attr-defined]
    john = Principal(
        id=JOHN,
        name="john.smith@example.com",
        tenant=token_factory.tenant_id,
        roles=frozenset({"approver"}),
        emails=frozenset({"john.smith@example.com"}),
    )
    session = console_signin.session_value(john, settings.console)
    page = client.get("/console", cookies={console_signin.SESSION_COOKIE: session})
    assert page.status_code == 200
    assert "john.smith@example.com" in page.text
    assert "Sign out" in page.text
    body, _, mac = session.partition(".")
    tampered = client.get(
        "/console",
        cookies={console_signin.SESSION_COOKIE: f"{body}A.{mac}"},
        follow_redirects=False,
    )
    assert tampered.status_code == 303

    # An invalid bearer token is the API's 401, not a sign-in loop.
    invalid = client.get("/console", headers={"Authorization": "Bearer nope"})
    assert (invalid.status_code, invalid.json()["code"]) == (401, "auth_invalid")


def test_unknown_pack_is_an_error_page(
    workflow_api: Callable[..., TestClient],
) -> None:
    client = workflow_api()  # local mode: the local developer, no sign-in
    page = client.get("/console/packs/00000000-0000-4000-8000-0000000000ff")
    assert page.status_code == 404
    assert "sharepack_not_found" in page.text
    assert client.get("/console/static/console.js").status_code == 200
    inbox = client.get("/console")
    assert inbox.status_code == 200
    assert "local-developer" in inbox.text


def test_the_access_page_and_its_csv_apply_the_same_filters_as_the_api(
    workflow_api: Callable[..., TestClient], token_factory: TokenFactory, emu: Any
) -> None:
    ws = emu.workspace_client()
    share_table_by_hand(ws, "sales_s", "main.sales.orders", "sales_s_r")
    share_table_by_hand(ws, "cust_s", "main.sales.customers", "cust_s_r")
    client = workflow_api(auth=True)
    john = bearer(token_factory, JOHN, "john.smith@example.com", "DeltaShare.Reader")
    query = {"workspace": emu.url, "object": "main.sales.orders"}

    page = client.get("/console/access", params=query, headers=john)
    assert page.status_code == 200, page.text
    assert "sales_s_r" in page.text
    assert "cust_s_r" not in page.text  # the object filter applied
    assert "object=main.sales.orders" in page.text  # and kept for the CSV link
    csv_text = client.get("/console/access.csv", params=query, headers=john).text
    api_csv = client.get(
        "/access",
        params={"object": "main.sales.orders", "format": "csv"},
        headers={**john, "X-Workspace-URL": emu.url},
    ).text
    assert csv_text == api_csv
    assert [line.split(",")[0] for line in csv_text.splitlines()[1:]] == ["sales_s_r"]

    future = client.get(
        "/console/access", params={**query, "as_of": "2999-01-01T00:00:00Z"}, headers=john
    )
    assert future.status_code == 200
    assert "history has no future" in future.text  # the refusal is shown next to the filters
