"""Provisioning of share packs: `provision.run_provisioning` (worker), `plan.plan_pack` (plan endpoint),
`drift.detect_drift` (drift).

`provision` runs a claimed version (docs/WORKFLOW.md §9), `plan` computes the same action graph without any change (docs/WORKFLOW.md §10),
`drift` compares recorded resources with the workspace (docs/WORKFLOW.md §11). The modules below them: `calls` (counted SDK calls),
`live` (per-run read cache and stage-5 lookup), `prepare` (the one read → checks → graph flow), `actions` (the graph's
typed unit), `diff` (action graph over the kinds of `workflow.resources`), `apply` (scheduler), `delete` (DELETE
strategy), `records` (recorded rows).

Nothing is imported here: the resource kinds import `actions`, `steps` and `live` from this package, and the
flows import the kinds, so an eager import of the flows would close a cycle.
"""
