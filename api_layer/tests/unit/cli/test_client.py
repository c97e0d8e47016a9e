"""The HTTP client: Retry-After parsing, retry policy per call, multipart upload, response decoding."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from dbrx_api.cli.client import ApiClient, PackFile, parse_retry_after
from dbrx_api.cli.errors import NetworkError
from fixtures.cli import PACK_ID, PLAN_PATH, STATUS_PATH, UPLOAD_PATH, FakeApi, FakeClock, problem

NOW = datetime(2026, 3, 2, 7, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        ("0", 0.0),
        ("100000", 300.0),  # capped
        ("Mon, 02 Mar 2026 07:00:45 GMT", 45.0),
        ("Mon, 02 Mar 2026 06:59:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, lambda: NOW) == seconds


def _client(api: FakeApi, clock: FakeClock) -> ApiClient:
    return ApiClient(
        "http://api.test",
        token=None,
        workspace_url=None,
        timeout_s=5,
        transport=api.transport(),
        sleep=clock.sleep,
    )


def test_reads_retry_on_504_then_succeed() -> None:
    api = FakeApi().on(
        "GET", STATUS_PATH, problem(504, "gateway_timeout"), httpx.Response(200, json={"ok": 1})
    )
    clock = FakeClock()
    response = _client(api, clock).status(PACK_ID)
    assert response.status == 200
    assert response.body == {"ok": 1}
    assert clock.sleeps == [1.0]


def test_client_errors_are_not_retried() -> None:
    api = FakeApi().on("GET", STATUS_PATH, problem(429, "too_many_requests"))
    clock = FakeClock()
    assert _client(api, clock).status(PACK_ID).status == 429
    assert api.calls("GET", STATUS_PATH) == 1


def test_upload_network_error_is_raised_at_once() -> None:
    api = FakeApi().on("POST", UPLOAD_PATH, httpx.ReadTimeout("no answer"))
    clock = FakeClock()
    pack = PackFile(name="p.yaml", content=b"metadata: {}\n", media_type="application/yaml")
    with pytest.raises(NetworkError) as caught:
        _client(api, clock).upload(pack)
    assert (
        "no answer from http://api.test/workflow/sharepack/upload_and_validate in time"
        in caught.value.detail
    )
    assert clock.sleeps == []


def test_plan_sends_the_same_file_on_every_attempt() -> None:
    api = FakeApi().on(
        "POST", PLAN_PATH, httpx.ConnectError("reset"), httpx.Response(200, json={"valid": True})
    )
    pack = PackFile(name="p.xlsx", content=b"PK\x03\x04 workbook bytes", media_type="x")
    _client(api, FakeClock()).plan(pack, offline=True)
    bodies = [request.read() for request in api.requests]
    assert len(bodies) == 2
    assert all(b"PK\x03\x04 workbook bytes" in body for body in bodies)


def test_media_type_follows_the_extension(tmp_path: Path) -> None:
    base = tmp_path
    for name, media_type in (
        ("a.yaml", "application/yaml"),
        ("b.YML", "application/yaml"),
        ("c.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("d.xls", "application/octet-stream"),
    ):
        (base / name).write_bytes(b"x")
        assert PackFile.read(base / name).media_type == media_type


def test_non_json_bodies_are_kept_as_text() -> None:
    api = FakeApi().on(
        "GET",
        STATUS_PATH,
        httpx.Response(200, text="hello", headers={"content-type": "text/plain"}),
    )
    response = _client(api, FakeClock()).status(PACK_ID)
    assert response.body is None
    assert response.text == "hello"
    assert response.code is None
