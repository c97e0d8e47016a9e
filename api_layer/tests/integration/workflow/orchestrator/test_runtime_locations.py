"""Failed steps and run-time warnings name the uploaded file's entry and line (docs/SHAREPACK.md §13.4)."""

from __future__ import annotations

from typing import Any

import pytest

from dbrx_api.workflow.models.pack import parse_canonical
from dbrx_api.workflow.validators.locator import PackLocator
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import (
    load_yaml,
    provision,
    refuse_second_share_creation,
    sample_pack,
    store_yaml,
)
from fixtures.sharepacks import line_of

pytestmark = pytest.mark.integration


def test_a_failed_step_and_the_warnings_carry_the_files_path_and_line(
    make_orch_ctx: Any, orch_emu: Emu
) -> None:
    ctx = make_orch_ctx(reconcile_concurrency=1)
    text = sample_pack(orch_emu.url)
    data = text.encode()
    stored = store_yaml(ctx.pool, text)
    # sales_share is created second (canonical order) but is the file's first share.
    refuse_second_share_creation(orch_emu)

    report = provision(ctx, stored)

    assert report.outcome.result == "FAILED"
    assert report.outcome.error_step == "share:sales_share"
    share_line = line_of(data, "- name: sales_share")
    [failed] = (report.outcome.summary or {})["failed_steps"]
    assert (failed["step"], failed["loc"], failed["line"]) == (
        "share:sales_share",
        "share[0]",
        share_line,
    )
    assert [(i["loc"], i["line"]) for i in report.outcome.error()["issues"]] == [
        ("share[0]", share_line)
    ]
    # UPDATE on missing recipients: warned at the file's entries, with their lines.
    missing = {
        w["loc"]: w["line"]
        for w in (report.outcome.summary or {})["warnings"]
        if w["type"] == "update_created_missing"
    }
    assert missing["recipient[0]"] == line_of(data, "- name: partner_analytics")
    assert missing["recipient[1]"] == line_of(data, "- name: acme_external")


def test_the_stored_locator_round_trips_and_old_versions_fall_back(orch_emu: Emu) -> None:
    loaded = load_yaml(sample_pack(orch_emu.url))
    pack = parse_canonical(loaded.config)
    restored = PackLocator.from_json(loaded.locator.to_json(), pack)
    assert restored.recipient("acme_external") == "recipient[1]"
    assert restored.pipeline("sales_order_items_pl") == "share[0].pipelines[1]"
    path = "share[0].pipelines[1].source_asset"
    assert restored.position(path) == loaded.locator.position(path)
    assert restored.position(path).line is not None
    # A version stored before the locator column: canonical paths, no line.
    fallback = PackLocator.from_json(None, pack)
    assert fallback.recipient("acme_external") == "recipient[0]"
    assert fallback.position("recipient[0]").line is None
