"""The pydantic input models (validators/inputs.py) give the canonical values of the checks that canonicalise
(rules applied after the lenient reading, before the value is kept), also when an entry has other errors."""

from __future__ import annotations

from typing import Any

from dbrx_api.workflow.models.pack import SharePack
from fixtures.sharepacks import load, pack_yaml, rejection

ORG = "AZURE:WestEurope:0B3C6F8E-1A2B-4C5D-9E8F-123456789ABC"


def _d2d_org(pack: dict[str, Any]) -> None:
    pack["recipient"][1]["recipient_databricks_org"] = ORG


def test_org_id_is_lower_cased() -> None:
    model = load("p.yaml", pack_yaml(_d2d_org)).model
    assert isinstance(model, SharePack)
    recipient = next(r for r in model.recipient if r.type == "D2D")
    assert recipient.recipient_databricks_org == ORG.lower()


def test_metadata_values_are_canonical() -> None:
    def mutate(pack: dict[str, Any]) -> None:
        pack["metadata"].update(
            strategy="update", delta_share_region="emea", approver="A@Example.COM"
        )

    model = load("p.yaml", pack_yaml(mutate)).model
    assert model is not None
    metadata = model.metadata
    assert (metadata.strategy, metadata.delta_share_region, metadata.approver) == (
        "UPDATE",
        "EMEA",
        ["a@example.com"],
    )


def test_strategy_is_read_when_metadata_has_errors() -> None:
    def mutate(pack: dict[str, Any]) -> None:
        pack["metadata"].update(strategy="delete", business_line="")
        pack["recipient"] = ["r1"]
        pack["share"] = ["s1"]

    errors = {(issue.type, issue.loc) for issue in rejection("p.yaml", pack_yaml(mutate)).issues}
    assert errors == {("empty_value", "metadata.business_line")}


def test_type_rules_apply_when_other_fields_of_the_recipient_fail() -> None:
    """RecipientIn's model rules (docs/SHAREPACK.md §5) see the fields that validated even when another failed."""

    def mutate(pack: dict[str, Any]) -> None:
        d2d = pack["recipient"][1]
        d2d.update(recipient="not-an-email", token_expiry=30)
        del d2d["recipient_databricks_org"]

    errors = {(issue.type, issue.loc) for issue in rejection("p.yaml", pack_yaml(mutate)).issues}
    assert errors == {
        ("email_invalid", "recipient[1].recipient[0]"),
        ("field_not_allowed_for_type", "recipient[1].token_expiry"),
        ("d2d_org_required", "recipient[1]"),
    }


def test_nested_sections_are_reported_at_their_own_paths() -> None:
    """A section read inside another (a pipeline's schedule, an asset's partition values) reports at its own path
    and makes the outer field fail without a second issue."""

    def mutate(pack: dict[str, Any]) -> None:
        share = pack["share"][0]
        share["pipelines"][0]["schedule"] = {"cat.sch.t1": ["0 0 1 * * ?"]}
        share["share_assets"] = [
            {"name": "cat.sch.t1", "partitions": [{"values": [{"name": "c", "op": "EQUAL"}]}]}
        ]

    issues = rejection("p.yaml", pack_yaml(mutate)).issues
    assert {(issue.type, issue.loc) for issue in issues} == {
        ("schedule_invalid", "share[0].pipelines[0].schedule.cat.sch.t1"),
        ("asset_option_invalid", "share[0].share_assets[0].partitions[0].values[0]"),
    }
