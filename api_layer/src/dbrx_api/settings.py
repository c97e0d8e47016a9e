"""Service settings: one pydantic-settings object fed by init args > environment > .env > JSON files > defaults.

The three JSON files (`config.json`, `apilayer_config.json`, `databricks_config.json`) live in the directory named by
`DBRX_API_CONFIG_DIR`, by default the repository root located from this file (never the working directory). The two
per-environment files contribute their `default` section deep-merged with the section named after the environment.
Secrets come only from the environment: a JSON file holding a secret-like key stops start-up.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "DBRX_API_"
CONFIG_FILES = ("config.json", "apilayer_config.json", "databricks_config.json")
ENVIRONMENTS = ("local", "dev", "uat", "prd")
Environment = Literal["local", "dev", "uat", "prd"]

_SECRET_KEY_FRAGMENTS = ("secret", "password", "token", "connection_string", "api_key")
_PLACEHOLDER = re.compile(r"^\s*(<.*>|changeme|change-me|todo|xxx+)?\s*$", re.IGNORECASE)
_DATABRICKS_HOST = re.compile(
    r"^([a-z0-9-]+\.)+(azuredatabricks\.net|databricks\.azure\.us|databricks\.azure\.cn|"
    r"cloud\.databricks\.com|gcp\.databricks\.com)$"
)


class SettingsError(ValueError):
    """Configuration that must stop start-up, with a message naming the offending setting."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)


# ------------------------------------------------------------------------------------------ API runtime


class ServerSettings(_Section):
    # uvicorn worker processes; None: one per CPU the process may run on (`serve.resolve_options`).
    workers: int | None = Field(None, ge=1, le=64)
    threadpool_size: int = Field(64, ge=1, le=1024)
    max_json_body_bytes: int = Field(1_048_576, ge=1024)
    readiness_cache_s: float = Field(5, ge=0)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    graceful_timeout_s: int = Field(20, ge=1)


class UploadSettings(_Section):
    max_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    yaml_max_depth: int = Field(20, ge=2)
    yaml_max_nodes: int = Field(20_000, ge=10)
    yaml_max_scalar_chars: int = Field(10_000, ge=10)
    xlsx_max_members: int = Field(200, ge=1)
    xlsx_max_uncompressed_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    xlsx_max_ratio: int = Field(100, ge=1)
    xlsx_max_sheets: int = Field(20, ge=1)
    xlsx_max_rows: int = Field(5_000, ge=1)
    xlsx_max_columns: int = Field(50, ge=1)


class RoleNames(_Section):
    reader: str = "DeltaShare.Reader"
    writer: str = "DeltaShare.Writer"
    approver: str = "DeltaShare.Approver"
    admin: str = "DeltaShare.Admin"


class AuthSettings(_Section):
    mode: Literal["entra", "disabled"] = "entra"
    tenant_ids: list[str] = Field(default_factory=list)
    audiences: list[str] = Field(default_factory=list)
    allowed_client_ids: list[str] = Field(default_factory=list)
    roles: RoleNames = Field(default_factory=RoleNames)
    leeway_s: int = Field(60, ge=0, le=300)
    jwks_cache_s: int = Field(3600, ge=0)
    jwks_url: str = "https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"
    jwks_timeout_s: float = Field(5, gt=0)


