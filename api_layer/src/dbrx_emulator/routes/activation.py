"""Public recipient activation endpoints and the activation page (no Authorization; docs/EMULATOR.md §7.5)."""

from __future__ import annotations

import html

from dbrx_emulator.api import ApiCall, ApiResponse, ApiRouter, Json
from dbrx_emulator.clock import rfc3339
from dbrx_emulator.errors import ApiError
from dbrx_emulator.state.shares import SharingState

router = ApiRouter(prefixes=("/api/2.1/unity-catalog/public",))
page_router = ApiRouter()
RETRIEVE_PATH = "/api/2.1/unity-catalog/public/data_sharing_activation"
_HTML = {"content-type": "text/html; charset=utf-8"}


def _page(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    ).encode()


@page_router.get("/delta_sharing/retrieve_config.html", "activation.page", public=True)
def activation_page(call: ApiCall) -> ApiResponse:
    """The page an activation URL (`…/retrieve_config.html?<code>`) opens: who it is for and a download link.

    Opening it does not use the code up; the download link (`activation.retrieve`) does, as on Databricks.
    """
    code = call.query.pairs[0][0] if call.query.pairs else ""
    try:
        info = call.rt.store.area(SharingState).activation_info(code, call.now_ms)
    except ApiError as exc:
        page = _page("Delta Sharing activation", f"<p>{html.escape(exc.message)}</p>")
        return ApiResponse({}, status=exc.status, headers=_HTML, raw=page)
    recipient = html.escape(str(info["recipient_name"]))
    link = html.escape(f"{RETRIEVE_PATH}/{code}", quote=True)
    body = (
        f"<p>Credential file for recipient <strong>{recipient}</strong>, valid until "
        f"{html.escape(rfc3339(int(info['expiration_time'])))}.</p>\n"
        f'<p><a id="download" href="{link}" download="config.share">Download credential file</a></p>\n'
        "<p>The file can be downloaded once.</p>"
    )
    return ApiResponse({}, headers=_HTML, raw=_page("Delta Sharing activation", body))


@router.get("/data_sharing_activation_info/{code}", "activation.get_info", public=True)
def get_info(call: ApiCall) -> Json:
    """Who an activation code is for; unknown or used codes are a 404."""
    return call.rt.store.area(SharingState).activation_info(call.params["code"], call.now_ms)


@router.get("/data_sharing_activation/{code}", "activation.retrieve", public=True)
def retrieve(call: ApiCall) -> Json:
    """The credential file, once."""
    return call.rt.store.area(SharingState).retrieve(
        call.params["code"], call.now_ms, call.base_url
    )
