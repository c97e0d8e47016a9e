"""The record types of the recorded-resource tables (`recipients`, `shares`, `pipelines`) as one union, for the
code that handles a record of any kind alike (ownership, drift, DELETE), and the writes of records that a step's
closing transaction runs (`RecordWrite`, `run_writes`)."""

from __future__ import annotations

from dbrx_api.workflow.db.repositories._resources import RecordWrite, run_writes
from dbrx_api.workflow.db.repositories.pipelines import PipelineRecord
from dbrx_api.workflow.db.repositories.recipients import RecipientRecord
from dbrx_api.workflow.db.repositories.shares import ShareRecord

AnyRecord = RecipientRecord | ShareRecord | PipelineRecord

__all__ = [
    "AnyRecord",
    "PipelineRecord",
    "RecipientRecord",
    "RecordWrite",
    "ShareRecord",
    "run_writes",
]
