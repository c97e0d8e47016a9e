"""`deltashare`: the command-line client of the DeltaShare API (docs/API.md §14).

It talks HTTP to the service only (httpx), never to Databricks or PostgreSQL, so a CI pipeline needs nothing but
the API URL and a token. The console script `deltashare` calls `main()`.
"""

from __future__ import annotations

from dbrx_api.cli.main import main

__all__ = ["main"]
