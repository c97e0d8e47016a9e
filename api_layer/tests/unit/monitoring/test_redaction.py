"""The redaction rules: every kind of secret the service handles is replaced, ordinary text is not."""

from __future__ import annotations

import pytest

from dbrx_api.monitoring.redaction import is_secret_key, redact

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJ0aWQiOiJ0LTEiLCJvaWQiOiJ1LTEifQ.c2lnbmF0dXJlLWJ5dGVz"
STORAGE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        (
            "link https://adb-1.7.azuredatabricks.net/delta_sharing/retrieve_config.html?Zm9vYmFyc2VjcmV0 ok",
            "Zm9vYmFyc2VjcmV0",
            "link https://adb-1.7.azuredatabricks.net/delta_sharing/retrieve_config.html?[REDACTED] ok",
        ),
        (f"Authorization: Bearer {JWT}", JWT, None),
        ("header was Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl", "header was Bearer [REDACTED]"),
        (f"token {JWT} in text", JWT, "token [REDACTED_JWT] in text"),
        (
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. unsigned",
            "eyJzdWIiOiIxIn0",
            "[REDACTED_JWT] unsigned",
        ),
        (
            "pat dapi0123456789abcdef0123456789abcdef-2 used",
            "dapi0123456789abcdef",
            "pat [REDACTED_PAT] used",
        ),
        ("emulator pat dapi-emulator", "dapi-emulator", "emulator pat [REDACTED_PAT]"),
        (
            f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={STORAGE_KEY};EndpointSuffix=x",
            STORAGE_KEY,
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=[REDACTED];EndpointSuffix=x",
        ),
        (
            "SharedAccessSignature=sv=2022-11-02&ss=b&sig=QUJD%2BREVG;BlobEndpoint=https://a",
            "QUJD%2BREVG",
            "SharedAccessSignature=[REDACTED];BlobEndpoint=https://a",
        ),
        (
            "GET https://a.blob.core.windows.net/c/b?sv=2022&sig=QUJD%2BREVG&se=2030",
            "QUJD%2BREVG",
            "GET https://a.blob.core.windows.net/c/b?sv=2022&sig=[REDACTED]&se=2030",
        ),
        (
            '{"sharing_code": "one-time-code-42"}',
            "one-time-code-42",
            '{"sharing_code": "[REDACTED]"}',
        ),
        ("sharing_code=one-time-code-42&x=1", "one-time-code-42", "sharing_code=[REDACTED]&x=1"),
        ("DD-API-KEY: 0123456789abcdef0123", "0123456789abcdef0123", "DD-API-KEY: [REDACTED]"),
        (
            "dsn postgresql://app:hunter2@db:5432/x",
            "hunter2",
            "dsn postgresql://app:[REDACTED]@db:5432/x",
        ),
        ("client_secret=s3cr3t-value", "s3cr3t-value", "client_secret=[REDACTED]"),
    ],
)
def test_secrets_are_replaced(text: str, secret: str, expected: str | None) -> None:
    redacted = redact(text)
    assert secret not in redacted
    if expected is not None:
        assert redacted == expected


@pytest.mark.parametrize(
    "text",
    [
        "share 'sales_eu' created in workspace emea-prd",
        "bearer token rejected: expired",
        "GET /recipients/acme?include_activation_link=true",
        "https://adb-1.7.azuredatabricks.net/api/2.1/unity-catalog/shares",
        "tokens: 2 active, expiring 2026-03-01",
    ],
)
def test_ordinary_text_is_untouched(text: str) -> None:
    assert redact(text) == text


def test_redaction_is_idempotent() -> None:
    once = redact(f"Authorization: Bearer {JWT} and dapi0123456789abcdef0123456789abcdef")
    assert redact(once) == once


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("activation_url", True),
        ("sharing_code", True),
        ("client_secret", True),
        ("DD-API-KEY", True),
        ("bearer_token", True),
        ("blob_connection_string", True),
        ("share_name", False),
        ("request_id", False),
        ("latency_ms", False),
    ],
)
def test_secret_key_names(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret
