"""The bot's confirmations: `ask` stores a token for one chat, user, issue and action; `consume` takes it once.

A callback is honoured only when its token exists, has not expired, was not used, and comes from the same
chat and user that asked. Everything else (forged `confirm:resolve:2`, a replay, someone else's button) is
refused; the caller audits the refusal.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy import and_, select, update

from models.audit import utcnow
from models.confirmations import BotConfirmation
from models.db import engine_for

ACTIONS = ("resolve", "ignore")
_table = BotConfirmation.__table__


@dataclass(frozen=True)
class Confirmed:
    issue_id: str
    action: str


class NotConfirmable(Exception):
    """The callback does not match a live confirmation; the message says why (for the audit log)."""


def ask(database_url: str, *, chat_id: int, user_id: int | None, issue_id: str, action: str, ttl_seconds: int) -> str:
    """Store a confirmation and return its token (short enough for Telegram's 64-byte callback data)."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
    token = secrets.token_urlsafe(15)
    with engine_for(database_url).begin() as conn:
        conn.execute(_table.insert().values(token=token, chat_id=chat_id, user_id=user_id, issue_id=issue_id,
                                            action=action, created_at=utcnow(),
                                            expires_at_ms=int(time.time() * 1000) + ttl_seconds * 1000))
    return token


def consume(database_url: str, token: str, *, chat_id: int, user_id: int | None, outcome: str = "confirmed") -> Confirmed:
    """Use the token once (atomically: of two presses, one wins); NotConfirmable when it may not be used."""
    now_ms = int(time.time() * 1000)
    user_matches = _table.c.user_id.is_(None) if user_id is None else _table.c.user_id == user_id
    with engine_for(database_url).begin() as conn:
        used = conn.execute(update(_table).where(and_(
            _table.c.token == token, _table.c.used_at.is_(None), _table.c.expires_at_ms > now_ms,
            _table.c.chat_id == chat_id, user_matches,
        )).values(used_at=utcnow(), outcome=outcome)).rowcount
        row = conn.execute(select(_table).where(_table.c.token == token)).first()
    if used == 1:
        return Confirmed(row.issue_id, row.action)
    if row is None:
        raise NotConfirmable("no such confirmation")
    if row.chat_id != chat_id or row.user_id != user_id:
        raise NotConfirmable("asked for by another chat or user")
    if row.used_at is not None:
        raise NotConfirmable("already used")
    raise NotConfirmable("expired")
