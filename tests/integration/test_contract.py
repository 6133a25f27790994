"""Replays every request recorded from a real GlitchTip against the sandbox: same status, keys, types, headers.

Each release's folder (`api/` = 2024, `api-4.2.1/`, `api-5.1/`) is replayed against the sandbox answering
as that release, so none of the three modes can drift from the real server the client is written against.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from triageflow.sandbox.glitchtip_releases import RELEASES

# values whose inner keys are free-form (user data, SDK context): only their type is compared
FREE_FORM = {"vars", "context", "contexts", "packages", "data", "options", "statusDetails", "avatar"}
# null or an object on the real server depending on what the SDK sent; the 5.1 recordings hold only
# user-less events, so an object is compared only where the recording has one
NULLABLE_OBJECTS = {"user"}
# the recordings' issues and project, and the seeded sandbox issue of the same kind (python error, node error)
SANDBOX_EQUIVALENT = {
    "2024": {},
    "4.2.1": {"110": "9", "107": "113", "109": "8", "booking": "worker"},
    "5.1": {"111": "113", "112": "9", "booking": "worker"},
}
PAGING_HEADERS = ("link", "x-hits", "x-max-hits")


def recordings(release: str = "2024") -> list[Path]:
    from tests.conftest import PEERS

    return sorted((PEERS / "glitchtip" / RELEASES[release].recordings).glob("*.json"))


def all_recordings() -> list[tuple[str, Path]]:
    return [(release, path) for release in RELEASES for path in recordings(release)]


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _shapes_seen(release: str) -> dict[str, set[frozenset]]:
    """Every key set the real server of `release` sent under each field name, across its recordings."""
    seen: dict[str, set[frozenset]] = {}

    def walk(value, name):
        if isinstance(value, dict):
            seen.setdefault(name, set()).add(frozenset(value))
            for key, inner in value.items():
                walk(inner, key)
        elif isinstance(value, list):
            for inner in value:
                walk(inner, name)

    for path in recordings(release):
        walk(json.loads(path.read_text()).get("body"), "$")
    return seen


SHAPES_SEEN = {release: _shapes_seen(release) for release in RELEASES}


def shape_mismatches(recorded, ours, where: str = "$", release: str = "2024") -> list[str]:
    """Where `ours` differs from `recorded` in keys or value types (null stands in for any scalar).

    A dict whose key set the real server sent elsewhere under the same field name is a known variant
    (an error's `metadata` vs a message's) and is accepted.
    """
    if recorded is None or ours is None:
        if where.rsplit(".", 1)[-1] in NULLABLE_OBJECTS:
            return []
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
        if set(recorded) != set(ours) and frozenset(ours) in SHAPES_SEEN[release].get(name, ()):
            return []
        if set(recorded) != set(ours):
            missing, extra = sorted(set(recorded) - set(ours)), sorted(set(ours) - set(recorded))
            problems.append(f"{where}: missing keys {missing}, extra keys {extra}")
        for key in set(recorded) & set(ours):
            problems += shape_mismatches(recorded[key], ours[key], f"{where}.{key}", release)
        return problems
    if isinstance(recorded, list) and recorded and ours:
        problems = []
        for i, item in enumerate(ours):
            per_candidate = [shape_mismatches(candidate, item, f"{where}[{i}]", release) for candidate in recorded]
            best = min(per_candidate, key=len)
            problems += best
        return problems
    return []


def _link_shape(value: str) -> dict[str, tuple]:
    links = {}
    for link in httpx.Response(200, headers={"link": value}).links.values():
        links[link["rel"]] = tuple(sorted(k for k in link if k != "url"))
    return links


def _link_form(value: str) -> str:
    """`rfc` (RFC 8288) or `set-repr` (the same text inside a Python set repr, as 4.2.1 and 5.1 send it)."""
    return "set-repr" if value.startswith("{'") and value.endswith("'}") else "rfc"


def _next_url(response: httpx.Response) -> str:
    from triageflow.clients.glitchtip import next_link

    url = next_link(response.headers.get("link"))
    assert url, f"no next link in {response.headers.get('link')!r}"
    return url


def _sandbox_path(path: str, release: str) -> str:
    """The recorded path with the recording's issue ids and project slug swapped for the sandbox's equivalents."""
    swap = SANDBOX_EQUIVALENT[release]
    return "/".join(swap.get(part, part) for part in path.split("/"))


def _request_of(recording: dict, sandbox_url: str, headers: dict, release: str) -> httpx.Response:
    request = recording["request"]
    method = request["method"]
    if "url" in request:  # a later page: follow the sandbox's own cursor from the first page instead
        parts = urlsplit(request["url"])
        params = [(k, v) for k, v in parse_qsl(parts.query) if k != "cursor"]
        first = httpx.request(method, sandbox_url + parts.path, params=params, headers=headers)
        return httpx.request(method, _next_url(first), headers=headers)
    params = []
    for key, value in (request.get("params") or {}).items():
        params += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    return httpx.request(method, sandbox_url + _sandbox_path(request["path"], release), params=params,
                         json=request.get("json"), headers=headers)


@pytest.fixture(scope="module")
def release_sandboxes():
    """One sandbox per release, started when first asked for (no sample codebase: only the API is replayed)."""
    from triageflow.sandbox import SandboxServer

    servers: dict[str, SandboxServer] = {}

    def get(release: str) -> SandboxServer:
        if release not in servers:
            servers[release] = SandboxServer(glitchtip_release=release, build_codebase=False, keep_alive=1.0).start()
        httpx.post(f"{servers[release].url}/_sandbox/reset").raise_for_status()
        return servers[release]

    yield get
    for server in servers.values():
        server.stop()


@pytest.mark.parametrize("release,path", all_recordings(), ids=lambda v: v if isinstance(v, str) else v.stem)
def test_sandbox_answers_like_the_recorded_server(release_sandboxes, release, path):
    sandbox = release_sandboxes(release)
    recording = json.loads(path.read_text())
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    if "request" not in recording:  # bad-token.json: any call with a wrong token
        response = httpx.get(f"{sandbox.url}/api/0/organizations/", headers={"Authorization": "Bearer wrong"})
        assert response.status_code == recording["status"]
        assert response.json() == json.loads(recording["body"])
        return
    response = _request_of(recording, sandbox.url, headers, release)
    assert response.status_code == recording["status"], response.text[:300]

    recorded_type = recording["headers"].get("content-type", "application/json").split(";")[0]
    assert response.headers["content-type"].split(";")[0] == recorded_type

    for header in PAGING_HEADERS:  # some recordings kept fewer headers: ours must have at least theirs
        if header in recording["headers"]:
            assert header in response.headers, f"header {header} missing"
    if "link" in recording["headers"]:
        assert _link_form(response.headers["link"]) == _link_form(recording["headers"]["link"])
        assert _link_shape(response.headers["link"]).keys() == _link_shape(recording["headers"]["link"]).keys()
        assert response.headers["x-hits"].isdigit()
    if "allow" in recording["headers"] and "allow" in response.headers:
        assert response.headers["allow"] == recording["headers"]["allow"]

    if recorded_type == "application/json":
        problems = shape_mismatches(recording["body"], response.json(), release=release)
        assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("release", list(RELEASES))
def test_every_recorded_request_is_covered(release):
    """A new recording dropped into a release's folder is replayed too; none is skipped silently."""
    files = recordings(release)
    assert len(files) >= 50
    assert all("status" in json.loads(f.read_text()) for f in files)


def test_shape_comparison_catches_drift():
    recorded = {"count": "3", "project": {"id": "2"}, "items": [{"a": 1}]}
    assert shape_mismatches(recorded, {"count": 3, "project": {"id": "2"}, "items": [{"a": 1}]})
    assert shape_mismatches(recorded, {"count": "3", "project": {"id": "2", "x": 1}, "items": [{"a": 1}]})
    assert shape_mismatches(recorded, {"count": "3", "project": {"id": "2"}, "items": [{"b": 1}]})
    assert not shape_mismatches(recorded, {"count": "9", "project": {"id": "7"}, "items": [{"a": 5}, {"a": 6}]})