class ConsoleSettings(_Section):
    """The reviewer console at `/console` (docs/API.md §17): Entra ID sign-in outside the local environment."""

    # The console's own app registration (a confidential web client, authorization code flow with PKCE).
    client_id: str | None = None
    client_secret: SecretStr | None = None
    # Default: https://login.microsoftonline.com/<first auth.tenant_ids entry>
    authority: str | None = None
    # Delegated scopes of the API's registration, so that the token carries the API's app roles.
    scopes: list[str] = Field(default_factory=list)
    # The registered reply URL, e.g. https://deltashare.example.com/console/auth/callback (never built from Host).
    redirect_uri: str | None = None
    # Signs the session and sign-in cookies (HMAC-SHA256); at least 32 characters.
    session_secret: SecretStr | None = None
    session_max_age_s: int = Field(8 * 3600, ge=300, le=7 * 24 * 3600)

    @property
    def sign_in_configured(self) -> bool:
        """Whether the Entra ID sign-in of the console can run."""
        return bool(
            self.client_id
            and self.client_secret
            and self.scopes
            and self.redirect_uri
            and self.session_secret
            and len(self.session_secret.get_secret_value()) >= 32
        )


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    stdout: bool = True
    json_lines: bool = Field(True, alias="json")
    blob: bool = False
    blob_account_url: str | None = None
    blob_container: str = "deltashare-logs"
    blob_connection_string: SecretStr | None = None
    blob_flush_interval_s: float = Field(5, gt=0)
    postgresql: bool = False
    postgresql_min_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"
    datadog: bool = False
    datadog_site: str = "datadoghq.com"
    datadog_service: str = "deltashare-api"
    datadog_api_key: SecretStr | None = None
    datadog_statsd_host: str = "127.0.0.1"
    datadog_statsd_port: int = Field(8125, ge=0, le=65535)
    datadog_logs: Literal["file", "http", "off"] = "file"
    datadog_log_dir: str | None = None
    datadog_intake_url: str | None = None
    queue_size: int = Field(10_000, ge=10)


class MetricsSettings(_Section):
    default_window_days: int = Field(7, ge=1, le=365)
    max_events_per_update: int = Field(10_000, ge=1)


# ------------------------------------------------------------------------------------------ workflow


class QueueSettings(_Section):
    connection_string: SecretStr | None = None
    account_url: str | None = None
    name: str = Field("sharepack-processing", pattern=r"^[a-z0-9][a-z0-9-]{1,53}[a-z0-9]$")
    visibility_timeout_s: int = Field(300, ge=1, le=7 * 24 * 3600)
    heartbeat_s: int = Field(60, ge=1)
    max_dequeue: int = Field(5, ge=1)
    poll_min_s: float = Field(1, gt=0)
    poll_max_s: float = Field(30, gt=0)

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Self:
        if self.heartbeat_s * 3 > self.visibility_timeout_s:
            raise ValueError("workflow.queue.heartbeat_s must be at most visibility_timeout_s / 3")
        return self


class WorkerSettings(_Section):
    inline: bool | None = None  # None: true in local, false elsewhere
    concurrency: int | None = Field(None, ge=1, le=64)  # None: 1 inline, 4 standalone
    reconcile_concurrency: int = Field(4, ge=1, le=64)
    workspace_max_inflight: int = Field(8, ge=1, le=64)
    retry_base_s: float = Field(30, ge=0)
    retry_cap_s: float = Field(900, ge=0)
    defer_s: float = Field(30, ge=0)
    shutdown_grace_s: float = Field(20, ge=0)
    sdk_retry_timeout_s: int = Field(60, ge=1)


class SweeperSettings(_Section):
    interval_s: float = Field(60, gt=0)
    requeue_grace_s: float = Field(600, ge=0)
    lease_grace_s: float = Field(120, ge=0)


ApprovalPolicy = Literal["always", "destructive", "never"]


class ApprovalSettings(_Section):
    # None: `never` in the local environment (the quick start runs without sign-in), `destructive` elsewhere.
    required_for: ApprovalPolicy | None = None


