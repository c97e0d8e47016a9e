"""Share-pack validation: offline stages 2-4 (`validate_document`) and live stage 5 (`run_live_checks`)."""

from dbrx_api.workflow.validators.live import (
    JobInfo,
    LiveCheckResult,
    LiveLookup,
    PipelineInfo,
    RecipientInfo,
    RecordedState,
    SharedObjectInfo,
    ShareInfo,
    TableInfo,
    run_live_checks,
)
from dbrx_api.workflow.validators.locator import PackLocator
from dbrx_api.workflow.validators.pack import ValidationResult, validate_document

__all__ = [
    "JobInfo",
    "LiveCheckResult",
    "LiveLookup",
    "PackLocator",
    "PipelineInfo",
    "RecipientInfo",
    "RecordedState",
    "ShareInfo",
    "SharedObjectInfo",
    "TableInfo",
    "ValidationResult",
    "run_live_checks",
    "validate_document",
]
