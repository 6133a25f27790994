"""Bot confirmations: a stored, expiring, single-use token bound to one chat, user, issue and action."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime
from sqlmodel import Field, SQLModel

from .audit import utcnow


class BotConfirmation(SQLModel, table=True):
    """Asked for by `/resolve N` (or a button); its token is the only callback that may carry the change out."""

    __tablename__ = "bot_confirmation"

    token: str = Field(primary_key=True, max_length=40)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    issue_id: str = Field(max_length=30)
    action: str = Field(max_length=20, description="resolve or ignore")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    outcome: str | None = Field(default=None, max_length=20, description="confirmed or cancelled")
