"""Shared test configuration. Fixture modules live in tests/fixtures/ and are registered here."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "fixtures.api",
    "fixtures.workflow_api",
    "fixtures.pipelines_api",
    "fixtures.tokens",
    "fixtures.monitoring",
    "fixtures.postgres",
    "fixtures.azurite",
    "fixtures.sharepacks",
    "fixtures.orchestrator",
]
