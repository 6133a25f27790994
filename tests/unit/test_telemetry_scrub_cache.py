"""The scrub cache of the ingest path answers what the scrubber answers, keeps no raw text, and stays bounded."""

from __future__ import annotations

from datetime import datetime, timezone

from tasks.telemetry_event import ScrubCache, record_from_sentry_event
from triageflow.scrub import scrub

SECRETS = ["ann.smith@example.com", "4111 1111 1111 1111", "+44 20 7946 0958",
           "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "203.0.113.77"]
TEXTS = ["login(user='ann.smith@example.com')", "charge('4111 1111 1111 1111')", "call +44 20 7946 0958",
         "token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'",
         "from 203.0.113.77", "app/orders.py", "", "x" * 600 + " ann.smith@example.com"]


def test_first_and_repeated_answers_are_the_scrubbers():
    cache = ScrubCache()
    first = cache.scrub_all(TEXTS)
    again = cache.scrub_all(list(reversed(TEXTS)))
    assert first == [scrub(t) for t in TEXTS]
    assert again == list(reversed(first))
    assert not any(secret in text for text in first + again for secret in SECRETS)


def test_the_cache_holds_no_raw_text_and_skips_long_texts():
    cache = ScrubCache(max_length=512)
    cache.scrub_all(TEXTS)
    held = list(cache._clean.keys()) + list(cache._clean.values())
    assert all(isinstance(key, bytes) and len(key) == 16 for key in cache._clean)
    assert not any(secret in repr(held) for secret in SECRETS)
    assert len(cache._clean) == len([t for t in TEXTS if t and len(t) <= 512])


def test_the_cache_stays_bounded():
    cache = ScrubCache(max_entries=100)
    for i in range(1000):
        cache.scrub_all([f"frame_{i}.py"])
    assert len(cache._clean) <= 100
    assert cache.scrub_all(["frame_999.py", "frame_0.py"]) == ["frame_999.py", "frame_0.py"]


def test_a_secret_seen_again_in_the_next_event_is_redacted_again():
    now = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)

    def event(n):
        return record_from_sentry_event({"event_id": f"{n:032x}", "exception": {"values": [{
            "type": "LoginError", "value": f"attempt {n} by ann.smith@example.com",
            "stacktrace": {"frames": [{"filename": "app/auth.py", "function": "login", "lineno": 3,
                                       "context_line": "check('ghp_abcdefghijklmnopqrstuvwxyz0123456789')"}]}}]},
            "tags": {"client": "203.0.113.77"}}, project_id="7", source="sentry-store", received_at=now)

    first, second = event(1), event(2)
    for record in (first, second):
        kept = repr(record) + record.stack + repr(record.sample())
        assert not any(secret in kept for secret in SECRETS)
    assert first.frames == second.frames and first.fingerprint == second.fingerprint
