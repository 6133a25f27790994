"""The PII scrubber on a corpus of real-looking positives and look-alikes that must survive."""

import pytest

from triageflow.scrub import scrub, scrub_data

POSITIVES = [
    ("contact client@example.com for details", "client@example.com", "[email]"),
    ("user Ivan.Petrov+bookings@mail.example.ru failed", "Ivan.Petrov+bookings@mail.example.ru", "[email]"),
    ("send to +79001234567 failed", "+79001234567", "[phone]"),
    ("call +1 (415) 555-2671 now", "+1 (415) 555-2671", "[phone]"),
    ("phone: +44 20 7946 0958", "+44 20 7946 0958", "[phone]"),
    ("office (212) 555-0199", "(212) 555-0199", "[phone]"),
    ("SMS to 415-555-2671 failed", "415-555-2671", "[phone]"),
    ("SMS to 415.555.2671 failed", "415.555.2671", "[phone]"),
    ("SMS to 4155552671 failed", "4155552671", "[phone]"),
    ("call 415 555 2671 back", "415 555 2671", "[phone]"),
    ("call 1-415-555-2671 back", "415-555-2671", "[phone]"),
    ("reach them at +1 415 555 2671", "415 555 2671", "[phone]"),
    ("user phone=(415)555-2671", "555-2671", "[phone]"),
    ("London office 020 7946 0958", "020 7946 0958", "[phone]"),
    ("mobile 07700 900123 unreachable", "07700 900123", "[phone]"),
    ("Paris 01 23 45 67 89", "01 23 45 67 89", "[phone]"),
    ("Berlin 030 1234 5678", "030 1234 5678", "[phone]"),
    ("клиент 8 (900) 123-45-67 не ответил", "123-45-67", "[phone]"),
    ("клиент 8 900 123 45 67 не ответил", "900 123 45 67", "[phone]"),
    ("request from 203.0.113.45 blocked", "203.0.113.45", "[ip]"),
    ("peer 10.12.0.7:5432 reset", "10.12.0.7", "[ip]"),
    ("client 2001:0db8:85a3:0000:0000:8a2e:0370:7334 left", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[ip]"),
    ("Authorization: Bearer abcDEF1234567890xyzTOKEN", "abcDEF1234567890xyzTOKEN", "[secret]"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U expired",
     "eyJhbGciOiJIUzI1NiJ9", "[jwt]"),
    ("connect failed password=hunter2 host=db", "hunter2", "password=[redacted]"),
    ("api_key=sk_9f8e7d6c5b4a&x=1", "sk_9f8e7d6c5b4a", "api_key=[redacted]"),
    ('{"client_secret": "s3cr3t-value"}', "s3cr3t-value", '"client_secret": "[redacted]"'),
    ("DB_PASSWORD='p@ss w0rd'", "p@ss", "[redacted]"),
    ("login failed, password: hunter2 (user ann)", "hunter2", "password: [redacted]"),
    ("config api_key:abc123 loaded", "abc123", "api_key:[redacted]"),
    ("DB_PASSWORD: Sup3r-Secret!", "Sup3r-Secret", "DB_PASSWORD: [redacted]"),
    ('connect(password="never-closed', "never-closed", "password=[redacted]"),
    ("token=" + "ghp" + "_0123456789abcdefghijABCDEFGHIJ", "_0123456789abcdef", "token=[secret]"),
    ("slack " + "xoxb" + "-1234567890-abcdefghij failed", "-1234567890-abcdefghij", "[secret]"),
    ("key AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE", "[secret]"),
    ("Payment gateway rejected card 4111-1111-1111-1111: insufficient funds", "4111-1111-1111-1111", "[card]"),
    ("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111", "[card]"),
    ("amex 378282246310005 declined", "378282246310005", "[card]"),
    ("dsn http://136513dbab604044881cba31e6f43e4c@127.0.0.1:8000/2", "136513dbab604044881cba31e6f43e4c", "http://[redacted]@"),
    ("postgresql://booking:Sup3rSecret@db.internal:5432/app", "Sup3rSecret", "postgresql://[redacted]@"),
]

LOOKALIKES = [
    "YClients API returned 429 Too Many Requests for company 962302 page 1",
    "Connection timeout to PostgreSQL at db.internal:5432 (attempt 1, pool=main)",
    "release booking@1.4.2 deployed",
    "python 3.11.7 on build 2026.10.18",
    "version 1.2.3.4 of the agent",
    "took 12:30:45 to finish",
    "order 1234567890123456 not found",  # 16 digits, fails the Luhn check
    "timestamp 1763800000123 out of range",
    "token expired for partner partner-17",
    "password reset email could not be sent",
    "TokenExpired: Access token expired at 1763800000 for partner partner-17",
    "listening on 127.0.0.1:8000",
    "ZeroDivisionError: division by zero",
    "retry in +5 seconds",
    "KeyError: 'booking_id'",
    "Ошибка отправки напоминания клиенту: сессия WhatsApp недействительна",
    "QueuePool limit of size 10 overflow 0 reached, connection timed out, timeout 0",
    "see https://glitchtip.example.com/acme/issues/42",
    "auth: failed for user id 42",
    "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
    "event 1763800000 for user 1234567890",  # Unix seconds; an id starting with 1 is no North American number
    "issue id 15551234567890 moved",
    "date 2026-12-02 07:36:32.123456",
    "latency 0.415 s, p99 1.555 s",
    "booking 20261202 batch 0042 of 0100",
    "retry 3 of 8 in 10 s",
    "took 00:12:30 at 09 15",
    "rows 1200 1300 1400",
    "uuid 415e5552-6710-4a1b-9c2d-3e4f5a6b7c8d",
    "path /v1/items/4155552671x/",
    "build 2026.12.02.1",
]


@pytest.mark.parametrize("text,secret,expected", POSITIVES)
def test_personal_data_and_secrets_are_replaced(text, secret, expected):
    cleaned = scrub(text)
    assert secret not in cleaned
    assert expected in cleaned


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_survive_unchanged(text):
    assert scrub(text) == text


def test_scrub_is_idempotent():
    text = " ".join(t for t, _, _ in POSITIVES)
    once = scrub(text)
    assert scrub(once) == once


def test_scrub_data_walks_json_and_drops_secret_keys():
    data = {"user": {"email": "a@b.example.com", "password": "x1"}, "vars": ["+79001234567", 5], "ok": None}
    assert scrub_data(data) == {"user": {"email": "[email]", "password": "[redacted]"}, "vars": ["[phone]", 5], "ok": None}


# --- issue 13: cookies and auth headers ---
@pytest.mark.parametrize("raw, gone", [
    ("Cookie: sessionid=abc123def456; csrftoken=Zx9Qw8Er7Ty6", "Zx9Qw8Er7Ty6"),
    ("authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    ("X-Sentry-Auth: Sentry sentry_key=publickey123, sentry_version=7", "publickey123"),
    ("GET https://ann:hunter2@api.example/v1", "hunter2"),
])
def test_header_lines_and_url_passwords_are_redacted(raw, gone):
    from triageflow.scrub import scrub

    assert gone not in scrub(raw)


def test_header_maps_and_pairs_are_redacted():
    from triageflow.scrub import scrub_data

    data = {"headers": {"Cookie": "a=b", "Authorization": "Basic eA==", "User-Agent": "curl/8"},
            "cookies": {"sid": "x"}, "pairs": [["Cookie", "sid=1"], ["Accept", "*/*"]]}
    out = scrub_data(data)
    assert out["headers"] == {"Cookie": "[redacted]", "Authorization": "[redacted]", "User-Agent": "curl/8"}
    assert out["cookies"] == "[redacted]"
    assert out["pairs"] == [["Cookie", "[redacted]"], ["Accept", "*/*"]]


def test_the_cheap_pre_checks_never_change_the_result():
    """Each rule runs only when its pre-check says it could match; on mixed texts the result must equal running
    every pattern unconditionally (a pre-check that misses a literal would let a secret through)."""
    import random

    from triageflow import scrub as module

    def every_pattern(text):
        for _, pattern, replacement in module._RULES:
            text = pattern.sub(replacement, text)
        return text

    fragments = ["ann@example.com", "ghp_" + "a" * 30, "github_pat_" + "b" * 25, "sk_live_" + "c" * 12,
                 "eyJhbGciOi.eyJzdWIiOiIx.abcdefghijk", "Bearer abcdefghijklmnopqrstuvwxyz", "token abcdefghijklmnopqrst",
                 "password=hunter2", 'api_key: "zzz"', "password: hunter2", "secret:abc", 'pwd="open', "session_id=abc", "Authorization: Basic Zm9vOmJhcg==",
                 "Cookie: a=b", "https://user:pw@host.example/x", "4111 1111 1111 1111", "+1 415 555 2671",
                 "(415) 555-2671", "415-555-2671", "4155552671", "020 7946 0958", "10.1.2.3", "fe80::1:2:3",
                 "2001:db8:0:0:0:0:2:1", "1700000000", "AKIA" + "A" * 16, "123456789:AA" + "x" * 31,
                 "xoxb-123456789012-abc", "[secret]=abc", "ZeroDivisionError: division by zero", ":", "@", "+", "(", "."]
    rng = random.Random(7)
    for _ in range(5000):
        text = rng.choice([" ", "", "\n"]).join(rng.choice(fragments) for _ in range(rng.randint(1, 6)))
        assert scrub(text) == every_pattern(text), text


def test_uuids_survive_and_a_secret_uuid_does_not():
    import uuid

    rng = __import__("random").Random(3)
    for _ in range(3000):  # some UUIDs' digit groups pass the Luhn check or look like phone numbers
        value = str(uuid.UUID(int=rng.getrandbits(128)))
        assert scrub(f"order {value} failed for 4111 1111 1111 1111") == f"order {value} failed for [card]"
    secret = str(uuid.UUID(int=rng.getrandbits(128)))
    assert secret not in scrub(f"session_id={secret} expired")
