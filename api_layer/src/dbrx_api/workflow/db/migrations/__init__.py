"""Versioned SQL migrations (`V<nnnn>__<name>.sql`), applied in order by `dbrx_api.workflow.db.migrate`."""
