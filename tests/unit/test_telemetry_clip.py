"""Clipping and scrubbing together: a field is cut to its limit after it is scrubbed, and where a very long raw
text had to be cut before scrubbing, no half of a secret cut there is kept."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timezone

from tasks.telemetry_event import GUARD, LIMITS, record_from_sentry_event


def jwt(n: int) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': f'user-{n}', 'email': f'ann{n}@example.com', 'pad': 'p' * 150})}.{'s' * 43}"


def stored_message(message: str) -> str:
    event = {"event_id": uuid.uuid4().hex, "level": "error",
             "exception": {"values": [{"type": "AuthError", "value": message}]}}
    return record_from_sentry_event(event, project_id="7", source="sentry-store",
                                    received_at=datetime.now(timezone.utc)).message


def test_no_half_jwt_survives_where_a_long_raw_message_was_cut():
    tokens = [jwt(n) for n in range(60)]
    message = " ".join(tokens)
    cap = LIMITS["message"] + 4 * GUARD
    assert len(message) > cap and any(message.index(t) < cap < message.index(t) + len(t) for t in tokens)
    kept = stored_message(message)
    assert "eyJ" not in kept and "example.com" not in kept
    assert kept.endswith("…")


def test_no_half_email_survives_where_a_long_raw_message_was_cut():
    kept = stored_message("notify " + " ".join(f"customer.number{n}@bookings.example.org" for n in range(400)))
    assert "@" not in kept and "customer.number" not in kept and kept.endswith("…")


def test_a_long_message_without_secrets_is_cut_to_its_limit_as_before():
    words = " ".join(f"step{n} failed" for n in range(2000))
    kept = stored_message(words)
    assert len(kept) == LIMITS["message"] and kept == words[: LIMITS["message"] - 1] + "…"


def test_a_secret_past_the_limit_but_within_the_raw_window_is_seen_whole():
    message = "x" * (LIMITS["message"] - 20) + " token " + jwt(1)  # the token crosses the limit
    assert len(message) > LIMITS["message"]
    kept = stored_message(message)
    assert kept == "x" * (LIMITS["message"] - 20) + " token [jwt]"
