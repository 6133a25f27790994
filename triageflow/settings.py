"""One settings object for triageflow, read from the environment and `.env` when first asked for."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_TOKEN_PREFIX = "dev_"
"""A token that starts with this is a development (sandbox) token, refused in production."""

_TOKEN_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "GLITCHTIP_TOKEN": (re.compile(r"^[A-Za-z0-9_\-]{32,}$"), "at least 32 letters, digits, '_' or '-'"),
    "TELEGRAM_BOT_TOKEN": (re.compile(r"^\d+:[A-Za-z0-9_\-]{20,}$"), "'<bot id>:<secret>' as BotFather gives it"),
    "SLACK_BOT_TOKEN": (re.compile(r"^xox[abpr]-[A-Za-z0-9\-]{10,}$"), "'xoxb-...' (a bot token)"),
    "GITHUB_TOKEN": (
        re.compile(r"^(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})$"),
        "'ghp_...', 'github_pat_...' or another GitHub token prefix",
    ),
}


class ConfigError(Exception):
    """The configuration is missing something or holds a value that cannot work; names the variable."""


def is_dev_token(raw: str) -> bool:
    return raw.startswith(DEV_TOKEN_PREFIX)


def _check_token(variable: str, secret: SecretStr | None) -> SecretStr | None:
    if secret is None:
        return None
    raw = secret.get_secret_value()
    if raw == "":
        return None
    if raw != raw.strip() or any(ch.isspace() for ch in raw):
        raise ValueError(f"{variable} contains white space; paste the token alone")
    if is_dev_token(raw):
        if len(raw) < len(DEV_TOKEN_PREFIX) + 8:
            raise ValueError(f"{variable} is a development token but too short to be one")
        return secret
    pattern, shape = _TOKEN_FORMATS[variable]
    if not pattern.match(raw):
        raise ValueError(f"{variable} is malformed: expected {shape} ({len(raw)} characters given)")
    return secret


class Settings(BaseSettings):
    """Everything triageflow reads from its environment. Secrets stay `SecretStr` until a client is built."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    glitchtip_url: str | None = Field(None, alias="GLITCHTIP_URL")
    glitchtip_token: SecretStr | None = Field(None, alias="GLITCHTIP_TOKEN")
    glitchtip_org: str | None = Field(None, alias="GLITCHTIP_ORG")
    glitchtip_project: str | None = Field(None, alias="GLITCHTIP_PROJECT")
    glitchtip_dsn: SecretStr | None = Field(None, alias="GLITCHTIP_DSN")
    glitchtip_timeout: float = Field(30.0, alias="GLITCHTIP_TIMEOUT", gt=0)
    glitchtip_retries: int = Field(4, alias="GLITCHTIP_RETRIES", ge=0, le=10)
    glitchtip_rate_limit: float = Field(10.0, alias="GLITCHTIP_RATE_LIMIT", ge=0)
    glitchtip_max_in_flight: int = Field(2, alias="GLITCHTIP_MAX_IN_FLIGHT", ge=1)

    triage_database_url: str = Field("sqlite:///.triageflow/triage.db", alias="TRIAGE_DATABASE_URL")
    triage_env: Literal["development", "production"] = Field("development", alias="TRIAGE_ENV")
    triage_dry_run: bool = Field(False, alias="TRIAGE_DRY_RUN")
    triage_auto_migrate: bool = Field(True, alias="TRIAGE_AUTO_MIGRATE",
                                      description="migrate the database on first use; off: `triage db upgrade` does")
    triage_backup_dir: Path = Field(Path(".triageflow/backups"), alias="TRIAGE_BACKUP_DIR")
    codebase_path: Path | None = Field(None, alias="CODEBASE_PATH")
    runbooks_dir: Path = Field(Path(__file__).resolve().parent.parent / "runbooks", alias="RUNBOOKS_DIR")
    runbooks_base_url: str | None = Field(None, alias="RUNBOOKS_BASE_URL")

    telegram_bot_token: SecretStr | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    telegram_chat_id: str | None = Field(None, alias="TELEGRAM_CHAT_ID")
    telegram_api_url: str = Field("https://api.telegram.org", alias="TELEGRAM_API_URL")
    telegram_allowed_chats: str = Field("", alias="TELEGRAM_ALLOWED_CHATS", description="comma-separated chat ids")
    telegram_allowed_users: str = Field("", alias="TELEGRAM_ALLOWED_USERS", description="comma-separated user ids")
    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_channel: str | None = Field(None, alias="SLACK_CHANNEL")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    github_token: SecretStr | None = Field(None, alias="GITHUB_TOKEN")
    github_repo: str | None = Field(None, alias="GITHUB_REPO")
    github_api_url: str = Field("https://api.github.com", alias="GITHUB_API_URL")
    loki_url: str | None = Field(None, alias="LOKI_URL")

    webhook_secret: SecretStr | None = Field(None, alias="WEBHOOK_SECRET")
    webhook_max_bytes: int = Field(262_144, alias="WEBHOOK_MAX_BYTES", ge=1024)
    alert_dedup_minutes: int = Field(30, alias="ALERT_DEDUP_MINUTES", ge=0)
    service_host: str = Field("127.0.0.1", alias="SERVICE_HOST")
    service_port: int = Field(8090, alias="SERVICE_PORT", ge=1, le=65535)

    # --- issue 12: alert triage ---
    github_seconds_between_writes: float = Field(1.0, alias="GITHUB_SECONDS_BETWEEN_WRITES", ge=0)
    github_labels: str = Field("triage,alert", alias="GITHUB_LABELS", description="comma-separated default labels")
    github_assignees: str = Field("", alias="GITHUB_ASSIGNEES",
                                  description="component=login[,component=login]; '*=login' for the rest")
    alertmanager_url: str | None = Field(None, alias="ALERTMANAGER_URL")
    prometheus_url: str | None = Field(None, alias="PROMETHEUS_URL",
                                       description="where alert metric queries go; unset: the alert's generatorURL host")
    grafana_signature_header: str = Field("X-Grafana-Alert-Signature", alias="GRAFANA_SIGNATURE_HEADER")
    slack_channel_critical: str | None = Field(None, alias="SLACK_CHANNEL_CRITICAL")
    slack_channel_high: str | None = Field(None, alias="SLACK_CHANNEL_HIGH")
    slack_channel_medium: str | None = Field(None, alias="SLACK_CHANNEL_MEDIUM")
    slack_channel_resolved: str | None = Field(None, alias="SLACK_CHANNEL_RESOLVED")
    alert_loki_window_minutes: int = Field(15, alias="ALERT_LOKI_WINDOW_MINUTES", ge=1, le=24 * 60)
    alert_loki_queries: str = Field('{service="{service}"} |~ "(?i)error|exception|traceback"',
                                    alias="ALERT_LOKI_QUERY", description="LogQL template; {service} is filled in")
    alert_health_urls: str = Field("", alias="ALERT_HEALTH_URLS", description="service=url[,service=url]")
    alert_health_timeout: float = Field(3.0, alias="ALERT_HEALTH_TIMEOUT", gt=0, le=60)
    alert_error_threshold: int = Field(3, alias="ALERT_ERROR_THRESHOLD", ge=1,
                                       description="more errors than this in the window make an alert real")
    alert_error_window_minutes: int = Field(5, alias="ALERT_ERROR_WINDOW_MINUTES", ge=1)
    alert_latency_factor: float = Field(2.0, alias="ALERT_LATENCY_FACTOR", gt=1)
    alert_error_rate_critical: float = Field(0.10, alias="ALERT_ERROR_RATE_CRITICAL", gt=0, le=1)
    alert_error_rate_high: float = Field(0.05, alias="ALERT_ERROR_RATE_HIGH", gt=0, le=1)
    alert_latency_high_ms: float = Field(2000.0, alias="ALERT_LATENCY_HIGH_MS", gt=0)
    alert_max_issues_per_hour: int = Field(10, alias="ALERT_MAX_ISSUES_PER_HOUR", ge=0)
    alert_autoclose_hours: float = Field(24.0, alias="ALERT_AUTOCLOSE_HOURS", gt=0)
    remediation_enabled: bool = Field(False, alias="REMEDIATION_ENABLED")
    remediation_window_minutes: int = Field(60, alias="REMEDIATION_WINDOW_MINUTES", ge=1)
    remediation_deadline_seconds: float = Field(300.0, alias="REMEDIATION_DEADLINE_SECONDS", ge=0)
    remediation_poll_seconds: float = Field(5.0, alias="REMEDIATION_POLL_SECONDS", gt=0)
    remediation_dry_run: bool | None = Field(None, alias="REMEDIATION_DRY_RUN",
                                             description="unset: dry-run outside production")
    remediation_approve_timeout: float = Field(900.0, alias="REMEDIATION_APPROVE_TIMEOUT", ge=1)
    remediation_commands: str = Field("", alias="REMEDIATION_COMMANDS",
                                      description="JSON object: service → argv list run by restart_service")
    remediation_hooks: str = Field("", alias="REMEDIATION_HOOKS",
                                   description="JSON object: service → URL POSTed by restart_service")
    redis_url: str | None = Field(None, alias="REDIS_URL")
    known_issues_token: SecretStr | None = Field(None, alias="KNOWN_ISSUES_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")

    # --- issue 14: watching the watcher ---
    health_slow_seconds: str = Field("", alias="HEALTH_SLOW_SECONDS",
                                     description="per-flow slow-run thresholds, e.g. 'investigate-issue=120,daily-metrics=300'")
    health_slow_default: float = Field(600.0, alias="HEALTH_SLOW_DEFAULT", gt=0)
    health_late_minutes: int = Field(15, alias="HEALTH_LATE_MINUTES", ge=1,
                                     description="a scheduled run this late (or no upcoming run) alerts")
    escalation_factor: float = Field(10.0, alias="ESCALATION_FACTOR", gt=1)
    escalation_new_users: int = Field(10, alias="ESCALATION_NEW_USERS", ge=1)
    escalation_min_events: int = Field(20, alias="ESCALATION_MIN_EVENTS", ge=1)
    canary_timeout_seconds: float = Field(120.0, alias="CANARY_TIMEOUT_SECONDS", gt=0)
    uptime_targets: str = Field("", alias="UPTIME_TARGETS",
                                description="comma-separated 'URL [status] [timeout]', e.g. 'https://x/health 200 5'")

    @field_validator("glitchtip_token", "telegram_bot_token", "slack_bot_token", "github_token")
    @classmethod
    def _token_shape(cls, v: SecretStr | None, info) -> SecretStr | None:
        return _check_token(info.field_name.upper(), v)

    @field_validator("glitchtip_url", "loki_url", "telegram_api_url", "slack_api_url", "github_api_url",
                     "runbooks_base_url", "alertmanager_url", "prometheus_url")
    @classmethod
    def _http_url(cls, v: str | None, info) -> str | None:
        if v in (None, ""):
            return None if info.field_name in ("glitchtip_url", "loki_url", "runbooks_base_url",
                                               "alertmanager_url", "prometheus_url") else v
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"{info.field_name.upper()} must be an http(s) URL, got {v!r}")
        return v

    @field_validator("github_repo")
    @classmethod
    def _github_repo(cls, v: str | None) -> str | None:
        if v and not re.match(r"^[\w.-]+/[\w.-]+$", v):
            raise ValueError(f"GITHUB_REPO must look like 'owner/name', got {v!r}")
        return v or None

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and 0 < len(v.get_secret_value()) < 16:
            raise ValueError("WEBHOOK_SECRET must be at least 16 characters")
        return v if v and v.get_secret_value() else None

    @model_validator(mode="after")
    def _no_dev_tokens_in_production(self) -> "Settings":
        if self.triage_env != "production":
            return self
        for variable in ("GLITCHTIP_TOKEN", "TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "GITHUB_TOKEN"):
            secret: SecretStr | None = getattr(self, variable.lower())
            if secret is not None and is_dev_token(secret.get_secret_value()):
                raise ValueError(
                    f"{variable} is a development token ('{DEV_TOKEN_PREFIX}...'), refused with TRIAGE_ENV=production"
                )
        return self

    def require(self, *names: str) -> None:
        """Fail with one message naming every variable in `names` that is not set."""
        missing = [n for n in names if getattr(self, n.lower()) in (None, "")]
        if missing:
            raise ConfigError(f"missing configuration: {', '.join(missing)} (see .env.example)")

    def masked(self) -> dict[str, str]:
        """Every setting as text for display, secrets reduced to a hint."""
        out: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                raw = value.get_secret_value()
                shown = f"set ({len(raw)} chars{', dev token' if is_dev_token(raw) else ''})"
            else:
                shown = "" if value is None else str(value)
            out[field.alias or name.upper()] = shown
        return out

    # --- issue 10: exactly once ---
    webhook_workers: int = Field(2, alias="WEBHOOK_WORKERS", ge=1, le=64)
    webhook_queue_size: int = Field(2000, alias="WEBHOOK_QUEUE_SIZE", ge=1)
    webhook_sweep_seconds: float = Field(30.0, alias="WEBHOOK_SWEEP_SECONDS", gt=0)
    alert_sweep_after_seconds: float = Field(60.0, alias="ALERT_SWEEP_AFTER_SECONDS", gt=0,
                                             description="a stored alert not started this long is started by the sweep")
    webhook_delivery_lease_seconds: float = Field(60.0, alias="WEBHOOK_DELIVERY_LEASE_SECONDS", gt=0)
    investigation_lease_seconds: float = Field(1800.0, alias="INVESTIGATION_LEASE_SECONDS", gt=0)
    investigation_queue_size: int = Field(100, alias="INVESTIGATION_QUEUE_SIZE", ge=1)
    webhook_read_timeout: float = Field(10.0, alias="WEBHOOK_READ_TIMEOUT", gt=0)
    webhook_max_depth: int = Field(32, alias="WEBHOOK_MAX_DEPTH", ge=4, le=200)
    webhook_unlisted_cap: int = Field(10, alias="WEBHOOK_UNLISTED_CAP", ge=0, le=100)
    webhook_unlisted_window_minutes: int = Field(60, alias="WEBHOOK_UNLISTED_WINDOW_MINUTES", ge=1)
    webhook_spool_dir: str = Field(".triageflow/spool", alias="WEBHOOK_SPOOL_DIR")
    webhook_spool_max_bytes: int = Field(50_000_000, alias="WEBHOOK_SPOOL_MAX_BYTES", ge=1024)
    webhook_background: Literal["thread", "external"] = Field("thread", alias="WEBHOOK_BACKGROUND")
    bot_confirm_seconds: int = Field(300, alias="BOT_CONFIRM_SECONDS", ge=10, le=86400)

    # --- issue 13: telemetry ---
    telemetry_project_keys: str = Field(
        "", alias="TELEMETRY_PROJECT_KEYS",
        description="DSN public keys accepted per project id: '7:publickey123 otherkey,8:key8' (empty: no Sentry ingest)")
    telemetry_max_bytes: int = Field(1_048_576, alias="TELEMETRY_MAX_BYTES", ge=1024,
                                     description="largest telemetry body, as sent and once decompressed")
    telemetry_rate_per_ip: float = Field(600, alias="TELEMETRY_RATE_PER_IP", ge=0, description="events/min (0: off)")
    telemetry_rate_per_session: float = Field(120, alias="TELEMETRY_RATE_PER_SESSION", ge=0)
    telemetry_rate_per_key: float = Field(6000, alias="TELEMETRY_RATE_PER_KEY", ge=0)
    telemetry_relay: bool = Field(False, alias="TELEMETRY_RELAY", description="forward redacted events to GLITCHTIP_DSN")
    telemetry_triage_threshold: int = Field(10, alias="TELEMETRY_TRIAGE_THRESHOLD", ge=1)
    telemetry_draft_pr: bool = Field(False, alias="TELEMETRY_DRAFT_PR",
                                     description="with each new telemetry issue, a draft pull request of its triage notes")

    @field_validator("telemetry_project_keys")
    @classmethod
    def _telemetry_keys(cls, v: str) -> str:
        for entry in filter(None, (e.strip() for e in v.split(","))):
            project, _, keys = entry.partition(":")
            if not project.strip() or not keys.split():
                raise ValueError(f"TELEMETRY_PROJECT_KEYS entry {entry!r} must look like '<project id>:<public key> ...'")
        return v

    def telemetry_keys(self) -> dict[str, frozenset[str]]:
        """Project id → the DSN public keys accepted for it."""
        out: dict[str, frozenset[str]] = {}
        for entry in filter(None, (e.strip() for e in self.telemetry_project_keys.split(","))):
            project, _, keys = entry.partition(":")
            out[project.strip()] = out.get(project.strip(), frozenset()) | frozenset(keys.split())
        return out


def load_settings(**overrides) -> Settings:
    """Build settings, turning pydantic's errors into one ConfigError that names each variable."""
    try:
        loaded = Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = err.get("loc") or ()
            name = str(loc[0]).upper() if loc else "settings"
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            lines.append(msg if name in msg else f"{name}: {msg}")
        raise ConfigError("; ".join(lines)) from None
    from models.db import set_auto_migrate

    set_auto_migrate(loaded.triage_auto_migrate)
    return loaded


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once on first use (never at import)."""
    return load_settings()


def reset_settings() -> None:
    settings.cache_clear()
