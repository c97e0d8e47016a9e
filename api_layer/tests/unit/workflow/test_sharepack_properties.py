"""Property-based tests: the two front ends agree, exports round-trip, order never changes the hash, and no
input bytes produce anything but a share-pack rejection (a 4xx problem)."""

from __future__ import annotations

import io
import random
import zipfile
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbrx_api.workflow.models.errors import SharePackRejected
from dbrx_api.workflow.models.pack import AnySharePack, canonical_config, record_hash
from dbrx_api.workflow.parsers import export_excel, export_yaml
from dbrx_api.workflow.sharepack import load_sharepack
from dbrx_api.workflow.sharepack_template import build_template_xlsx
from fixtures.sharepack_strategies import share_packs
from fixtures.sharepacks import LIMITS

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(share_packs())
def test_yaml_round_trip(pack: AnySharePack) -> None:
    assert load_sharepack("p.yaml", export_yaml(pack).encode("utf-8"), LIMITS).model == pack


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(share_packs())
def test_excel_round_trip_and_front_ends_agree(pack: AnySharePack) -> None:
    from_excel = load_sharepack("p.xlsx", export_excel(pack), LIMITS)
    from_yaml = load_sharepack("p.yaml", export_yaml(pack).encode("utf-8"), LIMITS)
    assert from_excel.model == pack
    assert from_excel.record_hash == from_yaml.record_hash == record_hash(pack)
    assert {w.type for w in from_excel.warnings} == {w.type for w in from_yaml.warnings}


@PROPERTY_SETTINGS
@given(share_packs(), st.randoms(use_true_random=False))
def test_hash_is_invariant_under_reordering(pack: AnySharePack, rng: random.Random) -> None:
    document = canonical_config(pack)

    def shuffle(node: Any) -> Any:
        if isinstance(node, dict):
            items = list(node.items())
            rng.shuffle(items)
            return {key: shuffle(value) for key, value in items}
        if isinstance(node, list):
            values = [shuffle(value) for value in node]
            rng.shuffle(values)
            return values
        return node

    shuffled = shuffle(document)
    for share in shuffled.get("share", []):
        for pipeline in share.get("pipelines", []):
            if isinstance(pipeline, dict) and "key_columns" in pipeline:
                original = next(
                    p
                    for s in document["share"]
                    for p in s.get("pipelines", [])
                    if p["name_prefix"] == pipeline["name_prefix"]
                )
                pipeline["key_columns"] = original["key_columns"]  # the one ordered list
    text = yaml.safe_dump(shuffled, allow_unicode=True, sort_keys=False)
    assert load_sharepack("p.yaml", text.encode("utf-8"), LIMITS).record_hash == record_hash(pack)


def _assert_only_rejections(filename: str, data: bytes) -> None:
    try:
        load_sharepack(filename, data, LIMITS)
    except SharePackRejected as problem:
        _check_problem(problem)


def _check_problem(problem: SharePackRejected) -> None:
    assert 400 <= problem.status_code < 500
    assert problem.issues
    assert all(issue.severity == "error" for issue in problem.issues)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from(["p.yaml", "p.yml", "p.xlsx", "p.xls", "p.txt"]))
def test_arbitrary_bytes_give_a_4xx_problem(data: bytes, filename: str) -> None:
    _assert_only_rejections(filename, data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_as_yaml(text: str) -> None:
    _assert_only_rejections("p.yaml", text.encode("utf-8", errors="surrogatepass"))


JSONISH = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "metadata",
                    "recipient",
                    "share",
                    "name",
                    "type",
                    "pipelines",
                    "share_assets",
                    "schedule",
                    "x",
                ]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSONISH)
def test_arbitrary_structures_as_yaml(document: Any) -> None:
    _assert_only_rejections(
        "p.yaml",
        yaml.safe_dump(document, allow_unicode=True).encode("utf-8", errors="surrogatepass"),
    )


TEMPLATE = build_template_xlsx()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(TEMPLATE) - 1), st.integers(0, 255)), min_size=1, max_size=8
    )
)
def test_corrupted_workbooks_give_a_4xx_problem(flips: list[tuple[int, int]]) -> None:
    data = bytearray(TEMPLATE)
    for offset, value in flips:
        data[offset] = value
    _assert_only_rejections("p.xlsx", bytes(data))


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(sorted(zipfile.ZipFile(io.BytesIO(TEMPLATE)).namelist())),
    st.binary(max_size=300),
)
def test_replaced_workbook_parts_give_a_4xx_problem(member: str, content: bytes) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(TEMPLATE)) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            target.writestr(name, content if name == member else source.read(name))
    _assert_only_rejections("p.xlsx", buffer.getvalue())
