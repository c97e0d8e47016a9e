"""Share-pack validation, offline stages 2-4 (`validate_document`); the live stage 5 is `orchestrator.checks`."""

from dbrx_api.workflow.validators.locator import PackLocator
from dbrx_api.workflow.validators.pack import ValidationResult, validate_document

__all__ = [
    "PackLocator",
    "ValidationResult",
    "validate_document",
]
