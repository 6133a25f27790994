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
                     "runbooks_base_url")
    @classmethod
    def _http_url(cls, v: str | None, info) -> str | None:
        if v in (None, ""):
            return None if info.field_name in ("glitchtip_url", "loki_url", "runbooks_base_url") else v
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


def load_settings(**overrides) -> Settings:
    """Build settings, turning pydantic's errors into one ConfigError that names each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = err.get("loc") or ()
            name = str(loc[0]).upper() if loc else "settings"
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            lines.append(msg if name in msg else f"{name}: {msg}")
        raise ConfigError("; ".join(lines)) from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once on first use (never at import)."""
    return load_settings()


def reset_settings() -> None:
    settings.cache_clear()