class WorkflowSettings(_Section):
    enabled: bool = False
    database_url: SecretStr | None = None
    db_pool_min: int = Field(1, ge=0)
    db_pool_max: int = Field(10, ge=1)
    migrate_on_startup: bool = True
    embedded_db_dir: str | None = None  # local only; default api_layer/.local/pgdata
    queue: QueueSettings = Field(default_factory=QueueSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    sweeper: SweeperSettings = Field(default_factory=SweeperSettings)
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    logs_retention_days: int = Field(30, ge=1)
    # How often the sweeper applies the packs' token rotation policies (docs/WORKFLOW.md §9.6); 0 turns it off.
    token_rotation_sweep_interval_s: float = Field(3600, ge=0)


# ------------------------------------------------------------------------------------------ Databricks


class WorkspaceEntry(_Section):
    url: str
    name: str = Field(min_length=1, max_length=100)
    region: Literal["AM", "EMEA"]


class DatabricksAuthSettings(_Section):
    mode: Literal["azure_sp", "oauth_m2m", "pat"] = "azure_sp"
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    oauth_secret: SecretStr | None = None
    token: SecretStr | None = None
    authority_host: str = "https://login.microsoftonline.com"


class SdkSettings(_Section):
    http_timeout_s: int = Field(30, ge=1)
    retry_timeout_s: int = Field(60, ge=1)


class AutoscaleSettings(_Section):
    min_workers: int = Field(1, ge=0)
    max_workers: int = Field(2, ge=1)


class ClusterSettings(_Section):
    node_type_id: str | None = None
    autoscale: AutoscaleSettings = Field(default_factory=AutoscaleSettings)


DEFAULT_NOTIFICATION_ALERTS = [
    "on-update-failure",
    "on-update-fatal-failure",
    "on-update-success",
    "on-flow-failure",
]


class PipelineDefaults(_Section):
    library_path: str | None = None
    root_path: str | None = None
    serverless: bool = True
    development: bool = False
    photon: bool = True
    channel: Literal["CURRENT", "PREVIEW"] = "CURRENT"
    edition: Literal["CORE", "PRO", "ADVANCED"] = "ADVANCED"
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    notification_alerts: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NOTIFICATION_ALERTS)
    )
    sequence_by: str = "_commit_version"
    delete_expr: str = "_change_type = 'delete'"
    stop_timeout_s: int = Field(600, ge=1)
    stop_poll_s: float = Field(5, gt=0)


class ScheduleDefaults(_Section):
    default_timezone: str = "UTC"
    max_concurrent_runs: int = Field(1, ge=1)
    task_key: str = "run_pipeline"
    job_name_suffix: str = "_schedule"


class DatabricksSettings(_Section):
    workspaces: list[WorkspaceEntry] = Field(default_factory=list)
    auth: DatabricksAuthSettings = Field(default_factory=DatabricksAuthSettings)
    sdk: SdkSettings = Field(default_factory=SdkSettings)
    max_parallel_calls: int = Field(8, ge=1, le=64)
    pipelines: PipelineDefaults = Field(default_factory=PipelineDefaults)
    schedules: ScheduleDefaults = Field(default_factory=ScheduleDefaults)

    @field_validator("workspaces")
    @classmethod
    def _unique_names(cls, value: list[WorkspaceEntry]) -> list[WorkspaceEntry]:
        names = [w.name.lower() for w in value]
        if len(names) != len(set(names)):
            raise ValueError("databricks.workspaces: names must be unique")
        return value


# ------------------------------------------------------------------------------------------ root


