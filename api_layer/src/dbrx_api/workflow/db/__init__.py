"""Workflow persistence: connections, migrations, the SCD2 writer and one repository module per table.

Repositories take a `psycopg.Connection` and never commit: the caller owns the transaction.
"""
