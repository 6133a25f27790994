"""The scrubber's memory of short texts changes no result and keeps no raw text."""

from __future__ import annotations

from triageflow import scrub as scrubber
from triageflow.scrub import scrub, scrub_data, scrub_recalled

CORPUS = ["call 415-555-2671", "ann@example.com", "Project", "api", "token=abc123secretvalue", "production",
          "card 4111 1111 1111 1111", "id 3f2a1c9e-8b7d-4e6f-9a1b-2c3d4e5f6a7b", "", "x" * 600 + " bob@example.com"]


def test_recalled_answers_are_the_scrubbers_answers_first_time_and_after():
    for _ in range(3):
        assert [scrub_recalled(t) for t in CORPUS] == [scrub(t) for t in CORPUS]


def test_what_is_remembered_holds_no_raw_text():
    for t in CORPUS:
        scrub_recalled(t)
    remembered = " ".join(scrubber._recalled.values())
    assert "415-555-2671" not in remembered and "ann@example.com" not in remembered
    assert all(isinstance(k, bytes) and len(k) == 16 for k in scrubber._recalled)


def test_memory_stays_bounded(monkeypatch):
    monkeypatch.setattr(scrubber, "_RECALL_MAX_ENTRIES", 100)
    for n in range(1000):
        scrub_recalled(f"text number {n}")
    assert len(scrubber._recalled) <= 101


def test_scrub_data_uses_it_with_the_same_result():
    body = {"attachments": [{"title": t, "fields": [{"title": "Project", "value": t}]} for t in CORPUS]}
    expected = {"attachments": [{"title": scrub(t), "fields": [{"title": "Project", "value": scrub(t)}]}
                                for t in CORPUS]}
    assert scrub_data(body) == expected and scrub_data(body) == expected
