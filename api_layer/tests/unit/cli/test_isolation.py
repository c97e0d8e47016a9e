"""The CLI is an HTTP client only: importing it must not load the service's frameworks or clients."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = (
    "fastapi",
    "starlette",
    "uvicorn",
    "databricks",
    "psycopg",
    "azure",
    "msal",
    "dbrx_api.settings",
)

PROBE = """
import json, sys
import dbrx_api.cli
from dbrx_api.cli.main import main
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {roots} or m == "dbrx_api.settings")))
"""


def test_importing_the_cli_loads_no_service_internals() -> None:
    roots = {name.split(".")[0] for name in FORBIDDEN if not name.startswith("dbrx_api")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(roots=sorted(roots))],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == []
