"""Contract tests: Unity Catalog volumes and registered models, and shares holding them (docs/EMULATOR.md §12.2 X15)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, InvalidState, NotFound
from databricks.sdk.service.catalog import VolumeType
from databricks.sdk.service.sharing import (
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dbrx_emulator.testing import Emu

pytestmark = pytest.mark.contract

VOLUME = SharedDataObjectDataObjectType.VOLUME
MODEL = SharedDataObjectDataObjectType.MODEL


def _seed() -> dict[str, Any]:
    return {
        "catalogs": [
            {
                "name": "ml",
                "schemas": [
                    {
                        "name": "assets",
                        "tables": [{"name": "features", "columns": ["id BIGINT"]}],
                        "volumes": [
                            {"name": "landing", "comment": "Raw files"},
                            {
                                "name": "exports",
                                "volume_type": "EXTERNAL",
                                "storage_location": "abfss://ext@storage.dfs.core.windows.net/exports",
                            },
                        ],
                        "models": [{"name": "churn", "comment": "Churn model"}, {"name": "ltv"}],
                    },
                    {"name": "other", "volumes": [{"name": "landing"}]},
                ],
            }
        ]
    }


@pytest.fixture
def w(emu: Emu, emu_client: WorkspaceClient) -> WorkspaceClient:
    emu.reset(seed=_seed())
    return emu_client


def _add(*objects: SharedDataObject) -> list[SharedDataObjectUpdate]:
    return [
        SharedDataObjectUpdate(action=SharedDataObjectUpdateAction.ADD, data_object=obj)
        for obj in objects
    ]


def test_volumes_read_and_list_as_the_sdk_parses_them(w: WorkspaceClient) -> None:
    landing = w.volumes.read("ML.Assets.Landing")

    assert landing.full_name == "ml.assets.landing"
    assert landing.volume_type == VolumeType.MANAGED
    assert landing.comment == "Raw files"
    assert landing.volume_id
    assert landing.storage_location
    assert landing.owner
    assert [v.name for v in w.volumes.list("ml", "assets")] == ["exports", "landing"]
    exports = w.volumes.read("ml.assets.exports")
    assert exports.volume_type == VolumeType.EXTERNAL
    assert exports.storage_location == "abfss://ext@storage.dfs.core.windows.net/exports"


def test_registered_models_get_and_list(w: WorkspaceClient) -> None:
    churn = w.registered_models.get("ml.assets.churn")

    assert churn.full_name == "ml.assets.churn"
    assert churn.comment == "Churn model"
    assert [m.name for m in w.registered_models.list(catalog_name="ml", schema_name="assets")] == [
        "churn",
        "ltv",
    ]
    assert {m.full_name for m in w.registered_models.list()} == {
        "ml.assets.churn",
        "ml.assets.ltv",
    }


def test_missing_volumes_and_models_are_not_found(w: WorkspaceClient) -> None:
    with pytest.raises(NotFound, match=re.escape("Volume 'ml.assets.nope' does not exist.")):
        w.volumes.read("ml.assets.nope")
    with pytest.raises(
        NotFound, match=re.escape("Registered model 'ml.assets.nope' does not exist.")
    ):
        w.registered_models.get("ml.assets.nope")
    with pytest.raises(NotFound, match=re.escape("Schema 'ml.nope' does not exist.")):
        w.volumes.read("ml.nope.landing")
    with pytest.raises(NotFound):
        list(w.volumes.list("ml", "nope"))
    # A table is not a volume.
    with pytest.raises(NotFound):
        w.volumes.read("ml.assets.features")


def test_a_share_holds_volumes_and_models_under_their_string_alias(w: WorkspaceClient) -> None:
    w.shares.create("s")
    info = w.shares.update(
        "s",
        updates=_add(
            SharedDataObject(name="ml.assets.landing", data_object_type=VOLUME),
            SharedDataObject(
                name="ml.assets.churn", data_object_type=MODEL, string_shared_as="serving.churn"
            ),
        ),
    )

    objects = {o.name: o for o in info.objects or []}
    assert objects["ml.assets.landing"].data_object_type == VOLUME
    assert objects["ml.assets.landing"].string_shared_as == "assets.landing"
    assert objects["ml.assets.landing"].shared_as is None
    assert objects["ml.assets.churn"].data_object_type == MODEL
    assert objects["ml.assets.churn"].string_shared_as == "serving.churn"
    shared = w.shares.get("s", include_shared_data=True)
    assert {(o.name, o.data_object_type) for o in shared.objects or []} == {
        ("ml.assets.landing", VOLUME),
        ("ml.assets.churn", MODEL),
    }
    removed = w.shares.update(
        "s",
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.REMOVE,
                data_object=SharedDataObject(name="ml.assets.churn"),
            )
        ],
    )
    assert [o.name for o in removed.objects or []] == ["ml.assets.landing"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            SharedDataObject(name="ml.assets.nope", data_object_type=VOLUME),
            "Volume 'ml.assets.nope' does not exist.",
        ),
        (
            SharedDataObject(name="ml.assets.nope", data_object_type=MODEL),
            "Registered model 'ml.assets.nope' does not exist.",
        ),
    ],
)
def test_adding_a_missing_volume_or_model_is_not_found(
    w: WorkspaceClient, obj: SharedDataObject, message: str
) -> None:
    w.shares.create("s")
    with pytest.raises(NotFound, match=re.escape(message)):
        w.shares.update("s", updates=_add(obj))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            SharedDataObject(name="ml.assets.landing", data_object_type=VOLUME, shared_as="a.b"),
            "shared_as is not allowed for VOLUME 'ml.assets.landing': use string_shared_as.",
        ),
        (
            SharedDataObject(name="ml.assets.churn", data_object_type=MODEL, cdf_enabled=True),
            "cdf_enabled is not supported for MODEL",
        ),
        (
            SharedDataObject(name="ml.assets.churn", data_object_type=MODEL, start_version=0),
            "start_version is not supported for MODEL",
        ),
        (
            SharedDataObject(
                name="ml.assets.landing", data_object_type=VOLUME, string_shared_as="one_part"
            ),
            "Invalid string_shared_as 'one_part'",
        ),
        (
            SharedDataObject(name="ml.assets.churn", data_object_type=VOLUME),
            "Volume 'ml.assets.churn' does not exist.",
        ),
    ],
)
def test_volume_and_model_options_are_refused_and_nothing_is_applied(
    w: WorkspaceClient, obj: SharedDataObject, message: str
) -> None:
    w.shares.create("s")
    with pytest.raises((InvalidParameterValue, NotFound), match=re.escape(message)):
        w.shares.update(
            "s",
            updates=_add(SharedDataObject(name="ml.assets.ltv", data_object_type=MODEL), obj),
        )
    assert not w.shares.get("s", include_shared_data=True).objects


def test_history_and_partitions_are_refused_on_the_wire(emu: Emu, w: WorkspaceClient) -> None:
    w.shares.create("s")
    for extra in (
        {"history_data_sharing_status": "ENABLED"},
        {"partitions": [{"values": [{"name": "p", "op": "EQUAL", "value": "x"}]}]},
    ):
        body = {
            "updates": [
                {
                    "action": "ADD",
                    "data_object": {
                        "name": "ml.assets.landing",
                        "data_object_type": "VOLUME",
                        **extra,
                    },
                }
            ]
        }
        with pytest.raises(InvalidParameterValue, match=re.escape("is not supported for VOLUME")):
            w.api_client.do("PATCH", "/api/2.1/unity-catalog/shares/s", body=body)


def test_aliases_are_unique_within_a_share_and_a_shared_schema_excludes_its_volumes(
    w: WorkspaceClient,
) -> None:
    w.shares.create("s")
    w.shares.update(
        "s", updates=_add(SharedDataObject(name="ml.assets.landing", data_object_type=VOLUME))
    )

    with pytest.raises(InvalidParameterValue, match=re.escape("'assets.landing' is already used")):
        w.shares.update(
            "s",
            updates=_add(
                SharedDataObject(
                    name="ml.other.landing",
                    data_object_type=VOLUME,
                    string_shared_as="assets.landing",
                )
            ),
        )
    # A table alias may not take a volume's alias either.
    with pytest.raises(InvalidParameterValue, match=re.escape("'assets.landing' is already used")):
        w.shares.update(
            "s",
            updates=_add(SharedDataObject(name="ml.assets.features", shared_as="assets.landing")),
        )
    with pytest.raises(
        InvalidParameterValue, match=re.escape("its table ml.assets.landing is already shared")
    ):
        w.shares.update(
            "s",
            updates=_add(
                SharedDataObject(
                    name="ml.assets", data_object_type=SharedDataObjectDataObjectType.SCHEMA
                )
            ),
        )


def test_per_share_volume_limit(emu: Emu, emu_client: WorkspaceClient) -> None:
    volumes = [{"name": f"v{i:04d}"} for i in range(1001)]
    emu.reset(
        seed={"catalogs": [{"name": "ml", "schemas": [{"name": "bulk", "volumes": volumes}]}]}
    )
    emu_client.shares.create("s")
    for start in range(0, 1000, 100):
        emu_client.shares.update(
            "s",
            updates=_add(
                *(
                    SharedDataObject(name=f"ml.bulk.v{i:04d}", data_object_type=VOLUME)
                    for i in range(start, start + 100)
                )
            ),
        )
    with pytest.raises(InvalidParameterValue, match=re.escape("at most 1000 volumes")):
        emu_client.shares.update(
            "s", updates=_add(SharedDataObject(name="ml.bulk.v1000", data_object_type=VOLUME))
        )


def test_seeded_shares_may_hold_volumes_and_models(emu: Emu, emu_client: WorkspaceClient) -> None:
    seed = _seed()
    seed["shares"] = [
        {
            "name": "seeded",
            "objects": [
                {"name": "ml.assets.landing", "data_object_type": "VOLUME"},
                {"name": "ml.assets.ltv", "data_object_type": "MODEL"},
            ],
        }
    ]
    emu.reset(seed=seed)

    shared = emu_client.shares.get("seeded", include_shared_data=True)
    assert {(o.name, o.string_shared_as) for o in shared.objects or []} == {
        ("ml.assets.landing", "assets.landing"),
        ("ml.assets.ltv", "assets.ltv"),
    }
    seed["shares"][0]["objects"].append({"name": "ml.assets.gone", "data_object_type": "MODEL"})
    with pytest.raises(
        AssertionError, match=re.escape("model 'ml.assets.gone' is not in the seed")
    ):
        emu.reset(seed=seed)


def test_a_schema_holding_only_a_volume_or_model_is_not_empty(w: WorkspaceClient) -> None:
    with pytest.raises(InvalidState, match=re.escape("it contains 1 volume(s).")):
        w.schemas.delete("ml.other")
    with pytest.raises(InvalidState, match=re.escape("2 volume(s), 2 registered model(s)")):
        w.schemas.delete("ml.assets")

    w.schemas.delete("ml.other", force=True)

    with pytest.raises(NotFound):
        w.volumes.read("ml.other.landing")
    assert w.volumes.read("ml.assets.landing").name == "landing"
