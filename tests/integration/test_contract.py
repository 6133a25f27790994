"""Replays every request recorded from a real GlitchTip against the sandbox: same status, keys, types, headers.

This keeps the sandbox from drifting away from the real server the client is written against.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

# values whose inner keys are free-form (user data, SDK context): only their type is compared
FREE_FORM = {"vars", "context", "contexts", "packages", "data", "options", "statusDetails", "avatar"}
PAGING_HEADERS = ("link", "x-hits", "x-max-hits")


def recordings() -> list[Path]:
    from tests.conftest import PEERS

    return sorted((PEERS / "glitchtip" / "api").glob("*.json"))


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _shapes_seen() -> dict[str, set[frozenset]]:
    """Every key set the real server sent under each field name, across all recordings."""
    seen: dict[str, set[frozenset]] = {}

    def walk(value, name):
        if isinstance(value, dict):
            seen.setdefault(name, set()).add(frozenset(value))
            for key, inner in value.items():
                walk(inner, key)
        elif isinstance(value, list):
            for inner in value:
                walk(inner, name)

    for path in recordings():
        walk(json.loads(path.read_text()).get("body"), "$")
    return seen


SHAPES_SEEN = _shapes_seen()


def shape_mismatches(recorded, ours, where: str = "$") -> list[str]:
    """Where `ours` differs from `recorded` in keys or value types (null stands in for any scalar).

    A dict whose key set the real server sent elsewhere under the same field name is a known variant
    (an error's `metadata` vs a message's) and is accepted.
    """
    if recorded is None or ours is None:
        if isinstance(recorded, (dict, list)) or isinstance(ours, (dict, list)):
            return [] if recorded is None and ours is None else [f"{where}: {_kind(recorded)} vs {_kind(ours)}"]
        return []
    if _kind(recorded) != _kind(ours):
        return [f"{where}: recorded {_kind(recorded)}, sandbox {_kind(ours)}"]
    if isinstance(recorded, dict):
        if where.rsplit(".", 1)[-1] in FREE_FORM:
            return []
        problems = []
        name = where.rsplit(".", 1)[-1].split("[", 1)[0]
        if set(recorded) != set(ours) and frozenset(ours) in SHAPES_SEEN.get(name, ()):
            return []
        if set(recorded) != set(ours):
            missing, extra = sorted(set(recorded) - set(ours)), sorted(set(ours) - set(recorded))
            problems.append(f"{where}: missing keys {missing}, extra keys {extra}")
        for key in set(recorded) & set(ours):
            problems += shape_mismatches(recorded[key], ours[key], f"{where}.{key}")
        return problems
    if isinstance(recorded, list) and recorded and ours:
        problems = []
        for i, item in enumerate(ours):
            per_candidate = [shape_mismatches(candidate, item, f"{where}[{i}]") for candidate in recorded]
            best = min(per_candidate, key=len)
            problems += best
        return problems
    return []


def _link_shape(value: str) -> dict[str, tuple]:
    links = {}
    for link in httpx.Response(200, headers={"link": value}).links.values():
        links[link["rel"]] = tuple(sorted(k for k in link if k != "url"))
    return links


def _request_of(recording: dict, sandbox_url: str, headers: dict) -> httpx.Response:
    request = recording["request"]
    method = request["method"]
    if "url" in request:  # a later page: follow the sandbox's own cursor from the first page instead
        parts = urlsplit(request["url"])
        params = [(k, v) for k, v in parse_qsl(parts.query) if k != "cursor"]
        first = httpx.request(method, sandbox_url + parts.path, params=params, headers=headers)
        return httpx.request(method, first.links["next"]["url"], headers=headers)
    params = []
    for key, value in (request.get("params") or {}).items():
        params += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    return httpx.request(method, sandbox_url + request["path"], params=params, json=request.get("json"),
                         headers=headers)


@pytest.mark.parametrize("path", recordings(), ids=lambda p: p.stem)
def test_sandbox_answers_like_the_recorded_server(sandbox, path):
    recording = json.loads(path.read_text())
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    if "request" not in recording:  # bad-token.json: any call with a wrong token
        response = httpx.get(f"{sandbox.url}/api/0/organizations/", headers={"Authorization": "Bearer wrong"})
        assert response.status_code == recording["status"]
        assert response.json() == json.loads(recording["body"])
        return
    response = _request_of(recording, sandbox.url, headers)
    assert response.status_code == recording["status"], response.text[:300]

    recorded_type = recording["headers"].get("content-type", "application/json").split(";")[0]
    assert response.headers["content-type"].split(";")[0] == recorded_type

    for header in PAGING_HEADERS:  # some recordings kept fewer headers: ours must have at least theirs
        if header in recording["headers"]:
            assert header in response.headers, f"header {header} missing"
    if "link" in recording["headers"]:
        assert _link_shape(response.headers["link"]).keys() == _link_shape(recording["headers"]["link"]).keys()
        assert response.headers["x-hits"].isdigit()
    if "allow" in recording["headers"] and "allow" in response.headers:
        assert response.headers["allow"] == recording["headers"]["allow"]

    if recorded_type == "application/json":
        problems = shape_mismatches(recording["body"], response.json())
        assert not problems, "\n".join(problems[:20])


def test_every_recorded_request_is_covered():
    """A new recording dropped into the peers folder is replayed too; none is skipped silently."""
    files = recordings()
    assert len(files) >= 50
    assert all("status" in json.loads(f.read_text()) for f in files)


def test_shape_comparison_catches_drift():
    recorded = {"count": "3", "project": {"id": "2"}, "items": [{"a": 1}]}
    assert shape_mismatches(recorded, {"count": 3, "project": {"id": "2"}, "items": [{"a": 1}]})
    assert shape_mismatches(recorded, {"count": "3", "project": {"id": "2", "x": 1}, "items": [{"a": 1}]})
    assert shape_mismatches(recorded, {"count": "3", "project": {"id": "2"}, "items": [{"b": 1}]})
    assert not shape_mismatches(recorded, {"count": "9", "project": {"id": "7"}, "items": [{"a": 5}, {"a": 6}]})
