"""The envelope reader of the ingest path against sentry-sdk's own envelopes (recorded and built by the SDK),
and its 400s for what is not an envelope."""

from __future__ import annotations

import uuid

import pytest
from sentry_sdk.envelope import Envelope, Item, PayloadRef

from triageflow.service.telemetry import Refusal, events_in_envelope


def sdk_read(body: bytes) -> tuple[dict, list]:
    """What sentry-sdk's deserializer finds: the headers and the JSON of every event item."""
    envelope = Envelope.deserialize(body)
    return envelope.headers, [item.payload.json for item in envelope.items if item.type == "event"]


@pytest.mark.parametrize("n", [1, 2])
def test_recorded_sdk_envelopes_read_as_the_sdk_reads_them(peers, n):
    body = (peers / "clients" / "sentry-sdk" / f"envelope-{n}.envelope").read_bytes()
    headers, events = events_in_envelope(body)
    assert (headers, events) == sdk_read(body)
    assert len(events) == 1 and events[0]["exception"]["values"]


def test_an_sdk_built_envelope_with_sessions_and_attachments_yields_only_its_event():
    event_id = uuid.uuid4().hex
    envelope = Envelope(headers={"event_id": event_id, "sent_at": "2026-12-02T08:00:00Z"})
    envelope.add_session({"sid": uuid.uuid4().hex, "status": "ok", "init": True})
    envelope.add_item(Item(payload=PayloadRef(bytes=b"raw\nbytes with newlines\n"), type="attachment",
                           filename="log.txt"))
    envelope.add_event({"event_id": event_id, "level": "error", "message": "boom \u00e9\u4e2d"})
    envelope.add_item(Item(payload=PayloadRef(json={"discarded_events": []}), type="client_report"))
    body = envelope.serialize()
    headers, events = events_in_envelope(body)
    assert headers["event_id"] == event_id
    assert events == [{"event_id": event_id, "level": "error", "message": "boom \u00e9\u4e2d"}]
    assert (headers, events) == sdk_read(body)


def test_items_without_length_and_without_a_final_newline():
    body = b'{"event_id":"' + b"a" * 32 + b'"}\n{"type":"session"}\n{"sid":"x"}\n{"type":"event"}\n{"message":"m"}'
    assert events_in_envelope(body) == ({"event_id": "a" * 32}, [{"message": "m"}])


def test_json_the_standard_library_accepts_is_accepted():  # NaN: what Python's json.dumps writes by default
    body = b'{}\n{"type":"event"}\n{"message":"m","extra":{"ratio":NaN}}\n'
    [event] = events_in_envelope(body)[1]
    assert event["message"] == "m" and event["extra"]["ratio"] != event["extra"]["ratio"]


@pytest.mark.parametrize("body, field", [
    (b"not json at all", "body"),
    (b"[1, 2]\n", "body"),
    (b'{}\n{"type":"event","length":500}\n{"message":"short"}\n', "body"),
    (b'{}\n{"type":"event","length":"ten"}\n{}\n', "body"),
    (b'{}\nnot an item header\n', "body"),
    (b'{}\n{"type":"event"}\n{"message": \n', "event"),
])
def test_what_is_not_an_envelope_is_a_400_naming_the_field(body, field):
    with pytest.raises(Refusal) as refused:
        events_in_envelope(body)
    assert refused.value.status == 400 and refused.value.detail["field"] == field
