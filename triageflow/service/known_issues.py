"""The knowledge base over HTTP: `GET/POST /api/known-issues`, `GET/PUT/DELETE /api/known-issues/{id}`,
`POST /api/known-issues/{id}/test` and `GET /api/known-issues/suggestions`.

Protected by `KNOWN_ISSUES_TOKEN` (`Authorization: Bearer ...`); patterns are checked by the same RE2 matcher
the triage uses before anything is saved; actions must be in the remediation registry.
"""

from __future__ import annotations

import hmac
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from models.alerts import AlertEvent, KnownIssue
from models.db import session_scope
from tasks.alert_known import match_known, validate_pattern
from tasks.alert_remediation import ACTIONS

from ..settings import load_settings


class KnownIssueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=3, max_length=300)
    pattern: str = Field(min_length=1, max_length=2000)
    real: bool = True
    category: Literal["bug", "performance", "security", "infrastructure", "database"] = "infrastructure"
    severity: Literal["critical", "high", "medium", "low"] | None = None
    action: str | None = None
    action_args: dict[str, Any] = {}
    mode: Literal["auto", "approve", "off"] = "off"
    recommendation: str = Field("", max_length=5000)

    @field_validator("pattern")
    @classmethod
    def _re2(cls, pattern: str) -> str:
        problem = validate_pattern(pattern)
        if problem:
            raise ValueError(problem)
        return pattern

    @field_validator("action")
    @classmethod
    def _registered(cls, action: str | None) -> str | None:
        if action is not None and action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; registered: {', '.join(sorted(ACTIONS))}")
        return action


class MatchTest(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)


def _out(row: KnownIssue) -> dict:
    data = row.model_dump(mode="json")
    data["fix_success_rate"] = row.fix_success_rate
    return data


def _problem(status: int, detail) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _invalid(exc: ValidationError) -> JSONResponse:
    errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body",
               "reason": str(e["msg"]).removeprefix("Value error, ")} for e in exc.errors()]
    return _problem(422, errors)


def build_known_issues_router() -> APIRouter:
    router = APIRouter(prefix="/api/known-issues", tags=["known-issues"])

    def guard(request: Request) -> JSONResponse | None:
        s = load_settings()
        if s.known_issues_token is None:
            return _problem(503, "the known-issues API is disabled: set KNOWN_ISSUES_TOKEN")
        auth = request.headers.get("authorization", "")
        given = auth[7:] if auth.lower().startswith("bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), s.known_issues_token.get_secret_value().encode()):
            return _problem(401, "missing or wrong token (Authorization: Bearer ...)")
        return None

    async def body_model(request: Request, model):
        try:
            return model.model_validate(await request.json()), None
        except ValueError as exc:
            if isinstance(exc, ValidationError):
                return None, _invalid(exc)
            return None, _problem(400, f"body is not JSON: {exc}")

    @router.get("")
    def list_known(request: Request):
        if problem := guard(request):
            return problem
        with session_scope(load_settings().triage_database_url) as session:
            return [_out(r) for r in session.exec(select(KnownIssue).order_by(KnownIssue.id))]

    @router.get("/suggestions")
    def suggestions(request: Request, min_count: int = 3):
        """Alert names that keep coming back and that no known issue matches."""
        if problem := guard(request):
            return problem
        url = load_settings().triage_database_url
        with session_scope(url) as session:
            known = list(session.exec(select(KnownIssue)))
            events = list(session.exec(select(AlertEvent.name, AlertEvent.annotations, AlertEvent.labels)))
        counts = Counter(name for name, _, _ in events)
        out = []
        for name, count in counts.most_common():
            if count < min_count:
                break
            sample = next(e for e in events if e[0] == name)
            text = f"{name} | {sample[1].get('summary', '')} | {sample[1].get('description', '')}"
            if match_known(known, text, "", sample[2]) is None:
                out.append({"name": name, "occurrences": count, "example": text})
        return out

    @router.post("", status_code=201)
    async def create(request: Request):
        if problem := guard(request):
            return problem
        data, problem = await body_model(request, KnownIssueIn)
        if problem:
            return problem
        try:
            with session_scope(load_settings().triage_database_url) as session:
                row = KnownIssue(**data.model_dump())
                session.add(row)
                session.flush()
                return JSONResponse(jsonable_encoder(_out(row)), status_code=201)
        except IntegrityError:
            return _problem(409, {"field": "name", "reason": f"a known issue named {data.name!r} exists"})

    @router.get("/{known_id}")
    def read(request: Request, known_id: int):
        if problem := guard(request):
            return problem
        with session_scope(load_settings().triage_database_url) as session:
            row = session.get(KnownIssue, known_id)
            return _out(row) if row else _problem(404, f"known issue {known_id} not found")

    @router.put("/{known_id}")
    async def replace(request: Request, known_id: int):
        if problem := guard(request):
            return problem
        data, problem = await body_model(request, KnownIssueIn)
        if problem:
            return problem
        try:
            with session_scope(load_settings().triage_database_url) as session:
                row = session.get(KnownIssue, known_id)
                if row is None:
                    return _problem(404, f"known issue {known_id} not found")
                for key, value in data.model_dump().items():
                    setattr(row, key, value)
                row.updated_at = datetime.now(timezone.utc)
                session.add(row)
                session.flush()
                return _out(row)
        except IntegrityError:
            return _problem(409, {"field": "name", "reason": f"a known issue named {data.name!r} exists"})

    @router.delete("/{known_id}", status_code=204)
    def delete(request: Request, known_id: int):
        if problem := guard(request):
            return problem
        with session_scope(load_settings().triage_database_url) as session:
            row = session.get(KnownIssue, known_id)
            if row is None:
                return _problem(404, f"known issue {known_id} not found")
            session.delete(row)
        return Response(status_code=204)

    @router.post("/{known_id}/test")
    async def test(request: Request, known_id: int):
        """Does this known issue's pattern match this text (as an alert's words or its logs)?"""
        if problem := guard(request):
            return problem
        data, problem = await body_model(request, MatchTest)
        if problem:
            return problem
        with session_scope(load_settings().triage_database_url) as session:
            row = session.get(KnownIssue, known_id)
            if row is None:
                return _problem(404, f"known issue {known_id} not found")
        found = match_known([row], data.text, data.text)
        return {"id": known_id, "matches": found is not None, "pattern": row.pattern}

    return router

