"""The README's configuration reference is generated from `Settings` and must not go stale."""

from __future__ import annotations

from dbrx_api.settings import Settings
from dbrx_api.settings_reference import readme_section, reference, rows


def test_readme_reference_matches_settings() -> None:
    assert readme_section() == reference(), (
        "README configuration reference is stale: run `python -m dbrx_api.settings_reference --write`"
    )


def test_every_leaf_setting_is_listed() -> None:
    keys = {key for key, *_ in rows(Settings)}
    assert {"auth.mode", "databricks.workspaces", "workflow.queue.name", "logging.json"} <= keys
    assert all(not key.endswith(".") for key in keys)
