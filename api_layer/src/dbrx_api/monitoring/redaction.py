"""Secret redaction applied to every log record before any sink sees it (docs/API.md §1.11).

A second line of defence: code must not log secrets in the first place, but if a bearer token, a JWT, a recipient
activation link, a sharing code, a Databricks PAT, a storage key or a Datadog API key slips into a message, an
exception text or an `extra` value, it is replaced here.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

# Cheap pre-check: text without any of these fragments cannot match a rule below.
_TRIGGER = re.compile(
    r"eyj|bearer|basic|dapi|dose|retrieve_config|accountkey|sharedaccess|sig=|password|pwd=|://|"
    r"token|secret|sharing_code|activation|api[-_]?key|authorization",
    re.IGNORECASE,
)

_SENSITIVE_NAMES = (
    r"sharing_code|activation_url|activation_link|bearer_token|access_token|refresh_token|id_token|"
    r"client_secret|oauth_secret|api[-_]?key|dd[-_]api[-_]key|x-api-key|authorization|password|token"
)

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Delta Sharing activation links: keep the host and path, drop the query/fragment carrying the token.
    (re.compile(r"(retrieve_config\.html)[?#][^\s\"'<>]*", re.IGNORECASE), rf"\1?{REDACTED}"),
    # JWTs (base64url header starting with `{"`), signed or not.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"), "[REDACTED_JWT]"),
    # Authorization schemes.
    (re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), rf"\1 {REDACTED}"),
    # Databricks personal access tokens and OAuth secrets.
    (re.compile(r"\bdapi[-_]?[A-Za-z0-9]{6,}(?:-\d+)?\b"), "[REDACTED_PAT]"),
    (re.compile(r"\bdose[0-9a-f]{16,}\b"), "[REDACTED_PAT]"),
    # Storage connection strings and SAS tokens.
    (re.compile(r"\b(SharedAccessSignature)=[^;\s\"']+", re.IGNORECASE), rf"\1={REDACTED}"),
    (
        re.compile(r"\b(AccountKey|SharedAccessKey|sig|password|pwd)=[^;&\s\"']+", re.IGNORECASE),
        rf"\1={REDACTED}",
    ),
    # Passwords in URLs (`postgresql://user:secret@host`).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s/]+@", re.IGNORECASE), rf"\1{REDACTED}@"),
    # key/value forms: JSON `"token": "…"`, query `token=…`, headers `DD-API-KEY: …`.
    (
        re.compile(
            rf"(?<![A-Za-z0-9_])([\"']?(?:{_SENSITIVE_NAMES})[\"']?\s*[:=]\s*[\"']?)"
            r"(?!\[REDACTED)[^\"'\s,;&}]+",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
)

_SECRET_KEY_NAME = re.compile(
    r"token|secret|password|passwd|authorization|api[-_]?key|sharing_code|activation_(url|link)|"
    r"connection_string|credential|cookie",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` with every recognised secret replaced."""
    if not _TRIGGER.search(text):
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def is_secret_key(name: str) -> bool:
    """Whether a structured field called `name` holds a secret (its text value is dropped entirely)."""
    return _SECRET_KEY_NAME.search(name) is not None
