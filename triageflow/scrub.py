"""Removes personal data and secrets from any text triageflow sends out or stores."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

_SECRET_KEYS = (
    r"password|passwd|pwd|passphrase|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|"
    r"access[_-]?token|refresh[_-]?token|auth[_-]?token|token|private[_-]?key|session[_-]?id|sessionid"
)

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"(?i)\b(bearer|token)\s+([A-Za-z0-9._~+/-]{16,}=*)")
_KNOWN_KEYS = re.compile(
    r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bxox[abpr]-[A-Za-z0-9-]{10,}|\bAKIA[0-9A-Z]{16}\b|\b\d{6,12}:AA[A-Za-z0-9_-]{30,}"
)
# key=value (quoted, or with a quote never closed) or key: "value" (a bare `key: word` is prose, e.g.
# "token: expired", and survives here; see _STRONG_KEY_COLON)
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?P<key>["']?\b(?:[\w.-]*[_.-])?(?:{_SECRET_KEYS})\b["']?)
    (?:
        (?P<eq>\s*=\s*)(?:(?P<q1>["'])(?P<v1q>[^"']*)(?P=q1)|["']?(?P<v1>[^\s"'&,;)]+))
      | (?P<colon>\s*:\s*)(?P<q2>["'])(?P<v2>[^"']+)(?P=q2)
    )
    """
)
# `password: hunter2`, `api_key:abc123`: after a name that only ever labels a credential, a bare word is the
# credential (log lines and config dumps write it so). Names that also label states ("token: expired",
# "session: closed") keep the rule above.
_STRONG_SECRET_KEYS = (r"password|passwd|pwd|passphrase|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|"
                       r"private[_-]?key")
_STRONG_KEY_COLON = re.compile(
    rf"""(?i)(?P<key>\b(?:[\w.-]*[_.-])?(?:{_STRONG_SECRET_KEYS})\b)(?P<colon>[ \t]*:[ \t]*)(?![\["'])[^\s"'&,;)]+""")
# whole header lines (HTTP dumps, logged requests): the value is a credential however it is spelt
_AUTH_HEADER = re.compile(r"(?im)\b((?:proxy-)?authorization|x-sentry-auth|x-api-key|cookie|set-cookie)(\s*[:=][ \t]*)(?![\s\[]|(?i:bearer)\s)[^\r\n]+")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/:@]+)(:[^\s/@]*)?@")
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d-])(?:[2-6]\d{3})(?:[ -]?\d){9,15}(?![\d-])")
_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}[ (.-]{0,2}\d{2,4}[ ).-]{0,2}\d{2,4}[ .-]?\d{2,4}(?:[ .-]?\d{2,4})?(?!\d)")
_PHONE_US = re.compile(r"(?<!\d)\(\d{3}\)\s?\d{3}-\d{4}(?!\d)")
# North American numbers (NXX-NXX-XXXX: area code and exchange start with 2-9, so 10-digit Unix times, which
# start with 1, survive): 415-555-2671, 415.555.2671, 415 555 2671, 4155552671, 1-415-555-2671
_PHONE_NANP = re.compile(r"(?<![\w.+-])(?:1[ .-]?)?[2-9]\d{2}([ .-]?)[2-9]\d{2}\1\d{4}(?![\w-]|\.\d)")
# national formats behind a trunk prefix, in groups: 020 7946 0958, 07700 900123, 01 23 45 67 89,
# 030 1234 5678, 8 (900) 123-45-67; 9 to 12 digits in all (checked in `_national`)
_PHONE_NATIONAL = re.compile(
    r"(?<![\w.+:/-])(?:0\d{1,4}|8)(?:[ .-]?\(\d{2,4}\)|[ .-]\d{2,6})(?:[ .-]\d{2,6}){0,3}(?![\w-]|[.:]\d)")


