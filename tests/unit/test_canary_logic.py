"""The canary's comparison and the sandbox's envelope reading, on the envelopes a real sentry-sdk sent."""

from __future__ import annotations

import gzip

import pytest

from tasks.canary import differences, new_canary
from triageflow.sandbox.canary_ingest import EnvelopeError, decode_body, envelope_events


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
def test_recorded_envelopes_are_read_plain_and_gzipped(peers, name):
    raw = (peers / "clients" / "sentry-sdk" / name).read_bytes()
    for body in (decode_body(raw, ""), decode_body(gzip.compress(raw), "gzip")):
        (event,) = envelope_events(body)
        assert event["level"] in ("error", "warning") and isinstance(event["tags"], dict) and event["user"]["id"] == "42"


def test_a_body_that_is_not_an_envelope_is_refused():
    with pytest.raises(EnvelopeError, match="not an envelope header"):
        envelope_events(b"hello\n{}")
    with pytest.raises(EnvelopeError, match="cannot decode a gzip body"):
        decode_body(b"not gzip", "gzip")
