"""Queue message bodies, base64 codec, backoff and the managed-identity credential (pure)."""

from __future__ import annotations

import base64
import contextlib
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from hypothesis import given
from hypothesis import strategies as st

from dbrx_api.workflow.queue.azure import ManagedIdentityCredential, decode_body, encode_body
from dbrx_api.workflow.queue.consumer import retry_backoff_s
from dbrx_api.workflow.queue.messages import MalformedMessage, WorkMessage, poison_body

PACK_ID = "5f0c2a8e-3b1d-4c55-9d0e-7a1f2b3c4d5e"


def test_round_trip_and_size() -> None:
    message = WorkMessage(uuid.uuid4(), 3, attempt=2, request_id="0d9c51a2e4")
    text = message.to_json()
    assert json.loads(text) == {
        "v": 1,
        "share_pack_id": str(message.share_pack_id),
        "version": 3,
        "attempt": 2,
        "request_id": "0d9c51a2e4",
    }
    assert len(text.encode()) < 1024
    assert WorkMessage.from_json(text) == message
    assert message.next_attempt().attempt == 3


def test_unknown_members_are_ignored_and_informational_fields_tolerated() -> None:
    pack = uuid.uuid4()
    parsed = WorkMessage.from_json(
        json.dumps(
            {
                "v": 9,
                "share_pack_id": str(pack),
                "version": 1,
                "attempt": "x",
                "request_id": "bad id!",
                "z": 1,
            }
        )
    )
    assert parsed == WorkMessage(pack, 1, attempt=1, request_id=None)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1]",
        json.dumps({"version": 1}),
        json.dumps({"share_pack_id": "nope", "version": 1}),
        json.dumps({"share_pack_id": PACK_ID}),
        json.dumps({"share_pack_id": PACK_ID, "version": 0}),
        json.dumps({"share_pack_id": PACK_ID, "version": True}),
        json.dumps({"share_pack_id": PACK_ID, "version": "2"}),
    ],
)
def test_malformed_bodies(body: str) -> None:
    with pytest.raises(MalformedMessage):
        WorkMessage.from_json(body)


@given(st.text(max_size=300))
def test_arbitrary_text_only_raises_malformed(body: str) -> None:
    with contextlib.suppress(MalformedMessage):
        WorkMessage.from_json(body)


def test_poison_body_embeds_json_or_text() -> None:
    at = datetime(2026, 3, 2, 7, 0, 3, 511_000, tzinfo=UTC)
    as_json = json.loads(
        poison_body(
            reason="malformed", dequeue_count=6, message_id="m", original='{"a":1}', poisoned_at=at
        )
    )
    assert as_json == {
        "v": 1,
        "reason": "malformed",
        "dequeue_count": 6,
        "message_id": "m",
        "poisoned_at": "2026-03-02T07:00:03.511Z",
        "original": {"a": 1},
    }
    as_text = json.loads(
        poison_body(reason="malformed", dequeue_count=1, message_id="m", original="x" * 100_000)
    )
    assert as_text["original"] == "x" * 16_384


def test_base64_codec_and_plain_json_fallback() -> None:
    text = '{"v":1,"é":"ü"}'
    encoded = encode_body(text)
    assert base64.b64decode(encoded).decode() == text
    assert decode_body(encoded) == text
    assert decode_body(text) == text  # written by a tool without the encoding policy
    assert decode_body("not base64 !!") == "not base64 !!"


def test_backoff_doubles_with_jitter_and_cap() -> None:
    rng = random.Random(1)
    values = [retry_backoff_s(a, base_s=30, cap_s=900, rng=rng) for a in (1, 2, 3, 10)]
    assert 24 <= values[0] <= 36
    assert 48 <= values[1] <= 72
    assert 96 <= values[2] <= 144
    assert 720 <= values[3] <= 1080


class FakeMsal:
    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self.calls: list[dict[str, Any]] = []

    def acquire_token_for_client(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return self.result


def test_managed_identity_credential_asks_msal_for_the_storage_resource() -> None:
    fake = FakeMsal({"access_token": "tok", "expires_in": 3600})
    token = ManagedIdentityCredential(msal_client=fake).get_token(
        "https://storage.azure.com/.default"
    )
    assert token.token == "tok"
    assert token.expires_on >= int(datetime.now(UTC).timestamp()) + 3500
    assert fake.calls == [{"resource": "https://storage.azure.com", "claims_challenge": None}]


def test_managed_identity_failure_is_an_authentication_error() -> None:
    fake = FakeMsal({"error": "invalid_resource", "error_description": "secret-ish detail"})
    with pytest.raises(ClientAuthenticationError, match="invalid_resource"):
        ManagedIdentityCredential(msal_client=fake).get_token("https://storage.azure.com/.default")
