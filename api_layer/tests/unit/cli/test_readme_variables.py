"""The README's CLI section names every environment variable the CLI reads (cli/auth.py, cli/options.py)."""

from __future__ import annotations

from pathlib import Path

from dbrx_api.cli.auth import CLIENT_CREDENTIAL_VARIABLES
from dbrx_api.cli.options import ENV_API_URL, ENV_CA_BUNDLE, ENV_TOKEN, ENV_WORKSPACE_URL

README = Path(__file__).resolve().parents[4] / "README.md"


def test_readme_documents_the_cli_variables() -> None:
    text = README.read_text(encoding="utf-8")
    cli_section = text[text.index("The `deltashare` CLI") : text.index("### Approvals and owners")]
    variables = {
        *CLIENT_CREDENTIAL_VARIABLES,
        ENV_API_URL,
        ENV_CA_BUNDLE,
        ENV_WORKSPACE_URL,
        ENV_TOKEN,
    }
    missing = sorted(name for name in variables if f"`{name}`" not in cli_section)
    assert missing == []