class Settings(BaseSettings):
    """Every setting of the service; see docs/API.md §15 and docs/WORKFLOW.md §12."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        case_sensitive=False,
    )

    app_name: str = "DeltaShare"
    environment: Environment = "dev"
    api_prefix: str = Field("", pattern=r"^(/[A-Za-z0-9_/-]*[A-Za-z0-9_-])?$")
    server: ServerSettings = Field(default_factory=ServerSettings)
    upload: UploadSettings = Field(default_factory=UploadSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    workflow: WorkflowSettings = Field(default_factory=WorkflowSettings)
    databricks: DatabricksSettings = Field(default_factory=DatabricksSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - replaced by our own .env source
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - secrets come from the environment
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources as docs/API.md §15.1 demands and add the JSON files and fallback variables."""
        config_dir = config_directory()
        dotenv = DotEnvSettingsSource(settings_cls, env_file=config_dir / ".env")
        init_kwargs = getattr(init_settings, "init_kwargs", {})
        environment = _resolve_environment(init_kwargs, env_settings, dotenv, config_dir)
        return (
            init_settings,
            env_settings,
            _FallbackEnvSource(settings_cls),
            dotenv,
            _JsonFilesSource(settings_cls, config_dir, environment),
        )

    # -------------------------------------------------------------------- fail-fast validation (docs/API.md §15.6)

    @model_validator(mode="after")
    def _validate_startup(self) -> Self:
        local = self.environment == "local"
        problems: list[str] = []
        if self.auth.mode == "disabled" and not local:
            problems.append("auth.mode = 'disabled' is only allowed with environment = 'local'")
        if self.auth.mode == "entra" and (not self.auth.tenant_ids or not self.auth.audiences):
            problems.append(
                "auth.mode = 'entra' needs non-empty auth.tenant_ids and auth.audiences"
            )
        if not self.databricks.workspaces:
            problems.append("databricks.workspaces (the workspace allowlist) is empty")
        for entry in self.databricks.workspaces:
            reason = allowlist_entry_problem(entry.url, local=local)
            if reason:
                problems.append(f"databricks.workspaces: {entry.url!r} {reason}")
        problems.extend(self._databricks_auth_problems(local))
        if not local and not self.databricks.pipelines.library_path:
            problems.append(
                "databricks.pipelines.library_path is required outside environment 'local'"
            )
        if self.workflow.enabled and not local:
            if self.workflow.database_url is None:
                problems.append(
                    "workflow.enabled needs a database URL (DBRX_API_WORKFLOW__DATABASE_URL)"
                )
            queue = self.workflow.queue
            if queue.connection_string is None and not queue.account_url:
                problems.append(
                    "workflow.enabled needs workflow.queue.account_url or a queue connection string"
                )
        if self.workflow.approval.required_for == "never" and not local:
            problems.append(
                "workflow.approval.required_for = 'never' is only allowed with environment = 'local'"
            )
        if problems:
            raise SettingsError("invalid configuration: " + "; ".join(problems))
        return self

    def _databricks_auth_problems(self, local: bool) -> list[str]:
        auth = self.databricks.auth
        problems: list[str] = []

        def need(secret: SecretStr | None, variable: str) -> None:
            if secret is None or (
                not local and _PLACEHOLDER.match(secret.get_secret_value()) is not None
            ):
                problems.append(f"{variable} is missing or a placeholder")
            elif local and not secret.get_secret_value().strip():
                problems.append(f"{variable} is empty")

        if auth.mode == "pat":
            if not local:
                problems.append(
                    "databricks.auth.mode = 'pat' is only allowed with environment = 'local'"
                )
            need(auth.token, "DBRX_API_DATABRICKS__AUTH__TOKEN")
        elif auth.mode == "azure_sp":
            if not auth.tenant_id or not auth.client_id:
                problems.append(
                    "databricks.auth.tenant_id and client_id are required for 'azure_sp'"
                )
            need(auth.client_secret, "DBRX_API_DATABRICKS__AUTH__CLIENT_SECRET")
        else:
            if not auth.client_id:
                problems.append("databricks.auth.client_id is required for 'oauth_m2m'")
            need(auth.oauth_secret, "DBRX_API_DATABRICKS__AUTH__OAUTH_SECRET")
        return problems

    # -------------------------------------------------------------------- derived values

    @property
    def is_local(self) -> bool:
        """True in the local environment (emulator, embedded database, auth may be disabled)."""
        return self.environment == "local"

    @property
    def approval_policy(self) -> ApprovalPolicy:
        """When a version needs an approver's decision (docs/GOVERNANCE.md §1.2)."""
        configured = self.workflow.approval.required_for
        if configured is not None:
            return configured
        return "never" if self.is_local else "destructive"

    @property
    def worker_inline(self) -> bool:
        """Whether the API process runs queue consumers itself."""
        inline = self.workflow.worker.inline
        return self.is_local if inline is None else inline

    @property
    def worker_concurrency(self) -> int:
        """Consumer threads per process (1 inline, 4 standalone unless configured)."""
        configured = self.workflow.worker.concurrency
        if configured is not None:
            return configured
        return 1 if self.worker_inline else 4


