"""I10: activation links and tokens returned by create and rotate never reach a table or a log record."""

from __future__ import annotations

import logging

import pytest
from psycopg import sql

from dbrx_api.workflow.context import WorkflowContext
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import provision, sample_pack, store_yaml

pytestmark = pytest.mark.integration


def secrets_of(emu: Emu) -> set[str]:
    """Every activation URL, activation code and bearer token the emulator issued."""
    found: set[str] = set()
    for recipient in emu.state()["sharing"]["recipients"]:
        for token in recipient.get("all_tokens") or []:
            for key in ("activation_code", "bearer_token"):
                if token.get(key):
                    found.add(str(token[key]))
        for token in recipient.get("tokens") or []:
            if token.get("activation_url"):
                found.add(str(token["activation_url"]))
    return found


def database_text(ctx: WorkflowContext) -> str:
    """Every row of every table of the workflow schema, as text."""
    parts: list[str] = []
    with ctx.pool.connection() as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'deltashare'"
        ).fetchall()
        for row in tables:
            query = sql.SQL("SELECT t::text AS line FROM deltashare.{} t").format(
                sql.Identifier(row["table_name"])
            )
            parts.extend(str(r["line"]) for r in conn.execute(query).fetchall())
    return "\n".join(parts)


def test_no_activation_link_or_token_is_stored_or_logged(
    orch_ctx: WorkflowContext, orch_emu: Emu, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dbrx_api")
    first = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, first).outcome.result == "COMPLETED"  # creates a D2O recipient
    orch_emu.activate("acme_external")  # the first token is downloaded: a bearer token exists
    rotating = sample_pack(orch_emu.url).replace("token_rotation: false", "token_rotation: true")
    second = store_yaml(orch_ctx.pool, rotating)
    report = provision(orch_ctx, second)
    assert report.outcome.result == "COMPLETED", report.outcome
    assert report.outcome.summary is not None
    assert report.outcome.summary["rotated"] == 1

    secrets = secrets_of(orch_emu)
    assert len(secrets) >= 4  # two activation codes and links, one bearer token
    stored = database_text(orch_ctx)
    assert "activation_link_issued" in stored  # the create step says a link was issued, without it
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    for secret in secrets:
        assert secret not in stored
        assert secret not in logged
