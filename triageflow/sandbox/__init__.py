"""Loopback stand-ins for GlitchTip (and, as later work adds them, Telegram, Slack, GitHub and Loki)."""

from .app import DEFAULT_TOKEN, ORG_SLUG, SLACK_CHANNEL, TELEGRAM_CHAT_ID, Sandbox, create_app
from .server import SandboxServer

__all__ = ["DEFAULT_TOKEN", "ORG_SLUG", "SLACK_CHANNEL", "TELEGRAM_CHAT_ID", "Sandbox", "SandboxServer", "create_app"]
