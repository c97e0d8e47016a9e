"""Name rules and the one path-segment helper (docs/API.md §1.6, docs/SHAREPACK.md §2.3)."""

from __future__ import annotations

import re

import pytest

from dbrx_api.errors import ValidationFailed, encoded_separator_problem, validation_problem
from dbrx_api.schemas.common import (
    PIPELINE_NAME_PATTERN,
    UC_NAME_PATTERN,
    reserved_name_problem,
    uc_name_problem,
)
from dbrx_api.schemas.paths import path_segment
from dbrx_api.schemas.pipelines import pipeline_name_problem
from dbrx_api.workflow.validators.fields import name_problem

REFUSED = [
    ("victim#x", "must not contain '#'"),
    ("victim%23x", "must not contain '%'"),
    ("demo_share?x=1", "must not contain '?'"),
    ("a/b", "must not contain '/'"),
    ("x\x00", "must not contain U+0000"),
    ("a\tb", "must not contain U+0009"),
    ("x\x85", "must not contain U+0085"),
    (" lead", "must not start or end with whitespace"),
    ("trail ", "must not start or end with whitespace"),
    ("..", "must not be '..'"),
    (".", "must not be '.'"),
]
ACCEPTED = ["sales_eu", "victim\uff03x", "a\u2215b", "caf\u00e9", "Sales-EU_2024"]


@pytest.mark.parametrize(("name", "message"), REFUSED)
def test_reserved_rule_names_the_character(name: str, message: str) -> None:
    assert reserved_name_problem(name) == message
    assert uc_name_problem(name) == message
    assert pipeline_name_problem(name) == message
    assert re.match(UC_NAME_PATTERN, name) is None
    assert re.match(PIPELINE_NAME_PATTERN, name) is None


@pytest.mark.parametrize("name", ACCEPTED)
def test_valid_names_and_look_alikes_pass(name: str) -> None:
    assert uc_name_problem(name) is None
    assert pipeline_name_problem(name) is None
    assert re.match(UC_NAME_PATTERN, name)
    assert re.match(PIPELINE_NAME_PATTERN, name)


def test_uc_names_refuse_dots_and_spaces_pipeline_names_allow_them() -> None:
    assert uc_name_problem("a.b") == "must not contain '.'"
    assert uc_name_problem("a b") == "must not contain ' ' (U+0020)"
    assert pipeline_name_problem("daily sales v1.2") is None
    assert re.match(PIPELINE_NAME_PATTERN, "daily sales v1.2")


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("sales_eu", "sales_eu"),
        ("main.sales.orders", "main.sales.orders"),
        ("caf\u00e9", "caf%C3%A9"),
        ("with space", "with%20space"),
        ("victim\uff03x", "victim%EF%BC%83x"),
    ],
)
def test_path_segment_percent_encodes(name: str, encoded: str) -> None:
    assert path_segment(name) == encoded


@pytest.mark.parametrize("name", ["", *(name for name, _ in REFUSED)])
def test_path_segment_refuses_what_would_change_the_url(name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        path_segment(name)
    assert caught.value.code == "name_invalid"
    assert caught.value.status_code == 422


def test_validation_problem_is_name_invalid_when_a_name_failed() -> None:
    items = [
        {"loc": ["path", "name"], "msg": "name must not contain '#'", "type": "name_invalid"},
        {"loc": ["body"], "msg": "Field required", "type": "missing"},
    ]
    problem = validation_problem(items)
    assert problem.code == "name_invalid"
    assert problem.detail == "Invalid name in path parameter 'name': name must not contain '#'."
    assert problem.extra["errors"] == items
    other = validation_problem([items[1]])
    assert (other.code, other.detail) == ("validation_failed", "The request is invalid: body.")
    body = validation_problem(
        [{"loc": ["body", "recipients"], "msg": "recipient 'a%b' ...", "type": "name_invalid"}]
    )
    assert body.detail.startswith("Invalid name in body field 'recipients': ")


def test_encoded_separator_problem() -> None:
    problem = encoded_separator_problem()
    assert (problem.status_code, problem.code) == (422, "name_invalid")
    assert "'/'" in problem.detail


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fin?ance", '"?" is not allowed'),
        ("fin#ance", '"#" is not allowed'),
        ("fin%ance", '"%" is not allowed'),
        ("fin\x01ance", "control character U+0001 is not allowed"),
        ("a/b", '"/" is not allowed'),
    ],
)
def test_share_pack_rule_n_names_the_character(name: str, message: str) -> None:
    assert name_problem(name) == message
    assert name_problem(name, allow_dot=True) == message


def test_share_pack_pipeline_names_refuse_dot_segments() -> None:
    assert name_problem("..", allow_dot=True) == '".." alone is a URL dot segment'
    assert name_problem("v1.2", allow_dot=True) is None
