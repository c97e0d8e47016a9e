"""`AzureStorageQueue`: the work and poison queues on Azure Storage (production) or Azurite (tests).

Access by connection string, or by account URL plus managed identity through `ManagedIdentityCredential`, an
azure-core token credential backed by msal's managed-identity client. Bodies are sent as base64 of the UTF-8
JSON (the SDK's text encoding policy); decoding falls back to plain JSON for messages written by other tools.
Visibility, dequeue counts and pop receipts are Azure's own. SDK failures become `QueueError`s here.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.queue import QueueClient

from dbrx_api.settings import QueueSettings
from dbrx_api.workflow.queue.base import (
    QueueError,
    QueueKind,
    QueueUnavailable,
    Received,
    StaleReceipt,
    body_text,
    check_delay,
    check_receive,
    poison_name,
)

logger = logging.getLogger(__name__)

_STALE_CODES = frozenset({"PopReceiptMismatch", "MessageNotFound"})


# ------------------------------------------------------------------------------------------ credential


class ManagedIdentityCredential:
    """azure-core `TokenCredential` that asks msal's `ManagedIdentityClient` for tokens.

    msal caches the token and refreshes it shortly before expiry. `client_id` selects a user-assigned identity
    (default: `AZURE_CLIENT_ID` when set, else the system-assigned identity).
    """

    def __init__(self, client_id: str | None = None, *, msal_client: Any = None) -> None:
        if msal_client is None:
            import msal
            import requests

            chosen = client_id if client_id is not None else os.environ.get("AZURE_CLIENT_ID")
            identity = (
                msal.UserAssignedManagedIdentity(client_id=chosen)
                if chosen
                else msal.SystemAssignedManagedIdentity()
            )
            msal_client = msal.ManagedIdentityClient(identity, http_client=requests.Session())
        self._client = msal_client

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """A token for the single requested scope (`…/.default` is turned into the resource msal expects)."""
        del (
            tenant_id,
            enable_cae,
            kwargs,
        )  # part of the TokenCredential protocol; managed identity ignores them
        if len(scopes) != 1:
            raise ClientAuthenticationError(
                message="managed identity tokens are requested for one scope"
            )
        resource = scopes[0].removesuffix("/.default")
        result = self._client.acquire_token_for_client(resource=resource, claims_challenge=claims)
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            error = (
                result.get("error", "unknown_error")
                if isinstance(result, dict)
                else "unknown_error"
            )
            raise ClientAuthenticationError(
                message=f"managed identity token request failed: {error}"
            )
        expires_in = int(result.get("expires_in", 300))
        return AccessToken(token, int(time.time()) + expires_in)


# ------------------------------------------------------------------------------------------ queue


def encode_body(text: str) -> str:
    """Base64 of the UTF-8 text (what the SDK's `TextBase64EncodePolicy` produces)."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_body(content: str) -> str:
    """Inverse of `encode_body`; content that is not base64 of UTF-8 JSON is returned as is (plain JSON)."""
    stripped = content.strip()
    if stripped.startswith(("{", "[")):
        return content
    try:
        text = base64.b64decode(stripped, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return content
    return text


def _error_code(exc: HttpResponseError) -> str | None:
    # The storage SDK sets `error_code` (x-ms-error-code) on the exceptions it raises.
    code = getattr(exc, "error_code", None)
    if code is None:
        return None
    return str(getattr(code, "value", code))  # a StorageErrorCode enum member or plain text


@contextmanager
def _azure_errors(operation: str) -> Iterator[None]:
    """The one mapping of Azure SDK failures to `QueueError`s."""
    try:
        yield
    except ResourceNotFoundError as exc:
        code = _error_code(exc)
        if code in _STALE_CODES or (code is None and operation in ("extend", "delete")):
            raise StaleReceipt(f"{operation}: the message is gone ({code})") from exc
        raise QueueUnavailable(f"{operation}: queue not found ({code})") from exc
    except ClientAuthenticationError as exc:
        raise QueueUnavailable(f"{operation}: the storage account refused our credentials") from exc
    except HttpResponseError as exc:
        code = _error_code(exc)
        if code in _STALE_CODES:
            raise StaleReceipt(f"{operation}: the pop receipt is stale ({code})") from exc
        if (
            exc.status_code is not None
            and 400 <= exc.status_code < 500
            and exc.status_code not in (408, 429)
        ):
            raise QueueError(f"{operation}: rejected by the queue service ({code})") from exc
        raise QueueUnavailable(f"{operation}: queue service error ({exc.status_code})") from exc
    except AzureError as exc:  # transport errors, timeouts
        raise QueueUnavailable(f"{operation}: the queue service cannot be reached") from exc


class AzureStorageQueue:
    """Work queue `name` and poison queue `<name>-poison` in one storage account."""

    def __init__(
        self,
        name: str,
        *,
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: TokenCredential | None = None,
        retry_total: int = 3,
        timeout_s: int = 30,
    ) -> None:
        options: dict[str, Any] = {
            "retry_total": retry_total,
            "connection_timeout": 10,
            "read_timeout": timeout_s,
        }
        self._name = name
        if connection_string is not None:
            self._work = QueueClient.from_connection_string(connection_string, name, **options)
            self._poison = QueueClient.from_connection_string(
                connection_string, poison_name(name), **options
            )
        elif account_url:
            token = credential if credential is not None else ManagedIdentityCredential()
            self._work = QueueClient(account_url, name, credential=token, **options)
            self._poison = QueueClient(account_url, poison_name(name), credential=token, **options)
        else:
            raise ValueError("AzureStorageQueue needs a connection string or an account URL")

    @classmethod
    def from_settings(
        cls, settings: QueueSettings, *, credential: TokenCredential | None = None
    ) -> AzureStorageQueue:
        """Build from `workflow.queue` (connection string wins over account URL + managed identity)."""
        connection_string = (
            settings.connection_string.get_secret_value()
            if settings.connection_string is not None
            else None
        )
        return cls(
            settings.name,
            connection_string=connection_string,
            account_url=settings.account_url,
            credential=credential,
        )

    @property
    def name(self) -> str:
        """Name of the work queue."""
        return self._name

    @property
    def kind(self) -> QueueKind:
        """Always `azure`."""
        return "azure"

    @property
    def durable(self) -> bool:
        """Always True."""
        return True

    def ensure_queues(self) -> None:
        """Create both queues when missing."""
        for client in (self._work, self._poison):
            with _azure_errors("create_queue"), suppress(ResourceExistsError):
                client.create_queue()

    def send(self, body: str | Mapping[str, Any], delay_s: float = 0) -> str:
        """Send a message that never expires, invisible for `delay_s` (rounded up to whole seconds)."""
        check_delay(delay_s)
        return self._send(self._work, body_text(body), delay_s)

    def _send(self, client: QueueClient, text: str, delay_s: float) -> str:
        with _azure_errors("send"):
            message = client.send_message(
                encode_body(text),
                visibility_timeout=math.ceil(delay_s) if delay_s > 0 else None,
                time_to_live=-1,
            )
        return str(message.id)

    def receive(self, max_messages: int, visibility_timeout_s: float) -> list[Received]:
        """Receive up to `max_messages` (1-32); the visibility timeout is at least one second."""
        check_receive(max_messages, visibility_timeout_s)
        with _azure_errors("receive"):
            messages = list(
                self._work.receive_messages(
                    messages_per_page=max_messages,
                    max_messages=max_messages,
                    visibility_timeout=max(1, math.ceil(visibility_timeout_s)),
                )
            )
        return [
            Received(
                str(m.id),
                str(m.pop_receipt),
                int(m.dequeue_count or 0),
                decode_body(str(m.content)),
            )
            for m in messages
        ]

    def extend(self, received: Received, visibility_timeout_s: float) -> Received:
        """Update the message's visibility; returns it with the new pop receipt."""
        check_delay(visibility_timeout_s)
        with _azure_errors("extend"):
            updated = self._work.update_message(
                received.id,
                pop_receipt=received.pop_receipt,
                visibility_timeout=math.ceil(visibility_timeout_s),
            )
        return Received(
            received.id, str(updated.pop_receipt), received.dequeue_count, received.body
        )

    def delete(self, received: Received) -> None:
        """Delete the message (`StaleReceipt` when the receipt is no longer valid)."""
        with _azure_errors("delete"):
            self._work.delete_message(received.id, pop_receipt=received.pop_receipt)

    def send_poison(self, body: str | Mapping[str, Any]) -> str:
        """Send a message to `<name>-poison`."""
        return self._send(self._poison, body_text(body), 0)

    def approximate_counts(self) -> tuple[int, int]:
        """`approximate_message_count` of both queues (one properties call each)."""
        return self._count(self._work), self._count(self._poison)

    @staticmethod
    def _count(client: QueueClient) -> int:
        with _azure_errors("properties"):
            return int(client.get_queue_properties().approximate_message_count or 0)

    def peek_poison(self, max_messages: int = 32) -> list[str]:
        """Bodies of up to `max_messages` poison messages (peek; nothing is dequeued)."""
        with _azure_errors("peek"):
            messages = self._poison.peek_messages(max_messages=max(1, min(32, max_messages)))
        return [decode_body(str(m.content)) for m in messages]

    def close(self) -> None:
        """Close the HTTP sessions."""
        self._work.close()
        self._poison.close()
