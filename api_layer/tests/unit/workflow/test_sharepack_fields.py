"""Single-value rules: Quartz cron, names, principals, workspace URLs, IPs, time zones, assets, tags."""

from __future__ import annotations

import pytest

from dbrx_api.jobs.cron import unix_to_quartz
from dbrx_api.workflow.models.suggest import closest, edit_distance
from dbrx_api.workflow.validators.cron import check_quartz, check_timezone
from dbrx_api.workflow.validators.fields import (
    FieldError,
    check_email,
    check_ip,
    check_name,
    check_org_id,
    check_principal,
    check_shared_as,
    check_table_name,
    check_tag,
    check_text,
    check_workspace_url,
    default_shared_as,
    parse_asset_name,
)


def _code(call: object, *args: object) -> str:
    with pytest.raises(FieldError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.code


# ------------------------------------------------------------------------------------------ cron


@pytest.mark.parametrize(
    ("expression", "canonical", "high_frequency"),
    [
        ("0 0 2 * * ?", "0 0 2 * * ?", False),
        ("0  15 10 ? * mon-fri", "0 15 10 ? * MON-FRI", False),
        ("0 0 12 1/5 * ?", "0 0 12 1/5 * ?", False),
        ("0 11 11 11 11 ?", "0 11 11 11 11 ?", False),
        ("0 15 10 L * ?", "0 15 10 L * ?", False),
        ("0 15 10 L-2 * ?", "0 15 10 L-2 * ?", False),
        ("0 15 10 15W * ?", "0 15 10 15W * ?", False),
        ("0 15 10 LW * ?", "0 15 10 LW * ?", False),
        ("0 15 10 ? * 6L", "0 15 10 ? * 6L", False),
        ("0 15 10 ? * FRI#3", "0 15 10 ? * FRI#3", False),
        ("0 0 0 ? JAN,JUL 2 2027", "0 0 0 ? JAN,JUL 2 2027", False),
        ("*/10 * * * * ?", "*/10 * * * * ?", True),
        ("0,30 * * * * ?", "0,30 * * * * ?", True),
    ],
)
def test_valid_quartz(expression: str, canonical: str, high_frequency: bool) -> None:
    result = check_quartz(expression)
    assert (result.expression, result.high_frequency) == (canonical, high_frequency)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("0 0 2 * * *", "both set"),
        ("0 0 2 ? * ?", 'both "?"'),
        ("0 0 24 * * ?", "hours: 24 is outside 0-23"),
        ("60 0 0 * * ?", "seconds: 60"),
        ("0 0 0 0 * ?", "day-of-month: 0"),
        ("0 0 0 ? 13 *", "month: 13"),
        ("0 0 0 ? * 8", "day-of-week: 8"),
        ("0 0 0 ? * MON#6", "1-5"),
        ("0 0 10-5 * * ?", "ascending"),
        ("0 0/0 * * * ?", "at least 1"),
        ("0 0 0 * * ? 1969", "year: 1969"),
        ("0 0 0 * * ? 2026 1", "6 or 7 fields"),
        ("0 0", "6 or 7 fields"),
        ("0 0 ? * * ?", '"?" is only allowed'),
        ("0 0 0 5L * ?", "not a value"),
        ("0 0 0 ,1 * ?", "empty list item"),
    ],
)
def test_invalid_quartz(expression: str, fragment: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_quartz(expression)
    assert caught.value.code == "cron_invalid"
    assert fragment in caught.value.msg


@pytest.mark.parametrize(
    ("unix", "quartz"),
    [
        ("0 0 * * *", "0 0 0 * * ?"),
        ("30 2 * * 1-5", "0 30 2 ? * 2-6"),
        ("*/15 * * * *", "0 */15 * * * ?"),
        ("0 2 * * *", "0 0 2 * * ?"),
        ("0 9 * * 0", "0 0 9 ? * 1"),
        ("0 9 * * 7", "0 0 9 ? * 1"),
        ("0 9 * * 5-7", "0 0 9 ? * 6-7,1"),
        ("0 9 1 * *", "0 0 9 1 * ?"),
    ],
)
def test_unix_cron_gets_its_quartz_equivalent(unix: str, quartz: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_quartz(unix)
    assert caught.value.code == "cron_not_quartz"
    assert caught.value.hint == quartz
    assert f'Quartz equivalent: "{quartz}"' in caught.value.msg
    check_quartz(quartz)


def test_unix_cron_restricting_both_days_has_no_equivalent() -> None:
    assert unix_to_quartz("0 9 1 * 1") is None
    with pytest.raises(FieldError) as caught:
        check_quartz("0 9 1 * 1")
    assert caught.value.code == "cron_not_quartz"
    assert caught.value.hint is None
    assert "no single Quartz equivalent" in caught.value.msg


# ------------------------------------------------------------------------------------------ names and principals


@pytest.mark.parametrize("name", ["sales_share", "a", "x" * 255, "Ünïcode-name", "007"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("finance share", "spaces"),
        ("a.b", '"."'),
        ("a/b", '"/"'),
        ("a,b", "commas"),
        ("tab\tname", "control"),
        ("del\x7f", "control"),
        ("x" * 256, "256 characters"),
        ("", "empty"),
    ],
)
def test_invalid_names(name: str, reason: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_name(name)
    assert caught.value.code == "name_invalid"
    assert reason in caught.value.msg


def test_principals() -> None:
    assert check_principal("Jane.Doe+x@Example.COM") == ("jane.doe+x@example.com", True)
    assert check_principal("Data Platform (EU) & Co") == ("Data Platform (EU) & Co", False)
    for bad in (
        "john@@example.com",
        "a",
        "-admins",
        "x@example",
        "x@example.c",
        "a" * 65 + "@example.com",
    ):
        assert _code(check_principal, bad) == "principal_invalid"
    assert _code(check_email, "data-team") == "email_invalid"
    assert check_email("A@B.io") == "a@b.io"


# ------------------------------------------------------------------------------------------ workspace, org, IPs


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://ADB-1.7.AzureDatabricks.net/", "https://adb-1.7.azuredatabricks.net"),
        ("https://dbc-a1b2.cloud.databricks.com:443", "https://dbc-a1b2.cloud.databricks.com"),
        ("https://x.gcp.databricks.com", "https://x.gcp.databricks.com"),
        ("https://x.databricks.azure.us", "https://x.databricks.azure.us"),
        ("https://x.databricks.azure.cn", "https://x.databricks.azure.cn"),
    ],
)
def test_workspace_urls(url: str, canonical: str) -> None:
    assert check_workspace_url(url) == canonical


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://adb-1.7.azuredatabricks.net", "must use https"),
        ("https://adb-1.7.azuredatabricks.net/path", "path"),
        ("https://adb-1.7.azuredatabricks.net?o=1", "query"),
        ("https://adb-1.7.azuredatabricks.net#x", "fragment"),
        ("https://user@adb-1.7.azuredatabricks.net", "user information"),
        ("https://adb-1.7.azuredatabricks.net:8443", "port"),
        ("https://example.com", "not a Databricks workspace host"),
        ("https://azuredatabricks.net", "not a Databricks workspace host"),
        ("https://adb-1.7.azuredatabricks.net:99999", "not a valid URL"),
        ("http://127.0.0.1:8000", "must use https"),
    ],
)
def test_invalid_workspace_urls(url: str, reason: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_workspace_url(url)
    assert caught.value.code == "workspace_url_invalid"
    assert reason in caught.value.msg


def test_loopback_workspace_only_in_local_mode() -> None:
    assert (
        check_workspace_url("http://LOCALHOST:8765/", allow_local=True) == "http://localhost:8765"
    )
    with pytest.raises(FieldError, match="needs a port"):
        check_workspace_url("http://127.0.0.1", allow_local=True)


def test_org_ids() -> None:
    org = "AZURE:westeurope:0B3C6F8E-1A2B-4C5D-9E8F-123456789ABC"
    assert check_org_id(org) == org.lower()
    for bad in (
        "westeurope-123",
        "oci:eu:0b3c6f8e-1a2b-4c5d-9e8f-123456789abc",
        "aws:us_east:0b3c6f8e-1a2b-4c5d-9e8f-123456789abc",
    ):
        assert _code(check_org_id, bad) == "org_id_invalid"


@pytest.mark.parametrize(
    ("text", "canonical", "normalised"),
    [
        ("198.51.100.7", "198.51.100.7", False),
        ("198.51.100.7/32", "198.51.100.7", False),
        ("203.0.113.0/24", "203.0.113.0/24", False),
        ("203.0.113.9/24", "203.0.113.0/24", True),
        ("2001:DB8:1234:0:0:0:0:0/48", "2001:db8:1234::/48", False),
        ("2001:db8::1/128", "2001:db8::1", False),
        ("2001:db8::1/64", "2001:db8::/64", True),
    ],
)
def test_ips_are_canonical(text: str, canonical: str, normalised: bool) -> None:
    assert check_ip(text) == (canonical, normalised)


@pytest.mark.parametrize(
    "text", ["300.1.2.3", "10.0.0.0/33", "fe80::1%eth0", "010.0.0.1", "", "10.0.0.1 ", "host"]
)
def test_invalid_ips(text: str) -> None:
    assert _code(check_ip, text) == "ip_invalid"


# ------------------------------------------------------------------------------------------ time zones, assets, tags


def test_time_zones() -> None:
    assert check_timezone("europe/london") == "Europe/London"
    assert check_timezone("UTC") == "UTC"
    with pytest.raises(FieldError) as caught:
        check_timezone("Europe/Londn")
    assert (caught.value.code, caught.value.hint) == ("timezone_invalid", "Europe/London")
    assert _code(check_timezone, "+01:00") == "timezone_invalid"


def test_asset_names() -> None:
    table = parse_asset_name("Sales.Curated.Daily")
    assert (table.kind, table.name, table.schema_of_table) == (
        "table",
        "sales.curated.daily",
        "sales.curated",
    )
    assert parse_asset_name("fin.reporting").kind == "schema"
    notebook = parse_asset_name("/Workspace/Shared/Reports/Overview")
    assert (notebook.kind, notebook.name) == ("notebook", "/Workspace/Shared/Reports/Overview")
    assert default_shared_as(table) == "curated.daily"
    assert default_shared_as(notebook) == "Overview"
    for bad in ("single", "a.b.c.d", "a..b", "a.b c.d", "/x/", "/x//y", "/x,y"):
        assert _code(parse_asset_name, bad) == "asset_name_invalid"
    assert check_table_name("A.B.C") == "a.b.c"
    assert _code(check_table_name, "a.b") == "pipeline_source_invalid"


def test_shared_as() -> None:
    assert check_shared_as("Curated.Daily_1", "table") == "curated.daily_1"
    assert check_shared_as("reporting", "schema") == "reporting"
    assert check_shared_as("overview.py", "notebook") == "overview.py"
    assert _code(check_shared_as, "daily", "table") == "shared_as_invalid"
    assert _code(check_shared_as, "a.b", "schema") == "shared_as_invalid"
    assert _code(check_shared_as, "a b", "notebook") == "shared_as_invalid"


def test_tags_and_text() -> None:
    assert check_tag(" team ", " a=b ") == ("team", "a=b")
    assert check_tag("confidential", None) == ("confidential", None)
    for key, value in (("", "x"), ("a,b", "x"), ("a=b", None), ("k", "x,y"), ("k" * 256, None)):
        assert _code(check_tag, key, value) == "tags_invalid"
    assert check_text("line one\nline two\ttab") == "line one\nline two\ttab"
    assert _code(check_text, "bell\x07") == "type_mismatch"


def test_suggestions() -> None:
    assert edit_distance("share_asset", "share_assets") == 1
    assert edit_distance("abc", "xyz_long_word") == 3  # gives up past the limit
    assert closest("shar_assets", ["share_assets", "recipients"]) == "share_assets"
    assert closest("completely_else", ["share_assets"]) is None
