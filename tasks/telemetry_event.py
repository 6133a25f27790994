"""Telemetry events as triageflow keeps them: parsed from a Sentry event or a browser report, scrubbed, clipped.

Everything here is pure. Only the fields listed in `TelemetryRecord` are kept (local variables, extra,
contexts, cookies and headers other than the user agent are dropped), and each of them goes through the
one scrubber as it is read, so nothing raw reaches a record, the database or the relay. Every kept
field is clipped to `LIMITS` (characters, or items for lists and maps) after scrubbing, so a clip never
cuts a secret in half (and where a very long raw text had to be cut before scrubbing, what a secret cut
there could have left is dropped: `_fit`); a clipped string ends with `…`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from triageflow.scrub import scrub, secret_key

from .telemetry_fingerprint import Frame, fingerprint

LIMITS: dict[str, int] = {
    "message": 4096, "exception_type": 200, "title": 300, "url": 2000, "user_agent": 500, "release": 200,
    "environment": 64, "project_id": 40, "session_id": 128, "correlation_id": 128, "tags": 50, "tag_key": 32, "tag_value": 200,
    "frames": 50, "filename": 300, "function": 200, "module": 200, "context_line": 300, "stack": 16384,
    "fingerprint": 10, "fingerprint_entry": 200,
}
LEVELS = ("fatal", "error", "warning", "info", "debug")
_EVENT_ID = re.compile(r"^[0-9a-f]{32}$")


class IngestError(ValueError):
    """An event triageflow refuses, with the field to name in the 400."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


# The longest secret a clip must not leave half-readable (a JWT with many claims runs to several hundred
# characters): raw text is kept up to its limit + 4 × GUARD before it is scrubbed, and where it was cut
# there, the scrubbed text's last 3 × GUARD characters go (see `_fit`).
GUARD = 1024


def clip(value: Any, limit_name: str) -> str:
    """Raw text cut to its limit + 4 × GUARD: `redacted` scrubs it, then `_fit` cuts it to the limit."""
    return "" if value is None else str(value)[: LIMITS[limit_name] + 4 * GUARD]


_SEPARATOR = "\n\x1f\n"


def scrub_all(texts: list[str]) -> list[str]:
    """The one scrubber over many strings in one pass (one joined text); string by string if a rule
    matched across a separator."""
    out = scrub(_SEPARATOR.join(texts)).split(_SEPARATOR)
    return out if len(out) == len(texts) else [scrub(t) for t in texts]


