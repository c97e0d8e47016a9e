"""The workspace allowlist and one cached `WorkspaceClient` per allowed workspace (docs/API.md §1.3, §1.10).

`resolve_workspace` decides, without any network activity, whether a caller-supplied URL may be used. Only then does
`WorkspaceClientFactory.client_for` build (once) and return the SDK client, whose outbound credentials come from a
custom credentials strategy: msal client credentials in production, a static PAT for the local emulator.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.credentials_provider import CredentialsProvider, CredentialsStrategy

from dbrx_api.errors import ForbiddenError, InvalidRequest, UpstreamError
from dbrx_api.passthrough import PageTransport, attach_page_transport
from dbrx_api.settings import DatabricksSettings, WorkspaceEntry, allowlist_entry_problem

if TYPE_CHECKING:
    from msal import ConfidentialClientApplication

logger = logging.getLogger(__name__)

AZURE_DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
# Connections kept per workspace client when the caller does not say: the SDK's own default.
DEFAULT_POOL_SIZE = 20


@dataclass(frozen=True, slots=True)
class Workspace:
    """An allow-listed workspace: normalised URL plus its allowlist entry."""

    url: str
    name: str
    region: str


def normalise_workspace_url(raw: str | None) -> str:
    """Normalise a workspace URL (docs/API.md §1.3 step 2) or raise a 400 problem.

    Trims whitespace, lower-cases scheme and host, drops the default port and one trailing `/`; rejects user-info, a
    path other than `/`, a query, a fragment or anything that is not an absolute URL.
    """
    if raw is None or not raw.strip():
        raise InvalidRequest(
            "The X-Workspace-URL header is required.", code="workspace_header_missing"
        )
    value = raw.strip()
    invalid = InvalidRequest(
        "X-Workspace-URL must be an absolute URL such as https://adb-123.4.azuredatabricks.net "
        "(no user-info, path, query or fragment).",
        code="workspace_url_invalid",
    )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise invalid from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if (
        scheme not in {"http", "https"}
        or not host
        or parts.username is not None
        or parts.password is not None
        or parts.path not in {"", "/"}
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise invalid
    default_port = {"https": 443, "http": 80}[scheme]
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets (RFC 3986 §3.2.2)
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def host_pattern_allows(url: str, *, local: bool) -> bool:
    """Whether a normalised URL is a Databricks host (or, in local mode, a loopback emulator)."""
    return allowlist_entry_problem(url, local=local) is None


class WorkspaceAllowlist:
    """The operator's list of workspaces; lookups are pure configuration reads."""

    def __init__(self, entries: list[WorkspaceEntry], *, local: bool) -> None:
        self._local = local
        self._by_url = {
            normalise_workspace_url(entry.url): Workspace(
                url=normalise_workspace_url(entry.url), name=entry.name, region=entry.region
            )
            for entry in entries
        }

    @property
    def workspaces(self) -> list[Workspace]:
        """Every allowed workspace."""
        return list(self._by_url.values())

    def resolve(self, raw: str | None) -> Workspace:
        """Normalise `raw` and return its allowlist entry; 400/403 problems otherwise, with no outbound call."""
        url = normalise_workspace_url(raw)
        workspace = self._by_url.get(url) if host_pattern_allows(url, local=self._local) else None
        if workspace is None:
            raise ForbiddenError(
                f"{url} is not in the workspace allowlist.", code="workspace_not_allowed"
            )
        return workspace


class BearerTokenStrategy(CredentialsStrategy):
    """A credentials strategy whose header factory asks `token_source` for a bearer token on every request."""

    def __init__(self, name: str, token_source: Callable[[], str]) -> None:
        self._name = name
        self._token_source = token_source

    def auth_type(self) -> str:
        return self._name

    def __call__(self, cfg: Config) -> CredentialsProvider:  # noqa: ARG002 - the SDK's interface
        def headers() -> dict[str, str]:
            return {"Authorization": f"Bearer {self._token_source()}"}

        return headers


class MsalTokenSource:
    """Entra ID client-credentials tokens for the Azure Databricks resource, cached and refreshed by msal."""

    def __init__(
        self, tenant_id: str, client_id: str, client_secret: str, authority_host: str
    ) -> None:
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._app: ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def _application(self) -> ConfidentialClientApplication:
        with self._lock:
            if self._app is None:
                import msal  # imported lazily: constructing the app may contact the authority

                self._app = msal.ConfidentialClientApplication(
                    self._client_id,
                    client_credential=self._client_secret,
                    authority=self._authority,
                )
            return self._app

    def __call__(self) -> str:
        result = self._application().acquire_token_for_client(scopes=[AZURE_DATABRICKS_SCOPE])
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            error = result.get("error") if isinstance(result, dict) else "unknown"
            logger.error(
                "service principal token request failed",
                extra={
                    "msal_error": error,
                    "msal_error_description": result.get("error_description"),
                },
            )
            raise UpstreamError(
                "The service could not obtain its Databricks credentials.",
                code="upstream_auth_failed",
            )
        return str(token)


