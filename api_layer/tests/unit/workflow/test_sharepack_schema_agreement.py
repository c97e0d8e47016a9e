"""schema.json and the service agree on the sample packs and the invalid-file corpus (docs/SHAREPACK.md §2.2).

Each YAML file is validated twice: by `GET /workflow/sharepack/schema.json` (what an editor shows) and by the
service's offline validation (`load_sharepack`). A file accepted by one must be accepted by the other, except for
the corpus cases listed below, whose rule the schema does not state; the lists are exact, so a rule added to the
schema (or a case that stops disagreeing) fails here until its entry is removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from dbrx_api.workflow.models.errors import SharePackRejected
from dbrx_api.workflow.models.json_schema import sharepack_json_schema
from dbrx_api.workflow.sharepack import parse_document
from fixtures.sharepacks import LIMITS, load
from unit.workflow.test_sharepack_corpus import ALL_CASES, Case

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "sharepack_templates").glob("*.yaml"))

# Rules a JSON Schema cannot express: comparisons between values, case-insensitive uniqueness, references from
# one entry to another, and grammars with numeric bounds inside a string.
NOT_EXPRESSIBLE: dict[str, str] = {
    "alias-conflict": "both aliases set *and different*: the schema cannot compare two values",
    "servicenow-alias-conflict": "same: servicenow and servicenow_ticket may both be set when equal",
    "nested-schedule-wrong-key": "the nested schedule's key must equal the pipeline's source_asset",
    "cron-step-too-large": "Quartz cron field ranges (a step of 75 minutes) are semantics, not shape",
    "too-many-tags": "the tag limit counts the share's tags and the pipeline's together",
    "same-asset-different-options": "one asset named twice (any case) with different options",
    "default-aliases-clash": "two assets whose default shared_as names collide",
    "too-many-notebooks": "a count of the entries of one kind (notebook paths) among all assets",
    "pipeline-source-not-shared": "a pipeline's source_asset must be one of the share's assets",
    "pipeline-source-removed": "a pipeline's source_asset must not be listed for removal",
    "asset-removed-and-added": "an asset in both the add and the remove list",
    "ip-added-and-removed": "an address in both the add and the remove list",
    "key-columns-repeated": "key columns unique ignoring case",
    "same-target": "two pipelines writing the same target table (ignoring case)",
    "target-is-source": "a pipeline's target equal to its source",
    "pipeline-names-differ-in-case": "pipeline name prefixes unique ignoring case",
    "recipient-names-differ-in-case": "recipient names unique ignoring case",
    "recipient-property-keys-differ-in-case": "property keys unique ignoring case",
}

# Rules a JSON Schema could state but schema.json does not yet (the generated schema has types, enums, required
# keys and unknown keys only: lengths, ranges, name grammars and per-type fields live in the validators).
SCHEMA_GAPS: dict[str, str] = {
    "empty-required-string": "blank required text (a pattern \\S)",
    "too-long": "text length limits (maxLength)",
    "out-of-range": "integer bounds (minimum/maximum)",
    "pack-empty": "at least one recipient or share",
    "email-only-field": "e-mail address grammar",
    "principal": "principal grammar (e-mail or group name)",
    "org-id": "Databricks sharing identifier grammar",
    "org-on-d2o": "recipient_databricks_org only on D2D (if/then on type)",
    "grace-days-on-d2d": "token_rotation_grace_days only on D2O (if/then on type)",
    "share-tag": "tag grammar",
    "shared-as": "shared_as grammar",
    "asset-four-parts": "asset name grammar",
    "notebook-path": "notebook path grammar",
    "pipeline-source-two-parts": "three-part source_asset",
    "options-on-removal": "no options on assets listed for removal",
    "cdf-with-history": "cdf_enabled excludes history_data_sharing_status",
    "partition-value-and-key": "a partition value has value or recipient_property_key, not both",
    "asset-type-does-not-fit-name": "the declared type against the number of parts of the name",
}


class _Yaml12Loader(yaml.SafeLoader):
    """Reads scalars as YAML 1.2 editors do: dates stay text (what yaml-language-server validates)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_VALIDATOR = jsonschema_rs.Draft202012Validator(sharepack_json_schema())


def _is_document(filename: str, data: bytes) -> bool:
    """Whether the service reads the file as a YAML document at all (stage 1).

    Rules of the file rather than of its content (type, size, encoding, YAML syntax, tags, aliases, nesting and
    node limits) have no JSON document for a schema to look at; Excel workbooks are not the YAML form the schema
    describes (their own rules are covered by the corpus test).
    """
    if not filename.lower().endswith((".yaml", ".yml")):
        return False
    try:
        parse_document(filename, data, LIMITS)
    except SharePackRejected:
        return False
    return True


def _schema_accepts(data: bytes) -> bool:
    document: Any = yaml.load(data, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    return not list(_VALIDATOR.iter_errors(document))


def _service_accepts(filename: str, data: bytes) -> bool:
    try:
        load(filename, data, allow_local_urls=True)  # the local sample targets the emulator
    except SharePackRejected:
        return False
    return True


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.name for sample in SAMPLES])
def test_every_sample_pack_is_accepted_by_both(sample: Path) -> None:
    data = sample.read_bytes()
    assert _is_document(sample.name, data)
    assert _schema_accepts(data)
    assert _service_accepts(sample.name, data)


def test_samples_are_found() -> None:
    assert {"sharepack_example.yaml", "sharepack_local_emulator.yaml"} <= {s.name for s in SAMPLES}


YAML_DOCUMENTS = [case for case in ALL_CASES if _is_document(case.filename, case.data())]


def test_lists_name_corpus_cases_only() -> None:
    ids = {case.id for case in YAML_DOCUMENTS}
    assert set(NOT_EXPRESSIBLE) <= ids
    assert set(SCHEMA_GAPS) <= ids
    assert not set(NOT_EXPRESSIBLE) & set(SCHEMA_GAPS)
    assert len(YAML_DOCUMENTS) >= 40


@pytest.mark.parametrize("case", YAML_DOCUMENTS, ids=[case.id for case in YAML_DOCUMENTS])
def test_schema_and_service_agree_on_corpus_file(case: Case) -> None:
    data = case.data()
    schema_ok = _schema_accepts(data)
    service_ok = _service_accepts(case.filename, data)
    assert not service_ok, "corpus files are invalid"
    if case.id in NOT_EXPRESSIBLE or case.id in SCHEMA_GAPS:
        # Listed: the schema accepts what only the service's own checks refuse.
        assert schema_ok, f"{case.id}: the schema now refuses it; remove it from the list"
    else:
        assert not schema_ok, f"{case.id}: the service refuses it, the schema accepts it"
