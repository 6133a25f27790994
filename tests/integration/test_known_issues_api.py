"""The knowledge-base API over loopback, on SQLite and PostgreSQL: the seeded five, CRUD, RE2 validation, /test."""

from __future__ import annotations

import httpx
import pytest

from triageflow.sandbox.server import LoopbackServer
from triageflow.service.app import create_service
from triageflow.settings import reset_settings

TOKEN = "kb-token-0123456789abcdef"
KB = "/api/known-issues"


@pytest.fixture
def api(database_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    monkeypatch.setenv("KNOWN_ISSUES_TOKEN", TOKEN)
    reset_settings()
    with LoopbackServer(create_service()) as server:
        yield httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"})
    reset_settings()


def test_seeded_entries_crud_and_match_test(api):
    seeded = api.get(KB).json()
    assert [k["name"] for k in seeded] == ["service-down", "db-pool-exhausted", "stale-cache", "memory-pressure",
                                          "disk-full"]
    created = api.post(KB, json={"name": "smtp-temp-fail", "title": "Mail relay refuses temporarily",
                                 "pattern": r"smtp: 4\d\d temporary", "category": "infrastructure",
                                 "real": False}).json()
    assert created["id"] == 6 and created["fix_success_rate"] is None
    hit = api.post(f"{KB}/{created['id']}/test", json={"text": 'ERROR job=send_receipt err="smtp: 451 temporary failure"'})
    assert hit.json()["matches"] is True
    assert api.post(f"{KB}/{created['id']}/test", json={"text": "all good"}).json()["matches"] is False
    updated = api.put(f"{KB}/{created['id']}", json={**{k: created[k] for k in ("name", "title", "category", "real")},
                                                 "pattern": "smtp", "mode": "off"}).json()
    assert updated["pattern"] == "smtp"
    assert api.delete(f"{KB}/{created['id']}").status_code == 204
    assert api.get(f"{KB}/{created['id']}").status_code == 404


@pytest.mark.parametrize("body,field,reason", [
    ({"name": "x-y", "title": "Lookahead", "pattern": "(?=x)"}, "pattern", "backtracking"),
    ({"name": "x-y", "title": "Bad", "pattern": "([a-z"}, "pattern", "bad regular expression"),
    ({"name": "x-y", "title": "Unknown action", "pattern": "x", "action": "rm_rf"}, "action", "unknown action"),
    ({"name": "x-y", "title": "Mode", "pattern": "x", "mode": "sometimes"}, "mode", ""),
    ({"name": "service-down", "title": "Duplicate", "pattern": "x"}, "name", "exists"),
])
def test_invalid_entries_are_refused_naming_the_field(api, body, field, reason):
    response = api.post(KB, json=body)
    assert response.status_code in (409, 422), response.text
    detail = response.json()["detail"]
    details = detail if isinstance(detail, list) else [detail]
    assert any(d["field"] == field and reason in d["reason"] for d in details), detail
    assert len(api.get(KB).json()) == 5


def test_the_api_needs_its_token(api):
    base = str(api.base_url).rstrip("/") + KB
    assert httpx.get(base).status_code == 401
    assert httpx.get(base, headers={"Authorization": "Bearer wrong"}).status_code == 401
