"""The canary's comparison, and the sandbox keeping what a real sentry-sdk sent."""

from __future__ import annotations

import pytest
from sentry_sdk.envelope import Envelope

from tasks.canary import differences, new_canary
from triageflow.sandbox.app import Sandbox
from triageflow.sandbox.ingested_events import store_event


def test_an_intact_canary_has_no_differences():
    c = new_canary("run-1")
    tags = dict(c.tags, release="x")
    assert differences(c, tags, dict(c.user, email=None), dict(c.extra, **{"sys.argv": []}), c.title) == []


def test_every_mangled_field_is_named():
    c = new_canary()
    tags = dict(c.tags)
    tags["triageflow.canary"] = tags["triageflow.canary"][:10]
    del tags["operation"]
    problems = differences(c, tags, {"id": "someone-else"}, {"nested": {"n": "3", "ok": True}}, "CanaryError: x")
    text = "; ".join(problems)
    assert "title is 'CanaryError: x'" in text and "tag triageflow.canary is" in text and "tag operation missing" in text
    assert "user.id is 'someone-else'" in text and "extra nested is {'n': '3', 'ok': True}" in text


@pytest.mark.parametrize("name", ["envelope-1.envelope", "envelope-2.envelope"])
def test_the_sandbox_keeps_what_a_real_sdk_sent(peers, name):
    """A recorded envelope's event, stored by the sandbox's ingest, reads back with its tags, user and extra."""
    raw = (peers / "clients" / "sentry-sdk" / name).read_bytes()
    [event] = [i.payload.json for i in Envelope.deserialize(raw).items if i.type == "event"]
    sandbox = Sandbox()
    issue_id = store_event(sandbox, "1", event)
    record = sandbox.glitchtip.issues[issue_id]
    [stored] = record.ingested.values()
    assert stored["user"]["id"] == "42" and stored["context"] == (event.get("extra") or {})
    assert {t["key"]: t["value"] for t in stored["tags"]} == {k: str(v) for k, v in event["tags"].items()}
    assert record.status == "unresolved" and stored["title"] == record.spec.value


def test_an_unknown_project_is_refused():
    with pytest.raises(KeyError, match="no project 999"):
        store_event(Sandbox(), "999", {"event_id": "e1", "message": "x"})