class WorkspaceClientFactory:
    """One lazily built, process-wide `WorkspaceClient` per allowed workspace, shared by all threads."""

    def __init__(
        self,
        settings: DatabricksSettings,
        *,
        local: bool,
        retry_timeout_s: int | None = None,
        product: str = "deltashare",
        product_version: str = "0",
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self._settings = settings
        self._pool_size = pool_size
        self._allowlist = WorkspaceAllowlist(settings.workspaces, local=local)
        self._retry_timeout_s = retry_timeout_s or settings.sdk.retry_timeout_s
        self._product = product
        self._product_version = product_version
        self._clients: dict[str, WorkspaceClient] = {}
        self._lock = threading.Lock()
        self._strategy = self._build_strategy()

    @property
    def allowlist(self) -> WorkspaceAllowlist:
        """The allowlist this factory enforces."""
        return self._allowlist

    def resolve(self, raw_url: str | None) -> Workspace:
        """Validate a caller-supplied URL against the allowlist (no network)."""
        return self._allowlist.resolve(raw_url)

    def cached_client(self, workspace: Workspace) -> WorkspaceClient | None:
        """The client of an allowed workspace if it was built already (no I/O)."""
        return self._clients.get(workspace.url)

    def client_for(self, workspace: Workspace) -> WorkspaceClient:
        """The cached client of an allowed workspace, built on first use."""
        client = self._clients.get(workspace.url)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(workspace.url)
            if client is None:
                client = self._build_client(workspace.url)
                self._clients[workspace.url] = client
            return client

    def client(self, raw_url: str | None) -> WorkspaceClient:
        """Resolve and return the client in one step (worker and CLI paths)."""
        return self.client_for(self.resolve(raw_url))

    def _build_strategy(self) -> CredentialsStrategy | None:
        auth = self._settings.auth
        if auth.mode == "pat":
            token = auth.token.get_secret_value() if auth.token else ""
            return BearerTokenStrategy("deltashare-pat", lambda: token)
        if auth.mode == "azure_sp":
            secret = auth.client_secret.get_secret_value() if auth.client_secret else ""
            source = MsalTokenSource(
                auth.tenant_id or "", auth.client_id or "", secret, auth.authority_host
            )
            return BearerTokenStrategy("msal-client-credentials", source)
        return None  # oauth_m2m uses the SDK's own Databricks OAuth flow

    def _build_client(self, url: str) -> WorkspaceClient:
        sdk = self._settings.sdk
        common: dict[str, Any] = {
            "host": url,
            "http_timeout_seconds": sdk.http_timeout_s,
            "retry_timeout_seconds": self._retry_timeout_s,
            "product": self._product,
            "product_version": self._product_version,
        }
        if self._strategy is not None:
            config = Config(
                credentials_strategy=self._strategy, auth_type=self._strategy.auth_type(), **common
            )
        else:
            auth = self._settings.auth
            config = Config(
                client_id=auth.client_id,
                client_secret=auth.oauth_secret.get_secret_value() if auth.oauth_secret else None,
                auth_type="oauth-m2m",
                **common,
            )
        logger.info("workspace client created", extra={"workspace_url": url})
        client = WorkspaceClient(config=config)
        tune_http_session(client, self._pool_size)
        return client


def tune_http_session(client: WorkspaceClient, pool_size: int) -> None:
    """Size the client's connection pool to the caller's concurrency; read the proxy and CA environment once;
    attach the plain transport of the pass-through list pages (`dbrx_api.passthrough.PageTransport`).

        The SDK keeps 20 connections for `https://` and requests' default 10 for `http://` (the local emulator);
        with more concurrent requests than that, a request waits for a connection (`https://`) or opens one and
        closes it afterwards (`http://`). And with `trust_env`, requests reads the proxy and CA-bundle variables of
        the environment again on every request, a measurable share of each upstream page's CPU (issue 16). The
        variables are read here once instead, for the client's one host; their meaning is unchanged.
        The SDK's session is a private attribute (databricks-sdk is pinned): without it, the client stays as built.
    """
    session = getattr(getattr(client.api_client, "_api_client", None), "_session", None)
    if not isinstance(session, requests.Session):
        logger.warning("workspace client: the SDK's HTTP session was not found; pool left as built")
        return
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=1, pool_maxsize=pool_size, pool_block=True
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.proxies.update(requests.utils.get_environ_proxies(client.config.host or ""))
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    # A bundle path costs requests a `stat` on every request: set only where TLS needs it.
    if ca_bundle and (client.config.host or "").startswith("https://"):
        session.verify = ca_bundle
    session.trust_env = False
    if session.proxies or session.verify is False:
        return  # behind a proxy (or without verification) every list page keeps the SDK's path
    try:
        transport = PageTransport(
            client.config.host or "",
            pool_size=pool_size,
            ca_bundle=session.verify if isinstance(session.verify, str) else None,
            timeout_s=float(client.config.http_timeout_seconds or 60),
        )
    except OSError:
        # An unreadable CA bundle: the SDK's path reports it on the first request, as it did before.
        logger.warning("workspace client: CA bundle unreadable; list pages take the SDK's path")
        return
    attach_page_transport(client, transport)
