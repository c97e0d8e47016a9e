"""Pass-through reads: every page of a Databricks list as plain dicts.

The SDK's list methods build one dataclass per item, which the list endpoints then re-shaped into pydantic models
and serialised. A listing of 1,000 shares spent most of its CPU there (issue 16). The list endpoints read the pages
here instead: the same request the SDK's own list method sends (path, query, `Accept`, workspace-id, `User-Agent`
and the SDK's authentication headers). Each service shapes the returned dicts into the documented fields and
serialises the page once (`schemas.common.list_body`); docs/ARCHITECTURE.md describes the path.

Two transports carry a page:

* `PageTransport`, attached to the clients `dbrx_auth.workspaces` builds: one plain GET on a kept-alive
  connection, parsed by `httptools` and decoded with orjson. It takes only a `200` with a JSON object. The SDK's
  `requests` stack cost about 0.7 ms of CPU per page more than this, three quarters of the CPU of a 1,000-share
  listing (docs/ARCHITECTURE.md).
* `ApiClient.do`, the SDK's own request: for any page the first did not take (another status, a redirect, a
  connection error, a body that is not JSON) and for clients without a `PageTransport`. The page is sent again
  there, which is safe for a read, so retries, error parsing and the `DatabricksError` subclasses that
  `errors.upstream` maps stay the SDK's (docs/API.md §1.5.3): an upstream failure answers as before.
"""

from __future__ import annotations

import socket
import ssl
import threading
import weakref
from collections.abc import Mapping
from enum import Enum
from typing import Any
from urllib.parse import urlencode, urlsplit

import httptools
import orjson
from databricks.sdk import WorkspaceClient
from requests.utils import DEFAULT_CA_BUNDLE_PATH

Item = dict[str, Any]

_READ_SIZE = 256 * 1024  # bytes asked of the socket per read: a page of 50 shares is about 16 KiB


