"""The one entry point for uploaded share packs: bytes in, canonical model (or a 4xx problem) out.

`load_sharepack` runs stages 1-4 of docs/SHAREPACK.md §13 without any network or database access: size and type,
safe parsing (YAML or Excel), structure, fields and cross-references. The HTTP layer calls it from a worker
thread (it is CPU-bound) for `upload_and_validate` and `plan`; the live checks of `plan` and provisioning are
in `workflow.orchestrator.checks`.
"""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dbrx_api.settings import UploadSettings
from dbrx_api.workflow.models.errors import SharePackInvalid
from dbrx_api.workflow.models.issues import Issue, IssueCollector
from dbrx_api.workflow.models.pack import (
    AnySharePack,
    canonical_config,
    pack_key,
    record_hash,
)
from dbrx_api.workflow.models.raw import RawMap
from dbrx_api.workflow.parsers.detect import FileFormat, detect_format
from dbrx_api.workflow.parsers.xlsx_reader import parse_xlsx
from dbrx_api.workflow.parsers.yaml_reader import parse_yaml
from dbrx_api.workflow.validators.locator import PackLocator
from dbrx_api.workflow.validators.pack import validate_document


@dataclass(frozen=True, slots=True)
class LoadedPack:
    """A valid share pack with its warnings and file facts."""

    model: AnySharePack
    warnings: list[Issue]
    file_format: FileFormat
    file_name: str
    file_sha256: str
    file_size: int
    pack_key: str
    record_hash: str
    locator: PackLocator

    @property
    def config(self) -> dict[str, Any]:
        """The canonical content to store (`share_packs.config`)."""
        return canonical_config(self.model)

    @property
    def warning_members(self) -> list[dict[str, Any]]:
        """Warnings as JSON objects for responses and the `warnings` column."""
        return [issue.as_problem_member() for issue in self.warnings]


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a pack is parsed and validated.

    Reading a large workbook allocates hundreds of thousands of small objects and no garbage cycles worth
    collecting; the collector's repeated scans of that growing heap cost about a third of the parse time
    (measured with api_layer/bench/bench_parse.py). Reference counting still frees memory as usual. The
    collector is process-wide, so concurrent parses share one pause, lifted when the last one finishes.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def parse_document(
    filename: str, data: bytes, limits: UploadSettings
) -> tuple[FileFormat, RawMap, IssueCollector]:
    """Stage 1: detect the type and parse safely into the located tree (plus reader issues for Excel)."""
    file_format = detect_format(filename, data, limits)
    if file_format == "yaml":
        return file_format, parse_yaml(data, limits), IssueCollector()
    document = parse_xlsx(data, limits)
    return file_format, document.root, document.issues


def load_sharepack(
    filename: str, data: bytes, limits: UploadSettings, *, allow_local_urls: bool = False
) -> LoadedPack:
    """Parse and validate an uploaded share pack offline (stages 1-4).

    The extension of `filename` selects the parser; `data` is already capped by the HTTP layer at
    `limits.max_bytes` + 1 bytes. `allow_local_urls` (pass `settings.is_local`) accepts
    `http://127.0.0.1:<port>` / `http://localhost:<port>` workspace URLs.

    Raises:
        SharePackTooLarge: 413 `file_too_large`.
        SharePackTypeUnsupported: 415 `file_type_unsupported` or `xls_not_supported`.
        SharePackInvalid: 422 `sharepack_invalid` with every error (and the warnings).
    """
    with _cyclic_gc_paused():
        file_format, root, issues = parse_document(filename, data, limits)
        result = validate_document(root, issues=issues, allow_local_urls=allow_local_urls)
    if result.model is None:
        raise SharePackInvalid(result.errors, result.warnings)
    return LoadedPack(
        model=result.model,
        warnings=result.warnings,
        file_format=file_format,
        file_name=filename,
        file_sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data),
        pack_key=pack_key(result.model.metadata),
        record_hash=record_hash(result.model),
        locator=result.locator,
    )
