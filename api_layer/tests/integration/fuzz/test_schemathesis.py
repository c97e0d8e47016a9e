"""Schemathesis over every operation of the OpenAPI document, in process (ASGI), against the emulator.

Checks (schemathesis' defaults, docs/API.md §1.1, issue 7): no 500, no undocumented status or header, responses
conform to their schemas, schema-violating requests get a 4xx, missing or invalid credentials get 401, and a
schema-valid request is refused only by a rule a JSON Schema cannot state (`schema_valid_request_accepted`,
which replaces `positive_data_acceptance`; see its docstring).

Two runs (deterministic seed, bounded `max_examples`):

* `test_api_conforms_with_token`: Entra ID validation on; every case carries an admin token minted by the test
  key (through a schemathesis auth provider, so the cases that drop or forge the token still do);
* `test_api_conforms_auth_disabled`: local mode without authentication (every caller is the local developer),
  with the bearer scheme left out of generation and the credential checks off.

The schema is loaded at import time from an app aimed at a placeholder workspace (the document does not depend
on the allowlist). Each case is sent to an app whose allowlist holds the running emulator, with the
`X-Workspace-URL` value fixed by the config swapped for the emulator's URL. The lazy `from_fixture` loader is not
used: schemathesis 4.32.5 writes `Node._nodeid`, which pytest 9 no longer has.

Deeper local run: `FUZZ_MAX_EXAMPLES=100 FUZZ_SEED=7 FUZZ_CONTINUE=1 pytest <this file>`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi import checks as openapi_checks

from dbrx_api.dependencies import WORKSPACE_HEADER
from dbrx_api.main import create_app
from dbrx_emulator.testing import Emu, EmulatorServer, sdk_test_environment
from fixtures.api import align_emulator_clock, api_settings_for
from fixtures.tokens import JwksServer, TokenFactory

pytestmark = pytest.mark.integration

# Small enough for the whole file to stay well under a minute on 2 cores; raise them for a deeper local run.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
MAX_EXAMPLES_AUTH_DISABLED = int(os.environ.get("FUZZ_MAX_EXAMPLES_AUTH_DISABLED", "3"))
SEED = int(os.environ.get("FUZZ_SEED", "20260301"))
CONTINUE_ON_FAILURE = bool(os.environ.get("FUZZ_CONTINUE"))
# Never reached: the document app only renders OpenAPI; cases go to the emulator-bound apps.
PLACEHOLDER_WORKSPACE = "http://127.0.0.1:9"
PLACEHOLDER_TOKEN = "fuzz-admin-token"  # replaced by a minted token before each call

# Known spec issues, reported; only the `Allow` check (ST205) is off for these operations:
# * docs/API.md §2.9 names one URL shape `/pipelines/{name}` (GET) and `/pipelines/{pipeline_id}` (DELETE). OpenAPI 3.1
#   forbids such identical templated paths; a 405 there rightly says `Allow: DELETE, GET`, each path item lists one.
# * `GET /workflow/sharepack/{id}` also matches `/workflow/sharepack/plan` and `.../upload_and_validate` (it
#   answers 404 `sharepack_not_found` there), so a 405 on those says `Allow: GET, POST`; the documents list POST.
SAME_TEMPLATE_OPERATIONS = ("pipelines_get", "pipelines_delete", "workflow_upload", "workflow_plan")


def _config(max_examples: int, *, with_credentials: bool) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            # The coverage phase (boundary values, missing members, unexpected methods) costs most of the time:
            # the run with a token has it; the small run without authentication fuzzes only.
            "phases": {"coverage": {"enabled": with_credentials}},
            "generation": {
                "max-examples": max_examples,
                "database": "none",
                # Without authentication a request lacking the bearer token is not schema-violating.
                "with-security-parameters": with_credentials,
            },
            # A fixed value is never mutated by negative generation (the header's own rules have their tests).
            "parameters": {f"header.{WORKSPACE_HEADER}": PLACEHOLDER_WORKSPACE},
            "operations": [
                {
                    "include-operation-id": operation_id,
                    "checks": {"allow_header_conformance": {"enabled": False}},
                }
                for operation_id in SAME_TEMPLATE_OPERATIONS
            ],
            "continue-on-failure": CONTINUE_ON_FAILURE,
            "output": {"truncation": {"enabled": not CONTINUE_ON_FAILURE}},
        }
    )


_document_app = create_app(api_settings_for(PLACEHOLDER_WORKSPACE, "unused"))
_document = _document_app.openapi()
schema = schemathesis.openapi.from_dict(
    copy.deepcopy(_document), config=_config(MAX_EXAMPLES, with_credentials=True)
)
schema.app = _document_app
schema_auth_disabled = schemathesis.openapi.from_dict(
    copy.deepcopy(_document), config=_config(MAX_EXAMPLES_AUTH_DISABLED, with_credentials=False)
)
schema_auth_disabled.app = _document_app

# The share-pack workflow (docs/API.md §10, §12) exists only when enabled: its operations come from an app with the
# workflow on (no database is opened to render the document) and run against a migrated throwaway database.
_WORKFLOW_OFF_DATABASE = "postgresql://unused@127.0.0.1:1/unused"
_workflow_document_app = create_app(
    api_settings_for(
        PLACEHOLDER_WORKSPACE,
        "unused",
        workflow={"enabled": True, "database_url": _WORKFLOW_OFF_DATABASE},
    )
)
_workflow_document = copy.deepcopy(_workflow_document_app.openapi())
# Only the workflow paths (the others are fuzzed above). Filtered here: `.include()` is ignored when the config
# carries `operations` entries.
_workflow_document["paths"] = {
    path: item
    for path, item in _workflow_document["paths"].items()
    if path.startswith("/workflow/")
}
schema_workflow = schemathesis.openapi.from_dict(
    _workflow_document, config=_config(MAX_EXAMPLES, with_credentials=True)
)
schema_workflow.app = _workflow_document_app


@schema.auth()
class AdminBearer:
    """Schemathesis auth provider: `Authorization: Bearer <placeholder>`, swapped for a real admin token per call.

    Explicit (coverage) cases are built at collection time, before any fixture can mint a token.
    """

    def get(self, case: Any, ctx: Any) -> str:
        """The placeholder."""
        return PLACEHOLDER_TOKEN

    def set(self, case: Any, data: str, ctx: Any) -> None:
        """Put it on the case."""
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


schema_workflow.auth()(AdminBearer)

FUZZ_SETTINGS = settings(
    deadline=None,
    # `_default_workspace` is function-scoped on purpose: one reset per operation, shared by its examples.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)

# Error types of rules a JSON Schema cannot state (docs/API.md §1.5.2 and the schemas' validators): a schema-valid request
# may fail them. Pydantic's structural types (`missing`, `string_type`, `int_type`, `too_long`, ...) may not: they
# mean the document promised something the validators refuse.
SEMANTIC_ERROR_TYPES = frozenset(
    {
        "name_invalid",
        "ip_invalid",
        "cron_not_quartz",
        "cron_invalid",
        "timezone_invalid",
        "email_or_group_invalid",
        "identifier_invalid",
        "duplicate_value",
        "duplicate_entry_conflict",  # the same object twice with different options (docs/API.md §4.5)
        "mutually_exclusive",
        "at_least_one_required",
        "timestamp_invalid",
        "timestamp_in_future",  # `as_of` after the service clock: history has no future (docs/API.md §16.2)
        "storage_root_invalid",
        "path_invalid",
        "tag_invalid",
        "cursor_invalid",  # an opaque cursor must come from the endpoint
        "workspace_url_invalid",  # a `format: uri` with a path or query is no workspace URL (docs/API.md §12.1 `workspace`)
        "recipient_property_reserved",  # a `databricks.` key: Databricks reserves the prefix (docs/API.md §2.2)
        "recipient_property_duplicate",  # two keys equal ignoring case (docs/API.md §2.2)
    }
)
# Length limits that apply after trimming surrounding quotes (docs/API.md §11.2): the schema states the raw bound only.
TRIMMED_LENGTH_RULES = {("PUT", "/recipients/{name}/description", ("body", "description"))}
TRIMMED_LENGTH_TYPES = frozenset({"string_too_long", "string_too_short"})
# Problems about an upload's content, which a schema cannot state (docs/API.md §10.1): name or content not a share pack,
# legacy .xls, above the size limit, pack validation, pack aimed at another workspace.
UPLOAD_CONTENT_CODES = frozenset(
    {
        "file_type_unsupported",
        "xls_not_supported",
        "file_too_large",
        "sharepack_invalid",
        "workspace_mismatch",
    }
)
# 400s that only a schema-invalid request earns (the others are Databricks' or a rule's verdict on valid input).
SCHEMA_LEVEL_400_CODES = frozenset({"workspace_header_missing", "workspace_url_invalid"})


def _body_value(case: Any, loc: list[Any]) -> Any:
    value = case.body
    for part in loc[1:]:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _is_semantic(case: Any, error: dict[str, Any]) -> bool:
    if error.get("type") in SEMANTIC_ERROR_TYPES:
        return True
    loc = list(error.get("loc", ()))
    if error.get("type") == "string_too_short" and loc[:1] == ["body"]:
        # Request strings are trimmed first (RequestModel): "  " passes `minLength: 1`, then is empty.
        value = _body_value(case, loc)
        if isinstance(value, str) and value.strip() != value:
            return True
    rule = (case.method.upper(), case.operation.path, tuple(loc))
    return rule in TRIMMED_LENGTH_RULES and error.get("type") in TRIMMED_LENGTH_TYPES


@schemathesis.check
def schema_valid_request_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """A positive case is refused only by a rule the schema cannot state, never for its shape or media type.

    Replaces schemathesis' `positive_data_acceptance`, which counts every 400/422 as a failure: cross-field and
    semantic rules (mutually exclusive members, Quartz cron, IANA time zones, IP syntax) are checked by the
    validators and described in prose, and Databricks may refuse valid input (400 `upstream_rejected`).
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code < 400:
        return None
    if response.status_code not in (400, 413, 415, 422):
        return None  # 401/403/404/409/429 depend on state and credentials; 5xx has its own check
    problem = response.json()
    if response.status_code == 400 and problem.get("code") not in SCHEMA_LEVEL_400_CODES:
        return None
    if problem.get("code") in UPLOAD_CONTENT_CODES:
        return None
    errors = problem.get("errors", [])
    validation_codes = ("validation_failed", "name_invalid")  # docs/API.md §1.5.2
    if response.status_code == 422 and problem.get("code") in validation_codes and errors:
        structural = [error for error in errors if not _is_semantic(case, error)]
        if not structural:
            return None
    else:
        structural = errors
    raise AssertionError(
        f"Schema-valid request refused with {response.status_code} {problem.get('code')}: "
        f"{problem.get('detail')} {structural}"
    )