def allowlist_entry_problem(url: str, *, local: bool) -> str | None:
    """Why an allowlist URL is unacceptable (None when it is fine)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme == "http" and host in {"127.0.0.1", "localhost"}:
        return None if local else "is a loopback URL, allowed only with environment = 'local'"
    if parts.scheme != "https":
        return "must use https"
    if not _DATABRICKS_HOST.match(host):
        return "is not a Databricks workspace host"
    return None


def config_directory() -> Path:
    """Directory of the JSON files and `.env`: `DBRX_API_CONFIG_DIR`, else the repository root."""
    configured = os.environ.get(f"{ENV_PREFIX}CONFIG_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    # api_layer/src/dbrx_api/settings.py -> repository root
    return Path(__file__).resolve().parents[3]


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path.name}: the top level must be a JSON object")
    _reject_secret_keys(data, path.name, [])
    return data


def _reject_secret_keys(node: Any, file_name: str, path: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            lowered = str(key).lower()
            if lowered == "database_url" or any(f in lowered for f in _SECRET_KEY_FRAGMENTS):
                where = ".".join([*path, str(key)])
                raise SettingsError(
                    f"{file_name}: key '{where}' looks like a secret; secrets come only from environment "
                    "variables"
                )
            _reject_secret_keys(value, file_name, [*path, str(key)])
    elif isinstance(node, list):
        for item in node:
            _reject_secret_keys(item, file_name, path)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return `base` updated recursively with `override` (dicts merge, everything else replaces)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _environment_section(data: dict[str, Any], environment: str, file_name: str) -> dict[str, Any]:
    unknown = set(data) - {"default", *ENVIRONMENTS}
    if unknown:
        raise SettingsError(f"{file_name}: unknown top-level keys {sorted(unknown)}")
    return deep_merge(data.get("default", {}), data.get(environment, {}))


def _resolve_environment(
    init_kwargs: dict[str, Any],
    env_settings: PydanticBaseSettingsSource,
    dotenv: DotEnvSettingsSource,
    config_dir: Path,
) -> str:
    if "environment" in init_kwargs:
        return str(init_kwargs["environment"])
    for source in (env_settings, dotenv):
        value = source().get("environment")
        if value:
            return str(value).lower()
    file_value = _read_json(config_dir / "config.json").get("environment")
    return str(file_value) if file_value else "dev"


class _JsonFilesSource(PydanticBaseSettingsSource):
    """The three JSON configuration files, merged (docs/API.md §15.1, source 4)."""

    def __init__(
        self, settings_cls: type[BaseSettings], config_dir: Path, environment: str
    ) -> None:
        super().__init__(settings_cls)
        self._config_dir = config_dir
        self._environment = environment

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        base = _read_json(self._config_dir / "config.json")
        api = _environment_section(
            _read_json(self._config_dir / "apilayer_config.json"),
            self._environment,
            "apilayer_config.json",
        )
        databricks = _environment_section(
            _read_json(self._config_dir / "databricks_config.json"),
            self._environment,
            "databricks_config.json",
        )
        merged = deep_merge(base, api)
        if databricks:
            merged = deep_merge(merged, {"databricks": databricks})
        return merged


class _FallbackEnvSource(EnvSettingsSource):
    """Well-known variables that stand in when the `DBRX_API_` one is absent (docs/API.md §15.5)."""

    _FALLBACKS: ClassVar[dict[str, tuple[str, str]]] = {
        "DATABASE_URL": ("workflow", "database_url"),
        "DD_API_KEY": ("logging", "datadog_api_key"),
    }

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for variable, (section, key) in self._FALLBACKS.items():
            value = os.environ.get(variable)
            if value:
                data.setdefault(section, {})[key] = value
        return data


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached); components receive their own section as an argument."""
    return Settings()