_IPV4 = re.compile(r"(?<![\w.])(?<!v)(?<!version )((?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3})(?![\w.]|\.\d)")
_IPV6 = re.compile(r"(?i)(?<![\w:])(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?![\w:])|(?<![\w:])(?:[0-9a-f]{1,4}:){2,6}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?(?![\w:])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group(0)


def _national(m: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in m.group(0))
    return "[phone]" if 9 <= digits <= 12 else m.group(0)


def _ipv4(m: re.Match[str]) -> str:
    ip = m.group(1)
    return ip if ip.startswith("127.") or ip == "0.0.0.0" else "[ip]"


def _key_value(m: re.Match[str]) -> str:
    if m.group("eq") is not None:
        value = m.group("v1") if m.group("v1") is not None else m.group("v1q")
        if value.startswith("[") and value.endswith("]"):
            return m.group(0)  # already a placeholder
        q = m.group("q1") or ""
        return f"{m.group('key')}{m.group('eq')}{q}[redacted]{q}"
    q = m.group("q2")
    return f"{m.group('key')}{m.group('colon')}{q}[redacted]{q}"


_DIGIT = re.compile(r"\d")


def _low(*words: str) -> Callable[[str], bool]:
    return lambda text: any(w in text.lower() for w in words)


def _has(*parts: str) -> Callable[[str], bool]:
    return lambda text: any(p in text for p in parts)


def _digits(text: str) -> bool:
    return _DIGIT.search(text) is not None


_names_a_strong_secret = _low("pass", "pwd", "secret", "key")


# Each rule with a cheap test that any match needs (a literal its pattern cannot match without), so a text is
# run only through the patterns that could change it; the result is the same as running every pattern.
_RULES: list[tuple[Callable[[str], bool], re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (_low("authorization", "x-sentry-auth", "x-api-key", "cookie"), _AUTH_HEADER,
     lambda m: f"{m.group(1)}{m.group(2)}[redacted]"),
    (_has("eyJ"), _JWT, "[jwt]"),
    (_has("_live_", "_test_", "gh", "github_pat_", "xox", "AKIA", ":AA"), _KNOWN_KEYS, "[secret]"),
    (_low("bearer", "token"), _BEARER, lambda m: f"{m.group(1)} [secret]"),
    (lambda t: "://" in t and "@" in t, _URL_CREDENTIALS, lambda m: f"{m.group(1)}[redacted]@"),
    (_low("pass", "pwd", "secret", "key", "token", "session"), _KEY_VALUE, _key_value),
    (lambda t: ":" in t and _names_a_strong_secret(t), _STRONG_KEY_COLON,
     lambda m: f"{m.group('key')}{m.group('colon')}[redacted]"),
    (_has("@"), _EMAIL, "[email]"),
    (_digits, _CARD, _card),
    (lambda t: "+" in t and _digits(t), _PHONE, "[phone]"),
    (lambda t: "(" in t and _digits(t), _PHONE_US, "[phone]"),
    (_digits, _PHONE_NANP, "[phone]"),
    (_digits, _PHONE_NATIONAL, _national),
    (lambda t: "." in t and _digits(t), _IPV4, _ipv4),
    (_has(":"), _IPV6, "[ip]"),
]


_UUID = re.compile(r"(?<![\w-])([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-])")
_FIRST_NUMBER_RULE = next(i for i, rule in enumerate(_RULES) if rule[1] is _CARD)


def _apply(rules, text: str) -> str:
    for could_match, pattern, replacement in rules:
        if could_match(text):
            text = pattern.sub(replacement, text)
    return text


def scrub(text: str) -> str:
    """The text with emails, phones, IPs, card numbers, tokens, JWTs and key=value secrets replaced.

    UUIDs are ids, not numbers: the card, phone and IP rules run around them (a UUID's digit groups can pass
    the Luhn check or look like a phone number), so they survive intact; a UUID that is a secret's value
    (`session_id=...`) is still redacted by the rules before those."""
    if not text:
        return text
    text = _apply(_RULES[:_FIRST_NUMBER_RULE], text)
    numbers = _RULES[_FIRST_NUMBER_RULE:]
    if "-" not in text or not _UUID.search(text):
        return _apply(numbers, text)
    pieces = _UUID.split(text)  # text, uuid, text, uuid, ..., text
    return "".join(piece if n % 2 else _apply(numbers, piece) for n, piece in enumerate(pieces))


_RECALL_MAX_LENGTH, _RECALL_MAX_ENTRIES = 512, 20_000
_recalled: dict[bytes, str] = {}


def scrub_recalled(text: str) -> str:
    """`scrub(text)`, remembered for short texts that recur (a webhook's field names and values, titles,
    project and environment names), so each is scrubbed once rather than once per payload.

    Keyed by a BLAKE2b digest of the raw text: what is kept holds no raw text, only what is already scrubbed.
    Bounded: past the maximum the oldest half is forgotten. The scrubber is pure, so a recalled answer is
    the answer."""
    if not text or len(text) > _RECALL_MAX_LENGTH:
        return scrub(text)
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    clean = _recalled.get(key)
    if clean is None:
        clean = _recalled[key] = scrub(text)
        if len(_recalled) > _RECALL_MAX_ENTRIES:
            for old in list(_recalled)[: len(_recalled) // 2]:
                _recalled.pop(old, None)
    return clean


_SECRET_KEY_NAME = re.compile(
    rf"(?i)(?:^|[_.-])(?:{_SECRET_KEYS})$|^(?:cookies?|set-cookie|(?:proxy-)?authorization|x-sentry-auth|x-api-key)$")


def secret_key(name: str) -> bool:
    """Whether values stored under `name` (a map key, a header, a tag) are secrets as a whole."""
    return bool(_SECRET_KEY_NAME.search(name))


def _secret_pair(value: Any) -> bool:
    """A `[name, value]` header pair (how Sentry SDKs may send request headers) whose name is a secret."""
    return (isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], str)
            and bool(_SECRET_KEY_NAME.search(value[0])))


MAX_DEPTH = 64


def scrub_data(value: Any, _depth: int = 0) -> Any:
    """A copy of JSON-like data with every string scrubbed and values under secret-named keys dropped.

    Anything nested deeper than `MAX_DEPTH` becomes "[too deep]" (hostile input must not exhaust the stack).
    """
    if isinstance(value, str):
        return scrub_recalled(value)
    if isinstance(value, (dict, list, tuple)) and _depth >= MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, dict):
        return {
            k: ("[redacted]" if isinstance(k, str) and _SECRET_KEY_NAME.search(k) and v not in (None, "")
                else scrub_data(v, _depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [[v[0], "[redacted]"] if _secret_pair(v) else scrub_data(v, _depth + 1) for v in value]
    return value
