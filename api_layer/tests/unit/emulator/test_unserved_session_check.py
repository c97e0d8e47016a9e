"""The pytest plugin fails a session whose tests reached operations the emulator does not serve (docs/EMULATOR.md
docs/EMULATOR.md §3.2), and says which test made which call."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER_TESTS = """
import httpx
import pytest


def test_service_calls_an_unserved_operation(emu):
    assert httpx.get(f"{emu.url}/api/2.1/unity-catalog/not-emulated", trust_env=False,
                     headers={"Authorization": f"Bearer {emu.token}"}).status_code == 501


@pytest.mark.emulator_unserved_ok
def test_on_purpose(emu):
    httpx.delete(f"{emu.url}/api/2.1/unity-catalog/on-purpose", trust_env=False,
                 headers={"Authorization": f"Bearer {emu.token}"})
"""


def test_session_fails_and_lists_unserved_calls(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INNER_TESTS)

    result = pytester.runpytest_subprocess("-p", "dbrx_emulator.testing", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*1 call(s) reached no emulated operation (501 NOT_IMPLEMENTED*",
            "*test_service_calls_an_unserved_operation: GET /api/2.1/unity-catalog/not-emulated",
        ]
    )
    assert "on-purpose" not in result.stdout.str()
