"""Checks every configured integration: reachable, authenticated, and what it sees."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .clients.errors import ClientError
from .clients.glitchtip import glitchtip_from_settings, release_of
from .settings import Settings


@dataclass(frozen=True)
class Check:
    integration: str
    status: str  # "ok", "failed", "not configured"
    detail: str

    @property
    def broken(self) -> bool:
        return self.status == "failed"


def check_database(s: Settings) -> Check:
    from models.db import current_revision, head_revision, normalize_url

    from sqlalchemy.engine import make_url

    shown = make_url(normalize_url(s.triage_database_url)).render_as_string(hide_password=True)
    try:
        revision = current_revision(s.triage_database_url)
    except Exception as exc:  # noqa: BLE001 - any driver error is the answer here
        return Check("database", "failed", f"{shown}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    if revision is None:
        return Check("database", "failed", f"{shown}: no schema; run `triage db upgrade`")
    head = head_revision()
    if revision != head:
        return Check("database", "failed", f"{shown}: schema {revision} is behind {head}; run `triage db upgrade`")
    return Check("database", "ok", f"{shown} (schema {revision})")


def check_glitchtip(s: Settings) -> Check:
    if not (s.glitchtip_url or s.glitchtip_token or s.glitchtip_org):
        return Check("glitchtip", "not configured", "set GLITCHTIP_URL, GLITCHTIP_TOKEN, GLITCHTIP_ORG")
    try:
        with glitchtip_from_settings(s, retries=1, timeout=min(s.glitchtip_timeout, 10)) as gt:
            org = gt.organization()
            release = release_of(org)  # the same answer the client learns its release from
            projects = [p["slug"] for p in org.get("projects", [])]
            if s.glitchtip_project and s.glitchtip_project not in projects:
                return Check("glitchtip", "failed", f"project {s.glitchtip_project!r} not in org {org['slug']!r} "
                                                    f"(projects: {', '.join(projects) or 'none'}); {release}")
            return Check("glitchtip", "ok", f"{s.glitchtip_url} org {org['slug']!r}: projects "
                                            f"{', '.join(projects) or 'none'}; release detected: {release}")
    except ClientError as exc:
        return Check("glitchtip", "failed", f"{s.glitchtip_url}: {exc}")
    except Exception as exc:  # ConfigError and the like
        return Check("glitchtip", "failed", str(exc))


def check_codebase(s: Settings) -> Check:
    if s.codebase_path is None:
        return Check("codebase", "not configured", "set CODEBASE_PATH to the git checkout investigations search")
    path = Path(s.codebase_path)
    if not path.is_dir():
        return Check("codebase", "failed", f"{path} is not a folder")
    done = subprocess.run(["git", "-C", str(path), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    if done.returncode != 0:
        return Check("codebase", "failed", f"{path} is not a git checkout: {done.stderr.strip()[:200]}")
    return Check("codebase", "ok", f"{path} at {done.stdout.strip()}")


def check_prefect(s: Settings) -> Check:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return Check("prefect", "not configured", "no PREFECT_API_URL: flows run on a temporary local server")
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=5)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return Check("prefect", "failed", f"{url}: {exc.__class__.__name__}: {exc}")
    return Check("prefect", "ok", f"{url} healthy")


def check_telegram(s: Settings) -> Check:
    if not (s.telegram_bot_token or s.telegram_chat_id):
        return Check("telegram", "not configured", "set TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID")
    from .clients.telegram import telegram_from_settings

    try:
        me = telegram_from_settings(s).get_me()
    except Exception as exc:  # ConfigError or ClientError: either way the integration is broken
        return Check("telegram", "failed", f"{s.telegram_api_url}: {exc}")
    return Check("telegram", "ok", f"bot @{me.get('username')} → chat {s.telegram_chat_id}")


def check_slack(s: Settings) -> Check:
    if not (s.slack_bot_token or s.slack_channel):
        return Check("slack", "not configured", "set SLACK_BOT_TOKEN and SLACK_CHANNEL")
    from .clients.slack import slack_from_settings

    try:
        info = slack_from_settings(s).auth_test()
    except Exception as exc:
        return Check("slack", "failed", f"{s.slack_api_url}: {exc}")
    return Check("slack", "ok", f"team {info.get('team')} as {info.get('user')} → channel {s.slack_channel}")


CHECKS: dict[str, Callable[[Settings], Check]] = {
    "database": check_database,
    "glitchtip": check_glitchtip,
    "codebase": check_codebase,
    "prefect": check_prefect,
    "telegram": check_telegram,
    "slack": check_slack,
}


def run_checks(s: Settings, names: list[str] | None = None) -> list[Check]:
    return [CHECKS[name](s) for name in (names or list(CHECKS))]