class ScrubCache:
    """Scrubbed forms of short texts that recur from event to event (file and function names, modules,
    context lines, releases, user agents, tag values), so each is scrubbed once rather than once per event.

    Keyed by a BLAKE2b digest of the raw text: the cache holds no raw text, only what is already scrubbed.
    Bounded: past `max_entries` the oldest half is forgotten. Texts longer than `max_length` (messages,
    mostly unique) are always scrubbed afresh. The scrubber is pure, so a cached answer is the answer.
    """

    def __init__(self, max_entries: int = 50_000, max_length: int = 512) -> None:
        self.max_entries, self.max_length = max_entries, max_length
        self._clean: dict[bytes, str] = {}

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def scrub_all(self, texts: list[str]) -> list[str]:
        out: list[str | None] = [None] * len(texts)
        misses: list[int] = []
        keys: dict[int, bytes] = {}
        for i, text in enumerate(texts):
            if not text:
                out[i] = text
            elif len(text) > self.max_length:
                misses.append(i)
            else:
                key = keys[i] = self._key(text)
                hit = self._clean.get(key)
                if hit is None:
                    misses.append(i)
                else:
                    out[i] = hit
        if misses:
            for i, clean in zip(misses, scrub_all([texts[i] for i in misses])):
                out[i] = clean
                if i in keys:
                    self._clean[keys[i]] = clean
            if len(self._clean) > self.max_entries:
                for key in list(self._clean)[: len(self._clean) // 2]:
                    self._clean.pop(key, None)
        return out  # type: ignore[return-value]


_SCRUB_CACHE = ScrubCache()


_FRAME_TEXTS = ("filename", "function", "module", "context_line")


def _stack_key(frames: tuple[Frame, ...]) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for f in frames:
        h.update(f"{f.filename}\x1e{f.function}\x1e{f.module}\x1e{f.context_line}\x1e{f.lineno}\x1e{f.in_app}\x1f"
                 .encode("utf-8", "surrogatepass"))
    return h.digest()


def redacted(record: "TelemetryRecord") -> "TelemetryRecord":
    """Every text of `record` scrubbed, then clipped to `LIMITS`.

    A stack seen before (every event of a group shares one) is taken scrubbed from `_CLEAN_STACKS`, keyed
    by a digest of its raw frames; other short texts from `_SCRUB_CACHE`."""
    names = ("project_id", "exception_type", "message", "url", "user_agent", "release", "environment", "correlation_id")
    texts = [getattr(record, n) or "" for n in names]
    stack_key = _stack_key(record.frames) if record.frames else b""
    known_frames = _CLEAN_STACKS.get(stack_key) if record.frames else ()
    if known_frames is None:
        for f in record.frames:
            texts.extend(getattr(f, n) for n in _FRAME_TEXTS)
    tag_items = list(record.tags.items())
    for k, v in tag_items:
        texts.extend((k, v))
    texts.extend(record.sdk_fingerprint or ())
    clean = iter(zip(_SCRUB_CACHE.scrub_all(texts), texts))  # (scrubbed, raw): `_fit` needs both
    fields = {}
    for n in names:
        value = _fit(next(clean), n)
        fields[n] = None if getattr(record, n) is None else value
    if known_frames is None:
        known_frames = tuple(Frame(filename=_fit(next(clean), "filename"), function=_fit(next(clean), "function"),
                                   module=_fit(next(clean), "module"), lineno=f.lineno, in_app=f.in_app,
                                   context_line=_fit(next(clean), "context_line")) for f in record.frames)
        if len(_CLEAN_STACKS) >= _MAX_STACKS:
            for key in list(_CLEAN_STACKS)[: _MAX_STACKS // 2]:
                _CLEAN_STACKS.pop(key, None)
        _CLEAN_STACKS[stack_key] = known_frames
    tags = {}
    for k, _ in tag_items:
        key, value = _fit(next(clean), "tag_key"), _fit(next(clean), "tag_value")
        tags[key] = "[redacted]" if secret_key(k) else value
    sdk = tuple(_fit(next(clean), "fingerprint_entry") for _ in record.sdk_fingerprint or ()) or None
    return TelemetryRecord(event_id=record.event_id, source=record.source, received_at=record.received_at,
                           level=record.level, session_id=record.session_id, frames=known_frames, tags=tags,
                           sdk_fingerprint=sdk, **fields)  # built, not `replace`d: a third of this function's time


_CLEAN_STACKS: dict[bytes, tuple[Frame, ...]] = {}  # digest of the raw frames -> the frames scrubbed and clipped
_MAX_STACKS = 20_000


def _storable(text: str) -> str:
    """Text every database takes: no NUL (PostgreSQL's text refuses it) and no lone surrogate (not UTF-8), so one
    odd event cannot fail the batch it is written with."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _cut(text: str, limit_name: str, clipped: bool = False) -> str:
    """Cut already-scrubbed text to its limit, ending with `…` when anything was cut (here or before)."""
    text = _storable(text)
    limit = LIMITS[limit_name]
    return text if len(text) <= limit and not clipped else text[: limit - 1] + "…"


def _fit(scrubbed_and_raw: tuple[str, str], limit_name: str) -> str:
    """Scrubbed text cut to its limit. When its raw text had been clipped, a secret may have been cut in half
    there and gone unrecognised (an email without its domain, a JWT without its signature); the scrubbed
    form of the raw text's last GUARD characters lies within the scrubbed text's last 3 × GUARD (no
    replacement makes its match three times longer: `pwd=x` → `pwd=[redacted]`), so those go first."""
    text, raw = scrubbed_and_raw
    if len(raw) >= LIMITS[limit_name] + 4 * GUARD:
        return _cut(text[: max(0, len(text) - 3 * GUARD)], limit_name, clipped=True)
    return _cut(text, limit_name)


def _clip_or_none(value: Any, limit_name: str) -> str | None:
    return None if value in (None, "") else clip(value, limit_name)


def event_id_of(raw: Any, field_name: str = "event_id") -> str:
    """32 lowercase hex digits (a UUID with or without dashes is accepted)."""
    if not isinstance(raw, str):
        raise IngestError(field_name, "missing or not a string: send a UUID (32 hex digits)")
    text = raw.strip().lower().replace("-", "")
    if not _EVENT_ID.match(text):
        raise IngestError(field_name, f"must be 32 hex digits (a UUID), got {raw[:40]!r}")
    return text


@dataclass(frozen=True)
class TelemetryRecord:
    """One scrubbed, clipped event and its group's fingerprint."""

    event_id: str
    project_id: str
    source: str
    received_at: datetime
    level: str
    exception_type: str
    message: str
    frames: tuple[Frame, ...]
    url: str | None = None
    user_agent: str | None = None
    release: str | None = None
    environment: str | None = None
    session_id: str | None = None
    correlation_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    sdk_fingerprint: tuple[str, ...] | None = None

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.exception_type, self.message, self.frames, self.sdk_fingerprint)

    @cached_property
    def title(self) -> str:
        head = f"{self.exception_type}: {self.message}" if self.exception_type else self.message
        return _cut(head.splitlines()[0] if head.strip() else "(no message)", "title")

    @cached_property
    def stack(self) -> str:
        """Outermost call first, like a Python traceback."""
        lines = []
        for f in self.frames:
            where = f.filename or f.module or "?"
            lines.append(f'  File "{where}", line {f.lineno if f.lineno is not None else "?"}, in {f.function or "?"}')
            if f.context_line:
                lines.append(f"    {f.context_line.strip()}")
        lines.append(self.title)
        return _cut("\n".join(lines), "stack")

    def sample(self) -> dict[str, Any]:
        """What a group keeps of its first event (bounded: every part is clipped)."""
        return {"event_id": self.event_id, "title": self.title, "level": self.level,
                "exception_type": self.exception_type, "message": self.message, "stack": self.stack,
                "frames": [{"filename": f.filename, "function": f.function, "module": f.module, "lineno": f.lineno,
                            "in_app": f.in_app} for f in self.frames[-10:]],
                "url": self.url, "user_agent": self.user_agent, "release": self.release,
                "environment": self.environment, "tags": self.tags, "correlation_id": self.correlation_id}


def session_key(raw: Any) -> str | None:
    """A session id is a credential: only a pseudonym of it is kept (enough to rate-limit and count)."""
    if raw in (None, ""):
        return None
    return "s-" + hashlib.sha256(str(raw).encode()).hexdigest()[:24]


def _level(raw: Any, field_name: str = "level") -> str:
    level = str(raw or "error").lower()
    if level == "warn":
        level = "warning"
    if level not in LEVELS:
        raise IngestError(field_name, f"must be one of {', '.join(LEVELS)}, got {str(raw)[:20]!r}")
    return level


def _tags(raw: Any, field_name: str = "tags") -> dict[str, str]:
    """A map, or Sentry's list of [key, value] pairs; at most LIMITS['tags'] entries."""
    if raw in (None, ""):
        return {}
    if isinstance(raw, list):
        try:
            raw = {str(k): v for k, v in raw}
        except (TypeError, ValueError):
            raise IngestError(field_name, "must be a map or a list of [key, value] pairs") from None
    if not isinstance(raw, dict):
        raise IngestError(field_name, "must be a map of names to values")
    return {clip(k, "tag_key"): clip(v, "tag_value") for k, v in list(raw.items())[: LIMITS["tags"]]}


def _frames(raw: Any) -> tuple[Frame, ...]:
    if not isinstance(raw, list):
        return ()
    frames = []
    for f in raw[-LIMITS["frames"]:]:  # innermost frames are last: keep those
        if not isinstance(f, dict):
            continue
        lineno = f.get("lineno")
        frames.append(Frame(
            filename=clip(f.get("filename") or f.get("abs_path") or "", "filename"),
            function=clip(f.get("function") or "", "function"),
            module=clip(f.get("module") or "", "module"),
            lineno=lineno if isinstance(lineno, int) else None,
            in_app=f.get("in_app") if isinstance(f.get("in_app"), bool) else None,
            context_line=clip(f.get("context_line") or "", "context_line")))
    return tuple(frames)


def _sdk_fingerprint(raw: Any) -> tuple[str, ...] | None:
    if raw in (None, []):
        return None
    if not isinstance(raw, list) or not all(isinstance(x, (str, int, float)) for x in raw):
        raise IngestError("fingerprint", "must be a list of strings")
    return tuple(clip(x, "fingerprint_entry") for x in raw[: LIMITS["fingerprint"]])


def _message_of(event: dict[str, Any]) -> str:
    message = event.get("message")
    if isinstance(message, dict):  # {"formatted": ..., "message": ..., "params": [...]}
        message = message.get("formatted") or message.get("message")
    if not message and isinstance(event.get("logentry"), dict):
        message = event["logentry"].get("formatted") or event["logentry"].get("message")
    return "" if message is None else str(message)


def record_from_sentry_event(event: Any, *, project_id: str, source: str, received_at: datetime,
                             event_id: str | None = None, correlation_id: str | None = None) -> TelemetryRecord:
    """A Sentry SDK event (the `event` item of an envelope, or a `store` body), scrubbed then clipped."""
    if not isinstance(event, dict):
        raise IngestError("event", "must be a JSON object")
    eid = event_id_of(event.get("event_id") or event_id)
    raw_tags = event.get("tags")
    session = raw_tags.get("session_id") if isinstance(raw_tags, dict) else None
    values = (event.get("exception") or {}).get("values") if isinstance(event.get("exception"), dict) else event.get("exception")
    exc = values[-1] if isinstance(values, list) and values and isinstance(values[-1], dict) else {}
    frames = _frames((exc.get("stacktrace") or {}).get("frames")) if exc else ()
    if not frames and isinstance(event.get("threads"), dict):
        for thread in event["threads"].get("values") or []:
            if isinstance(thread, dict) and thread.get("stacktrace"):
                frames = _frames(thread["stacktrace"].get("frames"))
                break
    message = str(exc.get("value") or "") if exc else _message_of(event)
    request = event.get("request") if isinstance(event.get("request"), dict) else {}
    headers = request.get("headers") if isinstance(request.get("headers"), dict) else {}
    tags = _tags(event.get("tags"))
    contexts = event.get("contexts") if isinstance(event.get("contexts"), dict) else {}
    trace = contexts.get("trace") if isinstance(contexts.get("trace"), dict) else {}
    correlation = correlation_id or tags.get("correlation_id") or trace.get("trace_id")
    return redacted(TelemetryRecord(
        event_id=eid, project_id=_cut(str(project_id), "project_id"), source=source, received_at=received_at,
        level=_level(event.get("level")), exception_type=clip(exc.get("type") or "", "exception_type"),
        message=clip(message, "message"), frames=frames, url=_clip_or_none(request.get("url"), "url"),
        user_agent=_clip_or_none(headers.get("User-Agent") or headers.get("user-agent"), "user_agent"),
        release=_clip_or_none(event.get("release"), "release"),
        environment=_clip_or_none(event.get("environment"), "environment"),
        session_id=session_key(session), correlation_id=_clip_or_none(correlation, "correlation_id"), tags=tags,
        sdk_fingerprint=_sdk_fingerprint(event.get("fingerprint"))))


# --------------------------------------------------------------------------- the JSON endpoint

class BrowserError(BaseModel):
    """`POST /api/telemetry/error`: what triageflow's browser script (or any app) reports."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    event_id: str | None = Field(None, alias="eventId", description="a UUID; repeats are acknowledged once")
    message: str = Field(..., min_length=1)
    type: str | None = Field(None, description="the exception type, e.g. TypeError")
    stack: str | None = None
    url: str | None = None
    user_agent: str | None = Field(None, alias="userAgent")
    release: str | None = None
    environment: str | None = None
    level: Literal["fatal", "error", "warning", "info", "debug"] = "error"
    tags: dict[str, str | int | float | bool | None] = {}
    session_id: str | None = Field(None, alias="sessionId")
    fingerprint: list[str] | None = None
    project_id: str = Field("browser", alias="projectId", max_length=40)

    @field_validator("event_id")
    @classmethod
    def _event_id(cls, v: str | None) -> str | None:
        return None if v is None else event_id_of(v, "eventId")


_CHROME_FRAME = re.compile(r"^\s*at (?:(?P<fn>.+?) \()?(?P<file>(?:[a-z][\w+.-]*:)?[^\s()]+?):(?P<line>\d+):\d+\)?\s*$", re.I)
_GECKO_FRAME = re.compile(r"^\s*(?P<fn>[^@\s]*)@(?P<file>.+?):(?P<line>\d+):\d+\s*$")


def parse_js_stack(stack: str, page_url: str | None) -> tuple[Frame, ...]:
    """Chrome (`at fn (url:l:c)`) and Firefox/Safari (`fn@url:l:c`) stacks; innermost last, like Sentry.

    A frame is in-app when its script comes from the page's own origin."""
    origin = re.match(r"^[a-z][\w+.-]*://[^/]+", page_url or "", re.I)
    frames = []
    for line in (stack or "").splitlines():
        m = _CHROME_FRAME.match(line) or _GECKO_FRAME.match(line)
        if not m:
            continue
        file = m.group("file")
        frames.append(Frame(filename=clip(file, "filename"), function=clip(m.group("fn") or "", "function"),
                            lineno=int(m.group("line")), in_app=bool(origin) and file.startswith(origin.group(0))))
    return tuple(reversed(frames[: LIMITS["frames"]]))


_PYTHON_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<fn>\S+)\s*$')