# Without authentication every request is the local developer's: "accepted without a token" is intended.
CREDENTIAL_CHECKS = [openapi_checks.ignored_auth, openapi_checks.missing_required_header]


def _excluded_checks(*extra: Any) -> list[Any]:
    return [openapi_checks.positive_data_acceptance, *extra]


@pytest.fixture(scope="module")
def fuzz_emu(
    emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Emu]:
    """The session emulator, with the SDK test hygiene applied for this module."""
    with pytest.MonkeyPatch.context() as patch:
        sdk_test_environment(patch, tmp_path_factory.mktemp("sdk-home"))
        yield Emu(emulator_server)


@pytest.fixture(autouse=True)
def _default_workspace(fuzz_emu: Emu) -> None:
    """Each operation starts from the `default` seed (shares, recipients, pipelines, jobs), no faults or latency.

    Per test function, i.e. once per operation for all its examples: under xdist, tests of other modules (which
    may leave fault rules behind) run on the same session emulator in between.
    """
    fuzz_emu.reset(seed_file="default", random_seed=0)
    align_emulator_clock(fuzz_emu)


@pytest.fixture(scope="module")
def admin_tokens(
    jwks_server: JwksServer, _token_signing_key: rsa.RSAPrivateKey, _token_tenant_id: str
) -> TokenFactory:
    """A token factory for this module (`token_factory` is function-scoped)."""
    return TokenFactory(jwks_server, _token_signing_key, _token_tenant_id)


