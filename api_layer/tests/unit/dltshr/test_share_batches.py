"""`object_update_batches`: at most 100 updates per `shares.update`, one object at most once per call."""

from __future__ import annotations

from databricks.sdk.service.sharing import (
    SharedDataObject,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dbrx_api.dltshr.shares import object_update_batches

ADD = SharedDataObjectUpdateAction.ADD
REMOVE = SharedDataObjectUpdateAction.REMOVE


def _update(action: SharedDataObjectUpdateAction, name: str) -> SharedDataObjectUpdate:
    return SharedDataObjectUpdate(action=action, data_object=SharedDataObject(name=name))


def test_250_updates_make_three_calls_of_at_most_100() -> None:
    updates = [_update(ADD, f"c.s.t{i}") for i in range(250)]

    batches = object_update_batches(updates)

    assert [len(b) for b in batches] == [100, 100, 50]
    assert [u for b in batches for u in b] == updates  # order kept


def test_a_recreated_object_is_removed_in_an_earlier_call_than_it_is_added() -> None:
    updates = [
        _update(REMOVE, "c.s.a"),
        _update(REMOVE, "c.s.b"),
        _update(ADD, "c.s.x"),
        _update(ADD, "C.S.A"),  # same object, other case: still the same name
    ]

    batches = object_update_batches(updates)

    assert [[u.data_object.name for u in b if u.data_object] for b in batches] == [
        ["c.s.a", "c.s.b", "c.s.x"],
        ["C.S.A"],
    ]


def test_no_updates_no_calls() -> None:
    assert object_update_batches([]) == []


def test_every_batch_names_each_object_once() -> None:
    names = [f"c.s.t{i % 7}" for i in range(30)]
    updates = [_update(ADD if i % 2 else REMOVE, n) for i, n in enumerate(names)]

    for batch in object_update_batches(updates, limit=10):
        seen = [u.data_object.name.lower() for u in batch if u.data_object and u.data_object.name]
        assert len(seen) == len(set(seen))
        assert len(batch) <= 10