def parse_python_traceback(text: str) -> tuple[Frame, ...]:
    """A formatted Python traceback (what the ASGI capture middleware sends); innermost last.
    Library frames (site-packages, the standard library) are not in-app."""
    frames = []
    lines = (text or "").splitlines()
    for i, line in enumerate(lines):
        m = _PYTHON_FRAME.match(line)
        if not m:
            continue
        file = m.group("file")
        code = lines[i + 1].strip() if i + 1 < len(lines) and not _PYTHON_FRAME.match(lines[i + 1]) else ""
        library = "site-packages" in file or "/lib/python" in file or file.startswith("<")
        frames.append(Frame(filename=clip(file, "filename"), function=clip(m.group("fn"), "function"),
                            lineno=int(m.group("line")), in_app=not library, context_line=clip(code, "context_line")))
    return tuple(frames[-LIMITS["frames"]:])


def record_from_browser(report: BrowserError, *, received_at: datetime, correlation_id: str) -> TelemetryRecord:
    session = session_key(report.session_id)
    data = report.model_dump()
    message = data["message"]
    exc_type = data["type"] or ""
    if not exc_type and re.match(r"^(?:Uncaught )?([A-Z]\w*(?:Error|Exception)): ", message):
        exc_type, message = re.match(r"^(?:Uncaught )?([A-Z]\w*(?:Error|Exception)): (.*)$", message, re.S).groups()
    tags = _tags({k: v for k, v in data["tags"].items() if v is not None})
    return redacted(TelemetryRecord(
        event_id=data["event_id"] or uuid.uuid4().hex, project_id=data["project_id"], source="json",
        received_at=received_at, level=data["level"], exception_type=clip(exc_type, "exception_type"),
        message=clip(message, "message"),
        frames=parse_js_stack(data["stack"] or "", data["url"]) or parse_python_traceback(data["stack"] or ""),
        url=_clip_or_none(data["url"], "url"), user_agent=_clip_or_none(data["user_agent"], "user_agent"),
        release=_clip_or_none(data["release"], "release"), environment=_clip_or_none(data["environment"], "environment"),
        session_id=session, correlation_id=clip(correlation_id, "correlation_id"), tags=tags,
        sdk_fingerprint=_sdk_fingerprint(data["fingerprint"])))
