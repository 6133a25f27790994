"""Claims: one row per side effect that must happen once, taken atomically before acting (see `triageflow.once`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime
from sqlmodel import Field, SQLModel

from .audit import utcnow


class Claim(SQLModel, table=True):
    """`held` by one holder until `lease_until_ms` (epoch milliseconds), then `done` or `failed`.

    A `done` claim is never taken again; a `failed` one, or a `held` one whose lease ran out (its holder
    crashed), may be retaken by the next caller.
    """

    __tablename__ = "claim"

    key: str = Field(primary_key=True, max_length=300, description="what must happen once, e.g. alert:issue:9:...")
    status: str = Field(default="held", max_length=10, index=True, description="held, done or failed")
    holder: str = Field(max_length=100, description="who holds or held it: host, process and a random part")
    lease_until_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    attempts: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    error: str | None = Field(default=None, max_length=2000)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
