"""Every workflow module imports on its own, first, in a fresh interpreter: an import cycle shows up here, not at
the start of a deployment that happens to import the modules in another order."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import dbrx_api.workflow

ENTRY_MODULES = sorted(
    f"dbrx_api.workflow.{info.name}" for info in pkgutil.iter_modules(dbrx_api.workflow.__path__)
)


@pytest.mark.parametrize("module", ENTRY_MODULES)
def test_module_imports_first(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
