"""Canonical model -> YAML text that the YAML front end reads back to the same model (docs/SHAREPACK.md §14.4)."""

from __future__ import annotations

from typing import Any

import yaml

from dbrx_api.workflow.models.pack import AnySharePack, canonical_config


class _Dumper(yaml.SafeDumper):
    """Never writes anchors or aliases (the reader rejects them)."""

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - same answer for every value
        return True


def _compact_assets(config: dict[str, Any]) -> dict[str, Any]:
    for share in config.get("share", []):
        for key in ("share_assets", "share_assets_to_add", "share_assets_to_remove"):
            if key in share:
                share[key] = [
                    asset["name"] if asset.keys() == {"name"} else asset for asset in share[key]
                ]
    return config


def export_yaml(pack: AnySharePack) -> str:
    """The pack as YAML: name-only assets in string form, other fields as in the canonical model."""
    config = _compact_assets(canonical_config(pack))
    return yaml.dump(
        config,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=10_000,
    )
