"""Contract tests: shares, share objects and grants (C10, C12, C15, C21 and the rules of docs/EMULATOR.md §7.4)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    BadRequest,
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceDoesNotExist,
)
from databricks.sdk.service.sharing import (
    AuthenticationType,
    Partition,
    PartitionValue,
    PartitionValueOp,
    PermissionsChange,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectHistoryDataSharingStatus,
    SharedDataObjectStatus,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dbrx_emulator.testing import Emu

pytestmark = pytest.mark.contract

UC = "/api/2.1/unity-catalog"
T = SharedDataObjectDataObjectType
ADD, REMOVE, UPDATE = (
    SharedDataObjectUpdateAction.ADD,
    SharedDataObjectUpdateAction.REMOVE,
    SharedDataObjectUpdateAction.UPDATE,
)


def _update(
    action: SharedDataObjectUpdateAction, name: str, **fields: Any
) -> SharedDataObjectUpdate:
    return SharedDataObjectUpdate(action=action, data_object=SharedDataObject(name=name, **fields))


@pytest.fixture
def share(emu_client: WorkspaceClient) -> str:
    emu_client.shares.create("s1", comment="first")
    return "s1"


def _objects(client: WorkspaceClient, name: str) -> list[SharedDataObject]:
    return client.shares.get(name, include_shared_data=True).objects or []


# ---------------------------------------------------------------------------------------------- C12, C10


def test_c12_shared_objects_get_server_filled_fields(
    emu: Emu, emu_client: WorkspaceClient, share: str
) -> None:
    result = emu_client.shares.update(
        share,
        updates=[
            _update(ADD, "main.sales.orders"),
            _update(ADD, "main.finance", data_object_type=T.SCHEMA),
        ],
    )

    by_name = {o.name: o for o in result.objects or []}
    table, schema = by_name["main.sales.orders"], by_name["main.finance"]
    assert table.data_object_type is T.TABLE  # omitted means TABLE
    assert table.shared_as == "sales.orders"
    assert table.added_at == emu.now_ms()
    assert table.added_by == "00000000-0000-0000-0000-00000000c0de"
    assert table.status is SharedDataObjectStatus.ACTIVE
    assert schema.string_shared_as == "finance"
    assert schema.shared_as is None
    assert [o.name for o in result.objects or []] == sorted(by_name)


def test_c10_share_comment_update_leaves_objects(
    emu: Emu, emu_client: WorkspaceClient, share: str
) -> None:
    emu_client.shares.update(share, updates=[_update(ADD, "main.sales.orders")])

    updated = emu_client.shares.update(share, comment="second")

    assert updated.comment == "second"
    assert [o.name for o in updated.objects or []] == ["main.sales.orders"]
    assert emu.calls("shares.update")[-1]["body"] == {"comment": "second"}


# ---------------------------------------------------------------------------------------------- C15 validation


def test_c15_more_than_100_updates_is_rejected_and_nothing_applied(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    tables = [{"name": f"t{i:03d}", "columns": ["id BIGINT"]} for i in range(101)]
    emu.reset(seed={"catalogs": [{"name": "big", "schemas": [{"name": "s", "tables": tables}]}]})
    emu_client.shares.create("s1")
    updates = [_update(ADD, f"big.s.t{i:03d}") for i in range(101)]

    with pytest.raises(
        InvalidParameterValue,
        match=f"^{re.escape('UpdateShare number of data objects to update exceeds limit 100')}$",
    ):
        emu_client.shares.update("s1", updates=updates)
    assert _objects(emu_client, "s1") == []

    applied = emu_client.shares.update("s1", updates=updates[:100])
    assert len(applied.objects or []) == 100


def test_c15_duplicate_object_in_one_call(emu_client: WorkspaceClient, share: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        emu_client.shares.update(
            share, updates=[_update(ADD, "main.sales.orders"), _update(REMOVE, "MAIN.sales.orders")]
        )

    assert str(caught.value) == (
        "UpdateShare duplicate updates on the same data object with data object type: TABLE, "
        "names: [MAIN.sales.orders]."
    )
    assert _objects(emu_client, share) == []


@pytest.mark.parametrize(
    ("name", "sent_as", "message"),
    [
        ("main.sales.v_orders", T.TABLE, "main.sales.v_orders is a VIEW and not a Table"),
        ("main.sales.orders", T.VIEW, "main.sales.orders is a table and not a VIEW"),
        (
            "main.sales.daily_sales",
            T.TABLE,
            "main.sales.daily_sales is a MATERIALIZED_VIEW and not a Table",
        ),
        (
            "main.sales.order_events",
            T.VIEW,
            "main.sales.order_events is a STREAMING_TABLE and not a VIEW",
        ),
        (
            "main.sales.revenue_metrics",
            T.VIEW,
            "main.sales.revenue_metrics is a METRIC_VIEW and cannot be shared.",
        ),
    ],
)
def test_c15_data_object_type_must_match_the_uc_object(
    emu_client: WorkspaceClient, share: str, name: str, sent_as: T, message: str
) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        emu_client.shares.update(share, updates=[_update(ADD, name, data_object_type=sent_as)])
    assert str(caught.value) == message


def test_c15_schema_and_its_tables_conflict_in_both_directions(
    emu_client: WorkspaceClient, share: str
) -> None:
    with pytest.raises(
        InvalidParameterValue, match=re.escape("because its schema main.sales is already shared")
    ):
        emu_client.shares.update(
            share,
            updates=[
                _update(ADD, "main.sales", data_object_type=T.SCHEMA),
                _update(ADD, "main.sales.orders"),
            ],
        )
    assert _objects(emu_client, share) == []

    emu_client.shares.update(share, updates=[_update(ADD, "main.sales.orders")])
    with pytest.raises(
        InvalidParameterValue, match=re.escape("Cannot share schema main.sales because its table")
    ):
        emu_client.shares.update(
            share, updates=[_update(ADD, "main.sales", data_object_type=T.SCHEMA)]
        )
    emu_client.shares.update(
        share, updates=[_update(ADD, "main.finance", data_object_type=T.SCHEMA)]
    )


def test_c15_alias_rules(emu_client: WorkspaceClient, share: str) -> None:
    emu_client.shares.update(
        share, updates=[_update(ADD, "main.sales.orders", shared_as="pub.orders")]
    )

    with pytest.raises(InvalidParameterValue, match="already used"):
        emu_client.shares.update(
            share, updates=[_update(ADD, "main.sales.customers", shared_as="PUB.orders")]
        )
    with pytest.raises(InvalidParameterValue, match="Invalid shared_as"):
        emu_client.shares.update(
            share, updates=[_update(ADD, "main.sales.customers", shared_as="just_one_part")]
        )
    with pytest.raises(InvalidParameterValue, match="shared_as is not allowed for SCHEMA"):
        emu_client.shares.update(
            share,
            updates=[_update(ADD, "main.finance", data_object_type=T.SCHEMA, shared_as="x.y")],
        )
    with pytest.raises(
        InvalidParameterValue, match=re.escape("shared_as of 'main.sales.orders' cannot be changed")
    ):
        emu_client.shares.update(
            share, updates=[_update(UPDATE, "main.sales.orders", shared_as="pub.other")]
        )


def test_c15_cdf_history_start_version_and_partitions(
    emu_client: WorkspaceClient, share: str
) -> None:
    enabled = SharedDataObjectHistoryDataSharingStatus.ENABLED
    invalid_cases = [
        (
            _update(
                ADD, "main.sales.orders", cdf_enabled=True, history_data_sharing_status=enabled
            ),
            "cannot be combined",
        ),
        (_update(ADD, "main.sales.customers", cdf_enabled=True), "change data feed is not enabled"),
        (
            _update(ADD, "main.sales.orders", start_version=13),
            "greater than the table's current version 12",
        ),
        (
            _update(
                ADD,
                "main.sales.orders",
                partitions=[
                    Partition(values=[PartitionValue(name="region", op=PartitionValueOp.EQUAL)])
                ],
            ),
            "exactly one of value and recipient_property_key",
        ),
        (
            _update(
                ADD,
                "main.sales.orders",
                partitions=[
                    Partition(
                        values=[PartitionValue(name="nope", op=PartitionValueOp.EQUAL, value="x")]
                    )
                ],
            ),
            "Partition column 'nope' does not exist",
        ),
    ]
    for update, message in invalid_cases:
        with pytest.raises(InvalidParameterValue, match=message):
            emu_client.shares.update(share, updates=[update])

    region = PartitionValue(
        name="region", op=PartitionValueOp.EQUAL, recipient_property_key="country"
    )
    result = emu_client.shares.update(
        share,
        updates=[
            _update(
                ADD,
                "main.sales.orders",
                cdf_enabled=True,
                start_version=12,
                partitions=[Partition(values=[region])],
            )
        ],
    )
    (obj,) = result.objects or []
    assert (obj.cdf_enabled, obj.start_version) == (True, 12)
    assert obj.partitions == [Partition(values=[region])]


def test_c15_missing_uc_objects_and_unshareable_owner(
    emu_client: WorkspaceClient, share: str
) -> None:
    with pytest.raises(NotFound) as table:
        emu_client.shares.update(share, updates=[_update(ADD, "main.sales.nope")])
    assert table.value.error_code == "TABLE_DOES_NOT_EXIST"
    with pytest.raises(NotFound) as schema:
        emu_client.shares.update(
            share, updates=[_update(ADD, "main.nope", data_object_type=T.SCHEMA)]
        )
    assert schema.value.error_code == "SCHEMA_DOES_NOT_EXIST"
    with pytest.raises(
        PermissionDenied,
        match=re.escape("User does not have SELECT on Table 'main.sales.restricted_payments'."),
    ):
        emu_client.shares.update(share, updates=[_update(ADD, "main.sales.restricted_payments")])
    with pytest.raises(InvalidParameterValue, match="content is required"):
        emu_client.shares.update(
            share, updates=[_update(ADD, "readme", data_object_type=T.NOTEBOOK_FILE)]
        )


def test_remove_and_update_need_the_object_in_the_share(
    emu_client: WorkspaceClient, share: str
) -> None:
    for action in (REMOVE, UPDATE):
        with pytest.raises(
            ResourceDoesNotExist,
            match=re.escape("Shared object 'main.sales.orders' does not exist in share 's1'."),
        ):
            emu_client.shares.update(share, updates=[_update(action, "main.sales.orders")])

    emu_client.shares.update(share, updates=[_update(ADD, "main.sales.orders", comment="a")])
    updated = emu_client.shares.update(
        share, updates=[_update(UPDATE, "main.sales.orders", comment="b")]
    )
    assert [(o.comment, o.shared_as) for o in updated.objects or []] == [("b", "sales.orders")]
    removed = emu_client.shares.update(share, updates=[_update(REMOVE, "main.sales.orders")])
    assert removed.objects == []


def test_notebooks_fix_the_storage_root(emu_client: WorkspaceClient, share: str) -> None:
    notebook = _update(ADD, "readme.py", data_object_type=T.NOTEBOOK_FILE, content="cHJpbnQoMSk=")
    result = emu_client.shares.update(
        share, storage_root="abfss://a@b.dfs.core.windows.net/r", updates=[notebook]
    )
    assert [o.string_shared_as for o in result.objects or []] == ["readme.py"]

    with pytest.raises(InvalidParameterValue, match="cannot change once the share holds notebooks"):
        emu_client.shares.update(share, storage_root="abfss://other@b.dfs.core.windows.net/r")


def test_rename_owner_and_delete(emu: Emu, emu_client: WorkspaceClient, share: str) -> None:
    emu_client.shares.create("taken")
    with pytest.raises(BadRequest, match=re.escape("Share 'taken' already exists.")):
        emu_client.shares.update(share, new_name="taken")

    renamed = emu_client.shares.update(share, new_name="Renamed")
    assert renamed.name == "renamed"
    emu_client.shares.update("renamed", owner="someone-else")
    with pytest.raises(
        PermissionDenied, match=re.escape("User is not an owner of Share 'renamed'.")
    ):
        emu_client.shares.update("renamed", comment="x")
    with pytest.raises(PermissionDenied):
        emu_client.shares.delete("renamed")

    emu.reset(
        seed={
            "extends": "minimal",
            "workspace": {"metastore_admin": True},
            "shares": [{"name": "theirs", "owner": "other"}],
        }
    )
    emu_client.shares.update(
        "theirs", owner="00000000-0000-0000-0000-00000000c0de"
    )  # admins may change owner
    emu_client.shares.delete("theirs")
    with pytest.raises(NotFound):
        emu_client.shares.get("theirs")


# ---------------------------------------------------------------------------------------------- grants, C21


def test_update_permissions_rules(emu: Emu, emu_client: WorkspaceClient, share: str) -> None:
    emu_client.recipients.create("r1", AuthenticationType.TOKEN)
    emu_client.recipients.create("r2", AuthenticationType.TOKEN, owner="someone-else")

    granted = emu_client.shares.update_permissions(
        share, changes=[PermissionsChange(principal="R1", add=["SELECT"])]
    )
    assert [
        (a.principal, [p.value for p in a.privileges or []])
        for a in granted.privilege_assignments or []
    ] == [("r1", ["SELECT"])]
    with pytest.raises(NotFound, match=re.escape("Recipient 'ghost' does not exist.")):
        emu_client.shares.update_permissions(
            share, changes=[PermissionsChange(principal="ghost", add=["SELECT"])]
        )
    with pytest.raises(
        PermissionDenied, match=re.escape("User is not an owner of Recipient 'r2'.")
    ):
        emu_client.shares.update_permissions(
            share, changes=[PermissionsChange(principal="r2", add=["SELECT"])]
        )
    with pytest.raises(InvalidParameterValue, match="only SELECT"):
        emu_client.shares.update_permissions(
            share, changes=[PermissionsChange(principal="r1", add=["MODIFY"])]
        )
    emu_client.shares.update_permissions(
        share, changes=[PermissionsChange(principal="r2", remove=["SELECT"])]
    )
    omitted = emu_client.shares.update_permissions(
        share,
        changes=[PermissionsChange(principal="r1", add=["SELECT"])],
        omit_permissions_list=True,
    )
    assert not omitted.privilege_assignments

    assert [
        p.share_name for p in emu_client.recipients.share_permissions("r1").permissions_out or []
    ] == [share]
    emu_client.recipients.delete("r1")
    assert emu_client.shares.share_permissions(share).privilege_assignments == []


def test_share_permissions_pages_when_asked(
    emu: Emu, emu_client: WorkspaceClient, share: str
) -> None:
    for name in ("r1", "r2", "r3"):
        emu_client.recipients.create(name, AuthenticationType.TOKEN)
    emu_client.shares.update_permissions(
        share, changes=[PermissionsChange(principal=n, add=["SELECT"]) for n in ("r3", "r1", "r2")]
    )

    first = emu_client.shares.share_permissions(share, max_results=2)
    rest = emu_client.shares.share_permissions(
        share, max_results=2, page_token=first.next_page_token
    )

    assert [a.principal for a in first.privilege_assignments or []] == ["r1", "r2"]
    assert [a.principal for a in rest.privilege_assignments or []] == ["r3"]
    assert rest.next_page_token is None
    emu.set_behaviour(page_sizes={"permissions": 1})
    assert len(emu_client.shares.share_permissions(share).privilege_assignments or []) == 1


def test_c21_read_after_write_lag(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.set_behaviour(read_after_write_lag_ms=500)
    emu_client.shares.create("fresh")

    with pytest.raises(NotFound):
        emu_client.shares.get("fresh")
    assert [s.name for s in emu_client.shares.list_shares()] == []

    emu.advance(500)
    assert emu_client.shares.get("fresh").name == "fresh"


def test_c21_permissions_read_back_lag(emu: Emu, emu_client: WorkspaceClient, share: str) -> None:
    emu_client.recipients.create("r1", AuthenticationType.TOKEN)
    emu.set_behaviour(permissions_readback_lag_ms=500)

    emu_client.shares.update_permissions(
        share, changes=[PermissionsChange(principal="r1", add=["SELECT"])]
    )

    assert emu_client.shares.share_permissions(share).privilege_assignments == []
    assert emu_client.recipients.share_permissions("r1").permissions_out == []
    emu.advance(499)
    assert emu_client.shares.share_permissions(share).privilege_assignments == []
    emu.advance(1)
    assert [
        a.principal for a in emu_client.shares.share_permissions(share).privilege_assignments or []
    ] == ["r1"]
    assert [
        p.share_name for p in emu_client.recipients.share_permissions("r1").permissions_out or []
    ] == [share]