@pytest.fixture(scope="module")
def apps(
    fuzz_emu: Emu, admin_tokens: TokenFactory, make_database: Callable[[], str]
) -> Iterator[dict[str, FastAPI]]:
    """Apps bound to the emulator: `entra` (token validation on), `disabled` (local developer) and `workflow`
    (token validation on, workflow enabled on a fresh database, no consumers: uploads stay queued)."""
    auth = admin_tokens.auth_settings().model_dump()
    entra = create_app(api_settings_for(fuzz_emu.url, fuzz_emu.token, auth=auth))
    disabled = create_app(api_settings_for(fuzz_emu.url, fuzz_emu.token))
    workflow_settings = {
        "enabled": True,
        "database_url": make_database(),
        "worker": {"inline": False},
        "sweeper": {"interval_s": 3600},
    }
    workflow = create_app(
        api_settings_for(fuzz_emu.url, fuzz_emu.token, auth=auth, workflow=workflow_settings)
    )
    yield {"entra": entra, "disabled": disabled, "workflow": workflow}
    # schemathesis keeps each app's lifespan running for the process; end them with the module.
    schemathesis_asgi.shutdown_lifespans()


def _fill_placeholders(case: Any, emu: Emu, tokens: TokenFactory | None = None) -> None:
    """The emulator's URL and a fresh admin token where the config and `AdminBearer` put placeholders."""
    headers = case.headers or {}
    if headers.get(WORKSPACE_HEADER) == PLACEHOLDER_WORKSPACE:
        headers[WORKSPACE_HEADER] = emu.url
    if tokens is not None and headers.get("Authorization") == f"Bearer {PLACEHOLDER_TOKEN}":
        headers["Authorization"] = f"Bearer {tokens.mint(roles=['DeltaShare.Admin'])}"


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_conforms_with_token(
    case: Any, apps: dict[str, FastAPI], fuzz_emu: Emu, admin_tokens: TokenFactory
) -> None:
    """Every operation, authenticated as an admin: every check passes."""
    _fill_placeholders(case, fuzz_emu, admin_tokens)
    response = case.call_and_validate(app=apps["entra"], excluded_checks=_excluded_checks())
    if case.meta.generation.mode.is_positive:
        # Proof that the cases reach the handlers: only the negative ones drop or forge the token.
        assert response.status_code != 401, response.text


@schema_workflow.parametrize()
@FUZZ_SETTINGS
def test_workflow_conforms_with_token(
    case: Any, apps: dict[str, FastAPI], fuzz_emu: Emu, admin_tokens: TokenFactory
) -> None:
    """Every workflow operation (PostgreSQL behind it), authenticated as an admin: every check passes."""
    _fill_placeholders(case, fuzz_emu, admin_tokens)
    response = case.call_and_validate(app=apps["workflow"], excluded_checks=_excluded_checks())
    if case.meta.generation.mode.is_positive:
        assert response.status_code != 401, response.text


@schema_auth_disabled.parametrize()
@FUZZ_SETTINGS
def test_api_conforms_auth_disabled(case: Any, apps: dict[str, FastAPI], fuzz_emu: Emu) -> None:
    """Every operation in local mode without authentication: every check but the credential ones passes."""
    _fill_placeholders(case, fuzz_emu)
    case.call_and_validate(
        app=apps["disabled"],
        excluded_checks=_excluded_checks(*CREDENTIAL_CHECKS),
    )
