"""`python -m dbrx_api.cli` runs the `deltashare` command."""

from __future__ import annotations

from dbrx_api.cli.main import main

raise SystemExit(main())
