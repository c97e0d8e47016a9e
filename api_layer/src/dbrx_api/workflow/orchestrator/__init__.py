"""Provisioning of share packs: `run_provisioning` (worker), `plan_pack` (plan endpoint), `detect_drift` (drift).

`provision` runs a claimed version (docs/WORKFLOW.md §9), `plan` computes the same action graph without any change (§10),
`drift` compares recorded resources with the workspace (§11). The modules below them: `calls` (counted SDK calls),
`live` (per-run read cache and stage-5 lookup), `desired` (desired state and managed-field comparison), `diff`
(action graph), `apply` (executors and scheduler), `delete` (DELETE strategy), `records` (recorded rows).
"""

from dbrx_api.workflow.orchestrator.drift import DriftItem, DriftReport, detect_drift
from dbrx_api.workflow.orchestrator.plan import PlanResult, plan_pack
from dbrx_api.workflow.orchestrator.provision import run_provisioning

__all__ = [
    "DriftItem",
    "DriftReport",
    "PlanResult",
    "detect_drift",
    "plan_pack",
    "run_provisioning",
]