class _Response:
    """The `httptools` parser's callbacks for one response: its body parts, whether the connection may be kept
    (llhttp answers that while the message is being parsed, not after) and whether it ended."""

    __slots__ = ("complete", "keep_alive", "parser", "parts")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.keep_alive = False
        self.complete = False
        self.parser = httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class PageTransport:
    """Plain HTTP/1.1 GETs of list pages to one workspace host, on kept-alive connections.

    The request head is written here (a GET with the given headers, nothing else); the response is parsed by
    `httptools` (llhttp, uvicorn's parser: status, headers, `Content-Length` or chunked bodies). It never follows a
    redirect and never retries a request the server answered: what it does not take, `list_all` hands to the
    SDK. A kept-alive connection the server has closed meanwhile is replaced once. The reason is CPU: a third of
    `http.client`'s per page, and a sixth of the SDK's `requests` stack (docs/ARCHITECTURE.md, "One request").
    """

    def __init__(
        self, host: str, *, pool_size: int, ca_bundle: str | None, timeout_s: float
    ) -> None:
        parts = urlsplit(host)
        self._hostname = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._host_header = parts.netloc
        self._base_path = parts.path.rstrip("/")
        self._timeout_s = timeout_s
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            # Verified as the SDK's requests verifies: certifi's bundle unless the environment names another.
            self._tls = ssl.create_default_context(cafile=ca_bundle or DEFAULT_CA_BUNDLE_PATH)
        self._pool_size = pool_size
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()

    def get_page(
        self, path: str, query: Mapping[str, Any], headers: Mapping[str, str]
    ) -> Item | None:
        """The decoded page, or None when the answer is anything but a `200` with a JSON object."""
        target = f"{self._base_path}{path}"
        if query:
            target = f"{target}?{urlencode(_query_text(query))}"
        request = self._request_head(target, headers)
        answer = None if request is None else self._exchange(request)
        if answer is None or answer[0] != 200:
            return None
        try:
            page = orjson.loads(answer[1])
        except orjson.JSONDecodeError:
            return None
        return page if isinstance(page, dict) else None

    def _request_head(self, target: str, headers: Mapping[str, str]) -> bytes | None:
        fields = [f"{name}: {value}" for name, value in headers.items()]
        if any("\r" in field or "\n" in field for field in fields):
            return None  # a line break inside a header: the SDK's path refuses it, as it always did
        head = "\r\n".join(
            [f"GET {target} HTTP/1.1", f"Host: {self._host_header}", *fields, "", ""]
        )
        try:
            return head.encode("ascii")
        except UnicodeEncodeError:
            return None

    def _exchange(self, request: bytes) -> tuple[int, bytes] | None:
        for reuse in (True, False):
            connection = self._checkout() if reuse else None
            if reuse and connection is None:
                continue  # nothing kept alive: a new connection
            try:
                if connection is None:
                    connection = self._connect()
                status, body, keep_alive = _round_trip(connection, request)
            except (OSError, httptools.HttpParserError):
                if connection is not None:
                    connection.close()
                continue  # a kept-alive connection the server closed: one more try on a new one
            if keep_alive:
                self._checkin(connection)
            else:
                connection.close()
            return status, body
        return None

    def _connect(self) -> socket.socket:
        connection = socket.create_connection((self._hostname, self._port), timeout=self._timeout_s)
        if self._tls is None:
            return connection
        return self._tls.wrap_socket(connection, server_hostname=self._hostname)

    def _checkout(self) -> socket.socket | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _checkin(self, connection: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(connection)
                return
        connection.close()


def _round_trip(connection: socket.socket, request: bytes) -> tuple[int, bytes, bool]:
    """Send `request`, read one response: its status, body and whether the connection stays open."""
    connection.sendall(request)
    response = _Response()
    while not response.complete:
        data = connection.recv(_READ_SIZE)
        if not data:
            raise ConnectionError("the connection closed before the response ended")
        response.parser.feed_data(data)
    return response.parser.get_status_code(), b"".join(response.parts), response.keep_alive


_TRANSPORTS: weakref.WeakKeyDictionary[WorkspaceClient, PageTransport] = weakref.WeakKeyDictionary()


def attach_page_transport(client: WorkspaceClient, transport: PageTransport) -> None:
    """Read `client`'s list pages through `transport` (`dbrx_auth.workspaces` builds it with the client)."""
    _TRANSPORTS[client] = transport


def page_transport(client: WorkspaceClient) -> PageTransport | None:
    """The transport `client`'s list pages take first, if any."""
    return _TRANSPORTS.get(client)


def _query_text(query: Mapping[str, Any]) -> dict[str, Any]:
    # The SDK sends booleans as `true`/`false` (its `_fix_query_string`); list queries hold no nested values.
    return {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in query.items()}


def list_all(
    ws: WorkspaceClient,
    path: str,
    items_key: str,
    query: Mapping[str, Any] | None = None,
) -> list[Item]:
    """Every item of a paged Databricks listing (docs/API.md §1.7: read to the end, no cap).

    `path` is the REST path the SDK's list method calls, `items_key` the member holding a page's items and
    `query` its query parameters (the first page's; `page_token` carries `next_page_token` to the next).
    Items are returned as Databricks sent them (decoded JSON objects); a page without `items_key` adds none.
    """
    config = ws.config
    headers = {"Accept": "application/json"}
    workspace_id = config.workspace_id
    if workspace_id:
        headers["X-Databricks-Workspace-Id"] = workspace_id
    transport = page_transport(ws)
    user_agent = config.user_agent if transport is not None else ""
    params: dict[str, Any] = dict(query or {})
    items: list[Item] = []
    while True:
        page: object = None
        if transport is not None:
            page = transport.get_page(
                path, params, {**headers, "User-Agent": user_agent, **config.authenticate()}
            )
        if page is None:
            page = ws.api_client.do("GET", path, query=params, headers=headers)
        if not isinstance(page, dict):
            return items
        items.extend(page.get(items_key) or ())
        token = page.get("next_page_token")
        if not token:
            return items
        params["page_token"] = token


def enum_values(cls: type[Enum]) -> frozenset[str]:
    """The wire values of an SDK enum, for `known_enum`."""
    return frozenset(str(member.value) for member in cls)


def known_enum(value: object, values: frozenset[str]) -> str | None:
    """The text the SDK path gave for an enum member: the value when it names a member of the SDK's enum, None
    otherwise (the SDK's `from_dict` reads an empty or unknown value as None)."""
    return value if isinstance(value, str) and value in values else None
