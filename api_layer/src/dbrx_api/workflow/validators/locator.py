"""Maps objects of the canonical model back to where the uploader wrote them.

The canonical model is sorted, so its list positions are not the file's. Issues found after parsing (the live
checks of `plan` and provisioning) use a `PackLocator` to name the entry as it appears in the uploaded file
(`share[1].pipelines[0]`, line 74 or `pipelines!A3`). The upload stores the locator with the version
(`share_packs.locator`, `to_json`) so that the worker reports run-time issues against the file of the version
(`from_json`, docs/SHAREPACK.md §13.4). A version stored without one (before schema version 3) falls back to
`PackLocator.from_model`: paths in canonical order, without line or cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dbrx_api.workflow.models.issues import NO_POS, SourcePos
from dbrx_api.workflow.models.pack import AnySharePack, Asset, SharePack
from dbrx_api.workflow.validators.inputs import ASSET_LISTS, GRANT_LISTS

_LAST_SEGMENT = re.compile(r"(\.[^.\[\]]+|\[\d+\])$")


@dataclass(slots=True)
class PackLocator:
    """Paths of recipients, shares, pipelines, assets and grants, and the file position of every path."""

    positions: dict[str, SourcePos] = field(default_factory=dict)
    recipients: dict[str, str] = field(default_factory=dict)
    shares: dict[str, str] = field(default_factory=dict)
    pipelines: dict[str, str] = field(default_factory=dict)
    assets: dict[tuple[str, str, str], str] = field(default_factory=dict)
    grants: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def recipient(self, name: str) -> str:
        """Path of a recipient entry by canonical name."""
        return self.recipients.get(name, f"recipient[{name}]")

    def share(self, name: str) -> str:
        """Path of a share entry by canonical name."""
        return self.shares.get(name, f"share[{name}]")

    def pipeline(self, name: str) -> str:
        """Path of a pipeline entry by name (case-insensitive)."""
        return self.pipelines.get(name.lower(), f"pipeline[{name}]")

    def asset(self, share: str, list_key: str, name: str) -> str:
        """Path of an asset entry of a share list."""
        return self.assets.get((share, list_key, name), f"{self.share(share)}.{list_key}[{name}]")

    def grant(self, share: str, list_key: str, name: str) -> str:
        """Path of a recipient name in a share's grant list."""
        return self.grants.get((share, list_key, name), f"{self.share(share)}.{list_key}[{name}]")

    def position(self, path: str) -> SourcePos:
        """File position of `path`, or of its nearest located parent; empty when unknown."""
        current = path
        while current:
            found = self.positions.get(current)
            if found is not None:
                return found
            shorter = _LAST_SEGMENT.sub("", current)
            if shorter == current:
                break
            current = shorter
        return NO_POS

    def to_json(self) -> dict[str, Any]:
        """JSON form stored with the version; keeps the positions of entries and of their own fields only.

        Deeper paths (partition values, ...) are dropped to bound the size for large workbooks: `position` then
        answers with the nearest kept parent, which is still the right line or row.
        """
        entries = {
            *self.recipients.values(),
            *self.shares.values(),
            *self.pipelines.values(),
            *self.assets.values(),
            *self.grants.values(),
        }

        def kept(path: str) -> bool:
            if path.startswith("metadata") or path in entries:
                return True
            parent = _LAST_SEGMENT.sub("", path)
            return parent in entries or _LAST_SEGMENT.sub("", parent) in entries

        return {
            "format": 1,
            "recipients": self.recipients,
            "shares": self.shares,
            "pipelines": self.pipelines,
            "assets": [[*key, path] for key, path in self.assets.items()],
            "grants": [[*key, path] for key, path in self.grants.items()],
            "positions": {
                path: {k: v for k, v in pos._asdict().items() if v not in (None, 0)}
                for path, pos in self.positions.items()
                if kept(path)
            },
        }

    @classmethod
    def from_json(cls, data: object, pack: AnySharePack) -> PackLocator:
        """The locator stored with a version; `from_model(pack)` when none was stored or it is unreadable."""
        if not isinstance(data, dict) or data.get("format") != 1:
            return cls.from_model(pack)
        try:
            return cls(
                positions={
                    str(path): SourcePos(**fields) for path, fields in data["positions"].items()
                },
                recipients={str(k): str(v) for k, v in data["recipients"].items()},
                shares={str(k): str(v) for k, v in data["shares"].items()},
                pipelines={str(k): str(v) for k, v in data["pipelines"].items()},
                assets={(str(s), str(k), str(n)): str(p) for s, k, n, p in data["assets"]},
                grants={(str(s), str(k), str(n)): str(p) for s, k, n, p in data["grants"]},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return cls.from_model(pack)

    @classmethod
    def from_model(cls, pack: AnySharePack) -> PackLocator:
        """Paths in canonical order, for a pack loaded from storage (no file positions)."""
        locator = cls()
        for index, name in enumerate([entry.name for entry in pack.recipient]):
            locator.recipients[name] = f"recipient[{index}]"
        for index, name in enumerate([entry.name for entry in pack.share]):
            locator.shares[name] = f"share[{index}]"
        if not isinstance(pack, SharePack):
            return locator
        for index, share in enumerate(pack.share):
            path = f"share[{index}]"
            for list_key in ASSET_LISTS:
                assets: list[Asset] = getattr(share, list_key) or []
                for position, asset in enumerate(assets):
                    locator.assets[(share.name, list_key, asset.name)] = (
                        f"{path}.{list_key}[{position}]"
                    )
            for list_key in GRANT_LISTS:
                names: list[str] = getattr(share, list_key) or []
                for position, name in enumerate(names):
                    locator.grants[(share.name, list_key, name)] = f"{path}.{list_key}[{position}]"
            for position, pipeline in enumerate(share.pipelines or []):
                locator.pipelines[pipeline.name_prefix.lower()] = f"{path}.pipelines[{position}]"
        return locator
